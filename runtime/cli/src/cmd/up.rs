//! `drover up`: a whole local cluster in one command — a master and N agents as separate
//! processes sharing this machine's resources, certificates made on the fly under
//! `$DROVER_HOME` — until Ctrl-C, which stops everything with no process left behind.
//!
//! ```text
//!  drover up (child subreaper)
//!   ├─ drover master            logs: $DROVER_HOME/logs/master.log
//!   ├─ drover agent (×N)        logs: $DROVER_HOME/logs/agent-<i>.log
//!   │    └─ drover executor … (own sessions; re-parented to `up` if an agent dies)
//!   └─ on SIGINT/SIGTERM: SIGTERM to all, SIGKILL after a grace period, every
//!      descendant included
//! ```

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `drover up` flags.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Number of agents.
    #[arg(long, default_value_t = 3)]
    pub(crate) agents: usize,
    /// Master port (QUIC on UDP and HTTP on TCP); agents use the following ports.
    #[arg(long, default_value_t = 5050)]
    pub(crate) port: u16,
    /// Containerizers of every agent, in order of preference (default: `native`, plus
    /// `docker` when a Docker engine answers on /var/run/docker.sock).
    #[arg(long)]
    pub(crate) containerizers: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) bind: String,
}

struct Proc {
    name: String,
    child: Child,
}

fn spawn(name: &str, args: &[String], log: &Path) -> Result<Proc> {
    let exe = std::env::current_exe().context("cannot find the drover binary")?;
    let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl is async-signal-safe; the closure only calls it.
    unsafe {
        cmd.pre_exec(|| {
            // Die with `drover up`, even if it is killed with SIGKILL.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start the {name}"))?;
    Ok(Proc {
        name: name.to_owned(),
        child,
    })
}

fn wait_http(addr: std::net::SocketAddr, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    while Instant::now() < deadline {
        if client
            .get(format!("http://{addr}/health"))
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("nothing answered on http://{addr}/health within {within:?}")
}

/// Machine resources split evenly between `n` agents, each with its own port range.
fn agent_resources(i: usize, n: usize) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mem_mb = crate::cmd::agent::total_memory_mb().unwrap_or(4096.0);
    let reserve = if mem_mb >= 2048.0 {
        1024.0
    } else {
        mem_mb / 2.0
    };
    let share = |v: f64| ((v / n as f64) * 1000.0).floor() / 1000.0;
    let per = 1000 / n.max(1);
    let lo = 31000 + i * per;
    let hi = lo + per - 1;
    format!(
        "cpus:{};mem:{};disk:{};ports:[{lo}-{hi}]",
        share(cpus),
        share(mem_mb - reserve).floor(),
        share(20_000.0).floor()
    )
}

/// Runs the local cluster until a signal.
/// `native`, then `docker` if a Docker engine answers on the default socket.
fn default_containerizers() -> Result<String> {
    let socket = Path::new(drover_containerizer_docker::DEFAULT_SOCKET);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let answers = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            drover_containerizer_docker::engine_answers(socket),
        )
        .await
        .unwrap_or(false)
    });
    if answers {
        println!(
            "docker   engine answers on {}: agents run native,docker",
            socket.display()
        );
        Ok("native,docker".into())
    } else {
        println!(
            "docker   no engine on {}: agents run native only",
            socket.display()
        );
        Ok("native".into())
    }
}

