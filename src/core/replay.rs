//! Replaying ARA sizing policies over a task table's history (issue 18), pgrx-free: the one-pass
//! engine under the simulator. Not yet exposed in SQL.
//!
//! # What the figures will rest on (written before the code)
//! 1. **No look-ahead.** A run's request under a policy comes only from runs of its own key
//!    (definition, stored hash) queued strictly before it, within `[queued_at - lookback, queued_at)`,
//!    the `max_runs` most recent of each feed: the window `ara_resources(as_of => queued_at)` reads.
//!    Runs queued at the same instant do not see each other.
//! 2. **What feeds a policy.** An OOM-killed run feeds the request it died at (Flotilla's ARA reads
//!    `memory`, the request, of OOM-killed runs); a successful run (exit code 0) with a measured peak
//!    feeds that peak. A policy reads one of the two feeds or both.
//! 3. **A run's need, and censoring.** A successful run needed its measured peak: a simulated
//!    request below it is a predicted OOM. An OOM-killed run needed more than the request it died at,
//!    by an unknown amount: a simulated request at or below that request is a certain OOM, one above
//!    it is unknown, counted only in the upper bound of predicted OOMs. Other runs (failed otherwise,
//!    still running, no peak) are sized but have no predicted outcome.
//! 4. **History as it happened.** The replay does not feed its own predictions back: a predicted OOM
//!    adds no OOM run that later runs would see, and no retry is added. The baseline policy, fed by
//!    the OOMs that did happen, reproduces what ARA answered; another policy is judged on the same
//!    history.
//! 5. **Runtime.** Memory x time uses each run's recorded runtime under every policy. A run that was
//!    OOM-killed and would have survived would have run longer: its figures are lower bounds.
//! 6. **No history.** A run its policy cannot size keeps the request it was recorded with (the
//!    table does not keep the definition's default apart from ARA's answer).
//! 7. **Clamps and rounding** as the service applies them (memory 512..350000 MB, cpu 256..60000
//!    millicores rounded to 250 by default), after the multiplier, exactly as `ara_resources`.

use crate::core::decimal::{MulError, Multiplier};
use crate::core::percentile::percentile_position;
use std::collections::VecDeque;

/// Which runs feed a policy's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// OOM-killed runs' requests (Flotilla's ARA).
    Oom,
    /// Successful runs' measured peaks.
    Peaks,
}

/// One window: the values a feed holds for a key, with the time each was queued, oldest first.
#[derive(Clone, Debug, Default)]
pub struct Window {
    entries: VecDeque<(i64, i64)>,
}

impl Window {
    /// Drops what was queued before `from`.
    pub fn evict_before(&mut self, from: i64) {
        while self.entries.front().is_some_and(|&(t, _)| t < from) {
            self.entries.pop_front();
        }
    }

