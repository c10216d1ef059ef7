//! The one error type of the resources module.

use serde::{Deserialize, Serialize};

/// Why resources could not be parsed, built or decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ResourcesError {
    /// An item of the text form (`name(role):value`) is malformed. Fix that item.
    #[error("invalid resource '{token}': {reason}")]
    Parse {
        /// The offending `;`-separated item, trimmed.
        token: String,
        /// What is wrong with it, naming the bad part.
        reason: String,
    },
    /// A float cannot be a scalar: NaN, infinite, negative, or too large.
    #[error("invalid scalar {value}: {reason}")]
    InvalidScalar {
        /// The float, as printed by Rust.
        value: String,
        /// Which of the above it is.
        reason: String,
    },
    /// A resource name is empty or has whitespace, control characters or one of
    /// `;:()[]{},`.
    #[error("invalid resource name '{name}': {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A role is empty, `.`, `..`, starts with `-`, or has whitespace, control
    /// characters or one of `;:()[]{},`. (`*` is accepted and means unreserved.)
    #[error("invalid role '{role}' of resource '{name}': {reason}")]
    InvalidRole {
        /// The resource the role was given for.
        name: String,
        /// The role as given.
        role: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A range whose begin is after its end.
    #[error("invalid range {begin}-{end} of resource '{name}': begin is greater than end")]
    InvalidRange {
        /// The resource the range was given for.
        name: String,
        /// First value of the range.
        begin: u64,
        /// Last value of the range (inclusive).
        end: u64,
    },
    /// A set item is empty, has leading or trailing whitespace, control characters or
    /// one of `;,{}`.
    #[error("invalid item '{item}' in set of resource '{name}': {reason}")]
    InvalidSetItem {
        /// The resource the set was given for.
        name: String,
        /// The item as given.
        item: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource name is used with two value types (e.g. `cpus` as a scalar and as
    /// ranges), in any roles. A name has one type.
    #[error("resource '{name}' is given as {found} but is already {existing}")]
    TypeMismatch {
        /// The resource name.
        name: String,
        /// The type it already has (`scalar`, `ranges` or `set`).
        existing: String,
        /// The type it was given with.
        found: String,
    },
}
