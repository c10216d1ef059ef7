//! ReconcileTasks: unknown tasks get DROPPED / LOST through the status update manager.

use super::*;
use drover_proto::{FrameworkCapability, TaskStatusReason};

fn reconcile(b: &mut Bench, framework: FrameworkInfo, tasks: &[&str]) -> Vec<Command> {
    b.master(MasterToAgent::ReconcileTasks {
        framework,
        task_ids: tasks.iter().map(|t| (*t).into()).collect(),
    })
}

fn aware() -> FrameworkInfo {
    let mut f = framework();
    f.capabilities = vec![FrameworkCapability::PartitionAware];
    f
}

#[test]
fn an_unknown_task_is_lost_and_its_answer_is_resent_until_acknowledged() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let ups = updates(&reconcile(&mut b, framework(), &["ghost"]));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].task_id, "ghost".into());
    assert_eq!(ups[0].state, TaskState::Lost);
    assert_eq!(ups[0].reason, Some(TaskStatusReason::Reconciliation));
    assert_eq!(ups[0].source, TaskStatusSource::Agent);
    assert_eq!(ups[0].agent_id, Some("agent-1".into()));
    assert!(ups[0].uuid.is_some());
    // Not acknowledged: resent after the retry interval.
    let again = updates(&b.advance(RetryPolicy::default().min));
    assert_eq!(again, ups);
    // Asked again while the answer is pending: no second answer.
    assert!(updates(&reconcile(&mut b, framework(), &["ghost"])).is_empty());
    b.ack(&ups[0]);
    assert_eq!(b.core.status_updates().pending_count(), 0);
}

#[test]
fn partition_aware_frameworks_get_dropped() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let ups = updates(&reconcile(&mut b, aware(), &["a", "b"]));
    let got: Vec<_> = ups
        .iter()
        .map(|s| (s.task_id.0.as_str(), s.state))
        .collect();
    assert_eq!(
        got,
        vec![("a", TaskState::Dropped), ("b", TaskState::Dropped)]
    );
}

#[test]
fn known_tasks_get_no_answer_only_the_unknown_one_does() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    // t1 is queued behind its starting executor: known, though nothing was reported yet.
    let cmds = b.run(command_task("t1"));
    assert_eq!(launches(&cmds).len(), 1);
    let cmds = reconcile(&mut b, framework(), &["t1", "t2"]);
    assert_eq!(states(&cmds), vec![("t2".to_owned(), TaskState::Lost)]);
}

#[test]
fn a_task_that_failed_validation_has_its_error_pending_and_is_known() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let mut bad = command_task("bad");
    bad.command = None;
    let ups = updates(&b.run(bad));
    assert_eq!(ups[0].state, TaskState::Error);
    assert!(updates(&reconcile(&mut b, framework(), &["bad"])).is_empty());
}

#[test]
fn a_request_without_a_framework_id_is_ignored() {
    let mut b = Bench::registered(&[ContainerizerKind::Posix]);
    let mut f = framework();
    f.id = None;
    assert!(updates(&reconcile(&mut b, f, &["x"])).is_empty());
}
