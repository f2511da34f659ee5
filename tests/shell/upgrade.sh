#!/usr/bin/env bash
# The upgrade path: a database that installed the released 0.1.0 (sql/pg_ara--0.1.0.sql, frozen),
# enabled a table and wrote rows, then ALTER EXTENSION pg_ara UPDATE. Afterwards its catalog must
# be the same as a fresh install's (every function, its body, flags and comment; the aggregates;
# the table and its policy), the 0.1.0 triggers must keep working, and the new functions must work.
# scripts/test.sh then runs the whole pg_regress suite once more on an upgraded database.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
# runs on: every major
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
psql_db() { local db=$1; shift; "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
fail() { echo "FAILED: $*"; exit 1; }
current=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# Every C symbol an older install script names must still be exported by the library.
lib="$("$PG_CONFIG" --pkglibdir)/pg_ara.so"
for script in sql/pg_ara--*.sql; do
  case "$script" in *--*--*) continue ;; esac
  for sym in $(grep -o "'MODULE_PATHNAME', *'[A-Za-z0-9_]*'" "$script" | sed "s/.*, *'\([A-Za-z0-9_]*\)'/\1/" | sort -u); do
    nm -D --defined-only "$lib" | grep -qw "$sym" || fail "$script needs symbol $sym, which $lib no longer exports"
  done
  echo "ok: every symbol of $script is exported"
done

for db in ara_upgrade_fresh ara_upgrade_old; do
  psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done
psql_db ara_upgrade_fresh -c "CREATE EXTENSION pg_ara"

# 0.1.0 as users have it: a table enabled, rows written, a backfill interrupted half-way.
psql_db ara_upgrade_old <<'SQL'
CREATE EXTENSION pg_ara VERSION '0.1.0';
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', status varchar, queued_at timestamptz);
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
SELECT 'old-' || lpad(i::text, 5, '0'), 'def-' || (i % 3), 'python3 job.py --as_of ' || (20251100 + i % 7),
       'Calibrate', md5('Calibrate'), 1000 + i, 500, CASE WHEN i % 4 = 0 THEN 137 ELSE 0 END,
       now() - interval '1 day' + i * interval '1 second'
FROM generate_series(1, 3000) i;
SELECT ara_enable('task');
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
VALUES ('under-010', 'def-1', 'python3 new.py', 'Calibrate', 2048, 500, 137, now() - interval '1 hour');
-- A backfill that committed its first 1000 rows and was cancelled: those rows are repaired, its
-- progress row stays for the next call to resume from.
UPDATE task SET command_hash = command_hash(command, description) WHERE run_id <= 'old-01000';
INSERT INTO ara_backfill_progress (relid, last_key, rows_scanned, rows_changed)
VALUES ('task'::regclass, ARRAY['old-01000'], 1000, 1000);
SQL
psql_db ara_upgrade_old -c "ALTER EXTENSION pg_ara UPDATE"
v=$(psql_db ara_upgrade_old -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ara'")
[ "$v" = "$current" ] || fail "ALTER EXTENSION pg_ara UPDATE reached $v, not $current"
echo "ok: 0.1.0 updated to $v"

# The same catalog as a fresh install.
psql_db ara_upgrade_fresh -f tests/shell/catalog.sql >/tmp/ara_catalog_fresh.$$
psql_db ara_upgrade_old -f tests/shell/catalog.sql >/tmp/ara_catalog_upgraded.$$
if ! diff -u /tmp/ara_catalog_fresh.$$ /tmp/ara_catalog_upgraded.$$; then
  fail "an upgraded database differs from a fresh install (diff above: - fresh, + upgraded)"
fi
echo "ok: upgraded catalog = fresh catalog ($(wc -l </tmp/ara_catalog_fresh.$$) objects)"
rm -f /tmp/ara_catalog_fresh.$$ /tmp/ara_catalog_upgraded.$$

# The triggers made by 0.1.0 still fire (their function moved to ara_internal, same oid) and are
# recognised; the backfill resumes the 0.1.0 progress; the new functions work on the old table.
out=$(psql_db ara_upgrade_old -At -F ' ' <<'SQL'
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, queued_at)
VALUES ('after-1', 'def-1', 'python3 after.py', 'Calibrate', md5('Calibrate'), 4096, 500, 137, now() - interval '30 minutes');
SELECT 'trigger', command_hash = md5('python3 after.py') FROM task WHERE run_id = 'after-1';
SELECT 'status', count(*) FROM ara_status();
SELECT 'registered', string_agg(table_name || ' ' || coalesce(enabled_at::text, 'unknown'), ',') FROM ara_tables;
SELECT 'metrics', table_name, registered, triggers_present, triggers_enabled, runs FROM ara_metrics(recent => '2 days');
SELECT 'triggers', string_agg(tgfoid::regprocedure::text, ',' ORDER BY tgname) FROM pg_trigger WHERE tgrelid = 'task'::regclass;
SQL
)
echo "$out"
grep -qx "trigger t" <<<"$out" || fail "the 0.1.0 insert trigger no longer sets the hash"
grep -qx "status 1" <<<"$out" || fail "ara_status does not see the table enabled under 0.1.0"
grep -qx "registered task unknown" <<<"$out" || fail "the upgrade did not register the table enabled under 0.1.0 (ara_tables)"
grep -qx "metrics public.task 1 1 1 3002" <<<"$out" || fail "ara_metrics on the upgraded table"
grep -qx "triggers ara_internal.ara_command_hash_trigger(),ara_internal.ara_command_hash_trigger()" <<<"$out" \
  || fail "the triggers do not call ara_internal.ara_command_hash_trigger()"
