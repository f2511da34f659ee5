-- Hostile and odd input: a defined result or an error with a SQLSTATE, never a crash or a silently
-- wrong answer.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA hostile;
SET search_path = hostile, public;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz);

-- NULLs everywhere.
SELECT command_hash(NULL) IS NULL AS a, command_hash(NULL, NULL) IS NULL AS b, command_fingerprint(NULL) IS NULL AS c,
       command_fingerprint_hash(NULL, NULL) IS NULL AS d, ara_key(NULL, NULL, NULL) IS NULL AS e;
SELECT ara_estimate(v) AS all_null, ara_estimate(v, NULL) AS null_percentile, ara_estimate(v, 0.5, NULL) AS null_multiplier
FROM (VALUES (NULL::bigint), (NULL)) t(v);
SELECT ara_estimate(v) AS no_rows FROM (SELECT 1::bigint WHERE false) t(v);
SELECT * FROM ara_resources(NULL, NULL);
SELECT f, regress_util.sqlstate_of(q) FROM (VALUES
  ('ara_resources as_of', $$SELECT ara_resources('d', 'h', NULL)$$),
  ('ara_resources tbl', $$SELECT ara_resources('d', 'h', tbl => NULL)$$),
  ('ara_explain', $$SELECT ara_explain(NULL)$$),
  ('ara_collisions', $$SELECT ara_collisions(NULL)$$),
  ('ara_impact', $$SELECT ara_impact(NULL)$$),
  ('ara_null_hashes', $$SELECT ara_null_hashes(NULL)$$),
  ('ara_growth', $$SELECT ara_growth(NULL, NULL, NULL)$$),
  ('ara_index_sql', $$SELECT ara_index_sql(NULL)$$),
  ('ara_enable', $$SELECT ara_enable(NULL)$$),
  ('ara_disable', $$SELECT ara_disable(NULL)$$),
  ('ara_set_key', $$SELECT ara_set_key(NULL, NULL)$$),
  ('ara_key tbl', $$SELECT ara_key('d', 'c', 'x', NULL)$$),
  ('ara_fingerprint_preview', $$SELECT ara_fingerprint_preview(NULL)$$),
  ('ara_enable lock_timeout', $$SELECT ara_enable('pg_class', lock_timeout => NULL)$$)
) v(f, q) ORDER BY 1;

-- Percentiles: NaN, infinities, -0 (= 0: the first value), just outside [0, 1].
SELECT p::text, regress_util.sqlstate_of(format('SELECT ara_estimate(v, %L::float8) FROM (VALUES (1::bigint), (2)) t(v)', p)) AS ours,
       regress_util.sqlstate_of(format('SELECT percentile_disc(%L::float8) WITHIN GROUP (ORDER BY v) FROM (VALUES (1::bigint), (2)) t(v)', p)) AS builtin
FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity', '1.0000000000000002', '-1e-300']) p;
SELECT ara_estimate(v, '-0'::float8, 1) AS minus_zero, percentile_disc('-0'::float8) WITHIN GROUP (ORDER BY v) AS builtin
FROM (VALUES (5::bigint), (7), (9)) t(v);
-- Multipliers: negative, tiny, huge, NaN, infinity; values at the bigint limits. Each as the built-in.
SELECT m, regress_util.sqlstate_of(format('SELECT ara_estimate(v, 1, %s) FROM (VALUES (%s::bigint)) t(v)', m, v)) AS ours,
       (SELECT ara_estimate(x, 1, m::numeric) FROM (VALUES (v::bigint)) t(x)
         WHERE regress_util.sqlstate_of(format('SELECT ara_estimate(v, 1, %s) FROM (VALUES (%s::bigint)) t(v)', m, v)) = 'no error') AS value,
       regress_util.sqlstate_of(format('SELECT cast(percentile_disc(1) WITHIN GROUP (ORDER BY v) * %s AS bigint) FROM (VALUES (%s::bigint)) t(v)', m, v)) AS builtin
