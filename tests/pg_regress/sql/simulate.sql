-- ara_simulate(): the baseline reproduces ara_resources() run by run; every policy's requests equal
-- the built-in SQL that states it (percentile_disc over the same window) on hundreds of keys; the
-- totals equal plain SQL over those requests; errors. The session's time zone has a DST change
-- inside the data (2026-11-01 in PST8PDT): windows are "queued_at - lookback" as PostgreSQL
-- computes it there.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA simulate;
SET search_path = simulate, public;
SET timezone = 'PST8PDT';

CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
  command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
  engine varchar NOT NULL DEFAULT 'eks', status varchar, queued_at timestamptz, started_at timestamptz,
  finished_at timestamptz, max_memory_used integer, max_cpu_used integer);
-- 6,000 runs over 14 days, 37 definitions x 11 commands (~400 keys), some unhashed, some NULL requests
-- or peaks, OOMs by exit code or reason, another engine, several runs queued at the same instant.
INSERT INTO task (run_id, definition_id, command, command_hash, memory, cpu, exit_code, exit_reason, engine,
                  queued_at, started_at, finished_at, max_memory_used)
SELECT 'r' || lpad(i::text, 6, '0'), 'def-' || (i % 37), 'cmd ' || (i % 11),
       CASE WHEN i % 97 = 0 THEN NULL ELSE md5('cmd ' || (i % 11)) END,
       CASE WHEN i % 53 = 0 THEN NULL ELSE 512 + (hashint4(i) & 32767) END, 500,
       CASE WHEN hashint4(i * 7) % 5 = 0 THEN 137 WHEN hashint4(i * 3) % 9 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 41 = 0 THEN 'OOMKilled' END,
       CASE WHEN i % 29 = 0 THEN 'eks-spark' ELSE 'eks' END,
       q, q + interval '1 minute', q + interval '1 minute' + ((hashint4(i * 5) & 4095) || ' seconds')::interval,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 256 + (hashint4(i * 11) & 16383) END
FROM generate_series(1, 6000) i,
LATERAL (SELECT timestamptz '2026-10-25 00:00+00' + ((i / 3) * 401 % 1209600) * interval '1 second' AS q) qq;
SELECT ara_index_sql('simulate.task') \gexec
ANALYZE task;
SELECT count(*) AS runs, count(DISTINCT (definition_id, command_hash)) AS keys,
       count(*) - count(DISTINCT (definition_id, command_hash, queued_at)) AS sharing_an_instant
FROM task;

-- 1. The baseline is ara_resources() as of each run's queue time, run by run.
SELECT count(*) AS runs, count(s.memory) AS sized,
       count(*) FILTER (WHERE s.memory IS DISTINCT FROM r.memory OR s.raw_memory IS DISTINCT FROM r.raw_memory) AS different
FROM ara_simulate_runs(since => '2026-10-28 00:00+00') s
JOIN task t ON t.run_id = s.run_id
CROSS JOIN LATERAL ara_resources(t.definition_id, t.command_hash, as_of => t.queued_at, tbl => 'simulate.task') r
WHERE s.policy = 'baseline (Flotilla)';
-- Exactly the eks runs queued since then are replayed.
SELECT (SELECT count(*) FROM ara_simulate_runs(since => '2026-10-28 00:00+00') WHERE policy = 'baseline (Flotilla)')
     = (SELECT count(*) FROM task WHERE engine = 'eks' AND queued_at >= '2026-10-28 00:00+00') AS replayed_as_selected;

