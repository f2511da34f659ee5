-- pg_ara demo: the ARA command_hash bug on a Flotilla-shaped task table, and the fix in the database.
\pset footer off
\echo
\echo '== 1. command_hash(): the hash of the command, equal to md5() and to Go''s md5.Sum'
CREATE EXTENSION pg_ara;
SELECT command_hash('Calibrate Psale Prod / Calibrate Psale') AS report_vector,
       command_hash('Calibrate Psale Prod / Calibrate Psale') = md5('Calibrate Psale Prod / Calibrate Psale') AS equals_md5;

\echo '== 2. A task table written by the buggy service: hash = md5(description), NULL without one'
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, memory integer, cpu integer, exit_code integer, exit_reason varchar,
                   engine varchar NOT NULL DEFAULT 'eks', status varchar, queued_at timestamptz);
INSERT INTO task VALUES
 ('eks-c662', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251121', 'Calibrate Psale Prod / Calibrate Psale', md5('Calibrate Psale Prod / Calibrate Psale'), 1024, 256, 137, 'OOMKilled', 'eks', 'STOPPED', '2025-11-22 09:00+00'),
 ('eks-a9fd', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251121', 'Calibrate Psale Prod / Calibrate Psale', md5('Calibrate Psale Prod / Calibrate Psale'), 1792, 256, 137, 'OOMKilled', 'eks', 'STOPPED', '2025-11-22 12:00+00'),
 ('eks-055c', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251122', 'Calibrate Psale Prod / Calibrate Psale', md5('Calibrate Psale Prod / Calibrate Psale'), 1024, 256, 137, 'OOMKilled', 'eks', 'STOPPED', '2025-11-23 09:00+00'),
 ('eks-71aa', 'sf-base_python-3_11', 'python3 train.py --epochs 3', NULL, NULL, 4096, 1000, 137, 'OOMKilled', 'eks', 'STOPPED', '2025-11-23 10:00+00'),
 ('eks-71ab', 'sf-base_python-3_11', 'python3 train.py --epochs 3', NULL, NULL, 6144, 1000, 137, 'OOMKilled', 'eks', 'STOPPED', '2025-11-23 11:00+00');

\echo '-- the Nov 24 run (--as_of 20251123) inherits OOMs of two other commands: 1792 * 1.75 = 3136 MB'
SELECT ara_estimate(memory) AS memory_mb, ara_estimate(cpu, 0.99, 1.25) AS cpu_millicores,
       cast(percentile_disc(0.99) WITHIN GROUP (ORDER BY memory) * 1.75 AS int) AS builtin_sql
FROM task WHERE definition_id = 'sf-base_python-3_9' AND command_hash = md5('Calibrate Psale Prod / Calibrate Psale')
  AND (exit_code = 137 OR exit_reason = 'OOMKilled') AND engine = 'eks';

\echo '== 3. Enable pg_ara on the table: every insert and command change now gets the command''s hash'
SELECT ara_enable('task');
INSERT INTO task VALUES ('eks-0d33', 'sf-base_python-3_9', 'python3 calibrate.py --as_of 20251123', 'Calibrate Psale Prod / Calibrate Psale',
                         md5('Calibrate Psale Prod / Calibrate Psale'), 512, 256, NULL, NULL, 'eks', 'QUEUED', '2025-11-24 15:10+00');
SELECT run_id, command_hash = command_hash(command) AS hash_is_of_command FROM task WHERE run_id = 'eks-0d33';

\echo '== 4. Repair the existing rows in batches (dry run first), then see what ARA says now'
SELECT * FROM ara_hash_mismatches('task');
CALL ara_backfill('task', dry_run => true);
CALL ara_backfill('task', batch_size => 2);
SELECT t.run_id, t.command,
       (SELECT ara_estimate(o.memory) FROM task o
         WHERE o.definition_id = t.definition_id AND o.command_hash = t.command_hash
           AND (o.exit_code = 137 OR o.exit_reason = 'OOMKilled') AND o.engine = 'eks'
           AND o.queued_at >= t.queued_at - interval '3 days' AND o.queued_at < t.queued_at) AS ara_memory_mb
FROM task t ORDER BY t.queued_at;
\echo '-- the Nov 24 run no longer inherits other commands'' OOMs (NULL: no history, it keeps its defaults);'
\echo '-- train.py, which had no hash and no ARA at all, now has its own history.'

\echo '== 5. Where pg_ara is enabled'
SELECT * FROM ara_status(with_counts => true);
