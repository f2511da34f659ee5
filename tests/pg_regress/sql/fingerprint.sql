-- Command fingerprints: the rules through SQL, the key per table and per definition, the key
-- before insert, the preview, and switching a definition on and off with backfill.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA fingerprint;
SET search_path = fingerprint, public;
SET timezone = 'UTC';

SELECT command_fingerprint_version();
SELECT c AS command, command_fingerprint(c) AS fingerprint
FROM (VALUES
  ('python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251123'),
  ('python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251122'),
  ('spark-submit --class com.acme.Job s3://jobs/job-1.2.jar --run-id 3f2b8c1e-9a4d-4e2b-8f1a-0c9d7e6b5a43 --since 2025-11-23T15:10:01Z'),
  ('DATE=2025-11-23 RETRIES=3   python3 etl.py --limit "500" --out s3://b/exports/2025/11/23/part-0000.parquet'),
  ('docker run app --commit 9f3c2a1b7e6d --epochs 12 --lr=0.001'),
  ('python3 train.py --epochs 3'), (''), ('   ')
) v(c);
SELECT command_fingerprint(NULL) IS NULL AS strict,
       command_fingerprint_hash(NULL, 'desc') = md5('desc') AS description_fallback,
       command_fingerprint_hash('   ', 'desc') = md5('desc') AS blank_command_falls_back,
       command_fingerprint_hash(NULL, NULL) IS NULL AS neither;
-- On 5,000 generated commands: the SQL key is command_hash of the fingerprint, and a fingerprint
-- is a fixed point.
CREATE TEMP TABLE gen AS
SELECT format('python3 /jobs/%s.py --as_of 2025%s%s --shard %s %s', (ARRAY['etl', 'train', 'score'])[1 + i % 3],
              lpad((1 + i % 12)::text, 2, '0'), lpad((1 + i % 28)::text, 2, '0'), i % 7,
              CASE WHEN i % 5 = 0 THEN '--id ' || md5(i::text) ELSE '' END) AS c
FROM generate_series(1, 5000) i;
SELECT count(*) AS commands, count(DISTINCT c) AS distinct_commands, count(DISTINCT command_fingerprint(c)) AS fingerprints,
       count(*) FILTER (WHERE command_fingerprint_hash(c, NULL) IS DISTINCT FROM command_hash(command_fingerprint(c))) AS key_mismatches,
       count(*) FILTER (WHERE command_fingerprint(command_fingerprint(c)) <> command_fingerprint(c)) AS not_fixed_points
FROM gen;

-- A Flotilla task table: a daily job whose command names the day, and a training job.
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz);
SELECT ara_enable('task');
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
SELECT 'daily-' || d, 'calibrate', 'python3 calibrate.py --as_of ' || to_char(day - interval '1 day', 'YYYYMMDD'),
       'Calibrate', CASE WHEN d % 2 = 0 THEN 1024 ELSE 1792 END, 256, CASE WHEN d % 3 = 0 THEN 137 ELSE 0 END, day
FROM (SELECT d, timestamptz '2025-11-01 06:00' + d * interval '1 day' AS day FROM generate_series(0, 20) d) s;
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
SELECT 'train-' || i, 'training', 'python3 train.py --epochs ' || (ARRAY[3, 50])[1 + i % 2],
       NULL, CASE WHEN i % 2 = 0 THEN 2048 ELSE 65536 END, 1000, CASE WHEN i % 4 < 2 THEN 137 ELSE 0 END,
       timestamptz '2025-11-01 08:00' + i * interval '10 hours'
FROM generate_series(0, 39) i;

-- Before switching: what fingerprints would do. The daily job's 21 commands become one, and most of
-- its runs gain history; training's two commands merge too, with a 32x memory spread: a warning.
SELECT definition_id, fingerprint, distinct_commands, runs, oom_runs, runs_gaining_history,
       min_command_memory_mb, max_command_memory_mb, memory_spread, warning, example_commands[1] AS example
FROM ara_fingerprint_preview();
SELECT definition_id, distinct_commands FROM ara_fingerprint_preview(definitions => ARRAY['training']);

-- Today (command key): the Nov 21 run has no history of its own.
SELECT oom_runs, memory FROM ara_resources_for_run('daily-20', as_of => '2025-11-21 06:00');

-- Opt the daily job in: new writes of that definition get the fingerprint key, the others not.
SELECT ara_set_key('task', 'fingerprint', definitions => ARRAY['calibrate']);
SELECT ara_set_key('task', 'fingerprint', definitions => ARRAY['calibrate']) AS again;
SELECT table_name, key, fingerprint_definitions FROM ara_status();
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at) VALUES
  ('daily-new', 'calibrate', 'python3 calibrate.py --as_of 20251121', 'Calibrate', 512, 256, NULL, '2025-11-22 06:00'),
  ('train-new', 'training', 'python3 train.py --epochs 3', NULL, 512, 256, NULL, '2025-11-22 06:00');
