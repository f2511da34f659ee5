-- The command_hash trigger on a table shaped like Flotilla's task, every writer path.
CREATE EXTENSION IF NOT EXISTS pg_ara;

CREATE TABLE task (
    run_id varchar PRIMARY KEY, definition_id varchar, alias varchar, image varchar, cluster_name varchar,
    exit_code integer, exit_reason varchar, status varchar, queued_at timestamptz, started_at timestamptz,
    finished_at timestamptz, instance_id varchar, instance_dns_name varchar, group_name varchar,
    task_type varchar, env jsonb, command text, memory integer, cpu integer, gpu integer, engine varchar NOT NULL DEFAULT 'eks',
    ephemeral_storage integer, node_lifecycle varchar, pod_name varchar, namespace varchar,
    max_cpu_used integer, max_memory_used integer, pod_events jsonb, command_hash text, cloudtrail_notifications jsonb,
    executable_id varchar, executable_type varchar, execution_request_custom jsonb, cpu_limit integer,
    memory_limit integer, attempt_count integer, spawned_runs jsonb, run_exceptions jsonb, active_deadline_seconds integer,
    spark_extension jsonb, metrics_uri varchar, description varchar, idempotence_key varchar, "user" varchar,
    arch varchar, labels jsonb, requires_docker boolean, service_account varchar, tier text
);
SELECT ara_enable('task');
SELECT ara_enable('task') AS again;
SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'task'::regclass ORDER BY 1;

-- INSERT with a client-sent description hash: overwritten with the command's.
INSERT INTO task (run_id, definition_id, command, description, command_hash, status)
VALUES ('r1', 'd1', 'python3 calibrate.py --as_of 20251123', 'Calibrate Psale Prod / Calibrate Psale',
        md5('Calibrate Psale Prod / Calibrate Psale'), 'QUEUED');
-- Without a description; Spark (no command: the description's hash); both NULL; empty command.
INSERT INTO task (run_id, command, description, engine) VALUES ('r2', 'echo hi', NULL, 'eks');
INSERT INTO task (run_id, command, description, engine) VALUES ('r3', NULL, 'spark nightly', 'eks-spark');
INSERT INTO task (run_id, command, description, command_hash) VALUES ('r4', NULL, NULL, 'bogus');
INSERT INTO task (run_id, command, description) VALUES ('r5', '', 'empty command');
-- Multi-row INSERT, COPY, INSERT ... ON CONFLICT DO UPDATE.
INSERT INTO task (run_id, command, description) VALUES ('r6', 'cmd six', 'x'), ('r7', 'cmd seven', 'x'), ('r8', 'cmd eight', NULL);
COPY task (run_id, command, description, command_hash) FROM stdin;
r9	copied command	desc	ffffffffffffffffffffffffffffffff
r10	\N	copied description	\N
\.
INSERT INTO task (run_id, command, description) VALUES ('r6', 'cmd six, upserted', 'x')
ON CONFLICT (run_id) DO UPDATE SET command = EXCLUDED.command, command_hash = 'client hash';
SELECT run_id, command, description, command_hash,
       command_hash IS NOT DISTINCT FROM command_hash(command, description) AS in_line
FROM task ORDER BY length(run_id), run_id;
-- The client sent the right key, or there is none to send: the row is kept as it came.
INSERT INTO task (run_id, command, description, command_hash)
VALUES ('k1', 'already right', 'x', md5('already right')), ('k2', NULL, NULL, NULL);
SELECT run_id, command_hash, command_hash IS NOT DISTINCT FROM command_hash(command, description) AS in_line
FROM task WHERE run_id IN ('k1', 'k2') ORDER BY 1;
DELETE FROM task WHERE run_id IN ('k1', 'k2');

-- UPDATE of the command, of the description, of the hash: recomputed.
UPDATE task SET command = 'echo bye' WHERE run_id = 'r2';
UPDATE task SET description = 'spark weekly' WHERE run_id = 'r3';
UPDATE task SET command_hash = 'tampered' WHERE run_id = 'r1';
SELECT run_id, command_hash = command_hash(command, description) AS in_line FROM task WHERE run_id IN ('r1', 'r2', 'r3') ORDER BY 1;

-- Status-only updates and Flotilla's UpdateRun (sets command, unchanged, among ~40 columns): the
-- trigger function is not even called. Its calls are counted inside one transaction
-- (pg_stat_xact_user_functions: this transaction's own, on every major).
SET track_functions = 'all';
BEGIN;
UPDATE task SET status = 'RUNNING' WHERE run_id = 'r1';
UPDATE task SET definition_id = definition_id, alias = 'a', image = 'img', cluster_name = 'c', exit_code = NULL,
       exit_reason = NULL, status = 'RUNNING', queued_at = queued_at, started_at = now(), finished_at = NULL,
       instance_id = 'i', instance_dns_name = 'dns', group_name = 'g', task_type = 'task', env = '[]', command = command,
       memory = 1024, cpu = 256, gpu = 0, engine = engine, ephemeral_storage = NULL, node_lifecycle = 'spot',
       pod_name = 'pod', namespace = 'ns', max_cpu_used = 10, max_memory_used = 900, pod_events = NULL,
       cloudtrail_notifications = NULL, executable_id = 'e', executable_type = 'task_definition',
       execution_request_custom = NULL, cpu_limit = 256, memory_limit = 1024, attempt_count = 1, spawned_runs = NULL,
       run_exceptions = NULL, active_deadline_seconds = NULL, spark_extension = NULL, metrics_uri = NULL,
       description = description, idempotence_key = NULL, "user" = 'u', arch = 'amd64', labels = NULL,
       requires_docker = false, service_account = NULL, tier = '4'
WHERE run_id IN ('r1', 'r2', 'r3', 'r6');
SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'ara_command_hash_trigger'), 0)
       AS trigger_calls_for_status_updates;
