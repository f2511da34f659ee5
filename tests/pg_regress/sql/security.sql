-- Privileges and hostile search_path: nothing SECURITY DEFINER; look-alike objects earlier on the
-- search_path change nothing; a table owner who is not a superuser can do everything; a role
-- without privileges gets 42501 from every function that touches the table.
CREATE EXTENSION IF NOT EXISTS pg_ara;

SELECT count(*) AS security_definer_functions
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_ara'
WHERE p.prosecdef;
-- Every SQL-language and PL/pgSQL function pins its search_path; the procedure (which commits)
-- pins it per transaction in its body instead.
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_ara'
JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname IN ('sql', 'plpgsql') AND p.prokind <> 'p'
  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
ORDER BY 1::regprocedure::text;
SELECT extname, extrelocatable, (SELECT trusted FROM pg_available_extension_versions v
                                 WHERE v.name = 'pg_ara' AND v.version = e.extversion) AS trusted
FROM pg_extension e WHERE extname = 'pg_ara';

-- A schema of look-alikes, first on the search_path, every one of them raising if ever called.
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a look-alike object was used'; END $$;
CREATE FUNCTION evil.md5(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.command_hash(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.command_hash(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.command_fingerprint_hash(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.format(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.format(text, name) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 'x'; END $$;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN 0; END $$;
CREATE FUNCTION evil.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN false; END $$;
CREATE FUNCTION evil.varchar_gt(varchar, varchar) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM evil.trap(); RETURN false; END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.text_eq);
CREATE OPERATOR evil.> (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = evil.varchar_gt);
CREATE TABLE public.sec_task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                              command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                              engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz);
INSERT INTO public.sec_task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'r' || lpad(i::text, 3, '0'), 'd', 'cmd ' || (i % 4), 'desc', md5('desc'), 1000 + i, 250, CASE WHEN i % 2 = 0 THEN 137 END,
       timestamptz '2025-11-23 00:00+00' + i * interval '1 minute'
FROM generate_series(1, 40) i;
SET search_path = evil, pg_catalog, public;
SELECT public.ara_enable('public.sec_task');
SELECT public.ara_set_key('public.sec_task', 'fingerprint', definitions => ARRAY['x']);
SET client_min_messages = warning;   -- progress NOTICEs carry rates, which vary
CALL public.ara_backfill('public.sec_task', batch_size => 7);
RESET client_min_messages;
SELECT rows_out_of_line FROM public.ara_hash_mismatches('public.sec_task');
SELECT memory, oom_runs FROM public.ara_resources('d', public.command_hash('cmd 0'), '2025-11-24', tbl => 'public.sec_task');
SELECT memory, oom_runs FROM public.ara_resources_for_run('r040', '2025-11-24', tbl => 'public.sec_task');
SELECT total_runs, runs_out_of_line, colliding_keys FROM public.ara_impact('public.sec_task');
SELECT count(*) AS collisions FROM public.ara_collisions('public.sec_task');
SELECT count(*) AS null_hashes FROM public.ara_null_hashes('public.sec_task');
SELECT count(*) AS explain_rows FROM public.ara_explain('r040', tbl => 'public.sec_task');
SELECT count(*) AS growth_rows FROM public.ara_growth('d', public.command_hash('cmd 0'), tbl => 'public.sec_task');
SELECT count(*) AS preview_rows FROM public.ara_fingerprint_preview('public.sec_task');
SELECT public.ara_key('d', 'cmd 0', 'desc', 'public.sec_task') OPERATOR(pg_catalog.=) pg_catalog.md5('cmd 0') AS ara_key_right;
SELECT count(*) AS statuses FROM public.ara_status(true);
SELECT public.ara_estimate(memory) FROM public.sec_task;
SELECT count(*) AS index_statements FROM public.ara_index_sql('public.sec_task');
SELECT public.ara_disable('public.sec_task');
RESET search_path;
DROP SCHEMA evil CASCADE;

-- A table owner who is not a superuser: enables, backfills, looks up, estimates, investigates.
SET client_min_messages = warning;
DROP ROLE IF EXISTS ara_regress_owner;
DROP ROLE IF EXISTS ara_regress_nobody2;
RESET client_min_messages;
CREATE ROLE ara_regress_owner LOGIN;
CREATE ROLE ara_regress_nobody2;
CREATE SCHEMA sec AUTHORIZATION ara_regress_owner;
GRANT USAGE ON SCHEMA sec TO ara_regress_nobody2;
SET ROLE ara_regress_owner;
CREATE TABLE sec.task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                       command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                       engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz);
INSERT INTO sec.task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'r' || i, 'd', 'cmd', 'desc', md5('desc'), 1024, 256, 137, timestamptz '2025-11-23 00:00+00' + i * interval '1 minute'
FROM generate_series(1, 10) i;
SELECT ara_enable('sec.task');
SET client_min_messages = warning;
CALL ara_backfill('sec.task');
RESET client_min_messages;
SELECT rows_out_of_line FROM ara_hash_mismatches('sec.task');
SELECT memory, oom_runs FROM ara_resources('d', command_hash('cmd'), '2025-11-24', tbl => 'sec.task');
SELECT ara_estimate(memory) AS estimate, (SELECT total_runs FROM ara_impact('sec.task')) AS runs FROM sec.task;
SELECT ara_set_key('sec.task', 'fingerprint');
SELECT ara_set_key('sec.task', 'command');

-- A role with no privilege on the table: 42501 from every function that touches it.
SET ROLE ara_regress_nobody2;
SELECT f AS function, regress_util.sqlstate_of(q) AS result
FROM (VALUES
  ('ara_enable', $$SELECT ara_enable('sec.task', description_column => NULL)$$),
  ('ara_disable', $$SELECT ara_disable('sec.task')$$),
  ('ara_set_key', $$SELECT ara_set_key('sec.task', 'fingerprint')$$),
  ('ara_hash_mismatches', $$SELECT ara_hash_mismatches('sec.task')$$),
  ('ara_resources', $$SELECT ara_resources('d', 'h', tbl => 'sec.task')$$),
  ('ara_resources_for_run', $$SELECT ara_resources_for_run('r1', tbl => 'sec.task')$$),
  ('ara_index_sql', $$SELECT ara_index_sql('sec.task')$$),
  ('ara_collisions', $$SELECT ara_collisions('sec.task')$$),
  ('ara_null_hashes', $$SELECT ara_null_hashes('sec.task')$$),
  ('ara_impact', $$SELECT ara_impact('sec.task')$$),
  ('ara_explain', $$SELECT ara_explain('r1', tbl => 'sec.task')$$),
  ('ara_growth', $$SELECT ara_growth('d', 'h', tbl => 'sec.task')$$),
  ('ara_fingerprint_preview', $$SELECT ara_fingerprint_preview('sec.task')$$),
  ('ara_estimate over it', $$SELECT ara_estimate(memory) FROM sec.task$$)
) v(f, q)
ORDER BY 1;
-- The procedure cannot be called through sqlstate_of (it commits): directly.
\set VERBOSITY terse
CALL ara_backfill('sec.task');
CALL ara_backfill('sec.task', dry_run => true);
\set VERBOSITY default
RESET ROLE;
-- CREATE EXTENSION needs a superuser: pg_ara is not a trusted extension (see docs/guarantees.md).
-- Even the owner of a database cannot create it there.
SELECT superuser, trusted FROM pg_available_extension_versions WHERE name = 'pg_ara' AND version = (SELECT extversion FROM pg_extension WHERE extname = 'pg_ara');
\set home :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS ara_regress_owned;
RESET client_min_messages;
CREATE DATABASE ara_regress_owned OWNER ara_regress_owner;
\c ara_regress_owned ara_regress_owner
\set VERBOSITY terse
CREATE EXTENSION pg_ara;
\set VERBOSITY default
\c :home postgres
DROP DATABASE ara_regress_owned;

DROP SCHEMA sec CASCADE;
DROP TABLE public.sec_task;
DELETE FROM ara_backfill_progress;
DROP ROLE ara_regress_owner;
DROP ROLE ara_regress_nobody2;
