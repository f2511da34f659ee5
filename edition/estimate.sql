-- SQL edition: the twins of the ara_estimate() aggregates (src/estimate.rs). The answer is the
-- built-in expression itself, cast(percentile_disc(p) WITHIN GROUP (ORDER BY value) * m AS bigint),
-- taken over the values the state collected: the same answers by construction, the same errors
-- (22003 for a percentile outside [0, 1] or a result outside bigint, 22023 when the percentile or
-- the multiplier changes within a group, 0A000 for a NaN multiplier). Parallel plans combine the
-- partial states. What differs: the state holds every value (the extension's holds each distinct
-- value once), and moving window frames recompute instead of removing a value.
--
-- ara_estimate(value): the values in a bigint[], appended by PostgreSQL's own array_append (in an
-- aggregate it appends in place, so a group of n rows costs O(n)). With a percentile (and a
-- multiplier): a numeric[] whose first two elements are the group's percentile (its shortest exact
-- decimal, which casts back to the same float8) and multiplier, then the values.

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_final_default(state bigint[])
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM pg_catalog.unnest(state) v
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_final_default(bigint[]) IS
'pg_ara internal (SQL edition): final function of ara_estimate(bigint): the built-in percentile_disc(0.99) x 1.75 over the values; not for direct use.';

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint) (
    SFUNC = pg_catalog.array_append,
    STYPE = bigint[],
    FINALFUNC = ara_internal.ara_estimate_final_default,
    COMBINEFUNC = pg_catalog.array_cat,
    PARALLEL = SAFE
);

-- One row of a group with a percentile and a multiplier: checks them as the extension does
-- (src/core/estimate.rs: the range on every row, even one whose value is NULL; the same on every
-- row of the group, NULL included), then keeps the value.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_trans_sql(state numeric[], value bigint,
    percentile double precision, multiplier numeric)
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF percentile IS NOT NULL AND (percentile = 'NaN'::float8 OR percentile < 0 OR percentile > 1) THEN
        RAISE EXCEPTION 'percentile value % is not between 0 and 1', percentile
            USING ERRCODE = '22003', HINT = 'ara_estimate(value, percentile, ...) takes a percentile from 0 to 1, e.g. 0.99.';
    END IF;
    IF state IS NULL THEN
        state := ARRAY[percentile::text::numeric, multiplier];
    ELSE
        IF state[1] IS DISTINCT FROM percentile::text::numeric THEN
            RAISE EXCEPTION 'ara_estimate: the percentile changed within one group (% then %)',
                coalesce(state[1]::float8::text, 'NULL'), coalesce(percentile::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'Pass the same percentile on every row of a group, usually a constant.';
        END IF;
        IF state[2] IS DISTINCT FROM multiplier THEN
            RAISE EXCEPTION 'ara_estimate: the multiplier changed within one group (% then %)',
                coalesce(state[2]::text, 'NULL'), coalesce(multiplier::text, 'NULL')
                USING ERRCODE = '22023', HINT = 'Pass the same multiplier on every row of a group, usually a constant such as 1.75.';
        END IF;
    END IF;
    IF value IS NOT NULL THEN
        state := array_append(state, value::numeric);
    END IF;
    RETURN state;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_trans_sql(numeric[], bigint, double precision, numeric) IS
'pg_ara internal (SQL edition): transition function of ara_estimate(bigint, float8, numeric); not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_trans_sql(state numeric[], value bigint,
    percentile double precision)
RETURNS numeric[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT ara_internal.ara_estimate_trans_sql(state, value, percentile, 1.75) $$;
COMMENT ON FUNCTION ara_internal.ara_estimate_trans_sql(numeric[], bigint, double precision) IS
'pg_ara internal (SQL edition): transition function of ara_estimate(bigint, float8); not for direct use.';

-- Two partial states of one group (parallel plans): the same percentile and multiplier, the values
-- together.
CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_combine_sql(a numeric[], b numeric[])
RETURNS numeric[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF a IS NULL THEN
        RETURN b;
    ELSIF b IS NULL THEN
        RETURN a;
    END IF;
    IF a[1] IS DISTINCT FROM b[1] THEN
        RAISE EXCEPTION 'ara_estimate: the percentile changed within one group (% then %)',
            coalesce(a[1]::float8::text, 'NULL'), coalesce(b[1]::float8::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Pass the same percentile on every row of a group, usually a constant.';
    END IF;
    IF a[2] IS DISTINCT FROM b[2] THEN
        RAISE EXCEPTION 'ara_estimate: the multiplier changed within one group (% then %)',
            coalesce(a[2]::text, 'NULL'), coalesce(b[2]::text, 'NULL')
            USING ERRCODE = '22023', HINT = 'Pass the same multiplier on every row of a group, usually a constant such as 1.75.';
    END IF;
    RETURN a || b[3:];
END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_combine_sql(numeric[], numeric[]) IS
'pg_ara internal (SQL edition): combines two partial ara_estimate() states (parallel aggregation); not for direct use.';

CREATE OR REPLACE FUNCTION ara_internal.ara_estimate_final_sql(state numeric[])
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN state[1] IS NOT NULL AND state[2] IS NOT NULL THEN
        (SELECT cast(percentile_disc(state[1]::float8) WITHIN GROUP (ORDER BY v) * state[2] AS bigint)
           FROM pg_catalog.unnest(state[3:]) v) END
$$;
COMMENT ON FUNCTION ara_internal.ara_estimate_final_sql(numeric[]) IS
'pg_ara internal (SQL edition): final function of ara_estimate(bigint, float8[, numeric]): the built-in percentile_disc(p) x m over the values; NULL for a NULL percentile or multiplier; not for direct use.';

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint, percentile double precision) (
    SFUNC = ara_internal.ara_estimate_trans_sql,
    STYPE = numeric[],
    FINALFUNC = ara_internal.ara_estimate_final_sql,
    COMBINEFUNC = ara_internal.ara_estimate_combine_sql,
    PARALLEL = SAFE
);

CREATE OR REPLACE AGGREGATE @extschema@.ara_estimate(value bigint, percentile double precision, multiplier numeric) (
    SFUNC = ara_internal.ara_estimate_trans_sql,
    STYPE = numeric[],
    FINALFUNC = ara_internal.ara_estimate_final_sql,
    COMBINEFUNC = ara_internal.ara_estimate_combine_sql,
    PARALLEL = SAFE
);

COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint) IS
'pg_ara (SQL edition): Flotilla''s ARA memory estimate, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), as an ordinary aggregate: exactly equal (it is that expression over the values it collects), NULLs skipped, NULL for no rows, runs in parallel and as a window aggregate. Its state holds every value.';
COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint, double precision) IS
'pg_ara (SQL edition): cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint), exactly. percentile in [0, 1] (else 22003), the same on every row of a group (else 22023); NULL percentile gives NULL. Its state is copied on every row: cost grows with the square of a group''s rows (the compiled extension: linearly).';
COMMENT ON AGGREGATE @extschema@.ara_estimate(bigint, double precision, numeric) IS
'pg_ara (SQL edition): cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint), exactly: decimal multiplication, rounding half away from zero (1022 * 1.75 = 1788.5 -> 1789). percentile and multiplier must be the same on every row of a group (else 22023); NULL for either gives NULL; a result outside bigint is 22003. Its state is copied on every row: cost grows with the square of a group''s rows (the compiled extension: linearly).';
