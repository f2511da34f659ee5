-- Helpers shared by the other test files.
CREATE SCHEMA regress_util;
-- Runs a statement and returns its SQLSTATE and message, or 'no error'.
CREATE FUNCTION regress_util.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- A uniform number in [0, 1) determined by (i, k): generated histories that are the same on every
-- major (random() after setseed() is not: PostgreSQL 15 changed its generator).
CREATE FUNCTION regress_util.rnd(i bigint, k integer) RETURNS double precision LANGUAGE sql IMMUTABLE AS
$$ SELECT ('x' || substr(md5(i::text || '/' || k::text), 1, 12))::bit(48)::bigint / 281474976710656.0 $$;
GRANT USAGE ON SCHEMA regress_util TO PUBLIC;
-- The extension itself (already there, updated from an older version, when scripts/test.sh runs
-- the suite a second time on an upgraded install).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_ara;
RESET client_min_messages;
