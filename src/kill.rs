//! The kill sequence (spec §5.4-5.7): signal through a pidfd, process_mrelease, wait, escalate,
//! hooks and notifications, and `--kernel-oom`.
//!
//! Every signal goes through the [`Sys`] seam, which tests replace with a recorder so that a
//! fixture tree (whose pids are real pids on the host) can never reach a real process.

use crate::decide::{decide, Action, Limits};
use crate::hooks::{self, Children, PREHOOK_WAIT_MS};
use crate::meminfo::{self, Report};
use crate::metrics::{Counters, Reason};
use crate::sys::{self, Errno, Fd};
use crate::victim::{Scanner, Victim};
use crate::Fatal;

/// The side effects of killing, behind one seam.
pub trait Sys {
    fn pidfd_open(&mut self, pid: i32) -> Result<Fd, Errno>;
    /// Signal the process behind the pidfd (sig 0 = permission check).
    fn pidfd_signal(&mut self, pidfd: &Fd, sig: i32) -> Result<(), Errno>;
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno>;
    fn group_signal(&mut self, pgid: i32, sig: i32) -> Result<(), Errno>;
    fn mrelease(&mut self, pidfd: &Fd) -> Result<(), Errno>;
    /// Wait up to `ms` for the process to exit; true if it has.
    fn wait_exit(&mut self, pidfd: &Fd, ms: i32) -> bool;
    fn sleep_ms(&mut self, ms: u64);
}

/// The real kernel.
#[derive(Default)]
pub struct RealSys;

impl Sys for RealSys {
    fn pidfd_open(&mut self, pid: i32) -> Result<Fd, Errno> {
        sys::pidfd_open(pid)
    }
    fn pidfd_signal(&mut self, pidfd: &Fd, sig: i32) -> Result<(), Errno> {
        sys::pidfd_send_signal(pidfd.raw(), sig)
    }
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno> {
        // SAFETY: plain syscall.
        let g = unsafe { libc::getpgid(pid) };
        if g < 0 {
            Err(Errno::last())
        } else {
            Ok(g)
        }
    }
    fn group_signal(&mut self, pgid: i32, sig: i32) -> Result<(), Errno> {
        // SAFETY: plain syscall; pgid > 1 is checked by the caller.
        if unsafe { libc::kill(-pgid, sig) } < 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }
    fn mrelease(&mut self, pidfd: &Fd) -> Result<(), Errno> {
        sys::process_mrelease(pidfd.raw())
    }
    fn wait_exit(&mut self, pidfd: &Fd, ms: i32) -> bool {
        sys::pidfd_wait_exit(pidfd.raw(), ms)
    }
    fn sleep_ms(&mut self, ms: u64) {
        sys::sleep_ms(ms)
    }
}

/// Kill-path settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct KillConfig {
    pub dryrun: bool,
    pub kill_group: bool,
    pub notify: bool,
    pub post_hook: Option<Vec<u8>>,
    pub pre_hook: Option<Vec<u8>>,
}

/// earlyoom waits 100 × 100 ms (kill.c:311-398).
const WAIT_STEP_MS: i32 = 100;
const WAIT_STEPS: u32 = 100;

fn signame(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        0 => "0 (no-op signal)",
        _ => "signal",
    }
}

/// What we signal: the victim via its pidfd, or its whole process group (`-g`).
enum Target {
    Pid,
    Group(i32),
}

pub struct Killer<S: Sys> {
    pub sys: S,
    pub cfg: KillConfig,
    pub limits: Limits,
    pub children: Children,
    /// What the metrics file reports; every signal actually sent is counted here.
    pub counters: Counters,
    /// Why the current kill happens (set by the caller before `kill_process`).
    pub reason: Reason,
    /// Whole CLOCK_MONOTONIC second of the last dry-run notification (rate limit).
    last_notify_sec: i64,
}

impl<S: Sys> Killer<S> {
    pub fn new(sys: S, cfg: KillConfig, limits: Limits) -> Killer<S> {
        Killer {
            sys,
            cfg,
            limits,
            children: Children::default(),
            counters: Counters::default(),
            reason: Reason::Memory,
            last_notify_sec: -1,
        }
    }

