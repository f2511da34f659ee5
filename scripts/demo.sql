-- pg_ara demo: the ARA command_hash bug on a realistic Flotilla history, investigated and fixed
-- inside the database. Run by scripts/demo.sh (psql variable runs: the history's size).
\pset footer off
\set ON_ERROR_STOP 1
SET timezone = 'UTC';
SET client_min_messages = notice;
CREATE EXTENSION pg_ara;

\echo
\echo '== 1. command_hash(): the hash of the command, equal to md5() and to Go''s md5.Sum'
SELECT command_hash('Calibrate Psale Prod / Calibrate Psale') AS report_vector,
       command_hash('Calibrate Psale Prod / Calibrate Psale') = md5('Calibrate Psale Prod / Calibrate Psale') AS equals_md5;

\echo
\echo '== 2. A month of Flotilla history, written by the buggy service (command_hash = md5(description))'
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\set QUIET on
\ir demo_history.sql
\set QUIET off
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 1) AS generated_in_seconds, count(*) AS runs, count(DISTINCT definition_id) AS definitions,
       count(*) FILTER (WHERE exit_code = 137 OR exit_reason = 'OOMKilled') AS oom_runs,
       min(queued_at) AS first_queued_at, max(queued_at) AS last_queued_at
FROM task;

\echo
\echo '== 3. The on-call view: the report''s "impact by the numbers", from one function'
SELECT * FROM ara_impact();
CREATE TEMP TABLE impact_before AS SELECT * FROM ara_impact();

\echo
\echo '-- hashes shared by different commands (worst first): ARA mixes their OOM histories'
SELECT definition_id, left(command_hash, 12) || '…' AS command_hash, distinct_commands, oom_runs, total_runs,
       max_memory_mb, example_commands[1] AS example_command
FROM ara_collisions() LIMIT 5;

\echo
\echo '-- definitions whose runs have no hash at all: ARA never helps them'
SELECT * FROM ara_null_hashes() LIMIT 5;

\echo
\echo '== 4. The smoking gun: why did the Nov 24 run get 3136 MB?'
\echo '-- (as of its own queue time: the OOM runs its lookup saw, and what its own command would have had)'
SELECT section, run, queued_at, memory, same_command, detail FROM ara_explain('eks-0d33-a443-43b9-45f9-04b780868880');
CREATE TEMP TABLE lookup_before AS
SELECT * FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880', as_of => '2025-11-24 15:10:01');

\echo
\echo '== 5. Compounding to the cap: one description, a new command every day, every run OOM-killed'
SELECT run, queued_at, memory_mb, oom, ara_memory_mb, step, bar
FROM ara_growth('sf-base_pytorch2-24__5-py3-ceef4c9e-6ebc-41e5-6cef-a334aed6e829', md5('Train ranking model'));

\echo
\echo '== 6. The fix: the trigger on the table, the lookup index, then the existing rows repaired in batches'
SELECT ara_enable('task');
SELECT ara_index_sql('task') AS statement \gexec
CALL ara_backfill('task', batch_size => 25000);

\echo
\echo '== 7. After: the same numbers'
SELECT * FROM ara_impact();

\echo
\echo '-- the Nov 24 run, as Flotilla would look it up (by run id, at its queue time), before and after:'
SELECT 'before (description hash)' AS lookup, * FROM lookup_before
UNION ALL
SELECT 'after (command hash)', * FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880', as_of => '2025-11-24 15:10:01');
\echo '-- after: no OOM history for this command, so the run keeps its defaults instead of inheriting 3136 MB.'
SELECT section, run, memory, detail FROM ara_explain('eks-0d33-a443-43b9-45f9-04b780868880');

\echo
\echo '-- the notebook definition that never had a hash now has one per command, with its own OOM history:'
SELECT left(t.command, 60) AS command, r.oom_runs, r.memory AS ara_memory_mb
FROM (SELECT DISTINCT ON (command) command, command_hash, definition_id FROM task
      WHERE definition_id = 'sf-base_python-3_11-7449eda4-b8b3-4146-77c5-a47f8caac81b'
      ORDER BY command LIMIT 3) t
CROSS JOIN LATERAL ara_resources(t.definition_id, t.command_hash, as_of => '2025-11-24 15:10:01', lookback => '30 days') r;

