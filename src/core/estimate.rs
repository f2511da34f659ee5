//! The whole `ara_estimate()` state, pgrx-free: the values, the percentile and multiplier seen in
//! the group, and the exact answer `cast(percentile_disc(p) WITHIN GROUP (ORDER BY v) * m AS bigint)`.

use crate::core::decimal::{MulError, Multiplier};
use crate::core::percentile::CountMap;
use allocator_api2::alloc::{Allocator, Global};

/// An aggregate argument that must be the same on every row of a group.
#[derive(Clone, Debug, PartialEq)]
pub enum Param<T> {
    /// No row seen yet.
    Unset,
    /// Every row so far passed NULL: the answer is NULL.
    Null,
    Value(T),
}

/// What can go wrong, each with the SQLSTATE the pgrx layer reports.
#[derive(Clone, Debug, PartialEq)]
pub enum EstimateError {
    /// 22003: as PostgreSQL's percentile_disc: "percentile value %g is not between 0 and 1".
    PercentileOutOfRange(f64),
    /// 22023: the percentile differs between rows of one group.
    PercentileChanged {
        first: Option<f64>,
        then: Option<f64>,
    },
    /// 22023: the multiplier differs between rows of one group.
    MultiplierChanged {
        first: Option<String>,
        then: Option<String>,
    },
    /// 22003 (out of range) or 0A000 (NaN, infinity), as `cast(numeric AS bigint)`.
    Cast(MulError),
}

pub const DEFAULT_PERCENTILE: f64 = 0.99;
pub const DEFAULT_MULTIPLIER: &str = "1.75";

/// The state of one group; the values' buffers come from `A` (see [`CountMap`]).
#[derive(Clone, Debug)]
pub struct EstimateState<A: Allocator + Clone = Global> {
    pub values: CountMap<A>,
    pub percentile: Param<f64>,
    pub multiplier: Param<Multiplier>,
}

impl EstimateState<Global> {
    pub fn new() -> Self {
        EstimateState::new_in(Global)
    }

    pub fn decode(bytes: &[u8]) -> Result<EstimateState, String> {
        EstimateState::decode_in(bytes, Global)
    }
}

impl<A: Allocator + Clone> EstimateState<A> {
    /// An empty state whose values will be kept in buffers from `alloc`.
    pub fn new_in(alloc: A) -> Self {
        EstimateState {
            values: CountMap::new_in(alloc),
            percentile: Param::Unset,
            multiplier: Param::Unset,
        }
    }

    /// Records the percentile of one row: checks its range (even where the value is NULL, as
    /// percentile_disc does) and that it matches the group's.
    pub fn observe_percentile(&mut self, p: Option<f64>) -> Result<(), EstimateError> {
        if let Some(p) = p {
            if !(0.0..=1.0).contains(&p) {
                return Err(EstimateError::PercentileOutOfRange(p));
            }
        }
        let now = match p {
            Some(p) => Param::Value(p),
            None => Param::Null,
        };
        match (&self.percentile, &now) {
            (Param::Unset, _) => {
                self.percentile = now;
                Ok(())
            }
            (a, b) if a == b => Ok(()),
            (a, _) => Err(EstimateError::PercentileChanged {
                first: param_f64(a),
                then: p,
            }),
        }
    }

    /// Records the multiplier of one row; it must match the group's (compared as numbers: 1.75
    /// and 1.750 are the same multiplier).
    pub fn observe_multiplier(&mut self, m: Option<Multiplier>) -> Result<(), EstimateError> {
        let now = match m {
            Some(m) => Param::Value(m),
            None => Param::Null,
        };
        match (&self.multiplier, &now) {
            (Param::Unset, _) => {
                self.multiplier = now;
                Ok(())
            }
            (a, b) if a == b => Ok(()),
            (a, b) => Err(EstimateError::MultiplierChanged {
                first: param_text(a),
                then: param_text(b),
            }),
        }
    }

    /// Folds another partial state in (the combine step of a parallel plan).
    pub fn merge<B: Allocator + Clone>(
        &mut self,
        other: &EstimateState<B>,
    ) -> Result<(), EstimateError> {
        match &other.percentile {
            Param::Unset => {}
            Param::Null => self.observe_percentile(None)?,
            Param::Value(p) => self.observe_percentile(Some(*p))?,
        }
        match &other.multiplier {
            Param::Unset => {}
            Param::Null => self.observe_multiplier(None)?,
            Param::Value(m) => self.observe_multiplier(Some(m.clone()))?,
        }
        self.values.merge(&other.values);
        Ok(())
    }

