#!/usr/bin/env bash
# Concurrency: 8 pgbench connections play the job service (Flotilla's INSERT of a new run, its
# UpdateRun of ~40 columns with the unchanged command, and the odd real command change) while
# (1) CALL ara_backfill runs, then (2) ara_disable / ara_enable are called again and again.
# Afterwards: no failed transaction, no deadlock, exact row counts, and no row whose key
# disagrees with its command except rows last written while pg_ara was disabled.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ara_concurrency
TX=${PG_ARA_CONCURRENCY_TX:-1000}   # transactions per client (a fixed count: exact row counts)
# pgbench is throttled to RATE transactions a second in all: each phase's writers run for at least
# 8 * TX / RATE seconds (10 s) however fast the machine, so the backfill and the disable/enable
# cycles below provably run beside them.
RATE=${PG_ARA_CONCURRENCY_RATE:-800}
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"

psql_db -c "CREATE EXTENSION pg_ara" -f scripts/flotilla_task.sql >/dev/null
psql_db <<'SQL'
-- When the row was last written (for the check, not Flotilla's).
ALTER TABLE task ADD COLUMN written_at timestamptz;
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, status, queued_at, written_at)
SELECT 'eks-' || lpad(i::text, 7, '0'), 'def-' || (i % 50), 'python3 job.py --as_of ' || (20251100 + i % 30),
       'Job ' || (i % 7), md5('Job ' || (i % 7)), 1024, 256, 'STOPPED', now(), now()
FROM generate_series(1, 100000) i;
SELECT ara_enable('task');
-- One row per insert transaction, written in the same transaction: the count of new runs must match.
CREATE TABLE insert_log (id bigserial);
SQL

cat >"$tmp/insert.sql" <<'SQL'
\set d random(1, 50)
BEGIN;
INSERT INTO insert_log DEFAULT VALUES;
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, status, queued_at, engine, written_at)
VALUES (gen_random_uuid()::text, 'def-' || :d, 'python3 job.py --as_of ' || (20251100 + :d) || ' --client ' || :client_id,
        'Job ' || (:d % 7), md5('Job ' || (:d % 7)), 1024, 256, 'QUEUED', now(), 'eks', clock_timestamp());
COMMIT;
SQL
cat >"$tmp/update_run.sql" <<'SQL'
\set id random(1, 100000)
UPDATE task SET definition_id = definition_id, alias = 'a', image = 'img', cluster_name = 'c', exit_code = NULL,
       exit_reason = NULL, status = 'RUNNING', queued_at = queued_at, started_at = now(), finished_at = NULL,
       instance_id = 'i', instance_dns_name = 'dns', group_name = 'g', task_type = 'task', env = '[]', command = command,
       memory = memory, cpu = cpu, gpu = 0, engine = engine, ephemeral_storage = NULL, node_lifecycle = 'spot',
       pod_name = 'pod', namespace = 'ns', max_cpu_used = 10, max_memory_used = 900, pod_events = NULL,
       cloudtrail_notifications = NULL, executable_id = 'e', executable_type = 'task_definition',
       execution_request_custom = NULL, cpu_limit = 256, memory_limit = 1024, attempt_count = 1, spawned_runs = NULL,
       run_exceptions = NULL, active_deadline_seconds = NULL, spark_extension = NULL, metrics_uri = NULL,
       description = description, idempotence_key = NULL, "user" = 'u', arch = 'amd64', labels = NULL,
       requires_docker = false, service_account = NULL, tier = '4'
 WHERE run_id = 'eks-' || lpad(:id::text, 7, '0');