    /// earlyoom's `kill_process` (kill.c:655-715) with our fixes: the victim is signalled
    /// through a pidfd after its identity was checked, and a SIGTERM that is ignored for the
    /// whole wait is escalated to SIGKILL.
    pub fn kill_process(
        &mut self,
        scanner: &Scanner,
        mem: &mut meminfo::Reader,
        victim: Option<&Victim>,
        sig: i32,
    ) -> Result<(), Fatal> {
        let Some(v) = victim else {
            crate::warn!("Could not find a process to kill. Sleeping 1 second.\n");
            if self.cfg.notify {
                hooks::dbus_notify(
                    &mut self.children,
                    b"Error: Could not find a process to kill. Sleeping 1 second.",
                );
            }
            self.sys.sleep_ms(1000);
            return Ok(());
        };
        if sig != 0 || crate::log::debug_enabled() {
            let level = if sig != 0 {
                crate::log::Level::Warn
            } else {
                crate::log::Level::Debug
            };
            crate::log::emit(
                level,
                format_args!(
                    "sending {} to process {} uid {} \"{}\": oom_score {}, oom_score_adj {}, VmRSS {} MiB, cmdline \"{}\"\n",
                    signame(sig),
                    v.pid,
                    v.uid,
                    v.comm.display(),
                    v.oom_score,
                    v.oom_score_adj,
                    v.rss_kib / 1024,
                    v.cmdline.display()
                ),
            );
        }
        if sig != 0 {
            if let Some(pre) = self.cfg.pre_hook.clone() {
                crate::debug!(
                    "going to invoke program before killing: {}\n",
                    String::from_utf8_lossy(&pre)
                );
                hooks::run_program(&mut self.children, &pre, v, PREHOOK_WAIT_MS);
            }
        }
        let res = self.kill_wait(scanner, mem, v, sig);
        if sig == 0 {
            // The startup self-test ignores failures such as EPERM (kill.c:700).
            return match res {
                Err(KillError::Fatal(f)) => Err(f),
                _ => Ok(()),
            };
        }
        self.notify_killed(v);
        match res {
            Ok(()) => {}
            Err(KillError::Fatal(f)) => return Err(f),
            Err(KillError::Errno(e)) => {
                crate::warn!("kill failed: {}\n", e);
                if self.cfg.notify {
                    hooks::dbus_notify(&mut self.children, b"Error: Failed to kill process");
                }
                if e.0 == libc::EPERM {
                    crate::warn!("sleeping 1 second\n");
                    self.sys.sleep_ms(1000);
                }
            }
        }
        Ok(())
    }

    /// `-n` and `-N` after a kill attempt; in dry-run at most once per whole second.
    fn notify_killed(&mut self, v: &Victim) {
        if self.cfg.dryrun {
            let sec = sys::monotonic_secs() as i64;
            if sec == self.last_notify_sec {
                crate::debug!(
                    "notify_process_killed: rate limit hit, skipping notifications this time\n"
                );
                return;
            }
            self.last_notify_sec = sec;
        }
        if self.cfg.notify {
            let mut body = format!("Low memory! Killing process {} ", v.pid).into_bytes();
            body.extend_from_slice(v.comm.as_bytes());
            hooks::dbus_notify(&mut self.children, &body);
        }
        if let Some(post) = self.cfg.post_hook.clone() {
            hooks::run_program(&mut self.children, &post, v, 0);
        }
    }

    fn signal(&mut self, pidfd: &Fd, target: &Target, sig: i32) -> Result<(), Errno> {
        match *target {
            Target::Pid => self.sys.pidfd_signal(pidfd, sig),
            Target::Group(pgid) => self.sys.group_signal(pgid, sig),
        }
    }

    /// Signal, then `process_mrelease` to reap the victim's memory without waiting for it to
    /// run (kill.c `kill_release`); the release result is only logged.
    fn kill_release(
        &mut self,
        v: &Victim,
        pidfd: &Fd,
        target: &Target,
        sig: i32,
    ) -> Result<(), Errno> {
        self.signal(pidfd, target, sig)?;
        if sig != 0 {
            self.counters
                .signal_sent(self.reason, sig, v.comm.as_bytes());
            match self.sys.mrelease(pidfd) {
                Ok(()) => crate::info!(
                    "kill_release: pid={}: process_mrelease pidfd={} success\n",
                    v.pid,
                    pidfd.raw()
                ),
                Err(e) => crate::warn!(
                    "kill_release: pid={}: process_mrelease pidfd={} failed: {}\n",
                    v.pid,
                    pidfd.raw(),
                    e
                ),
            }
        }
        Ok(())
    }

