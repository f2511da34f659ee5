//! The state of `ara_estimate()`: a multiset of i64 values whose memory is bounded by the number of
//! *distinct* values, never by the number of rows, and an exact `percentile_disc` over it by
//! counting or weighted selection, not a sort of the rows.
//!
//! Three representations, chosen by the data and changed as it grows (`add` stays O(1)):
//! - **Small**: the first [`SMALL`] values as they came, appended to a vector (one cache line a
//!   row, where a map would touch two or three). Most groups of a `GROUP BY` over runs are this
//!   small; the percentile is a selection over them.
//! - **Dense**: a counts array over a contiguous value range, when that range is at most
//!   [`dense_limit`] of the distinct values (MB and millicores usually are): `add` is an index and
//!   an increment, the percentile a walk from the nearer end. One byte a slot ([`Slots`]: the
//!   count modulo 256, the rest in a small side map), so that 350,000 MB values take 350 KB,
//!   which stays in a core's cache where eight bytes a slot would not.
//! - **Sparse**: for values spread too widely for an array, a run of (value, count) pairs sorted by
//!   value, and the pairs that came since, appended as they come. When those reach a quarter of
//!   the run (at least [`SMALL`]), they are sorted and merged into the run in one sequential pass.
//!   A row is an append to the end of a buffer, never a probe into a table scattered over the
//!   group's memory: a `GROUP BY` over thousands of large groups touches one cache line a row, not
//!   several cache and TLB misses. After each merge it checks whether the values became dense
//!   enough for an array.
//!
//! Every buffer comes from the allocator the map was made with (`A`, the `allocator-api2` trait on
//! stable Rust): the global allocator here and in the unit tests, the aggregate's PostgreSQL memory
//! context in the extension, so that PostgreSQL counts what the state holds (hash aggregation
//! spills by it) and frees it with the context. Memory is only asked for when a buffer grows or
//! the representation changes, never per row.

use allocator_api2::alloc::{Allocator, Global};
use allocator_api2::vec::Vec as AVec;
use hashbrown::hash_map::HashMap;
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
    fn write_usize(&mut self, v: usize) {
        self.0 = v as u64;
    }
}

type MixState = BuildHasherDefault<Mix64>;

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

/// How many values a state keeps as they came before it starts counting them (1 KB at most).
pub const SMALL: usize = 128;

/// A counts array may span this many slots whatever the data (4 KB).
pub const DENSE_FLOOR: usize = 4096;

/// The most slots a counts array may span for `distinct` distinct values: 16 slots (16 bytes) a
/// value, less than a hash map spends on one, so the array never costs more than the map it
/// replaces.
pub fn dense_limit(distinct: usize) -> usize {
    DENSE_FLOOR.max(distinct.saturating_mul(16))
}

/// A vector of `len` zeros in `alloc`.
fn zeros_in<A: Allocator>(len: usize, alloc: A) -> AVec<u8, A> {
    let mut v = AVec::with_capacity_in(len, alloc);
    v.resize(len, 0);
    v
}

/// Counts per slot in one byte each: `low[i]` is slot i's count modulo 256, `carry[i]` (only for
/// slots that ever reached 256) the rest. The per-row increment touches one byte; a slot goes to
/// the side map once every 256 increments.
#[derive(Clone, Debug)]
pub struct Slots<A: Allocator + Clone> {
    low: AVec<u8, A>,
    carry: HashMap<usize, u64, MixState, A>,
}

impl<A: Allocator + Clone> Slots<A> {
    fn new_in(len: usize, alloc: A) -> Slots<A> {
        Slots {
            low: zeros_in(len, alloc.clone()),
            carry: HashMap::with_hasher_in(MixState::default(), alloc),
        }
    }

    fn len(&self) -> usize {
        self.low.len()
    }

    fn get(&self, i: usize) -> u64 {
        self.low[i] as u64 + self.carry.get(&i).copied().unwrap_or(0)
    }

    fn set(&mut self, i: usize, count: u64) {
        self.low[i] = (count & 0xff) as u8;
        if count > 0xff {
            self.carry.insert(i, count & !0xff);
        } else {
            self.carry.remove(&i);
        }
    }

    /// Adds one to slot `i` (in range); true when the slot was empty.
    #[inline]
    fn incr(&mut self, i: usize) -> bool {
        let c = &mut self.low[i];
        if *c != 0 && *c != 0xff {
            *c += 1;
            return false;
        }
        self.incr_slow(i)
    }

