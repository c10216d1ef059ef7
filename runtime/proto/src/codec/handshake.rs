//! The connection handshake: the first frames of every connection say who speaks
//! (role, id) and which protocol version, so that peers of different versions refuse each
//! other with a clear reason instead of misreading bincode.
//!
//! ```text
//!  client                                   server
//!    ── Hello{version, role, id} ─────────▶  version ok? role = certificate's role?
//!    ◀─ Welcome(Hello{version, role, id}) ─  yes: typed frames follow both ways
//!    ◀─ Refused{reason} ───────────────────  no: the server closes the connection
//! ```
//!
//! The layout of [`Hello`] and [`HelloReply`] is frozen across protocol versions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{CodecError, PROTOCOL_VERSION};

/// What kind of process sits at the end of a connection; carried in the handshake and,
/// authoritatively, in the peer's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// A master (leader or follower).
    Master,
    /// An agent offering its machine's resources.
    Agent,
    /// A framework's scheduler.
    Scheduler,
    /// An executor running tasks inside a container.
    Executor,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 4] = [Role::Master, Role::Agent, Role::Scheduler, Role::Executor];

    /// Lowercase name, as used in certificates and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Agent => "agent",
            Role::Scheduler => "scheduler",
            Role::Executor => "executor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (expected master, agent, scheduler or executor)")]
pub struct ParseRoleError(pub String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(s: &str) -> Result<Role, ParseRoleError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseRoleError(s.to_owned()))
    }
}

/// First frame of every connection, sent by the client; the server answers with
/// [`HelloReply::Welcome`] carrying its own `Hello`. Layout frozen across versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's [`PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// The sender's role; must match the role in its certificate.
    pub role: Role,
    /// The sender's id (agent id, framework id, master name...), for logs and routing.
    pub id: String,
}

impl Hello {
    /// A `Hello` of this build's protocol version.
    pub fn new(role: Role, id: impl Into<String>) -> Hello {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            role,
            id: id.into(),
        }
    }

    /// `Ok` if this (received) `Hello` speaks our protocol version.
    pub fn check_version(&self) -> Result<(), CodecError> {
        if self.protocol_version == PROTOCOL_VERSION {
            Ok(())
        } else {
            Err(CodecError::VersionMismatch {
                peer: self.protocol_version,
                ours: PROTOCOL_VERSION,
            })
        }
    }
}

/// The server's answer to a [`Hello`]. Layout frozen across versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelloReply {
    /// Accepted; carries the server's own `Hello`. Typed frames follow.
    Welcome(Hello),
    /// Refused; the server closes the connection after sending this.
    Refused {
        /// Human-readable reason, e.g. the protocol version mismatch.
        reason: String,
    },
}

impl HelloReply {
    /// The server's decision on a peer's `Hello` as far as the codec is concerned (the
    /// protocol version): welcome with `local`, or refuse naming both versions.
    pub fn answer(peer: &Hello, local: Hello) -> HelloReply {
        match peer.check_version() {
            Ok(()) => HelloReply::Welcome(local),
            Err(e) => HelloReply::Refused {
                reason: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_round_trips_through_text() {
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>(), Ok(r));
        }
        assert!("Master".parse::<Role>().is_err());
    }

    #[test]
    fn version_mismatch_names_both_versions() {
        let peer = Hello {
            protocol_version: PROTOCOL_VERSION + 1,
            role: Role::Agent,
            id: "a".into(),
        };
        let reply = HelloReply::answer(&peer, Hello::new(Role::Master, "m"));
        let want = format!(
            "protocol version mismatch: peer speaks {}, this node speaks {}",
            PROTOCOL_VERSION + 1,
            PROTOCOL_VERSION
        );
        assert_eq!(reply, HelloReply::Refused { reason: want });
        let ok = Hello::new(Role::Agent, "a");
        assert!(matches!(
            HelloReply::answer(&ok, Hello::new(Role::Master, "m")),
            HelloReply::Welcome(_)
        ));
    }
}
