#!/usr/bin/env bash
# The whole test suite: Rust unit tests (pure core, no PostgreSQL) and #[pg_test] through
# `cargo pgrx test`, then the SQL-level tests (pg_regress files in tests/pg_regress and the
# multi-connection scripts in tests/shell) against a private cluster. Runs as root (CI) and as a
# normal user with sudo. Exits non-zero on any failure; the last line is the summary.
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
echo "== installing pg_ara (debug build) for the SQL-level tests"
if cargo pgrx install --pg-config "$PG_CONFIG" >"$log_dir/install.log" 2>&1; then
  TEST_PORT=${PG_ARA_TEST_PORT:-54916}
  if cluster_start test "$TEST_PORT"; then
    trap cluster_stop EXIT
    echo "== pg_regress (tests/pg_regress) on 127.0.0.1:$TEST_PORT"
    regress_out="$log_dir/regress"
    install -d -o "$PG_OS_USER" "$regress_out"
    pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
    mapfile -t regress_tests < <(sed -n 's/^test: *//p' tests/pg_regress/schedule | tr ' ' '\n' | sed '/^$/d')
    as_pg "$pg_regress" --host=127.0.0.1 --port="$TEST_PORT" --user=postgres \
      --inputdir=tests/pg_regress --outputdir="$regress_out" --dbname=pg_ara_regress \
      "${regress_tests[@]}" 2>&1 | tee "$log_dir/regress.log"
    if [ -f "$regress_out/regression.diffs" ]; then cat "$regress_out/regression.diffs"; fi
    for t in "${regress_tests[@]}"; do
      if grep -Eq "^(ok|test)? *[0-9]* *[+]? *${t} +\.\.\. ok|^ok +[0-9]+ +[-+] +${t} " "$log_dir/regress.log"; then
        passed=$((passed + 1))
      else
        failed=$((failed + 1)); echo "FAILED: pg_regress $t"
      fi
    done
    echo "== shell tests (tests/shell): several connections at once"
    for t in tests/shell/*.sh; do
      [ -e "$t" ] || continue
      if PG_BIN="$PG_BIN" bash "$t" >"$log_dir/$(basename "$t").log" 2>&1; then
        passed=$((passed + 1)); echo "ok: $t"
      else
        failed=$((failed + 1)); echo "FAILED: $t"; tail -30 "$log_dir/$(basename "$t").log"
      fi
    done
  else
    echo "could not start the private test cluster"; failed=$((failed + 1))
  fi
else
  tail -40 "$log_dir/install.log"; echo "cargo pgrx install failed"; failed=$((failed + 1))
fi

echo "logs: $log_dir"
echo "pg_ara: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
