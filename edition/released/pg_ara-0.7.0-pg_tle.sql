-- pg_ara 0.7.0, SQL edition, for pg_tle (Trusted Language Extensions: Amazon RDS and Aurora
-- PostgreSQL, Supabase, any PostgreSQL with pg_tle preloaded). Made by scripts/edition.sh.
-- As a member of pgtle_admin (RDS: the master user, who has rds_superuser), in each database:
--   CREATE EXTENSION IF NOT EXISTS pg_tle;
--   \i pg_ara-0.7.0-pg_tle.sql
--   CREATE EXTENSION pg_ara;          -- or, with an earlier edition installed: ALTER EXTENSION pg_ara UPDATE;
-- Running it again changes nothing. docs/managed.md lists what the edition leaves out and what it costs.
DO $install$
DECLARE
    body constant text := $_pgtle_$

-- ==== sql/schema.sql ====
-- pg_ara's private schema: the functions users never call (the aggregate's support functions, the
-- trigger function, internal helpers) live in ara_internal, so that \df in the extension's schema
-- lists only what a user calls. Shared by the extension (before sql/private.sql) and the SQL edition.

CREATE SCHEMA ara_internal;
COMMENT ON SCHEMA ara_internal IS
'pg_ara internal: support functions of the ara_estimate aggregate, the command_hash trigger function and helpers. Not for direct use; owned by the extension.';
-- ara_enable creates triggers on ara_internal.ara_command_hash_trigger as the calling user, and
-- the SQL functions call the helpers: every role that may use pg_ara needs to see the schema.
GRANT USAGE ON SCHEMA ara_internal TO PUBLIC;

