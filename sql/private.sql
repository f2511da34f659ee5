-- The extension's functions users never call, moved into ara_internal (sql/schema.sql, created just
-- before): pgrx creates the Rust functions in @extschema@. The same statements run in a fresh install
-- and in the 0.1.0 -> 0.2.0 upgrade, so both end alike. Triggers and aggregates refer to functions by
-- oid: moving them changes nothing for them.

ALTER FUNCTION @extschema@.ara_command_hash_trigger() SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_trans(internal, bigint) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_trans(internal, bigint, double precision) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_trans(internal, bigint, double precision, numeric) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_inv(internal, bigint) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_inv(internal, bigint, double precision) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_inv(internal, bigint, double precision, numeric) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_final(internal) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_combine(internal, internal) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_serial(internal) SET SCHEMA ara_internal;
ALTER FUNCTION @extschema@.ara_estimate_deserial(bytea, internal) SET SCHEMA ara_internal;

COMMENT ON FUNCTION ara_internal.ara_command_hash_trigger() IS
'pg_ara: BEFORE INSERT OR UPDATE row trigger; arguments (command_column, hash_column [, description_column]). Sets the hash column to command_hash(command, description), overwriting whatever the client sent. Install it with ara_enable(), not by hand.';
