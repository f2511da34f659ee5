//! SQL: the `ara_estimate()` aggregate, a thin layer over [`crate::core::estimate`].
//!
//! The state is `internal`: a Rust [`EstimateState`] palloc'd in the aggregate's memory context,
//! every buffer it grows palloc'd there too ([`ContextAlloc`]), so PostgreSQL counts it (hash
//! aggregation spills by it, EXPLAIN shows it) and frees it with that context: at the end of the
//! group, the query, or an error or cancel. Parallel plans serialise it to bytea.

use crate::core::decimal::{MulError, Multiplier};
use crate::core::deferred::{self, Entry};
use crate::core::estimate::{
    EstimateError, EstimateState, Param, DEFAULT_MULTIPLIER, DEFAULT_PERCENTILE,
};
use crate::error::raise;
use crate::memory::{child_contexts, place_in_context, CallSite, ContextAlloc, SiteState};
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
    /// The call site that made it, whose log may hold rows of this state not yet applied (null for
    /// a deserialised state, which is never logged).
    site: *mut CallSite<Deferred>,
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
            site: std::ptr::null_mut(),
        }
    }
}

/// Deferred transitions of one call site ([`crate::core::deferred`]): in a hashed GROUP BY over
/// many groups, the one-argument transition logs (state, value) instead of touching the state, and
/// a full log is applied sorted by state. Safe because:
/// - only states of the site's current child contexts are logged (the transition checks that the
///   aggregate context of the call is the site's parent), and when those contexts go (their parent
///   reset or deleted, whether or not the groups were finalised: a rescan, a LIMIT, an error) the
///   log is forgotten with them ([`SiteState::children_gone`]); when the site moves to another
///   parent (grouping sets) the log is applied first;
/// - every function that reads a state (final, serial, combine, inverse) applies its site's log
///   first, and the order in which a multiset receives its values does not matter;
/// - only in plain aggregation (never a window, whose frames remove values) and only while the
///   site holds enough states for the log to pay ([`deferred::capacity`]).
///
/// The log is palloc'd in the states' buffers context: memory PostgreSQL counts, freed with them.
pub struct Deferred {
    entries: *mut Entry,
    len: usize,
    cap: usize,
    /// States made under the site's current children.
    states: usize,
    /// Those children belong to plain aggregation (AggCheckCallContext said AGG_CONTEXT_AGGREGATE).
    plain: bool,
}

impl Default for Deferred {
    fn default() -> Self {
        Deferred {
            entries: std::ptr::null_mut(),
            len: 0,
            cap: 0,
            states: 0,
            plain: false,
        }
    }
}

impl Deferred {
    /// Applies every logged row to its state, states in address order.
    ///
    /// # Safety
    /// Every logged state must be alive (what `children_gone` guarantees) and nothing may hold a
    /// reference to any of them.
    unsafe fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        let entries = unsafe { std::slice::from_raw_parts_mut(self.entries, self.len) };
        // Emptied first: if applying fails (out of memory), nothing is applied twice.
        self.len = 0;
        deferred::apply_sorted(entries, |target, value| {
            // SAFETY: logged by the transition as the address of a live AggState.
            unsafe { (*(target as *mut AggState)).core.values.add(value) }
        });
    }

    /// Counts a state made under the site's current children and grows the log when they are
    /// enough for it to pay.
    ///
    /// # Safety
    /// `buffers` must be the site's current buffers context.
    unsafe fn state_made(&mut self, buffers: pg_sys::MemoryContext) {
        self.states += 1;
        if !self.plain {
            return;
        }
        // An eighth of what a hash aggregate may hold (work_mem x hash_mem_multiplier).
        let budget = unsafe { pg_sys::get_hash_memory_limit() } / 8;
        let want = deferred::capacity(self.states, budget);
        if !deferred::should_grow(self.cap, want) {
            return;
        }
        let bytes = want * deferred::ENTRY_BYTES;
        self.entries = unsafe {
            if self.entries.is_null() {
                pg_sys::MemoryContextAllocHuge(buffers, bytes)
            } else {
                pg_sys::repalloc_huge(self.entries.cast(), bytes)
            }
        } as *mut Entry;
        self.cap = want;
    }
}

impl SiteState for Deferred {
    fn children_gone(&mut self) {
        // The logged states and the log itself go with the children: forget them untouched.
        *self = Deferred::default();
    }

    fn before_new_children(&mut self) {
        // SAFETY: the current children (and so the logged states) are still alive here.
        unsafe { self.flush() };
        *self = Deferred::default();
    }
}

