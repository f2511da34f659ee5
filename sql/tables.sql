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
