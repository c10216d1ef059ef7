//! Who is who: [`FrameworkInfo`], [`AgentInfo`], [`MasterInfo`], agent [`Attribute`]s,
//! and what the master hands out: [`Offer`]s and decline [`Filters`].

use crate::ids::{AgentId, ExecutorId, FrameworkId, OfferId};
use crate::resources::Resources;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Something a framework declares it can handle (Mesos `FrameworkInfo.Capability`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FrameworkCapability {
    /// Understands TASK_UNREACHABLE / TASK_GONE instead of TASK_LOST.
    PartitionAware,
    /// May subscribe in several roles.
    MultiRole,
    /// Understands TASK_KILLING.
    TaskKillingState,
    /// Wants offers with reservations it can refine.
    ReservationRefinement,
}

/// A framework's description of itself, sent in `Subscribe`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// `None` on first subscription; the id from `Subscribed` on re-subscription.
    pub id: Option<FrameworkId>,
    /// Human name.
    pub name: String,
    /// Unix user its tasks run as by default.
    pub user: String,
    /// Roles it takes resources in (`*` if empty).
    pub roles: Vec<String>,
    /// Who it authenticates as.
    pub principal: Option<String>,
    /// How long the master keeps its tasks after it disconnects.
    pub failover_timeout: Duration,
    /// What it understands.
    pub capabilities: Vec<FrameworkCapability>,
    /// Where it runs.
    pub hostname: Option<String>,
    /// Its web UI, if any.
    pub webui_url: Option<String>,
}

impl FrameworkInfo {
    /// A framework named `name` running as `user` in the default role.
    pub fn new(name: impl Into<String>, user: impl Into<String>) -> Self {
        Self {
            id: None,
            name: name.into(),
            user: user.into(),
            roles: vec!["*".to_owned()],
            principal: None,
            failover_timeout: Duration::ZERO,
            capabilities: Vec::new(),
            hostname: None,
            webui_url: None,
        }
    }

    /// Whether the framework declared `cap`.
    pub fn has(&self, cap: FrameworkCapability) -> bool {
        self.capabilities.contains(&cap)
    }

    /// Its roles, `*` if it named none.
    pub fn effective_roles(&self) -> Vec<String> {
        if self.roles.is_empty() {
            vec!["*".to_owned()]
        } else {
            self.roles.clone()
        }
    }
}

/// Value of an agent attribute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// Free text, e.g. `r1`.
    Text(String),
    /// A number, e.g. `3`.
    Scalar(f64),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Text(s) => f.write_str(s),
            AttributeValue::Scalar(v) => write!(f, "{v}"),
        }
    }
}

/// One agent attribute, e.g. `rack:r1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Name, e.g. `rack`.
    pub name: String,
    /// Value.
    pub value: AttributeValue,
}

/// Error parsing `--attributes`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid attribute '{token}': expected name:value")]
pub struct AttributeParseError {
    /// The offending `name:value` token.
    pub token: String,
}

/// Parses Mesos's attribute text form, `rack:r1;zone:a;level:3`.
pub fn parse_attributes(s: &str) -> Result<Vec<Attribute>, AttributeParseError> {
    let mut out = Vec::new();
    for token in s.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        let Some((name, value)) = token.split_once(':') else {
            return Err(AttributeParseError {
                token: token.to_owned(),
            });
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(AttributeParseError {
                token: token.to_owned(),
            });
        }
        let value = match value.parse::<f64>() {
            Ok(v) if v.is_finite() => AttributeValue::Scalar(v),
            _ => AttributeValue::Text(value.to_owned()),
        };
        out.push(Attribute {
            name: name.to_owned(),
            value,
        });
    }
    Ok(out)
}

/// Prints attributes in the text form accepted by [`parse_attributes`].
pub fn format_attributes(attrs: &[Attribute]) -> String {
    attrs
        .iter()
        .map(|a| format!("{}:{}", a.name, a.value))
        .collect::<Vec<_>>()
        .join(";")
}

/// An agent's description of itself, sent when it registers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// `None` on first registration; the master's id afterwards.
    pub id: Option<AgentId>,
    /// Hostname frameworks see.
    pub hostname: String,
    /// The agent's HTTP port (sandbox files, state).
    pub http_port: u16,
    /// Its total resources, including static reservations.
    pub resources: Resources,
    /// Attributes, e.g. `rack:r1`; Drover adds `containerizers`.
    pub attributes: Vec<Attribute>,
    /// Containerizers available on the agent, in order of preference.
    pub containerizers: Vec<String>,
}

impl AgentInfo {
    /// The value of attribute `name`, if the agent has it.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &a.value)
    }
}

/// Identifies the master a client talks to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterInfo {
    /// Unique per master process run.
    pub id: String,
    /// Hostname.
    pub hostname: String,
    /// QUIC (UDP) port.
    pub port: u16,
    /// HTTP (TCP) port.
    pub http_port: u16,
    /// Drover version.
    pub version: String,
}

/// Resources of one agent offered to one framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Use it in `Accept` or `Decline`.
    pub id: OfferId,
    /// The framework it is for.
    pub framework_id: FrameworkId,
    /// The agent whose resources these are.
    pub agent_id: AgentId,
    /// The agent's hostname.
    pub hostname: String,
    /// The role the resources are allocated to.
    pub allocation_role: String,
    /// What is offered.
    pub resources: Resources,
    /// The agent's attributes (including `containerizers`).
    pub attributes: Vec<Attribute>,
    /// Executors of this framework already running on the agent.
    pub executor_ids: Vec<ExecutorId>,
}

/// Filters sent with `Decline` and `Accept` (Mesos `Filters`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Do not offer the declined (or left-over) resources of that agent again for this long.
    pub refuse_seconds: f64,
}

impl Default for Filters {
    fn default() -> Self {
        Self {
            refuse_seconds: 5.0,
        }
    }
}
