-- pg_ara: its state on a server, carried from one edition to the other (0.7.0): from the SQL edition
-- (pg_tle or the plain script) to the compiled extension when a user leaves the managed service or
-- the provider adds pg_ara, and back (docs/managed.md, "Moving between editions"). The state is what
-- lives outside pg_ara's code: where it is enabled and how (each table's trigger configuration: its
-- columns, key, definitions keyed by fingerprint), the registrations ara_metrics() watches, the sizing
-- choices of ara_set_policy() and the progress of interrupted backfills. In both editions alike.

-- The objects outside pg_ara that depend on it (views over ara_estimate, columns of type ara_counts,
-- functions of yours that use its types): dropping pg_ara to switch editions would drop them too.
-- pg_ara's own triggers on enabled tables are not listed: ara_state_import() makes them again.
CREATE OR REPLACE FUNCTION ara_internal.ara_dependents()
RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH ext AS (SELECT e.oid FROM pg_extension e WHERE e.extname = 'pg_ara'),
    members AS (
        -- The compiled extension or the pg_tle edition: its members. The plain script: what lives in
        -- its two schemas.
        SELECT d.classid, d.objid FROM pg_depend d, ext
         WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
        UNION ALL
        SELECT 'pg_proc'::regclass, p.oid FROM pg_proc p
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND p.pronamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
        UNION ALL
        SELECT 'pg_class'::regclass, c.oid FROM pg_class c
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND c.relnamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
        UNION ALL
        SELECT 'pg_type'::regclass, t.oid FROM pg_type t
         WHERE NOT EXISTS (SELECT 1 FROM ext) AND t.typnamespace IN ('@extschema@'::regnamespace, 'ara_internal'::regnamespace)
    )
    SELECT DISTINCT CASE WHEN d.classid = 'pg_rewrite'::regclass     -- a view: named as the view
                         THEN pg_describe_object('pg_class'::regclass, (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid), 0)
                         ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END
      FROM pg_depend d
      JOIN members m ON d.refclassid = m.classid AND d.refobjid = m.objid
     WHERE d.deptype = 'n'
       AND NOT EXISTS (SELECT 1 FROM members o WHERE o.classid = d.classid AND o.objid = d.objid)
       -- Parts of pg_ara's own tables and views (constraints, defaults, rewrite rules, policies,
       -- triggers, indexes): they go with them.
       AND NOT EXISTS (
           SELECT 1 FROM members o
            WHERE o.classid = 'pg_class'::regclass
              AND o.objid = CASE d.classid
                  WHEN 'pg_constraint'::regclass THEN (SELECT c.conrelid FROM pg_constraint c WHERE c.oid = d.objid)
                  WHEN 'pg_attrdef'::regclass THEN (SELECT a.adrelid FROM pg_attrdef a WHERE a.oid = d.objid)
                  WHEN 'pg_rewrite'::regclass THEN (SELECT r.ev_class FROM pg_rewrite r WHERE r.oid = d.objid)
                  WHEN 'pg_policy'::regclass THEN (SELECT p.polrelid FROM pg_policy p WHERE p.oid = d.objid)
                  WHEN 'pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = d.objid)
                  WHEN 'pg_class'::regclass THEN (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = d.objid)
              END)
       -- pg_ara's triggers on your tables: ara_state_import() makes them again.
       AND NOT (d.classid = 'pg_trigger'::regclass AND d.objid IN (
                SELECT t.oid FROM pg_trigger t
                 WHERE t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
                   AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure))
     ORDER BY 1
$$;
COMMENT ON FUNCTION ara_internal.ara_dependents() IS
'pg_ara internal: the objects outside pg_ara that depend on it (views over its functions, columns of its types), which dropping it would drop; pg_ara''s own triggers are not listed.';

-- A jsonb array of strings as text[]; NULL for JSON null or a missing key.
CREATE OR REPLACE FUNCTION ara_internal.ara_text_array(value jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(value)) END
$$;
COMMENT ON FUNCTION ara_internal.ara_text_array(jsonb) IS
'pg_ara internal: a jsonb array of strings as text[] (NULL for JSON null).';

CREATE OR REPLACE FUNCTION @extschema@.ara_state_export(allow_dependents boolean DEFAULT false)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dependents text[] := ARRAY(SELECT ara_internal.ara_dependents());
    edition text;
