//! The seam between the daemon's decisions and the world: every side effect of the loop,
//! the guard and the kill path (the clock, sleeping, signals, pidfds, the sysrq write, hook
//! processes) is a method of [`Sys`]. [`RealSys`] is the kernel; tests drive the whole loop
//! with a recorder and a fake clock instead, so that a fixture tree (whose pids are real pids
//! on the host) can never reach a real process, and no test has to sleep.

use crate::hooks::Children;
use crate::sys::{self, Errno, Poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

/// How a signal reaches its target.
#[derive(Debug)]
pub enum Via<'a> {
    /// pidfd_send_signal on a pidfd from pidfd_open: exactly the pinned process.
    Pidfd(BorrowedFd<'a>, i32),
    /// pidfd_send_signal on the victim's `/proc/PID` directory fd, which the kernel accepts
    /// as a pidfd (pidfd_send_signal(2)): exactly the process whose files the scan read,
    /// also where pidfd_open is missing or filtered, or /proc is another PID namespace's.
    ProcDir(BorrowedFd<'a>, i32),
    /// kill(2) on a pid whose identity was checked just before (the last resort).
    Kill(i32),
    /// kill(2) on a whole process group (`-g`).
    Group(i32),
}

/// What a hook needs to be started: its program, arguments and extra environment.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    pub path: &'a [u8],
    pub argv: &'a [&'a [u8]],
    pub env: &'a [(&'a [u8], &'a [u8])],
}

/// Every side effect of the daemon.
pub trait Sys {
    /// CLOCK_MONOTONIC, seconds.
    fn now(&mut self) -> f64;
    fn sleep_ms(&mut self, ms: u64);
    /// The loop's sleep with PSI triggers: poll(2) for up to `ms`, bounded under EINTR.
    fn poll(&mut self, fds: &mut [Poll], ms: i32) -> i32;
    fn pidfd_open(&mut self, pid: i32) -> Result<OwnedFd, Errno>;
    /// Sends `sig` (0 = permission check) to the target.
    fn signal(&mut self, via: Via<'_>, sig: i32) -> Result<(), Errno>;
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno>;
    fn mrelease(&mut self, pidfd: BorrowedFd<'_>) -> Result<(), Errno>;
    /// Wait up to `ms` for the process to exit; true if it has.
    fn wait_exit(&mut self, pidfd: BorrowedFd<'_>, ms: i32) -> bool;
    /// `--kernel-oom`: check that `path` (sysrq-trigger) is writable, and with `write`
    /// write `f` to it; the error says which step failed.
    fn sysrq(&mut self, path: &[u8], write: bool) -> Result<(), (&'static str, Errno)>;
    /// Starts a hook (`-N`, `-P`, `-n`'s dbus-send) and waits up to `wait_ms` for it to end;
    /// its pid, or None if it could not be started (the reason is logged).
    fn spawn(&mut self, p: Program<'_>, wait_ms: i32) -> Option<i32>;
    /// Reaps hooks (and other children) that have ended.
    fn reap(&mut self);
    /// Writes `value` to a cgroup control file (`cgroup.kill`, `cgroup.freeze`).
    fn write_control(&mut self, path: &[u8], value: &[u8]) -> Result<(), Errno>;
}

/// The real kernel.
#[derive(Default)]
pub struct RealSys {
    pub children: Children,
}

impl Sys for RealSys {
    fn now(&mut self) -> f64 {
        sys::monotonic_secs()
    }
    fn sleep_ms(&mut self, ms: u64) {
        sys::sleep_ms(ms)
    }
    fn poll(&mut self, fds: &mut [Poll], ms: i32) -> i32 {
        sys::poll_for(fds, ms)
    }
    fn pidfd_open(&mut self, pid: i32) -> Result<OwnedFd, Errno> {
        sys::pidfd_open(pid)
    }
    fn signal(&mut self, via: Via<'_>, sig: i32) -> Result<(), Errno> {
        match via {
            Via::Pidfd(fd, _) | Via::ProcDir(fd, _) => sys::pidfd_send_signal(fd, sig),
            Via::Kill(pid) => sys::kill(pid, sig),
            // pgid > 1 and not our own group are checked by the caller.
            Via::Group(pgid) => sys::kill(-pgid, sig),
        }
    }
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno> {
        sys::getpgid(pid)
    }
    fn mrelease(&mut self, pidfd: BorrowedFd<'_>) -> Result<(), Errno> {
        sys::process_mrelease(pidfd)
    }
    fn wait_exit(&mut self, pidfd: BorrowedFd<'_>, ms: i32) -> bool {
        sys::pidfd_wait_exit(pidfd.as_fd(), ms)
    }
    fn sysrq(&mut self, path: &[u8], write: bool) -> Result<(), (&'static str, Errno)> {
        sys::access_w(path).map_err(|e| ("access", e))?;
        if write {
            sys::write_file(path, b"f")?;
        }
        Ok(())
    }
    fn spawn(&mut self, p: Program<'_>, wait_ms: i32) -> Option<i32> {
        self.children.spawn(p, wait_ms)
    }
    fn reap(&mut self) {
        self.children.reap()
    }
    fn write_control(&mut self, path: &[u8], value: &[u8]) -> Result<(), Errno> {
        sys::write_file(path, value).map_err(|(_, e)| e)
    }
}