psql_db ara_upgrade_old -c "CALL ara_backfill('task', batch_size => 500)" 2>&1 | tee /tmp/ara_upgrade_backfill.$$ | tail -2
grep -q "resuming after key {old-01000}" /tmp/ara_upgrade_backfill.$$ || fail "the backfill did not resume the 0.1.0 progress"
rm -f /tmp/ara_upgrade_backfill.$$
out=$(psql_db ara_upgrade_old -At -F ' ' <<'SQL'
SELECT 'out_of_line', rows_out_of_line FROM ara_hash_mismatches('task');
SELECT 'for_run', memory, oom_runs FROM ara_resources_for_run('after-1');
SELECT 'impact', runs_without_hash, colliding_keys FROM ara_impact();
SELECT 'disable', ara_disable('task') LIKE 'pg_ara disabled%';
SQL
)
echo "$out"
grep -qx "out_of_line 0" <<<"$out" || fail "rows left out of line after the resumed backfill"
grep -qx "for_run 7168 1" <<<"$out" || fail "ara_resources_for_run on the upgraded table: want 4096 * 1.75 = 7168 from 1 OOM run"
grep -qx "impact 0 0" <<<"$out" || fail "ara_impact after the backfill should find no NULL hashes and no collisions"
grep -qx "disable t" <<<"$out" || fail "ara_disable on the upgraded table"
# Every later released version, updated in place, ends with the same catalog too (the chain of
# upgrade scripts from each release).
for old in $(ls sql/pg_ara--*.sql | sed -n 's/^sql\/pg_ara--\([^-]*\)\.sql$/\1/p' | grep -vx 0.1.0); do
  psql_db postgres -c "DROP DATABASE IF EXISTS ara_upgrade_from" -c "CREATE DATABASE ara_upgrade_from"
  psql_db ara_upgrade_from <<SQL
CREATE EXTENSION pg_ara VERSION '$old';
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', status varchar, queued_at timestamptz);
SELECT ara_enable('task');
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, queued_at)
VALUES ('r1', 'def-1', 'python3 a.py', 'Calibrate', 4096, 500, 137, now() - interval '1 hour');
SQL
  psql_db ara_upgrade_from -c "ALTER EXTENSION pg_ara UPDATE"
  psql_db ara_upgrade_fresh -f tests/shell/catalog.sql >/tmp/ara_catalog_fresh.$$
  psql_db ara_upgrade_from -f tests/shell/catalog.sql >/tmp/ara_catalog_upgraded.$$
  diff -u /tmp/ara_catalog_fresh.$$ /tmp/ara_catalog_upgraded.$$ || fail "$old updated to $current differs from a fresh install"
  rm -f /tmp/ara_catalog_fresh.$$ /tmp/ara_catalog_upgraded.$$
  out=$(psql_db ara_upgrade_from -At -c "SELECT memory FROM ara_resources('def-1', md5('python3 a.py'))" \
          -c "INSERT INTO task (run_id, command) VALUES ('r2', 'x') RETURNING command_hash = md5('x')")
  [ "$out" = $'7168\nt' ] || fail "after $old -> $current: lookup and trigger gave: $out"
  echo "ok: $old updated to $current: same catalog, lookup and trigger work"
done

psql_db postgres -c "DROP DATABASE ara_upgrade_fresh" -c "DROP DATABASE ara_upgrade_old" -c "DROP DATABASE IF EXISTS ara_upgrade_from"
echo "ok"
