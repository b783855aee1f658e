//! Request ids: a random (version 4) UUID for every request that brings no `X-Request-Id`.
//!
//! tower-http's `MakeRequestUuid` asks `uuid` for each id, and `uuid` asks the kernel
//! (`getrandom`, one system call per request, the only one a request made beyond its socket
//! reads and writes). Here the 16 bytes come from `rand`'s thread-local generator, a
//! cryptographically secure one the kernel seeds and that reseeds itself.

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes the ids.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        let request = Request::new(());
        let mut make = RandomRequestId;
        let ids: Vec<uuid::Uuid> = (0..1000)
            .map(|_| {
                let id = make.make_request_id(&request).expect("an id");
                id.header_value()
                    .to_str()
                    .expect("ASCII")
                    .parse()
                    .expect("a UUID")
            })
            .collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        assert!(
            ids.iter()
                .all(|id| id.get_variant() == uuid::Variant::RFC4122)
        );
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
