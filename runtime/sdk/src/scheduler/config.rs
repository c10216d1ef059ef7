//! [`SchedulerConfig`]: where the masters are, who the scheduler is (TLS identity and
//! [`FrameworkInfo`]) and how the driver behaves (acknowledgements, timeouts).

use std::path::PathBuf;
use std::time::Duration;

use drover_proto::FrameworkInfo;

use crate::error::SdkError;

/// Default of [`SchedulerConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Smallest accepted [`SchedulerConfig::idle_timeout`].
pub const MIN_IDLE_TIMEOUT: Duration = Duration::from_millis(100);

/// Everything [`super::SchedulerDriver::start`] needs.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Master QUIC addresses (`host:port`), tried in turn until one subscribes the
    /// framework.
    pub masters: Vec<String>,
    /// Directory with `ca.pem`, `<tls_name>.pem` and `<tls_name>.key`.
    pub tls_dir: PathBuf,
    /// Name of the scheduler certificate in `tls_dir` (role `scheduler`).
    pub tls_name: String,
    /// The framework. Set `framework.id` to fail over a framework that ran before
    /// (its id is [`super::SchedulerDriver::framework_id`] of the earlier run).
    pub framework: FrameworkInfo,
    /// `false` (default): the driver acknowledges every update that carries a uuid once
    /// [`super::Scheduler::status_update`] returns. `true`: the scheduler must call
    /// [`super::SchedulerDriver::acknowledge`], e.g. after persisting the update.
    pub explicit_acks: bool,
    /// How long a connected master may take to answer `Subscribe` before the driver
    /// moves on to the next master.
    pub subscribe_timeout: Duration,
    /// The master is presumed gone after this many heartbeat intervals without any
    /// event; the driver then moves on to the next master.
    pub missed_heartbeats: u32,
    /// The QUIC idle timeout the scheduler's connections propose (default 1.5 s, with a
    /// keep-alive every fifth of it). QUIC uses the smaller of the two peers' values, so
    /// this is also how long the master takes to notice that the scheduler died (its
    /// `failover_timeout` starts then) — instead of the transport's 5 s. Keep-alives
    /// run on the transport's threads, so a busy scheduler callback does not delay them.
    pub idle_timeout: Duration,
}

impl SchedulerConfig {
    /// A config with implicit acknowledgements and default timings (subscribe timeout
    /// 10 s, 5 missed heartbeats, idle timeout 1.5 s). Reconnect backoff is the transport link's.
    pub fn new(
        masters: Vec<String>,
        tls_dir: impl Into<PathBuf>,
        tls_name: impl Into<String>,
        framework: FrameworkInfo,
    ) -> Self {
        Self {
            masters,
            tls_dir: tls_dir.into(),
            tls_name: tls_name.into(),
            framework,
            explicit_acks: false,
            subscribe_timeout: Duration::from_secs(10),
            missed_heartbeats: 5,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// Sets [`SchedulerConfig::explicit_acks`].
    pub fn with_explicit_acks(mut self, explicit: bool) -> Self {
        self.explicit_acks = explicit;
        self
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), SdkError> {
        if self.masters.is_empty() {
            return Err(SdkError::Config("no master address given".to_owned()));
        }
        if let Some(bad) = self.masters.iter().find(|m| m.trim().is_empty()) {
            return Err(SdkError::Config(format!("empty master address {bad:?}")));
        }
        if self.tls_name.trim().is_empty() {
            return Err(SdkError::Config("empty TLS certificate name".to_owned()));
        }
        if self.framework.name.trim().is_empty() {
            return Err(SdkError::Config("the framework has no name".to_owned()));
        }
        if self.subscribe_timeout.is_zero() {
            return Err(SdkError::Config("subscribe_timeout must be > 0".to_owned()));
        }
        if self.idle_timeout < MIN_IDLE_TIMEOUT {
            return Err(SdkError::Config(format!(
                "idle_timeout must be at least {MIN_IDLE_TIMEOUT:?}, not {:?}",
                self.idle_timeout
            )));
        }
        if self.missed_heartbeats == 0 {
            return Err(SdkError::Config("missed_heartbeats must be > 0".to_owned()));
        }
        Ok(())
    }
}