-- 2. Policies against the built-in SQL that states them.
CREATE TABLE policies AS SELECT $p$[
  {"name": "oom p50 x1.3, 5 runs, 1 day", "percentile": 0.5, "multiplier": 1.3, "max_runs": 5, "lookback": "1 day"},
  {"name": "peaks p90 x1.15, 7 days", "feed": "peaks", "percentile": 0.9, "multiplier": 1.15, "lookback": "7 days", "min_memory": null},
  {"name": "both p95 x1.2, OOM x1.5, 2 days, 10 peaks", "feed": "both", "percentile": 0.95, "multiplier": 1.2,
   "oom_multiplier": 1.5, "lookback": "2 days", "max_runs": 10, "max_memory": 20000}
]$p$::jsonb AS p;
CREATE TABLE answers AS
SELECT s.*, t.definition_id, t.command_hash, t.queued_at
FROM ara_simulate_runs(policies => (SELECT p FROM policies), tbl => 'simulate.task') s JOIN task t USING (run_id);
-- The built-in: OOM runs' requests (most recent first, LIMIT), successful runs' peaks, the same
-- window [queued_at - lookback, queued_at), clamps as given (none without history: greatest() and
-- least() would turn a NULL into the bound).
CREATE FUNCTION pg_temp.clamp(v bigint, lo bigint, hi bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
AS 'SELECT CASE WHEN v IS NOT NULL THEN greatest(lo, least(hi, v)) END';
CREATE VIEW builtin AS
SELECT a.run_id, a.policy, a.memory AS replayed,
       CASE a.policy
         WHEN 'oom p50 x1.3, 5 runs, 1 day' THEN pg_temp.clamp((
             SELECT cast(percentile_disc(0.5) WITHIN GROUP (ORDER BY w.memory) * 1.3 AS bigint)
               FROM (SELECT o.memory FROM task o
                      WHERE o.definition_id = a.definition_id AND o.command_hash = a.command_hash AND o.engine = 'eks'
                        AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled')
                        AND o.queued_at >= a.queued_at - interval '1 day' AND o.queued_at < a.queued_at
                      ORDER BY o.queued_at DESC, o.run_id DESC LIMIT 5) w), 512, 350000)
         WHEN 'peaks p90 x1.15, 7 days' THEN pg_temp.clamp((
             SELECT cast(percentile_disc(0.9) WITHIN GROUP (ORDER BY o.max_memory_used) * 1.15 AS bigint)
               FROM task o
              WHERE o.definition_id = a.definition_id AND o.command_hash = a.command_hash AND o.engine = 'eks'
                AND o.exit_code = 0 AND o.exit_reason IS DISTINCT FROM 'OOMKilled' AND o.max_memory_used IS NOT NULL
                AND o.queued_at >= a.queued_at - interval '7 days' AND o.queued_at < a.queued_at), NULL, 350000)
         ELSE pg_temp.clamp((
             SELECT greatest(
                 (SELECT cast(percentile_disc(0.95) WITHIN GROUP (ORDER BY w.max_memory_used) * 1.2 AS bigint)
                    FROM (SELECT o.max_memory_used FROM task o
                           WHERE o.definition_id = a.definition_id AND o.command_hash = a.command_hash AND o.engine = 'eks'
                             AND o.exit_code = 0 AND o.exit_reason IS DISTINCT FROM 'OOMKilled' AND o.max_memory_used IS NOT NULL
                             AND o.queued_at >= a.queued_at - interval '2 days' AND o.queued_at < a.queued_at
                           ORDER BY o.queued_at DESC, o.run_id DESC LIMIT 10) w),
                 (SELECT cast(max(w.memory) * 1.5 AS bigint)
                    FROM (SELECT o.memory FROM task o
                           WHERE o.definition_id = a.definition_id AND o.command_hash = a.command_hash AND o.engine = 'eks'
                             AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled')
                             AND o.queued_at >= a.queued_at - interval '2 days' AND o.queued_at < a.queued_at
                           ORDER BY o.queued_at DESC, o.run_id DESC LIMIT 30) w))), 512, 20000)
       END AS expected
FROM answers a WHERE a.policy <> 'baseline (Flotilla)';
SELECT policy, count(*) AS runs, count(replayed) AS sized, count(DISTINCT (definition_id, command_hash)) AS keys,
       count(*) FILTER (WHERE replayed IS DISTINCT FROM expected) AS different
FROM builtin JOIN answers USING (run_id, policy) GROUP BY policy ORDER BY policy;

-- 3. The totals: plain SQL over the replayed requests and the runs' outcomes and runtimes.
WITH a AS (
    SELECT a.policy, coalesce(a.memory, t.memory) AS req, t.memory AS died_at,
           coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
           CASE WHEN t.exit_code = 0 THEN t.max_memory_used END AS peak,
           extract(epoch FROM t.finished_at - t.started_at)::bigint AS secs, a.memory IS NOT NULL AS sized
      FROM ara_simulate_runs(policies => (SELECT p FROM policies), tbl => 'simulate.task') a JOIN task t USING (run_id)),
o AS (SELECT a.*, CASE WHEN oom AND died_at IS NOT NULL THEN died_at WHEN NOT oom THEN peak END AS used FROM a),
plain AS (
    SELECT policy, count(*) AS runs, count(*) FILTER (WHERE sized) AS runs_sized,
           count(*) FILTER (WHERE (NOT oom AND req < peak) OR (oom AND req <= died_at)) AS ooms_min,
           count(*) FILTER (WHERE (NOT oom AND req < peak) OR (oom AND died_at IS NOT NULL)) AS ooms_max,
           count(*) FILTER (WHERE req >= CASE policy WHEN 'both p95 x1.2, OOM x1.5, 2 days, 10 peaks' THEN 20000 ELSE 350000 END) AS runs_at_cap,
           round(sum(req::numeric * secs) / (1024 * 3600), 1) AS requested,
           round(sum(used::numeric * secs) / (1024 * 3600), 1) AS used,
           round(sum(greatest(req - used, 0)::numeric * secs) / (1024 * 3600), 1) AS waste
      FROM o GROUP BY policy)
SELECT s.policy, s.runs = p.runs AND s.runs_sized = p.runs_sized AND s.ooms_min = p.ooms_min AND s.ooms_max = p.ooms_max
       AND s.runs_at_cap = p.runs_at_cap AND s.requested_gb_hours = p.requested AND s.used_gb_hours = p.used
       AND s.waste_gb_hours = p.waste AS equal, s.runs, s.ooms_min <= s.ooms_max AS bounds_ordered
FROM ara_simulate(policies => (SELECT p FROM policies), tbl => 'simulate.task') s JOIN plain p USING (policy)
ORDER BY s.policy;

-- The default grid: the baseline first, then 11; the baseline's own comparison columns are 0 / 1.
SELECT count(*) AS policies, (array_agg(policy))[1] AS first,
       bool_and(runs = (SELECT count(*) FROM task WHERE engine = 'eks')) AS all_replay_the_same_runs
FROM ara_simulate(tbl => 'simulate.task');
SELECT policy, ooms_min_vs_baseline, ooms_max_vs_baseline, requested_vs_baseline, waste_vs_baseline,
       runs_sized_vs_baseline, runs_at_cap_vs_baseline
FROM ara_simulate(tbl => 'simulate.task') LIMIT 1;
-- Every policy's comparison columns against the baseline row's own figures.
SELECT count(*) AS policies,
       count(*) FILTER (WHERE (s.ooms_min_vs_baseline, s.ooms_max_vs_baseline, s.runs_sized_vs_baseline,
                               s.runs_at_cap_vs_baseline, s.requested_vs_baseline, s.waste_vs_baseline)
                              IS DISTINCT FROM (s.ooms_min - b.ooms_min, s.ooms_max - b.ooms_max, s.runs_sized - b.runs_sized,
                                                s.runs_at_cap - b.runs_at_cap,
                                                round(s.requested_gb_hours / nullif(b.requested_gb_hours, 0), 3),
                                                round(s.waste_gb_hours / nullif(b.waste_gb_hours, 0), 3))) AS different,
       count(*) FILTER (WHERE s.runs_sized_vs_baseline <> 0) AS sizing_differently
FROM ara_simulate(tbl => 'simulate.task') s
CROSS JOIN (SELECT * FROM ara_simulate(tbl => 'simulate.task') LIMIT 1) b;
-- A period with no runs: every policy, all zero.
SELECT count(*), sum(runs) FROM ara_simulate(since => '2030-01-01', tbl => 'simulate.task');

-- 5. ara_waste(): per key, plain SQL over the runs and their right-sized requests (the 'both' replay,
-- whose requests equal the built-in SQL above); worst first; top.
CREATE TABLE waste AS
SELECT * FROM ara_waste('2026-10-28 00:00+00', '2026-11-05 00:00+00', 'simulate.task', 0.9, 1.1, '2 days', 1.5, top => 1000);
WITH s AS (
    SELECT run_id, memory AS rs FROM ara_simulate_runs('2026-10-28 00:00+00', '2026-11-05 00:00+00',
        '[{"name": "rs", "feed": "both", "percentile": 0.9, "multiplier": 1.1, "lookback": "2 days", "oom_multiplier": 1.5}]',
        'simulate.task') WHERE policy = 'rs'),
r AS (
    SELECT t.definition_id::text AS d, t.command_hash::text AS h, t.memory::bigint AS m, coalesce(s.rs, t.memory) AS rs,
           coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
           CASE WHEN t.exit_code = 0 THEN t.max_memory_used END AS peak,
           extract(epoch FROM t.finished_at - t.started_at) AS secs
      FROM s JOIN task t USING (run_id)),
u AS (SELECT r.*, CASE WHEN oom THEN m WHEN peak IS NOT NULL THEN peak END AS used FROM r),
plain AS (
    SELECT d, h, count(*) AS runs, coalesce(round(sum(m * secs) / 3686400, 1), 0) AS requested,
           coalesce(round(sum(used * secs) / 3686400, 1), 0) AS used,
           coalesce(round(sum(greatest(m - used, 0) * secs) / 3686400, 1), 0) AS waste,
           coalesce(round(sum(rs * secs) / 3686400, 1), 0) AS right_sized,
           count(*) FILTER (WHERE (NOT oom AND rs < peak) OR (oom AND rs <= m)) AS ooms_min
      FROM u GROUP BY d, h)
SELECT count(*) AS keys, count(*) FILTER (WHERE w.runs IS NULL OR p.runs IS NULL) AS unmatched,
       count(*) FILTER (WHERE (w.runs, w.requested_gb_hours, w.used_gb_hours, w.waste_gb_hours, w.right_sized_gb_hours,
                               w.saved_gb_hours, w.right_sized_ooms_min)
                              IS DISTINCT FROM (p.runs, p.requested, p.used, p.waste, p.right_sized,
                                                p.requested - p.right_sized, p.ooms_min)) AS different,
       sum(w.runs) AS runs
FROM waste w FULL JOIN plain p ON coalesce(p.d, '') = coalesce(w.definition_id, '') AND coalesce(p.h, '') = coalesce(w.command_hash, '');
SELECT bool_and(waste_gb_hours >= next_waste) AS worst_first, max(length(bar)) AS longest_bar,
       bool_and(waste_share BETWEEN 0 AND 1) AS shares
FROM (SELECT waste_gb_hours, waste_share, bar, lead(waste_gb_hours, 1, 0) OVER () AS next_waste FROM waste) x;
SELECT count(*) AS top_3 FROM ara_waste('2026-10-28 00:00+00', '2026-11-05 00:00+00', 'simulate.task', top => 3);

-- 6. Right-sizing as a lookup policy. ara_resources(policy => 'right_size') answers, run by run,
-- what the replay's feed 'both' (p95 of the peaks x 1.2, OOM floor x 1.75, 7 days) answered, which
-- section 2 checked against the built-in SQL; its evidence and its cpu against the built-in too.
UPDATE task SET max_cpu_used = CASE WHEN substr(run_id, 2)::int % 17 = 0 THEN NULL
                                    ELSE 100 + (hashint4(substr(run_id, 2)::int * 13) & 2047) END;
CREATE TABLE rs AS
SELECT s.run_id, s.memory AS replayed, s.raw_memory AS replayed_raw, t.definition_id, t.command_hash, t.queued_at, r.*
FROM ara_simulate_runs('2026-10-28 00:00+00', 'infinity',
        '[{"name": "rs", "feed": "both", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days", "oom_multiplier": 1.75}]',
        'simulate.task') s
JOIN task t USING (run_id)
CROSS JOIN LATERAL ara_resources(t.definition_id, t.command_hash, t.queued_at, 'simulate.task', policy => 'right_size') r
WHERE s.policy = 'rs';
SELECT count(*) AS runs, count(memory) AS sized, count(*) FILTER (WHERE peak_runs > 0 AND oom_runs > 0) AS both_feeds,
       count(*) FILTER (WHERE raw_memory = oom_floor AND oom_floor > round(peak_memory * 1.2)) AS floor_won,
       count(*) FILTER (WHERE replayed IS DISTINCT FROM memory OR replayed_raw IS DISTINCT FROM raw_memory) AS different,
       bool_and(sized_by = 'right_size') AS all_right_size
FROM rs;
SELECT count(*) AS runs,
       count(*) FILTER (WHERE (rs.peak_runs, rs.peak_memory, rs.oom_runs, rs.oom_floor)
                              IS DISTINCT FROM (p.n, p.pct, o.n, o.floor)) AS evidence_different,
       count(*) FILTER (WHERE rs.raw_cpu IS DISTINCT FROM greatest(p.cpu, o.floor_cpu)
                           OR rs.cpu IS DISTINCT FROM CASE WHEN rs.raw_cpu IS NOT NULL
                                   THEN ((greatest(256, least(60000, rs.raw_cpu)) + 125) / 250) * 250 END) AS cpu_different
FROM rs
CROSS JOIN LATERAL (
    SELECT count(*)::int AS n, percentile_disc(0.95) WITHIN GROUP (ORDER BY o.max_memory_used)::bigint AS pct,
           cast(percentile_disc(0.95) WITHIN GROUP (ORDER BY o.max_cpu_used) * 1.2 AS bigint) AS cpu
      FROM task o
     WHERE o.definition_id = rs.definition_id AND o.command_hash = rs.command_hash AND o.engine = 'eks'
       AND o.exit_code = 0 AND o.exit_reason IS DISTINCT FROM 'OOMKilled' AND o.max_memory_used IS NOT NULL
       AND o.queued_at >= rs.queued_at - interval '7 days' AND o.queued_at < rs.queued_at) p
CROSS JOIN LATERAL (
    SELECT count(*)::int AS n, cast(max(w.memory) * 1.75 AS bigint) AS floor, cast(max(w.cpu) * 1.25 AS bigint) AS floor_cpu
      FROM (SELECT o.memory, o.cpu FROM task o
             WHERE o.definition_id = rs.definition_id AND o.command_hash = rs.command_hash AND o.engine = 'eks'
               AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled')
               AND o.queued_at >= rs.queued_at - interval '7 days' AND o.queued_at < rs.queued_at
             ORDER BY o.queued_at DESC, o.run_id DESC LIMIT 30) w) o
WHERE rs.command_hash IS NOT NULL;
-- Flotilla's answers for one definition, before any choice is made (no ara_sizing row: 'oom').
CREATE TABLE oom_answers AS
SELECT rs.run_id, a.sized_by, a.memory, a.raw_memory, a.oom_runs
FROM rs CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task') a
WHERE rs.definition_id = 'def-3';

-- Chosen per table, then per definition, without saying it in the call.
SELECT ara_set_policy('simulate.task', 'right_size');
-- Once chosen, ara_index_sql() also gives the peaks' index (the OOM one exists: skipped).
SELECT ara_index_sql('simulate.task');
SELECT ara_index_sql('simulate.task') \gexec
ANALYZE task;
SELECT ara_set_policy('simulate.task', 'right_size');
SELECT count(*) FILTER (WHERE (a.memory, a.raw_memory, a.sized_by) IS DISTINCT FROM (rs.memory, rs.raw_memory, rs.sized_by)) AS different
FROM rs CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task') a;
SELECT ara_set_policy('simulate.task', 'oom', ARRAY['def-1', 'def-2']);
SELECT ara_set_policy('simulate.task', 'right_size', ARRAY['def-2'], peak_percentile => 0.5, headroom => 1.1, peak_lookback => '2 days');
SELECT definition_id, policy, peak_percentile, headroom, peak_lookback FROM ara_sizing
WHERE table_name = 'simulate.task'::regclass ORDER BY definition_id NULLS FIRST;
SELECT rs.definition_id, a.sized_by, count(*) AS runs,
       count(*) FILTER (WHERE (a.memory, a.raw_memory, a.peak_runs, a.peak_memory, a.oom_floor)
           IS DISTINCT FROM (x.memory, x.raw_memory, x.peak_runs, x.peak_memory, x.oom_floor)) AS different_from_explicit
FROM rs
CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task') a
CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task',
    policy => CASE rs.definition_id WHEN 'def-1' THEN 'oom' ELSE 'right_size' END,
    peak_percentile => CASE rs.definition_id WHEN 'def-2' THEN 0.5 ELSE 0.95 END,
    headroom => CASE rs.definition_id WHEN 'def-2' THEN 1.1 ELSE 1.2 END,
    peak_lookback => CASE rs.definition_id WHEN 'def-2' THEN interval '2 days' ELSE interval '7 days' END) x
