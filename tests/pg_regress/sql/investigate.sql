-- The on-call functions: ara_collisions, ara_null_hashes, ara_impact, ara_explain, ara_growth.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA investigate;
SET search_path = investigate, public;
SET timezone = 'UTC';

CREATE TABLE task (
    run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar, command_hash text,
    memory integer, cpu integer, exit_code integer, exit_reason varchar,
    engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz
);
-- Written by the buggy service: hash = md5(description), NULL without a description.
CREATE FUNCTION buggy_hash(description text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT md5(description) $$;
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason, engine, queued_at)
SELECT r, d, c, s, buggy_hash(s), m, 256, e, x, g, q::timestamptz
FROM (VALUES
  -- The report's smoking gun: three dates' commands under one description.
  ('eks-c662-2a1e-44f7', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251121', 'Calibrate Psale Prod / Calibrate Psale', 1024, 137, 'OOMKilled', 'eks', '2025-11-22 09:00'),
  ('eks-a9fd-92f6-4fe1', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251121', 'Calibrate Psale Prod / Calibrate Psale', 1792, 137, 'OOMKilled', 'eks', '2025-11-22 12:00'),
  ('eks-055c-c578-4951', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251122', 'Calibrate Psale Prod / Calibrate Psale', 1024, 137, 'OOMKilled', 'eks', '2025-11-23 09:00'),
  ('eks-0d33-a443-43b9', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251123', 'Calibrate Psale Prod / Calibrate Psale', 3136, 0, NULL, 'eks', '2025-11-24 15:10:01'),
  -- A description shared by two commands, no OOM.
  ('etl-1', 'data-platform', 'python3 etl.py --region us', 'Nightly ETL', 2048, 0, NULL, 'eks', '2025-11-20 01:00'),
  ('etl-2', 'data-platform', 'python3 etl.py --region eu', 'Nightly ETL', 2048, 0, NULL, 'eks', '2025-11-20 01:05'),
  ('etl-3', 'data-platform', 'python3 etl.py --region us', 'Nightly ETL', 2048, 0, NULL, 'eks', '2025-11-21 01:00'),
  -- No description: NULL hash, no ARA at all.
  ('train-1', 'sf-base_python-3_11', 'python3 train.py --epochs 3', NULL, 4096, 137, 'OOMKilled', 'eks', '2025-11-23 10:00'),
  ('train-2', 'sf-base_python-3_11', 'python3 train.py --epochs 3', NULL, 6144, 137, NULL, 'eks', '2025-11-23 11:00'),
  ('train-3', 'sf-base_python-3_11', 'python3 train.py --epochs 5', NULL, 4096, 0, NULL, 'eks', '2025-11-23 12:00'),
  -- Spark: no command; one with a description (whose hash the fixed rule keeps), one with neither.
  ('spark-1', 'spark-def', NULL, 'Spark nightly', 8192, 0, NULL, 'eks-spark', '2025-11-23 13:00'),
  ('spark-2', 'spark-def', NULL, NULL, 8192, 0, NULL, 'eks-spark', '2025-11-23 14:00'),
  -- A healthy job whose hash happens to be right already.
  ('ok-1', 'platform', 'echo ok', NULL, 512, 0, NULL, 'eks', '2025-11-23 15:00')
) v(r, d, c, s, m, e, x, g, q);
UPDATE task SET command_hash = md5(command) WHERE run_id = 'ok-1';
-- A v1 request: the service stored no hash at all, although the run has a description.
UPDATE task SET command_hash = NULL WHERE run_id = 'spark-1';
-- An OOM chain compounding to the cap: every run OOM-killed, each asking ARA for the next.
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason, queued_at)
WITH RECURSIVE chain(k, memory) AS (
    SELECT 0, 1024::numeric
    UNION ALL
    SELECT k + 1, least(350000, round(memory * 1.75)) FROM chain WHERE k < 13
)
SELECT 'grow-' || lpad(k::text, 2, '0'), 'sf-base_pytorch2', 'python3 big.py', 'Big job', md5('Big job'), memory, 1000, 137, 'OOMKilled',
       '2025-11-20 00:00'::timestamptz + k * interval '2 hours'
FROM chain;

-- Collisions, worst first: the calibrate hash (3 commands, 3 OOMs), then the ETL hash.
SELECT * FROM ara_collisions();
SELECT definition_id, distinct_commands, total_runs, example_commands FROM ara_collisions(examples => 1);
-- since/until narrow the runs looked at: from Nov 21 on, the ETL collision is gone (one command left).
SELECT definition_id, distinct_commands, oom_runs, total_runs FROM ara_collisions(since => '2025-11-21');
SELECT definition_id, distinct_commands FROM ara_collisions(until => '2025-11-22');
SELECT count(*) AS spark_collisions FROM ara_collisions(engine => 'eks-spark');

-- NULL hashes that should not be: train.py (no description) and the Spark run with a description;
-- the Spark run with neither command nor description legitimately stays NULL.
SELECT * FROM ara_null_hashes();
SELECT definition_id, runs FROM ara_null_hashes(since => '2025-11-23 12:30');

-- The numbers, before the fix.
SELECT * FROM ara_impact();

-- Why did the Nov 24 run get 3136 MB? Three OOMs of other dates' commands under the description's
-- hash: 1792 * 1.75; its own command has no history.
SELECT * FROM ara_explain('eks-0d33-a443-43b9');
-- A run that was right all along: stored hash = its command's hash, one estimate.
SELECT section, run, memory, detail FROM ara_explain('ok-1');

-- The compounding chain, step by step: every request is what ARA said as of its queue time.
SELECT * FROM ara_growth('sf-base_pytorch2', md5('Big job'));
SELECT count(*) AS runs, count(*) FILTER (WHERE memory_mb = ara_memory_mb) AS as_ara_said
FROM ara_growth('sf-base_pytorch2', md5('Big job')) WHERE oom_runs_before > 0;
SELECT run, memory_mb FROM ara_growth('sf-base_pytorch2', md5('Big job'), since => '2025-11-20 20:00', until => '2025-11-21 01:00');

-- Errors, each with its SQLSTATE.
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_explain('no-such-run')$$) AS unknown_run;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_explain(NULL)$$) AS null_run;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_collisions(examples => -1)$$) AS negative_examples;
CREATE TABLE not_flotilla (run_id text, command text);
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_collisions('not_flotilla')$$) AS collisions_missing_column;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_impact('not_flotilla')$$) AS impact_missing_column;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_growth('d', 'h', percentile => 2)$$) AS growth_percentile;

