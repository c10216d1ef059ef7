//! The Docker engine going away and coming back: advertising, re-registration, and
//! DOCKER tasks failing with a clear reason meanwhile; DOCKER tasks refused before
//! launch (unknown parameter, host port outside the task's ports).

use super::*;
use drover_proto::{
    Attribute, AttributeValue, ContainerInfo, ContainerType, DockerInfo, Parameter, PortMapping,
    TaskState, TaskStatusReason,
};

fn docker_task(id: &str, docker: DockerInfo) -> TaskInfo {
    let mut t = command_task(id);
    t.container = Some(ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(docker),
        mesos: None,
        volumes: vec![],
        hostname: None,
    });
    t
}

fn image() -> DockerInfo {
    DockerInfo {
        image: "busybox".into(),
        ..DockerInfo::default()
    }
}

/// A registered agent with `docker,native` and the attribute the shell generates.
fn bench() -> Bench {
    let kinds = [ContainerizerKind::Docker, ContainerizerKind::Native];
    let now = Instant::now();
    let mut s = settings(&kinds, now);
    s.agent.attributes = vec![Attribute {
        name: "containerizers".into(),
        value: AttributeValue::Text("docker,native".into()),
    }];
    let mut b = Bench {
        core: AgentCore::new(s),
        now,
    };
    b.input(Input::Start);
    b.input(Input::MasterConnected);
    b.master(MasterToAgent::Registered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    b
}

fn reregistered_info(cmds: &[Command]) -> AgentInfo {
    cmds.iter()
        .find_map(|c| match c {
            Command::SendToMaster(AgentToMaster::Reregister { agent, .. }) => Some(agent.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Reregister in {cmds:?}"))
}

fn availability(b: &mut Bench, unavailable: Option<&str>) -> Vec<Command> {
    b.input(Input::ContainerizerAvailability {
        kind: ContainerizerKind::Docker,
        unavailable: unavailable.map(str::to_owned),
    })
}

#[test]
fn engine_loss_stops_advertising_docker_and_fails_docker_tasks_until_it_is_back() {
    let mut b = bench();
    let cmds = availability(&mut b, Some("the Docker engine does not answer on /s"));
    let info = reregistered_info(&cmds);
    assert_eq!(info.containerizers, vec!["native"]);
    assert_eq!(
        info.attributes[0].value,
        AttributeValue::Text("native".into())
    );
    let snap = b.core.snapshot();
    assert_eq!(snap.containerizers, vec!["native"]);
    assert!(snap.unavailable_containerizers["docker"].contains("does not answer"));
    // The same news again changes nothing.
    assert!(availability(&mut b, Some("still down")).is_empty());
    b.master(MasterToAgent::Reregistered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });

    let cmds = b.run(docker_task("d1", image()));
    assert!(launches(&cmds).is_empty());
    let ups = updates(&cmds);
    assert_eq!(ups[0].state, TaskState::Failed);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::ContainerLaunchFailed));
    let msg = ups[0].message.clone().unwrap_or_default();
    assert!(
        msg.contains("docker containerizer") && msg.contains("unavailable"),
        "{msg}"
    );
    // Tasks of other types still run.
    assert_eq!(launches(&b.run(command_task("n1"))).len(), 1);

    b.master(MasterToAgent::Reregistered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    let info = reregistered_info(&availability(&mut b, None));
    assert_eq!(info.containerizers, vec!["docker", "native"]);
    assert_eq!(
        info.attributes[0].value,
        AttributeValue::Text("docker,native".into())
    );
    assert!(b.core.snapshot().unavailable_containerizers.is_empty());
    b.master(MasterToAgent::Reregistered {
        agent_id: "agent-1".into(),
        master_info: master_info(),
        ping_interval: PING,
    });
    assert_eq!(launches(&b.run(docker_task("d2", image()))).len(), 1);
}

#[test]
fn docker_tasks_are_checked_before_launch() {
    let mut b = bench();
    let mut bad = image();
    bad.parameters = vec![
        Parameter::new("env", "A=1"),
        Parameter::new("oom-kill-disable", "true"),
    ];
    let ups = updates(&b.run(docker_task("p", bad)));
    assert_eq!(ups[0].state, TaskState::Error);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::TaskInvalid));
    let msg = ups[0].message.clone().unwrap_or_default();
    assert!(msg.contains("oom-kill-disable"), "{msg}");

    let mut outside = image();
    outside.port_mappings = vec![PortMapping {
        host_port: 8080,
        container_port: 80,
        protocol: "tcp".into(),
    }];
    let ups = updates(&b.run(docker_task("o", outside)));
    assert_eq!(ups[0].state, TaskState::Error);
    assert!(ups[0].message.clone().unwrap_or_default().contains("8080"));

    let mut any = image();
    any.port_mappings = vec![PortMapping {
        host_port: 0,
        container_port: 80,
        protocol: "tcp".into(),
    }];
    let ups = updates(&b.run(docker_task("z", any.clone())));
    assert_eq!(ups[0].state, TaskState::Error, "no ports resources");
    let mut t = docker_task("z2", any);
    t.resources = Resources::parse("cpus:1;mem:128;ports:[31000-31000]").unwrap();
    assert_eq!(launches(&b.run(t)).len(), 1);
}