-- ==== edition/hash.sql ====
-- SQL edition: the twins of the Rust functions of src/hash.rs, same names and signatures.
-- command_hash() is PostgreSQL's md5() (the extension's equals it byte for byte; the differential
-- test compares them); the fingerprint rules of src/core/fingerprint.rs (version 1) are written
-- again with PostgreSQL's regular expressions, one per rule, each built to match exactly where the
-- Rust matcher matches: the optional parts of a timestamp are taken whenever they are there (a
-- lookahead forbids skipping them, as the Rust code never backtracks), boundaries are ASCII
-- letters and digits only. tests/edition/fingerprint.sh compares both on a large generated corpus.
-- These SQL functions set no search_path, so that PostgreSQL inlines them where they are called (the
-- backfill's UPDATE, the trigger); instead every function and operator in them is qualified.

CREATE OR REPLACE FUNCTION @extschema@.command_hash(command text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT pg_catalog.md5(command) $$;
COMMENT ON FUNCTION @extschema@.command_hash(text) IS
'pg_ara (SQL edition): the command hash ARA groups runs by: lowercase hex MD5 of the command''s bytes (32 characters), PostgreSQL''s md5(command) (equal to Go''s fmt.Sprintf("%x", md5.Sum([]byte(cmd)))). On a FIPS-mode server, where md5() is refused, only the compiled extension computes it. IMMUTABLE, STRICT, PARALLEL SAFE.';

CREATE OR REPLACE FUNCTION @extschema@.command_hash(command text, description text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN command OPERATOR(pg_catalog.<>) '' THEN pg_catalog.md5(command)
                WHEN description OPERATOR(pg_catalog.<>) '' THEN pg_catalog.md5(description) END
$$;
COMMENT ON FUNCTION @extschema@.command_hash(text, text) IS
'pg_ara: the hash a run should carry, by the rule the trigger applies: command_hash(command) when command is non-NULL and non-empty; else command_hash(description) when description is non-NULL and non-empty (the legacy/Spark fallback); else NULL. IMMUTABLE, PARALLEL SAFE, not strict.';

-- The fingerprint, version 1, as one expression of regular expressions over the whole command (inlined
-- where it is called). The Rust code works token by token; here tokens are what single spaces separate
-- once white space is collapsed, and every rule's boundary (an ASCII letter or digit, or none) sees a
-- space where the Rust code sees the token's edge: the same matches. Rules 1-4 never span a space. Rule
-- 5 (a whole token that is a number, inside one pair of matching quotes if quoted, or KEY=number) is
-- anchored on the spaces around the token.
CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint(command text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fp$
SELECT
  -- 5. Numbers that are whole arguments, and KEY=number.
  pg_catalog.regexp_replace(pg_catalog.regexp_replace(
  -- 4. Long hex ids: 12+ hex digits with a digit and a letter, not touching a letter or digit.
  pg_catalog.regexp_replace(
  -- 3. UUIDs.
  pg_catalog.regexp_replace(
  -- 2. Dates YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD (year 1900-2099, month 01-12, day 01-31), not touching a digit.
  pg_catalog.regexp_replace(
  -- 1. ISO timestamps; seconds, fraction and zone taken whenever present (the lookaheads forbid
  --    skipping them: the Rust matcher never backtracks), then no letter or digit.
  pg_catalog.regexp_replace(
  -- 0. ASCII white space collapsed to one space, none at either end.
  pg_catalog.btrim(pg_catalog.regexp_replace(command, E'[ \t\n\f\r]+', ' ', 'g'), ' '),
    '(?<![A-Za-z0-9])(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt][0-9]{2}:[0-9]{2}'
    '(:[0-9]{2}(\.[0-9]+(?![0-9])|(?!\.[0-9]))|(?!:[0-9]{2}))'
    '([Zz]|[+-][0-9]{2}(:[0-9]{2}|[0-9]{2}|(?!:[0-9]{2}|[0-9]{2}))|(?![Zz]|[+-][0-9]{2}))(?![A-Za-z0-9])',
    '<ts>', 'g'),
    '(?<![0-9])(19|20)[0-9]{2}(-(0[1-9]|1[0-2])-|/(0[1-9]|1[0-2])/|(0[1-9]|1[0-2]))(0[1-9]|[12][0-9]|3[01])(?![0-9])',
    '<date>', 'g'),
    '(?<![A-Za-z0-9])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9])',
    '<uuid>', 'g'),
    '(?<![A-Za-z0-9])(?=[0-9A-Fa-f]*[0-9])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{12,}(?![A-Za-z0-9])',
    '<hex>', 'g'),
    '(^| )(["'']?)[+-]?[0-9]+(\.[0-9]+)?\2(?= |$)', '\1\2<num>\2', 'g'),
    '(^| )(["'']?)([A-Za-z0-9_.-]+)=[+-]?[0-9]+(\.[0-9]+)?\2(?= |$)', '\1\2\3=<num>\2', 'g')
$fp$;

CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint_version()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1 $$;

CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint_hash(command text, description text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT @extschema@.command_hash(@extschema@.command_fingerprint(command), description) $$;

-- ==== edition/estimate.sql ====
-- SQL edition: the twins of the ara_estimate() aggregates (src/estimate.rs). The answer is the
-- built-in expression itself, cast(percentile_disc(p) WITHIN GROUP (ORDER BY value) * m AS bigint),
-- taken over the values the state collected: the same answers by construction, the same errors
-- (22003 for a percentile outside [0, 1] or a result outside bigint, 22023 when the percentile or
-- the multiplier changes within a group, 0A000 for a NaN multiplier). Parallel plans combine the
-- partial states. What differs: the state holds every value (the extension's holds each distinct
-- value once), and moving window frames recompute instead of removing a value.
--
-- ara_estimate(value): the values in a bigint[], appended by PostgreSQL's own array_append (in an
-- aggregate it appends in place, so a group of n rows costs O(n)). With a percentile (and a
-- multiplier): a numeric[] whose first two elements are the group's percentile (its shortest exact
-- decimal, which casts back to the same float8) and multiplier, then the values.

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_final_default(state bigint[])
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM pg_catalog.unnest(state) v
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_final_default(bigint[]) IS
'pg_ara internal (SQL edition): final function of ara_estimate(bigint): the built-in percentile_disc(0.99) x 1.75 over the values; not for direct use.';

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint) (
    SFUNC = pg_catalog.array_append,
    STYPE = bigint[],
    FINALFUNC = ara_internal.ara_estimate_final_default,
    COMBINEFUNC = pg_catalog.array_cat,
    PARALLEL = SAFE
);

-- One row of a group with a percentile and a multiplier: checks them as the extension does
-- (src/core/estimate.rs: the range on every row, even one whose value is NULL; the same on every
-- row of the group, NULL included), then keeps the value.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_trans_sql(state numeric[], value bigint,
    percentile double precision, multiplier numeric)
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF percentile IS NOT NULL AND (percentile = 'NaN'::float8 OR percentile < 0 OR percentile > 1) THEN
        RAISE EXCEPTION 'percentile value % is not between 0 and 1', percentile
            USING ERRCODE = '22003', HINT = 'ara_estimate(value, percentile, ...) takes a percentile from 0 to 1, e.g. 0.99.';
    END IF;
    IF state IS NULL THEN
        state := ARRAY[percentile::text::numeric, multiplier];
    ELSE
        IF state[1] IS DISTINCT FROM percentile::text::numeric THEN
            RAISE EXCEPTION 'ara_estimate: the percentile changed within one group (% then %)',
                coalesce(state[1]::float8::text, 'NULL'), coalesce(percentile::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'Pass the same percentile on every row of a group, usually a constant.';
        END IF;
        IF state[2] IS DISTINCT FROM multiplier THEN
            RAISE EXCEPTION 'ara_estimate: the multiplier changed within one group (% then %)',
                coalesce(state[2]::text, 'NULL'), coalesce(multiplier::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'Pass the same multiplier on every row of a group, usually a constant such as 1.75.';
        END IF;
    END IF;
    IF value IS NOT NULL THEN
        state := array_append(state, value::numeric);
    END IF;
    RETURN state;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_trans_sql(numeric[], bigint, double precision, numeric) IS
'pg_ara internal (SQL edition): transition function of ara_estimate(bigint, float8, numeric); not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_trans_sql(state numeric[], value bigint,
    percentile double precision)
RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ara_internal.ara_estimate_trans_sql(state, value, percentile, 1.75) $$;
COMMENT ON FUNCTION ara_internal.ara_estimate_trans_sql(numeric[], bigint, double precision) IS
'pg_ara internal (SQL edition): transition function of ara_estimate(bigint, float8); not for direct use.';

-- Two partial states of one group (parallel plans): the same percentile and multiplier, the values
-- together.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_combine_sql(a numeric[], b numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF a IS NULL THEN
        RETURN b;
    ELSIF b IS NULL THEN
        RETURN a;
    END IF;
    IF a[1] IS DISTINCT FROM b[1] THEN
        RAISE EXCEPTION 'ara_estimate: the percentile changed within one group (% then %)',
            coalesce(a[1]::float8::text, 'NULL'), coalesce(b[1]::float8::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Pass the same percentile on every row of a group, usually a constant.';
    END IF;
    IF a[2] IS DISTINCT FROM b[2] THEN
        RAISE EXCEPTION 'ara_estimate: the multiplier changed within one group (% then %)',
            coalesce(a[2]::text, 'NULL'), coalesce(b[2]::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Pass the same multiplier on every row of a group, usually a constant such as 1.75.';
    END IF;
    RETURN a || b[3:];
END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_combine_sql(numeric[], numeric[]) IS
'pg_ara internal (SQL edition): combines two partial ara_estimate() states (parallel aggregation); not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_final_sql(state numeric[])
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN state[1] IS NOT NULL AND state[2] IS NOT NULL THEN
        (SELECT cast(percentile_disc(state[1]::float8) WITHIN GROUP (ORDER BY v) * state[2] AS bigint)
           FROM pg_catalog.unnest(state[3:]) v) END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_final_sql(numeric[]) IS
'pg_ara internal (SQL edition): final function of ara_estimate(bigint, float8[, numeric]): the built-in percentile_disc(p) x m over the values; NULL for a NULL percentile or multiplier; not for direct use.';

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint, percentile double precision) (
    SFUNC = ara_internal.ara_estimate_trans_sql,
    STYPE = numeric[],
    FINALFUNC = ara_internal.ara_estimate_final_sql,
    COMBINEFUNC = ara_internal.ara_estimate_combine_sql,
    PARALLEL = SAFE
);

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint, percentile double precision, multiplier numeric) (
    SFUNC = ara_internal.ara_estimate_trans_sql,
    STYPE = numeric[],
    FINALFUNC = ara_internal.ara_estimate_final_sql,
    COMBINEFUNC = ara_internal.ara_estimate_combine_sql,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint) IS
'pg_ara (SQL edition): Flotilla''s ARA memory estimate, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), as an ordinary aggregate: exactly equal (it is that expression over the values it collects), NULLs skipped, NULL for no rows, runs in parallel and as a window aggregate. Its state holds every value.';
COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint, double precision) IS
'pg_ara (SQL edition): cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), exactly. percentile in [0, 1] (else 22003), the same on every row of a group (else 22023); NULL percentile gives NULL. Its state is copied on every row: cost grows with the square of a group''s rows (the compiled extension: linearly).';
COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint, double precision, numeric) IS
'pg_ara (SQL edition): cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint), exactly: decimal multiplication, rounding half away from zero (1022 * 1.75 = 1788.5 -> 1789). percentile and multiplier must be the same on every row of a group (else 22023); NULL for either gives NULL; a result outside bigint is 22003. Its state is copied on every row: cost grows with the square of a group''s rows (the compiled extension: linearly).';

-- ==== edition/trigger.sql ====
-- SQL edition: the twin of the trigger function (src/trigger.rs), a PL/pgSQL trigger with the same
-- name, arguments and rule. ara_enable() installs it exactly as it installs the extension's (the same
-- BEFORE INSERT trigger and BEFORE UPDATE OF ... WHEN (a key column really changed) trigger, so
-- status updates still never call it). Its arguments, as ara_enable() writes them:
-- (command_column, hash_column [, description_column or '' [, key [, definition_column, ids...]]])
-- with key 'command' (absent: 0.1.0's triggers), 'fingerprint' or 'fingerprint_for'.
-- Flotilla's column names (command, command_hash, description) are read as fields of NEW; other
-- names through the row as jsonb (the table's own columns, whatever they are called).
-- Its errors are the extension's: the same SQLSTATEs, messages and hints.

CREATE OR REPLACE FUNCTION ara_internal.ara_command_hash_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    description_column text;
    key text;
    command text;
    description text;
    definition text;
    row_json jsonb;
    hash text;
    col record;
BEGIN
    IF TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'ara_command_hash_trigger must be fired BEFORE INSERT OR UPDATE FOR EACH ROW'
            USING ERRCODE = '39P01', HINT = 'Install it with ara_enable(), which creates the right triggers.';
    END IF;
    IF TG_NARGS < 2 THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: takes 2 or 3 arguments (command, hash[, description] columns), got %', TG_NARGS
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    description_column := CASE WHEN TG_NARGS >= 3 THEN NULLIF(TG_ARGV[2], '') END;
    key := CASE WHEN TG_NARGS >= 4 THEN TG_ARGV[3] ELSE 'command' END;
    IF key NOT IN ('command', 'fingerprint', 'fingerprint_for') THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: unknown key "%" (command, fingerprint or fingerprint_for)', key
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    IF key = 'fingerprint_for' AND TG_NARGS < 5 THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: key fingerprint_for needs the definition column'
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    -- Flotilla's names and key (the common case): fields of NEW, no conversion, and the columns'
    -- types read from the row itself (pg_typeof, no catalog query per row: 10x the trigger's cost).
    -- A column renamed or dropped since ara_enable() fails here with PL/pgSQL's 42703 (record "new"
    -- has no field ...); a type the fast path does not take goes to the full check below.
    -- (Nested: PL/pgSQL compiles a statement's expression when first run, and NEW.description must not
    -- be compiled for a table configured without it.)
    IF TG_ARGV[0] = 'command' AND TG_ARGV[1] = 'command_hash' AND key = 'command'
       AND (description_column IS NULL OR description_column = 'description') THEN
        IF pg_typeof(NEW.command) IN ('text'::regtype, 'varchar'::regtype)
           AND pg_typeof(NEW.command_hash) = 'text'::regtype THEN
            IF description_column IS NULL THEN
                NEW.command_hash := @extschema@.command_hash(NEW.command, NULL::text);
                RETURN NEW;
            ELSIF pg_typeof(NEW.description) IN ('text'::regtype, 'varchar'::regtype) THEN
                NEW.command_hash := @extschema@.command_hash(NEW.command, NEW.description);
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    -- Any other configuration: the configured columns checked on every row as the extension's
    -- trigger checks them: a column renamed, dropped or retyped since ara_enable() fails the insert
    -- clearly (never a wrong hash).
    FOR col IN
        SELECT c.name, c.i, a.atttypid, a.atttypmod
          FROM unnest(ARRAY[TG_ARGV[0], TG_ARGV[1], description_column,
                            CASE WHEN key = 'fingerprint_for' THEN TG_ARGV[4] END]) WITH ORDINALITY c(name, i)
          LEFT JOIN pg_attribute a ON a.attrelid = TG_RELID AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.name IS NOT NULL
    LOOP
        IF col.atttypid IS NULL THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" of relation "%" does not exist', col.name, TG_TABLE_NAME
                USING ERRCODE = '42703',
                      HINT = 'The trigger''s columns were renamed or dropped: run ara_enable() again with the current column names.';
        END IF;
        IF col.atttypid NOT IN ('text'::regtype, 'varchar'::regtype) THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" of relation "%" is not text or varchar', col.name, TG_TABLE_NAME
                USING ERRCODE = '42804',
                      HINT = 'pg_ara hashes text columns: change the column type, or run ara_enable() with text/varchar columns.';
        END IF;
        IF col.i = 2 AND col.atttypid = 'varchar'::regtype AND col.atttypmod >= 0 AND col.atttypmod - 4 < 32 THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" is too short for a 32-character hash', col.name
                USING ERRCODE = '42804', HINT = 'Widen it, e.g. ALTER TABLE ... ALTER COLUMN ... TYPE varchar(32).';
        END IF;
    END LOOP;
    row_json := to_jsonb(NEW);
    command := row_json ->> TG_ARGV[0];
    description := CASE WHEN description_column IS NOT NULL THEN row_json ->> description_column END;
    IF key = 'fingerprint'
       OR (key = 'fingerprint_for' AND (row_json ->> TG_ARGV[4]) = ANY (TG_ARGV[5:])) THEN
        hash := @extschema@.command_fingerprint_hash(command, description);
    ELSE
        hash := @extschema@.command_hash(command, description);
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[1], hash));
END
$$;
COMMENT ON FUNCTION ara_internal.ara_command_hash_trigger() IS
'pg_ara (SQL edition): BEFORE INSERT OR UPDATE row trigger in PL/pgSQL; arguments (command_column, hash_column [, description_column [, key, ...]]). Sets the hash column to the run''s key (command_hash(command, description), or command_fingerprint_hash() where the table or definition is keyed by fingerprint), overwriting whatever the client sent. Install it with ara_enable(), not by hand.';

-- ==== sql/tables.sql ====
-- pg_ara's tables: created once, by the install script of the version that introduced them
-- (upgrade scripts never re-run this file). Each pg_extension_config_dump() call stays on one line:
-- the SQL edition's plain script, which is no extension, leaves those lines out (scripts/edition.sh).

-- Where an interrupted backfill resumes. Rows are visible only to roles that may UPDATE the table.
CREATE TABLE @extschema@.ara_backfill_progress (
    relid          oid         NOT NULL,
    definitions    text[],
    last_key       text[],
    rows_scanned   bigint      NOT NULL DEFAULT 0,
    rows_changed   bigint      NOT NULL DEFAULT 0,
    rows_no_source bigint      NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
COMMENT ON TABLE @extschema@.ara_backfill_progress IS
'pg_ara: one row per backfill of a table (and definition filter): where it stopped, for CALL ara_backfill() to resume. Safe to delete to start over.';
ALTER TABLE @extschema@.ara_backfill_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_backfill_progress_by_privilege ON @extschema@.ara_backfill_progress
    USING (pg_catalog.has_table_privilege(relid, 'UPDATE'))
    WITH CHECK (pg_catalog.has_table_privilege(relid, 'UPDATE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.ara_backfill_progress TO PUBLIC;

-- The tables pg_ara was enabled on (0.4.0): ara_enable() registers a table, ara_disable()
-- unregisters it. ara_metrics() reads it, so that a table whose triggers someone dropped or
-- disabled by hand still shows up (and pages someone) instead of silently leaving the list.
-- Its statements are also in the 0.3.2 -> 0.4.0 upgrade script's head.
CREATE TABLE @extschema@.ara_tables (
    table_name regclass    PRIMARY KEY,
    enabled_at timestamptz,
    enabled_by name
);
COMMENT ON TABLE @extschema@.ara_tables IS
'pg_ara: the tables pg_ara is enabled on (ara_enable registers, ara_disable unregisters); enabled_at is when it was first enabled there (NULL: before 0.4.0), the default pivot of ara_compare(). ara_metrics() reports a registered table whose triggers are missing or disabled.';
ALTER TABLE @extschema@.ara_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_tables_read ON @extschema@.ara_tables FOR SELECT
    USING (pg_catalog.has_table_privilege(table_name, 'SELECT, TRIGGER'));
CREATE POLICY ara_tables_insert ON @extschema@.ara_tables FOR INSERT
    WITH CHECK (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
CREATE POLICY ara_tables_delete ON @extschema@.ara_tables FOR DELETE
    USING (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
GRANT SELECT, INSERT, DELETE ON @extschema@.ara_tables TO PUBLIC;
-- pg_dump keeps the registrations (not of tables dropped since: their oid would not restore).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ara_tables', 'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_name)');
-- Backfill progress is visible to whoever may read the table (the monitoring role of
-- ara_metrics()); changing it still needs UPDATE on the table (the policy above).
CREATE POLICY ara_backfill_progress_read ON @extschema@.ara_backfill_progress FOR SELECT
    USING (pg_catalog.has_table_privilege(relid, 'SELECT'));

-- The sizing policy of a table or of some of its definitions (0.5.0): which runs ara_resources()
-- sizes from when the caller does not say. No row: Flotilla's policy ('oom'). A row with a NULL
-- definition_id covers the table, one with a definition overrides it for that definition.
-- ara_set_policy() writes it (with the privilege ara_set_key() needs: TRIGGER on the table).
-- Its statements are also in the 0.4.1 -> 0.5.0 upgrade script's head.
CREATE TABLE @extschema@.ara_sizing (
    table_name      regclass         NOT NULL,
    definition_id   text,
    policy          text             NOT NULL CHECK (policy IN ('oom', 'right_size')),
    peak_percentile double precision CHECK (peak_percentile BETWEEN 0 AND 1),
    headroom        numeric          CHECK (headroom > 0),
    peak_lookback   interval         CHECK (peak_lookback > interval '0'),
    set_at          timestamptz      NOT NULL DEFAULT now(),
    set_by          name             NOT NULL DEFAULT current_user,
    CHECK ((policy = 'right_size') = (peak_percentile IS NOT NULL AND headroom IS NOT NULL AND peak_lookback IS NOT NULL))
);
CREATE UNIQUE INDEX ara_sizing_table ON @extschema@.ara_sizing (table_name) WHERE definition_id IS NULL;
CREATE UNIQUE INDEX ara_sizing_definition ON @extschema@.ara_sizing (table_name, definition_id)
    WHERE definition_id IS NOT NULL;
COMMENT ON TABLE @extschema@.ara_sizing IS
'pg_ara: the sizing policy ara_resources() applies when its caller gives none, per table (definition_id NULL) or definition (overrides the table''s): ''oom'' (Flotilla: OOM-killed runs only, the default without a row) or ''right_size'' (successful runs'' measured peaks: peak_percentile x headroom over peak_lookback, never below the largest recent OOM request x the OOM multiplier). Written by ara_set_policy().';
ALTER TABLE @extschema@.ara_sizing ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_sizing_read ON @extschema@.ara_sizing FOR SELECT
    USING (pg_catalog.has_table_privilege(table_name, 'SELECT'));
CREATE POLICY ara_sizing_write ON @extschema@.ara_sizing FOR ALL
    USING (pg_catalog.has_table_privilege(table_name, 'TRIGGER'))
    WITH CHECK (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
GRANT SELECT, INSERT, DELETE ON @extschema@.ara_sizing TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ara_sizing', 'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_name)');

-- ==== sql/enable.sql ====
-- pg_ara: installing the command_hash trigger on a user's table, and what it is configured with.
-- Every function pins search_path to pg_catalog and names pg_ara's own objects through
-- @extschema@ or ara_internal. Functions are CREATE OR REPLACE: the same file runs in a fresh
-- install and in an upgrade script.

-- A trigger's arguments, from pg_trigger.tgargs: nargs strings, each ending with a NUL byte, in the
-- database encoding (any bytes, names with quotes, backslashes or non-ASCII letters included).
CREATE OR REPLACE FUNCTION ara_internal.ara_trigger_args(tgargs bytea, nargs integer)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    args text[] := '{}';
    rest bytea := tgargs;
    nul integer;
BEGIN
    FOR i IN 1 .. nargs LOOP
        nul := position('\x00'::bytea IN rest);
        EXIT WHEN nul = 0;
        args := args || convert_from(substring(rest FROM 1 FOR nul - 1), getdatabaseencoding());
        rest := substring(rest FROM nul + 1);
    END LOOP;
    RETURN args;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_trigger_args(bytea, integer) IS
'pg_ara internal: a trigger''s arguments as text, split from pg_trigger.tgargs (NUL-terminated strings in the database encoding).';

-- What ara_enable() configured on tbl, read back from the trigger's arguments (command, hash and
-- description columns; the key: 'command' or 'fingerprint', and the definitions keyed by
-- fingerprint under a 'command' key, with their column); one row of NULLs if pg_ara is not
-- enabled there.
CREATE OR REPLACE FUNCTION ara_internal.ara_config(tbl regclass,
    OUT command_column name, OUT hash_column name, OUT description_column name,
    OUT key text, OUT definition_column name, OUT fingerprint_definitions text[])
RETURNS record
-- PL/pgSQL rather than SQL: its plan is cached per session, which matters to ara_key() and
-- ara_resources(), called once per run by the job service.
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    args text[];
BEGIN
    SELECT ara_internal.ara_trigger_args(t.tgargs, t.tgnargs) INTO args
      FROM pg_trigger t
     WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_insert'
       AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure;
    IF args IS NULL THEN
        RETURN;   -- not enabled: every column NULL
    END IF;
    command_column := args[1];
    hash_column := args[2];
    description_column := nullif(args[3], '');
    key := CASE WHEN args[4] = 'fingerprint' THEN 'fingerprint' ELSE 'command' END;
    IF args[4] = 'fingerprint_for' THEN
        definition_column := args[5];
        fingerprint_definitions := coalesce(args[6:], '{}');
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_config(regclass) IS
'pg_ara internal: what ara_enable() configured on a table (from its trigger): command, hash and description columns, key, and the definitions keyed by fingerprint with their column; one row of NULLs when pg_ara is not enabled there.';

-- The columns a read-only pg_ara function works with on tbl: those ara_enable() configured, else
-- Flotilla's names. Checks that tbl can be read and has every column in `required` (Flotilla's
-- names; 'command', 'command_hash' and 'description' stand for the configured ones), so that a
-- wrong table fails with a clear error instead of a bare one from a generated query.
CREATE OR REPLACE FUNCTION ara_internal.ara_columns(tbl regclass, required name[], caller text,
    OUT command_column name, OUT hash_column name, OUT description_column name,
    OUT key text, OUT definition_column name, OUT fingerprint_definitions text[])
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    missing name;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION '%: the table must not be NULL', caller USING ERRCODE = '22004';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
    IF kind IS NULL OR kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION '%: "%" is not a table or view', caller, tbl USING ERRCODE = '42809';
    END IF;
    IF NOT has_table_privilege(tbl, 'SELECT') THEN
        RAISE EXCEPTION '%: permission denied for table %', caller, tbl
            USING ERRCODE = '42501', HINT = format('GRANT SELECT ON %s TO %I.', tbl, current_user);
    END IF;
    SELECT c.command_column, c.hash_column, c.description_column, c.key, c.definition_column, c.fingerprint_definitions
      INTO command_column, hash_column, description_column, key, definition_column, fingerprint_definitions
      FROM ara_internal.ara_config(tbl) c;
    IF command_column IS NULL THEN   -- not enabled: ara_config gives one row of NULLs
        command_column := 'command';
        hash_column := 'command_hash';
        description_column := 'description';
        key := 'command';
    END IF;
    SELECT r.name INTO missing
      FROM unnest(required) WITH ORDINALITY AS u(want, ord)
      CROSS JOIN LATERAL (SELECT CASE u.want WHEN 'command' THEN command_column
                                             WHEN 'command_hash' THEN hash_column
                                             WHEN 'description' THEN description_column
                                             ELSE u.want END AS name) r
     WHERE r.name IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = r.name
                       AND a.attnum > 0 AND NOT a.attisdropped)
     ORDER BY u.ord LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '%: column "%" of relation % does not exist', caller, missing, tbl
            USING ERRCODE = '42703',
                  HINT = 'pg_ara reads Flotilla''s task columns (run_id, definition_id, command, command_hash, description, memory, cpu, exit_code, exit_reason, engine, queued_at); the command, hash and description columns are the ones ara_enable() was given.';
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_columns(regclass, name[], text) IS
'pg_ara internal: the configuration of a table (ara_config(), else Flotilla''s names and the command key), after checking the table is readable and has the required columns (42809, 42501, 42703).';

-- The SQL expression of the key a row should carry, for alias t, under a table's configuration:
-- what the trigger computes, in SQL (the same Rust functions).
CREATE OR REPLACE FUNCTION ara_internal.ara_expected_hash_sql(command_column name, description_column name,
    key text, definition_column name, fingerprint_definitions text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN key = 'fingerprint' THEN fp
        WHEN cardinality(fingerprint_definitions) > 0 AND definition_column IS NOT NULL
            THEN format('CASE WHEN t.%I::text = ANY (%L::text[]) THEN %s ELSE %s END',
                        definition_column, fingerprint_definitions, fp, cmd)
        ELSE cmd END
    FROM (SELECT format('%I.command_hash(t.%I, %s)', '@extschema@', command_column, descr) AS cmd,
                 format('%I.command_fingerprint_hash(t.%I, %s)', '@extschema@', command_column, descr) AS fp
          FROM (SELECT CASE WHEN description_column IS NULL THEN 'NULL::text'
                            ELSE format('t.%I', description_column) END AS descr) d) e
$$;
COMMENT ON FUNCTION ara_internal.ara_expected_hash_sql(name, name, text, name, text[]) IS
'pg_ara internal: the SQL expression (over alias t) of the key a row should carry under a table''s configuration (command or fingerprint key, per definition); used by ara_backfill, ara_hash_mismatches and the investigation functions.';

-- Rows of a table (all leaf partitions of a partitioned one) as the planner estimates them; NULL
-- when never analyzed or vacuumed.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimated_rows(tbl regclass)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_and(pc.reltuples >= 0) THEN sum(pc.reltuples)::bigint END
    FROM pg_class pc
    WHERE pc.oid IN (SELECT pt.relid FROM pg_partition_tree(tbl) pt WHERE pt.isleaf
                     UNION ALL SELECT tbl WHERE (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) <> 'p')
$$;
COMMENT ON FUNCTION ara_internal.ara_estimated_rows(regclass) IS
'pg_ara internal: the planner''s row estimate for a table (summed over leaf partitions), NULL when never analyzed; used for progress and ETA.';

-- Sets lock_timeout for the rest of the current transaction (or of the calling function, when it
-- has a SET lock_timeout clause) from an interval; 0 waits forever, as PostgreSQL's own setting.
CREATE OR REPLACE FUNCTION ara_internal.ara_set_lock_timeout(lock_timeout interval, caller text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF lock_timeout IS NULL OR lock_timeout < interval '0' THEN
        RAISE EXCEPTION '%: lock_timeout must be an interval of 0 or more, got %', caller, coalesce(lock_timeout::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'For example lock_timeout => ''5s''; 0 waits as long as it takes.';
    END IF;
    PERFORM set_config('lock_timeout', ceil(extract(epoch FROM lock_timeout) * 1000)::bigint::text, true);
END
$$;
COMMENT ON FUNCTION ara_internal.ara_set_lock_timeout(interval, text) IS
'pg_ara internal: sets lock_timeout (transaction-local) from an interval, so that pg_ara never queues behind a long transaction while the table''s writers queue behind it.';

-- Citus (0.5.0): a table Citus manages (distributed, reference, or a Citus local table) takes
-- triggers only with citus.enable_unsafe_triggers on. pg_ara's trigger is safe on every shard: it
-- rewrites only the hash column of the row being written, from that row's own columns, and reads
-- no other row or table, so a shard's copy of it gives the answer the single table would.
-- ara_enable()/ara_disable() turn the setting on around their trigger statements only:
-- ara_citus_triggers(tbl, NULL) turns it on (SET LOCAL) where Citus manages tbl and returns the
-- value it had (NULL: not a Citus table, nothing done); ara_citus_triggers(tbl, that value) puts
-- it back (a SET LOCAL of another variable outlives the function's own SET clause: it would last
-- to the end of the caller's transaction otherwise).
CREATE OR REPLACE FUNCTION ara_internal.ara_citus_managed(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    managed boolean := false;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = $1)'
           INTO managed USING tbl;
    END IF;
    RETURN managed;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_citus_managed(regclass) IS
'pg_ara internal: whether Citus manages tbl (distributed, reference or Citus local table); false without Citus.';

CREATE OR REPLACE FUNCTION ara_internal.ara_citus_triggers(tbl regclass, restore text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    previous text;
BEGIN
    IF restore IS NOT NULL THEN
        PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', restore, true);
        RETURN restore;
    END IF;
    IF NOT ara_internal.ara_citus_managed(tbl) THEN
        RETURN NULL;
    END IF;
    previous := pg_catalog.current_setting('citus.enable_unsafe_triggers');
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    RETURN previous;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_citus_triggers(regclass, text) IS
'pg_ara internal: on a table Citus manages, turns citus.enable_unsafe_triggers on for ara_enable()/ara_disable()''s trigger statements (pg_ara''s trigger only rewrites its own row: safe per shard) and returns the previous value; given that value, puts it back. NULL and nothing done without Citus.';

-- Citus (0.6.0): the row locks of a statement on a distributed table are taken on the workers,
-- where the coordinator's lock_timeout does not reach: a backfill batch would queue behind a long
-- transaction holding one of its rows (seen: 21 s behind a 25 s transaction with lock_timeout 1s).
-- Citus sends a transaction's SET LOCAL commands to the workers it opens transactions on when
-- citus.propagate_set_commands is 'local': both set for the current transaction only (a SET LOCAL
-- of another variable outlives this function's own SET clause), where Citus manages tbl.
CREATE OR REPLACE FUNCTION ara_internal.ara_citus_lock_timeout(tbl regclass, lock_timeout interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ara_internal.ara_citus_managed(tbl) THEN
        EXECUTE 'SET LOCAL citus.propagate_set_commands = local';
        EXECUTE pg_catalog.format('SET LOCAL lock_timeout = %s', ceil(extract(epoch FROM lock_timeout) * 1000)::bigint);
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_citus_lock_timeout(regclass, interval) IS
'pg_ara internal: on a table Citus manages, makes lock_timeout reach the workers for the current transaction (SET LOCAL, propagated by citus.propagate_set_commands = local), where a distributed statement takes its row locks; nothing elsewhere.';

CREATE OR REPLACE FUNCTION @extschema@.ara_enable(
    tbl regclass DEFAULT 'task'::text::regclass,
    command_column name DEFAULT 'command',
    hash_column name DEFAULT 'command_hash',
    description_column name DEFAULT 'description',
    lock_timeout interval DEFAULT '5s',
    key text DEFAULT NULL,
    fingerprint_definitions text[] DEFAULT NULL,
    definition_column name DEFAULT 'definition_id')
RETURNS text
LANGUAGE plpgsql VOLATILE
-- The SET clause makes the lock_timeout chosen below end with this function.
SET search_path = pg_catalog, pg_temp
SET lock_timeout = 0
AS $$
DECLARE
    kind "char";
    col record;
    cur record;
    args text;
    cols text;
    changed text;
    result text;
    new_key text;
    new_definitions text[];
    key_column name;
    key_text text;
    citus_setting text;
BEGIN
    IF tbl IS NULL OR command_column IS NULL OR hash_column IS NULL THEN
        RAISE EXCEPTION 'ara_enable: the table, command_column and hash_column must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'Only description_column may be NULL (it turns the description fallback off).';
    END IF;
    PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_enable');
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
    IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'ara_enable: "%" is not a table', tbl
            USING ERRCODE = '42809',
                  HINT = 'pg_ara works on plain and partitioned tables, not views, foreign tables or partitions of other kinds.';
    END IF;
    IF NOT has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'ara_enable: permission denied to create triggers on table %', tbl
            USING ERRCODE = '42501',
                  HINT = format('The table owner can run ara_enable, or GRANT TRIGGER ON %s TO %I.', tbl, current_user);
    END IF;
    -- The key: as given, else as configured, else the command. Definitions keyed by fingerprint
    -- under a command key: as given ('{}' clears them), else as configured.
    SELECT * INTO cur FROM ara_internal.ara_config(tbl);
    new_key := coalesce(key, cur.key, 'command');
    IF new_key NOT IN ('command', 'fingerprint') THEN
        RAISE EXCEPTION 'ara_enable: key must be ''command'' or ''fingerprint'', got %', quote_literal(new_key)
            USING ERRCODE = '22023',
                  HINT = 'key => ''fingerprint'' keys every run by its command''s fingerprint; fingerprint_definitions => ARRAY[...] only some definitions.';
    END IF;
    IF new_key = 'command' THEN
        SELECT array_agg(DISTINCT d ORDER BY d) INTO new_definitions
          FROM unnest(coalesce(fingerprint_definitions, cur.fingerprint_definitions)) d WHERE d IS NOT NULL;
    END IF;
    IF new_definitions IS NOT NULL THEN
        key_column := coalesce(definition_column, cur.definition_column);
        IF key_column IS NULL THEN
            RAISE EXCEPTION 'ara_enable: fingerprint_definitions needs the definition column'
                USING ERRCODE = '22004', HINT = 'Pass definition_column => ''definition_id'' (Flotilla''s name).';
        END IF;
    END IF;
    IF command_column = hash_column OR hash_column = description_column OR hash_column = key_column THEN
        RAISE EXCEPTION 'ara_enable: the hash column "%" must differ from the command and description columns', hash_column
            USING ERRCODE = '22023';
    END IF;
    FOR col IN
        SELECT c.role, c.name, a.atttypid, a.atttypmod
        FROM (VALUES ('command', command_column), ('hash', hash_column), ('description', description_column),
                     ('definition', key_column)) c(role, name)
        LEFT JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.name IS NOT NULL
    LOOP
        IF col.atttypid IS NULL THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % does not exist', col.name, tbl
                USING ERRCODE = '42703',
                      HINT = format('Pass the name of the %s column, e.g. ara_enable(%L, %s_column => ...).', col.role, tbl::text, col.role);
        END IF;
        IF col.atttypid NOT IN ('text'::regtype, 'varchar'::regtype) THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % is of type %, not text or varchar', col.name, tbl, format_type(col.atttypid, col.atttypmod)
                USING ERRCODE = '42804',
                      HINT = 'The command, hash and description columns must be text or varchar.';
        END IF;
        IF col.role = 'hash' AND col.atttypid = 'varchar'::regtype AND col.atttypmod >= 0 AND col.atttypmod - 4 < 32 THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % is %, too short for a 32-character hash', col.name, tbl, format_type(col.atttypid, col.atttypmod)
                USING ERRCODE = '42804', HINT = 'Widen it to varchar(32) or text.';
        END IF;
    END LOOP;

    key_text := CASE WHEN new_key = 'fingerprint' THEN ', key fingerprint'
                     WHEN new_definitions IS NOT NULL
                         THEN format(', key fingerprint for %s definition(s) of %I', cardinality(new_definitions), key_column)
                     ELSE '' END;

    -- Idempotent: the same configuration again changes nothing and takes no lock beyond the checks above.
    IF cur.command_column IS NOT NULL AND cur.command_column = command_column AND cur.hash_column = hash_column
       AND cur.description_column IS NOT DISTINCT FROM description_column AND cur.key = new_key
       AND cur.fingerprint_definitions IS NOT DISTINCT FROM new_definitions
       AND cur.definition_column IS NOT DISTINCT FROM key_column
       AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_update') THEN
        -- Registered too (a table enabled before 0.4.0, or restored without its registration).
        INSERT INTO @extschema@.ara_tables (table_name, enabled_at, enabled_by)
        VALUES (tbl, now(), current_user) ON CONFLICT (table_name) DO NOTHING;
        RETURN format('pg_ara already enabled on %s (command %I, hash %I, description %s%s)',
                      tbl, command_column, hash_column, coalesce(quote_ident(description_column), 'none'), key_text);
    END IF;
    result := CASE WHEN cur.command_column IS NOT NULL THEN 'pg_ara re-enabled' ELSE 'pg_ara enabled' END;
    IF cur.command_column IS NOT NULL AND NOT pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'ara_enable: must be the owner of table % to change its triggers', tbl
            USING ERRCODE = '42501', HINT = 'pg_ara is already enabled there with another configuration; ask the table owner to change it.';
    END IF;

    -- The trigger's arguments (see src/trigger.rs): with the command key, 0.1.0's (command, hash
    -- [, description]); else (command, hash, description or '', key[, definition column, ids...]).
    IF new_key = 'command' AND new_definitions IS NULL THEN
        args := concat_ws(', ', quote_literal(command_column), quote_literal(hash_column), quote_literal(description_column));
    ELSE
        args := concat_ws(', ', quote_literal(command_column), quote_literal(hash_column),
                          quote_literal(coalesce(description_column, '')),
                          quote_literal(CASE WHEN new_key = 'fingerprint' THEN 'fingerprint' ELSE 'fingerprint_for' END),
                          quote_literal(key_column),
                          (SELECT string_agg(quote_literal(d), ', ' ORDER BY d) FROM unnest(new_definitions) d));
    END IF;
    cols := concat_ws(', ', quote_ident(command_column), quote_ident(hash_column), quote_ident(description_column),
                      quote_ident(key_column));
    -- The update trigger is not even called unless one of the three columns really changed: the
    -- frequent status updates that rewrite an unchanged command pay only this comparison.
    changed := concat_ws(' OR ',
        format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', command_column),
        format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', hash_column),
        CASE WHEN description_column IS NOT NULL THEN format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', description_column) END,
        CASE WHEN key_column IS NOT NULL THEN format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', key_column) END);

    citus_setting := ara_internal.ara_citus_triggers(tbl, NULL);
    BEGIN
        -- CREATE TRIGGER takes SHARE ROW EXCLUSIVE, DROP TRIGGER ACCESS EXCLUSIVE on the table: both
        -- wait at most lock_timeout, so a long transaction on the table makes this fail instead of
        -- stalling every writer queued behind us.
        IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_insert') THEN
            EXECUTE format('DROP TRIGGER ara_command_hash_insert ON %s', tbl);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_update') THEN
            EXECUTE format('DROP TRIGGER ara_command_hash_update ON %s', tbl);
        END IF;
        EXECUTE format('CREATE TRIGGER ara_command_hash_insert BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION ara_internal.ara_command_hash_trigger(%s)',
                       tbl, args);
        EXECUTE format('CREATE TRIGGER ara_command_hash_update BEFORE UPDATE OF %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION ara_internal.ara_command_hash_trigger(%s)',
                       cols, tbl, changed, args);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'ara_enable: could not lock table % within %: another transaction holds a conflicting lock', tbl, lock_timeout
            USING ERRCODE = '55P03',
                  HINT = 'Nothing was changed. Find the long transaction in pg_stat_activity (and pg_locks), wait for it to end, and call ara_enable again; or pass a longer lock_timeout.';
    END;
    PERFORM ara_internal.ara_citus_triggers(tbl, citus_setting);
    -- The registration ara_metrics() watches; a re-enable keeps the first enabled_at. Rows of
    -- tables dropped since go (their oid could otherwise be reused by another table).
    DELETE FROM @extschema@.ara_tables r WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.table_name);
    INSERT INTO @extschema@.ara_tables (table_name, enabled_at, enabled_by)
    VALUES (tbl, now(), current_user) ON CONFLICT (table_name) DO NOTHING;
    RETURN format('%s on %s (command %I, hash %I, description %s%s)',
                  result, tbl, command_column, hash_column, coalesce(quote_ident(description_column), 'none'), key_text);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_enable(regclass, name, name, name, interval, text, text[], name) IS
'pg_ara: installs the command_hash triggers on a table (default task), idempotently: BEFORE INSERT always, BEFORE UPDATE only when the command, description or hash column really changes (a WHEN condition, so status updates never call it). Plain and partitioned tables (all partitions, present and future). description_column => NULL turns the description fallback off. key => ''fingerprint'' stores command_fingerprint_hash() instead of command_hash() for every run; fingerprint_definitions => ARRAY[...] (with definition_column) only for those definitions (''{}'' clears the list); left NULL, both keep what is configured (see also ara_set_key). Registers the table in ara_tables (what ara_metrics() watches). Waits at most lock_timeout (default 5s) for its table lock, then fails with 55P03 and changes nothing. Errors: 42809 not a table, 42703 missing column, 42804 not text/varchar, 42501 no TRIGGER privilege. Existing rows: CALL ara_backfill().';

CREATE OR REPLACE FUNCTION @extschema@.ara_disable(
    tbl regclass DEFAULT 'task'::text::regclass,
    lock_timeout interval DEFAULT '5s')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET lock_timeout = 0
AS $$
DECLARE
    n int;
    citus_setting text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_disable: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_disable');
    SELECT count(*) INTO n FROM pg_trigger t
    WHERE t.tgrelid = tbl AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update');
    IF n = 0 THEN
        -- Its triggers dropped by hand: unregistering is how the alert about them is cleared.
        DELETE FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
        IF FOUND THEN
            RETURN format('pg_ara''s triggers were already gone from %s; its registration is removed', tbl);
        END IF;
        RETURN format('pg_ara was not enabled on %s', tbl);
    END IF;
    IF NOT pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'ara_disable: must be the owner of table % to remove its triggers', tbl
            USING ERRCODE = '42501', HINT = 'Ask the table owner (or a member of its role) to run ara_disable.';
    END IF;
    citus_setting := ara_internal.ara_citus_triggers(tbl, NULL);
    BEGIN
        EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_insert ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_update ON %s', tbl);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'ara_disable: could not lock table % within %: another transaction holds a conflicting lock', tbl, lock_timeout
            USING ERRCODE = '55P03',
                  HINT = 'Nothing was changed. Find the long transaction in pg_stat_activity (and pg_locks), wait for it to end, and call ara_disable again; or pass a longer lock_timeout.';
    END;
    PERFORM ara_internal.ara_citus_triggers(tbl, citus_setting);
    DELETE FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
    RETURN format('pg_ara disabled on %s: hashes already written stay as they are', tbl);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_disable(regclass, interval) IS
'pg_ara: removes the command_hash triggers from a table (default task) and its registration in ara_tables (also when the triggers were dropped by hand: that clears the alert on ara_metrics()). Rows keep the hashes already written; new writes are no longer corrected. Waits at most lock_timeout (default 5s) for its table lock, then fails with 55P03 and changes nothing.';

CREATE OR REPLACE FUNCTION @extschema@.ara_set_key(
    tbl regclass,
    key text,
    definitions text[] DEFAULT NULL,
    lock_timeout interval DEFAULT '5s')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
    defs text[];
BEGIN
    IF tbl IS NULL OR key IS NULL THEN
        RAISE EXCEPTION 'ara_set_key: the table and the key must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF key NOT IN ('command', 'fingerprint') THEN
        RAISE EXCEPTION 'ara_set_key: key must be ''command'' or ''fingerprint'', got %', quote_literal(key)
            USING ERRCODE = '22023';
    END IF;
    SELECT * INTO cur FROM ara_internal.ara_config(tbl);
    IF cur.command_column IS NULL THEN
        RAISE EXCEPTION 'ara_set_key: pg_ara is not enabled on %', tbl
            USING ERRCODE = '55000', HINT = format('Run SELECT ara_enable(%L) first.', tbl::text);
    END IF;
    IF definitions IS NULL THEN
        -- The whole table.
        RETURN @extschema@.ara_enable(tbl, cur.command_column, cur.hash_column, cur.description_column, lock_timeout,
                                      key, '{}'::text[], NULL);
    END IF;
    IF cur.key = 'fingerprint' THEN
        RAISE EXCEPTION 'ara_set_key: % is keyed by fingerprint as a whole; per-definition choices apply under the command key', tbl
            USING ERRCODE = '22023',
                  HINT = format('Switch the table back with ara_set_key(%L, ''command''), then opt definitions in.', tbl::text);
    END IF;
    defs := CASE WHEN key = 'fingerprint'
                 THEN ARRAY(SELECT DISTINCT d FROM unnest(coalesce(cur.fingerprint_definitions, '{}') || definitions) d)
                 ELSE ARRAY(SELECT d FROM unnest(cur.fingerprint_definitions) d WHERE d <> ALL (definitions)) END;
    RETURN @extschema@.ara_enable(tbl, cur.command_column, cur.hash_column, cur.description_column, lock_timeout,
                                  'command', defs, coalesce(cur.definition_column, 'definition_id'));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_set_key(regclass, text, text[], interval) IS
'pg_ara: chooses the ARA key of a table where pg_ara is enabled: ara_set_key(tbl, ''fingerprint'') keys every run by its command''s fingerprint, ara_set_key(tbl, ''command'') by the exact command (the default); with definitions => ARRAY[...], opts those definitions in (''fingerprint'') or out (''command'') under the command key. New writes follow at once; CALL ara_backfill(tbl, definitions => ...) re-keys existing rows. Preview first with ara_fingerprint_preview(). Waits at most lock_timeout for its table lock (55P03).';

CREATE OR REPLACE FUNCTION @extschema@.ara_hash_mismatches(tbl regclass DEFAULT 'task'::text::regclass,
    OUT rows_out_of_line bigint, OUT rows_without_source bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg record;
BEGIN
    SELECT * INTO cfg FROM ara_internal.ara_config(tbl);
    IF NOT has_table_privilege(tbl, 'SELECT') THEN
        RAISE EXCEPTION 'ara_hash_mismatches: permission denied for table %', tbl
            USING ERRCODE = '42501', HINT = format('GRANT SELECT ON %s TO %I.', tbl, current_user);
    END IF;
    IF cfg.command_column IS NULL THEN
        RAISE EXCEPTION 'pg_ara is not enabled on %', tbl
            USING ERRCODE = '55000', HINT = format('Run SELECT ara_enable(%L) first.', tbl::text);
    END IF;
    EXECUTE format('SELECT count(*) FILTER (WHERE t.%I IS DISTINCT FROM %s), count(*) FILTER (WHERE %s IS NULL) FROM %s t',
                   cfg.hash_column, ara_internal.ara_expected_hash_sql(cfg.command_column, cfg.description_column, cfg.key, cfg.definition_column, cfg.fingerprint_definitions),
                   ara_internal.ara_expected_hash_sql(cfg.command_column, cfg.description_column, cfg.key, cfg.definition_column, cfg.fingerprint_definitions), tbl)
        INTO rows_out_of_line, rows_without_source;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_hash_mismatches(regclass) IS
'pg_ara: scans a table where pg_ara is enabled and counts rows whose hash disagrees with command_hash(command, description) (what CALL ara_backfill() would change), and rows with neither command nor description (left NULL). A full scan: not for a hot path.';

-- The tables carrying pg_ara's insert trigger: top-level ones, not the partitions that got a clone
-- of their parent's trigger. What ara_status() lists and ara_metrics() watches besides ara_tables.
CREATE OR REPLACE FUNCTION ara_internal.ara_triggered_tables()
RETURNS SETOF regclass
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tgrelid::regclass FROM pg_trigger t
     WHERE t.tgname = 'ara_command_hash_insert'
       AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure
       AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_trigger pt ON pt.tgrelid = i.inhparent
                       WHERE i.inhrelid = t.tgrelid AND pt.tgname = t.tgname)
$$;
COMMENT ON FUNCTION ara_internal.ara_triggered_tables() IS
'pg_ara internal: the top-level tables carrying pg_ara''s insert trigger (partitions with a cloned trigger left out).';

CREATE OR REPLACE FUNCTION @extschema@.ara_status(with_counts boolean DEFAULT false)
RETURNS TABLE (table_name regclass, command_column name, hash_column name, description_column name,
               key text, fingerprint_definitions text[],
               partitioned boolean, estimated_rows bigint, rows_out_of_line bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT t.tbl, cfg.command_column, cfg.hash_column, cfg.description_column,
           cfg.key, cfg.fingerprint_definitions,
           c.relkind = 'p',
           ara_internal.ara_estimated_rows(t.tbl),
           CASE WHEN with_counts THEN (SELECT m.rows_out_of_line FROM @extschema@.ara_hash_mismatches(t.tbl) m) END
    FROM ara_internal.ara_triggered_tables() t(tbl)
    JOIN pg_class c ON c.oid = t.tbl
    CROSS JOIN LATERAL ara_internal.ara_config(t.tbl) cfg
    ORDER BY t.tbl::text;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_status(boolean) IS
'pg_ara: the tables where pg_ara is enabled, their columns, their key (command or fingerprint, and the definitions keyed by fingerprint under a command key), whether partitioned, estimated rows; with_counts => true also counts rows out of line (a full scan of each table).';


-- ==== sql/backfill.sql ====
-- pg_ara: repairing the hashes of existing rows, in committed batches, resumably.
-- The procedure commits between batches, which a SET clause would forbid, so it schema-qualifies
-- everything instead of pinning search_path.

CREATE OR REPLACE PROCEDURE @extschema@.ara_backfill(
    tbl regclass DEFAULT 'task'::text::regclass,
    batch_size integer DEFAULT 10000,
    definitions text[] DEFAULT NULL,
    dry_run boolean DEFAULT false,
    definition_column name DEFAULT 'definition_id',
    lock_timeout interval DEFAULT '5s')
LANGUAGE plpgsql
AS $$
DECLARE
    cfg record;
    pk_cols name[];
    pk_types text[];
    expected text;
    wrong text;
    no_source text;
    key_list text;
    key_cmp text;
    def_filter text := '';
    scan_sql text;
    update_sql text;
    key_hi text;
    next_key text[];
    prog record;
    cur_key text[];
    n_scanned bigint;
    n_changed bigint;
    n_nosource bigint;
    done_scanned bigint := 0;
    done_changed bigint := 0;
    done_nosource bigint := 0;
    resumed_from bigint := 0;
    estimate bigint;
    t0 timestamptz := pg_catalog.clock_timestamp();
    caller_lock_timeout text := pg_catalog.current_setting('lock_timeout');
    caller_synchronous_commit text := pg_catalog.current_setting('synchronous_commit');
    caller_search_path text := pg_catalog.current_setting('search_path');
    -- The table as the caller names it (messages), before search_path is pinned below.
    tbl_label text := tbl::text;
    rate numeric;
    eta text;
BEGIN
    IF tbl IS NULL OR batch_size IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: tbl, batch_size and dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'ara_backfill: batch_size must be at least 1, got %', batch_size
            USING ERRCODE = '22023', HINT = 'Batches of 1000 to 50000 rows keep each transaction short.';
    END IF;
    -- Every transaction of the backfill waits at most lock_timeout for a lock, and runs with
    -- search_path pinned to pg_catalog (a COMMIT ends transaction-local settings, so both are set
    -- again after each): the operators of the generated SQL resolve to the built-in ones even when
    -- the caller's search_path puts a schema with look-alike objects first.
    PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_backfill');
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    SELECT * INTO cfg FROM ara_internal.ara_config(tbl);
    IF cfg.command_column IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: pg_ara is not enabled on %', tbl_label
            USING ERRCODE = '55000',
                  HINT = format('Run SELECT ara_enable(%L) first, so that rows written during the backfill are right too.', tbl::text);
    END IF;
    IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT')
       OR (NOT dry_run AND NOT pg_catalog.has_table_privilege(tbl, 'UPDATE')) THEN
        RAISE EXCEPTION 'ara_backfill: permission denied for table %', tbl_label
            USING ERRCODE = '42501',
                  HINT = 'ara_backfill needs SELECT on the table (and UPDATE unless dry_run => true); the table owner has both.';
    END IF;
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord), pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
      INTO pk_cols, pk_types
      FROM pg_catalog.pg_index i
      CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk_cols IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: table % has no primary key to walk in batches', tbl_label
            USING ERRCODE = '55000', HINT = 'Add a primary key (Flotilla''s task has run_id).';
    END IF;
    IF definitions IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = definition_column
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'ara_backfill: column "%" of relation % does not exist', definition_column, tbl_label
                USING ERRCODE = '42703', HINT = 'Pass definition_column => the column that holds the definition id.';
        END IF;
        def_filter := pg_catalog.format(' AND t.%I::text = ANY ($3)', definition_column);
    END IF;

    expected := ara_internal.ara_expected_hash_sql(cfg.command_column, cfg.description_column, cfg.key, cfg.definition_column, cfg.fingerprint_definitions);
    wrong := pg_catalog.format('t.%I IS DISTINCT FROM %s', cfg.hash_column, expected);
    -- "No source" (the key is NULL) needs the key computed; but every key falls back to a
    -- non-empty description, so a row with one has a source: tested first, it spares the hash.
    no_source := CASE WHEN cfg.description_column IS NULL THEN pg_catalog.format('(%s IS NULL)', expected)
                      ELSE pg_catalog.format('((t.%1$I IS NULL OR t.%1$I::text = '''') AND %2$s IS NULL)',
                                             cfg.description_column, expected) END;

    IF dry_run THEN
        EXECUTE pg_catalog.format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %s) FROM %s t WHERE true %s',
                                  wrong, no_source, tbl, def_filter)
           INTO n_scanned, n_changed, n_nosource USING NULL::text[], NULL::int, definitions;
        RAISE NOTICE 'ara_backfill dry run on %: % rows, % would change, % would stay NULL (no command and no description)',
            tbl_label, n_scanned, n_changed, n_nosource;
        PERFORM pg_catalog.set_config('lock_timeout', caller_lock_timeout, true);
        PERFORM pg_catalog.set_config('search_path', caller_search_path, true);
        RETURN;
    END IF;

    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('($1[%s])::%s', o, pk_types[o]), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('($2[%s])::%s', o, pk_types[o]), ', ' ORDER BY o)
      INTO key_list, key_cmp, key_hi
      FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o);

    -- One batch, two statements. The scan: the next batch_size keys after $1 in key order (the
    -- primary key index), how many rows have no source, and the last key. The rewrite: every row of
    -- that key range still wrong, read by a scan of the primary key index (bitmap and sequential
    -- scans are disabled for the batch), so that its row locks are taken in key order, as
    -- single-row writers and other backfills take theirs: no deadlock. The UPDATE re-checks
    -- "still wrong" on the newest version of a row a writer changed meanwhile, and sets
    -- the hash column to the key (the trigger, fired by that change, computes the same).
    scan_sql := pg_catalog.format($f$
        WITH b AS MATERIALIZED (
            SELECT %1$s, %2$s AS no_source, pg_catalog.row_number() OVER (ORDER BY %1$s) AS n
            FROM %3$s t
            WHERE ($1 IS NULL OR (%1$s) > (%4$s)) %5$s
            ORDER BY %1$s
            LIMIT $2
        ), c AS (
            SELECT count(*) AS scanned, count(*) FILTER (WHERE no_source) AS no_source FROM b
        )
        SELECT c.scanned, c.no_source, (SELECT ARRAY[%6$s] FROM b WHERE b.n = c.scanned) FROM c
        $f$,
        key_list, no_source, tbl, key_cmp, def_filter,
        (SELECT pg_catalog.string_agg(pg_catalog.format('b.%I::text', c), ', ' ORDER BY o) FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o)));
    update_sql := pg_catalog.format($f$
        UPDATE %1$s t SET %2$I = %8$s
        WHERE ($1 IS NULL OR (%3$s) > (%4$s)) AND (%3$s) <= (%5$s) %6$s AND %7$s
        $f$,
        tbl, cfg.hash_column, key_list, key_cmp, key_hi, def_filter, wrong, expected);

    estimate := ara_internal.ara_estimated_rows(tbl);

    SELECT * INTO prog FROM @extschema@.ara_backfill_progress p
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    IF FOUND THEN
        cur_key := prog.last_key;
        done_scanned := prog.rows_scanned;
        done_changed := prog.rows_changed;
        done_nosource := prog.rows_no_source;
        resumed_from := prog.rows_scanned;
        RAISE NOTICE 'ara_backfill on %: resuming after key % (% rows scanned, % changed so far)',
            tbl_label, cur_key, done_scanned, done_changed;
    ELSE
        DELETE FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions;
        INSERT INTO @extschema@.ara_backfill_progress (relid, definitions) VALUES (tbl, ara_backfill.definitions);
        RAISE NOTICE 'ara_backfill on %: starting, %, batches of %', tbl_label,
            coalesce('about ' || estimate || ' rows', 'row count unknown (table never analyzed)'), batch_size;
    END IF;
    COMMIT;

    LOOP
        PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_backfill');
        PERFORM ara_internal.ara_citus_lock_timeout(tbl, lock_timeout);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- A batch's commit need not wait for its WAL to reach disk: a crash loses at most the last
        -- few batches together with their progress rows (same transactions), and the next call
        -- redoes them. The repair is idempotent; waiting for each flush cost a tenth of a second.
        PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
        -- Compiling a batch's statements (JIT: their estimated cost can pass jit_above_cost) costs
        -- more than it could save on 10,000 rows.
        PERFORM pg_catalog.set_config('jit', 'off', true);
        PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
        PERFORM pg_catalog.set_config('enable_bitmapscan', 'off', true);
        BEGIN
            EXECUTE scan_sql INTO n_scanned, n_nosource, next_key USING cur_key, batch_size, definitions;
            n_changed := 0;
            IF n_scanned > 0 THEN
                EXECUTE update_sql USING cur_key, next_key, definitions;
                GET DIAGNOSTICS n_changed = ROW_COUNT;
                cur_key := next_key;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            RAISE EXCEPTION 'ara_backfill on %: could not lock the rows of the next batch within %: another transaction holds them', tbl_label, lock_timeout
                USING ERRCODE = '55P03',
                      HINT = format('%s rows were done and committed; CALL ara_backfill again to resume after the last committed batch, once the long transaction (see pg_stat_activity and pg_locks) has ended, or pass a longer lock_timeout.', done_scanned);
        END;
        EXIT WHEN n_scanned = 0;
        done_scanned := done_scanned + n_scanned;
        done_changed := done_changed + n_changed;
        done_nosource := done_nosource + n_nosource;
        UPDATE @extschema@.ara_backfill_progress p
           SET last_key = cur_key, rows_scanned = done_scanned, rows_changed = done_changed,
               rows_no_source = done_nosource, updated_at = pg_catalog.clock_timestamp()
         WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
        COMMIT;
        rate := pg_catalog.round((done_scanned - resumed_from) / greatest(extract(epoch FROM pg_catalog.clock_timestamp() - t0), 0.001));
        eta := CASE WHEN definitions IS NULL AND rate > 0 AND estimate > done_scanned
                    THEN pg_catalog.round((estimate - done_scanned) / rate) || ' s' ELSE 'n/a' END;
        RAISE NOTICE 'ara_backfill on %: % rows done, % to go, % changed, % rows/s, ETA %',
            tbl_label, done_scanned, CASE WHEN estimate IS NULL OR definitions IS NOT NULL THEN 'unknown' ELSE '~' || greatest(estimate - done_scanned, 0) END, done_changed, rate, eta;
        EXIT WHEN n_scanned < batch_size;
    END LOOP;

    -- The last commit waits for the WAL as the caller's transactions do: once CALL returns, every
    -- batch and the finished mark are as durable as the caller asked.
    PERFORM pg_catalog.set_config('synchronous_commit', caller_synchronous_commit, true);
    UPDATE @extschema@.ara_backfill_progress p SET finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    COMMIT;
    RAISE NOTICE 'ara_backfill on % finished: % rows scanned, % changed, % left NULL (no command and no description)',
        tbl_label, done_scanned, done_changed, done_nosource;
END
$$;
COMMENT ON PROCEDURE @extschema@.ara_backfill(regclass, integer, text[], boolean, name, interval) IS
'pg_ara: CALL ara_backfill(tbl, batch_size, definitions, dry_run, definition_column, lock_timeout): rewrites every row whose hash IS DISTINCT FROM command_hash(command, description), in primary-key batches, committing after each (short locks, no giant transaction). NOTICEs report rows done, to go, rate and ETA. Interrupted (cancel, kill, crash), it resumes where it stopped when called again. definitions => ARRAY[...] restricts it to some definition ids (per-definition rollout); dry_run => true only counts. Each batch waits at most lock_timeout (default 5s) for its row locks, else it stops with 55P03 and a later call resumes. Batches commit without waiting for the WAL flush (a crash may lose the last few, with their progress, and the next call redoes them); the final commit waits as the caller''s do. Needs ara_enable() first; must be CALLed outside a transaction block.';

-- ==== sql/lookup.sql ====
-- pg_ara: the ARA lookup in one call, and the index that makes it fast.
-- Flotilla's query, for a run about to launch (definition D, hash H): the OOM-killed runs
-- (exit_code 137 or exit_reason 'OOMKilled') of engine 'eks' with definition_id = D and
-- command_hash = H queued in the last 3 days, LIMIT 30 (no ORDER BY: an arbitrary 30); memory =
-- cast(percentile_disc(0.99) ... * 1.75 as int), cpu the same with 1.25; then the service clamps
-- both and rounds cpu to 250m. pg_ara does all of it, with one deliberate fix: the 30 rows are the
-- most recent ones of the window [as_of - lookback, as_of), not an arbitrary 30.

-- The SQL that selects a lookup's window: the OOM runs of ($1 definition, $2 hash), engine $3 (NULL:
-- any), queued in [$4, $5), most recent first, at most $6. One definition, used by ara_resources,
-- ara_explain and ara_growth alike. Its ORDER BY matches the index ara_index_sql() recommends.
CREATE OR REPLACE FUNCTION ara_internal.ara_window_sql(tbl regclass, command_column name, hash_column name)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$SELECT t.run_id::text AS run_id, t.queued_at, t.memory::bigint AS memory, t.cpu::bigint AS cpu,
       t.%1$I::text AS command, t.%2$I::text AS command_hash
  FROM %3$s t
 WHERE t.definition_id = $1 AND t.%2$I = $2
   AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled')
   AND ($3::text IS NULL OR t.engine = $3)
   AND t.queued_at >= $4 AND t.queued_at < $5
 ORDER BY t.queued_at DESC, t.run_id DESC
 LIMIT $6$q$, command_column, hash_column, tbl)
$$;
COMMENT ON FUNCTION ara_internal.ara_window_sql(regclass, name, name) IS
'pg_ara internal: the query selecting the OOM runs of one ARA lookup window (parameters: definition, hash, engine, from, until, max runs), shared by ara_resources, ara_explain and ara_growth.';

-- Checks the options every lookup shares; raises with a SQLSTATE and a hint.
CREATE OR REPLACE FUNCTION ara_internal.ara_check_lookup_options(caller text, as_of timestamptz, lookback interval,
    max_runs integer, percentile double precision, memory_multiplier numeric, cpu_multiplier numeric,
    min_memory bigint, max_memory bigint, min_cpu bigint, max_cpu bigint, cpu_round_to integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF as_of IS NULL OR lookback IS NULL OR max_runs IS NULL OR percentile IS NULL
       OR memory_multiplier IS NULL OR cpu_multiplier IS NULL THEN
        RAISE EXCEPTION '%: as_of, lookback, max_runs, percentile and the multipliers must not be NULL', caller
            USING ERRCODE = '22004', HINT = 'Leave an option out to get Flotilla''s default.';
    END IF;
    IF lookback <= interval '0' THEN
        RAISE EXCEPTION '%: lookback must be positive, got %', caller, lookback
            USING ERRCODE = '22023', HINT = 'Flotilla looks back 3 days: lookback => ''3 days''.';
    END IF;
    IF max_runs < 1 THEN
        RAISE EXCEPTION '%: max_runs must be at least 1, got %', caller, max_runs
            USING ERRCODE = '22023', HINT = 'Flotilla reads at most 30 OOM runs: max_runs => 30.';
    END IF;
    IF percentile = 'NaN'::float8 OR percentile < 0 OR percentile > 1 THEN
        RAISE EXCEPTION '%: percentile value % is not between 0 and 1', caller, percentile
            USING ERRCODE = '22003', HINT = 'Flotilla uses percentile => 0.99.';
    END IF;
    IF memory_multiplier = 'NaN'::numeric OR cpu_multiplier = 'NaN'::numeric THEN
        RAISE EXCEPTION '%: a multiplier must be a number, got NaN', caller USING ERRCODE = '22023';
    END IF;
    IF min_memory > max_memory OR min_cpu > max_cpu THEN
        RAISE EXCEPTION '%: a lower bound is above its upper bound (memory % .. %, cpu % .. %)', caller,
                min_memory, max_memory, min_cpu, max_cpu
            USING ERRCODE = '22023', HINT = 'Flotilla clamps memory to 512 .. 350000 MB and cpu to 256 .. 60000 millicores; NULL means no bound.';
    END IF;
    IF cpu_round_to < 0 THEN
        RAISE EXCEPTION '%: cpu_round_to must be 0 (no rounding) or more, got %', caller, cpu_round_to
            USING ERRCODE = '22023', HINT = 'Flotilla rounds cpu to the nearest 250 millicores: cpu_round_to => 250.';
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_check_lookup_options(text, timestamptz, interval, integer, double precision, numeric, numeric, bigint, bigint, bigint, bigint, integer) IS
'pg_ara internal: validates the options shared by ara_resources, ara_resources_for_run, ara_explain and ara_growth (22004, 22023, 22003).';

-- The SQL of one estimate in the queries below: cast(percentile_disc(percentile) WITHIN GROUP (ORDER
-- BY value) * multiplier AS bigint), written as ara_estimate(value, percentile, multiplier) (the
-- extension's aggregate: linear, exactly that answer). The SQL edition (edition/lookup.sql) writes
-- the built-in expression itself, which its own ara_estimate() would only compute more slowly: the
-- one place where the two editions' queries differ.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_sql(value text, percentile text, multiplier text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('%I.ara_estimate(%s, %s, %s)', '@extschema@', value, percentile, multiplier) $$;
COMMENT ON FUNCTION ara_internal.ara_estimate_sql(text, text, text) IS
'pg_ara internal: the SQL text of one estimate (value, percentile and multiplier are SQL expressions) in the queries pg_ara writes: ara_estimate(value, percentile, multiplier). Not for direct use.';

-- The whole query of one ara_resources() lookup on tbl, after checking tbl (ara_columns: 22004,
-- 42809, 42501, 42703): count, memory and cpu estimates over the window. Parameters $1 .. $6 as
-- ara_window_sql(), $7 percentile, $8 and $9 the memory and cpu multipliers.
-- ara_internal.ara_lookup_window() (Rust) runs it with a plan kept per session, table and role.
CREATE OR REPLACE FUNCTION ara_internal.ara_lookup_sql(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason',
              'engine', 'queued_at']::name[], 'ara_resources');
    RETURN format('SELECT count(*)::int, %1$s, %2$s FROM (%3$s) w',
                  ara_internal.ara_estimate_sql('w.memory', '$7', '$8'), ara_internal.ara_estimate_sql('w.cpu', '$7', '$9'),
                  ara_internal.ara_window_sql(tbl, cols.command_column, cols.hash_column));
END
$$;
COMMENT ON FUNCTION ara_internal.ara_lookup_sql(regclass) IS
'pg_ara internal: the query of one ara_resources() lookup on a table (parameters: definition, hash, engine, from, until, max runs, percentile, memory and cpu multipliers), after checking the table; ara_lookup_window() keeps its plan.';

CREATE OR REPLACE FUNCTION @extschema@.ara_resources(
    definition_id text,
    command_hash text,
    as_of timestamptz DEFAULT now(),
    tbl regclass DEFAULT 'task'::text::regclass,
    lookback interval DEFAULT '3 days',
    max_runs integer DEFAULT 30,
    percentile double precision DEFAULT 0.99,
    memory_multiplier numeric DEFAULT 1.75,
    cpu_multiplier numeric DEFAULT 1.25,
    engine text DEFAULT 'eks',
    min_memory bigint DEFAULT 512,
    max_memory bigint DEFAULT 350000,
    min_cpu bigint DEFAULT 256,
    max_cpu bigint DEFAULT 60000,
    cpu_round_to integer DEFAULT 250,
    policy text DEFAULT NULL,
    peak_percentile double precision DEFAULT NULL,
    headroom numeric DEFAULT NULL,
    peak_lookback interval DEFAULT NULL,
    OUT memory bigint, OUT cpu bigint, OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint,
    OUT memory_capped boolean, OUT cpu_capped boolean, OUT sized_by text, OUT peak_runs integer,
    OUT peak_memory bigint, OUT oom_floor bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clamped_cpu bigint;
BEGIN
    PERFORM ara_internal.ara_check_lookup_options('ara_resources', as_of, lookback, max_runs, percentile,
        memory_multiplier, cpu_multiplier, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to);
    -- The policy: the caller's, else the one ara_set_policy() chose for the table or definition,
    -- else Flotilla's; right_size's parameters likewise, else p95 x 1.2 over 7 days.
    SELECT c.policy, c.peak_percentile, c.headroom, c.peak_lookback INTO sized_by, peak_percentile, headroom, peak_lookback
      FROM ara_internal.ara_sizing_for(tbl, definition_id, policy, peak_percentile, headroom, peak_lookback,
                                       'ara_resources') c;
    IF sized_by = 'oom' THEN
        -- The table is checked (its first time in the session) even for a NULL definition or hash,
        -- which have no history: Flotilla skips ARA for a NULL hash, the run keeps its defaults.
        SELECT w.oom_runs, w.raw_memory, w.raw_cpu INTO oom_runs, raw_memory, raw_cpu
          FROM ara_internal.ara_lookup_window(tbl, definition_id, command_hash, engine, as_of - lookback, as_of,
                                              max_runs, percentile, memory_multiplier, cpu_multiplier) w;
    ELSE
        -- Both feeds over [as_of - peak_lookback, as_of): the peaks of every successful run, and
        -- the max_runs most recent OOM runs for the floor.
        SELECT w.oom_runs, w.oom_floor_memory, w.peak_runs, w.peak_memory, w.raw_memory, w.raw_cpu
          INTO oom_runs, oom_floor, peak_runs, peak_memory, raw_memory, raw_cpu
          FROM ara_internal.ara_right_size_window(tbl, definition_id, command_hash, engine, as_of - peak_lookback, as_of,
                                                  max_runs, peak_percentile, headroom, memory_multiplier,
                                                  cpu_multiplier) w;
    END IF;
    -- The service's clamps (greatest/least ignore a NULL bound), then cpu to the nearest step.
    memory := CASE WHEN raw_memory IS NOT NULL THEN greatest(min_memory, least(max_memory, raw_memory)) END;
    memory_capped := memory IS DISTINCT FROM raw_memory;
    clamped_cpu := CASE WHEN raw_cpu IS NOT NULL THEN greatest(min_cpu, least(max_cpu, raw_cpu)) END;
    cpu_capped := clamped_cpu IS DISTINCT FROM raw_cpu;
    cpu := CASE WHEN coalesce(cpu_round_to, 0) = 0 THEN clamped_cpu
                ELSE ((clamped_cpu + cpu_round_to / 2) / cpu_round_to) * cpu_round_to END;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_resources(text, text, timestamptz, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer, text, double precision, numeric, interval) IS
'pg_ara: Flotilla''s ARA lookup in one call. Exactly one row: memory and cpu (NULL when there is no history or the hash is NULL: the run keeps its defaults), oom_runs, raw_memory/raw_cpu before the clamps, whether a clamp changed them, and sized_by, the policy applied. policy ''oom'' (Flotilla''s; the default unless ara_set_policy chose otherwise for the table or definition): the OOM runs (exit_code 137 or exit_reason OOMKilled) of definition_id and command_hash (the hash column ara_enable configured) on engine (NULL: any) queued in [as_of - lookback, as_of), the max_runs most recent (Flotilla takes an arbitrary LIMIT 30); memory = ara_estimate(memory, percentile, memory_multiplier) clamped to min_memory..max_memory; cpu likewise, rounded to the nearest cpu_round_to (0: none). policy ''right_size'': over [as_of - peak_lookback, as_of), peak_percentile of the successful runs'' max_memory_used (max_cpu_used) x headroom, never below the largest of the max_runs most recent OOM-killed requests x memory_multiplier (cpu_multiplier); evidence in peak_runs, peak_memory (the percentile, before headroom) and oom_floor; NULL parameters: as ara_set_policy chose, else 0.95, 1.2, 7 days. STABLE, read-only: runs on a standby with SELECT on the table. Fast with the index of ara_index_sql().';

CREATE OR REPLACE FUNCTION @extschema@.ara_resources_for_run(
    run_id text,
    as_of timestamptz DEFAULT now(),
    tbl regclass DEFAULT 'task'::text::regclass,
    lookback interval DEFAULT '3 days',
    max_runs integer DEFAULT 30,
    percentile double precision DEFAULT 0.99,
    memory_multiplier numeric DEFAULT 1.75,
    cpu_multiplier numeric DEFAULT 1.25,
    engine text DEFAULT 'eks',
    min_memory bigint DEFAULT 512,
    max_memory bigint DEFAULT 350000,
    min_cpu bigint DEFAULT 256,
    max_cpu bigint DEFAULT 60000,
    cpu_round_to integer DEFAULT 250,
    policy text DEFAULT NULL,
    peak_percentile double precision DEFAULT NULL,
    headroom numeric DEFAULT NULL,
    peak_lookback interval DEFAULT NULL,
    OUT memory bigint, OUT cpu bigint, OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint,
    OUT memory_capped boolean, OUT cpu_capped boolean, OUT sized_by text, OUT peak_runs integer,
    OUT peak_memory bigint, OUT oom_floor bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
    run_definition text;
    run_hash text;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl, ARRAY['run_id', 'definition_id', 'command_hash']::name[],
                                                      'ara_resources_for_run');
    IF run_id IS NOT NULL THEN
        EXECUTE format('SELECT t.definition_id::text, t.%I::text FROM %s t WHERE t.run_id = $1', cols.hash_column, tbl)
           INTO run_definition, run_hash USING run_id;
    END IF;
    -- An unknown run has no hash: as Flotilla's subquery, no history (one row of NULLs).
    SELECT * INTO memory, cpu, oom_runs, raw_memory, raw_cpu, memory_capped, cpu_capped, sized_by, peak_runs,
                  peak_memory, oom_floor
      FROM @extschema@.ara_resources(run_definition, run_hash, as_of, tbl, lookback, max_runs, percentile,
                                     memory_multiplier, cpu_multiplier, engine, min_memory, max_memory,
                                     min_cpu, max_cpu, cpu_round_to, policy, peak_percentile, headroom, peak_lookback);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_resources_for_run(text, timestamptz, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer, text, double precision, numeric, interval) IS
'pg_ara: ara_resources() for a run already inserted, keyed as Flotilla keys it: the run''s definition_id and its stored hash (the trigger''s, once pg_ara is enabled), as of now by default. An unknown run_id or a NULL stored hash gives a row without history (memory and cpu NULL), as Flotilla''s query does. Same options and result as ara_resources().';

CREATE OR REPLACE FUNCTION @extschema@.ara_index_sql(tbl regclass DEFAULT 'task'::text::regclass)
RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
    idx record;
    node record;
    child record;
    idx_name name;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command_hash', 'exit_code', 'exit_reason', 'queued_at']::name[], 'ara_index_sql');
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'ara_index_sql: "%" is not a table', tbl USING ERRCODE = '42809',
            HINT = 'Index the table the view reads.';
    END IF;
    -- The OOM runs' index every lookup needs; and, once ara_set_policy() chose right_size for the
    -- table or one of its definitions, the successful runs' peaks that policy reads (0.5.0).
    FOR idx IN
        SELECT '_ara_oom_idx' AS suffix,
               format('(definition_id, %I, queued_at DESC, run_id DESC) WHERE exit_code = 137 OR exit_reason = ''OOMKilled''',
                      cols.hash_column) AS key
        UNION ALL
        SELECT '_ara_peaks_idx',
               format('(definition_id, %I, queued_at) INCLUDE (max_memory_used, max_cpu_used) WHERE exit_code = 0 AND max_memory_used IS NOT NULL',
                      cols.hash_column)
         WHERE EXISTS (SELECT 1 FROM @extschema@.ara_sizing s WHERE s.table_name = tbl AND s.policy = 'right_size')
    LOOP
        -- A plain table: one concurrent build. A partitioned one: each leaf concurrently, then the
        -- partitioned indexes ON ONLY their table with each child's index attached (deepest first),
        -- since CREATE INDEX CONCURRENTLY does not work on a partitioned table.
        FOR node IN
            SELECT pt.relid, pt.isleaf, pt.level, n.nspname, c.relname
            FROM (SELECT p.relid, p.isleaf, p.level FROM pg_partition_tree(tbl) p
                  UNION ALL   -- pg_partition_tree() gives no row for a table outside any partitioning
                  SELECT tbl, true, 0 WHERE NOT EXISTS (SELECT 1 FROM pg_partition_tree(tbl))) pt
            JOIN pg_class c ON c.oid = pt.relid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p')
            ORDER BY pt.level DESC, pt.isleaf DESC, n.nspname, c.relname
        LOOP
            idx_name := left(node.relname, 63 - length(idx.suffix)) || idx.suffix;
            IF node.isleaf THEN
                RETURN NEXT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I %s',
                                   idx_name, node.nspname, node.relname, idx.key);
            ELSE
                RETURN NEXT format('CREATE INDEX IF NOT EXISTS %I ON ONLY %I.%I %s', idx_name, node.nspname, node.relname,
                                   idx.key);
                FOR child IN
                    SELECT n.nspname, c.relname
                    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE i.inhparent = node.relid AND c.relkind IN ('r', 'p')
                    ORDER BY n.nspname, c.relname
                LOOP
                    RETURN NEXT format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I', node.nspname, idx_name,
                                       child.nspname, left(child.relname, 63 - length(idx.suffix)) || idx.suffix);
                END LOOP;
            END IF;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_index_sql(regclass) IS
'pg_ara: the statements that create the partial indexes ARA lookups need: (definition_id, <hash>, queued_at DESC, run_id DESC) WHERE exit_code = 137 OR exit_reason = ''OOMKilled'' (small: OOM rows only); and, once ara_set_policy() chose right_size for the table or one of its definitions, (definition_id, <hash>, queued_at) INCLUDE (max_memory_used, max_cpu_used) WHERE exit_code = 0 AND max_memory_used IS NOT NULL for the peaks it reads. CREATE INDEX CONCURRENTLY cannot run inside a function, so it returns them: in psql, SELECT ara_index_sql(''task'') \gexec. A partitioned table gets one concurrent build per partition, then the parent index attached. Idempotent (IF NOT EXISTS).';

-- ==== sql/sizing.sql ====
-- pg_ara: right-sizing as a lookup policy (0.5.0). ara_resources() sizes a run from Flotilla's OOM
-- history by default ('oom'); under 'right_size' from the measured peaks of the key's recent
-- successful runs (percentile x headroom), never below the largest recent OOM-killed request x the
-- OOM multiplier. Chosen per call (policy => ...) or per table or definition (ara_set_policy(),
-- stored in ara_sizing). The same policy as ara_waste()'s right-sized request and ara_simulate()'s
-- feed 'both' (the replay's answers equal these lookups run by run: tests/pg_regress/sql/simulate.sql).

-- The SQL that selects the peaks a right_size lookup reads: the successful runs (exit code 0, not
-- OOM-killed) with a measured memory peak of ($1 definition, $2 hash), engine $3 (NULL: any),
-- queued in [$4, $5): every one of them (a percentile over all of the window's successes).
CREATE OR REPLACE FUNCTION ara_internal.ara_peaks_window_sql(tbl regclass, hash_column name)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$SELECT t.max_memory_used::bigint AS peak_memory, t.max_cpu_used::bigint AS peak_cpu
  FROM %2$s t
 WHERE t.definition_id = $1 AND t.%1$I = $2
   AND t.exit_code = 0 AND t.exit_reason IS DISTINCT FROM 'OOMKilled' AND t.max_memory_used IS NOT NULL
   AND ($3::text IS NULL OR t.engine = $3)
   AND t.queued_at >= $4 AND t.queued_at < $5$q$, hash_column, tbl)
$$;
COMMENT ON FUNCTION ara_internal.ara_peaks_window_sql(regclass, name) IS
'pg_ara internal: the query selecting the measured peaks (max_memory_used, max_cpu_used) of the successful runs one right_size lookup reads (parameters: definition, hash, engine, from, until).';

-- The whole query of one right_size lookup on tbl, after checking tbl (22004, 42809, 42501,
-- 42703). Parameters: $1 .. $6 as ara_window_sql() (the OOM floor's window: the $6 most recent
-- OOM runs), $7 the peak percentile, $8 the headroom, $9 and $10 the memory and cpu OOM
-- multipliers. Columns: oom_runs, the memory and cpu floors (largest OOM request x multiplier),
-- peak_runs, the memory and cpu peak percentiles, raw memory and cpu (the larger of peak
-- percentile x headroom and the floor). ara_internal.ara_right_size_window() (Rust) keeps its plan.
CREATE OR REPLACE FUNCTION ara_internal.ara_right_size_sql(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason',
              'engine', 'queued_at', 'max_memory_used', 'max_cpu_used']::name[], 'ara_resources');
    RETURN format($q$SELECT o.n, o.memory, o.cpu, p.n, p.memory, p.cpu, greatest(o.memory, p.raw_memory), greatest(o.cpu, p.raw_cpu)
  FROM (SELECT count(*)::int AS n, %1$s AS memory, %2$s AS cpu
          FROM (%7$s) w) o,
       (SELECT count(*)::int AS n, %3$s AS memory, %4$s AS raw_memory, %5$s AS cpu, %6$s AS raw_cpu
          FROM (%8$s) s) p$q$,
        ara_internal.ara_estimate_sql('w.memory', '1::float8', '$9'),
        ara_internal.ara_estimate_sql('w.cpu', '1::float8', '$10'),
        ara_internal.ara_estimate_sql('s.peak_memory', '$7', '1::numeric'),
        ara_internal.ara_estimate_sql('s.peak_memory', '$7', '$8'),
        ara_internal.ara_estimate_sql('s.peak_cpu', '$7', '1::numeric'),
        ara_internal.ara_estimate_sql('s.peak_cpu', '$7', '$8'),
        ara_internal.ara_window_sql(tbl, cols.command_column, cols.hash_column),
        ara_internal.ara_peaks_window_sql(tbl, cols.hash_column));
END
$$;
COMMENT ON FUNCTION ara_internal.ara_right_size_sql(regclass) IS
'pg_ara internal: the query of one right_size lookup on a table (parameters: definition, hash, engine, from, until, max OOM runs, peak percentile, headroom, memory and cpu OOM multipliers), after checking the table; ara_right_size_window() keeps its plan.';

-- Checks right_size's parameters for caller; raises with a SQLSTATE and a hint.
CREATE OR REPLACE FUNCTION ara_internal.ara_check_right_size(caller text, peak_percentile double precision,
    headroom numeric, peak_lookback interval)
RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF peak_percentile IS NULL OR headroom IS NULL OR peak_lookback IS NULL THEN
        RAISE EXCEPTION '%: peak_percentile, headroom and peak_lookback must not be NULL', caller USING ERRCODE = '22004',
            HINT = 'Leave them out for p95 of the peaks x 1.2 over 7 days.';
    END IF;
    IF peak_percentile = 'NaN' OR peak_percentile < 0 OR peak_percentile > 1 THEN
        RAISE EXCEPTION '%: peak_percentile % is not between 0 and 1', caller, peak_percentile
            USING ERRCODE = '22003', HINT = 'right_size defaults to peak_percentile => 0.95.';
    END IF;
    IF headroom <= 0 OR headroom = 'NaN' THEN
        RAISE EXCEPTION '%: headroom must be positive, got %', caller, headroom
            USING ERRCODE = '22023', HINT = 'headroom multiplies the peak percentile: 1.2 (the default) asks 20% above it.';
    END IF;
    IF peak_lookback <= interval '0' THEN
        RAISE EXCEPTION '%: peak_lookback must be positive, got %', caller, peak_lookback
            USING ERRCODE = '22023', HINT = 'right_size defaults to peak_lookback => ''7 days''.';
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_check_right_size(text, double precision, numeric, interval) IS
'pg_ara internal: validates right_size''s peak_percentile, headroom and peak_lookback for ara_set_policy, ara_resources and ara_explain (22004, 22003, 22023).';

-- The policy a lookup of (tbl, definition_id) applies, for caller: the given one, else the
-- definition's row of ara_sizing, else the table's, else Flotilla's ('oom'); under right_size its
-- parameters (the given ones, else the chosen ones, else p95 x 1.2 over 7 days), checked; source
-- says where the policy comes from. The one place ara_resources() and ara_explain() resolve it.
CREATE OR REPLACE FUNCTION ara_internal.ara_sizing_for(tbl regclass, definition_id text, given_policy text,
    given_percentile double precision, given_headroom numeric, given_lookback interval, caller text,
    OUT policy text, OUT peak_percentile double precision, OUT headroom numeric, OUT peak_lookback interval,
    OUT source text)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF given_policy IS NOT NULL AND given_policy NOT IN ('oom', 'right_size') THEN
        RAISE EXCEPTION '%: policy must be ''oom'' or ''right_size'' (or NULL: as ara_set_policy chose), got %',
                caller, quote_literal(given_policy)
            USING ERRCODE = '22023',
                  HINT = 'oom: Flotilla''s ARA, from OOM-killed runs; right_size: from successful runs'' measured peaks, with an OOM floor.';
    END IF;
    IF given_policy = 'oom' THEN
        policy := 'oom';
        source := 'given';
        RETURN;
    END IF;
    SELECT s.policy, s.peak_percentile, s.headroom, s.peak_lookback,
           CASE WHEN s.definition_id IS NULL THEN 'set for the table' ELSE 'set for definition ' || s.definition_id END
      INTO policy, peak_percentile, headroom, peak_lookback, source
      FROM @extschema@.ara_sizing s
     WHERE s.table_name = tbl AND (s.definition_id IS NULL OR s.definition_id = ara_sizing_for.definition_id)
     ORDER BY s.definition_id IS NULL
     LIMIT 1;
    IF given_policy IS NOT NULL THEN
        policy := given_policy;
        source := 'given';
    ELSIF policy IS NULL THEN
        policy := 'oom';
        source := 'the default';
    END IF;
    IF policy = 'right_size' THEN
        peak_percentile := coalesce(given_percentile, peak_percentile, 0.95);
        headroom := coalesce(given_headroom, headroom, 1.2);
        peak_lookback := coalesce(given_lookback, peak_lookback, '7 days');
        PERFORM ara_internal.ara_check_right_size(caller, peak_percentile, headroom, peak_lookback);
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_sizing_for(regclass, text, text, double precision, numeric, interval, text) IS
'pg_ara internal: the sizing policy a lookup of a table''s definition applies (the given one, else its ara_sizing row, else the table''s, else ''oom''), its right_size parameters (given, else chosen, else 0.95, 1.2, 7 days; checked) and where it comes from (22023 for an unknown policy).';

CREATE OR REPLACE FUNCTION @extschema@.ara_set_policy(
    tbl regclass,
    policy text,
    definitions text[] DEFAULT NULL,
    peak_percentile double precision DEFAULT 0.95,
    headroom numeric DEFAULT 1.2,
    peak_lookback interval DEFAULT '7 days')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    right_size boolean;
    table_policy text;
    overrides text;
BEGIN
    IF tbl IS NULL OR policy IS NULL THEN
        RAISE EXCEPTION 'ara_set_policy: the table and the policy must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF policy NOT IN ('oom', 'right_size') THEN
        RAISE EXCEPTION 'ara_set_policy: policy must be ''oom'' or ''right_size'', got %', quote_literal(policy)
            USING ERRCODE = '22023',
                  HINT = 'oom: Flotilla''s ARA (OOM-killed runs only, the default); right_size: successful runs'' measured peaks with an OOM floor.';
    END IF;
    right_size := policy = 'right_size';
    -- The table must be one ara_resources() can read: with right_size, with its peak columns.
    PERFORM ara_internal.ara_columns(tbl, CASE WHEN right_size
        THEN ARRAY['definition_id', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason', 'queued_at',
                   'max_memory_used', 'max_cpu_used']::name[]
        ELSE ARRAY['definition_id']::name[] END, 'ara_set_policy');
    IF NOT has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'ara_set_policy: permission denied for table % (choosing its sizing policy takes the privilege ara_set_key needs)', tbl
            USING ERRCODE = '42501', HINT = format('Run it as the table''s owner, or GRANT TRIGGER ON %s TO %I.', tbl, current_user);
    END IF;
    IF right_size THEN
        PERFORM ara_internal.ara_check_right_size('ara_set_policy', peak_percentile, headroom, peak_lookback);
    END IF;
    IF definitions IS NOT NULL AND array_position(definitions, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'ara_set_policy: definitions must not contain NULL' USING ERRCODE = '22004';
    END IF;

    -- Rows of tables dropped since go (their oid could otherwise be reused by another table), as
    -- ara_enable() does for ara_tables.
    DELETE FROM @extschema@.ara_sizing s WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = s.table_name);
    IF definitions IS NULL THEN
        -- The whole table: its own row, and every per-definition choice cleared (as ara_set_key).
        DELETE FROM @extschema@.ara_sizing s WHERE s.table_name = tbl;
        IF right_size THEN
            INSERT INTO @extschema@.ara_sizing (table_name, definition_id, policy, peak_percentile, headroom, peak_lookback)
            VALUES (tbl, NULL, policy, peak_percentile, headroom, peak_lookback);
        END IF;
    ELSE
        DELETE FROM @extschema@.ara_sizing s WHERE s.table_name = tbl AND s.definition_id = ANY (definitions);
        INSERT INTO @extschema@.ara_sizing (table_name, definition_id, policy, peak_percentile, headroom, peak_lookback)
        SELECT DISTINCT tbl, d, policy, CASE WHEN right_size THEN peak_percentile END,
               CASE WHEN right_size THEN headroom END, CASE WHEN right_size THEN peak_lookback END
          FROM unnest(definitions) d;
    END IF;

    IF right_size AND NOT EXISTS (
           SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
            WHERE i.indrelid = tbl AND ic.relname = left(c.relname, 63 - length('_ara_peaks_idx')) || '_ara_peaks_idx') THEN
        RAISE NOTICE 'ara_set_policy: right_size reads the measured peaks of each key''s successful runs; without their index each lookup scans the definition''s runs'
            USING HINT = format('Create it without blocking writes: SELECT ara_index_sql(%L) \gexec', tbl::text);
    END IF;

    SELECT coalesce(max(CASE WHEN s.definition_id IS NULL THEN
                            format('right_size (p%s of peaks x %s over %s)', s.peak_percentile * 100, s.headroom, s.peak_lookback) END),
                    'oom (Flotilla)'),
           string_agg(format('%s: %s', s.definition_id,
                             CASE s.policy WHEN 'oom' THEN 'oom' ELSE format('right_size (p%s of peaks x %s over %s)',
                                  s.peak_percentile * 100, s.headroom, s.peak_lookback) END), '; ' ORDER BY s.definition_id)
                FILTER (WHERE s.definition_id IS NOT NULL)
      INTO table_policy, overrides
      FROM @extschema@.ara_sizing s WHERE s.table_name = tbl;
    RETURN format('%s: %s%s', tbl, table_policy, coalesce('; by definition: ' || overrides, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_set_policy(regclass, text, text[], double precision, numeric, interval) IS
'pg_ara: chooses how ara_resources() sizes the runs of a table when its caller gives no policy: ara_set_policy(tbl, ''right_size'') for the whole table, with definitions => ARRAY[...] for those definitions only (overriding the table''s choice; ''oom'' opts them out); ara_set_policy(tbl, ''oom'') puts the whole table back on Flotilla''s ARA and clears every per-definition choice. right_size: peak_percentile (0.95) of the measured peaks (max_memory_used, max_cpu_used) of the key''s successful runs over peak_lookback (7 days) x headroom (1.2), never below the largest of the key''s recent OOM-killed requests x the OOM multiplier. Takes TRIGGER on the table (as ara_set_key), no lock on it; stored in ara_sizing (kept by pg_dump). Returns the table''s choices.';

-- ==== edition/lookup.sql ====
-- SQL edition: the twins of the kept-plan lookups of src/lookup.rs, same names, arguments and
-- result columns. The extension keeps each lookup's plan for the session, per table and role, and drops
-- it when the table changes; the edition keeps a prepared statement (PREPARE) of the query the shared
-- SQL writes for the table (ara_internal.ara_lookup_sql() or ara_right_size_sql(), which check the
-- table and raise their errors), named after what that query depends on (ara_prepared_lookup()).
-- PostgreSQL replans a prepared statement when the table changes. PREPARE is not read-only for PL/pgSQL, so these twins are VOLATILE
-- (the extension's are STABLE); a lookup's query still reads one snapshot.

-- The estimate in the queries pg_ara writes (sql/lookup.sql): the built-in expression that
-- ara_estimate(value, percentile, multiplier) equals. The edition's aggregate copies its state on every
-- row (edition/estimate.sql); percentile_disc sorts the values once, so a right_size lookup over a week
-- of a frequent definition's runs costs O(n log n), not O(n^2).
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_sql(value text, percentile text, multiplier text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('cast(pg_catalog.percentile_disc(%s) WITHIN GROUP (ORDER BY %s) * %s AS bigint)', percentile, value, multiplier) $$;
COMMENT ON FUNCTION ara_internal.ara_estimate_sql(text, text, text) IS
'pg_ara internal (SQL edition): the SQL text of one estimate in the queries pg_ara writes: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint), what ara_estimate(value, percentile, multiplier) equals. Not for direct use.';

-- The session's prepared statement of one kind of lookup ('lookup': ara_lookup_sql(), or 'right_size':
-- ara_right_size_sql()) on tbl, prepared if this session has none yet; its name. The name covers
-- everything the written query depends on: the table's qualified name and its columns' names (a
-- rename, a dropped or added column makes a new name, and the writer checks the table again), the
-- columns ara_enable() configured (its trigger's arguments), the role, and the writer itself (an
-- update of the edition replaces it). Without SELECT on the table the writer raises pg_ara's error.
CREATE OR REPLACE FUNCTION ara_internal.ara_prepared_lookup(kind text, tbl regclass)
RETURNS text
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    writer regprocedure := CASE kind WHEN 'lookup' THEN 'ara_internal.ara_lookup_sql(regclass)'::regprocedure
                                     ELSE 'ara_internal.ara_right_size_sql(regclass)'::regprocedure END;
    stmt text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_resources: the table must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the task table, e.g. tbl => ''task''.';
    END IF;
    IF NOT has_table_privilege(tbl, 'SELECT') THEN
        PERFORM ara_internal.ara_lookup_sql(tbl);   -- raises 42501 with its hint
    END IF;
    SELECT format('ara_%s_%s_%s', kind, tbl::oid, md5(concat_ws('/', current_user, tbl::text,
                  (SELECT p.xmin FROM pg_proc p WHERE p.oid = writer),
                  (SELECT string_agg(a.attname::text, ',' ORDER BY a.attnum) FROM pg_attribute a
                    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped),
                  (SELECT string_agg(encode(t.tgargs, 'hex'), ',' ORDER BY t.oid) FROM pg_trigger t
                    WHERE t.tgrelid = tbl AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure))))
      INTO stmt;
    IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements p WHERE p.name = stmt) THEN
        -- The writer checks the table (42809, 42501, 42703) before anything is prepared.
        EXECUTE format('PREPARE %I(text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric%s) AS %s',
                       stmt, CASE kind WHEN 'lookup' THEN '' ELSE ', numeric' END,
                       CASE kind WHEN 'lookup' THEN ara_internal.ara_lookup_sql(tbl) ELSE ara_internal.ara_right_size_sql(tbl) END);
    END IF;
    RETURN stmt;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_prepared_lookup(text, regclass) IS
'pg_ara internal (SQL edition): the name of this session''s prepared statement of a lookup (kind lookup or right_size) on a table, for its name and columns, pg_ara''s configuration of it and the role, prepared from ara_lookup_sql() or ara_right_size_sql() (which check the table) when missing. Not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_lookup_window(tbl regclass, definition_id text, command_hash text,
    engine text, window_from timestamptz, window_until timestamptz, max_runs integer, percentile double precision,
    memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET extra_float_digits = 3
AS $$
DECLARE
    stmt text;
BEGIN
    stmt := ara_internal.ara_prepared_lookup('lookup', tbl);
    oom_runs := 0;
    -- A NULL definition or hash has no history (Flotilla skips ARA): the table was checked above
    -- (ara_prepared_lookup: NULL 22004, then the writer's checks).
    IF definition_id IS NULL OR command_hash IS NULL THEN
        RETURN;
    END IF;
    -- EXECUTE of a prepared statement takes no parameters from PL/pgSQL: the values go as literals,
    -- which the statement's declared types read back exactly (the function's datestyle writes
    -- timestamptz with its offset and microseconds, extra_float_digits = 3 float8 with every digit;
    -- numeric's text is exact).
    EXECUTE format('EXECUTE %I(%L, %L, %L, %L, %L, %L, %L, %L, %L)', stmt, definition_id, command_hash, engine,
                   window_from, window_until, max_runs, percentile, memory_multiplier, cpu_multiplier)
       INTO oom_runs, raw_memory, raw_cpu;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_lookup_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric) IS
'pg_ara internal (SQL edition): the window query of ara_resources() (ara_internal.ara_lookup_sql()) run as a statement prepared once per session, table, role and trigger configuration; oom_runs, raw_memory, raw_cpu. Not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_right_size_window(tbl regclass, definition_id text, command_hash text,
    engine text, window_from timestamptz, window_until timestamptz, max_runs integer, peak_percentile double precision,
    headroom numeric, memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT oom_floor_memory bigint, OUT oom_floor_cpu bigint, OUT peak_runs integer,
    OUT peak_memory bigint, OUT peak_cpu bigint, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET extra_float_digits = 3
AS $$
DECLARE
    stmt text;
BEGIN
    stmt := ara_internal.ara_prepared_lookup('right_size', tbl);
    oom_runs := 0;
    peak_runs := 0;
    IF definition_id IS NULL OR command_hash IS NULL THEN
        RETURN;
    END IF;
    EXECUTE format('EXECUTE %I(%L, %L, %L, %L, %L, %L, %L, %L, %L, %L)', stmt, definition_id, command_hash, engine,
                   window_from, window_until, max_runs, peak_percentile, headroom, memory_multiplier, cpu_multiplier)
       INTO oom_runs, oom_floor_memory, oom_floor_cpu, peak_runs, peak_memory, peak_cpu, raw_memory, raw_cpu;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_right_size_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric, numeric) IS
'pg_ara internal (SQL edition): the right_size query of ara_resources() (ara_internal.ara_right_size_sql()) run as a statement prepared once per session, table, role and trigger configuration: the OOM floor (oom_runs, largest request x multiplier), the peaks (peak_runs, percentile), raw memory and cpu. Not for direct use.';

-- ==== sql/investigate.sql ====
-- pg_ara: the on-call investigation from psql. Read-only, set-returning, tbl defaulted to 'task';
-- since/until (on queued_at) default to NULL = the whole table, so that an investigation of last
-- month's incident does not silently see only the last 3 days. The hash, command and description
-- columns are the ones ara_enable() configured (else Flotilla's names).

-- The time filter over alias t, as SQL with parameters $1 (since) and $2 (until).
CREATE OR REPLACE FUNCTION ara_internal.ara_period_sql()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT '($1::timestamptz IS NULL OR t.queued_at >= $1) AND ($2::timestamptz IS NULL OR t.queued_at < $2)'
$$;
COMMENT ON FUNCTION ara_internal.ara_period_sql() IS
'pg_ara internal: the since/until filter on queued_at shared by the investigation functions.';

CREATE OR REPLACE FUNCTION @extschema@.ara_collisions(
    tbl regclass DEFAULT 'task'::text::regclass,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL,
    engine text DEFAULT NULL,
    examples integer DEFAULT 3)
RETURNS TABLE (definition_id text, command_hash text, distinct_commands bigint, oom_runs bigint,
               total_runs bigint, max_memory_mb bigint, example_commands text[])
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command', 'command_hash', 'exit_code', 'exit_reason', 'memory', 'queued_at', 'engine']::name[],
        'ara_collisions');
    IF examples IS NULL OR examples < 0 THEN
        RAISE EXCEPTION 'ara_collisions: examples must be 0 or more, got %', coalesce(examples::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    -- First one row per (definition, hash, command), then the keys holding more than one command.
    RETURN QUERY EXECUTE format($q$
        WITH per_command AS (
            SELECT t.definition_id::text AS definition_id, t.%2$I::text AS hash, %6$s AS command_key,
                   left(min(t.%3$I), 200) AS example, count(*) AS runs,
                   count(*) FILTER (WHERE t.exit_code = 137 OR t.exit_reason = 'OOMKilled') AS ooms,
                   max(t.memory)::bigint AS max_memory
              FROM %4$s t
             WHERE t.%2$I IS NOT NULL AND t.%3$I IS NOT NULL AND %5$s
               AND ($3::text IS NULL OR t.engine = $3)
             GROUP BY 1, 2, 3
        )
        SELECT p.definition_id, p.hash, count(*), sum(p.ooms)::bigint, sum(p.runs)::bigint, max(p.max_memory),
               (array_agg(p.example ORDER BY p.runs DESC, p.example))[1:$4]
          FROM per_command p
         GROUP BY p.definition_id, p.hash
        HAVING count(*) > 1
         ORDER BY 4 DESC, 3 DESC, 5 DESC, 1, 2$q$,
        '@extschema@', cols.hash_column, cols.command_column, tbl, ara_internal.ara_period_sql(),
        ara_internal.ara_expected_hash_sql(cols.command_column, NULL, cols.key, cols.definition_column, cols.fingerprint_definitions))
    USING since, until, engine, examples;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_collisions(regclass, timestamptz, timestamptz, text, integer) IS
'pg_ara: the (definition_id, command_hash) keys that more than one distinct command shares (where the table keys by fingerprint: more than one distinct fingerprint), so that ARA mixes their OOM histories (the bug): distinct commands, OOM runs, runs, the largest memory request, and the most frequent example commands (first 200 characters). Worst first (OOM runs, then commands, then runs). Only runs with a command; since/until filter queued_at (NULL: the whole table), engine (NULL: any). A full scan: for psql, not for a hot path.';

CREATE OR REPLACE FUNCTION @extschema@.ara_null_hashes(
    tbl regclass DEFAULT 'task'::text::regclass,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL)
RETURNS TABLE (definition_id text, runs bigint, distinct_commands bigint, runs_without_command bigint,
               oom_runs bigint, first_queued_at timestamptz, last_queued_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command', 'command_hash', 'description', 'exit_code', 'exit_reason', 'queued_at']::name[],
        'ara_null_hashes');
    RETURN QUERY EXECUTE format($q$
        SELECT t.definition_id::text, count(*),
               count(DISTINCT %1$I.command_hash(t.%3$I)) FILTER (WHERE t.%3$I <> ''),
               count(*) FILTER (WHERE t.%3$I IS NULL OR t.%3$I = ''),
               count(*) FILTER (WHERE t.exit_code = 137 OR t.exit_reason = 'OOMKilled'),
               min(t.queued_at), max(t.queued_at)
          FROM %4$s t
         WHERE t.%2$I IS NULL AND %5$s IS NOT NULL AND %6$s
         GROUP BY 1
         ORDER BY 2 DESC, 1$q$,
        '@extschema@', cols.hash_column, cols.command_column, tbl,
        ara_internal.ara_expected_hash_sql(cols.command_column, cols.description_column, cols.key, cols.definition_column, cols.fingerprint_definitions), ara_internal.ara_period_sql())
    USING since, until;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_null_hashes(regclass, timestamptz, timestamptz) IS
'pg_ara: definitions whose runs have a NULL hash although they have a command or a description (so ARA never helped them): runs, distinct commands, runs without a command, OOM runs, first and last queued_at. Most runs first. After ara_enable() and CALL ara_backfill() it returns no rows. since/until filter queued_at (NULL: the whole table). A full scan.';

CREATE OR REPLACE FUNCTION @extschema@.ara_impact(
    tbl regclass DEFAULT 'task'::text::regclass,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL)
RETURNS TABLE (total_runs bigint, runs_without_hash bigint, definitions_without_hash bigint,
               runs_out_of_line bigint, colliding_keys bigint, runs_under_colliding_keys bigint,
               oom_runs bigint, oom_runs_shared_across_commands bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command', 'command_hash', 'description', 'exit_code', 'exit_reason', 'queued_at']::name[],
        'ara_impact');
    -- One scan: groups per (definition, hash, command), then the keys and the totals over them.
    RETURN QUERY EXECUTE format($q$
        WITH g AS (
            SELECT t.definition_id::text AS definition_id, t.%2$I::text AS hash,
                   CASE WHEN t.%3$I IS NOT NULL THEN %7$s END AS command_key,
                   count(*) AS runs,
                   count(*) FILTER (WHERE t.exit_code = 137 OR t.exit_reason = 'OOMKilled') AS ooms,
                   count(*) FILTER (WHERE t.%2$I IS DISTINCT FROM %5$s) AS out_of_line,
                   count(*) FILTER (WHERE t.%2$I IS NULL AND %5$s IS NOT NULL) AS without_hash
              FROM %4$s t
             WHERE %6$s
             GROUP BY 1, 2, 3
        ), k AS (
            SELECT g.definition_id, g.hash, count(*) AS commands, sum(g.runs) AS runs, sum(g.ooms) AS ooms
              FROM g WHERE g.hash IS NOT NULL AND g.command_key IS NOT NULL
             GROUP BY 1, 2
        )
        SELECT coalesce(sum(g.runs), 0)::bigint, coalesce(sum(g.without_hash), 0)::bigint,
               count(DISTINCT g.definition_id) FILTER (WHERE g.without_hash > 0),
               coalesce(sum(g.out_of_line), 0)::bigint,
               (SELECT count(*) FROM k WHERE k.commands > 1),
               (SELECT coalesce(sum(k.runs), 0)::bigint FROM k WHERE k.commands > 1),
               coalesce(sum(g.ooms), 0)::bigint,
               (SELECT coalesce(sum(k.ooms), 0)::bigint FROM k WHERE k.commands > 1)
          FROM g$q$,
        '@extschema@', cols.hash_column, cols.command_column, tbl,
        ara_internal.ara_expected_hash_sql(cols.command_column, cols.description_column, cols.key, cols.definition_column, cols.fingerprint_definitions), ara_internal.ara_period_sql(),
        ara_internal.ara_expected_hash_sql(cols.command_column, NULL, cols.key, cols.definition_column, cols.fingerprint_definitions))
    USING since, until;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_impact(regclass, timestamptz, timestamptz) IS
'pg_ara: the bug report''s "impact by the numbers" in one row: runs; runs_without_hash (NULL hash although a command or description exists: no ARA) and their definitions; runs_out_of_line (hash IS DISTINCT FROM command_hash(command, description): what CALL ara_backfill() would change); colliding_keys ((definition, hash) shared by more than one command) and the runs with a command under them; OOM runs, and those under colliding keys (OOM history that feeds other commands'' estimates). since/until filter queued_at (NULL: the whole table). A full scan.';

CREATE OR REPLACE FUNCTION @extschema@.ara_explain(
    run_id text,
    tbl regclass DEFAULT 'task'::text::regclass,
    lookback interval DEFAULT '3 days',
    max_runs integer DEFAULT 30,
    percentile double precision DEFAULT 0.99,
    memory_multiplier numeric DEFAULT 1.75,
    cpu_multiplier numeric DEFAULT 1.25,
    engine text DEFAULT 'eks',
    min_memory bigint DEFAULT 512,
    max_memory bigint DEFAULT 350000,
    min_cpu bigint DEFAULT 256,
    max_cpu bigint DEFAULT 60000,
    cpu_round_to integer DEFAULT 250,
    policy text DEFAULT NULL,
    peak_percentile double precision DEFAULT NULL,
    headroom numeric DEFAULT NULL,
    peak_lookback interval DEFAULT NULL)
RETURNS TABLE (section text, run text, queued_at timestamptz, memory bigint, cpu bigint, same_command boolean,
               detail text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
    r record;
    own_hash text;
    win text;
    key record;
    est record;
    pct bigint;
    n_commands bigint;
    chosen record;
    how text;
    win_from timestamptz;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'description', 'memory', 'cpu', 'exit_code',
              'exit_reason', 'engine', 'queued_at']::name[], 'ara_explain');
    PERFORM ara_internal.ara_check_lookup_options('ara_explain', now(), lookback, max_runs, percentile,
        memory_multiplier, cpu_multiplier, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to);
    EXECUTE format('SELECT t.run_id::text AS run_id, t.definition_id::text AS definition_id, t.%I::text AS hash,
                           t.%I::text AS command, %s AS own_hash, t.queued_at, t.memory::bigint AS memory,
                           t.cpu::bigint AS cpu, t.exit_code, t.exit_reason::text AS exit_reason
                      FROM %s t WHERE t.run_id = $1',
                   cols.hash_column, cols.command_column,
                   ara_internal.ara_expected_hash_sql(cols.command_column, cols.description_column, cols.key, cols.definition_column, cols.fingerprint_definitions), tbl)
       INTO r USING run_id;
    IF r.run_id IS NULL THEN
        RAISE EXCEPTION 'ara_explain: no run with run_id % in %', coalesce(quote_literal(run_id), 'NULL'), tbl
            USING ERRCODE = 'P0002', HINT = 'Check the run id (and tbl, if the runs are in another table).';
    END IF;
    IF r.queued_at IS NULL THEN
        RAISE EXCEPTION 'ara_explain: run % has no queued_at, so it has no lookup window', run_id
            USING ERRCODE = '22004';
    END IF;

    section := 'run'; run := r.run_id; queued_at := r.queued_at; memory := r.memory; cpu := r.cpu;
    same_command := NULL;
    detail := format('definition %s; stored hash %s; its command''s hash %s%s; command: %s',
                     r.definition_id, coalesce(r.hash, 'NULL'), coalesce(r.own_hash, 'NULL'),
                     CASE WHEN r.hash IS NOT DISTINCT FROM r.own_hash THEN ' (the same)' ELSE ' (DIFFERENT)' END,
                     coalesce(left(r.command, 200), 'NULL'));
    RETURN NEXT;

    win := ara_internal.ara_window_sql(tbl, cols.command_column, cols.hash_column);
    -- Which policy sizes the run (the caller's, else ara_set_policy's choice, else 'oom'), where
    -- that choice comes from, and so which window the OOM runs listed are from.
    SELECT * INTO chosen FROM ara_internal.ara_sizing_for(tbl, r.definition_id, policy, peak_percentile, headroom,
                                                          peak_lookback, 'ara_explain');
    how := format('policy %s (%s)', chosen.policy, chosen.source);
    win_from := r.queued_at - CASE WHEN chosen.policy = 'right_size' THEN chosen.peak_lookback ELSE lookback END;
    FOR key IN
        SELECT 'stored hash' AS label, r.hash AS hash
        UNION ALL
        SELECT 'command hash', r.own_hash WHERE r.own_hash IS DISTINCT FROM r.hash
    LOOP
        -- The OOM runs the lookup window held under this key, as of the run's own queued_at.
        IF key.hash IS NOT NULL THEN
            FOR section, run, queued_at, memory, cpu, same_command, detail IN
                EXECUTE format('SELECT %L, w.run_id, w.queued_at, w.memory, w.cpu, w.command IS NOT DISTINCT FROM $7, left(w.command, 200) FROM (%s) w',
                               'oom (' || key.label || ')', win)
                USING r.definition_id, key.hash, engine, win_from, r.queued_at, max_runs, r.command
            LOOP
                RETURN NEXT;
            END LOOP;
        END IF;
        SELECT * INTO est FROM @extschema@.ara_resources(r.definition_id, key.hash, r.queued_at, tbl, lookback, max_runs,
            percentile, memory_multiplier, cpu_multiplier, engine, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to,
            policy, peak_percentile, headroom, peak_lookback);
        pct := NULL; n_commands := NULL;
        IF est.sized_by = 'oom' AND est.oom_runs > 0 THEN
            EXECUTE format('SELECT %s, count(DISTINCT w.command) FROM (%s) w', ara_internal.ara_estimate_sql('w.memory', '$7', '1'), win)
               INTO pct, n_commands
               USING r.definition_id, key.hash, engine, r.queued_at - lookback, r.queued_at, max_runs, percentile;
        END IF;
        section := 'estimate (' || key.label || ')'; run := NULL; queued_at := r.queued_at;
        memory := est.memory; cpu := est.cpu; same_command := NULL;
        detail := CASE
            WHEN key.hash IS NULL THEN 'NULL hash: Flotilla skips ARA, the run keeps its defaults'
            WHEN est.sized_by = 'right_size' THEN
                format('%s: hash %s, in [%s, %s): %s; %s; raw %s MB%s; cpu %s',
                       how, key.hash, win_from, r.queued_at,
                       CASE WHEN est.peak_runs = 0 THEN 'no successful run with a measured peak'
                            ELSE format('%s successful runs, p%s of their peaks %s MB x %s',
                                        est.peak_runs, chosen.peak_percentile * 100, est.peak_memory, chosen.headroom) END,
                       CASE WHEN est.oom_runs = 0 THEN 'no OOM runs (no floor)'
                            ELSE format('OOM floor: largest of %s OOM requests x %s = %s MB', est.oom_runs,
                                        memory_multiplier, est.oom_floor) END,
                       coalesce(est.raw_memory::text, 'none: no history, the run keeps its defaults'),
                       CASE WHEN est.memory_capped AND est.memory IS NOT NULL THEN format(', clamped to %s', est.memory) ELSE '' END,
                       coalesce(est.cpu::text, 'none'))
            WHEN est.oom_runs = 0 THEN format('%s: hash %s: no OOM runs in [%s, %s): no history, the run keeps its defaults',
                                              how, key.hash, r.queued_at - lookback, r.queued_at)
            ELSE format('%s: hash %s: %s OOM runs of %s distinct command(s) in [%s, %s); p%s of their memory %s x %s = %s MB%s; cpu %s',
                        how, key.hash, est.oom_runs, n_commands, r.queued_at - lookback, r.queued_at,
                        percentile * 100, pct, memory_multiplier, est.raw_memory,
                        CASE WHEN est.memory_capped THEN format(', clamped to %s', est.memory) ELSE '' END,
                        est.cpu)
            END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_explain(text, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer, text, double precision, numeric, interval) IS
'pg_ara: why a run got its memory, evaluated as of the run''s own queued_at. Rows: the run (its requested memory/cpu, stored hash and its command''s hash); each OOM run its lookup window held under the stored hash (run, queued_at, memory, cpu, same_command: whether it ran this run''s command); the estimate under the stored hash, saying which policy sized it (given, set by ara_set_policy for the definition or table, or the default) and why (under right_size: successful runs, their peak percentile x headroom, the OOM floor); and, where they differ, the OOM runs and estimate under the command''s own hash. Same options as ara_resources(). An unknown run is an error (P0002).';

CREATE OR REPLACE FUNCTION @extschema@.ara_growth(
    definition_id text,
    command_hash text,
    tbl regclass DEFAULT 'task'::text::regclass,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL,
    lookback interval DEFAULT '3 days',
    max_runs integer DEFAULT 30,
    percentile double precision DEFAULT 0.99,
    memory_multiplier numeric DEFAULT 1.75,
    engine text DEFAULT 'eks',
    min_memory bigint DEFAULT 512,
    max_memory bigint DEFAULT 350000)
RETURNS TABLE (run text, queued_at timestamptz, memory_mb bigint, oom boolean, ara_memory_mb bigint,
               oom_runs_before integer, step text, bar text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
    r record;
    a record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason',
              'engine', 'queued_at']::name[], 'ara_growth');
    PERFORM ara_internal.ara_check_lookup_options('ara_growth', now(), lookback, max_runs, percentile,
        memory_multiplier, 1.25, min_memory, max_memory, NULL, NULL, 0);
    -- Each run of the key with what ARA said as of its queued_at. The runs are read first, then
    -- looked up one by one from here: on a table Citus distributes, a lookup inside the runs' query
    -- would be pushed down to a shard with it, where it could not start its own distributed query.
    FOR r IN EXECUTE format($q$
        SELECT t.run_id::text AS run_id, t.definition_id::text AS definition_id, t.%1$I::text AS hash, t.queued_at,
               t.memory::bigint AS memory, coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom
          FROM %2$s t
         WHERE t.definition_id = $4 AND t.%1$I = $5 AND ($3::text IS NULL OR t.engine = $3)
           AND %3$s
         ORDER BY t.queued_at, t.run_id$q$,
        cols.hash_column, tbl, ara_internal.ara_period_sql())
    USING since, until, engine, definition_id, command_hash
    LOOP
        SELECT * INTO a FROM @extschema@.ara_resources(r.definition_id, r.hash, r.queued_at, tbl, lookback, max_runs,
            percentile, memory_multiplier, 1.25, engine, min_memory, max_memory);
        run := r.run_id; queued_at := r.queued_at; memory_mb := r.memory; oom := r.oom;
        ara_memory_mb := a.memory; oom_runs_before := a.oom_runs;
        step := CASE WHEN a.raw_memory IS NULL AND a.sized_by = 'right_size' THEN 'right_size: no peaks or OOM history: defaults'
                     WHEN a.sized_by = 'right_size'
                     THEN format('right_size: %s peaks (p %s), OOM floor %s -> %s%s', a.peak_runs, a.peak_memory,
                                 coalesce(a.oom_floor::text, 'none'), a.raw_memory,
                                 CASE WHEN a.memory_capped THEN ' capped to ' || a.memory ELSE '' END)
                     WHEN a.oom_runs = 0 THEN 'no OOM history: defaults'
                     ELSE format('%s OOM runs -> %s%s', a.oom_runs, a.raw_memory,
                                 CASE WHEN a.memory_capped THEN ' capped to ' || a.memory ELSE '' END) END;
        -- Logarithmic from min_memory to max_memory (40 characters): each x1.75 step adds the same length.
        bar := repeat('#', greatest(0, least(40, round(40 * ln(greatest(r.memory, 1)::numeric / greatest(min_memory, 1))
                                                   / ln(greatest(max_memory, min_memory * 2, 2)::numeric / greatest(min_memory, 1)))::int)))
               || CASE WHEN r.memory >= max_memory THEN ' CAP' ELSE '' END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_growth(text, text, regclass, timestamptz, timestamptz, interval, integer, double precision, numeric, text, bigint, bigint) IS
'pg_ara: the successive runs of one (definition_id, command_hash) key in queued_at order: requested memory, whether it was OOM-killed, what ARA said as of its queued_at (ara_memory_mb, from oom_runs_before OOM runs; under the policy ara_set_policy chose, right_size steps name their peaks and OOM floor) and a bar, logarithmic from min_memory to max_memory, so that compounding x1.75 steps toward the cap are visible at a glance (CAP at the cap). since/until filter queued_at. One lookup per run: narrow long histories with since/until.';

-- ==== sql/fingerprint.sql ====
-- pg_ara: command fingerprints as an opt-in ARA key. The rules are in Rust (src/core/fingerprint.rs,
-- command_fingerprint()); ara_enable(key, fingerprint_definitions) and ara_set_key() choose the key
-- per table or per definition; here: the key as the trigger would store it, for a service that looks
-- ARA up before inserting, and the preview an operator reads before switching.

-- The Rust functions (src/hash.rs) are documented here, so that an upgrade script, which creates
-- them by hand, gets the same comments by including this file.
COMMENT ON FUNCTION @extschema@.command_fingerprint(text) IS
'pg_ara: the command''s fingerprint (rules version 1, see command_fingerprint_version()): whitespace collapsed; ISO timestamps -> <ts>, dates (YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD) -> <date>, UUIDs -> <uuid>, hex ids of 12+ digits -> <hex>, numbers that are whole arguments or KEY=values -> <num>, in that order; paths, script names, flags and words kept. calibrate.py --as_of 20251122 and --as_of 20251123 share one fingerprint; calibrate.py and train.py never do. A fixed point: fingerprinting a fingerprint changes nothing. IMMUTABLE, STRICT, PARALLEL SAFE.';

COMMENT ON FUNCTION @extschema@.command_fingerprint_version() IS
'pg_ara: the version of the rules command_fingerprint() applies (1). A change to the rules is a new version, never a silent change to stored keys.';

COMMENT ON FUNCTION @extschema@.command_fingerprint_hash(text, text) IS
'pg_ara: the ARA key of a run under fingerprints, command_hash(command_fingerprint(command), description): what the trigger stores for a table or definition keyed by fingerprint. IMMUTABLE, PARALLEL SAFE, not strict.';

CREATE OR REPLACE FUNCTION @extschema@.ara_key(
    definition_id text,
    command text,
    description text,
    tbl regclass DEFAULT 'task'::text::regclass)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg record;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_key: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO cfg FROM ara_internal.ara_config(tbl);
    IF cfg.command_column IS NULL THEN
        -- Not enabled: the default rule, as ara_enable would install it.
        RETURN @extschema@.command_hash(command, description);
    END IF;
    IF cfg.description_column IS NULL THEN
        description := NULL;   -- the table's trigger has the description fallback off
    END IF;
    IF cfg.key = 'fingerprint' OR definition_id = ANY (cfg.fingerprint_definitions) THEN
        RETURN @extschema@.command_fingerprint_hash(command, description);
    END IF;
    RETURN @extschema@.command_hash(command, description);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_key(text, text, text, regclass) IS
'pg_ara: the ARA key (hash) the trigger on tbl would store for a run with this definition, command and description: command_hash(command, description), or command_fingerprint_hash(command, description) where the table or the definition is keyed by fingerprint. For a service that looks ARA up before inserting the run: SELECT * FROM ara_resources($def, ara_key($def, $command, $description)).';

CREATE OR REPLACE FUNCTION @extschema@.ara_fingerprint_preview(
    tbl regclass DEFAULT 'task'::text::regclass,
    definitions text[] DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL,
    lookback interval DEFAULT '3 days',
    spread_warning numeric DEFAULT 4,
    examples integer DEFAULT 3)
RETURNS TABLE (definition_id text, fingerprint text, distinct_commands bigint, runs bigint, oom_runs bigint,
               runs_gaining_history bigint, min_command_memory_mb bigint, max_command_memory_mb bigint,
               memory_spread numeric, warning text, example_commands text[])
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command', 'memory', 'exit_code', 'exit_reason', 'queued_at']::name[], 'ara_fingerprint_preview');
    IF lookback IS NULL OR lookback <= interval '0' THEN
        RAISE EXCEPTION 'ara_fingerprint_preview: lookback must be positive, got %', coalesce(lookback::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF examples IS NULL OR examples < 0 OR spread_warning IS NULL THEN
        RAISE EXCEPTION 'ara_fingerprint_preview: examples must be 0 or more and spread_warning not NULL'
            USING ERRCODE = '22023';
    END IF;
    -- For every run with a command: how many OOM runs of the same (definition, key) its lookup
    -- window [queued_at - lookback, queued_at) holds under the command key and under the
    -- fingerprint key. A run "gains history" when the first is 0 and the second is not.
    RETURN QUERY EXECUTE format($q$
        WITH r AS (
            SELECT t.definition_id::text AS definition_id, t.%2$I::text AS command,
                   %1$I.command_hash(t.%2$I) AS command_key, %1$I.command_fingerprint(t.%2$I) AS fingerprint,
                   t.queued_at, t.memory::bigint AS memory,
                   coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom
              FROM %3$s t
             WHERE t.%2$I IS NOT NULL AND t.%2$I <> '' AND t.queued_at IS NOT NULL AND %4$s
               AND ($3::text[] IS NULL OR t.definition_id::text = ANY ($3))
        ), w AS (
            SELECT r.*,
                   count(*) FILTER (WHERE r.oom) OVER (PARTITION BY r.definition_id, r.command_key ORDER BY r.queued_at
                       RANGE BETWEEN $4 PRECEDING AND interval '1 microsecond' PRECEDING) AS history_by_command,
                   count(*) FILTER (WHERE r.oom) OVER (PARTITION BY r.definition_id, r.fingerprint ORDER BY r.queued_at
                       RANGE BETWEEN $4 PRECEDING AND interval '1 microsecond' PRECEDING) AS history_by_fingerprint
              FROM r
        ), per_command AS (
            SELECT w.definition_id, w.fingerprint, w.command_key, left(min(w.command), 200) AS example,
                   count(*) AS runs, count(*) FILTER (WHERE w.oom) AS ooms,
                   count(*) FILTER (WHERE w.history_by_command = 0 AND w.history_by_fingerprint > 0) AS gaining,
                   max(w.memory) AS max_memory
              FROM w GROUP BY 1, 2, 3
        )
        SELECT p.definition_id, p.fingerprint, count(*), sum(p.runs)::bigint, sum(p.ooms)::bigint, sum(p.gaining)::bigint,
               min(p.max_memory), max(p.max_memory),
               round(max(p.max_memory)::numeric / nullif(min(p.max_memory), 0), 1),
               CASE WHEN max(p.max_memory)::numeric / nullif(min(p.max_memory), 0) >= $5
                    THEN format('merges commands whose memory differs %%sx: their OOM history would size each other',
                                round(max(p.max_memory)::numeric / nullif(min(p.max_memory), 0), 1)) END,
               (array_agg(p.example ORDER BY p.runs DESC, p.example))[1:$6]
          FROM per_command p
         GROUP BY p.definition_id, p.fingerprint
         ORDER BY 1, 6 DESC, 3 DESC, 4 DESC, 2$q$,
        '@extschema@', cols.command_column, tbl, ara_internal.ara_period_sql())
    USING since, until, definitions, lookback, spread_warning, examples;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_fingerprint_preview(regclass, text[], timestamptz, timestamptz, interval, numeric, integer) IS
'pg_ara: before keying definitions by fingerprint, what would change: per definition and fingerprint, the distinct commands that collapse into it, runs and OOM runs, runs_gaining_history (runs whose lookup window, [queued_at - lookback, queued_at), held no OOM run under their exact command but would under the fingerprint), the smallest and largest memory request among the merged commands, their ratio (memory_spread) and a warning when it reaches spread_warning (default 4x: light and heavy runs would size each other), and the most frequent commands. Ordered per definition, most runs gaining history first. definitions => ARRAY[...] narrows it; since/until filter queued_at. A full scan with window functions: for psql.';

-- ==== sql/monitoring.sql ====
-- pg_ara: after the fix, watched continuously. ara_metrics() is what postgres_exporter scrapes
-- (monitoring/postgres_exporter/pg_ara.yaml), ara_compare() the before/after report a person reads.
-- Every function pins search_path and names pg_ara's objects through @extschema@ or ara_internal.

-- Whether pg_ara's two triggers are on a table, and whether they fire: present when both exist on
-- the table; enabled when, in addition, neither is disabled (ALTER TABLE ... DISABLE TRIGGER) on
-- the table or on any of its leaf partitions (a partitioned table's triggers are cloned to each).
CREATE OR REPLACE FUNCTION ara_internal.ara_trigger_state(tbl regclass, OUT present boolean, OUT enabled boolean)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT own.n = 2,
           own.n = 2 AND own.on_ = 2
           AND NOT EXISTS (SELECT 1 FROM pg_partition_tree(tbl) p
                           WHERE p.isleaf AND p.relid <> tbl
                             AND (SELECT count(*) FROM pg_trigger t
                                  WHERE t.tgrelid = p.relid
                                    AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
                                    AND t.tgenabled <> 'D') < 2)
    FROM (SELECT count(*) AS n, count(*) FILTER (WHERE t.tgenabled <> 'D') AS on_
          FROM pg_trigger t
          WHERE t.tgrelid = tbl AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
            AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure) own
$$;
COMMENT ON FUNCTION ara_internal.ara_trigger_state(regclass) IS
'pg_ara internal: whether both command_hash triggers are on a table (present) and none of them is disabled there or on a leaf partition (enabled).';

-- The tables ara_metrics() reports when not given one: registered in ara_tables (and still
-- existing), or carrying pg_ara's insert trigger (a top-level table, not a partition's clone).
CREATE OR REPLACE FUNCTION ara_internal.ara_watched_tables()
RETURNS SETOF regclass
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.table_name FROM @extschema@.ara_tables r
     WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.table_name)
    UNION
    SELECT t FROM ara_internal.ara_triggered_tables() t
$$;
COMMENT ON FUNCTION ara_internal.ara_watched_tables() IS
'pg_ara internal: the tables ara_metrics() reports by default: registered by ara_enable() (ara_tables) or carrying pg_ara''s triggers.';

-- Whether the rows of one definition may lie on several nodes: a table Citus distributes by a
-- column other than definition_id (hash, range or append; not a reference table, whose every node
-- holds all of it). Citus cannot run a subquery correlated on definition_id over such a table
-- ("complex joins are only supported when all distributed tables are co-located and joined on
-- their distribution columns"), so ara_metrics() and ara_compare() read the history from a
-- materialised CTE there: the one difference between a plain table and a Citus one in them.
CREATE OR REPLACE FUNCTION ara_internal.ara_citus_spread(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    spread boolean;
BEGIN
    IF NOT ara_internal.ara_citus_managed(tbl) THEN
        RETURN false;
    END IF;
    EXECUTE $q$SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p
                               WHERE p.logicalrelid = $1 AND p.partmethod IN ('h', 'r', 'a')
                                 AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
                                     IS DISTINCT FROM 'definition_id')$q$
        INTO spread USING tbl;
    RETURN spread;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_citus_spread(regclass) IS
'pg_ara internal: true for a table Citus distributes by a column other than definition_id (one definition''s runs on several nodes), where ara_metrics() and ara_compare() read the OOM history from the materialised CTE of ara_history_cte(); false without Citus.';

-- The OOM history a run's ARA lookup found as of its own queue time, as a predicate over alias t
-- (the run) against alias o (earlier runs): Flotilla's window (same definition and key,
-- OOM-killed, engine $, queued in [t.queued_at - lookback, t.queued_at)). Read from the table
-- itself in the lookup index's shape (ara_index_sql()): one index probe per run; on a table Citus
-- spreads (ara_citus_spread()), from the CTE ara_oom_history that ara_history_cte() defines.
CREATE OR REPLACE FUNCTION ara_internal.ara_history_sql(tbl regclass, hash_column name, engine_param text, lookback_param text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$EXISTS (SELECT 1 FROM %1$s o
        WHERE o.definition_id = t.definition_id AND o.%2$I = t.%2$I
          AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled') AND o.engine = %3$s
          AND o.queued_at >= t.queued_at - %4$s AND o.queued_at < t.queued_at)$q$,
        CASE WHEN ara_internal.ara_citus_spread(tbl) THEN 'ara_oom_history' ELSE tbl::text END,
        hash_column, engine_param, lookback_param)
$$;
COMMENT ON FUNCTION ara_internal.ara_history_sql(regclass, name, text, text) IS
'pg_ara internal: the SQL predicate "run t found OOM history in its ARA lookup as of its queue time" (alias t, parameters for engine and lookback), shared by ara_metrics() and ara_compare(); over the CTE of ara_history_cte() on a table Citus spreads.';

-- What ara_history_sql() reads on a table Citus spreads: the OOM runs that can be anyone's history
-- (queued in [since - lookback, until)), a CTE to put first in the WITH list; '' elsewhere.
CREATE OR REPLACE FUNCTION ara_internal.ara_history_cte(tbl regclass, hash_column name, engine_param text,
                                                        lookback_param text, since_sql text, until_sql text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ara_internal.ara_citus_spread(tbl) THEN format($q$ara_oom_history AS MATERIALIZED (
            SELECT o.definition_id, o.%2$I, o.exit_code, o.exit_reason, o.engine, o.queued_at FROM %1$s o
             WHERE (o.exit_code = 137 OR o.exit_reason = 'OOMKilled') AND o.engine = %3$s
               AND o.queued_at >= %5$s - %4$s AND o.queued_at < %6$s), $q$,
        tbl, hash_column, engine_param, lookback_param, since_sql, until_sql) ELSE '' END
$$;
COMMENT ON FUNCTION ara_internal.ara_history_cte(regclass, name, text, text, text, text) IS
'pg_ara internal: on a table Citus spreads (ara_citus_spread()), the CTE ara_oom_history of the OOM runs queued in [since - lookback, until) that ara_history_sql() then reads, followed by a comma; empty elsewhere.';

CREATE OR REPLACE FUNCTION @extschema@.ara_metrics(
    tbl regclass DEFAULT NULL,
    recent interval DEFAULT '1 hour',
    memory_cap integer DEFAULT 350000,
    lookback interval DEFAULT '3 days',
    engine text DEFAULT 'eks')
RETURNS TABLE (table_name text, key text,
               registered integer, triggers_present integer, triggers_enabled integer, readable integer,
               runs bigint, runs_without_hash bigint, runs_out_of_line bigint, oom_runs bigint,
               runs_at_memory_cap bigint, eligible_runs bigint, runs_with_history bigint, runs_without_history bigint,
               requested_memory_mb bigint, colliding_keys bigint,
               backfill_unfinished integer, backfill_rows_done bigint, backfill_rows_left bigint,
               backfill_seconds_since_progress double precision)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    cols record;
    trg record;
    expected text;
    prog record;
BEGIN
    IF recent IS NULL OR recent <= interval '0' OR lookback IS NULL OR lookback < interval '0' THEN
        RAISE EXCEPTION 'ara_metrics: recent must be a positive interval and lookback an interval of 0 or more'
            USING ERRCODE = '22023', HINT = 'For example ara_metrics(recent => ''1 hour'', lookback => ''3 days'').';
    END IF;
    IF memory_cap IS NULL OR memory_cap <= 0 OR engine IS NULL THEN
        RAISE EXCEPTION 'ara_metrics: memory_cap must be a positive number of MB and engine not NULL'
            USING ERRCODE = '22023', HINT = 'Flotilla''s are memory_cap => 350000 and engine => ''eks''.';
    END IF;
    FOR t IN
        SELECT u.w FROM (SELECT w FROM ara_internal.ara_watched_tables() w WHERE tbl IS NULL
                         UNION SELECT tbl WHERE tbl IS NOT NULL) u
        ORDER BY u.w::text
    LOOP
        SELECT * INTO trg FROM ara_internal.ara_trigger_state(t);
        triggers_present := trg.present::integer;
        triggers_enabled := trg.enabled::integer;
        table_name := t::text;
        registered := (EXISTS (SELECT 1 FROM @extschema@.ara_tables r WHERE r.table_name = t))::integer;
        -- The key mode as configured (from the trigger; not enabled: the command, as ara_columns).
        SELECT CASE WHEN c.key = 'fingerprint' THEN 'fingerprint'
                    WHEN cardinality(c.fingerprint_definitions) > 0 THEN 'command, fingerprint for some definitions'
                    ELSE 'command' END INTO key
          FROM ara_internal.ara_config(t) c;
        IF tbl IS NULL AND NOT has_table_privilege(t, 'SELECT') THEN
            -- A watched table this role may not read: its triggers (from the catalog) and NULL
            -- figures, rather than an error that would fail the whole scrape.
            readable := 0;
            runs := NULL; runs_without_hash := NULL; runs_out_of_line := NULL; oom_runs := NULL;
            runs_at_memory_cap := NULL; eligible_runs := NULL; runs_with_history := NULL; runs_without_history := NULL;
            requested_memory_mb := NULL; colliding_keys := NULL; backfill_unfinished := NULL;
            backfill_rows_done := NULL; backfill_rows_left := NULL; backfill_seconds_since_progress := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        readable := 1;
        SELECT * INTO cols FROM ara_internal.ara_columns(t,
            ARRAY['definition_id', 'command', 'command_hash', 'description', 'memory', 'exit_code', 'exit_reason',
                  'engine', 'queued_at']::name[], 'ara_metrics');
        expected := ara_internal.ara_expected_hash_sql(cols.command_column, cols.description_column, cols.key,
                                                       cols.definition_column, cols.fingerprint_definitions);
        -- One pass over the runs queued in [now() - recent, now()) (an index range on queued_at,
        -- Flotilla's (queued_at, status, engine)), one lookup-index probe per run of the engine.
        EXECUTE format($q$
            WITH %5$s r AS MATERIALIZED (
                SELECT t.definition_id, t.%1$I, t.memory, t.engine, t.queued_at,
                       coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
                       %2$s AS expected,
                       t.engine = $4 AND t.%1$I IS NOT NULL AND %3$s AS found_history
                  FROM %4$s t
                 WHERE t.queued_at >= now() - $1 AND t.queued_at < now()
            )
            SELECT count(*),
                   count(*) FILTER (WHERE r.%1$I IS NULL AND r.expected IS NOT NULL),
                   count(*) FILTER (WHERE r.%1$I::text IS DISTINCT FROM r.expected),
                   count(*) FILTER (WHERE r.oom),
                   count(*) FILTER (WHERE r.memory >= $2),
                   count(*) FILTER (WHERE r.engine = $4),
                   count(*) FILTER (WHERE r.found_history),
                   count(*) FILTER (WHERE r.engine = $4 AND NOT r.found_history),
                   coalesce(sum(r.memory), 0)::bigint,
                   (SELECT count(*) FROM (SELECT 1 FROM r WHERE r.oom AND r.%1$I IS NOT NULL
                                          GROUP BY r.definition_id, r.%1$I
                                          HAVING count(DISTINCT r.expected) > 1) c)
              FROM r$q$,
            cols.hash_column, expected,
            ara_internal.ara_history_sql(t, cols.hash_column, '$4', '$3'), t,
            ara_internal.ara_history_cte(t, cols.hash_column, '$4', '$3', '(now() - $1)', 'now()'))
        USING recent, memory_cap, lookback, engine
        INTO runs, runs_without_hash, runs_out_of_line, oom_runs, runs_at_memory_cap, eligible_runs,
             runs_with_history, runs_without_history, requested_memory_mb, colliding_keys;
        -- The latest backfill of the table (any definition filter): unfinished = running or
        -- interrupted; rows left from the planner's estimate of the table's rows.
        SELECT p.finished_at IS NULL AS unfinished, p.rows_scanned, p.updated_at INTO prog
          FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = t
         ORDER BY p.finished_at IS NULL DESC, p.updated_at DESC LIMIT 1;
        backfill_unfinished := coalesce(prog.unfinished, false)::integer;
        backfill_rows_done := coalesce(prog.rows_scanned, 0);
        backfill_rows_left := CASE WHEN prog.unfinished
                                   THEN greatest(coalesce(ara_internal.ara_estimated_rows(t), 0) - prog.rows_scanned, 0)
                                   ELSE 0 END;
        backfill_seconds_since_progress := CASE WHEN prog.unfinished
                                                THEN extract(epoch FROM now() - prog.updated_at)::double precision
                                                ELSE 0 END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_metrics(regclass, interval, integer, interval, text) IS
'pg_ara: ARA health, one row per table pg_ara watches (registered by ara_enable() or carrying its triggers), or for tbl; the shape postgres_exporter maps (monitoring/postgres_exporter/pg_ara.yaml). Labels: table_name, key. Gauges: registered, triggers_present, triggers_enabled (0 when a trigger was dropped or disabled, on the table or a partition), readable (0: this role may not SELECT the table, whose figures are then NULL; given tbl, that is error 42501 instead); over the runs queued in the last `recent` (default 1 hour): runs, runs_without_hash (a command or description but no hash), runs_out_of_line (hash differs from the key the trigger computes), oom_runs, runs_at_memory_cap (memory >= memory_cap, default 350000 MB), eligible_runs (engine, default eks), runs_with_history / runs_without_history (whether their ARA lookup, as of their own queue time, found OOM runs of their definition and key in the `lookback` before: the report''s ara.no_historical_data), requested_memory_mb, colliding_keys (keys of recent OOM runs holding more than one command); backfill_unfinished, backfill_rows_done, backfill_rows_left, backfill_seconds_since_progress. Cost grows with the recent runs: an index on queued_at and the lookup index (ara_index_sql()). Read-only.';

CREATE OR REPLACE FUNCTION @extschema@.ara_compare(
    pivot timestamptz DEFAULT NULL,
    tbl regclass DEFAULT 'task'::text::regclass,
    before interval DEFAULT '7 days',
    after interval DEFAULT '7 days',
    memory_cap integer DEFAULT 350000,
    lookback interval DEFAULT '3 days',
    engine text DEFAULT 'eks')
RETURNS TABLE (definition_id text, runs_before bigint, runs_after bigint,
               oom_rate_before numeric, oom_rate_after numeric,
               median_memory_before bigint, median_memory_after bigint,
               p95_memory_before bigint, p95_memory_after bigint,
               at_cap_before bigint, at_cap_after bigint,
               gb_hours_before numeric, gb_hours_after numeric,
               with_history_before bigint, with_history_after bigint,
               memory_change numeric, bar text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command_hash', 'memory', 'exit_code', 'exit_reason', 'engine', 'queued_at',
              'started_at', 'finished_at']::name[], 'ara_compare');
    IF pivot IS NULL THEN
        SELECT r.enabled_at INTO pivot FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
        IF pivot IS NULL THEN
            RAISE EXCEPTION 'ara_compare: no pivot given and none recorded for %', tbl
                USING ERRCODE = '22004',
                      HINT = 'ara_enable() records when it enabled a table (since 0.4.0); otherwise pass pivot => the time of the fix.';
        END IF;
    END IF;
    IF before IS NULL OR before <= interval '0' OR after IS NULL OR after <= interval '0' THEN
        RAISE EXCEPTION 'ara_compare: before and after must be positive intervals'
            USING ERRCODE = '22023', HINT = 'For example before => ''7 days'', after => ''7 days''.';
    END IF;
    IF memory_cap IS NULL OR memory_cap <= 0 OR lookback IS NULL OR lookback < interval '0' OR engine IS NULL THEN
        RAISE EXCEPTION 'ara_compare: memory_cap must be a positive number of MB, lookback an interval of 0 or more, engine not NULL'
            USING ERRCODE = '22023', HINT = 'Flotilla''s are memory_cap => 350000, lookback => ''3 days'' and engine => ''eks''.';
    END IF;
    -- Each side's runs, by queue time; the change is the ratio of the median request (after /
    -- before), the bar four marks per doubling (+ more memory, - less); worst change first.
    RETURN QUERY EXECUTE format($q$
        WITH %4$s r AS (
            SELECT t.definition_id::text AS definition_id, t.queued_at >= $1 AS after_pivot, t.memory::bigint AS memory,
                   coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
                   t.memory / 1024.0 * coalesce(extract(epoch FROM t.finished_at - t.started_at), 0) / 3600 AS gb_hours,
                   t.engine = $6 AND t.%1$I IS NOT NULL AND %2$s AS found_history
              FROM %3$s t
             WHERE t.queued_at >= $1 - $2 AND t.queued_at < $1 + $3
        ), d AS (
            SELECT r.definition_id,
                   count(*) FILTER (WHERE NOT after_pivot) AS runs_before,
                   count(*) FILTER (WHERE after_pivot) AS runs_after,
                   round(avg(oom::int) FILTER (WHERE NOT after_pivot), 3) AS oom_rate_before,
                   round(avg(oom::int) FILTER (WHERE after_pivot), 3) AS oom_rate_after,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY memory) FILTER (WHERE NOT after_pivot) AS median_before,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY memory) FILTER (WHERE after_pivot) AS median_after,
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY memory) FILTER (WHERE NOT after_pivot) AS p95_before,
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY memory) FILTER (WHERE after_pivot) AS p95_after,
                   count(*) FILTER (WHERE NOT after_pivot AND memory >= $4) AS cap_before,
                   count(*) FILTER (WHERE after_pivot AND memory >= $4) AS cap_after,
                   round(coalesce(sum(gb_hours) FILTER (WHERE NOT after_pivot), 0), 1) AS gbh_before,
                   round(coalesce(sum(gb_hours) FILTER (WHERE after_pivot), 0), 1) AS gbh_after,
                   count(*) FILTER (WHERE NOT after_pivot AND found_history) AS hist_before,
                   count(*) FILTER (WHERE after_pivot AND found_history) AS hist_after
              FROM r GROUP BY r.definition_id
        )
        SELECT d.*, c.change,
               CASE WHEN c.change IS NULL THEN NULL
                    WHEN c.change >= 1 THEN repeat('+', least(ceil(log(2, c.change) * 4)::int, 40))
                    ELSE repeat('-', least(ceil(-log(2, c.change) * 4)::int, 40)) END
          FROM d
          CROSS JOIN LATERAL (SELECT round(d.median_after::numeric / nullif(d.median_before, 0), 2) AS change) c
         ORDER BY abs(ln(nullif(c.change, 0))) DESC NULLS LAST,
                  abs(coalesce(d.oom_rate_after, 0) - coalesce(d.oom_rate_before, 0)) DESC, d.definition_id$q$,
        cols.hash_column, ara_internal.ara_history_sql(tbl, cols.hash_column, '$6', '$5'), tbl,
        ara_internal.ara_history_cte(tbl, cols.hash_column, '$6', '$5', '($1 - $2)', '($1 + $3)'))
    USING pivot, before, after, memory_cap, lookback, engine;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_compare(timestamptz, regclass, interval, interval, integer, interval, text) IS
'pg_ara: the before/after report of a change such as the fix, per definition: runs queued in [pivot - before, pivot) against [pivot, pivot + after) (default 7 days each; pivot defaults to when ara_enable() first enabled the table, from ara_tables): OOM rate, median and p95 requested memory (MB), runs at memory_cap, requested GB-hours (memory x (finished_at - started_at)), runs whose ARA lookup found OOM history as of their queue time; memory_change = median after / median before, and a bar (four + or - per doubling or halving, log scale). Worst change first: the largest memory change, then the largest change in OOM rate.';

-- ==== sql/simulate.sql ====
-- pg_ara: tuning ARA from history. ara_simulate() replays the runs of a period under sizing
-- policies (Flotilla's own first, as the baseline) and says what each would have cost: OOM kills
-- (a lower and an upper bound: an OOM-killed run's true need is unknown) and memory requested,
-- used and wasted. The replay itself is one pass in Rust (src/core/replay.rs, whose head lists the
-- assumptions the figures rest on; docs/simulate.md).

-- The policies to replay: the baseline (Flotilla's ARA) first, then those given (jsonb array of
-- objects), else a default grid; checked, with defaults filled in. feed 'oom': OOM-killed runs'
-- requests (Flotilla); 'peaks': successful runs' measured peaks (max_memory_used); 'both': peaks,
-- never below the largest recent OOM request x oom_multiplier.
CREATE OR REPLACE FUNCTION ara_internal.ara_policies(policies jsonb)
RETURNS TABLE (ord integer, name text, feed text, percentile double precision, multiplier numeric,
               lookback interval, max_runs integer, min_memory bigint, max_memory bigint,
               oom_multiplier numeric)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given jsonb := coalesce(policies, $grid$[
        {"name": "oom p99 x1.5", "multiplier": 1.5},
        {"name": "oom p99 x1.25", "multiplier": 1.25},
        {"name": "oom p99 x2", "multiplier": 2},
        {"name": "oom p99 x1.75, 7 days", "lookback": "7 days"},
        {"name": "oom p99 x1.75, 1 day", "lookback": "1 day"},
        {"name": "peaks p99 x1.5, 7 days", "feed": "peaks", "percentile": 0.99, "multiplier": 1.5, "lookback": "7 days"},
        {"name": "peaks p95 x1.2, 7 days", "feed": "peaks", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days"},
        {"name": "peaks p90 x1.15, 7 days", "feed": "peaks", "percentile": 0.9, "multiplier": 1.15, "lookback": "7 days"},
        {"name": "both p90 x1.15, OOM x1.2, 7 days", "feed": "both", "percentile": 0.9, "multiplier": 1.15, "oom_multiplier": 1.2, "lookback": "7 days"},
        {"name": "both p95 x1.2, OOM x1.75, 7 days", "feed": "both", "percentile": 0.95, "multiplier": 1.2, "lookback": "7 days"},
        {"name": "both p99 x1.5, OOM x1.75, 7 days", "feed": "both", "percentile": 0.99, "multiplier": 1.5, "lookback": "7 days"}
    ]$grid$::jsonb);
    p jsonb;
    i integer := 1;
    known text[] := ARRAY['name', 'feed', 'percentile', 'multiplier', 'lookback', 'max_runs', 'min_memory',
                          'max_memory', 'oom_multiplier'];
    bad text;
BEGIN
    IF jsonb_typeof(given) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'ara_simulate: policies must be a JSON array of objects, got %', given
            USING ERRCODE = '22023',
                  HINT = 'e.g. ''[{"name": "p95 x1.5", "percentile": 0.95, "multiplier": 1.5}]''; NULL replays the default grid.';
    END IF;
    -- The baseline: Flotilla's ARA as it runs today.
    ord := 0; name := 'baseline (Flotilla)'; feed := 'oom'; percentile := 0.99; multiplier := 1.75;
    lookback := '3 days'; max_runs := 30; min_memory := 512; max_memory := 350000; oom_multiplier := NULL;
    RETURN NEXT;
    FOR p IN SELECT e FROM jsonb_array_elements(given) e LOOP
        IF jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'ara_simulate: policy % is not a JSON object: %', i, p USING ERRCODE = '22023';
        END IF;
        SELECT k INTO bad FROM jsonb_object_keys(p) k WHERE k <> ALL (known) LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'ara_simulate: policy % has an unknown key "%"', i, bad
                USING ERRCODE = '22023', HINT = 'A policy takes: ' || array_to_string(known, ', ') || '.';
        END IF;
        BEGIN
            ord := i;
            name := coalesce(p->>'name', 'policy ' || i);
            feed := coalesce(p->>'feed', 'oom');
            percentile := coalesce((p->>'percentile')::double precision, 0.99);
            multiplier := coalesce((p->>'multiplier')::numeric, 1.75);
            lookback := coalesce((p->>'lookback')::interval, '3 days');
            max_runs := CASE WHEN p ? 'max_runs' THEN (p->>'max_runs')::integer
                             WHEN feed = 'oom' THEN 30 END;
            min_memory := CASE WHEN p ? 'min_memory' THEN (p->>'min_memory')::bigint ELSE 512 END;
            max_memory := CASE WHEN p ? 'max_memory' THEN (p->>'max_memory')::bigint ELSE 350000 END;
            oom_multiplier := CASE WHEN feed = 'both' THEN coalesce((p->>'oom_multiplier')::numeric, 1.75) END;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'ara_simulate: policy % ("%"): %', i, p->>'name', SQLERRM
                USING ERRCODE = '22023', HINT = 'percentile and multipliers are numbers, lookback an interval (''7 days''), max_runs, min_memory and max_memory integers.';
        END;
        IF feed NOT IN ('oom', 'peaks', 'both') THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": feed must be oom, peaks or both, got %', name, feed
                USING ERRCODE = '22023',
                      HINT = 'oom: OOM-killed runs'' requests (Flotilla); peaks: successful runs'' max_memory_used; both: peaks with an OOM floor.';
        END IF;
        IF percentile IS NULL OR percentile = 'NaN' OR percentile < 0 OR percentile > 1 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": percentile % is not between 0 and 1', name, percentile
                USING ERRCODE = '22023';
        END IF;
        IF multiplier <= 0 OR multiplier = 'NaN' OR oom_multiplier <= 0 OR oom_multiplier = 'NaN' THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": multipliers must be positive', name USING ERRCODE = '22023';
        END IF;
        IF lookback <= interval '0' OR extract(month FROM lookback) <> 0 OR extract(year FROM lookback) <> 0 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": lookback must be positive and in days, hours or less, got %', name, lookback
                USING ERRCODE = '22023', HINT = 'Flotilla looks back ''3 days''.';
        END IF;
        IF max_runs < 1 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": max_runs must be at least 1 (or null: every run in the window), got %', name, max_runs
                USING ERRCODE = '22023';
        END IF;
        IF min_memory > max_memory THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": min_memory % is above max_memory %', name, min_memory, max_memory
                USING ERRCODE = '22023';
        END IF;
        RETURN NEXT;
        i := i + 1;
    END LOOP;
    IF (SELECT count(*) <> count(DISTINCT x->>'name') FROM jsonb_array_elements(given) x WHERE x ? 'name')
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(given) x WHERE x->>'name' = 'baseline (Flotilla)') THEN
        RAISE EXCEPTION 'ara_simulate: policy names must be unique (and not "baseline (Flotilla)")' USING ERRCODE = '22023';
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_policies(jsonb) IS
'pg_ara internal: the policies ara_simulate() replays, the baseline (Flotilla''s ARA) first, defaults filled in and checked (22023); NULL gives the default grid.';

-- The runs a replay reads from tbl (checked for caller: 42809, 42501, 42703), one row each: key
-- (definition d, stored hash h), queue time in microseconds, the window starts (queued_at - each of
-- lookbacks, as PostgreSQL computes it in the session's time zone), request, outcome, peak, runtime,
-- whether it is replayed (queued since $3) or only history, run id. The runs of engine $5 (NULL: any)
-- queued in [$3 - the longest lookback, $4). Shared by both editions' replays.
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_rows_sql(tbl regclass, lookbacks interval[], caller text)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command_hash', 'memory', 'exit_code', 'exit_reason', 'engine',
              'queued_at', 'max_memory_used', 'started_at', 'finished_at']::name[], caller);
    RETURN format($q$SELECT t.definition_id::text AS d, t.%1$I::text AS h,
       (extract(epoch FROM t.queued_at) * 1000000)::bigint AS queued, ARRAY[%2$s]::bigint[] AS froms,
       t.memory::bigint AS memory, coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
       t.max_memory_used::bigint AS peak, coalesce(t.exit_code = 0, false) AS succeeded,
       extract(epoch FROM t.finished_at - t.started_at)::bigint AS runtime, t.queued_at >= $3 AS replayed,
       t.run_id::text AS run_id
  FROM %3$s t
 WHERE t.queued_at >= $3 - %4$L::interval AND t.queued_at < $4 AND t.queued_at > '-infinity' AND t.queued_at < 'infinity'
   AND ($5::text IS NULL OR t.engine = $5)$q$,
        cols.hash_column,
        (SELECT string_agg(format('(extract(epoch FROM t.queued_at - %L::interval) * 1000000)::bigint', l), ', ' ORDER BY o)
           FROM unnest(lookbacks) WITH ORDINALITY u(l, o)),
        tbl, lookbacks[cardinality(lookbacks)]);
END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_rows_sql(regclass, interval[], text) IS
'pg_ara internal: the query of the runs a replay reads (key, queue time, window starts for the sorted lookbacks, request, outcome, peak, runtime, replayed, run id; parameters $3 since, $4 until, $5 engine), after checking the table (42809, 42501, 42703).';

-- The replay's query over tbl: one ara_internal.ara_replay() call over the runs of
-- ara_replay_rows_sql() ordered by key and time; $1 the mode (totals, keys, answers), $2 the policies
-- as the Rust layer reads them (window slot i: lookbacks[i + 1], sorted), $3 since, $4 until, $5 engine.
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_sql(tbl regclass, lookbacks interval[], caller text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'SELECT ara_internal.ara_replay($1, $2, r.d, r.h, r.queued, r.froms, r.memory, r.oom, r.peak, r.succeeded, '
           || 'r.runtime, r.replayed, r.run_id ORDER BY r.d, r.h, r.queued, r.run_id) FROM ('
           || ara_internal.ara_replay_rows_sql(tbl, lookbacks, caller) || ') r'
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_sql(regclass, interval[], text) IS
'pg_ara internal: the one-pass replay query over a table for window lookbacks (sorted; parameters: mode, policies as the Rust layer reads them, since, until, engine), after checking the table (42809, 42501, 42703).';

-- The distinct lookbacks of ara_policies(policies), sorted: the window slots of ara_policies_json().
CREATE OR REPLACE FUNCTION ara_internal.ara_policy_lookbacks(policies jsonb)
RETURNS interval[]
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT array_agg(DISTINCT p.lookback ORDER BY p.lookback) FROM ara_internal.ara_policies(policies) p
$$;
COMMENT ON FUNCTION ara_internal.ara_policy_lookbacks(jsonb) IS
'pg_ara internal: the distinct lookbacks of the policies ara_simulate() replays, sorted (the replay''s window slots).';

-- The policies as the Rust layer reads them: terms, clamps, and which window start (by lookback).
CREATE OR REPLACE FUNCTION ara_internal.ara_policies_json(policies jsonb)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS (SELECT * FROM ara_internal.ara_policies(policies)),
    w AS (SELECT l, (row_number() OVER (ORDER BY l) - 1)::int AS slot FROM (SELECT DISTINCT lookback AS l FROM p) d)
    SELECT jsonb_agg(jsonb_build_object(
               'name', p.name, 'min', p.min_memory, 'max', p.max_memory, 'window', w.slot,
               'terms', CASE p.feed
                   WHEN 'oom' THEN jsonb_build_array(jsonb_build_object('feed', 'oom', 'percentile', p.percentile,
                                       'multiplier', p.multiplier::text, 'max_runs', p.max_runs))
                   WHEN 'peaks' THEN jsonb_build_array(jsonb_build_object('feed', 'peaks', 'percentile', p.percentile,
                                       'multiplier', p.multiplier::text, 'max_runs', p.max_runs))
                   ELSE jsonb_build_array(
                       jsonb_build_object('feed', 'peaks', 'percentile', p.percentile,
                                          'multiplier', p.multiplier::text, 'max_runs', p.max_runs),
                       jsonb_build_object('feed', 'oom', 'percentile', 1, 'multiplier', p.oom_multiplier::text,
                                          'max_runs', 30)) END)
           ORDER BY p.ord)::text
      FROM p JOIN w ON w.l = p.lookback
$$;
COMMENT ON FUNCTION ara_internal.ara_policies_json(jsonb) IS
'pg_ara internal: ara_policies() as the replay aggregate reads them (terms, clamps, window slot by lookback).';

-- The replay of ara_simulate() and ara_simulate_runs(): the options checked for caller, the
-- policies of ara_policies(policies), the aggregate's jsonb in mode (totals, answers).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_policies(caller text, mode text, since timestamptz,
    until timestamptz, policies jsonb, tbl regclass, engine text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    result jsonb;
BEGIN
    IF since IS NULL OR until IS NULL THEN
        RAISE EXCEPTION '%: since and until must not be NULL', caller USING ERRCODE = '22004',
            HINT = 'Leave them out to replay the whole table.';
    END IF;
    EXECUTE ara_internal.ara_replay_sql(tbl, ara_internal.ara_policy_lookbacks(policies), caller)
       INTO result USING mode, ara_internal.ara_policies_json(policies), since, until, engine;
    RETURN coalesce(result, '[]');
END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_policies(text, text, timestamptz, timestamptz, jsonb, regclass, text) IS
'pg_ara internal: the replay behind ara_simulate() and ara_simulate_runs(): options checked (22004), the policies of ara_policies(), ara_internal.ara_replay''s jsonb in the given mode.';

CREATE OR REPLACE FUNCTION @extschema@.ara_simulate(
    since timestamptz DEFAULT '-infinity',
    until timestamptz DEFAULT 'infinity',
    policies jsonb DEFAULT NULL,
    tbl regclass DEFAULT 'task'::text::regclass,
    engine text DEFAULT 'eks')
RETURNS TABLE (policy text, feed text, percentile double precision, multiplier numeric, lookback interval,
               max_runs integer, runs bigint, runs_sized bigint, ooms_min bigint, ooms_max bigint,
               runs_at_cap bigint, requested_gb_hours numeric, used_gb_hours numeric, waste_gb_hours numeric,
               ooms_min_vs_baseline bigint, ooms_max_vs_baseline bigint, requested_vs_baseline numeric,
               waste_vs_baseline numeric, runs_sized_vs_baseline bigint, runs_at_cap_vs_baseline bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    totals jsonb := ara_internal.ara_replay_policies('ara_simulate', 'totals', since, until, policies, tbl, engine);
BEGIN
    RETURN QUERY
    WITH p AS (SELECT * FROM ara_internal.ara_policies(policies)),
    t AS (SELECT x.policy, x.runs, x.sized, x.ooms_min, x.ooms_max, x.at_cap,
                 round(x.requested_mb_s::numeric / (1024 * 3600), 1) AS requested,
                 round(x.used_mb_s::numeric / (1024 * 3600), 1) AS used,
                 round(x.waste_mb_s::numeric / (1024 * 3600), 1) AS waste
            FROM jsonb_to_recordset(totals) AS x(policy text, runs bigint, sized bigint,
                 ooms_min bigint, ooms_max bigint, at_cap bigint, requested_mb_s text, used_mb_s text, waste_mb_s text)),
    b AS (SELECT t.* FROM t JOIN p ON p.name = t.policy WHERE p.ord = 0)
    SELECT p.name, p.feed || CASE WHEN p.feed = 'both' THEN ' (OOM floor x' || p.oom_multiplier || ')' ELSE '' END,
           p.percentile, p.multiplier, p.lookback, p.max_runs,
           coalesce(t.runs, 0), coalesce(t.sized, 0), coalesce(t.ooms_min, 0), coalesce(t.ooms_max, 0),
           coalesce(t.at_cap, 0), coalesce(t.requested, 0), coalesce(t.used, 0), coalesce(t.waste, 0),
           coalesce(t.ooms_min, 0) - coalesce(b.ooms_min, 0), coalesce(t.ooms_max, 0) - coalesce(b.ooms_max, 0),
           round(t.requested / nullif(b.requested, 0), 3), round(t.waste / nullif(b.waste, 0), 3),
           coalesce(t.sized, 0) - coalesce(b.sized, 0), coalesce(t.at_cap, 0) - coalesce(b.at_cap, 0)
      FROM p LEFT JOIN t ON t.policy = p.name LEFT JOIN b ON true
     ORDER BY p.ord;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_simulate(timestamptz, timestamptz, jsonb, regclass, text) IS
'pg_ara: replays the runs queued in [since, until) under sizing policies and says what each would have cost; one row per policy, the baseline (Flotilla''s ARA: OOM runs, p99, x1.75, 3 days, 30 most recent, 512..350000 MB) first. Each run is sized as of its queue time from earlier runs of its key (definition, stored hash) only. policies: jsonb array of {name, feed (oom|peaks|both), percentile, multiplier, lookback, max_runs, min_memory, max_memory, oom_multiplier}; NULL replays a default grid of 11. Per policy: runs replayed, runs it sized, predicted OOMs as a lower and an upper bound (an OOM-killed run''s true need is unknown), runs at the cap, requested, used and wasted GB-hours (memory x recorded runtime), and against the baseline: OOMs, runs sized and runs at the cap as differences, requested and wasted GB-hours as ratios (used GB-hours are the runs'' own, the same under every policy). Assumptions: docs/simulate.md. STABLE, read-only.';

CREATE OR REPLACE FUNCTION @extschema@.ara_simulate_runs(
    since timestamptz DEFAULT '-infinity',
    until timestamptz DEFAULT 'infinity',
    policies jsonb DEFAULT NULL,
    tbl regclass DEFAULT 'task'::text::regclass,
    engine text DEFAULT 'eks')
RETURNS TABLE (run_id text, policy text, memory bigint, raw_memory bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    answers jsonb := ara_internal.ara_replay_policies('ara_simulate_runs', 'answers', since, until, policies, tbl,
                                                      engine);
BEGIN
    RETURN QUERY
    SELECT a->>'run_id', p.name, (a->'request'->>(p.ord))::bigint, (a->'raw'->>(p.ord))::bigint
      FROM jsonb_array_elements(answers) a
     CROSS JOIN ara_internal.ara_policies(policies) p
     ORDER BY p.ord, a->>'run_id';
END
$$;
COMMENT ON FUNCTION @extschema@.ara_simulate_runs(timestamptz, timestamptz, jsonb, regclass, text) IS
'pg_ara: ara_simulate() run by run: every run queued in [since, until) with the memory each policy would have requested as of its queue time (NULL: no history, the run keeps what it was given) and before the clamps. For checking a policy on a few definitions; ara_simulate() sums it.';

CREATE OR REPLACE FUNCTION @extschema@.ara_waste(
    since timestamptz DEFAULT now() - interval '7 days',
    until timestamptz DEFAULT now(),
    tbl regclass DEFAULT 'task'::text::regclass,
    percentile double precision DEFAULT 0.95,
    headroom numeric DEFAULT 1.2,
    lookback interval DEFAULT '7 days',
    oom_multiplier numeric DEFAULT 1.75,
    engine text DEFAULT 'eks',
    top integer DEFAULT 20)
RETURNS TABLE (definition_id text, command_hash text, runs bigint, requested_gb_hours numeric, used_gb_hours numeric,
               waste_gb_hours numeric, waste_share numeric, right_sized_gb_hours numeric, saved_gb_hours numeric,
               right_sized_ooms_min bigint, right_sized_ooms_max bigint, bar text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    policy jsonb;
    per_key jsonb;
BEGIN
    IF since IS NULL OR until IS NULL OR percentile IS NULL OR headroom IS NULL OR lookback IS NULL
       OR oom_multiplier IS NULL OR top IS NULL THEN
        RAISE EXCEPTION 'ara_waste: since, until, percentile, headroom, lookback, oom_multiplier and top must not be NULL'
            USING ERRCODE = '22004', HINT = 'Leave an option out to get its default.';
    END IF;
    IF percentile = 'NaN' OR percentile < 0 OR percentile > 1 THEN
        RAISE EXCEPTION 'ara_waste: percentile % is not between 0 and 1', percentile
            USING ERRCODE = '22023', HINT = 'The right-sized request is percentile_disc(percentile) of the measured peaks, e.g. 0.95.';
    END IF;
    IF headroom <= 0 OR headroom = 'NaN' OR oom_multiplier <= 0 OR oom_multiplier = 'NaN' THEN
        RAISE EXCEPTION 'ara_waste: headroom and oom_multiplier must be positive' USING ERRCODE = '22023',
            HINT = 'headroom multiplies the peak percentile (1.2: 20% above it); oom_multiplier the largest recent OOM request (Flotilla: 1.75).';
    END IF;
    IF lookback <= interval '0' OR extract(month FROM lookback) <> 0 OR extract(year FROM lookback) <> 0 THEN
        RAISE EXCEPTION 'ara_waste: lookback must be positive and in days, hours or less, got %', lookback
            USING ERRCODE = '22023';
    END IF;
    IF top < 1 THEN
        RAISE EXCEPTION 'ara_waste: top must be at least 1, got %', top USING ERRCODE = '22023';
    END IF;
    -- Two policies replayed per key: the requests as recorded (no terms: never sized), and the
    -- right-sized one (peaks x headroom with the OOM floor, clamped as the service clamps).
    policy := jsonb_build_array(
        jsonb_build_object('name', 'recorded', 'terms', '[]'::jsonb, 'min', NULL, 'max', NULL, 'window', 0),
        jsonb_build_object('name', 'right_size', 'min', 512, 'max', 350000, 'window', 0, 'terms', jsonb_build_array(
            jsonb_build_object('feed', 'peaks', 'percentile', percentile, 'multiplier', headroom::text, 'max_runs', NULL),
            jsonb_build_object('feed', 'oom', 'percentile', 1, 'multiplier', oom_multiplier::text, 'max_runs', 30))));
    EXECUTE ara_internal.ara_replay_sql(tbl, ARRAY[lookback], 'ara_waste')
       INTO per_key USING 'keys', policy::text, since, until, engine;
    RETURN QUERY
    WITH k AS (
        SELECT x.definition_id, x.command_hash, (x.totals->0->>'runs')::bigint AS runs,
               round((x.totals->0->>'requested_mb_s')::numeric / (1024 * 3600), 1) AS requested,
               round((x.totals->0->>'used_mb_s')::numeric / (1024 * 3600), 1) AS used,
               round((x.totals->0->>'waste_mb_s')::numeric / (1024 * 3600), 1) AS waste,
               round((x.totals->1->>'requested_mb_s')::numeric / (1024 * 3600), 1) AS right_sized,
               (x.totals->1->>'ooms_min')::bigint AS ooms_min, (x.totals->1->>'ooms_max')::bigint AS ooms_max
          FROM jsonb_to_recordset(coalesce(per_key, '[]')) AS x(definition_id text, command_hash text, totals jsonb))
    SELECT k.definition_id, k.command_hash, k.runs, k.requested, k.used, k.waste,
           round(k.waste / nullif(k.requested, 0), 3), k.right_sized, k.requested - k.right_sized, k.ooms_min, k.ooms_max,
           repeat('#', ceil(20 * k.waste / nullif(max(k.waste) OVER (), 0))::int)
      FROM k
     ORDER BY k.waste DESC, k.definition_id, k.command_hash
     LIMIT top;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_waste(timestamptz, timestamptz, regclass, double precision, numeric, interval, numeric, text, integer) IS
'pg_ara: memory paid for and never used, per key (definition, stored hash), over the runs of engine queued in [since, until) (default: the last 7 days), worst first (top rows): runs, requested, used and wasted GB-hours (memory x recorded runtime; used: a successful run''s max_memory_used, all of an OOM-killed run''s request), the wasted share, what a right-sized request would have cost (as of each run''s queue time: percentile_disc(percentile) of the key''s successful runs'' peaks over lookback x headroom, never below its largest recent OOM request x oom_multiplier; a run without history keeps its request) and the GB-hours it saves, the OOM kills it would risk (certain, and also those given more than they died at), and a bar. The same replay and assumptions as ara_simulate() (docs/simulate.md).';

-- ==== edition/simulate.sql ====
-- SQL edition: the twin of the replay behind ara_simulate(), ara_simulate_runs() and ara_waste()
-- (the Rust aggregate ara_internal.ara_replay, src/simulate.rs over src/core/replay.rs). PL/pgSQL
-- cannot make an aggregate over 13 arguments that appends in place (every row would copy the whole
-- state), so the twin sits one step up: ara_internal.ara_replay_sql(), which those three functions
-- EXECUTE with (mode, policies, since, until, engine), returns here a call of
-- ara_internal.ara_replay_loop(), which reads the same rows in the same order and replays them in one
-- pass as the Rust engine does (same assumptions: docs/simulate.md; same jsonb: per policy totals, per
-- key totals, or per run answers). Windows that several policies share (the same feed, lookback and
-- most-recent limit) are sorted once per batch of runs. Loaded after sql/simulate.sql, whose
-- ara_replay_sql() it replaces.

-- The per-policy totals as the extension's replay gives them (memory x time as exact integer text).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_totals(names text[], runs bigint[], sized bigint[],
    ooms_min bigint[], ooms_max bigint[], at_cap bigint[], requested numeric[], used numeric[], waste numeric[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('policy', names[i], 'runs', runs[i], 'sized', sized[i],
               'ooms_min', ooms_min[i], 'ooms_max', ooms_max[i], 'at_cap', at_cap[i],
               'requested_mb_s', requested[i]::text, 'used_mb_s', used[i]::text, 'waste_mb_s', waste[i]::text)
               ORDER BY i), '[]')
      FROM generate_series(1, coalesce(cardinality(names), 0)) i
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_totals(text[], bigint[], bigint[], bigint[], bigint[], bigint[], numeric[], numeric[], numeric[]) IS
'pg_ara internal (SQL edition): the replay''s per-policy totals as jsonb; not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_replay_loop(mode text, policies text, since timestamptz,
    until timestamptz, engine text, tbl regclass, lookbacks interval[], caller text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol jsonb := policies::jsonb;
    np integer;
    names text[] := '{}';
    p_min bigint[] := '{}';
    p_max bigint[] := '{}';
    p_win integer[] := '{}';
    -- Every term of every policy: its policy, its window (below), percentile and multiplier.
    t_pol integer[] := '{}';
    t_win integer[] := '{}';
    t_pct double precision[] := '{}';
    t_mul numeric[] := '{}';
    nt integer;
    -- The distinct windows: feed (true: OOM-killed runs' requests; false: successful runs' peaks),
    -- window slot (the lookback's place in lookbacks), most recent entries kept (NULL: all).
    w_oom boolean[] := '{}';
    w_slot integer[] := '{}';
    w_max integer[] := '{}';
    w_lo integer[];
    w_sorted bigint[];
    w_n integer[];
    w_first integer[];
    nw integer;
    -- The current key's two feeds, oldest first: queue time (microseconds) and value (NULL: an OOM
    -- run without a request, which takes a place among the most recent but has no value).
    oom_t bigint[]; oom_v bigint[];
    pk_t bigint[]; pk_v bigint[];
    -- The current batch: the runs of one key queued at one instant (they do not see each other).
    b_sizable boolean[]; b_request bigint[]; b_oom boolean[]; b_peak bigint[]; b_need_peak boolean[];
    b_need bigint[]; b_runtime bigint[]; b_replayed boolean[]; b_run text[];
    b_from bigint[];
    key_d text; key_h text; b_t bigint;
    started boolean := false;
    new_key boolean;
    -- Per policy: runs, sized, ooms_min, ooms_max, at_cap, requested, used, waste (MB-seconds).
    tot_runs bigint[]; tot_sized bigint[]; tot_min bigint[]; tot_max bigint[]; tot_cap bigint[];
    tot_req numeric[]; tot_used numeric[]; tot_waste numeric[];
    key_runs bigint[];
    key_start_runs bigint[]; key_start_sized bigint[]; key_start_min bigint[]; key_start_max bigint[];
    key_start_cap bigint[]; key_start_req numeric[]; key_start_used numeric[]; key_start_waste numeric[];
    cur refcursor;
    done boolean;
    per_key jsonb[] := '{}';
    answers jsonb[] := '{}';
    raw bigint[]; req bigint[];
    v bigint; x bigint; prod numeric; lo integer; hi integer; n integer; request bigint; used bigint; secs bigint;
    r record;
    q text;
    i integer; k integer; j integer; w integer;
BEGIN
    np := jsonb_array_length(pol);
    FOR i IN 1 .. np LOOP
        names := names || (pol->(i - 1)->>'name');
        p_min := p_min || (pol->(i - 1)->>'min')::bigint;
        p_max := p_max || (pol->(i - 1)->>'max')::bigint;
        p_win := p_win || (coalesce((pol->(i - 1)->>'window')::integer, i - 1) + 1);
        FOR k IN 0 .. coalesce(jsonb_array_length(pol->(i - 1)->'terms'), 0) - 1 LOOP
            t_pol := t_pol || i;
            t_pct := t_pct || (pol->(i - 1)->'terms'->k->>'percentile')::double precision;
            t_mul := t_mul || (pol->(i - 1)->'terms'->k->>'multiplier')::numeric;
            w := NULL;
            FOR j IN 1 .. coalesce(cardinality(w_oom), 0) LOOP
                IF w_oom[j] = (pol->(i - 1)->'terms'->k->>'feed' = 'oom') AND w_slot[j] = p_win[i]
                   AND w_max[j] IS NOT DISTINCT FROM (pol->(i - 1)->'terms'->k->>'max_runs')::integer THEN
                    w := j;
                END IF;
            END LOOP;
            IF w IS NULL THEN
                w_oom := w_oom || (pol->(i - 1)->'terms'->k->>'feed' = 'oom');
                w_slot := w_slot || p_win[i];
                w_max := w_max || (pol->(i - 1)->'terms'->k->>'max_runs')::integer;
                w := cardinality(w_oom);
            END IF;
            t_win := t_win || w;
        END LOOP;
    END LOOP;
    nt := coalesce(cardinality(t_pol), 0);
    nw := coalesce(cardinality(w_oom), 0);
    tot_runs := array_fill(0::bigint, ARRAY[np]); tot_sized := tot_runs; tot_min := tot_runs; tot_max := tot_runs;
    tot_cap := tot_runs;
    tot_req := array_fill(0::numeric, ARRAY[np]); tot_used := tot_req; tot_waste := tot_req;

    -- The same rows, in the same order, as the extension's replay (sql/simulate.sql).
    q := ara_internal.ara_replay_rows_sql(tbl, lookbacks, caller) || ' ORDER BY d, h, queued, run_id';
    OPEN cur FOR EXECUTE q USING mode, policies, since, until, engine;
    LOOP
        FETCH cur INTO r;
        done := NOT FOUND;
        new_key := done OR NOT started OR r.d IS DISTINCT FROM key_d OR r.h IS DISTINCT FROM key_h;
        IF started AND (new_key OR r.queued <> b_t) THEN
            -- The batch is complete. 1. Each distinct window as of its first run: entries queued before
            -- its window start dropped, the most recent max entries kept, the values sorted.
            w_sorted := '{}';
            w_first := array_fill(0, ARRAY[greatest(nw, 1)]);
            w_n := array_fill(0, ARRAY[greatest(nw, 1)]);
            FOR w IN 1 .. nw LOOP
                IF w_oom[w] THEN
                    hi := coalesce(cardinality(oom_t), 0);
                    WHILE w_lo[w] <= hi AND oom_t[w_lo[w]] < b_from[w_slot[w]] LOOP
                        w_lo[w] := w_lo[w] + 1;
                    END LOOP;
                ELSE
                    hi := coalesce(cardinality(pk_t), 0);
                    WHILE w_lo[w] <= hi AND pk_t[w_lo[w]] < b_from[w_slot[w]] LOOP
                        w_lo[w] := w_lo[w] + 1;
                    END LOOP;
                END IF;
                lo := CASE WHEN w_max[w] IS NULL THEN w_lo[w] ELSE greatest(w_lo[w], hi - w_max[w] + 1) END;
                IF lo <= hi THEN
                    w_first[w] := coalesce(cardinality(w_sorted), 0) + 1;
                    IF w_oom[w] THEN
                        w_sorted := w_sorted || ARRAY(SELECT e FROM unnest(oom_v[lo:hi]) e WHERE e IS NOT NULL ORDER BY e);
                    ELSE
                        w_sorted := w_sorted || ARRAY(SELECT e FROM unnest(pk_v[lo:hi]) e WHERE e IS NOT NULL ORDER BY e);
                    END IF;
                    w_n[w] := coalesce(cardinality(w_sorted), 0) + 1 - w_first[w];
                END IF;
            END LOOP;
            -- 2. Each policy's answer: the largest of its terms that have values, then its clamps.
            raw := array_fill(NULL::bigint, ARRAY[greatest(np, 1)]);
            FOR k IN 1 .. nt LOOP
                w := t_win[k];
                n := w_n[w];
                IF n > 0 THEN
                    -- percentile_disc's position: ceil(p * n) in float8, at least 1.
                    v := w_sorted[w_first[w] - 1 + greatest(1, ceil(t_pct[k] * n::double precision)::integer)];
                    -- Rounded half away from zero, as cast(numeric AS bigint); out of range as the
                    -- extension reports it (no subtransaction per value to catch the cast's error).
                    prod := v * t_mul[k];
                    IF prod >= 9223372036854775807.5 OR prod <= -9223372036854775808.5 THEN
                        RAISE EXCEPTION 'bigint out of range' USING ERRCODE = '22003',
                            HINT = 'A policy''s percentile value times its multiplier does not fit in bigint.';
                    END IF;
                    x := prod::bigint;
                    raw[t_pol[k]] := greatest(raw[t_pol[k]], x);
                END IF;
            END LOOP;
            req := raw;
            FOR i IN 1 .. np LOOP
                IF raw[i] IS NOT NULL THEN
                    req[i] := CASE WHEN p_max[i] IS NOT NULL THEN least(raw[i], p_max[i]) ELSE raw[i] END;
                    req[i] := CASE WHEN p_min[i] IS NOT NULL THEN greatest(req[i], p_min[i]) ELSE req[i] END;
                END IF;
            END LOOP;
            -- 3. The replayed runs' answers and totals (src/core/replay.rs Totals::add).
            FOR j IN 1 .. cardinality(b_run) LOOP
                CONTINUE WHEN NOT b_replayed[j];
                IF mode = 'answers' THEN
                    answers := answers || jsonb_build_object('run_id', b_run[j],
                        'request', to_jsonb(CASE WHEN b_sizable[j] THEN req ELSE array_fill(NULL::bigint, ARRAY[np]) END),
                        'raw', to_jsonb(CASE WHEN b_sizable[j] THEN raw ELSE array_fill(NULL::bigint, ARRAY[np]) END));
                END IF;
                FOR i IN 1 .. np LOOP
                    request := CASE WHEN b_sizable[j] AND raw[i] IS NOT NULL THEN req[i] ELSE b_request[j] END;
                    tot_runs[i] := tot_runs[i] + 1;
                    IF b_sizable[j] AND raw[i] IS NOT NULL THEN
                        tot_sized[i] := tot_sized[i] + 1;
                    END IF;
                    IF request IS NOT NULL THEN
                        IF b_need_peak[j] THEN
                            IF request < b_need[j] THEN
                                tot_min[i] := tot_min[i] + 1; tot_max[i] := tot_max[i] + 1;
                            END IF;
                        ELSIF b_need[j] IS NOT NULL THEN
                            IF request <= b_need[j] THEN
                                tot_min[i] := tot_min[i] + 1; tot_max[i] := tot_max[i] + 1;
                            ELSE
                                tot_max[i] := tot_max[i] + 1;
                            END IF;
                        END IF;
                        IF p_max[i] IS NOT NULL AND request >= p_max[i] THEN
                            tot_cap[i] := tot_cap[i] + 1;
                        END IF;
                    END IF;
                    secs := b_runtime[j];
                    IF secs >= 0 THEN
                        used := b_need[j];
                        IF request IS NOT NULL THEN
                            tot_req[i] := tot_req[i] + request::numeric * secs;
                        END IF;
                        IF used IS NOT NULL THEN
                            tot_used[i] := tot_used[i] + used::numeric * secs;
                        END IF;
                        IF request IS NOT NULL AND used IS NOT NULL THEN
                            tot_waste[i] := tot_waste[i] + greatest(request::numeric - used, 0) * secs;
                        END IF;
                    END IF;
                END LOOP;
            END LOOP;
            -- 4. Then the batch feeds the key's windows.
            FOR j IN 1 .. cardinality(b_run) LOOP
                CONTINUE WHEN NOT b_sizable[j];
                IF b_oom[j] THEN
                    oom_t := array_append(oom_t, b_t);
                    oom_v := array_append(oom_v, b_request[j]);
                ELSIF b_peak[j] IS NOT NULL THEN
                    pk_t := array_append(pk_t, b_t);
                    pk_v := array_append(pk_v, b_peak[j]);
                END IF;
            END LOOP;
        END IF;
        IF started AND new_key AND mode = 'keys' AND tot_runs IS DISTINCT FROM key_runs THEN
            -- In mode keys, each key with replayed runs and its totals (what its runs added).
            per_key := per_key || jsonb_build_object('definition_id', key_d, 'command_hash', key_h,
                'totals', ara_internal.ara_replay_totals(names,
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_runs, key_start_runs) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_sized, key_start_sized) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_min, key_start_min) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_max, key_start_max) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_cap, key_start_cap) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_req, key_start_req) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_used, key_start_used) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_waste, key_start_waste) WITH ORDINALITY u(a, b, o))));
        END IF;
        EXIT WHEN done;
        IF new_key THEN
            -- A new key: only its own history feeds it.
            oom_t := '{}'; oom_v := '{}'; pk_t := '{}'; pk_v := '{}';
            w_lo := array_fill(1, ARRAY[greatest(nw, 1)]);
            key_d := r.d; key_h := r.h;
            key_runs := tot_runs;
            key_start_runs := tot_runs; key_start_sized := tot_sized; key_start_min := tot_min;
            key_start_max := tot_max; key_start_cap := tot_cap; key_start_req := tot_req;
            key_start_used := tot_used; key_start_waste := tot_waste;
        END IF;
        IF new_key OR r.queued <> b_t THEN
            b_t := r.queued; b_from := r.froms;
            b_sizable := '{}'; b_request := '{}'; b_oom := '{}'; b_peak := '{}'; b_need_peak := '{}'; b_need := '{}';
            b_runtime := '{}'; b_replayed := '{}'; b_run := '{}';
            started := true;
        END IF;
        b_sizable := array_append(b_sizable, r.d IS NOT NULL AND r.h IS NOT NULL);
        b_request := array_append(b_request, r.memory);
        b_oom := array_append(b_oom, r.oom);
        b_peak := array_append(b_peak, CASE WHEN r.succeeded THEN r.peak END);
        -- What the run's outcome says of its need (src/simulate.rs need()): a successful run's peak
        -- (exact), an OOM-killed run's request (it needed more), else nothing.
        b_need_peak := array_append(b_need_peak, NOT r.oom AND r.succeeded AND r.peak IS NOT NULL);
        b_need := array_append(b_need, CASE WHEN r.oom THEN r.memory WHEN r.succeeded THEN r.peak END);
        b_runtime := array_append(b_runtime, r.runtime);
        b_replayed := array_append(b_replayed, coalesce(r.replayed, false));
        b_run := array_append(b_run, r.run_id);
    END LOOP;
    CLOSE cur;
    RETURN CASE mode
        WHEN 'totals' THEN ara_internal.ara_replay_totals(names, tot_runs, tot_sized, tot_min, tot_max, tot_cap,
                                                          tot_req, tot_used, tot_waste)
        WHEN 'keys' THEN to_jsonb(per_key)
        ELSE to_jsonb(answers) END;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_loop(text, text, timestamptz, timestamptz, text, regclass, interval[], text) IS
