//! `-N`/`-P` programs and `-n` D-Bus notifications: spawned directly, never through a shell,
//! and reaped without ever blocking the loop (spec §2.7, §2.8).

use crate::sys::{self, Errno};
use crate::victim::Victim;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// How long `-P` gets before the kill goes ahead (earlyoom's PREHOOK_STARTUP_SLEEP_MS).
pub const PREHOOK_WAIT_MS: i32 = 200;
/// earlyoom's fixed dbus-send path.
pub const DBUS_SEND: &str = "/usr/bin/dbus-send";

/// Spawned children not yet reaped, by pid. Each is waited for by its own pid, never as
/// "any child": the daemon may have other children (inherited across exec, or orphans it
/// reaps as PID 1 of a container) whose status is not ours to take. The list holds one entry
/// per hook still running, so it is as bounded as the hooks themselves; it grows only when a
/// hook is spawned, which allocates anyway, and reaping never allocates.
#[derive(Default)]
pub struct Children {
    pids: Vec<i32>,
}

impl Children {
    fn track(&mut self, pid: i32) {
        self.pids.push(pid);
    }

    /// Reaps finished children with WNOHANG, logging as earlyoom's SIGCHLD handler does.
    pub fn reap(&mut self) {
        self.pids.retain(|&pid| !reap_one(pid));
    }

    pub fn pending(&self) -> usize {
        self.pids.len()
    }
}

/// waitpid(pid, WNOHANG) on one of our hooks; true once it is gone (reaped now, its status
/// logged, or already reaped: ECHILD).
fn reap_one(pid: i32) -> bool {
    let mut status = 0;
    // SAFETY: plain waitpid on our own children.
    let rc = sys::retry(|| unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) });
    if rc == 0 {
        return false;
    }
    if rc < 0 {
        return true;
    }
    if libc::WIFEXITED(status) {
        crate::debug!(
            "handle_sigchld: pid {} exited, status={}\n",
            pid,
            libc::WEXITSTATUS(status)
        );
    } else if libc::WIFSIGNALED(status) {
        crate::debug!(
            "handle_sigchld: pid {} killed by signal {}\n",
            pid,
            libc::WTERMSIG(status)
        );
    } else {
        crate::debug!("handle_sigchld: pid {} status 0x{:x}\n", pid, status);
    }
    true
}

/// The victim's details as the hooks see them (kill.c:142-153).
fn victim_env(cmd: &mut Command, v: &Victim) {
    cmd.env("EARLYOOM_PID", v.pid.to_string())
        .env("EARLYOOM_UID", v.uid.to_string())
        .env("EARLYOOM_NAME", OsStr::from_bytes(v.comm.as_bytes()))
        .env("EARLYOOM_CMDLINE", OsStr::from_bytes(v.cmdline.as_bytes()));
}

/// Spawns `cmd`; waits up to `wait_ms` for it (0 = not at all). Returns the child's pid.
fn spawn(children: &mut Children, cmd: &mut Command, what: &[u8], wait_ms: i32) -> Option<i32> {
    let what = String::from_utf8_lossy(what);
    crate::debug!("notify_spawn_subprocess: exec {}\n", what);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            // std reports exec failures (ENOENT, EACCES) to the parent; earlyoom's child
            // printed the same line before exit(1).
            crate::warn!(
                "notify_spawn_subprocess: exec {} failed: {}\n",
                what,
                Errno::from(e)
            );
            return None;
        }
    };
    let pid = child.id() as i32;
    drop(child); // std's Child does not wait on drop; we reap by pid.
    if wait_ms > 0 {
        match sys::pidfd_open(pid) {
            Ok(fd) => {
                if sys::pidfd_wait_exit(fd.raw(), wait_ms) {
                    reap_one(pid);
                    return Some(pid);
                }
                crate::warn!(
                    "notify_spawn_subprocess: timeout waiting for process {}\n",
                    what
                );
            }
            Err(e) => crate::warn!("notify_spawn_subprocess: pidfd_open error: {}\n", e),
        }
    }
    children.track(pid);
    Some(pid)
}

/// Runs a `-N`/`-P` program: argv = [path], no arguments, the environment plus EARLYOOM_*.
pub fn run_program(children: &mut Children, path: &[u8], v: &Victim, wait_ms: i32) -> Option<i32> {
    let mut cmd = Command::new(OsStr::from_bytes(path));
    victim_env(&mut cmd, v);
    spawn(children, &mut cmd, path, wait_ms)
}

/// `-n`: earlyoom's exact dbus-send invocation (kill.c:161-182); the body is cut at 1023
/// bytes including the `string:` prefix, as earlyoom's buffer does.
pub fn dbus_notify(children: &mut Children, body: &[u8]) -> Option<i32> {
    let mut arg = b"string:".to_vec();
    arg.extend_from_slice(body);
    arg.truncate(1023);
    let mut cmd = Command::new(DBUS_SEND);
    cmd.arg0("dbus-send").args([
        OsStr::new("--system"),
        OsStr::new("/"),
        OsStr::new("net.nuetzlich.SystemNotifications.Notify"),
        OsStr::new("string:earlyoom"),
        OsStr::from_bytes(&arg),
    ]);
    spawn(children, &mut cmd, DBUS_SEND.as_bytes(), 0)
}

/// The startup check of a `-N`/`-P` path (main.c:87-102): not absolute disables it, not
/// executable only warns. `flag` is "-N" or "-P", `what` earlyoom's wording.
pub fn check_program(path: Option<Vec<u8>>, flag: &str, what: &str) -> Option<Vec<u8>> {
    let path = path?;
    let shown = String::from_utf8_lossy(&path).into_owned();
    if !path.starts_with(b"/") {
        crate::warn!(
            "startup_selftests: {}: {} '{}' is not an absolute path, disabling {}\n",
            flag,
            what,
            shown,
            flag
        );
        return None;
    }
    let mut c = path.clone();
    c.push(0);
    // SAFETY: c is NUL-terminated.
    if unsafe { libc::access(c.as_ptr().cast(), libc::X_OK) } != 0 {
        crate::warn!(
            "startup_selftests: {}: {} '{}' is not executable: {}\n",
            flag,
            what,
            shown,
            Errno::last()
        );
    }
    Some(path)
}
