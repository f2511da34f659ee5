#!/usr/bin/env bash
# ara_backfill beside concurrent writers, killed mid-way and resumed: three real connections.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ara_concurrent
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"

psql_db <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, status varchar, queued_at timestamptz DEFAULT now());
INSERT INTO task (run_id, definition_id, command, description, command_hash, status)
SELECT 'eks-' || lpad(i::text, 7, '0'), 'def-' || (i % 20), 'python3 job.py --as_of ' || (20251100 + i % 30),
       'Calibrate ' || (i % 11), md5('Calibrate ' || (i % 11)), 'STOPPED'
FROM generate_series(1, 200000) i;
SELECT ara_enable('task');
-- A writer like the job service: single-row transactions of inserts (with a client-sent
-- description hash), status updates that rewrite the unchanged command, and command changes.
CREATE PROCEDURE writer(n int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        INSERT INTO task (run_id, definition_id, command, description, command_hash, status)
        VALUES ('new-' || i, 'def-' || (i % 20), 'new command ' || i, 'Calibrate 1', md5('Calibrate 1'), 'QUEUED');
        UPDATE task SET status = 'RUNNING', command = command WHERE run_id = 'eks-' || lpad((i * 61 % 200000 + 1)::text, 7, '0');
        UPDATE task SET command = command || ' --retry ' || i WHERE run_id = 'eks-' || lpad((i * 97 % 200000 + 1)::text, 7, '0');
        COMMIT;
        PERFORM pg_sleep(0.002);
    END LOOP;
END $$;
SQL
echo "before: $(psql_db -At -c "SELECT rows_out_of_line FROM ara_hash_mismatches('task')") rows out of line"

psql_db -c "CALL writer(1500)" &
writer=$!

# Backfill #1, killed mid-way: another transaction holds row eks-0030000 (which the writer never
# touches), so the backfill commits its batches up to 28000 rows and then waits for that row's lock
# (lock_timeout raised for this call). It is terminated once it is seen blocked by that transaction
# (not by one of the writer's, which it may meet for a moment on any row): it is provably still
# running, and past its first 28000 rows, however fast or loaded the machine.
psql_db -c "SET application_name = 'ara_row_holder'" -c "BEGIN" \
  -c "SELECT 1 FROM task WHERE run_id = 'eks-0030000' FOR UPDATE" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
holder=$!
holder_pid=""
for _ in $(seq 1 3000); do   # the holder has its lock once it sleeps
  holder_pid=$(psql_db -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ara_row_holder' AND wait_event = 'PgSleep'")
  [ -n "$holder_pid" ] && break
  sleep 0.1
done
[ -n "$holder_pid" ] || { echo "the row holder never took its lock"; exit 1; }
psql_db -c "SET application_name = 'ara_backfill_1'" \
  -c "CALL ara_backfill('task', batch_size => 2000, lock_timeout => '1h')" >/tmp/ara_backfill1.$$ 2>&1 &
backfill=$!
waiting=""
for _ in $(seq 1 3000); do
  waiting=$(psql_db -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ara_backfill_1'
                             AND $holder_pid = ANY (pg_blocking_pids(pid))")
  [ -n "$waiting" ] && break
  sleep 0.1
done
[ -n "$waiting" ] || { echo "backfill #1 never reached the held row"; exit 1; }
psql_db -At -c "SELECT pg_terminate_backend($waiting)"
wait "$backfill" && { echo "backfill #1 was expected to be terminated"; exit 1; }
psql_db -At -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ara_row_holder'" >/dev/null
wait "$holder" || true
killed_at=$(psql_db -At -c "SELECT rows_scanned FROM ara_backfill_progress WHERE finished_at IS NULL")
echo "backfill #1 terminated after $killed_at rows"
[ "$killed_at" -eq 28000 ] || { echo "backfill #1 saved $killed_at rows of progress, not the 28000 before the held row"; exit 1; }

# Backfill #2 resumes where #1 stopped, still beside the writer.
psql_db -c "CALL ara_backfill('task', batch_size => 2000)" 2>&1 | tee /tmp/ara_backfill2.$$ | tail -3
grep -q "resuming after key" /tmp/ara_backfill2.$$ || { echo "backfill #2 did not resume"; exit 1; }
wait "$writer"

result=$(psql_db -At -F ' ' -c "SELECT (SELECT rows_out_of_line FROM ara_hash_mismatches('task')), count(*),
                                        count(*) FILTER (WHERE run_id LIKE 'new-%'),
                                        count(*) FILTER (WHERE command LIKE '% --retry %')
                                 FROM task")
echo "after: out_of_line rows_total new_rows retried_rows = $result"
read -r out_of_line total new_rows retried <<<"$result"
rm -f /tmp/ara_backfill1.$$ /tmp/ara_backfill2.$$
[ "$out_of_line" -eq 0 ] || { echo "rows left out of line"; exit 1; }
[ "$total" -eq 201500 ] || { echo "rows lost or duplicated"; exit 1; }
[ "$new_rows" -eq 1500 ] && [ "$retried" -ge 1400 ] || { echo "writer's rows missing"; exit 1; }
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
echo "ok"
