-- Last in the schedule (it drops and re-creates the extension): pg_ara installed into another
-- schema, with that schema off the search_path, and everything still resolves.
DROP EXTENSION pg_ara;
CREATE SCHEMA ara;
CREATE EXTENSION pg_ara SCHEMA ara;
CREATE TABLE task2 (run_id text PRIMARY KEY, command text, description text, command_hash text);
SELECT ara.ara_enable('task2');
SET search_path = pg_catalog;
INSERT INTO public.task2 VALUES ('a', 'cmd', 'desc', 'wrong');
SELECT run_id, command_hash = ara.command_hash('cmd') AS in_line FROM public.task2;
-- The lookup and investigation functions too, on a Flotilla-shaped table.
CREATE TABLE public.task3 (run_id text PRIMARY KEY, definition_id text, command text, description text, command_hash text,
                           memory int, cpu int, exit_code int, exit_reason text, engine text DEFAULT 'eks', queued_at timestamptz);
SELECT ara.ara_enable('public.task3');
INSERT INTO public.task3 (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
VALUES ('o1', 'd', 'cmd', 'desc', 1024, 256, 137, '2025-11-23'), ('o2', 'd', 'cmd', 'desc', 512, 256, 0, '2025-11-24');
SELECT memory, cpu, oom_runs FROM ara.ara_resources_for_run('o2', '2025-11-24', tbl => 'public.task3');
SELECT total_runs, runs_out_of_line FROM ara.ara_impact('public.task3');
SELECT section, memory FROM ara.ara_explain('o2', tbl => 'public.task3');
SELECT count(*) FROM ara.ara_growth('d', ara.command_hash('cmd'), tbl => 'public.task3');
SELECT ara.ara_index_sql('public.task3');
RESET search_path;
DROP TABLE task2, task3;
DROP EXTENSION pg_ara;
DROP SCHEMA ara;
