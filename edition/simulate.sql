-- SQL edition: the twin of the replay behind ara_simulate(), ara_simulate_runs() and ara_waste()
-- (the Rust aggregate ara_internal.ara_replay, src/simulate.rs over src/core/replay.rs). PL/pgSQL
-- cannot make an aggregate over 13 arguments that appends in place (every row would copy the whole
-- state), so the twin sits one step up: ara_internal.ara_replay_sql(), which those three functions
-- EXECUTE with (mode, policies, since, until, engine), returns here a call of
-- ara_internal.ara_replay_loop(), which reads the same rows in the same order and replays them in one
-- pass as the Rust engine does (same assumptions: docs/simulate.md; same jsonb: per policy totals, per
-- key totals, or per run answers). Windows that several policies share (the same feed, lookback and
-- most-recent limit) are sorted once per batch of runs. Loaded after sql/simulate.sql, whose
-- ara_replay_sql() it replaces.

-- The per-policy totals as the extension's replay gives them (memory x time as exact integer text).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_totals(names text[], runs bigint[], sized bigint[],
    ooms_min bigint[], ooms_max bigint[], at_cap bigint[], requested numeric[], used numeric[], waste numeric[])
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('policy', names[i], 'runs', runs[i], 'sized', sized[i],
               'ooms_min', ooms_min[i], 'ooms_max', ooms_max[i], 'at_cap', at_cap[i],
               'requested_mb_s', requested[i]::text, 'used_mb_s', used[i]::text, 'waste_mb_s', waste[i]::text)
               ORDER BY i), '[]')
      FROM generate_series(1, coalesce(cardinality(names), 0)) i
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_totals(text[], bigint[], bigint[], bigint[], bigint[], bigint[], numeric[], numeric[], numeric[]) IS
'pg_ara internal (SQL edition): the replay''s per-policy totals as jsonb; not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_replay_loop(mode text, policies text, since timestamptz,
    until timestamptz, engine text, tbl regclass, lookbacks interval[], caller text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pol jsonb := policies::jsonb;
    np integer;
    names text[] := '{}';
    p_min bigint[] := '{}';
    p_max bigint[] := '{}';
    p_win integer[] := '{}';
    -- Every term of every policy: its policy, its window (below), percentile and multiplier.
    t_pol integer[] := '{}';
    t_win integer[] := '{}';
    t_pct double precision[] := '{}';
    t_mul numeric[] := '{}';
    nt integer;
    -- The distinct windows: feed (true: OOM-killed runs' requests; false: successful runs' peaks),
    -- window slot (the lookback's place in lookbacks), most recent entries kept (NULL: all).
    w_oom boolean[] := '{}';
    w_slot integer[] := '{}';
    w_max integer[] := '{}';
    w_lo integer[];
    w_sorted bigint[];
    w_n integer[];
    w_first integer[];
    nw integer;
    -- The current key's two feeds, oldest first: queue time (microseconds) and value (NULL: an OOM
    -- run without a request, which takes a place among the most recent but has no value).
    oom_t bigint[]; oom_v bigint[];
    pk_t bigint[]; pk_v bigint[];
    -- The current batch: the runs of one key queued at one instant (they do not see each other).
    b_sizable boolean[]; b_request bigint[]; b_oom boolean[]; b_peak bigint[]; b_need_peak boolean[];
    b_need bigint[]; b_runtime bigint[]; b_replayed boolean[]; b_run text[];
    b_from bigint[];
    key_d text; key_h text; b_t bigint;
    started boolean := false;
    new_key boolean;
    -- Per policy: runs, sized, ooms_min, ooms_max, at_cap, requested, used, waste (MB-seconds).
    tot_runs bigint[]; tot_sized bigint[]; tot_min bigint[]; tot_max bigint[]; tot_cap bigint[];
    tot_req numeric[]; tot_used numeric[]; tot_waste numeric[];
    key_runs bigint[];
    key_start_runs bigint[]; key_start_sized bigint[]; key_start_min bigint[]; key_start_max bigint[];
    key_start_cap bigint[]; key_start_req numeric[]; key_start_used numeric[]; key_start_waste numeric[];
    cur refcursor;
    done boolean;
    per_key jsonb[] := '{}';
    answers jsonb[] := '{}';
    raw bigint[]; req bigint[];
    v bigint; x bigint; prod numeric; lo integer; hi integer; n integer; request bigint; used bigint; secs bigint;
    r record;
    q text;
    i integer; k integer; j integer; w integer;