\echo
\echo '== 8. Where pg_ara is enabled'
SELECT table_name, command_column, hash_column, description_column, estimated_rows, rows_out_of_line
FROM ara_status(with_counts => true);

\echo
\echo '== 9. Command fingerprints: should the daily job share history across its dates? (opt-in, per definition)'
\echo '-- before switching, the preview: what merges, who gains history, and where memory differs too much'
SELECT definition_id, fingerprint, distinct_commands, runs, oom_runs, runs_gaining_history, memory_spread, warning
FROM ara_fingerprint_preview(definitions => ARRAY['sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
                                                  'data-platform-d834291f-d984-408e-5da4-8646f7e2f5b7']);
SELECT ara_set_key('task', 'fingerprint', definitions => ARRAY['sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd']);
CALL ara_backfill('task', definitions => ARRAY['sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd']);
\echo '-- the Nov 24 run under both keys: its exact command has no history; its fingerprint has the job''s own OOMs'
SELECT k.key, left(k.hash, 12) || '…' AS key_hash, r.oom_runs, r.memory, r.cpu
FROM (SELECT 'command' AS key, command_hash(command) AS hash, definition_id, queued_at FROM task
       WHERE run_id = 'eks-0d33-a443-43b9-45f9-04b780868880'
      UNION ALL
      SELECT 'fingerprint', command_fingerprint_hash(command, description), definition_id, queued_at FROM task
       WHERE run_id = 'eks-0d33-a443-43b9-45f9-04b780868880') k
CROSS JOIN LATERAL ara_resources(k.definition_id, k.hash, k.queued_at) r;
\echo '-- the service asks for the key before inserting, exactly as the trigger stores it:'
SELECT ara_key('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
               'python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251124',
               'Calibrate Psale Prod / Calibrate Psale') AS key_for_the_next_run,
       command_fingerprint('python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251124') AS its_fingerprint;

-- The demo checks its own story: if any of this is false, it fails (and so does the test suite).
DO $$
DECLARE
    b record;
    a record;
    before_lookup record;
    after_lookup record;
    fingerprint_lookup record;
BEGIN
    SELECT * INTO b FROM impact_before;
    SELECT * INTO a FROM ara_impact();
    SELECT * INTO before_lookup FROM lookup_before;
    SELECT r.* INTO after_lookup FROM task t
      CROSS JOIN LATERAL ara_resources(t.definition_id, command_hash(t.command), t.queued_at) r
     WHERE t.run_id = 'eks-0d33-a443-43b9-45f9-04b780868880';
    SELECT r.* INTO fingerprint_lookup FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880', as_of => '2025-11-24 15:10:01') r;
    IF NOT (b.runs_without_hash > 0 AND b.colliding_keys > 0 AND b.oom_runs_shared_across_commands > 0) THEN
        RAISE EXCEPTION 'demo check: the generated history does not show the bug: %', row_to_json(b);
    END IF;
    IF NOT (a.runs_without_hash = 0 AND a.runs_out_of_line = 0 AND a.colliding_keys = 0 AND a.total_runs = b.total_runs) THEN
        RAISE EXCEPTION 'demo check: after the fix: %', row_to_json(a);
    END IF;
    IF before_lookup.memory IS DISTINCT FROM 3136 OR before_lookup.oom_runs <> 3 OR after_lookup.memory IS NOT NULL THEN
        RAISE EXCEPTION 'demo check: the Nov 24 run: before %, after %', row_to_json(before_lookup), row_to_json(after_lookup);
    END IF;
    IF fingerprint_lookup.memory IS DISTINCT FROM 3136 OR (SELECT key FROM ara_status()) <> 'command'
       OR (SELECT fingerprint_definitions FROM ara_status()) <> ARRAY['sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd'] THEN
        RAISE EXCEPTION 'demo check: the daily job keyed by fingerprint: %', row_to_json(fingerprint_lookup);
    END IF;
    RAISE NOTICE 'demo checks passed: % runs; before: % without hash, % colliding keys; after: none; the Nov 24 run: 3136 MB -> no inherited history',
        a.total_runs, b.runs_without_hash, b.colliding_keys;
END $$;

