//! The state of `ara_estimate()`: a value -> count map (memory bounded by *distinct* values), and an
//! exact `percentile_disc` over it by weighted selection, not a sort.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast hasher for i64 keys (the splitmix64 finaliser). Values are MB and millicores, not
/// attacker-chosen keys; SipHash would cost more than the rest of the transition function.
#[derive(Default)]
pub struct Mix64(u64);

impl Hasher for Mix64 {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_i64(&mut self, v: i64) {
        self.0 = v as u64;
    }
}

/// The 1-based position `percentile_disc(p)` picks among `n` sorted values: `ceil(p * n)` computed
/// in float8 exactly as PostgreSQL does, and 1 when that is below 1 (p = 0). `p` must be in [0, 1].
pub fn percentile_position(p: f64, n: u64) -> u64 {
    debug_assert!((0.0..=1.0).contains(&p));
    let pos = (p * n as f64).ceil() as u64;
    pos.clamp(1, n.max(1))
}

/// The largest row count a decoded state may claim: far more rows than any table holds, and small
/// enough that merging decoded states can never overflow a u64.
pub const MAX_DECODED_TOTAL: u64 = 1 << 62;

/// A multiset of i64 values kept as value -> count.
#[derive(Clone, Debug, Default)]
pub struct CountMap {
    counts: HashMap<i64, u64, BuildHasherDefault<Mix64>>,
    total: u64,
}

impl CountMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many values (with multiplicity).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many distinct values: what the memory use is proportional to.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    #[inline]
    pub fn add(&mut self, value: i64) {
        *self.counts.entry(value).or_insert(0) += 1;
        self.total += 1;
    }

    /// Removes one occurrence (the inverse transition of a moving window frame). Returns false
    /// when the value is not there, which the caller treats as "recompute from scratch".
    pub fn remove(&mut self, value: i64) -> bool {
        match self.counts.get_mut(&value) {
            Some(c) if *c > 1 => *c -= 1,
            Some(_) => {
                self.counts.remove(&value);
            }
            None => return false,
        }
        self.total -= 1;
        true
    }

    fn add_count(&mut self, value: i64, count: u64) {
        // Saturating: only states claiming more than 2^63 rows could get there, and decode()
        // refuses those; real row counts are far below.
        let c = self.counts.entry(value).or_insert(0);
        *c = c.saturating_add(count);
        self.total = self.total.saturating_add(count);
    }

    /// Adds every value of `other` (the combine step of a parallel aggregate).
    pub fn merge(&mut self, other: &CountMap) {
        self.counts.reserve(other.counts.len());
        for (&v, &c) in &other.counts {
            self.add_count(v, c);
        }
    }

    /// `percentile_disc(p)` of the values, or `None` when there are none. Does not change `self`
    /// (a window aggregate calls this once per row over the same state).
    pub fn percentile_disc(&self, p: f64) -> Option<i64> {
        if self.total == 0 {
            return None;
        }
        let k = percentile_position(p, self.total);
        if k == self.total {
            return self.counts.keys().copied().max();
        }
        if k == 1 {
            return self.counts.keys().copied().min();
        }
        let mut pairs: Vec<(i64, u64)> = self.counts.iter().map(|(&v, &c)| (v, c)).collect();
        Some(select_weighted(&mut pairs, k))
    }

    /// A compact encoding for the serialise/deserialise step of a parallel aggregate: the number
    /// of pairs, then (value, count) pairs, little-endian. Appends to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(8 + 16 * self.counts.len());
        out.extend_from_slice(&(self.counts.len() as u64).to_le_bytes());
        for (&v, &c) in &self.counts {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
        }
    }

    /// Reads what [`CountMap::encode`] wrote; returns the map and the bytes after it.
    pub fn decode(bytes: &[u8]) -> Result<(CountMap, &[u8]), String> {
        let take8 = |b: &[u8], at: usize| -> Result<[u8; 8], String> {
            b.get(at..at + 8)
                .map(|s| s.try_into().expect("slice of 8"))
                .ok_or_else(|| "truncated ara_estimate state".to_string())
        };
        let n = u64::from_le_bytes(take8(bytes, 0)?) as usize;
        let need = n
            .checked_mul(16)
            .and_then(|x| x.checked_add(8))
            .ok_or("corrupt ara_estimate state")?;
        if bytes.len() < need {
            return Err("truncated ara_estimate state".into());
        }
        let mut map = CountMap::new();
        map.counts.reserve(n);
        for i in 0..n {
            let at = 8 + 16 * i;
            let v = i64::from_le_bytes(take8(bytes, at)?);
            let c = u64::from_le_bytes(take8(bytes, at + 8)?);
            // Every count is at least 1 and the total fits: a state that breaks either was not
            // written by encode(), and must not reach the selection or the inverse transition.
            if c == 0
                || map
                    .total
                    .checked_add(c)
                    .is_none_or(|t| t > MAX_DECODED_TOTAL)
            {
                return Err("corrupt ara_estimate state".into());
            }
            map.add_count(v, c);
        }
        Ok((map, &bytes[need..]))
    }
}

