//! DockerRunner on the machine's real engine: exit codes and logs, BRIDGE port
//! mapping, RO/RW volumes, OOM, kill with a grace period, a missing image.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use drover_containerizer_docker::{
    DockerError, DockerRunSpec, DockerRunner, DroverIds, Network, PortMapping, RunCommand,
};
use drover_containerizers::Volume;

fn spec(script: &str) -> DockerRunSpec {
    DockerRunSpec {
        image: common::IMAGE.into(),
        command: Some(RunCommand::Shell(script.into())),
        ids: DroverIds {
            container_id: format!("runner-test-{}", std::process::id()),
            scope: Some("drover-runner-tests".into()),
            ..DroverIds::default()
        },
        ..DockerRunSpec::default()
    }
}

async fn run_to_end(
    runner: &DockerRunner,
    spec: &DockerRunSpec,
    dir: &Path,
) -> drover_containerizer_docker::ContainerExit {
    let started = runner
        .run(spec, &dir.join("stdout"), &dir.join("stderr"))
        .await
        .unwrap();
    let exit = runner.wait(&started.id).await.unwrap();
    let _ = started.logs.await;
    runner.remove(&started.id).await.unwrap();
    exit
}

#[tokio::test]
async fn exit_code_env_and_logs() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec("echo out $GREETING; echo err >&2; exit 3");
    s.env = vec![("GREETING".into(), "hello".into())];
    let exit = run_to_end(&runner, &s, dir.path()).await;
    assert_eq!(exit.exit_code, 3);
    assert!(!exit.oom_killed);
    let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(out, "out hello\n");
    assert!(err.ends_with("err\n"), "{err:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[tokio::test]
async fn bridge_port_mapping_reaches_httpd() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = spec("mkdir -p /www && echo hello-from-docker > /www/index.html && exec httpd -f -p 8080 -h /www");
    s.network = Network::Bridge;
    s.port_mappings = vec![PortMapping {
        host_port: port,
        container_port: 8080,
        protocol: "tcp".into(),
    }];
    let started = runner
        .run(&s, &dir.path().join("stdout"), &dir.path().join("stderr"))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answer = None;
    while Instant::now() < deadline {
        let got = tokio::task::spawn_blocking(move || http_get(port))
            .await
            .unwrap();
        if let Some(a) = got.filter(|a| a.contains("hello-from-docker")) {
            answer = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    runner.remove(&started.id).await.unwrap();
    let answer = answer.expect("httpd did not answer on the mapped host port");
    assert!(answer.starts_with("HTTP/1."), "{answer}");
}

#[tokio::test]
async fn ro_volume_is_not_writable_rw_is() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    let mut s = spec("touch /ro/x; echo $? > /rw/ro_status; touch /rw/y");
    s.volumes = vec![
        Volume {
            host_path: ro.path().into(),
            container_path: "/ro".into(),
            read_only: true,
        },
        Volume {
            host_path: rw.path().into(),
            container_path: "/rw".into(),
            read_only: false,
        },
    ];
    let exit = run_to_end(&runner, &s, dir.path()).await;
    assert_eq!(exit.exit_code, 0);
    assert!(!ro.path().join("x").exists(), "wrote into a RO volume");
    assert!(
        rw.path().join("y").exists(),
        "could not write into a RW volume"
    );
    let status = std::fs::read_to_string(rw.path().join("ro_status")).unwrap();
    assert_ne!(status.trim(), "0");
}

#[tokio::test]
async fn memory_limit_ends_in_oom() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // 256 MiB of 'a's held in a shell variable, under a 32 MiB limit without swap.
    let mut s = spec("x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived");
    s.mem_bytes = 32 << 20;
    s.parameters = vec![("memory-swap".into(), "32m".into())];
    let exit = run_to_end(&runner, &s, dir.path()).await;
    assert!(exit.oom_killed, "{exit:?}");
}

#[tokio::test]
async fn stop_honours_the_grace_period() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // As pid 1 without a handler, sh ignores SIGTERM: only the SIGKILL ends it.
    let s = spec("while true; do sleep 1; done");
    let started = runner
        .run(&s, &dir.path().join("stdout"), &dir.path().join("stderr"))
        .await
        .unwrap();
    let t0 = Instant::now();
    runner
        .stop(&started.id, Duration::from_secs(1))
        .await
        .unwrap();
    let took = t0.elapsed();
    let exit = runner.wait(&started.id).await.unwrap();
    runner.remove(&started.id).await.unwrap();
    assert_eq!(exit.exit_code, 137, "{exit:?}");
    assert!(
        took >= Duration::from_millis(900),
        "killed before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "stop took {took:?}");
}

#[tokio::test]
async fn missing_image_is_named() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec("true");
    s.image = "127.0.0.1:1/drover-no-such-image:none".into();
    let err = runner
        .run(&s, &dir.path().join("stdout"), &dir.path().join("stderr"))
        .await
        .unwrap_err();
    assert!(matches!(err, DockerError::Image { .. }), "{err}");
    assert!(err.to_string().contains("drover-no-such-image"), "{err}");
}

#[tokio::test]
async fn unknown_parameter_is_refused_before_anything_runs() {
    let Some(runner) = common::engine().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec("true");
    s.parameters = vec![("pid".into(), "host".into())];
    let err = runner
        .run(&s, &dir.path().join("stdout"), &dir.path().join("stderr"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`pid`"), "{err}");
}
