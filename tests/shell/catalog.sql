-- Everything pg_ara owns in the current database, one line per object, with what defines it: run
-- on a fresh install and on an upgraded one, the two outputs must be identical.
\pset format unaligned
\pset tuples_only on
SELECT 'version ' || extversion || ' in schema ' || extnamespace::regnamespace FROM pg_extension WHERE extname = 'pg_ara';
SELECT pg_describe_object(d.classid, d.objid, 0) || ' :: ' ||
       coalesce(CASE d.classid
         WHEN 'pg_proc'::regclass THEN (
           SELECT concat_ws(' | ', p.pronamespace::regnamespace, p.prokind, p.provolatile, p.proparallel, p.proisstrict,
                            p.prosecdef, p.proconfig::text, p.probin, md5(p.prosrc), pg_get_function_arguments(p.oid),
                            pg_get_function_result(p.oid), p.proacl::text)
           FROM pg_proc p WHERE p.oid = d.objid)
         WHEN 'pg_class'::regclass THEN (
           SELECT concat_ws(' | ', c.relnamespace::regnamespace, c.relkind, c.relrowsecurity, c.relacl::text,
                            (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
                                               || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attnum)
                               FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                            (SELECT string_agg(pol.polname || ' ' || pol.polcmd::text || ' ' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
                                               || ' ' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), ''), '; ')
                               FROM pg_policy pol WHERE pol.polrelid = c.oid))
           FROM pg_class c WHERE c.oid = d.objid)
         WHEN 'pg_namespace'::regclass THEN (SELECT coalesce(n.nspacl::text, '') FROM pg_namespace n WHERE n.oid = d.objid)
       END, '') || ' :: comment ' || coalesce(md5(obj_description(d.objid, cl.relname)), 'NONE')
FROM pg_depend d JOIN pg_class cl ON cl.oid = d.classid
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_ara')
ORDER BY 1;
SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' :: ' ||
       concat_ws(' | ', a.aggtransfn::regprocedure, a.aggfinalfn::regprocedure, a.aggcombinefn::regprocedure,
                 a.aggserialfn::regprocedure, a.aggdeserialfn::regprocedure, a.aggmtransfn::regprocedure,
                 a.aggminvtransfn::regprocedure, a.aggmfinalfn::regprocedure, a.aggfinalmodify, a.aggmfinalmodify,
                 a.aggtranstype::regtype, a.aggmtranstype::regtype, a.aggtransspace, a.aggmtransspace)
FROM pg_aggregate a WHERE a.aggfnoid::regproc::text LIKE '%ara_estimate' ORDER BY 1;
-- The extension's configuration tables (pg_dump dumps their rows) and their filters.
SELECT 'config ' || c.oid::regclass::text || ' :: ' || coalesce(e.extcondition[i], '')
FROM pg_extension e, generate_subscripts(e.extconfig, 1) i, LATERAL (SELECT e.extconfig[i] AS oid) c
WHERE e.extname = 'pg_ara' ORDER BY 1;
