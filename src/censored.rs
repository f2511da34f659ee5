//! SQL: `ara_internal.ara_censored(...)`, the aggregate behind the lookup policy 'censored'
//! (sql/sizing.sql): the censored-need estimate of [`crate::core::models`] over the runs of one
//! key's window, given in queue order (`ORDER BY` in the call), as jsonb with its evidence. The
//! same arithmetic as the replay's censored policy (`ara_simulate(... 'censored' ...)`), so the
//! lookup and the replay answer alike run by run (tests/pg_regress/sql/tune.sql).

use crate::core::decimal::Multiplier;
use crate::core::models::{censored_estimate, Censored, Event};
use crate::error::raise;
use crate::memory::place_in_context;
use pgrx::prelude::*;
use pgrx::{Internal, JsonB};

/// The lookup's fixed choices (the replay's defaults): a run's weight halves every 3 days; the
/// answer stays above any request killed in the last day.
const HALF_LIFE_US: i64 = 3 * 86_400_000_000;
const FLOOR_US: i64 = 86_400_000_000;

pub struct CensoredAgg {
    events: Vec<Event>,
    now: i64,
    model: Censored,
}

fn invalid(what: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("pg_ara: {what}"),
        "Call ara_resources(..., policy => 'censored'); the aggregate is not for direct use.",
    )
}

/// One observation: a successful run's measured peak (`exact`), or the request an OOM-killed run
/// died at; `now_us` the instant sized, `target` the OOM rate aimed at, `headroom` and `fallback`
/// as numeric text (taken from the first row).
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe)]
fn ara_censored_trans(
    state: Option<Internal>,
    value: Option<i64>,
    exact: Option<bool>,
    at_us: Option<i64>,
    now_us: Option<i64>,
    target: Option<f64>,
    headroom: Option<&str>,
    fallback: Option<&str>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let mut state = state.unwrap_or_else(|| Internal::from(None));
    // SAFETY: a non-null state of this aggregate was made below as a CensoredAgg.
    if unsafe { state.get_mut::<CensoredAgg>() }.is_none() {
        let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
        if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "ara_censored_trans can only be called by the aggregate ara_internal.ara_censored",
                "Call ara_resources(..., policy => 'censored').",
            );
        }
        let target = target
            .filter(|t| *t > 0.0 && *t < 1.0)
            .unwrap_or_else(|| invalid(format!("target {target:?} is not between 0 and 1")));
        let multiplier = |v: Option<&str>, what: &str| {
            v.and_then(|v| Multiplier::parse(v).ok())
                .unwrap_or_else(|| invalid(format!("{what} {v:?} is not a number")))
        };
        let agg = CensoredAgg {
            events: Vec::new(),
            now: now_us.unwrap_or_else(|| invalid("the instant sized is NULL".into())),
            model: Censored {
                target,
                headroom: multiplier(headroom, "headroom"),
                half_life: HALF_LIFE_US,
                fallback: multiplier(fallback, "fallback"),
                floor: FLOOR_US,
                max_runs: None,
            },
        };
        // SAFETY: ctx is the aggregate's context; the state is dropped when it is reset.
        let ptr = unsafe { place_in_context(ctx, agg) };
        state = Internal::from(Some(pg_sys::Datum::from(ptr)));
    }
    let agg = unsafe { state.get_mut::<CensoredAgg>() }.expect("made above");
    if let (Some(v), Some(exact), Some(at)) = (value, exact, at_us) {
        agg.events.push(Event {
            at,
            request: (!exact).then_some(v),
            oom: !exact,
            peak: exact.then_some(v),
        });
    }
    state
}

/// `{"raw", "quantile", "fallback_from", "floor", "exact", "censored", "effective"}`; NULL without
/// an observation. A product past bigint is 22003.
#[pg_extern(immutable, parallel_safe)]
fn ara_censored_final(mut state: Internal) -> Option<JsonB> {
    let agg = unsafe { state.get_mut::<CensoredAgg>() }?;
    let answer = censored_estimate(&agg.events, agg.now, &agg.model).unwrap_or_else(|_| {
        raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            "bigint out of range",
            "A measured need or killed request times the headroom or fallback multiplier does not fit in bigint.",
        )
    })?;
    Some(JsonB(serde_json::json!({
        "raw": answer.raw,
        "quantile": answer.quantile,
        "fallback_from": answer.fallback_from,
        "floor": answer.floor,
        "exact": answer.exact,
        "censored": answer.censored,
        "effective": (answer.effective * 10.0).round() / 10.0,
    })))
}

extension_sql!(
    r#"
ALTER FUNCTION @extschema@.ara_censored_trans(internal, bigint, boolean, bigint, bigint, double precision, text, text) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_censored_final(internal) SET SCHEMA ara_internal;
CREATE AGGREGATE ara_internal.ara_censored(value bigint, exact boolean, at_us bigint, now_us bigint,
    target double precision, headroom text, fallback text) (
    SFUNC = ara_internal.ara_censored_trans, STYPE = internal,
    FINALFUNC = ara_internal.ara_censored_final, FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON FUNCTION ara_internal.ara_censored_trans(internal, bigint, boolean, bigint, bigint, double precision, text, text) IS
'pg_ara internal: transition function of ara_internal.ara_censored, behind ara_resources(..., policy => ''censored''); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_censored_final(internal) IS
'pg_ara internal: final function of ara_internal.ara_censored (jsonb: raw, quantile, fallback_from, floor, exact, censored, effective); not for direct use.';
COMMENT ON AGGREGATE ara_internal.ara_censored(bigint, boolean, bigint, bigint, double precision, text, text) IS
'pg_ara internal: the censored-need request from one key''s window (measured needs exact, killed requests right-censored, weighted by age, half-life 3 days; the need''s (1 - target) quantile x headroom, else the largest kill x fallback; above any kill of the last day), rows given ORDER BY queue time; jsonb with the evidence. Used by ara_resources() and ara_explain().';
"#,
    name = "censored_aggregate",
    requires = ["private_schema", ara_censored_trans, ara_censored_final]
);
