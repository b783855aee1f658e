//! Following one table's changes for one watch: what the hub broadcasts, with the gaps read
//! from the feed, judged against the watch's filters (row ownership included) before and after
//! each change. A change the caller could not see on either side is never passed on.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use super::hub::{Batch, Entry, Hub};
use crate::store::{ChangeOp, Document, Filter, SharedStore, StoreCtx, StoreError, TableName};

/// How many changes one gap read takes.
const PAGE: usize = 500;

/// What a change did to the watch's view.
pub(super) enum Delta {
    /// The document came into view: inserted, or changed so that it now matches.
    Enter(Arc<Entry>),
    /// The document changed and still matches.
    Update(Arc<Entry>),
    /// The document no longer matches (or is no longer the caller's); it still exists.
    Leave { id: String, version: u64 },
    /// The document was deleted while in view.
    Delete { id: String, version: u64 },
}

/// The next thing a follower has to tell.
pub(super) enum Step {
    /// Changes to the view, each with its feed position.
    Deltas(Vec<(u64, Delta)>),
    /// The watch's position is no longer in the feed; it must start again from `head`.
    Reset { head: u64 },
    /// The subscriber fell too far behind the hub.
    TooSlow,
    /// Reading the feed failed.
    Failed(StoreError),
}

/// Whom the follower re-reads documents as, where the store enforces row policies of its own
/// (Postgres row-level security): a change passes only if the caller can read the row.
pub(super) struct RowPolicy {
    pub(super) ctx: StoreCtx,
    /// Documents this watch has shown the caller, so a delete or a leave is told only of them.
    pub(super) shown: HashSet<String>,
}

/// Where a follower starts.
pub(super) struct Start {
    /// The position after which it tells changes (the head, or a `Last-Event-ID`).
    pub(super) from: u64,
    /// The feed's head, read before the follower is made: where the hub's reader starts if
    /// this follower starts it.
    pub(super) head: u64,
}

/// One watch's position in the feed and what it may see.
pub(super) struct Follower {
    store: SharedStore,
    hub: Hub,
    receiver: broadcast::Receiver<Arc<Batch>>,
    table: TableName,
    filters: Vec<Filter>,
    /// Whether a filter on the owner is among `filters`: then a change whose earlier state is
    /// unknown is not passed on, since it may have been someone else's row.
    scoped: bool,
    policy: Option<RowPolicy>,
    position: u64,
    /// Whether the feed has been read up to the present since the start (or a restart).
    caught_up: bool,
}

impl Follower {
    /// A follower of `table` from `start.from`, subscribed to the hub now (before any read, so
    /// nothing committed from here on is missed).
    pub(super) fn new(
        store: SharedStore,
        hub: Hub,
        table: TableName,
        filters: Vec<Filter>,
        scoped: bool,
        policy: Option<RowPolicy>,
        start: Start,
    ) -> Self {
        let receiver = hub.subscribe(start.head);
        let position = start.from;
        Self {
            store,
            hub,
            receiver,
            table,
            filters,
            scoped,
            policy,
            position,
            caught_up: false,
        }
    }

    /// The last position the follower has passed.
    pub(super) fn position(&self) -> u64 {
        self.position
    }

    /// Starts again from `head` (after a reset), with a fresh subscription.
    pub(super) fn restart(&mut self, head: u64) {
        self.position = head;
        self.caught_up = false;
        self.receiver = self.hub.subscribe(head);
        if let Some(policy) = &mut self.policy {
            policy.shown.clear();
        }
    }

    /// The next thing to tell: what the feed holds after the follower's position until it has
    /// caught up with the present, then what the hub broadcasts.
    pub(super) async fn step(&mut self) -> Step {
        loop {
            if self.caught_up {
                return self.next().await;
            }
            match self.catch_up().await {
                Some(step) => return step,
                None => self.caught_up = true,
            }
        }
    }

    /// Reads the feed from the follower's position up to the present (a resume, or a late
    /// start), then answers what it found; `None` when it is caught up.
    async fn catch_up(&mut self) -> Option<Step> {
        match self.read_gap(u64::MAX).await {
            Ok(deltas) if deltas.is_empty() => None,
            Ok(deltas) => Some(Step::Deltas(deltas)),
            Err(StoreError::ResyncNeeded { .. }) => Some(self.reset().await),
            Err(err) => Some(Step::Failed(err)),
        }
    }

