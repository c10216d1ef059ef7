//! The environment contract between an agent and the executors it launches: the agent
//! sets these variables on the executor's process; the executor driver reads them to find
//! its agent, its identity and its sandbox (Mesos's `MESOS_*` executor environment).

/// QUIC address (`host:port`) of the agent's executor endpoint.
pub const AGENT_ADDR: &str = "DROVER_AGENT_ADDR";
/// The agent's id.
pub const AGENT_ID: &str = "DROVER_AGENT_ID";
/// The executor's framework id.
pub const FRAMEWORK_ID: &str = "DROVER_FRAMEWORK_ID";
/// The executor's id.
pub const EXECUTOR_ID: &str = "DROVER_EXECUTOR_ID";
/// The container the executor runs in.
pub const CONTAINER_ID: &str = "DROVER_CONTAINER_ID";
/// The executor's sandbox directory (also its working directory).
pub const SANDBOX: &str = "DROVER_SANDBOX";
/// Directory holding the cluster CA certificate and the executor certificate.
pub const TLS_DIR: &str = "DROVER_TLS_DIR";
/// Name of the executor certificate in [`TLS_DIR`] (`<name>.pem` / `<name>.key`).
pub const TLS_NAME: &str = "DROVER_TLS_NAME";
/// How long the executor keeps trying to reach a restarted agent before it gives up
/// (seconds, decimal).
pub const RECOVERY_TIMEOUT: &str = "DROVER_RECOVERY_TIMEOUT";
