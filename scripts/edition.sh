#!/usr/bin/env bash
# The SQL edition of pg_ara, for PostgreSQL servers that load no compiled extension (docs/managed.md):
# built from the same sources as the extension: the concern files of sql/ (shared, verbatim) and, for
# each object the extension implements in Rust, its SQL or PL/pgSQL twin in edition/ (same name and
# signature). Two artefacts per release, in dist/ (PG_ARA_DIST):
#   pg_ara-<version>-pg_tle.sql   for pg_tle (RDS, Aurora, Supabase): run it as a member of pgtle_admin,
#                                 then CREATE EXTENSION pg_ara; it registers this version (and the update
#                                 path from each earlier edition release) and makes it the default.
#   pg_ara-<version>-plain.sql    for servers without pg_tle (Cloud SQL, Azure, Neon, ...): a plain script,
#                                 run by the database owner, that creates or updates schema ara (and
#                                 ara_internal); idempotent: run it again, or the next release's, to update.
# Left out, by name (docs/managed.md says why): the type ara_counts and its functions (ara_counts(),
# ara_rollup(), ara_estimate(ara_counts, ...), ara_total()), which need C input/output functions.
#   bash scripts/edition.sh                 both artefacts of the checked-out version
#   bash scripts/edition.sh --body          only print the fresh-install body (with @extschema@)
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
dist=$(realpath -m "${PG_ARA_DIST:-dist}")
plain_schema=ara
description="Auto Resource Adjustment for Flotilla-style task tables (SQL edition $version): command_hash(), its trigger, ara_estimate(), the ARA lookup, investigation, monitoring and the replay of sizing policies"

# The install order: what each file needs comes before it (the twins of the Rust functions where
# the extension's generated script puts them). "once": only on a fresh install (the schema, the tables;
# the plain script makes the schema itself, idempotently).
manifest=(
  "once sql/schema.sql"
  "edition/hash.sql"
  "edition/estimate.sql"
  "edition/trigger.sql"
  "once sql/tables.sql"
  "sql/enable.sql"
  "sql/backfill.sql"
  "sql/lookup.sql"
  "sql/sizing.sql"
  "edition/lookup.sql"
  "sql/investigate.sql"
  "sql/fingerprint.sql"
  "sql/monitoring.sql"
  "sql/simulate.sql"
  "edition/simulate.sql"
  "sql/tune.sql"
  "sql/state.sql"
)
# Earlier edition releases, oldest first: each gets an update path to this version.
earlier=$(grep -v '^#' edition/releases 2>/dev/null | grep -v "^$version$" || true)

# body MODE: the edition's SQL; MODE fresh (every file) or update (not the "once" files).
body() {
  local entry once file
  for entry in "${manifest[@]}"; do
    once=0 file=$entry
    case "$entry" in "once "*) once=1 file=${entry#once } ;; esac
    [ "$1" = update ] && [ $once = 1 ] && continue
    printf '\n-- ==== %s ====\n' "$file"
    cat "$file"
  done
}

# head FROM: the heads of the extension's upgrade scripts from FROM to this version (what changes
# signatures or adds tables, before the bodies rerun every CREATE OR REPLACE), in order; without the
# lines between "-- compiled extension only {" and "-- }" (the C functions a head creates, which the
# edition has no twin of: it refuses what needs them, docs/managed.md).
heads() {
  local from=$1 f a b
  while [ "$from" != "$version" ]; do
    f=$(ls sql/pg_ara--"$from"--*.sql 2>/dev/null | head -1)
    [ -n "$f" ] || { echo "edition: no upgrade script from $from" >&2; exit 1; }
    b=$(basename "$f" .sql); b=${b##*--}
    printf '\n-- ==== head of %s ====\n' "$(basename "$f")"
    awk '/^-- ==== sql\//{exit} /^-- compiled extension only \{/{skip=1} !skip {print} /^-- \}/{skip=0}' "$f" | grep -v '^\\echo '
    from=$b
  done
}

check_body() {
  local text=$1
  if grep -q '\$_pgtle_\$\|\$install\$' <<<"$text"; then
    echo "edition: the body contains \$_pgtle_\$ or \$install\$, which the installer quotes it with" >&2; exit 1
  fi
  if grep -qi "LANGUAGE c\b\|MODULE_PATHNAME" <<<"$text"; then
    echo "edition: the body names a C function: $(grep -i 'LANGUAGE c\b\|MODULE_PATHNAME' <<<"$text" | head -3)" >&2; exit 1
  fi
}

fresh=$(body fresh)
check_body "$fresh"
if [ "${1:-}" = --body ]; then
  printf '%s\n' "$fresh"
  exit 0
fi
mkdir -p "$dist"

# --- the pg_tle installer ----------------------------------------------------------------------
tle="$dist/pg_ara-$version-pg_tle.sql"
{
  cat <<EOF
-- pg_ara $version, SQL edition, for pg_tle (Trusted Language Extensions: Amazon RDS and Aurora
-- PostgreSQL, Supabase, any PostgreSQL with pg_tle preloaded). Made by scripts/edition.sh.
-- As a member of pgtle_admin (RDS: the master user, who has rds_superuser), in each database:
--   CREATE EXTENSION IF NOT EXISTS pg_tle;
--   \\i pg_ara-$version-pg_tle.sql
--   CREATE EXTENSION pg_ara;          -- or, with an earlier edition installed: ALTER EXTENSION pg_ara UPDATE;
-- Running it again changes nothing. docs/managed.md lists what the edition leaves out and what it costs.
DO \$install\$
DECLARE
    body constant text := \$_pgtle_\$
EOF
  printf '%s\n' "$fresh"
  cat <<EOF
\$_pgtle_\$;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pgtle.available_extensions() WHERE name = 'pg_ara') THEN
        PERFORM pgtle.install_extension('pg_ara', '$version', '$description', body);
    ELSIF NOT EXISTS (SELECT 1 FROM pgtle.available_extension_versions() WHERE name = 'pg_ara' AND version = '$version') THEN
        PERFORM pgtle.install_extension_version_sql('pg_ara', '$version', body);
    END IF;
EOF
  for from in $earlier; do
    update="$(heads "$from")
$(body update)"
    check_body "$update"
    cat <<EOF
    IF NOT EXISTS (SELECT 1 FROM pgtle.extension_update_paths('pg_ara') WHERE source = '$from' AND target = '$version'
                   AND path IS NOT NULL) THEN
        PERFORM pgtle.install_update_path('pg_ara', '$from', '$version', \$_pgtle_\$
EOF
    printf '%s\n' "$update"
    cat <<EOF
\$_pgtle_\$);
    END IF;
EOF
  done
  cat <<EOF
    IF (SELECT default_version FROM pgtle.available_extensions() WHERE name = 'pg_ara') IS DISTINCT FROM '$version' THEN
        PERFORM pgtle.set_default_version('pg_ara', '$version');
    END IF;
END
\$install\$;
EOF
} >"$tle"
echo "wrote $tle" >&2

