-- Tuning, part 2 (issue 28): the policies other tools use (vpa, krr, retry) and the censored-need
-- policy in ara_simulate(), each against plain SQL that states it, run by run (docs/simulate.md,
-- "Peer policies"); their totals against plain SQL over those answers; grouping by key and by
-- definition; errors. A history where a run is OOM-killed exactly when its need is above its request.
CREATE EXTENSION IF NOT EXISTS pg_ara;
CREATE SCHEMA tune;
SET search_path = tune, public;
SET timezone = 'PST8PDT';
\set SHOW_CONTEXT never

CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
  command_hash text, memory integer, cpu integer DEFAULT 1000, exit_code integer, exit_reason varchar,
  engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz, started_at timestamptz, finished_at timestamptz,
  max_memory_used integer, max_cpu_used integer);
-- 3,000 runs over 20 days: 13 definitions x 5 commands, each command with its typical need; requests
-- from 512 to 8,703 MB; killed (137, or the reason alone) when the need is above the request, else
-- successful with the need as its peak (some peaks not measured, some runs failing otherwise); some
-- runs unhashed, some without a definition, some sharing an instant, another engine.
INSERT INTO task (run_id, definition_id, command, command_hash, memory, exit_code, exit_reason, engine,
                  queued_at, started_at, finished_at, max_memory_used)
SELECT 'r' || lpad(i::text, 5, '0'),
       CASE WHEN i % 101 = 0 THEN NULL ELSE 'def-' || (i % 13) END,
       'cmd ' || (i % 5),
       CASE WHEN i % 89 = 0 THEN NULL ELSE md5('cmd ' || (i % 5)) END,
       req,
       CASE WHEN need > req AND i % 7 <> 0 THEN 137 WHEN need > req THEN NULL
            WHEN hashint4(i * 3) % 17 = 0 THEN 1 ELSE 0 END,
       CASE WHEN need > req AND i % 7 = 0 THEN 'OOMKilled' END,
       CASE WHEN i % 31 = 0 THEN 'eks-spark' ELSE 'eks' END,
       q, q + interval '1 minute', q + interval '1 minute' + ((hashint4(i * 5) & 4095) || ' seconds')::interval,
       CASE WHEN need > req OR i % 23 = 0 THEN NULL ELSE need END
FROM generate_series(1, 3000) i,
-- A tenth of the runs share an instant with one of another command of their definition, some with one
-- of their own key.
LATERAL (SELECT timestamptz '2026-10-20 00:00+00'
                + (CASE WHEN i % 10 = 0 THEN i - 13 WHEN i % 130 = 7 THEN i - 65 ELSE i END) * 576 * interval '1 second' AS q,
                512 + (hashint4(i * 13) & 8191) AS req,
                (400 + 900 * (i % 5 + i % 13 % 3)) * (1 + (hashint4(i * 7) & 1023) / 1024.0)::numeric(6, 3) AS need_x) qq,
LATERAL (SELECT need_x::integer AS need) n;
SELECT count(*) AS runs, count(*) FILTER (WHERE exit_code = 137 OR exit_reason = 'OOMKilled') AS killed,
       count(DISTINCT (definition_id, command_hash)) AS keys,
       count(*) - count(DISTINCT (definition_id, command_hash, queued_at)) AS sharing_an_instant_in_a_key,
       count(*) - count(DISTINCT (definition_id, queued_at)) AS sharing_an_instant_in_a_definition
FROM task;

