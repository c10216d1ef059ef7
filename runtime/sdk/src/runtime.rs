//! The drivers' threads: each driver runs on a thread of its own (with its own actix
//! System), so it needs no runtime from its user. [`DriverThread`] joins such a thread
//! from blocking or async code and turns a panic into [`SdkError::DriverPanicked`].

use std::any::Any;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::error::SdkError;

/// A driver thread returning `Result<T, SdkError>`.
#[derive(Debug)]
pub(crate) struct DriverThread<T> {
    handle: JoinHandle<Result<T, SdkError>>,
    /// Fires (or is dropped, on a panic) when the thread is about to end.
    done: oneshot::Receiver<()>,
}

impl<T: Send + 'static> DriverThread<T> {
    /// Spawns `f` on a thread named `name`.
    pub(crate) fn spawn(
        name: &str,
        f: impl FnOnce() -> Result<T, SdkError> + Send + 'static,
    ) -> Result<Self, SdkError> {
        let (tx, done) = oneshot::channel();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let result = f();
                let _ = tx.send(());
                result
            })?;
        Ok(Self { handle, done })
    }

    /// Blocks until the thread ends and returns its result.
    pub(crate) fn join(self) -> Result<T, SdkError> {
        self.handle
            .join()
            .map_err(|p| SdkError::DriverPanicked(panic_message(p)))?
    }

    /// Waits for the thread's end without blocking an async runtime.
    pub(crate) async fn wait(mut self) -> Result<T, SdkError> {
        // Ok: the thread is returning; Err: it panicked. Either way it ends now.
        let _ = (&mut self.done).await;
        self.join()
    }

    /// Whether the thread has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// The panic payload as text.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic payload".to_owned())
}
