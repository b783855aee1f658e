//! Convex's WebSocket sync protocol through the gateway: each client socket is relayed to the
//! deployment's own sync endpoint, in order, both ways, with the gateway's rules applied to what
//! the client sends.
//!
//! - `Authenticate` tokens are verified by the gateway's verifier; upstream, the caller's
//!   identity goes as `CONVEX_AUTH_MODE` says (a minted one is renewed before it expires, with
//!   the identity versions translated so the client never sees the renewals). A bad token gets
//!   `AuthError` and the socket closes, as Convex does; so does an expired one. Admin keys are
//!   never accepted from clients.
//! - Each query a `ModifyQuerySet` adds must be allowed by the policy; a denied one ends the
//!   socket with `FatalError` naming it.
//! - A `Mutation` or `Action` the policy denies is answered by the gateway with a failed
//!   response (`forbidden`) and never reaches Convex.
//! - Everything else, pings included, is relayed untouched.
//!
//! Sockets are limited in all (before the upgrade) and per caller (at `Authenticate`), and a
//! message over the size limit closes the socket.

pub mod messages;
mod metrics;

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Upstream;

use crate::auth::policy::FunctionKind;
use crate::auth::{Auth, MaybeAuthUser};
use crate::config::{ConvexAuthMode, SyncRelayConfig};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::functions::policy_path;
use crate::live::{Limits, Permit};
use crate::metrics::Metrics;

use messages::{CallKind, ClientMessage, Identities};
use metrics::SyncMetrics;

/// A frame between the route and the relay.
#[derive(Debug)]
pub enum Frame {
    Text(String),
    Ping(Vec<u8>),
    /// Close the socket, with a code and a reason.
    Close(u16, String),
}

/// The relay service.
pub struct SyncRelay {
    url: Option<String>,
    auth: Arc<Auth>,
    config: SyncRelayConfig,
    sockets: Limits,
    metrics: Arc<SyncMetrics>,
}

/// One client socket: what it sends, and where to send to it.
pub struct ClientSocket {
    pub incoming: mpsc::Receiver<Frame>,
    pub outgoing: mpsc::Sender<Frame>,
}

