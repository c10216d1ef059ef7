//! Shared by the Docker tests: the engine with the test image, or a skip.

#![allow(dead_code, unreachable_pub)]

use drover_containerizer_docker::DockerRunner;

/// The test image.
pub const IMAGE: &str = drover_containerizer_docker::test_image::TEST_IMAGE;

/// The engine with the test image present, or `None` (test skipped).
pub async fn engine() -> Option<DockerRunner> {
    drover_containerizer_docker::test_image::engine_for_tests().await
}