CREATE TABLE policies AS SELECT $p$[
  {"name": "krr", "feed": "krr", "group": "key"},
  {"name": "krr per definition, 2 runs, 6 h", "feed": "krr", "min_runs": 2, "min_history": "6 hours", "multiplier": 1.3},
  {"name": "retry", "feed": "retry"},
  {"name": "retry per key, 2 attempts, 2 days", "feed": "retry", "group": "key", "attempts": 2, "lookback": "2 days", "min_memory": null},
  {"name": "vpa", "feed": "vpa"},
  {"name": "vpa per key, p95 x1.3, 12 h", "feed": "vpa", "group": "key", "percentile": 0.95, "multiplier": 1.3, "half_life": "12 hours"},
  {"name": "censored", "feed": "censored"},
  {"name": "censored 20%, 30 runs, per definition", "feed": "censored", "target": 0.2, "max_runs": 30, "half_life": "1 day",
   "multiplier": 1.1, "oom_multiplier": 2, "floor": "6 hours", "group": "definition", "max_memory": 9000}
]$p$::jsonb AS p;
SELECT policy, feed, percentile, multiplier, lookback, max_runs
FROM ara_simulate(policies => (SELECT p FROM policies), tbl => 'tune.task', since => '2026-10-25 00:00+00');

CREATE TABLE answers AS
SELECT s.*, t.definition_id AS d, t.command_hash AS h, t.queued_at AS q, t.memory AS recorded
FROM ara_simulate_runs(since => '2026-10-25 00:00+00', policies => (SELECT p FROM policies), tbl => 'tune.task') s
JOIN task t USING (run_id);
-- The replay's runs and their history as the references read them: engine eks, a queue time; killed
-- (137 or OOMKilled), or successful with a measured peak (feeding it); the group's columns.
CREATE VIEW runs AS
SELECT run_id, definition_id AS d, command_hash AS h, queued_at AS q, memory::bigint AS memory,
       coalesce(exit_code = 137 OR exit_reason = 'OOMKilled', false) AS killed,
       CASE WHEN exit_code = 0 AND NOT coalesce(exit_code = 137 OR exit_reason = 'OOMKilled', false)
            THEN max_memory_used::bigint END AS peak,
       (extract(epoch FROM queued_at) * 1000000)::bigint AS q_us
FROM task WHERE engine = 'eks';
CREATE FUNCTION pg_temp.clamp(v bigint, lo bigint, hi bigint) RETURNS bigint LANGUAGE sql IMMUTABLE
AS 'SELECT CASE WHEN v IS NOT NULL THEN greatest(lo, least(hi, v)) END';
-- Whether a history run o is in the window of run r for a policy: its group, queued in [q - lookback, q).
CREATE FUNCTION pg_temp.in_window(o runs, r answers, by_definition boolean, lookback interval) RETURNS boolean
LANGUAGE sql STABLE
AS $$ SELECT o.d IS NOT NULL AND o.d = r.d AND (by_definition OR (o.h IS NOT NULL AND o.h = r.h))
             AND r.d IS NOT NULL AND (by_definition OR r.h IS NOT NULL)
             AND o.q < r.q AND o.q >= r.q - lookback $$;
CREATE TABLE reference (run_id text, policy text, memory bigint);

-- 1. krr: the largest measured peak of the window x multiplier, the largest killed request x
-- oom_multiplier, the larger; no answer unless the window holds min_runs fed runs, the oldest at least
-- min_history before.
INSERT INTO reference
SELECT r.run_id, r.policy, pg_temp.clamp(CASE WHEN k.fed >= k.min_runs AND k.oldest <= r.q - k.min_history
           THEN greatest(cast(k.peak * k.mult AS bigint), cast(k.kill * 1.25 AS bigint)) END, 512, 350000)
FROM answers r
CROSS JOIN LATERAL (VALUES ('krr', false, 1.15, 1, interval '3 hours'),
                           ('krr per definition, 2 runs, 6 h', true, 1.3, 2, interval '6 hours')) p(name, by_def, mult, min_runs, min_history)
CROSS JOIN LATERAL (SELECT max(o.peak) AS peak, max(o.memory) FILTER (WHERE o.killed) AS kill,
                           count(*) FILTER (WHERE o.killed OR o.peak IS NOT NULL) AS fed,
                           min(o.q) FILTER (WHERE o.killed OR o.peak IS NOT NULL) AS oldest,
                           p.mult, p.min_runs, p.min_history
                      FROM runs o WHERE pg_temp.in_window(o, r, p.by_def, '14 days')) k