BEGIN
    np := jsonb_array_length(pol);
    FOR i IN 1 .. np LOOP
        -- What this twin does not replay (ara_policies() refuses the feeds already; the grouping and
        -- the gate are refused here): docs/managed.md.
        IF jsonb_typeof(pol->(i - 1)->'model') = 'object' OR pol->(i - 1)->>'group' = 'definition'
           OR coalesce((pol->(i - 1)->>'min_runs')::integer, 0) > 1 OR pol->(i - 1)->>'min_history_us' IS NOT NULL THEN
            RAISE EXCEPTION '%: policy "%" is grouped by definition or has a model this edition of pg_ara does not replay',
                            caller, pol->(i - 1)->>'name'
                USING ERRCODE = '0A000',
                      HINT = 'This edition replays oom, peaks and both policies grouped by key; the compiled extension replays them all (docs/managed.md).';
        END IF;
        names := names || (pol->(i - 1)->>'name');
        p_min := p_min || (pol->(i - 1)->>'min')::bigint;
        p_max := p_max || (pol->(i - 1)->>'max')::bigint;
        p_win := p_win || (coalesce((pol->(i - 1)->>'window')::integer, i - 1) + 1);
        FOR k IN 0 .. coalesce(jsonb_array_length(pol->(i - 1)->'terms'), 0) - 1 LOOP
            t_pol := t_pol || i;
            t_pct := t_pct || (pol->(i - 1)->'terms'->k->>'percentile')::double precision;
            t_mul := t_mul || (pol->(i - 1)->'terms'->k->>'multiplier')::numeric;
            w := NULL;
            FOR j IN 1 .. coalesce(cardinality(w_oom), 0) LOOP
                IF w_oom[j] = (pol->(i - 1)->'terms'->k->>'feed' = 'oom') AND w_slot[j] = p_win[i]
                   AND w_max[j] IS NOT DISTINCT FROM (pol->(i - 1)->'terms'->k->>'max_runs')::integer THEN
                    w := j;
                END IF;
            END LOOP;
            IF w IS NULL THEN
                w_oom := w_oom || (pol->(i - 1)->'terms'->k->>'feed' = 'oom');
                w_slot := w_slot || p_win[i];
                w_max := w_max || (pol->(i - 1)->'terms'->k->>'max_runs')::integer;
                w := cardinality(w_oom);
            END IF;
            t_win := t_win || w;
        END LOOP;
    END LOOP;
    nt := coalesce(cardinality(t_pol), 0);
    nw := coalesce(cardinality(w_oom), 0);
    tot_runs := array_fill(0::bigint, ARRAY[np]); tot_sized := tot_runs; tot_min := tot_runs; tot_max := tot_runs;
    tot_cap := tot_runs;
    tot_req := array_fill(0::numeric, ARRAY[np]); tot_used := tot_req; tot_waste := tot_req;

    -- The same rows, in the same order, as the extension's replay (sql/simulate.sql).
    q := ara_internal.ara_replay_rows_sql(tbl, lookbacks, caller) || ' ORDER BY d, h, queued, run_id';
    OPEN cur FOR EXECUTE q USING mode, policies, since, until, engine;
    LOOP
        FETCH cur INTO r;
        done := NOT FOUND;
        new_key := done OR NOT started OR r.d IS DISTINCT FROM key_d OR r.h IS DISTINCT FROM key_h;
        IF started AND (new_key OR r.queued <> b_t) THEN
            -- The batch is complete. 1. Each distinct window as of its first run: entries queued before
            -- its window start dropped, the most recent max entries kept, the values sorted.
            w_sorted := '{}';
            w_first := array_fill(0, ARRAY[greatest(nw, 1)]);
            w_n := array_fill(0, ARRAY[greatest(nw, 1)]);
            FOR w IN 1 .. nw LOOP
                IF w_oom[w] THEN
                    hi := coalesce(cardinality(oom_t), 0);
                    WHILE w_lo[w] <= hi AND oom_t[w_lo[w]] < b_from[w_slot[w]] LOOP
                        w_lo[w] := w_lo[w] + 1;
                    END LOOP;
                ELSE
                    hi := coalesce(cardinality(pk_t), 0);
                    WHILE w_lo[w] <= hi AND pk_t[w_lo[w]] < b_from[w_slot[w]] LOOP
                        w_lo[w] := w_lo[w] + 1;
                    END LOOP;
                END IF;
                lo := CASE WHEN w_max[w] IS NULL THEN w_lo[w] ELSE greatest(w_lo[w], hi - w_max[w] + 1) END;
                IF lo <= hi THEN
                    w_first[w] := coalesce(cardinality(w_sorted), 0) + 1;
                    IF w_oom[w] THEN
                        w_sorted := w_sorted || ARRAY(SELECT e FROM unnest(oom_v[lo:hi]) e WHERE e IS NOT NULL ORDER BY e);
                    ELSE
                        w_sorted := w_sorted || ARRAY(SELECT e FROM unnest(pk_v[lo:hi]) e WHERE e IS NOT NULL ORDER BY e);
                    END IF;
                    w_n[w] := coalesce(cardinality(w_sorted), 0) + 1 - w_first[w];
                END IF;
            END LOOP;
            -- 2. Each policy's answer: the largest of its terms that have values, then its clamps.
            raw := array_fill(NULL::bigint, ARRAY[greatest(np, 1)]);
            FOR k IN 1 .. nt LOOP
                w := t_win[k];
                n := w_n[w];
                IF n > 0 THEN
                    -- percentile_disc's position: ceil(p * n) in float8, at least 1.
                    v := w_sorted[w_first[w] - 1 + greatest(1, ceil(t_pct[k] * n::double precision)::integer)];
                    -- Rounded half away from zero, as cast(numeric AS bigint); out of range as the
                    -- extension reports it (no subtransaction per value to catch the cast's error).
                    prod := v * t_mul[k];
                    IF prod >= 9223372036854775807.5 OR prod <= -9223372036854775808.5 THEN
                        RAISE EXCEPTION 'bigint out of range' USING ERRCODE = '22003',
                            HINT = 'A policy''s percentile value times its multiplier does not fit in bigint.';
                    END IF;
                    x := prod::bigint;
                    raw[t_pol[k]] := greatest(raw[t_pol[k]], x);
                END IF;
            END LOOP;
            req := raw;
            FOR i IN 1 .. np LOOP
                IF raw[i] IS NOT NULL THEN
                    req[i] := CASE WHEN p_max[i] IS NOT NULL THEN least(raw[i], p_max[i]) ELSE raw[i] END;
                    req[i] := CASE WHEN p_min[i] IS NOT NULL THEN greatest(req[i], p_min[i]) ELSE req[i] END;
                END IF;
            END LOOP;
            -- 3. The replayed runs' answers and totals (src/core/replay.rs Totals::add).
            FOR j IN 1 .. cardinality(b_run) LOOP
                CONTINUE WHEN NOT b_replayed[j];
                IF mode = 'answers' THEN
                    answers := answers || jsonb_build_object('run_id', b_run[j],
                        'request', to_jsonb(CASE WHEN b_sizable[j] THEN req ELSE array_fill(NULL::bigint, ARRAY[np]) END),
                        'raw', to_jsonb(CASE WHEN b_sizable[j] THEN raw ELSE array_fill(NULL::bigint, ARRAY[np]) END));
                END IF;
                FOR i IN 1 .. np LOOP
                    request := CASE WHEN b_sizable[j] AND raw[i] IS NOT NULL THEN req[i] ELSE b_request[j] END;
                    tot_runs[i] := tot_runs[i] + 1;
                    IF b_sizable[j] AND raw[i] IS NOT NULL THEN
                        tot_sized[i] := tot_sized[i] + 1;
                    END IF;
                    IF request IS NOT NULL THEN
                        IF b_need_peak[j] THEN
                            IF request < b_need[j] THEN
                                tot_min[i] := tot_min[i] + 1; tot_max[i] := tot_max[i] + 1;
                            END IF;
                        ELSIF b_need[j] IS NOT NULL THEN
                            IF request <= b_need[j] THEN
                                tot_min[i] := tot_min[i] + 1; tot_max[i] := tot_max[i] + 1;
                            ELSE
                                tot_max[i] := tot_max[i] + 1;
                            END IF;
                        END IF;
                        IF p_max[i] IS NOT NULL AND request >= p_max[i] THEN
                            tot_cap[i] := tot_cap[i] + 1;
                        END IF;
                    END IF;
                    secs := b_runtime[j];
                    IF secs >= 0 THEN
                        used := b_need[j];
                        IF request IS NOT NULL THEN
                            tot_req[i] := tot_req[i] + request::numeric * secs;
                        END IF;
                        IF used IS NOT NULL THEN
                            tot_used[i] := tot_used[i] + used::numeric * secs;
                        END IF;
                        IF request IS NOT NULL AND used IS NOT NULL THEN
                            tot_waste[i] := tot_waste[i] + greatest(request::numeric - used, 0) * secs;
                        END IF;
                    END IF;
                END LOOP;
            END LOOP;
            -- 4. Then the batch feeds the key's windows.
            FOR j IN 1 .. cardinality(b_run) LOOP
                CONTINUE WHEN NOT b_sizable[j];
                IF b_oom[j] THEN
                    oom_t := array_append(oom_t, b_t);
                    oom_v := array_append(oom_v, b_request[j]);
                ELSIF b_peak[j] IS NOT NULL THEN
                    pk_t := array_append(pk_t, b_t);
                    pk_v := array_append(pk_v, b_peak[j]);
                END IF;
            END LOOP;
        END IF;
        IF started AND new_key AND mode IN ('keys', 'definitions') AND tot_runs IS DISTINCT FROM key_runs THEN
            -- In mode keys, each key with replayed runs and its totals (what its runs added); mode
            -- definitions sums them per definition at the end.
            per_key := per_key || jsonb_build_object('definition_id', key_d, 'command_hash', key_h,
                'totals', ara_internal.ara_replay_totals(names,
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_runs, key_start_runs) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_sized, key_start_sized) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_min, key_start_min) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_max, key_start_max) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_cap, key_start_cap) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_req, key_start_req) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_used, key_start_used) WITH ORDINALITY u(a, b, o)),
                    (SELECT array_agg(a - b ORDER BY o) FROM unnest(tot_waste, key_start_waste) WITH ORDINALITY u(a, b, o))));
        END IF;
        EXIT WHEN done;
        IF new_key THEN
            -- A new key: only its own history feeds it.
            oom_t := '{}'; oom_v := '{}'; pk_t := '{}'; pk_v := '{}';
            w_lo := array_fill(1, ARRAY[greatest(nw, 1)]);
            key_d := r.d; key_h := r.h;
            key_runs := tot_runs;
            key_start_runs := tot_runs; key_start_sized := tot_sized; key_start_min := tot_min;
            key_start_max := tot_max; key_start_cap := tot_cap; key_start_req := tot_req;
            key_start_used := tot_used; key_start_waste := tot_waste;
        END IF;
        IF new_key OR r.queued <> b_t THEN
            b_t := r.queued; b_from := r.froms;
            b_sizable := '{}'; b_request := '{}'; b_oom := '{}'; b_peak := '{}'; b_need_peak := '{}'; b_need := '{}';
            b_runtime := '{}'; b_replayed := '{}'; b_run := '{}';
            started := true;
        END IF;
        b_sizable := array_append(b_sizable, r.d IS NOT NULL AND r.h IS NOT NULL);
        b_request := array_append(b_request, r.memory);
        b_oom := array_append(b_oom, r.oom);
        b_peak := array_append(b_peak, CASE WHEN r.succeeded THEN r.peak END);
        -- What the run's outcome says of its need (src/simulate.rs need()): a successful run's peak
        -- (exact), an OOM-killed run's request (it needed more), else nothing.
        b_need_peak := array_append(b_need_peak, NOT r.oom AND r.succeeded AND r.peak IS NOT NULL);
        b_need := array_append(b_need, CASE WHEN r.oom THEN r.memory WHEN r.succeeded THEN r.peak END);
        b_runtime := array_append(b_runtime, r.runtime);
        b_replayed := array_append(b_replayed, coalesce(r.replayed, false));
        b_run := array_append(b_run, r.run_id);
    END LOOP;
    CLOSE cur;
    RETURN CASE mode
        WHEN 'totals' THEN ara_internal.ara_replay_totals(names, tot_runs, tot_sized, tot_min, tot_max, tot_cap,
                                                          tot_req, tot_used, tot_waste)
        WHEN 'keys' THEN to_jsonb(per_key)
        -- Per definition: its keys' totals summed, policy by policy (memory x time exact).
        WHEN 'definitions' THEN (
            SELECT coalesce(jsonb_agg(jsonb_build_object('definition_id', dd.def, 'command_hash', NULL, 'totals', dd.tots)
                                      ORDER BY dd.def), '[]')
              FROM (SELECT pp.def, jsonb_agg(jsonb_build_object('policy', pp.pol, 'runs', pp.s_runs, 'sized', pp.s_sized,
                               'ooms_min', pp.s_min, 'ooms_max', pp.s_max, 'at_cap', pp.s_cap,
                               'requested_mb_s', pp.s_req::text, 'used_mb_s', pp.s_used::text, 'waste_mb_s', pp.s_waste::text)
                               ORDER BY pp.ord) AS tots
                      FROM (SELECT kk.e->>'definition_id' AS def, ee.ord, ee.t->>'policy' AS pol,
                                   sum((ee.t->>'runs')::bigint) AS s_runs, sum((ee.t->>'sized')::bigint) AS s_sized,
                                   sum((ee.t->>'ooms_min')::bigint) AS s_min, sum((ee.t->>'ooms_max')::bigint) AS s_max,
                                   sum((ee.t->>'at_cap')::bigint) AS s_cap, sum((ee.t->>'requested_mb_s')::numeric) AS s_req,
                                   sum((ee.t->>'used_mb_s')::numeric) AS s_used, sum((ee.t->>'waste_mb_s')::numeric) AS s_waste
                              FROM unnest(per_key) kk(e)
                             CROSS JOIN LATERAL jsonb_array_elements(kk.e->'totals') WITH ORDINALITY ee(t, ord)
                             GROUP BY 1, 2, 3) pp
                     GROUP BY pp.def) dd)
        ELSE to_jsonb(answers) END;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_loop(text, text, timestamptz, timestamptz, text, regclass, interval[], text) IS
