//! SQL: the aggregate behind `ara_simulate()`, `ara_simulate_runs()`, `ara_waste()` and `ara_tune()`
//! (sql/simulate.sql, sql/tune.sql), a thin layer over [`crate::core::replay`].
//! `ara_internal.ara_replay(mode, policies, ...)` takes the runs of a table in (definition, hash,
//! queued_at, run_id) order (`ORDER BY` in the aggregate call) and replays every policy in one pass.
//! Its jsonb answer, by mode: `totals`, each policy's totals; `keys`, the same per key (definition,
//! hash; no policy grouped by definition); `definitions`, per definition; `answers`, every replayed
//! run's request under each policy. The state holds one key's windows at a time (and, with policies
//! grouped by definition, one definition's runs) and the totals; `keys` and `definitions` add one
//! row per key or definition, `answers` one per run (for a period's runs checked one by one: that
//! answer grows with the runs).

use crate::core::replay::{parse_policies, Need, Replay, ReplayError, Run, Totals};
use crate::error::raise;
use crate::memory::place_in_context;
use pgrx::prelude::*;
use pgrx::{Internal, JsonB};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Totals,
    Keys,
    Definitions,
    Answers,
}

/// The aggregate's state.
pub struct ReplayAgg {
    replayer: Replay,
    mode: Mode,
    names: Vec<String>,
    /// Per key (mode keys) or definition (mode definitions, hash NULL) with replayed runs:
    /// definition, hash, each policy's totals.
    per_key: Vec<(Option<String>, Option<String>, Vec<Totals>)>,
    /// The totals when the current key (definition) began.
    key_start: Vec<Totals>,
    /// The key of the last run: (definition, hash).
    last: Option<(Option<String>, Option<String>)>,
    key: u64,
    group: u64,
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
        ReplayError::TotalsOverflow => raise(
            PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            "pg_ara: memory x runtime summed over the replayed runs is out of range",
            "Some runs have a request, peak or runtime near the ends of bigint: exclude them (the since/until period, or fix those rows).",
        ),
        ReplayError::Unsorted | ReplayError::Windows => raise(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "pg_ara: the replay's rows came out of order or without one window start per policy",
            "Call ara_simulate(); the replay aggregate is not for direct use.",
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
    mode: Option<&str>,
    policies: Option<&str>,
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
                "ara_replay_trans can only be called by the aggregate ara_internal.ara_replay",
                "Call ara_simulate().",
            );
        }
        let parsed = parse_policies(policies.unwrap_or("null")).unwrap_or_else(|e| {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("pg_ara: {e}"),
                "Call ara_simulate(); the replay aggregate is not for direct use.",
            )
        });
        let mode = match mode {
            Some("totals") => Mode::Totals,
            Some("keys") => Mode::Keys,
            Some("definitions") => Mode::Definitions,
            Some("answers") => Mode::Answers,
            other => raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                format!("pg_ara: unknown replay mode {}", other.unwrap_or("NULL")),
                "Call ara_simulate(); the replay aggregate is not for direct use.",
            ),
        };
        let (names, list): (Vec<String>, Vec<_>) = parsed.into_iter().unzip();
        let replayer = Replay::new(list, mode == Mode::Answers);
        if mode == Mode::Keys && replayer.grouped_by_definition() {
            raise(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                "pg_ara: a replay per key cannot hold policies grouped by definition",
                "Replay them per definition (mode definitions) or per key (group key).",
            );
        }
        let agg = ReplayAgg {
            key_start: vec![Totals::default(); names.len()],
            replayer,
            mode,
            per_key: Vec::new(),
            names,
            last: None,
            key: 0,
            group: 0,
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
    let new_key = agg
        .last
        .as_ref()
        .is_none_or(|(d, h)| d.as_deref() != definition_id || h.as_deref() != command_hash);
    let new_group = agg
        .last
        .as_ref()
        .is_none_or(|(d, _)| d.as_deref() != definition_id);
    if new_key {
        agg.close_key(new_group);
        agg.key += 1;
        agg.group += new_group as u64;
        agg.last = Some((
            definition_id.map(str::to_owned),
            command_hash.map(str::to_owned),
        ));
    }
    let oom = oom.unwrap_or(false);
    let run = Run {
        key: agg.key,
        sizable: definition_id.is_some() && command_hash.is_some(),
        group: agg.group,
        grouped: definition_id.is_some(),
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
    if agg.mode == Mode::Answers && run.replayed {
        agg.run_ids.push(run_id.unwrap_or_default().to_owned());
    }
    state
}

impl ReplayAgg {
    /// Sizes what is pending of the current key (and definition, when it ends) and, in mode keys
    /// (definitions), records its totals.
    fn close_key(&mut self, definition_ends: bool) {
        let closes = match self.mode {
            Mode::Keys => true,
            Mode::Definitions => definition_ends,
            _ => false,
        };
        if !closes && !definition_ends {
            return;
        }
        self.replayer.finish().unwrap_or_else(|e| replay_error(e));
        if !closes {
            return;
        }
        if let Some((d, h)) = self.last.as_ref() {
            let h = if self.mode == Mode::Keys {
                h.clone()
            } else {
                None
            };
            let now = &self.replayer.totals();
            if now
                .iter()
                .zip(&self.key_start)
                .any(|(n, s)| n.runs > s.runs)
            {
                let delta = now
                    .iter()
                    .zip(&self.key_start)
                    .map(|(n, s)| n.since(s))
                    .collect();
                self.per_key.push((d.clone(), h, delta));
            }
        }
        self.key_start = self.replayer.totals();
    }
}

fn finished(state: &mut Internal) -> Option<&mut ReplayAgg> {
    let agg = unsafe { state.get_mut::<ReplayAgg>() }?;
    if !agg.finished {
        agg.close_key(true);
        agg.finished = true;
    }
    Some(agg)
}

fn totals_json(names: &[String], totals: &[Totals]) -> serde_json::Value {
    names
        .iter()
        .zip(totals)
        .map(|(name, t)| {
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
        .collect()
}

fn mb_s(v: i128) -> serde_json::Value {
    // Exact, as text: more than a double holds (ara_simulate casts it to numeric).
    serde_json::Value::String(v.to_string())
}

/// The replay's answer, by mode: `totals`: `[{"policy", "runs", "sized", "ooms_min", "ooms_max",
/// "at_cap", "requested_mb_s", "used_mb_s", "waste_mb_s"}, ...]` in the policies' order; `keys`:
/// `[{"definition_id", "command_hash", "totals": [the same per policy]}, ...]` for every key with
/// replayed runs; `answers`: `[{"run_id", "request": [per policy, NULL: no history], "raw": [...]},
/// ...]` in the order the runs came.
#[pg_extern(immutable, parallel_safe)]
fn ara_replay_final(mut state: Internal) -> Option<JsonB> {
    let agg = finished(&mut state)?;
    let out = match agg.mode {
        Mode::Totals => totals_json(&agg.names, &agg.replayer.totals()),
        Mode::Keys | Mode::Definitions => agg
            .per_key
            .iter()
            .map(|(d, h, t)| {
                serde_json::json!({
                    "definition_id": d,
                    "command_hash": h,
                    "totals": totals_json(&agg.names, t),
                })
            })
            .collect(),
        Mode::Answers => agg
            .replayer
            .answers()?
            .iter()
            .map(|(id, a)| {
                serde_json::json!({
                    "run_id": agg.run_ids[*id as usize],
                    "request": a.iter().map(|s| s.map(|s| s.request)).collect::<Vec<_>>(),
                    "raw": a.iter().map(|s| s.map(|s| s.raw)).collect::<Vec<_>>(),
                })
            })
            .collect(),
    };
    Some(JsonB(out))
}

extension_sql!(
    r#"
ALTER FUNCTION @extschema@.ara_replay_trans(internal, text, text, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_replay_final(internal) SET SCHEMA ara_internal;
CREATE AGGREGATE ara_internal.ara_replay(mode text, policies text, definition_id text, command_hash text,
    queued_at_us bigint, window_from_us bigint[], memory bigint, oom boolean, peak bigint, succeeded boolean,
    runtime_s bigint, replayed boolean, run_id text) (
    SFUNC = ara_internal.ara_replay_trans, STYPE = internal,
    FINALFUNC = ara_internal.ara_replay_final, FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON FUNCTION ara_internal.ara_replay_trans(internal, text, text, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) IS
'pg_ara internal: transition function of ara_internal.ara_replay, behind ara_simulate(); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_replay_final(internal) IS
'pg_ara internal: final function of ara_internal.ara_replay (jsonb by mode: totals, keys, answers); not for direct use.';
COMMENT ON AGGREGATE ara_internal.ara_replay(text, text, text, text, bigint, bigint[], bigint, boolean, bigint, boolean, bigint, boolean, text) IS
'pg_ara internal: replays sizing policies over runs given ORDER BY definition, hash, queued_at, run_id, in one pass; mode totals (per policy), keys (per policy and key) or answers (per run). Used by ara_simulate(), ara_waste() and ara_simulate_runs().';
"#,
    name = "simulate_aggregates",
    requires = ["private_schema", ara_replay_trans, ara_replay_final]
);
