//! SQL: `ara_internal.ara_lookup_window()` and `ara_internal.ara_right_size_window()`, the part of
//! `ara_resources()` that runs once per launched run under its policy ('oom', Flotilla's; or
//! 'right_size', 0.5.0): the window query with a plan kept for the session.
//!
//! `ara_resources()` (sql/lookup.sql) used to build its window query with `format()` and run it with
//! PL/pgSQL's `EXECUTE`, which plans it again on every call (a quarter of a millisecond) after
//! checking the table's columns (another tenth). These functions keep, per session, policy, table
//! and role, the query text `ara_internal.ara_lookup_sql(tbl)` (or `ara_right_size_sql(tbl)`) gave
//! (which does those checks and raises their errors) and its SPI plan (`SPI_keepplan`). PostgreSQL
//! replans a kept plan by itself when what it depends on changes; the text, which names the table
//! and its configured columns, is dropped when the table's relcache entry is invalidated (ALTER
//! TABLE, RENAME, CREATE/DROP TRIGGER as `ara_enable`/`ara_set_key` do, GRANT/REVOKE) or any
//! function changes (ALTER EXTENSION pg_ara UPDATE replaces the SQL that writes the text), and made
//! again on the next call. The policy a call uses is chosen in SQL (`ara_resources()`, from the
//! caller or `ara_sizing`), so a sizing choice needs no invalidation here.

use crate::error::raise;
use crate::v1::pg_finfo_v1;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;

/// One table's kept lookup plan, for the role that made it (its checks ran with that role's
/// privileges).
struct Entry {
    kind: Kind,
    relid: pg_sys::Oid,
    userid: pg_sys::Oid,
    plan: pg_sys::SPIPlanPtr,
}

/// The two lookups with kept plans: Flotilla's OOM window (`ara_lookup_window`, policy 'oom') and
/// right-sizing (`ara_right_size_window`, policy 'right_size', 0.5.0). Each has the SQL function
/// that writes its query text for a table, its parameter types and its result columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Oom,
    RightSize,
}

impl Kind {
    /// The function called on the C side, for messages.
    fn name(self) -> &'static str {
        match self {
            Kind::Oom => "ara_lookup_window",
            Kind::RightSize => "ara_right_size_window",
        }
    }

    /// The query asking for the lookup's text ($1: the table).
    fn text_query(self) -> &'static CStr {
        match self {
            Kind::Oom => c"SELECT ara_internal.ara_lookup_sql($1)",
            Kind::RightSize => c"SELECT ara_internal.ara_right_size_sql($1)",
        }
    }

    /// The parameter types of the lookup query, as its SQL function numbers them.
    fn arg_types(self) -> Vec<pg_sys::Oid> {
        let window = [
            pg_sys::TEXTOID,        // $1 definition_id
            pg_sys::TEXTOID,        // $2 command_hash
            pg_sys::TEXTOID,        // $3 engine (NULL: any)
            pg_sys::TIMESTAMPTZOID, // $4 window start (inclusive)
            pg_sys::TIMESTAMPTZOID, // $5 window end (exclusive)
            pg_sys::INT4OID,        // $6 max_runs (OOM runs)
        ];
        let rest: &[pg_sys::Oid] = match self {
            // $7 percentile, $8 memory multiplier, $9 cpu multiplier
            Kind::Oom => &[pg_sys::FLOAT8OID, pg_sys::NUMERICOID, pg_sys::NUMERICOID],
            // $7 peak percentile, $8 headroom, $9 and $10 the OOM floor's memory and cpu multipliers
            Kind::RightSize => &[
                pg_sys::FLOAT8OID,
                pg_sys::NUMERICOID,
                pg_sys::NUMERICOID,
                pg_sys::NUMERICOID,
            ],
        };
        window.iter().chain(rest).copied().collect()
    }

    /// The result columns (int4 or int8, all passed by value), and which of them are counts (0
    /// rather than NULL when a NULL definition or hash skips the query).
    fn columns(self) -> (usize, &'static [usize]) {
        match self {
            // oom_runs, raw_memory, raw_cpu
            Kind::Oom => (3, &[0]),
            // oom_runs, oom_floor_memory, oom_floor_cpu, peak_runs, peak_memory, peak_cpu,
            // raw_memory, raw_cpu
            Kind::RightSize => (8, &[0, 3]),
        }
    }
}

