//! docker-run flags given as key/value `parameters` (Mesos/Marathon `docker.parameters`)
//! applied to a container create body. Pure: no engine calls.
//!
//! Supported keys (with or without leading dashes): `publish`/`p`, `env`/`e`,
//! `label`/`l`, `volume`/`v`, `user`/`u`, `workdir`/`w`, `hostname`/`h`, `add-host`,
//! `cap-add`, `cap-drop`, `ulimit`, `memory-swap`, `shm-size`, `entrypoint`. Any other
//! key is refused with [`DockerError::Parameter`] naming it.

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, ResourcesUlimits};

use crate::error::DockerError;

/// Applies one `key=value` docker-run flag to `body`.
pub fn apply_parameter(
    body: &mut ContainerCreateBody,
    key: &str,
    value: &str,
) -> Result<(), DockerError> {
    let bad = |message: String| DockerError::Parameter {
        key: key.to_owned(),
        message,
    };
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    match key.trim_start_matches('-') {
        "publish" | "p" => {
            let (binding, container_port) = parse_publish(value).map_err(bad)?;
            add_port(body, &container_port, binding);
        }
        "env" | "e" => {
            if !value.contains('=') {
                return Err(bad(format!("`{value}` is not NAME=VALUE")));
            }
            body.env.get_or_insert_with(Vec::new).push(value.to_owned());
        }
        "label" | "l" => {
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            body.labels
                .get_or_insert_with(Default::default)
                .insert(k.to_owned(), v.to_owned());
        }
        "volume" | "v" => {
            let parts: Vec<&str> = value.split(':').collect();
            let ok = match parts.as_slice() {
                [h, c] => !h.is_empty() && !c.is_empty(),
                [h, c, m] => !h.is_empty() && !c.is_empty() && matches!(*m, "ro" | "rw"),
                _ => false,
            };
            if !ok {
                return Err(bad(format!("`{value}` is not HOST:CONTAINER[:ro|rw]")));
            }
            host.binds
                .get_or_insert_with(Vec::new)
                .push(value.to_owned());
        }
        "user" | "u" => body.user = Some(value.to_owned()),
        "workdir" | "w" => body.working_dir = Some(value.to_owned()),
        "hostname" | "h" => body.hostname = Some(value.to_owned()),
        "add-host" => {
            if !value.contains(':') {
                return Err(bad(format!("`{value}` is not HOST:IP")));
            }
            host.extra_hosts
                .get_or_insert_with(Vec::new)
                .push(value.to_owned());
        }
        "cap-add" => host
            .cap_add
            .get_or_insert_with(Vec::new)
            .push(value.to_owned()),
        "cap-drop" => host
            .cap_drop
            .get_or_insert_with(Vec::new)
            .push(value.to_owned()),
        "ulimit" => {
            let limit = parse_ulimit(value).map_err(bad)?;
            host.ulimits.get_or_insert_with(Vec::new).push(limit);
        }
        "memory-swap" => {
            let bytes = if value == "-1" {
                -1
            } else {
                parse_size(value).map_err(bad)?
            };
            host.memory_swap = Some(bytes);
        }
        "shm-size" => host.shm_size = Some(parse_size(value).map_err(bad)?),
        "entrypoint" => {
            let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
            body.entrypoint = Some(words);
        }
        _ => {
            return Err(bad(
                "unknown parameter; supported: publish, env, label, volume, user, workdir, \
                 hostname, add-host, cap-add, cap-drop, ulimit, memory-swap, shm-size, entrypoint"
                    .into(),
            ))
        }
    }
    Ok(())
}

/// Checks docker-run `parameters` without an engine (e.g. before a task launches):
/// the first unknown or malformed one is a [`DockerError::Parameter`] naming its key.
pub fn validate_parameters<'a>(
    parameters: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), DockerError> {
    let mut body = ContainerCreateBody::default();
    for (key, value) in parameters {
        apply_parameter(&mut body, key, value)?;
    }
    Ok(())
}

/// Publishes `container_port` (`80/tcp`) on `binding`.
pub(crate) fn add_port(body: &mut ContainerCreateBody, container_port: &str, binding: PortBinding) {
    let exposed = body.exposed_ports.get_or_insert_with(Vec::new);
    if !exposed.iter().any(|p| p == container_port) {
        exposed.push(container_port.to_owned());
    }
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    host.port_bindings
        .get_or_insert_with(Default::default)
        .entry(container_port.to_owned())
        .or_insert_with(|| Some(Vec::new()))
        .get_or_insert_with(Vec::new)
        .push(binding);
}