BEGIN
    IF cardinality(dependents) > 0 AND NOT coalesce(allow_dependents, false) THEN
        RAISE EXCEPTION 'ara_state_export: % object(s) outside pg_ara depend on it and would be dropped with it: %',
                cardinality(dependents), array_to_string(dependents, '; ')
            USING ERRCODE = '2BP01',
                  HINT = 'Before switching editions, drop them in the same transaction and create them again after ara_state_import() (keep their definitions: pg_get_viewdef()); a column of type ara_counts cannot move to the SQL edition, which has no such type. allow_dependents => true exports anyway.';
    END IF;
    SELECT CASE WHEN e.extname IS NOT NULL THEN 'pg_ara ' || e.extversion END INTO edition
      FROM pg_extension e WHERE e.extname = 'pg_ara';
    IF edition IS NULL AND to_regclass('ara_internal.ara_edition') IS NOT NULL THEN
        EXECUTE 'SELECT ''pg_ara '' || version || '' (SQL edition, plain script)'' FROM ara_internal.ara_edition LIMIT 1'
           INTO edition;
    END IF;
    RETURN jsonb_build_object(
        'pg_ara', edition,
        'exported_at', now(),
        'tables', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'table', t.tbl::text, 'command_column', c.command_column, 'hash_column', c.hash_column,
                       'description_column', c.description_column, 'key', c.key,
                       'definition_column', c.definition_column,
                       'fingerprint_definitions', to_jsonb(c.fingerprint_definitions))
                   ORDER BY t.tbl::text)
              FROM ara_internal.ara_triggered_tables() t(tbl)
              CROSS JOIN LATERAL ara_internal.ara_config(t.tbl) c), '[]'),
        'registered', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', r.table_name::text, 'enabled_at', r.enabled_at,
                                                'enabled_by', r.enabled_by) ORDER BY r.table_name::text)
              FROM @extschema@.ara_tables r), '[]'),
        'sizing', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', s.table_name::text, 'definition_id', s.definition_id,
                       'policy', s.policy, 'peak_percentile', s.peak_percentile, 'headroom', s.headroom,
                       'peak_lookback', s.peak_lookback, 'set_at', s.set_at, 'set_by', s.set_by)
                   ORDER BY s.table_name::text, s.definition_id NULLS FIRST)
              FROM @extschema@.ara_sizing s), '[]'),
        'backfill_progress', coalesce((
            SELECT jsonb_agg(jsonb_build_object('table', p.relid::regclass::text, 'definitions', to_jsonb(p.definitions),
                       'last_key', to_jsonb(p.last_key), 'rows_scanned', p.rows_scanned,
                       'rows_changed', p.rows_changed, 'rows_no_source', p.rows_no_source,
                       'started_at', p.started_at, 'updated_at', p.updated_at, 'finished_at', p.finished_at)
                   ORDER BY p.relid::regclass::text, p.started_at)
              FROM @extschema@.ara_backfill_progress p
             WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = p.relid)), '[]'),
        'dependents', to_jsonb(dependents));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_state_export(boolean) IS
'pg_ara: its state on this server as jsonb, to carry to the other edition (compiled extension <-> SQL edition) with ara_state_import(): each enabled table''s trigger configuration (columns, key, definitions keyed by fingerprint), the registrations ara_metrics() watches (ara_tables), the sizing choices (ara_sizing) and the backfill progress. Refuses (2BP01, listing them) when objects outside pg_ara depend on it and would be dropped with it, unless allow_dependents. docs/managed.md, "Moving between editions".';

CREATE OR REPLACE FUNCTION @extschema@.ara_state_import(state jsonb, lock_timeout interval DEFAULT '5s')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t jsonb;
    bad_policy text;
    bad_definition text;
    tbl regclass;
    tables integer := 0;
    sizing integer := 0;
    progress integer := 0;
