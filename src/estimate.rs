//! SQL: the `ara_estimate()` aggregate, a thin layer over [`crate::core::estimate`].
//!
//! The state is `internal`: a Rust [`EstimateState`] palloc'd in the aggregate's memory context,
//! every buffer it grows palloc'd there too ([`ContextAlloc`]), so PostgreSQL counts it (hash
//! aggregation spills by it, EXPLAIN shows it) and frees it with that context: at the end of the
//! group, the query, or an error or cancel. Parallel plans serialise it to bytea.

use crate::core::decimal::{MulError, Multiplier};
use crate::core::estimate::{
    EstimateError, EstimateState, Param, DEFAULT_MULTIPLIER, DEFAULT_PERCENTILE,
};
use crate::error::raise;
use crate::memory::{child_contexts, place_in_context, ContextAlloc};
use crate::text::{inline_varlena, NumericArg, TextBytes};
use crate::v1::{arg, pg_finfo_v1};
use allocator_api2::vec::Vec as AVec;
use pgrx::prelude::*;
use pgrx::Internal;

/// The per-group state as the executor holds it.
pub struct AggState {
    core: EstimateState<ContextAlloc>,
    /// Bytes of the last multiplier datum seen: the per-row fast path for a constant multiplier.
    multiplier_bytes: AVec<u8, ContextAlloc>,
}

impl AggState {
    /// An empty state whose buffers will be palloc'd in `ctx`.
    ///
    /// # Safety
    /// The state must not outlive `ctx`: it is placed in `ctx` or in a context deleted with it.
    unsafe fn new_in(ctx: pg_sys::MemoryContext) -> AggState {
        let alloc = unsafe { ContextAlloc::new(ctx) };
        AggState {
            core: EstimateState::new_in(alloc),
            multiplier_bytes: AVec::new_in(alloc),
        }
    }
}

/// The contexts the states of this aggregate live in: children of the aggregate's memory context
/// (see [`child_contexts`]), so counted with it and freed with it: (structs, their buffers).
unsafe fn state_contexts(
    fcinfo: pg_sys::FunctionCallInfo,
) -> (pg_sys::MemoryContext, pg_sys::MemoryContext) {
    let agg = unsafe { agg_context(fcinfo) };
    unsafe { child_contexts((*fcinfo).flinfo, agg) }
}

/// The aggregate memory context of the current call; errors if called outside an aggregate.
unsafe fn agg_context(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::MemoryContext {
    let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 || ctx.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "ara_estimate support functions can only be called by the ara_estimate aggregate",
            "Use ara_estimate(value [, percentile [, multiplier]]) itself.",
        );
    }
    ctx
}

/// Places `state` in `ctx`, to be dropped when that context is reset or deleted (end of group, end
/// of query, error, cancel); its buffers' context must be `ctx` or one deleted with it.
unsafe fn into_context(ctx: pg_sys::MemoryContext, state: AggState) -> Internal {
    let ptr = unsafe { place_in_context(ctx, state) };
    Internal::from(Some(pg_sys::Datum::from(ptr)))
}

fn state_mut(state: &mut Internal) -> Option<&mut AggState> {
    // SAFETY: every non-null internal these functions receive was made by into_agg_context or
    // deserial as an AggState.
    unsafe { state.get_mut::<AggState>() }
}

fn report(err: EstimateError) -> ! {
    match err {
        EstimateError::PercentileOutOfRange(p) => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("percentile value {p} is not between 0 and 1"),
            "ara_estimate(value, percentile, ...) takes a percentile from 0 to 1, e.g. 0.99.",
        ),
        EstimateError::PercentileChanged { first, then } => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "ara_estimate: the percentile changed within one group ({} then {})",
                show(first),
                show(then)
            ),
            "Pass the same percentile on every row of a group, usually a constant.",
        ),
        EstimateError::MultiplierChanged { first, then } => raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!(
                "ara_estimate: the multiplier changed within one group ({} then {})",
                show(first),
                show(then)
            ),
            "Pass the same multiplier on every row of a group, usually a constant such as 1.75.",
        ),
        EstimateError::Cast(MulError::OutOfRange) => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            "bigint out of range",
            "The percentile value times the multiplier does not fit in bigint.",
        ),
        EstimateError::Cast(MulError::NaN) => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot convert NaN to bigint",
            "ara_estimate's multiplier must be a finite number.",
        ),
        EstimateError::Cast(MulError::Infinite) => raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot convert infinity to bigint",
            "ara_estimate's multiplier must be a finite number.",
        ),
    }
}

