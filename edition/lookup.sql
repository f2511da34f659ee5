-- SQL edition: the twins of the kept-plan lookups of src/lookup.rs, same names, arguments and
-- result columns. Each runs the query the shared SQL writes for the table (ara_internal.ara_lookup_sql()
-- or ara_right_size_sql(), which check the table and raise their errors) with PL/pgSQL's EXECUTE:
-- planned on every call where the extension keeps the plan for the session.

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

CREATE OR REPLACE FUNCTION ara_internal.ara_lookup_window(tbl regclass, definition_id text, command_hash text,
    engine text, window_from timestamptz, window_until timestamptz, max_runs integer, percentile double precision,
    memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_resources: the table must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the task table, e.g. tbl => ''task''.';
    END IF;
    q := ara_internal.ara_lookup_sql(tbl);
    oom_runs := 0;
    -- A NULL definition or hash has no history (Flotilla skips ARA): the table was checked above.
    IF definition_id IS NULL OR command_hash IS NULL THEN
        RETURN;
    END IF;
    EXECUTE q INTO oom_runs, raw_memory, raw_cpu
      USING definition_id, command_hash, engine, window_from, window_until, max_runs, percentile,
            memory_multiplier, cpu_multiplier;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_lookup_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric) IS
'pg_ara internal (SQL edition): the window query of ara_resources() (ara_internal.ara_lookup_sql()) run with EXECUTE; oom_runs, raw_memory, raw_cpu. Not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_right_size_window(tbl regclass, definition_id text, command_hash text,
    engine text, window_from timestamptz, window_until timestamptz, max_runs integer, peak_percentile double precision,
    headroom numeric, memory_multiplier numeric, cpu_multiplier numeric,
    OUT oom_runs integer, OUT oom_floor_memory bigint, OUT oom_floor_cpu bigint, OUT peak_runs integer,
    OUT peak_memory bigint, OUT peak_cpu bigint, OUT raw_memory bigint, OUT raw_cpu bigint)
RETURNS record
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_resources: the table must not be NULL' USING ERRCODE = '22004',
            HINT = 'Pass the task table, e.g. tbl => ''task''.';
    END IF;
    q := ara_internal.ara_right_size_sql(tbl);
    oom_runs := 0;
    peak_runs := 0;
    IF definition_id IS NULL OR command_hash IS NULL THEN
        RETURN;
    END IF;
    EXECUTE q INTO oom_runs, oom_floor_memory, oom_floor_cpu, peak_runs, peak_memory, peak_cpu, raw_memory, raw_cpu
      USING definition_id, command_hash, engine, window_from, window_until, max_runs, peak_percentile, headroom,
            memory_multiplier, cpu_multiplier;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_right_size_window(regclass, text, text, text, timestamptz, timestamptz, integer, double precision, numeric, numeric, numeric) IS
'pg_ara internal (SQL edition): the right_size query of ara_resources() (ara_internal.ara_right_size_sql()) run with EXECUTE: the OOM floor (oom_runs, largest request x multiplier), the peaks (peak_runs, percentile), raw memory and cpu. Not for direct use.';
