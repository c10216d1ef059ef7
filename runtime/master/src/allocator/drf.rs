//! Dominant Resource Fairness sorters, kept sorted incrementally.
//!
//! A sorter holds clients ordered by `(share, tie-break rank, client index)`. Mesos's
//! hierarchical allocator has one sorter of roles (share = dominant share / weight) and,
//! per role, one sorter of that role's frameworks (share = the framework's dominant share
//! in the role). Mesos re-sorts these for every agent; here a charge moves one client in a
//! `BTreeSet` in O(log n), so a cycle over 10,000 agents never re-sorts anything.
//!
//! Shares are `f64` computed from fixed-point integers; a non-negative finite `f64`'s bit
//! pattern orders like its value, so keys are plain integers and compare exactly.

use std::collections::BTreeSet;

/// Sort key of one client in one sorter. Lower sorts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    share: u64,
    tie: u32,
    /// The client's index in the cycle's table (a role slot or a client index).
    pub(crate) id: u32,
}

impl Key {
    /// A key for `share` (finite, non-negative), tie-broken by `tie` then `id`.
    pub(crate) fn new(share: f64, tie: u32, id: u32) -> Key {
        // Negative zero and NaN cannot arise from allocated/total with unsigned
        // operands, but clamp anyway so a key is always well ordered.
        let share = if share.is_finite() && share > 0.0 {
            share
        } else {
            0.0
        };
        Key {
            share: share.to_bits(),
            tie,
            id,
        }
    }

    /// The same client at a new share.
    pub(crate) fn with_share(self, share: f64) -> Key {
        Key::new(share, self.tie, self.id)
    }
}

/// Clients in DRF order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sorter {
    set: BTreeSet<Key>,
}

impl Sorter {
    /// Adds a client.
    pub(crate) fn insert(&mut self, key: Key) {
        self.set.insert(key);
    }

    /// Moves a client from `old` to `new`.
    pub(crate) fn update(&mut self, old: Key, new: Key) {
        if old != new {
            self.set.remove(&old);
            self.set.insert(new);
        }
    }

    /// Client ids, lowest share first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.set.iter().map(|k| k.id)
    }

    /// True if the sorter has no client.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}
