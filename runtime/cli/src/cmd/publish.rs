//! `drover run --publish HOST:CONTAINER[/PROTO]` for Docker tasks, the Marathon way:
//! host port 0 means "any port of the offer". Like a Marathon scheduler, `drover run`
//! picks the host ports from the offer's `ports` resources and launches the task with
//! exactly those ports (so it gets them as `PORT0…`/`PORTS`), and with each mapping's
//! concrete host port. A fixed host port must be offered. Pure.

use anyhow::{bail, Context, Result};
use drover_proto::{PortMapping, Resources};

/// Parses `8080:80`, `0:80/udp`.
pub(crate) fn parse(value: &str) -> Result<PortMapping> {
    let (ports, protocol) = value.split_once('/').unwrap_or((value, "tcp"));
    if !matches!(protocol, "tcp" | "udp") {
        bail!("invalid --publish '{value}': protocol must be tcp or udp");
    }
    let (host, container) = ports
        .split_once(':')
        .with_context(|| format!("invalid --publish '{value}': expected HOST:CONTAINER[/PROTO]"))?;
    let port = |s: &str| {
        s.parse::<u16>()
            .with_context(|| format!("invalid --publish '{value}': '{s}' is not a port"))
    };
    let container_port = port(container)?;
    if container_port == 0 {
        bail!("invalid --publish '{value}': the container port cannot be 0");
    }
    Ok(PortMapping {
        host_port: u32::from(port(host)?),
        container_port: u32::from(container_port),
        protocol: protocol.to_owned(),
    })
}

/// Host ports for `mappings` from the offer's `offered` resources: the mappings with
/// concrete host ports, and the `ports` resources to launch with (the task sees them,
/// in port order, as `PORT0…`/`PORTS`). `None` if the offer lacks them.
pub(crate) fn pick(
    mappings: &[PortMapping],
    offered: &Resources,
) -> Option<(Vec<PortMapping>, Resources)> {
    let available: Vec<u64> = offered
        .ports()
        .iter()
        .flat_map(|r| r.begin..=r.end)
        .collect();
    let fixed: Vec<u64> = mappings
        .iter()
        .map(|m| u64::from(m.host_port))
        .filter(|p| *p != 0)
        .collect();
    if fixed.iter().any(|p| !available.contains(p)) {
        return None;
    }
    let mut free = available.iter().copied().filter(|p| !fixed.contains(p));
    let mut out = Vec::with_capacity(mappings.len());
    let mut chosen = Vec::with_capacity(mappings.len());
    for m in mappings {
        let host = match m.host_port {
            0 => free.next()?,
            p => u64::from(p),
        };
        chosen.push(format!("{host}-{host}"));
        out.push(PortMapping {
            host_port: u32::try_from(host).ok()?,
            ..m.clone()
        });
    }
    if chosen.is_empty() {
        return Some((out, Resources::new()));
    }
    let ports = format!("ports:[{}]", chosen.join(",")).parse().ok()?;
    Some((out, ports))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_takes_an_offered_port_and_fixed_ones_must_be_offered() {
        let offered: Resources = "cpus:1;ports:[31000-31002]".parse().unwrap();
        let maps = vec![parse("0:80").unwrap(), parse("31000:53/udp").unwrap()];
        let (got, ports) = pick(&maps, &offered).unwrap();
        assert_eq!(got[0].host_port, 31001);
        assert_eq!(got[1].host_port, 31000);
        assert_eq!(got[1].protocol, "udp");
        assert_eq!(
            drover_proto::host_ports::task_ports(&ports),
            vec![31000, 31001]
        );
        assert!(pick(&[parse("8080:80").unwrap()], &offered).is_none());
        let none: Resources = "cpus:1".parse().unwrap();
        assert!(pick(&[parse("0:80").unwrap()], &none).is_none());
        assert!(parse("80").is_err() && parse("0:0").is_err() && parse("1:2/sctp").is_err());
    }
}
