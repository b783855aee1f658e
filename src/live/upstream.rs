//! Watches on Convex, through the deployment's own subscriptions: the official `convex` crate
//! over its WebSocket sync protocol, one connection per caller identity (never one caller's
//! identity on another's connection), and one subscription per cohort of identical watches:
//! the same function, arguments, identity and shape. A thousand subscribers of one query with
//! one identity cost one upstream subscription and one re-run per change, and they share each
//! result.
//!
//! A connection authenticates as `CONVEX_AUTH_MODE` says: the caller's own token (`forward`,
//! one connection per token), or a token the gateway mints (`mint`, refreshed before it
//! expires). The crate reconnects by itself after an outage; watches wait meanwhile.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use futures_util::StreamExt as _;
use secrecy::ExposeSecret as _;
use sha2::Digest as _;
use tokio::sync::{oneshot, watch};

use super::metrics::LiveMetrics;
use crate::auth::{Auth, MaybeAuthUser};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::convex::{decode_value, document_from, function_error, page_from};
use crate::store::{ListQuery, Page};

/// What a cohort makes of each result.
#[derive(Debug, Clone)]
pub(super) enum Shape {
    /// A function's value, as `{"value": …}`.
    Value,
    /// A `gateway:list` page, as the list body.
    Page(ListQuery),
    /// A `gateway:get` document, as the document (or `null`).
    Document,
}

/// A cohort's latest result.
pub(super) enum Shot {
    /// The result in its shape, as JSON text.
    Ready(String),
    /// The function failed: its message and `ConvexError` data.
    Failed {
        code: ErrorCode,
        detail: String,
        data: Option<serde_json::Value>,
    },
}

/// One upstream connection, authenticated as one identity.
struct Conn {
    client: convex::ConvexClient,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
    }
}

type Registry<T> = Arc<Mutex<HashMap<String, Weak<T>>>>;

/// One upstream subscription and the watches that share it.
pub(super) struct Cohort {
    shots: watch::Receiver<Option<Arc<Shot>>>,
    key: String,
    registry: Weak<Mutex<HashMap<String, Weak<Cohort>>>>,
    metrics: Arc<LiveMetrics>,
    /// The connection lives while a cohort on it does.
    _conn: Arc<Conn>,
    _stop: oneshot::Sender<()>,
}

impl Cohort {
    /// A receiver of the cohort's results.
    pub(super) fn subscribe(&self) -> watch::Receiver<Option<Arc<Shot>>> {
        self.shots.clone()
    }
}

impl Drop for Cohort {
    fn drop(&mut self) {
        self.metrics.upstream("convex", -1);
        if let Some(registry) = self.registry.upgrade() {
            let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
            if registry
                .get(&self.key)
                .is_some_and(|c| c.strong_count() == 0)
            {
                registry.remove(&self.key);
            }
        }
    }
}

/// The Convex subscriptions of this gateway.
pub(super) struct Upstream {
    url: String,
    auth: Arc<Auth>,
    metrics: Arc<LiveMetrics>,
    conns: Registry<Conn>,
    cohorts: Registry<Cohort>,
}

impl Upstream {
    pub(super) fn new(url: String, auth: Arc<Auth>, metrics: Arc<LiveMetrics>) -> Self {
        Self {
            url,
            auth,
            metrics,
            conns: Arc::default(),
            cohorts: Arc::default(),
        }
    }