\echo
\echo '== 10. A week after the fix: did memory requests change? (ara_compare, the report''s "watch for unexpected resource changes")'
\echo '-- the week after 2025-11-24 15:10 replayed: each run of the week before comes again 7 days later (dated'
\echo '-- commands a week on), its memory from ARA under the fixed key as of its queue time (ara_key + ara_resources),'
\echo '-- else its job''s usual request (its smallest); it is OOM-killed again when the run it replays was and it got'
\echo '-- no more memory than that one had. Definitions the fix does not touch (one command per description, every run'
\echo '-- with a description) are replayed as they ran: the generated history did not size them by ARA either. A'
\echo '-- replayed run keeps the runtime of the run it replays, and its peak (at most its new request).'
CREATE TEMP TABLE touched AS
SELECT DISTINCT definition_id FROM task WHERE queued_at < timestamptz '2025-11-24 15:10:01'
GROUP BY definition_id, description HAVING count(DISTINCT command) > 1 OR (description IS NULL AND count(command) > 0);
CREATE TEMP TABLE job_usual AS
SELECT definition_id, command_fingerprint(command) AS job, min(memory) AS usual
FROM task WHERE queued_at < timestamptz '2025-11-24 15:10:01'
GROUP BY 1, 2;
DO $$
BEGIN
    FOR day IN 0 .. 6 LOOP   -- a day at a time: each day's lookups see the OOMs of the days before
        INSERT INTO task (run_id, definition_id, command, description, memory, cpu, gpu, exit_code, exit_reason,
                          engine, status, queued_at, started_at, finished_at, max_memory_used, attempt_count, task_type)
        SELECT 'after-' || substr(md5(b.run_id), 1, 28), b.definition_id, n.command, b.description,
               m.memory, b.cpu, 0, CASE WHEN k.killed THEN 137 ELSE 0 END, CASE WHEN k.killed THEN 'OOMKilled' END,
               b.engine, 'STOPPED', n.queued_at, n.queued_at + (b.started_at - b.queued_at),
               n.queued_at + (b.finished_at - b.queued_at),
               CASE WHEN k.killed THEN m.memory ELSE least(b.max_memory_used, m.memory) END, 1, 'task'
        FROM task b
        CROSS JOIN LATERAL (SELECT b.queued_at + interval '7 days' AS queued_at,
                                   CASE WHEN b.command ~ '--(as_of|date) \d{8}'
                                        THEN regexp_replace(b.command, '(--(as_of|date) )(\d{8})',
                                                 '\1' || to_char(to_date(substring(b.command FROM '--(?:as_of|date) (\d{8})'), 'YYYYMMDD') + 7, 'YYYYMMDD'))
                                        ELSE b.command END AS command) n
        JOIN job_usual j ON j.definition_id = b.definition_id AND j.job IS NOT DISTINCT FROM command_fingerprint(b.command)
        CROSS JOIN LATERAL (SELECT CASE WHEN b.definition_id IN (SELECT definition_id FROM touched)
                                        THEN coalesce(r.memory, j.usual) ELSE b.memory END AS memory
                            FROM ara_resources(b.definition_id, ara_key(b.definition_id, n.command, b.description), n.queued_at) r) m
        CROSS JOIN LATERAL (SELECT (b.exit_code = 137 OR b.exit_reason = 'OOMKilled') IS TRUE AND m.memory <= b.memory AS killed) k
        WHERE b.queued_at >= timestamptz '2025-11-17 15:10:01' + day * interval '1 day'
          AND b.queued_at < timestamptz '2025-11-18 15:10:01' + day * interval '1 day'
          AND b.run_id NOT LIKE 'after-%';
    END LOOP;
END $$;
CREATE TEMP TABLE week_after AS SELECT * FROM ara_compare('2025-11-24 15:10:01') WITH ORDINALITY AS c;
\echo '-- per definition, the week before against the week after (worst change first):'
SELECT left(definition_id, 30) AS definition_id, runs_before AS runs_b, runs_after AS runs_a,
       oom_rate_before AS oom_b, oom_rate_after AS oom_a, median_memory_before AS median_mb_b, median_memory_after AS median_mb_a,
       p95_memory_before AS p95_mb_b, p95_memory_after AS p95_mb_a, at_cap_before AS cap_b, at_cap_after AS cap_a,
       gb_hours_before AS gbh_b, gb_hours_after AS gbh_a, bar
