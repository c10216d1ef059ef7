//! One module per `drover` subcommand.

pub(crate) mod agent;
pub(crate) mod certs;
pub(crate) mod health;
pub(crate) mod master;
pub(crate) mod publish;
pub(crate) mod query;
pub(crate) mod run;
pub(crate) mod stream;
pub(crate) mod up;
