-- pg_ara 0.2.0 -> 0.3.0
-- Faster, same results: ara_resources() runs its window query with a plan kept per session
-- (new: ara_internal.ara_lookup_window(), ara_internal.ara_lookup_sql()); ara_backfill() rewrites
-- each batch with one ordered UPDATE over its key range and commits without waiting for the WAL
-- flush. The aggregate's transition functions and the trigger function keep their SQL
-- definitions (the same C symbols; only the code behind them changed).
-- Made of the same SQL files as the 0.3.0 install script (listed on the "body:" line, verbatim
-- below); the upgrade test checks that an upgraded database and a fresh 0.3.0 install have the
-- same catalog.
-- body: enable backfill lookup investigate fingerprint
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.3.0'" to load this file. \quit

-- New C function (src/lookup.rs), as the 0.3.0 install script declares it.
CREATE FUNCTION ara_internal.ara_lookup_window(tbl regclass, definition_id text, command_hash text, engine text,
    window_from timestamptz, window_until timestamptz, max_runs integer, percentile double precision,
    memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
STABLE PARALLEL RESTRICTED LANGUAGE c AS 'MODULE_PATHNAME', 'ara_lookup_window';
COMMENT ON FUNCTION ara_internal.ara_lookup_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric) IS
'pg_ara internal: the window query of ara_resources() (ara_internal.ara_lookup_sql()) run with a plan kept per session, table and role, dropped when the table changes; oom_runs, raw_memory, raw_cpu. Not for direct use.';

-- ==== sql/enable.sql (as in the 0.3.0 install script) ====
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
    RETURN format('%s on %s (command %I, hash %I, description %s%s)',
                  result, tbl, command_column, hash_column, coalesce(quote_ident(description_column), 'none'), key_text);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_enable(regclass, name, name, name, interval, text, text[], name) IS
'pg_ara: installs the command_hash triggers on a table (default task), idempotently: BEFORE INSERT always, BEFORE UPDATE only when the command, description or hash column really changes (a WHEN condition, so status updates never call it). Plain and partitioned tables (all partitions, present and future). description_column => NULL turns the description fallback off. key => ''fingerprint'' stores command_fingerprint_hash() instead of command_hash() for every run; fingerprint_definitions => ARRAY[...] (with definition_column) only for those definitions (''{}'' clears the list); left NULL, both keep what is configured (see also ara_set_key). Waits at most lock_timeout (default 5s) for its table lock, then fails with 55P03 and changes nothing. Errors: 42809 not a table, 42703 missing column, 42804 not text/varchar, 42501 no TRIGGER privilege. Existing rows: CALL ara_backfill().';

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
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_disable: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_disable');
    SELECT count(*) INTO n FROM pg_trigger t
    WHERE t.tgrelid = tbl AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update');
    IF n = 0 THEN
        RETURN format('pg_ara was not enabled on %s', tbl);
    END IF;
    IF NOT pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = tbl), 'USAGE') THEN
        RAISE EXCEPTION 'ara_disable: must be the owner of table % to remove its triggers', tbl
            USING ERRCODE = '42501', HINT = 'Ask the table owner (or a member of its role) to run ara_disable.';
    END IF;
    BEGIN
        EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_insert ON %s', tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_update ON %s', tbl);
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION 'ara_disable: could not lock table % within %: another transaction holds a conflicting lock', tbl, lock_timeout
            USING ERRCODE = '55P03',
                  HINT = 'Nothing was changed. Find the long transaction in pg_stat_activity (and pg_locks), wait for it to end, and call ara_disable again; or pass a longer lock_timeout.';
    END;
    RETURN format('pg_ara disabled on %s: hashes already written stay as they are', tbl);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_disable(regclass, interval) IS
'pg_ara: removes the command_hash triggers from a table (default task). Rows keep the hashes already written; new writes are no longer corrected. Waits at most lock_timeout (default 5s) for its table lock, then fails with 55P03 and changes nothing.';

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

