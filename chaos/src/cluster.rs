//! A cluster of real processes: one `drover master --fault-injection` and N `drover
//! agent`s on loopback, each agent with its own certificate name (`agent-<i>`) so that
//! a fault rule on the master can single it out. Its home (certificates, work dirs,
//! logs) is a fresh `/tmp/chaos-<pid>-<n>` directory, removed on drop with every process.
//!
//! ```text
//!  /tmp/chaos-<pid>-<n>/tls/        CA, master, scheduler, executor, agent-<i> certs
//!                       master/     master work dir (registry.redb)
//!                       agent-<i>/  agent work dirs
//!                       logs/       master.log, agent-<i>.log
//! ```

use crate::procs::{drover_binary, free_ports, ProcGuard, MARKER_ENV};
use drover_proto::FrameworkInfo;
use drover_sdk::scheduler::SchedulerConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Errors of the harness (setting a cluster up, talking to it).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The `drover` binary is missing.
    #[error("{0}")]
    Binary(String),
    /// No free ports.
    #[error("no {0} consecutive free ports on 127.0.0.1")]
    Ports(u16),
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was done.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A `drover` command failed.
    #[error("`drover {args}` failed: {output}")]
    Command {
        /// Its arguments.
        args: String,
        /// Its stderr.
        output: String,
    },
    /// The HTTP API answered with an error or not at all.
    #[error("HTTP {what}: {detail}")]
    Http {
        /// Request.
        what: String,
        /// Cause.
        detail: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// No such agent.
    #[error("no agent {0} in this cluster")]
    NoAgent(usize),
}

type Result<T> = std::result::Result<T, ClusterError>;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Number of agents.
    pub agents: usize,
    /// Extra `drover master` flags (the defaults are the product's).
    pub master_flags: Vec<String>,
    /// Extra `drover agent` flags.
    pub agent_flags: Vec<String>,
    /// Containerizer of the agents (`mock` by default: tasks are simulated from
    /// `mock.*` labels, no process per task).
    pub containerizer: String,
    /// `--resources` of each agent.
    pub agent_resources: String,
    /// Seed of the master's drop decisions.
    pub fault_seed: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            agents: 1,
            master_flags: Vec::new(),
            agent_flags: Vec::new(),
            containerizer: "mock".into(),
            agent_resources: "cpus:64;mem:65536".into(),
            fault_seed: 0,
        }
    }
}

/// A running cluster; everything it started dies with it.
#[derive(Debug)]
pub struct Cluster {
    home: PathBuf,
    spec: ClusterSpec,
    port: u16,
    bin: PathBuf,
    master: Option<usize>,
    agents: Vec<Option<usize>>,
    procs: ProcGuard,
    http: reqwest::blocking::Client,
}

static CLUSTERS: AtomicU64 = AtomicU64::new(0);

/// Longest wait for a process to come up.
const START_WAIT: Duration = Duration::from_secs(30);

impl Cluster {
    /// Makes certificates, starts the master and the agents, and waits until every
    /// agent is registered.
    pub fn start(spec: ClusterSpec) -> Result<Cluster> {
        crate::procs::become_subreaper();
        let bin = drover_binary().map_err(ClusterError::Binary)?;
        let n = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let home = std::env::temp_dir().join(format!("chaos-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join("logs")).map_err(io("create the cluster home"))?;
        let ports = 1 + spec.agents as u16;
        let port = free_ports(ports, n).ok_or(ClusterError::Ports(ports))?;
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClusterError::Http {
                what: "client".into(),
                detail: e.to_string(),
            })?;
        let mut c = Cluster {
            procs: ProcGuard::new(home.display().to_string()),
            home,
            port,
            bin,
            master: None,
            agents: vec![None; spec.agents],
            spec,
            http,
        };
        c.certs()?;
        c.start_master()?;
        for i in 0..c.spec.agents {
            c.start_agent(i)?;
        }
        c.wait_for("every agent registered", START_WAIT, |c| {
            Ok(c.agents_by_status("active")?.len() == c.spec.agents)
        })?;
        Ok(c)
    }

    /// The cluster's home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The master's QUIC (and HTTP) address.
    pub fn master_addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn agent_addr(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.port + 1 + i as u16)
    }

    /// The certificate name of agent `i`, which fault rules target.
    pub fn agent_name(i: usize) -> String {
        format!("agent-{i}")
    }

