//! `ara_counts`: a multiset of bigint values as one flat byte string, pgrx-free.
//!
//! It is the concrete state of the `ara_counts(value)` aggregate and a value users may keep
//! (per day, per key) and roll up: `ara_estimate(ara_counts(memory), 0.99, 1.75)` equals
//! `ara_estimate(memory, 0.99, 1.75)` and the built-in `percentile_disc` expression. Unlike
//! `ara_estimate(bigint)`, whose state is `internal`, Citus can split it: each worker sends its
//! shard's multiset (one pair per distinct value) and the coordinator merges them.
//!
//! Layout of the payload (the bytes after PostgreSQL's 4-byte varlena header), little-endian:
//!
//! ```text
//! [0..4)   u32 format version (1)
//! [4..8)   u32 run: distinct (value, count) pairs sorted by value, first
//! [8..12)  u32 tail: (value, count) pairs appended after the run as they came, not yet merged
//! [12..)   pairs of 16 bytes: i64 value, u64 count (count >= 1); the rest is free capacity
//! ```
//!
//! A canonical value (what the aggregate returns, what input and receive make, what is stored)
//! has no tail and no free capacity, so equal multisets are equal bytes. While aggregating, the
//! transition works in place on the executor's copy: each value is appended to the tail (one
//! write next to the last, whatever the group: no probe into the run), and the tail is sorted and
//! merged into the run when it grows as long as the run (or [`MIN_TAIL`]); only when the room is
//! used up does the state grow, to twice its distinct values, so a group of n rows with d distinct
//! values costs O(n log d) and holds at most about 4d + 64 pairs.

use crate::core::percentile::{percentile_position, MAX_DECODED_TOTAL};

pub const VERSION: u32 = 1;
/// Bytes of the payload before the pairs (12: the pairs start 16 bytes into the varlena, so
/// 8-byte aligned in a palloc'd chunk).
pub const HEADER: usize = 12;
pub const PAIR: usize = 16;
/// The tail is merged into the run once it holds this many pairs, or as many as the run.
pub const MIN_TAIL: usize = 64;
/// The most pairs a value may hold: its varlena stays under PostgreSQL's 1 GB limit.
pub const MAX_PAIRS: usize = (0x3FFF_FFFF - 4 - HEADER) / PAIR;

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn pair_at(b: &[u8], i: usize) -> (i64, u64) {
    let at = HEADER + i * PAIR;
    (
        i64::from_le_bytes(b[at..at + 8].try_into().unwrap()),
        u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap()),
    )
}
fn put_pair(b: &mut [u8], i: usize, (v, c): (i64, u64)) {
    let at = HEADER + i * PAIR;
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    b[at + 8..at + 16].copy_from_slice(&c.to_le_bytes());
}

/// The payload of an empty multiset with room for `capacity` pairs.
pub fn empty(capacity: usize) -> Vec<u8> {
    let mut b = vec![0u8; HEADER + capacity * PAIR];
    put_u32(&mut b, 0, VERSION);
    b
}

/// Pairs the payload holds (run + tail).
fn used(b: &[u8]) -> (usize, usize) {
    (get_u32(b, 4) as usize, get_u32(b, 8) as usize)
}

/// Room for this many pairs.
pub fn capacity(b: &[u8]) -> usize {
    (b.len() - HEADER) / PAIR
}

/// Checks a payload that came from outside (storage, the wire, a partial state): version, sizes,
/// a strictly ascending run, counts >= 1 and a total that merging cannot overflow.
pub fn validate(b: &[u8]) -> Result<(), String> {
    let bad = |why: &str| Err(format!("corrupt ara_counts value: {why}"));
    if b.len() < HEADER || (b.len() - HEADER) % PAIR != 0 {
        return bad("wrong length");
    }
    if get_u32(b, 0) != VERSION {
        return Err(format!(
            "ara_counts value of unknown format version {}",
            get_u32(b, 0)
        ));
    }
    let (run, tail) = used(b);
    if run.checked_add(tail).is_none_or(|n| n > capacity(b)) {
        return bad("more pairs than room");
    }
    let mut total: u64 = 0;
    for i in 0..run + tail {
        let (v, c) = pair_at(b, i);
        if c == 0 {
            return bad("a count of zero");
        }
        if i > 0 && i < run && pair_at(b, i - 1).0 >= v {
            return bad("values out of order");
        }
        total = match total.checked_add(c) {
            Some(t) if t <= MAX_DECODED_TOTAL => t,
            _ => return bad("too many rows"),
        };
    }
    Ok(())
}