WHERE r.policy = p.name;

-- 2. retry: the start is the lowest request of the window and the run's own; attempt k asks start x k
-- (clamped); an attempt certainly killed (below a successful run's peak, at or below the request it
-- was killed at) is retried, up to attempts in all.
CREATE TABLE retry AS
SELECT r.run_id, r.policy, s.start, a.k, pg_temp.clamp(s.start * a.k, p.lo, 350000) AS request,
       coalesce(pg_temp.clamp(s.start * a.k, p.lo, 350000) < rr.peak, false)
       OR coalesce(rr.killed AND pg_temp.clamp(s.start * a.k, p.lo, 350000) <= rr.memory, false) AS certainly_killed,
       a.k = p.attempts AS last_attempt
FROM answers r JOIN runs rr USING (run_id)
CROSS JOIN LATERAL (VALUES ('retry', true, 3, interval '14 days', 512),
                           ('retry per key, 2 attempts, 2 days', false, 2, interval '2 days', NULL)) p(name, by_def, attempts, lookback, lo)
CROSS JOIN LATERAL (SELECT CASE WHEN r.d IS NOT NULL AND (p.by_def OR r.h IS NOT NULL)
                                THEN least(min(o.memory), r.recorded) END AS start
                      FROM runs o WHERE pg_temp.in_window(o, r, p.by_def, p.lookback)) s
CROSS JOIN LATERAL generate_series(1, p.attempts) a(k)
WHERE r.policy = p.name AND s.start IS NOT NULL;
-- The attempt that ran last: the first not certainly killed, or the last.
DELETE FROM retry x WHERE EXISTS (SELECT 1 FROM retry y WHERE y.run_id = x.run_id AND y.policy = x.policy
                                     AND y.k < x.k AND (NOT y.certainly_killed OR y.last_attempt));
INSERT INTO reference
SELECT r.run_id, r.policy, x.request
FROM answers r LEFT JOIN retry x ON x.run_id = r.run_id AND x.policy = r.policy AND (NOT x.certainly_killed OR x.last_attempt)
WHERE r.policy LIKE 'retry%';

-- 3. vpa: per 24 h interval (UTC days) after the one the window starts in, one sample: the largest peak,
-- or with a kill in the interval max(used + 100 MiB, used x 1.2), used the larger of the largest killed
-- request and the largest peak, at the time of the run that set it (the earliest of equals; the first
-- kill when the peak is the larger); weighted 2^((time - q) / half-life) in buckets from 0, the first
-- 1e7 bytes wide, each 5% wider; the weighted percentile answers the end of its bucket; x margin, at
-- least 250 MB (238.4 MiB), in whole MB rounded up.
CREATE FUNCTION pg_temp.bucket_start(i integer) RETURNS float8 LANGUAGE sql IMMUTABLE
AS 'SELECT 1e7::float8 * (power(1.05::float8, i) - 1) / 0.05::float8';
CREATE FUNCTION pg_temp.bucket_of(v float8) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE i integer;
BEGIN
    IF v < 1e7 THEN RETURN 0; END IF;
    i := least(floor(ln(v * 0.05 / 1e7 + 1) / ln(1.05::float8))::integer, 175);
    WHILE i > 0 AND v < pg_temp.bucket_start(i) LOOP i := i - 1; END LOOP;
    WHILE i < 175 AND v >= pg_temp.bucket_start(i + 1) LOOP i := i + 1; END LOOP;
    RETURN i;
