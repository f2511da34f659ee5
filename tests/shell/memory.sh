#!/usr/bin/env bash
# Memory PostgreSQL counts: ara_estimate's states are palloc'd in the aggregate's memory context,
# so a hashed GROUP BY over many groups of many distinct values spills to disk by the memory the
# states really take and stays within work_mem x hash_mem_multiplier, as built-in aggregates do.
#
# The data: 1,000 groups of 2,000 runs, ~2,000 distinct values each over 1..1,000,003 (a state of
# ~40 kB, 40 MB for all of them), written group after group (definitions that run for a while, as a
# time-ordered task table has them): hash aggregation checks its memory each time it creates a
# group, so it sees the states grow. work_mem = 4MB, hash_mem_multiplier = 2 (8 MB).
# Measured in each case, in a fresh backend: its own peak memory (/proc/self/status) after the
# query, against the same query with count() (same scan, same plan shape); EXPLAIN
# ANALYZE's batches and memory; and the answers against the built-in percentile_disc.
# Before 0.3.2 the states were Rust allocations PostgreSQL did not see: with them there (and 0.3.1's
# hash-map states) this test's hash aggregate did not spill and the backend held ~70 MB more than
# count()'s.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster.sh
DB=ara_memory
fail() { echo "FAILED: $*"; exit 1; }
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
psql_db <<'SQL'
CREATE EXTENSION pg_ara;
CREATE TABLE m (g int, v bigint);
INSERT INTO m SELECT i / 2000, 1 + (hashint8(i)::bigint + 2147483648) % 1000003 FROM generate_series(0, 1999999) i;
-- The same rows in 5,000 groups of 400: past 1,024 groups the transition defers its rows to a log
-- applied sorted by state (src/core/deferred.rs), which must be memory PostgreSQL counts too.
CREATE TABLE m5000 AS SELECT i / 400 AS g, v FROM (SELECT row_number() OVER () - 1 AS i, v FROM m) s;
ANALYZE m, m5000;
SELECT count(*) FROM m;   -- the tables in shared buffers before anything is measured
SELECT count(*) FROM m5000;
SQL

SETTINGS="SET work_mem = '4MB'; SET hash_mem_multiplier = 2; SET enable_sort = off; SET jit = off;"
SERIAL="SET max_parallel_workers_per_gather = 0;"
PARALLEL="SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
          SET min_parallel_table_scan_size = 0; SET parallel_leader_participation = off;"
HASH_MEM=$((8 * 1024))   # kB

# peak_kb MODE AGG: the peak of a fresh backend's own memory (kB) after it ran the GROUP BY with
# AGG in MODE: its peak resident size (VmHWM) less the shared buffers it mapped (RssShmem, which
# only grows, and depends on how much of the table this backend scanned). The outer max() uses the
# aggregate's column, so the planner cannot drop it.
peak_kb() {
  psql_db -At <<SQL | tail -1
$SETTINGS $1
SELECT max(e) FROM (SELECT g, $2 AS e FROM $T GROUP BY g) s;
SELECT substring(s FROM 'VmHWM:\s*(\d+)')::bigint - substring(s FROM 'RssShmem:\s*(\d+)')::bigint
FROM pg_read_file('/proc/self/status') s;
SQL
}

# explain MODE AGG: the plan with its memory lines.
explain() {
  psql_db -At <<SQL
$SETTINGS $1
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT g, $2 AS e FROM $T GROUP BY g;
SQL
}