'pg_ara internal (SQL edition): the replay behind ara_simulate(), ara_simulate_runs() and ara_waste(), one pass over the runs in (definition, hash, queued_at, run_id) order; jsonb by mode (totals, keys, answers) as the extension''s replay aggregate gives it. Not for direct use.';

-- The replay's query for ara_simulate(), ara_simulate_runs() and ara_waste(): here a call of the loop
-- above with the same parameters ($1 mode, $2 policies, $3 since, $4 until, $5 engine); the table is
-- checked now, as the extension's query checks it (ara_replay_rows_sql()).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_sql(tbl regclass, lookbacks interval[], caller text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ara_internal.ara_replay_rows_sql(tbl, lookbacks, caller) IS NOT NULL THEN
        format('SELECT ara_internal.ara_replay_loop($1, $2, $3, $4, $5, %L::regclass, %L::interval[], %L)',
               tbl::oid::text, lookbacks, caller) END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_sql(regclass, interval[], text) IS
'pg_ara internal: the one-pass replay query over a table for window lookbacks (sorted; parameters: mode, policies as the replay reads them, since, until, engine), after checking the table (42809, 42501, 42703). SQL edition: a call of ara_internal.ara_replay_loop().';

-- ==== sql/state.sql ====
-- pg_ara: its state on a server, carried from one edition to the other (0.7.0): from the SQL edition
-- (pg_tle or the plain script) to the compiled extension when a user leaves the managed service or
-- the provider adds pg_ara, and back (docs/managed.md, "Moving between editions"). The state is what
-- lives outside pg_ara's code: where it is enabled and how (each table's trigger configuration: its
-- columns, key, definitions keyed by fingerprint), the registrations ara_metrics() watches, the sizing
-- choices of ara_set_policy() and the progress of interrupted backfills. In both editions alike.

