#!/usr/bin/env bash
# pg_dump / pg_restore of a database with pg_ara, an enabled table (one definition keyed by
# fingerprint), data, and an interrupted backfill. After the restore: the extension's objects are
# there once (the same catalog as a fresh install), the triggers are there with their
# configuration and work, and a backfill behaves.
# Decision: ara_backfill_progress is not dumped. Its rows name tables by oid, which a restore
# changes: a restored row could point at another table, or resume past rows never repaired. A
# backfill after a restore starts from the beginning; it is idempotent, so it only re-checks rows.
# ara_tables (the registrations ara_metrics watches) is dumped, except rows of tables dropped since.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
SRC=ara_dump_src DST=ara_dump_dst FRESH=ara_dump_fresh
psql_db() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
for db in $SRC $DST $FRESH; do
  psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
psql_db $FRESH -c "CREATE EXTENSION pg_ara"

psql_db $SRC <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', queued_at timestamptz, max_memory_used integer,
                   max_cpu_used integer);
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'eks-' || lpad(i::text, 6, '0'), 'def-' || (i % 4), 'python3 job.py --as_of ' || (20251101 + i % 20),
       'Job', md5('Job'), 1000 + i % 500, 250, CASE WHEN i % 5 = 0 THEN 137 ELSE 0 END,
       timestamptz '2025-11-01' + i * interval '1 minute'
FROM generate_series(1, 20000) i;
SELECT ara_enable('task', fingerprint_definitions => ARRAY['def-1']);
-- A sizing choice (ara_sizing, by table oid like ara_tables): one definition right-sized.
SELECT ara_set_policy('task', 'right_size', ARRAY['def-2'], headroom => 1.3);
-- An interrupted backfill: the first 5000 rows repaired and committed, its progress row left.
UPDATE task SET command_hash = NULL WHERE run_id <= 'eks-005000';   -- the trigger sets the right key
INSERT INTO ara_backfill_progress (relid, last_key, rows_scanned, rows_changed)
VALUES ('task'::regclass, ARRAY['eks-005000'], 5000, 5000);
SQL

"$PG_BIN/pg_dump" -Fc -f "$tmp/src.dump" $SRC || fail "pg_dump"
"$PG_BIN/pg_restore" --exit-on-error -d $DST "$tmp/src.dump" 2>"$tmp/restore.log" \
  || fail "pg_restore: $(cat "$tmp/restore.log")"
[ ! -s "$tmp/restore.log" ] || fail "pg_restore said: $(cat "$tmp/restore.log")"
echo "ok: pg_restore ran without an error or warning"

# No pg_ara object duplicated or missing: the same catalog as a fresh install.
psql_db $FRESH -f tests/shell/catalog.sql >"$tmp/fresh.cat"
psql_db $DST -f tests/shell/catalog.sql >"$tmp/restored.cat"
diff -u "$tmp/fresh.cat" "$tmp/restored.cat" || fail "the restored extension differs from a fresh install"
echo "ok: the restored extension has exactly a fresh install's $(wc -l <"$tmp/fresh.cat") objects"

out=$(psql_db $DST -At -F ' ' <<'SQL'
SELECT 'status', table_name, key, fingerprint_definitions FROM ara_status();
SELECT 'progress', count(*) FROM ara_backfill_progress;
SELECT 'registered', string_agg(table_name::text, ','), bool_and(enabled_at IS NOT NULL) FROM ara_tables;
SELECT 'sizing', table_name, definition_id, policy, headroom FROM ara_sizing;
SELECT 'sized_by', (SELECT sized_by FROM ara_resources('def-2', 'h')), (SELECT sized_by FROM ara_resources('def-3', 'h'));
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
VALUES ('new-1', 'def-1', 'python3 job.py --as_of 20251130', 'Job', md5('Job'), 1, 1, 0, now()),
       ('new-2', 'def-2', 'python3 job.py --as_of 20251130', 'Job', md5('Job'), 1, 1, 0, now());
SELECT 'trigger', bool_and(command_hash = ara_key(definition_id, command, description)) FROM task WHERE run_id LIKE 'new-%';
SELECT 'rows', count(*) FROM task;
SQL
)
echo "$out"
grep -qx "status task command {def-1}" <<<"$out" || fail "the restored triggers lost their configuration"
grep -qx "progress 0" <<<"$out" || fail "backfill progress was restored"
grep -qx "registered task t" <<<"$out" || fail "the registration in ara_tables (what ara_metrics watches) was not restored"
grep -qx "sizing task def-2 right_size 1.3" <<<"$out" || fail "the sizing choice in ara_sizing was not restored"
grep -qx "sized_by right_size oom" <<<"$out" || fail "the restored sizing choice is not applied"
grep -qx "trigger t" <<<"$out" || fail "the restored triggers do not set the keys"
grep -qx "rows 20002" <<<"$out" || fail "rows lost in the restore"
psql_db $DST -c "CALL ara_backfill('task', batch_size => 5000)" >"$tmp/backfill.log" 2>&1 || fail "backfill: $(cat "$tmp/backfill.log")"
grep -q "starting" "$tmp/backfill.log" || fail "the backfill after a restore should start from the beginning"
[ "$(psql_db $DST -At -c "SELECT rows_out_of_line FROM ara_hash_mismatches('task')")" = 0 ] || fail "rows out of line after the backfill"
echo "ok: after the restore the triggers work and a backfill starts over and finishes"
for db in $SRC $DST $FRESH; do psql_db postgres -c "DROP DATABASE $db"; done
echo "ok"