    fn kill_wait(
        &mut self,
        scanner: &Scanner,
        mem: &mut meminfo::Reader,
        v: &Victim,
        mut sig: i32,
    ) -> Result<(), KillError> {
        if self.cfg.dryrun && sig != 0 {
            crate::warn!("dryrun, not actually sending any signal\n");
            return Ok(());
        }
        // Pin the process, then prove it is the one we scanned: a pidfd taken now refers to
        // whoever owns the pid now, and the start time tells whether that is still our
        // victim. After this, signals go to the pidfd and can never reach a recycled pid.
        let pidfd = self.sys.pidfd_open(v.pid).map_err(|e| {
            crate::warn!("kill_wait pid {}: error opening pidfd: {}\n", v.pid, e);
            KillError::Errno(e)
        })?;
        match scanner.same_process(v) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                crate::warn!(
                    "kill_wait pid {}: process was replaced since the scan, not signalling it\n",
                    v.pid
                );
                return Err(KillError::Errno(Errno(libc::ESRCH)));
            }
        }
        let target = if self.cfg.kill_group {
            let pgid = self.sys.getpgid(v.pid)?;
            // Never signal group 0 (ours) or 1 (init's): kill(-1) would hit every process.
            if pgid <= 1 {
                return Err(KillError::Errno(Errno(libc::EPERM)));
            }
            crate::warn!("killing whole process group {} (-g flag is active)\n", pgid);
            Target::Group(pgid)
        } else {
            Target::Pid
        };
        let shown_pid = match target {
            Target::Pid => v.pid,
            Target::Group(g) => -g,
        };
        if sig == 0 {
            return Ok(self.signal(&pidfd, &target, 0)?);
        }
        let t0 = sys::monotonic_secs();
        self.kill_release(v, &pidfd, &target, sig)?;
        let mut deadline = if sig == libc::SIGKILL {
            WAIT_STEPS
        } else {
            u32::MAX
        };
        for i in 0.. {
            let secs = sys::monotonic_secs() - t0;
            if sig != libc::SIGKILL {
                let m = mem.read().map_err(KillError::Fatal)?;
                crate::debug!("{}", Report(&m));
                // earlyoom's escalation: memory fell to the SIGKILL limits while we waited.
                // Ours adds one: SIGTERM ignored for the whole wait (earlyoom #354, #373).
                if decide(&m, &self.limits) == Action::Kill || i >= WAIT_STEPS {
                    sig = libc::SIGKILL;
                    self.kill_release(v, &pidfd, &target, sig)?;
                    crate::warn!("escalating to SIGKILL after {:.3} seconds\n", secs);
                    deadline = i + WAIT_STEPS;
                }
            } else if crate::log::debug_enabled() {
                let m = mem.read().map_err(KillError::Fatal)?;
                crate::info!("{}", Report(&m));
            }
            let gone = match target {
                Target::Pid => self.sys.wait_exit(&pidfd, 0),
                // Alive while any member (even an unreaped zombie) is left, as earlyoom.
                Target::Group(g) => self.sys.group_signal(g, 0).is_err(),
            };
            if gone {
                crate::warn!("process {} exited after {:.3} seconds\n", shown_pid, secs);
                return Ok(());
            }
            if i >= deadline {
                break;
            }
            match target {
                Target::Pid => {
                    self.sys.wait_exit(&pidfd, WAIT_STEP_MS);
                }
                Target::Group(_) => self.sys.sleep_ms(WAIT_STEP_MS as u64),
            }
        }
        crate::warn!("process {} did not exit\n", shown_pid);
        Err(KillError::Errno(Errno(libc::ETIME)))
    }

    /// `--kernel-oom`: write `f` to `<proc>/sysrq-trigger` (kill.c:246-283). Returns false if
    /// it could not be done.
    pub fn trigger_kernel_oom(&mut self, sysrq: &[u8], dryrun: bool) -> bool {
        let shown = String::from_utf8_lossy(sysrq);
        let mut c = sysrq.to_vec();
        c.push(0);
        // SAFETY: NUL-terminated path.
        if unsafe { libc::access(c.as_ptr().cast(), libc::W_OK) } != 0 {
            crate::warn!(
                "trigger_kernel_oom: no permission to write to {}: {}\n",
                shown,
                Errno::last()
            );
            return false;
        }
        if dryrun {
            return true;
        }
        // SAFETY: NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            crate::warn!(
                "trigger_kernel_oom: failed to open {}: {}\n",
                shown,
                Errno::last()
            );
            return false;
        }
        let fd = Fd(fd);
        if let Err(e) = sys::write_all(fd.raw(), b"f") {
            crate::warn!("trigger_kernel_oom: failed to write to {}: {}\n", shown, e);
            return false;
        }
        crate::info!("trigger_kernel_oom: successfully triggered kernel OOM killer\n");
        if self.cfg.notify {
            hooks::dbus_notify(
                &mut self.children,
                b"Low memory! Triggered kernel OOM killer",
            );
        }
        true
    }
}

#[derive(Debug)]
enum KillError {
    Errno(Errno),
    Fatal(Fatal),
}

impl From<Errno> for KillError {
    fn from(e: Errno) -> KillError {
        KillError::Errno(e)
    }
}
