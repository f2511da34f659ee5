//! SQL: the aggregates behind `ara_simulate()` (sql/simulate.sql), a thin layer over
//! [`crate::core::replay`]. `ara_internal.ara_replay_totals(...)` and `ara_replay_answers(...)`
//! take the runs of a table in (definition, hash, queued_at, run_id) order (`ORDER BY` in the
//! aggregate call) and replay every policy in one pass; the first returns each policy's totals,
//! the second every replayed run's request under each policy (for tests and per-run reports).
//! The state holds one key's windows at a time, the totals, and (answers only) one entry per run.

use crate::core::replay::{parse_policies, Need, ReplayError, Replayer, Run, Totals};
use crate::error::raise;
use crate::memory::place_in_context;
use pgrx::prelude::*;
use pgrx::{Internal, JsonB};

/// The aggregate's state.
pub struct ReplayAgg {
    replayer: Replayer,
    names: Vec<String>,
    /// The key of the last run: (definition, hash).
    last: Option<(Option<String>, Option<String>)>,
    key: u64,
    /// Run ids by answer id, when answers are kept.
    run_ids: Vec<String>,
    finished: bool,
}

fn replay_error(e: ReplayError) -> ! {
    match e {
        ReplayError::Overflow(_) => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            "bigint out of range",
            "A policy's percentile value times its multiplier does not fit in bigint.",
        ),
        ReplayError::Unsorted | ReplayError::Windows => raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "pg_ara: the replay's rows came out of order or without one window start per policy",
            "Call ara_simulate(); the replay aggregates are not for direct use.",
        ),
    }
}

fn need(oom: bool, succeeded: bool, memory: Option<i64>, peak: Option<i64>) -> Need {
    match (oom, succeeded, memory, peak) {
        (true, _, Some(m), _) => Need::Above(m),
        (false, true, _, Some(p)) => Need::Peak(p),
        _ => Need::Unknown,
    }
}

/// One row: made into a [`Run`] and handed to the replayer (the state is made on the first row,
/// from the policies given then).
#[allow(clippy::too_many_arguments)]
#[pg_extern(immutable, parallel_safe)]
fn ara_replay_trans(
    state: Option<Internal>,
    policies: Option<&str>,
    keep_answers: Option<bool>,
    definition_id: Option<&str>,
    command_hash: Option<&str>,
    queued_at_us: Option<i64>,
    window_from_us: Option<Vec<Option<i64>>>,
    memory: Option<i64>,
    oom: Option<bool>,
    peak: Option<i64>,
    succeeded: Option<bool>,
    runtime_s: Option<i64>,
    replayed: Option<bool>,
    run_id: Option<&str>,
    fcinfo: pg_sys::FunctionCallInfo,
) -> Internal {
    let mut state = state.unwrap_or_else(|| Internal::from(None));
    // SAFETY: a non-null state of this aggregate was made below as a ReplayAgg.
    if unsafe { state.get_mut::<ReplayAgg>() }.is_none() {
        let mut ctx: pg_sys::MemoryContext = std::ptr::null_mut();
        if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut ctx) } == 0 {
            raise(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "ara_replay_trans can only be called by the replay aggregates",
                "Call ara_simulate().",
            );
        }
        let parsed = parse_policies(policies.unwrap_or("null")).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("pg_ara: {e}"),
                "Call ara_simulate(); the replay aggregates are not for direct use.",
            )
        });
        let (names, list): (Vec<String>, Vec<_>) = parsed.into_iter().unzip();
        let agg = ReplayAgg {
            replayer: Replayer::new(list, keep_answers.unwrap_or(false)),
            names,
            last: None,
            key: 0,
            run_ids: Vec::new(),
            finished: false,
        };
        // SAFETY: ctx is the aggregate's context; the state is dropped when it is reset.
        let ptr = unsafe { place_in_context(ctx, agg) };
        state = Internal::from(Some(pg_sys::Datum::from(ptr)));
    }
    let agg = unsafe { state.get_mut::<ReplayAgg>() }.expect("made above");
    // A run without a queue time has no window: ara_simulate filters them out.
    let Some(queued_at) = queued_at_us else {
        return state;
    };
    let key = (
        definition_id.map(str::to_owned),
        command_hash.map(str::to_owned),
    );
    if agg.last.as_ref() != Some(&key) {
        agg.key += 1;
        agg.last = Some(key);
    }
    let oom = oom.unwrap_or(false);
    let run = Run {
        key: agg.key,
        sizable: definition_id.is_some() && command_hash.is_some(),
        queued_at,
        request: memory,
        oom,
        peak: if succeeded.unwrap_or(false) {
            peak
        } else {
            None
        },
        need: need(oom, succeeded.unwrap_or(false), memory, peak),
        runtime: runtime_s,
        replayed: replayed.unwrap_or(false),
    };
    let from: Option<Vec<i64>> = window_from_us.map(|v| v.into_iter().flatten().collect());
    let id = agg.run_ids.len() as u64;
    agg.replayer
        .push_from(run, id, from.as_deref())
        .unwrap_or_else(|e| replay_error(e));
    if agg.replayer.answers.is_some() && run.replayed {
        agg.run_ids.push(run_id.unwrap_or_default().to_owned());
    }
    state
}