impl SyncRelay {
    /// The relay to the deployment at `url` (none: the endpoints answer 404).
    pub fn new(
        url: Option<String>,
        auth: Arc<Auth>,
        config: SyncRelayConfig,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            sockets: Limits::new(config.per_caller, config.max_total),
            metrics: Arc::new(SyncMetrics::register(metrics)?),
            url,
            auth,
            config,
        })
    }

    /// The largest message a client may send.
    pub fn max_message(&self) -> usize {
        self.config.max_message
    }

    /// A place for one more socket, taken before the upgrade (`503 watch_capacity` when the
    /// gateway holds as many as it may).
    pub fn admit(&self) -> ApiResult<Permit> {
        if self.url.is_none() {
            return Err(ApiError::new(
                ErrorCode::ConvexNotConfigured,
                "this gateway runs without Convex; set CONVEX_URL to relay Convex's sync protocol",
            ));
        }
        // Counted under one key until the socket authenticates.
        self.sockets.acquire_total()
    }

    /// Relays one client socket until either side closes. `path` is the sync path the client
    /// asked for (`/api/sync` or `/api/{version}/sync`); `client_header` its `Convex-Client`.
    pub async fn run(
        &self,
        admitted: Permit,
        path: String,
        client_header: Option<String>,
        mut client: ClientSocket,
    ) {
        let _admitted = admitted;
        let _open = self.metrics.open_socket();
        let result = self.relay(&path, client_header, &mut client).await;
        if let Err(reason) = result {
            tracing::debug!(%reason, "a sync socket ended");
        }
    }

    async fn relay(
        &self,
        path: &str,
        client_header: Option<String>,
        client: &mut ClientSocket,
    ) -> Result<(), String> {
        let url = self.url.as_deref().ok_or("no Convex deployment")?;
        let upstream_url = ws_url(url, path);
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                upstream_url.as_str(),
            )
            .map_err(|e| e.to_string())?;
        if let Some(header) = client_header.and_then(|h| h.parse().ok()) {
            request.headers_mut().insert("convex-client", header);
        }
        let (upstream, _) = match tokio::time::timeout(
            self.config.connect_timeout,
            tokio_tungstenite::connect_async(request),
        )
        .await
        {
            Ok(Ok(connected)) => connected,
            failed => {
                let reason = match failed {
                    Ok(Err(err)) => err.to_string(),
                    _ => "timed out".into(),
                };
                let _ = client
                    .outgoing
                    .send(Frame::Close(1011, "Convex cannot be reached".into()))
                    .await;
                return Err(format!("connecting to Convex: {reason}"));
            }
        };
        let (mut up_tx, mut up_rx) = upstream.split();
        let mut session = Session {
            relay: self,
            identities: Identities::default(),
            caller: MaybeAuthUser(None),
            caller_permit: None,
            expires: None,
        };
        // A minted identity is renewed at a fifth of its life (a new one is minted once the cached
        // one is half spent).
        let mut renew = tokio::time::interval(self.auth.config().convex_token_ttl / 5);
        renew.tick().await;
        let far = || tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        loop {
            let expiry = session.expires.unwrap_or_else(far);
            tokio::select! {
                frame = client.incoming.recv() => {
                    let Some(frame) = frame else { break };
                    match frame {
                        Frame::Close(..) => break,
                        Frame::Ping(payload) => {
                            up_tx.send(Upstream::Ping(payload.into())).await.map_err(|e| e.to_string())?;
                        }
                        Frame::Text(text) => {
                            match session.on_client(text).await {
                                Step::Forward(text) => {
                                    up_tx.send(Upstream::Text(text.into())).await.map_err(|e| e.to_string())?;
                                }
                                Step::Answer(message) => {
                                    send(&client.outgoing, &message).await?;
                                }
                                Step::End(message, code) => {
                                    send(&client.outgoing, &message).await?;
                                    let _ = client.outgoing.send(Frame::Close(code, "closed by the gateway".into())).await;
                                    break;
                                }
                            }
                        }
                    }
                }
                message = up_rx.next() => {
                    let Some(Ok(message)) = message else {
                        let _ = client.outgoing.send(Frame::Close(1011, "Convex closed the connection".into())).await;
                        break;
                    };
                    match message {
                        Upstream::Text(text) => {
                            let text = session.on_upstream(text.as_str());
                            client.outgoing.send(Frame::Text(text)).await.map_err(|e| e.to_string())?;
                        }
                        Upstream::Ping(payload) => {
                            client.outgoing.send(Frame::Ping(payload.to_vec())).await.map_err(|e| e.to_string())?;
                        }
                        Upstream::Close(frame) => {
                            let (code, reason) = frame.map_or((1000, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                            let _ = client.outgoing.send(Frame::Close(code, reason)).await;
                            break;
                        }
                        _ => {}
                    }
                }
                _ = renew.tick() => {
                    if let Some(message) = session.renewal() {
                        up_tx.send(Upstream::Text(message.to_string().into())).await.map_err(|e| e.to_string())?;
                    }
                }
                () = tokio::time::sleep_until(expiry) => {
                    let base = session.client_identity();
                    send(&client.outgoing, &messages::auth_error("the token has expired; authenticate again with a fresh one", base)).await?;
                    let _ = client.outgoing.send(Frame::Close(1000, "token expired".into())).await;
                    self.metrics.denied("token_expired");
                    break;
                }
            }
        }
        let _ = up_tx.close().await;
        Ok(())
    }
}

/// What to do with a client message.
enum Step {
    /// Send this text upstream.
    Forward(String),
    /// Answer the client, and go on.
    Answer(Value),
    /// Answer the client, then close with this code.
    End(Value, u16),
}

struct Session<'a> {
    relay: &'a SyncRelay,
    identities: Identities,
    caller: MaybeAuthUser,
    caller_permit: Option<Permit>,
    expires: Option<tokio::time::Instant>,
}

