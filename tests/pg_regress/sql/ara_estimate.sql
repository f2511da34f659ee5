-- ara_estimate(): exactly the built-in expression, serial, parallel and as a window aggregate.
CREATE EXTENSION IF NOT EXISTS pg_ara;

-- The report's example: OOMs of 1024, 1792, 1024 MB give 1792 * 1.75 = 3136.
SELECT ara_estimate(m) AS one_arg, ara_estimate(m, 0.99) AS two_args, ara_estimate(m, 0.99, 1.75) AS three_args,
       cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY m) * 1.75 AS int) AS builtin
FROM (VALUES (1024), (1792), (1024)) v(m);
-- Rounding half away from zero, exact decimals (no float).
SELECT ara_estimate(1022) AS "1022*1.75", ara_estimate(15, 1, 1.3) AS "15*1.3", ara_estimate(-1022) AS "-1022*1.75",
       ara_estimate(250, 0.5, 1.25) AS "250*1.25";
-- No rows, only NULLs, NULL percentile, NULL multiplier: NULL, as the built-in.
SELECT ara_estimate(m) FROM (VALUES (1)) v(m) WHERE false;
SELECT ara_estimate(NULL::bigint), ara_estimate(5, NULL), ara_estimate(5, 0.5, NULL),
       percentile_disc(NULL) WITHIN GROUP (ORDER BY 5) * 1.75 AS builtin_null_p;

-- Generated groups: sizes 1..1000 (ties, negatives, NULLs), many percentiles and multipliers.
CREATE TABLE gen AS
SELECT g, p, mult, v
FROM generate_series(1, 1200) g
CROSS JOIN LATERAL (SELECT (ARRAY[0, 0.01, 0.5, 0.99, 0.999, 1, 0.25, 0.75, 0.9, 0.333])[1 + g % 10]::float8 AS p,
                           (ARRAY[1, 1.1, 1.25, 1.3, 1.75, 0.333, 2.5, -1.5, 1.005])[1 + g % 9]::numeric AS mult) params
CROSS JOIN LATERAL (
    SELECT CASE WHEN (g * 31 + i * 17) % 23 = 0 THEN NULL                       -- NULLs
                WHEN g % 4 = 0 THEN 512 * (1 + (g * i * 7) % 5)                  -- heavy ties
                WHEN g % 4 = 1 THEN ((g * 7919 + i * 104729) % 20001) - 10000    -- negatives
                ELSE ((g::bigint * 2654435761 + i * 40503) % 350001)             -- wide range
           END::bigint AS v
    FROM generate_series(1, 1 + (g * 83) % 1000) i
) vals;
ANALYZE gen;
SELECT count(DISTINCT g) AS groups, count(*) AS rows, count(*) FILTER (WHERE v IS NULL) AS null_values FROM gen;

