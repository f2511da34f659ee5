-- pg_ara's tables: created once, by the install script of the version that introduced them
-- (upgrade scripts never re-run this file). Each pg_extension_config_dump() call stays on one line:
-- the SQL edition's plain script, which is no extension, leaves those lines out (scripts/edition.sh).

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
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ara_tables', 'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_name)');
-- Backfill progress is visible to whoever may read the table (the monitoring role of
-- ara_metrics()); changing it still needs UPDATE on the table (the policy above).
CREATE POLICY ara_backfill_progress_read ON @extschema@.ara_backfill_progress FOR SELECT
    USING (pg_catalog.has_table_privilege(relid, 'SELECT'));

-- The sizing policy of a table or of some of its definitions (0.5.0): which runs ara_resources()
-- sizes from when the caller does not say. No row: Flotilla's policy ('oom'). A row with a NULL
-- definition_id covers the table, one with a definition overrides it for that definition.
-- ara_set_policy() writes it (with the privilege ara_set_key() needs: TRIGGER on the table).
-- Its statements are also in the 0.4.1 -> 0.5.0 upgrade script's head; 0.8.0 added 'censored' (peak_percentile
-- the need's quantile, 1 - the OOM rate aimed at), in the 0.7.0 -> 0.8.0 head.
CREATE TABLE @extschema@.ara_sizing (
    table_name      regclass         NOT NULL,
    definition_id   text,
    policy          text             NOT NULL CHECK (policy IN ('oom', 'right_size', 'censored')),
    peak_percentile double precision CHECK (peak_percentile BETWEEN 0 AND 1),
    headroom        numeric          CHECK (headroom > 0),
    peak_lookback   interval         CHECK (peak_lookback > interval '0'),
    set_at          timestamptz      NOT NULL DEFAULT now(),
    set_by          name             NOT NULL DEFAULT current_user,
    CHECK ((policy IN ('right_size', 'censored')) = (peak_percentile IS NOT NULL AND headroom IS NOT NULL AND peak_lookback IS NOT NULL))
);
CREATE UNIQUE INDEX ara_sizing_table ON @extschema@.ara_sizing (table_name) WHERE definition_id IS NULL;
CREATE UNIQUE INDEX ara_sizing_definition ON @extschema@.ara_sizing (table_name, definition_id)
    WHERE definition_id IS NOT NULL;
COMMENT ON TABLE @extschema@.ara_sizing IS
'pg_ara: the sizing policy ara_resources() applies when its caller gives none, per table (definition_id NULL) or definition (overrides the table''s): ''oom'' (Flotilla: OOM-killed runs only, the default without a row) or ''right_size'' (successful runs'' measured peaks: peak_percentile x headroom over peak_lookback, never below the largest recent OOM request x the OOM multiplier) or ''censored'' (the need as a right-censored distribution over peak_lookback: its peak_percentile quantile x headroom, peak_percentile = 1 - the OOM rate aimed at). Written by ara_set_policy().';
ALTER TABLE @extschema@.ara_sizing ENABLE ROW LEVEL SECURITY;
CREATE POLICY ara_sizing_read ON @extschema@.ara_sizing FOR SELECT
    USING (pg_catalog.has_table_privilege(table_name, 'SELECT'));
CREATE POLICY ara_sizing_write ON @extschema@.ara_sizing FOR ALL
    USING (pg_catalog.has_table_privilege(table_name, 'TRIGGER'))
    WITH CHECK (pg_catalog.has_table_privilege(table_name, 'TRIGGER'));
GRANT SELECT, INSERT, DELETE ON @extschema@.ara_sizing TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ara_sizing', 'WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = table_name)');