SELECT run_id, command_hash = command_fingerprint_hash(command, description) AS fingerprint_key,
       command_hash = command_hash(command, description) AS command_key
FROM task WHERE run_id IN ('daily-new', 'train-new') ORDER BY 1;
-- The key before insert equals what the trigger stored, for every row (in and out of the list).
SELECT count(*) AS rows_checked,
       count(*) FILTER (WHERE ara_key(definition_id, command, description) IS DISTINCT FROM command_hash) AS ara_key_differs
FROM task WHERE run_id IN ('daily-new', 'train-new');
-- Existing rows of the definition: re-keyed by the backfill, restricted to it.
SELECT rows_out_of_line FROM ara_hash_mismatches('task');
SET client_min_messages = warning;
CALL ara_backfill('task', definitions => ARRAY['calibrate']);
RESET client_min_messages;
SELECT rows_out_of_line FROM ara_hash_mismatches('task');
SELECT count(*) AS rows, count(*) FILTER (WHERE ara_key(definition_id, command, description) IS DISTINCT FROM command_hash) AS ara_key_differs
FROM task;
-- Now the Nov 21 run shares the daily job's history (the Nov 19 run's OOM): 1024 x 1.75 = 1792.
SELECT oom_runs, raw_memory, memory FROM ara_resources_for_run('daily-20', as_of => '2025-11-21 06:00');
SELECT section, memory, same_command FROM ara_explain('daily-20');
-- Commands merged on purpose are not collisions.
SELECT definition_id, distinct_commands FROM ara_collisions();
SELECT runs_out_of_line, colliding_keys FROM ara_impact();

-- Opt it out again: back to the command key, and the backfill re-keys it back.
SELECT ara_set_key('task', 'command', definitions => ARRAY['calibrate']);
SELECT table_name, key, fingerprint_definitions FROM ara_status();
SET client_min_messages = warning;
CALL ara_backfill('task', definitions => ARRAY['calibrate']);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE command_hash = command_hash(command, description)) AS command_keys, count(*) AS rows FROM task;
SELECT oom_runs FROM ara_resources_for_run('daily-20', as_of => '2025-11-21 06:00');

-- The whole table by fingerprint, then back.
SELECT ara_set_key('task', 'fingerprint');
INSERT INTO task (run_id, definition_id, command, memory, queued_at) VALUES ('t2', 'training', 'python3 train.py --epochs 7', 1, now());
SELECT command_hash = command_fingerprint_hash('python3 train.py --epochs 7', NULL) AS fingerprint_key FROM task WHERE run_id = 't2';
SELECT ara_key('training', 'python3 train.py --epochs 7', NULL) = command_fingerprint_hash('python3 train.py --epochs 7', NULL) AS ara_key_agrees;
SELECT regress_util.sqlstate_of($$SELECT ara_set_key('task', 'command', definitions => ARRAY['calibrate'])$$) AS per_definition_under_fingerprint;
SELECT ara_set_key('task', 'command');
SELECT table_name, key, fingerprint_definitions FROM ara_status();
-- ara_enable with the same columns keeps the key configuration (idempotent), and can set it.
SELECT ara_enable('task', fingerprint_definitions => ARRAY['training', 'calibrate', 'training']);
SELECT ara_enable('task');
SELECT table_name, key, fingerprint_definitions FROM ara_status();
-- The update trigger also fires when a run's definition changes (its key may change with it).
UPDATE task SET definition_id = 'calibrate' WHERE run_id = 't2';
SELECT command_hash = command_fingerprint_hash(command, NULL) AS fingerprint_key FROM task WHERE run_id = 't2';
UPDATE task SET definition_id = 'other' WHERE run_id = 't2';
SELECT command_hash = command_hash(command, NULL) AS command_key FROM task WHERE run_id = 't2';

-- Errors.
SELECT regress_util.sqlstate_of($$SELECT ara_set_key('task', 'exact')$$) AS bad_key;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task', key => 'sometimes')$$) AS bad_enable_key;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task', fingerprint_definitions => ARRAY['x'], definition_column => 'nope')$$) AS missing_definition_column;
CREATE TABLE other (run_id text PRIMARY KEY, command text, command_hash text);
SELECT regress_util.sqlstate_of($$SELECT ara_set_key('other', 'fingerprint')$$) AS not_enabled;
SELECT ara_key('d', 'python3 x.py --as_of 20251123', NULL, 'other') = command_hash('python3 x.py --as_of 20251123') AS not_enabled_key_is_command_hash;
SELECT regress_util.sqlstate_of($$SELECT * FROM ara_fingerprint_preview(lookback => '0')$$) AS bad_lookback;

SELECT ara_disable('task');
DROP TABLE task, other;
RESET search_path;
