-- What pg_ara answers on the history of tests/majors/history.sql: recorded before pg_upgrade (or
-- pg_dump) and compared, line for line, with the answers after. Times come from upgrade_anchor.t.
-- psql variables: with_progress=0 leaves out what depends on the backfill's progress rows (a dump
-- does not keep them: tests/shell/dump_restore.sh says why); counts=0 the ara_counts values (the SQL
-- edition has no such type); extension=0 the extension's version (the plain script is no extension).
\set ON_ERROR_STOP 1
\pset footer off
\if :{?with_progress} \else \set with_progress 1 \endif
\if :{?counts} \else \set counts 1 \endif
\if :{?extension} \else \set extension 1 \endif
SELECT t AS anchor FROM upgrade_anchor \gset
\if :extension
SELECT extversion FROM pg_extension WHERE extname = 'pg_ara';
\endif
-- Where pg_ara is enabled, its key choice, the rows out of line (the interrupted backfill's).
SELECT table_name, command_column, hash_column, description_column, key, fingerprint_definitions, partitioned,
       estimated_rows, rows_out_of_line FROM ara_status(with_counts => true);
SELECT * FROM ara_hash_mismatches('task');
SELECT table_name, enabled_by FROM ara_tables ORDER BY 1;
SELECT table_name, definition_id, policy, peak_percentile, headroom, peak_lookback, set_by FROM ara_sizing ORDER BY 1, 2;
SELECT tgname, tgenabled, tgfoid::regprocedure, pg_get_triggerdef(oid) FROM pg_trigger
 WHERE tgrelid = 'task'::regclass AND NOT tgisinternal ORDER BY tgname;
SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'task' ORDER BY 1;
SELECT * FROM ara_index_sql('task');
-- The lookup, for every key (the stored one and the command's), under both policies and the chosen one.
CREATE TEMP VIEW keys AS
SELECT DISTINCT definition_id, command, description, command_hash AS stored,
       ara_key(definition_id, command, description, 'task') AS right_key
  FROM task WHERE run_id LIKE 'run-0000%' OR run_id LIKE 'new-000%';
SELECT k.definition_id, k.command, p.policy, r.*
  FROM keys k, (VALUES ('oom'), ('right_size'), (NULL)) p(policy),
       LATERAL ara_resources(k.definition_id, k.right_key, as_of => :'anchor', policy => p.policy) r
 ORDER BY 1, 2, 3 NULLS LAST;
SELECT k.definition_id, k.stored, r.* FROM (SELECT DISTINCT definition_id, stored FROM keys) k,
       LATERAL ara_resources(k.definition_id, k.stored, as_of => :'anchor') r ORDER BY 1, 2 NULLS LAST;
SELECT run_id, r.* FROM task, LATERAL ara_resources_for_run(run_id, as_of => :'anchor') r
 WHERE run_id IN ('run-00100', 'run-01995', 'run-03999', 'new-0005', 'new-0006', 'new-0007', 'new-0008') ORDER BY 1;
SELECT * FROM ara_explain('run-03999');
SELECT * FROM ara_explain('new-0006');
-- Monitoring (the backfill's age in seconds left out: it moves with the clock).
SELECT table_name, key, registered, triggers_present, triggers_enabled, readable, runs, runs_without_hash,
       runs_out_of_line, oom_runs, runs_at_memory_cap, eligible_runs, runs_with_history, runs_without_history,
       requested_memory_mb, colliding_keys,
       CASE WHEN :with_progress = 1 THEN backfill_unfinished END AS backfill_unfinished,
       CASE WHEN :with_progress = 1 THEN backfill_rows_done END AS backfill_rows_done,
       CASE WHEN :with_progress = 1 THEN backfill_rows_left END AS backfill_rows_left
  FROM ara_metrics(recent => '30 days');
SELECT * FROM ara_compare(pivot => :'anchor'::timestamptz - interval '3 days', before => '3 days', after => '3 days');
-- Investigation.
SELECT * FROM ara_impact();
SELECT definition_id, command_hash, distinct_commands, oom_runs FROM ara_collisions() ORDER BY 1, 2;
SELECT * FROM ara_null_hashes() ORDER BY 1;
-- The kept multisets and their estimates; the view over the aggregate.
\if :counts
SELECT definition_id, command_hash, day, memory, cpu, ara_estimate(memory, 0.99, 1), ara_estimate(memory, 0.5, 1),
       ara_total(memory) FROM oom_counts ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST;
SELECT definition_id, ara_estimate(ara_rollup(memory), 0.99, 1.75) FROM oom_counts WHERE definition_id <> 'wide'
 GROUP BY 1 ORDER BY 1;
\endif
SELECT * FROM oom_estimates ORDER BY 1;
-- The replay: Flotilla's baseline and the default grid (the policies both editions replay; the peer and
-- censored policies are the compiled extension's).
SELECT policy, runs, runs_sized, ooms_min, ooms_max, runs_at_cap, requested_gb_hours, used_gb_hours, waste_gb_hours
  FROM ara_simulate(since => :'anchor'::timestamptz - interval '5 days', until => :'anchor')
 WHERE split_part(feed, ' ', 1) IN ('oom', 'peaks', 'both');
-- The replay per definition behind ara_tune() (Flotilla's and the right_size grid, which both editions have).
SELECT definition_id, name, runs, ooms_min, ooms_max, requested_gb_hours, waste_gb_hours
  FROM ara_internal.ara_tune_replay('answers', :'anchor'::timestamptz - interval '5 days', :'anchor', 'task', 'eks')
 WHERE ord = 0 OR name LIKE 'right_size%' ORDER BY 1, 2;
\if :extension
SELECT policy, feed, runs, runs_sized, ooms_min, ooms_max, runs_at_cap, requested_gb_hours, used_gb_hours, waste_gb_hours
  FROM ara_simulate(since => :'anchor'::timestamptz - interval '5 days', until => :'anchor')
 WHERE split_part(feed, ' ', 1) NOT IN ('oom', 'peaks', 'both');
\endif
-- The backfill's progress (the interrupted one).
\if :with_progress
SELECT last_key, rows_scanned, rows_changed, finished_at IS NULL AS unfinished
  FROM ara_backfill_progress WHERE relid = 'task'::regclass;
\endif
