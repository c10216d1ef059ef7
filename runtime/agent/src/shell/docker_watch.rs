//! Watches the Docker engine while the agent runs: pings it every
//! `--docker-check-interval` and feeds the core what it finds, so that the agent stops
//! advertising the docker containerizer while the engine is gone and advertises it
//! again when it answers (the decision is the core's, in `core::availability`).
//!
//! ```text
//!  started ─▶ initial state (engine down at start) ─▶ Input::ContainerizerAvailability
//!  every interval ─▶ DockerRunner::ping(timeout) ─▶ Feed(ContainerizerAvailability)
//! ```

use super::agent_actor::AgentActor;
use super::messages::Feed;
use crate::containerizer_kind::ContainerizerKind;
use crate::core::Input;
use actix::prelude::*;
use drover_containerizer_docker::DockerRunner;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a ping may take before the engine counts as gone.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// What the watcher needs.
#[derive(Debug)]
pub(crate) struct DockerWatch {
    /// The engine client the docker containerizer uses too.
    pub(crate) runner: DockerRunner,
    /// Time between pings.
    pub(crate) interval: Duration,
    /// Why the engine did not answer when the agent started (`None`: it did).
    pub(crate) initial: Option<String>,
}

impl AgentActor {
    /// Feeds the engine's state at start, then pings it every interval.
    pub(super) fn start_docker_watch(&mut self, ctx: &mut Context<Self>) {
        let Some(watch) = self.docker_watch.take() else {
            return;
        };
        if let Some(why) = watch.initial {
            self.feed(
                Input::ContainerizerAvailability {
                    kind: ContainerizerKind::Docker,
                    unavailable: Some(why),
                },
                ctx,
            );
        }
        let runner = watch.runner;
        // One ping at a time: a hung engine must not pile them up.
        let busy = Arc::new(AtomicBool::new(false));
        // A busy engine (fifty containers starting) answers slowly but is not gone: only
        // a refused connection, a missing socket or this long without an answer counts.
        let timeout = watch.interval.max(PING_TIMEOUT);
        ctx.run_interval(watch.interval, move |_, ctx| {
            if busy.swap(true, Ordering::AcqRel) {
                return;
            }
            let runner = runner.clone();
            let busy = busy.clone();
            let addr = ctx.address();
            actix::spawn(async move {
                let unavailable = runner.ping(timeout).await.err().map(|e| e.to_string());
                busy.store(false, Ordering::Release);
                addr.do_send(Feed(Input::ContainerizerAvailability {
                    kind: ContainerizerKind::Docker,
                    unavailable,
                }));
            });
        });
    }
}
