-- ara_resources(), ara_resources_for_run(), ara_index_sql(): Flotilla's ARA lookup in one call.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA lookup;
SET search_path = lookup, public;
SET timezone = 'UTC';

CREATE TABLE task (
    run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar, command_hash text,
    memory integer, cpu integer, gpu integer, exit_code integer, exit_reason varchar,
    engine varchar NOT NULL DEFAULT 'eks', status varchar, queued_at timestamptz
);

-- The report's timeline, written by the buggy service (hash = md5(description)).
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason, queued_at)
SELECT r, 'sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
       'python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of ' || d,
       'Calibrate Psale Prod / Calibrate Psale', md5('Calibrate Psale Prod / Calibrate Psale'), m, 256, e, x, q::timestamptz
FROM (VALUES
  ('eks-c662-2a1e-44f7', '20251121', 1024, 137, 'OOMKilled', '2025-11-22 09:00'),
  ('eks-a9fd-92f6-4fe1', '20251121', 1792, 137, NULL,        '2025-11-22 12:00'),
  ('eks-055c-c578-4951-75d8-3f5a0bb15b37', '20251122', 1024, 137, 'OOMKilled', '2025-11-23 09:00'),
  ('eks-old-outside-window', '20251117', 9999, 137, 'OOMKilled', '2025-11-18 09:00'),
  ('eks-0d33-a443-43b9-45f9-04b780868880', '20251123', 3136, 0, NULL, '2025-11-24 15:10:01')
) v(r, d, m, e, x, q);

-- The report's verification query, as Flotilla runs it, and ara_resources for the same key.
SELECT cast((percentile_disc(0.99) within GROUP (ORDER BY A.max_memory_used)) * 1.75 as int) as memory
FROM (SELECT memory as max_memory_used FROM TASK
      WHERE queued_at >= '2025-11-21 15:10:01' AND queued_at < '2025-11-24 15:10:01'
        AND (exit_code = 137 or exit_reason = 'OOMKilled')
        AND definition_id = 'sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd'
        AND command_hash = '407f6885beaec163a742e8c3c8a50d3e'
      LIMIT 30) A;
SELECT * FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd', '407f6885beaec163a742e8c3c8a50d3e',
                            as_of => '2025-11-24 15:10:01');
-- The service's form: by run id, as of the run's queue time.
SELECT * FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880', as_of => '2025-11-24 15:10:01');
-- as of now (2026 and later), the 3-day window is empty: no history.
SELECT * FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880');

-- No history, NULL hash, NULL definition, unknown run: exactly one row, NULLs, 0 OOM runs.
SELECT 'unknown hash' AS case_, * FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd', md5('x'), '2025-11-24 15:10:01')
UNION ALL SELECT 'null hash', * FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd', NULL, '2025-11-24 15:10:01')
UNION ALL SELECT 'null definition', * FROM ara_resources(NULL, '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01')
UNION ALL SELECT 'unknown run', * FROM ara_resources_for_run('no-such-run', '2025-11-24 15:10:01')
UNION ALL SELECT 'null run', * FROM ara_resources_for_run(NULL, '2025-11-24 15:10:01');

-- The window is [as_of - lookback, as_of): a run at the lower bound counts, one at as_of does not.
-- [11-22 12:00, 11-23 09:00) holds only the 1792 MB run; one microsecond later only the 1024 MB one.
SELECT oom_runs, raw_memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', as_of => '2025-11-23 09:00', lookback => '21 hours');
SELECT oom_runs, raw_memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', as_of => '2025-11-23 09:00:00.000001', lookback => '21 hours');
-- A longer lookback reaches the old 9999 MB OOM; max_runs 1 keeps only the most recent OOM run.
SELECT oom_runs, raw_memory, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', as_of => '2025-11-24 15:10:01', lookback => '7 days');
SELECT oom_runs, raw_memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', as_of => '2025-11-24 15:10:01', lookback => '7 days', max_runs => 1);
-- Options: percentile, multipliers.
SELECT oom_runs, raw_memory, raw_cpu FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', as_of => '2025-11-24 15:10:01', percentile => 0.5, memory_multiplier => 2, cpu_multiplier => 1);

