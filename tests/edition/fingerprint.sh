#!/usr/bin/env bash
# The SQL edition's command_fingerprint() (edition/hash.sql: the rules of src/core/fingerprint.rs written
# as PostgreSQL regular expressions) against the extension's, byte for byte, on one server: the edition's
# functions are loaded into scratch schemas beside the installed extension and both fingerprint the same
# corpus: commands built from the pieces the rules look at (dates in every form and just outside them,
# timestamps with and without seconds, fractions and zones, UUIDs, hex ids, numbers as whole arguments,
# KEY=values, quotes) and random strings over an alphabet rich in the rules' characters, with ASCII and
# non-ASCII white space and letters. Also command_hash() and both keys. Every difference fails the test.
# Needs PGHOST/PGPORT/PGUSER of a running cluster with pg_ara installed (scripts/test.sh sets them).
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
DB=ara_fingerprint_edition
fail() { echo "FAILED: $*"; exit 1; }
psql_db() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$1" "${@:2}"; }
psql_db postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_db $DB -c "CREATE EXTENSION pg_ara" -c "CREATE SCHEMA ed" -c "CREATE SCHEMA ed_internal"
# The edition's twins, in schemas of their own (its ara_internal helper too).
sed -e 's/@extschema@/ed/g' -e 's/ara_internal\./ed_internal./g' edition/hash.sql | psql_db $DB >/dev/null

out=$(psql_db $DB -At -F ' | ' <<'SQL'
CREATE TEMP TABLE corpus (c text);
-- Commands from the pieces the rules look at, each piece in several neighbourhoods.
INSERT INTO corpus
SELECT concat_ws(' ', 'python3', s, f, v, w)
FROM unnest(ARRAY['/jobs/etl.py', 'score.py', 'py3/run_v2.py', 's3://b/2025-11-23/part-0000.parquet', 'run-20251123.sh']) s,
     unnest(ARRAY['--as_of', '--date=', '-n', 'DATE=', '--id', '']) f,
     unnest(ARRAY['20251123', '20251323', '20251100', '19000101', '18991231', '21000101', '2025-11-23', '2025/11/23',
                  '2025-11/23', '120251123', '2025112', '2025-11-23T15:10', '2025-11-23T15:10:01', '2025-11-23t15:10:01z',
                  '2025-11-23T15:10:01.123', '2025-11-23T15:10:01.123+01:00', '2025-11-23T15:10+0100', '2025-11-23T15:10:01-05',
                  '2025-11-23T15:10:01x', '2025-11-23T15:10:0', '2025-11-23T15:1', 'x2025-11-23T15:10:01Z', '2025-11-23T15:10:01Z9',
                  '3f2b8c1e-9a4d-4e2b-8f1a-0c9d7e6b5a43', '3F2B8C1E-9A4D-4E2B-8F1A-0C9D7E6B5A43', '3f2b8c1e-9a4d-4e2b-8f1a-0c9d7e6b5a4',
                  'x3f2b8c1e-9a4d-4e2b-8f1a-0c9d7e6b5a43', 'deadbeefcafe', 'deadbeefcafe1', '9f3c2a1b7e6d', '9f3c2a1b7e6', '123456789012',
                  'abcdefabcdef0', 'sha256:4c1d2e3f4a5b6c7d8e9f', '0x1f', '5', '-5', '+0.25', '0.', '.5', '1.2.3', '"500"', '''7''', '"7''',
                  '"', '--n=5', 'RETRIES=3', '=3', 'a.b-c_d=12', 'a b=1', 'k=v=1', '<num>', '<date>']) v,
     unnest(ARRAY['', 'us', 'part-0', 'é20251123', '日本 2025-11-23']) w;
-- Random strings over the rules' characters (a fixed generator: the same corpus on every server).
INSERT INTO corpus
SELECT string_agg(substr(E'0123456789abcdefABCDEFT:-/+.=Zz \'"x_<>\t\n\f\r\x0b\u00e9\u65e5\u00a0', 1 + (('x' || substr(md5(i || '/' || j), 1, 8))::bit(32)::bigint % 44)::int, 1), '' ORDER BY j)
FROM generate_series(1, 30000) i, generate_series(1, 1 + i % 40) j GROUP BY i;
-- Random commands of dates, timestamps, uuids, hex and numbers between words.
INSERT INTO corpus
SELECT string_agg(CASE (('x' || substr(md5(i || ':' || j), 1, 2))::bit(8)::int % 9)
           WHEN 0 THEN (20250101 + (('x' || substr(md5(j || ':' || i), 1, 4))::bit(16)::int % 1300))::text
           WHEN 1 THEN to_char(timestamp '2025-01-01' + (i * 7919 + j) * interval '37 minutes', 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN i % 3 = 0 THEN 'Z' WHEN i % 3 = 1 THEN '+01:00' ELSE '' END
           WHEN 2 THEN md5(i::text || j)::uuid::text
           WHEN 3 THEN substr(md5(j::text || i), 1, 12 + i % 8)
           WHEN 4 THEN ((i * j) % 100000)::text
           WHEN 5 THEN '--n=' || (i % 1000)
           WHEN 6 THEN 'part-' || lpad((j % 100)::text, 4, '0')
           WHEN 7 THEN '/data/' || to_char(date '2025-01-01' + (i % 400), 'YYYY/MM/DD') || '/x.csv'
           ELSE (ARRAY['python3', 'train.py', '--epochs', 'model_v2', '-n', 'us'])[1 + (i + j) % 6] END, ' ' ORDER BY j)
FROM generate_series(1, 20000) i, generate_series(1, 1 + i % 12) j GROUP BY i;
INSERT INTO corpus VALUES (''), ('   '), (E'\t\n'), (NULL);
SELECT 'corpus', count(*) FROM corpus;
SELECT 'fingerprints differ', count(*) FROM corpus WHERE command_fingerprint(c) IS DISTINCT FROM ed.command_fingerprint(c);
SELECT 'hashes differ', count(*) FROM corpus
 WHERE command_hash(c) IS DISTINCT FROM ed.command_hash(c) OR command_hash(c, 'd') IS DISTINCT FROM ed.command_hash(c, 'd')
    OR command_hash(c, c) IS DISTINCT FROM ed.command_hash(c, c)
    OR command_fingerprint_hash(c, 'd') IS DISTINCT FROM ed.command_fingerprint_hash(c, 'd');
SELECT 'example', c, command_fingerprint(c), ed.command_fingerprint(c) FROM corpus
 WHERE command_fingerprint(c) IS DISTINCT FROM ed.command_fingerprint(c) LIMIT 5;
SELECT 'masked', count(*) FROM corpus WHERE command_fingerprint(c) ~ '<(date|ts|uuid|hex|num)>';
SQL
)
echo "$out"
corpus=$(sed -n 's/^corpus | //p' <<<"$out")
[ "$corpus" -gt 50000 ] || fail "the corpus is too small: $corpus"
grep -qx "fingerprints differ | 0" <<<"$out" || fail "the edition's fingerprints differ from the extension's (examples above)"
grep -qx "hashes differ | 0" <<<"$out" || fail "the edition's hashes differ from the extension's"
[ "$(sed -n 's/^masked | //p' <<<"$out")" -gt 10000 ] || fail "too few commands with a masked value: the corpus misses the rules"
psql_db postgres -c "DROP DATABASE $DB"
echo "ok: the edition's command_fingerprint(), command_hash() and command_fingerprint_hash() equal the extension's on $corpus commands"
