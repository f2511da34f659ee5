//! Replaying ARA sizing policies over a task table's history (issue 18; the peer and censored
//! models of issue 28 in [`crate::core::models`]), pgrx-free: the one-pass engine under
//! `ara_simulate()` (src/simulate.rs).
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
//!    adds no OOM run that later runs would see, and no retry is added (the retry policy counts its
//!    own attempts, but they feed nothing either). The baseline policy, fed by
//!    the OOMs that did happen, reproduces what ARA answered; another policy is judged on the same
//!    history.
//! 5. **Runtime.** Memory x time uses each run's recorded runtime under every policy. A run that was
//!    OOM-killed and would have survived would have run longer: its figures are lower bounds.
//! 6. **No history.** A run its policy cannot size keeps the request it was recorded with (the
//!    table does not keep the definition's default apart from ARA's answer).
//! 7. **Clamps and rounding** as the service applies them (memory 512..350000 MB, cpu 256..60000
//!    millicores rounded to 250 by default), after the multiplier, exactly as `ara_resources`.

use crate::core::decimal::{MulError, Multiplier};
use crate::core::models::{
    censored_estimate, vpa_from_samples, vpa_interval, Censored, Event, Vpa, VpaInterval,
};
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
    /// A NULL value (an OOM-killed run whose request is NULL) takes a place among the most recent
    /// runs, as in ara_resources' LIMIT, but no part in the percentile (ara_estimate skips NULLs).
    entries: VecDeque<(i64, Option<i64>)>,
}

impl Window {
    /// Drops what was queued before `from`.
    pub fn evict_before(&mut self, from: i64) {
        while self.entries.front().is_some_and(|&(t, _)| t < from) {
            self.entries.pop_front();
        }
    }