/// Counts `v` once in place. False when there is no room: the caller grows the payload
/// ([`grown`]) and calls again.
pub fn add(b: &mut [u8], v: i64) -> bool {
    add_count(b, v, 1)
}

/// Counts `v` `count` times (>= 1) in place; false when there is no room, as [`add`].
pub fn add_count(b: &mut [u8], v: i64, count: u64) -> bool {
    let (run, tail) = used(b);
    if tail < MIN_TAIL.max(run) && run + tail < capacity(b) {
        // The per-row path: an append at the end of the pairs, never a probe into the run (in a
        // hashed GROUP BY over many groups, each probe would be a cache miss).
        put_pair(b, run + tail, (v, count));
        put_u32(b, 8, (tail + 1) as u32);
        return true;
    }
    // The tail is as long as the run (or MIN_TAIL), or the room is used up: merge it, then append.
    normalize(b);
    let run = used(b).0;
    if run == capacity(b) {
        return false;
    }
    put_pair(b, run, (v, count));
    put_u32(b, 8, 1);
    true
}

/// Every pair, the run merged with the tail: sorted by value, one pair per distinct value.
pub fn pairs(b: &[u8]) -> Vec<(i64, u64)> {
    let (run, tail) = used(b);
    let mut all: Vec<(i64, u64)> = (0..run + tail).map(|i| pair_at(b, i)).collect();
    if tail > 0 {
        // The run is sorted already: sort the tail and merge (the stable sort finds two runs).
        all[run..].sort_unstable_by_key(|p| p.0);
        all.sort_by_key(|p| p.0);
        all.dedup_by(|next, kept| {
            if next.0 == kept.0 {
                kept.1 += next.1;
                true
            } else {
                false
            }
        });
    }
    all
}

/// Merges the tail into the run in place (never needs more room than it frees).
pub fn normalize(b: &mut [u8]) {
    if used(b).1 == 0 {
        return;
    }
    let all = pairs(b);
    for (i, p) in all.iter().enumerate() {
        put_pair(b, i, *p);
    }
    put_u32(b, 4, all.len() as u32);
    put_u32(b, 8, 0);
}

/// The payload of the multiset `pairs` (sorted, distinct, counts >= 1) with room for `capacity`
/// pairs (at least its own).
pub fn from_pairs(pairs: &[(i64, u64)], capacity: usize) -> Vec<u8> {
    let mut b = empty(capacity.max(pairs.len()));
    for (i, p) in pairs.iter().enumerate() {
        put_pair(&mut b, i, *p);
    }
    put_u32(&mut b, 4, pairs.len() as u32);
    b
}

/// The canonical payload: no tail, no free room.
pub fn canonical(b: &[u8]) -> Vec<u8> {
    from_pairs(&pairs(b), 0)
}

/// The same multiset with room for about twice the pairs: the next size while aggregating.
/// None past [`MAX_PAIRS`].
pub fn grown(b: &[u8]) -> Option<Vec<u8>> {
    let all = pairs(b);
    if all.len() >= MAX_PAIRS {
        return None;
    }
    let want = (all.len() * 2).clamp(8, MAX_PAIRS);
    Some(from_pairs(&all, want))
}

/// How many values (rows) the multiset holds.
pub fn total(b: &[u8]) -> u64 {
    let (run, tail) = used(b);
    (0..run + tail).map(|i| pair_at(b, i).1).sum()
}

/// `percentile_disc(p)` over the multiset, exactly as PostgreSQL picks it; None when empty.
/// `p` must be in [0, 1].
pub fn percentile_disc(b: &[u8], p: f64) -> Option<i64> {
    let all = pairs(b);
    let n: u64 = all.iter().map(|p| p.1).sum();
    if n == 0 {
        return None;
    }
    let pos = percentile_position(p, n);
    let mut seen = 0u64;
    for (v, c) in all {
        seen += c;
        if seen >= pos {
            return Some(v);
        }
    }
    unreachable!("pos <= n")
}

/// Text form: `{value:count,...}` by ascending value, e.g. `{4096:2,8192:1}`; `{}` when empty.
pub fn to_text(b: &[u8]) -> String {
    let mut s = String::from("{");
    for (i, (v, c)) in pairs(b).into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{v}:{c}"));
    }
    s.push('}');
    s
}

