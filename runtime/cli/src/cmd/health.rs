//! `drover run`'s health-check flags (named after Marathon's health check fields) and
//! how a task's health is shown. Mesos's defaults apply to the timings a user leaves
//! out, except where noted.
//!
//! ```text
//!  --health-http 8080/ready   GET http://127.0.0.1:8080/ready inside the task's network
//!  --health-tcp 6379          connect to 127.0.0.1:6379
//!  --health-cmd 'test -f up'  run the command next to the task; exit 0 is healthy
//! ```

use anyhow::{bail, Context, Result};
use clap::Args;
use drover_proto::{CommandInfo, HealthCheck, HealthCheckKind, TaskStatus, TaskStatusReason};
use drover_sdk::command_executor::health::mesos_defaults;
use std::time::Duration;

/// Health-check flags of `drover run`.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Health check: run this shell command next to the task; exit 0 is healthy.
    #[arg(long, value_name = "CMD", group = "health")]
    health_cmd: Option<String>,
    /// Health check: GET http://127.0.0.1:PORT/PATH in the task's network; a 2xx or 3xx
    /// answer is healthy.
    #[arg(long, value_name = "PORT[/PATH]", group = "health")]
    health_http: Option<String>,
    /// Health check: connect to 127.0.0.1:PORT in the task's network.
    #[arg(long, value_name = "PORT", group = "health")]
    health_tcp: Option<u16>,
    /// Wait this long after the task runs before the first check (Mesos delay_seconds).
    #[arg(long, default_value = "15s", value_parser = crate::parse_duration)]
    health_delay: Duration,
    /// Time between checks (Marathon intervalSeconds).
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    health_interval: Duration,
    /// A check that takes longer has failed (Marathon timeoutSeconds).
    #[arg(long, default_value = "20s", value_parser = crate::parse_duration)]
    health_timeout: Duration,
    /// Failures in this window after the task starts do not count until its first
    /// success (Marathon gracePeriodSeconds).
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    health_grace_period: Duration,
    /// Kill the task after this many consecutive failures; 0 never kills (Marathon
    /// maxConsecutiveFailures).
    #[arg(long, default_value_t = 3)]
    health_max_failures: u32,
}

impl HealthArgs {
    /// The health check the flags ask for, if any.
    pub(crate) fn check(&self) -> Result<Option<HealthCheck>> {
        let kind = if let Some(cmd) = &self.health_cmd {
            HealthCheckKind::Command(CommandInfo::shell(cmd.clone()))
        } else if let Some(spec) = &self.health_http {
            let (port, path) = parse_http(spec)?;
            HealthCheckKind::Http { port, path }
        } else if let Some(port) = self.health_tcp {
            HealthCheckKind::Tcp { port }
        } else {
            return Ok(None);
        };
        if self.health_interval.is_zero() || self.health_timeout.is_zero() {
            bail!("--health-interval and --health-timeout must be more than 0");
        }
        Ok(Some(HealthCheck {
            delay: self.health_delay,
            interval: self.health_interval,
            timeout: self.health_timeout,
            consecutive_failures: self.health_max_failures,
            grace_period: self.health_grace_period,
            ..mesos_defaults(kind)
        }))
    }
}

/// `8080` → (8080, "/"); `8080/ready` → (8080, "/ready").
fn parse_http(spec: &str) -> Result<(u16, String)> {
    let (port, path) = match spec.split_once('/') {
        Some((port, path)) => (port, format!("/{path}")),
        None => (spec, "/".to_owned()),
    };
    let port = port
        .parse()
        .with_context(|| format!("invalid --health-http '{spec}': expected PORT or PORT/PATH"))?;
    Ok((port, path))
}

/// ` healthy` / ` unhealthy` for an update that carries health, to follow its state.
pub(crate) fn describe(status: &TaskStatus) -> &'static str {
    match status.healthy {
        Some(true) => " healthy",
        Some(false) => " unhealthy",
        None => "",
    }
}

/// Whether the update only says that the task's health changed.
pub(crate) fn is_health_change(status: &TaskStatus) -> bool {
    status.healthy.is_some()
        && status.reason == Some(TaskStatusReason::TaskHealthCheckStatusUpdated)
        && !status.state.is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        health: HealthArgs,
    }

    fn check(args: &[&str]) -> Result<Option<HealthCheck>> {
        let mut argv = vec!["drover"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.health.check()
    }

    #[test]
    fn no_flag_no_check() {
        assert_eq!(check(&[]).ok().flatten(), None);
    }

    #[test]
    fn http_with_and_without_a_path_and_timings() {
        let c = check(&[
            "--health-http",
            "8080/ready/now",
            "--health-interval",
            "2s",
            "--health-max-failures",
            "5",
        ])
        .ok()
        .flatten()
        .map(|c| (c.kind, c.interval, c.consecutive_failures, c.delay));
        assert_eq!(
            c,
            Some((
                HealthCheckKind::Http {
                    port: 8080,
                    path: "/ready/now".into()
                },
                Duration::from_secs(2),
                5,
                Duration::from_secs(15)
            ))
        );
        let c = check(&["--health-http", "80"])
            .ok()
            .flatten()
            .map(|c| c.kind);
        assert_eq!(
            c,
            Some(HealthCheckKind::Http {
                port: 80,
                path: "/".into()
            })
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(check(&["--health-http", "http://x"]).is_err());
        assert!(check(&["--health-tcp", "70000"]).is_err());
        assert!(
            check(&["--health-tcp", "1", "--health-cmd", "true"]).is_err(),
            "one kind only"
        );
        assert!(check(&["--health-tcp", "1", "--health-interval", "0s"]).is_err());
    }
}
