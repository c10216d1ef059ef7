//! `drover state`, `drover agents`, `drover tasks`: read the master's `/state` and print
//! human tables, or JSON with `--json`.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

/// Flags shared by the read commands.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// Master HTTP address (default: the local cluster from `drover up`).
    #[arg(long)]
    pub(crate) master: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `drover tasks` flags.
#[derive(Debug, Args)]
pub(crate) struct TasksArgs {
    #[command(flatten)]
    pub(crate) query: QueryArgs,
    /// Also list completed tasks (terminal ones the master still keeps, including those
    /// of removed frameworks), like `mesos task list --all`.
    #[arg(long, short = 'a')]
    pub(crate) all: bool,
}

/// What to show.
#[derive(Debug, Clone, Copy)]
pub(crate) enum View {
    /// Everything.
    State,
    /// Agents.
    Agents,
    /// Tasks; with `all`, completed ones too.
    Tasks {
        /// Include completed tasks.
        all: bool,
    },
}

/// Fetches `/state`.
pub(crate) fn fetch_state(master: Option<&str>) -> Result<Value> {
    let addr = crate::home::master_http(master)?;
    let url = format!("http://{addr}/state");
    let resp = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?
        .get(&url)
        .send()
        .with_context(|| format!("cannot reach the master at {url}"))?;
    if !resp.status().is_success() {
        anyhow::bail!("master answered {} for {url}", resp.status());
    }
    resp.json().context("master sent invalid JSON")
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

fn agents_table(state: &Value) -> String {
    let rows = state["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                s(a, "id"),
                s(a, "hostname"),
                s(a, "status"),
                s(a, "resources"),
                s(a, "used_resources"),
                a["containerizers"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
                s(a, "tasks"),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "HOST",
            "STATUS",
            "RESOURCES",
            "USED",
            "CONTAINERIZERS",
            "TASKS",
        ],
        rows,
    )
}

/// Every task of `/state` with its framework: active ones, then (with `all`) completed
/// ones of current frameworks, then those of removed frameworks.
fn tasks_of(state: &Value, all: bool) -> Vec<(&Value, &Value)> {
    let mut out: Vec<(&Value, &Value)> = Vec::new();
    for f in state["frameworks"].as_array().into_iter().flatten() {
        for t in f["tasks"].as_array().into_iter().flatten() {
            out.push((f, t));
        }
    }
    if all {
        for key in ["frameworks", "completed_frameworks"] {
            for f in state[key].as_array().into_iter().flatten() {
                for t in f["completed_tasks"].as_array().into_iter().flatten() {
                    out.push((f, t));
                }
            }
        }
    }
    out
}

fn tasks_table(state: &Value, all: bool) -> String {
    let rows = tasks_of(state, all)
        .into_iter()
        .map(|(f, t)| {
            vec![
                s(t, "id"),
                s(f, "name"),
                s(t, "state"),
                match t["healthy"].as_bool() {
                    Some(true) => "healthy".into(),
                    Some(false) => "unhealthy".into(),
                    None => "-".into(),
                },
                s(t, "agent_id"),
                s(t, "resources"),
            ]
        })
        .collect();
    table(
        &["ID", "FRAMEWORK", "STATE", "HEALTH", "AGENT", "RESOURCES"],
        rows,
    )
}

fn frameworks_table(state: &Value) -> String {
    let rows = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            vec![
                s(f, "id"),
                s(f, "name"),
                f["roles"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
                if f["active"].as_bool() == Some(true) {
                    "active"
                } else {
                    "inactive"
                }
                .into(),
                f["tasks"].as_array().map_or(0, Vec::len).to_string(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "ROLES", "STATUS", "TASKS"], rows)
}

/// Runs a read command.
pub(crate) fn run(view: View, a: QueryArgs) -> Result<()> {
    let state = fetch_state(a.master.as_deref())?;
    if a.json {
        let v = match view {
            View::State => state,
            View::Agents => state["agents"].clone(),
            View::Tasks { all } => Value::Array(
                tasks_of(&state, all)
                    .into_iter()
                    .map(|(_, t)| t.clone())
                    .collect(),
            ),
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    match view {
        View::State => {
            let m = &state["master"];
            println!(
                "master {} on {}:{} (http {})\n",
                s(m, "id"),
                s(m, "hostname"),
                s(m, "port"),
                s(m, "http_port")
            );
            println!("AGENTS\n{}", agents_table(&state));
            println!("FRAMEWORKS\n{}", frameworks_table(&state));
            println!("TASKS\n{}", tasks_table(&state, false));
        }
        View::Agents => print!("{}", agents_table(&state)),
        View::Tasks { all } => print!("{}", tasks_table(&state, all)),
    }
    Ok(())
}
