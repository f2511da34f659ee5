-- pg_ara 0.5.0 -> 0.6.0
-- The estimate in two steps, for Citus and for keeping (issue 19): a type ara_counts (a multiset
-- of bigint values), the aggregates ara_counts(value) and ara_rollup(counts), and
-- ara_estimate(counts [, percentile [, multiplier]]) and ara_total(counts) over it.
-- ara_estimate(ara_counts(v), p, m) equals ara_estimate(v, p, m); Citus splits it across its
-- workers (its state type is concrete, not internal). Nothing existing changes; no lock on your
-- tables.
-- body: counts
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.6.0'" to load this file. \quit

-- ==== sql/counts.sql (as in the 0.6.0 install script) ====
-- ara_counts: a multiset of bigint values (value -> how many times), the concrete state of a
-- two-step form of ara_estimate() that Citus splits across its workers and users may keep and roll
-- up (src/counts.rs, src/core/counts.rs; docs/ara_estimate.md). Created once, by the install
-- script or the 0.5.0 -> 0.6.0 upgrade: not CREATE OR REPLACE, so no later upgrade reruns it.

CREATE TYPE ara_counts;
CREATE FUNCTION ara_internal.ara_counts_in(cstring) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_in';
CREATE FUNCTION ara_internal.ara_counts_out(ara_counts) RETURNS cstring
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_out';
CREATE FUNCTION ara_internal.ara_counts_recv(internal) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_recv';
CREATE FUNCTION ara_internal.ara_counts_send(ara_counts) RETURNS bytea
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_send';
CREATE TYPE ara_counts (
    INPUT = ara_internal.ara_counts_in, OUTPUT = ara_internal.ara_counts_out,
    RECEIVE = ara_internal.ara_counts_recv, SEND = ara_internal.ara_counts_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = int4, STORAGE = extended
);

CREATE FUNCTION ara_internal.ara_counts_trans("state" ara_counts, "value" bigint) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_trans';
CREATE FUNCTION ara_internal.ara_counts_merge("state" ara_counts, "counts" ara_counts) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_merge';
CREATE FUNCTION ara_internal.ara_counts_final("state" ara_counts) RETURNS ara_counts
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_final';

CREATE AGGREGATE ara_counts("value" bigint) (
    SFUNC = ara_internal.ara_counts_trans, STYPE = ara_counts, INITCOND = '{}',
    FINALFUNC = ara_internal.ara_counts_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_internal.ara_counts_merge,
    PARALLEL = SAFE
);
CREATE AGGREGATE ara_rollup("counts" ara_counts) (
    SFUNC = ara_internal.ara_counts_merge, STYPE = ara_counts, INITCOND = '{}',
    FINALFUNC = ara_internal.ara_counts_final, FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ara_internal.ara_counts_merge,
    PARALLEL = SAFE
);

CREATE FUNCTION ara_estimate("counts" ara_counts) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_estimate("counts" ara_counts, "percentile" double precision) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_estimate("counts" ara_counts, "percentile" double precision, "multiplier" numeric)
RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_estimate';
CREATE FUNCTION ara_total("counts" ara_counts) RETURNS bigint
IMMUTABLE STRICT PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'ara_counts_total';

COMMENT ON TYPE ara_counts IS
'pg_ara: a multiset of bigint values, one (value, count) pair per distinct value; text form ''{4096:2,8192:1}''. Made by ara_counts(value), merged by ara_rollup(counts), read by ara_estimate(counts, percentile, multiplier) and ara_total(counts).';
COMMENT ON AGGREGATE ara_counts(bigint) IS
'pg_ara: the multiset of the group''s values (NULLs skipped; ''{}'' for none). ara_estimate(ara_counts(v), p, m) = ara_estimate(v, p, m) exactly, and Citus runs it on its workers (each sends one pair per distinct value) where ara_estimate(v, ...) ships every row.';
COMMENT ON AGGREGATE ara_rollup(ara_counts) IS
'pg_ara: the union of multisets (counts added), e.g. per-day ara_counts rolled up to a week; ara_estimate(ara_rollup(c), ...) equals the estimate over all their values.';
COMMENT ON FUNCTION ara_estimate(ara_counts) IS
'pg_ara: cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint) over the values the multiset counts, exactly as ara_estimate(value); NULL when it is empty.';
COMMENT ON FUNCTION ara_estimate(ara_counts, double precision) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * 1.75 AS bigint) over the multiset; percentile in [0, 1] (else 22003); NULL when empty or the percentile is NULL.';
COMMENT ON FUNCTION ara_estimate(ara_counts, double precision, numeric) IS
'pg_ara: cast(percentile_disc(percentile) WITHIN GROUP (ORDER BY value) * multiplier AS bigint) over the multiset, exactly as the aggregate ara_estimate(value, percentile, multiplier) (decimal multiplication, half away from zero); NULL when empty or an argument is NULL; a result outside bigint is 22003.';
COMMENT ON FUNCTION ara_total(ara_counts) IS
'pg_ara: how many values (rows) the multiset counts.';
COMMENT ON FUNCTION ara_internal.ara_counts_in(cstring) IS 'pg_ara: input function of type ara_counts (''{value:count,...}''; 22P02 when malformed); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_out(ara_counts) IS 'pg_ara: output function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_recv(internal) IS 'pg_ara: binary input function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_send(ara_counts) IS 'pg_ara: binary output function of type ara_counts; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_trans(ara_counts, bigint) IS 'pg_ara: transition function of ara_counts(bigint); counts in place when called by the aggregate; not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_merge(ara_counts, ara_counts) IS 'pg_ara: the union of two multisets: combine function of ara_counts() and ara_rollup(), transition of ara_rollup(); not for direct use.';
COMMENT ON FUNCTION ara_internal.ara_counts_final(ara_counts) IS 'pg_ara: final function of ara_counts() and ara_rollup() (the canonical value); not for direct use.';
