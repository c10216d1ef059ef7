//! Bad input fails the launch clearly and leaves nothing behind: no cgroup, no
//! runtime directory, no process.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use drover_containerizer_native::cgroups::Hierarchy;
use drover_containerizer_native::{
    Isolation, IsolatorName, NativeConfig, NativeContainerizer, NativeError,
};
use drover_containerizers::{ContainerId, Containerizer, ContainerizerError, LaunchResult, Volume};

const NAME: &str = "bad-input";

fn assert_clean(c: &NativeContainerizer, state: &Path, id: &str) {
    let cg = c.container_cgroup(&ContainerId::new(id));
    assert!(
        !cg.exists(),
        "cgroup of {id} left behind: {:?}",
        cg.all_dirs()
    );
    assert!(
        !state.join("containers").join(id).exists(),
        "runtime dir of {id} left behind"
    );
    assert!(
        !state.join("scratch").join(id).exists(),
        "scratch dir of {id} left behind"
    );
}

async fn fails(
    c: &NativeContainerizer,
    state: &Path,
    id: &str,
    config: drover_containerizers::ContainerConfig,
    needle: &str,
) {
    let err = match c.launch(&ContainerId::new(id), config).await {
        Err(e) => e,
        Ok(r) => panic!("{id}: expected a failure, got {r:?}"),
    };
    assert!(
        matches!(
            err,
            ContainerizerError::LaunchFailed { .. } | ContainerizerError::InvalidConfig { .. }
        ),
        "{id}: {err:?}"
    );
    assert!(
        err.to_string().contains(needle),
        "{id}: `{err}` does not mention `{needle}`"
    );
    assert_clean(c, state, id);
    // The id is free again.
    assert!(matches!(
        c.wait(&ContainerId::new(id)).await,
        Err(ContainerizerError::NotFound { .. })
    ));
}

#[tokio::test]
async fn bad_launches_fail_clearly_and_leave_nothing() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup(NAME);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let c = common::recovered(&state, NAME).await;
    let sandbox = dir.path().join("s");

    let mut missing_rootfs = common::shell("true", &sandbox);
    missing_rootfs.kind.image = Some(dir.path().join("no-such-rootfs").display().to_string());
    fails(
        &c,
        &state,
        "missing-rootfs",
        missing_rootfs,
        "no-such-rootfs",
    )
    .await;

    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let mut not_a_tarball = common::shell("true", &sandbox);
    not_a_tarball.kind.image = Some(junk.display().to_string());
    fails(
        &c,
        &state,
        "junk-tarball",
        not_a_tarball,
        "not a usable rootfs tarball",
    )
    .await;

    let mut no_volume = common::shell("true", &sandbox);
    no_volume.kind.volumes.push(Volume {
        host_path: dir.path().join("no-such-volume"),
        container_path: "vol".into(),
        read_only: true,
    });
    fails(&c, &state, "missing-volume", no_volume, "no-such-volume").await;

    let mut tiny = common::shell("true", &sandbox);
    tiny.limits.mem_bytes = 16 << 20;
    fails(
        &c,
        &state,
        "tiny-memory",
        tiny,
        "below the minimum of 32 MiB",
    )
    .await;

    let mut bad_option = common::shell("true", &sandbox);
    bad_option
        .kind
        .options
        .insert("rlimit.files".into(), "10".into());
    fails(&c, &state, "bad-rlimit", bad_option, "valid: as, core").await;

    let missing_program = drover_containerizers::ContainerConfig::new(
        drover_containerizers::Command::Argv {
            program: "/opt/drover-none/bin/x".into(),
            args: vec![],
        },
        &sandbox,
    );
    fails(
        &c,
        &state,
        "missing-program",
        missing_program,
        "/opt/drover-none/bin/x",
    )
    .await;

    // Failing in the child (after cgroups, namespaces and mounts were made): a
    // directory that cannot be executed.
    let not_exec = common::shell("true", &sandbox);
    let mut not_exec = not_exec;
    not_exec.command = drover_containerizers::Command::Argv {
        program: "/etc".into(),
        args: vec![],
    };
    fails(
        &c,
        &state,
        "exec-a-directory",
        not_exec,
        "cannot execute `/etc`",
    )
    .await;

    // A registry reference is not for native: another containerizer may take it.
    let mut registry = common::shell("true", &sandbox);
    registry.kind.image = Some("busybox:1.36".into());
    let r = c
        .launch(&ContainerId::new("registry"), registry)
        .await
        .unwrap();
    assert!(matches!(r, LaunchResult::NotSupported { .. }), "{r:?}");
    assert_clean(&c, &state, "registry");
}

/// An optional isolator the kernel could not support was dropped at agent start: the
/// tasks that need it fail naming it and the reason, and leave nothing behind.
#[tokio::test]
async fn tasks_needing_a_dropped_isolator_fail_naming_it() {
    if common::skip() {
        return;
    }
    let name = "dropped-isolator";
    let _cleanup = common::Cleanup(name);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut config = common::config(&state, name);
    config.isolation = Isolation::parse("cgroups/cpu,cgroups/mem,namespaces/pid").unwrap();
    config.dropped = vec![
        (IsolatorName::CgroupsPids, "no pids controller here".into()),
        (IsolatorName::FilesystemLinux, "no overlayfs here".into()),
        (IsolatorName::NetworkNone, "no netns here".into()),
    ];
    let c = common::build(config).unwrap();
    c.recover(&[]).await.unwrap();
    let sandbox = dir.path().join("s");

    let mut pids = common::shell("true", &sandbox);
    pids.limits.pids = Some(10);
    fails(&c, &state, "pids", pids, "`cgroups/pids` isolation, which the agent dropped at start because this host cannot support it: no pids controller here").await;

    let mut net = common::shell("true", &sandbox);
    net.kind.options.insert("network".into(), "none".into());
    fails(&c, &state, "net", net, "no netns here").await;

    let mut image = common::shell("true", &sandbox);
    image.kind.image = Some(dir.path().display().to_string());
    let r = c.launch(&ContainerId::new("image"), image).await.unwrap();
    match r {
        LaunchResult::NotSupported { reason } => {
            assert!(
                reason.contains("`filesystem/linux`") && reason.contains("no overlayfs here"),
                "{reason}"
            );
        }
        other => panic!("expected NotSupported, got {other:?}"),
    }
    assert_clean(&c, &state, "image");
}

#[test]
fn unsupported_isolators_are_start_up_errors() {
    // Unknown names list the valid ones.
    let err = Isolation::parse("cgroups/cpu,cgroups/blkio").unwrap_err();
    assert!(
        err.to_string().contains("valid isolators: cgroups/cpu"),
        "{err}"
    );
    // A kernel without the pids controller (a v2 tree offering only cpu and memory).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
    let mut config = NativeConfig::new(dir.path().join("state"));
    config.hierarchy = Some(Hierarchy::v2_at(dir.path()).unwrap());
    match NativeContainerizer::new(config) {
        Err(NativeError::Unsupported(reasons)) => {
            assert!(reasons.iter().any(|r| r.contains("`pids`")), "{reasons:?}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let v1_without_memory = Hierarchy::V1 {
        mounts: [(
            drover_containerizer_native::cgroups::Controller::Freezer,
            dir.path().to_path_buf(),
        )]
        .into(),
    };
    let missing = v1_without_memory.missing(&Isolation::default().controllers());
    assert_eq!(missing.len(), 4, "{missing:?}");
    let _: BTreeSet<()> = BTreeSet::new();
}
