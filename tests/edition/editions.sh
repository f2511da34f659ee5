#!/usr/bin/env bash
# The SQL edition (scripts/edition.sh) against the compiled extension, on one major, as the people it is
# for meet it: a PostgreSQL where no compiled pg_ara is installed (its files are moved aside for the test
# and put back at the end), with
#   - pg_tle, built from its vendored release source and preloaded; a role app that is no superuser but a
#     member of pgtle_admin (as an RDS master user with rds_superuser is) and owns the database: app runs
#     the installer (twice: the second changes nothing) and CREATE EXTENSION pg_ara;
#   - no pg_tle (another cluster): app, owning the database, runs the plain script (twice).
# In both, app writes the same Flotilla history as on a cluster with the compiled extension
# (tests/answers/history.sql, the same anchor time; the bug's hashes, a definition keyed by fingerprint,
# one right-sized, the lookup's indexes), enables pg_ara, leaves a backfill interrupted half-way; every
# answer (tests/answers/answers.sql: status, mismatches, lookups for every key under both policies,
# explain, metrics, compare, investigation, the view over ara_estimate, the replay) must equal the
# extension's, line for line; then writers (INSERT, COPY, a client's wrong hash) are keyed by the
# trigger and the backfill resumes to zero rows out of line.
# Moving between editions (docs/managed.md): on the pg_tle cluster, ara_state_export(), DROP EXTENSION,
# pg_tle's copy uninstalled, the compiled extension installed and created, ara_state_import(): the same
# answers, the triggers firing; and back to the edition the same way.
# Needs PG_MAJOR and PG_CONFIG (scripts/test.sh) and the compiled pg_ara installed in that PostgreSQL.
# runs on: every major
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pg_majors.sh
source scripts/pg_tle.sh
source tests/answers/lib.sh
fail() { echo "FAILED: $*"; exit 1; }
major=${PG_MAJOR:?}
bin=$("$PG_CONFIG" --bindir)
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Below the ephemeral port range (32768 and up).
base=${PG_ARA_EDITION_PORT:-26960}
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-edition.XXXXXX")
chmod 755 "$work"
install -d -m 700 -o "$PG_OS_USER" "$work/run"
mkdir "$work/compiled"
started=()
restore_compiled() {
  # Put the compiled extension's files back as they were (the test moved them aside).
  if [ -n "$(ls "$work/compiled")" ]; then
    cp -p "$work/compiled"/pg_ara.so "$libdir/" 2>/dev/null || true
    cp -p "$work/compiled"/pg_ara*.control "$work/compiled"/pg_ara--*.sql "$extdir/" 2>/dev/null || true
  fi
}
cleanup() {
  local d
  for d in "${started[@]}"; do as_pg "$bin/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true; done
  restore_compiled
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME PORT [settings]: a fresh cluster with a role app (no superuser) owning database flotilla.
start() {
  local d="$work/run/$1"
  as_pg "$bin/initdb" -D "$d" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$d.initdb.log" 2>&1 \
    || { cat "$d.initdb.log"; fail "initdb $1"; }
  as_pg "$bin/pg_ctl" -D "$d" -l "$d.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $2 -c unix_socket_directories='$work/run' ${3:-}" start >/dev/null \
    || { cat "$d.log"; fail "PostgreSQL $1 did not start"; }
  started+=("$d")
  "$bin/psql" -X -q -h 127.0.0.1 -p "$2" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE app LOGIN" -c "CREATE DATABASE flotilla OWNER app"
}
psql_as() { local user=$1 port=$2; shift 2; "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$user" -d flotilla -v ON_ERROR_STOP=1 "$@"; }
anchor=$(date -u +'%Y-%m-%d %H:%M:00+00')

# history DB [psql options]: the history as app and the interrupted backfill; prints the rows it left.
history() {
  local db=$1 left; shift
  "$db" -v counts=0 -v extension=0 -v anchor="$anchor" "$@" -f tests/answers/history.sql >/dev/null
  left=$(answers_interrupt_backfill "$db")
  "$db" -c "ANALYZE task" >/dev/null
  echo "$left"
}
# history_and_answers DB OUT [psql options]: the history, then the answers.
history_and_answers() {
  local db=$1 out=$2 left; shift 2
  left=$(history "$db" "$@")
  "$db" -v counts=0 -v extension=0 "$@" -f tests/answers/answers.sql >"$out" 2>&1 || { tail -5 "$out" >&2; fail "answers ($out)" >&2; }
  echo "$left"
}

# --- 1. The compiled extension: the reference answers ----------------------------------------------
[ -f "$libdir/pg_ara.so" ] && [ -f "$extdir/pg_ara.control" ] || fail "the compiled pg_ara is not installed in $libdir"
start ext $base
psql_as postgres $base -c "CREATE EXTENSION pg_ara"
ext_db() { psql_as app $base "$@"; }
left=$(history_and_answers ext_db "$work/ext.out")
echo "ok: compiled extension: history written by app, a backfill interrupted with $left rows left, $(wc -l <"$work/ext.out") lines of answers"
as_pg "$bin/pg_ctl" -D "$work/run/ext" -m fast -w stop >/dev/null

# --- 2. No compiled pg_ara on the server any more ---------------------------------------------------------
mv "$libdir/pg_ara.so" "$work/compiled/"
mv "$extdir"/pg_ara.control "$extdir"/pg_ara--*.sql "$work/compiled/"
PG_ARA_DIST="$work/dist" bash scripts/edition.sh >/dev/null
tle="$work/dist/pg_ara-$version-pg_tle.sql" plain="$work/dist/pg_ara-$version-plain.sql"
grep -q '\$_pgtle_\$' "$tle" || fail "the installer does not quote its body"

# --- 3. pg_tle: installed by a non-superuser member of pgtle_admin -----------------------------------------
pgtle_install "$PG_CONFIG" || fail "could not build pg_tle for PostgreSQL $major"
start tle $((base + 1)) "-c shared_preload_libraries=pg_tle"
psql_as postgres $((base + 1)) -c "CREATE EXTENSION pg_tle" -c "GRANT pgtle_admin TO app"
[ "$(psql_as app $((base + 1)) -At -c "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" = f ] || fail "app is a superuser"
psql_as app $((base + 1)) -f "$tle"
psql_as app $((base + 1)) -f "$tle"   # again: nothing changes
psql_as app $((base + 1)) -c "CREATE EXTENSION pg_ara"
[ "$(psql_as app $((base + 1)) -At -c "SELECT extversion || ' ' || extowner::regrole FROM pg_extension WHERE extname = 'pg_ara'")" = "$version app" ] \
  || fail "pg_ara $version was not created by app through pg_tle"
tle_db() { psql_as app $((base + 1)) "$@"; }
left=$(history_and_answers tle_db "$work/tle.out")
diff -u "$work/ext.out" "$work/tle.out" || fail "the pg_tle edition answers differently (- extension, + edition)"
echo "ok: pg_tle edition, installed and created by app (pgtle_admin, no superuser): the same $(wc -l <"$work/tle.out") lines of answers as the extension"
answers_writers_and_resume tle_db "pg_tle edition"
echo "ok: pg_tle edition: INSERT, COPY and a client's wrong hash keyed by the trigger; the backfill resumed to 0 rows out of line"
# refusals DB LABEL: what the edition leaves out is refused with 0A000 (feature_not_supported), never
# answered otherwise; ara_tune() recommends from what it has (right_size).
refusals() {
  local db=$1 label=$2 call
  for call in "PERFORM * FROM ara_simulate(policies => '[{\"name\": \"v\", \"feed\": \"vpa\"}]')" \
              "PERFORM * FROM ara_simulate(policies => '[{\"name\": \"c\", \"feed\": \"censored\"}]')" \
              "PERFORM * FROM ara_simulate(policies => '[{\"name\": \"d\", \"group\": \"definition\"}]')" \
              "PERFORM * FROM ara_resources('d', 'h', policy => 'censored')" \
              "PERFORM ara_set_policy('task', 'censored')" \
              "PERFORM ara_state_import('{\"tables\": [], \"sizing\": [{\"table\": \"task\", \"definition_id\": \"d\", \"policy\": \"censored\"}]}')"; do
    "$db" -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN $call; RAISE EXCEPTION 'accepted'; EXCEPTION WHEN feature_not_supported THEN NULL; END \$\$" >/dev/null \
      || fail "$label: not refused with 0A000: $call"
  done
  [ "$("$db" -At -c "SELECT count(*) > 0 AND bool_and(policy LIKE 'oom%' OR policy LIKE 'right_size%') FROM ara_tune(since => '-infinity', until => 'infinity')")" = t ] \
    || fail "$label: ara_tune() did not recommend from right_size: $("$db" -c "SELECT definition_id, policy FROM ara_tune(since => '-infinity', until => 'infinity')" 2>&1)"
}
refusals tle_db "pg_tle edition"
echo "ok: pg_tle edition: the peer and censored policies refused with 0A000; ara_tune() recommends right_size or Flotilla's"

# --- 4. The plain script: no pg_tle, the database owner runs it ---------------------------------------------
start plain $((base + 2))
psql_as app $((base + 2)) -f "$plain" >/dev/null
psql_as app $((base + 2)) -f "$plain" >/dev/null   # again: an update to the same version
[ "$(psql_as app $((base + 2)) -At -c "SELECT version FROM ara_internal.ara_edition")" = "$version" ] || fail "plain script: version"
plain_db() { PGOPTIONS="-c search_path=public,ara" psql_as app $((base + 2)) "$@"; }
left=$(history_and_answers plain_db "$work/plain.out")
diff -u "$work/ext.out" "$work/plain.out" || fail "the plain script answers differently (- extension, + plain)"
echo "ok: plain script, run by the database owner without pg_tle: the same $(wc -l <"$work/plain.out") lines of answers as the extension"
answers_writers_and_resume plain_db "plain script"
echo "ok: plain script: writers keyed by the trigger; the backfill resumed to 0 rows out of line"
refusals plain_db "plain script"
echo "ok: plain script: the peer and censored policies refused with 0A000"

# --- 5. Moving between editions, in place (docs/managed.md) ----------------------------------------------------
# Back to the state of the comparison: a fresh history, interrupted backfill, a right-sized definition.
move_db() { psql_as app $((base + 1)) "$@"; }
psql_as postgres $((base + 1)) -d postgres -c "DROP DATABASE flotilla" -c "CREATE DATABASE flotilla OWNER app"
psql_as postgres $((base + 1)) -c "CREATE EXTENSION pg_tle"
psql_as app $((base + 1)) -f "$tle" -c "CREATE EXTENSION pg_ara"
history_and_answers move_db "$work/move-before.out" >/dev/null
# The edition -> the compiled extension, in one transaction (writers wait; none sees the table without its
# trigger), as docs/managed.md shows: the view over ara_estimate kept aside and made again, the state
# exported, pg_ara dropped, pg_tle's copy uninstalled, the compiled extension created, the state imported.
cp -p "$work/compiled"/pg_ara.so "$libdir/"; cp -p "$work/compiled"/pg_ara.control "$work/compiled"/pg_ara--*.sql "$extdir/"
psql_as postgres $((base + 1)) >"$work/move1.log" 2>&1 <<'SQL' || { cat "$work/move1.log"; fail "the move to the compiled extension"; }
BEGIN;
SET ROLE app;
CREATE TABLE carry AS SELECT pg_get_viewdef('oom_estimates'::regclass) AS viewdef, NULL::jsonb AS state;
DROP VIEW oom_estimates;
UPDATE carry SET state = ara_state_export();
RESET ROLE;
DROP EXTENSION pg_ara CASCADE;
SELECT pgtle.uninstall_extension('pg_ara');
CREATE EXTENSION pg_ara;
SET ROLE app;
SELECT ara_state_import(state) FROM carry;
DO $$ BEGIN EXECUTE (SELECT 'CREATE VIEW oom_estimates AS ' || viewdef FROM carry); END $$;
COMMIT;
SQL
[ "$(move_db -At -c "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'ara_internal.ara_command_hash_trigger()'::regprocedure")" = c ] \
  || fail "after the move the trigger function is not the compiled one"
move_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/move-compiled.out" 2>&1
diff -u "$work/move-before.out" "$work/move-compiled.out" || fail "after the move to the compiled extension the answers differ"
echo "ok: pg_tle edition -> compiled extension in one transaction (ara_state_export, DROP EXTENSION, CREATE EXTENSION, ara_state_import): the same answers; backfill progress, registrations and choices kept"
# ... and back: the compiled files removed (as its package would be), the installer run, the state imported.
psql_as postgres $((base + 1)) -c "BEGIN" -c "SET ROLE app" -c "DROP TABLE carry" \
  -c "CREATE TABLE carry AS SELECT pg_get_viewdef('oom_estimates'::regclass) AS viewdef, NULL::jsonb AS state" \
  -c "DROP VIEW oom_estimates" -c "UPDATE carry SET state = ara_state_export()" -c "RESET ROLE" \
  -c "DROP EXTENSION pg_ara CASCADE" -c "COMMIT" >"$work/move2.log" 2>&1 || { cat "$work/move2.log"; fail "the export from the compiled extension"; }
rm -f "$libdir/pg_ara.so" "$extdir"/pg_ara.control "$extdir"/pg_ara--*.sql
psql_as app $((base + 1)) -c "BEGIN" -f "$tle" -c "CREATE EXTENSION pg_ara" -c "SELECT ara_state_import(state) FROM carry" \
  -c "DO \$\$ BEGIN EXECUTE (SELECT 'CREATE VIEW oom_estimates AS ' || viewdef FROM carry); END \$\$" \
  -c "COMMIT" >"$work/move3.log" 2>&1 || { cat "$work/move3.log"; fail "the move back to the pg_tle edition"; }
move_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/move-back.out" 2>&1
diff -u "$work/move-before.out" "$work/move-back.out" || fail "after the move back to the edition the answers differ"
answers_writers_and_resume move_db "after moving back"
echo "ok: compiled extension -> pg_tle edition: the same answers; writers keyed, the backfill resumed to 0 rows out of line"

# --- 6. Updating the edition: a next release's artefacts over this one's ------------------------------------
# This release's artefacts are updated, in the field, by the next release's (made by the same
# scripts/edition.sh from its edition/releases). The next release is made here: a copy of the sources
# with the version bumped, this version among its earlier releases, an upgrade script whose head (what
# runs before the bodies) leaves a mark, and a body with one function more. Its pg_tle installer and
# ALTER EXTENSION pg_ara UPDATE, and its plain script, must carry the databases above (their tables,
# registrations, choices, progress) to it with every answer unchanged.
next="$version-update-test"
mkdir -p "$work/next/scripts"
cp -r sql edition Cargo.toml "$work/next/"
cp scripts/edition.sh "$work/next/scripts/"
sed -i "s/^version = \"$version\"/version = \"$next\"/" "$work/next/Cargo.toml"
grep -qx "$version" "$work/next/edition/releases" || echo "$version" >>"$work/next/edition/releases"   # the release this one updates from
cat >"$work/next/sql/pg_ara--$version--$next.sql" <<EOF
-- pg_ara $version -> $next: the release tests/edition/editions.sh makes to update the edition.
COMMENT ON SCHEMA ara_internal IS 'head of pg_ara--$version--$next.sql';
\\echo Use "ALTER EXTENSION pg_ara UPDATE TO '$next'" to load this file. \\quit
EOF
printf '%s\n' "CREATE OR REPLACE FUNCTION ara_internal.ara_update_test() RETURNS text LANGUAGE sql IMMUTABLE AS \$\$ SELECT '$next' \$\$;" \
  >>"$work/next/sql/state.sql"
PG_ARA_DIST="$work/next-dist" bash "$work/next/scripts/edition.sh" >/dev/null
updated() {   # updated DB LABEL: the next release's marks, and the version it reports
  local marks
  marks=$("$1" -At -c "SELECT ara_internal.ara_update_test() || ' ' || obj_description('ara_internal'::regnamespace, 'pg_namespace')")
  [ "$marks" = "$next head of pg_ara--$version--$next.sql" ] || fail "$2: the update's head or body did not run: $marks"
}
move_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/update-tle-before.out" 2>&1
psql_as app $((base + 1)) -f "$work/next-dist/pg_ara-$next-pg_tle.sql"
psql_as app $((base + 1)) -f "$work/next-dist/pg_ara-$next-pg_tle.sql"   # again: nothing changes
move_db -c "ALTER EXTENSION pg_ara UPDATE"
[ "$(move_db -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ara'")" = "$next" ] \
  || fail "pg_tle: ALTER EXTENSION pg_ara UPDATE did not reach $next"
updated move_db "pg_tle"
move_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/update-tle-after.out" 2>&1
diff -u "$work/update-tle-before.out" "$work/update-tle-after.out" || fail "pg_tle: the answers changed with the update"
echo "ok: pg_tle edition $version -> $next by the next installer's update path and ALTER EXTENSION pg_ara UPDATE: the same answers"
plain_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/update-plain-before.out" 2>&1
psql_as app $((base + 2)) -f "$work/next-dist/pg_ara-$next-plain.sql" >/dev/null
[ "$(plain_db -At -c "SELECT version FROM ara_internal.ara_edition")" = "$next" ] || fail "plain script: not updated to $next"
updated plain_db "plain script"
plain_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/update-plain-after.out" 2>&1
diff -u "$work/update-plain-before.out" "$work/update-plain-after.out" || fail "plain script: the answers changed with the update"
# A script over a release it has no update from refuses, and changes nothing.
plain_db -c "UPDATE ara_internal.ara_edition SET version = '0.0.1'"
if out=$(psql_as app $((base + 2)) -f "$work/next-dist/pg_ara-$next-plain.sql" 2>&1); then fail "plain script over 0.0.1 did not refuse"; fi
grep -q "cannot update from 0.0.1" <<<"$out" || fail "plain script over 0.0.1: $out"
[ "$(plain_db -At -c "SELECT version FROM ara_internal.ara_edition")" = 0.0.1 ] || fail "the refused script changed something"
echo "ok: plain script $version -> $next by the next release's script: the same answers; a script over a release it cannot update from refuses"

# --- 7. From each released edition to this one (edition/released: its artefacts as released) -------------
# A database that installed an earlier release's artefacts and wrote its history is updated by this
# release's installer (ALTER EXTENSION pg_ara UPDATE) or plain script; it must then answer as this release
# does fresh (the extension's answers above).
for prev in $(grep -v '^#' edition/releases | grep -vx "$version"); do
  [ -f "edition/released/pg_ara-$prev-pg_tle.sql" ] && [ -f "edition/released/pg_ara-$prev-plain.sql" ] \
    || fail "edition/released has no artefacts of the released $prev"
  psql_as postgres $((base + 1)) -d postgres -c "DROP DATABASE flotilla" -c "CREATE DATABASE flotilla OWNER app"
  psql_as postgres $((base + 1)) -c "CREATE EXTENSION pg_tle"
  psql_as app $((base + 1)) -f "edition/released/pg_ara-$prev-pg_tle.sql" -c "CREATE EXTENSION pg_ara VERSION '$prev'"
  history move_db >/dev/null
  psql_as app $((base + 1)) -f "$tle"
  move_db -c "ALTER EXTENSION pg_ara UPDATE"
  [ "$(move_db -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ara'")" = "$version" ] \
    || fail "pg_tle: ALTER EXTENSION pg_ara UPDATE from $prev did not reach $version"
  move_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/from-$prev-tle.out" 2>&1
  diff -u "$work/ext.out" "$work/from-$prev-tle.out" || fail "pg_tle edition updated from $prev answers differently (- extension, + updated)"
  answers_writers_and_resume move_db "pg_tle edition updated from $prev"
  echo "ok: pg_tle edition $prev (as released) -> $version by this installer and ALTER EXTENSION pg_ara UPDATE: the same answers as the extension, writers keyed"
  psql_as postgres $((base + 2)) -d postgres -c "DROP DATABASE flotilla" -c "CREATE DATABASE flotilla OWNER app"
  psql_as app $((base + 2)) -f "edition/released/pg_ara-$prev-plain.sql" >/dev/null
  history plain_db >/dev/null
  psql_as app $((base + 2)) -f "$plain" >/dev/null
  [ "$(plain_db -At -c "SELECT version FROM ara_internal.ara_edition")" = "$version" ] || fail "plain script: $prev not updated to $version"
  plain_db -v counts=0 -v extension=0 -f tests/answers/answers.sql >"$work/from-$prev-plain.out" 2>&1
  diff -u "$work/ext.out" "$work/from-$prev-plain.out" || fail "plain script updated from $prev answers differently (- extension, + updated)"
  echo "ok: plain script $prev (as released) -> $version: the same answers as the extension"
done
echo "ok"
