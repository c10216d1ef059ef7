//! Hierarchy detection and path math, against mountinfo texts and temporary
//! directories laid out like cgroupfs.

use super::*;

/// This machine's layout: v1 controllers (cpu and cpuacct apart) and an empty v2 tree.
const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

const COMBINED: &str = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
";

const PURE_V2: &str = "\
22 1 0:20 / /proc rw - proc proc rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

fn all() -> BTreeSet<Controller> {
    Controller::ALL.into_iter().collect()
}

#[test]
fn hybrid_host_is_v1() {
    let Some(Hierarchy::V1 { mounts }) = Hierarchy::from_mountinfo(HYBRID) else {
        panic!("not v1");
    };
    assert_eq!(
        mounts[&Controller::Cpu],
        PathBuf::from("/sys/fs/cgroup/cpu")
    );
    assert_eq!(
        mounts[&Controller::Cpuacct],
        PathBuf::from("/sys/fs/cgroup/cpuacct")
    );
    assert_eq!(mounts.len(), 5);
    let h = Hierarchy::V1 { mounts };
    assert!(h.missing(&all()).is_empty());
}

#[test]
fn combined_v1_mounts_share_directories() {
    let h = Hierarchy::from_mountinfo(COMBINED).unwrap();
    let missing = h.missing(&all());
    assert_eq!(missing.len(), 2, "{missing:?}"); // pids, freezer
    assert!(missing.iter().any(|m| m.contains("`pids`")));
    let wanted = [Controller::Cpu, Controller::Cpuacct, Controller::Memory].into();
    let cg = Cgroups::new(h, "drover", wanted).unwrap();
    let c = cg.container("c1");
    assert_eq!(c.dir(Controller::Cpu), c.dir(Controller::Cpuacct));
    assert_eq!(c.all_dirs().len(), 2);
    assert_eq!(
        c.procs_files(),
        vec![
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/drover/c1/cgroup.procs"),
            PathBuf::from("/sys/fs/cgroup/memory/drover/c1/cgroup.procs"),
        ]
    );
}

#[test]
fn pure_v2_and_escapes() {
    assert_eq!(
        Hierarchy::from_mountinfo(PURE_V2),
        Some(Hierarchy::V2 {
            mount: "/sys/fs/cgroup".into(),
            controllers: BTreeSet::new()
        })
    );
    let odd = "1 2 0:1 / /mnt/cg\\040v1 rw - cgroup cgroup rw,pids\n";
    let Some(Hierarchy::V1 { mounts }) = Hierarchy::from_mountinfo(odd) else {
        panic!()
    };
    assert_eq!(mounts[&Controller::Pids], PathBuf::from("/mnt/cg v1"));
    assert_eq!(Hierarchy::from_mountinfo("garbage\n1 2 3\n"), None);
}

/// A temporary directory laid out like the root of a cgroup v2 mount.
fn fake_v2(controllers: &str) -> (tempfile::TempDir, Hierarchy) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cgroup.controllers"), controllers).unwrap();
    let h = Hierarchy::v2_at(dir.path()).unwrap();
    (dir, h)
}

#[test]
fn v2_controllers_and_missing_ones() {
    let (_dir, h) = fake_v2("cpuset cpu io memory\n");
    let Hierarchy::V2 { controllers, .. } = &h else {
        panic!()
    };
    assert!(
        controllers.contains(&Controller::Cpuacct) && controllers.contains(&Controller::Freezer)
    );
    let missing = h.missing(&all());
    assert_eq!(missing.len(), 1);
    assert!(missing[0].contains("`pids`"), "{missing:?}");
    let err = Cgroups::new(h, "drover", all()).unwrap_err();
    assert!(err[0].contains("cgroup.controllers"), "{err:?}");
}

#[test]
fn v2_root_enables_controllers_top_down() {
    let (dir, h) = fake_v2("cpu memory pids");
    let cg = Cgroups::new(h, "/drover/agent1", all()).unwrap();
    cg.ensure_root().unwrap();
    for sub in ["", "drover", "drover/agent1"] {
        let text =
            std::fs::read_to_string(dir.path().join(sub).join("cgroup.subtree_control")).unwrap();
        assert_eq!(text, "+cpu +memory +pids", "{sub}");
    }
    assert_eq!(cg.root_dirs(), vec![dir.path().join("drover/agent1")]);
    let c = cg.container("c1");
    assert!(c.is_v2());
    assert_eq!(
        c.all_dirs(),
        vec![dir.path().join("drover/agent1/c1").as_path()]
    );
    c.create().unwrap();
    c.create().unwrap(); // idempotent
    std::fs::create_dir(dir.path().join("drover/agent1/c2")).unwrap();
    std::fs::write(dir.path().join("drover/agent1/stray-file"), "").unwrap();
    let ids: Vec<String> = cg.list().unwrap().into_iter().collect();
    assert_eq!(ids, vec!["c1".to_owned(), "c2".to_owned()]);
    std::fs::write(dir.path().join("drover/agent1/c1/cgroup.procs"), "12\n13\n").unwrap();
    std::fs::write(
        dir.path().join("drover/agent1/c1/cgroup.threads"),
        "12\n13\n14\n",
    )
    .unwrap();
    assert_eq!(c.pids().unwrap(), vec![12, 13]);
    assert_eq!(c.thread_count().unwrap(), 3);
}

#[test]
fn v1_paths_per_controller() {
    let mounts = Controller::ALL
        .into_iter()
        .map(|c| (c, PathBuf::from("/cg").join(c.name())))
        .collect();
    let cg = Cgroups::new(
        Hierarchy::V1 { mounts },
        "drover",
        [Controller::Memory, Controller::Freezer].into(),
    )
    .unwrap();
    let c = cg.container("x");
    assert!(!c.is_v2());
    assert_eq!(
        c.dir(Controller::Memory),
        Some(Path::new("/cg/memory/drover/x"))
    );
    assert_eq!(c.procs_dir(), Some(Path::new("/cg/freezer/drover/x")));
    assert_eq!(c.dir(Controller::Cpu), None);
    let err = c.read(Controller::Cpu, "cpu.shares").unwrap_err();
    assert!(err.to_string().contains("`cpu`"), "{err}");
    // A cgroup that is gone has no processes.
    assert_eq!(c.pids().unwrap(), Vec::<i32>::new());
}

#[tokio::test]
async fn remove_tolerates_missing_dirs() {
    let (dir, h) = fake_v2("cpu memory pids");
    let cg = Cgroups::new(h, "drover", all()).unwrap();
    let c = cg.container("gone");
    kill::remove(&c, std::time::Duration::from_millis(10))
        .await
        .unwrap();
    std::fs::create_dir_all(dir.path().join("drover/gone")).unwrap();
    kill::remove(&c, std::time::Duration::from_millis(10))
        .await
        .unwrap();
    assert!(!c.exists());
    // Nothing to kill in an empty cgroup.
    kill::kill_all(&c, std::time::Duration::from_millis(10))
        .await
        .unwrap();
}