END $$;
SELECT ceil(ln(1e12 * 0.05 / 1e7 + 1) / ln(1.05::float8)) + 1 AS buckets;  -- 176: the last is 175
INSERT INTO reference
SELECT r.run_id, r.policy, pg_temp.clamp(v.mb, 512, 350000)
FROM answers r
CROSS JOIN LATERAL (VALUES ('vpa', true, 0.9::float8, 1.15::float8, 24.0::float8),
                           ('vpa per key, p95 x1.3, 12 h', false, 0.95, 1.3, 12.0)) p(name, by_def, pct, margin, half_life_h)
CROSS JOIN LATERAL (
    WITH o AS (SELECT o.*, floor(o.q_us / 86400000000.0) AS day FROM runs o
                WHERE pg_temp.in_window(o, r, p.by_def, '8 days')
                  AND floor(o.q_us / 86400000000.0) > floor((extract(epoch FROM r.q - interval '8 days') * 1000000) / 86400000000.0)),
    i AS (SELECT day, max(peak) AS p, max(memory) FILTER (WHERE killed) AS k, bool_or(killed AND memory IS NOT NULL) AS any_kill,
                 min(q_us) FILTER (WHERE killed AND memory IS NOT NULL) AS first_kill
            FROM o GROUP BY day),
    s AS (SELECT CASE WHEN NOT i.any_kill THEN i.p * 1048576.0::float8
                      ELSE greatest(u.used * 1048576.0::float8 + 100 * 1048576.0::float8, u.used * 1048576.0::float8 * 1.2::float8) END AS v,
                 CASE WHEN NOT i.any_kill THEN (SELECT min(q_us) FROM o WHERE o.day = i.day AND o.peak = i.p)
                      WHEN i.k > coalesce(i.p, -1) THEN (SELECT min(q_us) FROM o WHERE o.day = i.day AND o.killed AND o.memory = i.k)
                      ELSE i.first_kill END AS at
            FROM i CROSS JOIN LATERAL (SELECT greatest(i.k, i.p)::float8 AS used) u
           WHERE i.p IS NOT NULL OR i.any_kill),
    h AS (SELECT pg_temp.bucket_of(s.v) AS b, sum(power(2::float8, (s.at - (extract(epoch FROM r.q) * 1000000)::bigint)::float8 / (p.half_life_h * 3600e6))) AS w
            FROM s GROUP BY 1),
    c AS (SELECT b, w, sum(w) OVER (ORDER BY b) AS partial, sum(w) OVER () AS total FROM h)
    SELECT CASE WHEN min(b) IS NOT NULL
                THEN ceil(greatest(pg_temp.bucket_start(min(b) + 1) * p.margin, 250e6) / 1048576.0)::bigint END AS mb
      FROM c WHERE partial >= p.pct * total) v
WHERE r.policy = p.name;

-- 4. censored: the window's most recent max_runs observations, each weighted 2^((time - q) / half-life): successful
-- runs' peaks are needs, killed runs' requests needs above them (right-censored). Kaplan-Meier: at each
-- measured need v (ascending; a kill at v still at risk there), S *= 1 - (weight of the needs at v) /
-- (weight at risk); the answer is the first v where S <= target, x headroom; if S never gets there, the
-- largest killed request x oom_multiplier (never below the largest peak); never at or below a request
-- killed within floor before.
INSERT INTO reference
SELECT r.run_id, r.policy, pg_temp.clamp(CASE WHEN e.n > 0 THEN greatest(a.raw, e.recent_kill + 1) END, 512, p.hi)
FROM answers r
CROSS JOIN LATERAL (VALUES ('censored', false, 0.05::float8, 1.05, 1.75, 72.0::float8, interval '1 day', 200, 350000),
                           ('censored 20%, 30 runs, per definition', true, 0.2, 1.1, 2, 24.0, interval '6 hours', 30, 9000))
                    p(name, by_def, target, headroom, fallback, half_life_h, floor_lookback, max_runs, hi)
