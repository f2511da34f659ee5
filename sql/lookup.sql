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
    censored jsonb;
BEGIN
    PERFORM ara_internal.ara_check_lookup_options('ara_resources', as_of, lookback, max_runs, percentile,
        memory_multiplier, cpu_multiplier, min_memory, max_memory, min_cpu, max_cpu, cpu_round_to);
    -- The policy: the caller's, else the one ara_set_policy() chose for the table or definition,
    -- else Flotilla's; right_size's parameters likewise, else p95 x 1.2 over 7 days.
    SELECT c.policy, c.peak_percentile, c.headroom, c.peak_lookback INTO sized_by, peak_percentile, headroom, peak_lookback
      FROM ara_internal.ara_sizing_for(tbl, definition_id, policy, peak_percentile, headroom, peak_lookback,
                                       'ara_resources') c;
    IF sized_by IN ('oom', 'censored') THEN
        -- The table is checked (its first time in the session) even for a NULL definition or hash,
        -- which have no history: Flotilla skips ARA for a NULL hash, the run keeps its defaults.
        SELECT w.oom_runs, w.raw_memory, w.raw_cpu INTO oom_runs, raw_memory, raw_cpu
          FROM ara_internal.ara_lookup_window(tbl, definition_id, command_hash, engine, as_of - lookback, as_of,
                                              max_runs, percentile, memory_multiplier, cpu_multiplier) w;
        IF sized_by = 'censored' THEN
            -- Memory from the need as a right-censored distribution over [as_of - peak_lookback,
            -- as_of); cpu stays Flotilla's (an OOM kill says nothing about cpu).
            IF definition_id IS NOT NULL AND command_hash IS NOT NULL THEN
                EXECUTE ara_internal.ara_censored_sql(tbl) INTO censored
                  USING definition_id, command_hash, engine, as_of - peak_lookback, as_of, 1 - peak_percentile,
                        headroom, memory_multiplier;
            END IF;
            raw_memory := (censored->>'raw')::bigint;
            peak_runs := coalesce((censored->>'exact')::integer, 0);
            peak_memory := (censored->>'quantile')::bigint;
            oom_floor := coalesce((censored->>'floor')::bigint + 1, memory_multiplier * (censored->>'fallback_from')::bigint);
        END IF;
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
'pg_ara: Flotilla''s ARA lookup in one call. Exactly one row: memory and cpu (NULL when there is no history or the hash is NULL: the run keeps its defaults), oom_runs, raw_memory/raw_cpu before the clamps, whether a clamp changed them, and sized_by, the policy applied. policy ''oom'' (Flotilla''s; the default unless ara_set_policy chose otherwise for the table or definition): the OOM runs (exit_code 137 or exit_reason OOMKilled) of definition_id and command_hash (the hash column ara_enable configured) on engine (NULL: any) queued in [as_of - lookback, as_of), the max_runs most recent (Flotilla takes an arbitrary LIMIT 30); memory = ara_estimate(memory, percentile, memory_multiplier) clamped to min_memory..max_memory; cpu likewise, rounded to the nearest cpu_round_to (0: none). policy ''right_size'': over [as_of - peak_lookback, as_of), peak_percentile of the successful runs'' max_memory_used (max_cpu_used) x headroom, never below the largest of the max_runs most recent OOM-killed requests x memory_multiplier (cpu_multiplier); evidence in peak_runs, peak_memory (the percentile, before headroom) and oom_floor; NULL parameters: as ara_set_policy chose, else 0.95, 1.2, 7 days. policy ''censored'' (memory; cpu as ''oom''): over [as_of - peak_lookback, as_of), the key''s 200 most recent observations, successful runs'' peaks as needs and OOM-killed requests as needs above them, weighted by age (half-life 3 days); memory = the need''s peak_percentile quantile (Kaplan-Meier; 0.95: an OOM rate of 5%) x headroom, or where the kills leave it unknown the largest killed request x memory_multiplier, never at or below a request killed in the last day; evidence in peak_runs (measured needs), peak_memory (the quantile) and oom_floor; NULL parameters: as chosen, else 0.95, 1.05, 14 days. ara_explain() shows the evidence. STABLE, read-only: runs on a standby with SELECT on the table. Fast with the index of ara_index_sql().';

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
         WHERE EXISTS (SELECT 1 FROM @extschema@.ara_sizing s WHERE s.table_name = tbl AND s.policy IN ('right_size', 'censored'))
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
'pg_ara: the statements that create the partial indexes ARA lookups need: (definition_id, <hash>, queued_at DESC, run_id DESC) WHERE exit_code = 137 OR exit_reason = ''OOMKilled'' (small: OOM rows only); and, once ara_set_policy() chose right_size or censored for the table or one of its definitions, (definition_id, <hash>, queued_at) INCLUDE (max_memory_used, max_cpu_used) WHERE exit_code = 0 AND max_memory_used IS NOT NULL for the peaks it reads. CREATE INDEX CONCURRENTLY cannot run inside a function, so it returns them: in psql, SELECT ara_index_sql(''task'') \gexec. A partitioned table gets one concurrent build per partition, then the parent index attached. Idempotent (IF NOT EXISTS).';
