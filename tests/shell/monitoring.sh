#!/usr/bin/env bash
# Monitoring with the real parts: promtool checks and unit-tests the shipped alert rules; Debian's
# prometheus-postgres-exporter runs on loopback against the test cluster with the shipped custom
# queries (monitoring/postgres_exporter/pg_ara.yaml) as a least-privileged role (pg_monitor and
# SELECT on the table); /metrics is scraped with curl and every pg_ara_* value compared with what
# plain SQL computes on the same rows (not with constants). Then the insert trigger is disabled and
# runs without hash are inserted: the next scrape shows both. Last, a Prometheus server on loopback
# scrapes the exporter with the shipped rules (their `for:` shortened to 0s, nothing else changed)
# and the trigger alert fires through its API.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them),
# and the Debian packages prometheus-postgres-exporter, prometheus (promtool) and curl, which
# scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cluster.sh
DB=ara_monitoring
EXPORTER_PORT=${PG_ARA_EXPORTER_PORT:-26931}
PROMETHEUS_PORT=${PG_ARA_PROMETHEUS_PORT:-26932}
fail() { echo "FAILED: $*"; exit 1; }
for bin in prometheus-postgres-exporter promtool prometheus curl; do
  command -v "$bin" >/dev/null || fail "$bin is not installed (scripts/setup.sh installs it)"
done
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. The rules: valid, and their unit tests pass -------------------------------------------------
promtool check rules monitoring/prometheus/pg_ara.rules.yml || fail "promtool check rules"
(cd monitoring/prometheus && promtool test rules pg_ara.rules.test.yml) || fail "promtool test rules"
echo "ok: promtool check rules and test rules"

# --- 2. A task table with a crafted history --------------------------------------------------------
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" \
  -c "DROP ROLE IF EXISTS ara_exporter" -c "CREATE ROLE ara_exporter LOGIN" -c "GRANT pg_monitor TO ara_exporter"
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
psql_db -c "CREATE EXTENSION pg_ara" -f scripts/flotilla_task.sql
# Two days of runs, none within 5 minutes of the scrape window's edge (an hour ago), written by the
# buggy service (hash = md5(description)); then pg_ara enabled, then the last 50 minutes' runs
# written through the trigger, a few of them at the cap; then a backfill interrupted half-way.
psql_db <<'SQL'
CREATE INDEX task_queued_status_engine ON task (queued_at, status, engine);
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, exit_reason,
                  status, engine, queued_at, started_at, finished_at)
SELECT 'old-' || lpad(i::text, 6, '0'), 'def-' || i % 7, 'python3 job.py --part ' || i % 11,
       CASE WHEN i % 9 = 0 THEN NULL ELSE 'Job ' || i % 3 END,
       md5(CASE WHEN i % 9 = 0 THEN NULL ELSE 'Job ' || i % 3 END),
       1024 * (1 + i % 4), 500, CASE WHEN i % 5 = 0 THEN 137 ELSE 0 END, NULL, 'STOPPED',
       CASE WHEN i % 13 = 0 THEN 'eks-spark' ELSE 'eks' END, q, q + interval '1 minute', q + interval '30 minutes'
FROM generate_series(1, 4000) i, LATERAL (SELECT now() - interval '65 minutes' - i * interval '40 seconds' AS q) s;
SELECT ara_enable('task');
SELECT ara_index_sql('task') \gexec
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, exit_reason, status, engine,
                  queued_at, started_at, finished_at)
SELECT 'new-' || lpad(i::text, 6, '0'), 'def-' || i % 7, 'python3 job.py --part ' || i % 11, 'Job ' || i % 3,
       CASE WHEN i % 50 = 0 THEN 350000 ELSE 1024 * (1 + i % 4) END, 500,
       CASE WHEN i % 6 = 0 THEN 137 ELSE 0 END, CASE WHEN i % 8 = 0 THEN 'OOMKilled' END, 'STOPPED',
       CASE WHEN i % 13 = 0 THEN 'eks-spark' ELSE 'eks' END, q, q + interval '1 minute', q + interval '30 minutes'
FROM generate_series(1, 600) i, LATERAL (SELECT now() - interval '55 minutes' + i * interval '5 seconds' AS q) s;
INSERT INTO ara_backfill_progress (relid, last_key, rows_scanned, rows_changed, updated_at)
VALUES ('task'::regclass, ARRAY['old-002000'], 2000, 1500, now() - interval '20 minutes');
ANALYZE task;
GRANT SELECT ON task TO ara_exporter;
SQL

# --- 3. The exporter, as the monitoring role, with the shipped queries --------------------------------
DATA_SOURCE_NAME="postgresql://ara_exporter@127.0.0.1:${PGPORT}/${DB}?sslmode=disable" \
  prometheus-postgres-exporter --extend.query-path=monitoring/postgres_exporter/pg_ara.yaml \
  --web.listen-address="127.0.0.1:${EXPORTER_PORT}" >"$tmp/exporter.log" 2>&1 &
