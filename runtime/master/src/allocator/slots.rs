//! Slot tables: an id-keyed table whose entries also have a small, stable integer slot.
//!
//! The allocation cycle works on slots (`u32`) so that its inner loop never hashes a
//! string id; the id → slot map is only consulted when the master's shell reports an
//! event. Freed slots are reused, so callers must drop every reference to a slot (filters,
//! allocations) when its entry is removed.

use std::collections::HashMap;
use std::hash::Hash;

/// A table of `T` keyed by `K`, each entry living at a reusable `u32` slot.
#[derive(Clone, Debug)]
pub(crate) struct Slots<K, T> {
    entries: Vec<Option<T>>,
    index: HashMap<K, u32>,
    free: Vec<u32>,
}

impl<K: Eq + Hash + Clone, T> Default for Slots<K, T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::new(),
            free: Vec::new(),
        }
    }
}

impl<K: Eq + Hash + Clone, T> Slots<K, T> {
    /// Inserts a new entry; `None` if `key` is already present.
    pub(crate) fn insert(&mut self, key: K, value: T) -> Option<u32> {
        if self.index.contains_key(&key) {
            return None;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.entries[slot as usize] = Some(value);
                slot
            }
            None => {
                self.entries.push(Some(value));
                (self.entries.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        Some(slot)
    }

    /// Removes the entry of `key`, returning its slot and value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<(u32, T)> {
        let slot = self.index.remove(key)?;
        let value = self.entries[slot as usize].take()?;
        self.free.push(slot);
        Some((slot, value))
    }

    /// The slot of `key`.
    pub(crate) fn slot_of(&self, key: &K) -> Option<u32> {
        self.index.get(key).copied()
    }

    /// The entry at `slot`, if live.
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.entries.get(slot as usize).and_then(Option::as_ref)
    }

    /// The entry at `slot`, mutably, if live.
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.entries.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// The entry of `key`.
    pub(crate) fn by_key(&self, key: &K) -> Option<&T> {
        self.slot_of(key).and_then(|slot| self.get(slot))
    }

    /// Live entries with their slots, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_ref().map(|value| (slot as u32, value)))
    }

    /// Live entries, mutably, with their slots.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut T)> + '_ {
        self.entries
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_mut().map(|value| (slot as u32, value)))
    }

    /// One past the highest slot ever used: the size of a slot-indexed side table.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.len()
    }

    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}