SQL
cat >"$tmp/change_command.sql" <<'SQL'
\set id random(1, 100000)
-- Always a new command (a rewrite of the same command does not call the trigger: the update
-- trigger's WHEN condition; the row keeps its key and its written_at must not move either).
UPDATE task SET command = 'python3 job.py --retry ' || :client_id || ' --at ' || clock_timestamp(),
       written_at = clock_timestamp()
 WHERE run_id = 'eks-' || lpad(:id::text, 7, '0');
SQL

deadlocks() { psql_db -At -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"; }
# run_pgbench LOG: 8 clients, TX transactions each, in the background; sets $bench.
run_pgbench() {
  "$PG_BIN/pgbench" -n -c 8 -j 2 -t "$TX" -R "$RATE" -f "$tmp/insert.sql@5" -f "$tmp/update_run.sql@5" \
    -f "$tmp/change_command.sql@1" "$DB" >"$1" 2>&1 &
  bench=$!
}
# check_pgbench LOG: every transaction of every client ran and succeeded; prints the number of
# inserts (from insert_log, written in the same transactions).
check_pgbench() {
  grep -q "aborted" "$1" && fail "a pgbench client aborted: $(grep -m3 -i 'error\|aborted' "$1")"
  grep -q "number of failed transactions: 0 " "$1" || fail "failed transactions: $(grep 'failed' "$1")"
  grep -q "actually processed: $((8 * TX))/$((8 * TX))" "$1" || fail "not every transaction ran: $(grep processed "$1")"
  psql_db -At -c "SELECT count(*) FROM insert_log"
}
deadlocks_before=$(deadlocks)
rows0=$(psql_db -At -c "SELECT count(*) FROM task")

# wait_writing: until the writers have committed their first runs.
wait_writing() {
  for _ in $(seq 1 600); do
    [ "$(psql_db -At -c "SELECT count(*) > $1 FROM insert_log")" = t ] && return 0
    sleep 0.1
  done
  fail "the writers never started"
}

# 1. The backfill beside the writers, from their start to its end.
run_pgbench "$tmp/bench1.log"
wait_writing 0
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/backfill.log" 2>&1 || fail "backfill: $(tail -3 "$tmp/backfill.log")"
kill -0 "$bench" 2>/dev/null || fail "the writers had finished before the backfill did (a very slow machine: raise PG_ARA_CONCURRENCY_TX)"
wait "$bench"
inserts1=$(check_pgbench "$tmp/bench1.log")
out=$(psql_db -At -F ' ' -c "SELECT (SELECT rows_out_of_line FROM ara_hash_mismatches('task')), count(*) FROM task")
read -r out_of_line rows1 <<<"$out"
echo "phase 1: $(grep -m1 '^number of transactions actually processed' "$tmp/bench1.log"); $inserts1 inserts; rows $rows0 -> $rows1; out of line: $out_of_line"
[ "$rows1" -eq $((rows0 + inserts1)) ] || fail "rows: $rows1, want $rows0 + $inserts1 inserted"
[ "$out_of_line" -eq 0 ] || fail "$out_of_line rows out of line after the backfill beside the writers"

# 2. ara_disable / ara_enable again and again beside the writers. Each call either succeeds or
#    gives up after its lock_timeout with 55P03; the windows in which pg_ara may have been off are
#    [just before ara_disable, just after the next ara_enable returned].
psql_db -c "CREATE TABLE off_window (from_ts timestamptz, to_ts timestamptz)"
run_pgbench "$tmp/bench2.log"
wait_writing "$inserts1"
toggles=0 timeouts=0
while kill -0 "$bench" 2>/dev/null; do
  t0=$(psql_db -At -c "SELECT clock_timestamp()")
  if ! out=$(psql_db -At -c "SELECT ara_disable('task', lock_timeout => '1s')" 2>&1); then
    echo "$out" | grep -q "55P03\|could not lock" || fail "ara_disable: $out"
    timeouts=$((timeouts + 1)); continue
  fi
  sleep 0.3
  until out=$(psql_db -At -c "SELECT ara_enable('task', lock_timeout => '1s')" 2>&1); do
    echo "$out" | grep -q "could not lock" || fail "ara_enable: $out"
    timeouts=$((timeouts + 1))
  done
  psql_db -c "INSERT INTO off_window VALUES ('$t0', clock_timestamp())"
  toggles=$((toggles + 1))
  sleep 0.3
done
wait "$bench"
inserts2=$(( $(check_pgbench "$tmp/bench2.log") - inserts1 ))
out=$(psql_db -At -F ' ' <<'SQL'
SELECT count(*),
       count(*) FILTER (WHERE command_hash IS DISTINCT FROM command_hash(command, description)),
       count(*) FILTER (WHERE command_hash IS DISTINCT FROM command_hash(command, description)
                          AND NOT EXISTS (SELECT 1 FROM off_window o WHERE t.written_at BETWEEN o.from_ts AND o.to_ts))
FROM task t;
SQL
)
read -r rows2 wrong wrong_while_on <<<"$out"
echo "phase 2: $toggles disable/enable cycles, $timeouts lock timeouts; $inserts2 inserts; rows $rows1 -> $rows2; out of line: $wrong, of them written while enabled: $wrong_while_on"
[ "$toggles" -ge 2 ] || fail "only $toggles disable/enable cycles"
[ "$rows2" -eq $((rows1 + inserts2)) ] || fail "rows: $rows2, want $rows1 + $inserts2"
[ "$wrong_while_on" -eq 0 ] || fail "$wrong_while_on rows written while pg_ara was enabled are out of line"
[ "$(deadlocks)" -eq "$deadlocks_before" ] || fail "deadlocks: $deadlocks_before -> $(deadlocks)"
[ "$(psql_db -At -c "SELECT count(*) FROM ara_status()")" = 1 ] || fail "pg_ara is not enabled at the end"
# The rows written while it was off: the backfill repairs them.
psql_db -c "CALL ara_backfill('task', batch_size => 5000)" >/dev/null 2>&1 || fail "final backfill"
[ "$(psql_db -At -c "SELECT rows_out_of_line FROM ara_hash_mismatches('task')")" = 0 ] || fail "rows out of line at the end"
echo "ok: no failed transaction, no deadlock, no row lost; every row written while enabled is right"
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
echo "ok"
