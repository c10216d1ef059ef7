//! The master's tunables (the `drover master` flags), with defaults tuned for a LAN.

use drover_proto::MasterInfo;
use std::collections::BTreeMap;
use std::time::Duration;

/// Tunables of the master (the `drover master` flags).
#[derive(Clone, Debug)]
pub struct MasterConfig {
    /// Identifies this master to clients.
    pub master_info: MasterInfo,
    /// Interval of scheduler heartbeats.
    pub heartbeat_interval: Duration,
    /// Interval of agent pings.
    pub agent_ping_timeout: Duration,
    /// Missed pings after which an agent is unreachable.
    pub max_agent_ping_timeouts: u32,
    /// After a master restart, how long agents known to the registry have to re-register
    /// before they are marked unreachable.
    pub agent_reregister_timeout: Duration,
    /// How long an unreachable agent is kept before it is removed for good.
    pub agent_removal_timeout: Duration,
    /// Wait this long after a change before allocating, to coalesce changes.
    pub allocation_window: Duration,
    /// Rescind offers not used within this time.
    pub offer_timeout: Option<Duration>,
    /// Role weights (default 1).
    pub weights: BTreeMap<String, f64>,
    /// Offers smaller than this in every dimension are not made.
    pub min_allocatable_cpus: f64,
    /// Offers smaller than this (MB) in every dimension are not made.
    pub min_allocatable_mem: f64,
    /// Completed tasks kept per framework for `/state` (Mesos
    /// `--max_completed_tasks_per_framework`).
    pub max_completed_tasks_per_framework: usize,
    /// Removed frameworks kept for `/state` (Mesos `--max_completed_frameworks`).
    pub max_completed_frameworks: usize,
}

impl MasterConfig {
    /// Defaults tuned for a LAN.
    pub fn new(master_info: MasterInfo) -> Self {
        Self {
            master_info,
            heartbeat_interval: Duration::from_secs(15),
            agent_ping_timeout: Duration::from_millis(500),
            max_agent_ping_timeouts: 4,
            agent_reregister_timeout: Duration::from_secs(10),
            agent_removal_timeout: super::agents::DEFAULT_AGENT_REMOVAL_TIMEOUT,
            allocation_window: Duration::from_millis(5),
            offer_timeout: None,
            weights: BTreeMap::new(),
            min_allocatable_cpus: 0.01,
            min_allocatable_mem: 32.0,
            max_completed_tasks_per_framework:
                super::completed::DEFAULT_MAX_COMPLETED_TASKS_PER_FRAMEWORK,
            max_completed_frameworks: super::completed::DEFAULT_MAX_COMPLETED_FRAMEWORKS,
        }
    }
}
