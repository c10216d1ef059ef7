//! The cgroup isolators against temporary directories laid out like cgroup v1 and v2
//! hierarchies: what they write, and what they read back for `usage`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use drover_containerizers::{Command, ContainerConfig, Limits, ResourceStatistics};

use super::*;
use crate::cgroups::{Cgroups, Controller, Hierarchy};
use crate::launcher::plan::FsSpec;

fn all() -> BTreeSet<Controller> {
    [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Memory,
        Controller::Pids,
        Controller::Freezer,
    ]
    .into()
}

fn fake(v2: bool) -> (tempfile::TempDir, ContainerCgroup) {
    let dir = tempfile::tempdir().unwrap();
    let h = if v2 {
        Hierarchy::V2 {
            mount: dir.path().to_path_buf(),
            controllers: all(),
        }
    } else {
        Hierarchy::V1 {
            mounts: all()
                .into_iter()
                .map(|c| (c, dir.path().join(c.name())))
                .collect(),
        }
    };
    let cgroups = Cgroups::new(h, "drover", all()).unwrap();
    for d in cgroups.root_dirs() {
        std::fs::create_dir_all(d).unwrap();
    }
    let cg = cgroups.container("c1");
    cg.create().unwrap();
    (dir, cg)
}

fn prepared() -> Prepared {
    Prepared {
        new_pid: false,
        new_net: false,
        fs: FsSpec {
            rootfs: None,
            sandbox: "/sb".into(),
            binds: vec![],
            private_proc: false,
        },
        rlimits: vec![],
    }
}

fn prepare_all(
    isos: &[Box<dyn Isolator>],
    cg: &ContainerCgroup,
    limits: Limits,
    options: &ContainerOptions,
) -> Result<Prepared, String> {
    let mut config = ContainerConfig::new(Command::Shell("true".into()), "/sb");
    config.limits = limits;
    let ctx = PrepareCtx {
        config: &config,
        options,
        cgroup: cg,
        rootfs: None,
    };
    let mut out = prepared();
    for iso in isos {
        iso.prepare(&ctx, &mut out)?;
    }
    Ok(out)
}

fn file(cg: &ContainerCgroup, c: Controller, name: &str) -> String {
    std::fs::read_to_string(cg.dir(c).unwrap().join(name)).unwrap()
}

fn stats() -> ResourceStatistics {
    ResourceStatistics {
        timestamp: SystemTime::now(),
        cpus_user_time_secs: 0.0,
        cpus_system_time_secs: 0.0,
        cpus_limit: None,
        mem_rss_bytes: 0,
        mem_cache_bytes: None,
        mem_limit_bytes: None,
        processes: 0,
        threads: 0,
    }
}

const LIMITS: Limits = Limits {
    cpus: 0.5,
    mem_bytes: 64 << 20,
    pids: Some(100),
};

#[test]
fn v2_writes_weight_quota_memory_and_pids() {
    let (_dir, cg) = fake(true);
    std::fs::write(
        cg.dir(Controller::Memory).unwrap().join("memory.swap.max"),
        "max",
    )
    .unwrap();
    let isos = build(&Isolation::default(), true, None);
    let out = prepare_all(&isos, &cg, LIMITS, &ContainerOptions::default()).unwrap();
    assert!(out.new_pid && out.fs.private_proc && !out.new_net);
    assert_eq!(file(&cg, Controller::Cpu, "cpu.weight"), "20");
    assert_eq!(file(&cg, Controller::Cpu, "cpu.max"), "50000 100000");
    assert_eq!(
        file(&cg, Controller::Memory, "memory.max"),
        (64u64 << 20).to_string()
    );
    assert_eq!(file(&cg, Controller::Memory, "memory.swap.max"), "0");
    assert_eq!(file(&cg, Controller::Pids, "pids.max"), "100");

    std::fs::write(
        cg.dir(Controller::Cpu).unwrap().join("cpu.stat"),
        "usage_usec 3000000\nuser_usec 2000000\nsystem_usec 1000000\n",
    )
    .unwrap();
    std::fs::write(
        cg.dir(Controller::Memory).unwrap().join("memory.stat"),
        "anon 4096\nfile 8192\n",
    )
    .unwrap();
    let mut s = stats();
    for iso in &isos {
        iso.usage(&cg, &LIMITS, &mut s).unwrap();
    }
    assert_eq!((s.cpus_user_time_secs, s.cpus_system_time_secs), (2.0, 1.0));
    assert_eq!(s.cpus_limit, Some(0.5));
    assert_eq!(
        (s.mem_rss_bytes, s.mem_cache_bytes, s.mem_limit_bytes),
        (4096, Some(8192), Some(64 << 20))
    );

    // Update to no limits at all.
    for iso in &isos {
        iso.update(&cg, &Limits::default()).unwrap();
    }
    assert_eq!(file(&cg, Controller::Cpu, "cpu.max"), "max 100000");
    assert_eq!(file(&cg, Controller::Memory, "memory.max"), "max");
    assert_eq!(file(&cg, Controller::Pids, "pids.max"), "max");
}

