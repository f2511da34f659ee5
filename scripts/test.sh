#!/usr/bin/env bash
# The whole test suite on every tested PostgreSQL major (scripts/pg_majors.sh: 14, 15, 16, 17 and 18;
# PG_ARA_MAJORS narrows it while iterating). What runs where (docs/contributing.md says why):
#   every major      the build; pg_regress (tests/pg_regress) on a fresh install and on installs
#                    updated from the oldest and from the previous release; the shell tests marked
#                    "runs on: every major" (the upgrade-script catalog test); the packages
#                    (tests/packages.sh); on 18 also the CloudNativePG extension image (tests/image.sh)
#   the pair         (PG_ARA_PAIR, 15 and 18) the Rust unit tests and every #[pg_test] (cargo pgrx
#                    test), every shell test
#   Citus majors     tests/shell/citus.sh (16, 17 and 18)
#   the SQL edition  tests/edition/editions.sh on every major (pg_tle and the plain script against the
#                    extension, moving between editions); fingerprint.sh on the pair; regress.sh (the
#                    pg_regress suite on the edition) on 18
#   across majors    tests/majors/*.sh: pg_upgrade from each older tested major to each newer one,
#                    and a pg_dump of an older major restored into a newer one
#   once             the demo at a small size, on 15 (release build, which it leaves installed)
# Runs as root (CI) and as a normal user with sudo, from a checkout anywhere. Exits non-zero on any
# failure; the last line is the summary. Every step prints its time (the suite must stay in CI's budget).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/pg_majors.sh
source scripts/citus.sh
# The packages the suite makes are debug builds, to reuse the build above (the demo makes the release).
export PG_ARA_PACKAGE_PROFILE=${PG_ARA_PACKAGE_PROFILE:-dev}

passed=0 failed=0
suite_start=$(date +%s)
# since T0: the seconds since T0 (each step's time goes into the output, to keep the suite in budget).
since() { echo "$(( $(date +%s) - $1 )) s"; }
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-test-logs.XXXXXX")
chmod 755 "$log_dir"
# pg_regress runs as the postgres OS user when we are root, and the checkout may be somewhere it
# cannot enter (root's home, a mktemp -d): it reads its inputs from a copy in the log directory.
regress_in="$log_dir/pg_regress-input"
cp -r tests/pg_regress "$regress_in"
chmod -R a+rX "$regress_in"
released=$(ls sql/pg_ara--*.sql | sed -n 's/^sql\/pg_ara--\([^-]*\)\.sql$/\1/p' | sort -V)

in_list() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# run_script LABEL SCRIPT [args]: one test script, its output in the log directory; counted.
run_script() {
  local label=$1 script=$2 step log; shift 2
  step=$(date +%s)
  log="$log_dir/$label-$(basename "$script").log"
  if bash "$script" "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "ok: $script ($label, $(since "$step"))"
    # A test that could not run here says why: shown, not hidden in its log.
    grep -h '^SKIPPED' "$log" | sed "s|^|   $script ($label): |" || true
  else
    failed=$((failed + 1)); echo "FAILED: $script ($label, $(since "$step"))"; tail -30 "$log"
  fi
}

# runs_on SCRIPT MAJOR: whether a test script runs on that major, by its "# runs on:" line
# ("every major"; "citus": where Citus is supported; majors, e.g. "18"); without one, on the pair.
runs_on() {
  local where
  where=$(sed -n 's/^# runs on: *//p' "$1" | head -1)
  case "$where" in
    "every major") return 0 ;;
    citus) citus_supported "$2" ;;
    "") in_list "$2" "$PG_ARA_PAIR" ;;
    *) in_list "$2" "$where" ;;
  esac
}

# install_debug MAJOR: the debug build of pg_ara and the frozen install scripts of released
# versions into that PostgreSQL (cargo pgrx installs only the current script and the upgrades).
install_debug() {
  local major=$1 pg_config ext_dir f features
  pg_config=$(pg_config_for "$major")
  read -ra features <<<"$(pgrx_features "$major")"
  ext_dir="$("$pg_config" --sharedir)/extension"
  cargo pgrx install --pg-config "$pg_config" "${features[@]}" >"$log_dir/install-pg${major}.log" 2>&1 \
    || { tail -40 "$log_dir/install-pg${major}.log"; return 1; }
  for f in sql/pg_ara--*.sql; do
    case "$(basename "$f")" in *--*--*) ;; *) install -m 644 "$f" "$ext_dir/" ;; esac
  done
}

