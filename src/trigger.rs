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
use crate::v1::pg_finfo_v1;
use pgrx::prelude::*;
use pgrx::trigger_support::{
    trigger_fired_before, trigger_fired_by_insert, trigger_fired_by_update, trigger_fired_for_row,
};
use pgrx::PgTupleDesc;
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
    /// Column names as bytes, in the order of `Columns`' fields (command, hash, description,
    /// definition): compared with the attribute's NameData bytes, no UTF-8 conversion per row.
    names: [Option<Vec<u8>>; 4],
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

fn still_valid(tupdesc: &PgTupleDesc<'_>, attnum: usize, name: &[u8]) -> bool {
    tupdesc.get(attnum - 1).is_some_and(|a| {
        // NameData is NUL-terminated: its bytes, compared without a UTF-8 check.
        !a.attisdropped
            && unsafe { CStr::from_ptr(a.attname.data.as_ptr()) }.to_bytes() == name
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
        names: [Some(command), Some(hash), description, definition]
            .map(|n| n.map(String::into_bytes)),
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

/// The row's values, read once from the trigger's slot: PostgreSQL deforms the tuple up to the
/// last column the trigger needs in one pass (and not again for columns already deformed).
struct Row {
    slot: *mut pg_sys::TupleTableSlot,
}

impl Row {
    /// Makes the first `n` attributes available in the slot's arrays (slot_getsomeattrs()).
    unsafe fn deform(&self, n: usize) {
        if unsafe { (*self.slot).tts_nvalid as usize } < n {
            unsafe { pg_sys::slot_getsomeattrs_int(self.slot, n as _) };
        }
    }

    /// Attribute `attnum` (1-based, already deformed) as text bytes.
    unsafe fn text<'t>(&self, attnum: usize) -> Option<TextBytes<'t>> {
        let i = attnum - 1;
        let (value, is_null) = unsafe {
            (
                *(*self.slot).tts_values.add(i),
                *(*self.slot).tts_isnull.add(i),
            )
        };
        (!is_null).then(|| unsafe { TextBytes::from_datum(value) })
    }
}

/// A `text` value of the 32 hex characters, built in place (no palloc): heap_form_tuple copies it.
#[repr(C, align(8))]
struct HashText([u8; 4 + HASH_HEX_LEN]);

impl HashText {
    fn new(hex: &[u8]) -> HashText {
        let mut t = HashText([0; 4 + HASH_HEX_LEN]);
        let size = (4 + HASH_HEX_LEN) as u32;
        // SET_VARSIZE for a 4-byte header: the length shifted left 2 on little-endian machines, the
        // length itself (top two bits clear) on big-endian ones.
        let header = if cfg!(target_endian = "big") {
            size.to_be_bytes()
        } else {
            (size << 2).to_le_bytes()
        };
        t.0[..4].copy_from_slice(&header);
        t.0[4..].copy_from_slice(&hex[..HASH_HEX_LEN]);
        t
    }
}

/// The call's `TriggerData`; an ERROR when the function was not called by the trigger manager.
///
/// # Safety
/// `fcinfo` must be a valid V1 call.
unsafe fn trigger_data<'t>(fcinfo: pg_sys::FunctionCallInfo) -> &'t pg_sys::TriggerData {
    let context = unsafe { (*fcinfo).context };
    if context.is_null() || unsafe { (*context).type_ } != pg_sys::NodeTag::T_TriggerData {
        raise(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "ara_command_hash_trigger was not called by the trigger manager",
            "It is a trigger function: install it with ara_enable(), do not call it.",
        );
    }
    unsafe { &*context.cast::<pg_sys::TriggerData>() }
}

/// BEFORE INSERT OR UPDATE FOR EACH ROW: sets the hash column to the row's key (`command_hash`).
///
/// A hand-written V1 function under the C symbol 0.1.0 declared (what `#[pg_trigger]` generates,
/// without its per-call wrappers): a single-row INSERT calls it once per statement, cold, so
/// every guarded call into PostgreSQL counts. Per call: at most two (deforming the row when the
/// slot has not, forming the new row). `#[pg_guard]` turns a Rust panic into an ERROR.
#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ara_command_hash_trigger_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let td = unsafe { trigger_data(fcinfo) };
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
    let config = config(unsafe { &*td.tg_trigger }, rel, &tupdesc);
    let cols = config.columns;
    let (tuple, slot) = if trigger_fired_by_insert(event) {
        (td.tg_trigtuple, td.tg_trigslot)
    } else {
        (td.tg_newtuple, td.tg_newslot)
    };
    if slot.is_null() || tuple.is_null() {
        // PostgreSQL 12+ passes the row in a slot (and as a tuple) to every row trigger it fires.
        raise(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "ara_command_hash_trigger was called without the row's slot",
            "Install it with ara_enable(); it runs only as a row trigger fired by PostgreSQL.",
        );
    }
    // Every column at once: the new row needs them all, and an INSERT's slot usually has them
    // already (a VALUES row arrives as a virtual slot), so this rarely calls PostgreSQL.
    let natts = unsafe { (*raw_desc).natts } as usize;
    let row = Row { slot };
    unsafe { row.deform(natts) };

    let command = unsafe { row.text(cols.command) };
    let description = cols.description.and_then(|d| unsafe { row.text(d) });
    let kind = match &config.rule {
        KeyRule::All(kind) => *kind,
        KeyRule::FingerprintFor(ids) => {
            match cols.definition.and_then(|d| unsafe { row.text(d) }) {
                Some(d) if ids.contains(d.0) => KeyKind::Fingerprint,
                _ => KeyKind::Command,
            }
        }
    };
    let want = run_key(kind, command.map(|c| c.0), description.map(|d| d.0));
    let have = unsafe { row.text(cols.hash) };
    let unchanged = match (&want, &have) {
        (Some(w), Some(h)) => w.as_slice() == h.0,
        (None, None) => true,
        _ => false,
    };
    if unchanged {
        // The trigger manager keeps the row as it is when it gets its own tuple back.
        return pg_sys::Datum::from(tuple);
    }
    // The new row: every value as it is, the hash column replaced. What heap_modify_tuple_by_cols
    // does, without deforming the row a second time.
    let (mut values, mut nulls) = unsafe {
        (
            std::slice::from_raw_parts((*slot).tts_values, natts).to_vec(),
            std::slice::from_raw_parts((*slot).tts_isnull, natts).to_vec(),
        )
    };
    let text = want.as_ref().map(|h| HashText::new(h));
    let i = cols.hash - 1;
    match &text {
        Some(t) => (values[i], nulls[i]) = (pg_sys::Datum::from(t.0.as_ptr()), false),
        None => (values[i], nulls[i]) = (pg_sys::Datum::from(0usize), true),
    }
    unsafe {
        let out = pg_sys::heap_form_tuple(raw_desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        // The identity of the row, as heap_modify_tuple keeps it.
        (*(*out).t_data).t_ctid = (*(*tuple).t_data).t_ctid;
        (*out).t_self = (*tuple).t_self;
        (*out).t_tableOid = (*tuple).t_tableOid;
        pg_sys::Datum::from(out)
    }
}
pg_finfo_v1!(pg_finfo_ara_command_hash_trigger_wrapper);

// The SQL declaration, as `#[pg_trigger]` generated it in 0.1.0 (the catalog is unchanged).
extension_sql!(
    r#"
CREATE FUNCTION "ara_command_hash_trigger"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'ara_command_hash_trigger_wrapper';
"#,
    name = "ara_command_hash_trigger"
);

// The schema ara_internal (shared with the SQL edition), then the functions users never call
// (aggregate support, this trigger function) moved into it; the other SQL files (src/sql.rs)
// follow them.
extension_sql_file!(
    "../sql/schema.sql",
    name = "ara_internal_schema",
    requires = [
        "ara_command_hash_trigger",
        "ara_estimate_aggregate",
        "command_hash_comments"
    ]
);

extension_sql_file!(
    "../sql/private.sql",
    name = "private_schema",
    requires = ["ara_internal_schema"]
);