fn show<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "NULL".into())
}

/// The state of the current group, made on its first row with the given constant parameters.
fn state_or_new<'a>(
    state: &'a mut Internal,
    fcinfo: pg_sys::FunctionCallInfo,
    percentile: Option<f64>,
    multiplier: Option<&str>,
) -> &'a mut AggState {
    if state_mut(state).is_none() {
        let (structs, buffers) = unsafe { state_contexts(fcinfo) };
        let mut new = unsafe { AggState::new_in(buffers) };
        if let Some(p) = percentile {
            new.core
                .observe_percentile(Some(p))
                .unwrap_or_else(|e| report(e));
        }
        if let Some(m) = multiplier {
            let m = Multiplier::parse(m).unwrap_or_else(|e| error!("pg_ara: {}", e.0));
            new.core
                .observe_multiplier(Some(m))
                .unwrap_or_else(|e| report(e));
        }
        *state = unsafe { into_context(structs, new) };
    }
    state_mut(state).expect("state was just made")
}

fn observe_multiplier(s: &mut AggState, multiplier: Option<NumericArg<'_>>) {
    match multiplier {
        Some(m)
            if matches!(s.core.multiplier, Param::Value(_))
                && m.bytes == s.multiplier_bytes.as_slice() => {}
        Some(m) => {
            let parsed =
                Multiplier::parse(&m.to_text()).unwrap_or_else(|e| error!("pg_ara: {}", e.0));
            s.core
                .observe_multiplier(Some(parsed))
                .unwrap_or_else(|e| report(e));
            s.multiplier_bytes.clear();
            s.multiplier_bytes.extend_from_slice(m.bytes);
        }
        None => s
            .core
            .observe_multiplier(None)
            .unwrap_or_else(|e| report(e)),
    }
}

// ---- transition functions, one per signature ------------------------------------------------
//
// These run once per row, so they are plain V1 C-ABI functions rather than #[pg_extern] wrappers
// (whose generic argument handling cost as much per row as the counting itself). The per-row path
// reads the arguments straight from fcinfo, checks that the state exists and the percentile and
// multiplier are bit-for-bit the group's, and counts the value: no PostgreSQL call, no allocation
// unless the state grows. Everything else (the first row, a NULL or changed parameter, an error)
// takes `trans_slow`. `#[pg_guard]` turns a Rust panic anywhere in them into a PostgreSQL ERROR.
// The symbols are those the 0.1.0 and 0.2.0 install scripts reference (`..._wrapper`).

/// The group's state if this row can take the per-row path: it exists, and the percentile and
/// multiplier arguments (when the signature has them) are exactly the group's.
///
/// # Safety
/// `fcinfo` must be a call of one of the ara_estimate_trans signatures, with `nargs` arguments.
#[inline(always)]
unsafe fn fast_state<'a>(
    fcinfo: pg_sys::FunctionCallInfo,
    nargs: usize,
) -> Option<&'a mut AggState> {
    // SAFETY: a non-null state argument was made by into_agg_context as an AggState.
    let s = unsafe { &mut *arg(fcinfo, 0)?.cast_mut_ptr::<AggState>() };
    if nargs >= 3 {
        let p = unsafe { arg(fcinfo, 2) }?;
        match s.core.percentile {
            Param::Value(q) if q.to_bits() == p.value() as u64 => {}
            _ => return None,
        }
    }
    if nargs >= 4 {
        let m = unsafe { inline_varlena(arg(fcinfo, 3)?) }?;
        if !matches!(s.core.multiplier, Param::Value(_)) || m != s.multiplier_bytes.as_slice() {
            return None;
        }
    }
    Some(s)
}

