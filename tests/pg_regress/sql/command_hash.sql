-- command_hash(): equal to md5() and to Go's fmt.Sprintf("%x", md5.Sum([]byte(cmd))).
CREATE EXTENSION IF NOT EXISTS pg_ara;
SELECT command_hash('Calibrate Psale Prod / Calibrate Psale') AS report_vector;
SELECT command_hash('python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251122') AS nov23,
       command_hash('python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251123') AS nov24;
-- 10,000 generated strings (ASCII, 2/3/4-byte UTF-8, whitespace, quotes, backslashes, empty).
SELECT count(*) AS strings, count(*) FILTER (WHERE command_hash(s) IS DISTINCT FROM md5(s)) AS mismatches
FROM (
    SELECT (SELECT coalesce(string_agg((ARRAY['a','Z','0',' ',E'\t',E'\n','é','ß','日','🚀','€','''','\'])[1 + (i * 31 + j * 7) % 13], ''), '')
            FROM generate_series(1, i % 257) j) AS s
    FROM generate_series(1, 10000) i
) g;
SELECT command_hash(repeat('x', 1048576)) = md5(repeat('x', 1048576)) AS one_mb,
       command_hash('') = md5('') AS empty, command_hash('  ') = md5('  ') AS spaces,
       command_hash(NULL::text) IS NULL AS strict_null, command_hash('abc'::varchar) AS varchar_arg;
-- The 2-argument rule: command, else description, else NULL (empty counts as missing).
SELECT c, d, command_hash(c, d) AS hash,
       CASE command_hash(c, d) WHEN md5(c) THEN 'command' WHEN md5(d) THEN 'description' END AS from_
FROM (VALUES ('cmd', 'desc'), ('cmd', NULL), ('cmd', ''), (NULL, 'desc'), ('', 'desc'), (' ', 'desc'),
             (NULL, NULL), ('', ''), (NULL, ''), ('', NULL)) v(c, d);
-- Volatility, strictness, parallel safety and documentation, as \df+ shows them.
SELECT p.oid::regprocedure AS function, p.provolatile, p.proisstrict, p.proparallel,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS documented
FROM pg_proc p WHERE p.proname = 'command_hash' ORDER BY p.pronargs;
