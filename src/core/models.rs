//! The estimators of the replay's peer policies (what the Kubernetes VPA recommender would have
//! requested) and of the censored-need policy (issue 28), pure: each reads the runs of a group's
//! window, as of an instant, and answers a request in MB (the table's unit: MiB, as Flotilla passes
//! it to the container runtime). The replay (`replay.rs`) decides which runs are in the window and
//! what the answer costs; both the replay and the tests' run-by-run references call these, so an
//! answer is the same arithmetic wherever it is computed.
//!
//! Constants and where each one simplifies its original: docs/simulate.md, "Peer policies";
//! sources: ../shared/spec/right-sizing-anchors.md.

use crate::core::decimal::{MulError, Multiplier};

const MIB: f64 = 1_048_576.0;

/// One run of a window as a model reads it (a run of the group queued before the instant sized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    /// The request it ran with (an OOM-killed run died at it).
    pub request: Option<i64>,
    pub oom: bool,
    /// A successful run's measured peak.
    pub peak: Option<i64>,
}

/// The VPA recommender's memory target, for runs instead of a pod's per-minute samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Vpa {
    /// The percentile of the decaying histogram (VPA's target: 0.9).
    pub percentile: f64,
    /// The safety margin factor (VPA: 1.15).
    pub margin: f64,
    /// A sample's weight halves every half-life of newer time (VPA: 24 h), in microseconds.
    pub half_life: i64,
    /// One sample per interval: the largest peak (or OOM bump) in it (VPA: 24 h), microseconds.
    pub interval: i64,
}

impl Vpa {
    /// VPA's defaults.
    pub fn standard() -> Vpa {
        Vpa {
            percentile: 0.9,
            margin: 1.15,
            half_life: 24 * 3_600_000_000,
            interval: 24 * 3_600_000_000,
        }
    }
}

/// VPA's memory histogram: buckets from 0, the first 1e7 bytes wide, each 5% wider than the last,
/// up to 1e12 bytes (values above land in the last bucket).
const FIRST_BUCKET: f64 = 1e7;
const RATIO: f64 = 1.05;
const MAX_VALUE: f64 = 1e12;
/// VPA's minimum memory recommendation, 250 MB (bytes).
const VPA_MIN_BYTES: f64 = 250e6;
/// The OOM bump: max(used + 100 MiB, used x 1.2).
const OOM_MIN_BUMP: f64 = 100.0 * MIB;
const OOM_BUMP_RATIO: f64 = 1.2;

/// How many buckets (176), computed once: bucket_of() asks for it on every sample.
fn buckets() -> usize {
    static BUCKETS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BUCKETS.get_or_init(|| {
        ((MAX_VALUE * (RATIO - 1.0) / FIRST_BUCKET + 1.0).ln() / RATIO.ln()).ceil() as usize + 1
    })
}

/// Where bucket `i` starts, in bytes.
pub fn bucket_start(i: usize) -> f64 {
    FIRST_BUCKET * (RATIO.powi(i as i32) - 1.0) / (RATIO - 1.0)
}

/// The bucket a value in bytes falls in.
pub fn bucket_of(bytes: f64) -> usize {
    if bytes < FIRST_BUCKET {
        return 0;
    }
    let i = ((bytes * (RATIO - 1.0) / FIRST_BUCKET + 1.0).ln() / RATIO.ln()).floor() as usize;
    // The logarithm can land one off at a bucket's edge: settle it against the starts.
    let mut i = i.min(buckets() - 1);
    while i > 0 && bytes < bucket_start(i) {
        i -= 1;
    }
    while i + 1 < buckets() && bytes >= bucket_start(i + 1) {
        i += 1;
    }
    i
}

/// Bytes to whole MB, rounded up (a request is never below what was computed).
fn to_mb(bytes: f64) -> i64 {
    let mb = (bytes / MIB).ceil();
    if mb >= i64::MAX as f64 {
        i64::MAX
    } else {
        mb as i64
    }
}

/// One interval's runs as VPA keeps them: the largest successful peak, the largest OOM-killed
/// request, and when (the earliest run of equal values), and when the first OOM kill came.
/// Runs are added in queue order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VpaInterval {
    peak: Option<(i64, i64)>,
    killed: Option<(i64, i64)>,
    first_kill: Option<i64>,
}

