//! Snapshot watches, in cohorts: watches of the same page (table, filters, order, limit, and the
//! same view of the rows) share one cohort, which re-runs the page's query once when a change
//! may have touched it and hands the result to all of them. A result equal to the last one
//! (compared by hash) is not sent again.
//!
//! Each subscriber holds only the cohort's latest result (a `watch` channel): one that reads
//! slowly skips to the newest page instead of queueing the ones in between.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{broadcast::error::TryRecvError, oneshot, watch};

use super::hub::{Batch, Entry, Hub};
use super::metrics::LiveMetrics;
use crate::error::ApiError;
use crate::store::{ChangeOp, Document, ListQuery, SharedStore, StoreCtx, TableName};

/// A page as the cohort last read it.
pub(super) enum Shot {
    /// The list body (`{"items": […], "nextCursor": …}`).
    Page(String),
    /// Reading the page failed: the watches end with this error.
    Failed { code: &'static str, detail: String },
}

/// The cohorts alive now, by key.
#[derive(Default)]
pub(super) struct Cohorts {
    live: Arc<Mutex<HashMap<String, Weak<Cohort>>>>,
}

/// One cohort; its subscribers hold it, and it stops when the last of them lets go.
pub(super) struct Cohort {
    shots: watch::Receiver<Option<Arc<Shot>>>,
    key: String,
    live: Weak<Mutex<HashMap<String, Weak<Cohort>>>>,
    metrics: Arc<LiveMetrics>,
    /// Dropped with the cohort, which stops its task.
    _stop: oneshot::Sender<()>,
}

/// What a cohort reads.
pub(super) struct Page {
    pub(super) table: TableName,
    pub(super) query: ListQuery,
    /// Whom the query runs as (the first subscriber; the key says who else may share it).
    pub(super) ctx: StoreCtx,
}

impl Cohorts {
    /// The cohort for `key`, started for `page` if none is alive.
    pub(super) fn join(
        &self,
        key: String,
        page: Page,
        store: &SharedStore,
        hub: &Hub,
        metrics: &Arc<LiveMetrics>,
    ) -> Arc<Cohort> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cohort) = live.get(&key).and_then(Weak::upgrade) {
            return cohort;
        }
        let (sender, shots) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        let cohort = Arc::new(Cohort {
            shots,
            key: key.clone(),
            live: Arc::downgrade(&self.live),
            metrics: Arc::clone(metrics),
            _stop: stop,
        });
        live.insert(key, Arc::downgrade(&cohort));
        metrics.upstream("table_snapshot", 1);
        tokio::spawn(run(page, Arc::clone(store), hub.clone(), sender, stopped));
        cohort
    }
}

impl Cohort {
    /// A receiver of the cohort's pages.
    pub(super) fn subscribe(&self) -> watch::Receiver<Option<Arc<Shot>>> {
        self.shots.clone()
    }
}

impl Drop for Cohort {
    fn drop(&mut self) {
        self.metrics.upstream("table_snapshot", -1);
        if let Some(live) = self.live.upgrade() {
            let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
            if live.get(&self.key).is_some_and(|c| c.strong_count() == 0) {
                live.remove(&self.key);
            }
        }
    }
}

/// The cohort's task: reads the page, then again after each batch that may touch it.
async fn run(
    page: Page,
    store: SharedStore,
    hub: Hub,
    sender: watch::Sender<Option<Arc<Shot>>>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Subscribed before the first read, from the feed's head read before that, so a change
    // committed during the read is seen after it.
    let head = match store.change_head().await {
        Ok(head) => head,
        Err(err) => {
            let err = ApiError::from(err);
            sender.send_replace(Some(Arc::new(Shot::Failed {
                code: err.code().as_str(),
                detail: err.detail().to_owned(),
            })));
            return;
        }
    };
    let mut batches = hub.subscribe(head);
    let mut last_hash = None;
    let mut dirty = true;
    loop {
        if dirty {
            dirty = false;
            let shot = read(&page, &store).await;
            let hash = match &shot {
                Shot::Page(body) => {
                    let mut hasher = std::collections::hash_map::DefaultHasher::new();
                    body.hash(&mut hasher);
                    Some(hasher.finish())
                }
                Shot::Failed { .. } => None,
            };
            if hash.is_none() || hash != last_hash {
                last_hash = hash;
                sender.send_replace(Some(Arc::new(shot)));
            }
        }
        tokio::select! {
            _ = &mut stopped => return,
            batch = batches.recv() => match batch {
                Ok(batch) => dirty |= touches(&batch, &page),
                // Behind: what was missed is unknown, so read the page again.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => dirty = true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
        // Coalesce: everything already waiting makes one read, not one each.
        loop {
            match batches.try_recv() {
                Ok(batch) => dirty |= touches(&batch, &page),
                Err(TryRecvError::Lagged(_)) => dirty = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
    }
}

async fn read(page: &Page, store: &SharedStore) -> Shot {
    match store.list_json(&page.ctx, &page.table, &page.query).await {
        Ok(raw) => Shot::Page(raw.to_json()),
        Err(err) => {
            let err = ApiError::from(err);
            if let Some(cause) = err.cause() {
                tracing::error!(
                    error = format!("{cause:#}"),
                    "a snapshot watch's read failed"
                );
            }
            Shot::Failed {
                code: err.code().as_str(),
                detail: err.detail().to_owned(),
            }
        }
    }
}

/// Whether a batch may change the page: a change of its table whose document matched the
/// filters before or after it (or whose earlier state the feed did not keep).
fn touches(batch: &Batch, page: &Page) -> bool {
    let matches = |doc: &Document| page.query.filters.iter().all(|f| f.matches(doc));
    let touched = |entry: &Arc<Entry>| {
        let change = &entry.change;
        change.table == page.table.as_str()
            && (change.document.as_ref().is_some_and(matches)
                || match change.op {
                    ChangeOp::Insert => false,
                    _ => change.previous.as_ref().is_none_or(matches),
                })
    };
    match batch {
        Batch::Reset => true,
        Batch::Changes { changes, .. } => changes.iter().any(touched),
    }
}
