//! One module per `drover` subcommand.

pub(crate) mod certs;
pub(crate) mod master;
pub(crate) mod query;
