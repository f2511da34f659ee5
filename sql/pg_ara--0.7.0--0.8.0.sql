-- pg_ara 0.7.0 -> 0.8.0
-- Tuning, part 2 (issue 28, docs/simulate.md "Peer policies"): ara_simulate() and ara_simulate_runs() replay
-- the policies other tools use beside Flotilla's (feed 'vpa': the Kubernetes VPA recommender's target; 'krr':
-- Robusta KRR's simple strategy; 'retry': retry on OOM at request x attempt) and 'censored' (the need as a
-- right-censored distribution, at a target OOM rate), grouped by key or by definition; the default grid adds
-- six of them. The replay aggregate's C functions keep their signatures (new policy fields in its jsonb).
-- The lookup policy 'censored' (ara_resources, ara_set_policy, ara_explain, ara_growth; docs/lookup.md):
-- a new aggregate ara_internal.ara_censored, ara_sizing takes the policy (its two CHECK constraints,
-- replaced under the same names). ara_set_policy()'s parameter defaults are now NULL (each policy's own
-- defaults; right_size's are unchanged). ara_tune() recommends a policy per definition within an OOM budget.
-- ara_state_import() refuses, in an edition without it, a sizing choice it cannot apply (the SQL edition: censored).
-- ara_internal.ara_policies() returns the new options column, so it is dropped and made again; nothing
-- public changes its signature. No lock on your tables (ara_sizing is pg_ara's own, small).
-- body: lookup sizing investigate simulate tune state
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.8.0'" to load this file. \quit

DROP FUNCTION ara_internal.ara_policies(jsonb);
ALTER TABLE @extschema@.ara_sizing
    DROP CONSTRAINT ara_sizing_policy_check,
    ADD CONSTRAINT ara_sizing_policy_check CHECK (policy IN ('oom', 'right_size', 'censored')),
    DROP CONSTRAINT ara_sizing_check,
    ADD CONSTRAINT ara_sizing_check
        CHECK ((policy IN ('right_size', 'censored')) = (peak_percentile IS NOT NULL AND headroom IS NOT NULL AND peak_lookback IS NOT NULL));
COMMENT ON TABLE @extschema@.ara_sizing IS
'pg_ara: the sizing policy ara_resources() applies when its caller gives none, per table (definition_id NULL) or definition (overrides the table''s): ''oom'' (Flotilla: OOM-killed runs only, the default without a row) or ''right_size'' (successful runs'' measured peaks: peak_percentile x headroom over peak_lookback, never below the largest recent OOM request x the OOM multiplier) or ''censored'' (the need as a right-censored distribution over peak_lookback: its peak_percentile quantile x headroom, peak_percentile = 1 - the OOM rate aimed at). Written by ara_set_policy().';
-- compiled extension only {
-- The aggregate behind the lookup policy 'censored' (src/censored.rs).
CREATE FUNCTION ara_internal.ara_censored_trans(state internal, value bigint, exact boolean, at_us bigint, now_us bigint,
    target double precision, headroom text, fallback text)
RETURNS internal IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_censored_trans_wrapper';
CREATE FUNCTION ara_internal.ara_censored_final(state internal)
RETURNS jsonb IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_censored_final_wrapper';
CREATE AGGREGATE ara_internal.ara_censored(value bigint, exact boolean, at_us bigint, now_us bigint,
    target double precision, headroom text, fallback text) (
    SFUNC = ara_internal.ara_censored_trans, STYPE = internal,
    FINALFUNC = ara_internal.ara_censored_final, FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON FUNCTION ara_internal.ara_censored_trans(internal, bigint, boolean, bigint, bigint, double precision, text, text) IS
'pg_ara internal: transition function of ara_internal.ara_censored, behind ara_resources(..., policy => ''censored''); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_censored_final(internal) IS
'pg_ara internal: final function of ara_internal.ara_censored (jsonb: raw, quantile, fallback_from, floor, exact, censored, effective); not for direct use.';
COMMENT ON AGGREGATE ara_internal.ara_censored(bigint, boolean, bigint, bigint, double precision, text, text) IS
'pg_ara internal: the censored-need request from one key''s window (measured needs exact, killed requests right-censored, weighted by age, half-life 3 days; the need''s (1 - target) quantile x headroom, else the largest kill x fallback; above any kill of the last day), rows given ORDER BY queue time; jsonb with the evidence. Used by ara_resources() and ara_explain().';
-- }

-- ==== sql/lookup.sql (as in the 0.8.0 install script) ====
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

-- ==== sql/sizing.sql (as in the 0.8.0 install script) ====
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
    IF given_policy IS NOT NULL AND given_policy NOT IN ('oom', 'right_size', 'censored') THEN
        RAISE EXCEPTION '%: policy must be ''oom'', ''right_size'' or ''censored'' (or NULL: as ara_set_policy chose), got %',
                caller, quote_literal(given_policy)
            USING ERRCODE = '22023',
                  HINT = 'oom: Flotilla''s ARA, from OOM-killed runs; right_size: from successful runs'' measured peaks, with an OOM floor; censored: the need''s quantile at a target OOM rate.';
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
    ELSIF policy = 'censored' THEN
        peak_percentile := coalesce(given_percentile, peak_percentile, 0.95);
        headroom := coalesce(given_headroom, headroom, 1.05);
        peak_lookback := coalesce(given_lookback, peak_lookback, '14 days');
        PERFORM ara_internal.ara_check_censored(caller, peak_percentile, headroom, peak_lookback);
    END IF;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_sizing_for(regclass, text, text, double precision, numeric, interval, text) IS
'pg_ara internal: the sizing policy a lookup of a table''s definition applies (the given one, else its ara_sizing row, else the table''s, else ''oom''), its parameters (given, else chosen, else right_size 0.95, 1.2, 7 days; censored 0.95, 1.05, 14 days; checked) and where it comes from (22023 for an unknown policy).';

-- Checks censored's parameters for caller: the need's quantile strictly between 0 and 1 (1 - the OOM
-- rate aimed at), then as right_size's; and that this edition has the policy.
CREATE OR REPLACE FUNCTION ara_internal.ara_check_censored(caller text, peak_percentile double precision,
    headroom numeric, peak_lookback interval)
RETURNS void
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF 'censored' <> ALL (ara_internal.ara_replay_feeds()) THEN
        RAISE EXCEPTION '%: the censored policy is not in this edition of pg_ara', caller USING ERRCODE = '0A000',
            HINT = 'Use right_size, or the compiled extension (docs/managed.md).';
    END IF;
    IF peak_percentile <= 0 OR peak_percentile >= 1 THEN
        RAISE EXCEPTION '%: under censored, peak_percentile is the need''s quantile, 1 - the OOM rate aimed at: strictly between 0 and 1, got %',
                        caller, peak_percentile
            USING ERRCODE = '22003', HINT = 'censored defaults to peak_percentile => 0.95 (one run in twenty killed).';
    END IF;
    PERFORM ara_internal.ara_check_right_size(caller, peak_percentile, headroom, peak_lookback);
END
$$;
COMMENT ON FUNCTION ara_internal.ara_check_censored(text, double precision, numeric, interval) IS
'pg_ara internal: validates censored''s peak_percentile (the need''s quantile: 1 - the OOM rate aimed at), headroom and peak_lookback for ara_set_policy, ara_resources and ara_explain (0A000 in an edition without it, 22004, 22003, 22023).';

-- The whole query of one censored lookup on tbl, after checking tbl: the key's (definition $1, hash
-- $2, engine $3, NULL: any) 200 most recent observations queued in [$4, $5): OOM-killed runs' requests
-- (right-censored needs) and successful runs' measured peaks (needs), each scan one of the partial
-- indexes ara_index_sql() recommends, into ara_internal.ara_censored() as of $5 with $6 the OOM rate
-- aimed at, $7 the headroom, $8 the fallback multiplier. One jsonb: the answer with its evidence.
CREATE OR REPLACE FUNCTION ara_internal.ara_censored_sql(tbl regclass)
RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['run_id', 'definition_id', 'command', 'command_hash', 'memory', 'exit_code', 'exit_reason',
              'engine', 'queued_at', 'max_memory_used']::name[], 'ara_resources');
    RETURN format($q$SELECT ara_internal.ara_censored(c.v, c.exact, c.at, (extract(epoch FROM $5::timestamptz) * 1000000)::bigint,
           $6::float8, $7::numeric::text, $8::numeric::text ORDER BY c.at, c.id)
  FROM (SELECT u.* FROM (
          (SELECT t.memory::bigint AS v, false AS exact, (extract(epoch FROM t.queued_at) * 1000000)::bigint AS at,
                  t.run_id::text AS id
             FROM %1$s t
            WHERE t.definition_id = $1 AND t.%2$I = $2 AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled')
              AND t.memory IS NOT NULL AND ($3::text IS NULL OR t.engine = $3) AND t.queued_at >= $4 AND t.queued_at < $5
            ORDER BY t.queued_at DESC, t.run_id DESC LIMIT 200)
          UNION ALL
          (SELECT t.max_memory_used::bigint, true, (extract(epoch FROM t.queued_at) * 1000000)::bigint, t.run_id::text
             FROM %1$s t
            WHERE t.definition_id = $1 AND t.%2$I = $2 AND t.exit_code = 0 AND t.exit_reason IS DISTINCT FROM 'OOMKilled'
              AND t.max_memory_used IS NOT NULL AND ($3::text IS NULL OR t.engine = $3) AND t.queued_at >= $4 AND t.queued_at < $5
            ORDER BY t.queued_at DESC, t.run_id DESC LIMIT 200)) u
        ORDER BY u.at DESC, u.id DESC LIMIT 200) c$q$, tbl, cols.hash_column);
