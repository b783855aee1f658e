//! `Prefer: tx=rollback` at the edge: on the routes that honour it (table writes, batches,
//! transaction commits and reverts, outside an interactive transaction) the request is marked
//! [`DryRun`], so the idempotency layer below consumes no key and the handler runs the write
//! without committing it. With `handling=strict`, a preference the route cannot honour, or
//! one the gateway does not know, answers `400 preference_not_honoured` before any work.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;

use crate::error::{ApiError, ErrorCode};
use crate::prefer::{PREFERENCE_APPLIED, Prefer};
use crate::transactions::TxScope;

/// Marks a request whose write is to be run and rolled back.
#[derive(Debug, Clone, Copy)]
pub struct DryRun;

/// Whether `method` on the route template `path` can run its write as a dry run.
fn honours_rollback(method: &Method, path: &str) -> bool {
    match (method, path) {
        (
            &Method::POST,
            "/v1/tables/{table}" | "/v1/transactions" | "/v1/transactions/{id}/commit",
        )
        | (&Method::POST, "/v1/tables/{table}/{id}/revert") => true,
        (&Method::PATCH | &Method::PUT | &Method::DELETE, "/v1/tables/{table}/{id}") => true,
        // A read writes nothing: there is nothing to roll back, and nothing to refuse.
        (&Method::GET | &Method::HEAD, _) => true,
        _ => false,
    }
}

/// Reads `Prefer`: `Ok(true)` marks a dry run; `Err` is the strict refusal.
pub(super) fn read(request: &mut Request) -> Result<bool, ApiError> {
    if !request.headers().contains_key("prefer") {
        return Ok(false);
    }
    let prefer = Prefer::parse(request.headers());
    let staged = request.extensions().get::<TxScope>().is_some();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = request.method().clone();
    let honoured = prefer.rollback && !staged && honours_rollback(&method, &path);
    if prefer.strict {
        if let Some(unknown) = prefer.unknown.first() {
            return Err(refuse(format!(
                "the preference `{unknown}` is not one this gateway honours (tx=rollback|commit, handling=strict|lenient)"
            )));
        }
        if prefer.rollback && !honoured {
            return Err(refuse(if staged {
                "tx=rollback cannot apply to a write staged in an interactive transaction; ask it of the commit".to_owned()
            } else {
                format!("{method} {path} cannot run as a dry run (tx=rollback)")
            }));
        }
    }
    let dry_run = honoured && method != Method::GET && method != Method::HEAD;
    if dry_run {
        request.extensions_mut().insert(DryRun);
    }
    Ok(dry_run)
}

/// Marks a dry run's successful answer (`Preference-Applied`) and drops its `Location`: nothing
/// was created there.
pub(super) fn finish(response: &mut Response, dry_run: bool) {
    if dry_run && response.status().is_success() {
        // The write ran and was rolled back: say so, and point at nothing that was not kept.
        let headers = response.headers_mut();
        headers.insert(PREFERENCE_APPLIED, HeaderValue::from_static("tx=rollback"));
        headers.remove(header::LOCATION);
    }
}

fn refuse(detail: String) -> ApiError {
    ApiError::new(ErrorCode::PreferenceNotHonoured, detail)
}
