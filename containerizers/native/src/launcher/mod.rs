//! The launcher: starts a container's init in new namespaces and waits for it.
//!
//! ```text
//!   agent: open stdin/stdout/stderr/status files, error pipe, C strings (cdata.rs)
//!     └─ clone(NEWNS|NEWUTS|NEWIPC [|NEWPID] [|NEWNET] | PIDFD) ─▶ init (child.rs)
//!   agent: close its end of the pipe; read it until EOF (the main process exec'd:
//!          launched) or a report (stage, index, errno): launch failed, init reaped
//!   wait: pidfd readable ─▶ waitid(P_PIDFD) ─▶ init's status (exact status of the
//!         main process comes from the status file init wrote)
//! ```

mod cdata;
mod child;
pub mod plan;

use std::ffi::c_char;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use self::cdata::CSpec;
use self::child::{ChildFds, Stage, REPORT_LEN};
use self::plan::FsPlan;

/// How long a launch may take from the clone to the exec of the main process.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A resource limit to set in the main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// `RLIMIT_*` resource.
    pub resource: libc::__rlimit_resource_t,
    /// Soft limit.
    pub soft: libc::rlim_t,
    /// Hard limit.
    pub hard: libc::rlim_t,
}

/// Ids to switch the main process to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIds {
    /// User id.
    pub uid: libc::uid_t,
    /// Primary group id.
    pub gid: libc::gid_t,
    /// Supplementary groups.
    pub groups: Vec<libc::gid_t>,
}

/// Everything needed to start one container.
#[derive(Clone, Debug)]
pub(crate) struct LaunchSpec {
    pub(crate) new_pid: bool,
    pub(crate) new_net: bool,
    /// `cgroup.procs` files init joins before anything else.
    pub(crate) cgroup_procs: Vec<PathBuf>,
    pub(crate) fs: FsPlan,
    pub(crate) hostname: Option<String>,
    pub(crate) rlimits: Vec<Rlimit>,
    pub(crate) user: Option<UserIds>,
    /// The program, as a path inside the container.
    pub(crate) program: PathBuf,
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
    /// Where init writes the main process's wait status.
    pub(crate) status_file: PathBuf,
}

/// A started container's init.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// Host pid of init.
    pub(crate) pid: i32,
    /// A pidfd of init (we are its parent: waitable).
    pub(crate) pidfd: OwnedFd,
}

fn io_err(what: &str, path: &std::path::Path, e: io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Starts the container; resolves once its main process has exec'd. Errs with a
/// message saying which step failed and why; then nothing of the child is left.
pub(crate) async fn spawn(spec: &LaunchSpec) -> Result<Spawned, String> {
    let (spawned, reader) = clone_init(spec)?;
    let report = match tokio::time::timeout(SETUP_TIMEOUT, read_report(reader)).await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => Some(Err(format!("cannot read the launch status pipe: {e}"))),
        Err(_) => Some(Err(format!(
            "the container was not set up within {SETUP_TIMEOUT:?}"
        ))),
    };
    let Some(report) = report else {
        return Ok(spawned);
    };
    // Set-up failed: init exits by itself (or is killed here), then is reaped.
    if report.is_err() {
        // SAFETY: sends a signal through a pidfd we own.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                spawned.pidfd.as_raw_fd(),
                libc::SIGKILL,
                0usize,
                0u32,
            )
        };
    }
    let _ = wait_exit(spawned.pidfd).await;
    Err(match report {
        Ok((stage, index, errno)) => describe(spec, stage, index, errno),
        Err(message) => message,
    })
}

/// Opens the child's files, converts the spec, clones. Synchronous, so that no raw
/// pointer lives across an await.
fn clone_init(spec: &LaunchSpec) -> Result<(Spawned, OwnedFd), String> {
    let c = CSpec::new(spec)?;
    let argv: Vec<*const c_char> = c
        .argv
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: Vec<*const c_char> = c
        .envp
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let append = |p: &PathBuf| {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| io_err("cannot open", p, e))
    };
    let stdin = File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
    let (stdout, stderr) = (append(&spec.stdout)?, append(&spec.stderr)?);
    let status = File::create(&spec.status_file)
        .map_err(|e| io_err("cannot create", &spec.status_file, e))?;
    let mut pipe = [-1; 2];
    // SAFETY: pipe2 fills the two-element array.
    cvt(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) })
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    // SAFETY: pipe2 just returned these descriptors; nobody else owns them.
    let (reader, writer) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let fds = ChildFds {
        stdin: stdin.as_raw_fd(),
        stdout: stdout.as_raw_fd(),
        stderr: stderr.as_raw_fd(),
        err: writer.as_raw_fd(),
        status: status.as_raw_fd(),
    };
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWIPC | libc::CLONE_PIDFD;
    if spec.new_pid {
        flags |= libc::CLONE_NEWPID;
    }
    if spec.new_net {
        flags |= libc::CLONE_NEWNET;
    }
    let mut pidfd: libc::c_int = -1;
    // SAFETY: clone without CLONE_VM has fork semantics: the child gets a copy of
    // this thread's memory and runs `child::init`, which never returns and only makes
    // system calls on `c`, `argv`, `envp` and `fds` (all prepared above). With
    // CLONE_PIDFD the kernel stores the new pidfd in `pidfd` (the parent_tid slot).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    if ret == 0 {
        // SAFETY: we are the freshly cloned child; argv/envp point into `c`.
        unsafe { child::init(&c, &argv, &envp, fds) }
    }
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(format!(
            "cannot create the container's namespaces (clone): {e}"
        ));
    }
    drop(writer);
    let pid = i32::try_from(ret).map_err(|_| format!("clone returned pid {ret}"))?;
    // SAFETY: the kernel just stored a new pidfd that nobody else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok((Spawned { pid, pidfd }, reader))
}

