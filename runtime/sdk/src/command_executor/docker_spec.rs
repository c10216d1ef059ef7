//! Maps a task with a DOCKER [`ContainerInfo`](drover_proto::ContainerInfo) to a
//! [`DockerRunSpec`]: image, command, environment (with `PORT0…`/`PORTS` from the
//! task's `ports` resources), network, port mappings, volumes, parameters, cpus and
//! mem, and the Drover ids as labels. Pure.

use std::path::{Path, PathBuf};

use drover_containerizer_docker::{DockerRunSpec, DroverIds, Network, PortMapping, RunCommand};
use drover_containerizers::Volume;
use drover_proto::{ContainerType, DockerNetwork, TaskInfo, VolumeMode};

/// Who runs the Docker container: the ids for its labels and the engine's socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DockerContext {
    /// The engine's socket.
    pub(crate) socket: PathBuf,
    /// The executor's Drover container id.
    pub(crate) container_id: String,
    /// The agent.
    pub(crate) agent_id: String,
    /// The framework.
    pub(crate) framework_id: String,
    /// The Docker containerizer's scope (its runtime directory), when it set one.
    pub(crate) scope: Option<String>,
}

/// True if the task asks for a Docker container.
pub(crate) fn is_docker(task: &TaskInfo) -> bool {
    task.container
        .as_ref()
        .is_some_and(|c| c.kind == ContainerType::Docker)
}

