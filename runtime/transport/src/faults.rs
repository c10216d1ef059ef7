//! Fault hooks for tests and the chaos suite: per-peer message drop probability, added
//! delay and partition, switchable at run time through a shared [`Faults`] handle.
//!
//! ```text
//!  writer: drained batch ─▶ drops(peer)? per message ─▶ sleep(delay(peer)) ─▶ write
//!  reader: received bytes ─▶ sleep(delay(peer)) ─▶ drops(peer)? per message ─▶ deliver
//! ```
//!
//! Rules apply to typed messages on send and on receive, on the node(s) holding the
//! handle; the QUIC connection itself stays up (a partitioned peer sees silence, not a
//! disconnect). Unused hooks cost one relaxed atomic load per message. Delays keep
//! message order (they act like added link latency). Drop decisions come from a
//! splitmix64 stream seeded by [`Faults::seeded`].

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Which peer a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    /// Matches the peer's handshake id or its certificate name.
    Peer(String),
    /// Matches the peer's UDP address.
    Addr(SocketAddr),
}

impl From<&str> for FaultTarget {
    fn from(s: &str) -> FaultTarget {
        FaultTarget::Peer(s.to_owned())
    }
}

impl From<String> for FaultTarget {
    fn from(s: String) -> FaultTarget {
        FaultTarget::Peer(s)
    }
}

impl From<SocketAddr> for FaultTarget {
    fn from(a: SocketAddr) -> FaultTarget {
        FaultTarget::Addr(a)
    }
}

/// The faults applied to one target.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRule {
    /// Drop every message both ways.
    pub partitioned: bool,
    /// Probability (0..=1) of dropping each message.
    pub drop: f64,
    /// Latency added to each message.
    pub delay: Duration,
}

impl FaultRule {
    fn is_noop(&self) -> bool {
        !self.partitioned && self.drop <= 0.0 && self.delay.is_zero()
    }

    fn merge(self, other: FaultRule) -> FaultRule {
        FaultRule {
            partitioned: self.partitioned || other.partitioned,
            drop: self.drop.max(other.drop),
            delay: self.delay.max(other.delay),
        }
    }
}

/// How a connection is matched against rules: the peer's handshake id, certificate name
/// and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerKeys {
    /// Id from the peer's `Hello`.
    pub id: String,
    /// Name from the peer's certificate.
    pub cert_name: String,
    /// The peer's UDP address.
    pub addr: SocketAddr,
}

struct Inner {
    active: AtomicBool,
    remote: AtomicBool,
    rules: RwLock<HashMap<FaultTarget, FaultRule>>,
    rng: AtomicU64,
}

/// Shared, cheaply clonable fault switchboard. Give the same handle to several nodes
/// (through `NodeConfig`) to control a whole test cluster from one place.
#[derive(Clone)]
pub struct Faults {
    inner: Arc<Inner>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("rules", &self.rules())
            .finish()
    }
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::seeded(rand::random())
    }
}

impl Faults {
    /// No faults; drop decisions randomly seeded.
    pub fn new() -> Faults {
        Faults::default()
    }

    /// No faults; drop decisions derived from `seed` (reproducible chaos runs).
    pub fn seeded(seed: u64) -> Faults {
        Faults {
            inner: Arc::new(Inner {
                active: AtomicBool::new(false),
                remote: AtomicBool::new(false),
                rules: RwLock::new(HashMap::new()),
                rng: AtomicU64::new(seed),
            }),
        }
    }

    /// Allows the node's operator API to change these rules (`drover master
    /// --fault-injection`: `POST /faults`). Off by default; for tests and chaos runs of
    /// real processes only.
    pub fn with_remote_control(self) -> Faults {
        self.inner.remote.store(true, Ordering::Release);
        self
    }

    /// Whether [`with_remote_control`](Self::with_remote_control) was asked for.
    pub fn remote_control(&self) -> bool {
        self.inner.remote.load(Ordering::Acquire)
    }

    /// Replaces the rule for `target` (a no-op rule removes it).
    pub fn set_rule(&self, target: impl Into<FaultTarget>, rule: FaultRule) {
        let p = if rule.drop.is_nan() {
            0.0
        } else {
            rule.drop.clamp(0.0, 1.0)
        };
        self.update(target.into(), |r| *r = FaultRule { drop: p, ..rule });
    }

