#!/usr/bin/env bash
# Packages for database hosts without Rust: per PostgreSQL major (scripts/pg_majors.sh), in dist/,
#   postgresql-<major>-pg-ara_<version>-1_amd64.deb   named (Debian revision 1) and laid out as the
#       PGDG/Debian PostgreSQL extension packages are (/usr/lib/postgresql/<major>/lib,
#       /usr/share/postgresql/<major>/extension), depending on postgresql-<major> (Debian 12's own
#       15, the PGDG apt repository's 14 to 18) and the glibc it was linked against, with a DEP-5
#       copyright file and a changelog in /usr/share/doc/postgresql-<major>-pg-ara;
#   pg_ara-<version>-pg<major>-linux-x86_64.tar.gz  relative paths and one install.sh that takes a
#       pg_config: for installations like the pip wheels', or any PostgreSQL not laid out as Debian's.
# Both carry the library, the control file, the current install script, every upgrade script and the
# frozen install scripts of released versions (so CREATE EXTENSION ... VERSION and updates work).
#   bash scripts/package.sh            every tested major (PG_ARA_MAJORS narrows it)
#   bash scripts/package.sh 16 18      only those
#   PG_ARA_PACKAGE_PROFILE=dev ...     a debug build (what the test suite packages, to reuse its build)
#   PG_ARA_DIST=DIR ...                output directory (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
source scripts/pg_majors.sh
say() { printf '[package] %s\n' "$*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
profile=${PG_ARA_PACKAGE_PROFILE:-release}
case "$profile" in
  release) profile_args=() ;;
  dev) profile_args=(--debug) ;;
  *) echo "PG_ARA_PACKAGE_PROFILE must be release or dev, not $profile" >&2; exit 1 ;;
esac
dist=$(realpath -m "${PG_ARA_DIST:-dist}")
mkdir -p "$dist"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || read -ra majors <<<"$PG_ARA_MAJORS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for major in "${majors[@]}"; do
  pg_config=$(pg_config_for "$major")
  [ -x "$pg_config" ] || { echo "PostgreSQL $major is not installed here: run scripts/setup.sh" >&2; exit 1; }
  read -ra features <<<"$(pgrx_features "$major")"
  say "PostgreSQL $major: cargo pgrx package ($profile build)"
  stage="$work/pg$major"
  cargo pgrx package --pg-config "$pg_config" "${features[@]}" "${profile_args[@]}" --out-dir "$stage/pgrx" \
    >"$work/pgrx-$major.log" 2>&1 || { tail -40 "$work/pgrx-$major.log" >&2; exit 1; }
  so=$(find "$stage/pgrx" -name pg_ara.so -type f)
  control=$(find "$stage/pgrx" -name pg_ara.control -type f)
  [ -n "$so" ] && [ -n "$control" ] || { echo "cargo pgrx package made no pg_ara.so or pg_ara.control" >&2; exit 1; }
  grep -q "^default_version = '$version'" "$control" || { echo "$control is not for $version" >&2; exit 1; }

  # The payload, relative: lib/ and extension/.
  payload="$stage/payload"
  install -d "$payload/lib" "$payload/extension"
  install -m 755 "$so" "$payload/lib/pg_ara.so"
  install -m 644 "$control" "$(dirname "$control")"/pg_ara--*.sql "$payload/extension/"
  for f in sql/pg_ara--*.sql; do   # frozen install scripts of released versions (one "--")
    case "$(basename "$f")" in *--*--*) ;; *) install -m 644 "$f" "$payload/extension/" ;; esac
  done
  [ -f "$payload/extension/pg_ara--$version.sql" ] || { echo "no install script for $version" >&2; exit 1; }

  # --- the tarball --------------------------------------------------------------------------------
  name="pg_ara-$version-pg$major-linux-x86_64"
  tdir="$stage/$name"
  mkdir -p "$tdir"
  cp -r "$payload/lib" "$payload/extension" "$tdir/"
  cat >"$tdir/install.sh" <<EOF
#!/bin/sh
# Installs pg_ara $version into a PostgreSQL $major: the library into \`pg_config --pkglibdir\`,
# the control and SQL files into \`pg_config --sharedir\`/extension. Then, as a superuser, in
# each database: CREATE EXTENSION pg_ara;  (or ALTER EXTENSION pg_ara UPDATE; after an upgrade).
#   ./install.sh [--pg-config PATH] [--uninstall]
# The pg_config is PATH, else \$PG_CONFIG, else the first pg_config on \$PATH.
set -eu
here=\$(cd "\$(dirname "\$0")" && pwd)
pg_config=\${PG_CONFIG:-pg_config}
action=install
while [ \$# -gt 0 ]; do
  case "\$1" in
    --pg-config) pg_config=\$2; shift 2 ;;
    --pg-config=*) pg_config=\${1#--pg-config=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    -h|--help) sed -n '2,6p' "\$0"; exit 0 ;;
    *) echo "install.sh: unknown argument \$1 (see --help)" >&2; exit 2 ;;
  esac
