//! `drover run [flags] -- CMD ARGS…`: a one-task framework, like `mesos-execute`. It
//! subscribes, launches the command on the first offer that fits, prints state
//! transitions, streams the task's stdout/stderr from the agent's sandbox, and exits
//! with the task's exit code (non-zero with the reason printed when the task fails for
//! another cause). `--health-http`/`--health-tcp`/`--health-cmd` attach a health check
//! (see [`super::health`]); its transitions are printed as they come.

use crate::cmd::stream::Streamer;
use anyhow::{Context, Result};
use clap::Args;
use drover_proto::{
    AttributeValue, CommandInfo, ContainerInfo, ContainerType, DockerInfo, Filters, FrameworkInfo,
    MesosInfo, Offer, Parameter, Resources, TaskId, TaskInfo, TaskState, TaskStatus, Volume,
    VolumeMode,
};
use drover_sdk::scheduler::{Scheduler, SchedulerConfig, SchedulerDriver, SchedulerRun};
use std::sync::mpsc;
use std::time::Duration;

/// `drover run` flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Master QUIC address (default: the local cluster from `drover up`).
    #[arg(long)]
    master: Option<String>,
    /// CPUs for the task.
    #[arg(long, default_value_t = 0.1)]
    cpus: f64,
    /// Memory for the task, in MB.
    #[arg(long, default_value_t = 32.0)]
    mem: f64,
    /// posix | native | docker (default: the agent's first containerizer).
    #[arg(long)]
    containerizer: Option<String>,
    /// Image: a Docker image, or for native the absolute path of a root filesystem
    /// directory or tarball (e.g. `docker export` output), unpacked once per agent.
    #[arg(long)]
    image: Option<String>,
    /// Host path to mount in the container, `HOST:CONTAINER[:ro|rw]` (repeatable;
    /// native or docker). A relative CONTAINER path is under the sandbox.
    #[arg(long = "volume", value_name = "HOST:CONTAINER[:ro|rw]")]
    volumes: Vec<String>,
    /// Environment variable for the task (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Task name (default: the command).
    #[arg(long)]
    name: Option<String>,
    /// Role to take resources in.
    #[arg(long, default_value = "*")]
    role: String,
    /// Give up if the master cannot be reached within this time.
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration)]
    connect_timeout: Duration,
    /// Give up if no offer fits the task within this time.
    #[arg(long, default_value = "30s", value_parser = crate::parse_duration)]
    offer_timeout: Duration,
    /// The container as a Marathon app's `container` JSON section (e.g.
    /// `{"type":"DOCKER","docker":{"image":"httpd","network":"BRIDGE"}}`), instead of
    /// `--containerizer`/`--image`.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["containerizer", "image"])]
    container_json: Option<String>,
    /// Docker: publish a container port on a host port, `HOST:CONTAINER[/tcp|udp]`
    /// (repeatable). Host port 0 picks any port of the offer (Marathon's `hostPort: 0`);
    /// the task gets its host ports as `PORT0…`/`PORTS`.
    #[arg(long = "publish", value_name = "HOST:CONTAINER")]
    publish: Vec<String>,
    /// Do not stream the task's output.
    #[arg(long)]
    no_output: bool,
    #[command(flatten)]
    health: super::health::HealthArgs,
    /// The command: one argument runs with `sh -c`, several are an argv.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

enum Event {
    Launched,
    Update(TaskStatus),
    Error(String),
    Interrupted,
}

struct RunScheduler {
    template: TaskInfo,
    need: Resources,
    containerizer: Option<String>,
    launched: bool,
    tx: mpsc::Sender<Event>,
}

impl RunScheduler {
    /// The template's port mappings (Docker `--publish`).
    fn mappings(&self) -> &[drover_proto::PortMapping] {
        self.template
            .container
            .as_ref()
            .and_then(|c| c.docker.as_ref())
            .map_or(&[], |d| d.port_mappings.as_slice())
    }

    fn fits(&self, offer: &Offer) -> bool {
        if !offer.resources.contains(&self.need) {
            return false;
        }
        if super::publish::pick(self.mappings(), &offer.resources).is_none() {
            return false;
        }
        let Some(wanted) = &self.containerizer else {
            return true;
        };
        let has = offer.attributes.iter().find(|a| a.name == "containerizers");
        match has.map(|a| &a.value) {
            Some(AttributeValue::Text(list)) => {
                let mut list = list.split(',').map(str::trim);
                if wanted == "posix" {
                    list.next() == Some("posix")
                } else {
                    list.any(|c| c == wanted)
                }
            }
            _ => true,
        }
    }
}

