//! Adaptive reply polling: after a connection delivers a message to a local actor, its
//! writer polls for the actor's answer for a short window instead of parking the worker
//! thread, and turns this off by itself on connections where it catches nothing.
//!
//! ```text
//!  reader: deliver(msg) ──▶ window open until now + span
//!  writer: queue empty? ──▶ window open? ── yes ─▶ try_recv / yield, loop
//!                                         └─ no ──▶ park on the queue (recv_many)
//!  window closed having caught nothing ─▶ off;  a send soon after a delivery ─▶ on again
//! ```
//!
//! Pure logic over a caller-supplied clock (nanoseconds since the connection started).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Adaptive reply polling. When the reader delivers a message, the writer keeps polling
/// its queue (yielding to other tasks, so the worker also keeps polling the socket) for
/// up to `span` instead of parking: an actor's answer usually comes within tens of
/// microseconds, and catching it — and the peer's next message — without parking and
/// waking the worker thread saves thread wake-ups on every round trip. A window that
/// passes without any message to send turns polling off for the connection until a
/// message is again sent soon after a delivery, so one-way traffic does not burn CPU.
pub(crate) struct ReplyWindow {
    base: Instant,
    span: u64,
    until: AtomicU64,
    last_delivery: AtomicU64,
    useful: AtomicBool,
    caught: AtomicBool,
}

impl ReplyWindow {
    pub(crate) fn new(span: Duration) -> ReplyWindow {
        ReplyWindow {
            base: Instant::now(),
            span: span.as_nanos() as u64,
            until: AtomicU64::new(0),
            last_delivery: AtomicU64::new(0),
            useful: AtomicBool::new(true),
            caught: AtomicBool::new(false),
        }
    }

    /// Nanoseconds since the connection started (the clock the other methods take).
    pub(crate) fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// The reader delivered a message: open (or extend) the window.
    pub(crate) fn delivered(&self, now: u64) {
        self.last_delivery.store(now, Ordering::Relaxed);
        if self.span > 0 && self.useful.load(Ordering::Relaxed) {
            self.until.store(now + self.span, Ordering::Relaxed);
            self.caught.store(false, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_open(&self, now: u64) -> bool {
        now < self.until.load(Ordering::Relaxed)
    }

    /// The writer found a message to send while polling.
    pub(crate) fn caught(&self) {
        self.caught.store(true, Ordering::Relaxed);
    }

    /// The window closed; if it caught nothing, stop polling on this connection.
    pub(crate) fn expired(&self) {
        self.until.store(0, Ordering::Relaxed);
        if !self.caught.load(Ordering::Relaxed) {
            self.useful.store(false, Ordering::Relaxed);
        }
    }

    /// The writer got a message after parking; poll again if it came soon after a
    /// delivery (the local actor answers quickly after all).
    pub(crate) fn woke(&self, now: u64) {
        let since = now.saturating_sub(self.last_delivery.load(Ordering::Relaxed));
        if since < self.span {
            self.useful.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    #[test]
    fn reply_window_opens_on_delivery_and_turns_itself_off_when_useless() {
        let w = ReplyWindow::new(Duration::from_micros(200));
        assert!(!w.is_open(0));
        w.delivered(1_000 * US);
        assert!(w.is_open(1_100 * US) && !w.is_open(1_200 * US));
        w.caught(); // a reply came: the window was useful
        w.expired();
        w.delivered(2_000 * US);
        assert!(w.is_open(2_050 * US));
        w.expired(); // nothing to send this time: polling stops
        w.delivered(3_000 * US);
        assert!(!w.is_open(3_010 * US));
        w.woke(3_500 * US); // a slow answer does not turn it back on
        w.delivered(4_000 * US);
        assert!(!w.is_open(4_010 * US));
        w.woke(4_050 * US); // a quick one does
        w.delivered(5_000 * US);
        assert!(w.is_open(5_010 * US));
    }

    #[test]
    fn zero_span_never_polls() {
        let w = ReplyWindow::new(Duration::ZERO);
        w.delivered(10);
        assert!(!w.is_open(10));
    }
}