/// At most this many kept plans per session; the oldest goes first.
const MAX_ENTRIES: usize = 32;

thread_local! {
    static PLANS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// Relations invalidated since the last call (InvalidOid: all). The relcache callback only
    /// records them: it may run in the middle of a lookup, whose plan must not be freed under it.
    static STALE: RefCell<Vec<pg_sys::Oid>> = const { RefCell::new(Vec::new()) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

/// Remembers that the kept plans of `relid` (InvalidOid: all) are to be dropped at the next call.
fn mark_stale(relid: pg_sys::Oid) {
    STALE.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            s.push(relid);
        } else {
            // Never expected (nothing holds this borrow across a call into PostgreSQL); dropping
            // every plan at the next call is always correct.
            PLANS.with(|p| {
                if let Ok(mut p) = p.try_borrow_mut() {
                    p.iter_mut().for_each(|e| e.relid = pg_sys::InvalidOid);
                }
            });
        }
    });
}

/// The relcache invalidation callback: the table changed (or, with InvalidOid, any may have).
#[pg_guard]
unsafe extern "C-unwind" fn relcache_invalidated(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    mark_stale(relid);
}

/// The pg_proc syscache callback: a function changed, maybe ara_lookup_sql() (which wrote the
/// kept query texts) by ALTER EXTENSION pg_ara UPDATE: every kept plan goes.
#[pg_guard]
unsafe extern "C-unwind" fn functions_changed(_arg: pg_sys::Datum, _cacheid: i32, _hash: u32) {
    mark_stale(pg_sys::InvalidOid);
}

/// Frees the kept plans of the relations invalidated since the last call.
fn drop_stale() {
    let stale: Vec<pg_sys::Oid> = STALE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if stale.is_empty() {
        return;
    }
    let all = stale.contains(&pg_sys::InvalidOid);
    let gone: Vec<Entry> = PLANS.with(|p| {
        let mut p = p.borrow_mut();
        let (gone, keep) = std::mem::take(&mut *p)
            .into_iter()
            .partition(|e| all || e.relid == pg_sys::InvalidOid || stale.contains(&e.relid));
        *p = keep;
        gone
    });
    for e in gone {
        unsafe { pg_sys::SPI_freeplan(e.plan) };
    }
}

/// Asks the kind's SQL function for the query text (checking the table, raising its errors),
/// prepares it and keeps the plan. Runs inside an SPI connection.
unsafe fn prepare(kind: Kind, tbl: pg_sys::Datum) -> pg_sys::SPIPlanPtr {
    let sql = kind.text_query();
    let mut argtypes = [pg_sys::REGCLASSOID];
    let mut values = [tbl];
    let rc = unsafe {
        pg_sys::SPI_execute_with_args(
            sql.as_ptr(),
            1,
            argtypes.as_mut_ptr(),
            values.as_mut_ptr(),
            std::ptr::null(),
            true,
            1,
        )
    };
    let text = unsafe {
        let tt = pg_sys::SPI_tuptable;
        if rc != pg_sys::SPI_OK_SELECT as i32 || tt.is_null() || (*tt).numvals != 1 {
            None
        } else {
            let v = pg_sys::SPI_getvalue(*(*tt).vals, (*tt).tupdesc, 1);
            (!v.is_null()).then(|| CStr::from_ptr(v).to_owned())
        }
    };
    let Some(text) = text else {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            &format!(
                "ara_resources: {} found no query for the table",
                kind.name()
            ),
            "This is a bug in pg_ara; please report it.",
        );
    };
    let mut types = kind.arg_types();
    let plan = unsafe { pg_sys::SPI_prepare(text.as_ptr(), types.len() as _, types.as_mut_ptr()) };
    if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "ara_resources: could not prepare the lookup query",
            "This is a bug in pg_ara; please report it.",
        );
    }
    plan
}