# test_major MAJOR: every test that runs against one PostgreSQL, on that major.
test_major() {
  local major=$1 t0 step
  t0=$(date +%s)
  export PG_MAJOR=$major
  PG_CONFIG=$(pg_config_for "$major"); export PG_CONFIG
  unset PG_BIN
  source scripts/cluster.sh
  export PG_BIN
  local pair=0; in_list "$major" "$PG_ARA_PAIR" && pair=1
  echo "== PostgreSQL $major ($("$PG_CONFIG" --version), $PG_CONFIG)$([ $pair = 1 ] && echo ', one of the representative pair')"

  # --- 1. cargo pgrx test (the pair): unit tests of src/core and every #[pg_test] ------------------
  if [ $pair = 1 ]; then
    echo "== cargo pgrx test pg${major}"
    step=$(date +%s)
    local runas=()
    if [ "$(id -u)" -eq 0 ]; then
      # PostgreSQL refuses to run as root: the test cluster belongs to postgres.
      local pgtest_dir="${TMPDIR:-/tmp}/pg_ara-pgtest"
      install -d -o postgres -g postgres "$pgtest_dir"
      runas=(--runas postgres --pgdata "$pgtest_dir/data-pg${major}")
    fi
    cargo pgrx test "pg${major}" "${runas[@]}" 2>&1 | tee "$log_dir/cargo-test-pg${major}.log" | grep -E '^test result|FAILED|panicked'
    local cargo_rc=${PIPESTATUS[0]} p f
    while read -r p f; do
      passed=$((passed + p)); failed=$((failed + f))
    done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log_dir/cargo-test-pg${major}.log")
    if [ "$cargo_rc" -ne 0 ] && ! grep -q '^test result: FAILED' "$log_dir/cargo-test-pg${major}.log"; then
      echo "FAILED: cargo pgrx test pg${major} failed before running its tests (exit $cargo_rc)"
      failed=$((failed + 1))
    fi
    echo "== cargo pgrx test pg${major}: $(since "$step")"
  fi

  # --- 2. SQL-level tests against a private cluster -----------------------------------------------
  echo "== installing pg_ara (debug build) and the frozen install scripts of released versions into PostgreSQL $major"
  step=$(date +%s)
  if ! install_debug "$major"; then
    echo "FAILED: cargo pgrx install (pg${major})"; failed=$((failed + 1))
    return
  fi
  echo "== installed: $(since "$step")"
  TEST_PORT=${PG_ARA_TEST_PORT:-26916}   # below the ephemeral port range (32768 and up): no client connection holds it
  if ! cluster_start "test" "$TEST_PORT"; then
    echo "FAILED: could not start the private test cluster (pg${major})"; failed=$((failed + 1))
    return
  fi
  trap cluster_stop EXIT
  local pg_regress; pg_regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
  local regress_tests; mapfile -t regress_tests < <(sed -n 's/^test: *//p' tests/pg_regress/schedule | tr ' ' '\n' | sed '/^$/d')
  # run_regress LABEL DBNAME [pg_regress options]: the suite, counted per test.
  run_regress() {
    local label="pg${major}-$1" db=$2; shift 2
    local out="$log_dir/regress-$label" t
    install -d -o "$PG_OS_USER" "$out"
    (cd "$log_dir" && as_pg "$pg_regress" --bindir="$PG_BIN" --host=127.0.0.1 --port="$TEST_PORT" --user=postgres \
      --inputdir="$regress_in" --outputdir="$out" --dbname="$db" "$@" \
      "${regress_tests[@]}") >"$log_dir/regress-$label.log" 2>&1
    if [ -f "$out/regression.diffs" ]; then cat "$out/regression.diffs"; fi
    for t in "${regress_tests[@]}"; do
      if grep -Eq "^(ok|test)? *[0-9]* *[+]? *${t} +\.\.\. ok|^ok +[0-9]+ +[-+] +${t} " "$log_dir/regress-$label.log"; then
        passed=$((passed + 1))
      else
        failed=$((failed + 1)); echo "FAILED: pg_regress ($label) $t"
      fi
    done
  }
  echo "== pg_regress (tests/pg_regress) on a fresh install, PostgreSQL $major, 127.0.0.1:$TEST_PORT"
  step=$(date +%s)
  run_regress fresh pg_ara_regress
  echo "== pg_regress fresh: $(since "$step")"
  # The same suite on a database that installed a released version's script and was then updated
  # with ALTER EXTENSION pg_ara UPDATE: an upgraded install must behave as a fresh one. From the
  # oldest release (the whole chain of upgrade scripts) and from the previous one (the update users
  # make next); PG_ARA_REGRESS_FROM=all: from every release. (upgrade.sh compares, on every major,
  # the catalog of an install updated from each release with a fresh one: the same functions,
  # bodies, flags and comments, so the same answers.)
  local from old db
  if [ "${PG_ARA_REGRESS_FROM:-}" = all ]; then
    from=$released
  else
    from=$(printf '%s\n' "$released" | sed -n '1p;$p' | sort -uV)
  fi
  step=$(date +%s)
  for old in $from; do
    db="pg_ara_regress_from_${old//./_}"
    if "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
       && "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE EXTENSION pg_ara VERSION '$old'" \
            -c "ALTER EXTENSION pg_ara UPDATE"; then
      run_regress "from-$old" "$db" --use-existing
    else
      failed=$((failed + 1)); echo "FAILED: could not install $old and update it (pg${major})"
    fi
  done
  echo "== pg_regress on installs updated from $(echo $from | tr ' ' ','): $(since "$step")"

  echo "== shell tests (tests/shell) on PostgreSQL $major"
  local t
  for t in tests/shell/*.sh; do
    [ -e "$t" ] || continue
    runs_on "$t" "$major" && run_script "pg${major}" "$t"
  done
  # The SQL edition (tests/edition): against the compiled extension installed above, whose files the
  # tests move aside (a server with pg_ara's edition has no compiled pg_ara) and put back.
  echo "== the SQL edition (tests/edition) on PostgreSQL $major: pg_tle, the plain script, moving between editions"
  for t in tests/edition/*.sh; do
    runs_on "$t" "$major" && run_script "pg${major}" "$t"
  done
  # The packages after the rest: they replace what cargo installed. A debug build, to reuse the one above.
  echo "== packages (scripts/package.sh) installed without cargo, PostgreSQL $major"
  run_script "pg${major}" tests/packages.sh
  if [ "$major" = 18 ]; then
    echo "== the CloudNativePG extension image (scripts/image.sh), mounted as CloudNativePG does, PostgreSQL 18"
    run_script "pg${major}" tests/image.sh
  fi
  cluster_stop
  trap - EXIT
  echo "== PostgreSQL $major done in $(since "$t0")"
}

for major in $PG_ARA_MAJORS; do
  test_major "$major"
done

# --- 3. Across majors: pg_upgrade and pg_dump from each older major to each newer one ------------
# Each major gets the debug build again (the packages test left the package there, or removed it).
if [ "$(echo $PG_ARA_MAJORS | wc -w)" -ge 2 ]; then
  echo "== across majors (tests/majors): $PG_ARA_MAJORS"
  step=$(date +%s)
  ok=1
  for major in $PG_ARA_MAJORS; do
    install_debug "$major" || { echo "FAILED: cargo pgrx install (pg${major})"; failed=$((failed + 1)); ok=0; }
  done
  echo "== reinstalled the debug build into every major: $(since "$step")"
  if [ $ok = 1 ]; then
    for t in tests/majors/*.sh; do
      run_script majors "$t"
    done
  fi
fi

# --- 4. The demo (the README's main command) at a smaller size; it checks its own story --------
# Once, on 15 (Debian's own major; else the first one tested). It also builds and installs the
# release build, so the tests leave that PostgreSQL with a release pg_ara installed, as a user who
# ran the demo or `cargo pgrx install --release` had it.
demo_major=${PG_ARA_MAJORS%% *}
in_list 15 "$PG_ARA_MAJORS" && demo_major=15
echo "== the demo, 20,000 runs (release build, PostgreSQL $demo_major)"
step=$(date +%s)
if PG_MAJOR=$demo_major PG_CONFIG=$(pg_config_for "$demo_major") PG_ARA_DEMO_RUNS=${PG_ARA_TEST_DEMO_RUNS:-20000} PG_ARA_DEMO_PORT=${PG_ARA_TEST_DEMO_PORT:-54918} \
     bash scripts/demo.sh >"$log_dir/demo.log" 2>&1 \
   && grep -q "demo checks passed" "$log_dir/demo.log" \
   && grep -q "p99 of their memory 1792 x 1.75 = 3136 MB" "$log_dir/demo.log"; then
  passed=$((passed + 1)); echo "ok: demo ($(grep -o 'demo checks passed.*' "$log_dir/demo.log"), $(since "$step"))"
else
  failed=$((failed + 1)); echo "FAILED: demo"; tail -40 "$log_dir/demo.log"
fi

echo "majors tested: $PG_ARA_MAJORS (the pair: $PG_ARA_PAIR); whole run $(since "$suite_start")"
echo "logs: $log_dir"
echo "pg_ara: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
