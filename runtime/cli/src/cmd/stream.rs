//! Streams a task's `stdout` and `stderr` from its agent's sandbox, through the agent's
//! `/files/read` API, to this process's stdout and stderr (what `drover run` shows).
//!
//! ```text
//!  master /state ─▶ agent hostname:http_port ─▶ agent /state ─▶ sandbox directory
//!  loop: /files/read?path=<dir>/stdout&offset=N ─▶ print, N += len   (same for stderr)
//! ```

use drover_proto::{AgentId, TaskId};
use serde_json::Value;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running stream; [`finish`](Self::finish) reads what is left and stops.
pub(crate) struct Streamer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Streamer {
    /// Starts streaming the sandbox of `task` on `agent`.
    pub(crate) fn start(master_http: SocketAddr, agent: AgentId, task: TaskId) -> Streamer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            if let Err(e) = stream(master_http, &agent, &task, &flag) {
                eprintln!("(cannot stream the task's output: {e})");
            }
        });
        Streamer { stop, thread }
    }

    /// Reads the rest of the output, then stops.
    pub(crate) fn finish(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_else(|_| reqwest::blocking::Client::new())
}

fn get_json(c: &reqwest::blocking::Client, url: &str) -> Result<Value, String> {
    let r = c.get(url).send().map_err(|e| format!("{url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("{url}: {}", r.status()));
    }
    r.json().map_err(|e| format!("{url}: {e}"))
}

/// The agent's HTTP base URL, from the master's `/state`.
fn agent_url(
    c: &reqwest::blocking::Client,
    master: SocketAddr,
    agent: &AgentId,
) -> Result<String, String> {
    let state = get_json(c, &format!("http://{master}/state"))?;
    let a = state["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"].as_str() == Some(agent.as_str()))
        .ok_or_else(|| format!("agent {agent} is not in the master's state"))?;
    let port = a["http_port"].as_u64().unwrap_or(5051);
    let host = a["hostname"].as_str().unwrap_or("127.0.0.1");
    // The hostname may not resolve from here; the master's host is a good guess for a
    // local cluster.
    let by_name = format!("http://{host}:{port}");
    if c.get(format!("{by_name}/health")).send().is_ok() {
        return Ok(by_name);
    }
    Ok(format!("http://{}:{port}", master.ip()))
}

/// Finds the sandbox directory of `task` in the agent's `/state`: the `directory` of the
/// object (executor or task) whose subtree names the task.
fn find_directory(v: &Value, task: &str) -> Option<String> {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(dir)) = m.get("directory") {
                if mentions(v, task) {
                    return Some(dir.clone());
                }
            }
            m.values().find_map(|x| find_directory(x, task))
        }
        Value::Array(a) => a.iter().find_map(|x| find_directory(x, task)),
        _ => None,
    }
}

fn mentions(v: &Value, s: &str) -> bool {
    match v {
        Value::String(x) => x == s,
        Value::Object(m) => m.values().any(|x| mentions(x, s)),
        Value::Array(a) => a.iter().any(|x| mentions(x, s)),
        _ => false,
    }
}

fn stream(
    master: SocketAddr,
    agent: &AgentId,
    task: &TaskId,
    stop: &AtomicBool,
) -> Result<(), String> {
    let c = client();
    let base = agent_url(&c, master, agent)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let dir = loop {
        let state = get_json(&c, &format!("{base}/state"))?;
        if let Some(d) = find_directory(&state, task.as_str()) {
            break d;
        }
        if Instant::now() > deadline || stop.load(Ordering::Acquire) {
            return Err(format!("task {task} has no sandbox on agent {agent}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut offsets = [0u64, 0u64];
    loop {
        let last = stop.load(Ordering::Acquire);
        for (i, name) in ["stdout", "stderr"].iter().enumerate() {
            // Drain everything available in bounded chunks.
            loop {
                let url = format!(
                    "{base}/files/read?path={dir}/{name}&offset={}&length=65536",
                    offsets[i]
                );
                let Ok(v) = get_json(&c, &url) else { break };
                let data = v["data"].as_str().unwrap_or("");
                if data.is_empty() {
                    break;
                }
                offsets[i] += data.len() as u64;
                if i == 0 {
                    let _ = std::io::stdout().write_all(data.as_bytes());
                    let _ = std::io::stdout().flush();
                } else {
                    let _ = std::io::stderr().write_all(data.as_bytes());
                }
            }
        }
        if last {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
