//! Containers with their own root filesystem: a busybox directory and a tarball of
//! it, the sandbox at /mnt/sandbox, minimal /dev, volumes (read-only enforced) and the
//! executor binary bound in.

mod common;

use std::path::{Path, PathBuf};

use drover_containerizers::{Command, ContainerConfig, ContainerId, Containerizer, Volume};

/// A root filesystem with a static busybox and a few applet links; `None` (with a
/// skip) if busybox-static is not installed.
fn busybox_rootfs(dir: &Path) -> Option<PathBuf> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        assert!(
            std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
            "DROVER_REQUIRE_ALL=1 but /bin/busybox is missing (apt-get install busybox-static)"
        );
        eprintln!("SKIPPED: /bin/busybox is missing (apt-get install busybox-static)");
        return None;
    }
    let root = dir.join("busybox-rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/image-marker"), "from the image\n").unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "ls", "cat", "echo", "touch", "hostname", "ps", "wc", "grep", "test", "id", "sleep",
        "mount",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    Some(root)
}

fn in_image(script: &str, sandbox: &Path, image: &Path) -> ContainerConfig {
    let mut config = ContainerConfig::new(Command::Shell(script.into()), sandbox);
    config.kind.image = Some(image.display().to_string());
    config.env.push(("PATH".into(), "/bin".into()));
    config
}

async fn ends_ok(c: &impl Containerizer, id: &str, config: ContainerConfig) -> String {
    let (out, err) = (config.stdout_path(), config.stderr_path());
    let id = ContainerId::new(id);
    match c.launch(&id, config).await {
        Ok(drover_containerizers::LaunchResult::Launched(_)) => {}
        other => panic!("launch: {other:?}"),
    }
    let t = c.wait(&id).await.unwrap();
    c.destroy(&id).await.unwrap();
    let text = common::read(&out);
    assert_eq!(
        t.status,
        Some(0),
        "{t:?}\nstdout: {text}\nstderr: {}",
        common::read(&err)
    );
    text
}

#[tokio::test]
async fn busybox_directory_and_tarball_images() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("rootfs");
    let dir = tempfile::tempdir().unwrap();
    let Some(image) = busybox_rootfs(dir.path()) else {
        return;
    };
    let state = dir.path().join("state");
    let c = common::recovered(&state, "rootfs").await;
    let sandbox = dir.path().join("s");
    let script = "cat /etc/image-marker; ls /; pwd; echo written > /etc/new-file; cat /etc/new-file; \
                  echo in-sandbox > out-file; ls /dev; test -e /work && echo host-visible || echo host-hidden";
    let out = ends_ok(&c, "dir", in_image(script, &sandbox, &image)).await;
    assert!(out.contains("from the image\n"), "{out}");
    assert!(out.contains("/mnt/sandbox\n"), "{out}");
    assert!(out.contains("written\n"), "{out}");
    for dev in ["null", "zero", "random", "urandom", "tty", "shm", "fd"] {
        assert!(out.lines().any(|l| l == dev), "/dev/{dev} missing: {out}");
    }
    assert!(out.contains("host-hidden"), "{out}");
    assert_eq!(common::read(&sandbox.join("out-file")), "in-sandbox\n");
    // Writes went to the container's overlay, not to the image.
    assert!(!image.join("etc/new-file").exists());
    // Nothing of the container is left in the runtime dir.
    for dir in ["containers", "scratch"] {
        assert!(std::fs::read_dir(state.join(dir)).map_or(true, |mut d| d.next().is_none()));
    }

    // The same rootfs as a tarball (the shape of `docker export`).
    let tar = dir.path().join("busybox.tar");
    let ok = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&image)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    let out = ends_ok(
        &c,
        "tar",
        in_image("cat /etc/image-marker", &dir.path().join("t"), &tar),
    )
    .await;
    assert_eq!(out, "from the image\n");
    let store: Vec<_> = std::fs::read_dir(state.join("images"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        store.len(),
        1,
        "unpacked once into the image store: {store:?}"
    );
}