/// Reads the text form (values in any order, repeated values added, spaces allowed) into a
/// canonical payload.
pub fn from_text(text: &str) -> Result<Vec<u8>, String> {
    let bad = |why: String| {
        Err(format!(
            "invalid input syntax for type ara_counts: \"{text}\" ({why})"
        ))
    };
    let t = text.trim();
    let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        return bad("expected {value:count,...}".into());
    };
    let mut all: Vec<(i64, u64)> = Vec::new();
    if !inner.trim().is_empty() {
        for item in inner.split(',') {
            let Some((v, c)) = item.split_once(':') else {
                return bad(format!("expected value:count, found \"{}\"", item.trim()));
            };
            let Ok(v) = v.trim().parse::<i64>() else {
                return bad(format!("\"{}\" is not a bigint", v.trim()));
            };
            let c = match c.trim().parse::<u64>() {
                Ok(c) if c >= 1 => c,
                _ => return bad(format!("count \"{}\" is not a positive integer", c.trim())),
            };
            all.push((v, c));
        }
    }
    all.sort_by_key(|p| p.0);
    all.dedup_by(|next, kept| {
        if next.0 == kept.0 {
            kept.1 = kept.1.saturating_add(next.1);
            true
        } else {
            false
        }
    });
    if all.len() > MAX_PAIRS {
        return bad("too many distinct values".into());
    }
    let b = from_pairs(&all, 0);
    match validate(&b) {
        Ok(()) => Ok(b),
        Err(_) => bad("more rows than any table holds".into()),
    }
}

/// Binary form (send/receive, what Citus ships between nodes): a byte 1 (the format), a varint
/// count of pairs, then per pair the difference from the previous value (the first: from 0) as a
/// zigzag varint and the count as a varint; varints are LEB128 (7 bits a byte, low first). Values
/// a few steps apart and small counts take 2 to 3 bytes a pair instead of 16.
///
/// The difference is taken modulo 2^64 (`wrapping_sub`) and written as the i64 it wraps to: a gap
/// of 2^63 or more between neighbours (e.g. -1 and i64::MAX) is written as a negative difference.
/// [`from_binary`] adds it back modulo 2^64 too, so every pair of neighbours round-trips; this is
/// the form 0.6.0 wrote, and every value it wrote is read (0.6.0's own reader refused those gaps).
pub fn to_binary(b: &[u8]) -> Vec<u8> {
    let all = pairs(b);
    let mut out = Vec::with_capacity(8 + all.len() * 3);
    out.push(1);
    put_varint(&mut out, all.len() as u64);
    let mut prev = 0i64;
    for (v, c) in all {
        let d = v.wrapping_sub(prev);
        put_varint(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        put_varint(&mut out, c);
        prev = v;
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// A varint at `bytes[*at..]`, advancing `at`; None if cut short or longer than 10 bytes.
fn get_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut x = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        x |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(x);
        }
    }
    None
}

