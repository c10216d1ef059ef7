//! The status update manager: order, resend with backoff, acknowledgement.

use super::*;
use crate::core::status_updates::{AckError, UpdateOutcome};
use drover_proto::UpdateUuid;

fn uuid(n: u8) -> UpdateUuid {
    UpdateUuid([n; 16])
}

fn st(task: &str, state: TaskState) -> TaskStatus {
    TaskStatus::new(task.into(), state, TaskStatusSource::Executor)
}

fn sent(out: &mut Vec<AgentToMaster>) -> Vec<(String, TaskState)> {
    out.drain(..)
        .map(|m| match m {
            AgentToMaster::StatusUpdate { status, .. } => (status.task_id.0, status.state),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn manager(t0: Instant) -> StatusUpdateManager {
    let mut m = StatusUpdateManager::new(RetryPolicy {
        min: Duration::from_secs(10),
        max: Duration::from_secs(40),
    });
    m.resume(t0, &mut Vec::new());
    m
}

#[test]
fn later_updates_wait_behind_the_unacknowledged_one() {
    let t0 = Instant::now();
    let fw: FrameworkId = "fw".into();
    let mut m = manager(t0);
    let mut out = Vec::new();
    m.update(t0, &fw, st("a", TaskState::Starting), uuid(1), &mut out);
    m.update(t0, &fw, st("a", TaskState::Running), uuid(2), &mut out);
    m.update(t0, &fw, st("b", TaskState::Running), uuid(3), &mut out);
    // One in flight per task; tasks are independent.
    assert_eq!(
        sent(&mut out),
        vec![
            ("a".into(), TaskState::Starting),
            ("b".into(), TaskState::Running)
        ]
    );
    assert_eq!(m.pending_count(), 3);
    let acked = m
        .acknowledge(t0, &fw, &"a".into(), uuid(1), &mut out)
        .unwrap();
    assert_eq!(acked.status.state, TaskState::Starting);
    assert!(!acked.stream_closed);
    assert_eq!(sent(&mut out), vec![("a".into(), TaskState::Running)]);
    assert_eq!(m.pending_count(), 2);
}

#[test]
fn the_head_is_resent_with_doubling_capped_backoff_until_acknowledged() {
    let t0 = Instant::now();
    let fw: FrameworkId = "fw".into();
    let mut m = manager(t0);
    let mut out = Vec::new();
    m.update(t0, &fw, st("a", TaskState::Running), uuid(1), &mut out);
    m.update(t0, &fw, st("a", TaskState::Finished), uuid(2), &mut out);
    sent(&mut out);
    let s = Duration::from_secs;
    let mut resends = Vec::new();
    for t in 1..=130 {
        m.retry_due(t0 + s(t), &mut out);
        if !out.is_empty() {
            assert_eq!(sent(&mut out), vec![("a".into(), TaskState::Running)]);
            resends.push(t);
        }
    }
    // 10, +20, +40, then capped at 40.
    assert_eq!(resends, vec![10, 30, 70, 110]);
    assert_eq!(m.next_deadline(), Some(t0 + s(150)));
    // The acknowledgement sends the next update and resets the backoff.
    m.acknowledge(t0 + s(131), &fw, &"a".into(), uuid(1), &mut out)
        .unwrap();
    assert_eq!(sent(&mut out), vec![("a".into(), TaskState::Finished)]);
    assert_eq!(m.next_deadline(), Some(t0 + s(141)));
    let acked = m
        .acknowledge(t0 + s(132), &fw, &"a".into(), uuid(2), &mut out)
        .unwrap();
    assert!(acked.stream_closed);
    assert_eq!(m.next_deadline(), None);
    assert!(m.stream(&fw, &"a".into()).is_none());
}

#[test]
fn stale_or_unknown_acknowledgements_are_refused() {
    let t0 = Instant::now();
    let fw: FrameworkId = "fw".into();
    let mut m = manager(t0);
    let mut out = Vec::new();
    m.update(t0, &fw, st("a", TaskState::Running), uuid(1), &mut out);
    m.update(t0, &fw, st("a", TaskState::Finished), uuid(2), &mut out);
    assert_eq!(
        m.acknowledge(t0, &fw, &"a".into(), uuid(2), &mut out),
        Err(AckError::Mismatch {
            task_id: "a".into(),
            uuid: uuid(2)
        })
    );
    assert_eq!(
        m.acknowledge(t0, &fw, &"zz".into(), uuid(1), &mut out),
        Err(AckError::UnknownStream("zz".into()))
    );
    assert_eq!(m.pending_count(), 2);
}

#[test]
fn nothing_follows_a_terminal_update_and_duplicates_are_dropped() {
    let t0 = Instant::now();
    let fw: FrameworkId = "fw".into();
    let mut m = manager(t0);
    let mut out = Vec::new();
    let mut with_uuid = st("a", TaskState::Running);
    with_uuid.uuid = Some(uuid(9));
    assert_eq!(
        m.update(t0, &fw, with_uuid.clone(), uuid(1), &mut out),
        UpdateOutcome::Queued
    );
    assert_eq!(
        m.update(t0, &fw, with_uuid, uuid(2), &mut out),
        UpdateOutcome::Duplicate
    );
    assert_eq!(
        m.update(t0, &fw, st("a", TaskState::Failed), uuid(3), &mut out),
        UpdateOutcome::Queued
    );
    assert_eq!(
        m.update(t0, &fw, st("a", TaskState::Running), uuid(4), &mut out),
        UpdateOutcome::AfterTerminal
    );
    // The executor's own uuid was kept.
    assert_eq!(
        m.stream(&fw, &"a".into())
            .unwrap()
            .pending()
            .next()
            .unwrap()
            .uuid,
        Some(uuid(9))
    );
}

#[test]
fn a_paused_manager_holds_updates_and_sends_heads_on_resume() {
    let t0 = Instant::now();
    let fw: FrameworkId = "fw".into();
    let mut m = StatusUpdateManager::new(RetryPolicy::default());
    let mut out = Vec::new();
    m.update(t0, &fw, st("b", TaskState::Running), uuid(1), &mut out);
    m.update(t0, &fw, st("a", TaskState::Running), uuid(2), &mut out);
    m.update(t0, &fw, st("a", TaskState::Finished), uuid(3), &mut out);
    assert!(out.is_empty());
    assert_eq!(m.next_deadline(), None);
    m.resume(t0, &mut out);
    assert_eq!(
        sent(&mut out),
        vec![
            ("a".into(), TaskState::Running),
            ("b".into(), TaskState::Running)
        ]
    );
    m.pause();
    m.retry_due(t0 + Duration::from_secs(3600), &mut out);
    assert!(out.is_empty());
    m.cleanup_framework(&fw);
    assert_eq!(m.pending_count(), 0);
}

#[test]
fn the_core_resends_unacknowledged_updates_on_its_clock() {
    let mut b = Bench::registered(&[ContainerizerKind::Mock]);
    let spec = launches(&b.run(command_task("t1"))).remove(0);
    let cmds = b.input(Input::ContainerLaunched {
        container_id: spec.container_id,
    });
    assert_eq!(states(&cmds), vec![("t1".into(), TaskState::Starting)]);
    let first = updates(&cmds).remove(0);
    let retry = b.core.next_deadline().expect("a resend is scheduled");
    assert!(retry > b.now);
    b.now = retry;
    let again = updates(&b.input(Input::Tick));
    assert_eq!(again, vec![first.clone()], "same update, same uuid");
    assert_eq!(
        states(&b.ack(&first)),
        vec![("t1".into(), TaskState::Running)]
    );
}
