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
