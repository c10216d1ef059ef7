//! Marathon-compatible service framework: long-running `apps` with the `/v2/apps` REST
//! API, built on the Drover SDK. The app definition's `container` section maps in
//! [`container`]; the rest is filled in by a later issue.
#![warn(missing_docs)]

pub mod container;
