#!/usr/bin/env bash
# The benchmark: release build, a private cluster, each comparison run REPS times with the
# contenders alternating (rotated each repetition), medians and ratios as a Markdown table, written
# to BENCHMARKS.md with the machine and the command. Ratios are what count (shared, noisy machines).
#   bash scripts/bench.sh           full sizes (about 40 minutes on 2 cores)
#   bash scripts/bench.sh --quick   small sizes (a few minutes)
#   PG_ARA_BENCH_ONLY="aggregate lookup" bash scripts/bench.sh --quick
#                                   only those sections (insert, aggregate, lookup, backfill, metrics, simulate, edition): the
#                                   table is printed, BENCHMARKS.md is left alone.
#   PG_ARA_BENCH_REPS=5 ...         more repetitions (default 3).
# BENCHMARKS.md: the table of this mode and major (full on 15: between "<!-- bench:begin -->" and
# "<!-- bench:end -->"; else "<!-- bench:quick-pg18:begin -->" ...) is replaced; the rest of the
# file (the before/after notes of each fix) is kept.
#   PG_MAJOR=18 bash scripts/bench.sh --quick   on another tested major (scripts/pg_majors.sh)
# A script that prints measured figures, never a timed assertion.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=full
[ "${1:-}" = "--quick" ] && MODE=quick
if [ "$MODE" = quick ]; then
  ROWS=100000 AGG_ROWS=2000000 LOOKUP_ROWS=500000 BACKFILL_ROWS=100000 REPS=3 SECONDS_PER_RUN=5
else
  ROWS=1000000 AGG_ROWS=10000000 LOOKUP_ROWS=5000000 BACKFILL_ROWS=2000000 REPS=3 SECONDS_PER_RUN=10
fi
REPS=${PG_ARA_BENCH_REPS:-$REPS}   # more repetitions where a comparison is noisy
bash scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh
say() { printf '[bench] %s\n' "$*" >&2; }
ONLY=${PG_ARA_BENCH_ONLY:-insert aggregate lookup backfill metrics simulate edition}
want() { [[ " $ONLY " == *" $1 "* ]]; }

say "building and installing pg_ara (release)"
read -ra features <<<"$(pgrx_features "$PG_MAJOR")"
install_log=$(mktemp "${TMPDIR:-/tmp}/pg_ara-bench-install.XXXXXX")   # one per run: /tmp is shared by users
cargo pgrx install --release --pg-config "$PG_CONFIG" "${features[@]}" >"$install_log" 2>&1 \
  || { tail -30 "$install_log" >&2; exit 1; }
rm -f "$install_log"
export PG_ARA_CLUSTER_OPTS="-c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c work_mem=64MB"
cluster_start bench "${PG_ARA_BENCH_PORT:-54919}"
work=$(mktemp -d)
chmod 777 "$work"
trap 'cluster_stop; rm -rf "$CLUSTER_DIR" "$work"' EXIT
DB=ara_bench
"$PG_BIN/psql" -X -q -d postgres -c "CREATE DATABASE $DB"
q() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$DB" "$@"; }
say "fixtures: $ROWS insert rows, $AGG_ROWS aggregate rows, $LOOKUP_ROWS lookup rows, $BACKFILL_ROWS backfill rows ($MODE)"
q -v rows="$ROWS" -v agg_rows="$AGG_ROWS" -v lookup_rows="$LOOKUP_ROWS" -v backfill_rows="$BACKFILL_ROWS" \
  -f scripts/bench_setup.sql >/dev/null
q -c "COPY (SELECT * FROM bench.staging LIMIT $ROWS) TO '$work/staging.csv' WITH (FORMAT csv)"

record() { q -c "INSERT INTO bench.results VALUES ('$1', '$2', '$3', $4, $5)"; }
# timed SECTION ITEM REP SETUP_SQL CONTENDER=SQL ...: each contender in a rotated order; SETUP_SQL
# runs untimed before each (@ stands for the contender), $PRE in the timed statement's session.
PRE="SELECT 1"
timed() {
  local section=$1 item=$2 rep=$3 setup=$4; shift 4
  local n=$# i k pair name sql ms
  local pairs=("$@")
  for ((i = 0; i < n; i++)); do
    k=$(( (i + rep) % n )); pair=${pairs[$k]}; name=${pair%%=*}; sql=${pair#*=}
    [ -z "$setup" ] || q -c "${setup//@/$name}" >/dev/null
    ms=$(q -c "$PRE" -c "SELECT bench.time_ms(\$bench\$${sql//@/$name}\$bench\$)" | tail -1)
    record "$section" "$item" "$name" "$rep" "$ms"
  done
}

# The statements pgbench runs (sections 1, 3 and 7): a single-row INSERT (bench.one_@: the contender's
# table) and the lookups.
cat >"$work/insert.sql" <<'SQL'
INSERT INTO bench.one_@ (run_id, definition_id, command, description, command_hash, memory, cpu, status, queued_at, engine)
VALUES (gen_random_uuid()::text, 'def-1', 'python3 /dsn-algo-adhoc/team1/projects/fy25q4_calibration/run_1.py --as_of 20251123 --region us-east-1',
        'Job 1', md5('Job 1'), 4096, 1000, 'QUEUED', now(), 'eks');
SQL
cat >"$work/flotilla.sql" <<'SQL'
\set d random(0, 199)
\set c random(0, 4)
SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.memory) * 1.75 AS int) AS memory,
       cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY a.cpu) * 1.25 AS int) AS cpu
