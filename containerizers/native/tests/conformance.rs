//! The containerizer conformance suite, run against the native containerizer with
//! the OOM and CPU capabilities.

mod common;

use std::path::Path;

use drover_containerizers::suite::{self, Capabilities, Target, Workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    if common::skip() {
        return;
    }
    let _cleanup = common::Cleanup("suite");
    // Each check builds on its own temporary state dir: give each its own cgroup root
    // (named after the dir), so that one check's recovery never sees another's.
    let build = |state: &Path| {
        let name = state
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| format!("suite/{}", n.to_string_lossy()))
            .unwrap_or_else(|| "suite/x".into());
        common::build(common::config(state, &name))
    };
    let target = Target::new(build, Workload::as_command).with_capabilities(Capabilities {
        oom: true,
        cpu_shares: true,
    });
    let report = suite::test_all(&target).await;
    report.assert_passed();
}