CROSS JOIN LATERAL (
    -- The window's most recent runs, as the replay keeps them (a definition's runs in queue order,
    -- those of one instant by hash, then run id).
    WITH w AS (SELECT o.memory, o.killed, o.peak, o.q
                 FROM runs o WHERE pg_temp.in_window(o, r, p.by_def, '14 days')
                  AND ((o.killed AND o.memory IS NOT NULL) OR (NOT o.killed AND o.peak IS NOT NULL))
                ORDER BY o.q DESC, o.h DESC NULLS FIRST, o.run_id DESC LIMIT p.max_runs),
    obs AS (SELECT CASE WHEN killed THEN memory ELSE peak END AS v, NOT killed AS exact, w.q,
                   power(2::float8, (extract(epoch FROM w.q - r.q) * 1000000)::float8 / (p.half_life_h * 3600e6)) AS wt
              FROM w),
    g AS (SELECT v, coalesce(sum(wt) FILTER (WHERE exact), 0) AS d, sum(wt) AS gone FROM obs GROUP BY v),
    km AS (SELECT v, d, (SELECT sum(wt) FROM obs)
                        - coalesce(sum(gone) OVER (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS at_risk
             FROM g),
    s AS (SELECT v, d, CASE WHEN bool_or(d > 0 AND d >= at_risk) OVER (ORDER BY v) THEN 0
                            ELSE exp(sum(CASE WHEN d > 0 THEN ln(greatest(1 - d / at_risk, 1e-300)) ELSE 0 END) OVER (ORDER BY v)) END AS surv
            FROM km)
    SELECT (SELECT count(*) FROM obs) AS n,
           (SELECT max(v) FROM obs WHERE NOT exact AND q >= r.q - p.floor_lookback) AS recent_kill,
           (SELECT min(v) FROM s WHERE d > 0 AND surv <= p.target) AS quantile,
           (SELECT max(v) FROM obs WHERE NOT exact) AS largest_kill,
           (SELECT max(v) FROM obs WHERE exact) AS largest_peak) e
CROSS JOIN LATERAL (SELECT CASE WHEN e.quantile IS NOT NULL THEN cast(e.quantile * p.headroom AS bigint)
                                ELSE greatest(cast(e.largest_kill * p.fallback AS bigint), e.largest_peak) END AS raw) a
WHERE r.policy = p.name;

-- Every policy's answer for every replayed run equals its reference (NULL: no answer, the run keeps
-- its request).
SELECT a.policy, count(*) AS runs, count(a.memory) AS sized, count(DISTINCT a.memory) AS distinct_answers,
       count(*) FILTER (WHERE a.memory IS DISTINCT FROM f.memory) AS different
FROM answers a LEFT JOIN reference f ON f.run_id = a.run_id AND f.policy = a.policy
WHERE a.policy <> 'baseline (Flotilla)'
GROUP BY a.policy ORDER BY min(a.run_id), a.policy;

-- The retry policy's totals: each attempt killed before the last a certain OOM kill, its memory x the
-- run's runtime requested and all of it wasted; the last attempt (or the recorded request, unsized) as
-- any policy's.
WITH r AS (SELECT v.run_id, extract(epoch FROM t.finished_at - t.started_at)::bigint AS secs, v.peak,
                  CASE WHEN v.killed THEN v.memory END AS died_at, coalesce(a.memory, a.recorded) AS request
             FROM answers a JOIN runs v USING (run_id) JOIN task t USING (run_id) WHERE a.policy = 'retry'),
k AS (SELECT x.request, r.secs FROM retry x JOIN r USING (run_id)
       WHERE x.policy = 'retry' AND x.certainly_killed AND NOT x.last_attempt),
f AS (SELECT r.*, coalesce(r.request < r.peak, false) OR coalesce(r.request <= r.died_at, false) AS oom,
             coalesce(r.request > r.died_at, false) AS unknown, coalesce(r.peak, r.died_at) AS used FROM r)
