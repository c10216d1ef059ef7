//! The code that runs in the container: the init (pid 1 of the new pid namespace) and
//! the main process it forks and execs.
//!
//! ```text
//!   init (cloned from the agent, in the new namespaces)
//!     fds: stdin/out/err → 0,1,2; error pipe → 3; status file → 4; close the rest
//!     signals to default; block CHLD, TERM, INT, HUP, QUIT, USR1, USR2
//!     join the cgroups (write 0 to each cgroup.procs)  ← "isolate": before anything runs
//!     mount plan (private /, overlay, proc, /dev, binds, pivot_root), hostname, lo up
//!     clone(VM|VFORK) ──▶ main: unblock signals, setsid, rlimits, user, chdir, execve
//!     close the error pipe (the parent sees EOF once main's exec closed its copy)
//!     loop: sigwaitinfo ─▶ SIGCHLD: reap every zombie; main gone ─▶ status → fd 4, exit
//!                       └▶ other: forward to main
//! ```
//!
//! Both processes are copies of a multi-threaded agent made with a raw `clone`
//! syscall: they must not allocate, take locks or call glibc functions that talk to
//! other threads (e.g. `setuid`, which signals every thread glibc knows of). So only
//! raw system calls and lock-free glibc wrappers are used, on data prepared by the
//! parent ([`CSpec`]). A failure writes `(stage, index, errno)` to the error pipe.

use std::ffi::c_char;
use std::ptr;

use super::cdata::{COp, CSpec};

/// The stage of container set-up that failed, as reported on the error pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    Fds = 1,
    Cgroup = 2,
    Subreaper = 3,
    Mount = 4,
    Hostname = 5,
    Loopback = 6,
    Fork = 7,
    Setsid = 8,
    Rlimit = 9,
    User = 10,
    Chdir = 11,
    Exec = 12,
}

impl Stage {
    pub(crate) fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        [
            Fds, Cgroup, Subreaper, Mount, Hostname, Loopback, Fork, Setsid, Rlimit, User, Chdir,
            Exec,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }
}

/// Size of one error report: stage, index, errno (native-endian `u32`, `u32`, `i32`).
pub(crate) const REPORT_LEN: usize = 12;
/// Exit code of the main process when its exec failed.
pub(crate) const EXIT_EXEC_FAILED: i32 = 127;
/// Exit code of init when set-up failed.
pub(crate) const EXIT_SETUP_FAILED: i32 = 126;

const ERR_FD: libc::c_int = 3;
const STATUS_FD: libc::c_int = 4;
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The file descriptors the parent opened for the child.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChildFds {
    pub(crate) stdin: libc::c_int,
    pub(crate) stdout: libc::c_int,
    pub(crate) stderr: libc::c_int,
    pub(crate) err: libc::c_int,
    pub(crate) status: libc::c_int,
}