FROM (SELECT memory, cpu FROM bench.lookup_task
      WHERE queued_at >= now() - interval '3 days' AND (exit_code = 137 OR exit_reason = 'OOMKilled') AND engine = 'eks'
        AND definition_id = 'def-' || :d AND command_hash = md5('python3 job.py --shard ' || :c) LIMIT 30) a;
SQL
cat >"$work/ara_resources.sql" <<'SQL'
\set d random(0, 199)
\set c random(0, 4)
SELECT memory, cpu FROM ara_resources('def-' || :d, md5('python3 job.py --shard ' || :c), tbl => 'bench.lookup_task');
SQL
cat >"$work/ara_resources_right_size.sql" <<'SQL'
\set d random(0, 199)
\set c random(0, 4)
SELECT memory, cpu FROM ara_resources('def-' || :d, md5('python3 job.py --shard ' || :c), tbl => 'bench.lookup_task',
                                      policy => 'right_size');
SQL
cat >"$work/ara_resources_censored.sql" <<'SQL'
\set d random(0, 199)
\set c random(0, 4)
SELECT memory, cpu FROM ara_resources('def-' || :d, md5('python3 job.py --shard ' || :c), tbl => 'bench.lookup_task',
                                      policy => 'censored');
SQL

if want insert; then
say "1. insert path"
for ((rep = 1; rep <= REPS; rep++)); do
  timed insert "COPY of $ROWS rows" $rep "TRUNCATE bench.task_@" \
    none="COPY bench.task_@ FROM '$work/staging.csv' WITH (FORMAT csv)" \
    c_floor="COPY bench.task_@ FROM '$work/staging.csv' WITH (FORMAT csv)" \
    pg_ara="COPY bench.task_@ FROM '$work/staging.csv' WITH (FORMAT csv)" \
    plpgsql="COPY bench.task_@ FROM '$work/staging.csv' WITH (FORMAT csv)"
  timed insert "INSERT ... SELECT of $ROWS rows" $rep "TRUNCATE bench.task_@" \
    none="INSERT INTO bench.task_@ SELECT * FROM bench.staging LIMIT $ROWS" \
    c_floor="INSERT INTO bench.task_@ SELECT * FROM bench.staging LIMIT $ROWS" \
    pg_ara="INSERT INTO bench.task_@ SELECT * FROM bench.staging LIMIT $ROWS" \
    plpgsql="INSERT INTO bench.task_@ SELECT * FROM bench.staging LIMIT $ROWS"
done
# Single-row INSERTs and UpdateRun through pgbench: TPS (recorded as ms per 1000 transactions so
# that, like every other figure, smaller is better). The single-row INSERTs go to the one_* tables,
# emptied before every run followed by a CHECKPOINT: each contender starts alike (after a
# checkpoint, the first change of a page writes the whole page to WAL, so a table's size and the
# time since the last checkpoint would otherwise be measured with it).
cat >"$work/update_run.sql" <<'SQL'
\set id random(1, 100000)
UPDATE bench.task_@ SET alias = 'a', status = 'RUNNING', started_at = now(), instance_id = 'i', instance_dns_name = 'dns',
       command = command, memory = memory, cpu = cpu, engine = engine, node_lifecycle = 'spot', pod_name = 'pod',
       namespace = 'ns', max_cpu_used = 10, max_memory_used = 900, executable_id = executable_id, cpu_limit = 1000,
       memory_limit = 4096, attempt_count = 1, description = description, "user" = 'u', arch = 'amd64', tier = '4',
       exit_code = NULL, exit_reason = NULL, finished_at = NULL, env = env, labels = NULL, gpu = 0
 WHERE run_id = 'eks-' || md5(:id::text);
SQL
INSERT_CONTENDERS=(none c_floor pg_ara plpgsql)
for c in "${INSERT_CONTENDERS[@]}"; do
  for s in insert.sql update_run.sql; do sed "s/_@/_$c/" "$work/$s" >"$work/$s.$c"; done
