//! The command hash: lowercase hex MD5, byte-identical to Go's
//! `fmt.Sprintf("%x", md5.Sum([]byte(cmd)))` and to PostgreSQL's `md5(cmd)`.

use md5::{Digest, Md5};

/// Length of a command hash: 16 MD5 bytes as 32 lowercase hex digits.
pub const HASH_HEX_LEN: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The lowercase hex MD5 of `bytes`, written into a fixed buffer (no allocation).
pub fn md5_hex(bytes: &[u8]) -> [u8; HASH_HEX_LEN] {
    let digest = Md5::digest(bytes);
    let mut out = [0u8; HASH_HEX_LEN];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0x0f) as usize];
    }
    out
}

/// A hash from [`md5_hex`] or [`run_key`] as a `String` (it is ASCII hex digits only).
pub fn hex_string(hex: &[u8; HASH_HEX_LEN]) -> String {
    hex.iter().map(|&b| b as char).collect()
}

/// [`md5_hex`] as a `String`.
pub fn md5_hex_string(bytes: &[u8]) -> String {
    hex_string(&md5_hex(bytes))
}

/// Which input the hash of a run is taken from, by the rule of the 2-argument `command_hash()`:
/// the command when it is present and non-empty; otherwise the description when that is present
/// and non-empty (the legacy and Spark fallback); otherwise nothing (the hash is NULL).
pub fn hash_source<'a>(
    command: Option<&'a [u8]>,
    description: Option<&'a [u8]>,
) -> Option<&'a [u8]> {
    match (command, description) {
        (Some(c), _) if !c.is_empty() => Some(c),
        (_, Some(d)) if !d.is_empty() => Some(d),
        _ => None,
    }
}

/// The hash a run should carry: [`md5_hex`] of [`hash_source`], or `None`.
pub fn run_hash(command: Option<&[u8]>, description: Option<&[u8]>) -> Option<[u8; HASH_HEX_LEN]> {
    hash_source(command, description).map(md5_hex)
}

/// What a run's ARA key is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// The exact command: [`run_hash`].
    Command,
    /// The command's fingerprint ([`crate::core::fingerprint`]), with the same description
    /// fallback when the fingerprint is empty.
    Fingerprint,
}

/// The key a run should carry under `kind`.
pub fn run_key(
    kind: KeyKind,
    command: Option<&[u8]>,
    description: Option<&[u8]>,
) -> Option<[u8; HASH_HEX_LEN]> {
    match kind {
        KeyKind::Command => run_hash(command, description),
        KeyKind::Fingerprint => {
            let fingerprint = command.map(crate::core::fingerprint::fingerprint);
            run_hash(fingerprint.as_deref(), description)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    #[test]
    fn run_key_by_kind() {
        let a = b"python3 calibrate.py --as_of 20251122".as_slice();
        let b = b"python3 calibrate.py --as_of 20251123".as_slice();
        assert_ne!(
            run_key(KeyKind::Command, Some(a), None),
            run_key(KeyKind::Command, Some(b), None)
        );
        assert_eq!(
            run_key(KeyKind::Fingerprint, Some(a), None),
            run_key(KeyKind::Fingerprint, Some(b), None)
        );
        assert_eq!(
            run_key(KeyKind::Fingerprint, Some(a), None),
            Some(md5_hex(b"python3 calibrate.py --as_of <date>"))
        );
        // No command, or one that is only whitespace: the description, under either kind.
        for kind in [KeyKind::Command, KeyKind::Fingerprint] {
            assert_eq!(run_key(kind, None, Some(b"desc")), Some(md5_hex(b"desc")));
            assert_eq!(run_key(kind, None, None), None);
        }
        assert_eq!(
            run_key(KeyKind::Fingerprint, Some(b"  "), Some(b"desc")),
            Some(md5_hex(b"desc"))
        );
        assert_eq!(
            run_key(KeyKind::Command, Some(b"  "), Some(b"desc")),
            Some(md5_hex(b"  "))
        );
    }

    #[test]
    fn report_vector() {
        // The description 176 different commands shared (ara-command-hash-bug-report.md).
        assert_eq!(
            md5_hex_string(b"Calibrate Psale Prod / Calibrate Psale"),
            "407f6885beaec163a742e8c3c8a50d3e"
        );
    }

    #[test]
    fn rfc1321_vectors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                md5_hex_string(input),
                *want,
                "md5 of {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn multibyte_and_whitespace_hash_their_bytes() {
        // Expected values from an independent implementation (Python hashlib) over the UTF-8 bytes.
        assert_eq!(
            md5_hex_string(" ".as_bytes()),
            "7215ee9c7d9dc229d2921a40e899ec5f"
        );
        assert_eq!(
            md5_hex_string("\t\n".as_bytes()),
            "9dd172a836334f81b8e77c6bdd621ba2"
        );
        assert_eq!(
            md5_hex_string("é".as_bytes()),
            "66ddcd97cfdeabb2f6fb8a999b4bc76f"
        );
        assert_eq!(
            md5_hex_string("日本語のコマンド 🚀".as_bytes()),
            "742092a9b13c37e4551585dddf296c80"
        );
        // Trailing whitespace and newlines are part of the command: different bytes, different hash.
        assert_ne!(
            md5_hex_string(b"python3 x.py"),
            md5_hex_string(b"python3 x.py ")
        );
        assert_ne!(
            md5_hex_string(b"python3 x.py"),
            md5_hex_string(b"python3 x.py\n")
        );
    }

    #[test]
    fn output_is_32_lowercase_hex() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let len = rng.below(300) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let h = md5_hex(&bytes);
            assert!(h
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
            // Streaming the same bytes in pieces gives the same digest: the one-shot path is not special.
            let mut hasher = Md5::new();
            for chunk in bytes.chunks(7) {
                hasher.update(chunk);
            }
            let streamed: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(md5_hex_string(&bytes), streamed);
        }
    }

    #[test]
    fn one_megabyte_input() {
        // md5 of 1 MiB of 'x' (Python hashlib; PostgreSQL: md5(repeat('x', 1048576))).
        let big = vec![b'x'; 1 << 20];
        assert_eq!(md5_hex_string(&big), "b561f87202d04959e37588ee05cf5b10");
    }

    #[test]
    fn fallback_rules() {
        let cmd = Some(&b"python3 run.py"[..]);
        let desc = Some(&b"Nightly run"[..]);
        let empty = Some(&b""[..]);
        assert_eq!(hash_source(cmd, desc), cmd);
        assert_eq!(hash_source(cmd, None), cmd);
        assert_eq!(hash_source(cmd, empty), cmd);
        assert_eq!(hash_source(None, desc), desc);
        assert_eq!(hash_source(empty, desc), desc);
        assert_eq!(hash_source(None, None), None);
        assert_eq!(hash_source(empty, empty), None);
        assert_eq!(hash_source(None, empty), None);
        assert_eq!(hash_source(empty, None), None);
        // Whitespace is not empty: it is hashed as it is.
        assert_eq!(hash_source(Some(b" "), desc), Some(&b" "[..]));
        assert_eq!(run_hash(cmd, desc), Some(md5_hex(b"python3 run.py")));
        assert_eq!(run_hash(None, None), None);
    }
}
