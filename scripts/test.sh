#!/usr/bin/env bash
# The whole test suite: Rust unit tests (pure core, no PostgreSQL) and #[pg_test] through
# `cargo pgrx test`; the SQL-level tests against a private cluster: pg_regress files in
# tests/pg_regress on a fresh install and again on an install upgraded from each released version,
# the multi-connection and upgrade scripts in tests/shell; then the demo at a small size (release
# build, which it leaves installed). Runs as root (CI) and as a normal user with sudo. Exits
# non-zero on any failure; the last line is the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh

passed=0 failed=0
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-test-logs.XXXXXX")
chmod 755 "$log_dir"

# --- 1. cargo pgrx test: unit tests of src/core and every #[pg_test] ---------------------------
echo "== cargo pgrx test pg${PG_MAJOR}"
runas=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root: the test cluster belongs to postgres.
  pgtest_dir="${TMPDIR:-/tmp}/pg_ara-pgtest"
  install -d -o postgres -g postgres "$pgtest_dir"
  runas=(--runas postgres --pgdata "$pgtest_dir/data")
fi
cargo pgrx test "pg${PG_MAJOR}" "${runas[@]}" 2>&1 | tee "$log_dir/cargo-test.log"
cargo_rc=${PIPESTATUS[0]}
while read -r p f; do
  passed=$((passed + p)); failed=$((failed + f))
done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log_dir/cargo-test.log")
if [ "$cargo_rc" -ne 0 ] && ! grep -q '^test result: FAILED' "$log_dir/cargo-test.log"; then
  echo "cargo pgrx test failed before running its tests (exit $cargo_rc)"
  failed=$((failed + 1))
fi

# --- 2. SQL-level tests against a private cluster -------------------------------------------------
echo "== installing pg_ara (debug build) and the frozen install scripts of released versions"
ext_dir="$("$PG_CONFIG" --sharedir)/extension"
if cargo pgrx install --pg-config "$PG_CONFIG" >"$log_dir/install.log" 2>&1; then
  # sql/pg_ara--X.sql (one "--"): the install script of a released version, kept frozen so that
  # CREATE EXTENSION pg_ara VERSION 'X' works for the upgrade tests. cargo pgrx installs only the
  # current version's script and the upgrade scripts.
  for f in sql/pg_ara--*.sql; do
    case "$(basename "$f")" in *--*--*) ;; *) install -m 644 "$f" "$ext_dir/" ;; esac
  done
  TEST_PORT=${PG_ARA_TEST_PORT:-54916}
  if cluster_start test "$TEST_PORT"; then
    trap cluster_stop EXIT
    pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
    mapfile -t regress_tests < <(sed -n 's/^test: *//p' tests/pg_regress/schedule | tr ' ' '\n' | sed '/^$/d')
    # run_regress LABEL DBNAME [pg_regress options]: the suite, counted per test.
    run_regress() {
      local label=$1 db=$2; shift 2
      local out="$log_dir/regress-$label"
      install -d -o "$PG_OS_USER" "$out"
      as_pg "$pg_regress" --host=127.0.0.1 --port="$TEST_PORT" --user=postgres \
        --inputdir=tests/pg_regress --outputdir="$out" --dbname="$db" "$@" \
        "${regress_tests[@]}" 2>&1 | tee "$log_dir/regress-$label.log"
      if [ -f "$out/regression.diffs" ]; then cat "$out/regression.diffs"; fi
      for t in "${regress_tests[@]}"; do
        if grep -Eq "^(ok|test)? *[0-9]* *[+]? *${t} +\.\.\. ok|^ok +[0-9]+ +[-+] +${t} " "$log_dir/regress-$label.log"; then
          passed=$((passed + 1))
        else
          failed=$((failed + 1)); echo "FAILED: pg_regress ($label) $t"
        fi
      done
    }
    echo "== pg_regress (tests/pg_regress) on a fresh install, 127.0.0.1:$TEST_PORT"
    run_regress fresh pg_ara_regress
    # The same suite on a database that installed every released version's script and was then
    # updated with ALTER EXTENSION pg_ara UPDATE: an upgraded install must behave as a fresh one.
    for old in $(ls sql/pg_ara--*.sql | sed -n 's/^sql\/pg_ara--\([^-]*\)\.sql$/\1/p'); do
      echo "== pg_regress on an install upgraded from $old"
      db="pg_ara_regress_from_${old//./_}"
      if "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
         && "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION pg_ara VERSION '$old'" \
              -c "ALTER EXTENSION pg_ara UPDATE"; then
        run_regress "from-$old" "$db" --use-existing
      else
        failed=$((failed + 1)); echo "FAILED: could not install $old and update it"
      fi
    done
    echo "== shell tests (tests/shell): several connections at once, upgrades"
    for t in tests/shell/*.sh; do
      [ -e "$t" ] || continue
      if PG_BIN="$PG_BIN" PG_CONFIG="$PG_CONFIG" bash "$t" >"$log_dir/$(basename "$t").log" 2>&1; then
        passed=$((passed + 1)); echo "ok: $t"
      else
        failed=$((failed + 1)); echo "FAILED: $t"; tail -30 "$log_dir/$(basename "$t").log"
      fi
    done
    cluster_stop
    trap - EXIT
  else
    echo "could not start the private test cluster"; failed=$((failed + 1))
  fi
else
  tail -40 "$log_dir/install.log"; echo "cargo pgrx install failed"; failed=$((failed + 1))
fi

# --- 3. The demo (the README's main command) at a smaller size; it checks its own story --------
# It also builds and installs the release build, so the tests leave PostgreSQL with a release
# pg_ara installed, as a user who ran the demo or `cargo pgrx install --release` had it.
echo "== the demo, 20,000 runs (release build)"
if PG_ARA_DEMO_RUNS=${PG_ARA_TEST_DEMO_RUNS:-20000} PG_ARA_DEMO_PORT=${PG_ARA_TEST_DEMO_PORT:-54918} \
     bash scripts/demo.sh >"$log_dir/demo.log" 2>&1 \
   && grep -q "demo checks passed" "$log_dir/demo.log" \
   && grep -q "p99 of their memory 1792 x 1.75 = 3136 MB" "$log_dir/demo.log"; then
  passed=$((passed + 1)); echo "ok: demo ($(grep -o 'demo checks passed.*' "$log_dir/demo.log"))"
else
  failed=$((failed + 1)); echo "FAILED: demo"; tail -40 "$log_dir/demo.log"
fi

echo "logs: $log_dir"
echo "pg_ara: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