done
fresh_one() { q -c "TRUNCATE bench.one_none, bench.one_c_floor, bench.one_pg_ara, bench.one_plpgsql" -c "CHECKPOINT" >/dev/null; }
bench_tps() {   # bench_tps SCRIPT CONTENDER CLIENTS -> tps
  [ "$1" != insert.sql ] || fresh_one
  "$PG_BIN/pgbench" -n -c "$3" -j "$3" -T "$SECONDS_PER_RUN" -f "$work/$1.$2" "$DB" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
# The same INSERTs interleaved: one pgbench run (twice as long) draws one of the four scripts at
# random for every transaction, so the contenders share the machine's moments (WAL flushes, noisy
# neighbours) instead of taking turns. Per contender, from the per-transaction log: the mean latency
# of its fastest 99% (a flush stall hits whichever transaction is waiting; the slowest 1% are
# those), in microseconds. TPS = clients / mean latency, so the ratio reads as the TPS ratio's inverse.
interleaved() {   # interleaved CLIENTS REP
  local scripts=() c
  for c in "${INSERT_CONTENDERS[@]}"; do scripts+=(-f "$work/insert.sql.$c@1"); done
  fresh_one
  rm -rf "$work/mix" && mkdir "$work/mix" && chmod 777 "$work/mix"
  (cd "$work/mix" && "$PG_BIN/pgbench" -n -c "$1" -j "$1" -T $((2 * SECONDS_PER_RUN)) -l "${scripts[@]}" "$DB" \
    >"$work/mix.out" 2>&1) || { cat "$work/mix.out" >&2; exit 1; }
  # Log columns: client, transaction, latency (us), script number (the -f order), time.
  cat "$work"/mix/pgbench_log.* | awk '{print $4, $3}' | sort -k1,1n -k2,2n \
    | awk '{n[$1]++; v[$1, n[$1]] = $2}
           END {for (s in n) {k = int(n[s] * 0.99); t = 0; for (i = 1; i <= k; i++) t += v[s, i]; print s, t / k}}' \
    | while read -r s mean; do
        record insert "single-row INSERT, $1 clients, interleaved per transaction (us, mean of the fastest 99%)" \
          "${INSERT_CONTENDERS[$s]}" "$2" "round($mean, 1)"
      done
}
for ((rep = 1; rep <= REPS; rep++)); do
  for clients in 2 4; do
    for ((i = 0; i < 4; i++)); do
      c=${INSERT_CONTENDERS[$(( (i + rep) % 4 ))]}
      tps=$(bench_tps insert.sql "$c" "$clients")
      record insert "single-row INSERT, $clients clients (ms per 1000 tx)" "$c" "$rep" "round(1000000 / $tps, 1)"
    done
    interleaved "$clients" "$rep"
  done
  for c in none pg_ara; do
    tps=$(bench_tps update_run.sql "$c" 2)
    record insert "UpdateRun, 2 clients (ms per 1000 tx)" "$c" "$rep" "round(1000000 / $tps, 1)"
  done
done
fi

if want aggregate; then
say "2. the aggregate"
for ((rep = 1; rep <= REPS; rep++)); do
  for par in 0 2; do
    label=$([ $par = 0 ] && echo serial || echo "2 workers")
    PRE="SET max_parallel_workers_per_gather = $par; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0"
    for t in m_wide m_20k; do
      rows=$(q -c "SELECT count(*) FROM bench.$t")
      distinct=$(q -c "SELECT count(DISTINCT v) FROM bench.$t")
      timed aggregate "$rows values, $distinct distinct, $label" $rep "" \
        ara_estimate="SELECT ara_estimate(v) FROM bench.$t" \
        builtin="SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM bench.$t" \
        count="SELECT count(v) FROM bench.$t"
    done
  done
  PRE="SET max_parallel_workers_per_gather = 0"
  groups=$(q -c "SELECT count(DISTINCT g) FROM bench.m_groups"); grows=$(q -c "SELECT count(*) FROM bench.m_groups")
  timed aggregate "GROUP BY: $grows rows in $groups groups, serial" $rep "" \
    ara_estimate="SELECT g, ara_estimate(v) FROM bench.m_groups GROUP BY g" \
    builtin="SELECT g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM bench.m_groups GROUP BY g" \
    count="SELECT g, count(v) FROM bench.m_groups GROUP BY g"
  PRE="SET max_parallel_workers_per_gather = 0; SET work_mem = '4MB'"
  bgroups=$(q -c "SELECT count(DISTINCT g) FROM bench.m_big_groups"); brows=$(q -c "SELECT count(*) FROM bench.m_big_groups")
  timed aggregate "GROUP BY: $brows rows in $bgroups groups of ~$((brows / bgroups)) distinct, work_mem 4MB, serial" $rep "" \
    ara_estimate="SELECT g, ara_estimate(v) FROM bench.m_big_groups GROUP BY g" \
    builtin="SELECT g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM bench.m_big_groups GROUP BY g" \
    count="SELECT g, count(v) FROM bench.m_big_groups GROUP BY g"
  PRE="SET max_parallel_workers_per_gather = 0"
  hrows=$(q -c "SELECT count(*) FROM bench.history")
  timed aggregate "window reconstruction over $hrows runs (3-day RANGE per key)" $rep "" \
    ara_estimate_window="SELECT run_id, ara_estimate(memory) FILTER (WHERE oom) OVER (PARTITION BY definition_id, command_hash ORDER BY queued_at RANGE BETWEEN '3 days' PRECEDING AND CURRENT ROW) FROM bench.history" \
    correlated_builtin="SELECT h.run_id, (SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY o.memory) * 1.75 AS bigint) FROM bench.history o WHERE o.oom AND o.definition_id = h.definition_id AND o.command_hash = h.command_hash AND o.queued_at BETWEEN h.queued_at - interval '3 days' AND h.queued_at) FROM bench.history h"
  PRE="SELECT 1"
done
# Peak backend memory (VmHWM of a fresh backend) for each, serial, on the widest input.
for c in ara_estimate builtin count; do
  case $c in
    ara_estimate) sql="SELECT ara_estimate(v) FROM bench.m_wide" ;;
    builtin) sql="SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM bench.m_wide" ;;
    count) sql="SELECT count(v) FROM bench.m_wide" ;;
  esac
  kb=$(q -c "SET max_parallel_workers_per_gather = 0" -c "$sql" -c "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s+(\d+)')" | tail -1)
  record memory "peak backend memory (VmHWM, MB), $AGG_ROWS values" "$c" 1 "round($kb / 1024.0, 1)"
