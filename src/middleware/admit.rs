//! Admission: the one layer that runs, in order, the checks a request passes once its caller
//! matters: authentication, the rate limit, the transaction scope, `Prefer`, and
//! `Idempotency-Key`. Each step is its own module; this layer only sequences them, so a request
//! pays for one middleware (one boxed future, one clone of the stack below) instead of five.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{authenticate, idempotency, prefer, ratelimit, transaction};
use crate::state::AppState;

/// The middleware function.
pub(super) async fn admit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Verify the bearer token, if any, and record the caller for the handlers: a bad token is
    // answered 401 here and never treated as anonymous.
    if let Err(refused) = authenticate::authenticate(&state, &mut request).await {
        return refused;
    }
    // Count the request against its caller's role limit, once the caller is known and before
    // any work is done for it.
    let subject = ratelimit::subject(&state, &request);
    let limit = match ratelimit::check(&state, subject).await {
        Ok(limit) => limit,
        Err(refused) => return refused,
    };
    // Resolve `X-Transaction-Id` on table routes, so handlers stage their writes in the
    // caller's transaction; then read `Prefer` (a staged write cannot be a dry run), refusing
    // what strict handling cannot honour and marking dry runs, which consume no idempotency key.
    let admitted = match transaction::scope(&state, &mut request).await {
        Ok(()) => prefer::read(&mut request).map_err(IntoResponse::into_response),
        Err(refused) => Err(refused),
    };
    let mut response = match admitted {
        // Replay or refuse repeated writes (`Idempotency-Key`), per caller; it reads the body
        // itself, within GATEWAY_MAX_BODY_BYTES, and runs the handler.
        Ok(dry_run) => {
            let mut response = idempotency::idempotency(State(state), request, next).await;
            prefer::finish(&mut response, dry_run);
            response
        }
        Err(refused) => refused,
    };
    // The `RateLimit-*` headers go on every answer to an admitted request, refusals included.
    ratelimit::finish(&mut response, limit);
    response
}
