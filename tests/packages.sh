#!/usr/bin/env bash
# The packages (scripts/package.sh) on a PostgreSQL that never saw cargo: what `cargo pgrx install`
# put into PG_CONFIG's directories is removed first, then the package is installed (the .deb with
# dpkg where the major is Debian's own, 15; the tarball's install.sh elsewhere), and in fresh
# databases: CREATE EXTENSION at the previous release and ALTER EXTENSION pg_ara UPDATE, then a
# smoke of every user-facing function (tests/package/smoke.sql), on the updated and on a fresh install.
# The .deb of a major without a Debian server here (14, 16, 17, 18: their postgresql-NN comes from
# the PGDG apt repository, which this machine does not reach) is checked for its name, control
# fields, DEP-5 copyright, changelog and layout, file for file against the tarball.
# Needs PG_MAJOR, PG_CONFIG, PG_BIN and PGHOST/PGPORT/PGUSER of a running cluster of that major
# (scripts/test.sh sets them). PG_ARA_PACKAGE_PROFILE (default release) is passed to package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_majors.sh
fail() { echo "FAILED: $*"; exit 1; }
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
major=$PG_MAJOR
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
previous=$(ls sql/pg_ara--*.sql | sed -n 's/^sql\/pg_ara--\([^-]*\)\.sql$/\1/p' | sort -V | tail -1)
dist=$(mktemp -d)
chmod 755 "$dist"
trap 'rm -rf "$dist"' EXIT
deb="$dist/postgresql-$major-pg-ara_${version}-1_amd64.deb"
tarball="$dist/pg_ara-$version-pg$major-linux-x86_64.tar.gz"

PG_ARA_DIST="$dist" bash scripts/package.sh "$major"
[ -f "$deb" ] && [ -f "$tarball" ] || fail "package.sh made $(ls "$dist")"
listed=$(bash scripts/release.sh --list)
for f in "$deb" "$tarball"; do
  grep -qxF "$(basename "$f")" <<<"$listed" || fail "$(basename "$f") is not a listed release artefact (scripts/release.sh --list)"
done

# The .deb: named and laid out as the PGDG/Debian extension packages, depending on the server package.
info=$(dpkg-deb -f "$deb" Package Version Architecture Depends)
echo "$info"
echo "$info" | grep -qx "Package: postgresql-$major-pg-ara" || fail "package name"
echo "$info" | grep -qx "Version: $version-1" || fail "version (upstream $version, Debian revision 1)"
echo "$info" | grep -qx "Architecture: amd64" || fail "architecture"
echo "$info" | grep -Eq "^Depends: postgresql-$major, libc6 \(>= 2\.[0-9]+\)$" || fail "depends"
# The newest glibc symbol the library needs is what libc6 (>= ...) says.
dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/lib/postgresql/$major/lib/pg_ara.so" >"$dist/check.so"
need_glibc=$(objdump -T "$dist/check.so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
rm -f "$dist/check.so"
echo "$info" | grep -qF "libc6 (>= $need_glibc)" || fail "the library needs glibc $need_glibc; the package says: $(echo "$info" | grep Depends)"
# DEP-5 copyright and a changelog, where Debian policy puts them.
doc="./usr/share/doc/postgresql-$major-pg-ara"
contents=$(dpkg-deb -c "$deb")
grep -q " $doc/changelog.Debian.gz$" <<<"$contents" || fail "no changelog.Debian.gz"
copyright=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO "$doc/copyright")
echo "$copyright" | head -1 | grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" || fail "copyright: not DEP-5"
{ echo "$copyright" | grep -qx "Files: \*" && echo "$copyright" | grep -q "^Copyright: " \
  && echo "$copyright" | grep -qx "License: Apache-2.0"; } || fail "copyright: no Files/Copyright/License paragraph"
echo "ok: $(basename "$deb"): Package, Version, Depends, DEP-5 copyright and changelog as Debian names them"
deb_files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $NF}' | grep -v '^./usr/share/doc/' \
  | sed -e "s|^./usr/lib/postgresql/$major/lib/|lib/|" -e "s|^./usr/share/postgresql/$major/extension/|extension/|" | sort)
tar_files=$(tar -tzf "$tarball" | grep -v '/$' | sed 's|^[^/]*/||' | grep -v '^install.sh$\|^SHA256SUMS$' | sort)
[ "$deb_files" = "$tar_files" ] || fail "the .deb and the tarball differ: $(diff <(echo "$deb_files") <(echo "$tar_files"))"
echo "$deb_files" | grep -qx "lib/pg_ara.so" || fail "no library in the package"
for f in pg_ara.control "pg_ara--$version.sql" "pg_ara--$previous.sql" "pg_ara--$previous--$version.sql"; do
  echo "$deb_files" | grep -qx "extension/$f" || fail "extension/$f missing from the package"