impl Scheduler for RunScheduler {
    fn offers(&mut self, driver: &SchedulerDriver, offers: Vec<Offer>) {
        for offer in offers {
            if self.launched || !self.fits(&offer) {
                let refuse = if self.launched { 3600.0 } else { 1.0 };
                let _ = driver.decline(
                    offer.id,
                    Filters {
                        refuse_seconds: refuse,
                    },
                );
                continue;
            }
            let mut task = self.template.clone();
            task.agent_id = offer.agent_id.clone();
            if let Some((mappings, ports)) = super::publish::pick(self.mappings(), &offer.resources)
            {
                if let Some(d) = task.container.as_mut().and_then(|c| c.docker.as_mut()) {
                    d.port_mappings = mappings;
                }
                task.resources += &ports;
            }
            eprintln!(
                "launching task {} on agent {} ({})",
                task.task_id, offer.agent_id, offer.hostname
            );
            self.launched = true;
            let _ = self.tx.send(Event::Launched);
            let _ = driver.launch([offer.id], vec![task]);
            let _ = driver.suppress(vec![]);
        }
    }

    fn status_update(&mut self, _driver: &SchedulerDriver, status: TaskStatus) {
        let _ = self.tx.send(Event::Update(status));
    }

    fn rejected(&mut self, _driver: &SchedulerDriver, call: String, message: String) {
        eprintln!("master rejected {call}: {message}");
    }

    fn error(&mut self, _driver: &SchedulerDriver, message: String) {
        let _ = self.tx.send(Event::Error(message));
    }
}