pids+=($!)
scrape() {
  local i
  for i in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:${EXPORTER_PORT}/metrics" >"$tmp/metrics" 2>/dev/null && grep -q '^pg_ara_runs{' "$tmp/metrics"; then
      return 0
    fi
    sleep 0.3
  done
  cat "$tmp/exporter.log"; fail "no pg_ara metrics from the exporter on 127.0.0.1:${EXPORTER_PORT}"
}
metric() {   # metric NAME: its value for public.task in the last scrape
  sed -n "s/^pg_ara_$1{\(.*,\)\{0,1\}table_name=\"public\.task\"[^}]*} \(.*\)$/\2/p" "$tmp/metrics" | head -1
}
# The figures plain SQL computes on the same rows, in the order of the list below: the runs of the
# last hour, the key each should carry (command_hash(command, description): the trigger's rule), each
# eks run's ARA lookup as of its own queue time through ara_resources() (what the service calls).
names=(registered triggers_present triggers_enabled readable runs runs_without_hash runs_out_of_line oom_runs
       runs_at_memory_cap eligible_runs runs_with_history runs_without_history requested_memory_mb colliding_keys
       backfill_unfinished backfill_rows_done backfill_rows_left)
expected_sql="
WITH r AS (
    SELECT t.*, command_hash(t.command, t.description) AS expected,
           (t.exit_code = 137 OR t.exit_reason = 'OOMKilled') IS TRUE AS oom,
           t.engine = 'eks' AND (SELECT l.oom_runs FROM ara_resources(t.definition_id, t.command_hash, t.queued_at) l) > 0 AS found
    FROM task t WHERE t.queued_at >= now() - interval '1 hour' AND t.queued_at < now())
SELECT (SELECT count(*) FROM ara_tables WHERE table_name = 'task'::regclass),
       (SELECT (count(*) = 2)::int FROM pg_trigger WHERE tgrelid = 'task'::regclass AND tgname LIKE 'ara_command_hash_%'),
       (SELECT (count(*) FILTER (WHERE tgenabled <> 'D') = 2)::int FROM pg_trigger WHERE tgrelid = 'task'::regclass AND tgname LIKE 'ara_command_hash_%'),
       1, count(*), count(*) FILTER (WHERE command_hash IS NULL AND expected IS NOT NULL),
       count(*) FILTER (WHERE command_hash IS DISTINCT FROM expected), count(*) FILTER (WHERE oom),
       count(*) FILTER (WHERE memory >= 350000), count(*) FILTER (WHERE engine = 'eks'),
       count(*) FILTER (WHERE found), count(*) FILTER (WHERE engine = 'eks' AND NOT found), sum(memory),
       (SELECT count(*) FROM (SELECT 1 FROM r WHERE oom AND command_hash IS NOT NULL GROUP BY definition_id, command_hash
                              HAVING count(DISTINCT expected) > 1) c),
       (SELECT count(*) FROM ara_backfill_progress WHERE relid = 'task'::regclass AND finished_at IS NULL),
       (SELECT rows_scanned FROM ara_backfill_progress WHERE relid = 'task'::regclass),
       (SELECT reltuples::bigint - 2000 FROM pg_class WHERE oid = 'task'::regclass)
