//! SQL: `command_hash(command)` and `command_hash(command, description)`.

use crate::core::fingerprint::{fingerprint, FINGERPRINT_VERSION};
use crate::core::hash::{hex_string, md5_hex_string, run_key, KeyKind};
use crate::text::{TextBytes, TextOut};
use pgrx::prelude::*;

/// Lowercase hex MD5 of the command's bytes; equals `md5(command)` and Go's
/// `fmt.Sprintf("%x", md5.Sum([]byte(cmd)))`.
#[pg_extern(immutable, strict, parallel_safe, name = "command_hash")]
fn command_hash(command: TextBytes<'_>) -> String {
    md5_hex_string(command.0)
}

/// The hash a run should carry: of the command when non-NULL and non-empty, else of the
/// description when non-NULL and non-empty, else NULL.
#[pg_extern(immutable, parallel_safe, name = "command_hash")]
fn command_hash_with_fallback(
    command: Option<TextBytes<'_>>,
    description: Option<TextBytes<'_>>,
) -> Option<String> {
    run_key(
        KeyKind::Command,
        command.map(|c| c.0),
        description.map(|d| d.0),
    )
    .map(|h| hex_string(&h))
}

/// The versioned fingerprint of a command (see [`crate::core::fingerprint`]).
#[pg_extern(immutable, strict, parallel_safe)]
fn command_fingerprint(command: TextBytes<'_>) -> TextOut {
    TextOut(fingerprint(command.0))
}

/// The version of the fingerprint rules `command_fingerprint()` applies.
#[pg_extern(immutable, parallel_safe)]
fn command_fingerprint_version() -> i32 {
    FINGERPRINT_VERSION
}

/// The key of a run under fingerprints: `command_hash(command_fingerprint(command), description)`,
/// computed as the trigger computes it (one Rust function), so backfills and lookups before an
/// insert agree with it byte for byte.
#[pg_extern(immutable, parallel_safe)]
fn command_fingerprint_hash(
    command: Option<TextBytes<'_>>,
    description: Option<TextBytes<'_>>,
) -> Option<String> {
    run_key(
        KeyKind::Fingerprint,
        command.map(|c| c.0),
        description.map(|d| d.0),
    )
    .map(|h| hex_string(&h))
}