done
# The GROUP BY over 2,000 large groups at work_mem = 4MB: the backend's own peak (VmHWM less the
# shared buffers it mapped), interleaved and group after group, and what EXPLAIN ANALYZE says the
# hash aggregate held (PostgreSQL's count of the states' memory) and how many batches it took.
for t in m_big_groups m_big_clustered; do
  for c in ara_estimate builtin count; do
    case $c in
      ara_estimate) e="ara_estimate(v)" ;;
      builtin) e="cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint)" ;;
      count) e="count(v)" ;;
    esac
    sql="SELECT max(e) FROM (SELECT g, $e AS e FROM bench.$t GROUP BY g) s"
    kb=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SET work_mem = '4MB'" -c "$sql" \
      -c "SELECT substring(s FROM 'VmHWM:\s+(\d+)')::bigint - substring(s FROM 'RssShmem:\s+(\d+)')::bigint FROM pg_read_file('/proc/self/status') s" | tail -1)
    shape=$([ $t = m_big_groups ] && echo interleaved || echo "group after group")
    record memory "GROUP BY $brows rows / $bgroups groups, $shape, work_mem 4MB: own peak of the backend (MB)" "$c" 1 "round($kb / 1024.0, 1)"
  done
  plan=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SET work_mem = '4MB'" \
    -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT g, ara_estimate(v) FROM bench.$t GROUP BY g")
  say "ara_estimate, GROUP BY over bench.$t at work_mem 4MB: $(grep -m1 -E 'Aggregate' <<<"$plan" | sed 's/ *(.*//;s/^ *//'), $(grep -m1 -oE 'Batches: [0-9]+ +Memory Usage: [0-9]+kB' <<<"$plan" || echo 'no hash table')"
  mem=$(grep -m1 -oE 'Memory Usage: [0-9]+kB' <<<"$plan" | grep -oE '[0-9]+' || echo 0)
  record memory "GROUP BY $brows rows / $bgroups groups, $shape, work_mem 4MB: memory of the hash aggregate as EXPLAIN counts it (MB)" ara_estimate 1 "round($mem / 1024.0, 1)"
done
fi

if want lookup; then
say "3. the lookup"
lookup_run() {   # lookup_run NAME SCRIPT REP
  rm -f "$work"/pgbench_log.*
  (cd "$work" && "$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -l -f "$work/$2" "$DB" >"$work/lookup.out" 2>&1)
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$work/lookup.out")
  # The per-transaction log: column 3 is the latency in microseconds.
  read -r p50 p99 < <(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n \
    | awk '{v[NR] = $1} END {print v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000}')
  record lookup "ms per 1000 lookups (2 clients)" "$1" "$3" "round(1000000 / $tps, 1)"
  record lookup "p50 latency, ms" "$1" "$3" "$p50"
  record lookup "p99 latency, ms" "$1" "$3" "$p99"
}
for ((rep = 1; rep <= REPS; rep++)); do
  lookup_run "flotilla_query_no_index" flotilla.sql $rep
done
# The indexes ara_index_sql() gives once the table has a right_size choice (the OOM runs' and the
# peaks'); the choice is then withdrawn, so that ara_resources_with_index is Flotilla's policy and
# the right_size contender asks for its policy in the call.
q -c "SELECT ara_set_policy('bench.lookup_task', 'right_size')" >/dev/null 2>&1
q -c "SELECT ara_index_sql('bench.lookup_task')" | while read -r stmt; do q -c "$stmt"; done
q -c "SELECT ara_set_policy('bench.lookup_task', 'oom')" >/dev/null
q -c "VACUUM ANALYZE bench.lookup_task"
for ((rep = 1; rep <= REPS; rep++)); do
  case $((rep % 4)) in 1) order=(ind ara rs cs) ;; 2) order=(ara rs cs ind) ;; 3) order=(rs cs ind ara) ;; *) order=(cs ind ara rs) ;; esac
  for o in "${order[@]}"; do
    case $o in
      ind) lookup_run "flotilla_query_with_index" flotilla.sql $rep ;;
      ara) lookup_run "ara_resources_with_index" ara_resources.sql $rep ;;
      rs) lookup_run "ara_resources_right_size" ara_resources_right_size.sql $rep ;;
      cs) lookup_run "ara_resources_censored" ara_resources_censored.sql $rep ;;
    esac
  done
done
fi