    pub fn push(&mut self, queued_at: i64, value: i64) {
        self.entries.push_back((queued_at, value));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `percentile_disc(p)` of the `max_runs` most recent values (all with None), and how many
    /// values that was; None when the window is empty. `scratch` is reused between calls.
    pub fn percentile(
        &self,
        p: f64,
        max_runs: Option<usize>,
        scratch: &mut Vec<i64>,
    ) -> Option<(i64, usize)> {
        let n = max_runs.map_or(self.entries.len(), |m| m.min(self.entries.len()));
        if n == 0 {
            return None;
        }
        scratch.clear();
        scratch.extend(self.entries.iter().rev().take(n).map(|&(_, v)| v));
        let k = percentile_position(p, n as u64) as usize - 1;
        let (_, v, _) = scratch.select_nth_unstable(k);
        Some((*v, n))
    }
}

/// One estimate a policy takes: `percentile_disc(percentile)` of the `max_runs` most recent values
/// of `feed` in the window, times `multiplier` (exact decimal, rounded half away from zero, as
/// `cast(numeric AS bigint)`).
#[derive(Clone, Debug)]
pub struct Term {
    pub feed: Feed,
    pub percentile: f64,
    pub multiplier: Multiplier,
    pub max_runs: Option<usize>,
}

/// A sizing policy: the largest of its terms that has history, then clamped. Flotilla's ARA is one
/// term (OOM requests, p99, x1.75, 30 runs); right-sizing is a peaks term with an OOM floor (the
/// largest recent OOM request x the OOM multiplier: percentile 1).
#[derive(Clone, Debug)]
pub struct Policy {
    pub terms: Vec<Term>,
    /// Microseconds (the unit of PostgreSQL timestamps).
    pub lookback: i64,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Policy {
    /// Clamps a raw request: a NULL bound does not clamp (as `greatest`/`least` in ara_resources).
    pub fn clamp(&self, raw: i64) -> i64 {
        let mut v = raw;
        if let Some(max) = self.max {
            v = v.min(max);
        }
        if let Some(min) = self.min {
            v = v.max(min);
        }
        v
    }
}

/// A run as the replay reads it. Runs come sorted by (key, queued_at, tie-breaker): the most
/// recent of equal times is the last one (ara_resources orders by queued_at DESC, run_id DESC).
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// The (definition, stored hash) key, as a number the caller assigned.
    pub key: u64,
    pub queued_at: i64,
    /// The request it ran with (what an OOM-killed run feeds).
    pub request: i64,
    pub oom: bool,
    /// The measured peak of a successful run (what it feeds to a peaks term).
    pub peak: Option<i64>,
}

/// A replayed run's request under a policy: None when no term had history (assumption 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sized {
    /// Before the clamps.
    pub raw: i64,
    pub request: i64,
}

/// Replays `runs` (sorted as [`Run`] says) under `policy`: one answer per run, in order, each from
/// the runs of its key queued in `[queued_at - lookback, queued_at)` only. One pass: per key, one
/// window per term, entries evicted as time moves on; each distinct queue time computes once.
pub fn replay(runs: &[Run], policy: &Policy) -> Result<Vec<Option<Sized>>, MulError> {
    let mut out = Vec::with_capacity(runs.len());
    let mut windows: Vec<Window> = vec![Window::default(); policy.terms.len()];
    let mut scratch = Vec::new();
    let mut i = 0;
    while i < runs.len() {
        let (key, t) = (runs[i].key, runs[i].queued_at);
        if i == 0 || runs[i - 1].key != key {
            windows.iter_mut().for_each(Window::clear);
        }
        let mut j = i;
        while j < runs.len() && runs[j].key == key && runs[j].queued_at == t {
            j += 1;
        }
        let from = t.saturating_sub(policy.lookback);
        let mut raw: Option<i64> = None;
        for (term, w) in policy.terms.iter().zip(windows.iter_mut()) {
            w.evict_before(from);
            if let Some((v, _)) = w.percentile(term.percentile, term.max_runs, &mut scratch) {
                let r = term.multiplier.mul_round(v)?;
                raw = Some(raw.map_or(r, |m| m.max(r)));
            }
        }
        let sized = raw.map(|raw| Sized {
            raw,
            request: policy.clamp(raw),
        });
        out.extend(std::iter::repeat_n(sized, j - i));
        for run in &runs[i..j] {
            for (term, w) in policy.terms.iter().zip(windows.iter_mut()) {
                match term.feed {
                    Feed::Oom if run.oom => w.push(t, run.request),
                    Feed::Peaks if !run.oom => {
                        if let Some(p) = run.peak {
                            w.push(t, p)
                        }
                    }
                    _ => {}
                }
            }
        }
        i = j;
    }
    Ok(out)
}

/// What a replayed run's real outcome says about its need (assumption 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Succeeded with this measured peak: it needed exactly that much.
    Peak(i64),
    /// OOM-killed at this request: it needed more, how much is unknown.
    Above(i64),
    /// Nothing known (another failure, no peak measured, not finished).
    Unknown,
}

/// A simulated request against a run's need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Survives,
    /// Certain OOM.
    Oom,
    /// Above the request the run died at: it may or may not have been enough.
    Unknown,
    /// The run's need is not known.
    NoVerdict,
}

pub fn outcome(request: i64, need: Need) -> Outcome {
    match need {
        Need::Peak(peak) if request >= peak => Outcome::Survives,
        Need::Peak(_) => Outcome::Oom,
        Need::Above(died_at) if request <= died_at => Outcome::Oom,
        Need::Above(_) => Outcome::Unknown,
        Need::Unknown => Outcome::NoVerdict,
    }
}

