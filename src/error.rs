//! Raising a PostgreSQL ERROR with a SQLSTATE, a message and a hint that says how to fix it.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// Raises an ERROR; never returns (PostgreSQL's error handling takes over).
pub(crate) fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: &str) -> ! {
    ErrorReport::new(code, message.into(), "pg_ara")
        .set_hint(hint)
        .report(PgLogLevel::ERROR);
    unreachable!("ereport(ERROR) does not return")
}