/// The kept plan for (kind, tbl, current role), made on first use. Runs inside an SPI connection.
unsafe fn plan_for(kind: Kind, tbl: pg_sys::Oid, tbl_datum: pg_sys::Datum) -> pg_sys::SPIPlanPtr {
    let userid = unsafe { pg_sys::GetUserId() };
    let hit = PLANS.with(|p| {
        p.borrow()
            .iter()
            .find(|e| e.kind == kind && e.relid == tbl && e.userid == userid)
            .map(|e| e.plan)
    });
    if let Some(plan) = hit {
        return plan;
    }
    // No borrow is held while PostgreSQL runs: its invalidations may call back into this module.
    let plan = unsafe { prepare(kind, tbl_datum) };
    let evicted = PLANS.with(|p| {
        let mut p = p.borrow_mut();
        let evicted = (p.len() >= MAX_ENTRIES).then(|| p.remove(0));
        p.push(Entry {
            kind,
            relid: tbl,
            userid,
            plan,
        });
        evicted
    });
    if let Some(e) = evicted {
        unsafe { pg_sys::SPI_freeplan(e.plan) };
    }
    plan
}

/// ara_internal.ara_lookup_window(tbl, definition_id, command_hash, engine, window_from,
/// window_until, max_runs, percentile, memory_multiplier, cpu_multiplier)
/// -> (oom_runs, raw_memory, raw_cpu)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_lookup_window(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe { lookup_window(fcinfo, Kind::Oom) }
}

pg_finfo_v1!(pg_finfo_ara_lookup_window);

/// ara_internal.ara_right_size_window(tbl, definition_id, command_hash, engine, window_from,
/// window_until, max_runs, peak_percentile, headroom, memory_multiplier, cpu_multiplier)
/// -> (oom_runs, oom_floor_memory, oom_floor_cpu, peak_runs, peak_memory, peak_cpu, raw_memory,
/// raw_cpu)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_right_size_window(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe { lookup_window(fcinfo, Kind::RightSize) }
}

pg_finfo_v1!(pg_finfo_ara_right_size_window);

