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
mod snapshot;
mod stream;
mod table;

pub use frame::Frame;
pub use stream::Frames;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::config::WatchConfig;
use crate::context::RequestCtx;
use crate::documents::WatchPlan;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::metrics::Metrics;
use crate::store::{SharedStore, StoreCtx};

use follow::{Follower, RowPolicy};
use hub::Hub;
use limits::Limits;
use metrics::LiveMetrics;
use snapshot::Cohorts;
use stream::{Bounds, Source};

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
    stopping: watch::Sender<bool>,
}

impl Live {
    /// The service over `store`, registering its metrics.
    pub fn new(store: SharedStore, config: WatchConfig, metrics: &Metrics) -> anyhow::Result<Self> {
        Ok(Self {
            hub: Hub::new(&store, config.queue),
            limits: Limits::new(config.per_caller, config.max_total),
            cohorts: Cohorts::default(),
            metrics: Arc::new(LiveMetrics::register(metrics)?),
            stopping: watch::channel(false).0,
            store,
            config,
        })
    }

    /// Ends every open watch (`shutting_down`), so a stopping gateway is not held open by them.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Open watches, and the cohorts that serve snapshot watches.
    pub fn counts(&self) -> (usize, usize) {
        (self.limits.open(), self.cohorts.count())
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
        self.check_feed(ctx)?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let store_ctx = background(&ctx.store);
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
                    "table_snapshot",
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
                (Box::new(source), "table_changes")
            }
        };
        Ok(stream::frames(
            source,
            self.bounds(ctx),
            kind,
            Arc::clone(&self.metrics),
            permit,
            self.config.queue,
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
        self.check_feed(ctx)?;
        let permit = self.limits.acquire(&ctx.caller_key())?;
        let store_ctx = background(&ctx.store);
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
            "document",
            Arc::clone(&self.metrics),
            permit,
            self.config.queue,
        ))
    }

    fn check_feed(&self, ctx: &RequestCtx) -> ApiResult<()> {
        if ctx.tx.is_some() {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "a watch cannot run inside a transaction; open it without X-Transaction-Id",
            ));
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
        let position = match resume_from {
            Some(position) => position,
            None => self.store.change_head().await?,
        };
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
            position,
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
            .and_then(|user| user.claims.get("exp"))
            .and_then(serde_json::Value::as_f64)
            .map(|exp| {
                let unix_now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                let left = Duration::try_from_secs_f64((exp - unix_now).max(0.0))
                    .unwrap_or(Duration::MAX)
                    .min(Duration::from_secs(365 * 24 * 3600));
                now + left
            });
        Bounds {
            token_expires,
            lifetime_ends: self.config.max_lifetime.map(|lifetime| now + lifetime),
            stopping: self.stopping.subscribe(),
        }
    }
}

/// The request's store context without its deadline: a watch's reads happen long after the
/// request that opened it.
fn background(ctx: &StoreCtx) -> StoreCtx {
    StoreCtx {
        deadline: None,
        idempotency_key: None,
        ..ctx.clone()
    }
}
