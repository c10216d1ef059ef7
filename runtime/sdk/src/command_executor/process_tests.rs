use super::*;

use drover_proto::CommandInfo;

/// The interface names listed in a `/proc/net/dev` text.
fn interfaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(name, _)| name.trim().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_task_with_new_net_sees_only_loopback_up_while_the_executor_keeps_its_network() {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
            "needs root (DROVER_REQUIRE_ALL=1)"
        );
        eprintln!("skipped: needs root");
        return;
    }
    let sandbox = tempfile::tempdir().expect("temp dir");
    let info = CommandInfo::shell(
        "cat /proc/net/dev > dev.txt && if command -v ip >/dev/null; then ip -o link show lo; fi > lo.txt",
    );
    let status = spawn(&info, sandbox.path(), None, true)
        .expect("spawns")
        .wait()
        .await
        .expect("waits");
    assert!(status.success(), "{status}");
    let dev = std::fs::read_to_string(sandbox.path().join("dev.txt")).expect("dev.txt");
    assert_eq!(interfaces(&dev), ["lo"], "{dev}");
    // With iproute2 there: `lo` is up (`<LOOPBACK,UP,LOWER_UP>`).
    let lo = std::fs::read_to_string(sandbox.path().join("lo.txt")).expect("lo.txt");
    assert!(lo.is_empty() || lo.contains(",UP"), "{lo}");
    // The executor's own namespace is untouched.
    let host = std::fs::read_to_string("/proc/self/net/dev").expect("own /proc/net/dev");
    assert!(interfaces(&host).len() >= interfaces(&dev).len());
}
