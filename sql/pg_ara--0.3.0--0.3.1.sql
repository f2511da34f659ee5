-- pg_ara 0.3.0 -> 0.3.1
-- Faster single-row INSERTs, same results: the trigger function is a hand-written V1 function
-- (src/trigger.rs) under the C symbol it has had since 0.1.0, declared as before; the catalog does
-- not change. Restated below so that this script says where the function comes from; replacing it
-- keeps its oid, so the triggers ara_enable() made stay as they are.
-- No SQL file is rerun:
-- body:
\echo Use "ALTER EXTENSION pg_ara UPDATE TO '0.3.1'" to load this file. \quit

CREATE OR REPLACE FUNCTION ara_internal.ara_command_hash_trigger()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'ara_command_hash_trigger_wrapper';