SELECT s.ooms_min = (SELECT count(*) FROM k) + (SELECT count(*) FILTER (WHERE oom) FROM f) AS ooms_min,
       s.ooms_max = (SELECT count(*) FROM k) + (SELECT count(*) FILTER (WHERE oom OR unknown) FROM f) AS ooms_max,
       s.requested_gb_hours = round(((SELECT coalesce(sum(request * secs), 0) FROM k WHERE secs >= 0)
                                     + (SELECT coalesce(sum(request * secs), 0) FROM f WHERE secs >= 0)) / (1024 * 3600.0), 1) AS requested,
       s.waste_gb_hours = round(((SELECT coalesce(sum(request * secs), 0) FROM k WHERE secs >= 0)
                                 + (SELECT coalesce(sum(greatest(request - used, 0) * secs), 0) FROM f WHERE secs >= 0)) / (1024 * 3600.0), 1) AS waste,
       s.ooms_min > (SELECT count(*) FILTER (WHERE oom) FROM f) AS retries_killed_some
FROM ara_simulate(since => '2026-10-25 00:00+00', policies => (SELECT p FROM policies), tbl => 'tune.task') s
WHERE s.policy = 'retry';

-- The default grid over this history: the whole comparison in one replay.
SELECT policy, feed, runs, runs_sized, ooms_min, ooms_max, requested_gb_hours, requested_vs_baseline
FROM ara_simulate(since => '2026-10-25 00:00+00', tbl => 'tune.task');
-- Policies grouped by definition size the runs of a NULL hash too (ARA's key skips them); none sizes
-- a run without a definition.
SELECT a.policy, count(a.memory) FILTER (WHERE a.h IS NULL AND a.d IS NOT NULL) AS unhashed_sized,
       count(a.memory) FILTER (WHERE a.d IS NULL) AS undefined_sized
FROM answers a WHERE a.policy IN ('baseline (Flotilla)', 'vpa', 'retry', 'vpa per key, p95 x1.3, 12 h')
GROUP BY a.policy ORDER BY a.policy;

-- 5. The lookup policy 'censored': ara_resources(..., policy => 'censored') as of each run's queue time
-- is the replay's censored policy (target 5%, x1.05, 14 days, the key's 200 most recent observations,
-- fallback x1.75), run by run.
SELECT count(*) AS runs, count(a.memory) AS sized,
       count(*) FILTER (WHERE a.memory IS DISTINCT FROM l.memory) AS different,
       count(*) FILTER (WHERE l.sized_by IS DISTINCT FROM 'censored') AS not_censored
FROM answers a
CROSS JOIN LATERAL ara_resources(a.d, a.h, as_of => a.q, tbl => 'tune.task', policy => 'censored') l
WHERE a.policy = 'censored';
-- The other parameters, given or chosen with ara_set_policy(), the same as the replay's given them.
SELECT ara_set_policy('tune.task', 'censored', definitions => ARRAY['def-3', 'def-4'], peak_percentile => 0.8,
                      headroom => 1.1, peak_lookback => '3 days');
SELECT count(*) AS runs, count(*) FILTER (WHERE a.memory IS DISTINCT FROM l.memory) AS different,
       count(*) FILTER (WHERE l.sized_by IS DISTINCT FROM 'censored') AS not_censored
FROM ara_simulate_runs(since => '2026-10-25 00:00+00', tbl => 'tune.task',
        policies => '[{"name": "c", "feed": "censored", "target": 0.2, "multiplier": 1.1, "lookback": "3 days"}]') a
JOIN task t USING (run_id)
CROSS JOIN LATERAL ara_resources(t.definition_id, t.command_hash, as_of => t.queued_at, tbl => 'tune.task') l
WHERE a.policy = 'c' AND t.definition_id IN ('def-3', 'def-4');
-- Why, with the evidence: a run sized from measured needs and kills, one where the kills leave the
-- quantile unknown.
SELECT section, memory, detail FROM ara_explain('r02005', 'tune.task') WHERE section LIKE 'estimate%';
SELECT section, memory, detail FROM ara_explain('r02000', 'tune.task', policy => 'censored', peak_percentile => 0.999)
 WHERE section LIKE 'estimate%';
