#!/usr/bin/env bash
# The hot table is never stalled: ara_enable, ara_disable and ara_backfill behind a long transaction
# give up after lock_timeout with 55P03 and a hint (changing nothing), while a writer keeps writing;
# once the long transaction ends they succeed, and the backfill resumes where it stopped.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ara_lock_timeout
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

psql_db <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, status varchar, queued_at timestamptz DEFAULT now());
INSERT INTO task (run_id, definition_id, command, description, command_hash, status)
SELECT 'eks-' || lpad(i::text, 6, '0'), 'def', 'cmd ' || i, 'desc', md5('desc'), 'STOPPED'
FROM generate_series(1, 20000) i;
CREATE TABLE writer_log (n int, at timestamptz DEFAULT clock_timestamp());
-- The job service: one short transaction per new run.
-- It writes until the test says stop (a row in writer_stop), so that it is writing during every
-- wait below, however fast or slow the machine.
CREATE TABLE writer_stop (stop boolean);
CREATE PROCEDURE writer() LANGUAGE plpgsql AS $$
DECLARE i int := 0;
BEGIN
    WHILE NOT EXISTS (SELECT 1 FROM writer_stop) LOOP
        i := i + 1;
        INSERT INTO task (run_id, definition_id, command, description, status)
        VALUES ('new-' || i, 'def', 'new command ' || i, 'desc', 'QUEUED');
        INSERT INTO writer_log (n) VALUES (i);
        COMMIT;
        PERFORM pg_sleep(0.01);
    END LOOP;
END $$;
SQL

# expect_55P03 LABEL SQL: runs SQL, which must fail with SQLSTATE 55P03 and a hint.
expect_55P03() {
  local label=$1 sql=$2 out
  out=$("$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$DB" -c "\\set VERBOSITY verbose" -c "$sql" 2>&1) \
    && fail "$label: succeeded behind a long transaction"
  echo "$out" | grep -q "55P03" || fail "$label: not 55P03: $out"
  echo "$out" | grep -q "HINT:" || fail "$label: no hint: $out"
  echo "ok: $label -> $(echo "$out" | grep -m1 'ERROR:')"
}
writer_rows() { psql_db -At -c "SELECT count(*) FROM writer_log"; }
# start_blocker SQL: runs SQL (which takes a lock) and then sleeps in the same transaction, in the
# background; returns once the blocker is seen sleeping, i.e. holding its lock. stop_blocker ends it.
start_blocker() {
  psql_db -c "SET application_name = 'ara_blocker'" -c "BEGIN" -c "$1" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
  blocker=$!
  for _ in $(seq 1 3000); do
    [ -n "$(psql_db -At -c "SELECT 1 FROM pg_stat_activity WHERE application_name = 'ara_blocker' AND wait_event = 'PgSleep'")" ] && return 0
    sleep 0.1
  done
  fail "the blocker never started sleeping"
}
stop_blocker() {
  psql_db -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ara_blocker'" >/dev/null
  wait "$blocker" || true
}

# 1. ara_enable behind a transaction that wrote to the table and stays open (a long batch job).
psql_db -c "CALL writer()" &
writer=$!
start_blocker "UPDATE task SET status = 'RUNNING' WHERE run_id = 'eks-000001'"
before=$(writer_rows)
expect_55P03 "ara_enable behind a writing transaction" "SELECT ara_enable('task', lock_timeout => '1s')"
# The writer's inserts queued behind ara_enable's lock request for at most that second: it goes on.
for _ in $(seq 1 300); do after=$(writer_rows); [ "$after" -gt "$before" ] && break; sleep 0.1; done
[ "$after" -gt "$before" ] || fail "the writer made no progress after ara_enable gave up ($before -> $after)"
echo "ok: the writer kept writing ($before -> $after rows)"
[ "$(psql_db -At -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'task'::regclass")" = 0 ] \
  || fail "a failed ara_enable left triggers behind"
stop_blocker
psql_db -At -c "SELECT ara_enable('task', lock_timeout => '5s')" | grep -q "pg_ara enabled" || fail "ara_enable after the blocker ended"
echo "ok: ara_enable succeeds once the long transaction has ended"

# 2. ara_disable behind a long reader (AccessShareLock: DROP TRIGGER needs AccessExclusiveLock).
start_blocker "SELECT count(*) FROM task"
expect_55P03 "ara_disable behind a long reader" "SELECT ara_disable('task', lock_timeout => '500ms')"
[ "$(psql_db -At -c "SELECT count(*) FROM ara_status()")" = 1 ] || fail "a failed ara_disable changed something"
# Re-enabling with other columns drops and re-creates the triggers: also bounded.
expect_55P03 "ara_enable (other columns) behind a long reader" \
  "SELECT ara_enable('task', description_column => NULL, lock_timeout => '500ms')"
stop_blocker

# 3. ara_backfill behind a transaction holding some of its rows: it stops, its progress committed,
#    and the next call resumes after the last committed batch.
start_blocker "SELECT 1 FROM task WHERE run_id = 'eks-015000' FOR UPDATE"
expect_55P03 "ara_backfill behind a row lock" "CALL ara_backfill('task', batch_size => 2000, lock_timeout => '1s')"
done_rows=$(psql_db -At -c "SELECT rows_scanned FROM ara_backfill_progress WHERE finished_at IS NULL")
[ "$done_rows" -ge 12000 ] && [ "$done_rows" -lt 20000 ] || fail "the stopped backfill saved $done_rows rows of progress"
echo "ok: the stopped backfill kept $done_rows rows of committed progress"
stop_blocker
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" >"$tmp/resume.log" 2>&1 || fail "the resumed backfill: $(cat "$tmp/resume.log")"
grep -q "resuming after key" "$tmp/resume.log" || fail "the backfill did not resume: $(cat "$tmp/resume.log")"
psql_db -c "INSERT INTO writer_stop VALUES (true)"
wait "$writer"
result=$(psql_db -At -F ' ' -c "SELECT (SELECT rows_out_of_line FROM ara_hash_mismatches('task')), count(*),
                                        (SELECT count(*) FROM writer_log) FROM task")
read -r out_of_line total written <<<"$result"
echo "after: out_of_line=$out_of_line rows=$total writer_rows=$written"
# New runs written before ara_enable keep their NULL hash until a backfill: the second backfill
# repaired them too, so nothing is out of line; no row lost.
[ "$out_of_line" -eq 0 ] || fail "rows out of line"
[ "$written" -gt 0 ] && [ "$total" -eq $((20000 + written)) ] || fail "rows lost: $total rows, $written written"
# The caller's own lock_timeout is untouched by all of this.
[ "$(psql_db -At -c "SET lock_timeout = '7s'; SELECT ara_enable('task'); SHOW lock_timeout" | tail -1)" = 7s ] \
  || fail "ara_enable changed the session's lock_timeout"
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
echo "ok"
