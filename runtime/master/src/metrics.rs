//! Prometheus text exposition for `/metrics`: gauges and counters read from the core,
//! and the allocation-time histogram the shell records.

use std::fmt::Write;
use std::time::Duration;

/// A fixed-bucket histogram of durations, in seconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        let bounds = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        ];
        let counts = vec![0; bounds.len()];
        Self {
            bounds,
            counts,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&mut self, d: Duration) {
        let v = d.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    /// Appends the histogram in Prometheus text form.
    pub fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// Appends one sample with its HELP/TYPE header (once per metric family).
pub fn render_sample(out: &mut String, name: &str, help: &str, kind: &str, value: f64) {
    let family = name.split('{').next().unwrap_or(name);
    let header = format!("# TYPE {family} {kind}\n");
    if !out.contains(&header) {
        let _ = writeln!(out, "# HELP {family} {help}");
        out.push_str(&header);
    }
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(30));
        let mut s = String::new();
        h.render(&mut s, "x", "help");
        assert!(s.contains("x_bucket{le=\"0.0005\"} 1"));
        assert!(s.contains("x_bucket{le=\"0.05\"} 2"));
        assert!(s.contains("x_count 2"));
    }

    #[test]
    fn family_header_once() {
        let mut s = String::new();
        render_sample(&mut s, "t{state=\"a\"}", "h", "gauge", 1.0);
        render_sample(&mut s, "t{state=\"b\"}", "h", "gauge", 2.0);
        assert_eq!(s.matches("# TYPE t gauge").count(), 1);
    }
}
