# shellcheck shell=bash
# Sourced by the SQL edition's tests (tests/edition/) and its benchmark: pg_tle (Trusted Language
# Extensions, aws/pg_tle, Apache-2.0: how Amazon RDS, Aurora and Supabase let users install extensions
# written in SQL and PL/pgSQL), built from its vendored release source for the tests only (never shipped,
# never copied into this project).
#
#   pgtle_tarball              the vendored release tarball (checked against its sha256), or nothing.
#   pgtle_install PG_CONFIG    builds and installs pg_tle into that PostgreSQL unless the same release is
#                              already there (a stamp beside pg_tle.control): seconds; needs flex.

PG_ARA_PGTLE_VERSION=1.5.3
PG_ARA_PGTLE_SHA256=be6691479b260ea630c69338cfe95727d0ca4ebf2f23f3f58bb8b65f040aa0bb

source "$(dirname "${BASH_SOURCE[0]}")/vendor.sh"

pgtle_tarball() { vendor_tarball "pg_tle-${PG_ARA_PGTLE_VERSION}.tar.gz" "$PG_ARA_PGTLE_SHA256"; }

pgtle_install() {
  local pg_config=$1 tarball
  tarball=$(pgtle_tarball) || return 1
  vendor_build pg_tle "$tarball" "pg_tle-$PG_ARA_PGTLE_VERSION" "$pg_config" .pg_ara-pg_tle \
    "$PG_ARA_PGTLE_VERSION $PG_ARA_PGTLE_SHA256"
}
