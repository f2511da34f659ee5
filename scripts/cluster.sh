# shellcheck shell=bash
# Sourced by demo.sh, test.sh and bench.sh: a private, throwaway PostgreSQL cluster of major PG_MAJOR
# (default 15; scripts/pg_majors.sh says where each major comes from) on a loopback port, run by a
# non-root OS user (postgres when we are root, else the current user). Never touches the
# distribution's cluster on 5432.

source "$(dirname "${BASH_SOURCE[0]}")/pg_majors.sh"
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=${PG_CONFIG:-$(pg_config_for "$PG_MAJOR")}
PG_BIN=$("$PG_CONFIG" --bindir)

# PG_OS_USER and as_pg: scripts/pg_majors.sh.

# cluster_start NAME PORT: (re)creates a fresh cluster in $TMPDIR/pg_ara-NAME and starts it
# (PG_ARA_CLUSTER_OPTS: more -c settings, for the benchmark).
# Sets CLUSTER_DIR and PGHOST/PGPORT/PGUSER for the psql calls that follow.
cluster_start() {
  local name=$1 port=$2
  CLUSTER_DIR="${TMPDIR:-/tmp}/pg_ara-${name}-${PG_OS_USER}-pg${PG_MAJOR}"
  cluster_stop_dir "$CLUSTER_DIR"
  rm -rf "$CLUSTER_DIR"
  install -d -m 700 -o "$PG_OS_USER" "$CLUSTER_DIR"
  as_pg "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 \
    || { cat "$CLUSTER_DIR/initdb.log" >&2; return 1; }
  as_pg "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$CLUSTER_DIR' -c max_worker_processes=8 -c max_parallel_workers=4 ${PG_ARA_CLUSTER_OPTS:-}" \
    start >/dev/null || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
  export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
}

cluster_stop_dir() {
  local dir=$1
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

cluster_stop() {
  [ -n "${CLUSTER_DIR:-}" ] && cluster_stop_dir "$CLUSTER_DIR"
}
