//! The SDK's use of the transport: a client [`Node`] with the driver's TLS identity,
//! address resolution, links whose events are tagged with a generation (so a shell can
//! ignore the events of a link it replaced), and a stream over a tokio channel for
//! actix's `add_stream`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

use actix::{Message, Recipient};
use drover_proto::codec::Role;
use drover_transport::{EventSink, Link, LinkEvent, LinkOptions, Node, NodeConfig, NodeIdentity};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::SdkError;

/// A client node of the transport for one driver.
#[derive(Debug)]
pub(crate) struct Net {
    node: Node,
}

impl Net {
    /// Loads `<tls_dir>/<tls_name>.{pem,key}` and `ca.pem`, checks the certificate is
    /// for `role`, and starts a node bound to an ephemeral port of the family of
    /// `targets` (IPv6 if any target is IPv6). `hello_id` is announced to servers.
    /// `idle_timeout`, if given, replaces the transport's (with a keep-alive every
    /// fifth of it); the peers of a connection use the smaller of their two values.
    pub(crate) fn new(
        tls_dir: &Path,
        tls_name: &str,
        role: Role,
        targets: &[SocketAddr],
        hello_id: Option<String>,
        idle_timeout: Option<std::time::Duration>,
    ) -> Result<Net, SdkError> {
        let identity_error = |reason: String| SdkError::Identity {
            dir: tls_dir.display().to_string(),
            name: tls_name.to_owned(),
            reason,
        };
        let identity =
            NodeIdentity::load(tls_dir, tls_name).map_err(|e| identity_error(e.to_string()))?;
        if identity.role() != role {
            return Err(identity_error(format!(
                "the certificate is for role {}, this driver needs role {role}",
                identity.role()
            )));
        }
        let bind: SocketAddr = if targets.iter().any(SocketAddr::is_ipv6) {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let mut config = NodeConfig::new(identity, bind);
        if let Some(id) = hello_id {
            config.id = id;
        }
        if let Some(idle) = idle_timeout {
            config.idle_timeout = idle;
            config.keep_alive = idle / 5;
        }
        let node = Node::new(config).map_err(|e| SdkError::Transport(e.to_string()))?;
        Ok(Net { node })
    }

    /// A link to the `role` server trying `addrs` in turn, reconnecting by itself.
    pub(crate) fn connect<Out, In, S>(
        &self,
        addrs: Vec<SocketAddr>,
        role: Role,
        sink: S,
    ) -> Link<Out>
    where
        Out: Serialize + Send + 'static,
        In: DeserializeOwned + Send + 'static,
        S: EventSink<LinkEvent<In>>,
    {
        self.node
            .connect_any(addrs, role, LinkOptions::default(), sink)
    }
}

/// Resolves `host:port` to its first address; `what` names it in the error.
pub(crate) fn resolve(addr: &str, what: &str) -> Result<SocketAddr, SdkError> {
    addr.to_socket_addrs()
        .map_err(|e| SdkError::Config(format!("cannot resolve {what} address {addr:?}: {e}")))?
        .next()
        .ok_or_else(|| SdkError::Config(format!("{what} address {addr:?} resolves to nothing")))
}

/// A link event of the link of `generation`.
#[derive(Debug)]
pub(crate) struct Tagged<E> {
    pub(crate) generation: u64,
    pub(crate) event: E,
}

impl<E: Send + 'static> Message for Tagged<E> {
    type Result = ();
}

/// Delivers a link's events to an actor, tagged with the link's generation.
pub(crate) struct TaggedSink<E: Send + 'static> {
    generation: u64,
    recipient: Recipient<Tagged<E>>,
}

impl<E: Send + 'static> TaggedSink<E> {
    /// Tags with `generation`, delivers to `recipient`.
    pub(crate) fn new(generation: u64, recipient: Recipient<Tagged<E>>) -> Self {
        Self {
            generation,
            recipient,
        }
    }
}

impl<E: Send + 'static> EventSink<E> for TaggedSink<E> {
    fn deliver(&self, event: E) -> bool {
        if !self.recipient.connected() {
            return false;
        }
        self.recipient.do_send(Tagged {
            generation: self.generation,
            event,
        });
        true
    }
}

/// A stream over a tokio channel, for `ctx.add_stream`.
pub(crate) fn receiver_stream<T>(mut rx: UnboundedReceiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// How long a driver waits for its link to flush and close before it ends anyway.
pub(crate) const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Closes `link` after what is queued (e.g. a `Teardown`, a terminal update) is sent,
/// and waits until it is closed, at most [`CLOSE_WAIT`]: the node must outlive the
/// flush, or dropping it would cut the connection first.
pub(crate) async fn close_and_wait<Out>(link: Option<Link<Out>>) {
    let Some(link) = link else {
        return;
    };
    link.close();
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    while !link.is_closed() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
