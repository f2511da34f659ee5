//! Pure Rust: no pgrx anywhere below this module, so everything here is unit-tested with plain
//! `cargo test` and no PostgreSQL.

pub mod counts;
pub mod decimal;
pub mod deferred;
pub mod estimate;
pub mod fingerprint;
pub mod hash;
pub mod models;
pub mod percentile;
pub mod replay;
#[cfg(test)]
pub(crate) mod testalloc;
#[cfg(test)]
pub(crate) mod testrng;
