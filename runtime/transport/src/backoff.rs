//! Reconnect delays: exponential backoff with jitter, as a pure function of the attempt
//! number and a random draw (so it is tested without clocks).
//!
//! ```text
//!  attempt:  0      1      2      3     …  n
//!  base:     i     2i     4i     8i     …  min(i·2ⁿ, max)
//!  delay:    uniformly in [base/2, base)
//! ```

use std::time::Duration;

/// Reconnect delays: `initial · 2^attempt`, capped at `max`, then jittered into
/// `[d/2, d)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt` (0-based), given a random `unit` in [0, 1).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        base / 2 + base.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters_within_half() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(3, 0.999_999).as_millis(), 799);
        assert_eq!(b.delay(30, 0.0), Duration::from_secs(1));
        assert!(b.delay(30, 0.999) < Duration::from_secs(2));
    }
}
