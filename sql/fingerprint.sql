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