-- The objects outside pg_ara that depend on it (views over ara_estimate, columns of type ara_counts,
-- functions of yours that use its types): dropping pg_ara to switch editions would drop them too.
-- pg_ara's own triggers on enabled tables are not listed: ara_state_import() makes them again.
CREATE OR REPLACE FUNCTION ara_internal.ara_dependents()
RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ext AS (SELECT e.oid FROM pg_extension e WHERE e.extname = 'pg_ara'),
    members AS (
        -- The compiled extension or the pg_tle edition: its members. The plain script: what lives in
        -- its two schemas.
        SELECT d.classid, d.objid FROM pg_depend d, ext
         WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
        UNION ALL
        SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND p.pronamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
        UNION ALL
        SELECT 'pg_class'::regclass, c.oid FROM pg_class c
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND c.relnamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
        UNION ALL
        SELECT 'pg_type'::regclass, t.oid FROM pg_type t
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND t.typnamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
    )
    SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass     -- a view: named as the view
                         THEN pg_describe_object('pg_class'::regclass, (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid), 0)
                         ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
      FROM pg_depend d
      JOIN members m ON d.refclassid = m.classid AND d.refobjid = m.objid
     WHERE d.deptype = 'n'
       AND NOT EXISTS (SELECT 1 FROM members o WHERE o.classid = d.classid AND o.objid = d.objid)
       -- Parts of pg_ara's own tables and views (constraints, defaults, rewrite rules, policies,
       -- triggers, indexes): they go with them.
       AND NOT EXISTS (
           SELECT 1 FROM members o
            WHERE o.classid = 'pg_class'::regclass
              AND o.objid = CASE d.classid
                  WHEN 'pg_constraint'::regclass THEN (SELECT c.conrelid FROM pg_constraint c WHERE c.oid = d.objid)
                  WHEN 'pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid)
                  WHEN 'pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid)
                  WHEN 'pg_policy'::regclass THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = d.objid)
                  WHEN 'pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = d.objid)
                  WHEN 'pg_class'::regclass THEN (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = d.objid)
              END)
       -- pg_ara's triggers on your tables: ara_state_import() makes them again.
       AND NOT (d.classid = 'pg_trigger'::regclass AND d.objid IN (
                SELECT t.oid FROM pg_trigger t
                 WHERE t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
                   AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure))
     ORDER BY 1
