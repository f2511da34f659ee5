-- pg_ara 0.3.1 -> 0.3.2
-- ara_estimate's memory counted by PostgreSQL: the aggregate's state and every buffer it grows are
-- palloc'd in the aggregate's memory context (src/memory.rs), so hash aggregation spills by what the
-- states really hold and EXPLAIN reports it. The functions keep their SQL definitions and C symbols.
-- The three ara_estimate aggregates now declare SSPACE and MSSPACE 1024 (what a typical group's
-- state takes; without them PostgreSQL assumes 8 kB). CREATE AGGREGATE is the only statement that
-- sets them and the aggregates cannot be dropped and recreated under the views and functions that
-- use them, so this script sets them in pg_aggregate directly (updating a superuser-only extension
-- runs as a superuser), for exactly the aggregates the extension owns.
-- No SQL file is rerun:
-- body:
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.3.2'" to load this file. \quit

DO $$
DECLARE
    n integer;
BEGIN
    UPDATE pg_catalog.pg_aggregate a SET aggtransspace = 1024, aggmtransspace = 1024
    FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = a.aggfnoid
      AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
      AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_ara');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> 3 THEN
        RAISE EXCEPTION 'pg_ara 0.3.2: expected the 3 ara_estimate aggregates, found %', n
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END
$$;