fn finished(state: &mut Internal) -> Option<&mut ReplayAgg> {
    let agg = unsafe { state.get_mut::<ReplayAgg>() }?;
    if !agg.finished {
        agg.replayer.finish().unwrap_or_else(|e| replay_error(e));
        agg.finished = true;
    }
    Some(agg)
}

fn mb_s(v: i128) -> serde_json::Value {
    // Exact, as text: more than a double holds (ara_simulate casts it to numeric).
    serde_json::Value::String(v.to_string())
}

/// Each policy's totals, in the order given: `[{"policy", "runs", "sized", "ooms_min",
/// "ooms_max", "at_cap", "requested_mb_s", "used_mb_s", "waste_mb_s"}, ...]`.
#[pg_extern(immutable, parallel_safe)]
fn ara_replay_totals_final(mut state: Internal) -> Option<JsonB> {
    let agg = finished(&mut state)?;
    let rows = agg
        .names
        .iter()
        .zip(&agg.replayer.totals)
        .map(|(name, t): (&String, &Totals)| {
            serde_json::json!({
                "policy": name,
                "runs": t.runs,
                "sized": t.sized,
                "ooms_min": t.ooms_min,
                "ooms_max": t.ooms_max,
                "at_cap": t.at_cap,
                "requested_mb_s": mb_s(t.requested_mb_s),
                "used_mb_s": mb_s(t.used_mb_s),
                "waste_mb_s": mb_s(t.waste_mb_s),
            })
        })
        .collect();
    Some(JsonB(serde_json::Value::Array(rows)))
}

/// Every replayed run's request under each policy (NULL: no history), in the order the runs
/// came: `[{"run_id", "request": [...], "raw": [...]}, ...]`.
#[pg_extern(immutable, parallel_safe)]
fn ara_replay_answers_final(mut state: Internal) -> Option<JsonB> {
    let agg = finished(&mut state)?;
    let answers = agg.replayer.answers.as_ref()?;
    let rows = answers
        .iter()
        .map(|(id, a)| {
            serde_json::json!({
                "run_id": agg.run_ids[*id as usize],
                "request": a.iter().map(|s| s.map(|s| s.request)).collect::<Vec<_>>(),
                "raw": a.iter().map(|s| s.map(|s| s.raw)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Some(JsonB(serde_json::Value::Array(rows)))
}

extension_sql!(
    r#"
ALTER FUNCTION @extschema@.ara_replay_trans(internal, text, boolean, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_replay_totals_final(internal) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_replay_answers_final(internal) SET SCHEMA ara_internal;
CREATE AGGREGATE ara_internal.ara_replay_totals(policies text, keep_answers boolean, definition_id text,
    command_hash text, queued_at_us bigint, window_from_us bigint[], memory bigint, oom boolean, peak bigint,
    succeeded boolean, runtime_s bigint, replayed boolean, run_id text) (
    SFUNC = ara_internal.ara_replay_trans, STYPE = internal,
    FINALFUNC = ara_internal.ara_replay_totals_final, FINALFUNC_MODIFY = READ_WRITE
);
CREATE AGGREGATE ara_internal.ara_replay_answers(policies text, keep_answers boolean, definition_id text,
    command_hash text, queued_at_us bigint, window_from_us bigint[], memory bigint, oom boolean, peak bigint,
    succeeded boolean, runtime_s bigint, replayed boolean, run_id text) (
    SFUNC = ara_internal.ara_replay_trans, STYPE = internal,
    FINALFUNC = ara_internal.ara_replay_answers_final, FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON FUNCTION ara_internal.ara_replay_trans(internal, text, boolean, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) IS
'pg_ara internal: transition function of the replay aggregates behind ara_simulate(); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_replay_totals_final(internal) IS
'pg_ara internal: final function of ara_replay_totals (each policy''s totals as jsonb); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_replay_answers_final(internal) IS
'pg_ara internal: final function of ara_replay_answers (every replayed run''s request under each policy as jsonb); not for direct use.';
COMMENT ON AGGREGATE ara_internal.ara_replay_totals(text, boolean, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) IS
'pg_ara internal: replays sizing policies over runs given ORDER BY definition, hash, queued_at, run_id; each policy''s totals. Used by ara_simulate().';
COMMENT ON AGGREGATE ara_internal.ara_replay_answers(text, boolean, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) IS
'pg_ara internal: the same replay; every replayed run''s request under each policy. Used by ara_simulate_runs().';
"#,
    name = "simulate_aggregates",
    requires = [
        "private_schema",
        ara_replay_trans,
        ara_replay_totals_final,
        ara_replay_answers_final
    ]
);
