#!/usr/bin/env bash
# The main job: build and install pg_ara (release), start a private throwaway cluster on a loopback
# port as a non-root OS user, generate a realistic Flotilla history (scripts/demo_history.sql) and
# show the bug investigated and fixed inside the database (scripts/demo.sql).
#   PG_ARA_DEMO_RUNS=N   size of the generated history (default 300000)
#   PG_ARA_KEEP=1        leave the cluster running afterwards (how to connect and remove it is printed)
#   PG_ARA_DEMO_PORT=P   port (default 54915)
#   PG_MAJOR=16|18       run it on another tested PostgreSQL major (default 15; scripts/pg_majors.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh

echo "[demo] building and installing pg_ara (release build; a few minutes the first time)"
install_log=$(mktemp "${TMPDIR:-/tmp}/pg_ara-demo-install.XXXXXX")   # one per run: /tmp is shared by users
read -ra features <<<"$(pgrx_features "$PG_MAJOR")"
cargo pgrx install --release --pg-config "$PG_CONFIG" "${features[@]}" >"$install_log" 2>&1 \
  || { tail -50 "$install_log" >&2; echo "[demo] the whole build log: $install_log" >&2; exit 1; }
rm -f "$install_log"

DEMO_PORT=${PG_ARA_DEMO_PORT:-54915}
RUNS=${PG_ARA_DEMO_RUNS:-300000}
cluster_start demo "$DEMO_PORT"
remove_cluster() { cluster_stop; rm -rf "$CLUSTER_DIR"; }
[ "${PG_ARA_KEEP:-0}" = 1 ] || trap remove_cluster EXIT
echo "[demo] private cluster on 127.0.0.1:$DEMO_PORT (data in $CLUSTER_DIR); history of about $RUNS runs"

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE ara_demo'
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -v runs="$RUNS" -d ara_demo -f scripts/demo.sql

echo
if [ "${PG_ARA_KEEP:-0}" = 1 ]; then
  echo "[demo] the cluster is still running. Connect with:"
  echo "         $PG_BIN/psql -h 127.0.0.1 -p $DEMO_PORT -U postgres ara_demo"
  echo "       then try: SELECT * FROM ara_explain('eks-0d33-a443-43b9-45f9-04b780868880');"
  echo "       Stop and remove it with:"
  if [ "$(id -u)" -eq 0 ]; then
    echo "         runuser -u postgres -- $PG_BIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
  else
    echo "         $PG_BIN/pg_ctl -D $CLUSTER_DIR/data stop && rm -rf $CLUSTER_DIR"
  fi
else
  echo "[demo] done; the cluster is stopped and removed. To explore it in psql yourself, run"
  echo "       PG_ARA_KEEP=1 bash scripts/demo.sh   and connect with the psql command it prints."
fi
