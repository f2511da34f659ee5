-- pg_ara 0.5.0 -> 0.6.0
-- The estimate in two steps, for Citus and for keeping (issue 19): a type ara_counts (a multiset
-- of bigint values), the aggregates ara_counts(value) and ara_rollup(counts), and
-- ara_estimate(counts [, percentile [, multiplier]]) and ara_total(counts) over it.
-- ara_estimate(ara_counts(v), p, m) equals ara_estimate(v, p, m); Citus splits it across its
-- workers (its state type is concrete, not internal). ara_metrics() and ara_compare() answer on
-- a table Citus distributes by a column other than definition_id (the OOM history read from a
-- materialised CTE there). On a table Citus manages, ara_backfill's lock_timeout now holds on the
-- workers too, where its row locks are taken. No lock on your tables.
-- body: counts enable backfill monitoring
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.6.0'" to load this file. \quit

-- ==== sql/counts.sql (as in the 0.6.0 install script) ====
-- ara_counts: a multiset of bigint values (value -> how many times), the concrete state of a
-- two-step form of ara_estimate() that Citus splits across its workers and users may keep and roll
-- up (src/counts.rs, src/core/counts.rs; docs/ara_estimate.md). Created once, by the install
-- script or the 0.5.0 -> 0.6.0 upgrade: not CREATE OR REPLACE, so no later upgrade reruns it.

CREATE TYPE ara_counts;
CREATE FUNCTION ara_internal.ara_counts_in(cstring) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_in';
CREATE FUNCTION ara_internal.ara_counts_out(ara_counts) RETURNS cstring
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_out';
CREATE FUNCTION ara_internal.ara_counts_recv(internal) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_recv';
CREATE FUNCTION ara_internal.ara_counts_send(ara_counts) RETURNS bytea
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_send';
CREATE TYPE ara_counts (
    INPUT = ara_internal.ara_counts_in, OUTPUT = ara_internal.ara_counts_out,
    RECEIVE = ara_internal.ara_counts_recv, SEND = ara_internal.ara_counts_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended
);

CREATE FUNCTION ara_internal.ara_counts_trans("state" ara_counts, "value" bigint) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_trans';
CREATE FUNCTION ara_internal.ara_counts_merge("state" ara_counts, "counts" ara_counts) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_merge';
CREATE FUNCTION ara_internal.ara_counts_final("state" ara_counts) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_final';

CREATE AGGREGATE ara_counts("value" bigint) (
    SFUNC = ara_internal.ara_counts_trans, STYPE = ara_counts, INITCOND = '{}',
    FINALFUNC = ara_internal.ara_counts_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_internal.ara_counts_merge,
    PARALLEL = SAFE
);
CREATE AGGREGATE ara_rollup("counts" ara_counts) (
    SFUNC = ara_internal.ara_counts_merge, STYPE = ara_counts, INITCOND = '{}',
    FINALFUNC = ara_internal.ara_counts_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_internal.ara_counts_merge,
    PARALLEL = SAFE
);

CREATE FUNCTION ara_estimate("counts" ara_counts) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_estimate("counts" ara_counts, "percentile" double precision) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_estimate("counts" ara_counts, "percentile" double precision, "multiplier" numeric)
RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_total("counts" ara_counts) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_total';

COMMENT ON TYPE ara_counts IS
'pg_ara: a multiset of bigint values, one (value, count) pair per distinct value; text form ''{4096:2,8192:1}''. Made by ara_counts(value), merged by ara_rollup(counts), read by ara_estimate(counts, percentile, multiplier) and ara_total(counts).';
COMMENT ON AGGREGATE ara_counts(bigint) IS
'pg_ara: the multiset of the group''s values (NULLs skipped; ''{}'' for none). ara_estimate(ara_counts(v), p, m) = ara_estimate(v, p, m) exactly, and Citus runs it on its workers (each sends one pair per distinct value) where ara_estimate(v, ...) ships every row.';
COMMENT ON AGGREGATE ara_rollup(ara_counts) IS
'pg_ara: the union of multisets (counts added), e.g. per-day ara_counts rolled up to a week; ara_estimate(ara_rollup(c), ...) equals the estimate over all their values.';
COMMENT ON FUNCTION ara_estimate(ara_counts) IS
'pg_ara: cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint) over the values the multiset counts, exactly as ara_estimate(value); NULL when it is empty.';
COMMENT ON FUNCTION ara_estimate(ara_counts, double precision) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint) over the multiset; percentile in [0, 1] (else 22003); NULL when empty or the percentile is NULL.';
COMMENT ON FUNCTION ara_estimate(ara_counts, double precision, numeric) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint) over the multiset, exactly as the aggregate ara_estimate(value, percentile, multiplier) (decimal multiplication, half away from zero); NULL when empty or an argument is NULL; a result outside bigint is 22003.';
COMMENT ON FUNCTION ara_total(ara_counts) IS
'pg_ara: how many values (rows) the multiset counts.';
COMMENT ON FUNCTION ara_internal.ara_counts_in(cstring) IS 'pg_ara: input function of type ara_counts (''{value:count,...}''; 22P02 when malformed); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_out(ara_counts) IS 'pg_ara: output function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_recv(internal) IS 'pg_ara: binary input function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_send(ara_counts) IS 'pg_ara: binary output function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_trans(ara_counts, bigint) IS 'pg_ara: transition function of ara_counts(bigint); counts in place when called by the aggregate; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_merge(ara_counts, ara_counts) IS 'pg_ara: the union of two multisets: combine function of ara_counts() and ara_rollup(), transition of ara_rollup(); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_final(ara_counts) IS 'pg_ara: final function of ara_counts() and ara_rollup() (the canonical value); not for direct use.';

-- ==== sql/enable.sql (as in the 0.6.0 install script) ====
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


-- ==== sql/backfill.sql (as in the 0.6.0 install script) ====
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

-- ==== sql/monitoring.sql (as in the 0.6.0 install script) ====
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
