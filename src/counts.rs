//! SQL: the `ara_counts` type, its aggregates and `ara_estimate(ara_counts, ...)`, a thin layer
//! over [`crate::core::counts`] (the SQL declarations are in sql/counts.sql).
//!
//! Plain V1 functions: the type's I/O and the transition need raw varlena handling (the
//! transition counts in place in the executor's copy of the state, as PostgreSQL's own
//! `float8_accum` does, and only allocates when the state must grow).

use crate::core::counts;
use crate::core::decimal::{MulError, Multiplier};
use crate::core::estimate::{DEFAULT_MULTIPLIER, DEFAULT_PERCENTILE};
use crate::error::raise;
use crate::text::{NumericArg, TextBytes};
use crate::v1::{arg, pg_finfo_v1};
use pgrx::prelude::*;
use pgrx::varlena::{set_varsize_4b, varatt_is_4b_u, varsize_4b};

/// A new 4-byte-header varlena holding `payload`, palloc'd in the current memory context.
fn to_datum(payload: &[u8]) -> pg_sys::Datum {
    unsafe {
        let p = pg_sys::palloc(4 + payload.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(payload.as_ptr(), p.add(4), payload.len());
        set_varsize_4b(p.cast(), (4 + payload.len()) as i32);
        pg_sys::Datum::from(p)
    }
}

/// The payload of an `ara_counts` datum (detoasted if it must be), checked: a value from a table,
/// the wire or a user is validated before any function reads it.
///
/// # Safety
/// `d` must be a valid non-null varlena datum living for the call.
unsafe fn checked<'a>(d: pg_sys::Datum) -> &'a [u8] {
    let bytes = unsafe { TextBytes::from_datum(d) }.0;
    if let Err(e) = counts::validate(bytes) {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("pg_ara: {e}"),
            "An ara_counts value is made by ara_counts(), ara_rollup() or its text form '{value:count,...}'.",
        );
    }
    bytes
}

/// The payload of the aggregate's own state, to be changed in place: only when called by an
/// aggregate (the executor owns the state, in the aggregate's memory context) and the value is a
/// plain 4-byte-header varlena (what the input function and the transitions make).
///
/// # Safety
/// `fcinfo` a valid call whose argument 0 is a non-null `ara_counts` datum.
unsafe fn own_state<'a>(fcinfo: pg_sys::FunctionCallInfo) -> Option<&'a mut [u8]> {
    let d = unsafe { arg(fcinfo, 0) }?;
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, std::ptr::null_mut()) } == 0 {
        return None;
    }
    let p = d.cast_mut_ptr::<pg_sys::varlena>();
    if !unsafe { varatt_is_4b_u(p) } {
        return None;
    }
    let len = unsafe { varsize_4b(p) } - 4;
    Some(unsafe { std::slice::from_raw_parts_mut((p as *mut u8).add(4), len) })
}

fn too_big() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        format!(
            "ara_counts value too large (more than {} distinct values)",
            counts::MAX_PAIRS
        ),
        "Group by more columns so that each group holds fewer distinct values.",
    )
}

/// Adds `pairs` to the state of the call, in place while there is room; returns the datum to give
/// back (the same one, or a grown copy in the current context, which the executor copies into the
/// aggregate's memory context). Called directly (not by an aggregate), it never changes its
/// argument: it works on a copy and returns it canonical.
unsafe fn add_pairs(
    fcinfo: pg_sys::FunctionCallInfo,
    pairs: impl Iterator<Item = (i64, u64)>,
) -> pg_sys::Datum {
    let state = unsafe { arg(fcinfo, 0) }.expect("strict");
    let mut in_place = unsafe { own_state(fcinfo) };
    let direct = in_place.is_none();
    let mut copy: Option<Vec<u8>> = direct.then(|| unsafe { checked(state) }.to_vec());
    for (v, c) in pairs {
        let target: &mut [u8] = match (&mut copy, &mut in_place) {
            (Some(g), _) => g.as_mut_slice(),
            (None, Some(s)) => s,
            (None, None) => unreachable!("a copy is made when the state is not ours"),
        };
        if counts::add_count(target, v, c) {
            continue;
        }
        let mut bigger = counts::grown(target).unwrap_or_else(|| too_big());
        assert!(
            counts::add_count(&mut bigger, v, c),
            "a grown state has room"
        );
        copy = Some(bigger);
    }
    match copy {
        None => state,
        Some(g) if direct => to_datum(&counts::canonical(&g)),
        Some(g) => to_datum(&g),
    }
}

/// ara_counts_trans(ara_counts, bigint): counts one value (strict: NULLs are skipped).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_trans(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let v = unsafe { arg(fcinfo, 1) }.expect("strict").value() as i64;
    // The per-row path: room in the state.
    if let Some(s) = unsafe { own_state(fcinfo) } {
        if counts::add(s, v) {
            return unsafe { arg(fcinfo, 0) }.expect("strict");
        }
    }
    unsafe { add_pairs(fcinfo, std::iter::once((v, 1))) }
}
pg_finfo_v1!(pg_finfo_ara_counts_trans);

