//! `-N`/`-P` programs and `-n` D-Bus notifications: started with fork + execve, never through
//! a shell, never waiting for the exec, and reaped without ever blocking the loop
//! (docs/contract.md §2.7, §2.8).
//!
//! Why fork and not `std::process::Command`: std spawns with posix_spawn, i.e.
//! `clone(CLONE_VM|CLONE_VFORK)`, which suspends the parent, signals blocked, until the
//! child's execve has read the program. A program on a stalled filesystem (a hung NFS, FUSE
//! or autofs mount, a disk that stopped answering) then holds the daemon in state D before
//! it has signalled the victim, for good: SIGTERM cannot even stop it. earlyoom forks and
//! goes on at once; so do we. The child reports a failed exec through a close-on-exec
//! pipe, read when it is reaped, so the parent never waits for the exec to succeed either.

use crate::seam::{Program, Sys};
use crate::sys::{self, Errno};
use crate::victim::Victim;
use rustix::fd::{AsFd, OwnedFd};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// How long `-P` gets before the kill goes ahead (earlyoom's PREHOOK_STARTUP_SLEEP_MS).
pub const PREHOOK_WAIT_MS: i32 = 200;
/// earlyoom's fixed dbus-send path.
pub const DBUS_SEND: &str = "/usr/bin/dbus-send";
/// Hooks still running beyond which no new one is started: a hook whose program hangs (on a
/// stalled mount, or for ever) is left running, and each holds a pid, an fd and the pages
/// its fork copied; with every kill adding one or two, they must not pile up without end.
pub const MAX_RUNNING_HOOKS: usize = 256;

/// One spawned child not yet reaped.
struct Child {
    pid: i32,
    /// Read end of the exec-error pipe: 4 bytes of errno if the exec failed, EOF if it worked.
    err: OwnedFd,
    /// The program, for the failure message.
    what: Box<[u8]>,
}

/// Spawned children not yet reaped, by pid. Each is waited for by its own pid, and the
/// daemon's other children (inherited across exec, `app & exec earlyoom`, or orphans it
/// reaps as PID 1 of a container) are reaped by [`Children::reap`] too, without ever taking
/// a hook's status from its entry. The list holds one entry per hook still running, so it is
/// as bounded as the hooks themselves; it grows only when a hook is spawned, which
/// allocates anyway, and reaping never allocates.
#[derive(Default)]
pub struct Children {
    list: Vec<Child>,
    /// Reap children that are not hooks too (the daemon; see [`Children::adopt_foreign`]).
    adopt: bool,
}

impl Children {
    /// From now on, also reap every child that is not a hook. Only the daemon, which has no
    /// other thread that could be waiting for a child of its own: in a program with threads
    /// (the test harness) this would take their children's statuses.
    pub fn adopt_foreign(&mut self) {
        self.adopt = true;
    }

    /// Reaps every hook that has ended (and, once adopting, every other child), with WNOHANG,
    /// logging hooks as earlyoom's SIGCHLD handler does. waitid(WNOWAIT) first says which
    /// child ended without reaping it, so a hook's status always goes to its own entry.
    pub fn reap(&mut self) {
        if !self.adopt {
            let mut i = 0;
            while i < self.list.len() {
                match sys::reap(self.list[i].pid) {
                    Some(status) => finish(&self.list.swap_remove(i), Some(status)),
                    None => i += 1,
                }
            }
            return;
        }
        while let Some(pid) = sys::exited_child() {
            let status = sys::reap(pid);
            match self.list.iter().position(|c| c.pid == pid) {
                Some(i) => finish(&self.list.swap_remove(i), status),
                None => crate::debug!(
                    "reaped child {} that is not a hook (status 0x{:x})\n",
                    pid,
                    status.unwrap_or(0)
                ),
            }
        }
    }

    pub fn pending(&self) -> usize {
        self.list.len()
    }
}

/// A hook that has been reaped: logs its status, and its exec error if it had one.
fn finish(c: &Child, status: Option<i32>) {
    if let Some(e) = sys::read_errno(c.err.as_fd()) {
        crate::warn!(
            "notify_spawn_subprocess: exec {} failed: {}\n",
            String::from_utf8_lossy(&c.what),
            e
        );
    }
    let Some(status) = status else {
        return;
    };
    if libc::WIFEXITED(status) {
        crate::debug!(
            "handle_sigchld: pid {} exited, status={}\n",
            c.pid,
            libc::WEXITSTATUS(status)
        );
    } else if libc::WIFSIGNALED(status) {
        crate::debug!(
            "handle_sigchld: pid {} killed by signal {}\n",
            c.pid,
            libc::WTERMSIG(status)
        );
    } else {
        crate::debug!("handle_sigchld: pid {} status 0x{:x}\n", c.pid, status);
    }
}

