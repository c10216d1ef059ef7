//! Turning a container's command into what the launcher execs: the program's path
//! inside the container (looked up before the fork, so a missing program fails fast
//! with its name) and argv; and the user to run as.

use std::path::{Path, PathBuf};

use drover_containerizers::Command;

use crate::launcher::UserIds;

/// The program's path inside the container and its argv. A bare name is looked up in
/// `path_var` under `root` (the image, or `/`); a missing program fails here, fast.
pub(crate) fn resolve_command(
    command: &Command,
    path_var: &str,
    root: &Path,
    bound: &[PathBuf],
) -> Result<(PathBuf, Vec<String>), String> {
    let (program, args): (&str, Vec<String>) = match command {
        Command::Shell(script) => ("/bin/sh", vec!["-c".into(), script.clone()]),
        Command::Argv { program, args } => (program.as_str(), args.clone()),
    };
    let exists = |p: &Path| {
        bound.iter().any(|b| b == p)
            || p.strip_prefix("/")
                .map(|rel| std::fs::symlink_metadata(root.join(rel)).is_ok())
                .unwrap_or(false)
    };
    let path = if program.contains('/') {
        let p = PathBuf::from(program);
        if p.is_absolute() && !exists(&p) {
            return Err(format!(
                "cannot execute `{program}`: no such file in the container"
            ));
        }
        p
    } else {
        path_var
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| Path::new(d).join(program))
            .find(|p| exists(p))
            .ok_or_else(|| format!("cannot execute `{program}`: not found in PATH ({path_var})"))?
    };
    let mut argv = vec![program.to_owned()];
    argv.extend(args);
    Ok((path, argv))
}

/// The ids of user `name` (looked up on the host); `None` if the agent already runs
/// as that user.
pub(crate) fn resolve_user(name: &str) -> Result<Option<UserIds>, String> {
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| format!("cannot look up user `{name}`: {e}"))?
        .ok_or_else(|| format!("user `{name}` does not exist"))?;
    if user.uid == nix::unistd::Uid::effective() {
        return Ok(None);
    }
    let cname =
        std::ffi::CString::new(name).map_err(|_| format!("user name `{name}` contains NUL"))?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| format!("cannot list the groups of user `{name}`: {e}"))?;
    Ok(Some(UserIds {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups: groups.into_iter().map(|g| g.as_raw()).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_containerizers::posix::DEFAULT_PATH;

    #[test]
    fn resolves_programs() {
        let root = Path::new("/");
        let (p, argv) =
            resolve_command(&Command::Shell("exit 3".into()), DEFAULT_PATH, root, &[]).unwrap();
        assert_eq!(
            (p, argv),
            (
                PathBuf::from("/bin/sh"),
                vec!["/bin/sh".to_owned(), "-c".into(), "exit 3".into()]
            )
        );
        let argv_cmd = |program: &str| Command::Argv {
            program: program.into(),
            args: vec!["x".into()],
        };
        let (p, argv) = resolve_command(&argv_cmd("sh"), "/nonexistent:/bin", root, &[]).unwrap();
        assert_eq!(p, PathBuf::from("/bin/sh"));
        assert_eq!(argv, vec!["sh".to_owned(), "x".into()]);
        let err = resolve_command(&argv_cmd("drover-no-such"), "/bin", root, &[]).unwrap_err();
        assert!(
            err.contains("drover-no-such") && err.contains("not found in PATH"),
            "{err}"
        );
        let err = resolve_command(&argv_cmd("/no/such/prog"), "/bin", root, &[]).unwrap_err();
        assert!(err.contains("/no/such/prog"), "{err}");
        // A bound executor binary exists in the container even if not in the image.
        let bound = [PathBuf::from("/opt/drover/executor")];
        let (p, _) = resolve_command(
            &argv_cmd("/opt/drover/executor"),
            "/bin",
            Path::new("/nonexistent-root"),
            &bound,
        )
        .unwrap();
        assert_eq!(p, PathBuf::from("/opt/drover/executor"));
        // Relative paths with a slash are left to the exec (relative to the sandbox).
        assert!(resolve_command(&argv_cmd("./run.sh"), "/bin", root, &[]).is_ok());
    }
}