-- Clamps, cpu rounding (the service's ((m + 125) / 250) * 250 after clamping), and the engine filter.
INSERT INTO task (run_id, definition_id, command, command_hash, memory, cpu, exit_code, engine, queued_at) VALUES
  ('big-1', 'def-big', 'big', md5('big'), 300000, 70000, 137, 'eks', '2025-11-24 10:00'),
  ('small-1', 'def-small', 'small', md5('small'), 100, 100, 137, 'eks', '2025-11-24 10:00'),
  ('round-1', 'def-round', 'round', md5('round'), 1000, 1000, 137, 'eks', '2025-11-24 10:00'),
  ('round-2', 'def-round', 'round', md5('round'), 1000, 1004, 137, 'eks', '2025-11-24 10:01'),
  ('spark-1', 'def-round', 'round', md5('round'), 8000, 8000, 137, 'eks-spark', '2025-11-24 10:02');
SELECT definition_id, r.*
FROM (VALUES ('def-big', 'big'), ('def-small', 'small'), ('def-round', 'round')) k(definition_id, cmd)
CROSS JOIN LATERAL ara_resources(k.definition_id, md5(k.cmd), '2025-11-24 12:00') r ORDER BY 1;
-- cpu 1004 * 1.25 = 1255 -> 1250; unclamped (NULL bounds) and unrounded (cpu_round_to 0):
SELECT memory, cpu, memory_capped, cpu_capped FROM ara_resources('def-big', md5('big'), '2025-11-24 12:00',
    min_memory => NULL, max_memory => NULL, min_cpu => NULL, max_cpu => NULL, cpu_round_to => 0);
SELECT engine_filter, r.oom_runs, r.raw_memory
FROM (VALUES ('eks'), ('eks-spark'), (NULL)) e(engine_filter)
CROSS JOIN LATERAL ara_resources('def-round', md5('round'), '2025-11-24 12:00', engine => e.engine_filter) r;

-- Bad options: an error with a SQLSTATE, even when the window is empty.
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', percentile => 1.5)$$) AS percentile_range;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', percentile => 'NaN')$$) AS percentile_nan;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', max_runs => 0)$$) AS max_runs;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', lookback => '-1 day')$$) AS lookback;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', memory_multiplier => NULL)$$) AS null_multiplier;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', as_of => NULL)$$) AS null_as_of;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', min_memory => 10, max_memory => 5)$$) AS bounds;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', cpu_round_to => -1)$$) AS cpu_round_to;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 'no_such_table')$$) AS no_table;
CREATE TABLE not_flotilla (run_id text, command text);
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 'not_flotilla')$$) AS missing_columns;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => NULL)$$) AS null_table;

-- Against the plain SQL it replaces, on a generated history: 6 keys, 3,000 OOM runs over 20 days
-- (plus healthy runs and another engine), 300 lookups at random times. Where the window holds at
-- most max_runs rows, Flotilla's own query (arbitrary LIMIT 30) must agree; where it holds more,
-- the most recent 30 (by queued_at, then run_id) must.
INSERT INTO task (run_id, definition_id, command, command_hash, memory, cpu, exit_code, exit_reason, engine, queued_at)
SELECT 'gen-' || i, 'gdef-' || (i % 3), 'gcmd ' || (i % 2), md5('gcmd ' || (i % 2)),
       512 + (regress_util.rnd(i, 1) * 60000)::int, 250 + (regress_util.rnd(i, 2) * 8000)::int,
       CASE WHEN regress_util.rnd(i, 3) < 0.6 THEN 137 ELSE 0 END,
       CASE WHEN regress_util.rnd(i, 4) < 0.1 THEN 'OOMKilled' END,
       CASE WHEN regress_util.rnd(i, 5) < 0.9 THEN 'eks' ELSE 'eks-spark' END,
       '2025-10-01'::timestamptz + regress_util.rnd(i, 6) * interval '20 days'
FROM generate_series(1, 5000) i;
ANALYZE task;
CREATE TEMP TABLE probes AS
SELECT 'gdef-' || (i % 3) AS definition_id, md5('gcmd ' || (i % 2)) AS hash,
       '2025-10-01'::timestamptz + regress_util.rnd(i, 7) * interval '22 days' AS as_of,
       (ARRAY[interval '2 hours', interval '12 hours', interval '3 days'])[1 + i % 3] AS lookback
