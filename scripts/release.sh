#!/usr/bin/env bash
# The release artefacts of the checked-out version, all in one place: what a release publishes.
#   bash scripts/release.sh           builds every artefact (release builds) into dist/release-<version>/,
#                                     checks that exactly the listed files were made, writes SHA256SUMS
#   bash scripts/release.sh --list    prints the artefacts' file names, one a line (the tests check
#                                     that the packaging scripts make exactly these names)
# The artefacts (docs/install.md, "Release artefacts", says what each is for):
#   for every tested major NN (scripts/pg_majors.sh), by scripts/package.sh:
#     postgresql-NN-pg-ara_<version>-1_amd64.deb        Debian/PGDG package
#     pg_ara-<version>-pgNN-linux-x86_64.tar.gz          relative layout + install.sh taking a pg_config
#   for PostgreSQL 18, by scripts/image.sh:
#     pg_ara-<version>-pg18-bookworm.oci.tar             CloudNativePG image volume extension (OCI archive)
#   the SQL edition, for managed PostgreSQL (any major), by scripts/edition.sh:
#     pg_ara-<version>-pg_tle.sql                        installer for pg_tle (RDS, Aurora, Supabase)
#     pg_ara-<version>-plain.sql                         plain script (Cloud SQL, Azure, Neon, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pg_majors.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

artefacts() {
  local m
  for m in $PG_ARA_TESTED_MAJORS; do
    echo "postgresql-$m-pg-ara_${version}-1_amd64.deb"
    echo "pg_ara-$version-pg$m-linux-x86_64.tar.gz"
  done
  echo "pg_ara-$version-pg18-bookworm.oci.tar"
  echo "pg_ara-$version-pg_tle.sql"
  echo "pg_ara-$version-plain.sql"
}

if [ "${1:-}" = --list ]; then
  artefacts
  exit 0
fi

out=$(realpath -m "${PG_ARA_DIST:-dist}/release-$version")
rm -rf "$out"
mkdir -p "$out"
PG_ARA_MAJORS="$PG_ARA_TESTED_MAJORS" bash scripts/setup.sh
PG_ARA_DIST="$out" PG_ARA_PACKAGE_PROFILE=release PG_ARA_MAJORS="$PG_ARA_TESTED_MAJORS" bash scripts/package.sh
PG_ARA_DIST="$out" PG_ARA_PACKAGE_PROFILE=release bash scripts/image.sh >/dev/null
PG_ARA_DIST="$out" bash scripts/edition.sh >/dev/null
made=$(cd "$out" && ls | sort)
want=$(artefacts | sort)
[ "$made" = "$want" ] || { echo "release: made and listed artefacts differ:"; diff <(echo "$want") <(echo "$made"); exit 1; }
(cd "$out" && sha256sum $want >SHA256SUMS)
echo "release $version: $(echo "$want" | wc -l) artefacts and SHA256SUMS in $out"
