//! Marathon's `container` section of an app definition → Drover's
//! [`drover_sdk::proto::ContainerInfo`], without loss: every field is
//! either mapped or refused by name (unknown fields are errors, never dropped).
//!
//! ```text
//!  {"type":"DOCKER",                         ContainerInfo { kind: Docker,
//!   "docker":{"image","privileged",            docker: DockerInfo { image, privileged,
//!             "network","parameters",            network, parameters, force_pull_image,
//!             "forcePullImage","portMappings"},  port_mappings (docker.* or container.*) },
//!   "portMappings":[{containerPort,hostPort,   volumes: [{container_path, host_path,
//!                    protocol}],                          mode RO|RW}] }
//!   "volumes":[{containerPath,hostPath,mode}]}
//! ```
//!
//! `hostPort` 0 (or absent) means "any port of the task's": see
//! [`drover_sdk::proto::host_ports`]. Pure.

use drover_sdk::proto::{
    ContainerInfo, ContainerType, DockerInfo, DockerNetwork, MesosInfo, Parameter, PortMapping,
    Volume, VolumeMode,
};
use serde::Deserialize;

/// Why a Marathon container section cannot be mapped.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// Not JSON, or a field that is unknown or of the wrong type (serde names it).
    #[error("invalid Marathon container: {0}")]
    Json(#[from] serde_json::Error),
    /// A value Drover does not support.
    #[error("invalid Marathon container: {0}")]
    Invalid(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Container {
    #[serde(rename = "type", default = "docker_type")]
    kind: String,
    docker: Option<Docker>,
    #[serde(default)]
    volumes: Vec<MarathonVolume>,
    #[serde(default)]
    port_mappings: Vec<MarathonPortMapping>,
}

fn docker_type() -> String {
    "DOCKER".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Docker {
    image: String,
    #[serde(default)]
    privileged: bool,
    #[serde(default)]
    network: Option<String>,
    /// Name of the USER network (Drover's spelling; Marathon puts it in `networks`).
    #[serde(default)]
    network_name: Option<String>,
    #[serde(default)]
    parameters: Vec<KeyValue>,
    #[serde(default)]
    force_pull_image: bool,
    #[serde(default)]
    port_mappings: Vec<MarathonPortMapping>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyValue {
    key: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MarathonPortMapping {
    container_port: u32,
    #[serde(default)]
    host_port: u32,
    #[serde(default)]
    protocol: Option<String>,
    /// Marathon's service port (load balancer side): not Drover's business, accepted.
    #[serde(default)]
    service_port: Option<u32>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MarathonVolume {
    container_path: String,
    #[serde(default)]
    host_path: Option<String>,
    #[serde(default)]
    mode: Option<String>,
}

/// Maps a Marathon `container` JSON object.
pub fn container_from_json(json: &str) -> Result<ContainerInfo, ContainerError> {
    let c: Container = serde_json::from_str(json)?;
    let invalid = |m: String| ContainerError::Invalid(m);
    let volumes = c
        .volumes
        .into_iter()
        .map(|v| {
            let mode = match v.mode.as_deref().unwrap_or("RW") {
                "RO" => VolumeMode::Ro,
                "RW" => VolumeMode::Rw,
                other => return Err(invalid(format!("volume mode `{other}` (RO or RW)"))),
            };
            Ok(Volume {
                container_path: v.container_path,
                host_path: v.host_path,
                mode,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mappings = |list: Vec<MarathonPortMapping>| -> Result<Vec<PortMapping>, ContainerError> {
        list.into_iter()
            .map(|m| {
                let _ = (m.service_port, m.name);
                let protocol = m.protocol.unwrap_or_else(|| "tcp".into());
                if !matches!(protocol.as_str(), "tcp" | "udp") {
                    return Err(invalid(format!("port mapping protocol `{protocol}`")));
                }
                Ok(PortMapping {
                    host_port: m.host_port,
                    container_port: m.container_port,
                    protocol,
                })
            })
            .collect()
    };
    let mut port_mappings = mappings(c.port_mappings)?;
    match c.kind.as_str() {
        "DOCKER" => {
            let d = c
                .docker
                .ok_or_else(|| invalid("a DOCKER container needs `docker` (an image)".into()))?;
            port_mappings.extend(mappings(d.port_mappings)?);
            let network = match (d.network.as_deref().unwrap_or("BRIDGE"), d.network_name) {
                ("BRIDGE", _) => DockerNetwork::Bridge,
                ("HOST", _) => DockerNetwork::Host,
                ("NONE", _) => DockerNetwork::None,
                ("USER", Some(name)) => DockerNetwork::User(name),
                ("USER", None) => return Err(invalid("network USER needs `networkName`".into())),
                (other, _) => return Err(invalid(format!("network `{other}`"))),
            };
            Ok(ContainerInfo {
                kind: ContainerType::Docker,
                docker: Some(DockerInfo {
                    image: d.image,
                    network,
                    port_mappings,
                    privileged: d.privileged,
                    parameters: d
                        .parameters
                        .into_iter()
                        .map(|p| Parameter::new(p.key, p.value))
                        .collect(),
                    force_pull_image: d.force_pull_image,
                }),
                mesos: None,
                volumes,
                hostname: None,
            })
        }
        "MESOS" => {
            if !port_mappings.is_empty() {
                return Err(invalid("port mappings need a DOCKER container".into()));
            }
            Ok(ContainerInfo {
                kind: ContainerType::Mesos,
                docker: None,
                mesos: Some(MesosInfo {
                    image: c.docker.map(|d| d.image),
                }),
                volumes,
                hostname: None,
            })
        }
        other => Err(invalid(format!(
            "container type `{other}` (DOCKER or MESOS)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The container section of a real Marathon app, from the issue.
    const HTTPD: &str = r#"{"type":"DOCKER","docker":{"image":"httpd","privileged":true,"network":"BRIDGE","parameters":[{"key":"publish","value":"80:80"}]},"volumes":[{"containerPath":"/usr/local/apache2/htdocs","hostPath":"/var/nfsshare/htdocs","mode":"RO"}]}"#;

    #[test]
    fn the_marathon_httpd_example_maps_without_loss() {
        let c = container_from_json(HTTPD).unwrap();
        assert_eq!(c.kind, ContainerType::Docker);
        let d = c.docker.unwrap();
        assert_eq!(d.image, "httpd");
        assert!(d.privileged);
        assert_eq!(d.network, DockerNetwork::Bridge);
        assert_eq!(d.parameters, vec![Parameter::new("publish", "80:80")]);
        assert!(!d.force_pull_image && d.port_mappings.is_empty());
        assert_eq!(
            c.volumes,
            vec![Volume {
                container_path: "/usr/local/apache2/htdocs".into(),
                host_path: Some("/var/nfsshare/htdocs".into()),
                mode: VolumeMode::Ro,
            }]
        );
    }

    #[test]
    fn port_mappings_and_unknown_fields() {
        let c = container_from_json(
            r#"{"type":"DOCKER","docker":{"image":"x","portMappings":[{"containerPort":80,"hostPort":0}]},
                "portMappings":[{"containerPort":53,"protocol":"udp","servicePort":10000}]}"#,
        )
        .unwrap();
        let pm = c.docker.unwrap().port_mappings;
        assert_eq!((pm[0].container_port, pm[0].host_port), (53, 0));
        assert_eq!(pm[0].protocol, "udp");
        assert_eq!(pm[1].container_port, 80);
        let err =
            container_from_json(r#"{"type":"DOCKER","docker":{"image":"x","credential":{}}}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("credential"), "{err}");
        assert!(
            container_from_json(r#"{"type":"DOCKER","docker":{"image":"x","network":"WAN"}}"#)
                .is_err()
        );
    }
}
