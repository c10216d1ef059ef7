//! The transport's own multi-thread tokio runtime. quinn's endpoint and connection
//! drivers, and every reader/writer task, live here, never on an actix arbiter that may
//! stop; actors talk to it only through channels.
//!
//! ```text
//!  actix arbiter(s)                      transport runtime (N worker threads)
//!  ┌──────────┐  send(): mpsc push       ┌──────────────────────────────────┐
//!  │  actor   │ ───────────────────────▶ │ writer task ─▶ quinn ─▶ UDP      │
//!  │          │ ◀─────────────────────── │ reader task ◀─ quinn ◀─ UDP      │
//!  └──────────┘  do_send(Inbound<In>)    └──────────────────────────────────┘
//! ```
//!
//! A [`TransportRuntime`] is a cheap handle; the runtime shuts down (in the background,
//! safe from async contexts) when the last handle is dropped. Several nodes may share one.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::runtime::{Handle, Runtime};

use crate::error::TransportError;

/// Default number of worker threads of a node's runtime. One worker keeps every
/// quinn driver and reader/writer task on one thread, which halves loopback round trips
/// compared with two on a 2-core machine (see `benches/RESULTS.md`) and still moves
/// several hundred thousand messages per second; give a node a bigger
/// [`TransportRuntime`] through `NodeConfig::runtime` if it needs more.
pub const DEFAULT_WORKER_THREADS: usize = 1;

struct Owner(Option<Runtime>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Handle to a dedicated multi-thread tokio runtime; `Clone` shares it.
#[derive(Clone)]
pub struct TransportRuntime {
    handle: Handle,
    _owner: Arc<Owner>,
}

impl fmt::Debug for TransportRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportRuntime").finish_non_exhaustive()
    }
}

impl TransportRuntime {
    /// Starts a runtime with `worker_threads` threads (at least 1) named `drover-net`.
    pub fn new(worker_threads: usize) -> Result<TransportRuntime, TransportError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("drover-net")
            .enable_all()
            .build()
            .map_err(TransportError::Runtime)?;
        Ok(TransportRuntime {
            handle: rt.handle().clone(),
            _owner: Arc::new(Owner(Some(rt))),
        })
    }

    /// The tokio handle, e.g. to spawn helper tasks next to the transport's.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Spawns `fut` on the runtime.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }
}