type Report = Result<(Stage, u32, i32), String>;

/// Reads the error pipe to EOF: `None` if nothing was reported (success).
async fn read_report(reader: OwnedFd) -> io::Result<Option<Report>> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(reader.as_raw_fd(), libc::F_GETFL);
        cvt(libc::fcntl(
            reader.as_raw_fd(),
            libc::F_SETFL,
            fl | libc::O_NONBLOCK,
        ))?;
    }
    let fd = {
        // SAFETY: the OwnedFd is open and AsyncFd owns it from here on, so it stays
        // open (and is not replaced) while registered.
        unsafe { AsyncFd::register_with_interest(reader, Interest::READABLE) }
    }?;
    let mut buf = [0u8; REPORT_LEN];
    let mut got = 0;
    loop {
        let mut guard = fd.readable().await?;
        // SAFETY: reads into the rest of a local buffer.
        let n = unsafe {
            libc::read(
                fd.get_ref().as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                REPORT_LEN - got,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(e);
        }
        got += n as usize;
        if n == 0 || got == REPORT_LEN {
            break;
        }
    }
    if got == 0 {
        return Ok(None);
    }
    if got < REPORT_LEN {
        return Ok(Some(Err(format!(
            "the container's init sent a truncated report ({got} bytes)"
        ))));
    }
    let word = |i: usize| [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]];
    let stage = u32::from_ne_bytes(word(0));
    Ok(Some(match Stage::from_u32(stage) {
        Some(s) => Ok((s, u32::from_ne_bytes(word(4)), i32::from_ne_bytes(word(8)))),
        None => Err(format!(
            "the container's init reported an unknown stage {stage}"
        )),
    }))
}

/// The message for a set-up failure.
fn describe(spec: &LaunchSpec, stage: Stage, index: u32, errno: i32) -> String {
    let err = io::Error::from_raw_os_error(errno);
    let i = index as usize;
    match stage {
        Stage::Fds => format!("cannot set up the container's file descriptors: {err}"),
        Stage::Cgroup => format!(
            "cannot join cgroup {}: {err}",
            spec.cgroup_procs
                .get(i)
                .map_or("?".into(), |p| p.display().to_string())
        ),
        Stage::Subreaper => format!("cannot become a child subreaper: {err}"),
        Stage::Mount => format!(
            "cannot {}: {err}",
            spec.fs
                .ops
                .get(i)
                .map_or_else(|| format!("run mount step {i}"), |op| op.describe())
        ),
        Stage::Hostname => format!("cannot set the hostname: {err}"),
        Stage::Loopback => format!("cannot bring up the loopback interface: {err}"),
        Stage::Fork => format!("cannot fork the main process: {err}"),
        Stage::Setsid => format!("cannot start a session: {err}"),
        Stage::Rlimit => format!("cannot set resource limit #{i}: {err}"),
        Stage::User => format!("cannot switch to the container's user: {err}"),
        Stage::Chdir => format!(
            "cannot change to the working directory {}: {err}",
            spec.fs.cwd.display()
        ),
        Stage::Exec => format!("cannot execute `{}`: {err}", spec.program.display()),
    }
}

/// How init ended, from `waitid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InitExit {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Waits for init (our child) to exit and reaps it.
pub(crate) async fn wait_exit(pidfd: OwnedFd) -> io::Result<InitExit> {
    let fd = {
        // SAFETY: the OwnedFd is open and AsyncFd owns it from here on, so it stays
        // open (and is not replaced) while registered.
        unsafe { AsyncFd::register_with_interest(pidfd, Interest::READABLE) }
    }?;
    let _ready = fd.readable().await?;
    reap(fd.get_ref())
}

/// `waitid(P_PIDFD, fd, WEXITED)`: reaps the exited child behind `pidfd`.
pub(crate) fn reap(pidfd: &OwnedFd) -> io::Result<InitExit> {
    // SAFETY: waitid fills a zeroed siginfo_t for the pidfd we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let id = pidfd.as_raw_fd() as libc::id_t;
        cvt(libc::waitid(libc::P_PIDFD, id, &mut info, libc::WEXITED))?;
        let status = info.si_status();
        Ok(if info.si_code == libc::CLD_EXITED {
            InitExit::Exited(status)
        } else {
            InitExit::Signaled(status)
        })
    }
}
