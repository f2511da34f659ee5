-- ara_metrics() and ara_compare(): every figure equal to plain SQL over the same rows (the history
-- lookups through ara_resources(), the function the job service calls), the trigger's state and
-- the registry as a table's owner and a monitoring role see them, and the errors.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA monitoring;
SET search_path = monitoring, public;
SET timezone = 'UTC';

CREATE TABLE task (
    run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar, command_hash text,
    memory integer, cpu integer, exit_code integer, exit_reason varchar, status varchar,
    engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz, started_at timestamptz, finished_at timestamptz
);
CREATE INDEX task_queued_status_engine ON task (queued_at, status, engine);
-- Ten hours of runs written by the buggy service (hash = md5(description)): five definitions,
-- seven commands under two descriptions (collisions), some without description or command,
-- OOMs, Spark runs, a few at the 350000 MB cap.
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason,
                  status, engine, queued_at, started_at, finished_at)
SELECT 'run-' || lpad(i::text, 5, '0'), 'def-' || i % 5,
       CASE WHEN i % 23 = 0 THEN NULL ELSE 'python3 job.py --variant ' || i % 7 END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 'Job ' || i % 2 END,
       md5(CASE WHEN i % 13 = 0 THEN NULL ELSE 'Job ' || i % 2 END),
       CASE WHEN i % 97 = 0 THEN 350000 ELSE 1000 + (i % 4) * 500 END, 500,
       CASE WHEN i % 6 = 0 THEN 137 WHEN i % 17 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 12 = 0 THEN 'OOMKilled' END, 'STOPPED',
       CASE WHEN i % 11 = 0 THEN 'eks-spark' ELSE 'eks' END,
       q, q + interval '1 minute', q + (i % 5 + 1) * interval '10 minutes'
FROM generate_series(1, 1200) i, LATERAL (SELECT now() - i * interval '30 seconds' - interval '15 seconds' AS q) s;
SELECT ara_index_sql('monitoring.task') \gexec
ANALYZE task;

-- The reference: plain SQL over the runs of the last `recent`; the history as ara_resources()
-- finds it for each run as of its queue time.
CREATE FUNCTION reference(recent interval, cap integer DEFAULT 350000)
RETURNS TABLE (runs bigint, runs_without_hash bigint, runs_out_of_line bigint, oom_runs bigint,
               runs_at_memory_cap bigint, eligible_runs bigint, runs_with_history bigint, runs_without_history bigint,
               requested_memory_mb bigint, colliding_keys bigint)
LANGUAGE sql STABLE AS $$
    WITH r AS (
        SELECT t.*, command_hash(t.command, t.description) AS expected,
               (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') IS TRUE AS oom,
               t.engine = 'eks' AND (SELECT l.oom_runs FROM ara_resources(t.definition_id, t.command_hash, t.queued_at,
                                                                          'monitoring.task') l) > 0 AS found
        FROM monitoring.task t WHERE t.queued_at >= now() - recent AND t.queued_at < now()
    )
    SELECT count(*), count(*) FILTER (WHERE command_hash IS NULL AND expected IS NOT NULL),
           count(*) FILTER (WHERE command_hash IS DISTINCT FROM expected), count(*) FILTER (WHERE oom),
           count(*) FILTER (WHERE memory >= cap), count(*) FILTER (WHERE engine = 'eks'),
           count(*) FILTER (WHERE found), count(*) FILTER (WHERE engine = 'eks' AND NOT found),
           coalesce(sum(memory), 0),
           (SELECT count(*) FROM (SELECT definition_id, command_hash FROM r WHERE oom AND command_hash IS NOT NULL
                                  GROUP BY 1, 2 HAVING count(DISTINCT expected) > 1) c)
    FROM r
$$;
CREATE FUNCTION metrics_equal(recent interval, cap integer DEFAULT 350000) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (SELECT (m.runs, m.runs_without_hash, m.runs_out_of_line, m.oom_runs, m.runs_at_memory_cap, m.eligible_runs,
                    m.runs_with_history, m.runs_without_history, m.requested_memory_mb, m.colliding_keys)
            FROM ara_metrics('monitoring.task', recent, cap) m)
         = (SELECT (f.*)::record FROM monitoring.reference(recent, cap) f)
$$;

-- Not enabled yet: not watched, but a table can be asked about.
SELECT count(*) AS watched FROM ara_metrics() WHERE table_name = 'monitoring.task';
SELECT table_name, key, registered, triggers_present, triggers_enabled FROM ara_metrics('task');
SELECT metrics_equal('1 hour') AS one_hour, metrics_equal('3 hours') AS three_hours, metrics_equal('20 hours', 1500) AS all_runs_cap_1500;
-- The buggy history shows: runs without a hash, out of line, colliding keys.
SELECT m.runs_without_hash > 0 AS without_hash, m.runs_out_of_line > 0 AS out_of_line, m.colliding_keys > 0 AS colliding,
       m.runs_with_history > 0 AND m.runs_without_history > 0 AS both_kinds, m.runs_at_memory_cap > 0 AS at_cap,
       m.eligible_runs < m.runs AS spark_excluded
FROM ara_metrics('task', '20 hours') m;

-- Enabled: registered and watched, with its registration time.
SELECT ara_enable('task');
SELECT r.table_name, r.enabled_at <= now() AS enabled_at_set, r.enabled_by = current_user AS by_me
FROM ara_tables r WHERE r.table_name = 'task'::regclass;
-- Registrations of tables dropped since are gone (ara_enable prunes them).
SELECT count(*) AS dangling FROM ara_tables r WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.table_name);
SELECT table_name, key, registered, triggers_present, triggers_enabled FROM ara_metrics() WHERE table_name = 'monitoring.task';
-- New runs carry the right hash; after the backfill nothing is out of line, all equal to the reference.
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, engine, queued_at)
SELECT 'new-' || i, 'def-' || i % 5, 'python3 job.py --variant ' || i % 7, 'Job 0', 1500, 500,
       CASE WHEN i % 3 = 0 THEN 137 ELSE 0 END, 'eks', now() - i * interval '10 seconds'
