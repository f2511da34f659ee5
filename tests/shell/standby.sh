#!/usr/bin/env bash
# Hot standby: Flotilla reads ARA from a replica. A streaming replica of the test cluster, made with
# pg_basebackup over loopback, must answer ara_estimate, ara_resources(_for_run), ara_key, every
# investigation function, ara_metrics, ara_compare, ara_simulate(_runs), ara_waste, ara_tune(_frontier), censored
# lookups and right-sized lookups (a
# definition right-sized by ara_set_policy, ara_sizing read on the standby) exactly as the primary does; the trigger and the backfill are the
# primary's business (on the standby they fail as any write does, 25006).
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster.sh
DB=ara_standby
PRIMARY_PORT=$PGPORT
STANDBY_PORT=${PG_ARA_STANDBY_PORT:-$((PGPORT + 7))}
fail() { echo "FAILED: $*"; exit 1; }
primary() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PRIMARY_PORT" -d "$DB" "$@"; }
standby() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$STANDBY_PORT" -d "$DB" "$@"; }
standby_dir="${TMPDIR:-/tmp}/pg_ara-standby-${PG_OS_USER}"
cleanup() {
  cluster_stop_dir "$standby_dir"
  rm -rf "$standby_dir"
}
trap cleanup EXIT
cleanup

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
primary <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz, started_at timestamptz,
                   finished_at timestamptz, max_memory_used integer, max_cpu_used integer);
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at,
                  started_at, finished_at, max_memory_used, max_cpu_used)
SELECT 'r' || i, 'def-' || (i % 5), 'python3 job.py --as_of ' || (20251101 + i % 20), 'Job ' || (i % 3),
       md5('Job ' || (i % 3)), 512 + (i * 37) % 20000, 250 + (i * 13) % 4000, CASE WHEN i % 4 = 0 THEN 137 ELSE 0 END,
       timestamptz '2025-11-01' + i * interval '3 minutes', timestamptz '2025-11-01' + i * interval '3 minutes',
       timestamptz '2025-11-01' + i * interval '3 minutes' + (i % 7) * interval '10 minutes',
       CASE WHEN i % 4 = 0 THEN 512 + (i * 37) % 20000 ELSE 256 + (i * 31) % 12000 END, 100 + (i * 17) % 3000
FROM generate_series(1, 20000) i;
SELECT ara_enable('task', fingerprint_definitions => ARRAY['def-1']);
SELECT ara_set_policy('task', 'right_size', ARRAY['def-3']);
CREATE INDEX task_ara_oom_idx ON task (definition_id, command_hash, queued_at DESC, run_id DESC)
    WHERE exit_code = 137 OR exit_reason = 'OOMKilled';
ANALYZE task;
SQL

install -d -m 700 -o "$PG_OS_USER" "$standby_dir"
as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$standby_dir/data" -R -X stream --checkpoint=fast \
  >"$standby_dir/basebackup.log" 2>&1 || { cat "$standby_dir/basebackup.log"; fail "pg_basebackup"; }
as_pg "$PG_BIN/pg_ctl" -D "$standby_dir/data" -l "$standby_dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $STANDBY_PORT -c unix_socket_directories='$standby_dir' -c hot_standby=on" \
  start >/dev/null || { cat "$standby_dir/server.log"; fail "the standby did not start"; }
[ "$(standby -At -c 'SELECT pg_is_in_recovery()')" = t ] || fail "not a standby"
echo "ok: streaming replica on 127.0.0.1:$STANDBY_PORT"

# Rows written on the primary after the base backup reach the standby with their trigger-set keys.
primary -c "INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
            SELECT 'late' || i, 'def-' || (i % 5), 'python3 job.py --as_of 20251121', 'Job 0', 4096, 500, 137,
                   timestamptz '2025-11-29' + i * interval '1 minute' FROM generate_series(1, 50) i"
