-- pg_ara's tables: created once, by the install script of the version that introduced them
-- (upgrade scripts never re-run this file).

-- Where an interrupted backfill resumes. Rows are visible only to roles that may UPDATE the table.
CREATE TABLE @extschema@.ara_backfill_progress (
    relid          oid         NOT NULL,
    definitions    text[],
    last_key       text[],
    rows_scanned   bigint      NOT NULL DEFAULT 0,
    rows_changed   bigint      NOT NULL DEFAULT 0,
    rows_no_source bigint      NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
COMMENT ON TABLE @extschema@.ara_backfill_progress IS
'pg_ara: one row per backfill of a table (and definition filter): where it stopped, for CALL ara_backfill() to resume. Safe to delete to start over.';
ALTER TABLE @extschema@.ara_backfill_progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_backfill_progress_by_privilege ON @extschema@.ara_backfill_progress
    USING (pg_catalog.has_table_privilege(relid, 'UPDATE'))
    WITH CHECK (pg_catalog.has_table_privilege(relid, 'UPDATE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.ara_backfill_progress TO PUBLIC;

-- The tables pg_ara was enabled on (0.4.0): ara_enable() registers a table, ara_disable()
-- unregisters it. ara_metrics() reads it, so that a table whose triggers someone dropped or
-- disabled by hand still shows up (and pages someone) instead of silently leaving the list.
-- Its statements are also in the 0.3.2 -> 0.4.0 upgrade script's head.
CREATE TABLE @extschema@.ara_tables (
    table_name regclass    PRIMARY KEY,
    enabled_at timestamptz,
    enabled_by name
);
COMMENT ON TABLE @extschema@.ara_tables IS
'pg_ara: the tables pg_ara is enabled on (ara_enable registers, ara_disable unregisters); enabled_at is when it was first enabled there (NULL: before 0.4.0), the default pivot of ara_compare(). ara_metrics() reports a registered table whose triggers are missing or disabled.';
ALTER TABLE @extschema@.ara_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_tables_read ON @extschema@.ara_tables FOR SELECT
    USING (pg_catalog.has_table_privilege(table_name, 'SELECT, TRIGGER'));
CREATE POLICY ara_tables_insert ON @extschema@.ara_tables FOR INSERT
    WITH CHECK (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
CREATE POLICY ara_tables_delete ON @extschema@.ara_tables FOR DELETE
    USING (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
GRANT SELECT, INSERT, DELETE ON @extschema@.ara_tables TO PUBLIC;
-- pg_dump keeps the registrations (not of tables dropped since: their oid would not restore).
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ara_tables',
    'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_name)');
-- Backfill progress is visible to whoever may read the table (the monitoring role of
-- ara_metrics()); changing it still needs UPDATE on the table (the policy above).
CREATE POLICY ara_backfill_progress_read ON @extschema@.ara_backfill_progress FOR SELECT
    USING (pg_catalog.has_table_privilege(relid, 'SELECT'));
