//! What the agent checks of a DOCKER task before it starts an executor for it, so that
//! a task that cannot run ends `TASK_ERROR` with a reason instead of failing later in
//! the executor: an image, docker-run `parameters` it knows (an unknown key is named),
//! port mappings only on BRIDGE/USER networks and with host ports from the task's
//! `ports` resources (0: any of them). Pure.

use drover_proto::{ContainerType, DockerNetwork, TaskInfo};

/// Why the DOCKER task cannot run (`Ok` for other tasks).
pub(super) fn validate_docker(task: &TaskInfo) -> Result<(), String> {
    let container = task
        .executor
        .as_ref()
        .and_then(|e| e.container.as_ref())
        .or(task.container.as_ref());
    let Some(c) = container.filter(|c| c.kind == ContainerType::Docker) else {
        return Ok(());
    };
    let Some(docker) = &c.docker else {
        return Err("a DOCKER container needs docker settings (an image)".into());
    };
    if docker.image.trim().is_empty() {
        return Err("the DOCKER container's image is empty".into());
    }
    drover_containerizer_docker::params::validate_parameters(
        docker
            .parameters
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str())),
    )
    .map_err(|e| e.to_string())?;
    if !docker.port_mappings.is_empty() {
        if matches!(docker.network, DockerNetwork::Host | DockerNetwork::None) {
            return Err(format!(
                "port mappings need a BRIDGE or USER network, not {:?}",
                docker.network
            ));
        }
        drover_proto::host_ports::assign_host_ports(&docker.port_mappings, &task.resources)?;
    }
    Ok(())
}
