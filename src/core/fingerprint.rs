//! Command fingerprints: a versioned normalisation of a command line that keeps what says *which
//! job* it is (paths, script names, flags, words) and masks what changes from run to run (dates,
//! timestamps, ids, numeric arguments), so that `calibrate.py --as_of 20251122` and
//! `calibrate.py --as_of 20251123` are one job while `calibrate.py` and `train.py` never are.
//!
//! Version 1, applied in this fixed order (each rule sees the output of the ones before):
//! 0. Whitespace: the command is split on runs of ASCII whitespace and re-joined with one space
//!    (leading and trailing whitespace dropped). Quoting is not interpreted.
//! 1. ISO timestamps `YYYY-MM-DDTHH:MM[:SS[.fraction]][Z|±HH[:MM]]` → `<ts>`.
//! 2. Dates `YYYYMMDD`, `YYYY-MM-DD`, `YYYY/MM/DD` (year 1900..2099, month 01..12, day 01..31),
//!    not touching another digit → `<date>`.
//! 3. UUIDs `8-4-4-4-12` hex digits → `<uuid>`.
//! 4. Long hex ids: a run of 12 or more hex digits with at least one decimal digit and one letter
//!    a-f (either case), not touching another letter or digit → `<hex>`.
//! 5. Numbers that are whole arguments: a token (inside one pair of matching quotes, if quoted)
//!    that is `[+-]digits[.digits]` → `<num>`; and the value of `KEY=number` (`--flag=5`,
//!    `RETRIES=3`) → `KEY=<num>`.
//!
//! Rules 1-4 look inside tokens (`s3://bucket/2025-11-23/part-0` → `s3://bucket/<date>/part-0`);
//! rule 5 only at whole tokens, so numbers inside paths and names (`part-0`, `py3`) stay.
//! The output is a fixed point: fingerprinting a fingerprint changes nothing. Any change to these
//! rules is a new version ([`FINGERPRINT_VERSION`]): stored keys never change silently.
//! Works on bytes, so commands that are not valid UTF-8 are fingerprinted too (non-ASCII bytes are
//! kept as they are).

use std::borrow::Cow;

/// The version of the rules above.
pub const FINGERPRINT_VERSION: i32 = 1;

/// The v1 fingerprint of `command`.
pub fn fingerprint(command: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len());
    for token in command
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
    {
        if !out.is_empty() {
            out.push(b' ');
        }
        // Every rule but the UUID's needs a digit, and a UUID has dashes: most tokens (words,
        // flags, paths without numbers) skip the rules altogether.
        let has_digit = token.iter().any(u8::is_ascii_digit);
        if !has_digit && !token.contains(&b'-') {
            out.extend_from_slice(token);
            continue;
        }
        let t = Cow::Borrowed(token);
        let t = if has_digit {
            replace_all(t, match_timestamp, b"<ts>")
        } else {
            t
        };
        let t = if has_digit {
            replace_all(t, match_date, b"<date>")
        } else {
            t
        };
        let t = replace_all(t, match_uuid, b"<uuid>");
        let t = if has_digit {
            replace_all(t, match_long_hex, b"<hex>")
        } else {
            t
        };
        mask_number_argument(&t, &mut out);
    }
    out
}

/// A matcher: the length of the pattern starting at `s[i..]`, if it matches there (boundaries
/// included: the matcher looks at `s[i - 1]` and the byte after the match itself).
type Matcher = fn(&[u8], usize) -> Option<usize>;

/// Replaces every leftmost, non-overlapping match of `m` with `with`; no copy when nothing matches.
fn replace_all<'a>(s: Cow<'a, [u8]>, m: Matcher, with: &[u8]) -> Cow<'a, [u8]> {
    let Some((first, len)) = (0..s.len()).find_map(|i| m(&s, i).map(|len| (i, len))) else {
        return s;
    };
    let mut out = Vec::with_capacity(s.len());
    out.extend_from_slice(&s[..first]);
    out.extend_from_slice(with);
    let mut i = first + len;
    while i < s.len() {
        match m(&s, i) {
            Some(len) => {
                out.extend_from_slice(with);
                i += len;
            }
            None => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn digit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

fn hexdigit(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_hexdigit)
}

fn alnum(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_alphanumeric)
}

fn digits(s: &[u8], i: usize, n: usize) -> bool {
    (i..i + n).all(|k| digit(s, k))
}