FROM generate_series(1, 30) i;
SET client_min_messages = warning;
CALL ara_backfill('monitoring.task', batch_size => 500);
RESET client_min_messages;
SELECT metrics_equal('1 hour') AS one_hour, metrics_equal('20 hours') AS all_runs;
SELECT runs_without_hash, runs_out_of_line, colliding_keys, backfill_unfinished, backfill_rows_left
FROM ara_metrics('task', '20 hours');

-- Someone disables the insert trigger: the table shows up, and so do runs arriving without hash.
ALTER TABLE task DISABLE TRIGGER ara_command_hash_insert;
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, engine, queued_at)
SELECT 'unhashed-' || i, 'def-1', 'python3 job.py --variant 1', 'Job 1', 1000, 500, 0, 'eks', now() - i * interval '5 seconds'
FROM generate_series(1, 4) i;
SELECT triggers_present, triggers_enabled, runs_without_hash, runs_out_of_line FROM ara_metrics('task');
SELECT metrics_equal('1 hour') AS one_hour;
ALTER TABLE task ENABLE TRIGGER ara_command_hash_insert;
-- ... or drops it by hand: still watched (registered), present = 0.
DROP TRIGGER ara_command_hash_update ON task;
SELECT table_name, registered, triggers_present, triggers_enabled FROM ara_metrics() WHERE table_name = 'monitoring.task';
-- ara_enable repairs it; ara_disable unregisters, and the table leaves the list.
SELECT ara_enable('task');
SELECT triggers_present, triggers_enabled FROM ara_metrics('task');
SELECT ara_disable('task');
SELECT count(*) AS watched FROM ara_metrics() WHERE table_name = 'monitoring.task';
SELECT count(*) AS registrations FROM ara_tables WHERE table_name = 'task'::regclass;
-- Triggers dropped by hand, then ara_disable: it says so and clears the registration.
SELECT ara_enable('task');
DROP TRIGGER ara_command_hash_insert ON task;
DROP TRIGGER ara_command_hash_update ON task;
SELECT ara_disable('task');
SELECT count(*) AS registrations FROM ara_tables WHERE table_name = 'task'::regclass;
SELECT ara_enable('task');