/// The run spec of a DOCKER task, or why it cannot run.
pub(crate) fn docker_spec(
    task: &TaskInfo,
    ctx: &DockerContext,
    sandbox: &Path,
) -> Result<DockerRunSpec, String> {
    let container = task
        .container
        .as_ref()
        .ok_or_else(|| "the task has no container".to_owned())?;
    let docker = container
        .docker
        .as_ref()
        .ok_or_else(|| "a DOCKER container needs docker settings (an image)".to_owned())?;
    let command = task.command.as_ref();
    let run_command = match command {
        Some(c) if c.shell => c.value.clone().map(RunCommand::Shell),
        Some(c) if !c.arguments.is_empty() => Some(RunCommand::Args(c.arguments.clone())),
        Some(c) => c.value.clone().map(|v| RunCommand::Args(vec![v])),
        None => None,
    };
    let host_ports: Vec<u32> = drover_proto::host_ports::task_ports(&task.resources);
    let mut env: Vec<(String, String)> = command
        .map(|c| {
            c.environment
                .iter()
                .map(|p| (p.key.clone(), p.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (i, port) in host_ports.iter().enumerate() {
        env.push((format!("PORT{i}"), port.to_string()));
    }
    if !host_ports.is_empty() {
        let list: Vec<String> = host_ports.iter().map(u32::to_string).collect();
        env.push(("PORTS".into(), list.join(",")));
    }
    // Host port 0 (Marathon: "any") gets one of the task's ports.
    let assigned =
        drover_proto::host_ports::assign_host_ports(&docker.port_mappings, &task.resources)?;
    let mut port_mappings = Vec::new();
    for (m, host_port) in docker.port_mappings.iter().zip(assigned) {
        let port = |p: u32, what: &str| {
            u16::try_from(p).map_err(|_| format!("{what} port {p} is out of range"))
        };
        port_mappings.push(PortMapping {
            host_port: port(host_port, "host")?,
            container_port: port(m.container_port, "container")?,
            protocol: m.protocol.clone(),
        });
    }
    let volumes = container
        .volumes
        .iter()
        .map(|v| Volume {
            host_path: match &v.host_path {
                Some(h) => PathBuf::from(h),
                None => sandbox.join(v.container_path.trim_start_matches('/')),
            },
            container_path: PathBuf::from(&v.container_path),
            read_only: v.mode == VolumeMode::Ro,
        })
        .collect();
    let mut parameters: Vec<(String, String)> = docker
        .parameters
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    if let Some(hostname) = &container.hostname {
        parameters.push(("hostname".into(), hostname.clone()));
    }
    Ok(DockerRunSpec {
        image: docker.image.clone(),
        command: run_command,
        env,
        network: match &docker.network {
            DockerNetwork::Host => Network::Host,
            DockerNetwork::Bridge => Network::Bridge,
            DockerNetwork::None => Network::None,
            DockerNetwork::User(name) => Network::User(name.clone()),
        },
        port_mappings,
        privileged: docker.privileged,
        force_pull: docker.force_pull_image,
        parameters,
        volumes,
        cpus: task.resources.cpus().as_f64(),
        mem_bytes: (task.resources.mem().as_f64() * 1024.0 * 1024.0) as u64,
        ids: DroverIds {
            container_id: ctx.container_id.clone(),
            task_id: Some(task.task_id.to_string()),
            framework_id: Some(ctx.framework_id.clone()),
            agent_id: Some(ctx.agent_id.clone()),
            scope: ctx.scope.clone(),
        },
        labels: task
            .labels
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect(),
        name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_proto::{
        AgentId, CommandInfo, ContainerInfo, DockerInfo, Parameter, PortMapping as Pm, Resources,
        Volume as ProtoVolume,
    };

    fn ctx() -> DockerContext {
        DockerContext {
            socket: "/var/run/docker.sock".into(),
            container_id: "c1".into(),
            agent_id: "a1".into(),
            framework_id: "f1".into(),
            scope: Some("/w/docker".into()),
        }
    }

    fn task(docker: DockerInfo, resources: &str) -> TaskInfo {
        let mut t = TaskInfo::command(
            "t1",
            AgentId::new("a1"),
            resources.parse::<Resources>().unwrap(),
            CommandInfo::shell("echo hi"),
        );
        t.container = Some(ContainerInfo {
            kind: ContainerType::Docker,
            docker: Some(docker),
            mesos: None,
            volumes: vec![ProtoVolume {
                container_path: "/data".into(),
                host_path: None,
                mode: VolumeMode::Ro,
            }],
            hostname: Some("web".into()),
        });
        t
    }

    #[test]
    fn maps_ports_env_resources_and_ids() {
        let docker = DockerInfo {
            image: "httpd".into(),
            port_mappings: vec![Pm {
                host_port: 31001,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            privileged: true,
            parameters: vec![Parameter::new("env", "A=1")],
            ..DockerInfo::default()
        };
        let t = task(docker, "cpus:0.5;mem:64;ports:[31000-31001]");
        assert!(is_docker(&t));
        let s = docker_spec(&t, &ctx(), Path::new("/sb")).unwrap();
        assert_eq!(s.command, Some(RunCommand::Shell("echo hi".into())));
        assert!(s.env.contains(&("PORT0".into(), "31000".into())));
        assert!(s.env.contains(&("PORT1".into(), "31001".into())));
        assert!(s.env.contains(&("PORTS".into(), "31000,31001".into())));
        assert_eq!(s.port_mappings[0].host_port, 31001);
        assert_eq!(s.cpus, 0.5);
        assert_eq!(s.mem_bytes, 64 << 20);
        assert_eq!(s.volumes[0].host_path, PathBuf::from("/sb/data"));
        assert!(s.volumes[0].read_only);
        assert!(s.parameters.contains(&("hostname".into(), "web".into())));
        assert_eq!(s.ids.task_id.as_deref(), Some("t1"));
        assert_eq!(s.ids.scope.as_deref(), Some("/w/docker"));
        assert!(s.to_create_body().is_ok());
    }

    #[test]
    fn host_port_outside_the_resources_is_refused() {
        let docker = DockerInfo {
            image: "httpd".into(),
            port_mappings: vec![Pm {
                host_port: 80,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            ..DockerInfo::default()
        };
        let err = docker_spec(&task(docker, "cpus:1;mem:32"), &ctx(), Path::new("/sb"));
        assert!(err.unwrap_err().contains("80"));
    }

    #[test]
    fn host_port_zero_gets_a_task_port() {
        let docker = DockerInfo {
            image: "httpd".into(),
            port_mappings: vec![Pm {
                host_port: 0,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            ..DockerInfo::default()
        };
        let t = task(docker, "cpus:1;mem:32;ports:[31005-31005]");
        let s = docker_spec(&t, &ctx(), Path::new("/sb")).unwrap();
        assert_eq!(s.port_mappings[0].host_port, 31005);
        assert!(s.env.contains(&("PORT0".into(), "31005".into())));
    }
}
