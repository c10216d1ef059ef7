//! The conformance checks about a container's end: destroy (idempotent, whole tree)
//! and recovery after a simulated agent restart.

use std::path::Path;
use std::time::Duration;

use super::checks::config_or_skip;
use super::{
    destroyed, ensure, express, launched, setup, verdict, waited, within, Build, Checked, Outcome,
    Target, Workload,
};
use crate::error::ContainerizerError;
use crate::types::{ContainerId, TerminationReason};
use crate::Containerizer;

/// How long a process tree's heartbeat must stay silent after destroy.
const SILENCE: Duration = Duration::from_millis(400);

/// Destroying a running container ends it with reason `Killed`; waits started before
/// the destroy resolve with the same termination; destroying again and waiting again
/// return it too.
pub async fn destroy_running<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_destroy_running(t).await)
}

async fn check_destroy_running<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let config = config_or_skip!(express(
        t,
        &scratch,
        "running",
        &Workload::Sleep(Duration::from_secs(60))
    ));
    let id = ContainerId::new("running");
    launched(&c, &id, config).await?;
    let (w1, w2, d) = tokio::join!(waited(&c, &id), waited(&c, &id), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        destroyed(&c, &id).await
    });
    let (w1, w2, d) = (w1?, w2?, d?);
    ensure!(
        d.reason == TerminationReason::Killed,
        "destroy of a running container: expected reason Killed, got {d:?}"
    );
    ensure!(
        w1 == d && w2 == d,
        "waits resolved with {w1:?} and {w2:?}, destroy with {d:?}"
    );
    let again = destroyed(&c, &id).await?;
    ensure!(again == d, "second destroy returned {again:?}, first {d:?}");
    let after = waited(&c, &id).await?;
    ensure!(
        after == d,
        "wait after destroy returned {after:?}, destroy {d:?}"
    );
    Ok(Outcome::Passed)
}

/// Number of heartbeat lines in `file` (0 if it does not exist yet).
fn beats(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Waits until the tree writing `file` has beaten a few times.
async fn until_beating(file: &Path) -> Result<(), String> {
    within("heartbeat", async {
        while beats(file) < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .map_err(|e| {
        format!(
            "the process tree never wrote its heartbeat to {}: {e}",
            file.display()
        )
    })
}

/// Fails if `file` still grows: some process of the tree survived.
async fn silent(file: &Path, after: &str) -> Result<(), String> {
    let before = beats(file);
    tokio::time::sleep(SILENCE).await;
    let now = beats(file);
    ensure!(
        now == before,
        "processes survived {after}: the heartbeat file grew from {before} to {now} lines"
    );
    Ok(())
}

/// Destroy kills a whole process tree whose members ignore SIGTERM (main → child →
/// grandchild; the grandchild's heartbeat stops).
pub async fn destroy_process_tree<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_destroy_process_tree(t).await)
}

async fn check_destroy_process_tree<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, c) = setup(t).await?;
    let workload = Workload::TreeIgnoringTerm {
        file: "beat".into(),
    };
    let config = config_or_skip!(express(t, &scratch, "tree", &workload));
    let beat = config.sandbox.join("beat");
    let id = ContainerId::new("tree");
    launched(&c, &id, config).await?;
    until_beating(&beat).await?;
    let term = destroyed(&c, &id).await?;
    ensure!(
        term.reason == TerminationReason::Killed,
        "expected reason Killed, got {term:?}"
    );
    silent(&beat, "destroy").await?;
    Ok(Outcome::Passed)
}

/// After a simulated agent restart (the containerizer dropped, a new one built on the
/// same state directory, `recover` with the checkpointed handles):
/// - a container still running is reported running, keeps running, and its end is
///   then reported by `wait` (exit 0, or reason `Unknown` if the status was lost);
/// - a container that had exited is reported gone with its exit status (3);
/// - a container missing from the handles is destroyed as an orphan; for process
///   containerizers its process tree's heartbeat stops. (A simulated orphan may instead
///   be unknown to the new instance: it ended with the one that simulated it.)
pub async fn recover_after_restart<B: Build>(t: &Target<B>) -> Outcome {
    verdict(check_recover_after_restart(t).await)
}