    /// The cohort of `path` with `args` as `caller`, in `shape`: joined if one runs, else started.
    pub(super) async fn join(
        &self,
        caller: &MaybeAuthUser,
        path: &str,
        args: serde_json::Value,
        shape: Shape,
    ) -> ApiResult<Arc<Cohort>> {
        let identity = self.auth.convex_identity(caller)?;
        let forwarded = matches!(
            self.auth.config().convex_auth_mode,
            crate::config::ConvexAuthMode::Forward
        );
        let identity_key = identity_key(
            caller,
            identity.as_ref().map(|t| t.expose_secret()),
            forwarded,
        );
        let key = format!("{identity_key}\u{0}{path}\u{0}{args}\u{0}{shape:?}");
        if let Some(cohort) = self
            .cohorts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .and_then(Weak::upgrade)
        {
            return Ok(cohort);
        }
        let convex_args = convex_args(args)?;
        let conn = self.conn(&identity_key, caller, identity).await?;
        let mut cohorts = self.cohorts.lock().unwrap_or_else(|p| p.into_inner());
        // Another request may have started it meanwhile.
        if let Some(cohort) = cohorts.get(&key).and_then(Weak::upgrade) {
            return Ok(cohort);
        }
        let (sender, shots) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(
            conn.client.clone(),
            path.to_owned(),
            convex_args,
            shape,
            sender,
            stopped,
        ));
        let cohort = Arc::new(Cohort {
            shots,
            key: key.clone(),
            registry: Arc::downgrade(&self.cohorts),
            metrics: Arc::clone(&self.metrics),
            _conn: conn,
            _stop: stop,
        });
        cohorts.insert(key, Arc::downgrade(&cohort));
        self.metrics.upstream("convex", 1);
        Ok(cohort)
    }

    /// The connection for an identity, opened (and authenticated) if none is open.
    async fn conn(
        &self,
        key: &str,
        caller: &MaybeAuthUser,
        identity: Option<secrecy::SecretString>,
    ) -> ApiResult<Arc<Conn>> {
        if let Some(conn) = self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .and_then(Weak::upgrade)
        {
            return Ok(conn);
        }
        let mut client = convex::ConvexClient::new(&self.url).await.map_err(|err| {
            ApiError::new(
                ErrorCode::UpstreamUnreachable,
                format!("cannot open a subscription connection to Convex: {err}"),
            )
        })?;
        let minted = matches!(
            self.auth.config().convex_auth_mode,
            crate::config::ConvexAuthMode::Mint
        );
        if let Some(token) = &identity {
            client
                .set_auth(Some(token.expose_secret().to_owned()))
                .await;
        }
        let refresher = (minted && caller.0.is_some()).then(|| {
            tokio::spawn(refresh(
                client.clone(),
                Arc::clone(&self.auth),
                caller.clone(),
                identity,
            ))
        });
        let conn = Arc::new(Conn { client, refresher });
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = conns.get(key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        conns.retain(|_, c| c.strong_count() > 0);
        conns.insert(key.to_owned(), Arc::downgrade(&conn));
        Ok(conn)
    }
}

/// Who Convex sees on a connection: the token itself when it is forwarded (a later token is
/// another connection), else the caller's claims without their times (what a minted token
/// carries); callers Convex sees no identity for share one.
fn identity_key(caller: &MaybeAuthUser, token: Option<&str>, forwarded: bool) -> String {
    let hex = |text: &str| -> String {
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    match (&caller.0, token) {
        (None, _) | (Some(_), None) => "nobody".into(),
        (Some(_), Some(token)) if forwarded => format!("forward:{}", hex(token)),
        (Some(user), Some(_)) => {
            let mut claims = user.claims.clone();
            for time in ["exp", "iat", "nbf", "jti"] {
                claims.remove(time);
            }
            format!(
                "mint:{}",
                hex(&serde_json::Value::Object(claims).to_string())
            )
        }
    }
}

/// The arguments as the crate takes them: an object of Convex values.
fn convex_args(args: serde_json::Value) -> ApiResult<BTreeMap<String, convex::Value>> {
    let serde_json::Value::Object(map) = args else {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "`args` must be a JSON object",
        ));
    };
    map.into_iter()
        .map(|(key, value)| {
            convex::Value::try_from(value)
                .map(|value| (key.clone(), value))
                .map_err(|err| {
                    ApiError::new(
                        ErrorCode::InvalidQuery,
                        format!("argument `{key}` is not a Convex value: {err}"),
                    )
                })
        })
        .collect()
}

