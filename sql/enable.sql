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

