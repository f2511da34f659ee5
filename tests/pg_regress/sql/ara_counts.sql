-- ara_counts: the estimate in two steps (a multiset, then ara_estimate over it), exactly the
-- built-in expression and the one-step aggregate: serial, parallel, hashed and spilled, as a
-- running window, rolled up, stored and read back in text and binary.
CREATE EXTENSION IF NOT EXISTS pg_ara;

SELECT ara_counts(m) AS counts, ara_estimate(ara_counts(m)) AS estimate, ara_total(ara_counts(m)) AS total
FROM (VALUES (1024), (1792), (1024), (NULL)) v(m);
-- No rows: the empty multiset; its estimate is NULL as the built-in's.
SELECT ara_counts(m) AS counts, ara_estimate(ara_counts(m)) AS estimate, ara_total(ara_counts(m)) AS total
FROM (VALUES (1)) v(m) WHERE false;
-- Text form: any order, repeats added, spaces; output canonical.
SELECT ' { 8192 : 1 , 4096:2, -5:1, 4096:1 } '::ara_counts AS parsed, '{}'::ara_counts AS empty,
       '{-9223372036854775808:1,9223372036854775807:3}'::ara_counts AS extremes;
SELECT ara_estimate('{1022:1}'::ara_counts) AS "1022*1.75", ara_estimate('{15:1}'::ara_counts, 1, 1.3) AS "15*1.3",
       ara_estimate('{5:1}'::ara_counts, NULL) AS null_p, ara_estimate('{5:1}'::ara_counts, 0.5, NULL) AS null_m;

-- Generated groups of 1..1000 values (ties, negatives, NULLs) under many percentiles and multipliers.
CREATE TABLE cgen AS
SELECT g, p, mult, v
FROM generate_series(1, 1200) g
CROSS JOIN LATERAL (SELECT (ARRAY[0, 0.01, 0.5, 0.99, 0.999, 1, 0.25, 0.75, 0.9, 0.333])[1 + g % 10]::float8 AS p,
                           (ARRAY[1, 1.1, 1.25, 1.3, 1.75, 0.333, 2.5, -1.5, 1.005])[1 + g % 9]::numeric AS mult) params
