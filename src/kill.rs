//! The kill sequence (docs/contract.md §5.4-5.8): pin the victim, signal it, process_mrelease,
//! wait, escalate, hooks and notifications, and `--kernel-oom`.
//!
//! One call, [`Killer::kill`]: a victim, a [`Signal`] and a reason in, an [`Outcome`] out.
//! The kill path ranks nothing (that is victim.rs) and counts nothing (the daemon counts
//! what [`Watch::sent`] reports); every side effect goes through the [`Sys`] seam.

use crate::decide::Action;
use crate::hooks::{self, PREHOOK_WAIT_MS};
use crate::journal::{Fields, Kind};
use crate::meminfo::{MemInfo, Report};
use crate::metrics::Reason;
use crate::proc::{PidFiles, ProcRoot, Text};
use crate::seam::{Sys, Via};
use crate::settings::KillSettings;
use crate::sys::{self, Errno};
use crate::victim::Victim;
use crate::Fatal;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};

/// What to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Kill,
    /// Signal 0: the startup self-test's permission check, nothing is sent.
    Probe,
}

impl Signal {
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Probe => 0,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Kill => "SIGKILL",
            Signal::Probe => "0 (no-op signal)",
        }
    }

    /// For an earlyoom decision.
    pub fn of(a: Action) -> Signal {
        match a {
            Action::Kill => Signal::Kill,
            Action::Term => Signal::Term,
            Action::None => Signal::Probe,
        }
    }
}

/// How victims are signalled, found by the startup self-test ([`Killer::probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// pidfd_open + pidfd_send_signal, process_mrelease, poll on the pidfd (Linux 5.3+).
    Pidfd,
    /// pidfd_send_signal on the /proc/PID directory fd (Linux 5.1+); exit seen by polling.
    ProcDir,
    /// kill(2) right after the start-time check (no pidfd syscall at all).
    Kill,
}

/// What the kill path asks of its caller while it waits for a victim.
pub trait Watch {
    /// Every 100 ms step of a wait: memory now (earlyoom escalates to SIGKILL when it
    /// reaches the SIGKILL limits, and the caller may rewrite its metrics file meanwhile).
    fn step(&mut self, now: f64) -> Result<(MemInfo, Action), Fatal>;
    /// A signal was sent to the victim (or its group).
    fn sent(&mut self, sig: Signal);
}

/// earlyoom waits 100 × 100 ms for a victim (kill.c:311-398): 10 s in all.
const WAIT_STEP_MS: i32 = 100;
const WAIT_STEPS: u32 = 100;
/// How long a victim is still waited for after SIGKILL. A process that SIGKILL does not end
/// at once is stuck in the kernel (D state on NFS/FUSE/a GPU driver, a frozen cgroup);
/// process_mrelease has already reaped what it could, and waiting longer only keeps the
/// loop from the next victim. 12 s in all after an ignored SIGTERM, where it used to be 20.
const KILL_GRACE_MS: u32 = 2000;

/// What one kill came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The victim is no longer the process the scan chose (it exited, or its pid was
    /// recycled): nothing was signalled and no hook ran.
    Replaced,
    /// `--dryrun`: nothing was signalled.
    DryRun,
    /// The self-test's signal 0 (its result is only logged).
    Probed,
    /// The victim exited `secs` after the first signal; `escalated` if SIGKILL followed a
    /// SIGTERM.
    Exited { secs: f64, escalated: bool },
    /// The victim was still there when the wait ended; `sigkilled` if it had SIGKILL.
    DidNotExit { sigkilled: bool },
    /// Signalling failed.
    Failed(Errno),
}

/// The target of one kill, once pinned.
struct Pinned {
    pidfd: Option<OwnedFd>,
    /// The group to signal (`-g`), if it is safe to.
    group: Option<i32>,
}

/// The kill path's own state: its settings, the signalling mechanism found at startup, and
/// the dry-run notification rate limit.
pub struct Killer {
    pub cfg: KillSettings,
    pub mech: Mechanism,
    /// The proc root is another PID namespace's (found by [`Killer::probe`]).
    pub foreign: bool,
    /// Whole CLOCK_MONOTONIC second of the last dry-run notification (rate limit).
    last_notify_sec: i64,
}

