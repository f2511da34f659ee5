-- pg_ara's private schema: the functions users never call (the aggregate's support functions, the
-- trigger function, internal helpers) live in ara_internal, so that \df in the extension's schema
-- lists only what a user calls. pgrx creates the Rust functions in @extschema@; this moves them.
-- The same statements run in a fresh install and in the 0.1.0 -> 0.2.0 upgrade, so both end alike.
-- Triggers and aggregates refer to functions by oid: moving them changes nothing for them.

CREATE SCHEMA ara_internal;
COMMENT ON SCHEMA ara_internal IS
'pg_ara internal: support functions of the ara_estimate aggregate, the command_hash trigger function and helpers. Not for direct use; owned by the extension.';
-- ara_enable creates triggers on ara_internal.ara_command_hash_trigger as the calling user, and
-- the SQL functions call the helpers: every role that may use pg_ara needs to see the schema.
GRANT USAGE ON SCHEMA ara_internal TO PUBLIC;

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