unsafe fn lookup_window(fcinfo: pg_sys::FunctionCallInfo, kind: Kind) -> pg_sys::Datum {
    if !CALLBACK_REGISTERED.get() {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(
                Some(relcache_invalidated),
                pg_sys::Datum::from(0),
            );
            pg_sys::CacheRegisterSyscacheCallback(
                pg_sys::SysCacheIdentifier::PROCOID as _,
                Some(functions_changed),
                pg_sys::Datum::from(0),
            );
        }
        CALLBACK_REGISTERED.set(true);
    }
    drop_stale();
    let nargs = unsafe { (*fcinfo).nargs } as usize;
    if nargs != kind.arg_types().len() + 1 {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            &format!("{}: wrong number of arguments", kind.name()),
            "Call ara_resources(); this function is its internal part.",
        );
    }
    let args = unsafe { std::slice::from_raw_parts((*fcinfo).args.as_ptr(), nargs) };
    if args[0].isnull {
        raise(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "ara_resources: the table must not be NULL",
            "Pass the task table, e.g. tbl => 'task'.",
        );
    }
    let tbl = pg_sys::Oid::from(args[0].value.value() as u32);

    let mut result_desc: pg_sys::TupleDesc = std::ptr::null_mut();
    if unsafe { pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut result_desc) }
        != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE
    {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            &format!(
                "{}: must be called as a function returning a record",
                kind.name()
            ),
            "Call ara_resources(); this function is its internal part.",
        );
    }
    let result_desc = unsafe { pg_sys::BlessTupleDesc(result_desc) };

    if unsafe { pg_sys::SPI_connect() } != pg_sys::SPI_OK_CONNECT as i32 {
        raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "ara_resources: SPI_connect failed",
            "This is a bug in pg_ara; please report it.",
        );
    }
    let plan = unsafe { plan_for(kind, tbl, args[0].value) };
    let (ncols, counts) = kind.columns();
    let mut out_values = vec![pg_sys::Datum::from(0i32); ncols];
    let mut out_nulls: Vec<bool> = (0..ncols).map(|i| !counts.contains(&i)).collect();
    // A NULL definition or hash has no history (Flotilla skips ARA): the table was checked above.
    if !args[1].isnull && !args[2].isnull {
        let mut values: Vec<pg_sys::Datum> = args[1..].iter().map(|a| a.value).collect();
        let nulls: Vec<std::os::raw::c_char> = args[1..]
            .iter()
            .map(|a| if a.isnull { b'n' } else { b' ' } as std::os::raw::c_char)
            .collect();
        let rc =
            unsafe { pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), true, 1) };
        unsafe {
            let tt = pg_sys::SPI_tuptable;
            if rc != pg_sys::SPI_OK_SELECT as i32 || tt.is_null() || (*tt).numvals != 1 {
                raise(
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    "ara_resources: the lookup query gave no row",
                    "This is a bug in pg_ara; please report it.",
                );
            }
            // int4 and int8: passed by value, still valid after SPI_finish.
            for (i, (v, n)) in out_values.iter_mut().zip(out_nulls.iter_mut()).enumerate() {
                *v = pg_sys::SPI_getbinval(*(*tt).vals, (*tt).tupdesc, i as i32 + 1, n);
            }
        }
    }
    unsafe { pg_sys::SPI_finish() };
    unsafe {
        let tuple =
            pg_sys::heap_form_tuple(result_desc, out_values.as_mut_ptr(), out_nulls.as_mut_ptr());
        pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
    }
}

extension_sql!(
    r#"
CREATE FUNCTION ara_internal.ara_lookup_window(tbl regclass, definition_id text, command_hash text, engine text,
    window_from timestamptz, window_until timestamptz, max_runs integer, percentile double precision,
    memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
STABLE PARALLEL RESTRICTED LANGUAGE c AS 'MODULE_PATHNAME', 'ara_lookup_window';
COMMENT ON FUNCTION ara_internal.ara_lookup_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric) IS
'pg_ara internal: the window query of ara_resources() (ara_internal.ara_lookup_sql()) run with a plan kept per session, table and role, dropped when the table changes; oom_runs, raw_memory, raw_cpu. Not for direct use.';
"#,
    name = "ara_lookup_window",
    requires = ["private_schema"]
);

extension_sql!(
    r#"
CREATE FUNCTION ara_internal.ara_right_size_window(tbl regclass, definition_id text, command_hash text, engine text,
    window_from timestamptz, window_until timestamptz, max_runs integer, peak_percentile double precision,
    headroom numeric, memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT oom_floor_memory bigint, OUT oom_floor_cpu bigint, OUT peak_runs integer,
    OUT peak_memory bigint, OUT peak_cpu bigint, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
STABLE PARALLEL RESTRICTED LANGUAGE c AS 'MODULE_PATHNAME', 'ara_right_size_window';
COMMENT ON FUNCTION ara_internal.ara_right_size_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric, numeric) IS
'pg_ara internal: the right_size query of ara_resources() (ara_internal.ara_right_size_sql()) run with a plan kept per session, table and role, dropped when the table changes: the OOM floor (oom_runs, largest request x multiplier), the peaks (peak_runs, percentile), raw memory and cpu. Not for direct use.';
"#,
    name = "ara_right_size_window",
    requires = ["private_schema"]
);
