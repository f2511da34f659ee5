-- pg_ara 0.4.0 -> 0.4.1
-- A hashed GROUP BY over many groups with ara_estimate(value) no longer pays a cache miss per row:
-- past 1,024 groups the transition defers its rows to a log applied sorted by state (the library,
-- src/core/deferred.rs; docs/ara_estimate.md). Same results, same C symbols, same SQL definitions:
-- the catalog does not change, and the new library already serves a database still at 0.4.0 (or
-- older). This script only records the version.
-- No SQL file is rerun:
-- body:
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.4.1'" to load this file. \quit
