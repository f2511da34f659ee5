#!/usr/bin/env bash
# Upgrading PostgreSQL itself with pg_ara installed (docs/upgrading.md, "Upgrading PostgreSQL itself").
# For each older tested major O: a cluster of O with a Flotilla task table as a user has it
# (tests/answers/history.sql: pg_ara enabled on a history written with the bug's hashes, a definition
# keyed by fingerprint, one right-sized, the lookup's indexes, kept ara_counts values, a view over
# ara_estimate) and a backfill interrupted half-way (a row lock it timed out on); every answer is
# recorded (tests/answers/answers.sql). Then, for each newer tested major N, pg_upgrade from O to N
# (copy mode, so O's cluster stays for the next N; N's initdb matches O's checksums and locale) and
# on N: the same answers, line for line; the triggers still firing (INSERT, COPY, a client-sent wrong
# hash), the backfill resuming where it stopped and ending with no row out of line, ALTER EXTENSION
# pg_ara UPDATE a no-op. And a pg_dump of O (N's pg_dump, as PostgreSQL advises) restored into N: the
# same answers but for the backfill progress, which a dump does not keep.
# Needs pg_ara (the same build) installed in every major of PG_ARA_MAJORS (scripts/test.sh does it).
# PG_ARA_UPGRADES="15:18 16:17" limits the upgrades made (default: every older -> newer pair).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/pg_majors.sh
source tests/answers/lib.sh
fail() { echo "FAILED: $*"; exit 1; }
read -ra majors <<<"$(echo $PG_ARA_MAJORS | tr ' ' '\n' | sort -n | tr '\n' ' ')"
[ ${#majors[@]} -ge 2 ] || { echo "SKIPPED: pg_upgrade needs two majors, PG_ARA_MAJORS is ${PG_ARA_MAJORS}"; exit 0; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Below the ephemeral port range (32768 and up), so no client connection of the moment holds a server's port.
base_port=${PG_ARA_UPGRADE_PORT:-26950}
work=$(mktemp -d "${TMPDIR:-/tmp}/pg_ara-pg_upgrade.XXXXXX")
chmod 755 "$work"
install -d -m 700 -o "$PG_OS_USER" "$work/run"
running=()
cleanup() {
  local d
  for d in "${running[@]}"; do
    as_pg "${d%%|*}/pg_ctl" -D "${d#*|}" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
# PG_ARA_KEEP=1 keeps the answers (and the logs) for a look afterwards.
[ -z "${PG_ARA_KEEP:-}" ] || trap 'echo "kept: $work"' EXIT

bin_of() { "$(pg_config_for "$1")" --bindir; }
# start BIN DATA PORT / stop BIN DATA
start() {
  as_pg "$1/pg_ctl" -D "$2" -l "$2.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $3 -c unix_socket_directories='$work/run'" start >/dev/null \
    || { cat "$2.log"; fail "PostgreSQL in $2 did not start"; }
  running+=("$1|$2")
}
stop() {
  as_pg "$1/pg_ctl" -D "$2" -m fast -w stop >/dev/null
  local keep=() d
  for d in "${running[@]}"; do [ "$d" = "$1|$2" ] || keep+=("$d"); done
  running=("${keep[@]}")
}
q() { local bin=$1 port=$2; shift 2; "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
# initdb_like BIN DATA OLD_BIN OLD_DATA: a new cluster with the old one's checksum setting, encoding and locale
# (pg_upgrade refuses a mismatch). 18 turns checksums on by default, so the setting is always given
# where the major knows both options; before 18, off is the default and --no-data-checksums does not exist.
initdb_like() {
  local bin=$1 data=$2 obin=$3 old=$4 checksums args=()
  checksums=$(as_pg "$obin/pg_controldata" -D "$old" | sed -n 's/^Data page checksum version: *//p')
  [ -n "$checksums" ] || fail "pg_controldata $old: no checksum version"
  if [ "$checksums" != 0 ]; then
    args+=(--data-checksums)
  elif grep -q -- '--no-data-checksums' <<<"$("$bin/initdb" --help)"; then   # no pipe: grep -q would leave initdb a SIGPIPE
    args+=(--no-data-checksums)
  fi
  as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 "${args[@]}" >"$data.initdb.log" 2>&1 \
    || { cat "$data.initdb.log"; fail "initdb $data"; }
}

upgrades=()
for ((i = 0; i < ${#majors[@]}; i++)); do
  for ((j = i + 1; j < ${#majors[@]}; j++)); do
    pair="${majors[i]}:${majors[j]}"
    if [ -z "${PG_ARA_UPGRADES:-}" ] || [[ " $PG_ARA_UPGRADES " == *" $pair "* ]]; then upgrades+=("$pair"); fi
  done
done
echo "upgrades: ${upgrades[*]}"

for old in "${majors[@]}"; do
  news=()
  for pair in "${upgrades[@]}"; do [ "${pair%%:*}" = "$old" ] && news+=("${pair#*:}"); done
  [ ${#news[@]} -gt 0 ] || continue
  t0=$(date +%s)
  obin=$(bin_of "$old") odata="$work/run/pg$old" oport=$((base_port + old - 10))
  as_pg "$obin/initdb" -D "$odata" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$odata.initdb.log" 2>&1 \
    || { cat "$odata.initdb.log"; fail "initdb $old"; }
  start "$obin" "$odata" "$oport"
  q "$obin" "$oport" -d postgres -c "CREATE DATABASE flotilla"
  q "$obin" "$oport" -d flotilla -f tests/answers/history.sql >/dev/null
  old_db() { q "$obin" "$oport" -d flotilla "$@"; }
  left=$(answers_interrupt_backfill old_db)
  q "$obin" "$oport" -d flotilla -c "ANALYZE"
  q "$obin" "$oport" -d flotilla -f tests/answers/answers.sql >"$work/answers-$old" 2>&1 || { cat "$work/answers-$old"; fail "answers on $old"; }
  q "$obin" "$oport" -d flotilla -v with_progress=0 -f tests/answers/answers.sql >"$work/answers-noprogress-$old" 2>&1
  grep -q "^ *{run-02" "$work/answers-$old" || fail "the interrupted backfill left no progress row on $old: $(tail -5 "$work/answers-$old")"
  stop "$obin" "$odata"
  echo "ok: PostgreSQL $old: history, an interrupted backfill ($left rows still out of line), $(wc -l <"$work/answers-$old") lines of answers ($(( $(date +%s) - t0 )) s)"

  for new in "${news[@]}"; do
    t0=$(date +%s)
    nbin=$(bin_of "$new") ndata="$work/run/pg$old-to-$new" nport=$((base_port + 20 + new - 10))
    initdb_like "$nbin" "$ndata" "$obin" "$odata"
    # pg_upgrade writes its logs into the current directory's pg_upgrade_output.d (in the new data dir from 15 on).
    if ! (cd "$work/run" && as_pg "$nbin/pg_upgrade" -b "$obin" -B "$nbin" -d "$odata" -D "$ndata" \
            -p "$oport" -P "$nport" -U postgres -s "$work/run" >"$work/run/upgrade-$old-$new.log" 2>&1); then
      cat "$work/run/upgrade-$old-$new.log"
      find "$ndata" "$work/run" -name '*.log' -path '*pg_upgrade*' -exec tail -20 {} + 2>/dev/null || true
      fail "pg_upgrade $old -> $new"
    fi
    start "$nbin" "$ndata" "$nport"
    # What pg_upgrade asks for afterwards: planner statistics (before 18 they are not carried over).
    q "$nbin" "$nport" -d flotilla -c "ANALYZE"
    q "$nbin" "$nport" -d flotilla -f tests/answers/answers.sql >"$work/after-$old-$new" 2>&1 || true
    diff -u "$work/answers-$old" "$work/after-$old-$new" || fail "pg_upgrade $old -> $new: answers differ (- before on $old, + after on $new)"
    new_db() { q "$nbin" "$nport" -d flotilla "$@"; }
    answers_writers_and_resume new_db "pg_upgrade $old -> $new"
    # ALTER EXTENSION pg_ara UPDATE changes nothing: the same version, the same catalog.
    q "$nbin" "$nport" -d flotilla -f tests/shell/catalog.sql >"$work/catalog-before" 2>&1
    out=$(q "$nbin" "$nport" -d flotilla -c "ALTER EXTENSION pg_ara UPDATE" 2>&1)
    echo "$out" | grep -q "version \"$version\" of extension \"pg_ara\" is already installed" || fail "ALTER EXTENSION pg_ara UPDATE: $out"
    q "$nbin" "$nport" -d flotilla -f tests/shell/catalog.sql >"$work/catalog-after" 2>&1
    cmp -s "$work/catalog-before" "$work/catalog-after" || fail "ALTER EXTENSION pg_ara UPDATE changed the catalog"
    echo "ok: pg_upgrade $old -> $new: the same $(wc -l <"$work/answers-$old") lines of answers; INSERT, COPY and a client's wrong hash keyed by the trigger; the backfill resumed to 0 rows out of line; ALTER EXTENSION UPDATE a no-op ($(( $(date +%s) - t0 )) s)"

    # pg_dump of the old major (with the new major's pg_dump) restored into the new one.
    if [ "$new" = "${majors[-1]}" ]; then
      start "$obin" "$odata" "$oport"
      as_pg "$nbin/pg_dump" -h 127.0.0.1 -p "$oport" -U postgres -Fc -f "$work/run/flotilla-$old.dump" flotilla
      stop "$obin" "$odata"
      q "$nbin" "$nport" -d postgres -c "CREATE DATABASE restored"
      as_pg "$nbin/pg_restore" -h 127.0.0.1 -p "$nport" -U postgres -d restored --exit-on-error "$work/run/flotilla-$old.dump" \
        || fail "pg_restore of a $old dump into $new"
      q "$nbin" "$nport" -d restored -c "ANALYZE"
      q "$nbin" "$nport" -d restored -v with_progress=0 -f tests/answers/answers.sql >"$work/restored-$old-$new" 2>&1 || true
      diff -u "$work/answers-noprogress-$old" "$work/restored-$old-$new" \
        || fail "pg_dump $old | pg_restore into $new: answers differ (- before on $old, + restored on $new)"
      out=$(q "$nbin" "$nport" -At -d restored -c "INSERT INTO task (run_id, definition_id, command, command_hash) VALUES ('r-1', 'def-a', 'x', 'wrong') RETURNING command_hash = md5('x')")
      [ "$out" = t ] || fail "the trigger in the restored database"
      echo "ok: pg_dump of $old restored into $new: the same answers (but the backfill progress, which is not dumped), the trigger fires"
    fi
    stop "$nbin" "$ndata"
    rm -rf "$ndata"
  done
  rm -rf "$odata"
done
echo "ok"
