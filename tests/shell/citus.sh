#!/usr/bin/env bash
# pg_ara on a real Citus cluster: a coordinator and two workers on loopback, started and stopped
# here, Citus built from its vendored release source (scripts/citus.sh; cached in the PostgreSQL
# it was built for). The task table distributed by run_id, by definition_id (the natural key: every
# ARA question stays on one node), as a reference table and as a distributed partitioned table:
# ara_enable/ara_disable/ara_set_key work without the user setting anything, and rows written
# through the coordinator (multi-row INSERT, INSERT ... SELECT, COPY, UPDATE of the command) get
# exactly the hashes a plain table gets from the same writes; ara_resources answers on each as on
# the plain table; ara_estimate(ara_counts(...)) is split across the workers (EXPLAIN) with the
# built-in's answers; every investigation, simulation, tuning (ara_tune) and monitoring function answers on the tables
# distributed by run_id and by definition_id as on the plain table, before and after the backfill,
# whose lock_timeout holds on the workers. Skipped, saying why, on PostgreSQL 15 (Citus does not
# support it) or where the vendored source is not found.
# Needs PG_MAJOR/PG_CONFIG/PG_BIN of an installation with pg_ara installed (scripts/test.sh sets them).
# runs on: citus
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster.sh
source scripts/citus.sh
fail() { echo "FAILED: $*"; exit 1; }

if ! citus_supported "$PG_MAJOR"; then
  echo "SKIPPED: Citus $PG_ARA_CITUS_VERSION supports PostgreSQL 16, 17 and 18, not $PG_MAJOR"
  exit 0
fi
if ! citus_tarball >/dev/null; then
  echo "SKIPPED: the Citus $PG_ARA_CITUS_VERSION source (citus-$PG_ARA_CITUS_VERSION.tar.gz, sha256 $PG_ARA_CITUS_SHA256) was not found in shared/vendor beside this checkout or above it, nor in /work/shared/vendor; set PG_ARA_CITUS_TARBALL to run these tests"
  exit 0
fi
citus_install "$PG_CONFIG" || fail "could not build Citus for PostgreSQL $PG_MAJOR"

BASE_PORT=${PG_ARA_CITUS_PORT:-$((${PGPORT:-54916} + 20))}
trap citus_cluster_stop EXIT
citus_cluster_start citus "$BASE_PORT" || fail "the Citus cluster did not start"
node() { local n=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $((BASE_PORT + n)) -U postgres -d postgres "$@"; }
coord() { node 0 "$@"; }
echo "ok: Citus $(coord -At -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'") on PostgreSQL $PG_MAJOR, coordinator and 2 workers on 127.0.0.1:$BASE_PORT-$((BASE_PORT + 2))"

# pg_ara on the coordinator (Citus propagates the extension to the workers); the same Flotilla table
# five times: plain (the reference answers), distributed by run_id, by definition_id, a reference
# table, and partitioned by queued_at and distributed by definition_id. pg_ara enabled on each before
# any write, with nothing set by hand.
coord <<'SQL'
CREATE EXTENSION pg_ara;
\set task_table plain_task
\ir scripts/flotilla_task.sql
CREATE TABLE by_run (LIKE plain_task INCLUDING ALL);
CREATE TABLE by_def (LIKE plain_task INCLUDING DEFAULTS);
ALTER TABLE by_def ADD PRIMARY KEY (definition_id, run_id);
CREATE TABLE ref_task (LIKE plain_task INCLUDING ALL);
CREATE TABLE part_task (LIKE plain_task INCLUDING DEFAULTS) PARTITION BY RANGE (queued_at);
CREATE TABLE part_task_old PARTITION OF part_task FOR VALUES FROM (MINVALUE) TO ('2025-11-20');
CREATE TABLE part_task_new PARTITION OF part_task FOR VALUES FROM ('2025-11-20') TO (MAXVALUE);
SELECT create_distributed_table('by_run', 'run_id');
SELECT create_distributed_table('by_def', 'definition_id');
SELECT create_reference_table('ref_task');
SELECT create_distributed_table('part_task', 'definition_id');
SELECT ara_enable(t) FROM unnest(ARRAY['plain_task', 'by_run', 'by_def', 'ref_task', 'part_task']::regclass[]) t;
SQL
[ "$(coord -At -c "SELECT ara_enable('by_run', key => 'command') IS NOT NULL; SHOW citus.enable_unsafe_triggers")" = "$(printf 't\noff')" ] \
  || fail "ara_enable left citus.enable_unsafe_triggers on in the session"