impl Killer {
    pub fn new(cfg: KillSettings) -> Killer {
        Killer {
            cfg,
            mech: Mechanism::Pidfd,
            foreign: false,
            last_notify_sec: -1,
        }
    }

    /// Part of the startup self-test: finds how this daemon can signal at all, and says so
    /// once when it is not the pidfd way. A kernel before 5.3 or a seccomp filter (container
    /// runtimes, `SystemCallFilter=` lists) can deny pidfd_open with ENOSYS or EPERM; every
    /// kill would then fail, so the daemon falls back to pidfd_send_signal on /proc/PID
    /// directories, or to kill(2) after the start-time check. A proc root that belongs to
    /// another PID namespace than the daemon's gives pids that pidfd_open would resolve in
    /// the wrong namespace: only the directory way is exact there.
    pub fn probe(&mut self, sys: &mut impl Sys, root: &ProcRoot) {
        let me = sys::getpid();
        self.foreign = !sys::proc_root_is_ours(&root.0, me);
        let pidfd = if self.foreign {
            Err(None)
        } else {
            match sys.pidfd_open(me) {
                Ok(fd) => match sys.signal(Via::Pidfd(fd.as_fd(), me), 0) {
                    Ok(()) => Ok(()),
                    Err(e) => Err(Some(("pidfd_send_signal", e))),
                },
                Err(e) => Err(Some(("pidfd_open", e))),
            }
        };
        let Err(why) = pidfd else {
            self.mech = Mechanism::Pidfd;
            return;
        };
        let dir =
            crate::proc::ProcDir::open(root).and_then(|d| d.open_pid(me, &mut sys::CPath::new()));
        let by_dir = match &dir {
            Ok(d) => sys.signal(Via::ProcDir(d.fd(), me), 0),
            Err(e) => Err(*e),
        };
        let send_failed = matches!(why, Some(("pidfd_send_signal", _)));
        let because = match why {
            Some((call, e)) => format!("{call} failed: {e}"),
            None => format!(
                "{} belongs to another PID namespace",
                String::from_utf8_lossy(&root.0)
            ),
        };
        match by_dir {
            Ok(()) => {
                self.mech = Mechanism::ProcDir;
                crate::warn!(
                    "startup_selftests: {}; signalling victims through their /proc/PID directory (no process_mrelease)\n",
                    because
                );
            }
            Err(e) if !self.foreign => {
                self.mech = Mechanism::Kill;
                let also = if send_failed {
                    String::new()
                } else {
                    format!(", pidfd_send_signal failed: {e}")
                };
                crate::warn!(
                    "startup_selftests: {}{}; signalling victims with kill(2) right after the start-time check\n",
                    because,
                    also
                );
            }
            Err(e) => {
                // Neither way reaches a process of that namespace by its number.
                self.mech = Mechanism::ProcDir;
                crate::warn!(
                    "startup_selftests: {} and pidfd_send_signal failed: {}; kills will fail\n",
                    because,
                    e
                );
            }
        }
    }

