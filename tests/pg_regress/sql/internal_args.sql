-- The aggregate's support functions take and return `internal`: SQL cannot hand them a value, so a
-- direct call is refused before any of pg_ara's code runs. Where it is refused differs by major
-- (the one expected output that does): up to 17, coercing the NULL literal calls internal's input
-- function (0A000 "cannot accept a value of type internal"); 18 refuses to coerce an unknown literal
-- to a pseudo-type at all (42846). internal_args_1.out holds 18's answer.
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_estimate_final(NULL::internal)') AS direct_final;
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_estimate_combine(NULL::internal, NULL::internal)') AS direct_combine;
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_estimate_serial(NULL::internal)') AS direct_serial;
-- A function returning internal cannot be called from SQL either.
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_estimate_deserial(''\x00''::bytea, NULL::internal)') AS direct_deserial;
-- The same for the replay aggregate behind ara_simulate().
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_replay_final(NULL::internal)') AS direct_replay_final;
SELECT regress_util.sqlstate_of('SELECT ara_internal.ara_replay_trans(NULL::internal, ''totals'', ''[]'', ''d'', ''h'', 1, ARRAY[0]::bigint[], 1, false, 1, true, 1, true, ''r'')') AS direct_replay_trans;