FROM generate_series(1, 300) i;
CREATE TEMP TABLE compared AS
SELECT p.*, r.oom_runs, r.raw_memory, r.raw_cpu,
       (SELECT count(*) FROM task t WHERE t.definition_id = p.definition_id AND t.command_hash = p.hash
          AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') AND t.engine = 'eks'
          AND t.queued_at >= p.as_of - p.lookback AND t.queued_at < p.as_of) AS in_window,
       (SELECT row(cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.memory) * 1.75 AS bigint),
                   cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.cpu) * 1.25 AS bigint))::text
          FROM (SELECT memory, cpu FROM task t WHERE t.definition_id = p.definition_id AND t.command_hash = p.hash
                  AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') AND t.engine = 'eks'
                  AND t.queued_at >= p.as_of - p.lookback AND t.queued_at < p.as_of
                LIMIT 30) a) AS flotilla,
       (SELECT row(cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.memory) * 1.75 AS bigint),
                   cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.cpu) * 1.25 AS bigint))::text
          FROM (SELECT memory, cpu FROM task t WHERE t.definition_id = p.definition_id AND t.command_hash = p.hash
                  AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') AND t.engine = 'eks'
                  AND t.queued_at >= p.as_of - p.lookback AND t.queued_at < p.as_of
                ORDER BY t.queued_at DESC, t.run_id DESC LIMIT 30) a) AS most_recent
FROM probes p CROSS JOIN LATERAL ara_resources(p.definition_id, p.hash, p.as_of, lookback => p.lookback) r;
SELECT count(*) AS probes,
       count(*) FILTER (WHERE in_window = 0) AS empty_windows,
       count(*) FILTER (WHERE in_window BETWEEN 1 AND 30) AS small_windows,
       count(*) FILTER (WHERE in_window > 30) AS windows_over_30,
       count(*) FILTER (WHERE in_window <= 30 AND row(raw_memory, raw_cpu)::text IS DISTINCT FROM flotilla) AS differ_from_flotilla,
       count(*) FILTER (WHERE row(raw_memory, raw_cpu)::text IS DISTINCT FROM most_recent) AS differ_from_most_recent,
       count(*) FILTER (WHERE oom_runs <> least(in_window, 30)) AS wrong_oom_runs,
       count(*) FILTER (WHERE in_window > 30 AND row(raw_memory, raw_cpu)::text IS DISTINCT FROM flotilla) AS where_flotilla_is_arbitrary
FROM compared;

-- The recommended index: the statements, then built with \gexec, then used by the lookup.
SELECT ara_index_sql('task');
SELECT ara_index_sql('task') \gexec
SELECT ara_index_sql('task') \gexec
SELECT indexrelid::regclass AS index, indisvalid, pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'task'::regclass AND NOT indisprimary;
-- The lookup's own query, as it plans it (one-shot, with the options as constants): the index, in order.
DO $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || ara_internal.ara_window_sql('task', 'command', 'command_hash')
        USING 'gdef-1', md5('gcmd 1'), 'eks', '2025-10-05'::timestamptz, '2025-10-08'::timestamptz, 30
    LOOP
        RAISE NOTICE '%', line;
    END LOOP;
END $$;
-- Counted inside one transaction: the index scans this transaction made (on every major; the
-- cumulative views wait for a flush, which 14 cannot force).
BEGIN;
SELECT oom_runs > 0 AS found_history FROM ara_resources('gdef-1', md5('gcmd 1'), '2025-10-08');
SELECT pg_stat_get_xact_numscans('task_ara_oom_idx'::regclass) AS index_scans_by_lookup;
COMMIT;
-- A partitioned table: each partition concurrently, the parent ON ONLY, each attached.
CREATE TABLE ptask (LIKE task) PARTITION BY RANGE (queued_at);
CREATE TABLE ptask_2025_10 PARTITION OF ptask FOR VALUES FROM ('2025-10-01') TO ('2025-11-01');
CREATE TABLE ptask_2025_11 PARTITION OF ptask FOR VALUES FROM ('2025-11-01') TO ('2025-12-01');
SELECT ara_index_sql('ptask');
SELECT ara_index_sql('ptask') \gexec
SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indrelid IN ('ptask'::regclass, 'ptask_2025_10'::regclass, 'ptask_2025_11'::regclass) ORDER BY indexrelid::regclass::text;
SELECT regress_util.sqlstate_of($$SELECT ara_index_sql('not_flotilla')$$) AS index_missing_columns;