if want backfill; then
say "4. the backfill"
for ((rep = 1; rep <= REPS; rep++)); do
  # Make both tables wrong again (the description hash), then repair them.
  # Both tables are enabled (ara_backfill requires it, and a user repairing by hand would have the
  # trigger too): both contenders pay the trigger on each rewritten row.
  for t in backfill_a backfill_b; do
    q -c "ALTER TABLE bench.$t DISABLE TRIGGER USER" -c "UPDATE bench.$t SET command_hash = md5(description)" \
      -c "ALTER TABLE bench.$t ENABLE TRIGGER USER" >/dev/null
  done
  q -c "DELETE FROM ara_backfill_progress" -c "VACUUM bench.backfill_a" -c "VACUUM bench.backfill_b" -c "CHECKPOINT" >/dev/null
  single_update() {
    ms=$(q -c "SELECT bench.time_ms('UPDATE bench.backfill_b SET command_hash = command_hash(command, description) WHERE command_hash IS DISTINCT FROM command_hash(command, description)')")
    record backfill "repair $BACKFILL_ROWS rows (total ms; both tables enabled)" single_update "$rep" "$ms"
  }
  backfill() {
    start=$(date +%s.%N)
    "$PG_BIN/psql" -X -q -d "$DB" -c "CALL ara_backfill('bench.backfill_a', batch_size => 10000)" 2>&1 \
      | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done >"$work/backfill.log"
    end=$(date +%s.%N)
    record backfill "repair $BACKFILL_ROWS rows (total ms; both tables enabled)" ara_backfill "$rep" "round(($end - $start) * 1000, 1)"
    longest=$(awk -v s="$start" '/rows done/ {d = $1 - prev; if (prev == 0) d = $1 - s; if (d > m) m = d; prev = $1} END {printf "%.1f", m * 1000}' "$work/backfill.log")
    record backfill "longest batch (ms; a batch holds its row locks this long)" ara_backfill "$rep" "$longest"
  }
  # The two alternate which goes first.
  if [ $((rep % 2)) = 1 ]; then single_update; backfill; else backfill; single_update; fi
  [ "$(q -c "SELECT rows_out_of_line FROM ara_hash_mismatches('bench.backfill_a')")" = 0 ] || say "WARNING: backfill left rows"
done
fi

if want metrics; then
say "5. the metrics scrape: ara_metrics() on tables of 2,000 runs an hour, one as large as the lookup's and one a fifth of it"
for n in "$LOOKUP_ROWS" $((LOOKUP_ROWS / 5)); do
  t="bench.metrics_task_$n"
  # n runs, one every 1.8 s up to now (2,000 an hour), 2% OOM-killed, 200 definitions x 5 commands,
  # hashed by command (as the trigger writes them); Flotilla's (queued_at, status, engine) index and
  # the lookup index; pg_ara enabled.
  q <<SQL >/dev/null
CREATE TABLE $t (LIKE bench.task_template INCLUDING ALL);
INSERT INTO $t (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason, engine,
                queued_at, started_at, finished_at, status)
SELECT 'r' || i, 'def-' || (i % 200), 'python3 job.py --shard ' || (i / 200 % 5), 'Job ' || (i % 200),
       md5('python3 job.py --shard ' || (i / 200 % 5)), 1024 + (i * 37) % 30000, 250 + (i * 13) % 8000,
       CASE WHEN i % 50 = 0 THEN 137 ELSE 0 END, CASE WHEN i % 50 = 0 THEN 'OOMKilled' END, 'eks',
       now() - i * interval '1.8 seconds', now() - i * interval '1.8 seconds' + interval '1 minute',
       now() - i * interval '1.8 seconds' + interval '20 minutes', 'STOPPED'
FROM generate_series(1, $n) i;
CREATE INDEX ON $t (queued_at, status, engine);
SELECT ara_enable('$t');
SQL
  q -c "SELECT ara_index_sql('$t')" | while read -r stmt; do q -c "$stmt"; done
  q -c "VACUUM ANALYZE $t"
  echo "SELECT * FROM ara_metrics('$t');" >"$work/metrics.sql"
  for ((rep = 1; rep <= REPS; rep++)); do
    rm -f "$work"/pgbench_log.*
    (cd "$work" && "$PG_BIN/pgbench" -n -c 1 -T "$SECONDS_PER_RUN" -l -f "$work/metrics.sql" "$DB" >"$work/metrics.out" 2>&1)
    read -r p50 p99 < <(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n \
      | awk '{v[NR] = $1} END {print v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000}')
    record metrics "ara_metrics() per scrape at 2,000 runs an hour: p50, ms" "$n runs" "$rep" "$p50"
    record metrics "ara_metrics() per scrape at 2,000 runs an hour: p99, ms" "$n runs" "$rep" "$p99"
  done
  say "$(q -c "SELECT 'ara_metrics(''$t''): ' || runs || ' runs in the last hour, ' || runs_with_history || ' with history' FROM ara_metrics('$t')")"
done
fi