-- ... while a real command change does call it.
UPDATE task SET command = 'echo again' WHERE run_id = 'r2';
SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'ara_command_hash_trigger'), 0)
       AS trigger_calls_after_command_change;
COMMIT;
RESET track_functions;

-- Enable with other columns replaces the triggers; description_column => NULL turns the fallback off.
SELECT ara_enable('task', description_column => NULL);
SELECT count(*) AS ara_triggers FROM pg_trigger WHERE tgrelid = 'task'::regclass AND tgname LIKE 'ara_%';
INSERT INTO task (run_id, command, description) VALUES ('r11', NULL, 'no fallback now');
SELECT run_id, command_hash FROM task WHERE run_id = 'r11';
SELECT * FROM ara_status();
SELECT ara_enable('task');
SELECT * FROM ara_hash_mismatches('task');
SELECT ara_disable('task');
SELECT ara_disable('task') AS again;
INSERT INTO task (run_id, command, command_hash) VALUES ('r12', 'after disable', 'left alone');
SELECT run_id, command_hash FROM task WHERE run_id = 'r12';
SELECT count(*) AS tables_enabled FROM ara_status();

-- Validation, each with its SQLSTATE.
CREATE VIEW task_view AS SELECT * FROM task;
CREATE TABLE wrong_types (run_id text PRIMARY KEY, command integer, command_hash varchar(16), description text, other text);
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task_view')$$) AS view;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('no_such_table')$$) AS missing_table;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task', command_column => 'cmd')$$) AS missing_column;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task', description_column => 'nope')$$) AS missing_description;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('wrong_types')$$) AS integer_command;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('wrong_types', command_column => 'other')$$) AS short_varchar_hash;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task', hash_column => 'command')$$) AS same_column;
SELECT regress_util.sqlstate_of($$SELECT ara_enable(NULL)$$) AS null_table;
SELECT regress_util.sqlstate_of($$SELECT ara_hash_mismatches('wrong_types')$$) AS not_enabled;
SET client_min_messages = warning;
DROP ROLE IF EXISTS ara_regress_nobody;
RESET client_min_messages;
CREATE ROLE ara_regress_nobody;
GRANT USAGE ON SCHEMA public TO ara_regress_nobody;
SET ROLE ara_regress_nobody;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task')$$) AS no_trigger_privilege;
RESET ROLE;
GRANT TRIGGER ON task TO ara_regress_nobody;
SET ROLE ara_regress_nobody;
SELECT regress_util.sqlstate_of($$SELECT ara_enable('task')$$) AS with_trigger_privilege;
RESET ROLE;
SELECT ara_disable('task');
-- A trigger installed by hand with bad arguments, or fired the wrong way, errors clearly.
CREATE TABLE handmade (id int PRIMARY KEY, command text, command_hash text);
CREATE TRIGGER bad BEFORE INSERT ON handmade FOR EACH ROW EXECUTE FUNCTION ara_internal.ara_command_hash_trigger('command');
SELECT regress_util.sqlstate_of($$INSERT INTO handmade VALUES (1, 'x', NULL)$$) AS one_argument;
DROP TRIGGER bad ON handmade;
CREATE TRIGGER bad AFTER INSERT ON handmade FOR EACH ROW EXECUTE FUNCTION ara_internal.ara_command_hash_trigger('command', 'command_hash');
SELECT regress_util.sqlstate_of($$INSERT INTO handmade VALUES (2, 'x', NULL)$$) AS after_trigger;
DROP TRIGGER bad ON handmade;
-- Called as a function, not by the trigger manager.
SELECT regress_util.sqlstate_of($$SELECT ara_internal.ara_command_hash_trigger()$$) AS called_directly;
-- Renaming a column after ara_enable: a clear error, not a wrong hash.
SELECT ara_enable('handmade', description_column => NULL);
ALTER TABLE handmade RENAME COLUMN command TO cmd;
SELECT regress_util.sqlstate_of($$INSERT INTO handmade VALUES (3, 'x', NULL)$$) AS renamed_column;
DROP TABLE handmade;

