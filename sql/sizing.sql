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