-- A partitioned table: a trigger disabled on one partition is a disabled table.
CREATE TABLE ptask (LIKE task) PARTITION BY RANGE (queued_at);
CREATE TABLE ptask_old PARTITION OF ptask FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE ptask_new PARTITION OF ptask FOR VALUES FROM ('2000-01-01') TO (MAXVALUE);
SELECT ara_enable('ptask');
SELECT table_name, triggers_present, triggers_enabled FROM ara_metrics() WHERE table_name LIKE 'monitoring.%' ORDER BY 1;
ALTER TABLE ptask_new DISABLE TRIGGER ara_command_hash_update;
SELECT triggers_present, triggers_enabled FROM ara_metrics('ptask');
ALTER TABLE ptask_new ENABLE TRIGGER ara_command_hash_update;
SELECT triggers_present, triggers_enabled FROM ara_metrics('ptask');
-- A dropped table leaves the list (its registration row is never dumped).
DROP TABLE ptask;
SELECT count(*) AS watched FROM ara_metrics() WHERE table_name LIKE 'monitoring.%';

-- An interrupted backfill: unfinished, rows done, rows left from the planner's estimate.
INSERT INTO ara_backfill_progress (relid, last_key, rows_scanned, rows_changed, updated_at)
VALUES ('task'::regclass, ARRAY['run-00400'], 400, 10, now() - interval '10 minutes');
SELECT backfill_unfinished, backfill_rows_done,
       backfill_rows_left = (SELECT reltuples::bigint - 400 FROM pg_class WHERE oid = 'task'::regclass) AS rows_left_from_estimate,
       backfill_seconds_since_progress >= 600 AS ten_minutes_since_progress
FROM ara_metrics('task');

-- The monitoring role: pg_monitor and SELECT on the table, nothing else. It sees what the owner sees.
SET client_min_messages = warning;
DROP ROLE IF EXISTS ara_regress_monitor;
RESET client_min_messages;
CREATE ROLE ara_regress_monitor;
GRANT pg_monitor TO ara_regress_monitor;
GRANT USAGE ON SCHEMA monitoring TO ara_regress_monitor;
CREATE TABLE secret_task (LIKE task);
SELECT ara_enable('secret_task') IS NOT NULL AS enabled;
CREATE TEMP TABLE as_owner AS SELECT * FROM ara_metrics() WHERE table_name = 'monitoring.task';
ALTER TABLE as_owner DROP COLUMN backfill_seconds_since_progress;
GRANT SELECT ON task TO ara_regress_monitor;
GRANT SELECT ON as_owner TO ara_regress_monitor;
SET ROLE ara_regress_monitor;
-- (every column but the seconds since the backfill's progress, which grow between the two calls)
WITH seen AS (
    SELECT table_name, key, registered, triggers_present, triggers_enabled, readable, runs, runs_without_hash,
           runs_out_of_line, oom_runs, runs_at_memory_cap, eligible_runs, runs_with_history, runs_without_history,
           requested_memory_mb, colliding_keys, backfill_unfinished, backfill_rows_done, backfill_rows_left
    FROM ara_metrics() WHERE table_name = 'monitoring.task')
SELECT count(*) AS tables, NOT EXISTS (SELECT * FROM seen EXCEPT SELECT * FROM as_owner)
       AND NOT EXISTS (SELECT * FROM as_owner EXCEPT SELECT * FROM seen) AS monitor_sees_the_same
FROM seen;
-- A watched table it may not read: listed (its triggers are in the catalog), figures NULL, readable 0.
SELECT table_name, triggers_present, triggers_enabled, readable, runs, runs_without_hash
FROM ara_metrics() WHERE table_name = 'monitoring.secret_task';
SELECT coalesce(bool_and(readable = 0 AND runs IS NULL), true) AS other_unreadable_tables_listed_without_figures
FROM ara_metrics() WHERE NOT has_table_privilege(table_name::regclass, 'SELECT');
RESET ROLE;
REVOKE SELECT ON task FROM ara_regress_monitor;
SET ROLE ara_regress_monitor;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_metrics('monitoring.task')$$) AS without_select;
SELECT count(*) AS registrations_visible_without_select FROM ara_tables WHERE table_name IN ('task'::regclass, 'secret_task'::regclass);
RESET ROLE;
DROP TABLE as_owner;
DROP TABLE secret_task;
REVOKE ALL ON SCHEMA monitoring FROM ara_regress_monitor;
REVOKE pg_monitor FROM ara_regress_monitor;
DROP ROLE ara_regress_monitor;