$$;
COMMENT ON FUNCTION ara_internal.ara_dependents() IS
'pg_ara internal: the objects outside pg_ara that depend on it (views over its functions, columns of its types), which dropping it would drop; pg_ara''s own triggers are not listed.';

-- A jsonb array of strings as text[]; NULL for JSON null or a missing key.
CREATE OR REPLACE FUNCTION ara_internal.ara_text_array(value jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(value)) END
$$;
COMMENT ON FUNCTION ara_internal.ara_text_array(jsonb) IS
'pg_ara internal: a jsonb array of strings as text[] (NULL for JSON null).';

CREATE OR REPLACE FUNCTION @extschema@.ara_state_export(allow_dependents boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dependents text[] := ARRAY(SELECT ara_internal.ara_dependents());
    edition text;
BEGIN
    IF cardinality(dependents) > 0 AND NOT coalesce(allow_dependents, false) THEN
        RAISE EXCEPTION 'ara_state_export: % object(s) outside pg_ara depend on it and would be dropped with it: %',
                cardinality(dependents), array_to_string(dependents, '; ')
            USING ERRCODE = '2BP01',
                  HINT = 'Before switching editions, drop them in the same transaction and create them again after ara_state_import() (keep their definitions: pg_get_viewdef()); a column of type ara_counts cannot move to the SQL edition, which has no such type. allow_dependents => true exports anyway.';
    END IF;
    SELECT CASE WHEN e.extname IS NOT NULL THEN 'pg_ara ' || e.extversion END INTO edition
      FROM pg_extension e WHERE e.extname = 'pg_ara';
    IF edition IS NULL AND to_regclass('ara_internal.ara_edition') IS NOT NULL THEN
        EXECUTE 'SELECT ''pg_ara '' || version || '' (SQL edition, plain script)'' FROM ara_internal.ara_edition LIMIT 1'
           INTO edition;
    END IF;
    RETURN jsonb_build_object(
        'pg_ara', edition,
        'exported_at', now(),
        'tables', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'table', t.tbl::text, 'command_column', c.command_column, 'hash_column', c.hash_column,
                       'description_column', c.description_column, 'key', c.key,
                       'definition_column', c.definition_column,
                       'fingerprint_definitions', to_jsonb(c.fingerprint_definitions))
                   ORDER BY t.tbl::text)
              FROM ara_internal.ara_triggered_tables() t(tbl)
              CROSS JOIN LATERAL ara_internal.ara_config(t.tbl) c), '[]'),
        'registered', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', r.table_name::text, 'enabled_at', r.enabled_at,
                                                'enabled_by', r.enabled_by) ORDER BY r.table_name::text)
              FROM @extschema@.ara_tables r), '[]'),
        'sizing', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', s.table_name::text, 'definition_id', s.definition_id,
                       'policy', s.policy, 'peak_percentile', s.peak_percentile, 'headroom', s.headroom,
                       'peak_lookback', s.peak_lookback, 'set_at', s.set_at, 'set_by', s.set_by)
                   ORDER BY s.table_name::text, s.definition_id NULLS FIRST)
              FROM @extschema@.ara_sizing s), '[]'),
        'backfill_progress', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', p.relid::regclass::text, 'definitions', to_jsonb(p.definitions),
                       'last_key', to_jsonb(p.last_key), 'rows_scanned', p.rows_scanned,
                       'rows_changed', p.rows_changed, 'rows_no_source', p.rows_no_source,
                       'started_at', p.started_at, 'updated_at', p.updated_at, 'finished_at', p.finished_at)
                   ORDER BY p.relid::regclass::text, p.started_at)
              FROM @extschema@.ara_backfill_progress p
             WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.relid)), '[]'),
        'dependents', to_jsonb(dependents));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_state_export(boolean) IS