/// One row of any signature: the per-row path, else the general one.
///
/// # Safety
/// As [`fast_state`].
#[inline(always)]
unsafe fn transition(fcinfo: pg_sys::FunctionCallInfo, nargs: usize) -> pg_sys::Datum {
    if let Some(s) = unsafe { fast_state(fcinfo, nargs) } {
        if let Some(v) = unsafe { arg(fcinfo, 1) } {
            s.core.values.add(v.value() as i64);
        }
        unsafe { (*fcinfo).isnull = false };
        return pg_sys::Datum::from(s as *mut AggState);
    }
    unsafe { trans_slow(fcinfo, nargs) }
}

/// The first row of a group, a NULL or changed parameter: full checks, errors reported.
#[inline(never)]
unsafe fn trans_slow(fcinfo: pg_sys::FunctionCallInfo, nargs: usize) -> pg_sys::Datum {
    let mut state = Internal::from(unsafe { arg(fcinfo, 0) });
    let value = unsafe { arg(fcinfo, 1) }.map(|d| d.value() as i64);
    // float8 is passed by value on every platform PostgreSQL 13+ supports with pgrx (64-bit).
    let percentile =
        (nargs >= 3).then(|| unsafe { arg(fcinfo, 2) }.map(|d| f64::from_bits(d.value() as u64)));
    let multiplier = (nargs >= 4).then(|| {
        unsafe { arg(fcinfo, 3) }.map(|d| NumericArg {
            datum: d,
            bytes: unsafe { TextBytes::from_datum(d) }.0,
        })
    });
    let s = match (percentile, &multiplier) {
        (None, _) => state_or_new(
            &mut state,
            fcinfo,
            Some(DEFAULT_PERCENTILE),
            Some(DEFAULT_MULTIPLIER),
        ),
        (Some(_), None) => state_or_new(&mut state, fcinfo, None, Some(DEFAULT_MULTIPLIER)),
        (Some(_), Some(_)) => state_or_new(&mut state, fcinfo, None, None),
    };
    if let Some(p) = percentile {
        s.core.observe_percentile(p).unwrap_or_else(|e| report(e));
    }
    if let Some(m) = multiplier {
        observe_multiplier(s, m);
    }
    if let Some(v) = value {
        s.core.values.add(v);
    }
    unsafe { (*fcinfo).isnull = false };
    state.unwrap().expect("the state was made above")
}

/// ara_estimate_trans(internal, bigint)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_estimate_trans1_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe { transition(fcinfo, 2) }
}
pg_finfo_v1!(pg_finfo_ara_estimate_trans1_wrapper);

/// ara_estimate_trans(internal, bigint, double precision)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_estimate_trans2_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe { transition(fcinfo, 3) }
}
pg_finfo_v1!(pg_finfo_ara_estimate_trans2_wrapper);

/// ara_estimate_trans(internal, bigint, double precision, numeric)
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_estimate_trans3_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    unsafe { transition(fcinfo, 4) }
}
pg_finfo_v1!(pg_finfo_ara_estimate_trans3_wrapper);

extension_sql!(
    r#"
CREATE FUNCTION ara_estimate_trans("state" internal, "value" bigint) RETURNS internal
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_estimate_trans1_wrapper';
CREATE FUNCTION ara_estimate_trans("state" internal, "value" bigint, "percentile" double precision)
RETURNS internal
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_estimate_trans2_wrapper';
CREATE FUNCTION ara_estimate_trans("state" internal, "value" bigint, "percentile" double precision, "multiplier" numeric)
RETURNS internal
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_estimate_trans3_wrapper';
"#,
    name = "ara_estimate_transition_functions",
);

// ---- inverse transition functions (moving window frames) ------------------------------------

/// Removes a row that left the window frame. NULL tells the executor to recompute the frame.
fn inverse(mut state: Internal, value: Option<i64>) -> Internal {
    let Some(s) = state_mut(&mut state) else {
        return Internal::from(None);
    };
    match value {
        Some(v) if !s.core.values.remove(v) => Internal::from(None),
        _ => state,
    }
}