    pub fn push(&mut self, queued_at: i64, value: Option<i64>) {
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

    /// `percentile_disc(p)` of the non-NULL values among the `max_runs` most recent entries (all
    /// with None), and how many values that was; None when there are none. `scratch` is reused
    /// between calls.
    pub fn percentile(
        &self,
        p: f64,
        max_runs: Option<usize>,
        scratch: &mut Vec<i64>,
    ) -> Option<(i64, usize)> {
        let take = max_runs.map_or(self.entries.len(), |m| m.min(self.entries.len()));
        scratch.clear();
        scratch.extend(self.entries.iter().rev().take(take).filter_map(|&(_, v)| v));
        let n = scratch.len();
        if n == 0 {
            return None;
        }
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

/// How a policy turns its window into a request (issue 28 added all but `Terms`).
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// The largest of the policy's terms that has history (Flotilla's ARA, peaks, both, KRR).
    Terms,
    /// The Kubernetes VPA recommender's target ([`crate::core::models::vpa_estimate`]).
    Vpa(Vpa),
    /// The need as a right-censored distribution, at a target OOM rate ([`censored_estimate`]).
    Censored(Censored),
    /// Retry on OOM, no memory of past needs: each run starts at its default request (the lowest
    /// request recorded for its group in the window, its own included: ARA only ever raises a
    /// request) and an attempt killed is retried at start x attempt, up to `attempts` in all.
    Retry { attempts: u32 },
}

/// A sizing policy: the largest of its terms that has history, then clamped. Flotilla's ARA is one
/// term (OOM requests, p99, x1.75, 30 runs); right-sizing is a peaks term with an OOM floor (the
/// largest recent OOM request x the OOM multiplier: percentile 1).
#[derive(Clone, Debug)]
pub struct Policy {
    pub model: Model,
    pub terms: Vec<Term>,
    /// `Terms` only (KRR): no answer unless the window holds at least `min_runs` fed runs, the
    /// oldest queued at least `min_history` (microseconds) before the run sized.
    pub min_runs: usize,
    pub min_history: Option<i64>,
    /// Grouped by definition (every hash of it, as VPA, KRR and retries see a workload) instead of
    /// by ARA's key (definition, hash). See [`Replay`].
    pub by_definition: bool,
    /// Microseconds (the unit of PostgreSQL timestamps).
    pub lookback: i64,
    /// Where its window start is among those given per run ([`Replayer::push_from`]): policies
    /// with the same lookback share one.
    pub window: usize,
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
    /// The (definition, stored hash) key, as a number the caller assigned in sort order.
    pub key: u64,
    /// False for a run whose hash is NULL: ARA skips it (never sized) and it feeds nothing.
    pub sizable: bool,
    /// The definition, as a number the caller assigned in sort order (keys of one definition are
    /// consecutive), for policies grouped by definition.
    pub group: u64,
    /// False for a run whose definition is NULL: no policy grouped by definition sizes it.
    pub grouped: bool,
    pub queued_at: i64,
    /// The request it ran with (what an OOM-killed run feeds; NULL: it feeds a NULL, and has no
    /// request in the totals when the policy does not size it).
    pub request: Option<i64>,
    pub oom: bool,
    /// The measured peak of a successful run (what it feeds to a peaks term).
    pub peak: Option<i64>,
    /// What its outcome says about its need (for the totals).
    pub need: Need,
    /// Recorded runtime in seconds.
    pub runtime: Option<i64>,
    /// Counted in the totals (false: history before the replayed period, which only feeds).
    pub replayed: bool,
}

/// A replayed run's request under a policy: None when no term had history (assumption 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sized {
    /// Before the clamps.
    pub raw: i64,
    pub request: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// Runs did not come in (key, queued_at) order.
    Unsorted,
    /// A percentile value times its multiplier does not fit in bigint.
    Overflow(MulError),
    /// A policy's window start was not given.
    Windows,
    /// Memory x time summed past what the totals hold (i128 MB-seconds): only requests or
    /// runtimes near bigint's ends, over many runs, get there.
    TotalsOverflow,
}

/// The replay of several policies in one pass over runs sorted by (key, queued_at): per policy
/// and term one window, entries evicted as time moves on; the runs of one key and instant are
/// sized together (they do not see each other) and only then feed the windows.
pub struct Replayer {
    policies: Vec<Policy>,
    windows: Vec<Vec<Window>>,
    /// Per policy whose model is not `Terms`: what it keeps of the window.
    histories: Vec<History>,
    batch: Vec<Run>,
    batch_ids: Vec<u64>,
    /// Per policy, where the pending batch's windows start.
    batch_from: Vec<i64>,
    scratch: Vec<i64>,
    last: Option<(u64, i64)>,
    /// Per policy, over the replayed runs.
    pub totals: Vec<Totals>,
    /// When kept: per replayed run, its id and its answer under each policy.
    pub answers: Option<Vec<(u64, Vec<Option<Sized>>)>>,
}

impl Replayer {
    pub fn new(policies: Vec<Policy>, keep_answers: bool) -> Replayer {
        Replayer {
            windows: policies
                .iter()
                .map(|p| vec![Window::default(); p.terms.len()])
                .collect(),
            histories: policies
                .iter()
                .map(|p| History::for_model(&p.model))
                .collect(),
            totals: vec![Totals::default(); policies.len()],
            policies,
            batch: Vec::new(),
            batch_ids: Vec::new(),
            batch_from: Vec::new(),
            scratch: Vec::new(),
            last: None,
            answers: keep_answers.then(Vec::new),
        }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Takes the next run (`id` names it in the answers); each policy's window starts `lookback`
    /// before it.
    pub fn push(&mut self, run: Run, id: u64) -> Result<(), ReplayError> {
        self.push_from(run, id, None)
    }

    /// The same, with the window starts given (policy p's is `from[p.window]`): what PostgreSQL
    /// computes as `queued_at - lookback` in the session's time zone, where a day is not always
    /// 24 hours. Only the first run of each (key, instant) is read for it.
    pub fn push_from(
        &mut self,
        run: Run,
        id: u64,
        from: Option<&[i64]>,
    ) -> Result<(), ReplayError> {
        let at = (run.key, run.queued_at);
        match self.last {
            Some(last) if at < last => return Err(ReplayError::Unsorted),
            Some(last) if at == last => {}
            _ => {
                self.flush()?;
                if self.last.is_none_or(|(k, _)| k != run.key) {
                    self.windows.iter_mut().flatten().for_each(Window::clear);
                    self.histories.iter_mut().for_each(History::clear);
                }
                self.last = Some(at);
                self.batch_from.clear();
                for p in &self.policies {
                    let start = match from {
                        Some(f) => *f.get(p.window).ok_or(ReplayError::Windows)?,
                        None => run.queued_at.saturating_sub(p.lookback),
                    };
                    self.batch_from.push(start);
                }
            }
        }
        self.batch.push(run);
        self.batch_ids.push(id);
        Ok(())
    }

    /// Sizes what is still pending; call once after the last run.
    pub fn finish(&mut self) -> Result<(), ReplayError> {
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ReplayError> {
        let Some(first) = self.batch.first().copied() else {
            return Ok(());
        };
        let t = first.queued_at;
        // Per policy: its answer for the batch, or (retry) the lowest request of its window.
        let mut sized = Vec::with_capacity(self.policies.len());
        let mut lowest = Vec::with_capacity(self.policies.len());
        for (((policy, windows), history), &from) in self
            .policies
            .iter()
            .zip(self.windows.iter_mut())
            .zip(self.histories.iter_mut())
            .zip(&self.batch_from)
        {
            history.evict_before(from, &policy.model);
            let raw = match &policy.model {
                Model::Terms => {
                    let mut raw: Option<i64> = None;
                    let (mut fed, mut oldest) = (0usize, i64::MAX);
                    for (term, w) in policy.terms.iter().zip(windows.iter_mut()) {
                        w.evict_before(from);
                        fed += w.len();
                        oldest = oldest.min(w.entries.front().map_or(i64::MAX, |e| e.0));
                        if let Some((v, _)) =
                            w.percentile(term.percentile, term.max_runs, &mut self.scratch)
                        {
                            let r = term
                                .multiplier
                                .mul_round(v)
                                .map_err(ReplayError::Overflow)?;
                            raw = Some(raw.map_or(r, |m| m.max(r)));
                        }
                    }
                    let enough = fed >= policy.min_runs
                        && policy
                            .min_history
                            .is_none_or(|h| oldest <= t.saturating_sub(h));
                    raw.filter(|_| enough)
                }
                Model::Vpa(v) => match history {
                    History::Intervals(i) => {
                        vpa_from_samples(i.iter().filter_map(|(_, s)| s.sample()), t, v)
                    }
                    _ => None,
                },
                Model::Censored(c) => match history {
                    History::Runs(runs) => censored_estimate(runs.make_contiguous(), t, c)
                        .map_err(ReplayError::Overflow)?
                        .map(|a| a.raw),
                    _ => None,
                },
                Model::Retry { .. } => None,
            };
            lowest.push(match history {
                History::Lowest(l) => l.front().map(|&(_, r)| r),
                _ => None,
            });
            sized.push(raw.map(|raw| Sized {
                raw,
                request: policy.clamp(raw),
            }));
        }
        for (run, &id) in self.batch.iter().zip(self.batch_ids.iter()) {
            if !run.replayed {
                continue;
            }
            let mut answers: Vec<Option<Sized>> = Vec::with_capacity(sized.len());
            for (((totals, policy), &s), &low) in self
                .totals
                .iter_mut()
                .zip(&self.policies)
                .zip(&sized)
                .zip(&lowest)
            {
                let answer = match policy.model {
                    Model::Retry { attempts } if run.sizable => {
                        let start = match (low, run.request) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        match start {
                            Some(start) => {
                                let (last, killed) =
                                    retry_attempts(start, attempts, policy, run.need)?;
                                totals.add_killed(&killed, run.runtime)?;
                                Some(last)
                            }
                            None => None,
                        }
                    }
                    _ if run.sizable => s,
                    _ => None,
                };
                totals.add(answer, run.request, run.need, run.runtime, policy.max)?;
                answers.push(answer);
            }
            if let Some(out) = self.answers.as_mut() {
                out.push((id, answers));
            }
        }
        for run in self.batch.iter().filter(|r| r.sizable) {
            for ((policy, windows), history) in self
                .policies
                .iter()
                .zip(self.windows.iter_mut())
                .zip(self.histories.iter_mut())
            {
                if policy.model != Model::Terms {
                    history.push(
                        Event {
                            at: t,
                            request: run.request,
                            oom: run.oom,
                            peak: if run.oom { None } else { run.peak },
                        },
                        &policy.model,
                    );
                    continue;
                }
                for (term, w) in policy.terms.iter().zip(windows.iter_mut()) {
                    match term.feed {
                        Feed::Oom if run.oom => w.push(t, run.request),
                        Feed::Peaks if !run.oom && run.peak.is_some() => w.push(t, run.peak),
                        _ => {}
                    }
                }
            }
        }
        self.batch.clear();
        self.batch_ids.clear();
        Ok(())
    }
}

/// What a model keeps of its window, each pushed in queue order and evicted from the front.
#[derive(Clone, Debug)]
enum History {
    None,
    /// Censored: the runs that are observations (a measured peak, a killed request), at most the
    /// model's max_runs most recent.
    Runs(VecDeque<Event>),
    /// VPA: one aggregate per interval, oldest first.
    Intervals(VecDeque<(i64, VpaInterval)>),
    /// Retry: the lowest request of the window at the front (a monotone queue: each request
    /// kept only while no later one is lower or equal).
    Lowest(VecDeque<(i64, i64)>),
}

impl History {
    fn for_model(model: &Model) -> History {
        match model {
            Model::Terms => History::None,
            Model::Censored(_) => History::Runs(VecDeque::new()),
            Model::Vpa(_) => History::Intervals(VecDeque::new()),
            Model::Retry { .. } => History::Lowest(VecDeque::new()),
        }
    }

    fn clear(&mut self) {
        match self {
            History::None => {}
            History::Runs(r) => r.clear(),
            History::Intervals(i) => i.clear(),
            History::Lowest(l) => l.clear(),
        }
    }

    fn evict_before(&mut self, from: i64, model: &Model) {
        match (self, model) {
            (History::Runs(r), _) => {
                while r.front().is_some_and(|e| e.at < from) {
                    r.pop_front();
                }
            }
            // Whole intervals: those after the one `from` is in.
            (History::Intervals(i), Model::Vpa(v)) => {
                let oldest = vpa_interval(from, v);
                while i.front().is_some_and(|&(k, _)| k <= oldest) {
                    i.pop_front();
                }
            }
            (History::Lowest(l), _) => {
                while l.front().is_some_and(|&(at, _)| at < from) {
                    l.pop_front();
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, e: Event, model: &Model) {
        match (self, model) {
            // Only observations: a measured need, or a request killed (what the lookup reads).
            (History::Runs(r), Model::Censored(c)) => {
                if !matches!(
                    (e.oom, e.request, e.peak),
                    (true, Some(_), _) | (false, _, Some(_))
                ) {
                    return;
                }
                r.push_back(e);
                if c.max_runs.is_some_and(|n| r.len() > n) {
                    r.pop_front();
                }
            }
            (History::Intervals(i), Model::Vpa(v)) => {
                let k = vpa_interval(e.at, v);
                match i.back_mut() {
                    Some((last, agg)) if *last == k => agg.add(&e),
                    _ => {
                        let mut agg = VpaInterval::default();
                        agg.add(&e);
                        i.push_back((k, agg));
                    }
                }
            }
            (History::Lowest(l), _) => {
                if let Some(r) = e.request {
                    while l.back().is_some_and(|&(_, b)| b >= r) {
                        l.pop_back();
                    }
                    l.push_back((e.at, r));
                }
            }
            _ => {}
        }
    }
}

/// Retry on OOM for one run: attempt k asks start x k (clamped); an attempt its need says is
/// certainly killed is retried, up to `attempts` in all. The last attempt's request, and the
/// requests of the attempts killed before it.
pub fn retry_attempts(
    start: i64,
    attempts: u32,
    policy: &Policy,
    need: Need,
) -> Result<(Sized, Vec<i64>), ReplayError> {
    let mut killed = Vec::new();
    for k in 1..=attempts.max(1) {
        let raw = start
            .checked_mul(k as i64)
            .ok_or(ReplayError::Overflow(MulError::OutOfRange))?;
        let request = policy.clamp(raw);
        if k < attempts && outcome(request, need) == Outcome::Oom {
            killed.push(request);
            continue;
        }
        return Ok((Sized { raw, request }, killed));
    }
    unreachable!("attempts.max(1) >= 1 returns in the loop")
}

/// The replay of policies grouped either way in one pass over runs sorted by (key, queued_at):
/// policies grouped by key replay as the runs come; those grouped by definition see each
/// definition's runs (its keys are consecutive) at its end, sorted by queue time, in a replayer
/// of their own whose key is the definition. Totals and answers are given in the policies' order.
pub struct Replay {
    by_key: Replayer,
    by_definition: Replayer,
    /// Per policy: grouped by definition, and its index in that replayer.
    place: Vec<(bool, usize)>,
    pending: Vec<(Run, u64, Option<Vec<i64>>)>,
    group: Option<u64>,
}

impl Replay {
    pub fn new(policies: Vec<Policy>, keep_answers: bool) -> Replay {
        let (mut keyed, mut defined) = (Vec::new(), Vec::new());
        let place = policies
            .into_iter()
            .map(|p| {
                if p.by_definition {
                    defined.push(p);
                    (true, defined.len() - 1)
                } else {
                    keyed.push(p);
                    (false, keyed.len() - 1)
                }
            })
            .collect();
        Replay {
            by_key: Replayer::new(keyed, keep_answers),
            by_definition: Replayer::new(defined, keep_answers),
            place,
            pending: Vec::new(),
            group: None,
        }
    }

    /// Whether any policy is grouped by definition (its figures per key are not kept).
    pub fn grouped_by_definition(&self) -> bool {
        !self.by_definition.policies.is_empty()
    }

    pub fn push(&mut self, run: Run, id: u64) -> Result<(), ReplayError> {
        self.push_from(run, id, None)
    }

    /// As [`Replayer::push_from`].
    pub fn push_from(
        &mut self,
        run: Run,
        id: u64,
        from: Option<&[i64]>,
    ) -> Result<(), ReplayError> {
        if self.grouped_by_definition() {
            match self.group {
                Some(g) if run.group < g => return Err(ReplayError::Unsorted),
                Some(g) if run.group > g => self.flush_definition()?,
                _ => {}
            }
            self.group = Some(run.group);
            self.pending.push((run, id, from.map(<[i64]>::to_vec)));
        }
        self.by_key.push_from(run, id, from)
    }

    fn flush_definition(&mut self) -> Result<(), ReplayError> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(|(r, _, _)| r.queued_at);
        for (run, id, from) in &pending {
            let run = Run {
                key: run.group,
                sizable: run.grouped,
                ..*run
            };
            self.by_definition.push_from(run, *id, from.as_deref())?;
        }
        self.by_definition.finish()?;
        pending.clear();
        self.pending = pending;
        Ok(())
    }

    /// Sizes everything pending (the current key's batch and definition); call after the last
    /// run of a definition or of all.
    pub fn finish(&mut self) -> Result<(), ReplayError> {
        self.by_key.finish()?;
        self.flush_definition()
    }

    /// Each policy's totals, in the policies' order.
    pub fn totals(&self) -> Vec<Totals> {
        self.place
            .iter()
            .map(|&(d, i)| {
                if d {
                    self.by_definition.totals[i].clone()
                } else {
                    self.by_key.totals[i].clone()
                }
            })
            .collect()
    }

    /// When kept: per replayed run (by id, ascending), its answer under each policy.
    pub fn answers(&self) -> Option<Vec<(u64, Vec<Option<Sized>>)>> {
        let keyed = self.by_key.answers.as_ref()?;
        let mut defined = self.by_definition.answers.clone()?;
        defined.sort_by_key(|(id, _)| *id);
        let mut keyed = keyed.clone();
        keyed.sort_by_key(|(id, _)| *id);
        Some(
            keyed
                .iter()
                .enumerate()
                .map(|(n, (id, a))| {
                    let d = defined.get(n).map(|(_, d)| d.as_slice()).unwrap_or(&[]);
                    let all = self
                        .place
                        .iter()
                        .map(|&(g, i)| if g { d.get(i).copied().flatten() } else { a[i] })
                        .collect();
                    (*id, all)
                })
                .collect(),
        )
    }
}

/// Replays `runs` (sorted as [`Run`] says) under one policy: one answer per replayed run, in order.
pub fn replay(runs: &[Run], policy: &Policy) -> Result<Vec<Option<Sized>>, ReplayError> {
    let mut r = Replay::new(vec![policy.clone()], true);
    for (i, run) in runs.iter().enumerate() {
        r.push(*run, i as u64)?;
    }
    r.finish()?;
    Ok(r.answers()
        .unwrap_or_default()
        .into_iter()
        .map(|(_, a)| a[0])
        .collect())
}

/// Reads the policies as the SQL layer writes them (validated there; checked again here):
/// `[{"name": "...", "min": 512 | null, "max": 350000 | null, "lookback_us": 259200000000,
///    "terms": [{"feed": "oom" | "peaks", "percentile": 0.99, "multiplier": "1.75",
///               "max_runs": 30 | null}, ...],
///    "group": "key" | "definition" (default key), "min_runs": 1, "min_history_us": null,
///    "model": null | {"kind": "vpa", "percentile": 0.9, "margin": 1.15, "half_life_us": ...,
///                     "interval_us": ...}
///                  | {"kind": "censored", "target": 0.05, "headroom": "1.05", "half_life_us": ...,
///                     "fallback": "1.75", "floor_us": ..., "max_runs": 200 | null}
///                  | {"kind": "retry", "attempts": 3}}, ...]`.
pub fn parse_policies(json: &str) -> Result<Vec<(String, Policy)>, String> {
    use serde_json::Value;
    let v: Value = serde_json::from_str(json).map_err(|e| format!("policies: {e}"))?;
    let int = |v: &Value, what: &str| -> Result<Option<i64>, String> {
        match v {
            Value::Null => Ok(None),
            v => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("policies: {what} must be an integer or null, got {v}")),
        }
    };
    let list = v.as_array().ok_or("policies: expected a JSON array")?;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let name = p["name"]
            .as_str()
            .ok_or("policies: a policy without a name")?;
        let mut terms = Vec::new();
        for t in p["terms"]
            .as_array()
            .ok_or("policies: a policy without terms")?
        {
            let feed = match t["feed"].as_str() {
                Some("oom") => Feed::Oom,
                Some("peaks") => Feed::Peaks,
                other => return Err(format!("policies: unknown feed {other:?}")),
            };
            let percentile = t["percentile"]
                .as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or("policies: a percentile must be a number from 0 to 1")?;
            let multiplier = Multiplier::parse(
                t["multiplier"]
                    .as_str()
                    .ok_or("policies: a multiplier must be a decimal string")?,
            )
            .map_err(|e| format!("policies: {}", e.0))?;
            let max_runs = int(&t["max_runs"], "max_runs")?
                .map(|n| usize::try_from(n).ok().filter(|&n| n >= 1))
                .map(|n| n.ok_or("policies: max_runs must be at least 1"))
                .transpose()?;
            terms.push(Term {
                feed,
                percentile,
                multiplier,
                max_runs,
            });
        }
        let positive = |v: &Value, what: &str| -> Result<i64, String> {
            int(v, what)?
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("policies: {what} must be a positive integer"))
        };
        let decimal = |v: &Value, what: &str| -> Result<Multiplier, String> {
            Multiplier::parse(
                v.as_str()
                    .ok_or_else(|| format!("policies: {what} must be a decimal string"))?,
            )
            .map_err(|e| format!("policies: {}", e.0))
        };
        let fraction = |v: &Value, what: &str| -> Result<f64, String> {
            v.as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| format!("policies: {what} must be a number from 0 to 1"))
        };
        let m = &p["model"];
        let model = match m["kind"].as_str() {
            None if m.is_null() => Model::Terms,
            Some("vpa") => Model::Vpa(Vpa {
                percentile: fraction(&m["percentile"], "percentile")?,
                margin: m["margin"]
                    .as_f64()
                    .filter(|&x| x > 0.0)
                    .ok_or("policies: margin must be a positive number")?,
                half_life: positive(&m["half_life_us"], "half_life_us")?,
                interval: positive(&m["interval_us"], "interval_us")?,
            }),
            Some("censored") => Model::Censored(Censored {
                target: fraction(&m["target"], "target")?,
                headroom: decimal(&m["headroom"], "headroom")?,
                half_life: positive(&m["half_life_us"], "half_life_us")?,
                fallback: decimal(&m["fallback"], "fallback")?,
                floor: int(&m["floor_us"], "floor_us")?.unwrap_or(0).max(0),
                max_runs: int(&m["max_runs"], "max_runs")?
                    .map(|n| usize::try_from(n).ok().filter(|&n| n >= 1))
                    .map(|n| n.ok_or("policies: max_runs must be at least 1"))
                    .transpose()?,
            }),
            Some("retry") => Model::Retry {
                attempts: u32::try_from(positive(&m["attempts"], "attempts")?)
                    .map_err(|_| "policies: attempts is too large")?,
            },
            other => return Err(format!("policies: unknown model {other:?}")),
        };
        let by_definition = match p["group"].as_str() {
            None | Some("key") => false,
            Some("definition") => true,
            Some(other) => return Err(format!("policies: unknown group {other:?}")),
        };
        out.push((
            name.to_string(),
            Policy {
                model,
                min_runs: int(&p["min_runs"], "min_runs")?
                    .map(|n| usize::try_from(n).map_err(|_| "policies: a negative min_runs"))
                    .transpose()?
                    .unwrap_or(0),
                min_history: int(&p["min_history_us"], "min_history_us")?,
                by_definition,
                terms,
                lookback: int(&p["lookback_us"], "lookback_us")?.unwrap_or(0),
                window: int(&p["window"], "window")?
                    .map(|w| usize::try_from(w).map_err(|_| "policies: a negative window"))
                    .transpose()?
                    .unwrap_or(out.len()),
                min: int(&p["min"], "min")?,
                max: int(&p["max"], "max")?,
            },
        ));
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

/// A replayed run's figures under one policy, summed over the runs of a replay. Memory x time is
/// kept exact, in MB-seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub runs: u64,
    /// Runs the policy had history for (the others keep their recorded request: assumption 6).
    pub sized: u64,
    /// Predicted OOMs, lower bound: certain ones (a request below a successful run's peak, or at
    /// or below the request an OOM-killed run died at).
    pub ooms_min: u64,
    /// Upper bound: also the OOM-killed runs given more than they died at (unknown).
    pub ooms_max: u64,
    /// Runs whose request is at the memory cap (the policy's max).
    pub at_cap: u64,
    /// Request x recorded runtime, over runs with a runtime.
    pub requested_mb_s: i128,
    /// Memory used x runtime, over runs with a runtime and a known use: a successful run's peak;
    /// an OOM-killed run's request it died at (it used all of it: a lower bound).
    pub used_mb_s: i128,
    /// Requested and not used x runtime, over the same runs (0 for a run given less than it used:
    /// that is an OOM, counted above, not a saving).
    pub waste_mb_s: i128,
}

impl Totals {
    /// Adds the attempts of a run killed before its last one (a retry policy): each a certain OOM
    /// kill, its memory x the run's recorded runtime requested and all of it wasted (its work was
    /// lost; where in the run the kill came is not recorded, so the whole runtime: an upper bound).
    pub fn add_killed(&mut self, killed: &[i64], runtime: Option<i64>) -> Result<(), ReplayError> {
        for &request in killed {
            self.ooms_min += 1;
            self.ooms_max += 1;
            if let Some(secs) = runtime.filter(|&s| s >= 0) {
                let mb_s = request as i128 * secs as i128;
                for total in [&mut self.requested_mb_s, &mut self.waste_mb_s] {
                    *total = total.checked_add(mb_s).ok_or(ReplayError::TotalsOverflow)?;
                }
            }
        }
        Ok(())
    }