FROM week_after ORDER BY ordinality LIMIT 6;
\echo '-- the training chain no longer compounds to the cap (each new command starts from its own history); the EU'
\echo '-- ETL, no longer sharing the US command''s key, is sized by its own OOMs (its p95 request rises, fewer kills);'
\echo '-- definitions without a description, which ARA never sized, now are (after their own OOMs, x1.75).'
\echo '-- and over the whole table (what the exporter''s gauges would have shown for each week):'
SELECT CASE WHEN after_pivot THEN 'week after the fix' ELSE 'week before the fix' END AS period,
       sum(runs) AS runs, sum(at_cap) AS runs_at_cap, round(sum(gbh)) AS requested_gb_hours, sum(hist) AS runs_with_ara_history
FROM (SELECT false AS after_pivot, runs_before AS runs, at_cap_before AS at_cap, gb_hours_before AS gbh, with_history_before AS hist FROM week_after
      UNION ALL
      SELECT true, runs_after, at_cap_after, gb_hours_after, with_history_after FROM week_after) s
GROUP BY 1 ORDER BY 1 DESC;

DO $$
DECLARE
    chain record;
    total record;
BEGIN
    SELECT * INTO chain FROM week_after
     WHERE definition_id = 'sf-base_pytorch2-24__5-py3-ceef4c9e-6ebc-41e5-6cef-a334aed6e829';
    SELECT sum(at_cap_before) AS cap_b, sum(at_cap_after) AS cap_a, sum(gb_hours_before) AS gbh_b, sum(gb_hours_after) AS gbh_a,
           sum(runs_before) AS runs_b, sum(runs_after) AS runs_a
      INTO total FROM week_after;
    -- The chain no longer compounds to the cap and is the largest change; the EU ETL, no longer
    -- sharing the US command's key, gets memory from its own OOMs (a rise the report asks to watch).
    IF NOT (chain.at_cap_before > 0 AND chain.at_cap_after = 0 AND chain.memory_change < 0.1
            AND chain.ordinality = 1
            AND (SELECT c.p95_memory_after > c.p95_memory_before FROM week_after c
                  WHERE c.definition_id = 'data-platform-d834291f-d984-408e-5da4-8646f7e2f5b7')
            AND total.cap_a = 0 AND total.runs_a = total.runs_b + 1) THEN
        RAISE EXCEPTION 'demo check: the week after the fix: the chain %, all %', row_to_json(chain), row_to_json(total);
    END IF;
    RAISE NOTICE 'demo checks passed (after the fix): runs at the cap % -> %, requested GB-hours % -> %',
        total.cap_b, total.cap_a, round(total.gbh_b), round(total.gbh_a);
END $$;

\echo
\echo '== 11. Tuning after the fix: what would other sizing policies have cost? (ara_simulate, ara_waste)'
\echo '-- the 30 days before the fix replayed under Flotilla''s ARA (the baseline: OOM runs, p99 x1.75, 3 days, 30 runs)'
\echo '-- and four alternatives, each run sized as of its queue time from earlier runs of its key only (now the fixed'
\echo '-- key). A successful run needed its measured peak; an OOM-killed run needed more than it died at, by an unknown'
\echo '-- amount: predicted OOMs are a lower bound (certain) and an upper bound (also those given more than that).'
\echo '-- A run no policy can size keeps the request it was recorded with (the table keeps no default apart from'
\echo '-- ARA''s answer): the training chain''s dated commands have no history under the fixed key, so every policy'
\echo '-- keeps its 6 runs at the cap. Assumptions: docs/simulate.md.'
SELECT policy, runs, runs_sized, ooms_min, ooms_max, runs_at_cap, requested_gb_hours, waste_gb_hours,
       requested_vs_baseline AS req_vs_base, waste_vs_baseline AS waste_vs_base
