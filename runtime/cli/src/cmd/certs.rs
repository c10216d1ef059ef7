//! `drover certs init DIR` and `drover certs issue --role R --name N [--dir DIR]`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use drover_proto::codec::Role;
use std::path::PathBuf;

/// Certificate commands.
#[derive(Debug, Subcommand)]
pub(crate) enum CertsCmd {
    /// Create a cluster CA in DIR (ca.pem, ca.key).
    Init {
        /// Directory for the CA (default: $DROVER_HOME/tls).
        dir: Option<PathBuf>,
    },
    /// Issue a node certificate signed by the cluster CA.
    Issue(IssueArgs),
}

/// `certs issue` flags.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// master | agent | scheduler | executor
    #[arg(long)]
    role: Role,
    /// Node name; files are `<dir>/<name>.pem` and `<name>.key`.
    #[arg(long)]
    name: String,
    /// Directory holding the CA (default: $DROVER_HOME/tls).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Runs a certs command.
pub(crate) fn run(cmd: CertsCmd) -> Result<()> {
    match cmd {
        CertsCmd::Init { dir } => {
            let dir = dir.unwrap_or_else(crate::home::tls_dir);
            if dir.join("ca.pem").exists() {
                anyhow::bail!(
                    "{} already holds a cluster CA; remove it first to make a new one",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            drover_transport::init_ca(&dir)?;
            println!("cluster CA written to {}", dir.join("ca.pem").display());
        }
        CertsCmd::Issue(a) => {
            let dir = a.dir.unwrap_or_else(crate::home::tls_dir);
            drover_transport::issue(&dir, a.role, &a.name).with_context(|| {
                format!(
                    "cannot issue a certificate with the CA in {}",
                    dir.display()
                )
            })?;
            println!(
                "{} certificate '{}' written to {}",
                a.role,
                a.name,
                dir.join(format!("{}.pem", a.name)).display()
            );
        }
    }
    Ok(())
}