/// `[ip:]hostPort:containerPort[/proto]` → binding and `containerPort/proto`.
fn parse_publish(value: &str) -> Result<(PortBinding, String), String> {
    let (ports, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(format!("unknown protocol `{proto}` in `{value}`"));
    }
    let parts: Vec<&str> = ports.split(':').collect();
    let (ip, host_port, container) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), Some(*h).filter(|h| !h.is_empty()), *c),
        _ => {
            return Err(format!(
                "`{value}` is not [IP:]HOSTPORT:CONTAINERPORT[/PROTO]"
            ))
        }
    };
    let port = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` is not a port number in `{value}`"))
    };
    let container = port(container)?;
    if let Some(h) = host_port {
        port(h)?;
    }
    let binding = PortBinding {
        host_ip: ip.map(str::to_owned),
        host_port: host_port.map(str::to_owned),
    };
    Ok((binding, format!("{container}/{proto}")))
}

/// `name=soft[:hard]`.
fn parse_ulimit(value: &str) -> Result<ResourcesUlimits, String> {
    let (name, limits) = value
        .split_once('=')
        .ok_or_else(|| format!("`{value}` is not NAME=SOFT[:HARD]"))?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("`{s}` is not a number in `{value}`"))
    };
    Ok(ResourcesUlimits {
        name: Some(name.to_owned()),
        soft: Some(num(soft)?),
        hard: Some(num(hard)?),
    })
}

/// `512`, `64k`, `128m`, `1g` (docker's units, powers of 1024) → bytes.
pub fn parse_size(value: &str) -> Result<i64, String> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').unwrap_or(&v);
    let (digits, mult) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1i64 << 10),
        Some('m') => (&v[..v.len() - 1], 1 << 20),
        Some('g') => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("`{value}` is not a size (e.g. 64m, 1g)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ContainerCreateBody {
        ContainerCreateBody::default()
    }

    #[test]
    fn publish_maps_ports_and_exposes() {
        let mut b = body();
        apply_parameter(&mut b, "publish", "8080:80").unwrap();
        apply_parameter(&mut b, "p", "127.0.0.1:53:53/udp").unwrap();
        assert_eq!(b.exposed_ports.as_deref().unwrap(), ["80/tcp", "53/udp"]);
        let ports = b.host_config.unwrap().port_bindings.unwrap();
        let http = ports["80/tcp"].as_ref().unwrap();
        assert_eq!(http[0].host_port.as_deref(), Some("8080"));
        let dns = ports["53/udp"].as_ref().unwrap();
        assert_eq!(dns[0].host_ip.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let mut b = body();
        for (k, v) in [
            ("env", "A=1"),
            ("label", "team=x"),
            ("volume", "/a:/b:ro"),
            ("user", "nobody"),
            ("workdir", "/tmp"),
            ("hostname", "h1"),
            ("add-host", "db:10.0.0.1"),
            ("cap-add", "NET_ADMIN"),
            ("cap-drop", "MKNOD"),
            ("ulimit", "nofile=1024:2048"),
            ("memory-swap", "1g"),
            ("shm-size", "64m"),
            ("entrypoint", "/bin/sh -x"),
        ] {
            apply_parameter(&mut b, k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
        let h = b.host_config.as_ref().unwrap();
        assert_eq!(h.shm_size, Some(64 << 20));
        assert_eq!(h.memory_swap, Some(1 << 30));
        assert_eq!(h.ulimits.as_ref().unwrap()[0].hard, Some(2048));
        assert_eq!(b.entrypoint.as_deref().unwrap(), ["/bin/sh", "-x"]);
        assert_eq!(b.user.as_deref(), Some("nobody"));
        assert_eq!(b.labels.as_ref().unwrap()["team"], "x");
    }

    #[test]
    fn unknown_and_malformed_keys_are_named() {
        let err = apply_parameter(&mut body(), "oom-score-adj", "5").unwrap_err();
        assert!(err.to_string().contains("oom-score-adj"), "{err}");
        let err = apply_parameter(&mut body(), "publish", "x:80").unwrap_err();
        assert!(err.to_string().contains("publish"), "{err}");
        assert!(apply_parameter(&mut body(), "volume", "/a:/b:rx").is_err());
        assert!(apply_parameter(&mut body(), "shm-size", "lots").is_err());
        let err = validate_parameters([("env", "A=1"), ("privileged-ish", "x")]).unwrap_err();
        assert!(err.to_string().contains("privileged-ish"), "{err}");
        assert!(validate_parameters([("env", "A=1"), ("p", "80")]).is_ok());
    }
}