done
version=\$("\$pg_config" --version) || { echo "install.sh: cannot run \$pg_config: pass --pg-config PATH" >&2; exit 1; }
got=\$(echo "\$version" | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
if [ "\$got" != "$major" ]; then
  echo "install.sh: this package is for PostgreSQL $major, but \$pg_config is \$version: use pg_ara-$version-pg\$got" >&2
  exit 1
fi
libdir=\$("\$pg_config" --pkglibdir)
extdir=\$("\$pg_config" --sharedir)/extension
if [ "\$action" = uninstall ]; then
  rm -f "\$libdir/pg_ara.so" "\$extdir/pg_ara.control" "\$extdir"/pg_ara--*.sql
  echo "pg_ara removed from \$libdir and \$extdir (DROP EXTENSION pg_ara first in every database that has it)"
  exit 0
fi
[ -w "\$libdir" ] && [ -w "\$extdir" ] || { echo "install.sh: cannot write to \$libdir and \$extdir: run it as their owner (e.g. with sudo)" >&2; exit 1; }
cp "\$here/lib/pg_ara.so" "\$libdir/pg_ara.so.new" && chmod 755 "\$libdir/pg_ara.so.new"
mv -f "\$libdir/pg_ara.so.new" "\$libdir/pg_ara.so"   # a rename: running backends keep the old file
for f in "\$here"/extension/*; do cp "\$f" "\$extdir/" && chmod 644 "\$extdir/\$(basename "\$f")"; done
echo "pg_ara $version installed for \$version: \$libdir/pg_ara.so and \$(ls "\$here/extension" | wc -l) files in \$extdir"
echo "next, as a superuser in each database: CREATE EXTENSION pg_ara;  (or ALTER EXTENSION pg_ara UPDATE;)"
EOF
  chmod 755 "$tdir/install.sh"
  (cd "$tdir" && find lib extension -type f | sort | xargs sha256sum >SHA256SUMS)
  tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$dist/$name.tar.gz" "$name"
  say "wrote $dist/$name.tar.gz"

  # --- the .deb -----------------------------------------------------------------------------------
  pkg="postgresql-$major-pg-ara"
  debversion="$version-1"   # upstream version, Debian revision 1
  root="$stage/deb"
  install -d "$root/DEBIAN" "$root/usr/lib/postgresql/$major/lib" "$root/usr/share/postgresql/$major/extension" \
    "$root/usr/share/doc/$pkg"
  install -m 755 "$payload/lib/pg_ara.so" "$root/usr/lib/postgresql/$major/lib/"
  install -m 644 "$payload"/extension/* "$root/usr/share/postgresql/$major/extension/"
  # The newest glibc symbol version the library needs.
  glibc=$(objdump -T "$payload/lib/pg_ara.so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
  # DEP-5 (machine-readable) copyright: a header paragraph, one Files paragraph, the license text.
  cat >"$root/usr/share/doc/$pkg/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: pg_ara
Upstream-Contact: pg_ara developers <pg_ara@localhost>

Files: *
Copyright: 2025-2026 pg_ara developers
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License. You may obtain a copy of
 the License at http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 .
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
  # Debian policy 12.7: every binary package carries its changelog.
  cat >"$stage/changelog.Debian" <<EOF
$pkg ($debversion) unstable; urgency=medium

  * pg_ara $version for PostgreSQL $major (docs/upgrading.md lists the changes).

 -- pg_ara developers <pg_ara@localhost>  $(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")
EOF
  gzip -9n -c "$stage/changelog.Debian" >"$root/usr/share/doc/$pkg/changelog.Debian.gz"
  chmod 644 "$root/usr/share/doc/$pkg"/*
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  cat >"$root/DEBIAN/control" <<EOF
Package: $pkg
Source: pg-ara
Version: $debversion
Architecture: amd64
Maintainer: pg_ara developers <pg_ara@localhost>
Depends: postgresql-$major, libc6 (>= $glibc)
Section: database
Priority: optional
Installed-Size: $size
Description: Auto Resource Adjustment helpers for Flotilla-style task tables (PostgreSQL $major)
 pg_ara computes command_hash from the command inside PostgreSQL (a trigger on
 the task table, a batched backfill), the ara_estimate() aggregate, the
 one-call ARA lookup and investigation functions. After installing:
 CREATE EXTENSION pg_ara; in each database, as a superuser.
EOF
  (cd "$root" && find usr -type f | sort | xargs md5sum >DEBIAN/md5sums)
  deb="${pkg}_${debversion}_amd64.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$dist/$deb" >/dev/null
  say "wrote $dist/$deb"
done
