-- pg_ara: installing the command_hash trigger on a user's table, and repairing existing rows.
-- Every function pins search_path to pg_catalog and names pg_ara's own objects through
-- @extschema@. The backfill procedure commits between batches, which a SET clause would forbid,
-- so it qualifies everything instead.

COMMENT ON FUNCTION @extschema@.ara_command_hash_trigger() IS
'pg_ara: BEFORE INSERT OR UPDATE row trigger; arguments (command_column, hash_column [, description_column]). Sets the hash column to command_hash(command, description), overwriting whatever the client sent. Install it with ara_enable(), not by hand.';

-- The columns ara_enable() configured on tbl, read back from the trigger's arguments; no row if
-- pg_ara is not enabled there.
CREATE FUNCTION @extschema@.ara_config(tbl regclass,
    OUT command_column name, OUT hash_column name, OUT description_column name)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT args[1]::name, args[2]::name, nullif(args[3], '')::name
    FROM (
        SELECT (SELECT array_agg(replace(a, '\\', '\') ORDER BY ord)
                FROM unnest(string_to_array(encode(t.tgargs, 'escape'), '\000'))
                     WITH ORDINALITY AS u(a, ord)) AS args
        FROM pg_trigger t
        WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_insert'
          AND t.tgfoid = '@extschema@.ara_command_hash_trigger()'::regprocedure
    ) s
$$;
COMMENT ON FUNCTION @extschema@.ara_config(regclass) IS
'pg_ara: the command, hash and description columns ara_enable() configured on a table (from its trigger), or no row when pg_ara is not enabled there.';

-- The SQL expression of the hash a row should carry, for alias t, under the configured columns.
CREATE FUNCTION @extschema@.ara_expected_hash_sql(command_column name, description_column name)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%s.command_hash(t.%I, %s)', '@extschema@', command_column,
                  coalesce(format('t.%I', description_column), 'NULL::text'))
$$;
COMMENT ON FUNCTION @extschema@.ara_expected_hash_sql(name, name) IS
'pg_ara internal: the SQL expression (over alias t) of the hash a row should carry; used by ara_backfill and ara_hash_mismatches.';

-- Rows of a table (all leaf partitions of a partitioned one) as the planner estimates them; NULL
-- when never analyzed or vacuumed.
CREATE FUNCTION @extschema@.ara_estimated_rows(tbl regclass)
RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN bool_and(pc.reltuples >= 0) THEN sum(pc.reltuples)::bigint END
    FROM pg_class pc
    WHERE pc.oid IN (SELECT pt.relid FROM pg_partition_tree(tbl) pt WHERE pt.isleaf
                     UNION ALL SELECT tbl WHERE (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) <> 'p')
$$;
COMMENT ON FUNCTION @extschema@.ara_estimated_rows(regclass) IS
'pg_ara internal: the planner''s row estimate for a table (summed over leaf partitions), NULL when never analyzed; used for progress and ETA.';

CREATE FUNCTION @extschema@.ara_enable(
    tbl regclass DEFAULT 'task'::text::regclass,
    command_column name DEFAULT 'command',
    hash_column name DEFAULT 'command_hash',
    description_column name DEFAULT 'description')
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind "char";
    col record;
    cur record;
    args text;
    cols text;
    changed text;
    result text;
BEGIN
    IF tbl IS NULL OR command_column IS NULL OR hash_column IS NULL THEN
        RAISE EXCEPTION 'ara_enable: the table, command_column and hash_column must not be NULL'
            USING ERRCODE = '22004',
                  HINT = 'Only description_column may be NULL (it turns the description fallback off).';
    END IF;
    SELECT c.relkind INTO kind FROM pg_class c WHERE c.oid = tbl;
    IF kind IS NULL OR kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'ara_enable: "%" is not a table', tbl
            USING ERRCODE = '42809',
                  HINT = 'pg_ara works on plain and partitioned tables, not views, foreign tables or partitions of other kinds.';
    END IF;
    IF NOT has_table_privilege(tbl, 'TRIGGER') THEN
        RAISE EXCEPTION 'ara_enable: permission denied to create triggers on table %', tbl
            USING ERRCODE = '42501',
                  HINT = format('The table owner can run ara_enable, or GRANT TRIGGER ON %s TO %I.', tbl, current_user);
    END IF;
    IF command_column = hash_column OR hash_column = description_column THEN
        RAISE EXCEPTION 'ara_enable: the hash column "%" must differ from the command and description columns', hash_column
            USING ERRCODE = '22023';
    END IF;
    FOR col IN
        SELECT c.role, c.name, a.atttypid, a.atttypmod
        FROM (VALUES ('command', command_column), ('hash', hash_column), ('description', description_column)) c(role, name)
        LEFT JOIN pg_attribute a ON a.attrelid = tbl AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.name IS NOT NULL
    LOOP
        IF col.atttypid IS NULL THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % does not exist', col.name, tbl
                USING ERRCODE = '42703',
                      HINT = format('Pass the name of the %s column, e.g. ara_enable(%L, %s_column => ...).', col.role, tbl::text, col.role);
        END IF;
        IF col.atttypid NOT IN ('text'::regtype, 'varchar'::regtype) THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % is of type %, not text or varchar', col.name, tbl, format_type(col.atttypid, col.atttypmod)
                USING ERRCODE = '42804',
                      HINT = 'The command, hash and description columns must be text or varchar.';
        END IF;
        IF col.role = 'hash' AND col.atttypid = 'varchar'::regtype AND col.atttypmod >= 0 AND col.atttypmod - 4 < 32 THEN
            RAISE EXCEPTION 'ara_enable: column "%" of relation % is %, too short for a 32-character hash', col.name, tbl, format_type(col.atttypid, col.atttypmod)
                USING ERRCODE = '42804', HINT = 'Widen it to varchar(32) or text.';
        END IF;
    END LOOP;

    -- Idempotent: the same columns again change nothing and take no lock beyond the checks above.
    SELECT * INTO cur FROM @extschema@.ara_config(tbl);
    IF cur.command_column IS NOT NULL AND cur.command_column = command_column AND cur.hash_column = hash_column
       AND cur.description_column IS NOT DISTINCT FROM description_column
       AND EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_update') THEN
        RETURN format('pg_ara already enabled on %s (command %I, hash %I, description %s)',
                      tbl, command_column, hash_column, coalesce(quote_ident(description_column), 'none'));
    END IF;
    result := CASE WHEN cur.command_column IS NOT NULL THEN 'pg_ara re-enabled' ELSE 'pg_ara enabled' END;

    args := concat_ws(', ', quote_literal(command_column), quote_literal(hash_column), quote_literal(description_column));
    cols := concat_ws(', ', quote_ident(command_column), quote_ident(hash_column), quote_ident(description_column));
    -- The update trigger is not even called unless one of the three columns really changed: the
    -- frequent status updates that rewrite an unchanged command pay only this comparison.
    changed := concat_ws(' OR ',
        format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', command_column),
        format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', hash_column),
        CASE WHEN description_column IS NOT NULL THEN format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', description_column) END);

    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_insert') THEN
        EXECUTE format('DROP TRIGGER ara_command_hash_insert ON %s', tbl);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = tbl AND t.tgname = 'ara_command_hash_update') THEN
        EXECUTE format('DROP TRIGGER ara_command_hash_update ON %s', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER ara_command_hash_insert BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s.ara_command_hash_trigger(%s)',
                   tbl, '@extschema@', args);
    EXECUTE format('CREATE TRIGGER ara_command_hash_update BEFORE UPDATE OF %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %s.ara_command_hash_trigger(%s)',
                   cols, tbl, changed, '@extschema@', args);
    RETURN format('%s on %s (command %I, hash %I, description %s)',
                  result, tbl, command_column, hash_column, coalesce(quote_ident(description_column), 'none'));
END
$$;
COMMENT ON FUNCTION @extschema@.ara_enable(regclass, name, name, name) IS
'pg_ara: installs the command_hash triggers on a table (default task), idempotently: BEFORE INSERT always, BEFORE UPDATE only when the command, description or hash column really changes (a WHEN condition, so status updates never call it). Plain and partitioned tables (all partitions, present and future). description_column => NULL turns the description fallback off. Errors: 42809 not a table, 42703 missing column, 42804 not text/varchar, 42501 no TRIGGER privilege. Existing rows: CALL ara_backfill().';

CREATE FUNCTION @extschema@.ara_disable(tbl regclass DEFAULT 'task'::text::regclass)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'ara_disable: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT count(*) INTO n FROM pg_trigger t
    WHERE t.tgrelid = tbl AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update');
    IF n = 0 THEN
        RETURN format('pg_ara was not enabled on %s', tbl);
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_insert ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS ara_command_hash_update ON %s', tbl);
    RETURN format('pg_ara disabled on %s: hashes already written stay as they are', tbl);
END
$$;
COMMENT ON FUNCTION @extschema@.ara_disable(regclass) IS
'pg_ara: removes the command_hash triggers from a table (default task). Rows keep the hashes already written; new writes are no longer corrected.';

CREATE FUNCTION @extschema@.ara_hash_mismatches(tbl regclass DEFAULT 'task'::text::regclass,
    OUT rows_out_of_line bigint, OUT rows_without_source bigint)
RETURNS record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg record;
BEGIN
    SELECT * INTO cfg FROM @extschema@.ara_config(tbl);
    IF cfg.command_column IS NULL THEN
        RAISE EXCEPTION 'pg_ara is not enabled on %', tbl
            USING ERRCODE = '55000', HINT = format('Run SELECT ara_enable(%L) first.', tbl::text);
    END IF;
    EXECUTE format('SELECT count(*) FILTER (WHERE t.%I IS DISTINCT FROM %s), count(*) FILTER (WHERE %s IS NULL) FROM %s t',
                   cfg.hash_column, @extschema@.ara_expected_hash_sql(cfg.command_column, cfg.description_column),
                   @extschema@.ara_expected_hash_sql(cfg.command_column, cfg.description_column), tbl)
        INTO rows_out_of_line, rows_without_source;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_hash_mismatches(regclass) IS
'pg_ara: scans a table where pg_ara is enabled and counts rows whose hash disagrees with command_hash(command, description) (what CALL ara_backfill() would change), and rows with neither command nor description (left NULL). A full scan: not for a hot path.';

CREATE FUNCTION @extschema@.ara_status(with_counts boolean DEFAULT false)
RETURNS TABLE (table_name regclass, command_column name, hash_column name, description_column name,
               partitioned boolean, estimated_rows bigint, rows_out_of_line bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT t.tgrelid::regclass, cfg.command_column, cfg.hash_column, cfg.description_column,
           c.relkind = 'p',
           @extschema@.ara_estimated_rows(t.tgrelid::regclass),
           CASE WHEN with_counts THEN (SELECT m.rows_out_of_line FROM @extschema@.ara_hash_mismatches(t.tgrelid::regclass) m) END
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    CROSS JOIN LATERAL @extschema@.ara_config(t.tgrelid::regclass) cfg
    WHERE t.tgname = 'ara_command_hash_insert'
      AND t.tgfoid = '@extschema@.ara_command_hash_trigger()'::regprocedure
      AND NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_trigger pt ON pt.tgrelid = i.inhparent
                      WHERE i.inhrelid = t.tgrelid AND pt.tgname = t.tgname)
    ORDER BY t.tgrelid::regclass::text;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_status(boolean) IS
'pg_ara: the tables where pg_ara is enabled, their columns, whether partitioned, estimated rows; with_counts => true also counts rows out of line (a full scan of each table).';

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

CREATE PROCEDURE @extschema@.ara_backfill(
    tbl regclass DEFAULT 'task'::text::regclass,
    batch_size integer DEFAULT 10000,
    definitions text[] DEFAULT NULL,
    dry_run boolean DEFAULT false,
    definition_column name DEFAULT 'definition_id')
LANGUAGE plpgsql
AS $$
DECLARE
    cfg record;
    pk_cols name[];
    pk_types text[];
    expected text;
    wrong text;
    key_list text;
    key_cmp text;
    key_desc text;
    key_join text;
    def_filter text := '';
    batch_sql text;
    prog record;
    cur_key text[];
    n_scanned bigint;
    n_changed bigint;
    n_nosource bigint;
    done_scanned bigint := 0;
    done_changed bigint := 0;
    done_nosource bigint := 0;
    resumed_from bigint := 0;
    estimate bigint;
    t0 timestamptz := pg_catalog.clock_timestamp();
    rate numeric;
    eta text;
BEGIN
    IF tbl IS NULL OR batch_size IS NULL OR dry_run IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: tbl, batch_size and dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'ara_backfill: batch_size must be at least 1, got %', batch_size
            USING ERRCODE = '22023', HINT = 'Batches of 1000 to 50000 rows keep each transaction short.';
    END IF;
    SELECT * INTO cfg FROM @extschema@.ara_config(tbl);
    IF cfg.command_column IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: pg_ara is not enabled on %', tbl
            USING ERRCODE = '55000',
                  HINT = format('Run SELECT ara_enable(%L) first, so that rows written during the backfill are right too.', tbl::text);
    END IF;
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord), pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
      INTO pk_cols, pk_types
      FROM pg_catalog.pg_index i
      CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk_cols IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: table % has no primary key to walk in batches', tbl
            USING ERRCODE = '55000', HINT = 'Add a primary key (Flotilla''s task has run_id).';
    END IF;
    IF definitions IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = definition_column
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'ara_backfill: column "%" of relation % does not exist', definition_column, tbl
                USING ERRCODE = '42703', HINT = 'Pass definition_column => the column that holds the definition id.';
        END IF;
        def_filter := pg_catalog.format(' AND t.%I::text = ANY ($3)', definition_column);
    END IF;

    expected := @extschema@.ara_expected_hash_sql(cfg.command_column, cfg.description_column);
    wrong := pg_catalog.format('t.%I IS DISTINCT FROM %s', cfg.hash_column, expected);

    IF dry_run THEN
        EXECUTE pg_catalog.format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %s IS NULL) FROM %s t WHERE true %s',
                                  wrong, expected, tbl, def_filter)
           INTO n_scanned, n_changed, n_nosource USING NULL::text[], NULL::int, definitions;
        RAISE NOTICE 'ara_backfill dry run on %: % rows, % would change, % would stay NULL (no command and no description)',
            tbl, n_scanned, n_changed, n_nosource;
        RETURN;
    END IF;

    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('($1[%s])::%s', o, pk_types[o]), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('b.%I DESC', c), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('t.%1$I = l.%1$I', c), ' AND ' ORDER BY o)
      INTO key_list, key_cmp, key_desc, key_join
      FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o);

    -- One batch: the next batch_size keys after $1, in key order; lock the rows that are wrong in
    -- key order (no deadlock with single-row writers); rewrite those still wrong (re-checked on
    -- the newest row version); report counts and the last key.
    batch_sql := pg_catalog.format($f$
        WITH b AS MATERIALIZED (
            SELECT %1$s, (%2$s) AS wrong, (%3$s IS NULL) AS no_source
            FROM %4$s t
            WHERE ($1 IS NULL OR (%1$s) > (%5$s)) %6$s
            ORDER BY %1$s
            LIMIT $2
        ), l AS (
            SELECT %1$s FROM %4$s t
            WHERE (%1$s) IN (SELECT %7$s FROM b WHERE b.wrong)
            ORDER BY %1$s
            FOR UPDATE OF t
        ), u AS (
            UPDATE %4$s t SET %8$I = %3$s
            FROM l
            WHERE %9$s AND %2$s
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM u), (SELECT count(*) FILTER (WHERE no_source) FROM b),
               (SELECT ARRAY[%10$s] FROM b ORDER BY %11$s LIMIT 1)
        $f$,
        key_list, wrong, expected, tbl, key_cmp, def_filter,
        (SELECT pg_catalog.string_agg(pg_catalog.format('b.%I', c), ', ' ORDER BY o) FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o)),
        cfg.hash_column,
        key_join,
        (SELECT pg_catalog.string_agg(pg_catalog.format('b.%I::text', c), ', ' ORDER BY o) FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o)),
        key_desc);

    estimate := @extschema@.ara_estimated_rows(tbl);

    SELECT * INTO prog FROM @extschema@.ara_backfill_progress p
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    IF FOUND THEN
        cur_key := prog.last_key;
        done_scanned := prog.rows_scanned;
        done_changed := prog.rows_changed;
        done_nosource := prog.rows_no_source;
        resumed_from := prog.rows_scanned;
        RAISE NOTICE 'ara_backfill on %: resuming after key % (% rows scanned, % changed so far)',
            tbl, cur_key, done_scanned, done_changed;
    ELSE
        DELETE FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions;
        INSERT INTO @extschema@.ara_backfill_progress (relid, definitions) VALUES (tbl, ara_backfill.definitions);
        RAISE NOTICE 'ara_backfill on %: starting, %, batches of %', tbl,
            coalesce('about ' || estimate || ' rows', 'row count unknown (table never analyzed)'), batch_size;
    END IF;
    COMMIT;

    LOOP
        EXECUTE batch_sql INTO n_scanned, n_changed, n_nosource, cur_key
            USING cur_key, batch_size, definitions;
        EXIT WHEN n_scanned = 0;
        done_scanned := done_scanned + n_scanned;
        done_changed := done_changed + n_changed;
        done_nosource := done_nosource + n_nosource;
        UPDATE @extschema@.ara_backfill_progress p
           SET last_key = cur_key, rows_scanned = done_scanned, rows_changed = done_changed,
               rows_no_source = done_nosource, updated_at = pg_catalog.clock_timestamp()
         WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
        COMMIT;
        rate := pg_catalog.round((done_scanned - resumed_from) / greatest(extract(epoch FROM pg_catalog.clock_timestamp() - t0), 0.001));
        eta := CASE WHEN definitions IS NULL AND rate > 0 AND estimate > done_scanned
                    THEN pg_catalog.round((estimate - done_scanned) / rate) || ' s' ELSE 'n/a' END;
        RAISE NOTICE 'ara_backfill on %: % rows done, % to go, % changed, % rows/s, ETA %',
            tbl, done_scanned, CASE WHEN estimate IS NULL THEN 'unknown' ELSE '~' || greatest(estimate - done_scanned, 0) END, done_changed, rate, eta;
        EXIT WHEN n_scanned < batch_size;
    END LOOP;

    UPDATE @extschema@.ara_backfill_progress p SET finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    COMMIT;
    RAISE NOTICE 'ara_backfill on % finished: % rows scanned, % changed, % left NULL (no command and no description)',
        tbl, done_scanned, done_changed, done_nosource;
END
$$;
COMMENT ON PROCEDURE @extschema@.ara_backfill(regclass, integer, text[], boolean, name) IS
'pg_ara: CALL ara_backfill(tbl, batch_size, definitions, dry_run): rewrites every row whose hash IS DISTINCT FROM command_hash(command, description), in primary-key batches, committing after each (short locks, no giant transaction). NOTICEs report rows done, to go, rate and ETA. Interrupted (cancel, kill, crash), it resumes where it stopped when called again. definitions => ARRAY[...] restricts it to some definition ids (per-definition rollout); dry_run => true only counts. Needs ara_enable() first; must be CALLed outside a transaction block.';