CREATE OR REPLACE FUNCTION @extschema@.ara_status(with_counts boolean DEFAULT false)
RETURNS TABLE (table_name regclass, command_column name, hash_column name, description_column name,
               key text, fingerprint_definitions text[],
               partitioned boolean, estimated_rows bigint, rows_out_of_line bigint)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT t.tgrelid::regclass, cfg.command_column, cfg.hash_column, cfg.description_column,
           cfg.key, cfg.fingerprint_definitions,
           c.relkind = 'p',
           ara_internal.ara_estimated_rows(t.tgrelid::regclass),
           CASE WHEN with_counts THEN (SELECT m.rows_out_of_line FROM @extschema@.ara_hash_mismatches(t.tgrelid::regclass) m) END
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    CROSS JOIN LATERAL ara_internal.ara_config(t.tgrelid::regclass) cfg
    WHERE t.tgname = 'ara_command_hash_insert'
      AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure
      AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_trigger pt ON pt.tgrelid = i.inhparent
                      WHERE i.inhrelid = t.tgrelid AND pt.tgname = t.tgname)
    ORDER BY t.tgrelid::regclass::text;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_status(boolean) IS
'pg_ara: the tables where pg_ara is enabled, their columns, their key (command or fingerprint, and the definitions keyed by fingerprint under a command key), whether partitioned, estimated rows; with_counts => true also counts rows out of line (a full scan of each table).';


-- ==== sql/backfill.sql (as in the 0.3.0 install script) ====
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

-- ==== sql/lookup.sql (as in the 0.3.0 install script) ====
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
    RETURN format('SELECT count(*)::int, %1$I.ara_estimate(w.memory, $7, $8), %1$I.ara_estimate(w.cpu, $7, $9) FROM (%2$s) w',
                  '@extschema@', ara_internal.ara_window_sql(tbl, cols.command_column, cols.hash_column));
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
    OUT memory bigint, OUT cpu bigint, OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint,
    OUT memory_capped boolean, OUT cpu_capped boolean)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    clamped_cpu bigint;
BEGIN
    PERFORM ara_internal.ara_check_lookup_options('ara_resources', as_of, lookback, max_runs, percentile,
        memory_multiplier, cpu_multiplier, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to);
    -- The table is checked (its first time in the session) even for a NULL definition or hash,
    -- which have no history: Flotilla skips ARA for a NULL hash, the run keeps its defaults.
    SELECT w.oom_runs, w.raw_memory, w.raw_cpu INTO oom_runs, raw_memory, raw_cpu
      FROM ara_internal.ara_lookup_window(tbl, definition_id, command_hash, engine, as_of - lookback, as_of,
                                          max_runs, percentile, memory_multiplier, cpu_multiplier) w;
    -- The service's clamps (greatest/least ignore a NULL bound), then cpu to the nearest step.
    memory := CASE WHEN raw_memory IS NOT NULL THEN greatest(min_memory, least(max_memory, raw_memory)) END;
    memory_capped := memory IS DISTINCT FROM raw_memory;
    clamped_cpu := CASE WHEN raw_cpu IS NOT NULL THEN greatest(min_cpu, least(max_cpu, raw_cpu)) END;
    cpu_capped := clamped_cpu IS DISTINCT FROM raw_cpu;
    cpu := CASE WHEN coalesce(cpu_round_to, 0) = 0 THEN clamped_cpu
                ELSE ((clamped_cpu + cpu_round_to / 2) / cpu_round_to) * cpu_round_to END;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_resources(text, text, timestamptz, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer) IS
'pg_ara: Flotilla''s ARA lookup in one call. Exactly one row: memory and cpu (NULL when there is no OOM history or the hash is NULL: the run keeps its defaults), oom_runs, raw_memory/raw_cpu before the clamps, and whether a clamp changed them. The OOM runs (exit_code 137 or exit_reason OOMKilled) of definition_id and command_hash (the hash column ara_enable configured) on engine (NULL: any) queued in [as_of - lookback, as_of); the max_runs most recent of them (Flotilla takes an arbitrary LIMIT 30); memory = ara_estimate(memory, percentile, memory_multiplier) clamped to min_memory..max_memory; cpu likewise, then rounded to the nearest cpu_round_to (0: none). Defaults are Flotilla''s. STABLE, read-only: runs on a standby with SELECT on the table. Fast with the index of ara_index_sql().';

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
    OUT memory bigint, OUT cpu bigint, OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint,
    OUT memory_capped boolean, OUT cpu_capped boolean)
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
    SELECT * INTO memory, cpu, oom_runs, raw_memory, raw_cpu, memory_capped, cpu_capped
      FROM @extschema@.ara_resources(run_definition, run_hash, as_of, tbl, lookback, max_runs, percentile,
                                     memory_multiplier, cpu_multiplier, engine, min_memory, max_memory,
                                     min_cpu, max_cpu, cpu_round_to);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_resources_for_run(text, timestamptz, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer) IS
