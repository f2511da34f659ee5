//! Exact `bigint * numeric`, cast back to `bigint` the way PostgreSQL casts: rounding half away
//! from zero, an error outside the bigint range. No floating point anywhere (15 * 1.3 is 19.5,
//! never 19.499999..., and rounds to 20).

use std::fmt;

/// A multiplier as PostgreSQL's numeric can hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Multiplier {
    Finite(Decimal),
    NaN,
    PosInfinity,
    NegInfinity,
}

/// A finite decimal: `(-1)^negative * digits / 10^scale`, normalised (no leading zeros in the
/// integer digits, no trailing zeros in the fraction, zero is never negative) so that equal
/// values are equal structurally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    /// Decimal digits 0..=9, most significant first; at least one digit.
    digits: Vec<u8>,
    /// How many of `digits` are after the decimal point.
    scale: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

/// Why `value * multiplier` cannot be a bigint; PostgreSQL's SQLSTATE is named on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MulError {
    /// The rounded product is outside bigint (22003 numeric_value_out_of_range).
    OutOfRange,
    /// The product is NaN (0A000 feature_not_supported: "cannot convert NaN to bigint").
    NaN,
    /// The product is infinite (0A000: "cannot convert infinity to bigint").
    Infinite,
}

impl Multiplier {
    /// Parses PostgreSQL's numeric text output: `[-+]digits[.digits]`, `NaN`, `Infinity`,
    /// `-Infinity` (numeric_out never writes an exponent, but one is not expected here either).
    pub fn parse(text: &str) -> Result<Multiplier, ParseError> {
        let t = text.trim();
        match t {
            "NaN" => return Ok(Multiplier::NaN),
            "Infinity" | "+Infinity" => return Ok(Multiplier::PosInfinity),
            "-Infinity" => return Ok(Multiplier::NegInfinity),
            _ => {}
        }
        let (negative, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (int_part, frac_part) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int_part.is_empty() && frac_part.is_empty())
            || !all_digits(int_part)
            || !all_digits(frac_part)
        {
            return Err(ParseError(format!("not a decimal number: {text:?}")));
        }
        let frac_part = frac_part.trim_end_matches('0');
        let int_part = int_part.trim_start_matches('0');
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        let scale = frac_part.len();
        // Leading zeros of the fraction stay (they are significant); leading zeros overall are
        // only dropped from the integer part above. An all-zero number becomes the single digit 0.
        if digits.iter().all(|&d| d == 0) {
            digits = vec![0];
            return Ok(Multiplier::Finite(Decimal {
                negative: false,
                digits,
                scale: 0,
            }));
        }
        Ok(Multiplier::Finite(Decimal {
            negative,
            digits,
            scale,
        }))
    }

    /// `round_half_away_from_zero(value * self)` as an i64, exactly as PostgreSQL evaluates
    /// `cast(value * multiplier AS bigint)` for a bigint `value`.
    pub fn mul_round(&self, value: i64) -> Result<i64, MulError> {
        match self {
            Multiplier::Finite(d) => d.mul_round(value),
            Multiplier::NaN => Err(MulError::NaN),
            // 0 * infinity is NaN in PostgreSQL's numeric.
            Multiplier::PosInfinity | Multiplier::NegInfinity if value == 0 => Err(MulError::NaN),
            Multiplier::PosInfinity | Multiplier::NegInfinity => Err(MulError::Infinite),
        }
    }
}

