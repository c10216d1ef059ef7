//! [`ExecutorConfig`]: who the executor is and where its agent is, read from the
//! agent→executor environment contract ([`drover_proto::executor_env`]).

use std::path::PathBuf;
use std::time::Duration;

use drover_proto::executor_env as env;
use drover_proto::{AgentId, ContainerId, ExecutorId, FrameworkId};

use crate::error::SdkError;

/// How long an executor waits for a restarted agent when `DROVER_RECOVERY_TIMEOUT` is
/// not set (Mesos's default).
pub const DEFAULT_RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Everything [`super::ExecutorDriver::start`] needs; normally from
/// [`ExecutorConfig::from_env`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutorConfig {
    /// The agent's executor endpoint, `host:port` (`DROVER_AGENT_ADDR`).
    pub agent_addr: String,
    /// The agent (`DROVER_AGENT_ID`).
    pub agent_id: AgentId,
    /// The executor's framework (`DROVER_FRAMEWORK_ID`).
    pub framework_id: FrameworkId,
    /// The executor (`DROVER_EXECUTOR_ID`).
    pub executor_id: ExecutorId,
    /// The container the agent started it in (`DROVER_CONTAINER_ID`).
    pub container_id: ContainerId,
    /// The sandbox directory, also the working directory of tasks (`DROVER_SANDBOX`).
    pub sandbox: PathBuf,
    /// Directory with `ca.pem` and the executor certificate (`DROVER_TLS_DIR`).
    pub tls_dir: PathBuf,
    /// Name of the executor certificate (`DROVER_TLS_NAME`).
    pub tls_name: String,
    /// How long to keep trying to reach the agent (`DROVER_RECOVERY_TIMEOUT`, seconds)
    /// before shutting down; also bounds the first subscription.
    pub recovery_timeout: Duration,
    /// After the recovery timeout, how long [`super::Executor::shutdown`] gets to kill
    /// the tasks before the driver ends anyway.
    pub recovery_shutdown_grace: Duration,
}

impl ExecutorConfig {
    /// Reads the environment contract from this process's environment.
    pub fn from_env() -> Result<Self, SdkError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Reads the environment contract through `lookup` (a variable's value, if set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SdkError> {
        let required = |var: &'static str| -> Result<String, SdkError> {
            match lookup(var) {
                Some(v) if !v.trim().is_empty() => Ok(v),
                _ => Err(SdkError::MissingEnv { var }),
            }
        };
        let agent_addr = required(env::AGENT_ADDR)?;
        check_addr(&agent_addr)?;
        let recovery_timeout = match lookup(env::RECOVERY_TIMEOUT) {
            None => DEFAULT_RECOVERY_TIMEOUT,
            Some(v) if v.trim().is_empty() => DEFAULT_RECOVERY_TIMEOUT,
            Some(v) => parse_seconds(env::RECOVERY_TIMEOUT, &v)?,
        };
        Ok(Self {
            agent_addr,
            agent_id: AgentId::new(required(env::AGENT_ID)?),
            framework_id: FrameworkId::new(required(env::FRAMEWORK_ID)?),
            executor_id: ExecutorId::new(required(env::EXECUTOR_ID)?),
            container_id: ContainerId::new(required(env::CONTAINER_ID)?),
            sandbox: PathBuf::from(required(env::SANDBOX)?),
            tls_dir: PathBuf::from(required(env::TLS_DIR)?),
            tls_name: required(env::TLS_NAME)?,
            recovery_timeout,
            recovery_shutdown_grace: Duration::from_secs(5),
        })
    }
}

/// `host:port` with a numeric port and a non-empty host.
fn check_addr(value: &str) -> Result<(), SdkError> {
    let invalid = |reason: &str| SdkError::InvalidEnv {
        var: env::AGENT_ADDR,
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port"))?;
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    port.parse::<u16>()
        .map_err(|_| invalid("the port is not a number in 0-65535"))?;
    Ok(())
}

/// Decimal seconds, finite and not negative.
fn parse_seconds(var: &'static str, value: &str) -> Result<Duration, SdkError> {
    let invalid = |reason: String| SdkError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason,
    };
    let secs: f64 = value
        .trim()
        .parse()
        .map_err(|_| invalid("expected seconds, e.g. 900 or 2.5".to_owned()))?;
    Duration::try_from_secs_f64(secs).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<&'static str, String> {
        [
            (env::AGENT_ADDR, "127.0.0.1:5051"),
            (env::AGENT_ID, "a1"),
            (env::FRAMEWORK_ID, "f1"),
            (env::EXECUTOR_ID, "e1"),
            (env::CONTAINER_ID, "c1"),
            (env::SANDBOX, "/sandbox"),
            (env::TLS_DIR, "/tls"),
            (env::TLS_NAME, "executor-c1"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect()
    }

    fn read(vars: &HashMap<&'static str, String>) -> Result<ExecutorConfig, SdkError> {
        ExecutorConfig::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn reads_the_contract_with_the_default_recovery_timeout() {
        let cfg = read(&vars()).expect("valid env");
        assert_eq!(cfg.agent_addr, "127.0.0.1:5051");
        assert_eq!(cfg.container_id, ContainerId::new("c1"));
        assert_eq!(cfg.sandbox, PathBuf::from("/sandbox"));
        assert_eq!(cfg.recovery_timeout, DEFAULT_RECOVERY_TIMEOUT);
    }

    #[test]
    fn recovery_timeout_is_decimal_seconds() {
        let mut v = vars();
        v.insert(env::RECOVERY_TIMEOUT, "2.5".to_owned());
        assert_eq!(
            read(&v).expect("valid").recovery_timeout,
            Duration::from_millis(2500)
        );
        for bad in ["-1", "soon", "inf"] {
            v.insert(env::RECOVERY_TIMEOUT, bad.to_owned());
            let err = read(&v).expect_err(bad);
            assert!(
                matches!(err, SdkError::InvalidEnv { var, .. } if var == env::RECOVERY_TIMEOUT)
            );
        }
    }

    #[test]
    fn a_missing_variable_is_named() {
        let mut v = vars();
        v.remove(env::CONTAINER_ID);
        let err = read(&v).expect_err("missing");
        assert!(matches!(err, SdkError::MissingEnv { var } if var == env::CONTAINER_ID));
        assert!(err.to_string().contains("DROVER_CONTAINER_ID"));
    }

    #[test]
    fn a_bad_agent_address_is_refused() {
        for bad in ["localhost", ":5051", "host:port", "host:70000"] {
            let mut v = vars();
            v.insert(env::AGENT_ADDR, bad.to_owned());
            assert!(
                matches!(read(&v), Err(SdkError::InvalidEnv { var, .. }) if var == env::AGENT_ADDR),
                "{bad} accepted"
            );
        }
    }
}