impl Session<'_> {
    /// The client's identity version now.
    fn client_identity(&self) -> u64 {
        self.identities.to_client(self.identities.current())
    }

    async fn on_client(&mut self, text: String) -> Step {
        let metrics = &self.relay.metrics;
        if text.len() > self.relay.config.max_message {
            metrics.denied("too_large");
            return Step::End(
                messages::fatal_error("the message is larger than the gateway accepts"),
                1009,
            );
        }
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            metrics.denied("malformed");
            return Step::End(
                messages::fatal_error("a message must be one JSON object"),
                1007,
            );
        };
        metrics.message("client", messages::message_type(&message));
        let parsed = match messages::parse_client(&message) {
            Ok(parsed) => parsed,
            Err(reason) => {
                metrics.denied("malformed");
                return Step::End(messages::fatal_error(&reason), 1007);
            }
        };
        match parsed {
            ClientMessage::AuthenticateUser {
                base_version,
                token,
            } => self.authenticate(base_version, Some(token)).await,
            ClientMessage::AuthenticateNone { base_version } => {
                self.authenticate(base_version, None).await
            }
            ClientMessage::AuthenticateAdmin { base_version } => {
                metrics.denied("admin_key");
                Step::End(
                    messages::auth_error(
                        "admin keys are not accepted through the gateway; authenticate as a user",
                        base_version,
                    ),
                    1000,
                )
            }
            ClientMessage::ModifyQuerySet { added } => {
                for path in &added {
                    if let Err(err) = self.allowed(path, FunctionKind::Query) {
                        metrics.denied("query");
                        return Step::End(
                            messages::fatal_error(&format!(
                                "forbidden: the query `{path}` is not allowed: {}",
                                err.detail()
                            )),
                            1000,
                        );
                    }
                }
                Step::Forward(text)
            }
            ClientMessage::Call {
                kind,
                request_id,
                path,
            } => {
                let policy_kind = match kind {
                    CallKind::Mutation => FunctionKind::Mutation,
                    CallKind::Action => FunctionKind::Action,
                };
                match self.allowed(&path, policy_kind) {
                    Ok(()) => Step::Forward(text),
                    Err(err) => {
                        metrics.denied(match kind {
                            CallKind::Mutation => "mutation",
                            CallKind::Action => "action",
                        });
                        Step::Answer(messages::refused_call(
                            kind,
                            &request_id,
                            &format!("forbidden: {}", err.detail()),
                        ))
                    }
                }
            }
            ClientMessage::Other => Step::Forward(text),
        }
    }

    fn allowed(&self, path: &str, kind: FunctionKind) -> Result<(), ApiError> {
        self.relay
            .auth
            .authorize_function(&self.caller, &policy_path(path), kind)
    }

    /// Verifies the client's token and sends the identity upstream as the auth mode says.
    async fn authenticate(&mut self, base_version: u64, token: Option<String>) -> Step {
        let metrics = &self.relay.metrics;
        let user = match token {
            None => None,
            Some(token) => match self.relay.auth.authenticate(&token).await {
                Ok(user) => Some(user),
                Err(err) => {
                    metrics.denied("bad_token");
                    return Step::End(
                        messages::auth_error(ApiError::from(err).detail(), base_version),
                        1000,
                    );
                }
            },
        };
        let caller = MaybeAuthUser(user);
        if let Some(user) = &caller.0 {
            let same = self
                .caller
                .0
                .as_ref()
                .is_some_and(|current| current.sub == user.sub);
            if !same {
                match self
                    .relay
                    .sockets
                    .acquire_caller(&format!("user:{}", user.sub))
                {
                    Ok(permit) => self.caller_permit = Some(permit),
                    Err(err) => {
                        metrics.denied("too_many_sockets");
                        return Step::End(messages::auth_error(err.detail(), base_version), 1000);
                    }
                }
            }
        } else {
            self.caller_permit = None;
        }
        let upstream_token = match self.relay.auth.convex_identity(&caller) {
            Ok(token) => token,
            Err(err) => {
                return Step::End(messages::auth_error(err.detail(), base_version), 1000);
            }
        };
        self.expires = caller.0.as_ref().and_then(expiry_of);
        self.caller = caller;
        let base = self.identities.next(false);
        Step::Forward(
            messages::authenticate(base, upstream_token.as_ref().map(|t| t.expose_secret()))
                .to_string(),
        )
    }

    /// A renewed minted identity for upstream, when the mode mints one and it changed.
    fn renewal(&mut self) -> Option<Value> {
        if self.relay.auth.config().convex_auth_mode != ConvexAuthMode::Mint
            || self.caller.0.is_none()
        {
            return None;
        }
        let token = self.relay.auth.convex_identity(&self.caller).ok()??;
        self.relay.metrics.renewed();
        let base = self.identities.next(true);
        Some(messages::authenticate(base, Some(token.expose_secret())))
    }

    /// An upstream message for the client, with identity versions translated if needed.
    fn on_upstream(&self, text: &str) -> String {
        let Ok(mut message) = serde_json::from_str::<Value>(text) else {
            return text.to_owned();
        };
        self.relay
            .metrics
            .message("server", messages::message_type(&message));
        if !self.identities.shifted() {
            return text.to_owned();
        }
        self.identities.rewrite(&mut message);
        message.to_string()
    }
}

/// When the caller's token expires.
fn expiry_of(user: &crate::auth::AuthUser) -> Option<tokio::time::Instant> {
    user.expires_in()
        .map(|left| tokio::time::Instant::now() + left)
}

async fn send(outgoing: &mpsc::Sender<Frame>, message: &Value) -> Result<(), String> {
    outgoing
        .send(Frame::Text(message.to_string()))
        .await
        .map_err(|e| e.to_string())
}

/// The deployment's sync endpoint for the path the client asked for: `ws(s)://host/api/…/sync`.
fn ws_url(deployment: &str, path: &str) -> String {
    let base = deployment.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    format!("{base}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_url_keeps_the_clients_sync_path() {
        assert_eq!(
            ws_url("https://happy-otter-1.convex.cloud/", "/api/1.51.0/sync"),
            "wss://happy-otter-1.convex.cloud/api/1.51.0/sync"
        );
        assert_eq!(
            ws_url("http://127.0.0.1:3210", "/api/sync"),
            "ws://127.0.0.1:3210/api/sync"
        );
    }
}
