//! `GET /api/sync` and `GET /api/{version}/sync`: Convex's WebSocket sync protocol through the
//! gateway. The route only upgrades the connection and moves frames between the socket and the
//! relay (`sync_relay`), which applies the gateway's rules.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorCode, Problem};
use crate::live::Permit;
use crate::state::AppState;
use crate::sync_relay::{ClientSocket, Frame};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync))
        .routes(routes!(sync_versioned))
}

/// Convex's sync protocol (WebSocket), relayed to the deployment under the gateway's rules.
///
/// What `ConvexClient`, `ConvexReactClient` and the Rust crate `convex` open: point them at the
/// gateway's URL. `Authenticate` tokens are verified by the gateway and sent on as
/// `CONVEX_AUTH_MODE` says; the policy applies to each query, mutation and action. Anonymous
/// until the client authenticates.
#[utoipa::path(
    get,
    path = "/api/sync",
    tag = "functions",
    responses(
        (status = 101, description = "Switched to the WebSocket sync protocol"),
        (status = 400, description = "Not a WebSocket upgrade", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Convex deployment is configured (`convex_not_configured`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The gateway relays as many sockets as it may (`watch_capacity`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    accept(state, uri.path().to_owned(), &headers, upgrade)
}

/// Convex's sync protocol with the client's version in the path, as `convex` for JavaScript
/// opens it (`/api/1.51.0/sync`).
#[utoipa::path(
    get,
    path = "/api/{version}/sync",
    tag = "functions",
    params(("version" = String, Path, description = "The client's version, e.g. `1.51.0`")),
    responses(
        (status = 101, description = "Switched to the WebSocket sync protocol"),
        (status = 400, description = "Not a WebSocket upgrade", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No Convex deployment is configured (`convex_not_configured`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The gateway relays as many sockets as it may (`watch_capacity`)", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn sync_versioned(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    accept(state, uri.path().to_owned(), &headers, upgrade)
}

fn accept(
    state: AppState,
    path: String,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let permit = state.sync_relay().admit()?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("this endpoint speaks Convex's sync protocol over a WebSocket: {rejection}"),
        )
    })?;
    let client_header = headers
        .get("convex-client")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max = state.sync_relay().max_message();
    Ok(upgrade
        .max_message_size(max.saturating_add(1024))
        .on_upgrade(move |socket| bridge(socket, state, permit, path, client_header)))
}

/// Moves frames between the client's socket and the relay until either ends.
async fn bridge(
    socket: WebSocket,
    state: AppState,
    permit: Permit,
    path: String,
    client_header: Option<String>,
) {
    let (mut sink, mut stream) = socket.split();
    let (in_tx, in_rx) = mpsc::channel::<Frame>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<Frame>(64);
    let reader = async move {
        while let Some(Ok(message)) = stream.next().await {
            let frame = match message {
                Message::Text(text) => Frame::Text(text.to_string()),
                Message::Ping(payload) => Frame::Ping(payload.to_vec()),
                Message::Close(_) => break,
                Message::Pong(_) | Message::Binary(_) => continue,
            };
            if in_tx.send(frame).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some(frame) = out_rx.recv().await {
            let (message, last) = match frame {
                Frame::Text(text) => (Message::Text(text.into()), false),
                Frame::Ping(payload) => (Message::Ping(payload.into()), false),
                Frame::Close(code, reason) => (
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                    true,
                ),
            };
            if sink.send(message).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    };
    let reader = tokio::spawn(reader);
    let writer = tokio::spawn(writer);
    state
        .sync_relay()
        .run(
            permit,
            path,
            client_header,
            ClientSocket {
                incoming: in_rx,
                outgoing: out_tx,
            },
        )
        .await;
    // Let what the relay queued (its last answer, the close) reach the client.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    reader.abort();
}