# check_mode LABEL MODE FACTOR: the GROUP BY in MODE stays within FACTOR x hash_mem of count().
check_mode() {
  local label=$1 mode=$2 factor=$3 plan base ara over mem
  plan=$(explain "$mode" "ara_estimate(v)")
  grep -q "HashAggregate" <<<"$plan" || fail "$label: not a hashed GROUP BY: $plan"
  # Every hash aggregate of the plan (the leader's and each worker's lines) spilled, and none said
  # it held more than a small factor of hash_mem.
  mem=$(grep -oE "Memory Usage: [0-9]+kB" <<<"$plan" | grep -oE "[0-9]+" | sort -n | tail -1)
  grep -qE "Batches: ([2-9]|[1-9][0-9]+)" <<<"$plan" || fail "$label: the hash aggregate never spilled: $plan"
  [ "$mem" -ge $((HASH_MEM / 2)) ] || fail "$label: EXPLAIN says at most ${mem} kB: the states' memory is not counted"
  [ "$mem" -le $((factor * HASH_MEM)) ] || fail "$label: EXPLAIN says ${mem} kB, over $factor x hash_mem"
  base=$(peak_kb "$mode" "count(v)")
  ara=$(peak_kb "$mode" "ara_estimate(v)")
  over=$((ara - base))
  echo "   $label: peak ${ara} kB with ara_estimate, ${base} kB with count(): +${over} kB; EXPLAIN: up to ${mem} kB, hash_mem ${HASH_MEM} kB"
  [ "$over" -le $((factor * HASH_MEM)) ] || fail "$label: ara_estimate's backend peaked ${over} kB above count()'s, over $factor x hash_mem (${HASH_MEM} kB)"
  # Spilled and re-read, still exactly the built-in's answers.
  local wrong
  wrong=$(psql_db -At <<SQL | tail -1
$SETTINGS $mode
SELECT count(*) FROM (SELECT g, ara_estimate(v) AS e FROM $T GROUP BY g) a
FULL JOIN (SELECT g, cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY v) * 1.75 AS bigint) AS e FROM $T GROUP BY g) b USING (g)
WHERE a.e IS DISTINCT FROM b.e;
SQL
)
  [ "$wrong" = 0 ] || fail "$label: $wrong groups differ from the built-in"
  echo "ok: $label: within $factor x hash_mem of count(), spilled, every group equal to the built-in"
}

T=m
check_mode "serial GROUP BY" "$SERIAL" 3
T=m5000
check_mode "serial GROUP BY, 5,000 groups (deferred transitions)" "$SERIAL" 3
T=m
plan=$(explain "$PARALLEL" "ara_estimate(v)")
grep -q "Partial HashAggregate" <<<"$plan" || fail "no parallel plan: $plan"
[ "$(grep -A1 -E "Worker [0-9]+: " <<<"$plan" | grep -c "Batches:")" -ge 2 ] || fail "the workers did not aggregate: $plan"
# Two workers run the partial aggregation (their EXPLAIN lines are checked); the leader runs the
# final one, measured: it checks its memory when it creates a group and then still adds the other
# worker's partial state to it, one hash_mem more at most.
check_mode "parallel GROUP BY (leader: the final aggregation, measured; workers: their EXPLAIN lines)" "$PARALLEL" 4
T=m5000
check_mode "parallel GROUP BY, 5,000 groups (deferred transitions)" "$PARALLEL" 4

# The declared state size (pg_aggregate.aggtransspace, which the planner sizes hash aggregation
# by) against what a typical group's state measures: 20,000 groups of 30 runs, no spill.
psql_db -c "CREATE TABLE typical AS SELECT i % 20000 AS g, (512 * (1 + i % 7))::bigint AS v FROM generate_series(1, 600000) i"
typical_kb() {
  psql_db -At <<SQL | grep -oE "Memory Usage: [0-9]+kB" | grep -oE "[0-9]+"
SET work_mem = '1GB'; SET enable_sort = off; SET max_parallel_workers_per_gather = 0;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT g, $1 FROM typical GROUP BY g;
SQL
}
declared=$(psql_db -At -c "SELECT aggtransspace FROM pg_aggregate WHERE aggfnoid = 'ara_estimate(bigint)'::regprocedure")
per_group=$(( ($(typical_kb "ara_estimate(v)") - $(typical_kb "count(v)")) * 1024 / 20000 ))
echo "   a group of 30 runs: ${per_group} bytes measured (EXPLAIN, above count()'s), ${declared} declared"
[ "$per_group" -ge $((declared / 2)) ] && [ "$per_group" -le $((declared * 2)) ] \
  || fail "the declared state size ${declared} is not within a factor 2 of the measured ${per_group}"
echo "ok: the declared state size is within a factor 2 of a typical group's measured state"

"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE $DB"
