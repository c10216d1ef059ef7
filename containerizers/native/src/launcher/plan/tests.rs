//! The mount plan for containers with and without a root filesystem.

use super::*;

fn bind(host: &str, container: &str, read_only: bool, is_dir: bool) -> BindSpec {
    BindSpec {
        host: host.into(),
        container: container.into(),
        read_only,
        is_dir,
    }
}

fn rootfs() -> RootfsSpec {
    RootfsSpec {
        lower: "/images/busybox".into(),
        upper: "/run/c1/upper".into(),
        work: "/run/c1/work".into(),
        merged: "/run/c1/rootfs".into(),
        enter: true,
    }
}

fn targets(plan: &FsPlan) -> Vec<String> {
    plan.ops
        .iter()
        .filter_map(|op| match op {
            MountOp::Mount { target, .. } => Some(target.display().to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn without_rootfs_makes_root_private_then_proc() {
    let spec = FsSpec {
        rootfs: None,
        sandbox: "/sb".into(),
        binds: vec![bind("/etc", "conf", true, true)],
        private_proc: true,
    };
    let plan = build(&spec).unwrap();
    assert_eq!(plan.cwd, PathBuf::from("/sb"));
    assert_eq!(targets(&plan), vec!["/", "/proc", "/sb/conf", "/sb/conf"]);
    assert!(
        matches!(&plan.ops[0], MountOp::Mount { flags, .. } if *flags == libc::MS_PRIVATE | libc::MS_REC)
    );
    assert!(plan.ops.contains(&MountOp::Mkdir("/sb/conf".into())));
    // Read-only: a plain bind, then a read-only remount.
    let ro: Vec<&MountOp> = plan.ops.iter().rev().take(2).collect();
    assert!(matches!(ro[0], MountOp::Mount { flags, source: None, .. }
        if *flags == libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY));
    assert!(matches!(ro[1], MountOp::Mount { flags, .. } if *flags == libc::MS_BIND));
    assert_eq!(ro[0].describe(), "mount read-only remount at /sb/conf");
}

#[test]
fn without_rootfs_absolute_targets_must_exist() {
    let mut spec = FsSpec {
        rootfs: None,
        sandbox: "/sb".into(),
        binds: vec![bind("/etc", "/drover-no-such-dir", false, true)],
        private_proc: false,
    };
    assert_eq!(
        build(&spec).unwrap_err(),
        PlanError::NoMountPoint("/drover-no-such-dir".into())
    );
    spec.binds = vec![bind("/etc", "/tmp", false, true)];
    let plan = build(&spec).unwrap();
    assert_eq!(targets(&plan), vec!["/", "/tmp"]);
    assert!(
        matches!(&plan.ops[1], MountOp::Mount { flags, .. } if *flags == libc::MS_BIND | libc::MS_REC)
    );
}

#[test]
fn rootfs_plan_order() {
    let spec = FsSpec {
        rootfs: Some(rootfs()),
        sandbox: "/sb".into(),
        binds: vec![
            bind("/data", "/srv/data", true, true),
            bind("/usr/bin/drover", "/usr/bin/drover", true, false),
        ],
        private_proc: true,
    };
    let plan = build(&spec).unwrap();
    assert_eq!(plan.cwd, PathBuf::from(SANDBOX_IN_CONTAINER));
    let t = targets(&plan);
    let pos = |s: &str| {
        t.iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} not in {t:?}"))
    };
    assert_eq!(t[0], "/");
    assert_eq!(t[1], "/run/c1/rootfs");
    assert!(pos("/run/c1/rootfs/proc") < pos("/run/c1/rootfs/dev"));
    assert!(pos("/run/c1/rootfs/dev") < pos("/run/c1/rootfs/dev/null"));
    assert!(pos("/run/c1/rootfs/mnt/sandbox") < pos("/run/c1/rootfs/srv/data"));
    assert_eq!(
        plan.ops.last(),
        Some(&MountOp::PivotRoot("/run/c1/rootfs".into()))
    );
    let MountOp::Mount {
        data: Some(data), ..
    } = &plan.ops[1]
    else {
        panic!("{:?}", plan.ops[1])
    };
    assert_eq!(
        data,
        "lowerdir=/images/busybox,upperdir=/run/c1/upper,workdir=/run/c1/work"
    );
    // The executor binary: parents made, an empty file as mount point, read-only.
    assert!(plan
        .ops
        .contains(&MountOp::Mkdir("/run/c1/rootfs/usr/bin".into())));
    assert!(plan
        .ops
        .contains(&MountOp::Touch("/run/c1/rootfs/usr/bin/drover".into())));
    for dev in DEVICES {
        assert!(plan
            .ops
            .contains(&MountOp::Touch(format!("/run/c1/rootfs/dev/{dev}").into())));
    }
    assert!(plan.ops[1]
        .describe()
        .starts_with("mount overlay (lowerdir="));
}

#[test]
fn rootfs_for_the_task_only_keeps_the_host_root() {
    let mut root = rootfs();
    root.enter = false;
    let spec = FsSpec {
        rootfs: Some(root),
        sandbox: "/sb".into(),
        binds: vec![bind("/data", "/srv/data", true, true)],
        private_proc: true,
    };
    let plan = build(&spec).unwrap();
    // The main process works in the sandbox on the host's filesystem…
    assert_eq!(plan.cwd, PathBuf::from("/sb"));
    assert!(!plan
        .ops
        .iter()
        .any(|op| matches!(op, MountOp::PivotRoot(_))));
    // …with a private /proc there too, and the task's rootfs fully prepared.
    let t = targets(&plan);
    assert_eq!(t[1], "/run/c1/rootfs");
    for want in [
        "/run/c1/rootfs/proc",
        "/run/c1/rootfs/dev/null",
        "/run/c1/rootfs/mnt/sandbox",
        "/run/c1/rootfs/srv/data",
    ] {
        assert!(t.iter().any(|x| x == want), "{want} not in {t:?}");
    }
    assert_eq!(t.last().map(String::as_str), Some("/proc"));
}

#[test]
fn relative_volume_goes_under_the_sandbox_and_dotdot_is_refused() {
    let mut spec = FsSpec {
        rootfs: Some(rootfs()),
        sandbox: "/sb".into(),
        binds: vec![bind("/data", "cache", false, true)],
        private_proc: false,
    };
    let t = targets(&build(&spec).unwrap());
    assert!(
        t.contains(&"/run/c1/rootfs/mnt/sandbox/cache".to_owned()),
        "{t:?}"
    );
    spec.binds = vec![bind("/data", "/../../etc", false, true)];
    assert!(matches!(build(&spec), Err(PlanError::BadContainerPath(_))));
    spec.binds = vec![bind("/data", "", false, true)];
    assert!(matches!(build(&spec), Err(PlanError::BadContainerPath(_))));
}

#[test]
fn overlay_paths_with_separators_are_refused() {
    let mut r = rootfs();
    r.lower = "/images/a:b".into();
    let spec = FsSpec {
        rootfs: Some(r),
        sandbox: "/sb".into(),
        binds: vec![],
        private_proc: false,
    };
    assert_eq!(
        build(&spec).unwrap_err(),
        PlanError::OverlayPath("/images/a:b".into())
    );
}
