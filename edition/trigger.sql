-- SQL edition: the twin of the trigger function (src/trigger.rs), a PL/pgSQL trigger with the same
-- name, arguments and rule. ara_enable() installs it exactly as it installs the extension's (the same
-- BEFORE INSERT trigger and BEFORE UPDATE OF ... WHEN (a key column really changed) trigger, so
-- status updates still never call it). Its arguments, as ara_enable() writes them:
-- (command_column, hash_column [, description_column or '' [, key [, definition_column, ids...]]])
-- with key 'command' (absent: 0.1.0's triggers), 'fingerprint' or 'fingerprint_for'.
-- Flotilla's column names (command, command_hash, description) are read as fields of NEW; other
-- names through the row as jsonb (the table's own columns, whatever they are called).
-- Its errors are the extension's: the same SQLSTATEs, messages and hints.

CREATE OR REPLACE FUNCTION ara_internal.ara_command_hash_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    description_column text;
    key text;
    command text;
    description text;
    definition text;
    row_json jsonb;
    hash text;
    col record;
BEGIN
    IF TG_WHEN <> 'BEFORE' OR TG_LEVEL <> 'ROW' OR TG_OP NOT IN ('INSERT', 'UPDATE') THEN
        RAISE EXCEPTION 'ara_command_hash_trigger must be fired BEFORE INSERT OR UPDATE FOR EACH ROW'
            USING ERRCODE = '39P01', HINT = 'Install it with ara_enable(), which creates the right triggers.';
    END IF;
    IF TG_NARGS < 2 THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: takes 2 or 3 arguments (command, hash[, description] columns), got %', TG_NARGS
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    description_column := CASE WHEN TG_NARGS >= 3 THEN NULLIF(TG_ARGV[2], '') END;
    key := CASE WHEN TG_NARGS >= 4 THEN TG_ARGV[3] ELSE 'command' END;
    IF key NOT IN ('command', 'fingerprint', 'fingerprint_for') THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: unknown key "%" (command, fingerprint or fingerprint_for)', key
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    IF key = 'fingerprint_for' AND TG_NARGS < 5 THEN
        RAISE EXCEPTION 'ara_command_hash_trigger: key fingerprint_for needs the definition column'
            USING ERRCODE = '22023', HINT = 'Install it with ara_enable(), which passes the right arguments.';
    END IF;
    -- Flotilla's names and key (the common case): fields of NEW, no conversion, and the columns'
    -- types read from the row itself (pg_typeof, no catalog query per row: 10x the trigger's cost).
    -- A column renamed or dropped since ara_enable() fails here with PL/pgSQL's 42703 (record "new"
    -- has no field ...); a type the fast path does not take goes to the full check below.
    -- (Nested: PL/pgSQL compiles a statement's expression when first run, and NEW.description must not
    -- be compiled for a table configured without it.)
    IF TG_ARGV[0] = 'command' AND TG_ARGV[1] = 'command_hash' AND key = 'command'
       AND (description_column IS NULL OR description_column = 'description') THEN
        IF pg_typeof(NEW.command) IN ('text'::regtype, 'varchar'::regtype)
           AND pg_typeof(NEW.command_hash) = 'text'::regtype THEN
            IF description_column IS NULL THEN
                NEW.command_hash := @extschema@.command_hash(NEW.command, NULL::text);
                RETURN NEW;
            ELSIF pg_typeof(NEW.description) IN ('text'::regtype, 'varchar'::regtype) THEN
                NEW.command_hash := @extschema@.command_hash(NEW.command, NEW.description);
                RETURN NEW;
            END IF;
        END IF;
    END IF;
    -- Any other configuration: the configured columns checked on every row as the extension's
    -- trigger checks them: a column renamed, dropped or retyped since ara_enable() fails the insert
    -- clearly (never a wrong hash).
    FOR col IN
        SELECT c.name, c.i, a.atttypid, a.atttypmod
          FROM unnest(ARRAY[TG_ARGV[0], TG_ARGV[1], description_column,
                            CASE WHEN key = 'fingerprint_for' THEN TG_ARGV[4] END]) WITH ORDINALITY c(name, i)
          LEFT JOIN pg_attribute a ON a.attrelid = TG_RELID AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.name IS NOT NULL
    LOOP
        IF col.atttypid IS NULL THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" of relation "%" does not exist', col.name, TG_TABLE_NAME
                USING ERRCODE = '42703',
                      HINT = 'The trigger''s columns were renamed or dropped: run ara_enable() again with the current column names.';
        END IF;
        IF col.atttypid NOT IN ('text'::regtype, 'varchar'::regtype) THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" of relation "%" is not text or varchar', col.name, TG_TABLE_NAME
                USING ERRCODE = '42804',
                      HINT = 'pg_ara hashes text columns: change the column type, or run ara_enable() with text/varchar columns.';
        END IF;
        IF col.i = 2 AND col.atttypid = 'varchar'::regtype AND col.atttypmod >= 0 AND col.atttypmod - 4 < 32 THEN
            RAISE EXCEPTION 'ara_command_hash_trigger: column "%" is too short for a 32-character hash', col.name
                USING ERRCODE = '42804', HINT = 'Widen it, e.g. ALTER TABLE ... ALTER COLUMN ... TYPE varchar(32).';
        END IF;
    END LOOP;
    row_json := to_jsonb(NEW);
    command := row_json ->> TG_ARGV[0];
    description := CASE WHEN description_column IS NOT NULL THEN row_json ->> description_column END;
    IF key = 'fingerprint'
       OR (key = 'fingerprint_for' AND (row_json ->> TG_ARGV[4]) = ANY (TG_ARGV[5:])) THEN
        hash := @extschema@.command_fingerprint_hash(command, description);
    ELSE
        hash := @extschema@.command_hash(command, description);
    END IF;
    RETURN jsonb_populate_record(NEW, jsonb_build_object(TG_ARGV[1], hash));
END
$$;
COMMENT ON FUNCTION ara_internal.ara_command_hash_trigger() IS
'pg_ara (SQL edition): BEFORE INSERT OR UPDATE row trigger in PL/pgSQL; arguments (command_column, hash_column [, description_column [, key, ...]]). Sets the hash column to the run''s key (command_hash(command, description), or command_fingerprint_hash() where the table or definition is keyed by fingerprint), overwriting whatever the client sent. Install it with ara_enable(), not by hand.';
