//! A watch as a stream of frames: its source, ended by the caller's token expiring
//! (`token_expired`), the watch's lifetime (`GATEWAY_WATCH_MAX_LIFETIME`), the gateway
//! stopping (`shutting_down`) or a client too slow to keep up (`too_slow`), holding its place
//! in the limits while it lives, and counted.

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::frame::Frame;
use super::limits::Permit;
use super::metrics::LiveMetrics;

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

struct Guarded {
    source: Box<dyn Source>,
    bounds: Bounds,
    kind: &'static str,
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
        let far = Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
        let expires = self.bounds.token_expires.unwrap_or(far);
        let lifetime = self.bounds.lifetime_ends.unwrap_or(far);
        let frame = tokio::select! {
            biased;
            _ = self.bounds.stopping.wait_for(|stopping| *stopping) => {
                self.metrics.dropped("shutdown");
                Some(Frame::error("shutting_down", "the gateway is stopping; reconnect to another replica"))
            }
            () = tokio::time::sleep_until(expires) => {
                self.metrics.dropped("token_expired");
                Some(Frame::error("token_expired", "the caller's token has expired; open the watch again with a fresh token"))
            }
            () = tokio::time::sleep_until(lifetime) => {
                self.metrics.dropped("lifetime");
                Some(Frame::error("watch_expired", "the watch reached GATEWAY_WATCH_MAX_LIFETIME; open it again"))
            }
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

/// The frames of a watch of `kind` from `source`, within `bounds`.
///
/// A task per watch pulls the frames and hands them to the response through a queue of
/// `queue` frames. When the client reads too slowly to keep that queue from filling, the last
/// place goes to `event: error` (`too_slow`) and the watch ends: nothing is buffered beyond the
/// queue, and the watch's place in the limits is given back at once, even while the client
/// still has not read what was queued. A client that goes away stops the task too.
pub(super) fn frames(
    source: Box<dyn Source>,
    bounds: Bounds,
    kind: &'static str,
    metrics: Arc<LiveMetrics>,
    permit: Permit,
    queue: usize,
) -> Frames {
    metrics.opened(kind);
    let mut guarded = Guarded {
        source,
        bounds,
        kind,
        metrics,
        _permit: permit,
        done: false,
    };
    let (sender, receiver) = mpsc::channel::<Frame>(queue.max(2));
    tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                () = sender.closed() => return,
                frame = guarded.next() => frame,
            };
            let Some(frame) = frame else { return };
            if sender.capacity() <= 1 && !frame.last {
                // One place left: it is for the error that ends the watch.
                guarded.metrics.dropped("too_slow");
                let _ = sender.try_send(Frame::error(
                    "too_slow",
                    "this watch fell too far behind its changes; reconnect with Last-Event-ID to resume",
                ));
                return;
            }
            let last = frame.last;
            if sender.try_send(frame).is_err() || last {
                return;
            }
        }
    });
    Box::pin(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move {
            let frame = receiver.recv().await?;
            Some((frame, receiver))
        },
    ))
}