SELECT run, memory_mb, oom, ara_memory_mb, step FROM ara_growth('def-3', md5('cmd 3'), tbl => 'tune.task',
       since => '2026-10-25 00:00+00', until => '2026-10-26 12:00+00');
SELECT ara_set_policy('tune.task', 'oom');
SELECT ara_set_policy('tune.task', 'censored', peak_percentile => 1);
SELECT * FROM ara_resources('d', 'h', tbl => 'tune.task', policy => 'censored', headroom => 0);

-- 6. ara_tune(): per definition the cheapest applicable policy within the budget (by default the
-- baseline's OOM kills for that definition), against plain SQL over ara_simulate() per definition.
CREATE TABLE tuned AS SELECT * FROM ara_tune(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task');
SELECT definition_id, runs, policy, requested_gb_hours, baseline_gb_hours, saving, ooms_max, baseline_ooms_max, oom_budget
FROM tuned ORDER BY definition_id;
-- The replay per definition behind it: its figures summed over definitions are ara_simulate()'s over
-- the table, policy by policy; and a definition's figures are those of ara_simulate() over a table
-- holding that definition's runs alone (its runs only ever see their own definition's).
CREATE TABLE per_definition AS
SELECT * FROM ara_internal.ara_tune_replay('test', '2026-10-25 00:00+00', '2026-11-09 00:00+00', 'tune.task', 'eks');
CREATE TABLE grid AS SELECT jsonb_agg(spec ORDER BY ord) AS g FROM ara_internal.ara_tune_grid();
-- (ara_tune() leaves out the runs without a definition: the table without them.)
CREATE TABLE defined AS SELECT * FROM task WHERE definition_id IS NOT NULL;
SELECT count(*) AS policies,
       count(*) FILTER (WHERE s.runs = p.runs AND s.ooms_min = p.ooms_min AND s.ooms_max = p.ooms_max
                          AND abs(s.requested_gb_hours - p.gb) <= 0.05 * p.n) AS equal
FROM ara_simulate(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.defined',
                  policies => (SELECT g FROM grid)) s
JOIN (SELECT name, sum(runs) AS runs, sum(ooms_min) AS ooms_min, sum(ooms_max) AS ooms_max,
             sum(requested_gb_hours) AS gb, count(*) AS n
        FROM per_definition GROUP BY name) p ON p.name = s.policy;
CREATE TABLE def3 AS SELECT * FROM task WHERE definition_id = 'def-3';
SELECT count(*) AS policies,
       count(*) FILTER (WHERE s.runs = p.runs AND s.ooms_min = p.ooms_min AND s.ooms_max = p.ooms_max
                          AND s.requested_gb_hours = p.requested_gb_hours) AS equal
FROM ara_simulate(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.def3',
                  policies => (SELECT g FROM grid)) s
JOIN per_definition p ON p.name = s.policy AND p.definition_id = 'def-3';
-- Each choice, against plain SQL over those figures: within the budget (the baseline's upper bound),
-- the fewest requested GB-hours among the baseline and the policies ara_set_policy() can apply.
SELECT count(*) AS definitions, count(*) FILTER (WHERE t.ooms_max > t.oom_budget) AS over_budget,
       count(*) FILTER (WHERE t.requested_gb_hours IS DISTINCT FROM best.gb OR t.oom_budget IS DISTINCT FROM b.ooms_max) AS not_the_cheapest,
       count(*) FILTER (WHERE t.policy <> 'oom (Flotilla)') AS changed,
       round(sum(t.saved_gb_hours) / sum(t.baseline_gb_hours), 3) AS saving
FROM tuned t
JOIN per_definition b ON b.definition_id = t.definition_id AND b.ord = 0
CROSS JOIN LATERAL (SELECT min(p.requested_gb_hours) AS gb FROM per_definition p
                     WHERE p.definition_id = t.definition_id AND p.ooms_max <= b.ooms_max
                       AND (p.ord = 0 OR p.ord IN (SELECT ord FROM ara_internal.ara_tune_grid() WHERE policy IS NOT NULL))) best;
-- The statements apply the choices: run them, and every definition that changed is sized as chosen.
SELECT statement FROM tuned WHERE statement IS NOT NULL ORDER BY definition_id LIMIT 3;
SET client_min_messages = warning;
\o /dev/null
SELECT statement FROM tuned WHERE statement IS NOT NULL \gexec
\o
RESET client_min_messages;
SELECT count(*) AS changed, count(*) FILTER (WHERE s.policy = split_part(t.policy, ' ', 1)) AS applied
FROM tuned t JOIN ara_sizing s ON s.table_name = 'tune.task'::regclass AND s.definition_id = t.definition_id
WHERE t.statement IS NOT NULL;
-- A budget as a rate: at most 60% of a definition's runs killed (upper bound: this history's kills
-- leave half its runs unknown); where none is within a tighter one, the fewest OOM kills.
SELECT count(*) AS definitions, count(*) FILTER (WHERE within_budget) AS within_budget,
       count(*) FILTER (WHERE within_budget AND ooms_max > oom_budget) AS wrong,
       count(*) FILTER (WHERE oom_budget = floor(0.6 * runs)) AS budget_is_the_rate, count(DISTINCT policy) AS policies
FROM ara_tune(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task', max_oom_rate => 0.6);
SELECT count(*) AS definitions, count(*) FILTER (WHERE within_budget) AS within_budget,
       count(*) FILTER (WHERE t.ooms_max <> (SELECT min(p.ooms_max) FROM per_definition p WHERE p.definition_id = t.definition_id
                                            AND (p.ord = 0 OR p.ord IN (SELECT ord FROM ara_internal.ara_tune_grid() WHERE policy IS NOT NULL)))) AS not_the_fewest
FROM ara_tune(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task', max_oom_rate => 0.02) t;
-- The frontier: the baseline, the grid, the peers and the mix ara_tune() recommends; the mix is never
-- worse than the baseline on either axis.
SELECT policy, applicable, ooms_min, ooms_max, requested_gb_hours, requested_vs_baseline, pareto, bar
FROM ara_tune_frontier(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task');
SELECT m.ooms_max <= b.ooms_max AND m.requested_gb_hours <= b.requested_gb_hours AS mix_no_worse
FROM ara_tune_frontier(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task') m,
     ara_tune_frontier(since => '2026-10-25 00:00+00', until => '2026-11-09 00:00+00', tbl => 'tune.task') b
WHERE m.policy LIKE 'ara_tune()%' AND b.policy = 'baseline (Flotilla)';
SELECT * FROM ara_tune(tbl => 'tune.task', max_oom_rate => 2);

-- Errors: each 22023 with what was wrong.
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "oracle"}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "vpa", "attempts": 2}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "retry", "attempts": 0}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "censored", "target": 1}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "censored", "half_life": "-1 day"}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "krr", "min_history": "1 month"}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "vpa", "group": "team"}]', tbl => 'tune.task');
SELECT * FROM ara_simulate(policies => '[{"name": "x", "feed": "krr", "min_runs": "many"}]', tbl => 'tune.task');
-- ara_waste() (per key) takes no policy grouped by definition: its replay refuses one.
SELECT ara_internal.ara_replay('keys', '[{"name": "v", "min": null, "max": null, "window": 0, "terms": [], "group": "definition", "model": {"kind": "retry", "attempts": 2}}]',
                               'd', 'h', 0, ARRAY[0::bigint], 1, false, 1, true, 1, true, 'r');

DROP FUNCTION pg_temp.in_window(runs, answers, boolean, interval);
DROP SCHEMA tune CASCADE;
