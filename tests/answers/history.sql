-- A Flotilla task table as a user has it (before upgrading PostgreSQL: tests/majors/pg_upgrade.sh; in
-- the SQL edition and the extension alike: tests/edition/):
-- pg_ara enabled, a history written with the bug's hashes (md5 of the description; NULL where there
-- is no description), one definition keyed by fingerprint, one right-sized, the lookup's indexes,
-- a table of kept ara_counts values and a view over ara_estimate. The interrupted backfill is left
-- by the shell script (it needs a second connection). Every time is relative to upgrade_anchor.t,
-- which the answers read back, so that the answers do not move while the test runs.
-- psql variables: anchor, a fixed time for upgrade_anchor.t (default: now, to the minute), so that two
-- databases made apart get the same history; counts=0 leaves out the ara_counts values (the SQL edition
-- has no such type); extension=0 does not create the extension (already there, or the plain script).
\set ON_ERROR_STOP 1
\if :{?counts} \else \set counts 1 \endif
\if :{?extension} \else \set extension 1 \endif
SET client_min_messages = warning;
\if :extension
CREATE EXTENSION pg_ara;
\endif
\ir ../../scripts/flotilla_task.sql
\if :{?anchor}
CREATE TABLE upgrade_anchor AS SELECT :'anchor'::timestamptz AS t;
\else
CREATE TABLE upgrade_anchor AS SELECT date_trunc('minute', now()) AS t;
\endif

-- 4,000 runs over 6 days, written before pg_ara was enabled: the bug's hashes.
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason,
                  status, engine, queued_at, started_at, finished_at, max_memory_used, max_cpu_used)
SELECT 'run-' || lpad(i::text, 5, '0'),
       (ARRAY['def-a', 'def-b', 'def-fp', 'def-rs'])[1 + i % 4],
       'python3 job' || (i % 7) || '.py --as_of ' || (20251101 + i % 5) || ' --shard ' || (i % 3),
       CASE WHEN i % 11 = 0 THEN NULL ELSE 'Nightly job ' || (i % 2) END,
       CASE WHEN i % 11 = 0 THEN NULL ELSE md5('Nightly job ' || (i % 2)) END,
       1024 + (i * 37) % 30000, 250 + (i * 13) % 4000,
       CASE WHEN i % 5 = 0 THEN 137 WHEN i % 17 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 5 = 0 THEN 'OOMKilled' END,
       'StatusStopped', 'eks',
       t - interval '6 days' + i * interval '2 minutes',
       t - interval '6 days' + i * interval '2 minutes' + interval '30 seconds',
       t - interval '6 days' + i * interval '2 minutes' + (1 + i % 9) * interval '7 minutes',
       CASE WHEN i % 5 = 0 THEN 1024 + (i * 37) % 30000 ELSE 512 + (i * 29) % 20000 END,
       100 + (i * 17) % 3000
FROM upgrade_anchor, generate_series(1, 4000) i;

SELECT ara_enable('task', fingerprint_definitions => ARRAY['def-fp']);
SELECT ara_set_policy('task', 'right_size', ARRAY['def-rs'], peak_percentile => 0.9, headroom => 1.25);
-- Runs written after the trigger: keyed by their command (def-fp: by its fingerprint).
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, status,
                  engine, queued_at, started_at, finished_at, max_memory_used, max_cpu_used)
SELECT 'new-' || lpad(i::text, 4, '0'), (ARRAY['def-a', 'def-b', 'def-fp', 'def-rs'])[1 + i % 4],
       'python3 job' || (i % 7) || '.py --as_of ' || (20251101 + i % 5) || ' --shard ' || (i % 3),
       'Nightly job ' || (i % 2), 'sent-by-a-client', 4096 + i, 500, CASE WHEN i % 3 = 0 THEN 137 ELSE 0 END,
       'StatusStopped', 'eks', t - interval '50 minutes' + i * interval '10 seconds',
       t - interval '50 minutes' + i * interval '10 seconds', t - interval '40 minutes' + i * interval '10 seconds',
       2048 + i, 300
FROM upgrade_anchor, generate_series(1, 200) i;
SELECT ara_index_sql('task') \gexec

-- Kept multisets (per definition and day) and one spanning all of bigint (a gap of 2^63 and more).
\if :counts
CREATE TABLE oom_counts AS
SELECT definition_id, command_hash, queued_at::date AS day, ara_counts(memory) AS memory, ara_counts(cpu) AS cpu
  FROM task WHERE exit_code = 137 GROUP BY 1, 2, 3;
INSERT INTO oom_counts VALUES ('wide', NULL, NULL, '{-9223372036854775808:1,-1:2,9223372036854775807:1}', '{}');
-- A view over the aggregate (pg_upgrade dumps and restores it; it must still answer the same).
CREATE VIEW oom_estimates AS
SELECT definition_id, ara_estimate(memory) AS memory, ara_estimate(cpu, 0.99, 1.25) AS cpu,
       ara_estimate(ara_counts(memory), 0.5, 2) AS median_x2, count(*) AS oom_runs
  FROM task WHERE exit_code = 137 OR exit_reason = 'OOMKilled' GROUP BY definition_id;
\else
CREATE VIEW oom_estimates AS
SELECT definition_id, ara_estimate(memory) AS memory, ara_estimate(cpu, 0.99, 1.25) AS cpu,
       ara_estimate(memory, 0.5, 2) AS median_x2, count(*) AS oom_runs
  FROM task WHERE exit_code = 137 OR exit_reason = 'OOMKilled' GROUP BY definition_id;
\endif
ANALYZE task;
