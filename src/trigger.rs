//! The trigger that keeps a table's hash column in line with its command column, whoever writes.
//!
//! `ara_command_hash_trigger(command_column, hash_column [, description_column [, key, ...]])` is a
//! BEFORE ROW trigger: it sets the hash column to the run's key. Its arguments, written by
//! `ara_enable()` (sql/enable.sql):
//! - `command_column`, `hash_column`, `description_column` (`''` or absent: no description
//!   fallback);
//! - `key`: `command` (absent in 0.1.0 triggers): `command_hash(command, description)`;
//!   `fingerprint`: `command_fingerprint_hash(command, description)` for every row;
//!   `fingerprint_for`: the fingerprint key for rows whose definition (the next argument names
//!   its column) is one of the remaining arguments, the command key for the others.

use crate::core::hash::{run_key, KeyKind, HASH_HEX_LEN};
use crate::error::raise;
use crate::text::TextBytes;
use pgrx::prelude::*;
use pgrx::trigger_support::{
    trigger_fired_before, trigger_fired_by_insert, trigger_fired_by_update, trigger_fired_for_row,
};
use pgrx::{AllocatedByPostgres, PgTupleDesc};
use std::cell::RefCell;
use std::collections::HashSet;
use std::ffi::CStr;
use std::rc::Rc;

/// Attribute numbers (1-based) of the columns one trigger works on.
#[derive(Clone, Copy)]
struct Columns {
    command: usize,
    hash: usize,
    description: Option<usize>,
    /// Only for `fingerprint_for`.
    definition: Option<usize>,
}

/// Which key a row gets.
enum KeyRule {
    All(KeyKind),
    /// The fingerprint key for these definition ids, the command key for the rest.
    FingerprintFor(HashSet<Vec<u8>>),
}

/// One trigger's configuration, resolved against its relation.
struct Config {
    columns: Columns,
    rule: KeyRule,
}

/// A trigger's resolved configuration, keyed by trigger and relation. A trigger's arguments cannot
/// change without a new trigger OID, so they are parsed once; per row only the cached column
/// positions are re-checked by name and type (a few bytes), not searched for.
struct CacheEntry {
    trigger_oid: pg_sys::Oid,
    relid: pg_sys::Oid,
    /// Column names, in the order of `Columns`' fields (command, hash, description, definition).
    names: [Option<String>; 4],
    config: Rc<Config>,
}

thread_local! {
    static CONFIG_CACHE: RefCell<Vec<CacheEntry>> = const { RefCell::new(Vec::new()) };
}

/// A trigger's arguments as bytes (in the database encoding: definition ids are compared with the
/// column's bytes as they are).
fn trigger_args(trigger: &pg_sys::Trigger) -> Vec<Vec<u8>> {
    (0..trigger.tgnargs as usize)
        .map(|i| {
            unsafe { CStr::from_ptr(*trigger.tgargs.add(i)) }
                .to_bytes()
                .to_vec()
        })
        .collect()
}

fn relation_name(rel: pg_sys::Relation) -> String {
    unsafe { CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Finds `name` in the tuple descriptor and checks it is text or varchar (and, for the hash,
/// long enough for 32 characters): a type that is not a varlena string would be read as one.
fn resolve(tupdesc: &PgTupleDesc<'_>, rel: pg_sys::Relation, name: &str, is_hash: bool) -> usize {
    let found = (0..tupdesc.len()).find_map(|i| {
        let att = tupdesc.get(i)?;
        (!att.attisdropped && att.name() == name).then_some((i + 1, att.atttypid, att.atttypmod))
    });
    let Some((attnum, typid, typmod)) = found else {
        raise(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("ara_command_hash_trigger: column \"{name}\" of relation \"{}\" does not exist", relation_name(rel)),
            "The trigger's columns were renamed or dropped: run ara_enable() again with the current column names."
        );
    };
    if typid != pg_sys::TEXTOID && typid != pg_sys::VARCHAROID {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("ara_command_hash_trigger: column \"{name}\" of relation \"{}\" is not text or varchar", relation_name(rel)),
            "pg_ara hashes text columns: change the column type, or run ara_enable() with text/varchar columns."
        );
    }
    if is_hash
        && typid == pg_sys::VARCHAROID
        && typmod >= 0
        && (typmod - pg_sys::VARHDRSZ as i32) < HASH_HEX_LEN as i32
    {
        raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "ara_command_hash_trigger: column \"{name}\" is too short for a 32-character hash"
            ),
            "Widen it, e.g. ALTER TABLE ... ALTER COLUMN ... TYPE varchar(32).",
        );
    }
    attnum
}