impl VpaInterval {
    pub fn add(&mut self, e: &Event) {
        match (e.oom, e.request, e.peak) {
            (true, Some(r), _) => {
                if self.killed.is_none_or(|(v, _)| r > v) {
                    self.killed = Some((r, e.at));
                }
                self.first_kill.get_or_insert(e.at);
            }
            (false, _, Some(p)) => {
                if self.peak.is_none_or(|(v, _)| p > v) {
                    self.peak = Some((p, e.at));
                }
            }
            _ => {}
        }
    }

    /// The interval's one sample, in bytes, and the time of the run that set it: its largest
    /// peak; with an OOM kill, the bump of used = max(the largest killed request, the largest
    /// peak), which is always above the peak (as VPA adds the bump to the interval's peak).
    pub fn sample(&self) -> Option<(f64, i64)> {
        let peak = self.peak.map(|(p, at)| (p.max(0) as f64 * MIB, at));
        let Some((r, at_r)) = self.killed else {
            return peak;
        };
        let p = self.peak.map_or(i64::MIN, |(p, _)| p);
        let (used, at) = if r > p {
            (r, at_r)
        } else {
            (p, self.first_kill.unwrap_or(at_r))
        };
        let used = used.max(0) as f64 * MIB;
        Some(((used + OOM_MIN_BUMP).max(used * OOM_BUMP_RATIO), at))
    }
}

/// The interval a time is in (aligned to the Unix epoch, UTC).
pub fn vpa_interval(at: i64, vpa: &Vpa) -> i64 {
    at.div_euclid(vpa.interval.max(1))
}

/// VPA's target as of `now` from the intervals' samples, oldest first: each weighted
/// 2^((sample time - now) / half-life); the weighted percentile answers the end of its bucket;
/// x margin, at least 250 MB. None without a sample.
pub fn vpa_from_samples(
    samples: impl Iterator<Item = (f64, i64)>,
    now: i64,
    vpa: &Vpa,
) -> Option<i64> {
    let mut hist = vec![0.0f64; buckets()];
    let mut total = 0.0;
    for (v, at) in samples {
        let w = ((at - now) as f64 / vpa.half_life.max(1) as f64).exp2();
        hist[bucket_of(v)] += w;
        total += w;
    }
    if total <= 0.0 {
        return None;
    }
    let threshold = vpa.percentile * total;
    let mut partial = 0.0;
    let mut value = bucket_start(hist.len() - 1);
    for (i, w) in hist.iter().enumerate() {
        partial += w;
        if *w > 0.0 && partial >= threshold {
            value = if i + 1 < hist.len() {
                bucket_start(i + 1)
            } else {
                bucket_start(i)
            };
            break;
        }
    }
    Some(to_mb((value * vpa.margin).max(VPA_MIN_BYTES)))
}

/// VPA's target as of `now` from the events of a window (in queue order): one sample per
/// interval ([`VpaInterval`]), over the intervals after the one `from` is in (with an 8-day
/// lookback and 24 h intervals: the interval of `now` and the 7 before it).
pub fn vpa_estimate(events: &[Event], now: i64, from: i64, vpa: &Vpa) -> Option<i64> {
    let oldest = vpa_interval(from, vpa);
    let mut per: Vec<(i64, VpaInterval)> = Vec::new();
    for e in events.iter().filter(|e| e.at < now) {
        let k = vpa_interval(e.at, vpa);
        if k <= oldest {
            continue;
        }
        match per.iter_mut().find(|p| p.0 == k) {
            Some(p) => p.1.add(e),
            None => {
                let mut i = VpaInterval::default();
                i.add(e);
                per.push((k, i));
            }
        }
    }
    per.sort_by_key(|p| p.0);
    vpa_from_samples(per.iter().filter_map(|p| p.1.sample()), now, vpa)
}

/// The censored-need policy: a run's need as a distribution, from successful runs' peaks (exact)
/// and OOM-killed runs' requests (the need was above: right-censored), each weighted by its age.
#[derive(Clone, Debug, PartialEq)]
pub struct Censored {
    /// The OOM rate aimed at: the request is the need's (1 - target) quantile.
    pub target: f64,
    /// x the quantile (exact decimal, rounded half away from zero).
    pub headroom: Multiplier,
    /// A run's weight halves every half-life of age (microseconds).
    pub half_life: i64,
    /// When the quantile is beyond the evidence (the largest observations are OOM kills, as when
    /// every run was killed): the largest OOM request x this, as Flotilla steps.
    pub fallback: Multiplier,
    /// Never at or below a request killed within this long before (microseconds).
    pub floor: i64,
    /// Only the most recent this many observations of the window count (None: all): bounds the
    /// work per run on keys that run thousands of times a day, where older runs weigh little.
    pub max_runs: Option<usize>,
}

