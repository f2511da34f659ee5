-- The benchmark's fixtures (scripts/bench.sh): data, contenders, a timer. psql variables: rows
-- (insert path), agg_rows (aggregate), lookup_rows, backfill_rows.
SET client_min_messages = warning;
CREATE EXTENSION pg_ara;
CREATE EXTENSION insert_username;   -- contrib: the cheapest C BEFORE ROW trigger that rewrites a text column
CREATE SCHEMA bench;
CREATE TABLE bench.results (section text, item text, contender text, rep int, ms numeric);
-- Server-side wall time of one statement, in ms (no client transfer in the figure).
CREATE FUNCTION bench.time_ms(sql text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE sql;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1);
END $$;

-- 1. The insert path: a Flotilla-shaped table (50 columns), commands of realistic length.
\set task_table bench.task_template
\ir flotilla_task.sql
CREATE UNLOGGED TABLE bench.staging (LIKE bench.task_template INCLUDING DEFAULTS);
INSERT INTO bench.staging (run_id, definition_id, alias, image, cluster_name, status, queued_at, group_name, task_type,
                           env, command, memory, cpu, gpu, engine, node_lifecycle, namespace, command_hash,
                           executable_id, executable_type, cpu_limit, memory_limit, attempt_count, description, "user",
                           arch, tier)
SELECT 'eks-' || md5(i::text), 'sf-base_python-3_9-' || (i % 300), 'alias-' || (i % 300), 'registry/img:' || (i % 20),
       'cluster-a', 'QUEUED', now(), 'group', 'task', '[{"name": "ENV", "value": "prod"}]',
       format('python3 /dsn-algo-adhoc/team%s/projects/fy25q4_calibration/run_%s.py --as_of %s --region us-east-1',
              i % 40, i % 300, 20251100 + i % 30),
       4096, 1000, 0, 'eks', 'spot', 'flotilla', md5('Job ' || (i % 300)), 'def-' || (i % 300), 'task_definition',
       1000, 4096, 1, 'Job ' || (i % 300), 'svc', 'amd64', '4'
FROM generate_series(1, greatest(:rows, :backfill_rows)) i;
CREATE FUNCTION bench.plpgsql_hash() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.command_hash := md5(NEW.command);
    RETURN NEW;
END $$;
-- The insert path's contenders, each a table: task_* for COPY, INSERT ... SELECT and UpdateRun,
-- one_* for the single-row INSERTs (pgbench), emptied before every run. No autovacuum on them:
-- they are emptied or reloaded by the benchmark itself, and an autovacuum worker running during
-- one contender's timed run would be charged to it.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['task_none', 'task_c_floor', 'task_pg_ara', 'task_plpgsql',
                             'one_none', 'one_c_floor', 'one_pg_ara', 'one_plpgsql'] LOOP
        EXECUTE format('CREATE TABLE bench.%I (LIKE bench.task_template INCLUDING ALL) WITH (autovacuum_enabled = off)', t);
        CASE substring(t FROM '_(.*)$')
            WHEN 'c_floor' THEN
                EXECUTE format('CREATE TRIGGER c_floor BEFORE INSERT ON bench.%I FOR EACH ROW EXECUTE FUNCTION insert_username(command_hash)', t);
            WHEN 'pg_ara' THEN
                PERFORM ara_enable(format('bench.%I', t)::regclass);
            WHEN 'plpgsql' THEN
                EXECUTE format('CREATE TRIGGER plpgsql_hash BEFORE INSERT ON bench.%I FOR EACH ROW EXECUTE FUNCTION bench.plpgsql_hash()', t);
            ELSE
                NULL;
        END CASE;
    END LOOP;
END $$;
-- UpdateRun's targets: the same rows in each table, for the pgbench UPDATE.
INSERT INTO bench.task_none SELECT * FROM bench.staging LIMIT 100000;
INSERT INTO bench.task_pg_ara SELECT * FROM bench.staging LIMIT 100000;