    /// earlyoom's `kill_process` (kill.c:655-715) with our fixes: the victim is pinned and its
    /// identity proven before anything is run or sent for it, it is signalled so that a
    /// recycled pid can never receive the signal, a SIGTERM that is ignored for the whole
    /// wait is escalated to SIGKILL, and the whole wait is bounded.
    pub fn kill(
        &mut self,
        sys: &mut impl Sys,
        v: &Victim,
        sig: Signal,
        reason: Reason,
        watch: &mut dyn Watch,
    ) -> Result<Outcome, Fatal> {
        // Pin first: no line, hook or signal for a process that is not the one the scan chose.
        let Some(pinned) = self.pin(sys, v, sig) else {
            return Ok(Outcome::Replaced);
        };
        let sig = if sig == Signal::Term && self.drops_sigterm(v) {
            Signal::Kill
        } else {
            sig
        };
        if sig != Signal::Probe || crate::log::debug_enabled() {
            let level = if sig != Signal::Probe {
                crate::log::Level::Warn
            } else {
                crate::log::Level::Debug
            };
            let mut cg = Text::new();
            crate::log::record(
                level,
                Kind::Kill,
                &fields(v, sig, reason, &mut cg),
                format_args!(
                    "sending {} to process {} uid {} \"{}\": oom_score {}, oom_score_adj {}, VmRSS {} MiB, cmdline \"{}\"\n",
                    sig.name(),
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
        if sig == Signal::Probe {
            let fd = pinned.pidfd.as_ref().map(|f| f.as_fd());
            if let Err(e) = self.send(sys, v, fd, pinned.group, 0) {
                // The startup self-test ignores failures such as EPERM (kill.c:700), but says so.
                crate::debug!("startup_selftests: signal 0 to pid {}: {}\n", v.pid, e);
            }
            return Ok(Outcome::Probed);
        }
        self.pre_hook(sys, v);
        let outcome = if self.cfg.dryrun {
            crate::warn!("dryrun, not actually sending any signal\n");
            Outcome::DryRun
        } else {
            self.kill_wait(sys, v, &pinned, sig, reason, watch)?
        };
        self.notify_killed(sys, v);
        if let Outcome::Failed(e) = outcome {
            let mut cg = Text::new();
            crate::log::record(
                crate::log::Level::Warn,
                Kind::Failed,
                &fields(v, sig, reason, &mut cg),
                format_args!("kill failed: {}\n", e),
            );
            if self.cfg.notify {
                hooks::dbus_notify(sys, b"Error: Failed to kill process");
            }
            if e.0 == libc::EPERM {
                crate::warn!("sleeping 1 second\n");
                sys.sleep_ms(1000);
            }
        }
        Ok(outcome)
    }

    /// `-P` for `v`, before anything is sent to it (or to its cgroup or subtree).
    pub fn pre_hook(&mut self, sys: &mut impl Sys, v: &Victim) {
        if let Some(pre) = self.cfg.pre_hook.as_deref() {
            crate::debug!(
                "going to invoke program before killing: {}\n",
                String::from_utf8_lossy(pre)
            );
            hooks::run_program(sys, pre, v.into(), PREHOOK_WAIT_MS);
        }
    }

    /// earlyoom's "no victim" case of `kill_process` (kill.c:657-664), without its sleep
    /// (the caller says why there was no victim first, then sleeps the second).
    pub fn no_victim(&mut self, sys: &mut impl Sys) {
        crate::warn!("Could not find a process to kill. Sleeping 1 second.\n");
        if self.cfg.notify {
            hooks::dbus_notify(
                sys,
                b"Error: Could not find a process to kill. Sleeping 1 second.",
            );
        }
    }

    /// Proves the victim is still the process the scan chose, and takes a pidfd for it.
    /// The scan read the victim through its own /proc/PID directory; a read through it still
    /// succeeding with the same start time means that process is still there (a pid is
    /// never given to another process while its owner exists), so a pidfd opened on the pid
    /// before that read refers to it. Also decides whether `-g` may signal its group.
    fn pin(&mut self, sys: &mut impl Sys, v: &Victim, sig: Signal) -> Option<Pinned> {
        let pidfd = if self.mech == Mechanism::Pidfd && !(self.cfg.dryrun && sig != Signal::Probe) {
            match sys.pidfd_open(v.pid) {
                Ok(fd) => Some(fd),
                Err(e) if e.0 == libc::ESRCH => {
                    crate::warn!("kill_wait pid {}: error opening pidfd: {}\n", v.pid, e);
                    return None;
                }
                // Out of fds or memory: the victim's directory is pinned already, and it
                // takes a signal as well (only process_mrelease needs the pidfd).
                Err(e) => {
                    crate::warn!(
                        "kill_wait pid {}: error opening pidfd: {}, signalling through /proc/{} instead\n",
                        v.pid,
                        e,
                        v.pid
                    );
                    None
                }
            }
        } else {
            None
        };
        if !v.still_itself() {
            crate::warn!(
                "kill_wait pid {}: process was replaced since the scan, not signalling it\n",
                v.pid
            );
            return None;
        }
        let group = if self.cfg.kill_group && sig != Signal::Probe {
            self.group_of(sys, v)
        } else {
            None
        };
        Some(Pinned { pidfd, group })
    }

    /// `-g`: the victim's process group, or None (with the reason logged) where signalling it
    /// would hit the wrong processes: group 1 (init's: a container whose PID 1 leads the
    /// session) or 0 (not visible in our PID namespace); the daemon's own group (both
    /// started from one non-interactive shell), which would kill the daemon. The victim is
    /// then killed alone, which is what earlyoom does without -g.
    fn group_of(&mut self, sys: &mut impl Sys, v: &Victim) -> Option<i32> {
        if self.foreign {
            // The proc root is another PID namespace's: its group ids mean nothing to
            // kill(2) here.
            crate::warn!(
                "-g: /proc is another PID namespace's, killing process {} alone\n",
                v.pid
            );
            return None;
        }
        match sys.getpgid(v.pid) {
            Ok(pgid) if pgid <= 1 => {
                crate::warn!(
                    "-g: process group {} of process {} cannot be signalled (init's or not in our PID namespace), killing the process alone\n",
                    pgid,
                    v.pid
                );
                None
            }
            Ok(pgid) if pgid == sys::getpgrp() => {
                crate::warn!(
                    "-g: process {} is in the daemon's own process group {}, killing the process alone\n",
                    v.pid,
                    pgid
                );
                None
            }
            // getpgid goes by number: the group must be the one the pinned process is in.
            Ok(pgid) if !group_still_ours(v, pgid) => {
                crate::warn!(
                    "-g: process {} changed its process group, killing the process alone\n",
                    v.pid
                );
                None
            }
            Ok(pgid) => Some(pgid),
            Err(e) => {
                crate::warn!(
                    "-g: getpgid({}) failed: {}, killing the process alone\n",
                    v.pid,
                    e
                );
                None
            }
        }
    }

    /// A container's init that neither handles nor blocks SIGTERM never sees SIGTERM from
    /// outside its namespace: the kernel drops signals with the default action sent to a
    /// namespace init (pid_namespaces(7)), so the 10 s wait would be lost for nothing. (tini,
    /// catatonit, dumb-init and systemd block it and take it; they get SIGTERM.)
    fn drops_sigterm(&mut self, v: &Victim) -> bool {
        let Ok(st) = v.dir.status() else {
            return false;
        };
        let drops = st.ns_init && !st.term_handled;
        if drops {
            crate::warn!(
                "process {} is the init of its PID namespace and neither handles nor blocks SIGTERM, which the kernel would drop: sending SIGKILL\n",
                v.pid
            );
        }
        drops
    }

    /// One signal to the victim, or to `group`, by the mechanism in use.
    fn send(
        &mut self,
        sys: &mut impl Sys,
        v: &Victim,
        pidfd: Option<BorrowedFd<'_>>,
        group: Option<i32>,
        sig: i32,
    ) -> Result<(), Errno> {
        let via = match (group, pidfd, self.mech) {
            (Some(g), _, _) => Via::Group(g),
            (None, Some(fd), _) => Via::Pidfd(fd, v.pid),
            (None, None, Mechanism::Kill) => {
                // The last resort has a window between the check and the signal: keep it to
                // one stat read.
                if !v.still_itself() {
                    return Err(Errno(libc::ESRCH));
                }
                Via::Kill(v.pid)
            }
            (None, None, _) => Via::ProcDir(v.dir.fd(), v.pid),
        };
        sys.signal(via, sig)
    }

    /// Signal, then `process_mrelease` to reap the victim's memory without waiting for it to
    /// run (kill.c `kill_release`); the release result is only logged.
    fn kill_release(
        &mut self,
        sys: &mut impl Sys,
        v: &Victim,
        pidfd: Option<BorrowedFd<'_>>,
        group: Option<i32>,
        sig: Signal,
        watch: &mut dyn Watch,
    ) -> Result<(), Errno> {
        self.send(sys, v, pidfd, group, sig.number())?;
        watch.sent(sig);
        if let Some(fd) = pidfd {
            match sys.mrelease(fd) {
                Ok(()) => crate::info!(
                    "kill_release: pid={}: process_mrelease pidfd={} success\n",
                    v.pid,
                    rustix::fd::AsRawFd::as_raw_fd(&fd)
                ),
                Err(e) => crate::warn!(
                    "kill_release: pid={}: process_mrelease pidfd={} failed: {}\n",
                    v.pid,
                    rustix::fd::AsRawFd::as_raw_fd(&fd),
                    e
                ),
            }
        }
        Ok(())
    }

    /// Whether the victim (or, with -g, its group) is gone. A zombie counts as gone for a
    /// single process (its memory is freed; earlyoom's is_alive), but a group is alive while
    /// any member is left, zombies included, as earlyoom's kill(-pgid, 0) says; the daemon's
    /// own children among them are reaped first, so they cannot hold the group up.
    fn gone(
        &mut self,
        sys: &mut impl Sys,
        v: &Victim,
        pidfd: Option<BorrowedFd<'_>>,
        group: Option<i32>,
    ) -> bool {
        if let Some(g) = group {
            sys.reap();
            return sys.signal(Via::Group(g), 0).is_err();
        }
        if let Some(fd) = pidfd {
            return sys.wait_exit(fd, 0);
        }
        let mut buf = [0u8; 1024];
        match v.dir.reader().stat(&mut buf) {
            Ok(st) => st.state == b'X' || (st.state == b'Z' && st.num_threads <= 1),
            Err(_) => true,
        }
    }

    fn kill_wait(
        &mut self,
        sys: &mut impl Sys,
        v: &Victim,
        p: &Pinned,
        mut sig: Signal,
        reason: Reason,
        watch: &mut dyn Watch,
    ) -> Result<Outcome, Fatal> {
        // -P ran meanwhile (up to 200 ms): the victim may have left its group since.
        let group = p.group.filter(|&g| {
            let ours = group_still_ours(v, g);
            if !ours {
                crate::warn!(
                    "-g: process {} changed its process group, killing the process alone\n",
                    v.pid
                );
            }
            ours
        });
        let pidfd = p.pidfd.as_ref().map(|f| f.as_fd());
        if let Some(g) = group {
            crate::warn!("killing whole process group {} (-g flag is active)\n", g);
        }
        let shown_pid = group.map_or(v.pid, |g| -g);
        let t0 = sys.now();
        if let Err(e) = self.kill_release(sys, v, pidfd, group, sig, watch) {
            return Ok(Outcome::Failed(e));
        }
        // In 100 ms steps: up to 10 s after a SIGTERM, and KILL_GRACE_MS after a SIGKILL,
        // whether it came first, after the memory reached the SIGKILL line, or after the
        // 10 s: a process that SIGKILL does not end at once will not end in 10 s either.
        let grace = KILL_GRACE_MS / WAIT_STEP_MS as u32;
        let mut deadline = if sig == Signal::Kill {
            grace
        } else {
            WAIT_STEPS
        };
        let mut escalated = false;
        for i in 0.. {
            let now = sys.now();
            let secs = now - t0;
            let (m, action) = watch.step(now)?;
            if sig != Signal::Kill {
                crate::debug!("{}", Report(&m));
                // earlyoom's escalation: memory fell to the SIGKILL limits while we waited.
                // Ours adds one: SIGTERM ignored for the whole wait (earlyoom #354, #373).
                if action == Action::Kill || i >= WAIT_STEPS {
                    sig = Signal::Kill;
                    escalated = true;
                    let to = match group {
                        Some(g) if !group_still_ours(v, g) => {
                            crate::warn!(
                                "process group {}: process {} has exited or left it, not signalling the group again (its id may have been reused)\n",
                                g,
                                v.pid
                            );
                            None
                        }
                        g => g,
                    };
                    match self.kill_release(sys, v, pidfd, to, sig, watch) {
                        // Exited meanwhile: the wait below sees it.
                        Err(e) if e.0 == libc::ESRCH => {}
                        Err(e) => return Ok(Outcome::Failed(e)),
                        Ok(()) => {
                            let mut cg = Text::new();
                            crate::log::record(
                                crate::log::Level::Warn,
                                Kind::Escalate,
                                &fields(v, sig, reason, &mut cg),
                                format_args!("escalating to SIGKILL after {:.3} seconds\n", secs),
                            );
                        }
                    }
                    deadline = i + grace;
                }
            } else if crate::log::debug_enabled() {
                crate::info!("{}", Report(&m));
            }
            if self.gone(sys, v, pidfd, group) {
                let mut cg = Text::new();
                crate::log::record(
                    crate::log::Level::Warn,
                    Kind::Exited,
                    &fields(v, sig, reason, &mut cg),
                    format_args!("process {} exited after {:.3} seconds\n", shown_pid, secs),
                );
                return Ok(Outcome::Exited { secs, escalated });
            }
            if i >= deadline {
                break;
            }
            match pidfd {
                Some(fd) if group.is_none() => {
                    sys.wait_exit(fd, WAIT_STEP_MS);
                }
                _ => sys.sleep_ms(WAIT_STEP_MS as u64),
            }
        }
        let mut cg = Text::new();
        crate::log::record(
            crate::log::Level::Warn,
            Kind::Failed,
            &fields(v, sig, reason, &mut cg),
            format_args!("process {} did not exit\n", shown_pid),
        );
        Ok(Outcome::DidNotExit {
            sigkilled: sig == Signal::Kill,
        })
    }

    /// `-n` and `-N` after a kill attempt; in dry-run at most once per whole second.
    pub fn notify_killed(&mut self, sys: &mut impl Sys, v: &Victim) {
        if self.cfg.dryrun {
            let sec = sys.now() as i64;
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
            hooks::dbus_notify(sys, &body);
        }
        if let Some(post) = self.cfg.post_hook.as_deref() {
            hooks::run_program(sys, post, v.into(), 0);
        }
    }

    /// `--kernel-oom`: write `f` to `sysrq` (kill.c:246-283); with `write` false only the
    /// permission check of the startup self-test. Returns false if it could not be done.
    pub fn kernel_oom(&mut self, sys: &mut impl Sys, sysrq: &[u8], write: bool) -> bool {
        let shown = String::from_utf8_lossy(sysrq);
        match sys.sysrq(sysrq, write) {
            Err(("access", e)) => {
                crate::warn!(
                    "trigger_kernel_oom: no permission to write to {}: {}\n",
                    shown,
                    e
                );
                return false;
            }
            Err((what, e)) => {
                crate::warn!("trigger_kernel_oom: failed to {} {}: {}\n", what, shown, e);
                return false;
            }
            Ok(()) if !write => return true,
            Ok(()) => {}
        }
        crate::info!("trigger_kernel_oom: successfully triggered kernel OOM killer\n");
        if self.cfg.notify {
            hooks::dbus_notify(sys, b"Low memory! Triggered kernel OOM killer");
        }
        true
    }
}

/// May `pgid` be signalled for this victim? Only while the pinned victim is a member: then
/// the group id is held by a process we know, and cannot have been recycled for another
/// group since the first signal.
fn group_still_ours(v: &Victim, pgid: i32) -> bool {
    let mut buf = [0u8; 1024];
    v.dir
        .reader()
        .stat(&mut buf)
        .is_ok_and(|st| st.starttime == v.starttime && st.pgrp == pgid)
}

/// The victim's fields for a journal entry (its cgroup is read only under journald).
fn fields<'a>(v: &'a Victim, sig: Signal, reason: Reason, cgroup: &'a mut Text) -> Fields<'a> {
    if crate::journal::active() {
        v.dir.cgroup(cgroup);
    }
    let signal = if sig == Signal::Probe { "" } else { sig.name() };
    Fields::of(Some(v), signal, reason.label(), cgroup.as_bytes())
}
