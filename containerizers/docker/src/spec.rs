//! What to run as a Docker container ([`DockerRunSpec`]) and its translation to an
//! Engine API create body. Pure: no engine calls, tested without Docker.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use drover_containerizers::Volume;

use crate::error::DockerError;
use crate::params::{add_port, apply_parameter};

/// Label holding the Drover container id (of the executor's container).
pub const LABEL_CONTAINER_ID: &str = "drover.container_id";
/// Label holding the Drover task id.
pub const LABEL_TASK_ID: &str = "drover.task_id";
/// Label holding the Drover framework id.
pub const LABEL_FRAMEWORK_ID: &str = "drover.framework_id";
/// Label holding the Drover agent id.
pub const LABEL_AGENT_ID: &str = "drover.agent_id";
/// Label holding the scope of the Docker containerizer that owns the container (its
/// runtime directory): recovery only touches containers of its own scope, so that
/// several agents can share one engine.
pub const LABEL_SCOPE: &str = "drover.scope";

/// CPU shares per CPU (Mesos: 1024).
pub const CPU_SHARES_PER_CPU: f64 = 1024.0;
/// Docker refuses less than this (bytes) as a memory limit.
pub const MIN_MEMORY_BYTES: u64 = 6 << 20;

/// The container's main program. `None` in [`DockerRunSpec::command`] keeps the image's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunCommand {
    /// `/bin/sh -c <script>` (as entrypoint, like Mesos).
    Shell(String),
    /// These arguments as the image's `Cmd` (the image's entrypoint stays).
    Args(Vec<String>),
}

/// Docker networking mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Network {
    /// The host's network namespace.
    Host,
    /// Docker's default bridge; port mappings apply.
    #[default]
    Bridge,
    /// Loopback only.
    None,
    /// A user-defined network, by name.
    User(String),
}

/// A container port published on a host port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// Port on the host.
    pub host_port: u16,
    /// Port in the container.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// The Drover ids a container is labelled with (for recovery and for people).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DroverIds {
    /// The Drover container id of the executor that runs this container.
    pub container_id: String,
    /// The task.
    pub task_id: Option<String>,
    /// The task's framework.
    pub framework_id: Option<String>,
    /// The agent.
    pub agent_id: Option<String>,
    /// The owning containerizer's scope (see [`LABEL_SCOPE`]).
    pub scope: Option<String>,
}

/// Everything needed to run one container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DockerRunSpec {
    /// Image reference.
    pub image: String,
    /// Main program; `None` runs the image's default.
    pub command: Option<RunCommand>,
    /// Environment (added to the image's).
    pub env: Vec<(String, String)>,
    /// Networking mode.
    pub network: Network,
    /// Published ports (BRIDGE and USER networks).
    pub port_mappings: Vec<PortMapping>,
    /// Run privileged.
    pub privileged: bool,
    /// Pull even if the image is present.
    pub force_pull: bool,
    /// docker-run flags as key/value (see [`crate::params`]).
    pub parameters: Vec<(String, String)>,
    /// Host paths to bind-mount.
    pub volumes: Vec<Volume>,
    /// CPUs → cpu shares (1024 per cpu); `0.0`: not limited.
    pub cpus: f64,
    /// Memory limit, bytes; `0`: not limited.
    pub mem_bytes: u64,
    /// Drover ids for the labels.
    pub ids: DroverIds,
    /// Extra labels.
    pub labels: Vec<(String, String)>,
    /// Container name; `None` lets Docker pick.
    pub name: Option<String>,
}

