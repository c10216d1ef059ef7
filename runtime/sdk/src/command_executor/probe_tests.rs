//! Probes against real sockets and processes on loopback.

use super::*;
use drover_proto::HealthCheckKind;
use std::net::TcpListener;

fn check(kind: HealthCheckKind) -> HealthCheck {
    HealthCheck {
        kind,
        delay: Duration::ZERO,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(2),
        consecutive_failures: 1,
        grace_period: Duration::ZERO,
    }
}

/// A one-shot HTTP server answering `status_line` on a free loopback port.
fn http_server(status_line: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(format!("{status_line}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    });
    port
}

/// A port nobody listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn status_lines_parse() {
    assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Ok(204));
    assert_eq!(status_code(b"HTTP/1.0 302 Found\r\nLocation: /"), Ok(302));
    assert!(status_code(b"SSH-2.0-OpenSSH\r\n").is_err());
    assert!(status_code(b"HTTP/1.1 abc\r\n").is_err());
    assert!(status_code(b"").is_err());
}

#[tokio::test]
async fn http_2xx_and_3xx_are_healthy_4xx_5xx_and_refused_are_not() {
    for (line, healthy) in [
        ("HTTP/1.1 200 OK", true),
        ("HTTP/1.1 301 Moved Permanently", true),
        ("HTTP/1.1 404 Not Found", false),
        ("HTTP/1.1 503 Service Unavailable", false),
    ] {
        let port = http_server(line);
        let c = check(HealthCheckKind::Http {
            port,
            path: "/health".into(),
        });
        let outcome = network(&c, &Target::Local).await;
        assert_eq!(
            outcome == ProbeOutcome::Healthy,
            healthy,
            "{line}: {outcome:?}"
        );
    }
    let c = check(HealthCheckKind::Http {
        port: closed_port(),
        path: "/".into(),
    });
    assert!(
        matches!(network(&c, &Target::Local).await, ProbeOutcome::Unhealthy(m) if m.contains("cannot connect"))
    );
}

#[tokio::test]
async fn tcp_connect_decides() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let c = check(HealthCheckKind::Tcp { port });
    assert_eq!(network(&c, &Target::Local).await, ProbeOutcome::Healthy);
    drop(listener);
    assert!(matches!(
        network(&check(HealthCheckKind::Tcp { port }), &Target::Local).await,
        ProbeOutcome::Unhealthy(_)
    ));
}

#[tokio::test]
async fn command_exit_status_decides_and_stderr_explains() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(
        command(&CommandInfo::shell("test -d ."), dir.path(), None, None).await,
        ProbeOutcome::Healthy
    );
    let ProbeOutcome::Unhealthy(why) = command(
        &CommandInfo::shell("echo not ready >&2; exit 4"),
        dir.path(),
        None,
        None,
    )
    .await
    else {
        panic!("exit 4 is unhealthy");
    };
    assert!(why.contains("4") && why.contains("not ready"), "{why}");
}

#[tokio::test]
async fn a_probe_past_its_timeout_fails_and_its_command_dies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut c = check(HealthCheckKind::Command(CommandInfo::shell(
        "echo $$ > probe.pid; exec sleep 30",
    )));
    c.timeout = Duration::from_millis(300);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spawn(7, c, dir.path().to_path_buf(), None, Target::Local, tx);
    let Some(Input::Probed { seq, outcome }) = rx.recv().await else {
        panic!("no outcome");
    };
    assert_eq!(seq, 7);
    assert!(matches!(outcome, ProbeOutcome::Unhealthy(m) if m.contains("did not answer")));
    let pid: i32 = std::fs::read_to_string(dir.path().join("probe.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    // kill_on_drop sent SIGKILL; the runtime reaps it shortly after.
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or dead and waiting to be reaped (state Z after the `comm` field).
        if stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the probe's command outlived its timeout");
}

/// A process in a network namespace of its own (loopback up) serving HTTP on
/// 127.0.0.1:`port` with busybox; killed on drop.
struct NetNsServer(std::process::Child);

impl Drop for NetNsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn http_tcp_and_command_probes_enter_another_network_namespace() {
    let busybox = Path::new("/bin/busybox");
    let ready = busybox.exists() && nix::unistd::geteuid().is_root();
    if !ready {
        assert!(
            std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
            "needs root and /bin/busybox (DROVER_REQUIRE_ALL=1)"
        );
        eprintln!("skipped: needs root and /bin/busybox");
        return;
    }
    let www = tempfile::tempdir().expect("temp dir");
    std::fs::write(www.path().join("index.html"), "ok\n").expect("index");
    let port = closed_port();
    let mut cmd = std::process::Command::new(busybox);
    cmd.args(["sh", "-c"]).arg(format!(
        "/bin/busybox ip link set lo up && exec /bin/busybox httpd -f -p 127.0.0.1:{port} -h {}",
        www.path().display()
    ));
    // SAFETY: unshare is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    let server = NetNsServer(cmd.spawn().expect("busybox starts"));
    let netns = Target::NetNs(format!("/proc/{}/ns/net", server.0.id()).into());
    let http = check(HealthCheckKind::Http {
        port,
        path: "/index.html".into(),
    });
    let mut outcome = ProbeOutcome::Unhealthy("not probed".into());
    for _ in 0..100 {
        outcome = network(&http, &netns).await;
        if outcome == ProbeOutcome::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(outcome, ProbeOutcome::Healthy);
    assert_eq!(
        network(&check(HealthCheckKind::Tcp { port }), &netns).await,
        ProbeOutcome::Healthy
    );
    // The same port from the executor's own namespace: nobody there.
    assert!(matches!(
        network(&http, &Target::Local).await,
        ProbeOutcome::Unhealthy(_)
    ));
    // A COMMAND check joins the namespace too: there the port answers, here it does not.
    let nc = CommandInfo::shell(format!(
        "/bin/busybox wget -q -O /dev/null http://127.0.0.1:{port}/index.html"
    ));
    let Target::NetNs(ns_path) = &netns else {
        unreachable!("built above")
    };
    assert_eq!(
        command(&nc, www.path(), None, Some(ns_path)).await,
        ProbeOutcome::Healthy
    );
    assert!(matches!(
        command(&nc, www.path(), None, None).await,
        ProbeOutcome::Unhealthy(_)
    ));
    // A namespace that is gone is a failed check, not a crash.
    let gone = Target::NetNs("/proc/0/ns/net".into());
    assert!(matches!(
        network(&http, &gone).await,
        ProbeOutcome::Unhealthy(m) if m.contains("network namespace")
    ));
}
