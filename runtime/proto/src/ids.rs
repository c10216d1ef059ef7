//! Newtype identifiers. Each wraps a string so that ids from Mesos-style clients (which
//! are free-form) fit, and so that an agent id can never be passed where a task id is
//! expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this id.
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(
    /// A framework, issued by the master on its first `Subscribe`.
    FrameworkId
);
id_type!(
    /// An agent, issued by the master when the agent first registers; never reused.
    AgentId
);
id_type!(
    /// One offer of one agent's resources to one framework.
    OfferId
);
id_type!(
    /// A task, chosen by its framework; unique within the framework.
    TaskId
);
id_type!(
    /// An executor, chosen by the framework (or derived from the task id for the
    /// command executor); unique within the framework on an agent.
    ExecutorId
);
id_type!(
    /// One container run by an agent's containerizer; issued by the agent.
    ContainerId
);