    /// What was added since `earlier` (a snapshot of the same totals): the figures of the runs
    /// pushed in between, e.g. one key's.
    pub fn since(&self, earlier: &Totals) -> Totals {
        Totals {
            runs: self.runs - earlier.runs,
            sized: self.sized - earlier.sized,
            ooms_min: self.ooms_min - earlier.ooms_min,
            ooms_max: self.ooms_max - earlier.ooms_max,
            at_cap: self.at_cap - earlier.at_cap,
            requested_mb_s: self.requested_mb_s - earlier.requested_mb_s,
            used_mb_s: self.used_mb_s - earlier.used_mb_s,
            waste_mb_s: self.waste_mb_s - earlier.waste_mb_s,
        }
    }

    /// Adds one run: `sized` its answer under the policy, `recorded` the request it ran with,
    /// `need` what its outcome says, `runtime` its recorded runtime in seconds, `cap` the policy's
    /// memory cap. Checked: memory x time past i128 is an error, never a wrapped total (the counts
    /// are u64 and one run adds at most 1 to each).
    pub fn add(
        &mut self,
        sized: Option<Sized>,
        recorded: Option<i64>,
        need: Need,
        runtime: Option<i64>,
        cap: Option<i64>,
    ) -> Result<(), ReplayError> {
        // A run the policy does not size and whose recorded request is NULL has no request: it
        // counts as a run, and its use as use, nothing else.
        let request = sized.map(|s| s.request).or(recorded);
        self.runs += 1;
        self.sized += sized.is_some() as u64;
        if let Some(request) = request {
            match outcome(request, need) {
                Outcome::Oom => {
                    self.ooms_min += 1;
                    self.ooms_max += 1;
                }
                Outcome::Unknown => self.ooms_max += 1,
                Outcome::Survives | Outcome::NoVerdict => {}
            }
            self.at_cap += cap.is_some_and(|c| request >= c) as u64;
        }
        if let Some(secs) = runtime.filter(|&s| s >= 0) {
            let secs = secs as i128;
            let used = match need {
                Need::Peak(p) => Some(p),
                Need::Above(limit) => Some(limit),
                Need::Unknown => None,
            };
            // Each product fits (|i64 x i64| < 2^126, a difference of two i64 < 2^64); a sum may not.
            let add = |total: &mut i128, mb: i128| -> Result<(), ReplayError> {
                *total = total
                    .checked_add(mb * secs)
                    .ok_or(ReplayError::TotalsOverflow)?;
                Ok(())
            };
            if let Some(request) = request {
                add(&mut self.requested_mb_s, request as i128)?;
            }
            if let Some(used) = used {
                add(&mut self.used_mb_s, used as i128)?;
            }
            if let (Some(request), Some(used)) = (request, used) {
                add(
                    &mut self.waste_mb_s,
                    (request as i128 - used as i128).max(0),
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::models::{censored_estimate, vpa_estimate};
    use crate::core::testrng::Rng;

    fn run(key: u64, queued_at: i64, request: i64, oom: bool, peak: Option<i64>) -> Run {
        Run {
            key,
            sizable: true,
            group: key,
            grouped: true,
            queued_at,
            request: Some(request),
            oom,
            peak,
            need: Need::Unknown,
            runtime: None,
            replayed: true,
        }
    }

    fn m(text: &str) -> Multiplier {
        Multiplier::parse(text).unwrap()
    }

    const DAY: i64 = 86_400_000_000;

    fn flotilla() -> Policy {
        Policy {
            model: Model::Terms,
            min_runs: 0,
            min_history: None,
            by_definition: false,
            terms: vec![Term {
                feed: Feed::Oom,
                percentile: 0.99,
                multiplier: m("1.75"),
                max_runs: Some(30),
            }],
            lookback: 3 * DAY,
            window: 0,
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
            w.push(t, Some(v));
        }
        let mut scratch = Vec::new();
        let (v, n) = w.percentile(0.99, Some(30), &mut scratch).unwrap();
        assert_eq!((v, n), (1792, 3));
        let runs: Vec<Run> = [(1, 1024), (2, 1792), (3, 1024), (4, 0)]
            .iter()
            .map(|&(t, v)| run(7, t, v, v > 0, None))
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
            w.push(t, Some(1000 + t));
        }
        // A NULL among them: counted as a run, not as a value.
        w.push(40, None);
        assert_eq!(w.percentile(0.0, Some(2), &mut Vec::new()), Some((1039, 1)));
        w.entries.pop_back();
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
                w.push(t as i64, Some(v));
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
        brute_checked(runs, policy).unwrap()
    }

    /// [`brute`], with a product out of bigint's range as the error the replay gives.
    fn brute_checked(runs: &[Run], policy: &Policy) -> Result<Vec<Option<Sized>>, ReplayError> {
        runs.iter()
            .map(|r| {
                let earlier: Vec<&Run> = runs
                    .iter()
                    .filter(|o| {
                        o.key == r.key
                            && o.queued_at < r.queued_at
                            && o.queued_at >= r.queued_at.saturating_sub(policy.lookback)
                    })
                    .collect();
                let mut raw: Option<i64> = None;
                for term in &policy.terms {
                    let mut fed: Vec<i64> = earlier
                        .iter()
                        .filter_map(|o| match term.feed {
                            Feed::Oom if o.oom => o.request,
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
                            .map_err(ReplayError::Overflow)?;
                        raw = Some(raw.map_or(v, |x: i64| x.max(v)));
                    }
                }
                Ok(raw.map(|raw| Sized {
                    raw,
                    request: policy.clamp(raw),
                }))
            })
            .collect()
    }

    /// Issue 29's property over bigint's whole range: queue times, lookbacks, requests, peaks and
    /// runtimes at and next to its ends (a queue time of 'infinity' is i64::MAX microseconds)
    /// replay as the run-by-run reference does; a product past bigint is the Overflow error, a
    /// memory x time sum past i128 the TotalsOverflow error: never a panic, never a wrapped figure.
    #[test]
    fn the_whole_bigint_range_replays_as_the_reference_or_errs() {
        let mut rng = Rng::new(2929);
        let (mut equal, mut overflowed) = (0, 0);
        for round in 0..3000 {
            let mut runs = Vec::new();
            for key in 0..(1 + rng.below(3)) {
                let mut times: Vec<i64> = (0..rng.below(12)).map(|_| rng.any_i64()).collect();
                times.sort_unstable();
                for t in times {
                    let oom = rng.below(2) == 0;
                    let mut r = run(key, t, rng.any_i64(), oom, None);
                    r.peak = (!oom).then(|| rng.any_i64());
                    r.need = match (oom, r.peak) {
                        (true, _) => Need::Above(r.request.unwrap()),
                        (false, Some(p)) => Need::Peak(p),
                        _ => Need::Unknown,
                    };
                    r.runtime = Some(rng.any_i64());
                    runs.push(r);
                }
            }
            let multiplier = ["1", "1.75", "0.5", "-1"][round % 4];
            let policy = Policy {
                terms: vec![
                    Term {
                        feed: Feed::Oom,
                        percentile: [0.0, 0.5, 0.99, 1.0][rng.below(4) as usize],
                        multiplier: m(multiplier),
                        max_runs: [None, Some(1), Some(30)][rng.below(3) as usize],
                    },
                    Term {
                        feed: Feed::Peaks,
                        percentile: 0.95,
                        multiplier: m("1"),
                        max_runs: None,
                    },
                ],
                lookback: rng.any_i64().max(0),
                window: 0,
                min: [None, Some(i64::MIN), Some(512)][rng.below(3) as usize],
                max: [None, Some(i64::MAX), Some(350_000)][rng.below(3) as usize],
                ..flotilla()
            };
            let want = brute_checked(&runs, &policy);
            let mut r = Replayer::new(vec![policy.clone()], true);
            let got = runs
                .iter()
                .enumerate()
                .try_for_each(|(i, run)| r.push(*run, i as u64))
                .and_then(|()| r.finish());
            // The memory x time sums the slow way: each prefix checked in i128.
            let sums = |want: &[Option<Sized>]| -> Option<[i128; 3]> {
                let mut t = [0i128; 3];
                for (run, s) in runs.iter().zip(want) {
                    let Some(secs) = run.runtime.filter(|&x| x >= 0) else {
                        continue;
                    };
                    let req = s.map(|s| s.request).or(run.request).map(i128::from);
                    let used = match run.need {
                        Need::Peak(p) | Need::Above(p) => Some(i128::from(p)),
                        Need::Unknown => None,
                    };
                    let waste = req.zip(used).map(|(r, u)| (r - u).max(0));
                    for (total, mb) in t.iter_mut().zip([req, used, waste]) {
                        if let Some(mb) = mb {
                            *total = total.checked_add(mb * i128::from(secs))?;
                        }
                    }
                }
                Some(t)
            };
            match (want, got) {
                (Ok(want), got) => match sums(&want) {
                    Some([requested, used, waste]) => {
                        assert_eq!(got, Ok(()), "round {round}");
                        let answers: Vec<Option<Sized>> =
                            r.answers.unwrap().iter().map(|(_, a)| a[0]).collect();
                        assert_eq!(answers, want, "round {round}");
                        let t = &r.totals[0];
                        assert_eq!(
                            (t.requested_mb_s, t.used_mb_s, t.waste_mb_s),
                            (requested, used, waste)
                        );
                        equal += 1;
                    }
                    None => {
                        assert_eq!(got, Err(ReplayError::TotalsOverflow), "round {round}");
                        overflowed += 1;
                    }
                },
                // A product past bigint somewhere: the replay stops at it, or at a sum past
                // i128 of the runs before it, whichever comes first.
                (
                    Err(ReplayError::Overflow(_)),
                    Err(ReplayError::Overflow(_) | ReplayError::TotalsOverflow),
                ) => overflowed += 1,
                (want, got) => panic!("round {round}: reference {want:?}, replay {got:?}"),
            }
        }
        assert!(equal > 1000 && overflowed > 100, "{equal} {overflowed}");
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
            window: 0,
            min: None,
            max: Some(100_000),
            ..flotilla()
        };
        for round in 0..30 {
            let mut runs = Vec::new();
            for key in 0..(1 + rng.below(12)) {
                let mut t = rng.range(0, DAY);
                for _ in 0..rng.below(150) {
                    // Often the same instant (batches), sometimes days apart.
                    t += [0, 1, 3_600_000_000, DAY, 4 * DAY][rng.below(5) as usize];
                    let oom = rng.below(3) == 0;
                    let request = rng.range(256, 400_000);
                    let peak = (!oom && rng.below(5) > 0).then(|| rng.range(100, 300_000));
                    runs.push(run(key, t, request, oom, peak));
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

    /// The peer and censored models the slow way: for each replayed run, the runs of its group
    /// (key, or definition) queued in [t - lookback, t), in queue order, handed to the model.
    /// With each answer, the requests of the attempts a retry policy saw killed before it.
    fn brute_model(runs: &[Run], policy: &Policy) -> Vec<(Option<Sized>, Vec<i64>)> {
        let group = |r: &Run| {
            if policy.by_definition {
                (r.group, r.grouped)
            } else {
                (r.key, r.sizable)
            }
        };
        let mut order: Vec<usize> = (0..runs.len()).collect();
        if policy.by_definition {
            order.sort_by_key(|&i| (runs[i].group, runs[i].queued_at));
        }
        let mut out = vec![None; runs.len()];
        for &i in &order {
            let r = &runs[i];
            let (g, ok) = group(r);
            if !r.replayed {
                continue;
            }
            if !ok {
                out[i] = Some((None, vec![]));
                continue;
            }
            let events: Vec<Event> = order
                .iter()
                .map(|&j| &runs[j])
                .filter(|o| {
                    group(o) == (g, true)
                        && o.queued_at < r.queued_at
                        && o.queued_at >= r.queued_at - policy.lookback
                })
                .map(|o| Event {
                    at: o.queued_at,
                    request: o.request,
                    oom: o.oom,
                    peak: if o.oom { None } else { o.peak },
                })
                .collect();
            let raw = match &policy.model {
                Model::Vpa(v) => {
                    vpa_estimate(&events, r.queued_at, r.queued_at - policy.lookback, v)
                }
                Model::Censored(c) => censored_estimate(
                    &events
                        .iter()
                        .copied()
                        .filter(|e| (e.oom && e.request.is_some()) || (!e.oom && e.peak.is_some()))
                        .collect::<Vec<_>>(),
                    r.queued_at,
                    c,
                )
                .unwrap()
                .map(|a| a.raw),
                Model::Retry { attempts } => {
                    let start = events
                        .iter()
                        .filter_map(|e| e.request)
                        .chain(r.request)
                        .min();
                    out[i] = Some(match start {
                        Some(st) => {
                            let (a, killed) =
                                retry_attempts(st, *attempts, policy, r.need).unwrap();
                            (Some(a), killed)
                        }
                        None => (None, vec![]),
                    });
                    continue;
                }
                Model::Terms => unreachable!("brute() replays terms"),
            };
            let answer = raw.map(|raw| Sized {
                raw,
                request: policy.clamp(raw),
            });
            out[i] = Some((answer, vec![]));
        }
        out.into_iter().flatten().collect()
    }

    fn model_policy(model: Model, lookback: i64, by_definition: bool) -> Policy {
        Policy {
            model,
            terms: vec![],
            lookback,
            by_definition,
            ..flotilla()
        }
    }

    /// Histories of several definitions with several hashes each (keys sorted, runs sharing
    /// instants, NULL hashes and definitions, history before the period).
    fn grouped_history(rng: &mut Rng) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut key = 0;
        for def in 0..(1 + rng.below(5)) {
            for _hash in 0..(1 + rng.below(3)) {
                key += 1;
                let unhashed = rng.below(8) == 0;
                let undefined = def == 4;
                let mut t = rng.range(0, DAY);
                for _ in 0..rng.below(60) {
                    t += [0, 1, 3_600_000_000, DAY / 3, DAY, 3 * DAY][rng.below(6) as usize];
                    let oom = rng.below(3) == 0;
                    let mut r = run(key, t, rng.range(256, 40_000), oom, None);
                    r.group = def;
                    r.grouped = !undefined;
                    r.sizable = !unhashed && !undefined;
                    r.peak = (!oom && rng.below(5) > 0).then(|| rng.range(100, 30_000));
                    r.need = match (oom, r.peak) {
                        (true, _) => Need::Above(r.request.unwrap()),
                        (false, Some(p)) => Need::Peak(p),
                        _ => Need::Unknown,
                    };
                    r.runtime = Some(rng.range(0, 7200));
                    r.replayed = rng.below(6) > 0;
                    runs.push(r);
                }
            }
        }
        runs
    }

    #[test]
    fn peer_and_censored_models_equal_their_windows_computed_run_by_run() {
        let mut rng = Rng::new(2828);
        let censored = Censored {
            target: 0.05,
            headroom: m("1.05"),
            half_life: 3 * DAY,
            fallback: m("1.75"),
            floor: DAY,
            max_runs: Some(7),
        };
        let policies = [
            model_policy(Model::Vpa(Vpa::standard()), 8 * DAY, true),
            model_policy(Model::Vpa(Vpa::standard()), 8 * DAY, false),
            model_policy(Model::Censored(censored.clone()), 14 * DAY, false),
            model_policy(Model::Censored(censored), 14 * DAY, true),
            model_policy(Model::Retry { attempts: 3 }, 14 * DAY, true),
            model_policy(Model::Retry { attempts: 1 }, 2 * DAY, false),
        ];
        let mut sized = vec![0; policies.len()];
        for round in 0..40 {
            let runs = grouped_history(&mut rng);
            // All in one pass, as ara_simulate replays them, and each alone.
            let mut all = Replay::new(policies.to_vec(), true);
            for (i, r) in runs.iter().enumerate() {
                all.push(*r, i as u64).unwrap();
            }
            all.finish().unwrap();
            let answers = all.answers().unwrap();
            for (pi, policy) in policies.iter().enumerate() {
                let (want, killed): (Vec<Option<Sized>>, Vec<Vec<i64>>) =
                    brute_model(&runs, policy).into_iter().unzip();
                assert_eq!(
                    replay(&runs, policy).unwrap(),
                    want,
                    "round {round} policy {pi}"
                );
                let got: Vec<Option<Sized>> = answers.iter().map(|(_, a)| a[pi]).collect();
                assert_eq!(got, want, "round {round} policy {pi}, in one pass");
                sized[pi] += want.iter().flatten().count();
                // The totals: each replayed run added as its answer says.
                let mut totals = Totals::default();
                for ((r, a), killed) in runs.iter().filter(|r| r.replayed).zip(&want).zip(&killed) {
                    totals.add_killed(killed, r.runtime).unwrap();
                    totals
                        .add(*a, r.request, r.need, r.runtime, policy.max)
                        .unwrap();
                }
                assert_eq!(all.totals()[pi], totals, "round {round} policy {pi} totals");
            }
        }
        assert!(sized.iter().all(|&n| n > 100), "{sized:?}");
    }

    #[test]
    fn retry_multiplies_by_the_attempt_and_counts_the_kills() {
        let p = model_policy(Model::Retry { attempts: 3 }, DAY, false);
        // Needs 2500 from 1000: killed at 1000 and 2000, survives at 3000.
        let (last, killed) = retry_attempts(1000, 3, &p, Need::Peak(2500)).unwrap();
        assert_eq!((last.request, killed.clone()), (3000, vec![1000, 2000]));
        let mut t = Totals::default();
        t.add_killed(&killed, Some(60)).unwrap();
        t.add(Some(last), Some(1000), Need::Peak(2500), Some(60), p.max)
            .unwrap();
        assert_eq!((t.ooms_min, t.ooms_max, t.runs), (2, 2, 1));
        assert_eq!(t.requested_mb_s, (1000 + 2000 + 3000) * 60);
        assert_eq!(t.waste_mb_s, (1000 + 2000 + 500) * 60);
        // Needs more than 3 attempts give: the last is killed too (a certain OOM).
        let (last, killed) = retry_attempts(1000, 3, &p, Need::Peak(9000)).unwrap();
        assert_eq!((last.request, killed.len()), (3000, 2));
        // Died at 1500 in history: 1000 is a certain kill, 2000 unknown (the upper bound only).
        let (last, killed) = retry_attempts(1000, 3, &p, Need::Above(1500)).unwrap();
        assert_eq!((last.request, killed), (2000, vec![1000]));
        // The clamp applies to every attempt; a start past bigint / k is the overflow error.
        let (last, _) = retry_attempts(200, 2, &p, Need::Peak(10_000)).unwrap();
        assert_eq!((last.raw, last.request), (400, 512));
        assert!(retry_attempts(i64::MAX / 2 + 1, 2, &p, Need::Peak(i64::MAX)).is_err());
    }

    #[test]
    fn krr_answers_only_with_enough_history() {
        let krr = Policy {
            terms: vec![
                Term {
                    feed: Feed::Peaks,
                    percentile: 1.0,
                    multiplier: m("1.15"),
                    max_runs: None,
                },
                Term {
                    feed: Feed::Oom,
                    percentile: 1.0,
                    multiplier: m("1.25"),
                    max_runs: None,
                },
            ],
            lookback: 14 * DAY,
            min_runs: 2,
            min_history: Some(3 * 3_600_000_000),
            min: None,
            ..flotilla()
        };
        let h = 3_600_000_000;
        let runs = [
            run(1, 0, 1000, false, Some(800)),
            run(1, h, 1000, false, Some(900)), // 1 run of history: none
            run(1, 2 * h, 1000, true, None),   // 2 runs, 2 h: none
            run(1, 3 * h, 5000, false, Some(10)), // 3 runs, 3 h: max(900 x 1.15, 1000 x 1.25)
            run(1, 4 * h, 5000, false, None),
        ];
        let got: Vec<Option<i64>> = replay(&runs, &krr)
            .unwrap()
            .iter()
            .map(|s| s.map(|s| s.request))
            .collect();
        assert_eq!(got, vec![None, None, None, Some(1250), Some(1250)]);
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
    fn history_before_the_period_feeds_and_unhashed_runs_neither_feed_nor_get_sized() {
        let mut unhashed = run(1, 10, 9999, true, None);
        unhashed.sizable = false;
        let mut history = run(1, 5, 2048, true, None);
        history.replayed = false;
        let runs = [history, unhashed, run(1, 20, 100, false, None)];
        let got = replay(&runs, &flotilla()).unwrap();
        // Only the two replayed runs answer; the unhashed one has no answer and fed nothing.
        assert_eq!(
            got,
            vec![
                None,
                Some(Sized {
                    raw: 3584,
                    request: 3584
                })
            ]
        );
        let mut r = Replayer::new(vec![flotilla()], false);
        r.push(run(2, 10, 1, true, None), 0).unwrap();
        assert_eq!(
            r.push(run(2, 9, 1, true, None), 1),
            Err(ReplayError::Unsorted)
        );
        assert_eq!(
            r.push(run(1, 50, 1, true, None), 2),
            Err(ReplayError::Unsorted)
        );
    }

    #[test]
    fn several_policies_in_one_pass_equal_each_alone() {
        let mut rng = Rng::new(99);
        let mut runs = Vec::new();
        for key in 0..20 {
            let mut t = 0;
            for _ in 0..rng.below(100) {
                t += [0, 60_000_000, DAY][rng.below(3) as usize];
                let oom = rng.below(4) == 0;
                let mut r = run(key, t, rng.range(512, 200_000), oom, None);
                r.need = if oom {
                    Need::Above(r.request.unwrap())
                } else {
                    Need::Peak(rng.range(100, 150_000))
                };
                r.peak = match r.need {
                    Need::Peak(p) => Some(p),
                    _ => None,
                };
                r.runtime = Some(rng.range(0, 7200));
                r.replayed = rng.below(10) > 0;
                runs.push(r);
            }
        }
        let peaks = Policy {
            terms: vec![Term {
                feed: Feed::Peaks,
                percentile: 0.9,
                multiplier: m("1.15"),
                max_runs: None,
            }],
            lookback: 7 * DAY,
            ..flotilla()
        };
        let policies = vec![flotilla(), peaks];
        let mut all = Replayer::new(policies.clone(), true);
        for (i, r) in runs.iter().enumerate() {
            all.push(*r, i as u64).unwrap();
        }
        all.finish().unwrap();
        for (pi, policy) in policies.iter().enumerate() {
            let alone = replay(&runs, policy).unwrap();
            let mut totals = Totals::default();
            for (r, a) in runs.iter().filter(|r| r.replayed).zip(&alone) {
                totals
                    .add(*a, r.request, r.need, r.runtime, policy.max)
                    .unwrap();
            }
            assert_eq!(all.totals[pi], totals);
            let answers: Vec<Option<Sized>> = all
                .answers
                .as_ref()
                .unwrap()
                .iter()
                .map(|(_, a)| a[pi])
                .collect();
            assert_eq!(answers, alone);
        }
        assert!(all.totals[0].sized > 0 && all.totals[1].sized > 0);
    }

    #[test]
    fn policies_from_json() {
        let got = parse_policies(
            r#"[{"name": "flotilla", "min": 512, "max": 350000, "lookback_us": 259200000000,
                 "terms": [{"feed": "oom", "percentile": 0.99, "multiplier": "1.75", "max_runs": 30}]},
                {"name": "right", "min": null, "max": null, "lookback_us": 1,
                 "terms": [{"feed": "peaks", "percentile": 0.9, "multiplier": "1.15", "max_runs": null},
                           {"feed": "oom", "percentile": 1, "multiplier": "1.75", "max_runs": 30}]}]"#,
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "flotilla");
        assert_eq!(got[0].1.lookback, 3 * DAY);
        assert_eq!((got[0].1.min, got[0].1.max), (Some(512), Some(350_000)));
        assert_eq!(got[1].1.terms.len(), 2);
        assert_eq!(got[1].1.terms[0].feed, Feed::Peaks);
        assert_eq!(got[1].1.terms[0].max_runs, None);
        assert_eq!(got[1].1.terms[1].multiplier.mul_round(1022).unwrap(), 1789);
        let models = parse_policies(
            r#"[{"name": "v", "min": 512, "max": 350000, "lookback_us": 691200000000, "terms": [], "group": "definition",
                 "model": {"kind": "vpa", "percentile": 0.9, "margin": 1.15, "half_life_us": 86400000000, "interval_us": 86400000000}},
                {"name": "c", "min": 512, "max": 350000, "lookback_us": 1, "terms": [],
                 "model": {"kind": "censored", "target": 0.05, "headroom": "1.05", "half_life_us": 259200000000,
                           "fallback": "1.75", "floor_us": 86400000000, "max_runs": 200}},
                {"name": "r", "min": 512, "max": 350000, "lookback_us": 1, "terms": [], "group": "definition",
                 "model": {"kind": "retry", "attempts": 3}},
                {"name": "k", "min": 512, "max": 350000, "lookback_us": 1, "min_runs": 1, "min_history_us": 10800000000,
                 "terms": [{"feed": "peaks", "percentile": 1, "multiplier": "1.15", "max_runs": null}]}]"#,
        )
        .unwrap();
        assert_eq!(models[0].1.model, Model::Vpa(Vpa::standard()));
        assert!(models[0].1.by_definition && !models[1].1.by_definition);
        assert!(
            matches!(&models[1].1.model, Model::Censored(c) if c.max_runs == Some(200) && c.target == 0.05)
        );
        assert_eq!(models[2].1.model, Model::Retry { attempts: 3 });
        assert_eq!(
            (models[3].1.min_runs, models[3].1.min_history),
            (1, Some(10_800_000_000))
        );
        for bad in [
            r#"[{"name": "x", "terms": [], "model": {"kind": "oracle"}}]"#,
            r#"[{"name": "x", "terms": [], "model": {"kind": "retry", "attempts": 0}}]"#,
            r#"[{"name": "x", "terms": [], "group": "team"}]"#,
            r#"[{"name": "x", "terms": [], "model": {"kind": "censored", "target": 2, "headroom": "1", "half_life_us": 1, "fallback": "1"}}]"#,
        ] {
            assert!(parse_policies(bad).is_err(), "{bad}");
        }
        for bad in [
            "{}",
            r#"[{"terms": []}]"#,
            r#"[{"name": "x", "terms": [{"feed": "cpu", "percentile": 0.5, "multiplier": "1"}]}]"#,
            r#"[{"name": "x", "terms": [{"feed": "oom", "percentile": 1.5, "multiplier": "1"}]}]"#,
            r#"[{"name": "x", "terms": [{"feed": "oom", "percentile": 0.5, "multiplier": 1}]}]"#,
            r#"[{"name": "x", "terms": [{"feed": "oom", "percentile": 0.5, "multiplier": "1", "max_runs": 0}]}]"#,
            "not json",
        ] {
            assert!(parse_policies(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn totals_count_censored_outcomes_and_memory_time() {
        let mut t = Totals::default();
        let sized = |r| Some(Sized { raw: r, request: r });
        // Succeeded at peak 3000 in 3600 s, given 4000: survives, 1000 MB x 1 h wasted.
        t.add(
            sized(4000),
            Some(8000),
            Need::Peak(3000),
            Some(3600),
            Some(350_000),
        )
        .unwrap();
        // Died at 2048, given 2048 again: certain OOM; used 2048 (all of it), nothing wasted.
        t.add(
            sized(2048),
            Some(2048),
            Need::Above(2048),
            Some(60),
            Some(350_000),
        )
        .unwrap();
        // Died at 2048, given 3584: unknown; counted in the upper bound only.
        t.add(
            sized(3584),
            Some(2048),
            Need::Above(2048),
            Some(60),
            Some(350_000),
        )
        .unwrap();
        // No history: keeps its recorded 350000 (at the cap); no runtime.
        t.add(None, Some(350_000), Need::Unknown, None, Some(350_000))
            .unwrap();
        // Given less than its peak: an OOM, no negative waste.
        t.add(sized(1000), Some(1000), Need::Peak(1500), Some(10), None)
            .unwrap();
        // No request at all (NULL, not sized): a run, and its use.
        t.add(None, None, Need::Peak(700), Some(10), None).unwrap();
        assert_eq!(
            t,
            Totals {
                runs: 6,
                sized: 4,
                ooms_min: 2,
                ooms_max: 3,
                at_cap: 1,
                requested_mb_s: 4000 * 3600 + 2048 * 60 + 3584 * 60 + 1000 * 10,
                used_mb_s: 3000 * 3600 + 2048 * 60 + 2048 * 60 + 1500 * 10 + 700 * 10,
                waste_mb_s: 1000 * 3600 + (3584 - 2048) * 60,
            }
        );
    }

    #[test]
    fn totals_since_a_snapshot_are_the_runs_in_between() {
        let mut t = Totals::default();
        t.add(None, Some(1000), Need::Peak(400), Some(10), None)
            .unwrap();
        let snapshot = t.clone();
        t.add(None, Some(2000), Need::Above(2000), Some(20), Some(2000))
            .unwrap();
        let mut only = Totals::default();
        only.add(None, Some(2000), Need::Above(2000), Some(20), Some(2000))
            .unwrap();
        assert_eq!(t.since(&snapshot), only);
    }
}
