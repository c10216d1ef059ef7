//! A bounded memory of destroyed containers, so that `destroy` and `wait` stay
//! idempotent after a container is gone without memory growing forever.
//!
//! The oldest entry is forgotten once [`REMEMBERED_DESTROYED`] are held; after that,
//! operations on it answer `NotFound`.

use std::collections::{HashMap, VecDeque};

use crate::types::ContainerId;

/// How many destroyed containers each containerizer remembers.
pub const REMEMBERED_DESTROYED: usize = 16_384;

/// Destroyed containers and a value for each (their termination, or their owner).
#[derive(Debug)]
pub struct Tombstones<V> {
    map: HashMap<ContainerId, V>,
    order: VecDeque<ContainerId>,
    capacity: usize,
}

impl<V> Tombstones<V> {
    /// An empty memory holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Tombstones {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers `id`, forgetting the oldest entry if full.
    pub fn insert(&mut self, id: ContainerId, value: V) {
        if self.map.insert(id.clone(), value).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// The value remembered for `id`.
    pub fn get(&self, id: &ContainerId) -> Option<&V> {
        self.map.get(id)
    }
}

impl<V> Default for Tombstones<V> {
    fn default() -> Self {
        Tombstones::new(REMEMBERED_DESTROYED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_oldest_beyond_capacity() {
        let mut t = Tombstones::new(2);
        t.insert(ContainerId::new("a"), 1);
        t.insert(ContainerId::new("b"), 2);
        t.insert(ContainerId::new("a"), 3); // update, not a new slot
        assert_eq!(t.get(&ContainerId::new("a")), Some(&3));
        t.insert(ContainerId::new("c"), 4);
        assert_eq!(t.get(&ContainerId::new("a")), None);
        assert_eq!(t.get(&ContainerId::new("b")), Some(&2));
        assert_eq!(t.get(&ContainerId::new("c")), Some(&4));
    }
}
