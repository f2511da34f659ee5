-- A realistic Flotilla task history, written the way the buggy service wrote it (command_hash =
-- md5(description), NULL without a description). Not part of the extension: the demo's fixture.
-- psql variables: runs (default 300000), seed (default 0.42). Deterministic for a given seed and
-- size; a few seconds for 300,000 runs. The last 30 days before the report's smoking gun
-- (2025-11-24 15:10:01 UTC), with the report's patterns:
--   1. the daily calibrate job: date-parameterised commands under one description, with OOMs,
--      and the report's own four runs (1024, 1792, 1024 MB OOMs, then the 3136 MB run);
--   2. a description collision: two ETL commands, many runs, one of them OOM-prone;
--   3. NULL hashes: a definition whose runs carry no description (55 commands), Spark runs;
--   4. an OOM chain compounding x1.75 to the 350000 MB cap;
--   5. many healthy runs of many definitions;
-- and, for every run, a measured peak and a runtime by command (for ara_simulate and ara_waste).
\if :{?runs} \else \set runs 300000 \endif
\if :{?seed} \else \set seed 0.42 \endif
SET timezone = 'UTC';

\ir flotilla_task.sql
CREATE INDEX task_definition_id ON task (definition_id);
CREATE INDEX task_queued_status_engine ON task (queued_at, status, engine);

SELECT setseed(:seed) AS seeded \gset
-- A run id shaped like Flotilla's ('eks-xxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'), from a number.
CREATE TEMP TABLE gen (
    n bigint, definition_id text, command text, description text, memory integer, cpu integer,
    exit_code integer, exit_reason text, engine text, queued_at timestamptz
);

-- 5. Healthy background: 200 definitions with a few commands each; one in twelve definitions sends
--    no description (NULL hash), Spark definitions send none of either half the time.
INSERT INTO gen
SELECT i, 'team' || d || '-' || substr(md5('def' || d), 1, 8) || '-' || substr(md5('def' || d), 9, 4),
       CASE WHEN d % 17 = 0 THEN NULL   -- Spark: no command
            ELSE format('python3 /jobs/team%s/%s.py --shard %s', d, (ARRAY['ingest', 'score', 'report', 'export'])[1 + c], c) END,
       CASE WHEN d % 12 = 0 THEN NULL
            WHEN d % 17 = 0 AND i % 2 = 0 THEN NULL
            ELSE format('Team %s %s job', d, (ARRAY['ingest', 'score', 'report', 'export'])[1 + c]) END,
       (512 * (1 + (d % 16)))::int, (256 * (1 + d % 8))::int,
       CASE WHEN oom THEN 137 WHEN random() < 0.02 THEN 1 ELSE 0 END,
       CASE WHEN oom AND random() < 0.5 THEN 'OOMKilled' END,
       CASE WHEN d % 17 = 0 THEN 'eks-spark' ELSE 'eks' END,
       timestamptz '2025-10-25 15:10:01' + random() * interval '30 days'
FROM (SELECT i, (1 + (i::bigint * 7919 % 200))::int AS d, (i / 7 % 4)::int AS c, random() < 0.01 AS oom
      FROM generate_series(1, greatest(:runs - least(:runs / 60, 162) - greatest(:runs / 30, 200)
                                  - greatest(:runs / 100, 110) - 16 - 4, 1000)) i) s;

-- 1. The daily calibrate job, Oct 25 .. Nov 21: each day's command names the day before; one
--    description for all; a third of the runs OOM-killed.
INSERT INTO gen
SELECT 10000000 + i, 'sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
       'python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of '
         || to_char(day - interval '1 day', 'YYYYMMDD'),
       'Calibrate Psale Prod / Calibrate Psale',
       (ARRAY[1024, 1024, 1792])[1 + (i % 3)], 256,
       CASE WHEN random() < 0.33 THEN 137 ELSE 0 END, NULL, 'eks',
       day + random() * interval '20 hours'
FROM (SELECT i, timestamptz '2025-10-25 00:00' + (i / 6) * interval '1 day' AS day
      FROM generate_series(0, least(:runs / 60, 6 * 27) - 1) i) s
WHERE day < timestamptz '2025-11-21';

-- 2. Two ETL commands under one description; the EU one is heavy and OOMs, the US one inherits.
INSERT INTO gen
SELECT 20000000 + i, 'data-platform-d834291f-d984-408e-5da4-8646f7e2f5b7',
       CASE WHEN i % 2 = 0 THEN 'python3 etl.py --region us' ELSE 'python3 etl.py --region eu' END,
       'Nightly ETL',
       CASE WHEN i % 2 = 0 THEN 2048 ELSE 24576 END, 1000,
       CASE WHEN i % 2 = 1 AND random() < 0.15 THEN 137 ELSE 0 END,
       NULL, 'eks', timestamptz '2025-10-25 15:10:01' + random() * interval '30 days'
FROM generate_series(1, greatest(:runs / 30, 200)) i;