'pg_ara: its state on this server as jsonb, to carry to the other edition (compiled extension <-> SQL edition) with ara_state_import(): each enabled table''s trigger configuration (columns, key, definitions keyed by fingerprint), the registrations ara_metrics() watches (ara_tables), the sizing choices (ara_sizing) and the backfill progress. Refuses (2BP01, listing them) when objects outside pg_ara depend on it and would be dropped with it, unless allow_dependents. docs/managed.md, "Moving between editions".';

CREATE OR REPLACE FUNCTION @extschema@.ara_state_import(state jsonb, lock_timeout interval DEFAULT '5s')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t jsonb;
    tbl regclass;
    tables integer := 0;
    sizing integer := 0;
    progress integer := 0;
BEGIN
    IF state IS NULL OR jsonb_typeof(state->'tables') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'ara_state_import: not a state from ara_state_export()' USING ERRCODE = '22023',
            HINT = 'Pass what ara_state_export() returned, e.g. SELECT ara_state_import(state) FROM saved_state.';
    END IF;
    -- Each table enabled as it was: the same columns, key and definitions keyed by fingerprint.
    FOR t IN SELECT e FROM jsonb_array_elements(state->'tables') e LOOP
        tbl := to_regclass(t->>'table');
        IF tbl IS NULL THEN
            RAISE EXCEPTION 'ara_state_import: table % does not exist here', t->>'table' USING ERRCODE = '42P01',
                HINT = 'Import into the database the state was exported from, or restore the table first.';
        END IF;
        PERFORM @extschema@.ara_enable(tbl, (t->>'command_column')::name, (t->>'hash_column')::name,
            (t->>'description_column')::name, lock_timeout, t->>'key',
            CASE WHEN t->>'key' = 'command' THEN coalesce(ara_internal.ara_text_array(t->'fingerprint_definitions'), '{}') END,
            coalesce((t->>'definition_column')::name, 'definition_id'));
        tables := tables + 1;
    END LOOP;
    -- The registrations with their first enabled_at (the default pivot of ara_compare()).
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'registered', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        -- (Delete and insert: whoever may enable pg_ara on a table may do both, not UPDATE.)
        DELETE FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
        INSERT INTO @extschema@.ara_tables (table_name, enabled_at, enabled_by)
        VALUES (tbl, (t->>'enabled_at')::timestamptz, (t->>'enabled_by')::name);
    END LOOP;
    -- The sizing choices, as they were (set_at and set_by kept).
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'sizing', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        DELETE FROM @extschema@.ara_sizing s
         WHERE s.table_name = tbl AND s.definition_id IS NOT DISTINCT FROM t->>'definition_id';
        INSERT INTO @extschema@.ara_sizing (table_name, definition_id, policy, peak_percentile, headroom, peak_lookback,
                                            set_at, set_by)
        VALUES (tbl, t->>'definition_id', t->>'policy', (t->>'peak_percentile')::double precision,
                (t->>'headroom')::numeric, (t->>'peak_lookback')::interval, (t->>'set_at')::timestamptz,
                (t->>'set_by')::name);
        sizing := sizing + 1;
    END LOOP;
    -- Interrupted backfills resume where they stopped.
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'backfill_progress', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        DELETE FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = tbl::oid AND p.definitions IS NOT DISTINCT FROM ara_internal.ara_text_array(t->'definitions');
        INSERT INTO @extschema@.ara_backfill_progress (relid, definitions, last_key, rows_scanned, rows_changed,
                                                       rows_no_source, started_at, updated_at, finished_at)
        VALUES (tbl::oid, ara_internal.ara_text_array(t->'definitions'), ara_internal.ara_text_array(t->'last_key'),
                (t->>'rows_scanned')::bigint, (t->>'rows_changed')::bigint, (t->>'rows_no_source')::bigint,
                (t->>'started_at')::timestamptz, (t->>'updated_at')::timestamptz, (t->>'finished_at')::timestamptz);
        progress := progress + 1;
    END LOOP;
    RETURN format('ara_state_import: %s table(s) enabled as they were, %s sizing choice(s), %s backfill progress row(s)',
                  tables, sizing, progress);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_state_import(jsonb, interval) IS
