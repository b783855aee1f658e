//! The floor under the benchmarks' `passthrough` (`bench/run`): the least a Rust forwarder on
//! this stack can do per request. axum serves `POST /api/{query,mutation,action}` and hands each
//! body to the upstream through hyper-util's pooled HTTP/1 client, then returns the upstream's
//! status and bytes. No token check, no policy, no metrics, no logging, no identity: what the
//! gateway does beyond this is what its ratio to this forwarder measures. Usage:
//! `bare_forwarder UPSTREAM_URL [PORT]`; it prints `listening on http://127.0.0.1:PORT`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

#[derive(Clone)]
struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

async fn forward(State(up): State<Upstream>, Path(kind): Path<String>, body: Bytes) -> Response {
    let Ok(uri) = format!("{}/api/{kind}", up.base).parse::<Uri>() else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Ok(request) = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(answer) = up.client.request(request).await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    match answer.into_body().collect().await {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            bytes.to_bytes(),
        )
            .into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3210".into())
        .trim_end_matches('/')
        .to_owned();
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    // The same runtime shape as the gateway: tokio's multi-thread default.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let app = Router::new()
            .route("/api/{kind}", post(forward))
            .with_state(Upstream { client, base });
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}
