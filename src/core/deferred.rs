//! Deferred transitions: the arithmetic and ordering behind `ara_estimate`'s per-call-site log.
//!
//! A hashed GROUP BY over tens of thousands of groups calls the transition function with the rows
//! in table order, so every call lands on a different group's state, far from the last one: a cache
//! and TLB miss on the state and another on its value buffer, per row (`perf annotate` put 98% of
//! the transition's time on those two). Sorted input does not have them, and there ara_estimate is
//! faster than the built-in. So, once a call site holds many states, the transition only appends
//! `(state, value)` to a log; a full log is sorted by state and applied, touching each state once
//! for all of its values in the log and the states in address order. The final, serial, combine
//! and inverse functions apply the log before they read a state. Nothing here knows PostgreSQL: the
//! pgrx layer (`crate::estimate`) owns the log's memory and decides when it is safe to use it.

/// One deferred row: the state it belongs to (an address) and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Entry {
    pub target: usize,
    pub value: i64,
}

/// Bytes one entry takes in the log.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Below this many live states at one call site the states stay in the CPU's caches (1,024 states
/// of ~1 kB: the size of an L2 cache) and a direct transition is as fast: no log.
pub const MIN_STATES: usize = 1024;

/// Log entries per live state: each state is then touched once per flush for ~8 values on average.
pub const PER_STATE: usize = 8;

/// The largest log, in entries (16 MB).
pub const MAX_ENTRIES: usize = 1 << 20;

/// How many entries the log of a call site with `states` live states may hold, given `budget`
/// bytes for it (the pgrx layer passes an eighth of the hash aggregate's memory limit: the log is
/// memory PostgreSQL counts, so it takes a bounded share of it). 0: do not defer.
pub fn capacity(states: usize, budget: usize) -> usize {
    if states < MIN_STATES {
        return 0;
    }
    let entries = states
        .saturating_mul(PER_STATE)
        .min(budget / ENTRY_BYTES)
        .min(MAX_ENTRIES);
    // A log much shorter than the live states touches each state for about one value per flush:
    // no better than the direct transition, and it costs a sort.
    if entries < states.saturating_mul(2) {
        0
    } else {
        entries
    }
}

/// Whether a log of `cap` entries should grow to `want`: only to at least twice its size (it grows
/// by doubling as groups appear, not at every new group). It never shrinks: the states it serves
/// stay until their context goes, and the log with them.
pub fn should_grow(cap: usize, want: usize) -> bool {
    want > 0 && want >= cap.saturating_mul(2)
}

/// Sorts `entries` by target and hands each to `apply` in that order: every target's values one
/// after another, the targets in increasing address order.
pub fn apply_sorted(entries: &mut [Entry], mut apply: impl FnMut(usize, i64)) {
    entries.sort_unstable_by_key(|e| e.target);
    for e in entries.iter() {
        apply(e.target, e.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;
    use std::collections::BTreeMap;

    #[test]
    fn no_log_for_few_states() {
        assert_eq!(capacity(0, usize::MAX), 0);
        assert_eq!(capacity(MIN_STATES - 1, usize::MAX), 0);
        assert_eq!(capacity(MIN_STATES, usize::MAX), MIN_STATES * PER_STATE);
    }

    #[test]
    fn capacity_is_bounded_by_budget_and_maximum() {
        // 50,000 states, hash_mem 128 MB (an eighth: 16 MB): 8 per state.
        assert_eq!(capacity(50_000, 16 << 20), 400_000);
        // 500,000 states: the maximum.
        assert_eq!(capacity(500_000, usize::MAX), MAX_ENTRIES);
        // 50,000 states at work_mem 4MB x 2 (an eighth: 1 MB = 65,536 entries): ~1.3 per state,
        // not worth a log.
        assert_eq!(capacity(50_000, 1 << 20), 0);
        // 5,000 states with the same budget: 40,000 entries.
        assert_eq!(capacity(5_000, 1 << 20), 40_000);
        // More live states than the largest log serves: no log.
        assert_eq!(capacity(usize::MAX, usize::MAX), 0);
    }

    /// Issue 29's property over the whole range: any count of states and any budget give a log
    /// that fits the budget and the maximum (no product wraps), and entries with any value and
    /// any address are each applied once, values unchanged.
    #[test]
    fn sizes_and_entries_over_the_whole_range() {
        let mut rng = Rng::new(29);
        let edges = [
            0,
            1,
            MIN_STATES - 1,
            MIN_STATES,
            usize::MAX / 8,
            usize::MAX - 1,
            usize::MAX,
        ];
        for _ in 0..20_000 {
            let pick = |rng: &mut Rng| match rng.below(3) {
                0 => edges[rng.below(edges.len() as u64) as usize],
                1 => rng.next() as usize,
                _ => rng.below(1 << 24) as usize,
            };
            let (states, budget) = (pick(&mut rng), pick(&mut rng));
            let cap = capacity(states, budget);
            assert!(
                cap <= MAX_ENTRIES && cap <= budget / ENTRY_BYTES,
                "{states} {budget}"
            );
            assert!(cap == 0 || (states >= MIN_STATES && cap >= states.saturating_mul(2)));
            assert!(cap.checked_mul(ENTRY_BYTES).is_some());
        }
        let mut entries: Vec<Entry> = (0..5000)
            .map(|i| Entry {
                target: [0, usize::MAX, rng.next() as usize][i % 3],
                value: rng.any_i64(),
            })
            .collect();
        let mut want: Vec<(usize, i64)> = entries.iter().map(|e| (e.target, e.value)).collect();
        let mut got = Vec::new();
        apply_sorted(&mut entries, |t, v| got.push((t, v)));
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn grows_by_doubling() {
        assert!(should_grow(0, 8192));
        assert!(!should_grow(0, 0));
        assert!(!should_grow(8192, 8200));
        assert!(!should_grow(8192, 16383));
        assert!(should_grow(8192, 16384));
        assert!(!should_grow(8192, 0));
    }

    #[test]
    fn applies_every_entry_once_grouped_by_target_in_order() {
        let mut rng = Rng::new(7);
        let mut entries: Vec<Entry> = (0..10_000)
            .map(|_| Entry {
                target: 4096 + 256 * (rng.next() % 500) as usize,
                value: (rng.next() % 1000) as i64 - 500,
            })
            .collect();
        let mut want: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        for e in &entries {
            want.entry(e.target).or_default().push(e.value);
        }
        let mut got: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
        let mut order = Vec::new();
        apply_sorted(&mut entries, |t, v| {
            if order.last() != Some(&t) {
                order.push(t);
            }
            got.entry(t).or_default().push(v);
        });
        // Each target's values in one run, targets ascending.
        assert!(order.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(order.len(), want.len());
        for (t, mut vs) in got {
            let mut w = want.remove(&t).unwrap();
            vs.sort();
            w.sort();
            assert_eq!(vs, w);
        }
        assert!(want.is_empty());
    }
}
