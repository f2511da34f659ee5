//! pg_ara: Auto Resource Adjustment helpers for Flotilla-style `task` tables.
//!
//! - [`core`]: pure Rust (hashing, percentile selection, exact decimal rounding), no pgrx.
//! - [`hash`]: the SQL `command_hash()` functions.
//! - [`estimate`]: the `ara_estimate()` aggregate.
//! - [`memory`]: PostgreSQL memory contexts as Rust allocators (the aggregate's state lives there).
//! - [`trigger`]: the trigger that keeps `command_hash` in line with `command`.
//! - [`lookup`]: the kept-plan window query behind `ara_resources()`.
//! - [`simulate`]: the replay aggregates behind `ara_simulate()`.
//! - [`sql`]: the hand-written SQL files (installer, backfill, lookup, investigation), in order.

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

pub mod core;
mod counts;
mod error;
mod estimate;
mod hash;
mod lookup;
mod memory;
mod simulate;
mod sql;
mod text;
mod trigger;
mod v1;

// The test binary (`cargo test`, `cargo pgrx test`: the harness, never the library PostgreSQL
// loads) counts heap allocations per thread, for src/core's allocator tests.
#[cfg(test)]
#[global_allocator]
static UNIT_TEST_ALLOCATOR: crate::core::testalloc::CountingGlobal =
    crate::core::testalloc::CountingGlobal;

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}

// The first object of the extension script: everything else may `requires` it.
extension_sql!(
    r#"
-- pg_ara installs into the schema chosen at CREATE EXTENSION (@extschema@).
"#,
    name = "bootstrap",
    bootstrap
);