'pg_ara: restores what ara_state_export() saved, in this edition: each table enabled as it was (ara_enable() with its columns, key and definitions keyed by fingerprint; waits at most lock_timeout for each table''s lock, then fails with 55P03), its registration with its first enabled_at, the sizing choices and the backfill progress (a backfill resumes where it stopped). Tables are found by name; idempotent. docs/managed.md, "Moving between editions".';
$_pgtle_$;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgtle.available_extensions() WHERE name = 'pg_ara') THEN
        PERFORM pgtle.install_extension('pg_ara', '0.7.0', 'Auto Resource Adjustment for Flotilla-style task tables (SQL edition 0.7.0): command_hash(), its trigger, ara_estimate(), the ARA lookup, investigation, monitoring and the replay of sizing policies', body);
    ELSIF NOT EXISTS (SELECT 1 FROM pgtle.available_extension_versions() WHERE name = 'pg_ara' AND version = '0.7.0') THEN
        PERFORM pgtle.install_extension_version_sql('pg_ara', '0.7.0', body);
    END IF;
    IF (SELECT default_version FROM pgtle.available_extensions() WHERE name = 'pg_ara') IS DISTINCT FROM '0.7.0' THEN
        PERFORM pgtle.set_default_version('pg_ara', '0.7.0');
    END IF;
END
$install$;
