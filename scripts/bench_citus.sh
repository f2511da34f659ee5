#!/usr/bin/env bash
# The estimate on Citus: what reaches the coordinator, and how long it takes, for a history of
# PG_ARA_BENCH_CITUS_ROWS runs (default 10,000,000) in a table distributed by run_id over two
# workers (a coordinator and two workers on loopback, started here; Citus built from the vendored
# source, scripts/citus.sh), against the same rows distributed by definition_id (every key on one
# shard: Citus runs any aggregate grouped by it whole on the workers) and in a plain table on one node:
#   - per ARA key (GROUP BY definition_id, command_hash: not the distribution column) and over the
#     whole table;
#   - ara_estimate(memory), whose internal state Citus cannot split (every row is shipped), the
#     built-in percentile_disc expression (likewise), the two-step ara_estimate(ara_counts(memory))
#     (each shard sends one multiset per group) and count(memory) (split by Citus itself: the floor);
#   - rows and data received by the coordinator, from EXPLAIN ANALYZE of the Citus scan.
# Each contender REPS times (PG_ARA_BENCH_REPS, default 3), in rotated order; medians. A script that
# prints measured figures, never a timed assertion. The table goes to BENCHMARKS.md between
# "<!-- bench:citus:begin -->" and "<!-- bench:citus:end -->" (PG_ARA_BENCH_NO_WRITE=1: printed only).
#   bash scripts/bench_citus.sh                          10M rows, PostgreSQL 18 (about 7 minutes on 2 cores)
#   PG_ARA_BENCH_CITUS_ROWS=1000000 bash scripts/bench_citus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${PG_ARA_BENCH_CITUS_ROWS:-10000000}
REPS=${PG_ARA_BENCH_REPS:-3}
export PG_MAJOR=${PG_MAJOR:-18}
PG_ARA_MAJORS=$PG_MAJOR bash scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh
source scripts/citus.sh
say() { printf '[bench-citus] %s\n' "$*" >&2; }
citus_supported "$PG_MAJOR" || { say "Citus $PG_ARA_CITUS_VERSION does not support PostgreSQL $PG_MAJOR"; exit 1; }
citus_tarball >/dev/null || { say "the Citus $PG_ARA_CITUS_VERSION source was not found (scripts/citus.sh)"; exit 1; }
citus_install "$PG_CONFIG"

say "building and installing pg_ara (release) into PostgreSQL $PG_MAJOR"
read -ra features <<<"$(pgrx_features "$PG_MAJOR")"
log=$(mktemp "${TMPDIR:-/tmp}/pg_ara-bench-citus.XXXXXX")
cargo pgrx install --release --pg-config "$PG_CONFIG" "${features[@]}" >"$log" 2>&1 || { tail -30 "$log" >&2; exit 1; }
rm -f "$log"
PORT=${PG_ARA_BENCH_CITUS_PORT:-54960}
trap citus_cluster_stop EXIT
citus_cluster_start bench-citus "$PORT" "-c shared_buffers=1GB -c work_mem=64MB -c max_wal_size=8GB -c max_parallel_workers_per_gather=0"
q() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }

say "loading $ROWS runs into a plain table and a table distributed by run_id"
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pg_ara;
CREATE SCHEMA bench;
CREATE FUNCTION bench.time_ms(sql text) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE sql;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1);
END \$\$;
-- What the coordinator received: the Citus scan's rows and its "Tuple data received from nodes".
CREATE FUNCTION bench.received(sql text, OUT rows_received bigint, OUT data_received text) LANGUAGE plpgsql AS \$\$
DECLARE plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || sql INTO plan;
    SELECT sum((x->>'Actual Rows')::numeric)::bigint INTO rows_received
      FROM jsonb_path_query(plan, 'strict \$.**') x
     WHERE jsonb_typeof(x) = 'object' AND x->>'Node Type' = 'Custom Scan';
    SELECT max(x->>'Tuple data received from nodes') INTO data_received
      FROM jsonb_path_query(plan, 'strict \$.**') x
     WHERE jsonb_typeof(x) = 'object' AND x ? 'Tuple data received from nodes';