WHERE rs.definition_id IN ('def-1', 'def-2', 'def-3')
GROUP BY 1, 2 ORDER BY 1;
-- The caller's choice wins over the table's: def-3 is right-sized by the table, policy => 'oom' is Flotilla's.
SELECT count(*) AS runs, count(*) FILTER (WHERE (a.sized_by, a.memory, a.raw_memory, a.oom_runs)
                                          IS DISTINCT FROM (b.sized_by, b.memory, b.raw_memory, b.oom_runs)) AS different,
       count(*) FILTER (WHERE a.memory IS DISTINCT FROM t.memory) AS different_under_the_table_choice
FROM rs JOIN oom_answers b USING (run_id)
CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task', policy => 'oom') a
CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task') t;
-- ara_explain says which policy sized the run, where that choice comes from, and why.
SELECT section, memory, detail FROM ara_explain((SELECT run_id FROM rs WHERE definition_id = 'def-3' AND peak_runs > 0
                                                  AND oom_runs > 0 ORDER BY queued_at DESC, run_id LIMIT 1), 'simulate.task')
WHERE section <> 'run' AND section NOT LIKE 'oom%';
SELECT section, detail FROM ara_explain((SELECT run_id FROM rs WHERE definition_id = 'def-2' AND peak_runs > 0
                                          ORDER BY queued_at DESC, run_id LIMIT 1), 'simulate.task')
