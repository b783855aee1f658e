//! Two-way sync between Postgres tables and Convex tables (`GATEWAY_SYNC`): what is synced and
//! how (`config`), and Convex's streaming export, which the Convex-to-Postgres direction
//! follows (`export`).

pub mod config;
pub mod export;
