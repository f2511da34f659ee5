# shellcheck shell=bash
# Sourced by tests/majors/pg_upgrade.sh and tests/edition/*.sh: the steps around tests/answers/history.sql
# and answers.sql that need more than one connection or check writes. Each takes the name of a function
# that runs psql against the database (e.g. db() { psql -X -q -h ... -d flotilla "$@"; }), and fails
# with a message (the caller's fail()).

# answers_interrupt_backfill DB: leaves the backfill interrupted half-way, as a cancelled or failed one
# does: a row held by another session (run-02500), which the backfill's lock_timeout gives up on after its
# earlier batches committed. Prints how many rows are still out of line (its failures go to stderr:
# it runs in a command substitution).
answers_interrupt_backfill() {
  local db=$1 holder out left
  "$db" -c "SET application_name = 'holder'" -c "BEGIN" \
    -c "SELECT 1 FROM task WHERE run_id = 'run-02500' FOR UPDATE" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
  holder=$!
  for _ in $(seq 1 600); do
    [ "$("$db" -At -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND wait_event = 'PgSleep'")" = 1 ] && break
    sleep 0.1
  done
  if out=$("$db" -c "CALL ara_backfill('task', batch_size => 500, lock_timeout => '200ms')" 2>&1); then
    fail "the backfill was not interrupted by the held row: $out" >&2
  fi
  grep -q "could not lock the rows of the next batch" <<<"$out" || fail "backfill: $out" >&2
  "$db" -At -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
  wait "$holder" 2>/dev/null || true
  left=$("$db" -At -c "SELECT rows_out_of_line FROM ara_hash_mismatches('task')")
  [ "$left" -gt 0 ] || fail "nothing left for the backfill to do" >&2
  echo "$left"
}

# answers_writers_and_resume DB LABEL: writers after the fact: the trigger keys every row (INSERT,
# COPY, a client's wrong hash, a definition keyed by fingerprint), then the interrupted backfill resumes
# after the last key it committed and leaves no row out of line.
answers_writers_and_resume() {
  local db=$1 label=$2 out
  out=$("$db" -At <<'SQL'
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, exit_code, queued_at)
VALUES ('after-1', 'def-a', 'python3 after.py --as_of 20251130', 'Nightly job 0', 'wrong-hash-from-client', 8192, 137, now());
\copy task (run_id, definition_id, command, description, command_hash, memory, exit_code, queued_at) FROM stdin
after-2	def-fp	python3 after.py --as_of 20251201	Nightly job 1	md5-of-the-description	9000	137	2026-01-01 00:00:00+00
after-3	def-b	python3 copied.py	\N	\N	1000	0	2026-01-01 00:00:00+00
\.
SELECT run_id, command_hash = ara_key(definition_id, command, description, 'task') FROM task WHERE run_id LIKE 'after-%' ORDER BY 1;
SELECT command_hash = md5('python3 after.py --as_of 20251130') FROM task WHERE run_id = 'after-1';
SELECT command_hash = md5(command_fingerprint('python3 after.py --as_of 20251201')) FROM task WHERE run_id = 'after-2';
SQL
)
  [ "$out" = $'after-1|t\nafter-2|t\nafter-3|t\nt\nt' ] || fail "$label: the trigger: $out"
  out=$("$db" -c "CALL ara_backfill('task', batch_size => 500)" 2>&1)
  grep -q "resuming after key {run-02" <<<"$out" || fail "$label: the backfill did not resume: $out"
  [ "$("$db" -At -c "SELECT rows_out_of_line FROM ara_hash_mismatches('task')")" = 0 ] \
    || fail "$label: rows out of line after the resumed backfill"
}