    #[cold]
    fn incr_slow(&mut self, i: usize) -> bool {
        let was = self.get(i);
        self.set(i, was.saturating_add(1));
        was == 0
    }

    /// The same counts in `new_len` slots, the old slot 0 at `at`.
    fn moved(&self, new_len: usize, at: usize) -> Slots<A> {
        let alloc = self.low.allocator().clone();
        let mut low = zeros_in(new_len, alloc.clone());
        low[at..at + self.low.len()].copy_from_slice(&self.low);
        let mut carry =
            HashMap::with_capacity_and_hasher_in(self.carry.len(), MixState::default(), alloc);
        for (&i, &c) in &self.carry {
            carry.insert(i + at, c);
        }
        Slots { low, carry }
    }

    /// Every non-empty slot with its count, in slot order.
    fn nonzero(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        let plain = self.carry.is_empty();
        self.low.iter().enumerate().filter_map(move |(i, &c)| {
            let n = if plain { c as u64 } else { self.get(i) };
            (n > 0).then_some((i, n))
        })
    }

    /// The slot of the `k`-th value (1-based) counting from the bottom, or from the top with
    /// `from_top`. `k` must be at most the total.
    fn kth(&self, mut k: u64, from_top: bool) -> usize {
        let step = |(i, c): (usize, u64)| {
            if k <= c {
                return Some(i);
            }
            k -= c;
            None
        };
        if self.carry.is_empty() {
            let mut it = self.low.iter().map(|&c| c as u64).enumerate();
            if from_top {
                it.rev().find_map(step)
            } else {
                it.find_map(step)
            }
        } else {
            let mut it = (0..self.low.len()).map(|i| (i, self.get(i)));
            if from_top {
                it.rev().find_map(step)
            } else {
                it.find_map(step)
            }
        }
        .expect("the counts add up to the total")
    }
}

/// How many appended pairs a sparse state keeps before merging them into its run of `run_len`.
fn pending_limit(run_len: usize) -> usize {
    (run_len / 4).max(SMALL)
}

#[derive(Clone, Debug)]
enum Repr<A: Allocator + Clone> {
    /// At most SMALL values, in arrival order.
    Small { values: AVec<i64, A> },
    /// Slot `i` counts `lo + i`; `lo + counts.len() - 1` never exceeds `i64::MAX`.
    Dense {
        lo: i64,
        counts: Slots<A>,
        distinct: usize,
    },
    /// `run`: distinct values in increasing order with their counts (0 once removed, until the next
    /// merge drops it); `live` of them have a count. `pending`: pairs added since, unsorted (a
    /// value may repeat, or be in `run` too). `min` and `max` bound every value added (not updated
    /// by `remove`).
    Sparse {
        run: AVec<(i64, u64), A>,
        pending: AVec<(i64, u64), A>,
        live: usize,
        min: i64,
        max: i64,
    },
}

/// A multiset of i64 values, its buffers from `A`. See the module documentation for how it is kept.
#[derive(Clone, Debug)]
pub struct CountMap<A: Allocator + Clone = Global> {
    repr: Repr<A>,
    total: u64,
    alloc: A,
}

impl Default for CountMap<Global> {
    fn default() -> Self {
        CountMap::new_in(Global)
    }
}

/// The number of slots from `lo` to `hi` inclusive (`lo <= hi`), as a u128: no i64 overflow.
fn span(lo: i64, hi: i64) -> u128 {
    (hi as i128 - lo as i128) as u128 + 1
}

impl CountMap<Global> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads what [`CountMap::encode`] wrote; returns the map and the bytes after it.
    pub fn decode(bytes: &[u8]) -> Result<(CountMap, &[u8]), String> {
        CountMap::decode_in(bytes, Global)
    }
}

impl<A: Allocator + Clone> CountMap<A> {
    /// An empty multiset whose buffers will come from `alloc` (nothing is allocated yet).
    pub fn new_in(alloc: A) -> Self {
        CountMap {
            repr: Repr::Small {
                values: AVec::new_in(alloc.clone()),
            },
            total: 0,
            alloc,
        }
    }

