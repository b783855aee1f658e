//! Integration tests: one binary (faster to link), every test spawning the real app on port 0
//! with its own temporary data folder and calling it over HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod helpers;
mod pg;
#[macro_use]
mod store_suite;

mod auth;
mod binary;
mod changes;
mod cluster;
mod convex;
mod deployment;
mod dry_run;
mod errors;
mod faults;
mod functions;
mod history;
mod idempotency;
mod layers;
mod live;
mod live_convex;
mod middleware;
mod openapi;
mod ops;
mod postgres;
mod replicas;
mod resilience;
mod shared_limits;
mod shared_state;
mod sync_durability;
mod sync_relay;
mod sync_two_way;
mod table_sync;
mod transactions;
mod webhooks;

/// The shared store behaviour suite, run against the embedded SQLite store.
mod local_store {
    store_suite!(crate::helpers::spawn_app);
}

/// The same suite against the Convex adapter, fronting the Convex test backend, in both of
/// Convex's error-status modes (560 as convex-js expects, 200 as the real backend sends).
mod convex_store {
    store_suite!(crate::helpers::spawn_convex_app);
}

/// The same suite on the Postgres adapter, over tables of fixed (jsonb) columns, each request
/// under the Supabase roles.
mod postgres_store {
    store_suite!(crate::pg::spawn_pg_suite_app);
}

mod convex_store_status_200 {
    store_suite!(crate::helpers::spawn_convex_app_200);
}
