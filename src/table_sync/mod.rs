//! Two-way sync between Postgres tables and Convex tables (`GATEWAY_SYNC`): what is synced and
//! how (`config`), the sync's tables in Postgres (`schema`), Convex's streaming export, which the
//! Convex-to-Postgres direction follows (`export`), the mutation the other direction writes with
//! (`sync_apply`), the one mapping of values between the two (`types`), each direction
//! (`to_postgres`, `to_convex`), echoes and conflicts (`echo`, `conflicts`), and the task that
//! runs them (`runner`).

pub mod admin;
pub mod check;
pub mod config;
pub mod conflicts;
pub mod echo;
pub mod export;
pub mod metrics;
pub mod runner;
pub mod schema;
pub mod sync_apply;
pub mod to_convex;
pub mod to_postgres;
pub mod types;
