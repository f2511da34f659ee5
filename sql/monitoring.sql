-- pg_ara: after the fix, watched continuously. ara_metrics() is what postgres_exporter scrapes
-- (monitoring/postgres_exporter/pg_ara.yaml), ara_compare() the before/after report a person reads.
-- Every function pins search_path and names pg_ara's objects through @extschema@ or ara_internal.

-- Whether pg_ara's two triggers are on a table, and whether they fire: present when both exist on
-- the table; enabled when, in addition, neither is disabled (ALTER TABLE ... DISABLE TRIGGER) on
-- the table or on any of its leaf partitions (a partitioned table's triggers are cloned to each).
CREATE OR REPLACE FUNCTION ara_internal.ara_trigger_state(tbl regclass, OUT present boolean, OUT enabled boolean)
RETURNS record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT own.n = 2,
           own.n = 2 AND own.on_ = 2
           AND NOT EXISTS (SELECT 1 FROM pg_partition_tree(tbl) p
                           WHERE p.isleaf AND p.relid <> tbl
                             AND (SELECT count(*) FROM pg_trigger t
                                  WHERE t.tgrelid = p.relid
                                    AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
                                    AND t.tgenabled <> 'D') < 2)
    FROM (SELECT count(*) AS n, count(*) FILTER (WHERE t.tgenabled <> 'D') AS on_
          FROM pg_trigger t
          WHERE t.tgrelid = tbl AND t.tgname IN ('ara_command_hash_insert', 'ara_command_hash_update')
            AND t.tgfoid = 'ara_internal.ara_command_hash_trigger()'::regprocedure) own
$$;
COMMENT ON FUNCTION ara_internal.ara_trigger_state(regclass) IS
'pg_ara internal: whether both command_hash triggers are on a table (present) and none of them is disabled there or on a leaf partition (enabled).';

-- The tables ara_metrics() reports when not given one: registered in ara_tables (and still
-- existing), or carrying pg_ara's insert trigger (a top-level table, not a partition's clone).
CREATE OR REPLACE FUNCTION ara_internal.ara_watched_tables()
RETURNS SETOF regclass
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.table_name FROM @extschema@.ara_tables r
     WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.table_name)
    UNION
    SELECT t FROM ara_internal.ara_triggered_tables() t
$$;
COMMENT ON FUNCTION ara_internal.ara_watched_tables() IS
'pg_ara internal: the tables ara_metrics() reports by default: registered by ara_enable() (ara_tables) or carrying pg_ara''s triggers.';

