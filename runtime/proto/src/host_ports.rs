//! Host ports of a Docker task's port mappings. As in Mesos, a task's host ports come
//! from its `ports` resources; as in Marathon, a mapping with `host_port` 0 means "any
//! port of the task's": it gets the task's ports not named by another mapping, in
//! order. Pure; used by the agent (to refuse a task before launch) and the executor
//! (to publish the ports).

use crate::{PortMapping, Resources};

/// The task's host ports in order (what `PORT0…`/`PORTS` list).
pub fn task_ports(resources: &Resources) -> Vec<u32> {
    resources
        .ports()
        .iter()
        .flat_map(|r| r.begin..=r.end)
        .filter_map(|p| u32::try_from(p).ok())
        .collect()
}

/// The host port of each mapping, in order: fixed ones must be among the task's ports,
/// `0` gets the next task port not taken by a fixed one. Errors name the mapping.
pub fn assign_host_ports(
    mappings: &[PortMapping],
    resources: &Resources,
) -> Result<Vec<u32>, String> {
    let ports = task_ports(resources);
    let fixed: Vec<u32> = mappings
        .iter()
        .map(|m| m.host_port)
        .filter(|p| *p != 0)
        .collect();
    for m in mappings.iter().filter(|m| m.host_port != 0) {
        if !ports.contains(&m.host_port) {
            return Err(format!(
                "host port {} of the port mapping to container port {} is not among the task's ports resources ({})",
                m.host_port,
                m.container_port,
                describe(&ports)
            ));
        }
    }
    let mut free = ports.iter().copied().filter(|p| !fixed.contains(p));
    let mut out = Vec::with_capacity(mappings.len());
    for m in mappings {
        if m.host_port != 0 {
            out.push(m.host_port);
            continue;
        }
        match free.next() {
            Some(p) => out.push(p),
            None => {
                return Err(format!(
                    "the port mapping to container port {} asks for any host port (0) but the task's ports resources ({}) have none left: add ports to the task",
                    m.container_port,
                    describe(&ports)
                ))
            }
        }
    }
    Ok(out)
}

fn describe(ports: &[u32]) -> String {
    if ports.is_empty() {
        return "none".into();
    }
    ports
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(host_port: u32, container_port: u32) -> PortMapping {
        PortMapping {
            host_port,
            container_port,
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn zero_takes_the_task_ports_left_in_order() {
        let r: Resources = "cpus:1;ports:[31000-31002]".parse().unwrap();
        let got = assign_host_ports(&[pm(0, 80), pm(31000, 443), pm(0, 8080)], &r).unwrap();
        assert_eq!(got, vec![31001, 31000, 31002]);
    }

    #[test]
    fn outside_or_too_many_is_refused_naming_the_mapping() {
        let r: Resources = "cpus:1;ports:[31000-31000]".parse().unwrap();
        let err = assign_host_ports(&[pm(8080, 80)], &r).unwrap_err();
        assert!(err.contains("8080") && err.contains("31000"), "{err}");
        let err = assign_host_ports(&[pm(0, 80), pm(0, 81)], &r).unwrap_err();
        assert!(err.contains("container port 81"), "{err}");
        let none: Resources = "cpus:1".parse().unwrap();
        assert!(assign_host_ports(&[pm(0, 80)], &none).is_err());
    }
}