async fn check_recover_after_restart<B: Build>(t: &Target<B>) -> Checked {
    let (scratch, first) = setup(t).await?;
    let (a, b, o) = (
        ContainerId::new("survivor"),
        ContainerId::new("exited"),
        ContainerId::new("orphan"),
    );
    let runs = Duration::from_secs(3);
    let config = config_or_skip!(express(t, &scratch, "survivor", &Workload::Sleep(runs)));
    let started = tokio::time::Instant::now();
    let handle_a = launched(&first, &a, config).await?;
    let config = config_or_skip!(express(t, &scratch, "exited", &Workload::Exit(3)));
    let handle_b = launched(&first, &b, config).await?;
    let term_b = waited(&first, &b).await?;
    ensure!(
        term_b.status == Some(3),
        "before the restart, exit 3 ended with {term_b:?}"
    );
    // The orphan: a heartbeating tree if expressible, else a long sleep.
    let tree = Workload::TreeIgnoringTerm {
        file: "beat".into(),
    };
    let orphan_beat = match express(t, &scratch, "orphan", &tree)? {
        Ok(config) => {
            let beat = config.sandbox.join("beat");
            launched(&first, &o, config).await?;
            until_beating(&beat).await?;
            Some(beat)
        }
        Err(_) => {
            let config = config_or_skip!(express(
                t,
                &scratch,
                "orphan",
                &Workload::Sleep(Duration::from_secs(60))
            ));
            launched(&first, &o, config).await?;
            None
        }
    };

    drop(first); // the agent "crashes"
    let second = t
        .build
        .build(&scratch.state())
        .map_err(|e| format!("rebuild: {e}"))?;
    let known = [handle_a, handle_b];
    let recovered = within("recover", second.recover(&known))
        .await?
        .map_err(|e| format!("recover: {e}"))?;
    let running: Vec<&ContainerId> = recovered.running.iter().map(|h| &h.id).collect();
    ensure!(
        running == [&a],
        "expected only {a} running after recovery, got {running:?} ({recovered:?})"
    );
    match recovered.gone.iter().find(|(id, _)| *id == b) {
        Some((_, term)) => ensure!(
            term.status == Some(3) && term.reason == TerminationReason::Exited,
            "{b} exited with 3 before the restart, recovery reports {term:?}"
        ),
        None => return Err(format!("{b} (exited) not reported gone: {recovered:?}")),
    }
    let orphan_reported = recovered.orphans_destroyed.contains(&o);
    match orphan_beat {
        Some(beat) => {
            ensure!(
                orphan_reported,
                "the orphan {o} was not destroyed: {recovered:?}"
            );
            silent(&beat, "orphan destruction").await?;
        }
        None => {
            // A simulated container may have ended with the instance that simulated
            // it; then the new instance cannot find it, which is fine too.
            let unknown = matches!(
                second.wait(&o).await,
                Err(ContainerizerError::NotFound { .. })
            );
            ensure!(
                orphan_reported || unknown,
                "the orphan {o} is known but was not destroyed: {recovered:?}"
            );
        }
    }
    ensure!(
        started.elapsed() < runs,
        "the check was too slow: {a} may have ended before the restart"
    );
    survivor_ends(&second, &a).await?;
    let term_b = destroyed(&second, &b).await?;
    ensure!(
        term_b.status == Some(3),
        "destroy of the recovered {b} returned {term_b:?}"
    );
    Ok(Outcome::Passed)
}

/// The re-attached container ends on its own and is reported so.
async fn survivor_ends<C: Containerizer>(c: &C, id: &ContainerId) -> Result<(), String> {
    let term = waited(c, id).await?;
    let known_exit = term.reason == TerminationReason::Exited && term.status == Some(0);
    ensure!(
        known_exit || term.reason == TerminationReason::Unknown,
        "the re-attached {id} should end with exit 0 or reason Unknown, got {term:?}"
    );
    let again = destroyed(c, id).await?;
    ensure!(
        again == term,
        "destroy after its end returned {again:?}, wait {term:?}"
    );
    Ok(())
}