[ "$(coord -At -c "SELECT count(*) FROM ara_status()")" = 5 ] || fail "ara_status does not list the five tables"
echo "ok: ara_enable on distributed (by run_id, by definition_id), reference and distributed partitioned tables, nothing set by hand"

# The same writes on every table: a multi-row INSERT ... SELECT (4,000 runs, 12 definitions x 7
# commands, hashes written as the bug wrote them: md5(description), some descriptions NULL), a
# multi-row VALUES insert, COPY, then an UPDATE of the command of every 9th run.
gen=$(mktemp)
trap 'citus_cluster_stop; rm -f "$gen"' EXIT
coord -c "\\copy (SELECT 'c' || i, 'def-' || (i % 12), 'python3 job.py --shard ' || (i % 7), CASE WHEN i % 5 = 0 THEN NULL ELSE 'Job ' || (i % 3) END, md5('Job ' || (i % 3)), 1000 + (i * 37) % 9000, 250 + (i * 13) % 2000, CASE WHEN i % 4 = 0 THEN 137 ELSE 0 END, timestamptz '2025-11-18' + i * interval '1 minute' FROM generate_series(1, 1500) i) TO '$gen' WITH (FORMAT csv)"
for t in plain_task by_run by_def ref_task part_task; do
  coord <<SQL || fail "writes on $t"