done
echo "ok: the .deb and the tarball hold the same $(echo "$deb_files" | wc -l) files, laid out for PostgreSQL $major"

# Remove what cargo put there: from here on only the package provides pg_ara.
libdir=$("$PG_CONFIG" --pkglibdir)
extdir=$("$PG_CONFIG" --sharedir)/extension
rm -f "$libdir/pg_ara.so" "$extdir/pg_ara.control" "$extdir"/pg_ara--*.sql
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS ara_pkg" -c "CREATE DATABASE ara_pkg"
if "$PG_BIN/psql" -X -q -d ara_pkg -c "CREATE EXTENSION pg_ara" 2>/dev/null; then
  fail "pg_ara could still be created after its files were removed"
fi

installed_by=""
if [ "$major" = 15 ] && [ "$(pg_config_for 15)" = "$PG_CONFIG" ]; then
  "${SUDO[@]}" dpkg -i "$deb"
  installed_by=dpkg
  grep -qx "$libdir/pg_ara.so" <<<"$(dpkg -L "postgresql-$major-pg-ara")" || fail "dpkg did not install $libdir/pg_ara.so"
else
  tar -C "$dist" -xzf "$tarball"
  (cd "$dist/pg_ara-$version-pg$major-linux-x86_64" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS"
  "$dist/pg_ara-$version-pg$major-linux-x86_64/install.sh" --pg-config "$PG_CONFIG"
  installed_by=install.sh
  # A pg_config of another major is refused.
  other=""
  for m in $PG_ARA_TESTED_MAJORS; do
    if [ "$m" != "$major" ] && [ -x "$(pg_config_for "$m")" ]; then other=$m; break; fi
  done
  if [ -n "$other" ]; then
    if out=$("$dist/pg_ara-$version-pg$major-linux-x86_64/install.sh" --pg-config "$(pg_config_for "$other")" 2>&1); then
      fail "install.sh installed a PostgreSQL $major package into PostgreSQL $other"
    fi
    echo "$out" | grep -q "this package is for PostgreSQL $major" || fail "install.sh into $other: $out"
    echo "ok: install.sh refuses PostgreSQL $other: $out"
  fi
fi
echo "ok: installed with $installed_by"

# The previous release, then the update; then the smoke. And the same on a fresh install.
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d ara_pkg -c "CREATE EXTENSION pg_ara VERSION '$previous'" \
  -c "ALTER EXTENSION pg_ara UPDATE"
v=$("$PG_BIN/psql" -X -At -d ara_pkg -c "SELECT extversion FROM pg_extension WHERE extname = 'pg_ara'")
[ "$v" = "$version" ] || fail "ALTER EXTENSION pg_ara UPDATE from $previous reached $v"
out=$("$PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 -d ara_pkg -f tests/package/smoke.sql 2>&1) || fail "smoke (updated from $previous): $out"
echo "ok: updated from $previous to $v: ${out##*$'\n'}"
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE ara_pkg" -c "CREATE DATABASE ara_pkg"
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d ara_pkg -c "CREATE EXTENSION pg_ara"
out=$("$PG_BIN/psql" -X -At -v ON_ERROR_STOP=1 -d ara_pkg -f tests/package/smoke.sql 2>&1) || fail "smoke (fresh): $out"
echo "ok: fresh install: ${out##*$'\n'}"
if [ "$major" -ge 18 ]; then
  # PostgreSQL 18 lists the loaded libraries with the name and version of their magic block.
  out=$("$PG_BIN/psql" -X -At -F ' ' -d ara_pkg -c "SELECT command_hash('x') IS NOT NULL" \
          -c "SELECT module_name, version FROM pg_get_loaded_modules() WHERE file_name = 'pg_ara.so'")
  [ "$out" = $'t\npg_ara '"$version" ] || fail "pg_get_loaded_modules() shows: $out (want pg_ara $version)"
  echo "ok: pg_get_loaded_modules(): pg_ara $version"
fi
"$PG_BIN/psql" -X -q -d postgres -c "DROP DATABASE ara_pkg"

if [ "$installed_by" = dpkg ]; then
  # Leave the system as cargo left it: the package removed, its files gone with it.
  "${SUDO[@]}" dpkg -r "postgresql-$major-pg-ara" >/dev/null
  [ ! -e "$libdir/pg_ara.so" ] || fail "dpkg -r left $libdir/pg_ara.so"
  echo "ok: dpkg -r removed the package"
fi
echo "ok"
