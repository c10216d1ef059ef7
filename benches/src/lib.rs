//! Shared helpers for Drover's benchmarks; each benchmark measures its baseline in the
//! same run and prints the ratio. Results are appended to `benches/RESULTS.md`.
#![warn(missing_docs)]