END
$$;
COMMENT ON FUNCTION ara_internal.ara_censored_sql(regclass) IS
'pg_ara internal: the query of one censored lookup on a table (parameters: definition, hash, engine, from, until, OOM rate aimed at, headroom, fallback multiplier): the key''s 200 most recent observations into ara_internal.ara_censored(); after checking the table.';

-- A sizing choice as ara_set_policy() and ara_tune() name it.
CREATE OR REPLACE FUNCTION ara_internal.ara_policy_label(policy text, peak_percentile double precision,
    headroom numeric, peak_lookback interval)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE policy
        WHEN 'right_size' THEN format('right_size (p%s of peaks x %s over %s)', peak_percentile * 100, headroom, peak_lookback)
        WHEN 'censored' THEN format('censored (OOM rate %s%% x %s over %s)',
                                    round(((1 - peak_percentile) * 100)::numeric, 3)::float8, headroom, peak_lookback)
        ELSE policy END
$$;
COMMENT ON FUNCTION ara_internal.ara_policy_label(text, double precision, numeric, interval) IS
'pg_ara internal: a sizing choice as ara_set_policy() and ara_tune() name it, e.g. "censored (OOM rate 5% x 1.05 over 14 days)".';

CREATE OR REPLACE FUNCTION @extschema@.ara_set_policy(
    tbl regclass,
    policy text,
    definitions text[] DEFAULT NULL,
    peak_percentile double precision DEFAULT NULL,
    headroom numeric DEFAULT NULL,
    peak_lookback interval DEFAULT NULL)
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
    IF policy NOT IN ('oom', 'right_size', 'censored') THEN
        RAISE EXCEPTION 'ara_set_policy: policy must be ''oom'', ''right_size'' or ''censored'', got %', quote_literal(policy)
            USING ERRCODE = '22023',
                  HINT = 'oom: Flotilla''s ARA (OOM-killed runs only, the default); right_size: successful runs'' measured peaks with an OOM floor; censored: the need''s quantile at a target OOM rate.';
    END IF;
    -- right_size here: a policy with parameters (right_size, censored), each with its defaults.
    right_size := policy IN ('right_size', 'censored');
    peak_percentile := coalesce(peak_percentile, 0.95);
    headroom := coalesce(headroom, CASE policy WHEN 'censored' THEN 1.05 ELSE 1.2 END);
    peak_lookback := coalesce(peak_lookback, CASE policy WHEN 'censored' THEN interval '14 days' ELSE interval '7 days' END);
    -- The table must be one ara_resources() can read: with right_size, with its peak columns.
    PERFORM ara_internal.ara_columns(tbl, CASE WHEN right_size
        THEN ARRAY['definition_id', 'command_hash', 'memory', 'cpu', 'exit_code', 'exit_reason', 'queued_at',
                   'max_memory_used', 'max_cpu_used']::name[]
        ELSE ARRAY['definition_id']::name[] END, 'ara_set_policy');
    IF NOT has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'ara_set_policy: permission denied for table % (choosing its sizing policy takes the privilege ara_set_key needs)', tbl
            USING ERRCODE = '42501', HINT = format('Run it as the table''s owner, or GRANT TRIGGER ON %s TO %I.', tbl, current_user);
    END IF;
    IF policy = 'right_size' THEN
        PERFORM ara_internal.ara_check_right_size('ara_set_policy', peak_percentile, headroom, peak_lookback);
    ELSIF policy = 'censored' THEN
        PERFORM ara_internal.ara_check_censored('ara_set_policy', peak_percentile, headroom, peak_lookback);
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
        RAISE NOTICE 'ara_set_policy: % reads the measured peaks of each key''s successful runs; without their index each lookup scans the definition''s runs', policy
            USING HINT = format('Create it without blocking writes: SELECT ara_index_sql(%L) \gexec', tbl::text);
    END IF;

    SELECT coalesce(max(CASE WHEN s.definition_id IS NULL THEN ara_internal.ara_policy_label(s.policy, s.peak_percentile, s.headroom, s.peak_lookback) END),
                    'oom (Flotilla)'),
           string_agg(format('%s: %s', s.definition_id,
                             CASE s.policy WHEN 'oom' THEN 'oom'
                                  ELSE ara_internal.ara_policy_label(s.policy, s.peak_percentile, s.headroom, s.peak_lookback) END),
                      '; ' ORDER BY s.definition_id)
                FILTER (WHERE s.definition_id IS NOT NULL)
      INTO table_policy, overrides
      FROM @extschema@.ara_sizing s WHERE s.table_name = tbl;
    RETURN format('%s: %s%s', tbl, table_policy, coalesce('; by definition: ' || overrides, ''));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_set_policy(regclass, text, text[], double precision, numeric, interval) IS
