//! Live queries: watches of a table (its page as `snapshot`s, or each `change` to it) and of one
//! document, over the store's change feed, with no polling. Every watch is authorized when it
//! opens and scoped on every event by the same filters and row ownership as a read; it ends
//! when the caller's token expires, and it is bounded (per caller, in all, and in how far it
//! may fall behind).
//!
//! One hub reads the feed once per commit for every watch (`hub`); identical snapshot watches
//! share one reader of their page (`snapshot`); changes watches follow the feed themselves
//! (`follow`), so `Last-Event-ID` resumes exactly where a stream stopped. The routes turn the
//! frames into Server-Sent Events.

mod document;
mod follow;
mod frame;
mod hub;
mod limits;
mod metrics;
mod remote;
mod snapshot;
mod stream;
mod table;
mod upstream;

pub use frame::Frame;
pub use limits::{Limits, Permit};
pub use stream::Frames;

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::config::WatchConfig;
use crate::context::RequestCtx;
use crate::documents::WatchPlan;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::Metrics;
use crate::store::convex::list_args;
use crate::store::{SharedStore, StoreCtx};

use follow::{Follower, RowPolicy};
use hub::Hub;
use metrics::{Kind, LiveMetrics};
use remote::{RemoteSource, Render};
use snapshot::Cohorts;
use stream::{Bounds, Source};
use upstream::{Shape, Upstream};

/// What a table watch sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The page, at once and again whenever its content changes (Convex's semantics).
    Snapshot,
    /// One event per change to the documents the query matches, without a limit.
    Changes,
}

impl Mode {
    /// `snapshot` or `changes`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "snapshot" => Some(Self::Snapshot),
            "changes" => Some(Self::Changes),
            _ => None,
        }
    }
}

/// The live-query service.
pub struct Live {
    store: SharedStore,
    hub: Hub,
    limits: Limits,
    cohorts: Cohorts,
    metrics: Arc<LiveMetrics>,
    config: WatchConfig,
    /// How long a watch on Convex waits for its first result before its request fails (the
    /// request timeout).
    first_result_within: Duration,
    stopping: watch::Sender<bool>,
    /// Convex's own subscriptions, when the gateway fronts a deployment.
    upstream: Option<Upstream>,
}

impl Live {
    /// The service over `store` (and the Convex deployment at `convex_url`, whose tables and
    /// functions are watched through its own subscriptions), registering its metrics. A watch
    /// on Convex that has no first result within `first_result_within` fails its request.
    pub fn new(
        store: SharedStore,
        convex_url: Option<String>,
        auth: Arc<Auth>,
        config: WatchConfig,
        first_result_within: Duration,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let metrics = Arc::new(LiveMetrics::register(metrics)?);
        Ok(Self {
            hub: Hub::new(&store, config.queue),
            limits: Limits::new(config.per_caller, config.max_total),
            cohorts: Cohorts::default(),
            upstream: convex_url.map(|url| Upstream::new(url, auth, Arc::clone(&metrics))),
            metrics,
            stopping: watch::channel(false).0,
            store,
            config,
            first_result_within,
        })
    }

    /// Opens a watch of a Convex query (`path` and `args` checked by the function service):
    /// `event: value` at once and whenever the result changes.
    pub async fn watch_function(
        &self,
        ctx: &RequestCtx,
        path: &str,
        args: serde_json::Value,
    ) -> ApiResult<Frames> {
        let upstream = self.upstream()?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let cohort = upstream.join(&ctx.caller, path, args, Shape::Value).await?;
        Ok(stream::frames(
            Box::new(RemoteSource::new(cohort, Render::Value)),
            self.bounds(ctx),
            Kind::Function,
            Arc::clone(&self.metrics),
            permit,
        ))
    }

