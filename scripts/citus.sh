# shellcheck shell=bash
# Sourced by tests/shell/citus.sh and scripts/bench_citus.sh (after scripts/cluster.sh): Citus, the
# distributed PostgreSQL, built from its release source for the tests and the benchmark only (never shipped, never copied into this project: AGPL-3.0). No package registry
# reachable here has it; the release tarball is vendored beside the project (shared/vendor).
#
#   citus_supported MAJOR      Citus 14 supports PostgreSQL 16, 17 and 18 (not 15).
#   citus_tarball              the vendored release tarball (checked against its sha256), or nothing.
#   citus_install PG_CONFIG    builds and installs Citus into that PostgreSQL unless the same release
#                              is already there (a stamp next to citus.control): about a minute on 2
#                              cores the first time, nothing afterwards.
#   citus_cluster_start NAME BASE_PORT [settings]
#                              a coordinator and two workers of that PostgreSQL on 127.0.0.1:BASE_PORT..+2
#                              (fresh clusters in $TMPDIR/pg_ara-NAME{0,1,2}-...), the workers joined;
#                              CITUS_DIRS lists their directories for citus_cluster_stop.
#   citus_cluster_stop         stops them and removes their directories.

PG_ARA_CITUS_VERSION=14.0.1
PG_ARA_CITUS_SHA256=acfa9a77cd84a8e1edab26cca4a71355f39c910c01586da89560e0240d4b05ba

citus_supported() { case "$1" in 16|17|18) return 0 ;; *) return 1 ;; esac; }

source "$(dirname "${BASH_SOURCE[0]}")/vendor.sh"

# The tarball: PG_ARA_CITUS_TARBALL, else the vendored one (scripts/vendor.sh says where it is looked for).
citus_tarball() {
  if [ -n "${PG_ARA_CITUS_TARBALL:-}" ] && [ -f "$PG_ARA_CITUS_TARBALL" ] \
     && [ "$(sha256sum "$PG_ARA_CITUS_TARBALL" | cut -d' ' -f1)" = "$PG_ARA_CITUS_SHA256" ]; then
    echo "$PG_ARA_CITUS_TARBALL"
    return 0
  fi
  vendor_tarball "citus-${PG_ARA_CITUS_VERSION}.tar.gz" "$PG_ARA_CITUS_SHA256"
}

citus_install() {
  local pg_config=$1 tarball
  tarball=$(citus_tarball) || return 1
  vendor_build citus "$tarball" "citus-$PG_ARA_CITUS_VERSION" "$pg_config" .pg_ara-citus \
    "$PG_ARA_CITUS_VERSION $PG_ARA_CITUS_SHA256" --without-libcurl --without-lz4 --without-zstd
}

citus_cluster_start() {
  local name=$1 base=$2 extra=${3:-} n d
  CITUS_DIRS=()
  for n in 0 1 2; do
    d="${TMPDIR:-/tmp}/pg_ara-${name}${n}-${PG_OS_USER}-pg${PG_MAJOR}"
    CITUS_DIRS+=("$d")
    cluster_stop_dir "$d"; rm -rf "$d"
    install -d -m 700 -o "$PG_OS_USER" "$d"
    as_pg "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 \
      || { cat "$d/initdb.log" >&2; return 1; }
    as_pg "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $((base + n)) -c unix_socket_directories='$d' -c shared_preload_libraries=citus -c max_worker_processes=16 $extra" \
      start >/dev/null || { cat "$d/server.log" >&2; echo "citus: node $n did not start" >&2; return 1; }
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $((base + n)) -U postgres -d postgres -c "CREATE EXTENSION citus" || return 1
  done
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$base" -U postgres -d postgres \
    -c "SELECT citus_set_coordinator_host('127.0.0.1', $base)" \
    -c "SELECT citus_add_node('127.0.0.1', $((base + 1)))" -c "SELECT citus_add_node('127.0.0.1', $((base + 2)))" >/dev/null || return 1
  [ "$("$PG_BIN/psql" -X -At -h 127.0.0.1 -p "$base" -U postgres -d postgres -c "SELECT count(*) FROM citus_get_active_worker_nodes()")" = 2 ] \
    || { echo "citus: the workers did not join" >&2; return 1; }
}

citus_cluster_stop() {
  local d
  for d in "${CITUS_DIRS[@]}"; do cluster_stop_dir "$d"; rm -rf "$d"; done
}