    /// Waits for the next batch that concerns the watch, and answers its deltas.
    async fn next(&mut self) -> Step {
        loop {
            let batch = match self.receiver.recv().await {
                Ok(batch) => batch,
                Err(RecvError::Lagged(_)) => return Step::TooSlow,
                // The hub has gone with the application.
                Err(RecvError::Closed) => {
                    return Step::Failed(StoreError::Unavailable("the gateway is stopping".into()));
                }
            };
            let (from, through, changes) = match batch.as_ref() {
                Batch::Reset => return self.reset().await,
                Batch::Changes {
                    from,
                    through,
                    changes,
                } => (*from, *through, changes),
            };
            if through <= self.position {
                continue;
            }
            let mut deltas = Vec::new();
            if from > self.position {
                // Committed before this batch, after our position: read from the feed.
                match self.read_gap(from).await {
                    Ok(gap) => deltas = gap,
                    Err(StoreError::ResyncNeeded { .. }) => return self.reset().await,
                    Err(err) => return Step::Failed(err),
                }
            }
            for entry in changes {
                let position = entry.change.position;
                if position <= self.position {
                    continue;
                }
                self.position = position;
                if entry.change.table == self.table.as_str()
                    && let Some(delta) = self.judge(entry).await
                {
                    deltas.push((position, delta));
                }
            }
            self.position = self.position.max(through);
            if !deltas.is_empty() {
                return Step::Deltas(deltas);
            }
        }
    }

    async fn reset(&mut self) -> Step {
        match self.store.change_head().await {
            Ok(head) => Step::Reset { head },
            Err(err) => Step::Failed(err),
        }
    }

    /// The table's changes after the follower's position, up to `until` (or the present).
    async fn read_gap(&mut self, until: u64) -> Result<Vec<(u64, Delta)>, StoreError> {
        let mut deltas = Vec::new();
        while self.position < until {
            let page = self
                .store
                .changes(self.position, Some(&self.table), PAGE)
                .await?;
            let done = page.items.len() < PAGE;
            for change in page.items {
                let position = change.position;
                self.position = position;
                if let Some(delta) = self.judge(&Entry::new(change)).await {
                    deltas.push((position, delta));
                }
            }
            if done {
                break;
            }
        }
        Ok(deltas)
    }

    /// What `change` did to the view, if the caller may be told.
    async fn judge(&mut self, entry: &Arc<Entry>) -> Option<Delta> {
        let change = &entry.change;
        let matches = |doc: &Document| self.filters.iter().all(|f| f.matches(doc));
        let after = change.document.as_ref().filter(|doc| matches(doc));
        // Before: not there for an insert; unknown when the feed kept no earlier image.
        let before = match change.op {
            ChangeOp::Insert => Some(false),
            _ => change.previous.as_ref().map(matches),
        };
        let delta = match (after, before) {
            (Some(_), Some(true)) => Delta::Update(Arc::clone(entry)),
            (Some(_), None) if change.op != ChangeOp::Insert => Delta::Update(Arc::clone(entry)),
            (Some(_), _) => Delta::Enter(Arc::clone(entry)),
            (None, Some(false)) => return None,
            // Unknown before: say it left only where the caller could read any row of the table.
            (None, None) if self.scoped => return None,
            (None, _) => match change.op {
                ChangeOp::Delete => Delta::Delete {
                    id: change.id.clone(),
                    version: change.version,
                },
                _ => Delta::Leave {
                    id: change.id.clone(),
                    version: change.version,
                },
            },
        };
        self.check_policy(delta).await
    }

    /// Under the database's own row policies: an entering or updated document passes only if
    /// the caller can read its row now; a leave or a delete only if the watch showed it.
    async fn check_policy(&mut self, delta: Delta) -> Option<Delta> {
        let Some(policy) = &mut self.policy else {
            return Some(delta);
        };
        match &delta {
            Delta::Enter(entry) | Delta::Update(entry) => {
                let (id, version) = (&entry.change.id, entry.change.version);
                let readable = matches!(
                    self.store.get(&policy.ctx, &self.table, id).await,
                    Ok(Some(_))
                );
                if readable {
                    policy.shown.insert(id.clone());
                    Some(delta)
                } else if policy.shown.remove(id) {
                    Some(Delta::Leave {
                        id: id.clone(),
                        version,
                    })
                } else {
                    None
                }
            }
            Delta::Leave { id, .. } | Delta::Delete { id, .. } => {
                policy.shown.remove(id).then_some(delta)
            }
        }
    }
}
