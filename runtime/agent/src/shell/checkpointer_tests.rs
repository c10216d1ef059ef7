//! Tests of the checkpoint files: round trips, incremental writes, compaction, torn
//! journals, older and newer versions.

use super::*;
use crate::core::checkpoint::StreamCheckpoint;
use std::collections::BTreeMap;

fn handle(id: &str) -> ContainerHandle {
    ContainerHandle {
        id: id.into(),
        pid: Some(42),
        containerizer: "posix".into(),
        sandbox: "/w/frameworks/f/executors/e/runs/c1".into(),
        extra: BTreeMap::from([("boot_id".to_owned(), "b".to_owned())]),
    }
}

fn stream(task: &str, terminated: bool) -> StreamCheckpoint {
    StreamCheckpoint {
        framework_id: "fw-1".into(),
        task_id: task.into(),
        pending: vec![],
        acknowledged: vec![],
        terminated,
    }
}

fn agent(streams: Vec<StreamCheckpoint>) -> AgentCheckpoint {
    AgentCheckpoint {
        agent_id: Some("agent-7".into()),
        frameworks: vec![],
        streams,
    }
}

fn reload(dir: &Path) -> Option<Stored> {
    Checkpointer::new(dir).load().unwrap()
}

#[test]
fn saves_and_loads_atomically_and_an_absent_file_is_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checkpointer::new(dir.path());
    assert_eq!(c.load().unwrap(), None);
    let a = agent(vec![]);
    c.save(&a, &[handle("c1")]).unwrap();
    c.save(&a, &[handle("c1")]).unwrap();
    let back = reload(dir.path()).unwrap();
    assert_eq!(back.agent, a);
    assert_eq!(back.containers, vec![handle("c1")]);
    assert!(!dir.path().join("meta/agent.json.tmp").exists());
    c.remove().unwrap();
    c.remove().unwrap();
    assert_eq!(reload(dir.path()), None);
}

#[test]
fn apply_journals_only_what_changed_and_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checkpointer::new(dir.path());
    c.save(&AgentCheckpoint::default(), &[]).unwrap();
    let one = agent(vec![stream("t1", false)]);
    assert_eq!(
        c.apply(&one, &[handle("c1")]).unwrap(),
        3,
        "agent, stream, container"
    );
    assert_eq!(
        c.apply(&one, &[handle("c1")]).unwrap(),
        0,
        "nothing changed"
    );
    let two = agent(vec![stream("t1", true), stream("t2", false)]);
    assert_eq!(
        c.apply(&two, &[]).unwrap(),
        3,
        "t1 changed, t2 new, c1 gone"
    );
    let journal = fs::read_to_string(c.journal_path()).unwrap();
    assert_eq!(journal.lines().count(), 6, "{journal}");
    let back = reload(dir.path()).unwrap();
    assert_eq!(back.agent, two);
    assert!(back.containers.is_empty());
    // A reloaded checkpointer writes only changes too.
    let mut again = Checkpointer::new(dir.path());
    again.load().unwrap();
    assert_eq!(again.apply(&two, &[]).unwrap(), 0);
}

#[test]
fn a_growing_journal_is_compacted_into_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checkpointer::new(dir.path());
    c.save(&AgentCheckpoint::default(), &[]).unwrap();
    let mut last = agent(vec![]);
    for i in 0..3000 {
        last = agent(vec![stream(&format!("task-{i}"), false)]);
        c.apply(&last, &[]).unwrap();
    }
    let journal = fs::metadata(c.journal_path()).unwrap().len();
    assert!(journal <= MIN_COMPACT_BYTES, "compacted: {journal} bytes");
    assert_eq!(reload(dir.path()).unwrap().agent, last);
}

#[test]
fn a_torn_last_journal_line_is_dropped_and_a_bad_one_before_it_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checkpointer::new(dir.path());
    c.save(&AgentCheckpoint::default(), &[]).unwrap();
    let one = agent(vec![stream("t1", false)]);
    c.apply(&one, &[]).unwrap();
    let good = fs::read_to_string(c.journal_path()).unwrap();
    fs::write(c.journal_path(), format!("{good}{{\"key\":\"stream [")).unwrap();
    assert_eq!(reload(dir.path()).unwrap().agent, one);
    fs::write(c.journal_path(), format!("{{oops\n{good}")).unwrap();
    let err = Checkpointer::new(dir.path()).load().unwrap_err();
    assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("agent.journal"), "{err}");
}

#[test]
fn a_version_1_checkpoint_is_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("meta")).unwrap();
    let a = agent(vec![stream("t1", false)]);
    let v1 = serde_json::json!({"format_version": 1, "agent": a, "containers": [handle("c1")]});
    fs::write(dir.path().join("meta/agent.json"), v1.to_string()).unwrap();
    let back = reload(dir.path()).unwrap();
    assert_eq!((back.agent, back.containers), (a, vec![handle("c1")]));
}

#[test]
fn corrupt_and_newer_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let c = Checkpointer::new(dir.path());
    fs::create_dir_all(dir.path().join("meta")).unwrap();
    for (text, version_error) in [
        ("{not json", false),
        ("{\"agent\": {}}", false),
        (
            "{\"format_version\": 1, \"agent\": 3, \"containers\": []}",
            false,
        ),
        (
            "{\"format_version\": 2, \"entries\": {\"agent\": 3}}",
            false,
        ),
        (
            "{\"format_version\": 2, \"entries\": {\"what\": {}}}",
            false,
        ),
        (
            "{\"format_version\": 99, \"agent\": {}, \"containers\": []}",
            true,
        ),
    ] {
        fs::write(c.path(), text).unwrap();
        let err = Checkpointer::new(dir.path()).load().unwrap_err();
        assert_eq!(
            matches!(err, CheckpointError::Version { found: 99, .. }),
            version_error,
            "{text}: {err}"
        );
        assert!(err.to_string().contains("agent.json"), "{err}");
    }
}

#[test]
fn a_file_where_the_meta_directory_should_be_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Checkpointer::new(dir.path());
    c.save(&AgentCheckpoint::default(), &[]).unwrap();
    fs::rename(dir.path().join("meta"), dir.path().join("meta.away")).unwrap();
    fs::write(dir.path().join("meta"), b"not a directory").unwrap();
    let err = c.apply(&agent(vec![]), &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("meta/agent.journal"), "{text}");
    assert!(text.contains("Not a directory"), "{text}");
}