-- The built-in's answers, computed once (an ordered-set aggregate never runs in parallel).
CREATE TABLE expected AS
SELECT g,
       cast(percentile_disc(p) WITHIN GROUP (ORDER BY v) * mult AS bigint) AS builtin,
       cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS builtin1,
       cast(percentile_disc(p) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS builtin2
FROM gen GROUP BY g, p, mult;
CREATE VIEW differential AS
SELECT count(*) AS groups,
       count(*) FILTER (WHERE o.ours IS DISTINCT FROM e.builtin) AS mismatches,
       count(*) FILTER (WHERE o.ours1 IS DISTINCT FROM e.builtin1) AS mismatches_1arg,
       count(*) FILTER (WHERE o.ours2 IS DISTINCT FROM e.builtin2) AS mismatches_2arg
FROM (SELECT g, ara_estimate(v, p, mult) AS ours, ara_estimate(v) AS ours1, ara_estimate(v, p) AS ours2
      FROM gen GROUP BY g, p, mult) o
FULL JOIN expected e USING (g);
-- Serial.
SET max_parallel_workers_per_gather = 0;
SELECT * FROM differential;

-- Parallel: force it, prove Partial Aggregate with workers launched, then compare.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
CREATE FUNCTION pg_temp.plan_facts(q text) RETURNS TABLE (partial_aggregate boolean, workers_launched int)
LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || q INTO plan;
    RETURN QUERY SELECT plan::text LIKE '%"Partial Mode": "Partial"%',
                        (regexp_match(plan::text, '"Workers Launched": (\d+)'))[1]::int;
END $$;
SELECT * FROM pg_temp.plan_facts('SELECT ara_estimate(v, 0.5, 1.3) FROM gen');
SELECT * FROM pg_temp.plan_facts('SELECT g % 7, ara_estimate(v) FROM gen GROUP BY 1');
-- One group over the whole table, in parallel, against the built-in (which cannot go parallel).
SELECT ara_estimate(v) = (SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM gen) AS whole_table_equal,
       ara_estimate(v, 0.5, 1.3) = (SELECT cast(percentile_disc(0.5) WITHIN GROUP (ORDER BY v) * 1.3 AS bigint) FROM gen) AS median_equal
FROM gen;
-- Grouped, in parallel (Partial GroupAggregate per worker, then combine): the same comparison,
-- with the plan proven parallel first.
SELECT * FROM pg_temp.plan_facts('SELECT * FROM differential');
SELECT * FROM differential;
RESET enable_hashagg;
RESET parallel_leader_participation;

-- As a window aggregate: what ARA would have said for every run, over a moving 3-day frame.
SET max_parallel_workers_per_gather = 0;
CREATE TABLE runs AS
SELECT i AS run, 'def-' || (i % 5) AS definition_id, md5((i % 3)::text) AS command_hash,
       timestamptz '2025-11-01' + (i * interval '37 minutes') AS queued_at,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 512 * (1 + (i * 7) % 9) END AS memory
FROM generate_series(1, 4000) i;
SELECT count(*) AS runs,
       count(*) FILTER (WHERE ours IS DISTINCT FROM builtin) AS mismatches
FROM (
    SELECT r.run,
           ara_estimate(r.memory) OVER w AS ours,
           (SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY o.memory) * 1.75 AS bigint)
              FROM runs o
             WHERE o.definition_id = r.definition_id AND o.command_hash = r.command_hash
               AND o.queued_at BETWEEN r.queued_at - interval '3 days' AND r.queued_at) AS builtin
    FROM runs r
    WINDOW w AS (PARTITION BY definition_id, command_hash ORDER BY queued_at
                 RANGE BETWEEN '3 days' PRECEDING AND CURRENT ROW)
) x;
-- Other frames: sliding rows, whole partition; with percentile and multiplier.
CREATE TABLE runs800 AS SELECT * FROM runs WHERE run <= 800;
SELECT count(*) FILTER (WHERE a IS DISTINCT FROM b) AS mismatches_rows_frame,
       count(*) FILTER (WHERE c IS DISTINCT FROM d) AS mismatches_partition
FROM (
    SELECT ara_estimate(memory, 0.5, 1.25) OVER (PARTITION BY definition_id ORDER BY run ROWS BETWEEN 10 PRECEDING AND 2 FOLLOWING) AS a,
           (SELECT cast(percentile_disc(0.5) WITHIN GROUP (ORDER BY o.memory) * 1.25 AS bigint) FROM runs800 o
             WHERE o.definition_id = r.definition_id AND o.run BETWEEN r.run - 50 AND r.run + 10) AS b,
           ara_estimate(memory, 0.9) OVER (PARTITION BY definition_id) AS c,
           (SELECT cast(percentile_disc(0.9) WITHIN GROUP (ORDER BY o.memory) * 1.75 AS bigint) FROM runs800 o
             WHERE o.definition_id = r.definition_id) AS d
    FROM runs800 r
) x;

-- Errors, with the built-in's SQLSTATE where it has one.
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, 1.5) FROM (VALUES (1)) t(v)') AS above_one;
SELECT regress_util.sqlstate_of('SELECT percentile_disc(1.5) WITHIN GROUP (ORDER BY v) FROM (VALUES (1)) t(v)') AS builtin_above_one;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, -0.1) FROM (VALUES (NULL::int)) t(v)') AS below_zero_null_value;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, ''NaN'') FROM (VALUES (1)) t(v)') AS nan_percentile;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v) FROM (VALUES (9223372036854775807)) t(v)') AS overflow;
SELECT regress_util.sqlstate_of('SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM (VALUES (9223372036854775807)) t(v)') AS builtin_overflow;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, 0.5, ''NaN'') FROM (VALUES (1)) t(v)') AS nan_multiplier;
SELECT regress_util.sqlstate_of('SELECT cast(percentile_disc(0.5) WITHIN GROUP (ORDER BY v) * ''NaN''::numeric AS bigint) FROM (VALUES (1)) t(v)') AS builtin_nan_multiplier;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, v / 10.0) FROM (VALUES (1), (2)) t(v)') AS percentile_changes;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, 0.5, v) FROM (VALUES (1), (2)) t(v)') AS multiplier_changes;
SELECT regress_util.sqlstate_of('SELECT ara_estimate(v, 0.5, CASE WHEN v = 1 THEN 1.75 END) FROM (VALUES (1), (2)) t(v)') AS multiplier_null_then_not;
SELECT ara_estimate(v, 0.5, CASE WHEN v = 1 THEN 1.75 ELSE 1.750 END) AS same_multiplier_other_scale FROM (VALUES (1), (2)) t(v);

