//! The Docker engine going away while the agent runs, and coming back, through the
//! real `drover` binaries. The real daemon is never touched: the agent's
//! `--docker-socket` is a unix-socket proxy to /var/run/docker.sock that this test
//! stops and restarts. While it is stopped the agent reports docker unavailable
//! (`/state`), the master's view of the agent (what offers carry) loses `docker`, and a
//! DOCKER task cannot run; once it is back docker is advertised again and a DOCKER task
//! runs. Skipped without a Docker engine unless `DROVER_REQUIRE_ALL=1`.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use restart_support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ENGINE: &str = "/var/run/docker.sock";

/// A unix-socket proxy to the engine; `stop` closes the socket and every connection.
struct Proxy {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(path: &Path) -> Proxy {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("proxy socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (s, c) = (stop.clone(), conns.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(engine) = UnixStream::connect(ENGINE) else {
                            continue;
                        };
                        if let Ok(mut list) = c.lock() {
                            for st in [&client, &engine] {
                                if let Ok(clone) = st.try_clone() {
                                    list.push(clone);
                                }
                            }
                        }
                        pipe(&client, &engine);
                        pipe(&engine, &client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Proxy {
            path: path.to_owned(),
            stop,
            conns,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        if let Ok(mut list) = self.conns.lock() {
            for c in list.drain(..) {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Copies `from` into `to` on a thread until either side closes.
fn pipe(from: &UnixStream, to: &UnixStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// `GET path` over plain HTTP/1.0; the body, or "" if nothing answers.
fn http_get(addr: &str, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn engine() -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(drover_containerizer_docker::test_image::engine_for_tests())
        .is_some()
}

/// The agent's containerizers as the master sees them (what its offers carry).
fn master_view(master: &str) -> String {
    let v = json(&http_get(master, "/state"));
    v["agents"][0]["containerizers"].to_string() + " " + &v["agents"][0]["attributes"].to_string()
}

#[test]
fn losing_the_engine_unadvertises_docker_until_it_is_back() {
    if !engine() {
        return;
    }
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    issue_certs(home);
    let socket = home.join("docker-proxy.sock");
    let mut proxy = Proxy::start(&socket);
    let port = free_ports(2, 0);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let mut guard = Guard::default();
    let master_args = master_args(&master, &home.join("master"), &[]);
    guard.children.push(spawn(home, &master_args, "master.log"));
    let sock = socket.to_string_lossy().into_owned();
    let agent_args = agent_args(
        &master,
        &agent_addr,
        &home.join("agent"),
        "docker,posix",
        &[
            "--docker-socket",
            &sock,
            "--docker-check-interval",
            "200ms",
            "--resources",
            "cpus:2;mem:1024;disk:1024",
        ],
    );
    guard.children.push(spawn(home, &agent_args, "agent.log"));
    let agent_log = || std::fs::read_to_string(home.join("agent.log")).unwrap_or_default();
    wait_for(
        "the master to see docker,posix",
        Duration::from_secs(30),
        || master_view(&master).contains("\"docker\",\"posix\""),
    );
    let run_docker = |offer_timeout: &str| -> Output {
        Command::new(DROVER)
            .args([
                "run",
                "--master",
                &master,
                "--offer-timeout",
                offer_timeout,
                "--containerizer",
                "docker",
                "--image",
                drover_containerizer_docker::test_image::TEST_IMAGE,
                "--",
                "echo",
                "engine-back",
            ])
            .env("DROVER_HOME", home)
            .stdin(Stdio::null())
            .output()
            .expect("drover run")
    };

    proxy.stop();
    wait_for(
        "the agent to report docker unavailable",
        Duration::from_secs(10),
        || {
            let v = json(&http_get(&agent_addr, "/state"));
            v["containerizers"] == serde_json::json!(["posix"])
                && v["unavailable_containerizers"]["docker"].is_string()
        },
    );
    wait_for(
        "the master to stop seeing docker",
        Duration::from_secs(10),
        || {
            let view = master_view(&master);
            !view.contains("docker") && view.contains("posix")
        },
    );
    assert!(agent_log().contains("UNAVAILABLE"), "{}", agent_log());
    let out = run_docker("2s");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("docker"), "{all}");

    let _proxy = Proxy::start(&socket);
    wait_for(
        "the master to see docker again",
        Duration::from_secs(10),
        || master_view(&master).contains("\"docker\",\"posix\""),
    );
    let out = run_docker("20s");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}\n{}", agent_log());
    assert!(all.contains("engine-back"), "{all}");
}
