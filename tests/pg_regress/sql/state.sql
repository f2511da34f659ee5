-- ara_state_export() / ara_state_import(): pg_ara's state on a server, carried between editions
-- (docs/managed.md): each enabled table's trigger configuration, the registrations, the sizing
-- choices and the backfill progress; refused while objects outside pg_ara depend on it.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA state;
SET search_path = state, public;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, cmd_hash text, description varchar,
                   memory integer, cpu integer, exit_code integer, exit_reason varchar, engine varchar DEFAULT 'eks',
                   queued_at timestamptz, max_memory_used integer, max_cpu_used integer);
INSERT INTO task (run_id, definition_id, command, description, memory, exit_code, queued_at)
SELECT 'r' || i, 'def-' || (i % 3), 'python3 job.py --as_of ' || (20251101 + i % 4), 'Job', 1000 + i,
       CASE WHEN i % 2 = 0 THEN 137 ELSE 0 END, timestamptz '2026-11-01' + i * interval '1 minute'
FROM generate_series(1, 40) i;
SELECT ara_enable('state.task', hash_column => 'cmd_hash', fingerprint_definitions => ARRAY['def-2']);
SELECT ara_set_policy('state.task', 'right_size', ARRAY['def-1'], headroom => 1.3);
SET client_min_messages = warning;   -- (the backfill's progress notices say rows per second)
CALL ara_backfill('state.task', batch_size => 10);
RESET client_min_messages;
-- What is exported (times left out: they move).
SELECT jsonb_path_query_array(s->'tables', '$[*] ? (@.table == "state.task")') AS tables,
       jsonb_path_query_array(s->'registered', '$[*] ? (@.table == "state.task").table') AS registered,
       jsonb_path_query_array(s->'sizing', '$[*] ? (@.table == "state.task").policy') AS sizing,
       jsonb_path_query_array(s->'backfill_progress', '$[*] ? (@.table == "state.task").last_key') AS progress,
       s->'dependents' AS dependents
FROM (SELECT ara_state_export() AS s) x;
CREATE TABLE saved AS SELECT ara_state_export() AS state;
-- Gone (as DROP EXTENSION leaves it), then restored: triggers, registration, choice and progress as they were.
SELECT ara_disable('state.task');
DELETE FROM ara_sizing WHERE table_name = 'state.task'::regclass;
DELETE FROM ara_backfill_progress WHERE relid = 'state.task'::regclass;
SELECT ara_state_import(state) FROM saved;
SELECT ara_state_import(state) FROM saved;   -- again: the same state
SELECT table_name, hash_column, key, fingerprint_definitions FROM ara_status() WHERE table_name = 'state.task'::regclass;
SELECT definition_id, policy, headroom FROM ara_sizing WHERE table_name = 'state.task'::regclass;
SELECT last_key, rows_scanned, finished_at IS NOT NULL AS finished FROM ara_backfill_progress WHERE relid = 'state.task'::regclass;
SELECT (SELECT enabled_at FROM ara_tables WHERE table_name = 'state.task'::regclass)
     = (SELECT (e->>'enabled_at')::timestamptz FROM saved, jsonb_array_elements(state->'registered') e
         WHERE e->>'table' = 'state.task') AS enabled_at_kept;
INSERT INTO task (run_id, definition_id, command, cmd_hash) VALUES ('new', 'def-2', 'run.py --as_of 20251123', 'x')
RETURNING cmd_hash = md5('run.py --as_of <date>') AS fingerprint_key;
-- A view over ara_estimate would be dropped with pg_ara: the export refuses, naming it.
CREATE VIEW est AS SELECT ara_estimate(memory) AS e FROM task;
SELECT regress_util.sqlstate_of('SELECT ara_state_export()') AS dependents_refused;
SELECT s->'dependents' AS dependents FROM (SELECT ara_state_export(allow_dependents => true) AS s) x;
DROP VIEW est;
-- Errors.
SELECT regress_util.sqlstate_of($$SELECT ara_state_import('{}')$$) AS not_a_state,
       regress_util.sqlstate_of($$SELECT ara_state_import('{"tables": [{"table": "state.nowhere", "command_column": "command", "hash_column": "h"}]}')$$) AS no_such_table;
RESET search_path;
DROP SCHEMA state CASCADE;