fn still_valid(tupdesc: &PgTupleDesc<'_>, attnum: usize, name: &str) -> bool {
    tupdesc.get(attnum - 1).is_some_and(|a| {
        !a.attisdropped
            && a.name() == name
            && (a.atttypid == pg_sys::TEXTOID || a.atttypid == pg_sys::VARCHAROID)
    })
}

fn bad_arguments(detail: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("ara_command_hash_trigger: {detail}"),
        "Install it with ara_enable(), which passes the right arguments.",
    )
}

/// Parses a trigger's arguments and resolves its columns against the relation.
fn parse(args: Vec<Vec<u8>>, rel: pg_sys::Relation, tupdesc: &PgTupleDesc<'_>) -> CacheEntry {
    if args.len() < 2 {
        bad_arguments(format!(
            "takes 2 or 3 arguments (command, hash[, description] columns), got {}",
            args.len()
        ));
    }
    let name = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let mut args = args.into_iter();
    let command = args.next().map(name).unwrap_or_default();
    let hash = args.next().map(name).unwrap_or_default();
    let description = args.next().map(name).filter(|d| !d.is_empty());
    let (rule, definition) = match args.next().as_deref() {
        None | Some(b"command") => (KeyRule::All(KeyKind::Command), None),
        Some(b"fingerprint") => (KeyRule::All(KeyKind::Fingerprint), None),
        Some(b"fingerprint_for") => {
            let Some(column) = args.next().map(name) else {
                bad_arguments("key fingerprint_for needs the definition column".into());
            };
            let ids = args.by_ref().collect();
            (KeyRule::FingerprintFor(ids), Some(column))
        }
        Some(other) => bad_arguments(format!(
            "unknown key \"{}\" (command, fingerprint or fingerprint_for)",
            String::from_utf8_lossy(other)
        )),
    };
    if args.next().is_some() {
        bad_arguments("too many arguments".into());
    }
    let columns = Columns {
        command: resolve(tupdesc, rel, &command, false),
        hash: resolve(tupdesc, rel, &hash, true),
        description: description
            .as_deref()
            .map(|d| resolve(tupdesc, rel, d, false)),
        definition: definition
            .as_deref()
            .map(|d| resolve(tupdesc, rel, d, false)),
    };
    CacheEntry {
        trigger_oid: pg_sys::InvalidOid,
        relid: pg_sys::InvalidOid,
        names: [Some(command), Some(hash), description, definition],
        config: Rc::new(Config { columns, rule }),
    }
}

fn config(
    trigger: &pg_sys::Trigger,
    rel: pg_sys::Relation,
    tupdesc: &PgTupleDesc<'_>,
) -> Rc<Config> {
    let relid = unsafe { (*rel).rd_id };
    let hit = CONFIG_CACHE.with(|cache| {
        cache
            .borrow()
            .iter()
            .find(|e| e.trigger_oid == trigger.tgoid && e.relid == relid)
            .and_then(|e| {
                let c = &e.config.columns;
                let positions = [Some(c.command), Some(c.hash), c.description, c.definition];
                let ok = positions
                    .iter()
                    .zip(&e.names)
                    .all(|(pos, name)| match (pos, name) {
                        (Some(p), Some(n)) => still_valid(tupdesc, *p, n),
                        _ => true,
                    });
                ok.then(|| Rc::clone(&e.config))
            })
    });
    if let Some(c) = hit {
        return c;
    }
    let mut entry = parse(trigger_args(trigger), rel, tupdesc);
    entry.trigger_oid = trigger.tgoid;
    entry.relid = relid;
    let config = Rc::clone(&entry.config);
    CONFIG_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.retain(|e| !(e.trigger_oid == trigger.tgoid && e.relid == relid));
        if cache.len() >= 64 {
            cache.remove(0);
        }
        cache.push(entry);
    });
    config
}