'pg_ara: chooses how ara_resources() sizes the runs of a table when its caller gives no policy: ara_set_policy(tbl, ''right_size'') for the whole table, with definitions => ARRAY[...] for those definitions only (overriding the table''s choice; ''oom'' opts them out); ara_set_policy(tbl, ''oom'') puts the whole table back on Flotilla''s ARA and clears every per-definition choice. right_size: peak_percentile (0.95) of the measured peaks (max_memory_used, max_cpu_used) of the key''s successful runs over peak_lookback (7 days) x headroom (1.2), never below the largest of the key''s recent OOM-killed requests x the OOM multiplier. censored: the need as a right-censored distribution (measured peaks exact, OOM-killed requests as needs above them, weighted by age) over peak_lookback (14 days), its peak_percentile (0.95 = an OOM rate of 5%) quantile x headroom (1.05); memory only, cpu as Flotilla''s (docs/lookup.md). ara_tune() writes these calls for you. Takes TRIGGER on the table (as ara_set_key), no lock on it; stored in ara_sizing (kept by pg_dump). Returns the table''s choices.';

-- ==== sql/investigate.sql (as in the 0.8.0 install script) ====
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
    evidence jsonb;
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
    win_from := r.queued_at - CASE WHEN chosen.policy IN ('right_size', 'censored') THEN chosen.peak_lookback ELSE lookback END;
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
        pct := NULL; n_commands := NULL; evidence := NULL;
        IF est.sized_by = 'censored' AND key.hash IS NOT NULL THEN
            EXECUTE ara_internal.ara_censored_sql(tbl) INTO evidence
              USING r.definition_id, key.hash, engine, win_from, r.queued_at, 1 - chosen.peak_percentile, chosen.headroom,
                    memory_multiplier;
        END IF;
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
                format('%s: hash %s, in [%s, %s): %s; %s; raw %s%s; cpu %s',
                       how, key.hash, win_from, r.queued_at,
                       CASE WHEN est.peak_runs = 0 THEN 'no successful run with a measured peak'
                            ELSE format('%s successful runs, p%s of their peaks %s MB x %s',
                                        est.peak_runs, chosen.peak_percentile * 100, est.peak_memory, chosen.headroom) END,
                       CASE WHEN est.oom_runs = 0 THEN 'no OOM runs (no floor)'
                            ELSE format('OOM floor: largest of %s OOM requests x %s = %s MB', est.oom_runs,
                                        memory_multiplier, est.oom_floor) END,
                       coalesce(est.raw_memory || ' MB', 'none: no history, the run keeps its defaults'),
                       CASE WHEN est.memory_capped AND est.memory IS NOT NULL THEN format(', clamped to %s', est.memory) ELSE '' END,
                       coalesce(est.cpu::text, 'none'))
            WHEN est.sized_by = 'censored' THEN
                format('%s: hash %s, in [%s, %s): %s; raw %s%s; cpu %s (as Flotilla''s)',
                       how, key.hash, win_from, r.queued_at,
                       CASE WHEN evidence IS NULL THEN 'no successful run with a measured peak and no OOM-killed request'
                            ELSE format('%s measured needs and %s OOM-killed requests (needs above them), weighted by age (effective %s runs); %s%s',
                                        evidence->>'exact', evidence->>'censored', evidence->>'effective',
                                        CASE WHEN evidence->>'quantile' IS NOT NULL
                                             THEN format('the need''s %s quantile %s MB x %s (an OOM rate of %s%%)',
                                                         chosen.peak_percentile, evidence->>'quantile', chosen.headroom,
                                                         round(((1 - chosen.peak_percentile) * 100)::numeric, 3)::float8)
                                             ELSE format('kills leave the need''s %s quantile unknown: the largest killed request %s MB x %s',
                                                         chosen.peak_percentile, evidence->>'fallback_from', memory_multiplier) END,
                                        CASE WHEN evidence->>'floor' IS NOT NULL
                                             THEN format('; kept above %s MB, killed in the last day', evidence->>'floor') ELSE '' END) END,
                       coalesce(est.raw_memory || ' MB', 'none: no history, the run keeps its defaults'),
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
                     WHEN a.raw_memory IS NULL AND a.sized_by = 'censored' THEN 'censored: no measured need or OOM history: defaults'
                     WHEN a.sized_by = 'censored'
                     THEN format('censored: %s measured needs, quantile %s%s -> %s%s', a.peak_runs, coalesce(a.peak_memory::text, 'beyond them'),
                                 coalesce(', floor ' || a.oom_floor, ''), a.raw_memory,
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

-- ==== sql/simulate.sql (as in the 0.8.0 install script) ====
-- pg_ara: tuning ARA from history. ara_simulate() replays the runs of a period under sizing
-- policies (Flotilla's own first, as the baseline) and says what each would have cost: OOM kills
-- (a lower and an upper bound: an OOM-killed run's true need is unknown) and memory requested,
-- used and wasted. The replay itself is one pass in Rust (src/core/replay.rs, whose head lists the
-- assumptions the figures rest on; docs/simulate.md).

-- The feeds this edition's replay takes (the SQL edition replaces this function: it replays oom,
-- peaks and both only).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_feeds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['oom', 'peaks', 'both', 'vpa', 'krr', 'retry', 'censored'] $$;
COMMENT ON FUNCTION ara_internal.ara_replay_feeds() IS
'pg_ara internal: the policy feeds this edition''s replay takes (the compiled extension: all of them).';

-- The default grid of ara_simulate(): Flotilla's knobs, sizing from peaks, the policies other tools
-- use, the censored policy; those this edition's replay does not take are left out.
CREATE OR REPLACE FUNCTION ara_internal.ara_policy_grid()
RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(g ORDER BY o), '[]')
      FROM jsonb_array_elements($grid$[
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
        {"name": "both p99 x1.5, OOM x1.75, 7 days", "feed": "both", "percentile": 0.99, "multiplier": 1.5, "lookback": "7 days"},
        {"name": "vpa (per definition)", "feed": "vpa"},
        {"name": "vpa (per key)", "feed": "vpa", "group": "key"},
        {"name": "krr (per definition)", "feed": "krr"},
        {"name": "retry x attempt (3 attempts)", "feed": "retry"},
        {"name": "censored 5% x1.05", "feed": "censored"},
        {"name": "censored 1% x1.05", "feed": "censored", "target": 0.01}
    ]$grid$::jsonb) WITH ORDINALITY AS x(g, o)
     WHERE coalesce(g->>'feed', 'oom') = ANY (ara_internal.ara_replay_feeds())
$$;
COMMENT ON FUNCTION ara_internal.ara_policy_grid() IS
'pg_ara internal: the policies ara_simulate() replays when given none (docs/simulate.md), as far as this edition''s replay takes them.';

-- The policies to replay: the baseline (Flotilla's ARA) first, then those given (jsonb array of
-- objects), else a default grid; checked, with defaults filled in. feed 'oom': OOM-killed runs'
-- requests (Flotilla); 'peaks': successful runs' measured peaks (max_memory_used); 'both': peaks,
-- never below the largest recent OOM request x oom_multiplier. The policies other tools use (issue 28;
-- constants and simplifications: docs/simulate.md, "Peer policies"): 'vpa' (the Kubernetes VPA
-- recommender's target), 'krr' (Robusta KRR's simple strategy), 'retry' (retry on OOM at request x
-- attempt, as Nextflow's memory * task.attempt); and 'censored' (the need as a right-censored
-- distribution, at a target OOM rate). options: the keys of the feeds that have their own
-- (group, half_life, target, attempts, min_runs, min_history, floor), defaults filled in.
CREATE OR REPLACE FUNCTION ara_internal.ara_policies(policies jsonb)
RETURNS TABLE (ord integer, name text, feed text, percentile double precision, multiplier numeric,
               lookback interval, max_runs integer, min_memory bigint, max_memory bigint,
               oom_multiplier numeric, options jsonb)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    given jsonb := coalesce(policies, ara_internal.ara_policy_grid());
    p jsonb;
    i integer := 1;
    known text[] := ARRAY['name', 'feed', 'percentile', 'multiplier', 'lookback', 'max_runs', 'min_memory',
                          'max_memory', 'oom_multiplier', 'group', 'half_life', 'target', 'attempts', 'min_runs',
                          'min_history', 'floor'];
    -- The keys each feed takes beyond name, feed, lookback, min_memory, max_memory and group.
    takes jsonb := '{"oom": ["percentile", "multiplier", "max_runs"],
                     "peaks": ["percentile", "multiplier", "max_runs"],
                     "both": ["percentile", "multiplier", "max_runs", "oom_multiplier"],
                     "vpa": ["percentile", "multiplier", "half_life"],
                     "krr": ["multiplier", "oom_multiplier", "min_runs", "min_history"],
                     "retry": ["attempts"],
                     "censored": ["target", "multiplier", "oom_multiplier", "half_life", "floor", "max_runs"]}';
    feeds text[] := ara_internal.ara_replay_feeds();
    bad text;
    grp text;
    half_life interval;
    target double precision;
    attempts integer;
    min_runs integer;
    min_history interval;
    floor_lookback interval;
BEGIN
    IF jsonb_typeof(given) IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'ara_simulate: policies must be a JSON array of objects, got %', given
            USING ERRCODE = '22023',
                  HINT = 'e.g. ''[{"name": "p95 x1.5", "percentile": 0.95, "multiplier": 1.5}]''; NULL replays the default grid.';
    END IF;
    -- The baseline: Flotilla's ARA as it runs today.
    ord := 0; name := 'baseline (Flotilla)'; feed := 'oom'; percentile := 0.99; multiplier := 1.75;
    lookback := '3 days'; max_runs := 30; min_memory := 512; max_memory := 350000; oom_multiplier := NULL;
    options := '{"group": "key"}';
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
        feed := coalesce(p->>'feed', 'oom');
        IF NOT takes ? feed THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": feed must be oom, peaks, both, vpa, krr, retry or censored, got %',
                            coalesce(p->>'name', 'policy ' || i), feed
                USING ERRCODE = '22023',
                      HINT = 'oom: OOM-killed runs'' requests (Flotilla); peaks: successful runs'' max_memory_used; both: peaks with an OOM floor; vpa, krr, retry: what those tools would have requested; censored: a target OOM rate (docs/simulate.md).';
        END IF;
        IF feed <> ALL (feeds) THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": feed % is not in this edition of pg_ara', coalesce(p->>'name', 'policy ' || i), feed
                USING ERRCODE = '0A000',
                      HINT = 'This edition replays the feeds ' || array_to_string(feeds, ', ') || '; the compiled extension replays them all (docs/managed.md).';
        END IF;
        SELECT k INTO bad FROM jsonb_object_keys(p) k
         WHERE k NOT IN ('name', 'feed', 'lookback', 'min_memory', 'max_memory', 'group')
           AND NOT (takes->feed) ? k LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": feed % does not take "%"', coalesce(p->>'name', 'policy ' || i), feed, bad
                USING ERRCODE = '22023', HINT = 'A ' || feed || ' policy takes: name, feed, lookback, min_memory, max_memory, group, '
                                                || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(takes->feed) x) || '.';
        END IF;
        BEGIN
            ord := i;
            name := coalesce(p->>'name', 'policy ' || i);
            percentile := CASE feed WHEN 'vpa' THEN coalesce((p->>'percentile')::double precision, 0.9)
                                    WHEN 'krr' THEN 1
                                    WHEN 'retry' THEN NULL
                                    WHEN 'censored' THEN 1 - coalesce((p->>'target')::double precision, 0.05)
                                    ELSE coalesce((p->>'percentile')::double precision, 0.99) END;
            multiplier := CASE feed WHEN 'vpa' THEN coalesce((p->>'multiplier')::numeric, 1.15)
                                    WHEN 'krr' THEN coalesce((p->>'multiplier')::numeric, 1.15)
                                    WHEN 'retry' THEN NULL
                                    WHEN 'censored' THEN coalesce((p->>'multiplier')::numeric, 1.05)
                                    ELSE coalesce((p->>'multiplier')::numeric, 1.75) END;
            lookback := coalesce((p->>'lookback')::interval,
                                 CASE feed WHEN 'vpa' THEN interval '8 days' WHEN 'krr' THEN interval '14 days'
                                           WHEN 'retry' THEN interval '14 days' WHEN 'censored' THEN interval '14 days'
                                           ELSE interval '3 days' END);
            max_runs := CASE WHEN p ? 'max_runs' THEN (p->>'max_runs')::integer
                             WHEN feed = 'oom' THEN 30 WHEN feed = 'censored' THEN 200 END;
            min_memory := CASE WHEN p ? 'min_memory' THEN (p->>'min_memory')::bigint ELSE 512 END;
            max_memory := CASE WHEN p ? 'max_memory' THEN (p->>'max_memory')::bigint ELSE 350000 END;
            oom_multiplier := CASE feed WHEN 'both' THEN coalesce((p->>'oom_multiplier')::numeric, 1.75)
                                        WHEN 'krr' THEN coalesce((p->>'oom_multiplier')::numeric, 1.25)
                                        WHEN 'censored' THEN coalesce((p->>'oom_multiplier')::numeric, 1.75) END;
            grp := coalesce(p->>'group', CASE WHEN feed IN ('vpa', 'krr', 'retry') THEN 'definition' ELSE 'key' END);
            half_life := coalesce((p->>'half_life')::interval,
                                  CASE feed WHEN 'vpa' THEN interval '24 hours' WHEN 'censored' THEN interval '3 days' END);
            target := CASE feed WHEN 'censored' THEN coalesce((p->>'target')::double precision, 0.05) END;
            attempts := CASE feed WHEN 'retry' THEN coalesce((p->>'attempts')::integer, 3) END;
            min_runs := CASE feed WHEN 'krr' THEN coalesce((p->>'min_runs')::integer, 1) END;
            min_history := CASE feed WHEN 'krr' THEN coalesce((p->>'min_history')::interval, interval '3 hours') END;
            floor_lookback := CASE feed WHEN 'censored' THEN coalesce((p->>'floor')::interval, interval '1 day') END;
        EXCEPTION WHEN data_exception THEN
            RAISE EXCEPTION 'ara_simulate: policy % ("%"): %', i, p->>'name', SQLERRM
                USING ERRCODE = '22023', HINT = 'percentile, target and multipliers are numbers, lookback, half_life, min_history and floor intervals (''7 days''), max_runs, attempts, min_runs, min_memory and max_memory integers.';
        END;
        IF percentile = 'NaN' OR percentile < 0 OR percentile > 1 OR (percentile IS NULL AND feed <> 'retry') THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": percentile % is not between 0 and 1', name, percentile
                USING ERRCODE = '22023';
        END IF;
        IF target = 'NaN' OR target <= 0 OR target >= 1 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": target % is not an OOM rate between 0 and 1 (exclusive)', name, target
                USING ERRCODE = '22023', HINT = 'e.g. 0.05: one run in twenty killed.';
        END IF;
        IF multiplier <= 0 OR multiplier = 'NaN' OR oom_multiplier <= 0 OR oom_multiplier = 'NaN' THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": multipliers must be positive', name USING ERRCODE = '22023';
        END IF;
        IF lookback <= interval '0' OR extract(month FROM lookback) <> 0 OR extract(year FROM lookback) <> 0 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": lookback must be positive and in days, hours or less, got %', name, lookback
                USING ERRCODE = '22023', HINT = 'Flotilla looks back ''3 days''.';
        END IF;
        IF half_life <= interval '0' OR extract(month FROM half_life) <> 0 OR extract(year FROM half_life) <> 0
           OR min_history < interval '0' OR extract(month FROM min_history) <> 0 OR extract(year FROM min_history) <> 0
           OR floor_lookback < interval '0' OR extract(month FROM floor_lookback) <> 0 OR extract(year FROM floor_lookback) <> 0 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": half_life must be positive, min_history and floor not negative, all in days, hours or less', name
                USING ERRCODE = '22023';
        END IF;
        IF max_runs < 1 OR attempts < 1 OR min_runs < 1 THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": max_runs, attempts and min_runs must be at least 1', name
                USING ERRCODE = '22023', HINT = 'max_runs null: every run in the window.';
        END IF;
        IF grp NOT IN ('key', 'definition') THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": group must be key or definition, got %', name, grp
                USING ERRCODE = '22023', HINT = 'key: ARA''s (definition, hash); definition: every command of a definition together, as VPA, KRR and retries see a workload.';
        END IF;
        IF min_memory > max_memory THEN
            RAISE EXCEPTION 'ara_simulate: policy "%": min_memory % is above max_memory %', name, min_memory, max_memory
                USING ERRCODE = '22023';
        END IF;
        options := jsonb_strip_nulls(jsonb_build_object('group', grp, 'half_life', half_life, 'target', target,
                       'attempts', attempts, 'min_runs', min_runs, 'min_history', min_history, 'floor', floor_lookback));
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