END \$\$;
CREATE TABLE bench.results (measurement text, contender text, rep int, ms numeric, rows_received bigint, data_received text);
-- 2,000 definitions x 10 commands = 20,000 ARA keys of ~$((ROWS / 20000)) runs each; memory in
-- steps of 64 MB around a per-key size (a few hundred distinct values), as requests are.
CREATE TABLE bench.runs_local (run_id bigint, definition_id text, command_hash text, memory int);
INSERT INTO bench.runs_local
SELECT i, 'def-' || (i % 2000), md5('python3 job.py --shard ' || (i / 2000 % 10)),
       1024 * (1 + (i % 2000) % 16) + 64 * (hashint8(i) & 63)
FROM generate_series(1, $ROWS) i;
CREATE TABLE bench.runs (LIKE bench.runs_local);
SELECT create_distributed_table('bench.runs', 'run_id');
INSERT INTO bench.runs SELECT * FROM bench.runs_local;
-- The same rows distributed by definition_id (the recommended column: every key on one shard).
CREATE TABLE bench.runs_by_def (LIKE bench.runs_local);
SELECT create_distributed_table('bench.runs_by_def', 'definition_id');
INSERT INTO bench.runs_by_def SELECT * FROM bench.runs_local;
VACUUM ANALYZE bench.runs_local;
VACUUM ANALYZE bench.runs;
VACUUM ANALYZE bench.runs_by_def;
SQL
keys=$(q -c "SELECT count(*) FROM (SELECT DISTINCT definition_id, command_hash FROM bench.runs_local) k")
distinct=$(q -c "SELECT count(DISTINCT memory) FROM bench.runs_local")
shards=$(q -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'bench.runs'::regclass")

# Every contender must give the built-in's answers (checked once, before timing).
same=$(q -c "SELECT count(*) FROM (
  SELECT definition_id, command_hash, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs_local GROUP BY 1, 2
  EXCEPT SELECT definition_id, command_hash, ara_estimate(ara_counts(memory), 0.99, 1.75) FROM bench.runs GROUP BY 1, 2) d")
[ "$same" = 0 ] || { say "ara_estimate(ara_counts(...)) on the distributed table differs from the built-in on $same keys"; exit 1; }

# measure MEASUREMENT REP NAME=SQL ...: rotated order; for queries on the distributed table, the
# rows and data the coordinator received (EXPLAIN ANALYZE of the Citus scan, a separate run).
measure() {
  local m=$1 rep=$2; shift 2
  local pairs=("$@") n=$# i k name sql ms received
  for ((i = 0; i < n; i++)); do
    k=$(( (i + rep) % n )); name=${pairs[$k]%%=*}; sql=${pairs[$k]#*=}
    ms=$(q -c "SELECT bench.time_ms(\$b\$$sql\$b\$)")
    received="NULL, NULL"
    if [ "$rep" = 1 ] && [[ "$sql" != *"bench.runs_local"* ]]; then
      received="(r).rows_received, (r).data_received FROM (SELECT bench.received(\$b\$$sql\$b\$) r) x"
    fi
    q -c "INSERT INTO bench.results SELECT \$b\$$m\$b\$, '$name', $rep, $ms, $received"
  done
}
say "timing ($REPS repetitions)"
for ((rep = 1; rep <= REPS; rep++)); do
  measure "Citus, per key ($keys groups)" $rep \
    ara_estimate="SELECT definition_id, command_hash, ara_estimate(memory) FROM bench.runs GROUP BY 1, 2" \
    builtin="SELECT definition_id, command_hash, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs GROUP BY 1, 2" \
    "ara_estimate(ara_counts)=SELECT definition_id, command_hash, ara_estimate(ara_counts(memory)) FROM bench.runs GROUP BY 1, 2" \
    count="SELECT definition_id, command_hash, count(memory) FROM bench.runs GROUP BY 1, 2"
  measure "Citus, whole table" $rep \
    ara_estimate="SELECT ara_estimate(memory) FROM bench.runs" \
    builtin="SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs" \
    "ara_estimate(ara_counts)=SELECT ara_estimate(ara_counts(memory)) FROM bench.runs" \
    count="SELECT count(memory) FROM bench.runs"
  measure "Citus by definition_id, per key ($keys groups)" $rep \
    ara_estimate="SELECT definition_id, command_hash, ara_estimate(memory) FROM bench.runs_by_def GROUP BY 1, 2" \
    builtin="SELECT definition_id, command_hash, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs_by_def GROUP BY 1, 2" \
    "ara_estimate(ara_counts)=SELECT definition_id, command_hash, ara_estimate(ara_counts(memory)) FROM bench.runs_by_def GROUP BY 1, 2" \
    count="SELECT definition_id, command_hash, count(memory) FROM bench.runs_by_def GROUP BY 1, 2"
  measure "one node, serial, per key ($keys groups)" $rep \
    ara_estimate="SELECT definition_id, command_hash, ara_estimate(memory) FROM bench.runs_local GROUP BY 1, 2" \
    builtin="SELECT definition_id, command_hash, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs_local GROUP BY 1, 2" \
    "ara_estimate(ara_counts)=SELECT definition_id, command_hash, ara_estimate(ara_counts(memory)) FROM bench.runs_local GROUP BY 1, 2" \
    count="SELECT definition_id, command_hash, count(memory) FROM bench.runs_local GROUP BY 1, 2"
  measure "one node, serial, whole table" $rep \
    ara_estimate="SELECT ara_estimate(memory) FROM bench.runs_local" \
    builtin="SELECT cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS bigint) FROM bench.runs_local" \
    "ara_estimate(ara_counts)=SELECT ara_estimate(ara_counts(memory)) FROM bench.runs_local" \
    count="SELECT count(memory) FROM bench.runs_local"
done

table=$(mktemp)
{
  echo "Measured by \`bash scripts/bench_citus.sh\` on $(date -u +%Y-%m-%d): $ROWS runs ($keys ARA keys, $distinct distinct"
  echo "memory values), PostgreSQL $("$PG_CONFIG" --version | cut -d' ' -f2) with Citus $PG_ARA_CITUS_VERSION, a coordinator and two workers on one machine"
  echo "($(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB), the table distributed by run_id in $shards shards (\"Citus by definition_id\": the same rows distributed by"
  echo "definition_id), pg_ara $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (release build);"
  echo "\"one node\": the same rows in a plain table on the coordinator. Medians of $REPS runs, contenders in rotated order; ratio"
  echo "against ara_estimate(memory) in its row group; rows and data: what the coordinator received from the workers"
  echo "(EXPLAIN ANALYZE of the Citus scan)."
  echo
  echo "| measurement | contender | median ms | reps | ratio | rows to the coordinator | data to the coordinator |"
  echo "|---|---|---|---|---|---|---|"
  q -F '|' <<'SQL' | sed 's/|/ | /g; s/^/| /; s/$/ |/'
SELECT r.measurement, r.contender, percentile_disc(0.5) WITHIN GROUP (ORDER BY r.ms), count(*),
       round(percentile_disc(0.5) WITHIN GROUP (ORDER BY r.ms)
             / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY b.ms) FROM bench.results b
                 WHERE b.measurement = r.measurement AND b.contender = 'ara_estimate'), 2),
       coalesce(to_char(max(r.rows_received), 'FM999,999,999,999'), '-'), coalesce(max(r.data_received), '-')
FROM bench.results r GROUP BY r.measurement, r.contender
ORDER BY r.measurement LIKE 'one node%', r.measurement LIKE 'Citus by%', r.measurement, 3;
SQL
} >"$table"
cat "$table"
if [ "${PG_ARA_BENCH_NO_WRITE:-}" != 1 ]; then
  python3 - "$table" <<'EOF'
import sys, re
table = open(sys.argv[1]).read().rstrip("\n")
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench:citus:begin -->", "<!-- bench:citus:end -->"
if begin in text:
    text = re.sub(re.escape(begin) + ".*?" + re.escape(end), begin + "\n" + table + "\n" + end, text, flags=re.S)
else:
    text = text.rstrip("\n") + "\n\n## The estimate on Citus (0.6.0)\n\n" + begin + "\n" + table + "\n" + end + "\n"
open(path, "w").write(text)
EOF
  say "BENCHMARKS.md updated"
fi
