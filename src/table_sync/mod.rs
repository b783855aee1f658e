//! Two-way sync between Postgres tables and Convex tables (`GATEWAY_SYNC`): what is synced and
//! how (`config`), Convex's streaming export, which the Convex-to-Postgres direction follows
//! (`export`), and the one mapping of values between the two (`types`).

pub mod config;
pub mod export;
pub mod runner;
pub mod to_postgres;
pub mod types;