/// What a hook learns of the victim (kill.c:142-153).
#[derive(Clone, Copy, Debug)]
pub struct VictimEnv<'a> {
    pub pid: i32,
    pub uid: i32,
    pub comm: &'a [u8],
    pub cmdline: &'a [u8],
}

impl<'a> From<&'a Victim> for VictimEnv<'a> {
    fn from(v: &'a Victim) -> VictimEnv<'a> {
        VictimEnv {
            pid: v.pid,
            uid: v.uid,
            comm: v.comm.as_bytes(),
            cmdline: v.cmdline.as_bytes(),
        }
    }
}

fn cstr(b: &[u8]) -> Option<CString> {
    CString::new(b).ok()
}

/// The daemon's environment with `extra` set (overwriting), as `KEY=VALUE` C strings.
fn environment(extra: &[(&[u8], &[u8])]) -> Vec<CString> {
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !extra.iter().any(|(x, _)| *x == k.as_bytes()))
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstr(&kv)
        })
        .collect();
    for (k, v) in extra {
        let mut kv = k.to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v);
        env.extend(cstr(&kv));
    }
    env
}

impl Children {
    /// Starts `p` and returns at once: the exec happens in the child while the daemon goes
    /// on. Waits up to `wait_ms` for it to end (0 = not at all). Returns the child's pid.
    pub fn spawn(&mut self, p: Program<'_>, wait_ms: i32) -> Option<i32> {
        let shown = String::from_utf8_lossy(p.path);
        if self.list.len() >= MAX_RUNNING_HOOKS {
            crate::warn!(
                "notify_spawn_subprocess: {} programs still running, not starting {}\n",
                self.list.len(),
                shown
            );
            return None;
        }
        crate::debug!("notify_spawn_subprocess: exec {}\n", shown);
        let (Some(path), Some(args)) = (
            cstr(p.path),
            p.argv.iter().map(|a| cstr(a)).collect::<Option<Vec<_>>>(),
        ) else {
            crate::warn!(
                "notify_spawn_subprocess: exec {} failed: {}\n",
                shown,
                Errno(libc::EINVAL)
            );
            return None;
        };
        let (pid, err) = match sys::spawn(&path, &args, &environment(p.env)) {
            Ok(s) => s,
            Err(e) => {
                crate::warn!("notify_spawn_subprocess: fork error: {}\n", e);
                return None;
            }
        };
        let child = Child {
            pid,
            err,
            what: p.path.into(),
        };
        if wait_ms > 0 {
            if sys::wait_child(pid, wait_ms) {
                finish(&child, sys::reap(pid));
                return Some(pid);
            }
            crate::warn!(
                "notify_spawn_subprocess: timeout waiting for process {}\n",
                shown
            );
        }
        self.list.push(child);
        Some(pid)
    }
}

/// Runs a `-N`/`-P` program: argv = [path], no arguments, the environment plus EARLYOOM_*.
pub fn run_program(sys: &mut impl Sys, path: &[u8], v: VictimEnv<'_>, wait_ms: i32) -> Option<i32> {
    let pid = v.pid.to_string();
    let uid = v.uid.to_string();
    let env: [(&[u8], &[u8]); 4] = [
        (b"EARLYOOM_PID", pid.as_bytes()),
        (b"EARLYOOM_UID", uid.as_bytes()),
        (b"EARLYOOM_NAME", v.comm),
        (b"EARLYOOM_CMDLINE", v.cmdline),
    ];
    let p = Program {
        path,
        argv: &[path],
        env: &env,
    };
    sys.spawn(p, wait_ms)
}

/// `-n`: earlyoom's exact dbus-send invocation (kill.c:161-182); the body is cut at 1023
/// bytes including the `string:` prefix, as earlyoom's buffer does.
pub fn dbus_notify(sys: &mut impl Sys, body: &[u8]) -> Option<i32> {
    let mut arg = b"string:".to_vec();
    arg.extend_from_slice(body);
    arg.truncate(1023);
    let argv: [&[u8]; 6] = [
        b"dbus-send",
        b"--system",
        b"/",
        b"net.nuetzlich.SystemNotifications.Notify",
        b"string:earlyoom",
        &arg,
    ];
    let p = Program {
        path: DBUS_SEND.as_bytes(),
        argv: &argv,
        env: &[],
    };
    sys.spawn(p, 0)
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
    if let Err(e) = sys::access_x(&path) {
        crate::warn!(
            "startup_selftests: {}: {} '{}' is not executable: {}\n",
            flag,
            what,
            shown,
            e
        );
    }
    Some(path)
}