/// ara_counts_merge(ara_counts, ara_counts): the union (combine step, and ara_rollup's transition).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_merge(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let other = unsafe { checked(arg(fcinfo, 1).expect("strict")) };
    unsafe { add_pairs(fcinfo, counts::pairs(other).into_iter()) }
}
pg_finfo_v1!(pg_finfo_ara_counts_merge);

/// ara_counts_final(ara_counts): the canonical value (no pending pairs, no free room).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_final(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { checked(arg(fcinfo, 0).expect("strict")) };
    to_datum(&counts::canonical(s))
}
pg_finfo_v1!(pg_finfo_ara_counts_final);

/// ara_counts_in(cstring)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_in(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let c = unsafe { std::ffi::CStr::from_ptr(arg(fcinfo, 0).expect("strict").cast_mut_ptr()) };
    let text = String::from_utf8_lossy(c.to_bytes());
    match counts::from_text(&text) {
        Ok(b) => to_datum(&b),
        Err(e) => raise(
            PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
            e,
            "Write an ara_counts value as '{value:count,...}', e.g. '{4096:2,8192:1}'; '{}' is empty.",
        ),
    }
}
pg_finfo_v1!(pg_finfo_ara_counts_in);

/// ara_counts_out(ara_counts)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_out(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let s = unsafe { checked(arg(fcinfo, 0).expect("strict")) };
    let text = std::ffi::CString::new(counts::to_text(s)).expect("digits and punctuation");
    pg_sys::Datum::from(unsafe { pg_sys::pstrdup(text.as_ptr()) })
}
pg_finfo_v1!(pg_finfo_ara_counts_out);

/// ara_counts_recv(internal): the binary form ([`counts::to_binary`]).
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_recv(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let buf = unsafe {
        &mut *arg(fcinfo, 0)
            .expect("strict")
            .cast_mut_ptr::<pg_sys::StringInfoData>()
    };
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (buf.data as *const u8).add(buf.cursor as usize),
            (buf.len - buf.cursor) as usize,
        )
    };
    let b = counts::from_binary(bytes).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
            format!("pg_ara: {e}"),
            "Binary ara_counts values come from ara_counts' send function (COPY ... FORMAT binary, Citus); send the text form '{value:count,...}' otherwise.",
        )
    });
    buf.cursor = buf.len;
    to_datum(&b)
}
pg_finfo_v1!(pg_finfo_ara_counts_recv);

/// ara_counts_send(ara_counts) -> bytea
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_send(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let s = unsafe { checked(arg(fcinfo, 0).expect("strict")) };
    to_datum(&counts::to_binary(s))
}
pg_finfo_v1!(pg_finfo_ara_counts_send);

/// ara_estimate(ara_counts [, percentile [, multiplier]]): the estimate over a multiset, exactly
/// `ara_estimate(value, percentile, multiplier)` over the values it counts. Strict: a NULL
/// percentile or multiplier gives NULL, as the aggregate's.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_estimate(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let nargs = unsafe { (*fcinfo).nargs } as usize;
    let s = unsafe { checked(arg(fcinfo, 0).expect("strict")) };
    let p = if nargs >= 2 {
        f64::from_bits(unsafe { arg(fcinfo, 1) }.expect("strict").value() as u64)
    } else {
        DEFAULT_PERCENTILE
    };
    if !(0.0..=1.0).contains(&p) {
        raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("percentile value {p} is not between 0 and 1"),
            "ara_estimate(counts, percentile, ...) takes a percentile from 0 to 1, e.g. 0.99.",
        );
    }
    let m_text = if nargs >= 3 {
        let d = unsafe { arg(fcinfo, 2) }.expect("strict");
        NumericArg {
            datum: d,
            bytes: unsafe { TextBytes::from_datum(d) }.0,
        }
        .to_text()
    } else {
        DEFAULT_MULTIPLIER.to_string()
    };
    let Some(v) = counts::percentile_disc(s, p) else {
        unsafe { (*fcinfo).isnull = true };
        return pg_sys::Datum::from(0);
    };
    let m = Multiplier::parse(&m_text).unwrap_or_else(|e| error!("pg_ara: {}", e.0));
    match m.mul_round(v) {
        Ok(r) => pg_sys::Datum::from(r),
        Err(MulError::OutOfRange) => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            "bigint out of range",
            "The percentile value times the multiplier does not fit in bigint.",
        ),
        Err(MulError::NaN) => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot convert NaN to bigint",
            "ara_estimate's multiplier must be a finite number.",
        ),
        Err(MulError::Infinite) => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot convert infinity to bigint",
            "ara_estimate's multiplier must be a finite number.",
        ),
    }
}
pg_finfo_v1!(pg_finfo_ara_counts_estimate);

/// ara_count(ara_counts): how many values (rows) it counts.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_counts_total(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { checked(arg(fcinfo, 0).expect("strict")) };
    pg_sys::Datum::from(counts::total(s) as i64)
}
pg_finfo_v1!(pg_finfo_ara_counts_total);

extension_sql_file!(
    "../sql/counts.sql",
    name = "counts",
    requires = ["private_schema"]
);
