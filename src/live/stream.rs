//! A watch as a stream of frames: its source, ended by the caller's token expiring
//! (`token_expired`), the watch's lifetime (`GATEWAY_WATCH_MAX_LIFETIME`) or the gateway
//! stopping (`shutting_down`), holding its place in the limits while it lives, and counted.
//!
//! The response pulls the frames straight from the source: a watch has no task or queue of its
//! own, so an idle one costs little more than its connection. How far a watch may fall behind is
//! bounded where its changes come from (the hub's ring of `GATEWAY_WATCH_QUEUE` batches; the
//! latest result only, for snapshots and Convex results): a client that reads too slowly finds
//! `too_slow` when it reads next, and the watch ends.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use super::frame::Frame;
use super::limits::Permit;
use super::metrics::{Kind, LiveMetrics};

/// Where a watch's frames come from.
#[async_trait]
pub(super) trait Source: Send {
    /// The next frame; `None` once the watch has ended.
    async fn next(&mut self) -> Option<Frame>;
}

/// A watch's frames, for the route to send.
pub type Frames = Pin<Box<dyn Stream<Item = Frame> + Send>>;

/// What ends a watch from outside its source.
pub(super) struct Bounds {
    /// When the caller's token expires.
    pub(super) token_expires: Option<Instant>,
    /// When the watch's lifetime ends.
    pub(super) lifetime_ends: Option<Instant>,
    /// Turns true when the gateway stops.
    pub(super) stopping: watch::Receiver<bool>,
}

/// Which bound ends the watch first, if any does.
#[derive(Clone, Copy)]
enum Deadline {
    TokenExpires,
    LifetimeEnds,
}

struct Guarded {
    source: Box<dyn Source>,
    /// The earlier of the token's expiry and the watch's lifetime: one timer per watch, set
    /// once, not one per frame.
    deadline: Option<(Pin<Box<Sleep>>, Deadline)>,
    stopping: watch::Receiver<bool>,
    kind: Kind,
    metrics: Arc<LiveMetrics>,
    _permit: Permit,
    done: bool,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.metrics.closed(self.kind);
    }
}

impl Guarded {
    async fn next(&mut self) -> Option<Frame> {
        if self.done {
            return None;
        }
        let deadline = async {
            match &mut self.deadline {
                Some((sleep, which)) => {
                    sleep.as_mut().await;
                    *which
                }
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            biased;
            _ = self.stopping.wait_for(|stopping| *stopping) => {
                self.metrics.dropped("shutdown");
                Some(Frame::error("shutting_down", "the gateway is stopping; reconnect to another replica"))
            }
            which = deadline => Some(match which {
                Deadline::TokenExpires => {
                    self.metrics.dropped("token_expired");
                    Frame::error("token_expired", "the caller's token has expired; open the watch again with a fresh token")
                }
                Deadline::LifetimeEnds => {
                    self.metrics.dropped("lifetime");
                    Frame::error("watch_expired", "the watch reached GATEWAY_WATCH_MAX_LIFETIME; open it again")
                }
            }),
            frame = self.source.next() => frame,
        };
        match &frame {
            Some(frame) => {
                if frame.event == "error" && frame.data.contains("\"too_slow\"") {
                    self.metrics.dropped("too_slow");
                }
                self.done = frame.last;
                self.metrics.sent(self.kind);
            }
            None => self.done = true,
        }
        frame
    }
}

/// The frames of a watch of `kind` from `source`, within `bounds`. The watch ends, and gives
/// its place in the limits back, when its last frame is sent or the client goes away.
pub(super) fn frames(
    source: Box<dyn Source>,
    bounds: Bounds,
    kind: Kind,
    metrics: Arc<LiveMetrics>,
    permit: Permit,
) -> Frames {
    metrics.opened(kind);
    let deadline = match (bounds.token_expires, bounds.lifetime_ends) {
        (Some(expires), Some(ends)) if ends < expires => Some((ends, Deadline::LifetimeEnds)),
        (Some(expires), _) => Some((expires, Deadline::TokenExpires)),
        (None, Some(ends)) => Some((ends, Deadline::LifetimeEnds)),
        (None, None) => None,
    };
    let guarded = Guarded {
        source,
        deadline: deadline.map(|(at, which)| (Box::pin(tokio::time::sleep_until(at)), which)),
        stopping: bounds.stopping,
        kind,
        metrics,
        _permit: permit,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(
        guarded,
        |mut guarded| async move {
            let frame = guarded.next().await?;
            Some((frame, guarded))
        },
    ))
}
