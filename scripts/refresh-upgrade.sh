#!/usr/bin/env bash
# Rebuilds the body of the upgrade script to the version in development from the SQL files it is
# made of (named on its head's "-- body:" line, e.g. "-- body: enable backfill lookup"), keeping its
# hand-written head (everything before the first "-- ==== sql/" line). Only for an upgrade script whose target version is NOT released:
# once released, an upgrade script is frozen. The upgrade test (tests/shell/upgrade.sh) compares a
# fresh install with an upgraded one, so a stale body fails the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
script=${1:-$(ls sql/pg_ara--*--*.sql | sort -V | tail -1)}
target=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
case "$script" in *"--${target}.sql") ;; *) echo "refusing: $script does not upgrade to ${target} (the version in development)" >&2; exit 1 ;; esac
head=$(awk '/^-- ==== sql\//{exit} {print}' "$script")
# An empty "-- body:" line: the script is its head alone (no SQL file changed).
grep -q '^-- body:' "$script" || { echo "$script: no '-- body:' line in its head" >&2; exit 1; }
files=$(sed -n 's/^-- body: *//p' "$script" | head -1)
{
  printf '%s\n' "$head"
  for f in $files; do
    printf '\n-- ==== sql/%s.sql (as in the %s install script) ====\n' "$f" "$target"
    cat "sql/$f.sql"
  done
} > "$script.tmp"
mv "$script.tmp" "$script"
echo "rebuilt $script"