# --- the plain script ----------------------------------------------------------------------------
plain="$dist/pg_ara-$version-plain.sql"
subst() { sed -e "s/@extschema@/$plain_schema/g" -e 's/^CREATE SCHEMA ara_internal;/CREATE SCHEMA IF NOT EXISTS ara_internal;/'; }
{
  cat <<EOF
-- pg_ara $version, SQL edition, plain script: for PostgreSQL servers with neither compiled extensions
-- nor pg_tle (Google Cloud SQL, Azure Flexible Server, Neon, ...). Made by scripts/edition.sh.
-- As the owner of the database (no superuser needed): psql -v ON_ERROR_STOP=1 -f pg_ara-$version-plain.sql
-- Creates schema $plain_schema (what you call: $plain_schema.ara_resources(...), or put it on search_path) and
-- ara_internal. Running it again, or a later release's script, updates in place; one transaction.
BEGIN;
CREATE SCHEMA IF NOT EXISTS $plain_schema;
COMMENT ON SCHEMA $plain_schema IS 'pg_ara $version (SQL edition, plain script): see docs/managed.md.';
EOF
  subst <sql/schema.sql
  cat <<EOF
CREATE TABLE IF NOT EXISTS ara_internal.ara_edition (version text NOT NULL, installed_at timestamptz NOT NULL DEFAULT now());
COMMENT ON TABLE ara_internal.ara_edition IS 'pg_ara internal (SQL edition, plain script): the version installed here.';
-- A script of another edition release over this one: only from an earlier release, by its update path.
DO \$check\$
DECLARE
    installed text := (SELECT version FROM ara_internal.ara_edition LIMIT 1);
BEGIN
    IF installed IS NOT NULL AND installed <> '$version' AND installed <> ALL (string_to_array('$(echo $earlier)', ' ')) THEN
        RAISE EXCEPTION 'pg_ara plain script $version: cannot update from %', installed USING ERRCODE = '22023',
            HINT = 'Run the script of each release in between, in order.';
    END IF;
END
\$check\$;
EOF
  for from in $earlier; do
    printf "DO \$update\$ BEGIN IF (SELECT version FROM ara_internal.ara_edition LIMIT 1) = '%s' THEN EXECUTE \$head\$\n" "$from"
    heads "$from" | subst
    printf "\$head\$; END IF; END \$update\$;\n"
  done
  # The tables, on a fresh install only (outside an extension there is no pg_extension_config_dump:
  # pg_dump dumps them as any table).
  printf "DO \$tables\$ BEGIN IF to_regclass('%s.ara_backfill_progress') IS NULL THEN EXECUTE \$body\$\n" "$plain_schema"
  subst <sql/tables.sql | grep -v '^SELECT pg_catalog.pg_extension_config_dump('
  printf "\$body\$; END IF; END \$tables\$;\n"
  body update | subst
  cat <<EOF
DELETE FROM ara_internal.ara_edition;
INSERT INTO ara_internal.ara_edition (version) VALUES ('$version');
COMMIT;
EOF
} >"$plain"
if grep -q '\$body\$\|\$head\$' <(body update); then
  echo "edition: the body contains \$body\$ or \$head\$, which the plain script quotes with" >&2; exit 1
fi
echo "wrote $plain" >&2
echo "$tle"
echo "$plain"
