# shellcheck shell=bash
# Sourced by scripts/citus.sh and scripts/pg_tle.sh: C extensions the tests build from their vendored
# release sources (shared/vendor beside the project: for the tests only, never shipped, never copied
# into this project) into one PostgreSQL, once (a stamp beside its control file).
#
#   vendor_tarball NAME SHA256   the vendored tarball NAME, checked against SHA256, or nothing:
#                                PG_ARA_VENDOR_DIR, then shared/vendor beside this checkout or beside
#                                any directory above it, then /work/shared/vendor.
#   vendor_build LABEL TARBALL DIR PG_CONFIG STAMP_NAME STAMP [configure args...]
#                                unpacks TARBALL, enters DIR (its top directory), runs ./configure with
#                                the args if it has one, then make and make install against PG_CONFIG;
#                                skipped when the stamp STAMP_NAME beside PG_CONFIG's extensions says STAMP.

vendor_tarball() {
  local name=$1 sha=$2 dir c
  local candidates=()
  [ -n "${PG_ARA_VENDOR_DIR:-}" ] && candidates+=("$PG_ARA_VENDOR_DIR/$name")
  dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  while [ "$dir" != / ]; do
    candidates+=("$dir/shared/vendor/$name")
    dir=$(dirname "$dir")
  done
  candidates+=("/work/shared/vendor/$name")
  for c in "${candidates[@]}"; do
    [ -f "$c" ] || continue
    if [ "$(sha256sum "$c" | cut -d' ' -f1)" = "$sha" ]; then echo "$c"; return 0; fi
    echo "vendor: $c does not have the pinned sha256 $sha; ignored" >&2
  done
  return 1
}

vendor_build() {
  local label=$1 tarball=$2 top=$3 pg_config=$4 stamp_name=$5 stamp_value=$6 stamp build rc
  shift 6
  stamp="$("$pg_config" --sharedir)/extension/$stamp_name"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_value" ]; then
    return 0
  fi
  build=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-$label-build.XXXXXX")
  # The pip packages' PostgreSQL was compiled by a newer gcc than Debian 12's, and pgxs hands its
  # CFLAGS to any C build: gcc 12 rejects -Wmissing-variable-declarations. A wrapper drops that flag.
  mkdir -p "$build/bin"
  cat >"$build/bin/gcc" <<'EOF'
#!/usr/bin/env bash
args=()
for a in "$@"; do [ "$a" = "-Wmissing-variable-declarations" ] || args+=("$a"); done
exec /usr/bin/gcc "${args[@]}"
EOF
  chmod +x "$build/bin/gcc"
  echo "$label: building $(basename "$tarball") for $("$pg_config" --version) (once)"
  (
    set -e
    cd "$build"
    tar xzf "$tarball"
    cd "$top"
    export PATH="$build/bin:$PATH"
    if [ -x ./configure ]; then ./configure PG_CONFIG="$pg_config" "$@"; fi
    # FLEX: pgxs names the flex PostgreSQL was configured with, none for 14's pip package (built without it).
    make -j"$(nproc)" PG_CONFIG="$pg_config" FLEX="$(command -v flex || echo flex)"
    make install PG_CONFIG="$pg_config"
  ) >"$build/build.log" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    tail -30 "$build/build.log" >&2
    echo "$label: the build failed (whole log: $build/build.log)" >&2
    return 1
  fi
  echo "$stamp_value" >"$stamp"
  rm -rf "$build"
}
