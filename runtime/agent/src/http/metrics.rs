//! `GET /metrics`: the agent's numbers in the Prometheus text format (0.0.4).

use crate::core::snapshot::MetricsSnapshot;
use drover_proto::TaskState;
use std::fmt::Write;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Renders the metrics; every task state is listed, zeros included, so that series do
/// not appear and vanish.
pub fn render(m: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(2048);
    family(
        &mut out,
        "drover_agent_tasks",
        "gauge",
        "Tasks on the agent by latest state.",
    );
    for state in TaskState::ALL {
        let n = m.tasks_by_state.get(&state).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "drover_agent_tasks{{state=\"{}\"}} {n}",
            state.as_str()
        );
    }
    family(
        &mut out,
        "drover_agent_executors",
        "gauge",
        "Executors on the agent.",
    );
    let _ = writeln!(out, "drover_agent_executors {}", m.executors);
    family(
        &mut out,
        "drover_agent_frameworks",
        "gauge",
        "Frameworks with executors on the agent.",
    );
    let _ = writeln!(out, "drover_agent_frameworks {}", m.frameworks);
    family(
        &mut out,
        "drover_agent_registered",
        "gauge",
        "1 if registered with a master.",
    );
    let _ = writeln!(out, "drover_agent_registered {}", u8::from(m.registered));
    family(
        &mut out,
        "drover_agent_status_updates_pending",
        "gauge",
        "Status updates not yet acknowledged.",
    );
    let _ = writeln!(
        out,
        "drover_agent_status_updates_pending {}",
        m.status_updates_pending
    );
    family(
        &mut out,
        "drover_agent_tasks_received_total",
        "counter",
        "Tasks received in RunTask.",
    );
    let _ = writeln!(
        out,
        "drover_agent_tasks_received_total {}",
        m.counters.tasks_received
    );
    family(
        &mut out,
        "drover_agent_tasks_terminal_total",
        "counter",
        "Tasks that reached a terminal state, by state.",
    );
    for state in TaskState::ALL.into_iter().filter(|s| s.is_terminal()) {
        let n = m.counters.tasks_terminal.get(&state).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "drover_agent_tasks_terminal_total{{state=\"{}\"}} {n}",
            state.as_str()
        );
    }
    family(
        &mut out,
        "drover_agent_containers_launched_total",
        "counter",
        "Containers launched.",
    );
    let _ = writeln!(
        out,
        "drover_agent_containers_launched_total {}",
        m.counters.containers_launched
    );
    family(
        &mut out,
        "drover_agent_status_updates_sent_total",
        "counter",
        "Status updates sent to the master, resends included.",
    );
    let _ = writeln!(
        out,
        "drover_agent_status_updates_sent_total {}",
        m.counters.status_updates_sent
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Counters;

    #[test]
    fn renders_every_state_and_the_gauges() {
        let mut m = MetricsSnapshot {
            tasks_by_state: [(TaskState::Running, 3)].into_iter().collect(),
            executors: 2,
            frameworks: 1,
            registered: true,
            status_updates_pending: 4,
            counters: Counters::default(),
        };
        m.counters.tasks_terminal.insert(TaskState::Finished, 7);
        let text = render(&m);
        assert!(
            text.contains("drover_agent_tasks{state=\"TASK_RUNNING\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("drover_agent_tasks{state=\"TASK_STAGING\"} 0\n"));
        assert!(text.contains("drover_agent_registered 1\n"));
        assert!(text.contains("drover_agent_executors 2\n"));
        assert!(text.contains("drover_agent_status_updates_pending 4\n"));
        assert!(text.contains("drover_agent_tasks_terminal_total{state=\"TASK_FINISHED\"} 7\n"));
        // Every sample line is "name{labels} value" or "name value".
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }
}