    fn update(&self, target: FaultTarget, f: impl FnOnce(&mut FaultRule)) {
        let mut rules = self.inner.rules.write().unwrap_or_else(|p| p.into_inner());
        let rule = rules.entry(target.clone()).or_default();
        f(rule);
        if rule.is_noop() {
            rules.remove(&target);
        }
        self.inner
            .active
            .store(!rules.is_empty(), Ordering::Release);
    }

    /// Drops every message to and from `target` until [`heal`](Self::heal).
    pub fn partition(&self, target: impl Into<FaultTarget>) {
        self.update(target.into(), |r| r.partitioned = true);
    }

    /// Ends a partition of `target` (drop and delay rules stay).
    pub fn heal(&self, target: impl Into<FaultTarget>) {
        self.update(target.into(), |r| r.partitioned = false);
    }

    /// Drops each message to or from `target` with probability `p` (clamped to 0..=1).
    pub fn set_drop(&self, target: impl Into<FaultTarget>, p: f64) {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self.update(target.into(), |r| r.drop = p);
    }

    /// Delays each message to or from `target` by `d` (zero removes the delay).
    pub fn set_delay(&self, target: impl Into<FaultTarget>, d: Duration) {
        self.update(target.into(), |r| r.delay = d);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut rules = self.inner.rules.write().unwrap_or_else(|p| p.into_inner());
        rules.clear();
        self.inner.active.store(false, Ordering::Release);
    }

    /// A snapshot of the rules in force.
    pub fn rules(&self) -> HashMap<FaultTarget, FaultRule> {
        self.inner
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether any rule is in force.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.inner.active.load(Ordering::Relaxed)
    }

    /// Whether to lose one message to or from the peer `keys` (partitioned, or unlucky
    /// under a drop probability).
    #[inline]
    pub fn drops(&self, keys: &PeerKeys) -> bool {
        if !self.is_active() {
            return false;
        }
        let rule = self.rule_for(keys);
        rule.partitioned || (rule.drop > 0.0 && self.unit() < rule.drop)
    }

    /// Latency to add to messages to or from the peer `keys`.
    #[inline]
    pub fn delay(&self, keys: &PeerKeys) -> Duration {
        if !self.is_active() {
            return Duration::ZERO;
        }
        self.rule_for(keys).delay
    }

    /// The combined rule for a peer (rules for its id, certificate name and address).
    pub fn rule_for(&self, keys: &PeerKeys) -> FaultRule {
        let rules = self.inner.rules.read().unwrap_or_else(|p| p.into_inner());
        let get = |t: FaultTarget| rules.get(&t).copied().unwrap_or_default();
        get(FaultTarget::Peer(keys.id.clone()))
            .merge(get(FaultTarget::Peer(keys.cert_name.clone())))
            .merge(get(FaultTarget::Addr(keys.addr)))
    }

    /// Next value of the splitmix64 stream, as a float in [0, 1).
    fn unit(&self) -> f64 {
        let mut z = self
            .inner
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> PeerKeys {
        PeerKeys {
            id: "agent-7".into(),
            cert_name: "host-7".into(),
            addr: "127.0.0.1:9".parse().unwrap(),
        }
    }

    #[test]
    fn rules_match_by_id_name_or_address_and_heal() {
        let f = Faults::seeded(1);
        assert!(!f.drops(&keys()));
        for t in [
            FaultTarget::from("agent-7"),
            "host-7".into(),
            keys().addr.into(),
        ] {
            f.partition(t.clone());
            assert!(f.is_active());
            assert!(f.drops(&keys()));
            f.heal(t);
            assert!(!f.is_active());
            assert!(!f.drops(&keys()));
        }
    }

    #[test]
    fn drop_probability_is_roughly_honoured_and_reproducible() {
        let run = || {
            let f = Faults::seeded(42);
            f.set_drop("agent-7", 0.3);
            (0..10_000).filter(|_| f.drops(&keys())).count()
        };
        let dropped = run();
        assert!((2_700..3_300).contains(&dropped), "{dropped}");
        assert_eq!(dropped, run());
    }

    #[test]
    fn delay_applies_and_clear_removes_everything() {
        let f = Faults::seeded(3);
        f.set_delay("agent-7", Duration::from_millis(5));
        assert_eq!(f.delay(&keys()), Duration::from_millis(5));
        assert!(!f.drops(&keys()));
        f.set_drop("other", 1.0);
        f.clear();
        assert!(!f.drops(&keys()));
        assert!(f.rules().is_empty());
    }
}