-- The policies as the Rust layer reads them: terms or model, clamps, grouping, and which window
-- start (by lookback).
CREATE OR REPLACE FUNCTION ara_internal.ara_policies_json(policies jsonb)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS (SELECT * FROM ara_internal.ara_policies(policies)),
    w AS (SELECT l, (row_number() OVER (ORDER BY l) - 1)::int AS slot FROM (SELECT DISTINCT lookback AS l FROM p) d)
    SELECT jsonb_agg(jsonb_build_object(
               'name', p.name, 'min', p.min_memory, 'max', p.max_memory, 'window', w.slot,
               'group', p.options->>'group',
               'min_runs', (p.options->>'min_runs')::int,
               'min_history_us', (extract(epoch FROM (p.options->>'min_history')::interval) * 1000000)::bigint,
               'terms', CASE p.feed
                   WHEN 'oom' THEN jsonb_build_array(jsonb_build_object('feed', 'oom', 'percentile', p.percentile,
                                       'multiplier', p.multiplier::text, 'max_runs', p.max_runs))
                   WHEN 'peaks' THEN jsonb_build_array(jsonb_build_object('feed', 'peaks', 'percentile', p.percentile,
                                       'multiplier', p.multiplier::text, 'max_runs', p.max_runs))
                   WHEN 'both' THEN jsonb_build_array(
                       jsonb_build_object('feed', 'peaks', 'percentile', p.percentile,
                                          'multiplier', p.multiplier::text, 'max_runs', p.max_runs),
                       jsonb_build_object('feed', 'oom', 'percentile', 1, 'multiplier', p.oom_multiplier::text,
                                          'max_runs', 30))
                   -- KRR: the largest peak x multiplier, the largest OOM-killed request x oom_multiplier.
                   WHEN 'krr' THEN jsonb_build_array(
                       jsonb_build_object('feed', 'peaks', 'percentile', 1, 'multiplier', p.multiplier::text,
                                          'max_runs', NULL),
                       jsonb_build_object('feed', 'oom', 'percentile', 1, 'multiplier', p.oom_multiplier::text,
                                          'max_runs', NULL))
                   ELSE '[]'::jsonb END,
               'model', CASE p.feed
                   WHEN 'vpa' THEN jsonb_build_object('kind', 'vpa', 'percentile', p.percentile,
                       'margin', p.multiplier::double precision,
                       'half_life_us', (extract(epoch FROM (p.options->>'half_life')::interval) * 1000000)::bigint,
                       'interval_us', 86400000000)
                   -- The target as the lookup computes it from its peak_percentile (1 - it, in float8): the
                   -- two answer alike to the last bit (ara_tune() relies on it).
                   WHEN 'censored' THEN jsonb_build_object('kind', 'censored', 'target', 1 - p.percentile,
                       'headroom', p.multiplier::text, 'fallback', p.oom_multiplier::text, 'max_runs', p.max_runs,
                       'half_life_us', (extract(epoch FROM (p.options->>'half_life')::interval) * 1000000)::bigint,
                       'floor_us', (extract(epoch FROM (p.options->>'floor')::interval) * 1000000)::bigint)
                   WHEN 'retry' THEN jsonb_build_object('kind', 'retry', 'attempts', (p.options->>'attempts')::int)
                   END)
           ORDER BY p.ord)::text
      FROM p JOIN w ON w.l = p.lookback
