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