/// How the censored policy reached its answer, with the evidence (for `ara_explain`).
#[derive(Clone, Debug, PartialEq)]
pub struct CensoredAnswer {
    /// Before the clamps.
    pub raw: i64,
    /// The need's (1 - target) quantile, when the evidence reaches it.
    pub quantile: Option<i64>,
    /// The largest OOM-killed request the fallback stepped from, when it did.
    pub fallback_from: Option<i64>,
    /// The recent OOM request the answer was kept above, when that raised it.
    pub floor: Option<i64>,
    pub exact: usize,
    pub censored: usize,
    /// Kish's effective sample size of the weights: (sum w)^2 / sum w^2.
    pub effective: f64,
}

/// The weighted Kaplan-Meier estimate of the need's survival S(v) = P(need > v), read at the
/// smallest measured need v with S(v) <= target. Observations: (value, exact, weight); at equal
/// values the exact ones count before the censored (a run killed at v needed more than v).
pub fn km_quantile(obs: &mut [(i64, bool, f64)], target: f64) -> Option<i64> {
    obs.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk: f64 = obs.iter().map(|o| o.2).sum();
    let mut survival = 1.0;
    let mut i = 0;
    while i < obs.len() {
        let v = obs[i].0;
        let (mut events, mut gone) = (0.0, 0.0);
        while i < obs.len() && obs[i].0 == v {
            if obs[i].1 {
                events += obs[i].2;
            }
            gone += obs[i].2;
            i += 1;
        }
        if events > 0.0 && at_risk > 0.0 {
            survival *= 1.0 - events / at_risk;
            if survival <= target {
                return Some(v);
            }
        }
        at_risk -= gone;
    }
    None
}

