#!/usr/bin/env bash
# The CloudNativePG extension image of pg_ara for PostgreSQL 18: an OCI image holding only the
# extension, laid out as CloudNativePG's image volume extensions expect (CloudNativePG 1.27+ mounts
# it read-only at /extensions/pg_ara and sets extension_control_path = '$system:/extensions/pg_ara/share'
# and dynamic_library_path = '$libdir:/extensions/pg_ara/lib'):
#   /lib/pg_ara.so
#   /share/extension/pg_ara.control, pg_ara--<version>.sql, every upgrade script, and the frozen
#                    install scripts of released versions (CREATE EXTENSION ... VERSION, updates)
#   /licenses/pg_ara/LICENSE
# Built without a Docker daemon: umoci (Debian 12) writes an OCI image layout, saved as an OCI
# archive (a tar of that layout, what `skopeo copy oci-archive:...` and registries take):
#   dist/pg_ara-<version>-pg18-bookworm.oci.tar, tagged 18-<version>-bookworm (CloudNativePG's
#   <pg major>-<extension version>-<distro> convention; bookworm: the glibc it was linked against).
#   bash scripts/image.sh                 release build
#   PG_ARA_PACKAGE_PROFILE=dev ...        a debug build (what the test suite uses, to reuse its build)
#   PG_ARA_DIST=DIR ...                   output directory (default dist/)
# tests/image.sh unpacks it and runs PostgreSQL 18 from it the way CloudNativePG does.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/pg_majors.sh
say() { printf '[image] %s\n' "$*" >&2; }

major=18   # extension_control_path, which image volumes need, is new in PostgreSQL 18
distro=bookworm
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag="$major-$version-$distro"
dist=$(realpath -m "${PG_ARA_DIST:-dist}")
out="$dist/pg_ara-$version-pg$major-$distro.oci.tar"
command -v umoci >/dev/null || { echo "umoci not found: run scripts/setup.sh (Debian's umoci package)" >&2; exit 1; }
mkdir -p "$dist"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The files: the same payload as the packages (scripts/package.sh), from its tarball for 18.
PG_ARA_DIST="$work/pkg" bash scripts/package.sh "$major" >&2
tar -C "$work" -xzf "$work/pkg/pg_ara-$version-pg$major-linux-x86_64.tar.gz"
payload="$work/pg_ara-$version-pg$major-linux-x86_64"

say "OCI image pg_ara:$tag (umoci $(umoci --version | awk '{print $3}'))"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:$tag"
umoci unpack --rootless --image "$work/oci:$tag" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
install -d -m 755 "$root/lib" "$root/share/extension" "$root/licenses/pg_ara"
install -m 755 "$payload/lib/pg_ara.so" "$root/lib/"
install -m 644 "$payload"/extension/* "$root/share/extension/"
install -m 644 LICENSE "$root/licenses/pg_ara/LICENSE"
umoci repack --image "$work/oci:$tag" "$work/bundle"
created=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%dT%H:%M:%SZ)
umoci config --image "$work/oci:$tag" --os linux --architecture amd64 --created "$created" \
  --author "pg_ara developers" \
  --config.label "org.opencontainers.image.title=pg_ara" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --config.label "org.opencontainers.image.description=pg_ara $version for PostgreSQL $major ($distro): an image volume extension for CloudNativePG" \
  --config.label "io.cloudnativepg.extension.pg_major=$major"
umoci gc --layout "$work/oci"
# The OCI archive: the layout as one tar (oci-layout, index.json, blobs/), entries in a fixed order.
tar -C "$work/oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$created" -cf "$out" .
say "wrote $out ($(du -h "$out" | cut -f1))"
echo "$out"
