//! The sources of watches on Convex, over an upstream cohort's results: a function's values, a
//! table page's snapshots, the changes between one page and the next, and one document.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::frame::Frame;
use super::stream::Source;
use super::upstream::{Cohort, Shot};
use crate::store::{Document, Filter};

/// What a Convex watch makes of each result.
pub(super) enum Render {
    /// `event: value` with `{"value": …}`; a failure is `event: failed` and the watch goes on.
    Value,
    /// `event: snapshot` with the page.
    Snapshot,
    /// `event: change` per document that came, changed or left between two pages.
    Changes {
        /// The page last seen: id → (version, document).
        seen: Option<HashMap<String, (u64, Document)>>,
        /// Whether the client asked to resume: Convex keeps no positions, so it gets a reset.
        resumed: bool,
    },
    /// `event: document`, then `event: deleted` (when it is gone, or no longer passes `filters`).
    Document { id: String, filters: Vec<Filter> },
}

/// A watch over an upstream cohort.
pub(super) struct RemoteSource {
    _cohort: Arc<Cohort>,
    shots: watch::Receiver<Option<Arc<Shot>>>,
    render: Render,
    pending: VecDeque<Frame>,
    /// Event ids: Convex has no feed positions, so they count this stream's events.
    sequence: u64,
    started: bool,
    done: bool,
}

impl RemoteSource {
    pub(super) fn new(cohort: Arc<Cohort>, render: Render) -> Self {
        let shots = cohort.subscribe();
        Self {
            _cohort: cohort,
            shots,
            render,
            pending: VecDeque::new(),
            sequence: 0,
            started: false,
            done: false,
        }
    }

    fn next_id(&mut self) -> Option<u64> {
        self.sequence += 1;
        Some(self.sequence)
    }

    fn take(&mut self, shot: &Shot) {
        let (text, failure) = match shot {
            Shot::Ready(text) => (text.as_str(), None),
            Shot::Failed { code, detail, data } => {
                ("", Some((code.as_str(), detail.as_str(), data)))
            }
        };
        if let Some((code, detail, data)) = failure {
            match self.render {
                Render::Value => {
                    let id = self.next_id();
                    self.pending.push_back(Frame::new(
                        "failed",
                        id,
                        json!({ "code": code, "detail": detail, "errorData": data }).to_string(),
                    ));
                }
                _ => self.pending.push_back(Frame::error(code, detail)),
            }
            return;
        }
        match &mut self.render {
            Render::Value => {
                let id = self.next_id();
                self.pending
                    .push_back(Frame::new("value", id, text.to_owned()));
            }
            Render::Snapshot => {
                self.pending
                    .push_back(Frame::new("snapshot", None, text.to_owned()))
            }
            Render::Changes { seen, resumed } => {
                let page: Vec<Document> = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|body| serde_json::from_value(body.get("items")?.clone()).ok())
                    .unwrap_or_default();
                let now: HashMap<String, (u64, Document)> = page
                    .into_iter()
                    .map(|doc| (doc.id.clone(), (doc.version, doc)))
                    .collect();
                let frames = match seen.take() {
                    None if *resumed => {
                        // No positions to resume from on Convex: start afresh, as a reset.
                        vec![
                            Frame::new(
                                "reset",
                                None,
                                json!({ "reason": "Convex watches cannot resume from an event id; a snapshot follows" }).to_string(),
                            ),
                            Frame::new("snapshot", None, text.to_owned()),
                        ]
                    }
                    None => vec![Frame::new(
                        "ready",
                        None,
                        json!({ "position": null }).to_string(),
                    )],
                    Some(before) => diff(&before, &now),
                };
                *seen = Some(now);
                for mut frame in frames {
                    if frame.event == "change" {
                        self.sequence += 1;
                        frame.id = Some(self.sequence);
                    }
                    self.pending.push_back(frame);
                }
            }
            Render::Document { id, filters } => {
                let doc = serde_json::from_str::<Option<Document>>(text)
                    .ok()
                    .flatten();
                let visible = doc
                    .as_ref()
                    .filter(|doc| filters.iter().all(|f| f.matches(doc)));
                let frame = match visible {
                    Some(doc) => Frame::document(0, doc),
                    None => Frame::deleted(0, id, doc.as_ref().map_or(0, |d| d.version)),
                };
                let mut frame = frame;
                frame.id = None;
                self.pending.push_back(frame);
            }
        }
    }
}

/// The changes between two pages: documents that came into the page, changed in it, or left it.
fn diff(
    before: &HashMap<String, (u64, Document)>,
    now: &HashMap<String, (u64, Document)>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut entered: Vec<&Document> = Vec::new();
    let mut updated: Vec<&Document> = Vec::new();
    for (id, (version, doc)) in now {
        match before.get(id) {
            None => entered.push(doc),
            Some((old, _)) if old != version => updated.push(doc),
            Some(_) => {}
        }
    }
    // In creation order, as they happened as far as a page can tell.
    let by_time = |a: &&Document, b: &&Document| {
        a.creation_time
            .partial_cmp(&b.creation_time)
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    entered.sort_by(by_time);
    updated.sort_by(by_time);
    let change = |op: &str, id: &str, version: u64, document: Option<&Document>| {
        Frame::new(
            "change",
            None,
            json!({ "op": op, "id": id, "version": version, "document": document }).to_string(),
        )
    };
    for doc in updated {
        frames.push(change("update", &doc.id, doc.version, Some(doc)));
    }
    for doc in entered {
        frames.push(change("insert", &doc.id, doc.version, Some(doc)));
    }
    let mut left: Vec<(&String, &u64)> = before
        .iter()
        .filter(|(id, _)| !now.contains_key(*id))
        .map(|(id, (version, _))| (id, version))
        .collect();
    left.sort();
    for (id, version) in left {
        frames.push(change("leave", id, *version, None));
    }
    frames
}

#[async_trait]
impl Source for RemoteSource {
    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                self.done |= frame.last;
                return Some(frame);
            }
            if self.done {
                return None;
            }
            if self.started && self.shots.changed().await.is_err() {
                self.done = true;
                return Some(Frame::error(
                    "upstream_unavailable",
                    "the subscription to Convex has ended",
                ));
            }
            self.started = true;
            let shot = match self.shots.wait_for(Option::is_some).await {
                Ok(shot) => shot.clone(),
                Err(_) => None,
            };
            self.shots.borrow_and_update();
            match shot {
                Some(shot) => self.take(&shot),
                None => {
                    self.done = true;
                    return Some(Frame::error(
                        "upstream_unavailable",
                        "the subscription to Convex has ended",
                    ));
                }
            }
        }
    }
}