    /// How many values (with multiplicity).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many distinct values: what the memory use is proportional to.
    pub fn distinct(&self) -> usize {
        match &self.repr {
            Repr::Small { values } => {
                let mut copy = [0i64; SMALL];
                let v = &mut copy[..values.len()];
                v.copy_from_slice(values);
                v.sort_unstable();
                v.iter()
                    .enumerate()
                    .filter(|&(i, x)| i == 0 || v[i - 1] != *x)
                    .count()
            }
            Repr::Dense { distinct, .. } => *distinct,
            Repr::Sparse {
                run, pending, live, ..
            } => {
                if pending.is_empty() {
                    return *live;
                }
                let mut p = pending.clone();
                p.sort_unstable_by_key(|e| e.0);
                let in_run =
                    |v: i64| matches!(run.binary_search_by_key(&v, |e| e.0), Ok(i) if run[i].1 > 0);
                let new = p
                    .iter()
                    .enumerate()
                    .filter(|&(i, e)| (i == 0 || p[i - 1].0 != e.0) && !in_run(e.0))
                    .count();
                *live + new
            }
        }
    }

    /// The representation in use, for tests and benchmarks: "small", "dense" or "sparse".
    pub fn kind(&self) -> &'static str {
        match self.repr {
            Repr::Small { .. } => "small",
            Repr::Dense { .. } => "dense",
            Repr::Sparse { .. } => "sparse",
        }
    }

    /// Adds one value: the transition function's whole per-row work.
    #[inline]
    pub fn add(&mut self, value: i64) {
        match &mut self.repr {
            Repr::Dense {
                lo,
                counts,
                distinct,
            } => {
                // In range exactly when the wrapped difference is below the length (the range
                // never reaches past i64::MAX, so no out-of-range value wraps into it).
                let i = value.wrapping_sub(*lo) as u64;
                if let Some(i) = usize::try_from(i).ok().filter(|&i| i < counts.len()) {
                    *distinct += counts.incr(i) as usize;
                    self.total += 1;
                    return;
                }
            }
            Repr::Small { values } if values.len() < SMALL => {
                values.push(value);
                self.total += 1;
                return;
            }
            _ => {}
        }
        self.add_count(value, 1);
    }

    /// Adds `count` occurrences of `value` (count >= 1): the general path of [`CountMap::add`], and
    /// the combine step. Saturating: only a decoded state could claim 2^64 rows, and decode()
    /// refuses those.
    fn add_count(&mut self, value: i64, count: u64) {
        debug_assert!(count >= 1);
        if let Repr::Small { .. } = self.repr {
            self.spill();
        }
        self.total = self.total.saturating_add(count);
        let merge_pending = match &mut self.repr {
            Repr::Small { .. } => unreachable!("spilled above"),
            Repr::Dense {
                lo,
                counts,
                distinct,
            } => {
                let i = (value as i128 - *lo as i128) as u128;
                if i < counts.len() as u128 {
                    let was = counts.get(i as usize);
                    *distinct += (was == 0) as usize;
                    counts.set(i as usize, was.saturating_add(count));
                    return;
                }
                let hi = *lo as i128 + counts.len() as i128 - 1;
                let (need_lo, need_hi) = ((*lo).min(value), (hi as i64).max(value));
                let need = span(need_lo, need_hi);
                let limit = dense_limit(*distinct + 1);
                if need <= limit as u128 {
                    // Grow towards the new value, with headroom up to the limit.
                    let old_len = counts.len();
                    let new_len = (need as usize).max(2 * old_len).min(limit);
                    let new_lo = if value < *lo {
                        // Extend downwards, not below i64::MIN.
                        (hi - new_len as i128 + 1).max(i64::MIN as i128) as i64
                    } else {
                        *lo
                    };
                    // The range may not reach past i64::MAX either.
                    let new_len = (new_len as u128).min(span(new_lo, i64::MAX)) as usize;
                    let at = (*lo as i128 - new_lo as i128) as usize;
                    debug_assert!(at + old_len <= new_len);
                    *counts = counts.moved(new_len, at);
                    *lo = new_lo;
                    counts.set((value as i128 - new_lo as i128) as usize, count);
                    *distinct += 1;
                    return;
                }
                // Too wide for an array: a sorted run from now on (the slots are in order).
                let mut run = AVec::with_capacity_in(*distinct, self.alloc.clone());
                run.extend(
                    counts
                        .nonzero()
                        .map(|(j, c)| ((*lo as i128 + j as i128) as i64, c)),
                );
                let mut pending = AVec::new_in(self.alloc.clone());
                pending.push((value, count));
                let live = run.len();
                let (min, max) = (need_lo, need_hi);
                self.repr = Repr::Sparse {
                    run,
                    pending,
                    live,
                    min,
                    max,
                };
                return;
            }
            Repr::Sparse {
                run,
                pending,
                min,
                max,
                ..
            } => {
                pending.push((value, count));
                *min = (*min).min(value);
                *max = (*max).max(value);
                pending.len() >= pending_limit(run.len())
            }
        };
        if merge_pending {
            self.merge_pending();
        }
    }

    /// Sparse: sorts the pending pairs and merges them into the run (equal values summed, removed
    /// ones dropped), in one pass into a new run; then Sparse -> Dense if the values became dense.
    #[cold]
    fn merge_pending(&mut self) {
        let Repr::Sparse {
            run,
            pending,
            live,
            min,
            max,
        } = &mut self.repr
        else {
            return;
        };
        pending.sort_unstable_by_key(|e| e.0);
        let mut out: AVec<(i64, u64), A> =
            AVec::with_capacity_in(run.len() + pending.len(), self.alloc.clone());
        let (mut i, mut j) = (0, 0);
        loop {
            let next = match (run.get(i), pending.get(j)) {
                (Some(&a), Some(&b)) if a.0 <= b.0 => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => break,
            };
            match out.last_mut() {
                Some(last) if last.0 == next.0 => last.1 = last.1.saturating_add(next.1),
                _ if next.1 == 0 => {}
                _ => out.push(next),
            }
        }
        pending.clear();
        *live = out.len();
        *run = out;
        let n = *live;
        if n >= 256 && span(*min, *max) <= dense_limit(n) as u128 {
            self.densify();
        }
    }

    /// Small -> Dense or Sparse, by the span of the values kept so far.
    #[cold]
    fn spill(&mut self) {
        let Repr::Small { values } = &mut self.repr else {
            return;
        };
        let kept = std::mem::replace(values, AVec::new_in(self.alloc.clone()));
        let values = kept.as_slice();
        let total = self.total;
        self.total = 0;
        self.repr = match (values.iter().min(), values.iter().max()) {
            (Some(&min), Some(&max)) if span(min, max) <= dense_limit(values.len()) as u128 => {
                Repr::Dense {
                    lo: min,
                    counts: Slots::new_in(span(min, max) as usize, self.alloc.clone()),
                    distinct: 0,
                }
            }
            (Some(&min), Some(&max)) => Repr::Sparse {
                run: AVec::new_in(self.alloc.clone()),
                pending: AVec::with_capacity_in(SMALL, self.alloc.clone()),
                live: 0,
                min,
                max,
            },
            // No values yet: an empty state whose bounds the first value sets.
            _ => Repr::Sparse {
                run: AVec::new_in(self.alloc.clone()),
                pending: AVec::new_in(self.alloc.clone()),
                live: 0,
                min: i64::MAX,
                max: i64::MIN,
            },
        };
        for &v in values {
            self.add_count(v, 1);
        }
        debug_assert_eq!(self.total, total);
        self.total = total;
    }

    /// Sparse -> Dense, once the values fill their range densely enough.
    #[cold]
    fn densify(&mut self) {
        let Repr::Sparse {
            run,
            pending,
            live,
            min,
            max,
        } = &self.repr
        else {
            return;
        };
        debug_assert!(pending.is_empty(), "merged before");
        let (lo, n) = (*min, span(*min, *max) as usize);
        let mut counts = Slots::new_in(n, self.alloc.clone());
        for &(v, c) in run.iter().filter(|e| e.1 > 0) {
            counts.set((v as i128 - lo as i128) as usize, c);
        }
        let distinct = *live;
        self.repr = Repr::Dense {
            lo,
            counts,
            distinct,
        };
    }

    /// Removes one occurrence (the inverse transition of a moving window frame). Returns false
    /// when the value is not there, which the caller treats as "recompute from scratch".
    pub fn remove(&mut self, value: i64) -> bool {
        match &mut self.repr {
            Repr::Small { values } => {
                let Some(at) = values.iter().position(|&v| v == value) else {
                    return false;
                };
                values.swap_remove(at);
            }
            Repr::Dense {
                lo,
                counts,
                distinct,
            } => {
                let i = usize::try_from(value as i128 - *lo as i128).ok();
                match i.filter(|&i| i < counts.len()).map(|i| (i, counts.get(i))) {
                    Some((i, c)) if c > 0 => {
                        counts.set(i, c - 1);
                        *distinct -= (c == 1) as usize;
                    }
                    _ => return false,
                }
            }
            Repr::Sparse {
                run, pending, live, ..
            } => match run.binary_search_by_key(&value, |e| e.0) {
                Ok(at) if run[at].1 > 0 => {
                    run[at].1 -= 1;
                    *live -= (run[at].1 == 0) as usize;
                }
                _ => match pending.iter().position(|e| e.0 == value) {
                    Some(at) if pending[at].1 > 1 => pending[at].1 -= 1,
                    Some(at) => {
                        pending.swap_remove(at);
                    }
                    None => return false,
                },
            },
        }
        self.total -= 1;
        true
    }

    /// Every (value, count) pair with count >= 1, in no particular order.
    fn for_each_pair(&self, mut f: impl FnMut(i64, u64)) {
        match &self.repr {
            Repr::Small { values } => values.iter().for_each(|&v| f(v, 1)),
            Repr::Dense { lo, counts, .. } => {
                for (j, c) in counts.nonzero() {
                    f((*lo as i128 + j as i128) as i64, c);
                }
            }
            Repr::Sparse { run, pending, .. } => {
                for &(v, c) in run.iter().chain(pending.iter()) {
                    if c > 0 {
                        f(v, c)
                    }
                }
            }
        }
    }

    /// Adds every value of `other`, whatever its allocator (the combine step of a parallel
    /// aggregate).
    pub fn merge<B: Allocator + Clone>(&mut self, other: &CountMap<B>) {
        other.for_each_pair(|v, c| self.add_count(v, c));
    }

    /// `percentile_disc(p)` of the values, or `None` when there are none. Does not change `self`
    /// (a window aggregate calls this once per row over the same state).
    pub fn percentile_disc(&self, p: f64) -> Option<i64> {
        if self.total == 0 {
            return None;
        }
        let k = percentile_position(p, self.total);
        match &self.repr {
            Repr::Small { values } => {
                // A copy on the stack: the state is not changed (a window calls this per row).
                let mut copy = [0i64; SMALL];
                let v = &mut copy[..values.len()];
                v.copy_from_slice(values);
                Some(*v.select_nth_unstable((k - 1) as usize).1)
            }
            Repr::Dense { lo, counts, .. } => {
                // Walk from the nearer end: p99 looks at the top few slots only.
                let at = if k > self.total / 2 {
                    counts.kth(self.total - k + 1, true)
                } else {
                    counts.kth(k, false)
                };
                Some((*lo as i128 + at as i128) as i64)
            }
            Repr::Sparse { run, pending, .. } => {
                // The run and the pending pairs (sorted in scratch space from the state's
                // allocator, the state itself unchanged) walked together from the nearer end.
                let mut p = AVec::with_capacity_in(pending.len(), self.alloc.clone());
                p.extend_from_slice(pending);
                p.sort_unstable_by_key(|e| e.0);
                Some(if k > self.total / 2 {
                    kth_of_two_runs(run, &p, self.total - k + 1, true)
                } else {
                    kth_of_two_runs(run, &p, k, false)
                })
            }
        }
    }

    /// A compact encoding for the serialise/deserialise step of a parallel aggregate: the number
    /// of pairs, then (value, count) pairs, little-endian. Appends to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let mut n = 0u64;
        self.for_each_pair(|v, c| {
            out.extend_from_slice(&v.to_le_bytes());
            out.extend_from_slice(&c.to_le_bytes());
            n += 1;
        });
        out[at..at + 8].copy_from_slice(&n.to_le_bytes());
    }

    /// Reads what [`CountMap::encode`] wrote into a map whose buffers come from `alloc`; returns
    /// the map and the bytes after it.
    pub fn decode_in(bytes: &[u8], alloc: A) -> Result<(CountMap<A>, &[u8]), String> {
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
        let mut map = CountMap::new_in(alloc);
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

/// The value of the `k`-th (1-based) element of the multiset of two runs of (value, count) pairs,
/// each sorted by value, counting from the bottom, or from the top with `from_top`. `k` must be at
/// most the sum of the counts.
fn kth_of_two_runs(a: &[(i64, u64)], b: &[(i64, u64)], mut k: u64, from_top: bool) -> i64 {
    let (mut i, mut j) = (0, 0);
    let at = |s: &[(i64, u64)], n: usize| {
        if n >= s.len() {
            None
        } else if from_top {
            Some(s[s.len() - 1 - n])
        } else {
            Some(s[n])
        }
    };
    loop {
        let next = match (at(a, i), at(b, j)) {
            (Some(x), Some(y)) if (x.0 <= y.0) != from_top || x.0 == y.0 => {
                i += 1;
                x
            }
            (_, Some(y)) => {
                j += 1;
                y
            }
            (Some(x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!("k exceeds the total count"),
        };
        if k <= next.1 {
            return next.0;
        }
        k -= next.1;
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

#[cfg(test)]
mod representation_tests {
    use super::*;
    use crate::core::testrng::Rng;

    fn sorted_pick(values: &[i64], p: f64) -> Option<i64> {
        let mut v = values.to_vec();
        v.sort_unstable();
        (!v.is_empty()).then(|| v[percentile_position(p, v.len() as u64) as usize - 1])
    }

    fn check(m: &CountMap, values: &[i64]) {
        assert_eq!(m.total(), values.len() as u64);
        let mut d = values.to_vec();
        d.sort_unstable();
        d.dedup();
        assert_eq!(m.distinct(), d.len(), "{}", m.kind());
        for p in [0.0, 0.01, 0.3, 0.5, 0.77, 0.99, 1.0] {
            assert_eq!(
                m.percentile_disc(p),
                sorted_pick(values, p),
                "{} p={p}",
                m.kind()
            );
        }
    }

    #[test]
    fn each_representation_is_reached_and_exact() {
        // Few values: small. Narrow range: dense. Wide range: sparse.
        let mut m = CountMap::new();
        let small: Vec<i64> = (0..SMALL as i64).map(|i| 4096 + (i % 5) * 1024).collect();
        small.iter().for_each(|&v| m.add(v));
        assert_eq!(m.kind(), "small");
        check(&m, &small);

        let narrow: Vec<i64> = (0..100_000).map(|i| 512 + (i * 7919) % 20_000).collect();
        let mut m = CountMap::new();
        narrow.iter().for_each(|&v| m.add(v));
        assert_eq!(m.kind(), "dense");
        check(&m, &narrow);

        let wide: Vec<i64> = (0..5_000).map(|i| i * 1_000_003).collect();
        let mut m = CountMap::new();
        wide.iter().for_each(|&v| m.add(v));
        assert_eq!(m.kind(), "sparse");
        check(&m, &wide);
    }

    #[test]
    fn sparse_becomes_dense_once_the_range_fills_and_back_when_it_widens() {
        // Random values over 350,000 MB: at first far apart (sparse), then dense enough.
        let mut rng = Rng::new(11);
        let mut values = vec![];
        let mut m = CountMap::new();
        let mut seen = vec![];
        for _ in 0..400_000 {
            let v = 512 + rng.range(0, 349_488);
            values.push(v);
            m.add(v);
            if seen.last() != Some(&m.kind()) {
                seen.push(m.kind());
            }
        }
        assert_eq!(seen, ["small", "sparse", "dense"]);
        check(&m, &values);
        // A value far outside makes the array too wide: back to a map, still exact.
        m.add(1 << 40);
        values.push(1 << 40);
        assert_eq!(m.kind(), "sparse");
        check(&m, &values);
    }

    #[test]
    fn dense_grows_in_both_directions_up_to_the_ends_of_bigint() {
        for base in [i64::MIN, i64::MIN + 1, -3, 0, i64::MAX - 2000, i64::MAX] {
            let mut values = vec![];
            let mut m = CountMap::new();
            for i in 0..3000i64 {
                // Alternately above and below the first value, clamped to bigint.
                let off = if i % 2 == 0 { i / 2 } else { -(i / 2) };
                let v =
                    (base as i128 + off as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64;
                values.push(v);
                m.add(v);
            }
            assert_eq!(m.kind(), "dense", "base {base}");
            check(&m, &values);
            for &v in &values {
                assert!(m.remove(v));
            }
            assert_eq!((m.total(), m.distinct()), (0, 0));
            assert!(!m.remove(base));
            assert_eq!(m.percentile_disc(0.5), None);
        }
    }

    #[test]
    fn one_byte_slots_carry_past_255_through_growth_removal_and_conversion() {
        let mut values = vec![];
        let mut m = CountMap::new();
        let push = |m: &mut CountMap, v: i64, n: usize, values: &mut Vec<i64>| {
            for _ in 0..n {
                m.add(v);
                values.push(v);
            }
        };
        push(&mut m, 1000, 40, &mut values); // small, then dense
        push(&mut m, 1001, 300, &mut values); // a slot past 255
        push(&mut m, 1000, 700, &mut values); // and another
        assert_eq!(m.kind(), "dense");
        check(&m, &values);
        push(&mut m, 990, 1, &mut values); // grows downwards: the carried slots move
        push(&mut m, 1500, 257, &mut values); // and upwards
        check(&m, &values);
        for _ in 0..520 {
            // back below 256 and down to empty in one slot
            assert!(m.remove(1000));
            values.remove(values.iter().position(|&v| v == 1000).unwrap());
        }
        check(&m, &values);
        for _ in 0..220 {
            assert!(m.remove(1000));
            values.remove(values.iter().position(|&v| v == 1000).unwrap());
        }
        assert!(!m.remove(1000));
        check(&m, &values);
        let mut buf = vec![];
        m.encode(&mut buf);
        let (back, _) = CountMap::decode(&buf).unwrap();
        check(&back, &values);
        push(&mut m, 1 << 50, 1, &mut values); // too wide: a map, counts intact
        assert_eq!(m.kind(), "sparse");
        check(&m, &values);
    }

    #[test]
    fn random_operations_in_every_representation_match_a_sorted_vector() {
        let mut rng = Rng::new(12);
        for case in 0..400 {
            let spread = [4, 600, 40_000, 1 << 40][case % 4];
            let mut values: Vec<i64> = vec![];
            let mut m = CountMap::new();
            for step in 0..rng.range(1, 6000) {
                if step % 7 == 3 && !values.is_empty() {
                    let at = rng.below(values.len() as u64) as usize;
                    assert!(m.remove(values.swap_remove(at)));
                } else {
                    let v = rng.range(-spread, spread);
                    values.push(v);
                    m.add(v);
                }
            }
            check(&m, &values);
            // Merged in either order and round-tripped through encode/decode, still the same.
            let mut other = CountMap::new();
            let extra: Vec<i64> = (0..rng.range(0, 500))
                .map(|_| rng.range(-spread, spread))
                .collect();
            extra.iter().for_each(|&v| other.add(v));
            let mut buf = vec![];
            other.encode(&mut buf);
            let (decoded, _) = CountMap::decode(&buf).unwrap();
            let mut merged = m.clone();
            merged.merge(&decoded);
            let mut all = values.clone();
            all.extend_from_slice(&extra);
            check(&merged, &all);
            let mut merged = other.clone();
            merged.merge(&m);
            check(&merged, &all);
        }
    }

    /// Issue 29's property over bigint's whole range: values at and next to its ends, 0 and -1,
    /// 2^63 apart, and clusters dense enough for an array near either end, added, removed,
    /// merged, encoded and decoded (the parallel aggregate's serialised state).
    #[test]
    fn the_whole_bigint_range_in_every_representation() {
        let mut rng = Rng::new(2029);
        for case in 0..600 {
            let mut values: Vec<i64> = vec![];
            let mut m = CountMap::new();
            // A cluster around a value drawn from the edges: dense near i64::MIN or i64::MAX.
            let centre = rng.any_i64();
            for step in 0..rng.range(1, 1500) {
                if step % 5 == 4 && !values.is_empty() {
                    let at = rng.below(values.len() as u64) as usize;
                    assert!(m.remove(values.swap_remove(at)));
                    continue;
                }
                let v = match case % 3 {
                    0 => rng.any_i64(),
                    1 => centre.saturating_add(rng.range(-300, 300)),
                    _ if step % 50 == 0 => rng.any_i64(),
                    _ => centre.saturating_add(rng.range(-300, 300)),
                };
                values.push(v);
                m.add(v);
            }
            check(&m, &values);
            let mut buf = vec![];
            m.encode(&mut buf);
            let (back, rest) = CountMap::decode(&buf).unwrap();
            assert!(rest.is_empty());
            check(&back, &values);
            let mut other = CountMap::new();
            let extra: Vec<i64> = (0..rng.range(0, 300)).map(|_| rng.any_i64()).collect();
            extra.iter().for_each(|&v| other.add(v));
            let mut merged = back.clone();
            merged.merge(&other);
            let mut all = values.clone();
            all.extend_from_slice(&extra);
            check(&merged, &all);
        }
    }
}

#[cfg(test)]
mod allocator_tests {
    use super::*;
    use crate::core::testalloc::{global_calls, Counting};
    use crate::core::testrng::Rng;

    /// Adds `n` values from `gen` and returns the kinds the map went through.
    fn fill<A: Allocator + Clone>(
        m: &mut CountMap<A>,
        n: usize,
        mut gen: impl FnMut() -> i64,
    ) -> [&'static str; 3] {
        let mut seen = [""; 3];
        let mut k = 0;
        for _ in 0..n {
            m.add(gen());
            if k == 0 || seen[k - 1] != m.kind() {
                seen[k] = m.kind();
                k += 1;
            }
        }
        seen
    }

    #[test]
    fn every_buffer_comes_from_the_state_allocator_and_goes_back_to_it() {
        let a = Counting::default();
        let mut rng = Rng::new(5);
        let before = global_calls();
        {
            // Small -> sparse -> dense (random MB over 350,000), slots past 255, then back to a
            // map when a value far outside arrives.
            let mut m = CountMap::new_in(a.clone());
            let kinds = fill(&mut m, 400_000, || 512 + rng.range(0, 349_488));
            assert_eq!(kinds, ["small", "sparse", "dense"]);
            for _ in 0..600 {
                m.add(4096);
            }
            let dense_live = a.live();
            assert!(
                dense_live >= 349_489,
                "the counts array is the allocator's: {dense_live}"
            );
            m.add(1 << 40);
            assert_eq!(m.kind(), "sparse");
            // Selection scratch, removal, merging another state, decoding one.
            assert!(m.percentile_disc(0.5).is_some());
            assert!(m.remove(4096));
            let mut other = CountMap::new_in(a.clone());
            fill(&mut other, 1000, || rng.range(-10, 10));
            m.merge(&other);
            let mut grown = CountMap::new_in(a.clone());
            fill(&mut grown, 3000, || rng.range(0, 1 << 30));
            assert_eq!(grown.kind(), "sparse");
            let c = m.clone();
            assert_eq!(c.total(), m.total());
            assert!(a.live() > dense_live);
        }
        // Every allocation went through the state's allocator (none through the global one on
        // this thread), and every byte came back when the states were dropped.
        assert_eq!(
            global_calls(),
            before,
            "a buffer came from the global allocator"
        );
        assert_eq!(a.live(), 0);

        let mut buf = vec![];
        let mut m = CountMap::new();
        fill(&mut m, 5000, || rng.range(0, 1 << 30));
        m.encode(&mut buf);
        let before = global_calls();
        let (back, _) = CountMap::decode_in(&buf, a.clone()).unwrap();
        assert_eq!(back.total(), 5000);
        assert_eq!(global_calls(), before);
        drop(back);
        assert_eq!(a.live(), 0);
    }

    #[test]
    fn memory_is_asked_for_when_a_buffer_grows_never_per_row() {
        for (lo, spread) in [(512i64, 2_000i64), (1, 1_000_003)] {
            let a = Counting::default();
            let mut rng = Rng::new(7);
            let mut m = CountMap::new_in(a.clone());
            fill(&mut m, 1_000_000, || lo + rng.range(0, spread));
            assert!(a.calls() < 100, "{} calls for 1M rows", a.calls());
        }
    }

    #[test]
    fn live_bytes_follow_distinct_values() {
        // The shape of issue 16's case: ~5,000 distinct values spread over 1..1,000,003 (a map).
        let a = Counting::default();
        let mut rng = Rng::new(8);
        let pool: Vec<i64> = (0..5000).map(|_| 1 + rng.range(0, 1_000_002)).collect();
        let mut m = CountMap::new_in(a.clone());
        fill(&mut m, 50_000, || pool[rng.below(5000) as usize]);
        assert_eq!(m.kind(), "sparse");
        let per_value = a.live() as f64 / m.distinct() as f64;
        assert!(
            (16.0..=64.0).contains(&per_value),
            "{per_value} bytes a distinct value"
        );
        // A group of a few runs: one small vector.
        let b = Counting::default();
        let mut m = CountMap::new_in(b.clone());
        fill(&mut m, 30, || 1792);
        assert!(b.live() <= 8 * 32, "{}", b.live());
    }
}
