//! Cluster resources with Mesos semantics: what an agent has, what an offer holds, what
//! a task asks for. The allocator adds, subtracts and compares these millions of times a
//! cycle, so the representation is a small sorted vector and the operations are merges.
//!
//! ```text
//!  "cpus:4;mem:8192;ports:[31000-32000];cpus(analytics):2"
//!        │ Resources::parse / FromStr          ▲ Display (deterministic order)
//!        ▼                                     │
//!  Resources = sorted Vec<Resource>, one per (name, role), nothing empty
//!        │  +  union (scalars summed, ranges merged, sets united)
//!        │  -  saturating difference (never negative, absent parts ignored)
//!        │  contains / checked_sub  per (name, role)
//! ```
//!
//! - A [`Scalar`] is fixed-point with 3 decimals (`u64` milli-units): no float drift.
//! - [`Range`]s are inclusive and kept sorted and merged; subtraction splits them.
//! - Sets hold strings.
//! - A resource is unreserved (role `None`, written `name` or `name(*)`) or reserved to
//!   a role (`name(role)`). A name has one value type across all roles.
//!
//! In hot loops prefer `contains`, `scalar`, `+=` and `-=`: they allocate nothing when
//! only existing scalar entries change. `&a + &b` and `&a - &b` clone `a` (its `String`s).

mod error;
mod ops;
mod scalar;
mod text;
mod validate;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use error::ResourcesError;
pub use scalar::Scalar;
pub use value::{Range, Value};

/// One named resource, unreserved (role `None`, printed `*` or nothing) or reserved to a
/// role.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// Resource name: `cpus`, `mem`, `disk`, `ports`, `gpus`, or any other.
    pub name: String,
    /// Role it is reserved to; `None` is unreserved (`*`).
    pub role: Option<String>,
    /// The amount.
    pub value: Value,
}

/// A bag of resources, normalized: at most one entry per (name, role); zero scalars,
/// empty ranges and empty sets are dropped. Equality is semantic.
///
/// Serialized as the sequence of its entries; decoding re-checks and re-normalizes them,
/// so a hostile peer cannot break the invariants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// Sorted by (name, role) with `None` first; valid, non-empty, one type per name.
    entries: Vec<Resource>,
}

/// The sort key of an entry.
fn key(r: &Resource) -> (&str, Option<&str>) {
    (r.name.as_str(), r.role.as_deref())
}

impl Resources {
    /// No resources.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// Parses the Mesos text form, e.g.
    /// `cpus:4;mem:8192;disk:10000;ports:[31000-32000];cpus(analytics):2;gpus:{a,b}`.
    /// Items that repeat a (name, role) are added up. The empty string is no resources.
    /// Errors name the offending item; this never panics.
    pub fn parse(s: &str) -> Result<Resources, ResourcesError> {
        text::parse(s)
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, ordered by (name, role), unreserved before reserved.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.entries.iter()
    }

    /// Adds one resource (union with an existing entry of the same name and role).
    /// Role `Some("*")` means unreserved. Refuses invalid names, roles, ranges
    /// (`begin > end`) or set items, and a value type that differs from the one this name
    /// already has in any role. An empty value is checked, then ignored.
    pub fn add_resource(&mut self, r: Resource) -> Result<(), ResourcesError> {
        let r = validate::normalize(r)?;
        if r.value.is_empty() {
            return Ok(());
        }
        self.add_entry(0, std::borrow::Cow::Owned(r))
            .map(|_| ())
            .map_err(|(existing, r)| ResourcesError::TypeMismatch {
                found: r.value.kind().to_owned(),
                name: r.into_owned().name,
                existing: existing.to_owned(),
            })
    }

    /// Whether `self` holds all of `other`, compared per (name, role): an unreserved
    /// resource does not cover a reserved one, nor the other way round.
    pub fn contains(&self, other: &Resources) -> bool {
        let mut i = 0;
        for o in &other.entries {
            let ko = key(o);
            loop {
                let Some(s) = self.entries.get(i) else {
                    return false;
                };
                match key(s).cmp(&ko) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Equal => break,
                    std::cmp::Ordering::Greater => return false,
                }
            }
            if !self.entries[i].value.contains(&o.value) {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The scalar `name` summed over all roles; zero if absent or not a scalar.
    pub fn scalar(&self, name: &str) -> Scalar {
        let mut sum = Scalar::ZERO;
        for r in self.same_name(name) {
            if let Value::Scalar(s) = r.value {
                sum += s;
            }
        }
        sum
    }

    /// CPUs over all roles.
    pub fn cpus(&self) -> Scalar {
        self.scalar("cpus")
    }

    /// Memory in MB over all roles.
    pub fn mem(&self) -> Scalar {
        self.scalar("mem")
    }

    /// Disk in MB over all roles.
    pub fn disk(&self) -> Scalar {
        self.scalar("disk")
    }

    /// The `ports` ranges of all roles, sorted and merged.
    pub fn ports(&self) -> Vec<Range> {
        let mut all = Value::Ranges(Vec::new());
        for r in self.same_name("ports") {
            all.add(&r.value);
        }
        match all {
            Value::Ranges(rs) => rs,
            _ => Vec::new(),
        }
    }

    /// Only what is reserved to `role` (nothing for `*`).
    pub fn reserved(&self, role: &str) -> Resources {
        self.filter(|r| r.role.as_deref() == Some(role))
    }

    /// Only the unreserved resources (role `None`).
    pub fn unreserved(&self) -> Resources {
        self.filter(|r| r.role.is_none())
    }

    /// What a framework in `role` may be offered: unreserved plus reserved to `role`.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| r.role.as_deref().is_none_or(|x| x == role))
    }

    /// The roles that have reservations here.
    pub fn roles(&self) -> BTreeSet<String> {
        self.entries.iter().filter_map(|r| r.role.clone()).collect()
    }

    /// The entries for which `f` is true.
    pub fn filter(&self, f: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            entries: self.entries.iter().filter(|r| f(r)).cloned().collect(),
        }
    }

    /// `self - other` if `self` contains `other`, else `None`.
    pub fn checked_sub(&self, other: &Resources) -> Option<Resources> {
        if !self.contains(other) {
            return None;
        }
        let mut out = self.clone();
        out -= other;
        Some(out)
    }

    /// The entries named `name`, which are contiguous.
    fn same_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        let start = if self.entries.len() <= ops::LINEAR {
            let found = self.entries.iter().position(|r| r.name == name);
            found.unwrap_or(self.entries.len())
        } else {
            self.entries.partition_point(|r| r.name.as_str() < name)
        };
        self.entries[start..]
            .iter()
            .take_while(move |r| r.name == name)
    }
}

impl Serialize for Resources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Resources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Resources, D::Error> {
        let entries = Vec::<Resource>::deserialize(d)?;
        let mut out = Resources::new();
        for r in entries {
            out.add_resource(r).map_err(serde::de::Error::custom)?;
        }
        Ok(out)
    }
}
