//! Drover's chaos suite: fault injectors, a cluster harness, workloads, invariant
//! checkers and seeded scenarios. Filled in by a later issue; the transport's fault
//! hooks are its first building block.
#![warn(missing_docs)]
