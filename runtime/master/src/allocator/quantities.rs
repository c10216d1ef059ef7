//! The scalar quantities DRF weighs — cpus, mem and disk — as fixed-point milli-units.
//!
//! Shares are computed from these integers (`allocated / total` as `f64`) and never from
//! `Resources` directly, so that a share comparison costs a few integer loads and no
//! allocation. Totals and per-framework allocations are kept as [`Quantities`] rather than
//! as summed `Resources` because ranges (ports) from different agents do not add up as a
//! multiset: a cluster "total" of ports would lose ports on subtraction.

use drover_proto::resources::{Resource, Resources, Scalar, Value};

/// Number of dimensions weighed by DRF.
pub(crate) const DIMS: usize = 3;

/// Names of the DRF dimensions, in index order.
pub(crate) const DIM_NAMES: [&str; DIMS] = ["cpus", "mem", "disk"];

/// cpus, mem (MB) and disk (MB) in milli-units; the resources a dominant share is taken over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quantities {
    milli: [u64; DIMS],
}

impl Quantities {
    /// Nothing.
    pub const ZERO: Quantities = Quantities { milli: [0; DIMS] };

    /// Builds quantities from scalars.
    pub fn new(cpus: Scalar, mem: Scalar, disk: Scalar) -> Quantities {
        Quantities {
            milli: [cpus.milli(), mem.milli(), disk.milli()],
        }
    }

    /// The cpus, mem and disk of `resources`, summed over all roles.
    pub fn of(resources: &Resources) -> Quantities {
        let mut q = Quantities::ZERO;
        for r in resources.iter() {
            q.add_resource(r);
        }
        q
    }

    /// Cpus.
    pub fn cpus(&self) -> Scalar {
        Scalar::from_milli(self.milli[0])
    }

    /// Memory in MB.
    pub fn mem(&self) -> Scalar {
        Scalar::from_milli(self.milli[1])
    }

    /// Disk in MB.
    pub fn disk(&self) -> Scalar {
        Scalar::from_milli(self.milli[2])
    }

    /// True if every dimension is zero.
    pub fn is_zero(&self) -> bool {
        self.milli.iter().all(|&m| m == 0)
    }

    /// The dominant share of `self` against `total`: the largest `self[d] / total[d]` over
    /// the dimensions the cluster has (a dimension with a zero total is ignored).
    pub fn dominant_share(&self, total: &Quantities) -> f64 {
        let mut share = 0.0_f64;
        for d in 0..DIMS {
            if total.milli[d] > 0 {
                share = share.max(self.milli[d] as f64 / total.milli[d] as f64);
            }
        }
        share
    }

    /// Milli-units of dimension `d`.
    pub(crate) fn get(&self, d: usize) -> u64 {
        self.milli[d]
    }

    /// Adds one resource if it is a DRF dimension.
    pub(crate) fn add_resource(&mut self, r: &Resource) {
        if let Value::Scalar(s) = &r.value {
            if let Some(d) = dim_of(&r.name) {
                self.milli[d] = self.milli[d].saturating_add(s.milli());
            }
        }
    }

    /// Adds `other`.
    pub(crate) fn add(&mut self, other: &Quantities) {
        for d in 0..DIMS {
            self.milli[d] = self.milli[d].saturating_add(other.milli[d]);
        }
    }

    /// Subtracts `other`, never below zero.
    pub(crate) fn sub(&mut self, other: &Quantities) {
        for d in 0..DIMS {
            self.milli[d] = self.milli[d].saturating_sub(other.milli[d]);
        }
    }

    /// `self + other`.
    pub(crate) fn plus(mut self, other: &Quantities) -> Quantities {
        self.add(other);
        self
    }
}

/// The DRF dimension named `name`, if it is one.
pub(crate) fn dim_of(name: &str) -> Option<usize> {
    DIM_NAMES.iter().position(|&n| n == name)
}

/// Milli-units of the scalar `name` in `resources`, counting unreserved entries if
/// `unreserved` and entries reserved to `role` if given. Used for minimum-allocatable
/// checks on scalars other than the DRF dimensions (e.g. `gpus`).
pub(crate) fn scalar_in(
    resources: &Resources,
    name: &str,
    unreserved: bool,
    role: Option<&str>,
) -> u64 {
    let mut total = 0_u64;
    for r in resources.iter() {
        if r.name != name {
            continue;
        }
        let counted = match (&r.role, role) {
            (None, _) => unreserved,
            (Some(rr), Some(role)) => rr == role,
            (Some(_), None) => false,
        };
        if let (true, Value::Scalar(s)) = (counted, &r.value) {
            total = total.saturating_add(s.milli());
        }
    }
    total
}
