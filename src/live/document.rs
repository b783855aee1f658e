//! The document watch's source: the document as it stands when the watch opens, then again on
//! every change, and `deleted` when it is deleted or no longer the caller's (the watch ends).

use std::collections::VecDeque;

use async_trait::async_trait;

use super::follow::{Delta, Follower, Step};
use super::frame::Frame;
use super::stream::Source;
use crate::error::ApiError;
use crate::store::Document;

pub(super) struct DocumentSource {
    follower: Follower,
    pending: VecDeque<Frame>,
    done: bool,
}

impl DocumentSource {
    /// Follows from the follower's position; `first` is the document as read at the start
    /// (none on a resume).
    pub(super) fn new(follower: Follower, first: Option<Document>) -> Self {
        let position = follower.position();
        Self {
            follower,
            pending: first
                .iter()
                .map(|doc| Frame::document(position, doc))
                .collect(),
            done: false,
        }
    }

    fn take(&mut self, step: Step) {
        match step {
            Step::Deltas(deltas) => {
                for (position, delta) in deltas {
                    let frame = match &delta {
                        Delta::Enter(entry) | Delta::Update(entry) => {
                            Frame::entry(position, entry)
                        }
                        Delta::Leave { id, version } | Delta::Delete { id, version } => {
                            Frame::deleted(position, id, *version)
                        }
                    };
                    let last = frame.last;
                    self.pending.push_back(frame);
                    if last {
                        break;
                    }
                }
            }
            Step::Reset { .. } => self.pending.push_back(Frame::error(
                "resync_needed",
                "the position is older than the change feed keeps; open the watch again without Last-Event-ID",
            )),
            Step::TooSlow => self.pending.push_back(Frame::error(
                "too_slow",
                "this watch fell too far behind; reconnect with Last-Event-ID to resume",
            )),
            Step::Failed(err) => {
                let err = ApiError::from(err);
                self.pending
                    .push_back(Frame::error(err.code().as_str(), err.detail()));
            }
        }
    }
}

#[async_trait]
impl Source for DocumentSource {
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                if frame.last {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(frame);
            }
            if self.done {
                return None;
            }
            let step = self.follower.step().await;
            self.take(step);
        }
    }
}