FROM (VALUES ('-1.75', '1024'), ('0.000000000000000000000000000001', '1024'), ('1e30', '1024'),
             ('''NaN''::numeric', '1'), ('''Infinity''::numeric', '1'), ('1', '9223372036854775807'),
             ('1', '-9223372036854775808'), ('-1', '-9223372036854775808'), ('2', '9223372036854775807'),
             ('0.5', '-9223372036854775807')) c(m, v)
ORDER BY 1, 2;

-- The trigger on names that need quoting: mixed case, spaces, quotes, Unicode; a table in another
-- schema; a temporary table.
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Task ""Runs"" ✓" ("Run Id" text PRIMARY KEY, "Command Text" text, "Hash ""H""" varchar(32),
                                            "Déscription" text);
SELECT ara_enable('"Odd Schema"."Task ""Runs"" ✓"', command_column => 'Command Text', hash_column => 'Hash "H"',
                  description_column => 'Déscription');
INSERT INTO "Odd Schema"."Task ""Runs"" ✓" VALUES ('1', 'python3 ünïcode.py', NULL, 'd'), ('2', NULL, NULL, 'Déscription');
SELECT "Run Id", "Hash ""H""" = command_hash("Command Text", "Déscription") AS in_line FROM "Odd Schema"."Task ""Runs"" ✓" ORDER BY 1;
SELECT table_name, command_column, hash_column, description_column FROM ara_status() WHERE table_name::text LIKE '%Odd%';
SELECT regress_util.sqlstate_of($$SELECT ara_index_sql('"Odd Schema"."Task ""Runs"" ✓"')$$) AS index_needs_definition_id;
SET client_min_messages = warning;
CALL ara_backfill('"Odd Schema"."Task ""Runs"" ✓"');
RESET client_min_messages;
SELECT ara_disable('"Odd Schema"."Task ""Runs"" ✓"');
CREATE TEMP TABLE temp_task (run_id text PRIMARY KEY, command text, command_hash text, description text);
SELECT ara_enable('temp_task') LIKE 'pg_ara enabled on %temp_task%' AS temp_enabled;
INSERT INTO temp_task VALUES ('t', 'echo temp', 'wrong', NULL);
SELECT command_hash = md5('echo temp') AS temp_in_line FROM temp_task;
-- Not tables: a view, a materialized view, a foreign table, a sequence.
CREATE VIEW v_task AS SELECT * FROM temp_task;
CREATE MATERIALIZED VIEW mv_task AS SELECT 'r'::text AS run_id, 'c'::text AS command, ''::text AS command_hash;
CREATE SEQUENCE s_task;
CREATE FOREIGN DATA WRAPPER ara_regress_fdw;
CREATE SERVER ara_regress_server FOREIGN DATA WRAPPER ara_regress_fdw;
CREATE FOREIGN TABLE f_task (run_id text, command text, command_hash text, description text) SERVER ara_regress_server;
SELECT r, regress_util.sqlstate_of(format('SELECT ara_enable(%L)', r)) FROM unnest(ARRAY['v_task', 'mv_task', 's_task', 'f_task']) r;
SELECT regress_util.sqlstate_of($$SELECT ara_resources('d', 'h', tbl => 's_task')$$) AS sequence_lookup;

-- A column the triggers use cannot be dropped or retyped (PostgreSQL records the update trigger's
-- dependency on its columns); dropped with CASCADE (which drops that trigger), inserts fail
-- clearly instead of storing a wrong hash, until ara_enable is run again.
CREATE TABLE drop_task (run_id text PRIMARY KEY, command text, command_hash text, description text);
SELECT ara_enable('drop_task');
INSERT INTO drop_task VALUES ('1', 'a', NULL, NULL);
SELECT regress_util.sqlstate_of($$ALTER TABLE drop_task DROP COLUMN description$$) AS drop_used_column;
SELECT regress_util.sqlstate_of($$ALTER TABLE drop_task ALTER COLUMN command TYPE integer USING length(command)$$) AS retype_used_column;
ALTER TABLE drop_task DROP COLUMN description CASCADE;
SELECT regress_util.sqlstate_of($$INSERT INTO drop_task VALUES ('2', 'b', NULL)$$) AS insert_after_drop;
ALTER TABLE drop_task ALTER COLUMN command TYPE varchar(100);
SELECT regress_util.sqlstate_of($$INSERT INTO drop_task VALUES ('3', 'c', NULL)$$) AS still_failing;
SELECT ara_enable('drop_task', description_column => NULL);
INSERT INTO drop_task VALUES ('4', 'd', NULL);
SELECT run_id, command_hash = md5(command::text) AS in_line FROM drop_task ORDER BY 1;
ALTER TABLE drop_task ADD COLUMN description text;
SELECT ara_enable('drop_task');
DROP TABLE drop_task;

-- Empty and whitespace-only commands; a 100 MB command through the trigger and the functions.
CREATE TABLE big_task (run_id text PRIMARY KEY, command text, command_hash text, description text);
SELECT ara_enable('big_task');
INSERT INTO big_task VALUES ('empty', '', NULL, 'desc'), ('blank', E' \t\n ', NULL, 'desc'), ('neither', '', NULL, '');
SELECT run_id, command_hash IS NOT DISTINCT FROM command_hash(command, description) AS in_line,
       command_hash = md5(command) AS of_command, command_hash = md5(description) AS of_description
FROM big_task ORDER BY 1;
INSERT INTO big_task VALUES ('100MB', repeat('python3 x.py --as_of 20251123 ', 3495253), NULL, NULL);
SELECT length(command) AS bytes, command_hash = md5(command) AS hash_right,
       length(f) AS fingerprint_bytes, left(f, 60) AS fingerprint_starts, command_fingerprint_hash(command, NULL) = md5(f) AS fingerprint_hash_right
FROM (SELECT command, command_hash, command_fingerprint(command) AS f FROM big_task WHERE run_id = '100MB' OFFSET 0) b;
DROP TABLE big_task;

-- Bytes that are not valid UTF-8, in a SQL_ASCII database: hashed as md5() hashes them.
\set home :DBNAME
CREATE DATABASE ara_regress_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c ara_regress_sql_ascii
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id text PRIMARY KEY, definition_id text, command text, command_hash text, description text);
SELECT ara_enable('task', fingerprint_definitions => ARRAY['fp']);
INSERT INTO task VALUES ('1', 'd', convert_from('\x6563686f20fffe80203230323531313233'::bytea, 'SQL_ASCII'), NULL, NULL),
                        ('2', 'fp', convert_from('\x6563686f20fffe80203230323531313233'::bytea, 'SQL_ASCII'), NULL, NULL),
                        ('3', 'd', NULL, NULL, convert_from('\xc328'::bytea, 'SQL_ASCII'));
SELECT run_id, command_hash = md5(coalesce(command, description)) AS hash_is_md5,
       command_hash = command_fingerprint_hash(command, description) AS fingerprint_key,
       encode(convert_to(command_fingerprint(command), 'SQL_ASCII'), 'escape') AS fingerprint_bytes
FROM task ORDER BY 1;
SELECT rows_out_of_line FROM ara_hash_mismatches('task');
\c :home
DROP DATABASE ara_regress_sql_ascii;

DROP SCHEMA hostile CASCADE;
DROP SERVER ara_regress_server;
DROP FOREIGN DATA WRAPPER ara_regress_fdw;
DROP SCHEMA "Odd Schema" CASCADE;
