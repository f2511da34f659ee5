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

// The name and version PostgreSQL 18 reports in pg_get_loaded_modules(). Both given as values:
// pgrx 0.18.1's bare `version` key writes the crate version into the *name* field (issue 29).
::pgrx::pg_module_magic!(name = MODULE_NAME, version = MODULE_VERSION);

/// `pg_ara`, as a C string (the module's name in its magic block).
const MODULE_NAME: &std::ffi::CStr = c_str(concat!(env!("CARGO_PKG_NAME"), "\0"));
/// The release, e.g. `0.6.1`: the same as the extension's default_version.
const MODULE_VERSION: &std::ffi::CStr = c_str(concat!(env!("CARGO_PKG_VERSION"), "\0"));

const fn c_str(s: &'static str) -> &'static std::ffi::CStr {
    match std::ffi::CStr::from_bytes_with_nul(s.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("a package name or version with a NUL byte"),
    }
}

mod censored;
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
