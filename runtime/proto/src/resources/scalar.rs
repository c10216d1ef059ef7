//! Fixed-point scalar quantities (cpus, mem, disk, gpus, ...) kept as integer
//! milli-units, so that sums and differences are exact: `0.1 + 0.2 == 0.3`.

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use super::ResourcesError;

/// Fixed-point scalar with 3 decimals: the value times 1000. Never negative.
///
/// Arithmetic is exact. `+` saturates at `u64::MAX` milli-units instead of overflowing,
/// and [`Scalar::saturating_sub`] stops at zero.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Scalar(u64);

impl Scalar {
    /// Zero.
    pub const ZERO: Scalar = Scalar(0);

    /// The scalar of `m` milli-units (`from_milli(1500)` is 1.5).
    pub const fn from_milli(m: u64) -> Scalar {
        Scalar(m)
    }

    /// The value in milli-units (1.5 is 1500).
    pub const fn milli(self) -> u64 {
        self.0
    }

    /// Converts a float, rounded to 3 decimals. NaN, infinities, negative values and
    /// values above `u64::MAX / 1000` are refused with [`ResourcesError::InvalidScalar`].
    pub fn try_from_f64(v: f64) -> Result<Scalar, ResourcesError> {
        let refuse = |reason: &str| ResourcesError::InvalidScalar {
            value: v.to_string(),
            reason: reason.to_owned(),
        };
        if v.is_nan() {
            return Err(refuse("not a number"));
        }
        if v.is_infinite() {
            return Err(refuse("not finite"));
        }
        if v < 0.0 {
            return Err(refuse("negative"));
        }
        let m = (v * 1000.0).round();
        // 2^64: the first float that does not fit in a u64.
        if m >= 18_446_744_073_709_551_616.0 {
            return Err(refuse("too large"));
        }
        // In range and integral after the checks above, so the cast is exact enough.
        Ok(Scalar(m as u64))
    }

    /// The value as a float (milli-units / 1000).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// `self - o`, or zero if `o` is larger.
    pub const fn saturating_sub(self, o: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(o.0))
    }
}

impl fmt::Display for Scalar {
    /// Prints the shortest exact decimal: `4`, `0.5`, `0.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (int, frac) = (self.0 / 1000, self.0 % 1000);
        if frac == 0 {
            write!(f, "{int}")
        } else if frac % 100 == 0 {
            write!(f, "{int}.{}", frac / 100)
        } else if frac % 10 == 0 {
            write!(f, "{int}.{:02}", frac / 10)
        } else {
            write!(f, "{int}.{frac:03}")
        }
    }
}

impl Add for Scalar {
    type Output = Scalar;

    /// Saturating addition.
    fn add(self, o: Scalar) -> Scalar {
        Scalar(self.0.saturating_add(o.0))
    }
}

impl AddAssign for Scalar {
    /// Saturating addition.
    fn add_assign(&mut self, o: Scalar) {
        *self = *self + o;
    }
}

/// Outcome of reading a plain decimal (`12`, `0.5`, `.25`, `+3.`).
enum Decimal {
    /// Not of that form: try the float syntax.
    Other,
    /// Of that form but more than `u64::MAX` milli-units.
    TooLarge,
    /// The value, rounded half up to 3 decimals.
    Value(u64),
}

fn parse_decimal(s: &str) -> Decimal {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Decimal::Other;
    }
    let mut m: u64 = 0;
    for b in int.bytes() {
        match m
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(b - b'0')))
        {
            Some(v) => m = v,
            None => return Decimal::TooLarge,
        }
    }
    let fb = frac.as_bytes();
    let mut milli: u64 = 0;
    for i in 0..3 {
        milli = milli * 10 + fb.get(i).map_or(0, |b| u64::from(b - b'0'));
    }
    if fb.get(3).is_some_and(|b| *b >= b'5') {
        milli += 1;
    }
    match m.checked_mul(1000).and_then(|m| m.checked_add(milli)) {
        Some(v) => Decimal::Value(v),
        None => Decimal::TooLarge,
    }
}

/// Reads a scalar of the text form. Plain decimals are read exactly (rounded half up to
/// 3 decimals); other float syntax (`1e3`) goes through `f64`. The error is the reason,
/// naming `s`.
pub(super) fn parse_scalar(s: &str) -> Result<Scalar, String> {
    match parse_decimal(s) {
        Decimal::Value(m) => return Ok(Scalar(m)),
        Decimal::TooLarge => return Err(format!("'{s}' is too large")),
        Decimal::Other => {}
    }
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("'{s}' is not a finite number"));
    }
    if v < 0.0 || s.starts_with('-') {
        return Err(format!("'{s}' is negative"));
    }
    Scalar::try_from_f64(v).map_err(|_| format!("'{s}' is too large"))
}
