//! A failed checkpoint write ends the agent, as Mesos aborts: with real processes, a
//! `drover agent` whose `meta/` directory is a tiny tmpfs that the test fills up. The
//! agent must exit with a failure status and say why (`CHECKPOINT WRITE FAILED`, and
//! the error on stderr) once a task's launch needs a checkpoint it cannot write,
//! rather than run on with guarantees it cannot keep.
//!
//! Needs root (the mount); every process is killed and the mount detached on drop.

#[allow(dead_code, reason = "shared helpers; this test uses some")]
mod restart_support;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use restart_support::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Detaches the tmpfs on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

/// Writes into `dir` until the file system is full.
fn fill(dir: &Path) {
    let Ok(mut f) = std::fs::File::create(dir.join("filler")) else {
        return;
    };
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
}

#[test]
fn an_agent_that_cannot_write_its_checkpoint_exits_saying_why() {
    if !is_root_or_skip("mounting a tmpfs") {
        return;
    }
    let home_dir = tempfile::tempdir().expect("temp dir");
    let home = home_dir.path();
    let _logs = Logs(home);
    issue_certs(home);
    let port = free_ports(2, 17);
    let master = format!("127.0.0.1:{port}");
    let agent_addr = format!("127.0.0.1:{}", port + 1);
    let work_dir = home.join("agent");
    let meta = work_dir.join("meta");
    std::fs::create_dir_all(&meta).expect("meta dir");
    mount(
        Some("tmpfs"),
        &meta,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=256k"),
    )
    .expect("mount a tmpfs on meta/");
    let _mounted = Mounted(meta.clone());

    let mut guard = Guard::default();
    guard.home = Some(home.to_path_buf());
    let master_args = master_args(&master, &home.join("master"), &[]);
    guard.children.push(spawn(home, &master_args, "master.log"));
    let agent_args = agent_args(&master, &agent_addr, &work_dir, "posix", &[]);
    let agent = spawn(home, &agent_args, "agent-1.log");
    guard.children.push(agent);
    poll("the agent to register", || {
        let v = query(home, "agents", &master)?;
        v.as_array()?.first()?["id"].as_str().map(str::to_owned)
    });

    fill(&meta);
    // Each launch appends to the checkpoint journal; the first append that needs a
    // page the full tmpfs cannot give fails.
    let mut exit = None;
    for i in 0..10 {
        let mut run = drover(
            home,
            &[
                "run",
                "--master",
                &master,
                "--name",
                &format!("t{i}"),
                "--",
                "true",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("drover run starts");
        let agent = &mut guard.children[1];
        wait_for(
            "the run to end or the agent to exit",
            Duration::from_secs(30),
            || {
                exit = agent.try_wait().ok().flatten();
                exit.is_some() || matches!(run.try_wait(), Ok(Some(_)))
            },
        );
        let _ = run.kill();
        let _ = run.wait();
        if exit.is_some() {
            break;
        }
    }
    let status = exit.expect("the agent exited after a checkpoint write failed");
    assert!(!status.success(), "the agent exited with {status}");
    let log = std::fs::read_to_string(home.join("agent-1.log")).unwrap_or_default();
    assert!(
        log.contains("CHECKPOINT WRITE FAILED") && log.contains("cannot write its checkpoint"),
        "{log}"
    );
}