-- 3. No description at all: 55 commands, NULL hashes, no ARA ever.
INSERT INTO gen
SELECT 30000000 + i, 'sf-base_python-3_11-7449eda4-b8b3-4146-77c5-a47f8caac81b',
       format('python3 notebooks/run.py --notebook analysis_%s.ipynb', i % 55), NULL,
       4096, 1000, CASE WHEN random() < 0.1 THEN 137 ELSE 0 END, NULL, 'eks',
       timestamptz '2025-10-25 15:10:01' + random() * interval '30 days'
FROM generate_series(1, greatest(:runs / 100, 110)) i;

-- 4. An OOM chain: a training job whose every run is killed; ARA asks 1.75x the last each time,
--    until the 350000 MB cap. Each day's command differs (a date argument), the description is shared.
INSERT INTO gen
WITH RECURSIVE chain(k, memory) AS (
    SELECT 0, 2048::numeric
    UNION ALL
    SELECT k + 1, least(350000, round(memory * 1.75)) FROM chain WHERE k < 15
)
SELECT 40000000 + k, 'sf-base_pytorch2-24__5-py3-ceef4c9e-6ebc-41e5-6cef-a334aed6e829',
       'python3 train_ranker.py --date ' || to_char(timestamptz '2025-11-22 00:00' + k * interval '3 hours', 'YYYYMMDD'),
       'Train ranking model', memory, 4000, 137, 'OOMKilled', 'eks',
       timestamptz '2025-11-22 00:00' + k * interval '3 hours'
FROM chain;

INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, gpu, exit_code,
                  exit_reason, engine, status, queued_at, started_at, finished_at, memory_limit, cpu_limit,
                  attempt_count, task_type, executable_type, node_lifecycle, arch)
SELECT 'eks-' || substr(h, 1, 4) || '-' || substr(h, 5, 4) || '-' || substr(h, 9, 4) || '-' || substr(h, 13, 4)
         || '-' || substr(h, 17, 12),
       g.definition_id, g.command, g.description, md5(g.description), g.memory, g.cpu, 0, g.exit_code,
       g.exit_reason, g.engine, 'STOPPED', g.queued_at, g.queued_at + interval '1 minute',
       g.queued_at + interval '20 minutes', g.memory, g.cpu, 1, 'task', 'task_definition', 'spot', 'amd64'
FROM (SELECT gen.*, md5('run' || n) AS h FROM gen) g;

-- The report's own runs, with their run ids.
INSERT INTO task (run_id, definition_id, command, description, command_hash, memory, cpu, gpu, exit_code,
                  exit_reason, engine, status, queued_at)
SELECT r, 'sf-base_python-3_9-59ab1a32-cdda-4eb8-5824-49d17d96b1fd',
       'python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of ' || d,
       'Calibrate Psale Prod / Calibrate Psale', md5('Calibrate Psale Prod / Calibrate Psale'), m, 256, 0, e,
       CASE WHEN e = 137 THEN 'OOMKilled' END, 'eks', 'STOPPED', q::timestamptz
FROM (VALUES
  ('eks-c662-2a1e-44f7-9b1c-3c2a61f0e7d1', '20251121', 1024, 137, '2025-11-22 09:12:44'),
  ('eks-a9fd-92f6-4fe1-8d0e-55b7c1a4f902', '20251121', 1792, 137, '2025-11-22 13:40:02'),
  ('eks-055c-c578-4951-75d8-3f5a0bb15b37', '20251122', 1024, 137, '2025-11-23 09:05:51'),
  ('eks-0d33-a443-43b9-45f9-04b780868880', '20251123', 3136, 0, '2025-11-24 15:10:01')
) v(r, d, m, e, q);
-- Measured peaks and runtimes (what ara_simulate and ara_waste read; ARA itself does not): each
-- command needs a typical share of what its runs request and runs a typical time; each run varies
-- around them. A successful run peaked at most at its request (it survived); an OOM-killed run at
-- its limit, part-way through. Deterministic (hashes of the command and run id), like the rest.
UPDATE task t
   SET max_memory_used = CASE WHEN t.exit_code = 137 OR t.exit_reason = 'OOMKilled' THEN t.memory
                              ELSE least(t.memory, greatest(64, round(t.memory * v.need * v.jitter)))::int END,
       finished_at = t.started_at + v.minutes * v.span * interval '1 minute'
                     * CASE WHEN t.exit_code = 137 OR t.exit_reason = 'OOMKilled' THEN 0.4 ELSE 1 END
  FROM (SELECT u.run_id,
               0.3 + 0.6 * ((hashtext(coalesce(u.command, u.definition_id)) & 1023) / 1023.0) AS need,
               0.85 + 0.3 * ((hashtext(u.run_id) & 1023) / 1023.0) AS jitter,
               5 + (hashtext(coalesce(u.command, u.definition_id) || ' runtime') & 127) AS minutes,
               0.7 + 0.6 * ((hashtext(u.run_id || ' span') & 1023) / 1023.0) AS span
          FROM task u) v
 WHERE v.run_id = t.run_id;
DROP TABLE gen;
ANALYZE task;