WHERE section LIKE 'estimate%';
SELECT section, detail FROM ara_explain((SELECT run_id FROM rs WHERE definition_id = 'def-1' ORDER BY queued_at DESC, run_id LIMIT 1),
                                        'simulate.task', policy => 'right_size')
WHERE section LIKE 'estimate%';
-- ara_growth names the peaks and the floor of a right-sized step.
SELECT count(*) AS steps, count(*) FILTER (WHERE step LIKE 'right_size: % peaks (p %), OOM floor % -> %') AS named
FROM ara_growth('def-3', (SELECT command_hash FROM rs WHERE definition_id = 'def-3' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1),
                'simulate.task');
SELECT run, memory_mb, ara_memory_mb, step
FROM ara_growth('def-3', (SELECT command_hash FROM rs WHERE definition_id = 'def-3' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1),
                'simulate.task')
ORDER BY queued_at DESC, run LIMIT 3;
-- Back to Flotilla's for the whole table: every per-definition choice goes.
SELECT ara_set_policy('simulate.task', 'oom');
SELECT count(*) AS rows_left FROM ara_sizing WHERE table_name = 'simulate.task'::regclass;
SELECT DISTINCT a.sized_by FROM rs CROSS JOIN LATERAL ara_resources(rs.definition_id, rs.command_hash, rs.queued_at, 'simulate.task') a;
-- Who may choose: TRIGGER on the table, as ara_set_key; a reader sees the choice.
DROP ROLE IF EXISTS ara_regress_sizing_reader;
CREATE ROLE ara_regress_sizing_reader;
GRANT USAGE ON SCHEMA simulate TO ara_regress_sizing_reader;
GRANT SELECT ON task TO ara_regress_sizing_reader;
SELECT ara_set_policy('simulate.task', 'right_size', ARRAY['def-4']);
SET ROLE ara_regress_sizing_reader;
SELECT regress_util.sqlstate_of($$SELECT ara_set_policy('simulate.task', 'right_size')$$) AS reader_sets;
SELECT definition_id, policy FROM ara_sizing;
SELECT sized_by FROM ara_resources('def-4', md5('cmd 4'), tbl => 'simulate.task');
RESET ROLE;
SELECT ara_set_policy('simulate.task', 'oom');
-- A dropped table's choice goes at the next ara_set_policy() (its oid could be reused).
CREATE TABLE gone (LIKE task);
SELECT ara_set_policy('simulate.gone', 'right_size') IS NOT NULL AS set;
DROP TABLE gone;
SELECT count(*) AS dangling FROM ara_sizing s WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.table_name);
SELECT ara_set_policy('simulate.task', 'oom') IS NOT NULL AS set;
SELECT count(*) AS dangling FROM ara_sizing s WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.table_name);
REVOKE ALL ON task FROM ara_regress_sizing_reader;
REVOKE ALL ON SCHEMA simulate FROM ara_regress_sizing_reader;
DROP ROLE ara_regress_sizing_reader;