impl Decimal {
    fn mul_round(&self, value: i64) -> Result<i64, MulError> {
        let magnitude = value.unsigned_abs() as u128;
        // The product's digits, least significant first: schoolbook multiplication of the digit
        // string by one machine word. carry < 10 * magnitude, so u128 never overflows.
        let mut product: Vec<u8> = Vec::with_capacity(self.digits.len() + 20);
        let mut carry: u128 = 0;
        for &d in self.digits.iter().rev() {
            let t = d as u128 * magnitude + carry;
            product.push((t % 10) as u8);
            carry = t / 10;
        }
        while carry > 0 {
            product.push((carry % 10) as u8);
            carry /= 10;
        }
        // Round half away from zero on the magnitude: look at the first fractional digit.
        let round_up = self.scale > 0 && product.get(self.scale - 1).is_some_and(|&d| d >= 5);
        let mut integer: u128 = 0;
        for &d in product.iter().skip(self.scale).rev() {
            integer = integer * 10 + d as u128;
            if integer > u64::MAX as u128 {
                return Err(MulError::OutOfRange);
            }
        }
        integer += round_up as u128;
        let negative = (value < 0) != self.negative;
        if negative {
            if integer > 1u128 << 63 {
                return Err(MulError::OutOfRange);
            }
            Ok((integer as i128).wrapping_neg() as i64)
        } else {
            i64::try_from(integer).map_err(|_| MulError::OutOfRange)
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let int_len = self.digits.len().saturating_sub(self.scale);
        if int_len == 0 {
            f.write_str("0")?;
        }
        for &d in &self.digits[..int_len] {
            write!(f, "{d}")?;
        }
        if self.scale > 0 {
            f.write_str(".")?;
            for _ in self.digits.len()..self.scale {
                f.write_str("0")?;
            }
            for &d in &self.digits[int_len..] {
                write!(f, "{d}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Multiplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Multiplier::Finite(d) => d.fmt(f),
            Multiplier::NaN => f.write_str("NaN"),
            Multiplier::PosInfinity => f.write_str("Infinity"),
            Multiplier::NegInfinity => f.write_str("-Infinity"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testrng::Rng;

    fn m(s: &str) -> Multiplier {
        Multiplier::parse(s).unwrap()
    }

    #[test]
    fn the_cases_the_issue_names() {
        assert_eq!(m("1.75").mul_round(1792), Ok(3136));
        assert_eq!(m("1.75").mul_round(1022), Ok(1789)); // 1788.5 rounds away from zero
        assert_eq!(m("1.3").mul_round(15), Ok(20)); // 19.5, where f64 says 19.499999999999996
        assert_eq!(m("1.25").mul_round(250), Ok(313)); // 312.5
        assert_eq!(m("1.75").mul_round(-1022), Ok(-1789)); // -1788.5 rounds away from zero too
        assert_eq!(m("-1.75").mul_round(1022), Ok(-1789));
        assert_eq!(m("0.333").mul_round(1000), Ok(333));
        assert_eq!(m("2.5").mul_round(3), Ok(8));
        assert_eq!(m("1").mul_round(i64::MIN), Ok(i64::MIN));
        assert_eq!(m("-1").mul_round(i64::MAX), Ok(-i64::MAX));
    }

    #[test]
    fn parse_normalises() {
        assert_eq!(m("1.750"), m("1.75"));
        assert_eq!(m("001.75"), m("1.75"));
        assert_eq!(m("-0.000"), m("0"));
        assert_eq!(m(".5"), m("0.5"));
        assert_eq!(m("0.05").to_string(), "0.05");
        assert_eq!(m("-12.0100").to_string(), "-12.01");
        assert_eq!(m("100").to_string(), "100");
        assert_eq!(m("NaN"), Multiplier::NaN);
        assert_eq!(m("-Infinity"), Multiplier::NegInfinity);
        assert!(Multiplier::parse("1e5").is_err());
        assert!(Multiplier::parse("").is_err());
        assert!(Multiplier::parse(".").is_err());
        assert!(Multiplier::parse("1.2.3").is_err());
    }

    #[test]
    fn range_and_special_values() {
        assert_eq!(m("2").mul_round(i64::MAX), Err(MulError::OutOfRange));
        assert_eq!(m("-1").mul_round(i64::MIN), Err(MulError::OutOfRange));
        assert_eq!(
            m("1.0000000001").mul_round(i64::MAX),
            Err(MulError::OutOfRange)
        );
        assert_eq!(m("99999999999999999999999999").mul_round(0), Ok(0));
        assert_eq!(
            m("99999999999999999999999999").mul_round(1),
            Err(MulError::OutOfRange)
        );
        // -9223372036854775808.4 rounds to i64::MIN; .5 rounds past it.
        assert_eq!(
            m("1.00000000000000000001").mul_round(-4611686018427387904),
            Ok(-4611686018427387904)
        );
        assert_eq!(m("NaN").mul_round(5), Err(MulError::NaN));
        assert_eq!(m("Infinity").mul_round(5), Err(MulError::Infinite));
        assert_eq!(m("Infinity").mul_round(0), Err(MulError::NaN));
        // A long fraction is exact: 3 * 0.1666...67 (40 digits) = 0.5000...01 -> 1.
        let long = format!("0.{}7", "6".repeat(39).replacen('6', "1", 1));
        assert_eq!(m(&long).mul_round(3), Ok(1));
    }

    /// Reference: exact rational arithmetic in i128 for multipliers with few digits.
    fn reference(value: i64, mantissa: i64, scale: u32) -> Option<i64> {
        let p = value as i128 * mantissa as i128;
        let den = 10i128.pow(scale);
        let q = p / den;
        let r = p % den;
        let rounded = if 2 * r.abs() >= den {
            q + p.signum()
        } else {
            q
        };
        i64::try_from(rounded).ok()
    }

    #[test]
    fn property_against_rational_reference() {
        let mut rng = Rng::new(42);
        for _ in 0..200_000 {
            let scale = rng.below(7) as u32;
            let mantissa = rng.range(-10_000_000, 10_000_000);
            let value = match rng.below(4) {
                0 => rng.range(-1000, 1000),
                1 => rng.range(-1 << 40, 1 << 40),
                2 => rng.next() as i64,
                _ => rng.range(0, 400_000),
            };
            let text = {
                let neg = mantissa < 0;
                let digits = format!(
                    "{:0>width$}",
                    mantissa.unsigned_abs(),
                    width = scale as usize + 1
                );
                let (i, f) = digits.split_at(digits.len() - scale as usize);
                format!(
                    "{}{}{}{}",
                    if neg { "-" } else { "" },
                    i,
                    if scale > 0 { "." } else { "" },
                    f
                )
            };
            let got = m(&text).mul_round(value).ok();
            assert_eq!(got, reference(value, mantissa, scale), "{value} * {text}");
        }
    }
}
