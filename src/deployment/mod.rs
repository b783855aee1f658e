//! Convex deployment settings through the deployment's admin API, with the deploy key the
//! gateway already holds: its environment variables (`env`), and `convex trust`, which makes
//! Convex accept the gateway's minted identity and proves it (`trust`).

pub mod env;
pub mod trust;
