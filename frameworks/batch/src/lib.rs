//! Elastic batch framework (Spark/Hadoop style) and its executor, built on the Drover
//! SDK. Filled in by a later issue.
#![warn(missing_docs)]
