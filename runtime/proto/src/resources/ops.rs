//! `+` and `-` on [`Resources`], in place where possible: adding a scalar to an existing
//! entry or subtracting one allocates nothing.
//!
//! `+` is a union per (name, role). A right-hand entry whose value type differs from the
//! type its name has on the left is skipped (a name has one type; use
//! [`Resources::add_resource`] to get an error instead). `-` saturates: scalars stop at
//! zero, absent ranges, items and entries are ignored, and emptied entries are dropped.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use super::{key, Resource, Resources};

/// Up to this many entries, a linear scan beats a binary search (no branch mispredicts,
/// and most keys differ in their first bytes).
pub(super) const LINEAR: usize = 8;

impl Resources {
    /// Where the entry with `r`'s (name, role) is in `entries[from..]`, or would be
    /// inserted. Every entry before `from` must have a smaller key. Walking `from` forward
    /// over a sorted right-hand side makes `+=` and `-=` a merge.
    fn seek(&self, from: usize, r: &Resource) -> Result<usize, usize> {
        let k = key(r);
        let rest = &self.entries[from..];
        let found = if rest.len() <= LINEAR {
            let mut i = 0;
            loop {
                match rest.get(i).map(|e| key(e).cmp(&k)) {
                    Some(Ordering::Less) => i += 1,
                    Some(Ordering::Equal) => break Ok(i),
                    Some(Ordering::Greater) | None => break Err(i),
                }
            }
        } else {
            rest.binary_search_by(|e| key(e).cmp(&k))
        };
        found.map(|i| i + from).map_err(|i| i + from)
    }

    /// Adds a valid, non-empty entry, searching from `from` (see [`Resources::seek`]).
    /// Returns the entry's index. On a type conflict with the name's existing type,
    /// changes nothing and returns that type and the entry.
    pub(super) fn add_entry<'a>(
        &mut self,
        from: usize,
        r: Cow<'a, Resource>,
    ) -> Result<usize, (&'static str, Cow<'a, Resource>)> {
        match self.seek(from, &r) {
            Ok(i) => {
                let e = &mut self.entries[i].value;
                if e.add(&r.value) {
                    Ok(i)
                } else {
                    Err((e.kind(), r))
                }
            }
            Err(i) => {
                // Entries of one name are contiguous and share a type: a neighbour of the
                // insertion point tells the name's type, if it has one.
                let neighbour = [i.checked_sub(1), Some(i)]
                    .into_iter()
                    .flatten()
                    .filter_map(|j| self.entries.get(j))
                    .find(|e| e.name == r.name);
                if let Some(e) = neighbour {
                    if !e.value.same_kind(&r.value) {
                        return Err((e.value.kind(), r));
                    }
                }
                self.entries.insert(i, r.into_owned());
                Ok(i)
            }
        }
    }

    /// Subtracts one entry, saturating, searching from `from`; drops the entry if it
    /// becomes empty. Returns where to search for the next, larger key.
    fn sub_entry(&mut self, from: usize, r: &Resource) -> usize {
        match self.seek(from, r) {
            Ok(i) => {
                let e = &mut self.entries[i].value;
                e.sub(&r.value);
                if e.is_empty() {
                    self.entries.remove(i);
                    i
                } else {
                    i + 1
                }
            }
            Err(i) => i,
        }
    }
}

impl AddAssign<&Resources> for Resources {
    fn add_assign(&mut self, other: &Resources) {
        if self.entries.is_empty() {
            self.entries.clone_from(&other.entries);
            return;
        }
        let mut from = 0;
        for r in &other.entries {
            // A type conflict skips the entry, as documented on the module.
            if let Ok(i) = self.add_entry(from, Cow::Borrowed(r)) {
                from = i + 1;
            }
        }
    }
}

impl AddAssign<Resources> for Resources {
    fn add_assign(&mut self, other: Resources) {
        if self.entries.is_empty() {
            *self = other;
            return;
        }
        let mut from = 0;
        for r in other.entries {
            if let Ok(i) = self.add_entry(from, Cow::Owned(r)) {
                from = i + 1;
            }
        }
    }
}

impl SubAssign<&Resources> for Resources {
    fn sub_assign(&mut self, other: &Resources) {
        if self.entries.is_empty() {
            return;
        }
        let mut from = 0;
        for r in &other.entries {
            from = self.sub_entry(from, r);
        }
    }
}

impl SubAssign<Resources> for Resources {
    fn sub_assign(&mut self, other: Resources) {
        *self -= &other;
    }
}

/// `impl Op<Rhs> for Lhs` in terms of `OpAssign`, cloning a borrowed left side.
macro_rules! binop {
    ($Op:ident, $op:ident, $op_assign:ident) => {
        impl $Op<Resources> for Resources {
            type Output = Resources;
            fn $op(mut self, o: Resources) -> Resources {
                self.$op_assign(o);
                self
            }
        }
        impl $Op<&Resources> for Resources {
            type Output = Resources;
            fn $op(mut self, o: &Resources) -> Resources {
                self.$op_assign(o);
                self
            }
        }
        impl $Op<Resources> for &Resources {
            type Output = Resources;
            fn $op(self, o: Resources) -> Resources {
                let mut out = self.clone();
                out.$op_assign(o);
                out
            }
        }
        impl $Op<&Resources> for &Resources {
            type Output = Resources;
            fn $op(self, o: &Resources) -> Resources {
                let mut out = self.clone();
                out.$op_assign(o);
                out
            }
        }
    };
}

binop!(Add, add, add_assign);
binop!(Sub, sub, sub_assign);