    fn drover(&self, args: &[&str]) -> Result<()> {
        let out = Command::new(&self.bin)
            .args(args)
            .env("DROVER_HOME", &self.home)
            .stdin(Stdio::null())
            .output()
            .map_err(io(format!("run {}", self.bin.display())))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(ClusterError::Command {
                args: args.join(" "),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    fn certs(&self) -> Result<()> {
        self.drover(&["certs", "init"])?;
        let mut names: Vec<(String, &str)> = ["master", "scheduler", "executor"]
            .iter()
            .map(|r| (r.to_string(), *r))
            .collect();
        names.extend((0..self.spec.agents).map(|i| (Cluster::agent_name(i), "agent")));
        for (name, role) in names {
            self.drover(&["certs", "issue", "--role", role, "--name", &name])?;
        }
        Ok(())
    }

    fn spawn(&mut self, name: &str, args: &[String]) -> Result<usize> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.join("logs").join(format!("{name}.log")))
            .map_err(io("open a log file"))?;
        let err = log.try_clone().map_err(io("clone a log file"))?;
        let child = Command::new(&self.bin)
            .args(args)
            .env("DROVER_HOME", &self.home)
            .env(MARKER_ENV, self.home.display().to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(io(format!("start {}", self.bin.display())))?;
        Ok(self.procs.adopt(child))
    }

    /// Starts the master (again, after [`kill_master`](Self::kill_master)) on its work
    /// dir and waits for its HTTP API.
    pub fn start_master(&mut self) -> Result<()> {
        let mut args: Vec<String> = [
            "master",
            "--listen",
            &self.master_addr(),
            "--http",
            &self.master_addr(),
            "--work-dir",
            &self.home.join("master").display().to_string(),
            "--fault-injection",
            "--fault-seed",
            &self.spec.fault_seed.to_string(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(self.spec.master_flags.iter().cloned());
        self.master = Some(self.spawn("master", &args)?);
        self.wait_for("the master's HTTP API", START_WAIT, |c| {
            Ok(c.state().is_ok())
        })
    }

    /// SIGKILLs the master.
    pub fn kill_master(&mut self) -> Result<()> {
        let i = self
            .master
            .take()
            .ok_or(ClusterError::NoAgent(usize::MAX))?;
        self.sigkill(i)
    }

    /// Starts agent `i` (again, after [`kill_agent`](Self::kill_agent): same work dir,
    /// so it recovers) without waiting for its registration.
    pub fn start_agent(&mut self, i: usize) -> Result<()> {
        if i >= self.agents.len() {
            return Err(ClusterError::NoAgent(i));
        }
        let name = Cluster::agent_name(i);
        let mut args: Vec<String> = [
            "agent",
            "--master",
            &self.master_addr(),
            "--listen",
            &self.agent_addr(i),
            "--http",
            &self.agent_addr(i),
            "--work-dir",
            &self.home.join(&name).display().to_string(),
            "--containerizers",
            &self.spec.containerizer,
            "--resources",
            &self.spec.agent_resources,
            "--hostname",
            &name,
            "--cert-name",
            &name,
        ]
        .map(String::from)
        .to_vec();
        args.extend(self.spec.agent_flags.iter().cloned());
        self.agents[i] = Some(self.spawn(&name, &args)?);
        Ok(())
    }

    /// `kill -9` agent `i`; returns when it is dead (reaped), with the instant the signal
    /// was sent.
    pub fn kill_agent(&mut self, i: usize) -> Result<Instant> {
        let idx = self
            .agents
            .get_mut(i)
            .and_then(Option::take)
            .ok_or(ClusterError::NoAgent(i))?;
        let at = Instant::now();
        self.sigkill(idx)?;
        Ok(at)
    }

    /// Agent `i`'s exit status if its process has ended (e.g. refused by the master).
    pub fn agent_exited(&mut self, i: usize) -> Result<Option<std::process::ExitStatus>> {
        let idx = self
            .agents
            .get(i)
            .copied()
            .flatten()
            .ok_or(ClusterError::NoAgent(i))?;
        match self.procs.child(idx) {
            Some(c) => c.try_wait().map_err(io("wait for an agent")),
            None => Err(ClusterError::NoAgent(i)),
        }
    }

    fn sigkill(&mut self, idx: usize) -> Result<()> {
        if let Some(child) = self.procs.child(idx) {
            child.kill().map_err(io("SIGKILL"))?;
            child.wait().map_err(io("reap"))?;
        }
        Ok(())
    }

    /// Sets the master's fault rule for agent `i` (see `drover master --fault-injection`).
    pub fn set_fault(&self, i: usize, partitioned: bool, drop: f64) -> Result<()> {
        let body = serde_json::json!({
            "peer": Cluster::agent_name(i),
            "partitioned": partitioned,
            "drop": drop,
        });
        self.http_call(
            "POST /faults",
            self.http.post(self.url("/faults")).json(&body),
        )
        .map(drop_value)
    }

    /// Cuts agent `i` off: every message between it and the master is lost.
    pub fn partition(&self, i: usize) -> Result<()> {
        self.set_fault(i, true, 0.0)
    }

    /// Removes every fault rule.
    pub fn heal_all(&self) -> Result<()> {
        self.http_call("DELETE /faults", self.http.delete(self.url("/faults")))
            .map(drop_value)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.master_addr())
    }

    fn http_call(
        &self,
        what: &str,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<serde_json::Value> {
        let err = |detail: String| ClusterError::Http {
            what: what.to_owned(),
            detail,
        };
        let resp = req.send().map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!(
                "{status}: {}",
                resp.text().unwrap_or_default()
            )));
        }
        resp.json().map_err(|e| err(e.to_string()))
    }

    /// The master's `/state`.
    pub fn state(&self) -> Result<serde_json::Value> {
        self.http_call("GET /state", self.http.get(self.url("/state")))
    }

    /// Ids of the agents the master lists with `status` (`active`, `unreachable`, …).
    pub fn agents_by_status(&self, status: &str) -> Result<Vec<String>> {
        let state = self.state()?;
        Ok(state["agents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|a| a["status"] == status)
                    .filter_map(|a| a["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The id the master gave agent `i` (by its hostname, `agent-<i>`), if listed.
    pub fn agent_id(&self, i: usize) -> Result<Option<String>> {
        let state = self.state()?;
        let name = Cluster::agent_name(i);
        Ok(state["agents"].as_array().and_then(|a| {
            a.iter()
                .find(|a| a["hostname"] == name.as_str())
                .and_then(|a| a["id"].as_str().map(str::to_owned))
        }))
    }

    /// Agent `i`'s own `/state` (its HTTP API).
    pub fn agent_state(&self, i: usize) -> Result<serde_json::Value> {
        let url = format!("http://{}/state", self.agent_addr(i));
        self.http_call("GET agent /state", self.http.get(url))
    }

    /// Ids of the live (non-terminal) tasks agent `i` runs, from its own `/state`.
    pub fn agent_live_tasks(&self, i: usize) -> Result<std::collections::BTreeSet<String>> {
        let state = self.agent_state(i)?;
        let empty = Vec::new();
        let ids = state["frameworks"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .flat_map(|f| f["executors"].as_array().unwrap_or(&empty))
            .flat_map(|e| e["tasks"].as_array().unwrap_or(&empty))
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        Ok(ids)
    }

    /// A scheduler configuration for `info` against this cluster.
    pub fn scheduler_config(&self, info: FrameworkInfo) -> SchedulerConfig {
        SchedulerConfig::new(
            vec![self.master_addr()],
            self.home.join("tls"),
            "scheduler",
            info,
        )
    }

    /// Polls `check` every 50 ms until it says yes; errors of `check` count as "not yet".
    pub fn wait_for(
        &self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Cluster) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if matches!(check(self), Ok(true)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout(within, what.to_owned()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `lines` lines of each process's log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut names = vec!["master".to_owned()];
        names.extend((0..self.agents.len()).map(Cluster::agent_name));
        names
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.home.join("logs").join(format!("{n}.log")))
                    .unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                let tail = &all[all.len().saturating_sub(lines)..];
                format!("--- {n}.log (tail) ---\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn drop_value(_: serde_json::Value) {}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The guard kills everything; then the home can go (kept when failing, for the
        // logs).
        let procs = std::mem::replace(&mut self.procs, ProcGuard::new(String::new()));
        drop(procs);
        if std::thread::panicking() {
            eprintln!("chaos cluster kept for inspection: {}", self.home.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.home);
        }
    }
}
