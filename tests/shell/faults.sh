#!/usr/bin/env bash
# Faults: the backend running ara_backfill killed with SIGKILL (the postmaster restarts every
# backend), cancelled, and stopped by statement_timeout: each time a new call resumes after the last
# committed batch and finishes with nothing lost or half-written. Then memory: an ara_estimate over
# many distinct values cancelled 100 times in one connection, and erroring mid-aggregate 100
# times, leaves the backend's memory where it was.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster.sh
DB=ara_faults
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT   # a failed step leaves no psql behind
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_db <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, status varchar);
INSERT INTO task (run_id, definition_id, command, description, command_hash, status)
SELECT 'eks-' || lpad(i::text, 7, '0'), 'def-' || (i % 20), 'python3 job.py --n ' || i, 'Job ' || (i % 9),
       md5('Job ' || (i % 9)), 'STOPPED'
FROM generate_series(1, 120000) i;
SELECT ara_enable('task');
SQL
rows_before=$(psql_db -At -c "SELECT count(*) FROM task")
progress() { psql_db -At -c "SELECT coalesce(max(rows_scanned), 0) FROM ara_backfill_progress WHERE finished_at IS NULL"; }
backfill_pid() { psql_db -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'CALL ara_backfill%' AND pid <> pg_backend_pid()"; }
wait_progress() {   # wait_progress N: until the running backfill has committed at least N rows
  for _ in $(seq 1 600); do
    [ "$(progress)" -ge "$1" ] && return 0
    sleep 0.1
  done
  fail "the backfill never reached $1 rows"
}
# check_consistent LABEL: every committed batch is whole: the rows up to the saved key are all
# right, and no row is lost.
check_consistent() {
  local out
  out=$(psql_db -At -F ' ' -c "SELECT count(*),
           count(*) FILTER (WHERE run_id <= (SELECT last_key[1] FROM ara_backfill_progress WHERE finished_at IS NULL)
                              AND command_hash IS DISTINCT FROM command_hash(command, description))
         FROM task")
  read -r total wrong_before_key <<<"$out"
  [ "$total" = "$rows_before" ] || fail "$1: $total rows, not $rows_before"
  [ "$wrong_before_key" = 0 ] || fail "$1: $wrong_before_key rows before the saved key are not repaired (half-written batch)"
  echo "ok: $1: $(progress) rows committed, all of them right, no row lost"
}

# A row trigger sleeps 50 ms on one row in 1000 (0.1 s a batch of 2000), so that each backfill
# below is still running when it is killed, cancelled or timed out, however fast the machine, while
# its first batches commit within moments.
psql_db <<'SQL'
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$;
CREATE TRIGGER slow_row BEFORE UPDATE ON task FOR EACH ROW WHEN (NEW.run_id LIKE '%000') EXECUTE FUNCTION slow_row();
SQL

# 1. SIGKILL of the backend: the postmaster restarts every backend and recovers.
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/kill.log" 2>&1 &
call=$!
wait_progress 10000
pid=$(backfill_pid)
[ -n "$pid" ] || fail "no backfill backend"
kill -9 "$pid"
wait "$call" && fail "the killed backfill reported success"
for _ in $(seq 1 100); do "$PG_BIN/pg_isready" -q -d "$DB" && break; sleep 0.2; done
for _ in $(seq 1 100); do psql_db -At -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
check_consistent "after SIGKILL and crash recovery"

# 2. pg_cancel_backend.
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/cancel.log" 2>&1 &
call=$!
wait_progress $(( $(progress) + 10000 ))
psql_db -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CALL ara_backfill%' AND pid <> pg_backend_pid()" >/dev/null
wait "$call" && fail "the cancelled backfill reported success"
grep -q "canceling statement due to user request" "$tmp/cancel.log" || fail "not cancelled: $(cat "$tmp/cancel.log")"
grep -q "resuming after key" "$tmp/cancel.log" || fail "the second call did not resume after the SIGKILL"
check_consistent "after a cancel"

# 3. statement_timeout.
before=$(progress)
if psql_db -c "SET statement_timeout = '1500ms'" -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/timeout.log" 2>&1; then
  fail "the backfill finished within statement_timeout"
fi
grep -q "canceling statement due to statement timeout" "$tmp/timeout.log" || fail "no timeout: $(cat "$tmp/timeout.log")"
[ "$(progress)" -gt "$before" ] || fail "no batch was committed before the timeout"
check_consistent "after statement_timeout"

# The next call finishes the job.
psql_db -c "DROP TRIGGER slow_row ON task" -c "DROP FUNCTION slow_row()"
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/final.log" 2>&1 || fail "final backfill: $(cat "$tmp/final.log")"
grep -q "resuming after key" "$tmp/final.log" || fail "the final call did not resume"
out=$(psql_db -At -F ' ' -c "SELECT (SELECT rows_out_of_line FROM ara_hash_mismatches('task')), count(*) FROM task")
[ "$out" = "0 $rows_before" ] || fail "after the final call: out of line and rows = $out"
echo "ok: resumed after SIGKILL, cancel and timeout, the backfill repaired all $rows_before rows"

# 4. Memory: cancelled and failing aggregates over 500,000 distinct values, 100 times each, in
#    one connection. The state lives in the aggregate's memory context and goes with it.
#    Each cancelled aggregate is fed all of m, then blocks in pg_sleep (the second branch of the
#    UNION ALL, read only once the first is exhausted): a second connection cancels it only once it
#    is seen sleeping there, so every cancel hits an aggregate with its whole state built, however
#    fast or slow the machine. 50 more are a hashed GROUP BY over 5,000 groups, whose transition
#    defers rows to a log (src/core/deferred.rs): cancelled with rows still in it.
psql_db <<'SQL'
CREATE TABLE m AS SELECT i::bigint AS v, i AS n FROM generate_series(1, 500000) i;
ANALYZE m;
SQL
blocked="SELECT ara_estimate(v) FROM (SELECT v FROM m UNION ALL SELECT NULL::bigint FROM pg_sleep(3600)) s;"
blocked_groups="SELECT max(e) FROM (SELECT g, ara_estimate(v) AS e FROM (SELECT v, n % 5000 AS g FROM m UNION ALL SELECT NULL::bigint, 0 FROM pg_sleep(3600)) s GROUP BY g) x;"
{
  echo "\\set ON_ERROR_STOP 0"
  echo "\\set VERBOSITY terse"
  echo "SET max_parallel_workers_per_gather = 0;"
  echo "SET application_name = 'ara_faults_memory';"
  # Warm up: caches, the library, a first state, and five cancelled ones.
  echo "SELECT ara_estimate(v) FROM m;"
  for _ in 1 2 3 4 5; do echo "$blocked"; done
  echo "SET enable_sort = off; SELECT max(e) FROM (SELECT n % 5000 AS g, ara_estimate(v) AS e FROM m GROUP BY 1) x; RESET enable_sort;"
  echo "SELECT 'mark1', sum(total_bytes) FROM pg_backend_memory_contexts;"
  echo "SELECT 'rss1', substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmRSS:\\s+(\\d+)');"
  for _ in $(seq 1 100); do echo "$blocked"; done
  echo "SET enable_sort = off;"
  for _ in $(seq 1 50); do echo "$blocked_groups"; done
  echo "RESET enable_sort;"
  # The multiplier changes half-way through the group: 22023 after a big state was built.
  for _ in $(seq 1 100); do echo "SELECT ara_estimate(v, 0.99, CASE WHEN n < 250000 THEN 1.75 ELSE 2 END) FROM m;"; done
  echo "SELECT 'mark2', sum(total_bytes) FROM pg_backend_memory_contexts;"
  echo "SELECT 'rss2', substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmRSS:\\s+(\\d+)');"
} >"$tmp/memory.sql"
psql_db -At -F ' ' -f "$tmp/memory.sql" >"$tmp/memory.log" 2>&1 &
memory_job=$!
# The canceller: 155 times, wait until the aggregate is asleep in pg_sleep (its state built), cancel it.
psql_db -At >"$tmp/canceller.log" 2>&1 <<'SQL' || fail "the canceller failed: $(cat "$tmp/canceller.log")"
DO $$
DECLARE
    cancelled int := 0;
    target int;
    started timestamptz;
    last_started timestamptz;
    deadline timestamptz := clock_timestamp() + interval '10 minutes';
BEGIN
    WHILE cancelled < 155 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid, query_start INTO target, started FROM pg_stat_activity
         WHERE application_name = 'ara_faults_memory' AND state = 'active'
           AND wait_event = 'PgSleep' AND query LIKE 'SELECT % UNION ALL SELECT NULL::bigint%FROM pg_sleep(3600)%';
        -- A query is cancelled once: the next one to block has another query_start.
        IF target IS NOT NULL AND started IS DISTINCT FROM last_started AND pg_cancel_backend(target) THEN
            cancelled := cancelled + 1;
            last_started := started;
        ELSE
            PERFORM pg_sleep(0.005);
        END IF;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'only % aggregates were seen blocked and cancelled', cancelled;
        END IF;
    END LOOP;
END $$;
SQL
wait "$memory_job" || true
cancels=$(grep -c "canceling statement due to user request" "$tmp/memory.log" || true)
errors=$(grep -c "the multiplier changed within one group" "$tmp/memory.log" || true)
[ "$cancels" -eq 155 ] || fail "$cancels of the 155 blocked aggregates were cancelled: $(tail -5 "$tmp/memory.log")"
[ "$errors" -eq 100 ] || fail "only $errors of the aggregates failed mid-group"
ctx1=$(awk '$1 == "mark1" {print $2}' "$tmp/memory.log")
ctx2=$(awk '$1 == "mark2" {print $2}' "$tmp/memory.log")
rss1=$(awk '$1 == "rss1" {print $2}' "$tmp/memory.log")
rss2=$(awk '$1 == "rss2" {print $2}' "$tmp/memory.log")
echo "memory contexts: $ctx1 -> $ctx2 bytes; VmRSS: $rss1 -> $rss2 kB ($cancels cancelled, $errors failed)"
[ -n "$ctx1" ] && [ -n "$ctx2" ] && [ -n "$rss1" ] && [ -n "$rss2" ] || fail "could not read the backend's memory"
# One state of 500,000 values is tens of MB: a leak per query would show as gigabytes.
[ $((ctx2 - ctx1)) -lt 1048576 ] || fail "memory contexts grew by $((ctx2 - ctx1)) bytes"
[ $((rss2 - rss1)) -lt 65536 ] || fail "the backend's RSS grew by $((rss2 - rss1)) kB"
echo "ok: 150 cancelled (50 of them GROUP BYs with deferred rows) and 100 failed aggregates left the backend's memory where it was"
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
echo "ok"