pub(crate) fn run(a: UpArgs) -> Result<()> {
    if a.agents == 0 || a.agents > 100 {
        anyhow::bail!("--agents must be between 1 and 100");
    }
    let home = crate::home::home();
    let tls = crate::home::tls_dir();
    crate::home::ensure_certs(&tls)?;
    let logs = home.join("logs");
    std::fs::create_dir_all(&logs)?;
    // Orphaned executors (agent died) re-parent to us, so we can stop them too.
    // SAFETY: plain prctl call.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    let master_addr = crate::resolve(&format!("{}:{}", a.bind, a.port), a.port)?;
    let tls_s = tls.display().to_string();
    let containerizers = match &a.containerizers {
        Some(c) => c.clone(),
        None => default_containerizers()?,
    };
    let mut procs = Vec::new();
    let result = (|| -> Result<()> {
        procs.push(spawn(
            "master",
            &[
                "master".into(),
                "--listen".into(),
                master_addr.to_string(),
                "--http".into(),
                master_addr.to_string(),
                "--work-dir".into(),
                home.join("master").display().to_string(),
                "--tls-dir".into(),
                tls_s.clone(),
            ],
            &logs.join("master.log"),
        )?);
        wait_http(master_addr, Duration::from_secs(10))
            .context("the master did not start (see logs/master.log)")?;
        println!(
            "master   quic://{master_addr}  http://{master_addr}  log {}",
            logs.join("master.log").display()
        );
        let mut agent_addrs = Vec::new();
        for i in 0..a.agents {
            let port = a.port + 1 + i as u16;
            let addr = crate::resolve(&format!("{}:{port}", a.bind), port)?;
            let mut args = vec![
                "agent".into(),
                "--master".into(),
                master_addr.to_string(),
                "--listen".into(),
                addr.to_string(),
                "--http".into(),
                addr.to_string(),
                "--work-dir".into(),
                home.join("agents")
                    .join(i.to_string())
                    .display()
                    .to_string(),
                "--resources".into(),
                agent_resources(i, a.agents),
                "--tls-dir".into(),
                tls_s.clone(),
                "--cgroups-root".into(),
                format!("drover-up-{}/agent-{i}", a.port),
                "--kill-tasks-on-exit".into(),
            ];
            args.push("--containerizers".into());
            args.push(containerizers.clone());
            let log = logs.join(format!("agent-{i}.log"));
            procs.push(spawn(&format!("agent {i}"), &args, &log)?);
            agent_addrs.push((addr, log));
        }
        for (i, (addr, log)) in agent_addrs.iter().enumerate() {
            wait_http(*addr, Duration::from_secs(10))
                .with_context(|| format!("agent {i} did not start (see {})", log.display()))?;
            println!(
                "agent {i}  quic://{addr}  http://{addr}  log {}",
                log.display()
            );
        }
        crate::home::write_cluster(&crate::home::ClusterFile {
            master: master_addr,
            http: master_addr,
            pid: std::process::id(),
        })?;
        println!("\ncluster up: {} agent(s). Try:\n  drover run -- sh -c 'echo hello from $(hostname)'\n  drover state\nCtrl-C stops everything.", a.agents);
        Ok(())
    })();
    if let Err(e) = result {
        stop_all(&mut procs);
        return Err(e);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = crate::wait_for_signal() => break,
                _ = check.tick() => {
                    for p in procs.iter_mut() {
                        if let Ok(Some(status)) = p.child.try_wait() {
                            eprintln!("drover up: the {} exited ({status}); see its log", p.name);
                        }
                    }
                    procs.retain_mut(|p| !matches!(p.child.try_wait(), Ok(Some(_))));
                }
            }
        }
    });
    println!("stopping the cluster…");
    stop_all(&mut procs);
    remove_cgroup_roots(&format!("drover-up-{}", a.port));
    let _ = std::fs::remove_file(home.join("cluster.json"));
    println!("stopped.");
    Ok(())
}

/// SIGTERM to every child, SIGKILL after 5 s; then every remaining descendant (orphaned
/// executors and their tasks) is killed too.
fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter() {
        let _ = kill(Pid::from_raw(p.child.id() as i32), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for p in procs.iter_mut() {
        loop {
            match p.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = p.child.kill();
                    let _ = p.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    kill_descendants();
}

/// Removes the (by now empty) cgroup directories the agents of this cluster used, in
/// every mounted hierarchy.
fn remove_cgroup_roots(name: &str) {
    fn rmdir_tree(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rmdir_tree(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    let base = Path::new("/sys/fs/cgroup");
    rmdir_tree_if(&base.join(name), rmdir_tree);
    if let Ok(entries) = std::fs::read_dir(base) {
        for e in entries.flatten() {
            rmdir_tree_if(&e.path().join(name), rmdir_tree);
        }
    }
}

fn rmdir_tree_if(dir: &Path, f: fn(&Path)) {
    if dir.is_dir() {
        f(dir);
    }
}

/// Kills every process whose parent chain leads to us, then reaps them.
fn kill_descendants() {
    let me = std::process::id() as i32;
    for _ in 0..3 {
        let kids = descendants(me);
        if kids.is_empty() {
            return;
        }
        for pid in &kids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        while let Ok(status) =
            nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
        {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn descendants(root: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent = std::collections::HashMap::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<i32>().ok())
        {
            parent.insert(pid, ppid);
        }
    }
    parent
        .keys()
        .copied()
        .filter(|&pid| {
            let mut p = pid;
            for _ in 0..64 {
                match parent.get(&p) {
                    Some(&pp) if pp == root => return true,
                    Some(&pp) if pp > 1 => p = pp,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}
