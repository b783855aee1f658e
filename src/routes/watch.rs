//! Watches as Server-Sent Events: whether a request asks for a stream (`Accept:
//! text/event-stream`), its `mode` and `Last-Event-ID`, and the stream itself. The table and
//! document routes call these; what a watch sends is the `live` service's.

use std::convert::Infallible;

use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::live::{Frames, Mode};

/// The media type of an event stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// Whether the client asked for an event stream.
pub fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            // `q=0` means "not acceptable".
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            media.eq_ignore_ascii_case(EVENT_STREAM) && !refused
        })
}

/// The table watch's mode from the query string (`mode=snapshot`, the default, or
/// `mode=changes`).
pub fn mode(raw_query: Option<&str>) -> Mode {
    raw_query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| match pair {
            "mode=changes" => Some(Mode::Changes),
            "mode=snapshot" => Some(Mode::Snapshot),
            _ => None,
        })
        .unwrap_or(Mode::Snapshot)
}

/// The position to resume from: `Last-Event-ID`, a change-feed position.
pub fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidHeader,
            "Last-Event-ID must be the id of an event this gateway sent (a change-feed position)",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty() {
        // EventSource sends an empty id when no event had one: start afresh.
        return Ok(None);
    }
    text.parse::<u64>().map(Some).map_err(|_| bad())
}

/// The watch as an event stream, with a comment line every `heartbeat` while it is idle.
pub fn stream(frames: Frames, heartbeat: std::time::Duration) -> Response {
    let events = frames.map(|frame| {
        let mut event = Event::default().event(frame.event).data(frame.data);
        if let Some(id) = frame.id {
            event = event.id(id.to_string());
        }
        Ok::<_, Infallible>(event)
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(heartbeat).text("heartbeat"))
        .into_response();
    // Proxies that buffer (nginx) would hold events back.
    response.headers_mut().insert(
        header::HeaderName::from_static("x-accel-buffering"),
        header::HeaderValue::from_static("no"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_an_acceptable_event_stream_makes_a_watch() {
        assert!(wants_stream(&accept("text/event-stream")));
        assert!(wants_stream(&accept(
            "application/json, Text/Event-Stream;q=0.5"
        )));
        assert!(!wants_stream(&accept("text/event-stream;q=0")));
        assert!(!wants_stream(&accept("application/json")));
        assert!(!wants_stream(&HeaderMap::new()));
    }

    #[test]
    fn last_event_id_is_a_position_or_nothing() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers).unwrap(), None);
        headers.insert("last-event-id", "42".parse().unwrap());
        assert_eq!(last_event_id(&headers).unwrap(), Some(42));
        headers.insert("last-event-id", "".parse().unwrap());
        assert_eq!(last_event_id(&headers).unwrap(), None);
        headers.insert("last-event-id", "x1".parse().unwrap());
        assert_eq!(
            last_event_id(&headers).unwrap_err().code(),
            ErrorCode::InvalidHeader
        );
    }

    #[test]
    fn the_mode_defaults_to_snapshot() {
        assert_eq!(mode(None), Mode::Snapshot);
        assert_eq!(mode(Some("a=eq.1&mode=changes")), Mode::Changes);
        assert_eq!(mode(Some("mode=eq.changes")), Mode::Snapshot);
    }
}