/// `HOST:CONTAINER[:ro|rw]`.
fn parse_volume(text: &str) -> Result<Volume> {
    let bad = || anyhow::anyhow!("invalid --volume '{text}': expected HOST:CONTAINER[:ro|rw]");
    let mut parts = text.split(':');
    let (host, container) = match (parts.next(), parts.next()) {
        (Some(h), Some(c)) if !h.is_empty() && !c.is_empty() => (h, c),
        _ => return Err(bad()),
    };
    let mode = match parts.next() {
        None | Some("rw") => VolumeMode::Rw,
        Some("ro") => VolumeMode::Ro,
        Some(_) => return Err(bad()),
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(Volume {
        container_path: container.to_owned(),
        host_path: Some(host.to_owned()),
        mode,
    })
}

fn container(a: &RunArgs) -> Result<Option<ContainerInfo>> {
    let volumes = a
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    if let Some(json) = &a.container_json {
        let mut c = drover_apps::container::container_from_json(json)?;
        for p in &a.publish {
            let Some(d) = c.docker.as_mut() else {
                anyhow::bail!("--publish needs a DOCKER container");
            };
            d.port_mappings.push(super::publish::parse(p)?);
        }
        return Ok(Some(c));
    }
    let mappings = a
        .publish
        .iter()
        .map(|p| super::publish::parse(p))
        .collect::<Result<Vec<_>>>()?;
    if !mappings.is_empty() && a.containerizer.as_deref() != Some("docker") {
        anyhow::bail!("--publish needs --containerizer docker");
    }
    let kind = match (a.containerizer.as_deref(), &a.image) {
        (Some("docker"), Some(_)) => ContainerType::Docker,
        (Some("docker"), None) => anyhow::bail!("--containerizer docker needs --image"),
        (Some("native"), _) | (None, Some(_)) => ContainerType::Mesos,
        (Some("posix"), Some(_)) => anyhow::bail!("the posix containerizer cannot use an --image"),
        (Some("posix"), None) if !volumes.is_empty() => {
            anyhow::bail!("the posix containerizer cannot mount a --volume")
        }
        (None, None) if !volumes.is_empty() => ContainerType::Mesos,
        (Some("posix"), None) | (None, None) => return Ok(None),
        (Some(other), _) => {
            anyhow::bail!("unknown containerizer '{other}': use posix, native or docker")
        }
    };
    Ok(Some(ContainerInfo {
        kind,
        docker: (kind == ContainerType::Docker).then(|| DockerInfo {
            image: a.image.clone().unwrap_or_default(),
            port_mappings: mappings,
            ..DockerInfo::default()
        }),
        mesos: (kind == ContainerType::Mesos).then(|| MesosInfo {
            image: a.image.clone(),
        }),
        volumes,
        hostname: None,
    }))
}

/// The exit code for a terminal status: the command's own code when it exited, else 1
/// (and 128+N for a signal, as shells do).
fn exit_code(status: &TaskStatus) -> i32 {
    match status.state {
        TaskState::Finished => 0,
        _ => {
            let msg = status.message.as_deref().unwrap_or("");
            if let Some(rest) = msg.split("exited with status ").nth(1) {
                if let Ok(code) = rest
                    .trim()
                    .split(|c: char| !c.is_ascii_digit() && c != '-')
                    .next()
                    .unwrap_or("")
                    .parse::<i32>()
                {
                    if code != 0 {
                        return code;
                    }
                }
            }
            if msg.contains("terminated with signal") {
                return 137;
            }
            1
        }
    }
}

/// Runs one task and returns its exit code.
pub(crate) fn run(a: RunArgs) -> Result<i32> {
    let master = crate::home::master_addr(a.master.as_deref())?;
    let http = crate::home::master_http(a.master.as_deref())?;
    let tls_dir = crate::home::tls_dir();
    let mut env = Vec::new();
    for kv in &a.env {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("invalid --env '{kv}': expected K=V"))?;
        env.push(Parameter::new(k, v));
    }
    let mut command = if a.command.len() == 1 {
        CommandInfo::shell(a.command[0].clone())
    } else {
        CommandInfo::argv(a.command[0].clone(), a.command[1..].iter().cloned())
    };
    command.environment = env;
    let need: Resources = format!("cpus:{};mem:{}", a.cpus, a.mem)
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid --cpus/--mem: {e}"))?;
    let suffix = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0)
    );
    let task_id = TaskId::new(format!("run-{suffix}"));
    let mut template =
        TaskInfo::command(task_id.clone(), Default::default(), need.clone(), command);
    template.name = a.name.clone().unwrap_or_else(|| a.command.join(" "));
    template.container = container(&a)?;
    template.health_check = a.health.check()?;
    let template_kind = template.container.as_ref().map(|c| c.kind);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let mut framework = FrameworkInfo::new("drover-run", user);
    framework.roles = vec![a.role.clone()];
    let (tx, rx) = mpsc::channel();
    let scheduler = RunScheduler {
        template,
        need,
        containerizer: a.containerizer.clone().or_else(|| {
            let c = a.container_json.as_ref().and(template_kind)?;
            Some(
                if c == ContainerType::Docker {
                    "docker"
                } else {
                    "native"
                }
                .to_owned(),
            )
        }),
        launched: false,
        tx: tx.clone(),
    };
    let config = SchedulerConfig::new(vec![master.to_string()], tls_dir, "scheduler", framework);
    let (driver, run) = SchedulerDriver::start(config, scheduler)
        .with_context(|| format!("cannot start a framework against the master at {master}"))?;
    std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            // Every SIGINT/SIGTERM, not just the first: a second one must end it too.
            rt.block_on(async {
                loop {
                    crate::wait_for_signal().await;
                    if tx.send(Event::Interrupted).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut streamer: Option<Streamer> = None;
    let mut code = 1;
    let mut killed_by_user = false;
    // Set on an interrupt: give up on the task's end at that time.
    let mut give_up_at: Option<std::time::Instant> = None;
    let started = std::time::Instant::now();
    let mut ever_subscribed = false;
    let mut launched = false;
    loop {
        let ev = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(ev) => ev,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if give_up_at.is_some() && !driver.is_subscribed() {
                    eprintln!("lost the master at {master} while killing task {task_id}: exiting");
                    return Ok(abandon(&driver, run, 130));
                }
                if give_up_at.is_some_and(|at| std::time::Instant::now() >= at) {
                    eprintln!(
                        "task {task_id} did not report its end within {KILL_WAIT:?} of the \
                         kill (is the master at {master} still up?): exiting"
                    );
                    return Ok(abandon(&driver, run, 130));
                }
                ever_subscribed |= driver.is_subscribed();
                if ever_subscribed
                    && !launched
                    && started.elapsed() > a.connect_timeout + a.offer_timeout
                {
                    let _ = driver.teardown();
                    let _ = run.join();
                    anyhow::bail!(
                        "no agent offered cpus:{} mem:{}{} within {:?}",
                        a.cpus,
                        a.mem,
                        a.containerizer
                            .as_ref()
                            .map(|c| format!(" with the {c} containerizer"))
                            .unwrap_or_default(),
                        a.offer_timeout
                    );
                }
                if !ever_subscribed && started.elapsed() > a.connect_timeout {
                    let _ = driver.stop(false);
                    anyhow::bail!(
                        "cannot reach a master at {master} within {:?} (is the cluster up? see `drover up`)",
                        a.connect_timeout
                    );
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match ev {
            Event::Launched => launched = true,
            Event::Update(status) => {
                if status.task_id != task_id {
                    continue;
                }
                let msg = status
                    .message
                    .clone()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let reason = status.reason.map(|r| format!(" ({r})")).unwrap_or_default();
                let health = super::health::describe(&status);
                if super::health::is_health_change(&status) {
                    eprintln!("task {} is{health}", status.task_id);
                } else {
                    eprintln!(
                        "task {} {}{health}{reason}{msg}",
                        status.task_id, status.state
                    );
                }
                if status.state == TaskState::Running && streamer.is_none() && !a.no_output {
                    if let Some(agent) = &status.agent_id {
                        streamer = Some(Streamer::start(http, agent.clone(), task_id.clone()));
                    }
                }
                if status.state.is_terminal() {
                    code = if killed_by_user {
                        130
                    } else {
                        exit_code(&status)
                    };
                    break;
                }
            }
            Event::Error(m) => {
                eprintln!("framework error: {m}");
                break;
            }
            Event::Interrupted => match on_interrupt(killed_by_user, driver.is_subscribed()) {
                OnInterrupt::KillTask => {
                    eprintln!("interrupted: killing task {task_id}");
                    killed_by_user = true;
                    give_up_at = Some(std::time::Instant::now() + KILL_WAIT);
                    let _ = driver.kill(task_id.clone(), None);
                }
                OnInterrupt::Exit(why) => {
                    eprintln!("interrupted: {why} (task {task_id}, master {master})");
                    return Ok(abandon(&driver, run, 130));
                }
            },
        }
    }
    if let Some(s) = streamer {
        s.finish();
    }
    let _ = driver.teardown();
    join_bounded(run);
    Ok(code)
}

/// How long `drover run` waits, after an interrupt killed its task, for the task's
/// terminal update: the default kill grace period (3 s) plus the round trip through the
/// master and agent, with room to spare.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Longest wait for the scheduler driver to end once asked to (its teardown may not get
/// through to a master that is gone).
const DRIVER_END_WAIT: Duration = Duration::from_secs(3);

/// What a SIGINT/SIGTERM does to `drover run`.
#[derive(Debug, PartialEq, Eq)]
enum OnInterrupt {
    /// Ask the master to kill the task and wait (at most [`KILL_WAIT`]) for its end.
    KillTask,
    /// End now, non-zero, saying why.
    Exit(&'static str),
}

/// Decides what an interrupt does: the first one kills the task through the master if
/// the framework is subscribed; without a master, or on a second interrupt, `drover run`
/// ends at once (the task, if any, is left to the cluster).
fn on_interrupt(already_killing: bool, subscribed: bool) -> OnInterrupt {
    if already_killing {
        OnInterrupt::Exit("interrupted again: not waiting for the task to end")
    } else if !subscribed {
        OnInterrupt::Exit("the master is unreachable, cannot kill the task: exiting")
    } else {
        OnInterrupt::KillTask
    }
}

/// Tears the framework down (if the master can still hear it) without waiting for the
/// task, and returns `code`.
fn abandon(driver: &SchedulerDriver, run: SchedulerRun, code: i32) -> i32 {
    let _ = driver.teardown();
    join_bounded(run);
    code
}

/// Waits at most [`DRIVER_END_WAIT`] for the driver to end; after that it is left to the
/// process's exit.
fn join_bounded(run: SchedulerRun) {
    let deadline = std::time::Instant::now() + DRIVER_END_WAIT;
    while !run.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if run.is_finished() {
        let _ = run.join();
    } else {
        tracing::warn!("the scheduler driver did not stop in time; exiting anyway");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupt_kills_the_task_only_through_a_reachable_master() {
        assert_eq!(on_interrupt(false, true), OnInterrupt::KillTask);
        assert!(matches!(on_interrupt(false, false), OnInterrupt::Exit(_)));
        assert!(matches!(on_interrupt(true, true), OnInterrupt::Exit(_)));
        assert!(matches!(on_interrupt(true, false), OnInterrupt::Exit(_)));
    }

    #[test]
    fn volumes_parse_with_modes_and_bad_ones_are_refused() {
        let v = parse_volume("/srv/data:/data:ro").unwrap();
        assert_eq!(
            (v.host_path.as_deref(), v.container_path.as_str(), v.mode),
            (Some("/srv/data"), "/data", VolumeMode::Ro)
        );
        assert_eq!(parse_volume("/a:b").unwrap().mode, VolumeMode::Rw);
        for bad in ["/a", ":/b", "/a:", "/a:/b:rx", "/a:/b:ro:x"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }
}