sim_runs=$((ROWS * 3 / 10)); [ "$MODE" = quick ] && sim_runs=60000
# The replay's runs, made once (the replay's section and the edition's): 30 days of runs, 37
# definitions x 11 commands + some unhashed, 20% OOM-killed, peaks and runtimes, several runs at the
# same instant (what the replay groups).
sim_fixture() {
  [ "$(q -c "SELECT to_regclass('bench.sim_task') IS NOT NULL")" = f ] || return 0
  q <<SQL >/dev/null
CREATE TABLE bench.sim_task (LIKE bench.task_template INCLUDING ALL);
INSERT INTO bench.sim_task (run_id, definition_id, command, command_hash, memory, cpu, exit_code, exit_reason, engine,
                            queued_at, started_at, finished_at, max_memory_used, status)
SELECT 'r' || lpad(i::text, 7, '0'), 'def-' || (i % 37), 'cmd ' || (i % 11),
       CASE WHEN i % 97 = 0 THEN NULL ELSE md5('cmd ' || (i % 11)) END, 512 + (hashint4(i) & 32767), 500,
       CASE WHEN hashint4(i * 7) % 5 = 0 THEN 137 WHEN hashint4(i * 3) % 9 = 0 THEN 1 ELSE 0 END,
       CASE WHEN i % 41 = 0 THEN 'OOMKilled' END, 'eks', q, q + interval '1 minute',
       q + interval '1 minute' + ((hashint4(i * 5) & 4095) || ' seconds')::interval,
       256 + (hashint4(i * 11) & 16383), 'STOPPED'
FROM generate_series(1, $sim_runs) i,
LATERAL (SELECT timestamptz '2026-10-20 00:00+00' + ((i / 3) * 97 % 2592000) * interval '1 second' AS q) qq;
VACUUM ANALYZE bench.sim_task;
SQL
}

if want simulate; then
say "6. the replay: ara_simulate() over 300,000 runs (quick: 60,000): the baseline alone, 0.7.0's grid of 12, each peer and the censored policy beside the baseline, the whole comparison of 18 in one pass; ara_tune()"
sim_fixture
grid_12="(SELECT jsonb_agg(g) FROM jsonb_array_elements(ara_internal.ara_policy_grid()) g WHERE coalesce(g->>'feed', 'oom') IN ('oom', 'peaks', 'both'))"
for ((rep = 1; rep <= REPS; rep++)); do
  timed simulate "ara_simulate() over $sim_runs runs" $rep "" \
    baseline_only="SELECT * FROM ara_simulate(policies => '[]', tbl => 'bench.sim_task')" \
    grid_12_of_0.7.0="SELECT * FROM ara_simulate(policies => $grid_12, tbl => 'bench.sim_task')" \
    vpa_per_definition="SELECT * FROM ara_simulate(policies => '[{\"feed\": \"vpa\"}]', tbl => 'bench.sim_task')" \
    vpa_per_key="SELECT * FROM ara_simulate(policies => '[{\"feed\": \"vpa\", \"group\": \"key\"}]', tbl => 'bench.sim_task')" \
    krr="SELECT * FROM ara_simulate(policies => '[{\"feed\": \"krr\"}]', tbl => 'bench.sim_task')" \
    retry="SELECT * FROM ara_simulate(policies => '[{\"feed\": \"retry\"}]', tbl => 'bench.sim_task')" \
    censored="SELECT * FROM ara_simulate(policies => '[{\"feed\": \"censored\"}]', tbl => 'bench.sim_task')" \
    whole_comparison_18="SELECT * FROM ara_simulate(tbl => 'bench.sim_task')"
  timed simulate "ara_tune() over $sim_runs runs (baseline, 15 right_size and censored, 3 peers; per definition)" $rep "" \
    ara_tune="SELECT * FROM ara_tune('-infinity', 'infinity', 'bench.sim_task')" \
    ara_tune_frontier="SELECT * FROM ara_tune_frontier('-infinity', 'infinity', 'bench.sim_task')"
done
fi

if want edition; then
say "7. the SQL edition (docs/managed.md) beside the compiled extension, each in its own database of this server"
# The edition's plain script: the same SQL and PL/pgSQL functions pg_tle creates from its installer
# (pg_tle stores the script and runs it at CREATE EXTENSION; calls do not pass through it). A server
# cannot hold both editions under one name, hence the second database; the fixtures are copied into it
# (pg_dump), so both read the same rows.
EDB=ara_bench_edition
eq() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$EDB" "$@"; }
dbq() { if [ "$1" = edition ]; then shift; eq "$@"; else shift; q "$@"; fi; }   # dbq CONTENDER psql-args
PG_ARA_DIST="$work/dist" bash scripts/edition.sh >/dev/null 2>&1
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
"$PG_BIN/psql" -X -q -d postgres -c "CREATE DATABASE $EDB" -c "ALTER DATABASE $EDB SET search_path = \"\$user\", public, ara"
eq -c "SET client_min_messages = warning" -f "$work/dist/pg_ara-$version-plain.sql" >/dev/null
sim_fixture
eq -c "CREATE SCHEMA bench" -c "$(sed -n '/^CREATE FUNCTION bench.time_ms/,/^END \$\$;/p' scripts/bench_setup.sql)"
"$PG_BIN/pg_dump" -d "$DB" --no-owner -t bench.task_template -t bench.lookup_task -t bench.m_20k -t bench.sim_task | eq >/dev/null
eq <<'SQL' >/dev/null
CREATE TABLE bench.task_edition (LIKE bench.task_template INCLUDING ALL) WITH (autovacuum_enabled = off);
CREATE TABLE bench.one_edition (LIKE bench.task_template INCLUDING ALL) WITH (autovacuum_enabled = off);
SELECT ara_enable('bench.task_edition'), ara_enable('bench.one_edition');
SQL
# The lookup's indexes, as ara_index_sql() gives them, in both (as in section 3).
for db in extension edition; do
  dbq $db -c "SELECT ara_set_policy('bench.lookup_task', 'right_size')" >/dev/null 2>&1
  dbq $db -c "SELECT ara_index_sql('bench.lookup_task')" | while read -r stmt; do dbq $db -c "$stmt"; done
  dbq $db -c "SELECT ara_set_policy('bench.lookup_task', 'oom')" >/dev/null
  dbq $db -c "VACUUM ANALYZE bench.lookup_task" -c "VACUUM ANALYZE bench.sim_task" -c "VACUUM ANALYZE bench.m_20k"
