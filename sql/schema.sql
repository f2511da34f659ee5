-- pg_ara's private schema: the functions users never call (the aggregate's support functions, the
-- trigger function, internal helpers) live in ara_internal, so that \df in the extension's schema
-- lists only what a user calls. Shared by the extension (before sql/private.sql) and the SQL edition.

CREATE SCHEMA ara_internal;
COMMENT ON SCHEMA ara_internal IS
'pg_ara internal: support functions of the ara_estimate aggregate, the command_hash trigger function and helpers. Not for direct use; owned by the extension.';
-- ara_enable creates triggers on ara_internal.ara_command_hash_trigger as the calling user, and
-- the SQL functions call the helpers: every role that may use pg_ara needs to see the schema.
GRANT USAGE ON SCHEMA ara_internal TO PUBLIC;
