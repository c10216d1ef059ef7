//! The one error type of the SDK, [`SdkError`]: what can go wrong when a driver is
//! configured, started, used or when it ends.

use std::time::Duration;

/// Why an SDK operation failed or a driver ended. Every variant says what to fix or
/// what happened; none of them is a bug in the caller's process except
/// [`SdkError::DriverPanicked`].
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The driver configuration is unusable (e.g. no master address); fix the config.
    #[error("invalid driver configuration: {0}")]
    Config(String),
    /// A variable of the agent→executor environment contract is missing: the executor
    /// was not started by a Drover agent, or the agent is of another version.
    #[error("environment variable {var} is not set (is this process started by a Drover agent?)")]
    MissingEnv {
        /// The variable, e.g. `DROVER_AGENT_ADDR`.
        var: &'static str,
    },
    /// A variable of the environment contract holds a value that cannot be used.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The node identity (CA, certificate, key) could not be loaded from the TLS dir.
    #[error("cannot load the TLS identity {name:?} from {dir}: {reason}")]
    Identity {
        /// The certificate directory.
        dir: String,
        /// The certificate name.
        name: String,
        /// What the transport reported.
        reason: String,
    },
    /// The transport refused to set up a link or endpoint.
    #[error("transport error: {0}")]
    Transport(String),
    /// The driver thread or its runtime could not be started.
    #[error("cannot start the driver runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The driver has stopped: the call was not sent.
    #[error("the driver is stopped")]
    Stopped,
    /// The master removed the framework (torn down by someone else, failover timeout
    /// passed, or the subscription was refused). The framework must start afresh.
    #[error("the master removed the framework: {message}")]
    FrameworkRemoved {
        /// The master's explanation.
        message: String,
    },
    /// The agent refused the executor (unknown container, wrong framework).
    #[error("the agent refused the executor: {message}")]
    AgentRefused {
        /// The agent's explanation.
        message: String,
    },
    /// The agent stayed unreachable for longer than the recovery timeout
    /// (`DROVER_RECOVERY_TIMEOUT`): the executor gave up.
    #[error("the agent did not come back within the recovery timeout of {timeout:?}")]
    RecoveryTimeout {
        /// The timeout that passed.
        timeout: Duration,
    },
    /// A callback of the scheduler or executor panicked and took the driver down.
    #[error("the driver thread panicked: {0}")]
    DriverPanicked(String),
}