/// Applies the log of the site that made `state`, then returns it.
fn settled(state: &mut Internal) -> Option<&mut AggState> {
    let p: *mut AggState = state_mut(state)?;
    // SAFETY: the site outlives its states (it lives in the FmgrInfo's context); no reference to
    // any state is held while the log is applied.
    unsafe {
        let site = (*p).site;
        if !site.is_null() {
            (*site).state.flush();
        }
        Some(&mut *p)
    }
}

/// The call site whose child contexts of the aggregate's memory context the states of this call
/// live in (see [`child_contexts`]): counted with that context and freed with it.
unsafe fn state_site(fcinfo: pg_sys::FunctionCallInfo) -> *mut CallSite<Deferred> {
    let (kind, agg) = unsafe { agg_context(fcinfo) };
    unsafe {
        let site = child_contexts::<Deferred>((*fcinfo).flinfo, agg);
        (*site).state.plain = kind == pg_sys::AGG_CONTEXT_AGGREGATE as i32;
        site
    }
}

/// The kind (AGG_CONTEXT_*) and aggregate memory context of the current call; errors if called
/// outside an aggregate.
unsafe fn agg_context(fcinfo: pg_sys::FunctionCallInfo) -> (i32, pg_sys::MemoryContext) {
    let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
    let kind = unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) };
    if kind == 0 || ctx.is_null() {
        raise(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "ara_estimate support functions can only be called by the ara_estimate aggregate",
            "Use ara_estimate(value [, percentile [, multiplier]]) itself.",
        );
    }
    (kind, ctx)
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
        let site = unsafe { state_site(fcinfo) };
        let (structs, buffers) = unsafe { ((*site).values, (*site).buffers) };
        let mut new = unsafe { AggState::new_in(buffers) };
        new.site = site;
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
        unsafe { (*site).state.state_made(buffers) };
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
    if nargs == 2 {
        if let Some(done) = unsafe { defer(fcinfo) } {
            return done;
        }
    }
    if let Some(s) = unsafe { fast_state(fcinfo, nargs) } {
        if let Some(v) = unsafe { arg(fcinfo, 1) } {
            s.core.values.add(v.value() as i64);
        }
        unsafe { (*fcinfo).isnull = false };
        return pg_sys::Datum::from(s as *mut AggState);
    }
    unsafe { trans_slow(fcinfo, nargs) }
}

/// The one-argument transition when its call site logs ([`Deferred`]): appends (state, value) to
/// the log without touching the state, applying the log first when it is full. None: not here
/// (no state yet, no log, a window, or the state is not of the site's current contexts).
///
/// # Safety
/// `fcinfo` must be a call of ara_estimate_trans(internal, bigint).
#[inline(always)]
unsafe fn defer(fcinfo: pg_sys::FunctionCallInfo) -> Option<pg_sys::Datum> {
    let state = unsafe { arg(fcinfo, 0) }?;
    let site = unsafe { (*(*fcinfo).flinfo).fn_extra } as *mut CallSite<Deferred>;
    if site.is_null() || unsafe { (*site).state.cap } == 0 {
        return None;
    }
    let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
    let kind = unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) };
    // SAFETY: the site is this function's fn_extra, made by child_contexts::<Deferred>.
    let site = unsafe { &mut *site };
    if kind != pg_sys::AGG_CONTEXT_AGGREGATE as i32 || ctx != site.parent {
        return None;
    }
    if let Some(v) = unsafe { arg(fcinfo, 1) } {
        let log = &mut site.state;
        if log.len == log.cap {
            // SAFETY: the logged states are of the site's current children, alive; none borrowed.
            unsafe { log.flush() };
        }
        unsafe {
            log.entries.add(log.len).write(Entry {
                target: state.value(),
                value: v.value() as i64,
            })
        };
        log.len += 1;
    }
    unsafe { (*fcinfo).isnull = false };
    Some(state)
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
    let Some(s) = settled(&mut state) else {
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
    let s = settled(&mut state)?;
    s.core.finish().unwrap_or_else(|e| report(e))
}

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_combine(
    mut left: Option<Internal>,
    mut right: Option<Internal>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Option<Internal> {
    // Both logs applied before either state is borrowed (one log may hold rows of both).
    for state in [right.as_mut(), left.as_mut()].into_iter().flatten() {
        settled(state);
    }
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
            let site = unsafe { state_site(fcinfo) };
            let (structs, buffers) = unsafe { ((*site).values, (*site).buffers) };
            let mut copy = unsafe { AggState::new_in(buffers) };
            // Not counted as a state of the site: combine never logs, so it needs no log.
            copy.site = site;
            copy.core.merge(&r.core).unwrap_or_else(|e| report(e));
            Some(unsafe { into_context(structs, copy) })
        }
    }
}

#[pg_extern(immutable, parallel_safe)]
fn ara_estimate_serial(mut state: Internal) -> Vec<u8> {
    match settled(&mut state) {
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
