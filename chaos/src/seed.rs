//! One seed per scenario: every random choice derives from it, and a failing scenario
//! prints it so that `DROVER_CHAOS_SEED=<seed>` replays the same choices.

use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable that fixes the seed of a scenario.
pub const SEED_ENV: &str = "DROVER_CHAOS_SEED";

/// A scenario's seed, and a splitmix64 stream derived from it.
#[derive(Debug, Clone)]
pub struct Seed {
    name: String,
    value: u64,
    state: u64,
}

impl Seed {
    /// The seed for scenario `name`: `$DROVER_CHAOS_SEED` if set (and a number), else
    /// fresh from the clock. Printed at once, and again if the scenario panics.
    pub fn for_scenario(name: &str) -> Seed {
        let value = std::env::var(SEED_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0)
                    ^ u64::from(std::process::id()).rotate_left(32)
            });
        eprintln!("chaos scenario {name}: seed {value} (replay: {SEED_ENV}={value})");
        Seed::fixed(name, value)
    }

    /// A given seed (unit tests, replays).
    pub fn fixed(name: &str, value: u64) -> Seed {
        Seed {
            name: name.to_owned(),
            value,
            state: value,
        }
    }

    /// The seed's value.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// The next number of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    /// A guard that prints the seed if the thread panics while it lives.
    pub fn report_on_panic(&self) -> SeedReport {
        SeedReport {
            name: self.name.clone(),
            value: self.value,
        }
    }
}

/// Prints the scenario's seed when dropped during a panic (see
/// [`Seed::report_on_panic`]).
#[derive(Debug)]
pub struct SeedReport {
    name: String,
    value: u64,
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "chaos scenario {} FAILED with seed {} (replay: {SEED_ENV}={})",
                self.name, self.value, self.value
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let (mut a, mut b) = (Seed::fixed("a", 7), Seed::fixed("b", 7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        let mut c = Seed::fixed("c", 8);
        assert_ne!(c.next_u64(), xs[0]);
        assert!((10..20).contains(&c.range(10, 20)));
        assert_eq!(c.range(5, 5), 5);
    }
}