lsn=$(primary -At -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
  [ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
  sleep 0.1
done
[ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] || fail "the standby did not catch up"

# The same read-only queries on both; the answers must be identical.
read_only_queries=$(cat <<'SQL'
SET timezone = 'UTC';
SELECT ara_estimate(memory), ara_estimate(cpu, 0.99, 1.25), ara_estimate(memory, 0.5) FROM task;
SELECT definition_id, ara_estimate(memory) FROM task GROUP BY 1 ORDER BY 1;
SELECT * FROM ara_resources('def-2', md5('Job 2'), '2025-11-20');
SELECT * FROM ara_resources('def-2', md5('Job 2'), '2025-11-20', policy => 'right_size');
SELECT * FROM ara_resources('def-3', md5('Job 0'), '2025-11-20');
SELECT * FROM ara_explain('r403');
SELECT * FROM ara_resources_for_run('late7', '2025-11-29 12:00');
SELECT * FROM ara_resources_for_run('late1', '2025-11-29 12:00');
SELECT ara_key('def-1', 'python3 job.py --as_of 20251121', 'Job 0'), ara_key('def-2', 'python3 job.py --as_of 20251121', 'Job 0');
SELECT * FROM ara_impact();
SELECT * FROM ara_collisions() LIMIT 5;
SELECT * FROM ara_null_hashes();
SELECT * FROM ara_explain('r400');
SELECT count(*), max(memory_mb) FROM ara_growth('def-2', md5('Job 2'), since => '2025-11-10', until => '2025-11-12');
SELECT definition_id, distinct_commands, runs, runs_gaining_history FROM ara_fingerprint_preview(definitions => ARRAY['def-3']);
SELECT * FROM ara_status();
SELECT * FROM ara_index_sql('task');
SELECT * FROM ara_metrics(recent => '1000 days');
SELECT * FROM ara_compare('2025-11-20', 'task', '10 days', '10 days');
SELECT * FROM ara_simulate('2025-11-15', '2025-12-01');
SELECT * FROM ara_waste('2025-11-15', '2025-12-01', top => 5);
SELECT policy, count(*), count(memory), sum(memory) FROM ara_simulate_runs('2025-11-28', '2025-12-01') GROUP BY 1 ORDER BY 1;
SELECT * FROM ara_resources('def-2', md5('Job 2'), '2025-11-20', policy => 'censored');
SELECT * FROM ara_tune('2025-11-15', '2025-12-01');
SELECT * FROM ara_tune_frontier('2025-11-15', '2025-12-01');
SQL
)
primary -At -F '|' -c "$read_only_queries" >"$standby_dir/primary.out" 2>&1 || { cat "$standby_dir/primary.out"; fail "queries on the primary"; }
standby -At -F '|' -c "$read_only_queries" >"$standby_dir/standby.out" 2>&1 || { cat "$standby_dir/standby.out"; fail "queries on the standby"; }
diff -u "$standby_dir/primary.out" "$standby_dir/standby.out" || fail "the standby answers differently (diff above)"
echo "ok: $(wc -l <"$standby_dir/standby.out") result lines identical on the primary and the standby"
grep -q '^7168|' "$standby_dir/standby.out" || fail "ara_resources_for_run on the standby: want 4096 x 1.75 = 7168"
grep -Eq '^[0-9]+\|[0-9]+\|[0-9]+\|[0-9]+\|[0-9]+\|[ft]\|[ft]\|censored\|[1-9][0-9]*\|' "$standby_dir/standby.out" \
  || fail "no censored lookup with measured needs on the standby"
grep -Eq '^[0-9]+\|[0-9]+\|[0-9]+\|[0-9]+\|[0-9]+\|[ft]\|[ft]\|right_size\|[1-9][0-9]*\|' "$standby_dir/standby.out" \
  || fail "no right-sized lookup with peaks on the standby"
grep -q "policy right_size (set for definition def-3)" "$standby_dir/standby.out" || fail "ara_explain on the standby does not name the policy"

# In parallel too: the aggregate's partial states travel between workers on the standby.
plan=$(standby -At -c "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
                       SET max_parallel_workers_per_gather = 2;
                       EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT ara_estimate(memory) FROM task")
echo "$plan" | grep -q "Partial Aggregate" || fail "no parallel plan on the standby: $plan"
echo "$plan" | grep -Eq "Workers Launched: [1-9]" || fail "no worker launched on the standby: $plan"
[ "$(standby -At -c "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
                     SELECT ara_estimate(memory) FROM task")" = "$(primary -At -c "SELECT ara_estimate(memory) FROM task")" ] \
  || fail "the parallel estimate on the standby differs"
echo "ok: ara_estimate runs in parallel on the standby"

# Writes are the primary's: on the standby they fail cleanly (read-only transaction), not oddly.
out=$(standby -c "SELECT ara_enable('task', description_column => NULL)" 2>&1) && fail "ara_enable succeeded on a standby"
echo "$out" | grep -q "read-only transaction" || fail "ara_enable on the standby: $out"
out=$(standby -c "CALL ara_backfill('task')" 2>&1) && fail "ara_backfill succeeded on a standby"
echo "$out" | grep -q "read-only transaction" || fail "ara_backfill on the standby: $out"
echo "ok: ara_enable and ara_backfill refuse on the standby (read-only transaction)"

cleanup
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
echo "ok"
