-- ara_backfill: batched, resumable repair of existing rows, per definition or all, or a dry run.
CREATE EXTENSION IF NOT EXISTS pg_ara;
-- No autovacuum: the backfill's first NOTICE says whether the table was ever analyzed.
CREATE TABLE task (run_id varchar PRIMARY KEY, definition_id varchar, command text, description varchar,
                   command_hash text, status varchar, queued_at timestamptz, memory integer)
    WITH (autovacuum_enabled = false);
-- 200,000 rows written by the buggy service: md5(description), NULL without a description.
INSERT INTO task
SELECT 'eks-' || lpad(i::text, 7, '0'), 'def-' || (i % 20),
       CASE WHEN i % 50 = 0 THEN NULL ELSE 'python3 job.py --as_of ' || (20251100 + i % 30) END,
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'Calibrate ' || (i % 11) END,
       NULL, 'STOPPED', timestamptz '2025-11-01' + i * interval '1 minute', 1024
FROM generate_series(1, 200000) i;
UPDATE task SET command_hash = md5(description);
-- Some rows happen to be right already.
UPDATE task SET command_hash = md5(command) WHERE run_id LIKE '%3';

SELECT regress_util.sqlstate_of($$CALL ara_backfill('task')$$) AS not_enabled;
SELECT ara_enable('task');
SELECT * FROM ara_hash_mismatches('task');
SELECT regress_util.sqlstate_of($$CALL ara_backfill('task', batch_size => 0)$$) AS zero_batch;
SELECT regress_util.sqlstate_of($$CALL ara_backfill('task', definitions => ARRAY['def-1'], definition_column => 'nope')$$) AS bad_definition_column;
CREATE TABLE no_pk (command text, description text, command_hash text);
SELECT ara_enable('no_pk');
SELECT regress_util.sqlstate_of($$CALL ara_backfill('no_pk')$$) AS no_primary_key;
\set VERBOSITY terse
BEGIN;
CALL ara_backfill('task');
ROLLBACK;
\set VERBOSITY default

-- A dry run only counts.
CALL ara_backfill('task', dry_run => true);
CALL ara_backfill('task', definitions => ARRAY['def-1', 'def-2'], dry_run => true);

SET client_min_messages = warning;  -- progress NOTICEs carry rates and times
-- Per-definition rollout: only def-1 and def-2 are repaired.
CALL ara_backfill('task', definitions => ARRAY['def-1', 'def-2'], batch_size => 3000);
SELECT definition_id IN ('def-1', 'def-2') AS rolled_out,
       count(*) FILTER (WHERE command_hash IS DISTINCT FROM command_hash(command, description)) AS out_of_line
FROM task GROUP BY 1 ORDER BY 1;

-- Interrupted: an error in the middle (standing in for a cancel, kill or crash) loses only the
-- batch it hit; what was committed stays, and the progress row says where to resume.
CREATE FUNCTION pg_temp.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'simulated crash at %', NEW.run_id; END $$;
CREATE TRIGGER boom BEFORE UPDATE ON task FOR EACH ROW WHEN (NEW.run_id = 'eks-0150005') EXECUTE FUNCTION pg_temp.boom();
\set VERBOSITY terse
CALL ara_backfill('task', batch_size => 10000);
\set VERBOSITY default
SELECT last_key, rows_scanned, finished_at IS NULL AS unfinished FROM ara_backfill_progress WHERE definitions IS NULL;
SELECT run_id <= 'eks-0150000' AS before_crash,
       count(*) FILTER (WHERE command_hash IS DISTINCT FROM command_hash(command, description)) AS out_of_line
FROM task GROUP BY 1 ORDER BY 1;
DROP TRIGGER boom ON task;
-- Run again: it resumes after the last committed key and finishes.
SET client_min_messages = notice;
DO $$ BEGIN RAISE NOTICE 'resuming'; END $$;
SET client_min_messages = warning;
CALL ara_backfill('task', batch_size => 10000);
SELECT last_key, rows_scanned, rows_changed, rows_no_source, finished_at IS NOT NULL AS finished
FROM ara_backfill_progress WHERE definitions IS NULL;
SELECT * FROM ara_hash_mismatches('task');
SELECT count(*) AS rows, count(*) FILTER (WHERE command_hash IS NULL) AS null_hashes,
       count(*) FILTER (WHERE command IS NULL AND description IS NULL) AS no_source
FROM task;
-- A finished backfill run again starts over, finds nothing to change. The settings it uses for its
-- own transactions (no JIT, index scans, asynchronous commits, lock_timeout, search_path) do not
-- leak into the caller's session.
SET synchronous_commit = local;
SELECT current_setting('jit') AS jit, current_setting('enable_seqscan') AS seqscan,
       current_setting('enable_bitmapscan') AS bitmapscan, current_setting('synchronous_commit') AS sync,
       current_setting('lock_timeout') AS lock_timeout, current_setting('search_path') AS search_path \gset before_
CALL ara_backfill('task', batch_size => 50000);
SELECT rows_scanned, rows_changed FROM ara_backfill_progress WHERE definitions IS NULL;
SELECT current_setting('jit') = :'before_jit' AS jit, current_setting('enable_seqscan') = :'before_seqscan' AS seqscan,
       current_setting('enable_bitmapscan') = :'before_bitmapscan' AS bitmapscan,
       current_setting('synchronous_commit') = :'before_sync' AS sync,
       current_setting('lock_timeout') = :'before_lock_timeout' AS lock_timeout,
       current_setting('search_path') = :'before_search_path' AS search_path;
RESET synchronous_commit;
RESET client_min_messages;

-- The NOT NULL guard once backfilled: no row with a command may have a NULL hash again.
ALTER TABLE task ADD CONSTRAINT task_command_hash_present
    CHECK (command IS NULL OR command = '' OR command_hash IS NOT NULL) NOT VALID;
ALTER TABLE task VALIDATE CONSTRAINT task_command_hash_present;
SELECT regress_util.sqlstate_of($$UPDATE task SET command_hash = NULL WHERE run_id = 'eks-0000001'$$) AS trigger_restores_it;
SELECT ara_disable('task');
SELECT regress_util.sqlstate_of($$INSERT INTO task (run_id, command) VALUES ('x', 'cmd')$$) AS guard_without_trigger;
SELECT ara_enable('task');
DROP TABLE task, no_pk;