/// The `k`-th smallest (1-based) of a multiset given as distinct (value, count) pairs, by
/// quickselect on the pairs with the counts as weights: O(distinct) expected, no full sort.
/// `k` must be in 1..=sum of counts.
pub fn select_weighted(pairs: &mut [(i64, u64)], mut k: u64) -> i64 {
    let mut lo = 0usize;
    let mut hi = pairs.len();
    // A fixed-seed generator picks pivots: no input order is a worst case by construction.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    loop {
        debug_assert!(lo < hi);
        let len = hi - lo;
        if len <= 16 {
            let part = &mut pairs[lo..hi];
            part.sort_unstable_by_key(|p| p.0);
            for &(v, c) in part.iter() {
                if k <= c {
                    return v;
                }
                k -= c;
            }
            unreachable!("k exceeds the total count");
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pivot_at = lo + (seed % len as u64) as usize;
        pairs.swap(pivot_at, hi - 1);
        let pivot = pairs[hi - 1].0;
        // Lomuto partition: [lo, store) < pivot <= [store, hi - 1)
        let mut store = lo;
        let mut below: u64 = 0;
        for i in lo..hi - 1 {
            if pairs[i].0 < pivot {
                below += pairs[i].1;
                pairs.swap(i, store);
                store += 1;
            }
        }
        pairs.swap(store, hi - 1);
        let pivot_count = pairs[store].1;
        if k <= below {
            hi = store;
        } else if k <= below + pivot_count {
            return pivot;
        } else {
            k -= below + pivot_count;
            lo = store + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    /// The naive reference: sort everything, pick position ceil(p * n).
    fn reference(values: &[i64], p: f64) -> Option<i64> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let pos = ((p * v.len() as f64).ceil() as usize).max(1);
        Some(v[pos - 1])
    }

    const PERCENTILES: &[f64] = &[
        0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0, 1e-9, 0.333,
    ];

    #[test]
    fn position_matches_postgres_rule() {
        assert_eq!(percentile_position(0.0, 10), 1);
        assert_eq!(percentile_position(1.0, 10), 10);
        assert_eq!(percentile_position(0.5, 10), 5);
        assert_eq!(percentile_position(0.51, 10), 6);
        assert_eq!(percentile_position(0.99, 3), 3);
        assert_eq!(percentile_position(0.99, 30), 30); // n <= 30: p99 is the maximum
        assert_eq!(percentile_position(0.99, 100), 99);
        assert_eq!(percentile_position(0.99, 1000), 990);
        // Float8 arithmetic, not exact: 0.07 * 100 = 7.000000000000001 in float8, so position 8.
        assert_eq!(percentile_position(0.07, 100), 8);
    }

    #[test]
    fn report_example() {
        let mut m = CountMap::new();
        for v in [1024, 1792, 1024] {
            m.add(v);
        }
        assert_eq!(m.percentile_disc(0.99), Some(1792));
        assert_eq!(m.distinct(), 2);
        assert_eq!(CountMap::new().percentile_disc(0.5), None);
    }

    #[test]
    fn property_against_sort_reference() {
        let mut rng = Rng::new(1);
        for case in 0..3000 {
            let n = match case % 4 {
                0 => rng.range(1, 5) as usize,
                1 => rng.range(1, 40) as usize,
                2 => rng.range(1, 300) as usize,
                _ => rng.range(1, 3000) as usize,
            };
            let spread = [3, 50, 1 << 20, i64::MAX / 4][rng.below(4) as usize];
            let values: Vec<i64> = (0..n).map(|_| rng.range(-spread, spread)).collect();
            let mut m = CountMap::new();
            values.iter().for_each(|&v| m.add(v));
            for &p in PERCENTILES {
                assert_eq!(m.percentile_disc(p), reference(&values, p), "n={n} p={p}");
            }
            let p: f64 = rng.below(1_000_001) as f64 / 1_000_000.0;
            assert_eq!(m.percentile_disc(p), reference(&values, p), "n={n} p={p}");
        }
    }

    #[test]
    fn select_handles_sorted_and_reversed_inputs() {
        for n in [17usize, 100, 5000] {
            let mut asc: Vec<(i64, u64)> = (0..n as i64).map(|v| (v, 1)).collect();
            let mut desc: Vec<(i64, u64)> = asc.iter().rev().copied().collect();
            for k in [1u64, 2, n as u64 / 2, n as u64 - 1, n as u64] {
                assert_eq!(select_weighted(&mut asc.clone(), k), k as i64 - 1);
                assert_eq!(select_weighted(&mut desc.clone(), k), k as i64 - 1);
            }
            asc.clear();
            desc.clear();
        }
    }

    #[test]
    fn merge_and_remove_are_the_multiset_operations() {
        let mut rng = Rng::new(9);
        for _ in 0..300 {
            let a: Vec<i64> = (0..rng.range(0, 200)).map(|_| rng.range(-20, 20)).collect();
            let b: Vec<i64> = (0..rng.range(0, 200)).map(|_| rng.range(-20, 20)).collect();
            let (mut ma, mut mb) = (CountMap::new(), CountMap::new());
            a.iter().for_each(|&v| ma.add(v));
            b.iter().for_each(|&v| mb.add(v));
            ma.merge(&mb);
            let all: Vec<i64> = a.iter().chain(b.iter()).copied().collect();
            assert_eq!(ma.total(), all.len() as u64);
            for &p in PERCENTILES {
                assert_eq!(ma.percentile_disc(p), reference(&all, p));
            }
            // Remove a's values again: what is left is b.
            for &v in &a {
                assert!(ma.remove(v));
            }
            for &p in PERCENTILES {
                assert_eq!(ma.percentile_disc(p), reference(&b, p));
            }
        }
        let mut m = CountMap::new();
        assert!(!m.remove(5));
        m.add(5);
        assert!(m.remove(5));
        assert_eq!((m.total(), m.distinct()), (0, 0));
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut rng = Rng::new(3);
        let mut m = CountMap::new();
        for _ in 0..10_000 {
            m.add(rng.range(-500, 500) * 256);
        }
        let mut buf = vec![];
        m.encode(&mut buf);
        buf.extend_from_slice(b"tail");
        let (back, rest) = CountMap::decode(&buf).unwrap();
        assert_eq!(rest, b"tail");
        assert_eq!(back.total(), m.total());
        assert_eq!(back.distinct(), m.distinct());
        for &p in PERCENTILES {
            assert_eq!(back.percentile_disc(p), m.percentile_disc(p));
        }
        assert!(CountMap::decode(&buf[..20]).is_err());
        assert!(CountMap::decode(&[0xff; 8]).is_err());
    }

    #[test]
    fn memory_is_bounded_by_distinct_values() {
        let mut m = CountMap::new();
        for i in 0..1_000_000i64 {
            m.add(512 * (1 + i % 64));
        }
        assert_eq!(m.distinct(), 64);
        assert_eq!(m.total(), 1_000_000);
    }
}
