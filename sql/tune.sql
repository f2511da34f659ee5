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