/// Renews a minted identity on a connection before it expires, while the connection lives.
async fn refresh(
    mut client: convex::ConvexClient,
    auth: Arc<Auth>,
    caller: MaybeAuthUser,
    mut current: Option<secrecy::SecretString>,
) {
    // At a fifth of a minted token's life (a new one is minted once the cached one is half spent).
    let every = auth.config().convex_token_ttl / 5;
    loop {
        tokio::time::sleep(every).await;
        match auth.convex_identity(&caller) {
            Ok(Some(token))
                if current
                    .as_ref()
                    .is_none_or(|c| c.expose_secret() != token.expose_secret()) =>
            {
                client
                    .set_auth(Some(token.expose_secret().to_owned()))
                    .await;
                current = Some(token);
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err.detail(), "renewing a subscription's identity failed");
            }
        }
    }
}

/// The cohort's task: subscribes, and hands each new result to the watches until they are all
/// gone.
async fn run(
    mut client: convex::ConvexClient,
    path: String,
    args: BTreeMap<String, convex::Value>,
    shape: Shape,
    sender: watch::Sender<Option<Arc<Shot>>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut subscription = tokio::select! {
        _ = &mut stopped => return,
        subscribed = client.subscribe(&path, args) => match subscribed {
            Ok(subscription) => subscription,
            Err(err) => {
                sender.send_replace(Some(Arc::new(Shot::Failed {
                    code: ErrorCode::UpstreamError,
                    detail: format!("Convex refused the subscription: {err}"),
                    data: None,
                })));
                return;
            }
        },
    };
    let mut last: Option<String> = None;
    loop {
        let result = tokio::select! {
            _ = &mut stopped => return,
            result = subscription.next() => match result {
                Some(result) => result,
                None => return,
            },
        };
        let shot = shape_result(result, &shape);
        // The crate may yield a value again when another query of the connection changed.
        let text = match &shot {
            Shot::Ready(text) => text.clone(),
            Shot::Failed { detail, data, .. } => format!("{detail}\u{0}{data:?}"),
        };
        if last.as_deref() == Some(text.as_str()) {
            continue;
        }
        last = Some(text);
        sender.send_replace(Some(Arc::new(shot)));
    }
}

/// A result in the cohort's shape.
fn shape_result(result: convex::FunctionResult, shape: &Shape) -> Shot {
    let value = match result {
        convex::FunctionResult::Value(value) => decode_value(serde_json::Value::from(value)),
        convex::FunctionResult::ErrorMessage(message) => return failed(&message, None),
        convex::FunctionResult::ConvexError(error) => {
            let data = decode_value(serde_json::Value::from(error.data));
            return failed(&error.message, Some(data));
        }
    };
    let shaped = match shape {
        Shape::Value => Ok(serde_json::json!({ "value": value }).to_string()),
        Shape::Page(query) => page_from(&value, query)
            .and_then(Page::into_raw)
            .map(|page| page.to_json()),
        Shape::Document => document_from(&value).map(|doc| {
            doc.map_or_else(
                || "null".to_owned(),
                |doc| serde_json::to_string(&doc).unwrap_or_else(|_| "null".into()),
            )
        }),
    };
    match shaped {
        Ok(text) => Shot::Ready(text),
        Err(err) => {
            let err = ApiError::from(err);
            Shot::Failed {
                code: err.code(),
                detail: err.detail().to_owned(),
                data: None,
            }
        }
    }
}

/// A function's failure, with the code the gateway gives it elsewhere (a `ConvexError` with a
/// known `code` maps as the store adapter maps it: `ORDER_NEEDS_INDEX` is `order_needs_index`).
fn failed(message: &str, data: Option<serde_json::Value>) -> Shot {
    let err = ApiError::from(function_error(message, data.as_ref()));
    Shot::Failed {
        code: err.code(),
        detail: err.detail().to_owned(),
        data,
    }
}