/// The censored policy's request as of `now` from the events of a window; None without an
/// observation (no measured peak and no OOM-killed request).
pub fn censored_estimate(
    events: &[Event],
    now: i64,
    c: &Censored,
) -> Result<Option<CensoredAnswer>, MulError> {
    let events = &events[events.len() - c.max_runs.unwrap_or(usize::MAX).min(events.len())..];
    let mut obs: Vec<(i64, bool, f64)> = Vec::with_capacity(events.len());
    let mut floor: Option<i64> = None;
    let mut largest_killed: Option<i64> = None;
    let mut largest_peak: Option<i64> = None;
    for e in events {
        let w = ((e.at - now) as f64 / c.half_life.max(1) as f64).exp2();
        match (e.oom, e.request, e.peak) {
            (true, Some(r), _) => {
                obs.push((r, false, w));
                largest_killed = largest_killed.max(Some(r));
                if e.at >= now.saturating_sub(c.floor) {
                    floor = floor.max(Some(r));
                }
            }
            (false, _, Some(p)) => {
                obs.push((p, true, w));
                largest_peak = largest_peak.max(Some(p));
            }
            _ => {}
        }
    }
    if obs.is_empty() {
        return Ok(None);
    }
    let (sum, sum_sq) = obs
        .iter()
        .fold((0.0, 0.0), |(s, q), o| (s + o.2, q + o.2 * o.2));
    let (exact, censored) = (
        obs.iter().filter(|o| o.1).count(),
        obs.iter().filter(|o| !o.1).count(),
    );
    let quantile = km_quantile(&mut obs, c.target);
    let (mut raw, fallback_from) = match quantile {
        Some(q) => (c.headroom.mul_round(q)?, None),
        None => {
            // Beyond the evidence: some runs needed more than anything measured.
            let from = largest_killed.expect("no quantile means a censored observation");
            let stepped = c.fallback.mul_round(from)?;
            (stepped.max(largest_peak.unwrap_or(i64::MIN)), Some(from))
        }
    };
    let mut raised = None;
    if let Some(f) = floor {
        if raw <= f {
            raw = f.saturating_add(1);
            raised = Some(f);
        }
    }
    Ok(Some(CensoredAnswer {
        raw,
        quantile,
        fallback_from,
        floor: raised,
        exact,
        censored,
        effective: if sum_sq > 0.0 {
            sum * sum / sum_sq
        } else {
            0.0
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    const HOUR: i64 = 3_600_000_000;

    fn ok(at: i64, peak: i64) -> Event {
        Event {
            at,
            request: Some(peak * 2),
            oom: false,
            peak: Some(peak),
        }
    }
    fn killed(at: i64, request: i64) -> Event {
        Event {
            at,
            request: Some(request),
            oom: true,
            peak: None,
        }
    }

    #[test]
    fn buckets_are_five_percent_wider_each() {
        assert_eq!(bucket_start(0), 0.0);
        assert!((bucket_start(1) - 1e7).abs() < 1e-3);
        assert!((bucket_start(2) - 1e7 * 2.05).abs() < 1e-3);
        for i in 1..buckets() - 1 {
            let w0 = bucket_start(i) - bucket_start(i - 1);
            let w1 = bucket_start(i + 1) - bucket_start(i);
            assert!((w1 / w0 - 1.05).abs() < 1e-9);
            assert_eq!(bucket_of(bucket_start(i)), i, "start of {i}");
            assert_eq!(bucket_of(bucket_start(i + 1) - 1.0), i, "end of {i}");
        }
        assert!(bucket_start(buckets() - 1) >= 1e12 || bucket_start(buckets()) >= 1e12);
        assert_eq!(bucket_of(1e15), buckets() - 1);
        assert_eq!(bucket_of(-5.0), 0);
    }

    #[test]
    fn vpa_answers_the_end_of_the_bucket_times_the_margin() {
        let v = Vpa::standard();
        // One sample of 4000 MB: its bucket's end x 1.15.
        let b = bucket_of(4000.0 * MIB);
        let want = ((bucket_start(b + 1) * 1.15) / MIB).ceil() as i64;
        assert_eq!(vpa_estimate(&[ok(0, 4000)], HOUR, i64::MIN, &v), Some(want));
        assert!(want >= (4000.0 * 1.15) as i64 && want < (4000.0 * 1.15 * 1.06) as i64);
        // Small peaks: VPA's 250 MB minimum (238.4 MiB, rounded up).
        assert_eq!(vpa_estimate(&[ok(0, 10)], HOUR, i64::MIN, &v), Some(239));
        assert_eq!(vpa_estimate(&[], HOUR, i64::MIN, &v), None);
        // A run without a peak feeds nothing.
        let mut no_peak = ok(0, 1);
        no_peak.peak = None;
        assert_eq!(vpa_estimate(&[no_peak], HOUR, i64::MIN, &v), None);
    }

    #[test]
    fn vpa_keeps_one_peak_per_interval_and_decays_by_half_life() {
        let v = Vpa::standard();
        let day = 24 * HOUR;
        // Two runs in one interval: only the larger is a sample; p90 of one sample is it.
        let one = vpa_estimate(
            &[ok(day, 1000), ok(day + HOUR, 8000)],
            3 * day,
            i64::MIN,
            &v,
        );
        assert_eq!(
            one,
            vpa_estimate(&[ok(day + HOUR, 8000)], 3 * day, i64::MIN, &v)
        );
        // 19 small samples on 19 older days and 1 large one on the last: with equal weights p90
        // is the small bucket (19/20 >= 0.9); decayed by a day's half-life, the small ones weigh
        // together about as much as the last one alone.
        let mut events: Vec<Event> = (0..19).map(|d| ok(d * day, 1000)).collect();
        events.push(ok(19 * day, 8000));
        let flat = Vpa {
            half_life: i64::MAX,
            ..Vpa::standard()
        };
        let small = vpa_estimate(&[ok(0, 1000)], 20 * day, i64::MIN, &v);
        let large = vpa_estimate(&[ok(0, 8000)], 20 * day, i64::MIN, &v);
        assert_eq!(vpa_estimate(&events, 20 * day, i64::MIN, &flat), small);
        assert_eq!(vpa_estimate(&events, 20 * day, i64::MIN, &v), large);
    }

    #[test]
    fn vpa_reads_whole_intervals_after_the_one_the_window_starts_in() {
        let v = Vpa::standard();
        let day = 24 * HOUR;
        let events = [ok(day + HOUR, 9000), ok(2 * day + HOUR, 1000)];
        // The window starts in day 1: day 1 is left out whole, though its run is after `from`.
        assert_eq!(
            vpa_estimate(&events, 3 * day, day, &v),
            vpa_estimate(&events[1..], 3 * day, i64::MIN, &v)
        );
        // Starting in day 0: both days count.
        assert_eq!(
            vpa_estimate(&events, 3 * day, day - 1, &v),
            vpa_estimate(&events, 3 * day, i64::MIN, &v)
        );
        // Runs at or after `now` are not history.
        assert_eq!(
            vpa_estimate(&events, 2 * day + HOUR, i64::MIN, &v),
            vpa_estimate(&events[..1], 2 * day + HOUR, i64::MIN, &v)
        );
    }

    #[test]
    fn vpa_bumps_an_oom_above_the_request_and_the_intervals_peak() {
        let v = Vpa::standard();
        // Killed at 2000 MB: used 2000, bump max(2100, 2400) = 2400 MB.
        let got = vpa_estimate(&[killed(0, 2000)], HOUR, i64::MIN, &v);
        let b = bucket_of(2400.0 * MIB);
        assert_eq!(
            got,
            Some(((bucket_start(b + 1) * 1.15) / MIB).ceil() as i64)
        );
        // Killed at 200 MB: max(300, 240) = 300 MB (the 100 MiB step).
        let b = bucket_of(300.0 * MIB);
        assert_eq!(
            vpa_estimate(&[killed(0, 200)], HOUR, i64::MIN, &v),
            Some(((bucket_start(b + 1) * 1.15) / MIB).ceil() as i64)
        );
        // The interval's peak above the request: used = the peak.
        let with_peak = vpa_estimate(&[ok(0, 5000), killed(10, 2000)], HOUR, i64::MIN, &v);
        let b = bucket_of(6000.0 * MIB);
        assert_eq!(
            with_peak,
            Some(((bucket_start(b + 1) * 1.15) / MIB).ceil() as i64)
        );
    }

    fn censored(target: f64) -> Censored {
        Censored {
            target,
            headroom: Multiplier::parse("1").unwrap(),
            half_life: i64::MAX,
            fallback: Multiplier::parse("1.75").unwrap(),
            floor: 0,
            max_runs: None,
        }
    }

    /// Kaplan-Meier the textbook way, unweighted: S(t) = prod over event times t_i <= t of
    /// (1 - d_i / n_i), n_i those with a value >= t_i (exact) or > ... at risk.
    #[test]
    fn km_on_a_textbook_example() {
        // Needs 1, 2, 3, 4, 5 exact, and a kill at 3 (needed > 3): at risk 6, 5, 4 (the kill at 3
        // still at risk at 3), then 2, 1.
        let mut obs: Vec<(i64, bool, f64)> = [1, 2, 3, 4, 5]
            .iter()
            .map(|&v| (v, true, 1.0))
            .chain([(3, false, 1.0)])
            .collect();
        // S(1) = 5/6, S(2) = 5/6 * 4/5 = 2/3, S(3) = 2/3 * 3/4 = 1/2, S(4) = 1/2 * 1/2 = 1/4, S(5) = 0.
        assert_eq!(km_quantile(&mut obs.clone(), 0.6), Some(3));
        assert_eq!(km_quantile(&mut obs.clone(), 0.5), Some(3));
        assert_eq!(km_quantile(&mut obs.clone(), 0.3), Some(4));
        assert_eq!(km_quantile(&mut obs, 0.0), Some(5));
        // Only kills: no quantile.
        assert_eq!(km_quantile(&mut [(7, false, 1.0)], 0.05), None);
        // Weights count as that many copies.
        let mut w = vec![(10, true, 3.0), (20, true, 1.0)];
        assert_eq!(km_quantile(&mut w.clone(), 0.25), Some(10));
        assert_eq!(km_quantile(&mut w, 0.24), Some(20));
    }

    #[test]
    fn censored_falls_back_above_the_kills_and_keeps_above_recent_ones() {
        let c = censored(0.05);
        // Every run killed at 1000: beyond the evidence, 1000 x 1.75.
        let a = censored_estimate(&[killed(0, 1000), killed(1, 1000)], 2, &c)
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.raw, a.quantile, a.fallback_from, a.exact, a.censored),
            (1750, None, Some(1000), 0, 2)
        );
        assert!((a.effective - 2.0).abs() < 1e-9);
        // Measured needs of 100..=200: the 0.95 quantile is among them.
        let events: Vec<Event> = (100..=200).map(|p| ok(p, p)).collect();
        let a = censored_estimate(&events, 1000, &c).unwrap().unwrap();
        assert_eq!(a.quantile, Some(195));
        assert_eq!(a.raw, 195);
        // A kill at 300 within the floor window: kept above it.
        let mut with_kill = events.clone();
        with_kill.push(killed(999, 300));
        let floored = Censored { floor: 10, ..c };
        let a = censored_estimate(&with_kill, 1000, &floored)
            .unwrap()
            .unwrap();
        assert_eq!((a.raw, a.floor), (301, Some(300)));
        assert_eq!(censored_estimate(&[], 0, &floored).unwrap(), None);
    }

    #[test]
    fn older_runs_weigh_less() {
        let c = Censored {
            half_life: HOUR,
            ..censored(0.5)
        };
        // 3 old runs at 1000 (10 half-lives ago), 1 recent at 5000: the median is the recent one.
        let mut events: Vec<Event> = (0..3).map(|i| ok(i, 1000)).collect();
        events.push(ok(10 * HOUR, 5000));
        let a = censored_estimate(&events, 10 * HOUR + 1, &c)
            .unwrap()
            .unwrap();
        assert_eq!(a.quantile, Some(5000));
        assert!(a.effective < 1.01);
        let flat = censored(0.5);
        assert_eq!(
            censored_estimate(&events, 10 * HOUR + 1, &flat)
                .unwrap()
                .unwrap()
                .quantile,
            Some(1000)
        );
    }

    /// A closed loop: runs of one key, one an hour, each needing a draw from a known distribution;
    /// each is given what the censored policy answers from the runs before it in its window
    /// (starting far too low: every early run is killed); a run given less than its need is
    /// killed (censored at its request), else it succeeds with its need as its peak. After the
    /// warm-up the share of kills must land near the target.
    ///
    /// The tolerance, from the sample size: the kills are a binomial count over `n` runs
    /// (sd sqrt(a(1-a)/n)); the quantile estimated from a window of effective size m has a
    /// coverage error of sd sqrt(a(1-a)/m) per estimate, the estimates being roughly independent
    /// once per window's memory (2 half-lives), so it averages over n / tau of them; and a
    /// discrete quantile covers at least 1 - a, biased low by up to 1/m. Four sds of each, and the
    /// bias.
    #[test]
    fn censored_is_calibrated_on_known_distributions() {
        let mut rng = Rng::new(2828);
        // Box-Muller normal from the generator.
        let mut normal = move || {
            let u1 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 + 1e-12;
            let u2 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        let lookback = 14 * 24 * HOUR; // as the policy's defaults, and its 200 most recent runs
        let half_life = 72 * HOUR;
        let runs = 12_000usize;
        let warmup = 500usize;
        let dists: [(&str, Box<dyn Fn(f64, f64) -> i64>); 3] = [
            ("lognormal", Box::new(|z, _| (8.3 + 0.4 * z).exp() as i64)),
            (
                "normal",
                Box::new(|z, _| (6000.0 + 900.0 * z).max(1.0) as i64),
            ),
            (
                "bimodal",
                Box::new(|z, u| {
                    if u < 0.7 {
                        (2000.0 + 100.0 * z) as i64
                    } else {
                        (9000.0 + 700.0 * z) as i64
                    }
                }),
            ),
        ];
        for (name, draw) in &dists {
            for target in [0.02, 0.05, 0.1, 0.2] {
                let c = Censored {
                    target,
                    headroom: Multiplier::parse("1").unwrap(),
                    half_life,
                    fallback: Multiplier::parse("1.75").unwrap(),
                    floor: 0,
                    max_runs: Some(200),
                };
                let mut history: Vec<Event> = Vec::new();
                let (mut kills, mut counted, mut m_sum) = (0usize, 0usize, 0.0);
                for i in 0..runs {
                    let at = i as i64 * HOUR;
                    history.retain(|e| e.at >= at - lookback);
                    let z = normal();
                    let u = (normal().abs() * 1e6).fract();
                    let need = draw(z, u);
                    let request = match censored_estimate(&history, at, &c).unwrap() {
                        Some(a) => {
                            m_sum += a.effective;
                            a.raw
                        }
                        None => 64, // far below every need: the first runs are killed
                    };
                    let killed = request < need;
                    if i >= warmup {
                        counted += 1;
                        kills += killed as usize;
                    }
                    history.push(Event {
                        at,
                        request: Some(request),
                        oom: killed,
                        peak: (!killed).then_some(need),
                    });
                }
                let rate = kills as f64 / counted as f64;
                let m = m_sum / runs as f64;
                let n = counted as f64;
                let tau = 2.0 * half_life as f64 / HOUR as f64;
                let sd = (target * (1.0 - target)).sqrt();
                let tolerance =
                    4.0 * sd / n.sqrt() + 4.0 * sd / m.sqrt() / (n / tau).sqrt() + 1.0 / m;
                assert!(
                    (rate - target).abs() <= tolerance,
                    "{name} target {target}: kill rate {rate:.4} (tolerance {tolerance:.4}, effective window {m:.0})"
                );
            }
        }
    }
}