'pg_ara: ara_resources() for a run already inserted, keyed as Flotilla keys it: the run''s definition_id and its stored hash (the trigger''s, once pg_ara is enabled), as of now by default. An unknown run_id or a NULL stored hash gives one row of NULLs (no history), as Flotilla''s query does. Same options and result as ara_resources().';

CREATE OR REPLACE FUNCTION @extschema@.ara_index_sql(tbl regclass DEFAULT 'task'::text::regclass)
RETURNS SETOF text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
    node record;
    child record;
    key text;
    idx_name name;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command_hash', 'exit_code', 'exit_reason', 'queued_at']::name[], 'ara_index_sql');
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'ara_index_sql: "%" is not a table', tbl USING ERRCODE = '42809',
            HINT = 'Index the table the view reads.';
    END IF;
    key := format('(definition_id, %I, queued_at DESC, run_id DESC) WHERE exit_code = 137 OR exit_reason = ''OOMKilled''',
                  cols.hash_column);
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
        idx_name := left(node.relname, 63 - length('_ara_oom_idx')) || '_ara_oom_idx';
        IF node.isleaf THEN
            RETURN NEXT format('CREATE INDEX CONCURRENTLY IF NOT EXISTS %I ON %I.%I %s',
                               idx_name, node.nspname, node.relname, key);
        ELSE
            RETURN NEXT format('CREATE INDEX IF NOT EXISTS %I ON ONLY %I.%I %s', idx_name, node.nspname, node.relname, key);
            FOR child IN
                SELECT n.nspname, c.relname
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE i.inhparent = node.relid AND c.relkind IN ('r', 'p')
                ORDER BY n.nspname, c.relname
            LOOP
                RETURN NEXT format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I', node.nspname, idx_name,
                                   child.nspname, left(child.relname, 63 - length('_ara_oom_idx')) || '_ara_oom_idx');
            END LOOP;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_index_sql(regclass) IS
'pg_ara: the statements that create the partial index ARA lookups need, (definition_id, <hash>, queued_at DESC, run_id DESC) WHERE exit_code = 137 OR exit_reason = ''OOMKilled'' (small: OOM rows only). CREATE INDEX CONCURRENTLY cannot run inside a function, so it returns them: in psql, SELECT ara_index_sql(''task'') \gexec. A partitioned table gets one concurrent build per partition, then the parent index attached. Idempotent (IF NOT EXISTS).';