/// The round-half-up step the service applies to cpu: `((m + step / 2) / step) * step`, integer
/// division as in SQL on bigint (truncating toward zero); 0: no rounding.
pub fn round_to(value: i64, step: i64) -> i64 {
    if step <= 0 {
        value
    } else {
        ((value + step / 2) / step) * step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    fn m(text: &str) -> Multiplier {
        Multiplier::parse(text).unwrap()
    }

    const DAY: i64 = 86_400_000_000;

    fn flotilla() -> Policy {
        Policy {
            terms: vec![Term {
                feed: Feed::Oom,
                percentile: 0.99,
                multiplier: m("1.75"),
                max_runs: Some(30),
            }],
            lookback: 3 * DAY,
            min: Some(512),
            max: Some(350_000),
        }
    }

    /// percentile_disc the slow way: sort, take position ceil(p * n).
    fn reference(values: &[i64], p: f64) -> i64 {
        let mut v = values.to_vec();
        v.sort();
        v[percentile_position(p, v.len() as u64) as usize - 1]
    }

    #[test]
    fn the_reports_example() {
        let mut w = Window::default();
        for (t, v) in [(1, 1024), (2, 1792), (3, 1024)] {
            w.push(t, v);
        }
        let mut scratch = Vec::new();
        let (v, n) = w.percentile(0.99, Some(30), &mut scratch).unwrap();
        assert_eq!((v, n), (1792, 3));
        let runs: Vec<Run> = [(1, 1024), (2, 1792), (3, 1024), (4, 0)]
            .iter()
            .map(|&(t, v)| Run {
                key: 7,
                queued_at: t,
                request: v,
                oom: v > 0,
                peak: None,
            })
            .collect();
        let got = replay(&runs, &flotilla()).unwrap();
        assert_eq!(got[0], None);
        assert_eq!(
            got[3],
            Some(Sized {
                raw: 3136,
                request: 3136
            })
        );
    }

    #[test]
    fn empty_window_has_no_answer() {
        let w = Window::default();
        assert_eq!(w.percentile(0.99, Some(30), &mut Vec::new()), None);
        assert_eq!(w.percentile(0.5, None, &mut Vec::new()), None);
    }

    #[test]
    fn most_recent_max_runs_and_eviction() {
        let mut w = Window::default();
        // 40 values queued at 0..40: value = 1000 + t, so the most recent 30 are 1010..1039.
        for t in 0..40 {
            w.push(t, 1000 + t);
        }
        let mut s = Vec::new();
        assert_eq!(w.percentile(0.0, Some(30), &mut s), Some((1010, 30)));
        assert_eq!(w.percentile(0.0, None, &mut s), Some((1000, 40)));
        w.evict_before(35);
        assert_eq!(w.len(), 5);
        assert_eq!(w.percentile(0.0, Some(30), &mut s), Some((1035, 5)));
        w.evict_before(100);
        assert!(w.is_empty());
    }

    #[test]
    fn percentile_equals_sorting_on_generated_windows() {
        let mut rng = Rng::new(18);
        let mut s = Vec::new();
        for _ in 0..2000 {
            let n = 1 + rng.below(80) as usize;
            let mut w = Window::default();
            let values: Vec<i64> = (0..n).map(|_| rng.range(-5, 400_000)).collect();
            for (t, &v) in values.iter().enumerate() {
                w.push(t as i64, v);
            }
            let p = [0.0, 0.01, 0.5, 0.9, 0.99, 1.0][rng.below(6) as usize];
            let max_runs = [None, Some(1), Some(30), Some(200)][rng.below(4) as usize];
            let take = max_runs.map_or(n, |m| m.min(n));
            let want = reference(&values[n - take..], p);
            assert_eq!(w.percentile(p, max_runs, &mut s), Some((want, take)));
        }
    }

    #[test]
    fn clamps_after_the_exact_multiplier() {
        let f = flotilla();
        assert_eq!(f.clamp(m("1.75").mul_round(1022).unwrap()), 1789); // 1788.5 away from zero
        assert_eq!(f.clamp(175), 512);
        assert_eq!(f.clamp(525_000), 350_000);
        let open = Policy {
            min: None,
            max: None,
            ..flotilla()
        };
        assert_eq!(open.clamp(525_000), 525_000);
    }

    /// The replay the slow way: for each run, the runs of its key queued in [t - lookback, t),
    /// each term's most recent max_runs values sorted, the largest term, clamped.
    fn brute(runs: &[Run], policy: &Policy) -> Vec<Option<Sized>> {
        runs.iter()
            .map(|r| {
                let earlier: Vec<&Run> = runs
                    .iter()
                    .filter(|o| {
                        o.key == r.key
                            && o.queued_at < r.queued_at
                            && o.queued_at >= r.queued_at - policy.lookback
                    })
                    .collect();
                let mut raw: Option<i64> = None;
                for term in &policy.terms {
                    let mut fed: Vec<i64> = earlier
                        .iter()
                        .filter_map(|o| match term.feed {
                            Feed::Oom if o.oom => Some(o.request),
                            Feed::Peaks if !o.oom => o.peak,
                            _ => None,
                        })
                        .collect();
                    // most recent last (input order within equal times)
                    if let Some(n) = term.max_runs {
                        let skip = fed.len().saturating_sub(n);
                        fed.drain(..skip);
                    }
                    if !fed.is_empty() {
                        let v = term
                            .multiplier
                            .mul_round(reference(&fed, term.percentile))
                            .unwrap();
                        raw = Some(raw.map_or(v, |x: i64| x.max(v)));
                    }
                }
                raw.map(|raw| Sized {
                    raw,
                    request: policy.clamp(raw),
                })
            })
            .collect()
    }

    #[test]
    fn replay_equals_the_window_computed_run_by_run() {
        let mut rng = Rng::new(1818);
        let right_size = Policy {
            terms: vec![
                Term {
                    feed: Feed::Peaks,
                    percentile: 0.95,
                    multiplier: m("1.2"),
                    max_runs: None,
                },
                Term {
                    feed: Feed::Oom,
                    percentile: 1.0,
                    multiplier: m("1.75"),
                    max_runs: Some(30),
                },
            ],
            lookback: 7 * DAY,
            ..flotilla()
        };
        let few = Policy {
            terms: vec![Term {
                max_runs: Some(3),
                percentile: 0.5,
                ..flotilla().terms[0].clone()
            }],
            lookback: DAY / 2,
            min: None,
            max: Some(100_000),
        };
        for round in 0..30 {
            let mut runs = Vec::new();
            for key in 0..(1 + rng.below(12)) {
                let mut t = rng.range(0, DAY);
                for _ in 0..rng.below(150) {
                    // Often the same instant (batches), sometimes days apart.
                    t += [0, 1, 3_600_000_000, DAY, 4 * DAY][rng.below(5) as usize];
                    let oom = rng.below(3) == 0;
                    runs.push(Run {
                        key,
                        queued_at: t,
                        request: rng.range(256, 400_000),
                        oom,
                        peak: (!oom && rng.below(5) > 0).then(|| rng.range(100, 300_000)),
                    });
                }
            }
            for policy in [flotilla(), right_size.clone(), few.clone()] {
                assert_eq!(
                    replay(&runs, &policy).unwrap(),
                    brute(&runs, &policy),
                    "round {round}"
                );
            }
        }
    }

    #[test]
    fn outcomes_are_censored_for_oom_killed_runs() {
        assert_eq!(outcome(4096, Need::Peak(4096)), Outcome::Survives);
        assert_eq!(outcome(4095, Need::Peak(4096)), Outcome::Oom);
        assert_eq!(outcome(2048, Need::Above(2048)), Outcome::Oom);
        assert_eq!(outcome(2049, Need::Above(2048)), Outcome::Unknown);
        assert_eq!(outcome(1, Need::Unknown), Outcome::NoVerdict);
    }

    #[test]
    fn cpu_rounds_like_the_service() {
        assert_eq!(round_to(1124, 250), 1000);
        assert_eq!(round_to(1125, 250), 1250);
        assert_eq!(round_to(256, 250), 250);
        assert_eq!(round_to(777, 0), 777);
    }
}
