//! Process helpers for the agent restart test: guards that kill what a test started,
//! log dumps on failure, free ports, polling, `/proc` scans and `drover` queries.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::ffi::OsStr;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const DROVER: &str = env!("CARGO_BIN_EXE_drover");
/// Longest wait for anything here.
const WAIT: Duration = Duration::from_secs(20);

/// Processes started by the test, and every `sleep <its durations>` or process whose
/// environment names the test's home (executors), killed on drop.
#[derive(Default)]
pub(crate) struct Guard {
    pub(crate) children: Vec<Child>,
    pub(crate) pids: Vec<i32>,
    pub(crate) home: Option<std::path::PathBuf>,
    pub(crate) sleeps: Vec<&'static str>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in self.pids.iter().copied().filter(|p| alive(*p)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let ours = |argv: &[String]| {
            argv.len() == 2 && argv[0].ends_with("sleep") && self.sleeps.contains(&argv[1].as_str())
        };
        for pid in find(ours) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(home) = &self.home {
            for pid in find(|_| true).into_iter().filter(|p| mentions(*p, home)) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Prints the processes' logs if the test fails.
pub(crate) struct Logs<'a>(pub(crate) &'a Path);

impl Drop for Logs<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for name in [
            "master.log",
            "agent-1.log",
            "agent-2.log",
            "run.log",
            "run-doomed.log",
            "run-ender.log",
        ] {
            let text = std::fs::read_to_string(self.0.join(name)).unwrap_or_default();
            eprintln!("===== {name}\n{text}");
        }
        let mut dirs = vec![self.0.join("agent/frameworks")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.file_name().is_some_and(|n| n == "stderr") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    eprintln!("===== {}\n{text}", p.display());
                }
            }
        }
    }
}

/// `n` consecutive ports free on both TCP and UDP on 127.0.0.1; the first one.
pub(crate) fn free_ports(n: u16, salt: u64) -> u16 {
    let seed = u64::from(std::process::id()) ^ 0x5bd1_e995 ^ salt.wrapping_mul(104_729);
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 131) % 30_000) as u16;
        let ok = (base..base + n).all(|p| {
            TcpListener::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p)).is_ok()
        });
        if ok {
            return base;
        }
    }
    panic!("no {n} consecutive free ports found");
}

/// `check` until it holds, at most `within`.
pub(crate) fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// Pids of live processes whose argv matches.
pub(crate) fn find(matches: impl Fn(&[String]) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if matches(&argv) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Whether a process's environment mentions `dir` (executors get their sandbox in it).
pub(crate) fn mentions(pid: i32, dir: &Path) -> bool {
    mentions_str(pid, &dir.to_string_lossy())
}

pub(crate) fn mentions_str(pid: i32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| String::from_utf8_lossy(&env).contains(needle))
        .unwrap_or(false)
}

pub(crate) fn drover<S: AsRef<OsStr>>(home: &Path, args: &[S]) -> Command {
    let mut c = Command::new(DROVER);
    c.args(args)
        .env("DROVER_HOME", home)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    c
}

/// `drover certs init` in `home/tls` and a certificate for each of the master, agent,
/// scheduler and executor roles; the directory.
pub(crate) fn issue_certs(home: &Path) -> PathBuf {
    let tls = home.join("tls");
    let tls_s = tls.to_string_lossy().into_owned();
    assert!(drover(home, &["certs", "init", &tls_s])
        .stdout(Stdio::null())
        .status()
        .expect("certs init")
        .success());
    for role in ["master", "agent", "scheduler", "executor"] {
        let args = [
            "certs", "issue", "--role", role, "--name", role, "--dir", &tls_s,
        ];
        let ok = drover(home, &args).stdout(Stdio::null()).status();
        assert!(
            ok.is_ok_and(|s| s.success()),
            "cannot issue the {role} certificate"
        );
    }
    tls
}