-- ==== sql/investigate.sql (as in the 0.3.0 install script) ====
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
    cpu_round_to integer DEFAULT 250)
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
                USING r.definition_id, key.hash, engine, r.queued_at - lookback, r.queued_at, max_runs, r.command
            LOOP
                RETURN NEXT;
            END LOOP;
        END IF;
        SELECT * INTO est FROM @extschema@.ara_resources(r.definition_id, key.hash, r.queued_at, tbl, lookback, max_runs,
            percentile, memory_multiplier, cpu_multiplier, engine, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to);
        pct := NULL; n_commands := NULL;
        IF est.oom_runs > 0 THEN
            EXECUTE format('SELECT %I.ara_estimate(w.memory, $7, 1), count(DISTINCT w.command) FROM (%s) w', '@extschema@', win)
               INTO pct, n_commands
               USING r.definition_id, key.hash, engine, r.queued_at - lookback, r.queued_at, max_runs, percentile;
        END IF;
        section := 'estimate (' || key.label || ')'; run := NULL; queued_at := r.queued_at;
        memory := est.memory; cpu := est.cpu; same_command := NULL;
        detail := CASE
            WHEN key.hash IS NULL THEN 'NULL hash: Flotilla skips ARA, the run keeps its defaults'
            WHEN est.oom_runs = 0 THEN format('hash %s: no OOM runs in [%s, %s): no history, the run keeps its defaults',
                                              key.hash, r.queued_at - lookback, r.queued_at)
            ELSE format('hash %s: %s OOM runs of %s distinct command(s) in [%s, %s); p%s of their memory %s x %s = %s MB%s; cpu %s',
                        key.hash, est.oom_runs, n_commands, r.queued_at - lookback, r.queued_at,
                        percentile * 100, pct, memory_multiplier, est.raw_memory,
                        CASE WHEN est.memory_capped THEN format(', clamped to %s', est.memory) ELSE '' END,
                        est.cpu)
            END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_explain(text, regclass, interval, integer, double precision, numeric, numeric, text, bigint, bigint, bigint, bigint, integer) IS
'pg_ara: why a run got its memory, evaluated as of the run''s own queued_at. Rows: the run (its requested memory/cpu, stored hash and its command''s hash); each OOM run its lookup window held under the stored hash (run, queued_at, memory, cpu, same_command: whether it ran this run''s command); the estimate under the stored hash; and, where they differ, the OOM runs and estimate under the command''s own hash. Same options as ara_resources(). An unknown run is an error (P0002).';

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
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason',
              'engine', 'queued_at']::name[], 'ara_growth');
    PERFORM ara_internal.ara_check_lookup_options('ara_growth', now(), lookback, max_runs, percentile,
        memory_multiplier, 1.25, min_memory, max_memory, NULL, NULL, 0);
    -- Each run of the key with what ARA said as of its queued_at; the bar is logarithmic from
    -- min_memory to max_memory (40 characters), so each x1.75 step adds the same length.
    RETURN QUERY EXECUTE format($q$
        SELECT t.run_id::text, t.queued_at, t.memory::bigint,
               coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false),
               a.memory, a.oom_runs,
               CASE WHEN a.oom_runs = 0 THEN 'no OOM history: defaults'
                    ELSE format('%%s OOM runs -> %%s%%s', a.oom_runs, a.raw_memory,
                                CASE WHEN a.memory_capped THEN ' capped to ' || a.memory ELSE '' END) END,
               repeat('#', greatest(0, least(40, round(40 * ln(greatest(t.memory, 1)::numeric / greatest($6, 1))
                                                        / ln(greatest($7, $6 * 2, 2)::numeric / greatest($6, 1)))::int)))
               || CASE WHEN t.memory >= $7 THEN ' CAP' ELSE '' END
          FROM %1$s t
         CROSS JOIN LATERAL %2$I.ara_resources(t.definition_id::text, t.%3$I::text, t.queued_at, %4$L::regclass,
                                               $8, $9, $10, $11, 1.25, $3, $6, $7) a
         WHERE t.definition_id = $4 AND t.%3$I = $5 AND ($3::text IS NULL OR t.engine = $3)
           AND %5$s
         ORDER BY t.queued_at, t.run_id$q$,
        tbl, '@extschema@', cols.hash_column, tbl::oid, ara_internal.ara_period_sql())
    USING since, until, engine, definition_id, command_hash, min_memory, max_memory, lookback, max_runs,
          percentile, memory_multiplier;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_growth(text, text, regclass, timestamptz, timestamptz, interval, integer, double precision, numeric, text, bigint, bigint) IS
'pg_ara: the successive runs of one (definition_id, command_hash) key in queued_at order: requested memory, whether it was OOM-killed, what ARA said as of its queued_at (ara_memory_mb, from oom_runs_before OOM runs) and a bar, logarithmic from min_memory to max_memory, so that compounding x1.75 steps toward the cap are visible at a glance (CAP at the cap). since/until filter queued_at. One lookup per run: narrow long histories with since/until.';

-- ==== sql/fingerprint.sql (as in the 0.3.0 install script) ====
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