$$;
COMMENT ON FUNCTION ara_internal.ara_policies_json(jsonb) IS
'pg_ara internal: ara_policies() as the replay aggregate reads them (terms or model, clamps, grouping, window slot by lookback).';

-- How ara_simulate() names a policy's feed: the feed and what sets it apart (the OOM floor, the
-- grouping, the model's own options).
CREATE OR REPLACE FUNCTION ara_internal.ara_policy_feed(feed text, oom_multiplier numeric, options jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT feed || coalesce(' (' || nullif(concat_ws(', ',
        CASE feed WHEN 'both' THEN 'OOM floor x' || oom_multiplier
                  WHEN 'krr' THEN 'OOM x' || oom_multiplier || ', history >= ' || (options->>'min_history')
                  WHEN 'vpa' THEN 'half-life ' || (options->>'half_life')
                  WHEN 'retry' THEN (options->>'attempts') || ' attempts'
                  WHEN 'censored' THEN 'OOM rate ' || (options->>'target') || ', half-life ' || (options->>'half_life')
                                       || ', above the largest kill x' || oom_multiplier END,
        CASE WHEN options->>'group' = 'definition' THEN 'per definition' END), '') || ')', '')
$$;
COMMENT ON FUNCTION ara_internal.ara_policy_feed(text, numeric, jsonb) IS
'pg_ara internal: a policy''s feed as ara_simulate() shows it (e.g. "vpa (half-life 24:00:00, per definition)").';

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
    SELECT p.name, ara_internal.ara_policy_feed(p.feed, p.oom_multiplier, p.options),
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
'pg_ara: replays the runs queued in [since, until) under sizing policies and says what each would have cost; one row per policy, the baseline (Flotilla''s ARA: OOM runs, p99, x1.75, 3 days, 30 most recent, 512..350000 MB) first. Each run is sized as of its queue time from earlier runs of its key (definition, stored hash), or of its definition (group definition), only. policies: jsonb array of {name, feed (oom|peaks|both|vpa|krr|retry|censored), percentile, multiplier, lookback, max_runs, min_memory, max_memory, oom_multiplier, group (key|definition), half_life, target, attempts, min_runs, min_history, floor}: vpa, krr and retry replay what the Kubernetes VPA recommender, Robusta KRR and retry on OOM at request x attempt would have requested, censored aims at a target OOM rate from the need as a right-censored distribution (docs/simulate.md); NULL replays a default grid of 17. Per policy: runs replayed, runs it sized, predicted OOM kills as a lower and an upper bound (an OOM-killed run''s true need is unknown; a retry policy''s killed attempts count), runs at the cap, requested, used and wasted GB-hours (memory x recorded runtime), and against the baseline: OOMs, runs sized and runs at the cap as differences, requested and wasted GB-hours as ratios (used GB-hours are the runs'' own, the same under every policy). Assumptions: docs/simulate.md. STABLE, read-only.';

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

-- ==== sql/tune.sql (as in the 0.8.0 install script) ====
-- pg_ara: a sizing recommendation per definition within an OOM budget (0.8.0, issue 28). ara_tune()
-- replays the period once under Flotilla's ARA (the baseline) and a grid of the policies the lookup
-- can apply (right_size and censored; docs/lookup.md), with the peer policies beside them for the
-- frontier, and picks per definition the policy with the fewest requested GB-hours whose predicted OOM
-- kills (the upper bound) stay within the budget: by default no more than the baseline's for that
-- definition. It returns the ara_set_policy() call that applies each choice, for \gexec: it never
-- applies one itself. ara_tune_frontier() gives the table-wide view: each policy's OOM kills against
-- its GB-hours, the Pareto-optimal ones marked, and the per-definition mix ara_tune() recommends.

-- The grid ara_tune() replays: ord, the replay's policy (as ara_simulate() takes it), and for those
-- the lookup can apply, how ara_set_policy() names it. The baseline (ord 0) is ara_policies()' own.
CREATE OR REPLACE FUNCTION ara_internal.ara_tune_grid()
RETURNS TABLE (ord integer, spec jsonb, policy text, peak_percentile double precision, headroom numeric,
               peak_lookback interval)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    -- right_size: the replay's 'both' with the lookup's defaults around it (peaks over 7 days, the OOM
    -- floor x1.75 over the 30 most recent kills, 512..350000 MB).
    SELECT (row_number() OVER (ORDER BY p, h))::integer,
           jsonb_build_object('name', format('right_size p%s x%s', p * 100, h), 'feed', 'both', 'percentile', p,
                              'multiplier', h, 'lookback', '7 days', 'oom_multiplier', 1.75),
           'right_size', p, h, interval '7 days'
      FROM unnest(ARRAY[0.9, 0.95, 0.99]::float8[]) p, unnest(ARRAY[1.1, 1.2, 1.5]::numeric[]) h
    UNION ALL
    -- censored: the lookup's (14 days, half-life 3 days, 200 most recent observations, fallback x1.75).
    SELECT (9 + row_number() OVER (ORDER BY t DESC, h))::integer,
           jsonb_build_object('name', format('censored %s%% x%s', t * 100, h), 'feed', 'censored', 'target', t,
                              'multiplier', h, 'oom_multiplier', 1.75),
           'censored', 1 - t, h, interval '14 days'
      FROM unnest(ARRAY[0.1, 0.05, 0.02]::float8[]) t, unnest(ARRAY[1.05, 1.2]::numeric[]) h
     WHERE 'censored' = ANY (ara_internal.ara_replay_feeds())
    UNION ALL
    -- The peers, for the frontier only (no lookup applies them).
    SELECT 100 + o, s, NULL, NULL, NULL, NULL
      FROM jsonb_array_elements('[{"name": "vpa (per definition)", "feed": "vpa"},
                                  {"name": "krr (per definition)", "feed": "krr"},
                                  {"name": "retry x attempt (3 attempts)", "feed": "retry"}]'::jsonb) WITH ORDINALITY AS x(s, o)
     WHERE x.s->>'feed' = ANY (ara_internal.ara_replay_feeds())
$$;
COMMENT ON FUNCTION ara_internal.ara_tune_grid() IS
'pg_ara internal: the policies ara_tune() replays: right_size (p90/p95/p99 x 1.1/1.2/1.5) and censored (OOM rate 10/5/2% x 1.05/1.2) as ara_set_policy() applies them, and the peers (vpa, krr, retry) for the frontier.';

-- One replay of the period under the baseline and ara_tune_grid(), per definition: one row per
-- definition and policy with its figures (GB-hours rounded as ara_simulate() rounds them).
CREATE OR REPLACE FUNCTION ara_internal.ara_tune_replay(caller text, since timestamptz, until timestamptz,
    tbl regclass, engine text)
RETURNS TABLE (definition_id text, ord integer, name text, runs bigint, ooms_min bigint, ooms_max bigint,
               requested_gb_hours numeric, waste_gb_hours numeric)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    grid jsonb := (SELECT jsonb_agg(g.spec ORDER BY g.ord) FROM ara_internal.ara_tune_grid() g);
    per_definition jsonb := ara_internal.ara_replay_policies(caller, 'definitions', since, until, grid, tbl, engine);
BEGIN
    RETURN QUERY
    SELECT x.definition_id, p.ord, t.policy, t.runs, t.ooms_min, t.ooms_max,
           round(t.requested_mb_s::numeric / (1024 * 3600), 1), round(t.waste_mb_s::numeric / (1024 * 3600), 1)
      FROM jsonb_to_recordset(per_definition) AS x(definition_id text, totals jsonb)
     CROSS JOIN LATERAL jsonb_to_recordset(x.totals) AS t(policy text, runs bigint, ooms_min bigint, ooms_max bigint,
                                                          requested_mb_s text, waste_mb_s text)
      JOIN ara_internal.ara_policies(grid) p ON p.name = t.policy
     WHERE x.definition_id IS NOT NULL;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_tune_replay(text, timestamptz, timestamptz, regclass, text) IS
'pg_ara internal: the replay behind ara_tune() and ara_tune_frontier(): the baseline and ara_tune_grid() over a period, one row per definition and policy.';

-- Every (definition, policy) of one replay with the definition's baseline and budget, and whether
-- ara_tune() chooses it: the cheapest candidate within the budget (the baseline on a tie); when none
-- is within it (a budget tighter than the baseline), the one with the fewest OOM kills, then GB-hours.
-- Candidates: the baseline and the grid's policies ara_set_policy() can apply.
CREATE OR REPLACE FUNCTION ara_internal.ara_tune_choices(caller text, since timestamptz, until timestamptz,
    tbl regclass, max_oom_rate double precision, engine text)
RETURNS TABLE (definition_id text, ord integer, name text, applicable boolean, runs bigint, ooms_min bigint,
               ooms_max bigint, requested_gb_hours numeric, waste_gb_hours numeric, baseline_ooms_min bigint,
               baseline_ooms_max bigint, baseline_gb_hours numeric, budget bigint, within_budget boolean,
               chosen boolean)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_oom_rate = 'NaN' OR max_oom_rate < 0 OR max_oom_rate > 1 THEN
        RAISE EXCEPTION '%: max_oom_rate % is not between 0 and 1', caller, max_oom_rate USING ERRCODE = '22023',
            HINT = 'The share of a definition''s runs that may be OOM-killed (the upper bound); NULL: no more than under Flotilla''s ARA.';
    END IF;
    RETURN QUERY
    WITH r AS (SELECT * FROM ara_internal.ara_tune_replay(caller, since, until, tbl, engine)),
    b AS (SELECT r.definition_id, r.ooms_min, r.ooms_max, r.requested_gb_hours,
                 coalesce(floor(max_oom_rate * r.runs)::bigint, r.ooms_max) AS budget
            FROM r WHERE r.ord = 0),
    c AS (SELECT r.*, r.ord = 0 OR g.policy IS NOT NULL AS applicable, b.ooms_min AS b_min, b.ooms_max AS b_max,
                 b.requested_gb_hours AS b_gb, b.budget, r.ooms_max <= b.budget AS within
            FROM r JOIN b USING (definition_id) LEFT JOIN ara_internal.ara_tune_grid() g ON g.ord = r.ord AND r.ord <> 0)
    SELECT c.definition_id, c.ord, c.name, c.applicable, c.runs, c.ooms_min, c.ooms_max, c.requested_gb_hours,
           c.waste_gb_hours, c.b_min, c.b_max, c.b_gb, c.budget, c.within,
           c.applicable AND row_number() OVER (PARTITION BY c.definition_id
                                               ORDER BY c.applicable DESC, c.within DESC,
                                                        CASE WHEN c.within THEN c.requested_gb_hours END,
                                                        c.ooms_max, c.requested_gb_hours, c.ord) = 1
      FROM c;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_tune_choices(text, timestamptz, timestamptz, regclass, double precision, text) IS
'pg_ara internal: one replay of ara_tune()''s policies, every (definition, policy) with the definition''s baseline and budget and whether ara_tune() chooses it: the cheapest policy ara_set_policy() can apply whose predicted OOM kills (upper bound) stay within the budget, else the one with the fewest (22023 for a max_oom_rate outside 0..1).';

CREATE OR REPLACE FUNCTION @extschema@.ara_tune(
    since timestamptz DEFAULT now() - interval '30 days',
    until timestamptz DEFAULT now(),
    tbl regclass DEFAULT 'task'::text::regclass,
    max_oom_rate double precision DEFAULT NULL,
    engine text DEFAULT 'eks')
RETURNS TABLE (definition_id text, runs bigint, policy text, requested_gb_hours numeric, baseline_gb_hours numeric,
               saved_gb_hours numeric, saving numeric, ooms_min bigint, ooms_max bigint, baseline_ooms_min bigint,
               baseline_ooms_max bigint, oom_budget bigint, within_budget boolean, statement text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT c.definition_id, c.runs,
           CASE WHEN c.ord = 0 THEN 'oom (Flotilla)'
                ELSE ara_internal.ara_policy_label(g.policy, g.peak_percentile, g.headroom, g.peak_lookback) END,
           c.requested_gb_hours, c.baseline_gb_hours, c.baseline_gb_hours - c.requested_gb_hours,
           round((c.baseline_gb_hours - c.requested_gb_hours) / nullif(c.baseline_gb_hours, 0), 3),
           c.ooms_min, c.ooms_max, c.baseline_ooms_min, c.baseline_ooms_max, c.budget, c.within_budget,
           CASE WHEN c.ord <> 0 THEN
                    format('SELECT @extschema@.ara_set_policy(%L, %L, definitions => ARRAY[%L], peak_percentile => %s, headroom => %s, peak_lookback => %L);',
                           tbl::text, g.policy, c.definition_id, g.peak_percentile, g.headroom, g.peak_lookback)
                -- Flotilla's is best, but another policy is chosen for it: back to 'oom'.
                WHEN (SELECT s.policy FROM ara_internal.ara_sizing_for(tbl, c.definition_id, NULL, NULL, NULL, NULL, 'ara_tune') s) <> 'oom'
                THEN format('SELECT @extschema@.ara_set_policy(%L, ''oom'', definitions => ARRAY[%L]);', tbl::text, c.definition_id)
           END
      FROM ara_internal.ara_tune_choices('ara_tune', since, until, tbl, max_oom_rate, engine) c
      LEFT JOIN ara_internal.ara_tune_grid() g ON g.ord = c.ord AND c.ord <> 0
     WHERE c.chosen
     ORDER BY c.baseline_gb_hours - c.requested_gb_hours DESC, c.definition_id;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_tune(timestamptz, timestamptz, regclass, double precision, text) IS
'pg_ara: a sizing policy per definition within an OOM budget. Replays the runs of engine queued in [since, until) (default: the last 30 days) once under Flotilla''s ARA and a grid of what ara_set_policy() can apply (right_size: p90/p95/p99 of peaks x 1.1/1.2/1.5 over 7 days; censored: OOM rate 10/5/2% x 1.05/1.2 over 14 days), and per definition picks the one with the fewest requested GB-hours whose predicted OOM kills (the upper bound) stay within the budget: max_oom_rate x the definition''s runs (rounded down), or by default no more than Flotilla''s ARA''s for it (so Flotilla''s is always a candidate); where no policy is within a given budget, the one with the fewest OOM kills (within_budget false). Per definition, most saved first: the choice, its GB-hours against the baseline''s, the saving, OOM kills (lower and upper bound) against the baseline''s, the budget, within_budget, and statement: the ara_set_policy() call that applies it (NULL when nothing changes). Applies nothing: SELECT statement FROM ara_tune() WHERE statement IS NOT NULL \gexec. The replay''s assumptions: docs/simulate.md. ara_tune_frontier() gives the table-wide view.';

CREATE OR REPLACE FUNCTION @extschema@.ara_tune_frontier(
    since timestamptz DEFAULT now() - interval '30 days',
    until timestamptz DEFAULT now(),
    tbl regclass DEFAULT 'task'::text::regclass,
    max_oom_rate double precision DEFAULT NULL,
    engine text DEFAULT 'eks')
RETURNS TABLE (policy text, applicable boolean, runs bigint, ooms_min bigint, ooms_max bigint, requested_gb_hours numeric,
               requested_vs_baseline numeric, pareto boolean, bar text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH c AS (SELECT * FROM ara_internal.ara_tune_choices('ara_tune_frontier', since, until, tbl, max_oom_rate, engine)),
    per_policy AS (
        SELECT c.ord, c.name, c.applicable, sum(c.runs)::bigint AS runs, sum(c.ooms_min)::bigint AS ooms_min,
               sum(c.ooms_max)::bigint AS ooms_max, sum(c.requested_gb_hours) AS gb
          FROM c GROUP BY c.ord, c.name, c.applicable
        UNION ALL
        -- What ara_tune() recommends, definition by definition, summed.
        SELECT 1000, 'ara_tune(): per definition', true, sum(c.runs)::bigint, sum(c.ooms_min)::bigint,
               sum(c.ooms_max)::bigint, sum(c.requested_gb_hours)
          FROM c WHERE c.chosen
        HAVING count(*) > 0),
    f AS (SELECT p.*, NOT EXISTS (SELECT 1 FROM per_policy q
                                   WHERE q.ooms_max <= p.ooms_max AND q.gb <= p.gb AND (q.ooms_max < p.ooms_max OR q.gb < p.gb)) AS pareto
            FROM per_policy p)
    SELECT CASE WHEN f.ord = 0 THEN 'baseline (Flotilla)' ELSE f.name END, f.applicable, f.runs, f.ooms_min, f.ooms_max, f.gb,
           round(f.gb / nullif((SELECT gb FROM per_policy WHERE ord = 0), 0), 3), f.pareto,
           repeat('#', ceil(40 * f.gb / nullif(max(f.gb) OVER (), 0))::int)
      FROM f ORDER BY f.ooms_max, f.gb, f.ord;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_tune_frontier(timestamptz, timestamptz, regclass, double precision, text) IS
'pg_ara: the table-wide view of ara_tune(): every policy it replays (Flotilla''s ARA, the right_size and censored grid, the peers vpa, krr and retry) and the per-definition mix ara_tune() recommends, each with its OOM kills (lower and upper bound) and requested GB-hours over the runs of engine queued in [since, until), fewest OOM kills first; pareto: no other row has both no more OOM kills (upper bound) and no more GB-hours, one of them fewer; applicable: ara_set_policy() can apply it; bar: GB-hours against the largest, in 40 #. The same replay and options as ara_tune().';

-- ==== sql/state.sql (as in the 0.8.0 install script) ====
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
    bad_policy text;
    bad_definition text;
    tbl regclass;
    tables integer := 0;
    sizing integer := 0;
    progress integer := 0;
BEGIN
    IF state IS NULL OR jsonb_typeof(state->'tables') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'ara_state_import: not a state from ara_state_export()' USING ERRCODE = '22023',
            HINT = 'Pass what ara_state_export() returned, e.g. SELECT ara_state_import(state) FROM saved_state.';
    END IF;
    -- A sizing choice this edition cannot apply (the SQL edition has no 'censored') is refused before
    -- anything changes: a lookup would otherwise fail on it later.
    SELECT e->>'policy', e->>'definition_id' INTO bad_policy, bad_definition
      FROM jsonb_array_elements(coalesce(state->'sizing', '[]')) e
     WHERE e->>'policy' NOT IN ('oom', 'right_size') AND e->>'policy' <> ALL (ara_internal.ara_replay_feeds()) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ara_state_import: the sizing choice % (%) is not in this edition of pg_ara', bad_policy,
                        coalesce('for definition ' || bad_definition, 'for the table')
            USING ERRCODE = '0A000',
                  HINT = 'Before exporting, choose right_size or oom there (ara_set_policy), or import into the compiled extension.';
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