    /// The answer: NULL with no values, a NULL percentile or a NULL multiplier; else
    /// `round_half_away(percentile_disc(p) * m)`. Does not change the state.
    pub fn finish(&self) -> Result<Option<i64>, EstimateError> {
        let (Param::Value(p), Param::Value(m)) = (&self.percentile, &self.multiplier) else {
            return Ok(None);
        };
        match self.values.percentile_disc(*p) {
            None => Ok(None),
            Some(v) => m.mul_round(v).map(Some).map_err(EstimateError::Cast),
        }
    }

    /// Serialised form: percentile, multiplier, then the value counts.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 16 * self.values.distinct());
        out.push(1); // format version
        match self.percentile {
            Param::Unset => out.push(0),
            Param::Null => out.push(1),
            Param::Value(p) => {
                out.push(2);
                out.extend_from_slice(&p.to_le_bytes());
            }
        }
        match &self.multiplier {
            Param::Unset => out.push(0),
            Param::Null => out.push(1),
            Param::Value(m) => {
                out.push(2);
                let text = m.to_string();
                out.extend_from_slice(&(text.len() as u32).to_le_bytes());
                out.extend_from_slice(text.as_bytes());
            }
        }
        self.values.encode(&mut out);
        out
    }

    /// Reads what [`EstimateState::encode`] wrote, the values into buffers from `alloc`.
    pub fn decode_in(bytes: &[u8], alloc: A) -> Result<EstimateState<A>, String> {
        let bad = || "corrupt ara_estimate state".to_string();
        let (&version, mut rest) = bytes.split_first().ok_or_else(bad)?;
        if version != 1 {
            return Err(format!(
                "ara_estimate state of unknown format version {version}"
            ));
        }
        let mut state = EstimateState::new_in(alloc.clone());
        let (&tag, r) = rest.split_first().ok_or_else(bad)?;
        rest = r;
        state.percentile = match tag {
            0 => Param::Unset,
            1 => Param::Null,
            2 => {
                let b: [u8; 8] = rest
                    .get(..8)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?;
                rest = &rest[8..];
                let p = f64::from_le_bytes(b);
                // observe_percentile() only ever stores a percentile in [0, 1].
                if !(0.0..=1.0).contains(&p) {
                    return Err(bad());
                }
                Param::Value(p)
            }
            _ => return Err(bad()),
        };
        let (&tag, r) = rest.split_first().ok_or_else(bad)?;
        rest = r;
        state.multiplier = match tag {
            0 => Param::Unset,
            1 => Param::Null,
            2 => {
                let b: [u8; 4] = rest
                    .get(..4)
                    .ok_or_else(bad)?
                    .try_into()
                    .map_err(|_| bad())?;
                let len = u32::from_le_bytes(b) as usize;
                let text = rest.get(4..4 + len).ok_or_else(bad)?;
                rest = &rest[4 + len..];
                let text = std::str::from_utf8(text).map_err(|_| bad())?;
                Param::Value(Multiplier::parse(text).map_err(|e| e.0)?)
            }
            _ => return Err(bad()),
        };
        let (values, rest) = CountMap::decode_in(rest, alloc)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        state.values = values;
        Ok(state)
    }
}

impl Default for EstimateState {
    fn default() -> Self {
        Self::new()
    }
}

fn param_f64(p: &Param<f64>) -> Option<f64> {
    match p {
        Param::Value(v) => Some(*v),
        _ => None,
    }
}

