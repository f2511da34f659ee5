#!/usr/bin/env bash
# Rewrites the expected-output part of tests/edition/expected.patch from a run of the suite against the
# SQL edition (tests/edition/regress.sh), keeping by hand what a person must decide: the changes to test
# files (a/sql/...) and the comment above each file's section, which says why the edition legitimately
# answers otherwise there. A file whose section has no comment yet makes this fail: write one, run again.
# Read every new hunk before committing: a difference that is not legitimate is a bug in the edition.
#   PG_MAJOR=18 PG_CONFIG=... bash scripts/edition-refresh-patch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
PG_ARA_EDITION_DIFFS="$out" bash tests/edition/regress.sh >"$out/run.log" 2>&1 || true
[ -d "$out/results" ] || { cat "$out/run.log"; echo "refresh-patch: the suite did not run" >&2; exit 1; }
python3 - "$out" <<'PY'
import os, subprocess, sys
out = sys.argv[1]
path = 'tests/edition/expected.patch'
lines = open(path).read().split('\n')
# The header: the lines up to the first blank one. Then sections: '#' comment lines (why), then a
# '--- a/FILE' line and its hunks. A '#' at the start of a line never belongs to a hunk.
blank = lines.index('')
header, rest = lines[:blank], lines[blank + 1:]
sections, order, pending, current = {}, [], [], None
for line in rest:
    if line.startswith('#'):
        pending.append(line)
        current = None
    elif line.startswith('--- a/'):
        current = line[len('--- a/'):].split('\t')[0]
        sections[current] = {'comment': pending, 'body': [line]}
        order.append(current)
        pending = []
    elif current is not None and line != '':
        sections[current]['body'].append(line)
result = header + ['']
for name in order:
    if name.startswith('sql/'):
        result += sections[name]['comment'] + sections[name]['body'] + ['']
missing = []
for f in sorted(os.listdir(os.path.join(out, 'results'))):
    exp = os.path.join('tests/pg_regress/expected', f)
    got = os.path.join(out, 'results', f)
    d = subprocess.run(['diff', '-u', '--label', 'a/expected/' + f, '--label', 'b/expected/' + f, exp, got],
                       capture_output=True, text=True).stdout
    if not d:
        continue
    name = 'expected/' + f
    comment = sections.get(name, {}).get('comment') or ['# REASON NEEDED']
    if comment == ['# REASON NEEDED']:
        missing.append(name)
    result += comment + d.rstrip('\n').split('\n') + ['']
open(path, 'w').write('\n'.join(result))
if missing:
    sys.exit('refresh-patch: write why the edition answers otherwise in ' + ', '.join(missing) +
             ' (the "# REASON NEEDED" lines in ' + path + '), then run again')
PY
grep -E '^(ok|not ok)' "$out/run.log" || true
echo "rewrote tests/edition/expected.patch; read its hunks"