FROM ara_simulate(until => '2025-11-24 15:10:01', policies => $p$[
  {"name": "oom p99 x1.5", "multiplier": 1.5},
  {"name": "peaks p95 x1.2, 7 days", "feed": "peaks", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days"},
  {"name": "both p95 x1.2, OOM x1.75, 7 days", "feed": "both", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days"},
  {"name": "both p90 x1.15, OOM x1.2, 7 days", "feed": "both", "percentile": 0.9, "multiplier": 1.15,
   "oom_multiplier": 1.2, "lookback": "7 days"}]$p$);
\echo '-- ARA sizes only the keys that were OOM-killed; sizing from measured peaks sizes nearly every run and requests'
\echo '-- less, at the price of more OOM kills; an OOM floor (both) buys some of them back with some of the memory.'
\echo
\echo '-- where the memory goes: the week before the fix, per key, worst waste first (right-sized: p95 of the key''s'
\echo '-- peaks over 7 days x1.2, never below its largest recent OOM x1.75):'
SELECT left(definition_id, 30) AS definition_id, left(command_hash, 8) AS hash, runs, requested_gb_hours AS req_gbh,
       used_gb_hours AS used_gbh,
       waste_gb_hours AS waste_gbh, waste_share, right_sized_gb_hours AS right_gbh, saved_gb_hours AS saved_gbh,
       right_sized_ooms_min AS ooms_min, right_sized_ooms_max AS ooms_max, bar
FROM ara_waste('2025-11-17 15:10:01', '2025-11-24 15:10:01', top => 5);
\echo '-- the EU ETL wastes the most, and right-sizing would not save it: its own OOMs set the floor (x1.75 the last'
\echo '-- kill); next come team jobs that use well under what they request, which right-sizing would save.'

DO $$
DECLARE
    s record;
    w record;
BEGIN
    SELECT count(*) AS policies, (array_agg(policy ORDER BY ord))[1] AS first,
           bool_and(ooms_min <= ooms_max) AS bounds,
           min(runs) = max(runs) AS same_runs,
           (array_agg(runs_sized ORDER BY ord))[3] > (array_agg(runs_sized ORDER BY ord))[1] AS peaks_size_more,
           (array_agg(waste_gb_hours ORDER BY ord))[3] < (array_agg(waste_gb_hours ORDER BY ord))[1] AS peaks_waste_less,
           (array_agg(runs_sized ORDER BY ord))[1] AS sized_base, (array_agg(runs_sized ORDER BY ord))[3] AS sized_peaks,
           round((array_agg(waste_gb_hours ORDER BY ord))[1]) AS waste_base,
           round((array_agg(waste_gb_hours ORDER BY ord))[3]) AS waste_peaks
      INTO s
      FROM ara_simulate(until => '2025-11-24 15:10:01', policies => $p$[
             {"name": "oom p99 x1.5", "multiplier": 1.5},
             {"name": "peaks p95 x1.2, 7 days", "feed": "peaks", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days"}]$p$)
           WITH ORDINALITY AS x(policy, feed, percentile, multiplier, lookback, max_runs, runs, runs_sized, ooms_min,
                                ooms_max, runs_at_cap, requested_gb_hours, used_gb_hours, waste_gb_hours,
                                ooms_min_vs_baseline, ooms_max_vs_baseline, requested_vs_baseline, waste_vs_baseline,
                                runs_sized_vs_baseline, runs_at_cap_vs_baseline, ord);
    SELECT count(*) AS keys, (array_agg(definition_id ORDER BY waste_gb_hours DESC))[1] AS worst,
           bool_and(saved_gb_hours > 0) FILTER (WHERE definition_id LIKE 'team%') AS teams_save
      INTO w FROM ara_waste('2025-11-17 15:10:01', '2025-11-24 15:10:01', top => 5);
    IF NOT (s.policies = 3 AND s.first = 'baseline (Flotilla)' AND s.bounds AND s.same_runs AND s.peaks_size_more
            AND s.peaks_waste_less AND w.keys = 5 AND w.worst = 'data-platform-d834291f-d984-408e-5da4-8646f7e2f5b7'
            AND w.teams_save) THEN
        RAISE EXCEPTION 'demo check: tuning after the fix: %, %', row_to_json(s), row_to_json(w);
    END IF;
    RAISE NOTICE 'demo checks passed (tuning): sized from peaks, % runs sized instead of %, % wasted GB-hours instead of %; the EU ETL wastes the most',
        s.sized_peaks, s.sized_base, s.waste_peaks, s.waste_base;
END $$;

\echo
\echo '-- right-sizing one of those team jobs from now on: ara_set_policy() chooses it for its definition only (the'
\echo '-- rest of the table stays on Flotilla''s ARA), ara_index_sql() then also gives the peaks'' index, and every'
\echo '-- ara_resources() call for that definition answers from its measured peaks, never below its OOM floor:'
SELECT definition_id AS team_def, command_hash AS team_hash
FROM ara_waste('2025-11-17 15:10:01', '2025-11-24 15:10:01', top => 5)
WHERE definition_id LIKE 'team%' AND saved_gb_hours > 0 ORDER BY saved_gb_hours DESC, definition_id LIMIT 1 \gset
SELECT ara_set_policy('task', 'right_size', ARRAY[:'team_def']);
SELECT ara_index_sql('task') \gexec
ANALYZE task;
SELECT 'oom (Flotilla)' AS asked, memory, cpu, sized_by, oom_runs, peak_runs, peak_memory, oom_floor
FROM ara_resources(:'team_def', :'team_hash', '2025-11-24 15:10:01', policy => 'oom')
UNION ALL
SELECT 'as chosen for the definition', memory, cpu, sized_by, oom_runs, peak_runs, peak_memory, oom_floor
FROM ara_resources(:'team_def', :'team_hash', '2025-11-24 15:10:01');
\echo '-- and why, for its last run before the fix (ara_explain names the policy and where the choice comes from):'
SELECT run_id AS team_run FROM task WHERE definition_id = :'team_def' AND command_hash = :'team_hash'
   AND queued_at < '2025-11-24 15:10:01' ORDER BY queued_at DESC, run_id DESC LIMIT 1 \gset
SELECT section, memory, detail FROM ara_explain(:'team_run') WHERE section LIKE 'estimate%';

SET pg_ara_demo.team_def = :'team_def';
SET pg_ara_demo.team_hash = :'team_hash';
DO $$
DECLARE
    d text := current_setting('pg_ara_demo.team_def');
    h text := current_setting('pg_ara_demo.team_hash');
    r record;
    asked bigint;
BEGIN
    SELECT * INTO r FROM ara_resources(d, h, '2025-11-24 15:10:01');
    SELECT memory INTO asked FROM task WHERE definition_id = d AND command_hash = h AND queued_at < '2025-11-24 15:10:01'
     ORDER BY queued_at DESC, run_id DESC LIMIT 1;
    IF NOT (r.sized_by = 'right_size' AND r.peak_runs > 0 AND r.memory < asked AND r.memory >= coalesce(r.oom_floor, 0)
            AND (SELECT count(*) FROM ara_sizing) = 1
            AND (SELECT sized_by FROM ara_resources('no-such-definition', h)) = 'oom') THEN
        RAISE EXCEPTION 'demo check: right-sizing %: % (its last request %)', d, row_to_json(r), asked;
    END IF;
    RAISE NOTICE 'demo checks passed (right-sizing): % asks % MB instead of % MB, from % peaks (p95 % MB x 1.2)',
        d, r.memory, asked, r.peak_runs, r.peak_memory;
END $$;

\echo
\echo '== 12. Beyond Flotilla: what other tools would have asked, and a policy per definition (ara_simulate, ara_tune)'
\echo '-- the same 30 days in one replay under the default grid: Flotilla''s knobs, sizing from peaks, and the policies'
\echo '-- other tools use: the Kubernetes VPA recommender (p90 of a decaying histogram of daily peaks x1.15, per'
\echo '-- definition as VPA groups a workload, or per ARA key), Robusta KRR (largest peak x1.15, OOMs x1.25), retry on'
\echo '-- OOM at request x attempt (no memory between runs; each killed attempt counts); and pg_ara''s censored policy:'
\echo '-- successful runs'' peaks are needs, an OOM kill says only that the need was above its request, and the request'
\echo '-- is the need''s quantile for a target OOM rate. Constants and simplifications: docs/simulate.md.'
SELECT policy, runs_sized, ooms_min, ooms_max, runs_at_cap, requested_gb_hours, waste_gb_hours,
       requested_vs_baseline AS req_vs_base
FROM ara_simulate(until => '2025-11-24 15:10:01');
\echo
\echo '-- a policy per definition: the one with the fewest requested GB-hours whose predicted OOM kills (the upper'
\echo '-- bound) stay within its budget, by default no more than under Flotilla''s ARA; among what ara_set_policy() can'
\echo '-- apply (right_size, censored), most saved first:'
CREATE TEMP TABLE tuned AS SELECT * FROM ara_tune('2025-10-25 15:10:01', '2025-11-24 15:10:01');
SELECT left(definition_id, 30) AS definition_id, runs, policy, baseline_gb_hours AS base_gbh, requested_gb_hours AS gbh,
       saving, baseline_ooms_max AS base_ooms_max, ooms_max
FROM tuned ORDER BY saved_gb_hours DESC, definition_id LIMIT 8;
\echo '-- the whole table: each policy''s OOM kills against its GB-hours, the Pareto-optimal ones marked, and the mix'
\echo '-- ara_tune() recommends:'
SELECT policy, applicable, ooms_min, ooms_max, requested_gb_hours, requested_vs_baseline AS vs_base, pareto, bar
FROM ara_tune_frontier('2025-10-25 15:10:01', '2025-11-24 15:10:01');
\echo '-- ara_tune() applies nothing; its statements do, for \\gexec (the first three):'
SELECT statement FROM tuned WHERE statement IS NOT NULL ORDER BY saved_gb_hours DESC, definition_id LIMIT 3;

DO $$
DECLARE
    s record;
    t record;
    f record;
BEGIN
    SELECT count(*) AS policies, min(runs) = max(runs) AS same_runs, bool_and(ooms_min <= ooms_max) AS bounds,
           count(*) FILTER (WHERE split_part(feed, ' ', 1) IN ('vpa', 'krr', 'retry', 'censored')) AS peers_and_censored
      INTO s FROM ara_simulate(until => '2025-11-24 15:10:01');
    SELECT count(*) AS definitions, count(*) FILTER (WHERE ooms_max > oom_budget) AS over_budget,
           count(*) FILTER (WHERE requested_gb_hours > baseline_gb_hours) AS dearer,
           count(*) FILTER (WHERE statement IS NOT NULL) AS statements,
           coalesce(sum(saved_gb_hours), 0) AS saved, coalesce(sum(baseline_gb_hours), 0) AS base
      INTO t FROM tuned;
    SELECT bool_or(policy LIKE 'ara_tune()%' AND pareto) AS mix_pareto, count(*) FILTER (WHERE pareto) AS pareto_rows
      INTO f FROM ara_tune_frontier('2025-10-25 15:10:01', '2025-11-24 15:10:01');
    IF NOT (s.policies = 18 AND s.same_runs AND s.bounds AND s.peers_and_censored = 6 AND t.definitions > 0
            AND t.over_budget = 0 AND t.dearer = 0 AND f.pareto_rows > 0) THEN
        RAISE EXCEPTION 'demo check: beyond Flotilla: %, %, %', row_to_json(s), row_to_json(t), row_to_json(f);
    END IF;
    RAISE NOTICE 'demo checks passed (beyond Flotilla): 18 policies in one replay; ara_tune(): % definitions within their OOM budget, % GB-hours saved of % (% statements to apply)',
        t.definitions, t.saved, t.base, t.statements;
END $$;
\echo '-- applying them, in psql: SELECT statement FROM ara_tune(...) WHERE statement IS NOT NULL \\gexec'
SET client_min_messages = warning;
\o /dev/null
SELECT statement FROM tuned WHERE statement IS NOT NULL \gexec
\o
RESET client_min_messages;
DO $$
DECLARE
    changed bigint := (SELECT count(*) FROM tuned WHERE policy <> 'oom (Flotilla)');
    applied bigint := (SELECT count(*) FROM ara_sizing s JOIN tuned t ON t.definition_id = s.definition_id
                        WHERE s.table_name = 'task'::regclass AND s.policy = split_part(t.policy, ' ', 1)
                          AND t.policy <> 'oom (Flotilla)');
BEGIN
    IF applied <> changed THEN
        RAISE EXCEPTION 'demo check: ara_tune''s statements applied % of % choices', applied, changed;
    END IF;
    RAISE NOTICE 'demo checks passed (ara_tune applied): % definitions now sized as recommended', applied;
END $$;