impl DockerRunSpec {
    /// The Engine API create body, or what is wrong with the spec (unknown parameter,
    /// empty image, port mappings on a network without them).
    pub fn to_create_body(&self) -> Result<ContainerCreateBody, DockerError> {
        if self.image.trim().is_empty() {
            return Err(DockerError::InvalidSpec("the image is empty".into()));
        }
        if self.ids.container_id.is_empty() {
            return Err(DockerError::InvalidSpec(
                "the Drover container id (label) is empty".into(),
            ));
        }
        let mut labels = HashMap::new();
        labels.insert(LABEL_CONTAINER_ID.to_owned(), self.ids.container_id.clone());
        for (key, value) in [
            (LABEL_TASK_ID, &self.ids.task_id),
            (LABEL_FRAMEWORK_ID, &self.ids.framework_id),
            (LABEL_AGENT_ID, &self.ids.agent_id),
            (LABEL_SCOPE, &self.ids.scope),
        ] {
            if let Some(v) = value {
                labels.insert(key.to_owned(), v.clone());
            }
        }
        labels.extend(self.labels.iter().cloned());
        let (entrypoint, cmd) = match &self.command {
            Some(RunCommand::Shell(script)) => (
                Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]),
                Some(vec![script.clone()]),
            ),
            Some(RunCommand::Args(args)) => (None, Some(args.clone())),
            None => (None, None),
        };
        let network_mode = match &self.network {
            Network::Host => "host".to_owned(),
            Network::Bridge => "bridge".to_owned(),
            Network::None => "none".to_owned(),
            Network::User(name) => name.clone(),
        };
        let host = HostConfig {
            network_mode: Some(network_mode),
            privileged: Some(self.privileged),
            binds: Some(self.volumes.iter().map(bind).collect()),
            cpu_shares: (self.cpus > 0.0)
                .then(|| ((self.cpus * CPU_SHARES_PER_CPU).round() as i64).max(2)),
            memory: (self.mem_bytes > 0)
                .then(|| i64::try_from(self.mem_bytes.max(MIN_MEMORY_BYTES)).unwrap_or(i64::MAX)),
            ..HostConfig::default()
        };
        let mut body = ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint,
            cmd,
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            host_config: Some(host),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..ContainerCreateBody::default()
        };
        if !self.port_mappings.is_empty() && matches!(self.network, Network::Host | Network::None) {
            return Err(DockerError::InvalidSpec(format!(
                "port mappings need a BRIDGE or USER network, not {:?}",
                self.network
            )));
        }
        for m in &self.port_mappings {
            let binding = PortBinding {
                host_ip: None,
                host_port: Some(m.host_port.to_string()),
            };
            let proto = if m.protocol.is_empty() {
                "tcp"
            } else {
                m.protocol.as_str()
            };
            add_port(&mut body, &format!("{}/{proto}", m.container_port), binding);
        }
        for (key, value) in &self.parameters {
            apply_parameter(&mut body, key, value)?;
        }
        Ok(body)
    }
}

/// `host:container[:ro]`.
fn bind(v: &Volume) -> String {
    let mode = if v.read_only { ":ro" } else { ":rw" };
    format!(
        "{}:{}{mode}",
        v.host_path.display(),
        v.container_path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DockerRunSpec {
        DockerRunSpec {
            image: "httpd".into(),
            ids: DroverIds {
                container_id: "c1".into(),
                task_id: Some("t1".into()),
                ..DroverIds::default()
            },
            ..DockerRunSpec::default()
        }
    }

    /// The container section of a real Marathon app maps without loss.
    #[test]
    fn marathon_httpd_example_maps() {
        let mut s = spec();
        s.privileged = true;
        s.network = Network::Bridge;
        s.parameters = vec![("publish".into(), "80:80".into())];
        s.volumes = vec![Volume {
            host_path: "/var/nfsshare/htdocs".into(),
            container_path: "/usr/local/apache2/htdocs".into(),
            read_only: true,
        }];
        s.cpus = 0.5;
        s.mem_bytes = 64 << 20;
        let b = s.to_create_body().unwrap();
        let h = b.host_config.as_ref().unwrap();
        assert_eq!(h.privileged, Some(true));
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        assert_eq!(
            h.binds.as_deref().unwrap(),
            ["/var/nfsshare/htdocs:/usr/local/apache2/htdocs:ro"]
        );
        let p = h.port_bindings.as_ref().unwrap()["80/tcp"]
            .as_ref()
            .unwrap();
        assert_eq!(p[0].host_port.as_deref(), Some("80"));
        assert_eq!(h.cpu_shares, Some(512));
        assert_eq!(h.memory, Some(64 << 20));
        let labels = b.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_CONTAINER_ID], "c1");
        assert_eq!(labels[LABEL_TASK_ID], "t1");
        assert_eq!(b.image.as_deref(), Some("httpd"));
        assert!(b.cmd.is_none(), "the image's command is kept");
    }

    #[test]
    fn shell_command_runs_under_sh() {
        let mut s = spec();
        s.command = Some(RunCommand::Shell("echo hi".into()));
        let b = s.to_create_body().unwrap();
        assert_eq!(b.entrypoint.as_deref().unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(b.cmd.as_deref().unwrap(), ["echo hi"]);
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut s = spec();
        s.image = " ".into();
        assert!(s.to_create_body().is_err());
        let mut s = spec();
        s.network = Network::Host;
        s.port_mappings = vec![PortMapping {
            host_port: 1,
            container_port: 2,
            protocol: "tcp".into(),
        }];
        assert!(s.to_create_body().is_err());
        let mut s = spec();
        s.parameters = vec![("pid".into(), "host".into())];
        let err = s.to_create_body().unwrap_err().to_string();
        assert!(err.contains("pid"), "{err}");
    }
}