-- ara_compare: per definition, plain SQL on each side of the pivot, history through ara_resources.
CREATE FUNCTION compare_reference(pivot timestamptz, span interval)
RETURNS TABLE (definition_id text, runs_before bigint, runs_after bigint, oom_rate_before numeric, oom_rate_after numeric,
               median_memory_before bigint, median_memory_after bigint, p95_memory_before bigint, p95_memory_after bigint,
               at_cap_before bigint, at_cap_after bigint, gb_hours_before numeric, gb_hours_after numeric,
               with_history_before bigint, with_history_after bigint)
LANGUAGE sql STABLE AS $$
    WITH side AS (
        SELECT s.after, t.definition_id::text AS d, t.memory::bigint AS memory,
               (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') IS TRUE AS oom,
               t.memory * coalesce(extract(epoch FROM t.finished_at - t.started_at), 0) / 3600.0 / 1024 AS gbh,
               t.engine = 'eks' AND (SELECT l.oom_runs FROM ara_resources(t.definition_id, t.command_hash, t.queued_at,
                                                                          'monitoring.task') l) > 0 AS found
        FROM (VALUES (false, pivot - span, pivot), (true, pivot, pivot + span)) s(after, lo, hi)
        JOIN monitoring.task t ON t.queued_at >= s.lo AND t.queued_at < s.hi
    ), agg AS (
        SELECT after, d, count(*) AS runs, round(avg(oom::int), 3) AS oom_rate,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY memory) AS median,
               percentile_disc(0.95) WITHIN GROUP (ORDER BY memory) AS p95,
               count(*) FILTER (WHERE memory >= 350000) AS cap, round(sum(gbh), 1) AS gbh,
               count(*) FILTER (WHERE found) AS hist
        FROM side GROUP BY 1, 2
    )
    SELECT coalesce(b.d, a.d), coalesce(b.runs, 0), coalesce(a.runs, 0), b.oom_rate, a.oom_rate, b.median, a.median,
           b.p95, a.p95, coalesce(b.cap, 0), coalesce(a.cap, 0), coalesce(b.gbh, 0), coalesce(a.gbh, 0),
           coalesce(b.hist, 0), coalesce(a.hist, 0)
    FROM (SELECT * FROM agg WHERE NOT after) b FULL JOIN (SELECT * FROM agg WHERE after) a ON a.d = b.d
$$;
SELECT (SELECT array_agg(c ORDER BY c.definition_id) FROM (
            SELECT definition_id, runs_before, runs_after, oom_rate_before, oom_rate_after, median_memory_before,
                   median_memory_after, p95_memory_before, p95_memory_after, at_cap_before, at_cap_after,
                   gb_hours_before, gb_hours_after, with_history_before, with_history_after
            FROM ara_compare(now() - interval '3 hours', 'task', '4 hours', '3 hours')) c)
     = (SELECT array_agg(r ORDER BY r.definition_id) FROM compare_reference(now() - interval '3 hours', interval '4 hours') r
        WHERE r.runs_before + r.runs_after > 0) AS compare_equals_reference;
-- Worst change first: a definition whose requests tripled after the pivot leads, with its bar.
UPDATE task SET memory = memory * 3 WHERE definition_id = 'def-3' AND queued_at >= now() - interval '3 hours';
SELECT definition_id, median_memory_before, median_memory_after, memory_change, bar
FROM ara_compare(now() - interval '3 hours', 'task', '4 hours', '3 hours') LIMIT 2;
-- The default pivot is when ara_enable first enabled the table (here: this transaction's start,
-- so the whole history is "before").
SELECT sum(runs_before) > 0 AS before, sum(runs_after) AS after FROM ara_compare(tbl => 'task', before => '20 hours');

-- Errors.
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_metrics(recent => '0')$$) AS zero_recent;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_metrics(memory_cap => 0)$$) AS zero_cap;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_metrics(engine => NULL)$$) AS null_engine;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_metrics('pg_catalog.pg_class')$$) AS not_a_task_table;
CREATE VIEW not_registered AS SELECT * FROM task;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_compare(tbl => 'monitoring.not_registered')$$) AS no_pivot;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_compare(now(), 'task', '0')$$) AS zero_before;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_compare(now(), 'task', memory_cap => 0)$$) AS zero_cap;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_compare(now(), 'pg_catalog.pg_class')$$) AS not_a_task_table;

SELECT ara_disable('task');
DROP SCHEMA monitoring CASCADE;
