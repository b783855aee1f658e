//! The table watch's two sources: `snapshot` (the page, again whenever its content changes,
//! from the page's cohort) and `changes` (one event per change to the view, each with its
//! feed position, resumable with `Last-Event-ID`).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::watch;

use super::follow::{Follower, Step};
use super::frame::Frame;
use super::snapshot::{Cohort, Shot};
use super::stream::Source;
use crate::error::ApiError;
use crate::store::{ListQuery, SharedStore, StoreCtx, TableName};

/// `mode=snapshot`: the cohort's pages.
pub(super) struct SnapshotSource {
    /// Held so the cohort lives while this watch does.
    _cohort: Arc<Cohort>,
    shots: watch::Receiver<Option<Arc<Shot>>>,
    started: bool,
    done: bool,
}

impl SnapshotSource {
    pub(super) fn new(cohort: Arc<Cohort>) -> Self {
        let shots = cohort.subscribe();
        Self {
            _cohort: cohort,
            shots,
            started: false,
            done: false,
        }
    }
}

#[async_trait]
impl Source for SnapshotSource {
    async fn next(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        if self.started && self.shots.changed().await.is_err() {
            self.done = true;
            return Some(Frame::error("internal", "the watch's reader has stopped"));
        }
        self.started = true;
        let shot = match self.shots.wait_for(Option::is_some).await {
            Ok(shot) => shot.clone(),
            Err(_) => None,
        };
        // Seen: the next wait is for a newer page.
        self.shots.borrow_and_update();
        let frame = match shot.as_deref() {
            Some(Shot::Page(body)) => Frame::new("snapshot", None, body.clone()),
            Some(Shot::Failed { code, detail }) => Frame::error(code, detail),
            None => Frame::error("internal", "the watch's reader has stopped"),
        };
        self.done = frame.last;
        Some(frame)
    }
}

/// `mode=changes`: a follower of the table's changes.
pub(super) struct ChangesSource {
    follower: Follower,
    pending: VecDeque<Frame>,
    /// What a reset reads the page afresh with.
    store: SharedStore,
    ctx: StoreCtx,
    table: TableName,
    query: ListQuery,
    /// Whether the watch resumed from `Last-Event-ID` (then no `ready` event is sent first).
    resumed: bool,
    started: bool,
    done: bool,
}

/// What a changes watch needs besides its follower.
pub(super) struct ChangesParts {
    pub(super) store: SharedStore,
    pub(super) ctx: StoreCtx,
    pub(super) table: TableName,
    pub(super) query: ListQuery,
    pub(super) resumed: bool,
}

impl ChangesSource {
    pub(super) fn new(follower: Follower, parts: ChangesParts) -> Self {
        Self {
            follower,
            pending: VecDeque::new(),
            store: parts.store,
            ctx: parts.ctx,
            table: parts.table,
            query: parts.query,
            resumed: parts.resumed,
            started: false,
            done: false,
        }
    }

    fn take(&mut self, step: Step) {
        match step {
            Step::Deltas(deltas) => self.pending.extend(
                deltas
                    .iter()
                    .map(|(position, delta)| Frame::change(*position, delta)),
            ),
            Step::Reset { head } => {
                self.follower.restart(head);
                self.pending.push_back(Frame::new(
                    "reset",
                    Some(head),
                    json!({ "position": head, "reason": "the position is older than the change feed keeps; a snapshot follows" }).to_string(),
                ));
                self.pending
                    .push_back(Frame::new("snapshot", Some(head), String::new()));
            }
            Step::TooSlow => {
                self.pending.push_back(Frame::error(
                    "too_slow",
                    "this watch fell too far behind its changes; reconnect with Last-Event-ID to resume",
                ));
            }
            Step::Failed(err) => {
                let err = ApiError::from(err);
                if let Some(cause) = err.cause() {
                    tracing::error!(error = format!("{cause:#}"), "a changes watch failed");
                }
                self.pending
                    .push_back(Frame::error(err.code().as_str(), err.detail()));
            }
        }
    }

    /// The page as it is now, for the snapshot after a reset.
    async fn snapshot(&self, head: u64) -> Frame {
        match self
            .store
            .list_json(&self.ctx, &self.table, &self.query)
            .await
        {
            Ok(page) => Frame::new("snapshot", Some(head), page.to_json()),
            Err(err) => {
                let err = ApiError::from(err);
                Frame::error(err.code().as_str(), err.detail())
            }
        }
    }
}

#[async_trait]
impl Source for ChangesSource {
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                if frame.event == "snapshot" && frame.data.is_empty() {
                    // A reset's snapshot, read when it is due.
                    let frame = self.snapshot(frame.id.unwrap_or_default()).await;
                    self.done |= frame.last;
                    return Some(frame);
                }
                self.done |= frame.last;
                return Some(frame);
            }
            if self.done {
                return None;
            }
            if !self.started {
                self.started = true;
                if !self.resumed {
                    let position = self.follower.position();
                    return Some(Frame::new(
                        "ready",
                        Some(position),
                        json!({ "position": position }).to_string(),
                    ));
                }
            }
            let step = self.follower.step().await;
            self.take(step);
        }
    }
}
