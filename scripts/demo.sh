#!/usr/bin/env bash
# The main job: build and install pg_ara (release), start a private throwaway cluster on a loopback
# port as a non-root OS user, create the extension and show it at work on a Flotilla-shaped task
# table. PG_ARA_KEEP=1 leaves the cluster running afterwards (its psql command is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/cluster.sh

echo "[demo] building and installing pg_ara (release)"
cargo pgrx install --release --pg-config "$PG_CONFIG" >/tmp/pg_ara-demo-install.log 2>&1 \
  || { tail -50 /tmp/pg_ara-demo-install.log >&2; exit 1; }

DEMO_PORT=${PG_ARA_DEMO_PORT:-54915}
cluster_start demo "$DEMO_PORT"
[ "${PG_ARA_KEEP:-0}" = 1 ] || trap cluster_stop EXIT
echo "[demo] private cluster on 127.0.0.1:$DEMO_PORT (data in $CLUSTER_DIR)"

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE ara_demo'
"$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -d ara_demo -f scripts/demo.sql

if [ "${PG_ARA_KEEP:-0}" = 1 ]; then
  echo "[demo] cluster left running: $PG_BIN/psql -h 127.0.0.1 -p $DEMO_PORT -U postgres ara_demo"
fi
