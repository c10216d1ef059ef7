//! What the launcher's namespaces give a container: its own pid 1 and `/proc`, its
//! own hostname, only loopback with `network/none` (or, with `network_for=task`, the
//! host's network and `DROVER_NETWORK_NONE=1` for the main process), and a tree that
//! dies whole.

mod common;

use std::time::Duration;

use drover_containerizer_native::{Isolation, NativeContainerizer};
use drover_containerizers::{ContainerId, Containerizer, TerminationReason};

const NAME: &str = "namespaces";

async fn run_to_end(
    c: &NativeContainerizer,
    id: &str,
    config: drover_containerizers::ContainerConfig,
) -> String {
    let out = config.stdout_path();
    common::launch(c, id, config).await;
    let t = c.wait(&ContainerId::new(id)).await.unwrap();
    c.destroy(&ContainerId::new(id)).await.unwrap();
    let text = common::read(&out);
    assert_eq!(
        t.status,
        Some(0),
        "{t:?}; stdout: {text}; stderr: {}",
        common::read(&out.with_file_name("stderr"))
    );
    text
}

#[tokio::test]
async fn pid_namespace_proc_and_hostname() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup(NAME);
    let dir = tempfile::tempdir().unwrap();
    let c = common::recovered(&dir.path().join("state"), NAME).await;
    let sandbox = dir.path().join("s");
    let host_pid = std::process::id();
    let script = format!(
        "echo pid=$$; echo procs=$(ls /proc | grep -c '^[0-9]'); \
         echo ps=$(ps -e --no-headers | wc -l); \
         echo host=$(hostname); test -e /proc/{host_pid} && echo sees-host || echo private-proc"
    );
    let mut config = common::shell(&script, &sandbox);
    config
        .kind
        .options
        .insert("hostname".into(), "drover-box".into());
    let out = run_to_end(&c, "pidns", config).await;
    // init is pid 1, the shell pid 2; ls/grep/ps are its children.
    assert!(out.contains("pid=2\n"), "{out}");
    let count = |key: &str| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(usize::MAX)
    };
    assert!(count("procs=") <= 5, "too many processes visible: {out}");
    assert!(count("ps=") <= 5, "ps shows too many processes: {out}");
    assert!(out.contains("host=drover-box\n"), "{out}");
    assert!(out.contains("private-proc"), "{out}");
    // The host's hostname is untouched.
    assert_ne!(nix::unistd::gethostname().unwrap(), "drover-box");
}

#[tokio::test]
async fn network_none_has_only_loopback() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("netnone");
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&dir.path().join("state"), "netnone");
    config.isolation = Isolation::parse(&format!("{},network/none", Isolation::DEFAULT)).unwrap();
    let c = common::build(config).unwrap();
    c.recover(&[]).await.unwrap();
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/operstate 2>/dev/null; \
                  grep -c . /proc/net/dev";
    let out = run_to_end(&c, "net", common::shell(script, &dir.path().join("s"))).await;
    let ifaces: Vec<&str> = out
        .lines()
        .take_while(|l| !l.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(ifaces.first(), Some(&"lo"), "{out}");
    assert!(!out.contains("eth") && !out.contains("docker"), "{out}");
    // network=host opts one container out.
    let mut host = common::shell("grep -c . /proc/net/dev", &dir.path().join("h"));
    host.kind.options.insert("network".into(), "host".into());
    let lines: usize = run_to_end(&c, "hostnet", host)
        .await
        .trim()
        .parse()
        .unwrap();
    let host_lines = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, host_lines);
    // network_for=task (the command executor's case): the main process stays in the
    // host's network namespace and is told to give its task the private one.
    let mut for_task = common::shell(
        "echo none=$DROVER_NETWORK_NONE; grep -c . /proc/net/dev",
        &dir.path().join("t"),
    );
    for_task
        .kind
        .options
        .insert("network_for".into(), "task".into());
    let out = run_to_end(&c, "fortask", for_task).await;
    assert!(out.contains("none=1\n"), "{out}");
    assert!(out.ends_with(&format!("{host_lines}\n")), "{out}");
    // Without `network/none` in force, nothing is asked of it.
    let mut opted_out = common::shell("echo none=$DROVER_NETWORK_NONE", &dir.path().join("o"));
    opted_out.kind.options.extend([
        ("network_for".into(), "task".into()),
        ("network".into(), "host".into()),
    ]);
    assert_eq!(run_to_end(&c, "optedout", opted_out).await, "none=\n");
}

#[tokio::test]
async fn init_reaps_orphaned_zombies_and_forwards_sigterm() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("reaper");
    let dir = tempfile::tempdir().unwrap();
    let c = common::recovered(&dir.path().join("state"), "reaper").await;
    let sandbox = dir.path().join("s");
    // Orphans (children of an exited subshell) are re-parented to our init, which
    // must reap them: no zombie may pile up.
    let script = "for i in 1 2 3 4 5; do (sleep 0.05 &) ; done; sleep 0.5; \
                  grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l > zombies; \
                  trap 'echo got-term > term; exit 0' TERM; echo ready > ready; \
                  while :; do sleep 0.05; done";
    let h = common::launch(&c, "reap", common::shell(script, &sandbox)).await;
    common::wait_for(|| sandbox.join("ready").exists().then_some(())).await;
    assert_eq!(common::read(&sandbox.join("zombies")).trim(), "0");
    // SIGTERM to the container's init (host pid) reaches the main process.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(h.pid.unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = tokio::time::timeout(Duration::from_secs(5), c.wait(&"reap".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.reason, t.status),
        (TerminationReason::Exited, Some(0)),
        "{t:?}"
    );
    assert_eq!(common::read(&sandbox.join("term")), "got-term\n");
    c.destroy(&"reap".into()).await.unwrap();
}