#[pg_extern(immutable, parallel_safe, name = "ara_estimate_inv")]
fn ara_estimate_inv1(state: Internal, value: Option<i64>) -> Internal {
    inverse(state, value)
}

#[pg_extern(immutable, parallel_safe, name = "ara_estimate_inv")]
fn ara_estimate_inv2(state: Internal, value: Option<i64>, _percentile: Option<f64>) -> Internal {
    inverse(state, value)
}

#[pg_extern(immutable, parallel_safe, name = "ara_estimate_inv")]
fn ara_estimate_inv3(
    state: Internal,
    value: Option<i64>,
    _percentile: Option<f64>,
    _multiplier: Option<NumericArg<'_>>,
) -> Internal {
    inverse(state, value)
}

// ---- final, combine, serialise, deserialise -------------------------------------------------

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_final(mut state: Internal) -> Option<i64> {
    let s = state_mut(&mut state)?;
    s.core.finish().unwrap_or_else(|e| report(e))
}

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_combine(
    mut left: Option<Internal>,
    mut right: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<Internal> {
    let r = right.as_mut().and_then(state_mut);
    let l = left.as_mut().and_then(state_mut);
    match (l, r) {
        (_, None) => left,
        (Some(l), Some(r)) => {
            l.core.merge(&r.core).unwrap_or_else(|e| report(e));
            left
        }
        // The right state may live in a short-lived context: copy it into the aggregate's.
        (None, Some(r)) => {
            let (structs, buffers) = unsafe { state_contexts(fcinfo) };
            let mut copy = unsafe { AggState::new_in(buffers) };
            copy.core.merge(&r.core).unwrap_or_else(|e| report(e));
            Some(unsafe { into_context(structs, copy) })
        }
    }
}

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_serial(mut state: Internal) -> Vec<u8> {
    match state_mut(&mut state) {
        Some(s) => s.core.encode(),
        None => EstimateState::new().encode(),
    }
}

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_deserial(bytes: &[u8], _unused: Internal) -> Internal {
    // Lives in the current (per-input-tuple) context; combine copies what it keeps.
    let ctx = unsafe { pg_sys::CurrentMemoryContext };
    let mut state = unsafe { AggState::new_in(ctx) };
    state.core = EstimateState::decode_in(bytes, ContextAlloc::current()).unwrap_or_else(|e| {
        raise(
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("pg_ara: {e}"),
            "This is a bug in pg_ara; please report it.",
        )
    });
    unsafe { into_context(ctx, state) }
}

// SSPACE/MSSPACE (pg_aggregate.aggtransspace/aggmtransspace): what a group's state takes when the
// group is typical of what ara_estimate is run over (a key's few to a few dozen runs): the struct
// (176 bytes in a 256-byte chunk), its reset callback, a vector of up to 32 values, each palloc'd
// chunk with its header: ~1 kB (EXPLAIN ANALYZE of a hashed GROUP BY over 20,000 groups: 1.2 kB a
// group at 30 values, 0.7 kB at 5; tests/shell/memory.sh keeps the two within a factor 2).
// PostgreSQL assumes 8 kB for an `internal` state without it, so hash aggregation planned and kept
// in memory eight times too few groups of that size. The executor then spills by what it counts.
extension_sql!(
    r#"
CREATE AGGREGATE ara_estimate(value bigint) (
    SFUNC = ara_estimate_trans, STYPE = internal,
    FINALFUNC = ara_estimate_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_estimate_combine,
    SERIALFUNC = ara_estimate_serial, DESERIALFUNC = ara_estimate_deserial,
    MSFUNC = ara_estimate_trans, MINVFUNC = ara_estimate_inv, MSTYPE = internal,
    MFINALFUNC = ara_estimate_final, MFINALFUNC_MODIFY = READ_ONLY,
    SSPACE = 1024, MSSPACE = 1024,
    PARALLEL = SAFE
);
CREATE AGGREGATE ara_estimate(value bigint, percentile double precision) (
    SFUNC = ara_estimate_trans, STYPE = internal,
    FINALFUNC = ara_estimate_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_estimate_combine,
    SERIALFUNC = ara_estimate_serial, DESERIALFUNC = ara_estimate_deserial,
    MSFUNC = ara_estimate_trans, MINVFUNC = ara_estimate_inv, MSTYPE = internal,
    MFINALFUNC = ara_estimate_final, MFINALFUNC_MODIFY = READ_ONLY,
    SSPACE = 1024, MSSPACE = 1024,
    PARALLEL = SAFE
);
CREATE AGGREGATE ara_estimate(value bigint, percentile double precision, multiplier numeric) (
    SFUNC = ara_estimate_trans, STYPE = internal,
    FINALFUNC = ara_estimate_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_estimate_combine,
    SERIALFUNC = ara_estimate_serial, DESERIALFUNC = ara_estimate_deserial,
    MSFUNC = ara_estimate_trans, MINVFUNC = ara_estimate_inv, MSTYPE = internal,
    MFINALFUNC = ara_estimate_final, MFINALFUNC_MODIFY = READ_ONLY,
    SSPACE = 1024, MSSPACE = 1024,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE ara_estimate(bigint) IS
'pg_ara: Flotilla''s ARA memory estimate, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), as an ordinary aggregate: exactly equal, NULLs skipped, NULL for no rows, runs in parallel and as a (moving) window aggregate. Memory grows with the number of distinct values, not rows.';
COMMENT ON AGGREGATE ara_estimate(bigint, double precision) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), exactly. percentile in [0, 1] (else 22003), the same on every row of a group (else 22023); NULL percentile gives NULL.';
COMMENT ON AGGREGATE ara_estimate(bigint, double precision, numeric) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint), exactly: decimal multiplication, rounding half away from zero (1022 * 1.75 = 1788.5 -> 1789). CPU: ara_estimate(cpu, 0.99, 1.25). percentile and multiplier must be the same on every row of a group (else 22023); NULL for either gives NULL; a result outside bigint is 22003.';

COMMENT ON FUNCTION ara_estimate_trans(internal, bigint) IS 'pg_ara: transition function of ara_estimate(bigint); not for direct use.';
COMMENT ON FUNCTION ara_estimate_trans(internal, bigint, double precision) IS 'pg_ara: transition function of ara_estimate(bigint, float8); not for direct use.';
COMMENT ON FUNCTION ara_estimate_trans(internal, bigint, double precision, numeric) IS 'pg_ara: transition function of ara_estimate(bigint, float8, numeric); not for direct use.';
COMMENT ON FUNCTION ara_estimate_inv(internal, bigint) IS 'pg_ara: inverse transition (moving window frames) of ara_estimate(bigint); not for direct use.';
COMMENT ON FUNCTION ara_estimate_inv(internal, bigint, double precision) IS 'pg_ara: inverse transition (moving window frames) of ara_estimate(bigint, float8); not for direct use.';
COMMENT ON FUNCTION ara_estimate_inv(internal, bigint, double precision, numeric) IS 'pg_ara: inverse transition (moving window frames) of ara_estimate(bigint, float8, numeric); not for direct use.';
COMMENT ON FUNCTION ara_estimate_final(internal) IS 'pg_ara: final function of ara_estimate(); reads the state without changing it; not for direct use.';
COMMENT ON FUNCTION ara_estimate_combine(internal, internal) IS 'pg_ara: combines two partial ara_estimate() states (parallel aggregation); not for direct use.';
COMMENT ON FUNCTION ara_estimate_serial(internal) IS 'pg_ara: serialises an ara_estimate() state for a parallel worker; not for direct use.';
COMMENT ON FUNCTION ara_estimate_deserial(bytea, internal) IS 'pg_ara: deserialises an ara_estimate() state from a parallel worker; not for direct use.';
"#,
    name = "ara_estimate_aggregate",
    requires = [
        "ara_estimate_transition_functions",
        ara_estimate_inv1,
        ara_estimate_inv2,
        ara_estimate_inv3,
        ara_estimate_final,
        ara_estimate_combine,
        ara_estimate_serial,
        ara_estimate_deserial
    ]
);