/// The flags of a `drover master` listening (and serving HTTP) on `addr`, keeping its
/// state in `work_dir`, then `extra`.
pub(crate) fn master_args(addr: &str, work_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = ["master", "--listen", addr, "--http", addr, "--work-dir"]
        .map(String::from)
        .to_vec();
    args.push(work_dir.to_string_lossy().into_owned());
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// The flags of a `drover agent` of `master` listening (and serving HTTP) on `addr`,
/// keeping its state in `work_dir`, with `containerizers`, then `extra`.
pub(crate) fn agent_args(
    master: &str,
    addr: &str,
    work_dir: &Path,
    containerizers: &str,
    extra: &[&str],
) -> Vec<String> {
    let work = work_dir.to_string_lossy();
    let mut args: Vec<String> = [
        "agent",
        "--master",
        master,
        "--listen",
        addr,
        "--http",
        addr,
        "--work-dir",
        &work,
        "--containerizers",
        containerizers,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

pub(crate) fn spawn<S: AsRef<OsStr>>(home: &Path, args: &[S], log: &str) -> Child {
    let log = std::fs::File::create(home.join(log)).expect("log file");
    drover(home, args)
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("drover starts")
}

/// `drover <view> --json` as JSON.
pub(crate) fn query(home: &Path, view: &str, master: &str) -> Option<serde_json::Value> {
    let out = drover(home, &[view, "--json", "--master", master])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// `(id, state, agent_id)` of every task the master lists.
pub(crate) fn tasks(home: &Path, master: &str) -> Option<Vec<(String, String, String)>> {
    let v = query(home, "tasks", master)?;
    let s = |t: &serde_json::Value, k: &str| t[k].as_str().unwrap_or("").to_owned();
    Some(
        v.as_array()?
            .iter()
            .map(|t| (s(t, "id"), s(t, "state"), s(t, "agent_id")))
            .collect(),
    )
}

/// The id and agent of a task in `state` that is not in `except`, once there is one.
pub(crate) fn task_in(home: &Path, master: &str, state: &str, except: &[&str]) -> (String, String) {
    poll(&format!("a task to be {state}"), || {
        let t = tasks(home, master)?;
        t.into_iter()
            .find(|(id, st, _)| st == state && !except.contains(&id.as_str()))
            .map(|(id, _, agent)| (id, agent))
    })
}

/// The state of task `id` as the master lists it, once it is `state`.
pub(crate) fn wait_state(home: &Path, master: &str, id: &str, state: &str) -> String {
    poll(&format!("task {id} to be {state}"), || {
        let t = tasks(home, master)?;
        t.into_iter()
            .find(|(i, st, _)| i == id && st == state)
            .map(|(_, _, agent)| agent)
    })
}

/// Whether the test can run as root; if not, says why it skips (and fails under
/// `DROVER_REQUIRE_ALL=1`, where nothing may skip).
pub(crate) fn is_root_or_skip(what_needs_root: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
        "{what_needs_root} needs root (DROVER_REQUIRE_ALL=1)"
    );
    eprintln!("skipped: {what_needs_root} needs root");
    false
}

/// Whether the native containerizer can run here with `isolation` (root, cgroups,
/// namespaces) and nothing in `missing` is lacking; panics when it cannot but must
/// (`DROVER_REQUIRE_ALL=1`), says why it skips otherwise.
pub(crate) fn native_or_skip(isolation: &str, mut missing: Vec<String>) -> bool {
    if !nix::unistd::geteuid().is_root() {
        missing.push("root".to_owned());
    } else if let Err(reasons) = drover_containerizer_native::Isolation::parse(isolation)
        .map_err(|e| vec![e.to_string()])
        .and_then(|i| drover_containerizer_native::probe(&i))
    {
        missing.extend(reasons);
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
        "DROVER_REQUIRE_ALL=1 but the native containerizer cannot run here: {}",
        missing.join("; ")
    );
    eprintln!("SKIPPED: {}", missing.join("; "));
    false
}

/// The directories `root` names (those that exist) under every cgroup hierarchy.
pub(crate) fn cgroup_dirs(root: &str) -> Vec<PathBuf> {
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup")];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        bases.push(e.path());
    }
    bases
        .into_iter()
        .map(|b| b.join(root))
        .filter(|p| p.is_dir())
        .collect()
}