BEGIN
    IF state IS NULL OR jsonb_typeof(state->'tables') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'ara_state_import: not a state from ara_state_export()' USING ERRCODE = '22023',
            HINT = 'Pass what ara_state_export() returned, e.g. SELECT ara_state_import(state) FROM saved_state.';
    END IF;
    -- A sizing choice this edition cannot apply (the SQL edition has no 'censored') is refused before
    -- anything changes: a lookup would otherwise fail on it later.
    SELECT e->>'policy', e->>'definition_id' INTO bad_policy, bad_definition
      FROM jsonb_array_elements(coalesce(state->'sizing', '[]')) e
     WHERE e->>'policy' NOT IN ('oom', 'right_size') AND e->>'policy' <> ALL (ara_internal.ara_replay_feeds()) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ara_state_import: the sizing choice % (%) is not in this edition of pg_ara', bad_policy,
                        coalesce('for definition ' || bad_definition, 'for the table')
            USING ERRCODE = '0A000',
                  HINT = 'Before exporting, choose right_size or oom there (ara_set_policy), or import into the compiled extension.';
    END IF;
    -- Each table enabled as it was: the same columns, key and definitions keyed by fingerprint.
    FOR t IN SELECT e FROM jsonb_array_elements(state->'tables') e LOOP
        tbl := to_regclass(t->>'table');
        IF tbl IS NULL THEN
            RAISE EXCEPTION 'ara_state_import: table % does not exist here', t->>'table' USING ERRCODE = '42P01',
                HINT = 'Import into the database the state was exported from, or restore the table first.';
        END IF;
        PERFORM @extschema@.ara_enable(tbl, (t->>'command_column')::name, (t->>'hash_column')::name,
            (t->>'description_column')::name, lock_timeout, t->>'key',
            CASE WHEN t->>'key' = 'command' THEN coalesce(ara_internal.ara_text_array(t->'fingerprint_definitions'), '{}') END,
            coalesce((t->>'definition_column')::name, 'definition_id'));
        tables := tables + 1;
    END LOOP;
    -- The registrations with their first enabled_at (the default pivot of ara_compare()).
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'registered', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        -- (Delete and insert: whoever may enable pg_ara on a table may do both, not UPDATE.)
        DELETE FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
        INSERT INTO @extschema@.ara_tables (table_name, enabled_at, enabled_by)
        VALUES (tbl, (t->>'enabled_at')::timestamptz, (t->>'enabled_by')::name);
    END LOOP;
    -- The sizing choices, as they were (set_at and set_by kept).
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'sizing', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        DELETE FROM @extschema@.ara_sizing s
         WHERE s.table_name = tbl AND s.definition_id IS NOT DISTINCT FROM t->>'definition_id';
        INSERT INTO @extschema@.ara_sizing (table_name, definition_id, policy, peak_percentile, headroom, peak_lookback,
                                            set_at, set_by)
        VALUES (tbl, t->>'definition_id', t->>'policy', (t->>'peak_percentile')::double precision,
                (t->>'headroom')::numeric, (t->>'peak_lookback')::interval, (t->>'set_at')::timestamptz,
                (t->>'set_by')::name);
        sizing := sizing + 1;
    END LOOP;
    -- Interrupted backfills resume where they stopped.
    FOR t IN SELECT e FROM jsonb_array_elements(coalesce(state->'backfill_progress', '[]')) e LOOP
        tbl := to_regclass(t->>'table');
        CONTINUE WHEN tbl IS NULL;
        DELETE FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = tbl::oid AND p.definitions IS NOT DISTINCT FROM ara_internal.ara_text_array(t->'definitions');
        INSERT INTO @extschema@.ara_backfill_progress (relid, definitions, last_key, rows_scanned, rows_changed,
                                                       rows_no_source, started_at, updated_at, finished_at)
        VALUES (tbl::oid, ara_internal.ara_text_array(t->'definitions'), ara_internal.ara_text_array(t->'last_key'),
                (t->>'rows_scanned')::bigint, (t->>'rows_changed')::bigint, (t->>'rows_no_source')::bigint,
                (t->>'started_at')::timestamptz, (t->>'updated_at')::timestamptz, (t->>'finished_at')::timestamptz);
        progress := progress + 1;
    END LOOP;
    RETURN format('ara_state_import: %s table(s) enabled as they were, %s sizing choice(s), %s backfill progress row(s)',
                  tables, sizing, progress);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_state_import(jsonb, interval) IS
'pg_ara: restores what ara_state_export() saved, in this edition: each table enabled as it was (ara_enable() with its columns, key and definitions keyed by fingerprint; waits at most lock_timeout for each table''s lock, then fails with 55P03), its registration with its first enabled_at, the sizing choices and the backfill progress (a backfill resumes where it stopped). Tables are found by name; idempotent. docs/managed.md, "Moving between editions".';