'pg_ara internal (SQL edition): the replay behind ara_simulate(), ara_simulate_runs() and ara_waste(), one pass over the runs in (definition, hash, queued_at, run_id) order; jsonb by mode (totals, keys, definitions, answers) as the extension''s replay aggregate gives it. Not for direct use.';

-- The replay's query for ara_simulate(), ara_simulate_runs() and ara_waste(): here a call of the loop
-- above with the same parameters ($1 mode, $2 policies, $3 since, $4 until, $5 engine); the table is
-- checked now, as the extension's query checks it (ara_replay_rows_sql()).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_sql(tbl regclass, lookbacks interval[], caller text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ara_internal.ara_replay_rows_sql(tbl, lookbacks, caller) IS NOT NULL THEN
        format('SELECT ara_internal.ara_replay_loop($1, $2, $3, $4, $5, %L::regclass, %L::interval[], %L)',
               tbl::oid::text, lookbacks, caller) END
$$;
COMMENT ON FUNCTION ara_internal.ara_replay_sql(regclass, interval[], text) IS
'pg_ara internal: the one-pass replay query over a table for window lookbacks (sorted; parameters: mode, policies as the replay reads them, since, until, engine), after checking the table (42809, 42501, 42703). SQL edition: a call of ara_internal.ara_replay_loop().';

-- The feeds this twin replays (sql/simulate.sql's ara_replay_feeds(), replaced): Flotilla's and
-- pg_ara's own; the peer and censored policies are the compiled extension's (docs/managed.md).
CREATE OR REPLACE FUNCTION ara_internal.ara_replay_feeds()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ARRAY['oom', 'peaks', 'both'] $$;
COMMENT ON FUNCTION ara_internal.ara_replay_feeds() IS
'pg_ara internal (SQL edition): the policy feeds this edition''s replay takes: oom, peaks and both.';