#[tokio::test]
async fn volumes_read_only_enforced_and_executor_binary_bound() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("volumes");
    let dir = tempfile::tempdir().unwrap();
    let Some(image) = busybox_rootfs(dir.path()) else {
        return;
    };
    let c = common::recovered(&dir.path().join("state"), "volumes").await;
    let (ro, rw) = (dir.path().join("ro-vol"), dir.path().join("rw-vol"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("data"), "ro data\n").unwrap();
    // A stand-in executor binary: a static program outside the image (named
    // busybox, so that it runs as the multi-call binary).
    let executor = dir.path().join("opt/drover/busybox");
    std::fs::create_dir_all(executor.parent().unwrap()).unwrap();
    std::fs::copy("/bin/busybox", &executor).unwrap();

    let script = format!(
        "cat /data/ro/data; touch /data/ro/new 2>/dev/null && echo ro-writable || echo ro-refused; \
         echo hi > /data/rw/new && echo rw-ok; \
         {exe} echo executor-runs; echo x > {exe} 2>/dev/null && echo exe-writable || echo exe-refused",
        exe = executor.display()
    );
    let mut config = in_image(&script, &dir.path().join("s"), &image);
    config.kind.volumes = vec![
        Volume {
            host_path: ro.clone(),
            container_path: "/data/ro".into(),
            read_only: true,
        },
        Volume {
            host_path: rw.clone(),
            container_path: "/data/rw".into(),
            read_only: false,
        },
    ];
    config
        .kind
        .options
        .insert("executor_binary".into(), executor.display().to_string());
    let out = ends_ok(&c, "vols", config).await;
    assert!(out.contains("ro data\n"), "{out}");
    assert!(out.contains("ro-refused"), "{out}");
    assert!(!ro.join("new").exists());
    assert!(out.contains("rw-ok"), "{out}");
    assert_eq!(common::read(&rw.join("new")), "hi\n");
    assert!(out.contains("executor-runs"), "{out}");
    assert!(out.contains("exe-refused"), "{out}");
}

/// `image_for=task` (the command executor's case): the main process stays on the
/// host's filesystem, in the container's namespaces, with a private /proc; the task's
/// rootfs is ready at `$DROVER_ROOTFS` (image, sandbox at /mnt/sandbox, /dev, /proc,
/// read-only volume), and a process entering it sees only the image.
#[tokio::test]
async fn image_for_the_task_leaves_the_main_process_on_the_host() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("taskimage");
    let dir = tempfile::tempdir().unwrap();
    let Some(image) = busybox_rootfs(dir.path()) else {
        return;
    };
    let state = dir.path().join("state");
    let c = common::recovered(&state, "taskimage").await;
    let ro = dir.path().join("ro-vol");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::write(ro.join("data"), "ro data\n").unwrap();
    let sandbox = dir.path().join("s");
    // Run by the host's /bin/sh: the main process is on the host's filesystem.
    let script = format!(
        "test -d {host} && echo host-visible; echo procs=$(ls /proc | grep -c '^[0-9]'); \
         test -d \"$DROVER_ROOTFS/mnt/sandbox\" && echo rootfs-ready; \
         chroot \"$DROVER_ROOTFS\" /bin/sh -c 'cat /etc/image-marker; \
           test -e {host} && echo host-leak || echo host-hidden; ls /dev; cat /data/ro/data; \
           touch /data/ro/new 2>/dev/null && echo ro-writable || echo ro-refused; \
           echo entered > /mnt/sandbox/from-task'",
        host = dir.path().display()
    );
    let mut config = ContainerConfig::new(Command::Shell(script), &sandbox);
    config.kind.image = Some(image.display().to_string());
    config
        .kind
        .options
        .insert("image_for".into(), "task".into());
    config.kind.volumes = vec![Volume {
        host_path: ro.clone(),
        container_path: "/data/ro".into(),
        read_only: true,
    }];
    let out = ends_ok(&c, "task-image", config).await;
    for line in [
        "host-visible",
        "rootfs-ready",
        "from the image",
        "host-hidden",
        "null",
        "ro data",
        "ro-refused",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing: {out}");
    }
    // A private /proc: the container's init, the shell and its children only.
    let procs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("procs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(procs < 10, "/proc is the host's: {out}");
    assert_eq!(common::read(&sandbox.join("from-task")), "entered\n");
    assert!(!ro.join("new").exists());
    for dir in ["containers", "scratch"] {
        assert!(std::fs::read_dir(state.join(dir)).map_or(true, |mut d| d.next().is_none()));
    }
}
