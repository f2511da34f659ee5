#!/usr/bin/env bash
# The one install script: takes a fresh Debian 12 machine (root, or a user with sudo) to a
# working pg_ara build. Idempotent: every step checks first and is skipped when already done.
# Everything else (demo, tests, CI) calls this; nothing is installed by hand.
set -euo pipefail

PGRX_VERSION=0.18.1
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config

export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

# --- Debian packages ---------------------------------------------------------------------------
need=()
pkg_ok() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in sudo build-essential pkg-config libssl-dev "postgresql-${PG_MAJOR}" "postgresql-contrib"; do
  pkg_ok "$p" || need+=("$p")
done
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

# --- cargo pgrx init against the system PostgreSQL ---------------------------------------------
pgrx_home="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "pg${PG_MAJOR} = \"${PG_CONFIG}\"" "$pgrx_home/config.toml"; then
  say "cargo pgrx init --pg${PG_MAJOR} ${PG_CONFIG}"
  cargo pgrx init "--pg${PG_MAJOR}" "${PG_CONFIG}"
else
  say "cargo pgrx already initialised for pg${PG_MAJOR}"
fi

# --- pgrx installs into the system PostgreSQL directories: make sure we may write there ---------
if [ ! -w "$("$PG_CONFIG" --pkglibdir)" ] || [ ! -w "$("$PG_CONFIG" --sharedir)/extension" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "making $($PG_CONFIG --pkglibdir) and $($PG_CONFIG --sharedir)/extension writable for $(id -un)"
    "${SUDO[@]}" chown "$(id -u)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)/extension"
  fi
fi
say "ready"