fn number_at(s: &[u8], i: usize, n: usize) -> u32 {
    s[i..i + n]
        .iter()
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// `YYYY`, `MM`, `DD` at i, i + m, i + d are a plausible date.
fn plausible_date(s: &[u8], y: usize, m: usize, d: usize) -> bool {
    let year = number_at(s, y, 4);
    let month = number_at(s, m, 2);
    let day = number_at(s, d, 2);
    (1900..=2099).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// `YYYY-MM-DD` or `YYYY/MM/DD` (sep given) at i: its length, 10.
fn separated_date(s: &[u8], i: usize, sep: u8) -> bool {
    digits(s, i, 4)
        && s.get(i + 4) == Some(&sep)
        && digits(s, i + 5, 2)
        && s.get(i + 7) == Some(&sep)
        && digits(s, i + 8, 2)
        && plausible_date(s, i, i + 5, i + 8)
}

fn match_timestamp(s: &[u8], i: usize) -> Option<usize> {
    if (i > 0 && alnum(s, i - 1)) || !separated_date(s, i, b'-') {
        return None;
    }
    let mut j = i + 10;
    if !matches!(s.get(j), Some(b'T' | b't')) || !digits(s, j + 1, 2) || s.get(j + 3) != Some(&b':')
    {
        return None;
    }
    if !digits(s, j + 4, 2) {
        return None;
    }
    j += 6;
    if s.get(j) == Some(&b':') && digits(s, j + 1, 2) {
        j += 3;
        if s.get(j) == Some(&b'.') && digit(s, j + 1) {
            j += 1;
            while digit(s, j) {
                j += 1;
            }
        }
    }
    match s.get(j) {
        Some(b'Z' | b'z') => j += 1,
        Some(b'+' | b'-') if digits(s, j + 1, 2) => {
            j += 3;
            if s.get(j) == Some(&b':') && digits(s, j + 1, 2) {
                j += 3;
            } else if digits(s, j, 2) {
                j += 2;
            }
        }
        _ => {}
    }
    (!alnum(s, j)).then_some(j - i)
}

fn match_date(s: &[u8], i: usize) -> Option<usize> {
    if i > 0 && digit(s, i - 1) {
        return None;
    }
    let len = if separated_date(s, i, b'-') || separated_date(s, i, b'/') {
        10
    } else if digits(s, i, 8) && plausible_date(s, i, i + 4, i + 6) {
        8
    } else {
        return None;
    };
    (!digit(s, i + len)).then_some(len)
}

fn match_uuid(s: &[u8], i: usize) -> Option<usize> {
    if i > 0 && alnum(s, i - 1) {
        return None;
    }
    let mut j = i;
    for (n, group) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if s.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
        if !(j..j + group).all(|k| hexdigit(s, k)) {
            return None;
        }
        j += group;
    }
    (!alnum(s, j)).then_some(j - i)
}

fn match_long_hex(s: &[u8], i: usize) -> Option<usize> {
    if i > 0 && alnum(s, i - 1) {
        return None;
    }
    let mut j = i;
    let (mut has_digit, mut has_letter) = (false, false);
    while hexdigit(s, j) {
        has_digit |= s[j].is_ascii_digit();
        has_letter |= !s[j].is_ascii_digit();
        j += 1;
    }
    (j - i >= 12 && has_digit && has_letter && !alnum(s, j)).then_some(j - i)
}

/// `[+-]digits[.digits]`, the whole of `s`.
fn is_number(s: &[u8]) -> bool {
    let s = s
        .strip_prefix(b"+")
        .or_else(|| s.strip_prefix(b"-"))
        .unwrap_or(s);
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    !int.is_empty()
        && int.iter().all(u8::is_ascii_digit)
        && frac.is_none_or(|f| !f.is_empty() && f.iter().all(u8::is_ascii_digit))
}

/// Rule 5: appends `token` to `out`, its number masked if it is a whole argument or a `KEY=` value.
fn mask_number_argument(token: &[u8], out: &mut Vec<u8>) {
    let (open, inner, close): (&[u8], &[u8], &[u8]) = match (token.first(), token.last()) {
        (Some(&q @ (b'"' | b'\'')), Some(&l)) if token.len() >= 2 && l == q => (
            &token[..1],
            &token[1..token.len() - 1],
            &token[token.len() - 1..],
        ),
        _ => (b"", token, b""),
    };
    out.extend_from_slice(open);
    if is_number(inner) {
        out.extend_from_slice(b"<num>");
    } else if let Some(eq) = inner.iter().position(|&b| b == b'=') {
        let key = &inner[..eq];
        let value = &inner[eq + 1..];
        let key_ok = !key.is_empty()
            && key
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if key_ok && is_number(value) {
            out.extend_from_slice(key);
            out.extend_from_slice(b"=<num>");
        } else {
            out.extend_from_slice(inner);
        }
    } else {
        out.extend_from_slice(inner);
    }
    out.extend_from_slice(close);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng as TestRng;

    fn fp(s: &str) -> String {
        String::from_utf8(fingerprint(s.as_bytes())).unwrap()
    }

    /// Real-looking commands and their v1 fingerprints.
    const TABLE: &[(&str, &str)] = &[
        (
            "python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251123",
            "python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of <date>",
        ),
        ("python3 train.py --epochs 3 --lr=0.001", "python3 train.py --epochs <num> --lr=<num>"),
        ("  python3   run.py\t--date 2025-11-23 \n", "python3 run.py --date <date>"),
        ("python3 run.py --date=2025/11/23", "python3 run.py --date=<date>"),
        (
            "python3 etl.py --since 2025-11-23T15:10:01Z --until 2025-11-24T15:10:01.123+01:00",
            "python3 etl.py --since <ts> --until <ts>",
        ),
        (
            "spark-submit --class com.acme.Job --conf spark.app.id=application_1699999999999_0042 s3://jobs/job-1.2.jar --run-id 3f2b8c1e-9a4d-4e2b-8f1a-0c9d7e6b5a43",
            "spark-submit --class com.acme.Job --conf spark.app.id=application_1699999999999_0042 s3://jobs/job-1.2.jar --run-id <uuid>",
        ),
        (
            "aws s3 cp s3://bucket/exports/2025-11-23/part-0000.parquet /tmp/part-0000.parquet",
            "aws s3 cp s3://bucket/exports/<date>/part-0000.parquet /tmp/part-0000.parquet",
        ),
        (
            "DATE=20251123 RETRIES=3 python3 job.py",
            "DATE=<date> RETRIES=<num> python3 job.py",
        ),
        (
            "bash -c 'cat /data/2025/11/23/*.csv | sort | uniq -c > /out/report_20251123.txt'",
            "bash -c 'cat /data/<date>/*.csv | sort | uniq -c > /out/report_<date>.txt'",
        ),
        (
            "python3 score.py --model \"model_v2\" --limit \"500\" --shard '7'",
            "python3 score.py --model \"model_v2\" --limit \"<num>\" --shard '<num>'",
        ),
        (
            "docker run registry/app@sha256:4c1d2e3f4a5b6c7d8e9f00112233445566778899aabbccddeeff001122334455 --commit 9f3c2a1b7e6d",
            "docker run registry/app@sha256:<hex> --commit <hex>",
        ),
        ("python3 -m pkg.main -n -5 --ratio +0.25", "python3 -m pkg.main -n <num> --ratio <num>"),
        // Kept: numbers inside names and paths, short hex, words, flags, invalid dates.
        ("python3 py3/run_v2.py --gpu 0x1f --tag deadbeefcafe", "python3 py3/run_v2.py --gpu 0x1f --tag deadbeefcafe"),
        ("python3 run.py --id 20251399", "python3 run.py --id <num>"),
        ("python3 run.py --id 120251123", "python3 run.py --id <num>"),
        ("echo build-2025112", "echo build-2025112"),
        ("", ""),
        ("   ", ""),
    ];

    #[test]
    fn table_of_real_commands() {
        for (cmd, want) in TABLE {
            assert_eq!(fp(cmd), *want, "fingerprint of {cmd:?}");
        }
    }

    #[test]
    fn the_report_commands_collide_and_different_scripts_do_not() {
        let a = "python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251122";
        let b = "python3 /dsn-algo-adhoc/damien/projects/fy25q4_psale_calibration/calibrate.py --as_of 20251123";
        assert_eq!(fp(a), fp(b));
        assert_ne!(fp(a), fp(&a.replace("calibrate.py", "train.py")));
        assert_ne!(fp(a), fp(&format!("{a} --dry-run")));
    }

    #[test]
    fn non_utf8_bytes_are_kept() {
        let cmd = b"echo \xff\xfe 20251123";
        assert_eq!(fingerprint(cmd), b"echo \xff\xfe <date>".to_vec());
    }

    /// Random commands built from path, script, flag and word pieces (drawn from `pieces`), with
    /// values the rules mask between them (drawn from `values`, when `masked`).
    fn random_command(
        pieces_rng: &mut TestRng,
        values: &mut TestRng,
        masked: bool,
    ) -> (String, Vec<&'static str>) {
        const SCRIPTS: &[&str] = &[
            "/jobs/etl.py",
            "/jobs/train.py",
            "s3://b/x/run.sh",
            "score.py",
            "py3/run_v2.py",
        ];
        const FLAGS: &[&str] = &[
            "--as_of",
            "--date",
            "--epochs",
            "--region",
            "--model",
            "-n",
            "--verbose",
        ];
        const WORDS: &[&str] = &["us", "eu", "model_v2", "fast", "part-0000.parquet"];
        let rng = pieces_rng;
        let mut pieces = vec!["python3", SCRIPTS[rng.below(SCRIPTS.len() as u64) as usize]];
        let mut slots = vec![false, false];
        for _ in 0..rng.below(5) {
            pieces.push(FLAGS[rng.below(FLAGS.len() as u64) as usize]);
            slots.push(rng.below(3) == 0);
            if rng.below(2) == 0 {
                pieces.push(WORDS[rng.below(WORDS.len() as u64) as usize]);
                slots.push(false);
            }
        }
        let mut cmd = String::new();
        for (p, slot) in pieces.iter().zip(&slots) {
            cmd.push_str(p);
            cmd.push(' ');
            if masked && *slot {
                let v = &mut *values;
                let value = match rng.below(6) {
                    0 => format!("2025{:02}{:02}", 1 + v.below(12), 1 + v.below(28)),
                    1 => format!(
                        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                        v.below(99),
                        1 + v.below(12),
                        1 + v.below(28),
                        v.below(24),
                        v.below(60),
                        v.below(60)
                    ),
                    2 => format!(
                        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                        v.below(1 << 32),
                        v.below(1 << 16),
                        v.below(1 << 16),
                        v.below(1 << 16),
                        v.below(1 << 48)
                    ),
                    3 => format!("{}", v.below(100000)),
                    4 => format!("--n={}", v.below(1000)),
                    _ => format!("a{:015x}", (v.below(1 << 59) | 1) + (1 << 59)),
                };
                cmd.push_str(&value);
                cmd.push(' ');
            }
        }
        (cmd, pieces)
    }

    #[test]
    fn idempotent_on_random_commands() {
        let mut rng = TestRng::new(7);
        let mut values = TestRng::new(8);
        for _ in 0..20_000 {
            let (cmd, _) = random_command(&mut rng, &mut values, true);
            let once = fingerprint(cmd.as_bytes());
            assert_eq!(fingerprint(&once), once, "not a fixed point: {cmd:?}");
        }
        // Also on arbitrary bytes from an alphabet rich in the rules' characters.
        for _ in 0..20_000 {
            let len = rng.below(40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| b"0123456789abcdefT:-/+.=Z '\"x_<>\xff"[rng.below(32) as usize])
                .collect();
            let once = fingerprint(&bytes);
            assert_eq!(fingerprint(&once), once, "not a fixed point: {bytes:?}");
        }
    }

    #[test]
    fn masked_values_collide_and_pieces_do_not() {
        let mut rng = TestRng::new(11);
        let mut values = TestRng::new(12);
        for _ in 0..10_000 {
            // The same pieces with other masked values: the same fingerprint.
            let seed = rng.next();
            let (a, pieces_a) = random_command(&mut TestRng::new(seed), &mut values, true);
            let (b, pieces_b) = random_command(&mut TestRng::new(seed), &mut values, true);
            assert_eq!(pieces_a, pieces_b);
            assert_eq!(
                fp(&a),
                fp(&b),
                "{a:?} and {b:?} differ only in masked values"
            );
            // Other pieces (script, flag or word): never the same fingerprint.
            let (c, pieces_c) = random_command(&mut rng, &mut values, true);
            if pieces_a != pieces_c {
                assert_ne!(fp(&a), fp(&c), "{a:?} and {c:?} collide");
            }
        }
    }
}