CROSS JOIN LATERAL (
    SELECT CASE WHEN (g * 31 + i * 17) % 23 = 0 THEN NULL
                WHEN g % 4 = 0 THEN 512 * (1 + (g * i * 7) % 5)
                WHEN g % 4 = 1 THEN ((g * 7919 + i * 104729) % 20001) - 10000
                ELSE ((g::bigint * 2654435761 + i * 40503) % 350001)
           END::bigint AS v
    FROM generate_series(1, 1 + (g * 83) % 1000) i
) vals;
ANALYZE cgen;
CREATE TABLE cexpected AS
SELECT g, cast(percentile_disc(p) WITHIN GROUP (ORDER BY v) * mult AS bigint) AS builtin,
       cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS builtin1,
       cast(percentile_disc(p) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS builtin2,
       count(v) AS n
FROM cgen GROUP BY g, p, mult;
CREATE VIEW cdifferential AS
SELECT count(*) AS groups,
       count(*) FILTER (WHERE o.ours IS DISTINCT FROM e.builtin) AS mismatches,
       count(*) FILTER (WHERE o.ours1 IS DISTINCT FROM e.builtin1) AS mismatches_1arg,
       count(*) FILTER (WHERE o.ours2 IS DISTINCT FROM e.builtin2) AS mismatches_2arg,
       count(*) FILTER (WHERE o.total IS DISTINCT FROM e.n) AS wrong_totals,
       count(*) FILTER (WHERE o.one_step IS DISTINCT FROM o.ours) AS unlike_one_step
FROM (SELECT g, ara_estimate(c, p, mult) AS ours, ara_estimate(c) AS ours1, ara_estimate(c, p) AS ours2,
             ara_total(c) AS total, one_step
      FROM (SELECT g, p, mult, ara_counts(v) AS c, ara_estimate(v, p, mult) AS one_step
            FROM cgen GROUP BY g, p, mult) s) o
FULL JOIN cexpected e USING (g);
SET max_parallel_workers_per_gather = 0;
SELECT * FROM cdifferential;
-- Hashed with little memory: spilled to disk, still exact.
SET enable_sort = off;
SET work_mem = '64kB';
CREATE FUNCTION pg_temp.spilled(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO plan;
    RETURN EXISTS (SELECT 1 FROM jsonb_path_query(plan::jsonb, 'strict $.**') x
                    WHERE jsonb_typeof(x) = 'object' AND x->>'Strategy' = 'Hashed'
                      AND coalesce((x->>'HashAgg Batches')::int, 0) > 1);
END $$;
SELECT pg_temp.spilled('SELECT g, ara_counts(v) FROM cgen GROUP BY g, p, mult') AS spilled;
SELECT * FROM cdifferential;
RESET enable_sort;
RESET work_mem;
-- Parallel: a Partial Aggregate with workers launched, then the same answers.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_hashagg = off;
CREATE FUNCTION pg_temp.parallel(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON, COSTS OFF, TIMING OFF) ' || q INTO plan;
    RETURN (SELECT string_agg(DISTINCT x->>'Partial Mode', ', ') FROM jsonb_path_query(plan::jsonb, 'strict $.**') x
             WHERE jsonb_typeof(x) = 'object' AND x ? 'Partial Mode')
        || '; workers launched: ' || (SELECT max((x->>'Workers Launched')::int) FROM jsonb_path_query(plan::jsonb, 'strict $.**') x
                                       WHERE jsonb_typeof(x) = 'object' AND x ? 'Workers Launched');
END $$;
SELECT pg_temp.parallel('SELECT g, ara_counts(v) FROM cgen GROUP BY g') AS grouped;
SELECT pg_temp.parallel('SELECT ara_counts(v) FROM cgen') AS whole_table;
SELECT * FROM cdifferential;
SELECT ara_estimate(ara_counts(v), 0.99, 1.75) = (SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM cgen) AS whole_table_equal,
       ara_total(ara_counts(v)) = (SELECT count(v) FROM cgen) AS whole_table_total
FROM cgen;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation; RESET enable_hashagg;

-- A running window (the state counted in place, read at every row): as ara_estimate's window.
SELECT count(*) AS rows, count(*) FILTER (WHERE a IS DISTINCT FROM b) AS different
FROM (SELECT ara_estimate(ara_counts(v) OVER w, 0.9, 1.25) AS a, ara_estimate(v, 0.9, 1.25) OVER w AS b
      FROM cgen WHERE g <= 40 WINDOW w AS (PARTITION BY g ORDER BY v ROWS UNBOUNDED PRECEDING)) s;

-- Kept and rolled up: per (group, part) multisets stored in a table (large ones compressed),
-- rolled up per group and over everything, equal to the estimate over the raw values.
CREATE TABLE cparts AS SELECT g, v % 3 AS part, ara_counts(v) AS c FROM cgen GROUP BY g, v % 3;
SELECT count(*) AS groups, count(*) FILTER (WHERE r.e IS DISTINCT FROM x.builtin) AS different
FROM (SELECT g, ara_estimate(ara_rollup(c), p, mult) AS e FROM cparts JOIN (SELECT DISTINCT g, p, mult FROM cgen) k USING (g) GROUP BY g, p, mult) r
JOIN cexpected x USING (g);
SELECT ara_estimate(ara_rollup(c), 0.99, 1.75) = (SELECT ara_estimate(v, 0.99, 1.75) FROM cgen) AS rollup_of_all,
       ara_total(ara_rollup(c)) = (SELECT count(v) FROM cgen) AS rollup_total
FROM cparts;
SELECT max(pg_column_size(c)) < max(octet_length(c::text)) AS stored_compressed FROM cparts;
-- Text and binary (COPY ... FORMAT binary uses send/receive) round trips keep every value.
CREATE TABLE ccopy (g int, part bigint, c ara_counts);
-- (A file in the throwaway cluster's data directory, written and read by the server: the client's
-- working directory may not be writable by the OS user that runs psql.)
DO $$
DECLARE f text := current_setting('data_directory') || '/ara_counts_regress.bin';
BEGIN
    EXECUTE format('COPY (SELECT g, part, c FROM cparts) TO %L WITH (FORMAT binary)', f);
    EXECUTE format('COPY ccopy FROM %L WITH (FORMAT binary)', f);
END $$;
SELECT count(*) AS copied, count(*) FILTER (WHERE a.c::text IS DISTINCT FROM b.c::text) AS different
FROM cparts a JOIN ccopy b USING (g, part);
SELECT count(*) FILTER (WHERE c::text::ara_counts::text IS DISTINCT FROM c::text) AS text_round_trip_different FROM cparts;
SELECT ara_internal.ara_counts_send('{-1:2,4096:1}') AS wire;
-- Values anywhere in bigint's range, neighbours 2^63 or more apart among them (0.6.0 wrote these
-- and refused to read them back: issue 29), out through COPY ... FORMAT binary and back in.
CREATE TABLE cwide (id int, c ara_counts);
INSERT INTO cwide VALUES
    (1, '{-1:1,9223372036854775807:1}'),
    (2, '{-9223372036854775808:1,0:1}'),
    (3, '{-9223372036854775808:3,-1:1,0:2,9223372036854775807:1}'),
    (4, '{-9223372036854775808:1,9223372036854775807:1}'),
    (5, '{-4611686018427387905:1,4611686018427387904:1}'),
    (6, '{0:1,9223372036854775807:1}'),
    (7, '{-2:1,-1:1,9223372036854775806:1,9223372036854775807:5}'),
    (8, '{-9223372036854775808:1}'),
    (9, '{}');
-- And 200 generated ones: up to 6 values each, from the ends, 0, -1 and 2^63 apart.
INSERT INTO cwide
SELECT 100 + i, ara_counts(v)
FROM generate_series(1, 200) i,
     LATERAL (SELECT (ARRAY[-9223372036854775808, -9223372036854775807, -4611686018427387904, -1, 0, 1,
                            4611686018427387904, 9223372036854775806, 9223372036854775807])[1 + (i * 7 + j * 13) % 9]
                     + CASE WHEN (i + j) % 4 = 0 AND (i * 7 + j * 13) % 9 BETWEEN 2 AND 6 THEN (i % 5) - 2 ELSE 0 END AS v
              FROM generate_series(1, 1 + i % 6) j) s
GROUP BY i;
CREATE TABLE cwide_back (LIKE cwide);
DO $$
DECLARE f text := current_setting('data_directory') || '/ara_counts_wide.bin';
BEGIN
    EXECUTE format('COPY cwide TO %L WITH (FORMAT binary)', f);
    EXECUTE format('COPY cwide_back FROM %L WITH (FORMAT binary)', f);
END $$;
SELECT count(*) AS copied, count(*) FILTER (WHERE a.c::text IS DISTINCT FROM b.c::text) AS different,
       count(*) FILTER (WHERE ara_total(a.c) IS DISTINCT FROM ara_total(b.c)) AS totals_different
FROM cwide a JOIN cwide_back b USING (id);
SELECT id, c, ara_internal.ara_counts_send(c) AS wire FROM cwide WHERE id < 10 ORDER BY id;

-- Called directly, the support functions never change their argument.
SELECT c0, ara_internal.ara_counts_trans(c0, 7) AS added, ara_internal.ara_counts_merge(c0, '{7:2,1:1}') AS merged, c0 AS unchanged
FROM (SELECT '{1:1,9:1}'::ara_counts AS c0) s;

-- Errors.
\set VERBOSITY terse
SELECT 'x'::ara_counts;
SELECT '{1:0}'::ara_counts;
SELECT '{1:1,}'::ara_counts;
SELECT '{1:4611686018427387904,2:1}'::ara_counts;
SELECT regress_util.sqlstate_of('SELECT ''{x:1}''::ara_counts') AS bad_value,
       regress_util.sqlstate_of('SELECT ara_estimate(''{1:1}''::ara_counts, 1.5)') AS percentile_above_one,
       regress_util.sqlstate_of('SELECT ara_estimate(''{1:1}''::ara_counts, 0.5, ''NaN'')') AS nan_multiplier,
       regress_util.sqlstate_of('SELECT ara_estimate(''{9223372036854775807:1}''::ara_counts)') AS overflow;
\set VERBOSITY default

DROP VIEW cdifferential;
DROP TABLE cgen, cexpected, cparts, ccopy, cwide, cwide_back;
