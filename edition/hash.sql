-- SQL edition: the twins of the Rust functions of src/hash.rs, same names and signatures.
-- command_hash() is PostgreSQL's md5() (the extension's equals it byte for byte; the differential
-- test compares them); the fingerprint rules of src/core/fingerprint.rs (version 1) are written
-- again with PostgreSQL's regular expressions, one per rule, each built to match exactly where the
-- Rust matcher matches: the optional parts of a timestamp are taken whenever they are there (a
-- lookahead forbids skipping them, as the Rust code never backtracks), boundaries are ASCII
-- letters and digits only. tests/edition/fingerprint.sh compares both on a large generated corpus.
-- These SQL functions set no search_path, so that PostgreSQL inlines them where they are called (the
-- backfill's UPDATE, the trigger); instead every function and operator in them is qualified.

CREATE OR REPLACE FUNCTION @extschema@.command_hash(command text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT pg_catalog.md5(command) $$;
COMMENT ON FUNCTION @extschema@.command_hash(text) IS
'pg_ara (SQL edition): the command hash ARA groups runs by: lowercase hex MD5 of the command''s bytes (32 characters), PostgreSQL''s md5(command) (equal to Go''s fmt.Sprintf("%x", md5.Sum([]byte(cmd)))). On a FIPS-mode server, where md5() is refused, only the compiled extension computes it. IMMUTABLE, STRICT, PARALLEL SAFE.';

CREATE OR REPLACE FUNCTION @extschema@.command_hash(command text, description text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN command OPERATOR(pg_catalog.<>) '' THEN pg_catalog.md5(command)
                WHEN description OPERATOR(pg_catalog.<>) '' THEN pg_catalog.md5(description) END
$$;
COMMENT ON FUNCTION @extschema@.command_hash(text, text) IS
'pg_ara: the hash a run should carry, by the rule the trigger applies: command_hash(command) when command is non-NULL and non-empty; else command_hash(description) when description is non-NULL and non-empty (the legacy/Spark fallback); else NULL. IMMUTABLE, PARALLEL SAFE, not strict.';

-- The fingerprint, version 1, as one expression of regular expressions over the whole command (inlined
-- where it is called). The Rust code works token by token; here tokens are what single spaces separate
-- once white space is collapsed, and every rule's boundary (an ASCII letter or digit, or none) sees a
-- space where the Rust code sees the token's edge: the same matches. Rules 1-4 never span a space. Rule
-- 5 (a whole token that is a number, inside one pair of matching quotes if quoted, or KEY=number) is
-- anchored on the spaces around the token.
CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint(command text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fp$
SELECT
  -- 5. Numbers that are whole arguments, and KEY=number.
  pg_catalog.regexp_replace(pg_catalog.regexp_replace(
  -- 4. Long hex ids: 12+ hex digits with a digit and a letter, not touching a letter or digit.
  pg_catalog.regexp_replace(
  -- 3. UUIDs.
  pg_catalog.regexp_replace(
  -- 2. Dates YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD (year 1900-2099, month 01-12, day 01-31), not touching a digit.
  pg_catalog.regexp_replace(
  -- 1. ISO timestamps; seconds, fraction and zone taken whenever present (the lookaheads forbid
  --    skipping them: the Rust matcher never backtracks), then no letter or digit.
  pg_catalog.regexp_replace(
  -- 0. ASCII white space collapsed to one space, none at either end.
  pg_catalog.btrim(pg_catalog.regexp_replace(command, E'[ \t\n\f\r]+', ' ', 'g'), ' '),
    '(?<![A-Za-z0-9])(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt][0-9]{2}:[0-9]{2}'
    '(:[0-9]{2}(\.[0-9]+(?![0-9])|(?!\.[0-9]))|(?!:[0-9]{2}))'
    '([Zz]|[+-][0-9]{2}(:[0-9]{2}|[0-9]{2}|(?!:[0-9]{2}|[0-9]{2}))|(?![Zz]|[+-][0-9]{2}))(?![A-Za-z0-9])',
    '<ts>', 'g'),
    '(?<![0-9])(19|20)[0-9]{2}(-(0[1-9]|1[0-2])-|/(0[1-9]|1[0-2])/|(0[1-9]|1[0-2]))(0[1-9]|[12][0-9]|3[01])(?![0-9])',
    '<date>', 'g'),
    '(?<![A-Za-z0-9])[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![A-Za-z0-9])',
    '<uuid>', 'g'),
    '(?<![A-Za-z0-9])(?=[0-9A-Fa-f]*[0-9])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{12,}(?![A-Za-z0-9])',
    '<hex>', 'g'),
    '(^| )(["'']?)[+-]?[0-9]+(\.[0-9]+)?\2(?= |$)', '\1\2<num>\2', 'g'),
    '(^| )(["'']?)([A-Za-z0-9_.-]+)=[+-]?[0-9]+(\.[0-9]+)?\2(?= |$)', '\1\2\3=<num>\2', 'g')
$fp$;

CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint_version()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 1 $$;

CREATE OR REPLACE FUNCTION @extschema@.command_fingerprint_hash(command text, description text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT @extschema@.command_hash(@extschema@.command_fingerprint(command), description) $$;
