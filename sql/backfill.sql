-- pg_ara: repairing the hashes of existing rows, in committed batches, resumably.
-- The procedure commits between batches, which a SET clause would forbid, so it schema-qualifies
-- everything instead of pinning search_path.

CREATE OR REPLACE PROCEDURE @extschema@.ara_backfill(
    tbl regclass DEFAULT 'task'::text::regclass,
    batch_size integer DEFAULT 10000,
    definitions text[] DEFAULT NULL,
    dry_run boolean DEFAULT false,
    definition_column name DEFAULT 'definition_id',
    lock_timeout interval DEFAULT '5s')
LANGUAGE plpgsql
AS $$
DECLARE
    cfg record;
    pk_cols name[];
    pk_types text[];
    expected text;
    wrong text;
    no_source text;
    key_list text;
    key_cmp text;
    def_filter text := '';
    scan_sql text;
    update_sql text;
    key_hi text;
    next_key text[];
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
    caller_lock_timeout text := pg_catalog.current_setting('lock_timeout');
    caller_synchronous_commit text := pg_catalog.current_setting('synchronous_commit');
    caller_search_path text := pg_catalog.current_setting('search_path');
    -- The table as the caller names it (messages), before search_path is pinned below.
    tbl_label text := tbl::text;
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
    -- Every transaction of the backfill waits at most lock_timeout for a lock, and runs with
    -- search_path pinned to pg_catalog (a COMMIT ends transaction-local settings, so both are set
    -- again after each): the operators of the generated SQL resolve to the built-in ones even when
    -- the caller's search_path puts a schema with look-alike objects first.
    PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_backfill');
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    SELECT * INTO cfg FROM ara_internal.ara_config(tbl);
    IF cfg.command_column IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: pg_ara is not enabled on %', tbl_label
            USING ERRCODE = '55000',
                  HINT = format('Run SELECT ara_enable(%L) first, so that rows written during the backfill are right too.', tbl::text);
    END IF;
    IF NOT pg_catalog.has_table_privilege(tbl, 'SELECT')
       OR (NOT dry_run AND NOT pg_catalog.has_table_privilege(tbl, 'UPDATE')) THEN
        RAISE EXCEPTION 'ara_backfill: permission denied for table %', tbl_label
            USING ERRCODE = '42501',
                  HINT = 'ara_backfill needs SELECT on the table (and UPDATE unless dry_run => true); the table owner has both.';
    END IF;
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.ord), pg_catalog.array_agg(pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY k.ord)
      INTO pk_cols, pk_types
      FROM pg_catalog.pg_index i
      CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk_cols IS NULL THEN
        RAISE EXCEPTION 'ara_backfill: table % has no primary key to walk in batches', tbl_label
            USING ERRCODE = '55000', HINT = 'Add a primary key (Flotilla''s task has run_id).';
    END IF;
    IF definitions IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = tbl AND a.attname = definition_column
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'ara_backfill: column "%" of relation % does not exist', definition_column, tbl_label
                USING ERRCODE = '42703', HINT = 'Pass definition_column => the column that holds the definition id.';
        END IF;
        def_filter := pg_catalog.format(' AND t.%I::text = ANY ($3)', definition_column);
    END IF;

    expected := ara_internal.ara_expected_hash_sql(cfg.command_column, cfg.description_column, cfg.key, cfg.definition_column, cfg.fingerprint_definitions);
    wrong := pg_catalog.format('t.%I IS DISTINCT FROM %s', cfg.hash_column, expected);
    -- "No source" (the key is NULL) needs the key computed; but every key falls back to a
    -- non-empty description, so a row with one has a source: tested first, it spares the hash.
    no_source := CASE WHEN cfg.description_column IS NULL THEN pg_catalog.format('(%s IS NULL)', expected)
                      ELSE pg_catalog.format('((t.%1$I IS NULL OR t.%1$I::text = '''') AND %2$s IS NULL)',
                                             cfg.description_column, expected) END;

    IF dry_run THEN
        EXECUTE pg_catalog.format('SELECT count(*), count(*) FILTER (WHERE %s), count(*) FILTER (WHERE %s) FROM %s t WHERE true %s',
                                  wrong, no_source, tbl, def_filter)
           INTO n_scanned, n_changed, n_nosource USING NULL::text[], NULL::int, definitions;
        RAISE NOTICE 'ara_backfill dry run on %: % rows, % would change, % would stay NULL (no command and no description)',
            tbl_label, n_scanned, n_changed, n_nosource;
        PERFORM pg_catalog.set_config('lock_timeout', caller_lock_timeout, true);
        PERFORM pg_catalog.set_config('search_path', caller_search_path, true);
        RETURN;
    END IF;

    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('($1[%s])::%s', o, pk_types[o]), ', ' ORDER BY o),
           pg_catalog.string_agg(pg_catalog.format('($2[%s])::%s', o, pk_types[o]), ', ' ORDER BY o)
      INTO key_list, key_cmp, key_hi
      FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o);

    -- One batch, two statements. The scan: the next batch_size keys after $1 in key order (the
    -- primary key index), how many rows have no source, and the last key. The rewrite: every row of
    -- that key range still wrong, read by a scan of the primary key index (bitmap and sequential
    -- scans are disabled for the batch), so that its row locks are taken in key order, as
    -- single-row writers and other backfills take theirs: no deadlock. The UPDATE re-checks
    -- "still wrong" on the newest version of a row a writer changed meanwhile, and sets
    -- the hash column to the key (the trigger, fired by that change, computes the same).
    scan_sql := pg_catalog.format($f$
        WITH b AS MATERIALIZED (
            SELECT %1$s, %2$s AS no_source, pg_catalog.row_number() OVER (ORDER BY %1$s) AS n
            FROM %3$s t
            WHERE ($1 IS NULL OR (%1$s) > (%4$s)) %5$s
            ORDER BY %1$s
            LIMIT $2
        ), c AS (
            SELECT count(*) AS scanned, count(*) FILTER (WHERE no_source) AS no_source FROM b
        )
        SELECT c.scanned, c.no_source, (SELECT ARRAY[%6$s] FROM b WHERE b.n = c.scanned) FROM c
        $f$,
        key_list, no_source, tbl, key_cmp, def_filter,
        (SELECT pg_catalog.string_agg(pg_catalog.format('b.%I::text', c), ', ' ORDER BY o) FROM pg_catalog.unnest(pk_cols) WITH ORDINALITY AS p(c, o)));
    update_sql := pg_catalog.format($f$
        UPDATE %1$s t SET %2$I = %8$s
        WHERE ($1 IS NULL OR (%3$s) > (%4$s)) AND (%3$s) <= (%5$s) %6$s AND %7$s
        $f$,
        tbl, cfg.hash_column, key_list, key_cmp, key_hi, def_filter, wrong, expected);

    estimate := ara_internal.ara_estimated_rows(tbl);

    SELECT * INTO prog FROM @extschema@.ara_backfill_progress p
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    IF FOUND THEN
        cur_key := prog.last_key;
        done_scanned := prog.rows_scanned;
        done_changed := prog.rows_changed;
        done_nosource := prog.rows_no_source;
        resumed_from := prog.rows_scanned;
        RAISE NOTICE 'ara_backfill on %: resuming after key % (% rows scanned, % changed so far)',
            tbl_label, cur_key, done_scanned, done_changed;
    ELSE
        DELETE FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions;
        INSERT INTO @extschema@.ara_backfill_progress (relid, definitions) VALUES (tbl, ara_backfill.definitions);
        RAISE NOTICE 'ara_backfill on %: starting, %, batches of %', tbl_label,
            coalesce('about ' || estimate || ' rows', 'row count unknown (table never analyzed)'), batch_size;
    END IF;
    COMMIT;

    LOOP
        PERFORM ara_internal.ara_set_lock_timeout(lock_timeout, 'ara_backfill');
        PERFORM ara_internal.ara_citus_lock_timeout(tbl, lock_timeout);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        -- A batch's commit need not wait for its WAL to reach disk: a crash loses at most the last
        -- few batches together with their progress rows (same transactions), and the next call
        -- redoes them. The repair is idempotent; waiting for each flush cost a tenth of a second.
        PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
        -- Compiling a batch's statements (JIT: their estimated cost can pass jit_above_cost) costs
        -- more than it could save on 10,000 rows.
        PERFORM pg_catalog.set_config('jit', 'off', true);
        PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
        PERFORM pg_catalog.set_config('enable_bitmapscan', 'off', true);
        BEGIN
            EXECUTE scan_sql INTO n_scanned, n_nosource, next_key USING cur_key, batch_size, definitions;
            n_changed := 0;
            IF n_scanned > 0 THEN
                EXECUTE update_sql USING cur_key, next_key, definitions;
                GET DIAGNOSTICS n_changed = ROW_COUNT;
                cur_key := next_key;
            END IF;
        EXCEPTION WHEN lock_not_available THEN
            RAISE EXCEPTION 'ara_backfill on %: could not lock the rows of the next batch within %: another transaction holds them', tbl_label, lock_timeout
                USING ERRCODE = '55P03',
                      HINT = format('%s rows were done and committed; CALL ara_backfill again to resume after the last committed batch, once the long transaction (see pg_stat_activity and pg_locks) has ended, or pass a longer lock_timeout.', done_scanned);
        END;
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
            tbl_label, done_scanned, CASE WHEN estimate IS NULL OR definitions IS NOT NULL THEN 'unknown' ELSE '~' || greatest(estimate - done_scanned, 0) END, done_changed, rate, eta;
        EXIT WHEN n_scanned < batch_size;
    END LOOP;

    -- The last commit waits for the WAL as the caller's transactions do: once CALL returns, every
    -- batch and the finished mark are as durable as the caller asked.
    PERFORM pg_catalog.set_config('synchronous_commit', caller_synchronous_commit, true);
    UPDATE @extschema@.ara_backfill_progress p SET finished_at = pg_catalog.clock_timestamp(), updated_at = pg_catalog.clock_timestamp()
     WHERE p.relid = tbl AND p.definitions IS NOT DISTINCT FROM ara_backfill.definitions AND p.finished_at IS NULL;
    COMMIT;
    RAISE NOTICE 'ara_backfill on % finished: % rows scanned, % changed, % left NULL (no command and no description)',
        tbl_label, done_scanned, done_changed, done_nosource;
END
$$;
COMMENT ON PROCEDURE @extschema@.ara_backfill(regclass, integer, text[], boolean, name, interval) IS
'pg_ara: CALL ara_backfill(tbl, batch_size, definitions, dry_run, definition_column, lock_timeout): rewrites every row whose hash IS DISTINCT FROM command_hash(command, description), in primary-key batches, committing after each (short locks, no giant transaction). NOTICEs report rows done, to go, rate and ETA. Interrupted (cancel, kill, crash), it resumes where it stopped when called again. definitions => ARRAY[...] restricts it to some definition ids (per-definition rollout); dry_run => true only counts. Each batch waits at most lock_timeout (default 5s) for its row locks, else it stops with 55P03 and a later call resumes. Batches commit without waiting for the WAL flush (a crash may lose the last few, with their progress, and the next call redoes them); the final commit waits as the caller''s do. Needs ara_enable() first; must be CALLed outside a transaction block.';
