//! Marathon-compatible service framework: long-running `apps` with the `/v2/apps` REST
//! API, built on the Drover SDK. Filled in by a later issue.
#![warn(missing_docs)]