-- A partitioned task table (by queued_at), with a partition created after ara_enable.
CREATE TABLE ptask (run_id varchar, queued_at timestamptz, definition_id varchar, command text,
                    description varchar, command_hash text, status varchar, PRIMARY KEY (run_id, queued_at))
PARTITION BY RANGE (queued_at);
CREATE TABLE ptask_2025_11 PARTITION OF ptask FOR VALUES FROM ('2025-11-01') TO ('2025-12-01');
SELECT ara_enable('ptask');
CREATE TABLE ptask_2025_12 PARTITION OF ptask FOR VALUES FROM ('2025-12-01') TO ('2026-01-01');
INSERT INTO ptask VALUES ('p1', '2025-11-20', 'd', 'cmd a', 'desc', md5('desc'), 'QUEUED'),
                         ('p2', '2025-12-20', 'd', 'cmd b', 'desc', md5('desc'), 'QUEUED'),
                         ('p3', '2025-12-21', 'd', NULL, 'spark', NULL, 'QUEUED');
UPDATE ptask SET command = 'cmd c' WHERE run_id = 'p1';
-- An update that moves a row to the other partition keeps its hash right.
UPDATE ptask SET queued_at = '2025-12-02', command = 'cmd moved' WHERE run_id = 'p1';
SELECT tableoid::regclass AS partition, run_id, command_hash = command_hash(command, description) AS in_line
FROM ptask ORDER BY run_id;
SELECT table_name, partitioned FROM ara_status() ORDER BY table_name::text;

DROP TABLE ptask, task, wrong_types CASCADE;
REVOKE ALL ON SCHEMA public FROM ara_regress_nobody;
DROP ROLE ara_regress_nobody;