INSERT INTO $t (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'r' || i, 'def-' || (i % 12), 'python3 job.py --shard ' || (i % 7),
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'Job ' || (i % 3) END, md5('Job ' || (i % 3)),
       1000 + (i * 37) % 9000, 250 + (i * 13) % 2000, CASE WHEN i % 4 = 0 THEN 137 ELSE 0 END,
       timestamptz '2025-11-17' + i * interval '1 minute'
FROM generate_series(1, 4000) i;
INSERT INTO $t (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at) VALUES
  ('v1', 'def-1', 'echo one', 'Job 1', md5('Job 1'), 2048, 500, 137, '2025-11-19 10:00'),
  ('v2', 'def-2', NULL, 'only a description', NULL, 2048, 500, 0, '2025-11-19 10:00'),
  ('v3', 'def-3', NULL, NULL, 'stale', 2048, 500, 0, '2025-11-19 10:00');
\\copy $t (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at) FROM '$gen' WITH (FORMAT csv)
UPDATE $t SET command = command || ' --retry' WHERE run_id LIKE 'r%' AND substr(run_id, 2)::int % 9 = 0;
SQL
done
out=$(coord -At -F ' ' <<'SQL'
SELECT t, (SELECT count(*) FROM plain_task),
       (SELECT count(*) FROM plain_task p WHERE p.command_hash IS DISTINCT FROM command_hash(p.command, p.description))
FROM (VALUES ('plain')) v(t);
SELECT 'same', t.name,
       (SELECT count(*) FROM (SELECT run_id, command, command_hash FROM plain_task
                              EXCEPT SELECT run_id, command, command_hash FROM by_run) d),
       (SELECT count(*) FROM (SELECT run_id, command, command_hash FROM plain_task
                              EXCEPT SELECT run_id, command, command_hash FROM by_def) d),
       (SELECT count(*) FROM (SELECT run_id, command, command_hash FROM plain_task
                              EXCEPT SELECT run_id, command, command_hash FROM ref_task) d),
       (SELECT count(*) FROM (SELECT run_id, command, command_hash FROM plain_task
                              EXCEPT SELECT run_id, command, command_hash FROM part_task) d),
       (SELECT count(*) FROM by_run) + (SELECT count(*) FROM by_def) + (SELECT count(*) FROM ref_task)
         + (SELECT count(*) FROM part_task)
FROM (VALUES ('hashes')) t(name);
SQL
)
echo "$out"
grep -qx "plain 5503 0" <<<"$out" || fail "the plain table's hashes are not the trigger's (want 5503 rows, 0 wrong)"
grep -qx "same hashes 0 0 0 0 22012" <<<"$out" || fail "a Citus table's rows or hashes differ from the plain table's"
# Each shard holds the trigger (the coordinator's table has no rows of its own).
shards=$(coord -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE result = '2')
                       FROM run_command_on_shards('by_def', \$\$SELECT count(*) FROM pg_trigger WHERE tgrelid = '%s'::regclass AND tgname LIKE 'ara_command_hash_%%'\$\$)")
[ "${shards#* }" = "${shards%% *}" ] && [ "${shards%% *}" -gt 1 ] || fail "not every shard of by_def has both triggers: $shards"
echo "ok: multi-row INSERT, INSERT ... SELECT, COPY and UPDATE of the command through the coordinator: every row's hash on every Citus table equals the plain table's (5503 rows each; ${shards%% *} shards of by_def, each with both triggers)"

# The lookup: every key's answer on each Citus table equals the plain table's.
out=$(coord -At -F ' ' <<'SQL'
WITH k AS (SELECT DISTINCT definition_id, command_hash FROM plain_task WHERE command_hash IS NOT NULL),
a AS (SELECT k.*, t.tbl, r.memory, r.cpu, r.oom_runs
        FROM k CROSS JOIN unnest(ARRAY['plain_task', 'by_run', 'by_def', 'ref_task', 'part_task']::regclass[]) t(tbl)
        CROSS JOIN LATERAL ara_resources(k.definition_id, k.command_hash, '2025-11-21', t.tbl) r)
SELECT 'lookup', count(DISTINCT (a.definition_id, a.command_hash)), count(a.memory),
       count(*) FILTER (WHERE (a.memory, a.cpu, a.oom_runs) IS DISTINCT FROM (p.memory, p.cpu, p.oom_runs))
FROM a JOIN a p ON p.tbl = 'plain_task'::regclass AND p.definition_id = a.definition_id AND p.command_hash = a.command_hash;
SQL
)
echo "$out"
read -r _ keys sized different <<<"$out"
[ "$keys" -gt 50 ] && [ "$sized" -gt 0 ] && [ "$different" = 0 ] || fail "ara_resources on a Citus table differs from the plain table: $out"
echo "ok: ara_resources on every Citus table equals the plain table's, key by key ($keys keys)"

# Distributed by definition_id, a lookup is one single-shard (router) query that runs on the worker
# holding the key, through the shard's copy of the partial index ara_index_sql() creates (CREATE
# INDEX CONCURRENTLY works on a distributed table): the aggregate runs there too.
coord -c "SELECT ara_index_sql('by_def')" -At | while read -r stmt; do coord -c "$stmt" || exit 1; done || fail "ara_index_sql's statements on by_def"
plan=$(coord -At <<'SQL'
PREPARE lookup(text, text, timestamptz) AS
SELECT count(*)::int, ara_estimate(w.memory, 0.99, 1.75)
  FROM (SELECT t.memory::bigint AS memory FROM by_def t
         WHERE t.definition_id = $1 AND t.command_hash = $2 AND (t.exit_code = 137 OR t.exit_reason = 'OOMKilled')
           AND t.queued_at >= $3 - interval '3 days' AND t.queued_at < $3
         ORDER BY t.queued_at DESC, t.run_id DESC LIMIT 30) w;
EXPLAIN (COSTS OFF) EXECUTE lookup('def-1', md5('python3 job.py --shard 1'), '2025-11-21');
SQL
)
grep -q "Task Count: 1" <<<"$plan" && grep -q "Index Scan using by_def_ara_oom_idx" <<<"$plan" && grep -q "Aggregate" <<<"$plan" \
  || fail "the lookup on by_def is not one single-shard task through the OOM index: $plan"
echo "ok: distributed by definition_id, the lookup is one router task on the worker holding the key, through the shard's OOM index, aggregate included"

# Grouped by the distribution column, ara_estimate runs on the workers, inside each shard's query
# (what is shipped to the coordinator is one row per group), with the plain table's answers.
plan=$(coord -At -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT definition_id, ara_estimate(memory) FROM by_def GROUP BY definition_id")
grep -q "Query: SELECT definition_id, public.ara_estimate(" <<<"$plan" || fail "ara_estimate grouped by definition_id is not computed on the workers: $plan"
same=$(coord -At -c "SELECT count(*) FROM (SELECT definition_id, ara_estimate(memory), ara_estimate(cpu, 0.5, 1.1) FROM plain_task GROUP BY 1
                                            EXCEPT SELECT definition_id, ara_estimate(memory), ara_estimate(cpu, 0.5, 1.1) FROM by_def GROUP BY 1) d")
[ "$same" = 0 ] || fail "ara_estimate grouped by definition_id on by_def differs from the plain table's"
echo "ok: ara_estimate grouped by the distribution column runs on the workers (shard queries), answers as on the plain table"

# Grouped by anything else, or over the whole table, ara_estimate(value) cannot be split (its state
# is internal): every row is shipped (the shard queries select the bare values). The two-step form,
# ara_estimate(ara_counts(value), ...), is split: each shard's query makes its multiset
# (worker_binary_partial_agg, one pair per distinct value in binary), the coordinator merges them
# (coord_binary_combine_agg) and estimates; the answers are the plain table's, and the built-in's.
plan=$(coord -At -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT command_hash, ara_estimate(memory) FROM by_run GROUP BY command_hash")
grep -qF "Query: SELECT command_hash, (memory)::bigint AS ara_estimate FROM" <<<"$plan" || fail "ara_estimate(memory) on by_run was expected to ship the rows: $plan"
for q in "SELECT definition_id, command_hash, ara_estimate(ara_counts(memory), 0.99, 1.75) FROM by_run GROUP BY 1, 2" \
         "SELECT ara_estimate(ara_counts(memory)) FROM by_run" \
         "SELECT command_hash, ara_estimate(ara_counts(cpu), 0.5, 1.1) FROM part_task GROUP BY command_hash"; do
  plan=$(coord -At -c "EXPLAIN (VERBOSE, COSTS OFF) $q")
  grep -q "worker_binary_partial_agg('public.ara_counts(bigint)'::regprocedure" <<<"$plan" && grep -q "coord_binary_combine_agg" <<<"$plan" \
    || fail "ara_counts is not split across the workers in: $q: $plan"
done
out=$(coord -At -F ' ' <<'SQL'
SELECT 'split',
  (SELECT count(*) FROM (SELECT definition_id, command_hash, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint)
                           FROM plain_task GROUP BY 1, 2
                         EXCEPT SELECT definition_id, command_hash, ara_estimate(ara_counts(memory), 0.99, 1.75) FROM by_run GROUP BY 1, 2) d),
  (SELECT count(*) FROM (SELECT command_hash, ara_estimate(cpu, 0.5, 1.1) FROM plain_task GROUP BY 1
                         EXCEPT SELECT command_hash, ara_estimate(ara_counts(cpu), 0.5, 1.1) FROM part_task GROUP BY 1) d),
  (SELECT ara_estimate(memory) FROM plain_task) = (SELECT ara_estimate(ara_counts(memory)) FROM by_run),
  (SELECT ara_counts(memory)::text FROM plain_task) = (SELECT ara_counts(memory)::text FROM ref_task),
  (SELECT count(DISTINCT (definition_id, command_hash)) FROM plain_task);
SET client_min_messages = warning;
-- Kept multisets in a distributed table of their own (per definition and day, distributed by day),
-- rolled up per definition on the workers.
CREATE TABLE daily_counts AS SELECT definition_id, queued_at::date AS day, ara_counts(memory) AS c FROM by_run GROUP BY 1, 2;
SELECT count(create_distributed_table('daily_counts', 'day'));
SELECT 'rollup', (SELECT count(*) FROM (SELECT definition_id, ara_estimate(memory) FROM plain_task GROUP BY 1
                                        EXCEPT SELECT definition_id, ara_estimate(ara_rollup(c)) FROM daily_counts GROUP BY 1) d),
       (SELECT count(*) FROM daily_counts);
SQL
)
echo "$out"
read -r _ by_hash by_part whole ref keys <<<"$(grep '^split ' <<<"$out")"
[ "$by_hash $by_part $whole $ref" = "0 0 t t" ] && [ "$keys" -gt 50 ] || fail "ara_estimate(ara_counts(...)) on Citus tables differs from the plain table: $out"
grep -q "^rollup 0 [1-9]" <<<"$out" || fail "ara_rollup over a distributed table of kept multisets: $out"
plan=$(coord -At -c "EXPLAIN (VERBOSE, COSTS OFF) SELECT definition_id, ara_estimate(ara_rollup(c)) FROM daily_counts GROUP BY 1")
grep -qF "worker_binary_partial_agg('public.ara_rollup(public.ara_counts)'::regprocedure" <<<"$plan" || fail "ara_rollup is not split across the workers: $plan"
echo "ok: ara_estimate(ara_counts(value)) is split across the workers (partial multisets in binary, merged on the coordinator) grouped by columns that are not the distribution column ($keys keys) and over the whole table, equal to the built-in and the plain table; ara_rollup of kept multisets likewise"

# ara_set_key (a new trigger configuration) and ara_disable work there too.
coord -c "SELECT ara_set_key('by_def', 'fingerprint')" -c "SELECT ara_disable('by_run')" >/dev/null || fail "ara_set_key / ara_disable"
coord -c "INSERT INTO by_run (run_id, definition_id, command, description, command_hash) VALUES ('off', 'def-1', 'echo off', 'd', 'kept')" \
      -c "INSERT INTO by_def (run_id, definition_id, command, description, command_hash) VALUES ('fp', 'def-1', 'run.py --as_of 20251123', 'd', NULL)"
out=$(coord -At -c "SELECT command_hash FROM by_run WHERE run_id = 'off' UNION ALL SELECT (command_hash = md5('run.py --as_of <date>'))::text FROM by_def WHERE run_id = 'fp'")
[ "$out" = "$(printf 'kept\ntrue')" ] || fail "after ara_disable / ara_set_key: $out"
echo "ok: ara_set_key (fingerprint) and ara_disable on distributed tables"

# Investigation, simulation, monitoring and the backfill on a history written before pg_ara (the
# bug's hashes: md5(description), NULL without one): every function's answer on a table distributed
# by run_id and on one distributed by definition_id equals its answer on the plain table, before
# and after ara_enable + ara_backfill, which repairs the distributed tables as the plain one.
# The calls, and how each answer is compared (temporary objects, made in each session that checks).
# ara_enable runs in a session of its own: in the session that had made and used these objects,
# Citus 14.0.1 once refused the update trigger ("has dependency on unsupported object schema
# pg_temp_N"); a temporary table, function or view alone does not do it (docs/citus.md).
checks_sql=$(cat <<'SQL'
SET client_min_messages = warning;
-- Every row of a call's answer, as text, sorted; $tbl stands for the table.
CREATE FUNCTION pg_temp.answers(f text, tbl regclass) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT string_agg(x::text, %L ORDER BY x::text) FROM %s x', E'\n',
                   replace(f, '$tbl', quote_literal(tbl::text) || '::regclass')) INTO r;
    RETURN coalesce(r, '(none)');
END $f$;
CREATE TEMP TABLE calls (ord serial, f text, after_enable boolean);
INSERT INTO calls (f, after_enable) VALUES
  ('ara_impact($tbl)', false), ('ara_collisions($tbl)', false), ('ara_null_hashes($tbl)', false),
  ('ara_explain(''r44'', $tbl)', false), ('ara_growth(''def-8'', md5(''Job 2''), $tbl)', false),
  ('ara_fingerprint_preview($tbl)', false), ('ara_simulate(tbl => $tbl)', false),
  ('ara_simulate_runs(since => now() - interval ''1 day'', tbl => $tbl)', false), ('ara_waste(tbl => $tbl)', false),
  ('ara_hash_mismatches($tbl)', true), ('ara_impact($tbl)', true), ('ara_explain(''r44'', $tbl)', true),
  ('ara_growth(''def-8'', md5(''python3 job.py --as_of 20251106''), $tbl)', true),
  ('ara_simulate(tbl => $tbl)', true), ('ara_tune(tbl => $tbl)', true), ('ara_tune_frontier(tbl => $tbl)', true);
-- ara_metrics() and ara_compare() look for each run's history with a subquery joined on
-- definition_id; on the table distributed by run_id they read it from a materialised CTE instead
-- (ara_internal.ara_citus_spread), the plain and by-definition tables from the table itself.
INSERT INTO calls (f, after_enable) VALUES
  ('ara_compare(now() - interval ''1 day'', $tbl)', true),
  ('(SELECT key, runs, runs_without_hash, runs_out_of_line, oom_runs, runs_at_memory_cap, eligible_runs, runs_with_history, runs_without_history, requested_memory_mb, colliding_keys FROM ara_metrics($tbl, recent => ''10 days''))', true);
CREATE TEMP VIEW checks AS
SELECT c.ord, c.after_enable, replace(c.f, ' ', '') AS f,
       pg_temp.answers(c.f, 'h_plain') = pg_temp.answers(c.f, 'h_run') AS by_run,
       pg_temp.answers(c.f, 'h_plain') = pg_temp.answers(c.f, 'h_def') AS by_def,
       pg_temp.answers(c.f, 'h_plain') <> '(none)' AS answered
FROM calls c;
SQL
)
coord <<'SQL' >/dev/null || fail "the history tables"
\set task_table h_plain
\ir scripts/flotilla_task.sql
CREATE TABLE h_run (LIKE h_plain INCLUDING ALL);
CREATE TABLE h_def (LIKE h_plain INCLUDING DEFAULTS);
ALTER TABLE h_def ADD PRIMARY KEY (definition_id, run_id);
SELECT count(create_distributed_table(t, c)) FROM (VALUES ('h_run', 'run_id'), ('h_def', 'definition_id')) v(t, c);
INSERT INTO h_plain (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at,
                     started_at, finished_at, max_memory_used, max_cpu_used)
SELECT 'r' || i, 'def-' || (i % 12), 'python3 job.py --as_of ' || (20251101 + i % 9),
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'Job ' || (i % 3) END, CASE WHEN i % 5 = 0 THEN NULL ELSE md5('Job ' || (i % 3)) END,
       1000 + (i * 37) % 9000, 250 + (i * 13) % 2000, CASE WHEN i % 4 = 0 THEN 137 ELSE 0 END,
       now() - i * interval '1 minute', now() - i * interval '1 minute', now() - i * interval '1 minute' + interval '10 minutes',
       500 + (i * 31) % 8000, 100 + i % 900
FROM generate_series(1, 4000) i;
INSERT INTO h_run SELECT * FROM h_plain;
INSERT INTO h_def SELECT * FROM h_plain;
SQL
before=$(coord -At -F ' ' -c "$checks_sql" -c "SELECT 'call', f, by_run, by_def, answered FROM checks WHERE NOT after_enable ORDER BY ord" 2>&1) \
  || fail "investigation on Citus tables: $before"
repair=$(coord -At -F ' ' <<'SQL' 2>&1
SET client_min_messages = warning;
SELECT count(ara_enable(t)) FROM unnest(ARRAY['h_plain', 'h_run', 'h_def']::regclass[]) t;
CALL ara_backfill('h_plain', batch_size => 700);
CALL ara_backfill('h_run', batch_size => 700);
CALL ara_backfill('h_def', batch_size => 700);
SELECT 'hashes', (SELECT count(*) FROM h_plain p WHERE p.command_hash IS DISTINCT FROM command_hash(p.command, p.description)),
       (SELECT count(*) FROM (SELECT run_id, command_hash FROM h_plain EXCEPT SELECT run_id, command_hash FROM h_run) d),
       (SELECT count(*) FROM (SELECT run_id, command_hash FROM h_plain EXCEPT SELECT run_id, command_hash FROM h_def) d),
       (SELECT count(*) FROM ara_backfill_progress WHERE finished_at IS NOT NULL AND rows_changed > 0);
SQL
) || fail "ara_enable / ara_backfill on the Citus tables: $repair"
after=$(coord -At -F ' ' -c "$checks_sql" -c "SELECT 'call', f, by_run, by_def, answered FROM checks WHERE after_enable ORDER BY ord" 2>&1) \
  || fail "investigation on Citus tables after the repair: $after"
out=$(printf '%s\n%s\n%s\n' "$before" "$repair" "$after")
grep '^call \|^hashes ' <<<"$out"
[ "$(grep -c '^call .* t t t$' <<<"$out")" = 18 ] || fail "a function answers differently on a Citus table, or not at all: $(grep '^call ' <<<"$out" | grep -v ' t t t$')"
grep -qx "hashes 0 0 0 3" <<<"$out" || fail "ara_backfill on the Citus tables: want every hash repaired as on the plain table by 3 finished backfills"
echo "ok: investigation, simulation, tuning and monitoring functions answer on tables distributed by run_id and by definition_id as on the plain table, before and after ara_enable + ara_backfill (which repairs them alike)"

# The backfill's lock timeout on a distributed table: its row locks are taken on the workers, where
# the coordinator's lock_timeout does not reach unless Citus propagates it. A long transaction
# through the coordinator holds one row (seen sleeping, so holding it); the backfill gives up after
# its lock_timeout with 55P03 and a hint, having committed the batches before that row; once the
# long transaction ends, the next call resumes after them and finishes.
coord <<'SQL' >/dev/null || fail "the lock-timeout table"
SET client_min_messages = warning;
\set task_table lk_task
\ir scripts/flotilla_task.sql
SELECT create_distributed_table('lk_task', 'run_id');
INSERT INTO lk_task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'r' || lpad(i::text, 5, '0'), 'def-' || (i % 7), 'python3 job.py --n ' || i, 'Job', md5('Job'), 1000, 100, 0, now()
FROM generate_series(1, 3000) i;
SELECT ara_enable('lk_task');
SQL
coord -c "SET application_name = 'ara_blocker'" -c "BEGIN" -c "UPDATE lk_task SET memory = memory WHERE run_id = 'r02500'" \
      -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
blocker=$!
for _ in $(seq 1 3000); do
  [ -n "$(coord -At -c "SELECT 1 FROM pg_stat_activity WHERE application_name = 'ara_blocker' AND wait_event = 'PgSleep'")" ] && break
  sleep 0.1
done
[ -n "$(coord -At -c "SELECT 1 FROM pg_stat_activity WHERE application_name = 'ara_blocker' AND wait_event = 'PgSleep'")" ] \
  || fail "the blocker never started sleeping"
# (statement_timeout: a guard against hanging for the blocker's hour if the lock timeout does not
# reach the workers; never reached otherwise.)
out=$(PGOPTIONS="-c statement_timeout=${PG_ARA_CITUS_HANG_GUARD:-300s}" \
      coord -v VERBOSITY=verbose -c "CALL ara_backfill('lk_task', batch_size => 1000, lock_timeout => '200ms')" 2>&1) \
  && fail "ara_backfill on a distributed table went past a row held by a long transaction: $out"
grep -q "55P03" <<<"$out" && grep -q "HINT:" <<<"$out" || fail "ara_backfill behind a long transaction on Citus: not 55P03 with a hint: $out"
done_before=$(coord -At -c "SELECT rows_scanned FROM ara_backfill_progress WHERE relid = 'lk_task'::regclass AND finished_at IS NULL")
coord -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ara_blocker'" >/dev/null
wait "$blocker" 2>/dev/null || true
coord -c "CALL ara_backfill('lk_task', batch_size => 1000, lock_timeout => '200ms')" >/dev/null 2>&1 || fail "ara_backfill did not resume on the distributed table"
out=$(coord -At -F ' ' -c "SELECT count(*) FILTER (WHERE command_hash IS DISTINCT FROM command_hash(command, description)) FROM lk_task" \
                      -c "SELECT rows_scanned FROM ara_backfill_progress WHERE relid = 'lk_task'::regclass AND finished_at IS NOT NULL")
[ "$done_before" = 2000 ] && [ "$out" = "$(printf '0\n3000')" ] \
  || fail "ara_backfill on Citus: want 2000 rows committed before the held row, then all 3000 repaired on resuming; got $done_before, $out"
echo "ok: ara_backfill on a distributed table stops after its lock_timeout behind a row a long transaction holds (55P03, hint; 2000 rows committed), and resumes to the end once it ends"
echo ok