FROM r"
compare() {   # compare LABEL: a scrape against the SQL, every figure
  local want again i got bad=0
  # The SQL before and after the scrape: if a run crossed the hour's edge in between, scrape again.
  while :; do
    read -ra want <<<"$(psql_db -At -F ' ' -c "$expected_sql")"
    scrape
    read -ra again <<<"$(psql_db -At -F ' ' -c "$expected_sql")"
    [ "${want[*]}" != "${again[*]}" ] || break
  done
  [ ${#want[@]} -eq ${#names[@]} ] || fail "$1: the reference SQL gave ${#want[@]} figures"
  for i in "${!names[@]}"; do
    got=$(metric "${names[$i]}")
    # The exporter writes large values in exponent form (e.g. 1.7e+06): compare as numbers.
    if ! awk -v a="$got" -v b="${want[$i]}" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }'; then
      echo "  pg_ara_${names[$i]}: scraped '${got}', SQL says ${want[$i]}"; bad=1
    fi
  done
  [ $bad -eq 0 ] || { grep '^pg_ara_' "$tmp/metrics"; fail "$1: scraped metrics differ from SQL"; }
  echo "ok: $1: all ${#names[@]} pg_ara_* figures of public.task equal SQL's ($(for n in runs runs_without_hash runs_out_of_line runs_with_history runs_without_history colliding_keys; do printf '%s=%s ' "$n" "$(metric $n)"; done))"
}
scrape   # the exporter is up
compare "first scrape"
grep -q '^# HELP pg_ara_runs_without_history Eligible runs of the last hour whose ARA lookup found no OOM history' "$tmp/metrics" \
  || fail "the help text of pg_ara_runs_without_history is missing"
grep -q '^# TYPE pg_ara_triggers_enabled gauge' "$tmp/metrics" || fail "pg_ara_triggers_enabled is not a gauge"
[ "$(metric runs_at_memory_cap)" -gt 0 ] && [ "$(metric runs_with_history)" -gt 0 ] && [ "$(metric runs_without_history)" -gt 0 ] \
  && [ "$(metric backfill_unfinished)" = 1 ] || fail "the crafted history should show runs at the cap, both kinds of lookup and a backfill"
grep -q 'pg_ara_readable{' "$tmp/metrics" || fail "no pg_ara_readable"
echo "sample of /metrics:"; grep -E '^pg_ara_(triggers_enabled|runs_without_hash|runs_without_history)\{' "$tmp/metrics" | sed 's/^/  /'

# --- 4. The trigger disabled, runs without hash inserted: the next scrape shows both ----------------
psql_db <<'SQL'
ALTER TABLE task DISABLE TRIGGER ara_command_hash_insert;
INSERT INTO task (run_id, definition_id, command, description, memory, cpu, exit_code, status, engine, queued_at)
SELECT 'unhashed-' || i, 'def-1', 'python3 job.py --part 1', 'Job 1', 2048, 500, 0, 'QUEUED', 'eks', now() - i * interval '1 minute'
FROM generate_series(1, 5) i;
-- and two OOM-killed runs of different commands under one description hash, as the buggy service wrote them
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, exit_code, status, engine, queued_at)
VALUES ('collide-1', 'def-2', 'python3 etl.py --region us', 'Nightly ETL', md5('Nightly ETL'), 4096, 500, 137, 'STOPPED', 'eks', now() - interval '3 minutes'),
       ('collide-2', 'def-2', 'python3 etl.py --region eu', 'Nightly ETL', md5('Nightly ETL'), 4096, 500, 137, 'STOPPED', 'eks', now() - interval '2 minutes');
SQL
before_without=$(metric runs_without_hash)
before_colliding=$(metric colliding_keys)
compare "after the trigger was disabled"
[ "$(metric triggers_enabled)" = 0 ] && [ "$(metric triggers_present)" = 1 ] || fail "the disabled trigger does not show"
[ "$(metric runs_without_hash)" -eq $((before_without + 5)) ] || fail "the 5 runs without hash do not show"
[ "$(metric colliding_keys)" -eq $((before_colliding + 1)) ] || fail "the colliding key does not show"
echo "ok: the scrape shows the disabled trigger, the 5 runs without hash and the colliding key"

# --- 5. A Prometheus server scrapes the exporter with the shipped rules; the alert fires ------------
# The rules as shipped, with every `for:` at 0s so that the test does not wait minutes for them.
sed 's/^\( *\)for: .*/\1for: 0s/' monitoring/prometheus/pg_ara.rules.yml >"$tmp/rules.yml"
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["$tmp/rules.yml"]
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ["127.0.0.1:${EXPORTER_PORT}"]
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:${PROMETHEUS_PORT}" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
firing=
for i in $(seq 1 200); do
  if curl -sf "http://127.0.0.1:${PROMETHEUS_PORT}/api/v1/alerts" >"$tmp/alerts" 2>/dev/null \
     && grep -q '"alertname":"PgAraTriggerDisabled"' "$tmp/alerts" && grep -q '"state":"firing"' "$tmp/alerts"; then
    firing=1; break
  fi
  sleep 0.3
done
[ -n "$firing" ] || { cat "$tmp/prometheus.log" | tail -20; cat "$tmp/alerts" 2>/dev/null; fail "PgAraTriggerDisabled did not fire in Prometheus"; }
python3 - "$tmp/alerts" <<'PY' || fail "the alerts Prometheus fired"
import json, sys
alerts = json.load(open(sys.argv[1]))['data']['alerts']
names = sorted({a['labels']['alertname'] for a in alerts if a['state'] == 'firing' and a['labels'].get('table_name') == 'public.task'})
print('  firing for public.task:', ', '.join(names))
assert {'PgAraTriggerDisabled', 'PgAraRunsWithoutHash', 'PgAraRunsOutOfLine', 'PgAraCollidingKeys'} <= set(names), names
assert 'PgAraTriggerMissing' not in names and 'PgAraTableUnreadable' not in names, names
d = [a for a in alerts if a['labels']['alertname'] == 'PgAraTriggerDisabled'][0]['annotations']['description']
assert "CALL ara_backfill('public.task');" in d, d
PY
echo "ok: Prometheus scraped the exporter and fired the trigger, hash and collision alerts for public.task"

cleanup
trap - EXIT
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE $DB WITH (FORCE)" -c "DROP ROLE ara_exporter"
echo "ok"