-- 4. Errors.
\set VERBOSITY default
-- (No CONTEXT lines: PL/pgSQL numbers a block's DECLARE lines differently from 15 on.)
\set SHOW_CONTEXT never
SELECT * FROM ara_simulate(policies => '{"name": "x"}', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "percentil": 0.9}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "cpu"}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "percentile": 1.5}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "lookback": "1 month"}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "lookback": "soon"}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "max_runs": 0}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "multiplier": 0}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "min_memory": 9, "max_memory": 8}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x"}, {"name": "x"}]', tbl => 'simulate.task');
SELECT * FROM ara_simulate(since => NULL, tbl => 'simulate.task');
SELECT * FROM ara_waste(percentile => 2, tbl => 'simulate.task');
SELECT * FROM ara_waste(headroom => 0, tbl => 'simulate.task');
SELECT * FROM ara_waste(lookback => '2 months', tbl => 'simulate.task');
SELECT * FROM ara_waste(top => 0, tbl => 'simulate.task');
SELECT * FROM ara_waste(since => NULL, tbl => 'simulate.task');
CREATE TABLE no_peaks (run_id text, definition_id text, command text, command_hash text, memory int, exit_code int,
                       exit_reason text, engine text, queued_at timestamptz);
SELECT * FROM ara_simulate(tbl => 'simulate.no_peaks');
SELECT * FROM ara_waste(tbl => 'simulate.no_peaks');
SELECT ara_set_policy('simulate.no_peaks', 'right_size');
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 'simulate.no_peaks', policy => 'right_size')$$);
SELECT ara_set_policy('simulate.task', 'fastest');
SELECT ara_set_policy('simulate.task', NULL);
SELECT ara_set_policy('simulate.task', 'right_size', peak_percentile => 1.5);
SELECT ara_set_policy('simulate.task', 'right_size', headroom => 0);
SELECT ara_set_policy('simulate.task', 'right_size', peak_lookback => '-1 day');
-- A NULL parameter is the policy's default (since 0.8.0).
SELECT ara_set_policy('simulate.task', 'right_size', peak_percentile => NULL);
SELECT ara_set_policy('simulate.task', 'right_size', ARRAY['def-1', NULL]);
SELECT * FROM ara_resources('d', 'h', tbl => 'simulate.task', policy => 'biggest');
SELECT * FROM ara_resources('d', 'h', tbl => 'simulate.task', policy => 'right_size', peak_percentile => -1);
SELECT * FROM ara_resources('d', 'h', tbl => 'simulate.task', policy => 'right_size', headroom => 0);
SELECT * FROM ara_explain('r000001', 'simulate.task', policy => 'best');
-- The aggregate itself, misused: policies that do not parse, an unknown mode, rows out of order.
SELECT ara_internal.ara_replay('totals', 'not json', 'd', 'h', 1, ARRAY[0], 1, false, 1, true, 1, true, 'r');
SELECT ara_internal.ara_replay('sums', '[]', 'd', 'h', 1, ARRAY[0], 1, false, 1, true, 1, true, 'r');
SELECT ara_internal.ara_replay('totals', ara_internal.ara_policies_json(NULL), 'd', 'h', q, ARRAY[q, q, q], 1, true,
                               1, false, 1, true, 'r' ORDER BY q DESC)
FROM generate_series(1, 3) q;
\set VERBOSITY terse
\set SHOW_CONTEXT errors

DROP SCHEMA simulate CASCADE;
RESET timezone;
RESET search_path;
