//! What a domain call knows about the request it serves: the caller, the context store calls
//! carry (the caller's upstream identity, the request id, the idempotency key, the deadline),
//! and the interactive transaction it runs in. The routes build it from the request (its
//! extractor lives in `routes`); domain modules only read it.

use crate::auth::MaybeAuthUser;
use crate::store::StoreCtx;
use crate::transactions::TxScope;

/// One request's caller and context.
#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub caller: MaybeAuthUser,
    pub store: StoreCtx,
    /// The interactive transaction the request runs in (`X-Transaction-Id`), if any.
    pub tx: Option<TxScope>,
}

impl RequestCtx {
    /// How the outbox and the stale-read cache name this caller.
    pub fn caller_key(&self) -> String {
        self.caller
            .0
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |u| format!("user:{}", u.sub))
    }
}