done
# Each contender: its database and its table (none and the extension in the first, the edition in its own).
table_of() { case $1 in none) echo bench.task_none ;; extension) echo bench.task_pg_ara ;; edition) echo bench.task_edition ;; esac; }
one_of() { case $1 in none) echo bench.one_none ;; extension) echo bench.one_pg_ara ;; edition) echo bench.one_edition ;; esac; }
db_of() { [ "$1" = edition ] && echo "$EDB" || echo "$DB"; }
ED_CONTENDERS=(none extension edition)
for c in "${ED_CONTENDERS[@]}"; do sed "s/bench\.one_@/$(one_of "$c")/" "$work/insert.sql" >"$work/ed-insert.sql.$c"; done
ed_timed() {   # ed_timed ITEM REP SETUP_SQL CONTENDER=SQL ...: as timed(), each contender in its database
  local item=$1 rep=$2 setup=$3; shift 3
  local pairs=("$@") n=$# i k name sql ms
  for ((i = 0; i < n; i++)); do
    k=$(( (i + rep) % n )); name=${pairs[$k]%%=*}; sql=${pairs[$k]#*=}
    [ -z "$setup" ] || dbq "$name" -c "${setup//@/$(table_of "$name")}" >/dev/null
    ms=$(dbq "$name" -c "$PRE" -c "SELECT bench.time_ms(\$bench\$${sql//@/$(table_of "$name")}\$bench\$)" | tail -1)
    record edition "$item" "$name" "$rep" "$ms"
  done
}
for ((rep = 1; rep <= REPS; rep++)); do
  PRE="SELECT 1"
  copy="COPY @ FROM '$work/staging.csv' WITH (FORMAT csv)"
  ed_timed "trigger: COPY of $ROWS rows" $rep "TRUNCATE @" none="$copy" extension="$copy" edition="$copy"
  for ((i = 0; i < 3; i++)); do
    c=${ED_CONTENDERS[$(( (i + rep) % 3 ))]}
    dbq "$c" -c "TRUNCATE $(one_of "$c")" -c "CHECKPOINT" >/dev/null
    tps=$("$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$work/ed-insert.sql.$c" "$(db_of "$c")" 2>/dev/null \
      | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
    record edition "trigger: single-row INSERT, 2 clients (ms per 1000 tx)" "$c" "$rep" "round(1000000 / $tps, 1)"
  done
  PRE="SET max_parallel_workers_per_gather = 0"
  agg="SELECT ara_estimate(v) FROM bench.m_20k"
  ed_timed "aggregate: ara_estimate(v) over bench.m_20k ($(q -c "SELECT count(*) FROM bench.m_20k") values), serial" $rep "" \
    builtin="SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM bench.m_20k" \
    extension="$agg" edition="$agg"
  gagg="SELECT g, ara_estimate(v, 0.99, 1.75) FROM (SELECT v, v % 2000 AS g FROM bench.m_20k) s GROUP BY g"
  ed_timed "aggregate: ara_estimate(v, 0.99, 1.75) GROUP BY 2000 groups of bench.m_20k, serial" $rep "" \
    builtin="SELECT g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) FROM (SELECT v, v % 2000 AS g FROM bench.m_20k) s GROUP BY g" \
    extension="$gagg" edition="$gagg"
  PRE="SELECT 1"
  grid_12="(SELECT jsonb_agg(g) FROM jsonb_array_elements(ara_internal.ara_policy_grid()) g WHERE coalesce(g->>'feed', 'oom') IN ('oom', 'peaks', 'both'))"
  ed_timed "ara_simulate(): the baseline and the grid of 12 policies both editions replay over $sim_runs runs" $rep "" \
    extension="SELECT * FROM ara_simulate(policies => $grid_12, tbl => 'bench.sim_task')" \
    edition="SELECT * FROM ara_simulate(policies => $grid_12, tbl => 'bench.sim_task')"
done
# The lookup, each in its database, through pgbench as in section 3: Flotilla's query with the index is
# the bar (the edition must be at least as fast as the query it replaces).
lookup_script() {   # the pgbench script of a lookup contender (section 3's, on the same table)
  case $1 in flotilla) echo "$work/flotilla.sql" ;; extension | edition) echo "$work/ara_resources.sql" ;;
             *) echo "$work/ara_resources_right_size.sql" ;; esac
}
for ((rep = 1; rep <= REPS; rep++)); do
  order=(flotilla extension edition right_size_extension right_size_edition)
  for ((i = 0; i < 5; i++)); do
    c=${order[$(( (i + rep) % 5 ))]}
    rm -f "$work"/pgbench_log.*
    (cd "$work" && "$PG_BIN/pgbench" -n -c 2 -j 2 -T "$SECONDS_PER_RUN" -l -f "$(lookup_script "$c")" \
      "$(db_of "${c#right_size_}")" >"$work/ed-lookup.out" 2>&1) || { cat "$work/ed-lookup.out" >&2; exit 1; }
    read -r p50 p99 < <(cat "$work"/pgbench_log.* | awk '{print $3}' | sort -n \
      | awk '{v[NR] = $1} END {print v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000}')
    name=$([ "$c" = flotilla ] && echo flotilla_query_with_index || echo "ara_resources_$c")
    record edition "lookup: p50 latency, ms (2 clients)" "$name" "$rep" "$p50"
    record edition "lookup: p99 latency, ms (2 clients)" "$name" "$rep" "$p99"
  done
done
PRE="SELECT 1"
fi

say "report"
report=$(q -F ' | ' <<'SQL'
WITH med AS (
    SELECT section, item, contender, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS median, count(*) AS reps
    FROM bench.results GROUP BY 1, 2, 3
), base AS (
    SELECT DISTINCT ON (section, item) section, item, median AS base FROM med
    ORDER BY section, item, CASE contender WHEN 'none' THEN 0 WHEN 'c_floor' THEN 1 WHEN 'builtin' THEN 0
                                           WHEN 'correlated_builtin' THEN 0 WHEN 'single_update' THEN 0
                                           WHEN 'flotilla_query_no_index' THEN 0 WHEN 'flotilla_query_with_index' THEN 1
                                           WHEN 'extension' THEN 1 ELSE 2 END, contender
)
SELECT '| ' || m.section, m.item, m.contender, round(m.median::numeric, 1)::text, m.reps::text,
       round((m.median / nullif(b.base, 0))::numeric, 2)::text || ' |'
FROM med m JOIN base b USING (section, item)
ORDER BY array_position(ARRAY['insert', 'aggregate', 'memory', 'lookup', 'backfill', 'metrics', 'simulate', 'edition'], m.section), m.item, m.median;
SQL
)
table=$(
  echo "Measured by \`bash scripts/bench.sh$([ $MODE = quick ] && echo ' --quick')\` on $(date -u +%Y-%m-%d) ($MODE mode: $ROWS insert rows,"
  echo "$AGG_ROWS aggregate rows, $LOOKUP_ROWS lookup rows, $BACKFILL_ROWS backfill rows; $REPS repetitions, contenders"
  echo "alternating; pgbench runs of $SECONDS_PER_RUN s). Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB,"
  echo "$("$PG_BIN/postgres" --version), pg_ara $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (release build)."
  echo "Every figure is a median, in ms unless its row says otherwise (smaller is better; TPS appears as ms per 1000 transactions); \`ratio\` is"
  echo "against the first contender of its row group: no trigger, the built-in, Flotilla's query, the single UPDATE."
  echo "These machines are shared and noisy: read the ratios, not the absolute figures."
  echo
  echo "| section | measurement | contender | median | reps | ratio |"
  echo "|---|---|---|---|---|---|"
  echo "$report"
)
if [ -n "${PG_ARA_BENCH_ONLY:-}" ]; then
  echo "$table"
  exit 0
fi
# Each mode and major has its own table: the full run on 15 between "<!-- bench:begin -->" and
# "<!-- bench:end -->", any other between "<!-- bench:MODE-pgN:begin -->" and its end line (a new
# section at the end of the file the first time).
if [ "$MODE" = full ] && [ "$PG_MAJOR" = 15 ]; then tag=bench; else tag="bench:$MODE-pg$PG_MAJOR"; fi
[ -f BENCHMARKS.md ] || printf '# pg_ara benchmarks\n' >BENCHMARKS.md
if ! grep -q "^<!-- $tag:begin -->\$" BENCHMARKS.md; then
  printf '\n## %s run on PostgreSQL %s\n\n<!-- %s:begin -->\n<!-- %s:end -->\n' \
    "$([ "$MODE" = quick ] && echo Quick || echo Full)" "$PG_MAJOR" "$tag" "$tag" >>BENCHMARKS.md
fi
TABLE="$table" TAG="$tag" awk '$0 == "<!-- " ENVIRON["TAG"] ":begin -->" {print; print ENVIRON["TABLE"]; skip = 1; next}
                               $0 == "<!-- " ENVIRON["TAG"] ":end -->" {skip = 0} !skip' BENCHMARKS.md >BENCHMARKS.md.tmp
mv BENCHMARKS.md.tmp BENCHMARKS.md
cat BENCHMARKS.md
