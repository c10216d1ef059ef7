//! What the conformance checks ask containers to do, and how each kind of
//! containerizer expresses it: as a shell command (posix, native, docker) or as a
//! [`MockSpec`] (mock).
//!
//! A containerizer that cannot express a workload answers `None` and the checks that
//! need it are skipped (the mock runs no processes, so it cannot show its environment
//! or build a process tree).

use std::path::Path;
use std::time::Duration;

use crate::config::{Command, ContainerConfig, MockSpec};

/// Turns a workload into a config for the containerizer under test, with the given
/// sandbox; `None` if that containerizer cannot express it.
pub type Express = fn(&Workload, &Path) -> Option<ContainerConfig>;

/// Something a check needs a container to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Workload {
    /// Exit at once with this code.
    Exit(i32),
    /// Run for this long, then exit 0.
    Sleep(Duration),
    /// Write `stdout` and `stderr`, each followed by a newline, to standard output and
    /// standard error, then exit 0.
    Output {
        /// Line for standard output.
        stdout: String,
        /// Line for standard error.
        stderr: String,
    },
    /// With environment variable `var` set to `value` (by the config), write the
    /// variable's value to `file` (a plain name, relative to the working directory),
    /// then exit 0.
    EnvToFile {
        /// Variable name.
        var: String,
        /// Its value.
        value: String,
        /// File to write, relative to the working directory.
        file: String,
    },
    /// A process tree that ignores SIGTERM: main process → child → grandchild; the
    /// grandchild appends a line to `file` (relative to the working directory) every
    /// 50 ms, forever.
    TreeIgnoringTerm {
        /// Heartbeat file, a plain name.
        file: String,
    },
    /// Execute `program`, which does not exist.
    Nonexistent {
        /// The missing program's name.
        program: String,
    },
    /// Allocate and touch `bytes` of memory, hold it for a second, exit 0.
    AllocateMemory {
        /// How much.
        bytes: u64,
    },
}

/// `s` quoted for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn shell(script: String, sandbox: &Path) -> ContainerConfig {
    ContainerConfig::new(Command::Shell(script), sandbox)
}

fn argv(program: &str, args: &[&str], sandbox: &Path) -> ContainerConfig {
    let command = Command::Argv {
        program: program.to_owned(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    };
    ContainerConfig::new(command, sandbox)
}

impl Workload {
    /// The workload as a POSIX shell command (needs `sh`, `sleep`, `head`, `tr`): for
    /// containerizers that run real processes.
    pub fn as_command(&self, sandbox: &Path) -> Option<ContainerConfig> {
        Some(match self {
            Workload::Exit(code) => argv("sh", &["-c", &format!("exit {code}")], sandbox),
            Workload::Sleep(d) => {
                let secs = format!("{}.{:03}", d.as_secs(), d.subsec_millis());
                argv("sleep", &[&secs], sandbox)
            }
            Workload::Output { stdout, stderr } => shell(
                format!(
                    "printf '%s\\n' {}; printf '%s\\n' {} >&2",
                    quote(stdout),
                    quote(stderr)
                ),
                sandbox,
            ),
            Workload::EnvToFile { var, value, file } => {
                let mut config =
                    shell(format!("printf '%s' \"${var}\" > {}", quote(file)), sandbox);
                config.env.push((var.clone(), value.clone()));
                config
            }
            Workload::TreeIgnoringTerm { file } => {
                // SIG_IGN is inherited across fork and exec: all three ignore SIGTERM.
                let beat = format!("while :; do echo beat >> {}; sleep 0.05; done", quote(file));
                let child = format!("sh -c {} & wait", quote(&beat));
                shell(
                    format!("trap '' TERM; sh -c {} & wait", quote(&child)),
                    sandbox,
                )
            }
            Workload::Nonexistent { program } => argv(program, &[], sandbox),
            Workload::AllocateMemory { bytes } => shell(
                format!("x=$(head -c {bytes} /dev/zero | tr '\\0' a); sleep 1; echo ${{#x}}"),
                sandbox,
            ),
        })
    }

    /// The workload as a [`MockSpec`], for the mock containerizer. Workloads that need
    /// real processes are `None`.
    pub fn as_mock(&self, sandbox: &Path) -> Option<ContainerConfig> {
        let quick = Duration::from_millis(20);
        let spec = match self {
            Workload::Exit(code) => MockSpec {
                run_for: quick,
                exit_code: *code,
                ..MockSpec::default()
            },
            Workload::Sleep(d) => MockSpec {
                run_for: *d,
                ..MockSpec::default()
            },
            Workload::Output { stdout, stderr } => MockSpec {
                run_for: quick,
                stdout: Some(format!("{stdout}\n")),
                stderr: Some(format!("{stderr}\n")),
                ..MockSpec::default()
            },
            Workload::Nonexistent { program } => MockSpec {
                start_error: Some(format!(
                    "cannot execute `{program}`: no such program (mock)"
                )),
                ..MockSpec::default()
            },
            Workload::EnvToFile { .. }
            | Workload::TreeIgnoringTerm { .. }
            | Workload::AllocateMemory { .. } => return None,
        };
        Some(ContainerConfig::mock(spec, sandbox))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_sh() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn env_workload_sets_env() {
        let w = Workload::EnvToFile {
            var: "V".into(),
            value: "x y".into(),
            file: "f".into(),
        };
        let c = w.as_command(Path::new("/s")).unwrap();
        assert_eq!(c.env, vec![("V".to_owned(), "x y".to_owned())]);
        assert!(w.as_mock(Path::new("/s")).is_none());
    }
}
