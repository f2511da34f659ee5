-- A smoke of every function pg_ara gives its users, run after installing a package (tests/packages.sh):
-- each one called once on a small task table, each answer checked. The last statement fails when
-- the extension has a user-facing routine this file does not call.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
CREATE TEMP TABLE called (name text);
CREATE FUNCTION pg_temp.check(name text, ok boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN RAISE EXCEPTION 'package smoke: % gave a wrong answer', name; END IF;
    INSERT INTO called VALUES (name);
END $$;

\ir ../../scripts/flotilla_task.sql
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at,
                  max_memory_used, max_cpu_used)
SELECT 'r' || lpad(i::text, 4, '0'), 'def-' || (i % 3), 'python3 job.py --as_of ' || (20251101 + i % 4),
       'Job', md5('Job'), 1000 + i, 500, CASE WHEN i % 2 = 0 THEN 137 ELSE 0 END, now() - i * interval '1 minute',
       700 + i, 300
FROM generate_series(1, 200) i;

SELECT pg_temp.check('command_hash', command_hash('echo hi') = md5('echo hi'));
SELECT pg_temp.check('command_hash', command_hash('', 'desc') = md5('desc'));
SELECT pg_temp.check('command_fingerprint', command_fingerprint('run.py --as_of 20251123') = 'run.py --as_of <date>');
SELECT pg_temp.check('command_fingerprint_version', command_fingerprint_version() = 1);
SELECT pg_temp.check('command_fingerprint_hash',
                     command_fingerprint_hash('run.py --as_of 20251123', NULL) = md5('run.py --as_of <date>'));
SELECT pg_temp.check('ara_estimate',
       (SELECT ara_estimate(memory) = cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint)
          FROM task WHERE exit_code = 137));
SELECT pg_temp.check('ara_counts',
       (SELECT ara_estimate(ara_counts(memory), 0.99, 1.75) = ara_estimate(memory) AND ara_counts(memory)::text LIKE '{%:%}'
          FROM task WHERE exit_code = 137));
SELECT pg_temp.check('ara_rollup',
       (SELECT ara_estimate(ara_rollup(c)) = (SELECT ara_estimate(memory) FROM task)
          FROM (SELECT ara_counts(memory) AS c FROM task GROUP BY definition_id) s));
SELECT pg_temp.check('ara_total', (SELECT ara_total(ara_counts(memory)) = count(memory) FROM task));
SELECT pg_temp.check('ara_enable', ara_enable('task') LIKE 'pg_ara enabled%');
SELECT pg_temp.check('ara_status', (SELECT count(*) = 1 FROM ara_status()));
SELECT pg_temp.check('ara_hash_mismatches', (SELECT rows_out_of_line = 200 FROM ara_hash_mismatches('task')));
SELECT pg_temp.check('ara_impact', (SELECT runs_out_of_line = 200 FROM ara_impact()));
SELECT pg_temp.check('ara_collisions', (SELECT count(*) = 3 FROM ara_collisions()));
SELECT pg_temp.check('ara_null_hashes', (SELECT count(*) = 0 FROM ara_null_hashes()));
SELECT pg_temp.check('ara_fingerprint_preview', (SELECT count(*) = 3 FROM ara_fingerprint_preview()));
CALL ara_backfill('task');
SELECT pg_temp.check('ara_backfill', (SELECT rows_out_of_line = 0 FROM ara_hash_mismatches('task')));
SELECT pg_temp.check('ara_index_sql', (SELECT count(*) >= 1 FROM ara_index_sql('task')));
SELECT pg_temp.check('ara_resources',
       (SELECT oom_runs > 0 AND memory IS NOT NULL
          FROM ara_resources('def-0', command_hash('python3 job.py --as_of 20251101'))));
SELECT pg_temp.check('ara_resources_for_run', (SELECT oom_runs > 0 FROM ara_resources_for_run('r0200')));
SELECT pg_temp.check('ara_explain', (SELECT count(*) > 1 FROM ara_explain('r0200')));
SELECT pg_temp.check('ara_growth',
       (SELECT count(*) > 1 FROM ara_growth('def-0', command_hash('python3 job.py --as_of 20251101'))));
SELECT pg_temp.check('ara_metrics',
       (SELECT registered = 1 AND triggers_enabled = 1 AND runs = 200 AND runs_out_of_line = 0 AND runs_with_history > 0
          FROM ara_metrics(recent => '1 day') WHERE table_name = 'public.task'));
SELECT pg_temp.check('ara_compare', (SELECT sum(runs_before) = 200 AND sum(runs_after) = 0 FROM ara_compare(before => '1 day')));
SELECT pg_temp.check('ara_simulate', (SELECT count(*) = 18 AND bool_and(runs = 200) FROM ara_simulate()));
SELECT pg_temp.check('ara_simulate_runs',
       (SELECT count(*) = 200 AND count(memory) > 0 FROM ara_simulate_runs(policies => '[]')));
SELECT pg_temp.check('ara_waste', (SELECT count(*) >= 1 AND sum(runs) = 200 FROM ara_waste(since => now() - interval '1 day')));
SELECT pg_temp.check('ara_set_policy', ara_set_policy('task', 'right_size', ARRAY['def-1']) LIKE '%def-1: right_size%');
SELECT pg_temp.check('ara_resources',
       (SELECT sized_by = 'right_size' AND peak_runs > 0 AND memory IS NOT NULL
          FROM ara_resources('def-1', command_hash('python3 job.py --as_of 20251102'))));
SELECT pg_temp.check('ara_resources',
       (SELECT sized_by = 'censored' AND peak_runs > 0 AND memory IS NOT NULL
          FROM ara_resources('def-1', command_hash('python3 job.py --as_of 20251102'), policy => 'censored')));
SELECT pg_temp.check('ara_tune',
       (SELECT count(*) = 3 AND bool_and(ooms_max <= oom_budget) AND bool_and(runs > 0)
          FROM ara_tune(since => now() - interval '1 day')));
SELECT pg_temp.check('ara_tune_frontier',
       (SELECT count(*) FILTER (WHERE policy = 'baseline (Flotilla)') = 1 AND bool_or(pareto)
          FROM ara_tune_frontier(since => now() - interval '1 day')));
SELECT pg_temp.check('ara_set_key', ara_set_key('task', 'fingerprint') IS NOT NULL);
SELECT pg_temp.check('ara_key', ara_key('def-0', 'run.py --as_of 20251123', NULL) = md5('run.py --as_of <date>'));
CREATE TEMP TABLE carried AS SELECT ara_state_export() AS state;
SELECT pg_temp.check('ara_state_export', (SELECT jsonb_array_length(state->'tables') = 1 FROM carried));
SELECT pg_temp.check('ara_state_import', (SELECT ara_state_import(state) LIKE '%1 table(s)%' FROM carried));
SELECT pg_temp.check('ara_disable', ara_disable('task') IS NOT NULL);

-- Every user-facing routine of the extension was called above.
DO $$
DECLARE missing text;
BEGIN
    SELECT string_agg(DISTINCT p.proname, ', ') INTO missing
      FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
     WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
       AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_ara')
       AND p.pronamespace <> 'ara_internal'::regnamespace
       AND p.proname NOT IN (SELECT name FROM called);
    IF missing IS NOT NULL THEN RAISE EXCEPTION 'package smoke: not called: %', missing; END IF;
END $$;
SELECT 'package smoke ok: ' || count(DISTINCT name) || ' functions' FROM called;