#[test]
fn v2_shares_only_reports_the_asked_cpus() {
    let (_dir, cg) = fake(true);
    let isos = build(&Isolation::parse("cgroups/cpu").unwrap(), false, None);
    let limits = Limits {
        cpus: 1.5,
        ..Limits::default()
    };
    prepare_all(&isos, &cg, limits, &ContainerOptions::default()).unwrap();
    assert_eq!(file(&cg, Controller::Cpu, "cpu.weight"), "59");
    std::fs::write(cg.dir(Controller::Cpu).unwrap().join("cpu.stat"), "").unwrap();
    let mut s = stats();
    isos[0].usage(&cg, &limits, &mut s).unwrap();
    assert_eq!(s.cpus_limit, Some(1.5));
    // Someone else changed the weight: report what it stands for.
    std::fs::write(cg.dir(Controller::Cpu).unwrap().join("cpu.weight"), "39").unwrap();
    isos[0].usage(&cg, &limits, &mut s).unwrap();
    assert!(
        s.cpus_limit.is_some_and(|c| (c - 1.0).abs() < 0.05),
        "{s:?}"
    );
}

#[test]
fn v1_writes_shares_cfs_limit_and_reads_cpuacct() {
    let (_dir, cg) = fake(false);
    let isos = build(&Isolation::default(), true, Some(500));
    prepare_all(
        &isos,
        &cg,
        Limits {
            pids: None,
            ..LIMITS
        },
        &ContainerOptions::default(),
    )
    .unwrap();
    assert_eq!(file(&cg, Controller::Cpu, "cpu.shares"), "512");
    assert_eq!(file(&cg, Controller::Cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(file(&cg, Controller::Cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(
        file(&cg, Controller::Memory, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        file(&cg, Controller::Pids, "pids.max"),
        "500",
        "the agent's default"
    );
    std::fs::write(
        cg.dir(Controller::Cpuacct).unwrap().join("cpuacct.stat"),
        "user 0\nsystem 0\n",
    )
    .unwrap();
    std::fs::write(
        cg.dir(Controller::Memory).unwrap().join("memory.stat"),
        "total_rss 10\ntotal_cache 20\n",
    )
    .unwrap();
    let mut s = stats();
    for iso in &isos {
        iso.usage(&cg, &LIMITS, &mut s).unwrap();
    }
    assert_eq!(s.cpus_limit, Some(0.5));
    assert_eq!((s.mem_rss_bytes, s.mem_cache_bytes), (10, Some(20)));
}

#[test]
fn prepare_refuses_bad_limits_and_fills_the_plan() {
    let (_dir, cg) = fake(true);
    let isos = build(
        &Isolation::parse("cgroups/cpu,cgroups/pids,network/none,posix/rlimits").unwrap(),
        false,
        None,
    );
    let bad_cpu = Limits {
        cpus: -1.0,
        ..Limits::default()
    };
    assert!(
        prepare_all(&isos, &cg, bad_cpu, &ContainerOptions::default())
            .unwrap_err()
            .contains("cpus")
    );
    let no_pids = Limits {
        pids: Some(0),
        ..Limits::default()
    };
    assert!(prepare_all(&isos, &cg, no_pids, &ContainerOptions::default()).is_err());
    let mut options = ContainerOptions {
        rlimits: vec![crate::launcher::Rlimit {
            resource: libc::RLIMIT_NOFILE,
            soft: 10,
            hard: 10,
        }],
        ..ContainerOptions::default()
    };
    let out = prepare_all(&isos, &cg, Limits::default(), &options).unwrap();
    assert!(out.new_net && !out.new_pid);
    assert_eq!(out.rlimits, options.rlimits);
    options.network_none = Some(false);
    assert!(
        !prepare_all(&isos, &cg, Limits::default(), &options)
            .unwrap()
            .new_net
    );
}

#[test]
fn filesystem_checks_volumes_and_symlinks_in_images() {
    let (dir, cg) = fake(true);
    let isos = build(&Isolation::parse("filesystem/linux").unwrap(), false, None);
    let mut config = ContainerConfig::new(Command::Shell("true".into()), "/sb");
    config.kind.volumes.push(drover_containerizers::Volume {
        host_path: dir.path().join("no-such-volume"),
        container_path: "/data".into(),
        read_only: true,
    });
    let options = ContainerOptions::default();
    let ctx = PrepareCtx {
        config: &config,
        options: &options,
        cgroup: &cg,
        rootfs: None,
    };
    let err = isos[0].prepare(&ctx, &mut prepared()).unwrap_err();
    assert!(err.contains("no-such-volume"), "{err}");

    // An image whose /mnt is a symlink to a host directory.
    let lower = dir.path().join("image");
    std::fs::create_dir_all(&lower).unwrap();
    std::os::unix::fs::symlink("/tmp", lower.join("mnt")).unwrap();
    let root = crate::launcher::plan::RootfsSpec {
        lower: lower.clone(),
        upper: dir.path().join("u"),
        work: dir.path().join("w"),
        merged: dir.path().join("m"),
        enter: true,
    };
    let spec = FsSpec {
        rootfs: Some(root.clone()),
        sandbox: "/sb".into(),
        binds: vec![],
        private_proc: true,
    };
    let plan = crate::launcher::plan::build(&spec).unwrap();
    let err = filesystem::check_plan(&plan, &root).unwrap_err();
    assert!(err.contains("/mnt"), "{err}");
    std::fs::remove_file(lower.join("mnt")).unwrap();
    filesystem::check_plan(&plan, &root).unwrap();
    let _: PathBuf = lower;
}