/// Reads the binary form into a canonical payload: every byte used, values strictly ascending,
/// counts >= 1, the total bounded (as [`validate`] checks).
pub fn from_binary(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "corrupt binary ara_counts value".to_string();
    if bytes.first() != Some(&1) {
        return Err(bad());
    }
    let mut at = 1;
    let n = get_varint(bytes, &mut at).ok_or_else(bad)?;
    // Each pair takes at least 2 bytes: n is checked before anything is allocated for it.
    if n > MAX_PAIRS as u64 || n > (bytes.len() as u64) / 2 {
        return Err(bad());
    }
    let mut all: Vec<(i64, u64)> = Vec::with_capacity(n as usize);
    let mut prev = 0i64;
    for i in 0..n {
        let z = get_varint(bytes, &mut at).ok_or_else(bad)?;
        let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
        // Modulo 2^64, as to_binary took it: a negative d is a gap of 2^63 or more. Strictly
        // ascending is what decides (a zero difference, or one that wraps below prev, is corrupt).
        let v = prev.wrapping_add(d);
        if i > 0 && v <= prev {
            return Err(bad());
        }
        let c = get_varint(bytes, &mut at).ok_or_else(bad)?;
        all.push((v, c));
        prev = v;
    }
    if at != bytes.len() {
        return Err(bad());
    }
    let b = from_pairs(&all, 0);
    validate(&b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    /// Adds like the aggregate does: in place, growing when full.
    fn add_all(mut b: Vec<u8>, values: &[i64]) -> Vec<u8> {
        for &v in values {
            if !add(&mut b, v) {
                b = grown(&b).unwrap();
                assert!(add(&mut b, v));
            }
        }
        b
    }

    fn reference_percentile(values: &[i64], p: f64) -> Option<i64> {
        let mut s = values.to_vec();
        s.sort();
        (!s.is_empty()).then(|| s[percentile_position(p, s.len() as u64) as usize - 1])
    }

    #[test]
    fn counts_and_percentiles_match_sorting() {
        let mut rng = Rng::new(7);
        for round in 0..300 {
            let n = rng.below(2_000) as usize;
            let spread = [1, 5, 100, 10_000, i64::MAX as u64][round % 5];
            let values: Vec<i64> = (0..n)
                .map(|_| {
                    let x = rng.below(spread) as i64;
                    if round % 7 == 0 {
                        -x
                    } else {
                        x
                    }
                })
                .collect();
            let b = add_all(empty(0), &values);
            validate(&b).unwrap();
            assert_eq!(total(&b), n as u64);
            for p in [0.0, 0.01, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(percentile_disc(&b, p), reference_percentile(&values, p));
            }
            let c = canonical(&b);
            validate(&c).unwrap();
            assert_eq!(capacity(&c), pairs(&c).len());
            assert_eq!(pairs(&c), pairs(&b));
        }
    }

    /// `y`'s pairs added into a copy of `x` in place, growing when full: what ara_rollup's
    /// transition and the combine step do.
    fn union(x: &[u8], y: &[u8]) -> Vec<u8> {
        let mut s = x.to_vec();
        for (v, c) in pairs(y) {
            if !add_count(&mut s, v, c) {
                s = grown(&s).unwrap();
                assert!(add_count(&mut s, v, c));
            }
        }
        s
    }

    #[test]
    fn adding_counts_in_place_is_the_union_in_any_order() {
        let mut rng = Rng::new(5);
        for _ in 0..300 {
            let a: Vec<i64> = (0..rng.below(300)).map(|_| rng.below(50) as i64).collect();
            let b: Vec<i64> = (0..rng.below(400))
                .map(|_| rng.below(90) as i64 - 20)
                .collect();
            let (x, y) = (add_all(empty(0), &a), add_all(empty(4), &b));
            let both: Vec<i64> = a.iter().chain(&b).copied().collect();
            let u = union(&x, &canonical(&y));
            validate(&u).unwrap();
            assert_eq!(canonical(&u), canonical(&add_all(empty(0), &both)));
            assert_eq!(canonical(&u), canonical(&union(&y, &x)));
            assert_eq!(total(&u), both.len() as u64);
        }
    }

    #[test]
    fn text_and_binary_round_trip() {
        let b = add_all(empty(0), &[8192, 4096, 4096, -1, i64::MIN, i64::MAX]);
        let t = to_text(&b);
        assert_eq!(
            t,
            "{-9223372036854775808:1,-1:1,4096:2,8192:1,9223372036854775807:1}"
        );
        assert_eq!(from_text(&t).unwrap(), canonical(&b));
        assert_eq!(from_binary(&to_binary(&b)).unwrap(), canonical(&b));
        assert_eq!(
            to_text(&from_text(" { 5 : 1 , 3:2, 5:4 } ").unwrap()),
            "{3:2,5:5}"
        );
        assert_eq!(to_text(&from_text("{}").unwrap()), "{}");
        assert_eq!(to_text(&empty(3)), "{}");
        for bad in [
            "", "{", "5:1", "{5}", "{5:0}", "{x:1}", "{5:-1}", "{5:1,}", "{1:2}x",
        ] {
            assert!(from_text(bad).is_err(), "{bad}");
        }
        let too_many = format!("{{1:{},2:{}}}", MAX_DECODED_TOTAL, 1);
        assert!(from_text(&too_many).is_err());
    }

    /// Issue 29: every multiset the type accepts, anywhere in bigint's range, comes back from the
    /// text and the binary form as it went in (0.6.0's reader refused neighbours 2^63 or more
    /// apart, e.g. -1 and i64::MAX, which its writer wrote).
    #[test]
    fn text_and_binary_round_trip_over_the_whole_bigint_range() {
        let mut rng = Rng::new(29);
        for round in 0..20_000 {
            let n = [1, 2, 3, 8, 40][round % 5];
            let values: Vec<i64> = (0..n).map(|_| rng.any_i64()).collect();
            let b = canonical(&add_all(empty(0), &values));
            validate(&b).unwrap();
            let wire = to_binary(&b);
            assert_eq!(from_binary(&wire).as_ref(), Ok(&b), "{}", to_text(&b));
            assert_eq!(from_text(&to_text(&b)).as_ref(), Ok(&b));
            assert_eq!(total(&b), n as u64);
        }
        // The pairs of the report, and every pair of the edges, both ways round.
        let edges = [i64::MIN, i64::MIN + 1, -2, -1, 0, 1, i64::MAX - 1, i64::MAX];
        for &x in &edges {
            for &y in &edges {
                let b = canonical(&add_all(empty(0), &[x, y, y]));
                assert_eq!(from_binary(&to_binary(&b)).as_ref(), Ok(&b), "{x} {y}");
                assert_eq!(from_text(&to_text(&b)).as_ref(), Ok(&b), "{x} {y}");
            }
        }
    }

    /// What 0.6.0 wrote for `{-1:1,9223372036854775807:1}` (the issue's `ara_counts_send` output)
    /// is read, and is what the fixed writer still writes: one format, now read whole.
    #[test]
    fn reads_the_bytes_0_6_0_wrote_for_a_gap_of_2_to_the_63() {
        let sent_by_0_6_0 = [
            0x01, 0x02, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            0x01,
        ];
        let b = from_binary(&sent_by_0_6_0).unwrap();
        assert_eq!(to_text(&b), "{-1:1,9223372036854775807:1}");
        assert_eq!(to_binary(&b), sent_by_0_6_0);
        // Still refused: a difference that lands on or below the previous value.
        assert!(from_binary(&[0x01, 0x02, 0x02, 0x01, 0x00, 0x01]).is_err());
        let wraps_below = [
            0x01, 0x02, 0x01, 0x01, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            0x01,
        ];
        // -1 then a difference of -(2^63 - 1): i64::MIN, below -1, out of order.
        assert!(from_binary(&wraps_below).is_err());
    }

    #[test]
    fn validate_rejects_corruption() {
        let good = canonical(&add_all(empty(0), &[1, 2, 2, 3]));
        validate(&good).unwrap();
        let mut v = good.clone();
        put_u32(&mut v, 0, 2);
        assert!(validate(&v).unwrap_err().contains("version"));
        let mut v = good.clone();
        put_u32(&mut v, 4, 4);
        assert!(validate(&v).is_err());
        let mut v = good.clone();
        put_pair(&mut v, 1, (1, 1));
        assert!(validate(&v).is_err());
        let mut v = good.clone();
        put_pair(&mut v, 2, (3, 0));
        assert!(validate(&v).is_err());
        assert!(validate(&good[..good.len() - 1]).is_err());
        assert!(validate(&[]).is_err());
        assert_eq!(to_binary(&good), vec![1, 3, 2, 1, 2, 2, 2, 1]);
        for wire in [
            vec![],
            vec![2, 0],                            // unknown format
            vec![1, 3, 2, 1, 2, 2, 2],             // cut short
            vec![1, 3, 2, 1, 2, 2, 2, 1, 0],       // a byte too many
            vec![1, 2, 2, 1, 0, 1],                // a difference of 0: the same value twice
            vec![1, 2, 2, 1, 1, 1],                // a negative difference: out of order
            vec![1, 1, 2, 0],                      // a count of 0
            vec![1, 0xff, 0xff, 0xff, 0xff, 0x0f], // more pairs than bytes
            vec![
                1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1,
            ], // varint over 64 bits
        ] {
            assert!(from_binary(&wire).is_err(), "{wire:?}");
        }
        assert_eq!(from_binary(&[1, 0]).unwrap(), empty(0));
    }

    #[test]
    fn in_place_until_full_then_grows() {
        let mut b = empty(4);
        for v in [1, 2, 1, 3, 4] {
            assert!(add(&mut b, v));
        }
        assert!(!add(&mut b, 5), "four distinct values fill four pairs");
        assert!(
            !add(&mut b, 4),
            "full: even a value already counted waits for the state to grow"
        );
        let mut g = grown(&b).unwrap();
        assert_eq!(capacity(&g), 8);
        assert!(add(&mut g, 5));
        assert_eq!(
            to_text(&g),
            "{1:2,2:1,3:1,4:1,5:1}",
            "a refused value is not counted"
        );
    }
}
