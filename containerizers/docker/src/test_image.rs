//! The local test image `drover-test-busybox:latest`: `FROM scratch` plus Debian's
//! static busybox (`/bin/busybox`, package `busybox-static`) with its applets linked in
//! `/bin`. Built by importing a rootfs tar through the Engine API, so tests need no
//! registry. Idempotent. For tests of this crate and of the crates above it.

use std::path::Path;

use futures::StreamExt;

use crate::error::DockerError;
use crate::runner::DockerRunner;

/// The test image's reference.
pub const TEST_IMAGE: &str = "drover-test-busybox:latest";

/// Busybox applets linked into the image's /bin.
const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "sleep", "httpd", "touch", "mkdir", "head", "tail", "tr", "dd", "env",
    "ls", "kill", "true", "false", "test", "wget", "id", "rm", "pwd",
];

fn image_err(message: String) -> DockerError {
    DockerError::Image {
        image: TEST_IMAGE.to_owned(),
        message,
    }
}

fn io<'a>(
    context: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DockerError + 'a {
    move |source| DockerError::Io {
        context,
        path: path.to_owned(),
        source,
    }
}

/// Imports [`TEST_IMAGE`] into the engine unless it is there already. Installs
/// `busybox-static` with apt-get if `/bin/busybox` is missing.
pub async fn ensure_test_image(runner: &DockerRunner) -> Result<(), DockerError> {
    if runner.client().inspect_image(TEST_IMAGE).await.is_ok() {
        return Ok(());
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        let status = std::process::Command::new("apt-get")
            .args(["install", "-y", "busybox-static"])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            return Err(image_err(
                "no /bin/busybox and `apt-get install -y busybox-static` failed".into(),
            ));
        }
    }
    let root = tempfile::tempdir().map_err(io("cannot make a temp dir", Path::new("/tmp")))?;
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).map_err(io("cannot create", &bin))?;
    let tmp = root.path().join("tmp");
    std::fs::create_dir_all(&tmp).map_err(io("cannot create", &tmp))?;
    std::fs::copy(busybox, bin.join("busybox")).map_err(io("cannot copy", busybox))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet))
            .map_err(io("cannot link an applet", &bin))?;
    }
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-cf", "-", "."])
        .output()
        .map_err(io("cannot run tar", root.path()))?;
    if !tar.status.success() {
        return Err(image_err(format!("tar failed: {}", tar.status)));
    }
    let (repo, tag) = TEST_IMAGE.split_once(':').unwrap_or((TEST_IMAGE, "latest"));
    let options = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec!["ENV PATH=/bin".into()])
        .build();
    let body = bollard::body_full(tar.stdout.into());
    let mut import = runner
        .client()
        .create_image(Some(options), Some(body), None);
    while let Some(item) = import.next().await {
        item.map_err(|e| image_err(format!("import failed: {e}")))?;
    }
    runner
        .client()
        .inspect_image(TEST_IMAGE)
        .await
        .map(|_| ())
        .map_err(|e| image_err(format!("missing after the import: {e}")))
}

/// The engine at the default socket with [`TEST_IMAGE`] present, or `None` when no
/// engine answers (the caller's test skips, with a message), unless
/// `DROVER_REQUIRE_ALL=1`, in which case it panics.
pub async fn engine_for_tests() -> Option<DockerRunner> {
    let socket = Path::new(crate::runner::DEFAULT_SOCKET);
    let runner = match DockerRunner::connect(socket).await {
        Ok(r) => r,
        Err(e) => {
            assert!(
                std::env::var("DROVER_REQUIRE_ALL").as_deref() != Ok("1"),
                "DROVER_REQUIRE_ALL=1 but no Docker engine: {e}"
            );
            eprintln!("SKIPPED: no Docker engine: {e}");
            return None;
        }
    };
    if let Err(e) = ensure_test_image(&runner).await {
        panic!("cannot build the test image: {e}");
    }
    Some(runner)
}
