#!/usr/bin/env bash
# The project's pg_regress suite (tests/pg_regress) against the SQL edition installed through pg_tle: a
# server with pg_tle preloaded and no compiled pg_ara (its files are moved aside for the test and put back
# at the end); in a database owned by app (no superuser, a member of pgtle_admin), app runs the installer
# and CREATE EXTENSION pg_ara; the suite then runs there as it runs on the extension (the databases it
# makes itself get pg_tle and the edition from template1). Where the edition
# legitimately answers otherwise (an error's wording, what it leaves out, what it cannot do as PL/pgSQL),
# the expected output is the extension's with tests/edition/expected.patch applied: that patch is the one
# place the differences are listed, each hunk behind a comment that says why (docs/managed.md sums them up).
# Left out of the run: ara_counts (the type is not in the edition), internal_args (the extension's
# C support functions called with internal arguments; the edition has none) and tune (the peer and
# censored policies, the censored lookup and ara_tune's censored grid are the compiled extension's;
# the edition refuses them with 0A000: docs/managed.md, and editions.sh checks that it does).
# Needs PG_MAJOR and PG_CONFIG (scripts/test.sh) and the compiled pg_ara installed in that PostgreSQL.
# PG_ARA_EDITION_DIFFS=DIR keeps the results and the diff against the extension's expected files there
# (scripts/edition-refresh-patch.sh rewrites the patch from them).
# runs on: 18
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pg_majors.sh
source scripts/pg_tle.sh
fail() { echo "FAILED: $*"; exit 1; }
bin=$("$PG_CONFIG" --bindir)
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
port=${PG_ARA_EDITION_REGRESS_PORT:-26965}   # below the ephemeral port range
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-edition-regress.XXXXXX")
chmod 755 "$work"
install -d -m 700 -o "$PG_OS_USER" "$work/run"
mkdir "$work/compiled"
cleanup() {
  as_pg "$bin/pg_ctl" -D "$work/run/data" -m immediate -w stop >/dev/null 2>&1 || true
  if [ -n "$(ls "$work/compiled")" ]; then
    cp -p "$work/compiled"/pg_ara.so "$libdir/"
    cp -p "$work/compiled"/pg_ara.control "$work/compiled"/pg_ara--*.sql "$extdir/"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

[ -f "$libdir/pg_ara.so" ] || fail "the compiled pg_ara is not installed in $libdir"
mv "$libdir/pg_ara.so" "$work/compiled/"
mv "$extdir"/pg_ara.control "$extdir"/pg_ara--*.sql "$work/compiled/"
PG_ARA_DIST="$work/dist" bash scripts/edition.sh >/dev/null
pgtle_install "$PG_CONFIG" || fail "could not build pg_tle"

as_pg "$bin/initdb" -D "$work/run/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$work/run/initdb.log" 2>&1 \
  || { cat "$work/run/initdb.log"; fail initdb; }
as_pg "$bin/pg_ctl" -D "$work/run/data" -l "$work/run/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$work/run' -c shared_preload_libraries=pg_tle -c max_worker_processes=8 -c max_parallel_workers=4" \
  start >/dev/null || { cat "$work/run/server.log"; fail "PostgreSQL did not start"; }
db=pg_ara_edition_regress
q() { "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -v ON_ERROR_STOP=1 "$@"; }
# pg_tle and the edition registered in template1 too, so that the databases the suite makes itself
# offer pg_ara as well (pg_tle registers extensions per database).
q -U postgres -d template1 -c "CREATE EXTENSION pg_tle" -f "$work/dist/pg_ara-$version-pg_tle.sql"
q -U postgres -d postgres -c "CREATE ROLE app LOGIN" -c "GRANT pgtle_admin TO app" -c "CREATE DATABASE $db OWNER app"
q -U app -d $db -f "$work/dist/pg_ara-$version-pg_tle.sql" -c "CREATE EXTENSION pg_ara"

# The suite's input with the edition's expected outputs.
in="$work/in"
cp -r tests/pg_regress "$in"
# The installer, for the case that makes a database from template0 (tests/edition/expected.patch).
cp "$work/dist/pg_ara-$version-pg_tle.sql" "$work/edition-installer.sql"   # psql reads each test from stdin: \ir is relative to $work
if grep -q "^@@" tests/edition/expected.patch; then
  patch -s -d "$in" -p1 <tests/edition/expected.patch || fail "tests/edition/expected.patch does not apply to tests/pg_regress"
fi
grep -v '^test: \(ara_counts\|internal_args\|tune\)$' tests/pg_regress/schedule | sed -n 's/^test: *//p' | grep -vx "${PG_ARA_EDITION_SKIP:-}" >"$work/tests"
chmod -R a+rX "$in"
install -d -o "$PG_OS_USER" "$work/out"
pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
set +e
(cd "$work" && as_pg "$pg_regress" --bindir="$bin" --host=127.0.0.1 --port="$port" --user=postgres --use-existing \
   --inputdir="$in" --outputdir="$work/out" --dbname="$db" $(cat "$work/tests")) >"$work/regress.log" 2>&1
rc=$?
set -e
cat "$work/regress.log"
if [ -n "${PG_ARA_EDITION_DIFFS:-}" ]; then
  mkdir -p "$PG_ARA_EDITION_DIFFS"
  cp -r "$work/out/results" "$PG_ARA_EDITION_DIFFS/"
  for t in $(cat "$work/tests"); do
    diff -u "tests/pg_regress/expected/$t.out" "$work/out/results/$t.out" >"$PG_ARA_EDITION_DIFFS/$t.diff" || true
  done
fi
[ -f "$work/out/regression.diffs" ] && cat "$work/out/regression.diffs"
[ $rc -eq 0 ] || fail "pg_regress against the SQL edition: $(grep -c 'not ok\|FAILED' "$work/regress.log") test(s) differ from the extension's expected output with tests/edition/expected.patch"
echo "ok: the pg_regress suite ($(wc -l <"$work/tests") files) on the SQL edition through pg_tle, installed by a non-superuser, answers as the extension does but for the differences in tests/edition/expected.patch"