-- Whether the rows of one definition may lie on several nodes: a table Citus distributes by a
-- column other than definition_id (hash, range or append; not a reference table, whose every node
-- holds all of it). Citus cannot run a subquery correlated on definition_id over such a table
-- ("complex joins are only supported when all distributed tables are co-located and joined on
-- their distribution columns"), so ara_metrics() and ara_compare() read the history from a
-- materialised CTE there: the one difference between a plain table and a Citus one in them.
CREATE OR REPLACE FUNCTION ara_internal.ara_citus_spread(tbl regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    spread boolean;
BEGIN
    IF NOT ara_internal.ara_citus_managed(tbl) THEN
        RETURN false;
    END IF;
    EXECUTE $q$SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p
                               WHERE p.logicalrelid = $1 AND p.partmethod IN ('h', 'r', 'a')
                                 AND pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
                                     IS DISTINCT FROM 'definition_id')$q$
        INTO spread USING tbl;
    RETURN spread;
END
$$;
COMMENT ON FUNCTION ara_internal.ara_citus_spread(regclass) IS
'pg_ara internal: true for a table Citus distributes by a column other than definition_id (one definition''s runs on several nodes), where ara_metrics() and ara_compare() read the OOM history from the materialised CTE of ara_history_cte(); false without Citus.';

-- The OOM history a run's ARA lookup found as of its own queue time, as a predicate over alias t
-- (the run) against alias o (earlier runs): Flotilla's window (same definition and key,
-- OOM-killed, engine $, queued in [t.queued_at - lookback, t.queued_at)). Read from the table
-- itself in the lookup index's shape (ara_index_sql()): one index probe per run; on a table Citus
-- spreads (ara_citus_spread()), from the CTE ara_oom_history that ara_history_cte() defines.
CREATE OR REPLACE FUNCTION ara_internal.ara_history_sql(tbl regclass, hash_column name, engine_param text, lookback_param text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format($q$EXISTS (SELECT 1 FROM %1$s o
        WHERE o.definition_id = t.definition_id AND o.%2$I = t.%2$I
          AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled') AND o.engine = %3$s
          AND o.queued_at >= t.queued_at - %4$s AND o.queued_at < t.queued_at)$q$,
        CASE WHEN ara_internal.ara_citus_spread(tbl) THEN 'ara_oom_history' ELSE tbl::text END,
        hash_column, engine_param, lookback_param)
$$;
COMMENT ON FUNCTION ara_internal.ara_history_sql(regclass, name, text, text) IS
'pg_ara internal: the SQL predicate "run t found OOM history in its ARA lookup as of its queue time" (alias t, parameters for engine and lookback), shared by ara_metrics() and ara_compare(); over the CTE of ara_history_cte() on a table Citus spreads.';

-- What ara_history_sql() reads on a table Citus spreads: the OOM runs that can be anyone's history
-- (queued in [since - lookback, until)), a CTE to put first in the WITH list; '' elsewhere.
CREATE OR REPLACE FUNCTION ara_internal.ara_history_cte(tbl regclass, hash_column name, engine_param text,
                                                        lookback_param text, since_sql text, until_sql text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN ara_internal.ara_citus_spread(tbl) THEN format($q$ara_oom_history AS MATERIALIZED (
            SELECT o.definition_id, o.%2$I, o.exit_code, o.exit_reason, o.engine, o.queued_at FROM %1$s o
             WHERE (o.exit_code = 137 OR o.exit_reason = 'OOMKilled') AND o.engine = %3$s
               AND o.queued_at >= %5$s - %4$s AND o.queued_at < %6$s), $q$,
        tbl, hash_column, engine_param, lookback_param, since_sql, until_sql) ELSE '' END
$$;
COMMENT ON FUNCTION ara_internal.ara_history_cte(regclass, name, text, text, text, text) IS
'pg_ara internal: on a table Citus spreads (ara_citus_spread()), the CTE ara_oom_history of the OOM runs queued in [since - lookback, until) that ara_history_sql() then reads, followed by a comma; empty elsewhere.';

CREATE OR REPLACE FUNCTION @extschema@.ara_metrics(
    tbl regclass DEFAULT NULL,
    recent interval DEFAULT '1 hour',
    memory_cap integer DEFAULT 350000,
    lookback interval DEFAULT '3 days',
    engine text DEFAULT 'eks')
RETURNS TABLE (table_name text, key text,
               registered integer, triggers_present integer, triggers_enabled integer, readable integer,
               runs bigint, runs_without_hash bigint, runs_out_of_line bigint, oom_runs bigint,
               runs_at_memory_cap bigint, eligible_runs bigint, runs_with_history bigint, runs_without_history bigint,
               requested_memory_mb bigint, colliding_keys bigint,
               backfill_unfinished integer, backfill_rows_done bigint, backfill_rows_left bigint,
               backfill_seconds_since_progress double precision)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
    cols record;
    trg record;
    expected text;
    prog record;
BEGIN
    IF recent IS NULL OR recent <= interval '0' OR lookback IS NULL OR lookback < interval '0' THEN
        RAISE EXCEPTION 'ara_metrics: recent must be a positive interval and lookback an interval of 0 or more'
            USING ERRCODE = '22023', HINT = 'For example ara_metrics(recent => ''1 hour'', lookback => ''3 days'').';
    END IF;
    IF memory_cap IS NULL OR memory_cap <= 0 OR engine IS NULL THEN
        RAISE EXCEPTION 'ara_metrics: memory_cap must be a positive number of MB and engine not NULL'
            USING ERRCODE = '22023', HINT = 'Flotilla''s are memory_cap => 350000 and engine => ''eks''.';
    END IF;
    FOR t IN
        SELECT u.w FROM (SELECT w FROM ara_internal.ara_watched_tables() w WHERE tbl IS NULL
                         UNION SELECT tbl WHERE tbl IS NOT NULL) u
        ORDER BY u.w::text
    LOOP
        SELECT * INTO trg FROM ara_internal.ara_trigger_state(t);
        triggers_present := trg.present::integer;
        triggers_enabled := trg.enabled::integer;
        table_name := t::text;
        registered := (EXISTS (SELECT 1 FROM @extschema@.ara_tables r WHERE r.table_name = t))::integer;
        -- The key mode as configured (from the trigger; not enabled: the command, as ara_columns).
        SELECT CASE WHEN c.key = 'fingerprint' THEN 'fingerprint'
                    WHEN cardinality(c.fingerprint_definitions) > 0 THEN 'command, fingerprint for some definitions'
                    ELSE 'command' END INTO key
          FROM ara_internal.ara_config(t) c;
        IF tbl IS NULL AND NOT has_table_privilege(t, 'SELECT') THEN
            -- A watched table this role may not read: its triggers (from the catalog) and NULL
            -- figures, rather than an error that would fail the whole scrape.
            readable := 0;
            runs := NULL; runs_without_hash := NULL; runs_out_of_line := NULL; oom_runs := NULL;
            runs_at_memory_cap := NULL; eligible_runs := NULL; runs_with_history := NULL; runs_without_history := NULL;
            requested_memory_mb := NULL; colliding_keys := NULL; backfill_unfinished := NULL;
            backfill_rows_done := NULL; backfill_rows_left := NULL; backfill_seconds_since_progress := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        readable := 1;
        SELECT * INTO cols FROM ara_internal.ara_columns(t,
            ARRAY['definition_id', 'command', 'command_hash', 'description', 'memory', 'exit_code', 'exit_reason',
                  'engine', 'queued_at']::name[], 'ara_metrics');
        expected := ara_internal.ara_expected_hash_sql(cols.command_column, cols.description_column, cols.key,
                                                       cols.definition_column, cols.fingerprint_definitions);
        -- One pass over the runs queued in [now() - recent, now()) (an index range on queued_at,
        -- Flotilla's (queued_at, status, engine)), one lookup-index probe per run of the engine.
        EXECUTE format($q$
            WITH %5$s r AS MATERIALIZED (
                SELECT t.definition_id, t.%1$I, t.memory, t.engine, t.queued_at,
                       coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
                       %2$s AS expected,
                       t.engine = $4 AND t.%1$I IS NOT NULL AND %3$s AS found_history
                  FROM %4$s t
                 WHERE t.queued_at >= now() - $1 AND t.queued_at < now()
            )
            SELECT count(*),
                   count(*) FILTER (WHERE r.%1$I IS NULL AND r.expected IS NOT NULL),
                   count(*) FILTER (WHERE r.%1$I::text IS DISTINCT FROM r.expected),
                   count(*) FILTER (WHERE r.oom),
                   count(*) FILTER (WHERE r.memory >= $2),
                   count(*) FILTER (WHERE r.engine = $4),
                   count(*) FILTER (WHERE r.found_history),
                   count(*) FILTER (WHERE r.engine = $4 AND NOT r.found_history),
                   coalesce(sum(r.memory), 0)::bigint,
                   (SELECT count(*) FROM (SELECT 1 FROM r WHERE r.oom AND r.%1$I IS NOT NULL
                                          GROUP BY r.definition_id, r.%1$I
                                          HAVING count(DISTINCT r.expected) > 1) c)
              FROM r$q$,
            cols.hash_column, expected,
            ara_internal.ara_history_sql(t, cols.hash_column, '$4', '$3'), t,
            ara_internal.ara_history_cte(t, cols.hash_column, '$4', '$3', '(now() - $1)', 'now()'))
        USING recent, memory_cap, lookback, engine
        INTO runs, runs_without_hash, runs_out_of_line, oom_runs, runs_at_memory_cap, eligible_runs,
             runs_with_history, runs_without_history, requested_memory_mb, colliding_keys;
        -- The latest backfill of the table (any definition filter): unfinished = running or
        -- interrupted; rows left from the planner's estimate of the table's rows.
        SELECT p.finished_at IS NULL AS unfinished, p.rows_scanned, p.updated_at INTO prog
          FROM @extschema@.ara_backfill_progress p
         WHERE p.relid = t
         ORDER BY p.finished_at IS NULL DESC, p.updated_at DESC LIMIT 1;
        backfill_unfinished := coalesce(prog.unfinished, false)::integer;
        backfill_rows_done := coalesce(prog.rows_scanned, 0);
        backfill_rows_left := CASE WHEN prog.unfinished
                                   THEN greatest(coalesce(ara_internal.ara_estimated_rows(t), 0) - prog.rows_scanned, 0)
                                   ELSE 0 END;
        backfill_seconds_since_progress := CASE WHEN prog.unfinished
                                                THEN extract(epoch FROM now() - prog.updated_at)::double precision
                                                ELSE 0 END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_metrics(regclass, interval, integer, interval, text) IS
'pg_ara: ARA health, one row per table pg_ara watches (registered by ara_enable() or carrying its triggers), or for tbl; the shape postgres_exporter maps (monitoring/postgres_exporter/pg_ara.yaml). Labels: table_name, key. Gauges: registered, triggers_present, triggers_enabled (0 when a trigger was dropped or disabled, on the table or a partition), readable (0: this role may not SELECT the table, whose figures are then NULL; given tbl, that is error 42501 instead); over the runs queued in the last `recent` (default 1 hour): runs, runs_without_hash (a command or description but no hash), runs_out_of_line (hash differs from the key the trigger computes), oom_runs, runs_at_memory_cap (memory >= memory_cap, default 350000 MB), eligible_runs (engine, default eks), runs_with_history / runs_without_history (whether their ARA lookup, as of their own queue time, found OOM runs of their definition and key in the `lookback` before: the report''s ara.no_historical_data), requested_memory_mb, colliding_keys (keys of recent OOM runs holding more than one command); backfill_unfinished, backfill_rows_done, backfill_rows_left, backfill_seconds_since_progress. Cost grows with the recent runs: an index on queued_at and the lookup index (ara_index_sql()). Read-only.';

CREATE OR REPLACE FUNCTION @extschema@.ara_compare(
    pivot timestamptz DEFAULT NULL,
    tbl regclass DEFAULT 'task'::text::regclass,
    before interval DEFAULT '7 days',
    after interval DEFAULT '7 days',
    memory_cap integer DEFAULT 350000,
    lookback interval DEFAULT '3 days',
    engine text DEFAULT 'eks')
RETURNS TABLE (definition_id text, runs_before bigint, runs_after bigint,
               oom_rate_before numeric, oom_rate_after numeric,
               median_memory_before bigint, median_memory_after bigint,
               p95_memory_before bigint, p95_memory_after bigint,
               at_cap_before bigint, at_cap_after bigint,
               gb_hours_before numeric, gb_hours_after numeric,
               with_history_before bigint, with_history_after bigint,
               memory_change numeric, bar text)
LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols record;
BEGIN
    SELECT * INTO cols FROM ara_internal.ara_columns(tbl,
        ARRAY['definition_id', 'command_hash', 'memory', 'exit_code', 'exit_reason', 'engine', 'queued_at',
              'started_at', 'finished_at']::name[], 'ara_compare');
    IF pivot IS NULL THEN
        SELECT r.enabled_at INTO pivot FROM @extschema@.ara_tables r WHERE r.table_name = tbl;
        IF pivot IS NULL THEN
            RAISE EXCEPTION 'ara_compare: no pivot given and none recorded for %', tbl
                USING ERRCODE = '22004',
                      HINT = 'ara_enable() records when it enabled a table (since 0.4.0); otherwise pass pivot => the time of the fix.';
        END IF;
    END IF;
    IF before IS NULL OR before <= interval '0' OR after IS NULL OR after <= interval '0' THEN
        RAISE EXCEPTION 'ara_compare: before and after must be positive intervals'
            USING ERRCODE = '22023', HINT = 'For example before => ''7 days'', after => ''7 days''.';
    END IF;
    IF memory_cap IS NULL OR memory_cap <= 0 OR lookback IS NULL OR lookback < interval '0' OR engine IS NULL THEN
        RAISE EXCEPTION 'ara_compare: memory_cap must be a positive number of MB, lookback an interval of 0 or more, engine not NULL'
            USING ERRCODE = '22023', HINT = 'Flotilla''s are memory_cap => 350000, lookback => ''3 days'' and engine => ''eks''.';
    END IF;
    -- Each side's runs, by queue time; the change is the ratio of the median request (after /
    -- before), the bar four marks per doubling (+ more memory, - less); worst change first.
    RETURN QUERY EXECUTE format($q$
        WITH %4$s r AS (
            SELECT t.definition_id::text AS definition_id, t.queued_at >= $1 AS after_pivot, t.memory::bigint AS memory,
                   coalesce(t.exit_code = 137 OR t.exit_reason = 'OOMKilled', false) AS oom,
                   t.memory / 1024.0 * coalesce(extract(epoch FROM t.finished_at - t.started_at), 0) / 3600 AS gb_hours,
                   t.engine = $6 AND t.%1$I IS NOT NULL AND %2$s AS found_history
              FROM %3$s t
             WHERE t.queued_at >= $1 - $2 AND t.queued_at < $1 + $3
        ), d AS (
            SELECT r.definition_id,
                   count(*) FILTER (WHERE NOT after_pivot) AS runs_before,
                   count(*) FILTER (WHERE after_pivot) AS runs_after,
                   round(avg(oom::int) FILTER (WHERE NOT after_pivot), 3) AS oom_rate_before,
                   round(avg(oom::int) FILTER (WHERE after_pivot), 3) AS oom_rate_after,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY memory) FILTER (WHERE NOT after_pivot) AS median_before,
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY memory) FILTER (WHERE after_pivot) AS median_after,
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY memory) FILTER (WHERE NOT after_pivot) AS p95_before,
                   percentile_disc(0.95) WITHIN GROUP (ORDER BY memory) FILTER (WHERE after_pivot) AS p95_after,
                   count(*) FILTER (WHERE NOT after_pivot AND memory >= $4) AS cap_before,
                   count(*) FILTER (WHERE after_pivot AND memory >= $4) AS cap_after,
                   round(coalesce(sum(gb_hours) FILTER (WHERE NOT after_pivot), 0), 1) AS gbh_before,
                   round(coalesce(sum(gb_hours) FILTER (WHERE after_pivot), 0), 1) AS gbh_after,
                   count(*) FILTER (WHERE NOT after_pivot AND found_history) AS hist_before,
                   count(*) FILTER (WHERE after_pivot AND found_history) AS hist_after
              FROM r GROUP BY r.definition_id
        )
        SELECT d.*, c.change,
               CASE WHEN c.change IS NULL THEN NULL
                    WHEN c.change >= 1 THEN repeat('+', least(ceil(log(2, c.change) * 4)::int, 40))
                    ELSE repeat('-', least(ceil(-log(2, c.change) * 4)::int, 40)) END
          FROM d
          CROSS JOIN LATERAL (SELECT round(d.median_after::numeric / nullif(d.median_before, 0), 2) AS change) c
         ORDER BY abs(ln(nullif(c.change, 0))) DESC NULLS LAST,
                  abs(coalesce(d.oom_rate_after, 0) - coalesce(d.oom_rate_before, 0)) DESC, d.definition_id$q$,
        cols.hash_column, ara_internal.ara_history_sql(tbl, cols.hash_column, '$6', '$5'), tbl,
        ara_internal.ara_history_cte(tbl, cols.hash_column, '$6', '$5', '($1 - $2)', '($1 + $3)'))
    USING pivot, before, after, memory_cap, lookback, engine;
END
$$;
COMMENT ON FUNCTION @extschema@.ara_compare(timestamptz, regclass, interval, interval, integer, interval, text) IS
'pg_ara: the before/after report of a change such as the fix, per definition: runs queued in [pivot - before, pivot) against [pivot, pivot + after) (default 7 days each; pivot defaults to when ara_enable() first enabled the table, from ara_tables): OOM rate, median and p95 requested memory (MB), runs at memory_cap, requested GB-hours (memory x (finished_at - started_at)), runs whose ARA lookup found OOM history as of their queue time; memory_change = median after / median before, and a bar (four + or - per doubling or halving, log scale). Worst change first: the largest memory change, then the largest change in OOM rate.';