-- A view over the table works as well (read-only functions need only SELECT).
CREATE VIEW task_view AS SELECT * FROM task;
SELECT total_runs, runs_without_hash FROM ara_impact('task_view');

-- The fix: enable the trigger, backfill, and look again.
SELECT ara_enable('task');
SET client_min_messages = warning;   -- progress NOTICEs carry rates, which vary
CALL ara_backfill('task', batch_size => 5);
RESET client_min_messages;
SELECT * FROM ara_collisions();
SELECT * FROM ara_null_hashes();
SELECT * FROM ara_impact();
SELECT section, run, memory, same_command, detail FROM ara_explain('eks-0d33-a443-43b9');
-- After the fix the chain's key is the command's hash (Big job had one command: same history).
SELECT count(*) AS runs, max(memory_mb) AS max_memory_mb FROM ara_growth('sf-base_pytorch2', command_hash('python3 big.py'));

-- Every function callable by a role that can only SELECT the table; none by a role that cannot.
SET client_min_messages = warning;
DROP ROLE IF EXISTS ara_regress_oncall;
DROP ROLE IF EXISTS ara_regress_outsider;
RESET client_min_messages;
CREATE ROLE ara_regress_oncall;
CREATE ROLE ara_regress_outsider;
GRANT USAGE ON SCHEMA investigate TO ara_regress_oncall, ara_regress_outsider;
GRANT SELECT ON task TO ara_regress_oncall;
SET ROLE ara_regress_oncall;
SELECT (SELECT count(*) FROM ara_collisions()) AS collisions, (SELECT count(*) FROM ara_null_hashes()) AS null_hashes,
       (SELECT total_runs FROM ara_impact()) AS runs, (SELECT count(*) FROM ara_explain('ok-1')) AS explain_rows,
       (SELECT count(*) FROM ara_growth('sf-base_pytorch2', command_hash('python3 big.py'))) AS growth_rows;
SET ROLE ara_regress_outsider;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_collisions()$$) AS collisions,
       regress_util.sqlstate_of($$SELECT * FROM ara_null_hashes()$$) AS null_hashes,
       regress_util.sqlstate_of($$SELECT * FROM ara_impact()$$) AS impact,
       regress_util.sqlstate_of($$SELECT * FROM ara_explain('ok-1')$$) AS explain,
       regress_util.sqlstate_of($$SELECT * FROM ara_growth('d', 'h')$$) AS growth;
RESET ROLE;

-- The extension's schema lists only what users call; everything is documented; nothing is
-- SECURITY DEFINER; pure functions are parallel safe.
SELECT p.oid::regprocedure AS function, p.prokind, p.provolatile, p.proparallel,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS documented
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_ara'
WHERE p.pronamespace = (SELECT extnamespace FROM pg_extension WHERE extname = 'pg_ara')
ORDER BY p.proname, p.oid::regprocedure::text;
SELECT count(*) AS internal_functions, count(*) FILTER (WHERE obj_description(p.oid, 'pg_proc') IS NULL) AS undocumented,
       count(*) FILTER (WHERE p.prosecdef) AS security_definer
FROM pg_proc p WHERE p.pronamespace = 'ara_internal'::regnamespace;

DROP TABLE not_flotilla;
DROP VIEW task_view;
SELECT ara_disable('task');
REVOKE ALL ON task FROM ara_regress_oncall;
REVOKE ALL ON SCHEMA investigate FROM ara_regress_oncall, ara_regress_outsider;
DROP ROLE ara_regress_oncall;
DROP ROLE ara_regress_outsider;
RESET search_path;