-- A role that may only SELECT the table can look up (as on a read replica); one without cannot.
SET client_min_messages = warning;
DROP ROLE IF EXISTS ara_regress_reader;
DROP ROLE IF EXISTS ara_regress_stranger;
RESET client_min_messages;
CREATE ROLE ara_regress_reader;
CREATE ROLE ara_regress_stranger;
GRANT USAGE ON SCHEMA lookup TO ara_regress_reader, ara_regress_stranger;
GRANT SELECT ON task TO ara_regress_reader;
SET ROLE ara_regress_reader;
SELECT memory, oom_runs FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd', '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01');
SELECT memory, oom_runs FROM ara_resources_for_run('eks-0d33-a443-43b9-45f9-04b780868880', '2025-11-24 15:10:01');
SELECT count(*) AS statements FROM ara_index_sql('task');
SET ROLE ara_regress_stranger;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h')$$) AS no_select_privilege;
SELECT regress_util.sqlstate_of($$SELECT ara_resources_for_run('r')$$) AS no_select_privilege_for_run;
RESET ROLE;

-- ara_resources keeps its query's plan per session, table and role: a lookup after the table changed
-- in the same session reads the table as it is now (hash column renamed and reconfigured, table
-- renamed, dropped and made again, privilege revoked).
CREATE TABLE kept (LIKE task);
INSERT INTO kept SELECT * FROM task;
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01', tbl => 'kept');
ALTER TABLE kept RENAME COLUMN command_hash TO old_hash;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 'kept')$$) AS hash_column_renamed;
ALTER TABLE kept ADD COLUMN run_key text;
UPDATE kept SET run_key = md5('another key');
SELECT ara_enable('kept', hash_column => 'run_key');
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01', tbl => 'kept') AS old_key;
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    md5('another key'), '2025-11-24 15:10:01', tbl => 'kept') AS configured_column;
ALTER TABLE kept RENAME TO kept2;
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    md5('another key'), '2025-11-24 15:10:01', tbl => 'kept2') AS renamed_table;
DROP TABLE kept2;
CREATE TABLE kept2 (LIKE task);
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01', tbl => 'kept2') AS new_table;
INSERT INTO kept2 SELECT * FROM task;
GRANT SELECT ON kept2 TO ara_regress_reader;
SET ROLE ara_regress_reader;
SELECT oom_runs, memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01', tbl => 'kept2') AS granted;
RESET ROLE;
REVOKE SELECT ON kept2 FROM ara_regress_reader;
SET ROLE ara_regress_reader;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 'kept2')$$) AS revoked;
RESET ROLE;
DROP TABLE kept2;
-- ... and when the SQL that writes the query changes (as ALTER EXTENSION pg_ara UPDATE may change
-- it): here ara_lookup_sql() is swapped for one whose query answers 42 runs, then put back.
SELECT oom_runs FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01') AS before_swap;
ALTER FUNCTION ara_internal.ara_lookup_sql(regclass) RENAME TO ara_lookup_sql_saved;
CREATE FUNCTION ara_internal.ara_lookup_sql(tbl regclass) RETURNS text LANGUAGE sql
AS $$ SELECT 'SELECT 42, 1::bigint, 2::bigint' $$;
SELECT oom_runs, raw_memory FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01') AS swapped;
DROP FUNCTION ara_internal.ara_lookup_sql(regclass);
ALTER FUNCTION ara_internal.ara_lookup_sql_saved(regclass) RENAME TO ara_lookup_sql;
SELECT oom_runs FROM ara_resources('sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
    '407f6885beaec163a742e8c3c8a50d3e', '2025-11-24 15:10:01') AS put_back;

-- Declared as promised: STABLE, documented, in the extension's schema.
SELECT p.oid::regprocedure AS function, p.provolatile, p.proparallel, p.prosecdef,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS documented
FROM pg_proc p WHERE p.proname IN ('ara_resources', 'ara_resources_for_run', 'ara_index_sql') ORDER BY p.oid::regprocedure::text;

DROP TABLE ptask, not_flotilla;
REVOKE ALL ON task FROM ara_regress_reader;
REVOKE ALL ON SCHEMA lookup FROM ara_regress_reader, ara_regress_stranger;
DROP ROLE ara_regress_reader;
DROP ROLE ara_regress_stranger;
RESET search_path;