fn param_text(p: &Param<Multiplier>) -> Option<String> {
    match p {
        Param::Value(m) => Some(m.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Multiplier {
        Multiplier::parse(s).unwrap()
    }

    fn state(values: &[i64], p: Option<f64>, mult: Option<&str>) -> EstimateState {
        let mut s = EstimateState::new();
        for &v in values {
            s.observe_percentile(p).unwrap();
            s.observe_multiplier(mult.map(m)).unwrap();
            s.values.add(v);
        }
        s
    }

    #[test]
    fn report_example_and_nulls() {
        assert_eq!(
            state(&[1024, 1792, 1024], Some(0.99), Some("1.75")).finish(),
            Ok(Some(3136))
        );
        assert_eq!(state(&[1024], None, Some("1.75")).finish(), Ok(None));
        assert_eq!(state(&[1024], Some(0.5), None).finish(), Ok(None));
        assert_eq!(state(&[], Some(0.5), Some("2")).finish(), Ok(None));
        assert_eq!(
            state(&[1022], Some(1.0), Some("1.75")).finish(),
            Ok(Some(1789))
        );
        assert_eq!(state(&[15], Some(0.0), Some("1.3")).finish(), Ok(Some(20)));
    }

    #[test]
    fn errors() {
        let mut s = EstimateState::new();
        assert_eq!(
            s.observe_percentile(Some(1.5)),
            Err(EstimateError::PercentileOutOfRange(1.5))
        );
        assert!(matches!(
            s.observe_percentile(Some(f64::NAN)),
            Err(EstimateError::PercentileOutOfRange(_))
        ));
        assert!(matches!(
            s.observe_percentile(Some(-0.01)),
            Err(EstimateError::PercentileOutOfRange(_))
        ));
        s.observe_percentile(Some(0.5)).unwrap();
        assert!(matches!(
            s.observe_percentile(Some(0.6)),
            Err(EstimateError::PercentileChanged { .. })
        ));
        assert!(matches!(
            s.observe_percentile(None),
            Err(EstimateError::PercentileChanged { .. })
        ));
        s.observe_multiplier(Some(m("1.75"))).unwrap();
        s.observe_multiplier(Some(m("1.750"))).unwrap();
        assert!(matches!(
            s.observe_multiplier(Some(m("1.7"))),
            Err(EstimateError::MultiplierChanged { .. })
        ));
        s.values.add(i64::MAX);
        assert_eq!(s.finish(), Err(EstimateError::Cast(MulError::OutOfRange)));
    }

    #[test]
    fn merge_checks_params_and_adds_values() {
        let mut a = state(&[1, 2, 3], Some(0.5), Some("2"));
        let b = state(&[10, 20], Some(0.5), Some("2.0"));
        a.merge(&b).unwrap();
        assert_eq!(a.finish(), Ok(Some(6)));
        let mut empty = EstimateState::new();
        empty.merge(&a).unwrap();
        assert_eq!(empty.finish(), Ok(Some(6)));
        let c = state(&[5], Some(0.7), Some("2"));
        assert!(matches!(
            a.merge(&c),
            Err(EstimateError::PercentileChanged { .. })
        ));
    }

    #[test]
    fn encode_decode_round_trip() {
        for s in [
            state(&[1024, 1792, 1024, -5], Some(0.99), Some("1.75")),
            state(&[7], None, Some("-0.333")),
            state(&[7], Some(0.0), None),
            EstimateState::new(),
        ] {
            let back = EstimateState::decode(&s.encode()).unwrap();
            assert_eq!(back.percentile, s.percentile);
            assert_eq!(back.multiplier, s.multiplier);
            assert_eq!(back.values.total(), s.values.total());
            assert_eq!(back.finish(), s.finish());
        }
        let bytes = state(&[1, 2], Some(0.5), Some("1.5")).encode();
        for cut in 0..bytes.len() {
            assert!(
                EstimateState::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(EstimateState::decode(&[9]).is_err());
    }

    /// Issue 29's property over bigint's whole range: the serialised state of a parallel plan
    /// (fixed-width values and counts, a length-prefixed multiplier) comes back whole, and the
    /// answer past bigint is the cast's error, never a panic or a wrapped value.
    #[test]
    fn the_whole_bigint_range_survives_encode_and_decode() {
        use crate::core::testrng::Rng;
        let mut rng = Rng::new(1729);
        for round in 0..3000 {
            let values: Vec<i64> = (0..rng.below(60)).map(|_| rng.any_i64()).collect();
            let p = [0.0, 0.5, 0.99, 1.0][round % 4];
            let mult = ["1", "1.75", "-1", "0.000001"][rng.below(4) as usize];
            let s = state(&values, Some(p), Some(mult));
            let back = EstimateState::decode(&s.encode()).unwrap();
            assert_eq!(back.values.total(), values.len() as u64);
            for q in [0.0, 0.3, 0.5, 0.99, 1.0] {
                let mut sorted = values.clone();
                sorted.sort_unstable();
                let want = (!sorted.is_empty()).then(|| {
                    sorted[crate::core::percentile::percentile_position(q, sorted.len() as u64)
                        as usize
                        - 1]
                });
                assert_eq!(back.values.percentile_disc(q), want);
            }
            assert_eq!(back.finish(), s.finish());
            if let Some(&top) = values.iter().max() {
                if mult == "1" && p == 1.0 {
                    assert_eq!(s.finish(), Ok(Some(top)));
                }
            }
        }
    }

    /// Invariants of a decoded state that the rest of the code relies on.
    fn check_decoded(s: &EstimateState) {
        if let Param::Value(p) = s.percentile {
            assert!((0.0..=1.0).contains(&p));
        }
        // Must not panic, whatever it answers.
        let _ = s.finish();
        let again = EstimateState::decode(&s.encode()).expect("a decoded state re-encodes");
        assert_eq!(again.finish(), s.finish());
        let mut copy = s.clone();
        let _ = copy.merge(s);
        let _ = copy.finish();
        let _ = EstimateState::decode(&copy.encode());
    }

    #[test]
    fn decode_never_panics_on_random_truncated_or_mutated_states() {
        use crate::core::testrng::Rng;
        let mut rng = Rng::new(2026);
        let mut accepted = 0;
        // Valid states as seeds.
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        for i in 0..200 {
            let n = rng.below(50) as usize;
            let values: Vec<i64> = (0..n)
                .map(|_| rng.range(-1000, 1000) * (1 + i as i64))
                .collect();
            let p = [None, Some(0.0), Some(0.5), Some(0.99), Some(1.0)][rng.below(5) as usize];
            let m = [
                None,
                Some("1.75"),
                Some("-0.333"),
                Some("12345678901234567890.5"),
            ][rng.below(4) as usize];
            seeds.push(state(&values, p, m).encode());
        }
        for round in 0..200_000 {
            let seed = &seeds[rng.below(seeds.len() as u64) as usize];
            let bytes: Vec<u8> = match round % 4 {
                // Random bytes, starting with the right version byte half the time.
                0 => {
                    let len = rng.below(80) as usize;
                    let mut b: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                    if rng.below(2) == 0 && !b.is_empty() {
                        b[0] = 1;
                    }
                    b
                }
                // Truncated.
                1 => seed[..rng.below(seed.len() as u64 + 1) as usize].to_vec(),
                // One to three bytes changed.
                2 => {
                    let mut b = seed.clone();
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(b.len() as u64) as usize;
                        b[at] = rng.below(256) as u8;
                    }
                    b
                }
                // Extended with garbage.
                _ => {
                    let mut b = seed.clone();
                    b.extend((0..1 + rng.below(20)).map(|_| rng.below(256) as u8));
                    b
                }
            };
            if let Ok(s) = EstimateState::decode(&bytes) {
                accepted += 1;
                check_decoded(&s);
            }
        }
        // Mutations that land in a value byte decode fine: the test saw both outcomes.
        assert!(accepted > 1000, "accepted {accepted}");
    }

    #[test]
    fn decode_rejects_states_encode_never_writes() {
        let good = state(&[5, 7], Some(0.5), Some("2")).encode();
        assert!(EstimateState::decode(&good).is_ok());
        // A count of 0 for a value.
        let mut zero = good.clone();
        let last = zero.len() - 8;
        zero[last..].copy_from_slice(&0u64.to_le_bytes());
        assert!(EstimateState::decode(&zero).is_err());
        // Counts whose sum overflows u64.
        let mut huge = good.clone();
        let n = huge.len();
        huge[n - 8..].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(EstimateState::decode(&huge).is_err());
        // A percentile outside [0, 1], or NaN.
        for p in [1.5f64, -0.1, f64::NAN, f64::INFINITY] {
            let mut bad = good.clone();
            bad[2..10].copy_from_slice(&p.to_le_bytes());
            assert!(EstimateState::decode(&bad).is_err(), "{p}");
        }
    }
}