fn errno() -> libc::c_int {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn report(fd: libc::c_int, stage: Stage, index: usize, err: libc::c_int) {
    let mut buf = [0u8; REPORT_LEN];
    buf[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    buf[4..8].copy_from_slice(&u32::try_from(index).unwrap_or(u32::MAX).to_ne_bytes());
    buf[8..].copy_from_slice(&err.to_ne_bytes());
    // SAFETY: writes a local buffer; a failed write cannot be reported anyway.
    unsafe { libc::write(fd, buf.as_ptr().cast(), REPORT_LEN) };
}

fn fail_on(fd: libc::c_int, stage: Stage, index: usize, code: i32) -> ! {
    report(fd, stage, index, errno());
    // SAFETY: ends this process without running atexit handlers or unwinding.
    unsafe { libc::_exit(code) }
}

fn fail(stage: Stage, index: usize) -> ! {
    fail_on(ERR_FD, stage, index, EXIT_SETUP_FAILED)
}

/// Formats a wait status as `exited <code>` or `signaled <signal>` into `buf`, without
/// allocating; returns the length.
pub(crate) fn format_status(status: libc::c_int, buf: &mut [u8; 32]) -> usize {
    let (word, n): (&[u8], i32) = if libc::WIFSIGNALED(status) {
        (b"signaled ", libc::WTERMSIG(status))
    } else {
        (b"exited ", libc::WEXITSTATUS(status))
    };
    buf[..word.len()].copy_from_slice(word);
    let mut len = word.len();
    let mut digits = [0u8; 12];
    let mut d = 0;
    let mut v = n.unsigned_abs();
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 || d == digits.len() {
            break;
        }
    }
    while d > 0 && len < buf.len() {
        d -= 1;
        buf[len] = digits[d];
        len += 1;
    }
    len
}

/// Runs in the cloned child: sets the container up, forks the main process, and acts
/// as its init until it exits. Never returns.
///
/// # Safety
/// Must be called only in a freshly cloned child process; `argv` and `envp` must be
/// NULL-terminated arrays of pointers into `spec`'s strings.
pub(crate) unsafe fn init(
    spec: &CSpec,
    argv: &[*const c_char],
    envp: &[*const c_char],
    fds: ChildFds,
) -> ! {
    // SAFETY (whole function): only system calls on data owned by `spec` and locals.
    unsafe {
        setup_fds(fds);
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for sig in FORWARDED {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut());

        for (i, file) in spec.cgroup_procs.iter().enumerate() {
            let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                fail(Stage::Cgroup, i);
            }
            libc::close(fd);
        }
        if spec.subreaper && libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
            fail(Stage::Subreaper, 0);
        }
        for (i, op) in spec.ops.iter().enumerate() {
            if !run_op(op) {
                fail(Stage::Mount, i);
            }
        }
        if let Some(name) = &spec.hostname {
            if libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
                fail(Stage::Hostname, 0);
            }
        }
        if spec.loopback_up && !loopback_up() {
            fail(Stage::Loopback, 0);
        }

        // The main process shares init's memory until its exec (vfork semantics, as
        // posix_spawn does): no second copy of the agent's page tables, no
        // copy-on-write faults, no teardown of the copy at exec. It runs on a stack of
        // its own, and init is suspended until it has exec'd or exited.
        let stack = libc::mmap(
            ptr::null_mut(),
            MAIN_STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if stack == libc::MAP_FAILED {
            fail(Stage::Fork, 0);
        }
        let mut main_args = MainArgs { spec, argv, envp };
        let pid = libc::clone(
            main_entry,
            stack.cast::<u8>().add(MAIN_STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw mut main_args).cast(),
        );
        if pid < 0 {
            fail(Stage::Fork, 0);
        }
        libc::munmap(stack, MAIN_STACK);
        libc::close(ERR_FD);
        let main = pid as libc::pid_t;
        loop {
            let sig = libc::sigwaitinfo(&set, ptr::null_mut());
            if sig == libc::SIGCHLD {
                loop {
                    let mut status = 0;
                    let reaped = libc::waitpid(-1, &mut status, libc::WNOHANG);
                    if reaped <= 0 {
                        break;
                    }
                    if reaped == main {
                        let mut buf = [0u8; 32];
                        let len = format_status(status, &mut buf);
                        libc::write(STATUS_FD, buf.as_ptr().cast(), len);
                        let code = if libc::WIFSIGNALED(status) {
                            128 + libc::WTERMSIG(status)
                        } else {
                            libc::WEXITSTATUS(status)
                        };
                        libc::_exit(code);
                    }
                }
            } else if sig > 0 {
                libc::kill(main, sig);
            }
        }
    }
}

/// Moves the child's descriptors to 0–4 and closes every other one (the agent's
/// sockets must not stay open in a long-lived init).
unsafe fn setup_fds(fds: ChildFds) {
    let sources = [fds.stdin, fds.stdout, fds.stderr, fds.err, fds.status];
    let mut high = [-1; 5];
    // SAFETY: fcntl/dup3/close_range on descriptors of this process.
    unsafe {
        for (h, src) in high.iter_mut().zip(sources) {
            *h = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 64);
            if *h < 0 {
                fail_on(fds.err, Stage::Fds, 0, EXIT_SETUP_FAILED);
            }
        }
        for (target, h) in (0..).zip(high) {
            let flags = if target >= ERR_FD { libc::O_CLOEXEC } else { 0 };
            if libc::dup3(h, target, flags) < 0 {
                fail_on(high[3], Stage::Fds, 1, EXIT_SETUP_FAILED);
            }
        }
        if libc::syscall(libc::SYS_close_range, 5u32, u32::MAX, 0u32) != 0 {
            for fd in 5..4096 {
                libc::close(fd);
            }
        }
    }
}