extension_sql!(
    r#"
COMMENT ON FUNCTION command_hash(text) IS
'pg_ara: the command hash ARA groups runs by: lowercase hex MD5 of the command''s bytes (32 characters). Equals md5(command) and Go''s fmt.Sprintf("%x", md5.Sum([]byte(cmd))), computed in Rust (works on FIPS-mode servers where md5() is refused). IMMUTABLE, STRICT, PARALLEL SAFE. Example: command_hash(''python3 run.py --as_of 20251123'').';

COMMENT ON FUNCTION command_hash(text, text) IS
'pg_ara: the hash a run should carry, by the rule the trigger applies: command_hash(command) when command is non-NULL and non-empty; else command_hash(description) when description is non-NULL and non-empty (the legacy/Spark fallback); else NULL. IMMUTABLE, PARALLEL SAFE, not strict.';
"#,
    name = "command_hash_comments",
    requires = [
        command_hash,
        command_hash_with_fallback,
        command_fingerprint,
        command_fingerprint_version,
        command_fingerprint_hash
    ]
);

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// PostgreSQL 18 lists every loaded library with the name and version of its magic block
    /// (issue 29: pgrx's bare `version` key put the version into the name).
    #[cfg(feature = "pg18")]
    #[pg_test]
    fn pg_get_loaded_modules_names_pg_ara_and_its_release() {
        let got = Spi::get_two::<String, String>(
            "SELECT module_name, version FROM pg_get_loaded_modules() WHERE file_name = 'pg_ara.so'",
        );
        assert_eq!(
            got,
            Ok((
                Some("pg_ara".to_string()),
                Some(env!("CARGO_PKG_VERSION").to_string())
            ))
        );
    }

    #[pg_test]
    fn report_vector() {
        let h =
            Spi::get_one::<String>("SELECT command_hash('Calibrate Psale Prod / Calibrate Psale')");
        assert_eq!(h, Ok(Some("407f6885beaec163a742e8c3c8a50d3e".to_string())));
    }

    #[pg_test]
    fn equals_md5_on_generated_strings() {
        // 12,000 generated strings: ASCII, multi-byte UTF-8 (2-, 3- and 4-byte characters),
        // whitespace-only, empty, and lengths up to 400 characters (the 1 MB case is below).
        let mismatches = Spi::get_one::<i64>(
            r#"
            WITH alphabet AS (
                SELECT ARRAY['a','Z','0',' ','\t',E'\n','é','ß','日','本','🚀','€','-','/','"','''','\\']::text[] AS chars
            ), gen AS (
                SELECT i, (SELECT string_agg(chars[1 + ((i * 7919 + j * 104729) % 17)], '')
                             FROM generate_series(1, (i * 37) % 401) j) AS s
                FROM alphabet, generate_series(1, 12000) i
            )
            SELECT count(*) FROM gen
            WHERE command_hash(coalesce(s, '')) IS DISTINCT FROM md5(coalesce(s, ''))
            "#,
        );
        assert_eq!(mismatches, Ok(Some(0)));
    }

    #[pg_test]
    fn one_megabyte_and_edge_inputs() {
        for sql in [
            "SELECT command_hash(repeat('x', 1048576)) = md5(repeat('x', 1048576))",
            "SELECT command_hash(repeat('日本🚀', 400000)) = md5(repeat('日本🚀', 400000))",
            "SELECT command_hash('') = md5('')",
            "SELECT command_hash('   ') = md5('   ')",
            "SELECT command_hash(E'\\n\\t') = md5(E'\\n\\t')",
            "SELECT command_hash('abc'::varchar) = md5('abc')",
            "SELECT command_hash(NULL::text) IS NULL",
        ] {
            assert_eq!(Spi::get_one::<bool>(sql), Ok(Some(true)), "{sql}");
        }
    }

    #[pg_test]
    fn two_argument_fallback_rules() {
        let cases: &[(&str, Option<&str>)] = &[
            ("command_hash('cmd', 'desc')", Some("md5('cmd')")),
            ("command_hash('cmd', NULL)", Some("md5('cmd')")),
            ("command_hash('cmd', '')", Some("md5('cmd')")),
            ("command_hash(NULL, 'desc')", Some("md5('desc')")),
            ("command_hash('', 'desc')", Some("md5('desc')")),
            ("command_hash(' ', 'desc')", Some("md5(' ')")),
            ("command_hash(NULL, NULL)", None),
            ("command_hash('', '')", None),
            ("command_hash(NULL, '')", None),
            ("command_hash('', NULL)", None),
        ];
        for (expr, want) in cases {
            let got = Spi::get_one::<String>(&format!("SELECT {expr}")).unwrap();
            let want = want.map(|w| {
                Spi::get_one::<String>(&format!("SELECT {w}"))
                    .unwrap()
                    .unwrap()
            });
            assert_eq!(got, want, "{expr}");
        }
    }

    #[pg_test]
    fn declared_immutable_parallel_safe() {
        let rows = Spi::get_one::<i64>(
            "SELECT count(*) FROM pg_proc WHERE proname = 'command_hash'
               AND provolatile = 'i' AND proparallel = 's'
               AND obj_description(oid, 'pg_proc') IS NOT NULL",
        );
        assert_eq!(rows, Ok(Some(2)));
        let strict = Spi::get_one::<String>(
            "SELECT string_agg(pg_get_function_identity_arguments(oid) || '=' || proisstrict, ',' ORDER BY pronargs)
               FROM pg_proc WHERE proname = 'command_hash'",
        );
        assert_eq!(
            strict,
            Ok(Some(
                "command text=true,command text, description text=false".into()
            ))
        );
    }
}