-- The state changes representation as a group grows (its first values as they came, a counts
-- array over a narrow range, a hash map over a wide one, back to an array once the range fills,
-- back to a map when a far value arrives): exact at every size, against the built-in.
CREATE TABLE shapes AS
SELECT n, (CASE WHEN i % 9 = 0 THEN NULL
                WHEN n <= 3 THEN 4096 + (i * 7919) % 700          -- narrow: counts array
                WHEN n <= 6 THEN (i * 104729) % 1000000007 - 500000000  -- wide: hash map
                ELSE 512 + (i * 7919) % 349488 END)::bigint AS v,  -- wide, then dense
       ((n % 4) * 0.25 + 0.24)::float8 AS p, 1 + n / 4.0 AS m
FROM generate_series(1, 9) n, generate_series(1::bigint, CASE n % 3 WHEN 1 THEN 20 WHEN 2 THEN 5000 ELSE 400000 END) i;
INSERT INTO shapes VALUES (9, 9223372036854775807 / 4, 0.49, 3.25), (9, -9223372036854775807 / 4, 0.49, 3.25);
SELECT n, count(v) AS values,
       ara_estimate(v) = cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS p99,
       ara_estimate(v, p) = cast(percentile_disc(((n % 4) * 0.25 + 0.24)::float8) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS p_column,
       ara_estimate(v, p, m) = cast(percentile_disc(((n % 4) * 0.25 + 0.24)::float8) WITHIN GROUP (ORDER BY v) * (1 + n / 4.0) AS bigint) AS multiplier_column
FROM shapes GROUP BY n ORDER BY n;
DROP TABLE shapes;

-- Grouping sets: each set's groups in their own aggregate context, hashed and sorted sets mixed
-- (MixedAggregate), and a sorted ROLLUP: every group equal to the built-in.
CREATE TABLE gsets AS
SELECT i % 40 AS a, i % 7 AS b, (512 + (i * 7919) % 60000)::bigint AS v FROM generate_series(1, 60000) i;
CREATE FUNCTION pg_temp.gsets_equal(q_ara text, q_builtin text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint; bad bigint;
BEGIN
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE x.e IS DISTINCT FROM y.e)
                      FROM (%s) x FULL JOIN (%s) y
                        ON x.a IS NOT DISTINCT FROM y.a AND x.b IS NOT DISTINCT FROM y.b AND x.g = y.g', q_ara, q_builtin)
       INTO n, bad;
    RETURN n || ' groups, ' || bad || ' different';
END $$;
SET enable_sort = off;
SELECT pg_temp.gsets_equal(
    'SELECT a, b, GROUPING(a, b) AS g, ara_estimate(v) AS e FROM gsets GROUP BY GROUPING SETS ((a), (b), ())',
    'SELECT a, b, GROUPING(a, b) AS g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS e
       FROM gsets GROUP BY GROUPING SETS ((a), (b), ())') AS mixed_hashed_and_sorted;
RESET enable_sort;
SET enable_hashagg = off;
SELECT pg_temp.gsets_equal(
    'SELECT a, b, GROUPING(a, b) AS g, ara_estimate(v, 0.5, 1.25) AS e FROM gsets GROUP BY ROLLUP (a, b)',
    'SELECT a, b, GROUPING(a, b) AS g, cast(percentile_disc(0.5) WITHIN GROUP (ORDER BY v) * 1.25 AS bigint) AS e
       FROM gsets GROUP BY ROLLUP (a, b)') AS sorted_rollup;
RESET enable_hashagg;
DROP TABLE gsets;

-- Deferred transitions: at 1,024 groups or more, a hashed GROUP BY's one-argument
-- transition logs (state, value) and applies the log sorted by state; final, serial and combine
-- apply it first. Exact in memory, spilled to disk, in parallel, under LIMIT, rescanned, beside
-- other aggregates and with grouping sets mixing hashed and sorted sets.
CREATE TABLE many AS
SELECT i % 6000 AS g, i % 3 AS h, i % 7 AS k,
       CASE WHEN i % 101 = 0 THEN NULL ELSE 512 + (hashint4(i) & 65535) END::bigint AS v
FROM generate_series(1, 300000) i;
ANALYZE many;
CREATE TABLE many_expected AS
SELECT g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS e FROM many GROUP BY g;
CREATE FUNCTION pg_temp.many_check(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint; bad bigint; plan json; node json; batches int := 0; hashed boolean := false; partial boolean := false;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO plan;
    -- The aggregate node: hashed, and how many batches it used (1: in memory).
    FOR node IN SELECT * FROM jsonb_path_query(plan::jsonb, 'strict $.**') x WHERE jsonb_typeof(x) = 'object'
                                                                          AND x ? 'Node Type' AND x->>'Node Type' = 'Aggregate' LOOP
        hashed := hashed OR node->>'Strategy' = 'Hashed';
        partial := partial OR node->>'Partial Mode' = 'Partial';
        batches := greatest(batches, coalesce((node->>'HashAgg Batches')::int, 0));
    END LOOP;
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE x.e IS DISTINCT FROM y.e)
                      FROM (%s) x JOIN many_expected y USING (g)', q) INTO n, bad;
    RETURN n || ' groups, ' || bad || ' different, ' || CASE WHEN hashed THEN 'hashed' ELSE 'not hashed' END
        || CASE WHEN batches > 1 THEN ', spilled' ELSE '' END || CASE WHEN partial THEN ', in parallel' ELSE '' END;
END $$;
SET max_parallel_workers_per_gather = 0;
SET work_mem = '64MB';
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e FROM many GROUP BY g') AS in_memory;
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e, count(v) AS c, ara_estimate(v, 0.5) AS e5 FROM many GROUP BY g') AS beside_others;
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e FROM many GROUP BY g HAVING ara_estimate(v) > 0') AS having;
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e FROM many GROUP BY g LIMIT 7') AS under_limit;
SET work_mem = '1MB';
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e FROM many GROUP BY g') AS spilled;
RESET work_mem;
-- Rescanned: the hashed aggregate of a correlated subquery runs once per outer row.
SELECT o, (SELECT count(*) FILTER (WHERE x.e IS DISTINCT FROM y.e)
             FROM (SELECT g, ara_estimate(v) AS e FROM many WHERE h = o GROUP BY g) x JOIN many_expected y USING (g)) AS different
FROM generate_series(0, 2) o;
-- A cursor read a few groups, closed early.
DO $$
DECLARE c refcursor; r record; bad int := 0;
BEGIN
    OPEN c FOR SELECT g, ara_estimate(v) AS e FROM many GROUP BY g;
    FOR i IN 1..3 LOOP
        FETCH c INTO r;
        bad := bad + (r.e IS DISTINCT FROM (SELECT e FROM many_expected WHERE g = r.g))::int;
    END LOOP;
    CLOSE c;
    RAISE NOTICE 'cursor closed after 3 groups: % different', bad;
END $$;
-- Parallel: workers' partial states (log applied before serialising), combined by the leader.
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off; SET enable_sort = off;
SET work_mem = '64MB';
SELECT pg_temp.many_check('SELECT g, ara_estimate(v) AS e FROM many GROUP BY g') AS parallel;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation; RESET enable_sort; RESET work_mem;
-- Grouping sets: (g) hashed with (k) and () sorted, then all hashed.
SET max_parallel_workers_per_gather = 0;
SELECT pg_temp.gsets_equal(
    'SELECT g AS a, k AS b, GROUPING(g, k) AS g, ara_estimate(v) AS e FROM many GROUP BY GROUPING SETS ((g), (k), ())',
    'SELECT g AS a, k AS b, GROUPING(g, k) AS g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS e
       FROM many GROUP BY GROUPING SETS ((g), (k), ())') AS mixed_many_groups;
SET enable_sort = off;
SELECT pg_temp.gsets_equal(
    'SELECT g AS a, h AS b, GROUPING(g, h) AS g, ara_estimate(v) AS e FROM many GROUP BY GROUPING SETS ((g), (h))',
    'SELECT g AS a, h AS b, GROUPING(g, h) AS g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS e
       FROM many GROUP BY GROUPING SETS ((g), (h))') AS hashed_sets_many_groups;
RESET enable_sort;
RESET max_parallel_workers_per_gather;
DROP TABLE many, many_expected;

-- Declared as promised: parallel safe, documented.
SELECT p.oid::regprocedure AS function, p.proparallel, obj_description(p.oid, 'pg_proc') IS NOT NULL AS documented
FROM pg_proc p WHERE p.proname LIKE 'ara_estimate%' ORDER BY p.oid::regprocedure::text;
SELECT a.aggfnoid::regprocedure, a.aggcombinefn <> 0 AS combine, a.aggserialfn <> 0 AS serial, a.aggminvtransfn <> 0 AS inverse,
       a.aggfinalmodify, a.aggmfinalmodify
FROM pg_aggregate a WHERE a.aggfnoid::regproc::text LIKE '%ara_estimate' ORDER BY a.aggfnoid::regprocedure::text;

DROP VIEW differential;
DROP TABLE gen, expected, runs, runs800;