/// Runs one filesystem step; false (with errno set) if it failed.
unsafe fn run_op(op: &COp) -> bool {
    let opt = |s: &Option<std::ffi::CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
    // SAFETY: system calls on NUL-terminated strings owned by `op`.
    unsafe {
        match op {
            COp::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                libc::mount(
                    opt(source),
                    target.as_ptr(),
                    opt(fstype),
                    *flags,
                    opt(data).cast(),
                ) == 0
            }
            COp::Mkdir(p) => libc::mkdir(p.as_ptr(), 0o755) == 0 || errno() == libc::EEXIST,
            COp::Touch(p) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_RDONLY | libc::O_CREAT | libc::O_CLOEXEC,
                    0o644,
                );
                fd >= 0 && libc::close(fd) == 0
            }
            COp::Symlink { target, link } => {
                libc::symlink(target.as_ptr(), link.as_ptr()) == 0 || errno() == libc::EEXIST
            }
            COp::PivotRoot(root) => {
                libc::chdir(root.as_ptr()) == 0
                    && libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) == 0
                    && libc::umount2(c".".as_ptr(), libc::MNT_DETACH) == 0
                    && libc::chdir(c"/".as_ptr()) == 0
            }
        }
    }
}

/// Brings the new network namespace's loopback interface up.
unsafe fn loopback_up() -> bool {
    // SAFETY: socket/ioctl on a zeroed ifreq naming "lo".
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return false;
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as c_char;
        ifr.ifr_name[1] = b'o' as c_char;
        let ok = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
            ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr) == 0
        };
        libc::close(sock);
        ok
    }
}

/// Stack of the main process between its clone and its exec.
const MAIN_STACK: usize = 256 * 1024;

/// What the main process needs, passed through `clone`'s argument.
struct MainArgs<'a> {
    spec: &'a CSpec,
    argv: &'a [*const c_char],
    envp: &'a [*const c_char],
}

/// Entry point of the main process (see [`init`]): `arg` is init's [`MainArgs`].
extern "C" fn main_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points to init's `MainArgs`, alive while init waits for this
    // process to exec or exit (CLONE_VFORK).
    unsafe {
        let a = &*arg.cast::<MainArgs<'_>>();
        exec_main(a.spec, a.argv, a.envp)
    }
}

/// The main process: from init's clone to the exec of the command.
unsafe fn exec_main(spec: &CSpec, argv: &[*const c_char], envp: &[*const c_char]) -> ! {
    let fail = |stage, index| fail_on(ERR_FD, stage, index, EXIT_EXEC_FAILED);
    // SAFETY: system calls on data owned by `spec`; `argv`/`envp` are NULL-terminated.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
        if libc::setsid() < 0 {
            fail(Stage::Setsid, 0);
        }
        for (i, (resource, limit)) in spec.rlimits.iter().enumerate() {
            if libc::setrlimit(*resource, limit) != 0 {
                fail(Stage::Rlimit, i);
            }
        }
        if let Some(c) = &spec.creds {
            // Raw syscalls: glibc's wrappers would try to reach the agent's threads.
            if libc::syscall(libc::SYS_setgroups, c.groups.len(), c.groups.as_ptr()) != 0
                || libc::syscall(libc::SYS_setresgid, c.gid, c.gid, c.gid) != 0
                || libc::syscall(libc::SYS_setresuid, c.uid, c.uid, c.uid) != 0
            {
                fail(Stage::User, 0);
            }
        }
        if libc::chdir(spec.cwd.as_ptr()) != 0 {
            fail(Stage::Chdir, 0);
        }
        libc::execve(spec.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(Stage::Exec, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(status: libc::c_int) -> String {
        let mut buf = [0u8; 32];
        let n = format_status(status, &mut buf);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn formats_wait_statuses() {
        assert_eq!(fmt(0), "exited 0");
        assert_eq!(fmt(3 << 8), "exited 3");
        assert_eq!(fmt(255 << 8), "exited 255");
        assert_eq!(fmt(libc::SIGKILL), "signaled 9");
        assert_eq!(fmt(libc::SIGTERM | 0x80), "signaled 15"); // core dumped
    }

    #[test]
    fn stages_round_trip() {
        for v in 1..=12 {
            assert_eq!(Stage::from_u32(v).map(|s| s as u32), Some(v));
        }
        assert_eq!(Stage::from_u32(0), None);
    }
}