unsafe fn text_attr<'t>(
    tuple: pg_sys::HeapTuple,
    attnum: usize,
    tupdesc: pg_sys::TupleDesc,
) -> Option<TextBytes<'t>> {
    let mut is_null = false;
    let datum = unsafe { pg_sys::heap_getattr(tuple, attnum as _, tupdesc, &mut is_null) };
    if is_null {
        None
    } else {
        Some(unsafe { TextBytes::from_datum(datum) })
    }
}

/// BEFORE INSERT OR UPDATE FOR EACH ROW: sets the hash column to command_hash(command, description).
#[pg_trigger]
fn ara_command_hash_trigger<'a>(
    trigger: &'a PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, PgTriggerError> {
    let td = trigger.trigger_data();
    let event = td.tg_event;
    if !(trigger_fired_before(event) && trigger_fired_for_row(event))
        || !(trigger_fired_by_insert(event) || trigger_fired_by_update(event))
    {
        raise(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "ara_command_hash_trigger must be fired BEFORE INSERT OR UPDATE FOR EACH ROW",
            "Install it with ara_enable(), which creates the right triggers.",
        );
    }
    let rel = td.tg_relation;
    let raw_desc = unsafe { (*rel).rd_att };
    let tupdesc = unsafe { PgTupleDesc::from_pg_unchecked(raw_desc) };
    let config = config(trigger.trigger(), rel, &tupdesc);
    let cols = config.columns;
    let tuple = if trigger_fired_by_insert(event) {
        td.tg_trigtuple
    } else {
        td.tg_newtuple
    };

    let command = unsafe { text_attr(tuple, cols.command, raw_desc) };
    let description = match cols.description {
        Some(d) => unsafe { text_attr(tuple, d, raw_desc) },
        None => None,
    };
    let kind = match &config.rule {
        KeyRule::All(kind) => *kind,
        KeyRule::FingerprintFor(ids) => {
            let definition = match cols.definition {
                Some(d) => unsafe { text_attr(tuple, d, raw_desc) },
                None => None,
            };
            match definition {
                Some(d) if ids.contains(d.0) => KeyKind::Fingerprint,
                _ => KeyKind::Command,
            }
        }
    };
    let want = run_key(kind, command.map(|c| c.0), description.map(|d| d.0));
    let have = unsafe { text_attr(tuple, cols.hash, raw_desc) };
    let unchanged = match (&want, &have) {
        (Some(w), Some(h)) => w.as_slice() == h.0,
        (None, None) => true,
        _ => false,
    };
    let out = if unchanged {
        tuple
    } else {
        let (value, is_null) = match want {
            Some(h) => {
                let text = unsafe {
                    pg_sys::cstring_to_text_with_len(h.as_ptr().cast(), HASH_HEX_LEN as i32)
                };
                (pg_sys::Datum::from(text), false)
            }
            None => (pg_sys::Datum::from(0usize), true),
        };
        let mut attnum = cols.hash as std::os::raw::c_int;
        let mut value = value;
        let mut is_null = is_null;
        unsafe {
            pg_sys::heap_modify_tuple_by_cols(
                tuple,
                raw_desc,
                1,
                &mut attnum,
                &mut value,
                &mut is_null,
            )
        }
    };
    Ok(Some(unsafe { PgHeapTuple::from_heap_tuple(tupdesc, out) }))
}

// Moves the functions users never call (aggregate support, this trigger function) into the
// schema ara_internal; the other SQL files (src/sql.rs) follow it.
extension_sql_file!(
    "../sql/private.sql",
    name = "private_schema",
    requires = [
        ara_command_hash_trigger,
        "ara_estimate_aggregate",
        "command_hash_comments"
    ]
);
