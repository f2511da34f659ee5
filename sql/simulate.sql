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