-- 2. The aggregate: one group of agg_rows values (memory in MB: many distinct values), and
--    3/10 of that with 20,000 distinct.
CREATE TABLE bench.m_wide AS SELECT (512 + (random() * 349488)::int)::bigint AS v FROM generate_series(1, :agg_rows);
CREATE TABLE bench.m_20k AS SELECT (512 + (random() * 20000)::int)::bigint AS v FROM generate_series(1, :agg_rows * 3 / 10);
-- GROUP BY: agg_rows / 2 rows in agg_rows / 200 groups.
CREATE TABLE bench.m_groups AS
SELECT (random() * (:agg_rows / 200 - 1))::int AS g, (512 + (random() * 60000)::int)::bigint AS v FROM generate_series(1, :agg_rows / 2);
-- GROUP BY over large groups (issue 16's case): agg_rows rows in 2,000 groups of ~agg_rows / 2,000
-- distinct values over 1..1,000,003; interleaved (every group appears in the first rows, as
-- definitions running side by side do) and the same rows group after group.
CREATE TABLE bench.m_big_groups AS
SELECT (random() * 1999)::int AS g, 1 + (random() * 1000002)::bigint AS v FROM generate_series(1, :agg_rows);
CREATE TABLE bench.m_big_clustered AS SELECT * FROM bench.m_big_groups ORDER BY g;
ANALYZE bench.m_wide, bench.m_20k, bench.m_groups, bench.m_big_groups, bench.m_big_clustered;

-- 3. The lookup: lookup_rows runs, 2% OOM, 200 definitions x 5 commands, over 30 days; the successful ones with
-- measured peaks (for the right_size lookups).
CREATE TABLE bench.lookup_task (LIKE bench.task_template INCLUDING ALL);
INSERT INTO bench.lookup_task (run_id, definition_id, command, command_hash, memory, cpu, exit_code, exit_reason, engine, queued_at, status,
                               max_memory_used, max_cpu_used)
SELECT 'r' || i, 'def-' || (i % 200), 'python3 job.py --shard ' || (i / 200 % 5), md5('python3 job.py --shard ' || (i / 200 % 5)),
       1024 + (i * 37) % 30000, 250 + (i * 13) % 8000,
       CASE WHEN i % 50 = 0 THEN 137 ELSE 0 END, CASE WHEN i % 50 = 0 THEN 'OOMKilled' END, 'eks',
       now() - random() * interval '30 days', 'STOPPED',
       CASE WHEN i % 50 <> 0 THEN 512 + (i * 31) % 20000 END, CASE WHEN i % 50 <> 0 THEN 100 + (i * 7) % 4000 END
FROM generate_series(1, :lookup_rows) i;
CREATE INDEX ON bench.lookup_task (definition_id);
ANALYZE bench.lookup_task;
-- The window reconstruction: lookup_rows / 5 runs of 100 keys.
CREATE TABLE bench.history AS
SELECT 'r' || i AS run_id, 'def-' || (i % 20) AS definition_id, md5((i % 5)::text) AS command_hash,
       (1024 + (i * 37) % 30000)::bigint AS memory, (i % 10 = 0) AS oom, now() - (i * interval '1 minute') AS queued_at
FROM generate_series(1, :lookup_rows / 5) i;
CREATE INDEX ON bench.history (definition_id, command_hash, queued_at) WHERE oom;
ANALYZE bench.history;

-- 4. The backfill: backfill_rows rows written by the buggy service.
CREATE TABLE bench.backfill_a (LIKE bench.task_template INCLUDING ALL);
INSERT INTO bench.backfill_a SELECT * FROM bench.staging LIMIT :backfill_rows;
CREATE TABLE bench.backfill_b (LIKE bench.task_template INCLUDING ALL);
INSERT INTO bench.backfill_b SELECT * FROM bench.staging LIMIT :backfill_rows;
SELECT ara_enable('bench.backfill_a'), ara_enable('bench.backfill_b');
CHECKPOINT;