    /// The cohort's first result, within the request's time.
    async fn first_result(
        &self,
        cohort: &upstream::Cohort,
    ) -> ApiResult<Option<Arc<upstream::Shot>>> {
        let mut shots = cohort.subscribe();
        let first = tokio::time::timeout(
            self.first_result_within,
            shots
                .wait_for(Option::is_some)
                .map(|r| r.ok().and_then(|s| s.clone())),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::UpstreamTimeout,
                "Convex did not answer the subscription in time",
            )
        })?;
        first.map(Some).ok_or_else(ended)
    }

    fn upstream(&self) -> ApiResult<&Upstream> {
        self.upstream.as_ref().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ConvexNotConfigured,
                "this gateway runs without Convex; set CONVEX_URL to watch Convex functions",
            )
        })
    }

    /// A table watch on Convex: a subscription to `gateway:list` as the caller.
    async fn watch_convex_table(
        &self,
        ctx: &RequestCtx,
        upstream: &Upstream,
        plan: WatchPlan,
        mode: Mode,
        resume_from: Option<u64>,
    ) -> ApiResult<Frames> {
        if ctx.tx.is_some() {
            return Err(in_transaction());
        }
        let args = list_args(&plan.table, &plan.query)?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let cohort = upstream
            .join(&ctx.caller, "gateway:list", args, Shape::Page(plan.query))
            .await?;
        // A query Convex refuses (an order without its index, say) is the request's error.
        if let Some(upstream::Shot::Failed { code, detail, .. }) =
            self.first_result(&cohort).await?.as_deref()
        {
            return Err(ApiError::new(*code, detail.clone()));
        }
        let (render, kind) = match mode {
            Mode::Snapshot => (Render::Snapshot, Kind::TableSnapshot),
            Mode::Changes => (
                Render::Changes {
                    seen: None,
                    resumed: resume_from.is_some(),
                },
                Kind::TableChanges,
            ),
        };
        Ok(stream::frames(
            Box::new(RemoteSource::new(cohort, render)),
            self.bounds(ctx),
            kind,
            Arc::clone(&self.metrics),
            permit,
        ))
    }

    /// A document watch on Convex: a subscription to `gateway:get` as the caller; a document
    /// the caller cannot see answers 404, as a read does.
    async fn watch_convex_document(
        &self,
        ctx: &RequestCtx,
        upstream: &Upstream,
        plan: WatchPlan,
        id: &str,
    ) -> ApiResult<Frames> {
        if ctx.tx.is_some() {
            return Err(in_transaction());
        }
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let args = serde_json::json!({ "table": plan.table.as_str(), "id": id });
        let cohort = upstream
            .join(&ctx.caller, "gateway:get", args, Shape::Document)
            .await?;
        // The first result decides between the watch and a 404.
        let first = self.first_result(&cohort).await?;
        match first.as_deref() {
            Some(upstream::Shot::Ready(text)) => {
                let doc = serde_json::from_str::<Option<crate::store::Document>>(text)
                    .ok()
                    .flatten()
                    .filter(|doc| plan.query.filters.iter().all(|f| f.matches(doc)));
                if doc.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        format!("no document `{id}` in table `{}`", plan.table),
                    ));
                }
            }
            Some(upstream::Shot::Failed { code, detail, .. }) => {
                return Err(ApiError::new(*code, detail.clone()));
            }
            None => return Err(ended()),
        }
        Ok(stream::frames(
            Box::new(RemoteSource::new(
                cohort,
                Render::Document {
                    id: id.to_owned(),
                    filters: plan.query.filters,
                },
            )),
            self.bounds(ctx),
            Kind::Document,
            Arc::clone(&self.metrics),
            permit,
        ))
    }

    /// Ends every open watch (`shutting_down`), so a stopping gateway is not held open by them.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// The server-sent-event heartbeat period.
    pub fn heartbeat(&self) -> Duration {
        self.config.heartbeat
    }

    /// Opens a watch of a table page (`plan`, authorized by the document service) in `mode`;
    /// `resume_from` is the `Last-Event-ID` of a changes watch.
    pub async fn watch_table(
        &self,
        ctx: &RequestCtx,
        plan: WatchPlan,
        mode: Mode,
        resume_from: Option<u64>,
    ) -> ApiResult<Frames> {
        if let Some(upstream) = &self.upstream {
            return self
                .watch_convex_table(ctx, upstream, plan, mode, resume_from)
                .await;
        }
        self.check_feed(ctx)?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let store_ctx = background(&ctx.store, self.store.wants_caller());
        let (source, kind): (Box<dyn Source>, _) = match mode {
            Mode::Snapshot => {
                let key = self.cohort_key(ctx, &plan);
                let cohort = self.cohorts.join(
                    key,
                    snapshot::Page {
                        table: plan.table.clone(),
                        query: plan.query.clone(),
                        ctx: store_ctx,
                    },
                    &self.store,
                    &self.hub,
                    &self.metrics,
                );
                (
                    Box::new(table::SnapshotSource::new(cohort)),
                    Kind::TableSnapshot,
                )
            }
            Mode::Changes => {
                let follower = self.follower(&plan, &store_ctx, resume_from).await?;
                let source = table::ChangesSource::new(
                    follower,
                    table::ChangesParts {
                        store: Arc::clone(&self.store),
                        ctx: store_ctx,
                        table: plan.table,
                        query: plan.query,
                        resumed: resume_from.is_some(),
                    },
                );
                (Box::new(source), Kind::TableChanges)
            }
        };
        Ok(stream::frames(
            source,
            self.bounds(ctx),
            kind,
            Arc::clone(&self.metrics),
            permit,
        ))
    }

    /// Opens a watch of one document (`plan` filters on its id, and on its owner under row
    /// ownership). Without `resume_from`, the document must exist and be the caller's to see.
    pub async fn watch_document(
        &self,
        ctx: &RequestCtx,
        plan: WatchPlan,
        id: &str,
        resume_from: Option<u64>,
    ) -> ApiResult<Frames> {
        if let Some(upstream) = &self.upstream {
            return self.watch_convex_document(ctx, upstream, plan, id).await;
        }
        self.check_feed(ctx)?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let store_ctx = background(&ctx.store, self.store.wants_caller());
        let follower = self.follower(&plan, &store_ctx, resume_from).await?;
        let first = match resume_from {
            Some(_) => None,
            None => {
                let doc = self
                    .store
                    .get(&store_ctx, &plan.table, id)
                    .await?
                    .filter(|doc| plan.query.filters.iter().all(|f| f.matches(doc)))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::NotFound,
                            format!("no document `{id}` in table `{}`", plan.table),
                        )
                    })?;
                Some(doc)
            }
        };
        Ok(stream::frames(
            Box::new(document::DocumentSource::new(follower, first)),
            self.bounds(ctx),
            Kind::Document,
            Arc::clone(&self.metrics),
            permit,
        ))
    }

    fn check_feed(&self, ctx: &RequestCtx) -> ApiResult<()> {
        if ctx.tx.is_some() {
            return Err(in_transaction());
        }
        if self.store.change_signal().is_none() || !self.store.capabilities().change_feed {
            return Err(ApiError::new(
                ErrorCode::ChangeFeedUnavailable,
                "watches follow the store's change feed, which this store adapter does not keep (on Postgres: run `convex-gateway postgres install`)",
            ));
        }
        Ok(())
    }

    /// A follower of the plan's table from `resume_from`, or from the feed's head now.
    async fn follower(
        &self,
        plan: &WatchPlan,
        store_ctx: &StoreCtx,
        resume_from: Option<u64>,
    ) -> ApiResult<Follower> {
        // The hub's reader, if this starts it, starts at the head read now: a resume from an
        // old position is the follower's own to catch up on (or to reset from).
        let head = self.store.change_head().await?;
        let policy = self.store.wants_caller().then(|| RowPolicy {
            ctx: store_ctx.clone(),
            shown: Default::default(),
        });
        Ok(Follower::new(
            Arc::clone(&self.store),
            self.hub.clone(),
            plan.table.clone(),
            plan.query.filters.clone(),
            plan.owner_scoped,
            policy,
            follow::Start {
                from: resume_from.unwrap_or(head),
                head,
            },
        ))
    }

    /// Watches that may share one reader: the same page, and, where the store applies row
    /// policies of its own, the same caller with the same claims.
    fn cohort_key(&self, ctx: &RequestCtx, plan: &WatchPlan) -> String {
        let caller = if self.store.wants_caller() {
            match &ctx.caller.0 {
                Some(user) => format!(
                    "{}:{}",
                    user.sub,
                    serde_json::Value::Object(user.claims.clone())
                ),
                None => "anonymous".into(),
            }
        } else {
            String::new()
        };
        format!("{}\u{0}{:?}\u{0}{caller}", plan.table, plan.query)
    }

    fn bounds(&self, ctx: &RequestCtx) -> Bounds {
        let now = tokio::time::Instant::now();
        let token_expires = ctx
            .caller
            .0
            .as_ref()
            .and_then(crate::auth::AuthUser::expires_in)
            .map(|left| now + left);
        Bounds {
            token_expires,
            lifetime_ends: self.config.max_lifetime.map(|lifetime| now + lifetime),
            stopping: self.stopping.subscribe(),
        }
    }
}

/// What a watch reads the store as: without the request's deadline (its reads happen long after
/// the request that opened it), and, unless the store applies row policies of its own, as the
/// gateway: the plan's filters already scope it to the caller, and a watch that holds no copy
/// of the caller's token and claims is that much smaller.
fn background(ctx: &StoreCtx, as_caller: bool) -> StoreCtx {
    StoreCtx {
        identity: None,
        request_id: None,
        idempotency_key: None,
        deadline: None,
        caller: if as_caller {
            ctx.caller.clone()
        } else {
            crate::store::DbCaller::Gateway
        },
        as_deployment: false,
        dry_run: false,
        history: None,
    }
}

fn in_transaction() -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        "a watch cannot run inside a transaction; open it without X-Transaction-Id",
    )
}

fn ended() -> ApiError {
    ApiError::new(
        ErrorCode::UpstreamUnavailable,
        "the subscription to Convex has ended",
    )
}
