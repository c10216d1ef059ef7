//! Allocation policy: the knobs of a cycle that are configuration, not state.
//!
//! [`MinAllocatable`] mirrors Mesos's `--min_allocatable_resources` flag
//! (default `cpus:0.01|mem:32`): an offer is made only if it holds at least one of the
//! alternatives in full. [`AgentOrder`] says in which order agents are visited; Mesos
//! shuffles them so that no agent is always first, which we do from an explicit seed so
//! that a cycle stays a pure function of its inputs.

use drover_proto::resources::{Resources, ResourcesError, Scalar, Value};

use super::quantities::{dim_of, Quantities};

/// Configuration of an allocation cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Offers smaller than this are not made.
    pub min_allocatable: MinAllocatable,
    /// Order in which agents are visited.
    pub agent_order: AgentOrder,
}

impl Default for Policy {
    /// Mesos's defaults: `cpus:0.01|mem:32`, agents in registration order.
    fn default() -> Self {
        Policy {
            min_allocatable: MinAllocatable::mesos_default(),
            agent_order: AgentOrder::Registration,
        }
    }
}

/// Order in which a cycle visits agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentOrder {
    /// Slot order (registration order while no agent has left): fully deterministic.
    Registration,
    /// A Fisher–Yates shuffle driven by `seed` (Mesos shuffles agents every cycle; the
    /// shell passes a fresh seed per cycle to get the same effect).
    Shuffled {
        /// Seed of the shuffle.
        seed: u64,
    },
}

/// Errors from [`MinAllocatable::parse`].
#[derive(Debug, thiserror::Error)]
pub enum MinAllocatableError {
    /// An alternative did not parse as resources.
    #[error("invalid minimum allocatable resources {alternative:?}: {source}")]
    Resources {
        /// The offending alternative.
        alternative: String,
        /// Why it did not parse.
        source: ResourcesError,
    },
    /// Only scalars can be minimums (`cpus:0.01`), not ranges or sets.
    #[error("minimum allocatable resource {0:?} is not a scalar")]
    NotScalar(String),
    /// Minimums are quantities and carry no role: write `cpus:1`, not `cpus(r):1`.
    #[error("minimum allocatable resource {0:?} must not name a role")]
    Reserved(String),
    /// An alternative between `|` separators was empty.
    #[error("empty alternative in minimum allocatable resources {0:?}")]
    EmptyAlternative(String),
}

/// One required quantity of one alternative, with its dimension resolved up front.
#[derive(Clone, Debug, PartialEq)]
struct Requirement {
    name: String,
    dim: Option<usize>,
    min: u64,
}

/// Minimum size of an offer: a list of alternatives, each a set of scalar quantities. An
/// offer is allocatable if it is non-empty and, when alternatives exist, holds every
/// quantity of at least one of them.
#[derive(Clone, Debug, PartialEq)]
pub struct MinAllocatable {
    alternatives: Vec<Vec<Requirement>>,
}

impl MinAllocatable {
    /// No minimum: any non-empty offer is made.
    pub fn none() -> MinAllocatable {
        MinAllocatable {
            alternatives: Vec::new(),
        }
    }

    /// Mesos's default, `cpus:0.01|mem:32`.
    pub fn mesos_default() -> MinAllocatable {
        MinAllocatable::new(vec![
            vec![("cpus".to_owned(), Scalar::from_milli(10))],
            vec![("mem".to_owned(), Scalar::from_milli(32_000))],
        ])
    }

    /// Builds a minimum from alternatives of `(scalar name, quantity)`.
    pub fn new(alternatives: Vec<Vec<(String, Scalar)>>) -> MinAllocatable {
        let alternatives = alternatives
            .into_iter()
            .map(|alt| {
                alt.into_iter()
                    .map(|(name, min)| Requirement {
                        dim: dim_of(&name),
                        name,
                        min: min.milli(),
                    })
                    .collect()
            })
            .collect();
        MinAllocatable { alternatives }
    }

    /// Parses Mesos's flag syntax: alternatives separated by `|`, each in resources text
    /// form with unreserved scalars only, e.g. `cpus:0.01|mem:32` or `cpus:1;mem:128|gpus:1`.
    pub fn parse(text: &str) -> Result<MinAllocatable, MinAllocatableError> {
        let mut alternatives = Vec::new();
        for part in text.split('|') {
            let resources =
                Resources::parse(part).map_err(|source| MinAllocatableError::Resources {
                    alternative: part.trim().to_owned(),
                    source,
                })?;
            if resources.is_empty() {
                return Err(MinAllocatableError::EmptyAlternative(text.to_owned()));
            }
            let mut alt = Vec::new();
            for r in resources.iter() {
                if r.role.is_some() {
                    return Err(MinAllocatableError::Reserved(r.name.clone()));
                }
                match &r.value {
                    Value::Scalar(s) => alt.push((r.name.clone(), *s)),
                    _ => return Err(MinAllocatableError::NotScalar(r.name.clone())),
                }
            }
            alternatives.push(alt);
        }
        Ok(MinAllocatable::new(alternatives))
    }

    /// The alternatives, as `(scalar name, quantity)` lists.
    pub fn alternatives(&self) -> Vec<Vec<(String, Scalar)>> {
        self.alternatives
            .iter()
            .map(|alt| {
                alt.iter()
                    .map(|req| (req.name.clone(), Scalar::from_milli(req.min)))
                    .collect()
            })
            .collect()
    }

    /// True if an offer with DRF quantities `q` (and `nonempty` overall) meets the
    /// minimum; `other(name)` gives the milli-units of any other scalar in the offer and is
    /// only called for alternatives that name one.
    pub(crate) fn is_met(
        &self,
        q: &Quantities,
        nonempty: bool,
        other: impl Fn(&str) -> u64,
    ) -> bool {
        if !nonempty {
            return false;
        }
        if self.alternatives.is_empty() {
            return true;
        }
        self.alternatives.iter().any(|alt| {
            alt.iter().all(|req| {
                let have = match req.dim {
                    Some(d) => q.get(d),
                    None => other(&req.name),
                };
                have >= req.min
            })
        })
    }
}
