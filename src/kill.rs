//! The kill sequence (docs/contract.md §5.4-5.7): pin the victim, signal it, process_mrelease,
//! wait, escalate, hooks and notifications, and `--kernel-oom`.
//!
//! Every signal goes through the [`Sys`] seam, which tests replace with a recorder so that a
//! fixture tree (whose pids are real pids on the host) can never reach a real process.

use crate::decide::{decide, Action, Limits};
use crate::hooks::{self, Children, PREHOOK_WAIT_MS};
use crate::journal::{Fields, Kind};
use crate::meminfo::{self, MemInfo, Report};
use crate::metrics::{Counters, Reason};
use crate::procfs::{PidFiles, ProcRoot, Text};
use crate::sys::{self, Errno, Fd};
use crate::victim::Victim;
use crate::Fatal;

/// How a signal reaches its target.
#[derive(Debug)]
pub enum Via<'a> {
    /// pidfd_send_signal on a pidfd from pidfd_open: exactly the pinned process.
    Pidfd(&'a Fd, i32),
    /// pidfd_send_signal on the victim's `/proc/PID` directory fd, which the kernel accepts
    /// as a pidfd (pidfd_send_signal(2)): exactly the process whose files the scan read,
    /// also where pidfd_open is missing or filtered, or /proc is another PID namespace's.
    ProcDir(i32, i32),
    /// kill(2) on a pid whose identity was checked just before (the last resort).
    Kill(i32),
    /// kill(2) on a whole process group (`-g`).
    Group(i32),
}

/// The side effects of killing, behind one seam.
pub trait Sys {
    fn pidfd_open(&mut self, pid: i32) -> Result<Fd, Errno>;
    /// Sends `sig` (0 = permission check) to the target.
    fn signal(&mut self, via: Via<'_>, sig: i32) -> Result<(), Errno>;
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno>;
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
    fn signal(&mut self, via: Via<'_>, sig: i32) -> Result<(), Errno> {
        match via {
            Via::Pidfd(fd, _) => sys::pidfd_send_signal(fd.raw(), sig),
            Via::ProcDir(fd, _) => sys::pidfd_send_signal(fd, sig),
            Via::Kill(pid) => sys::kill(pid, sig),
            // pgid > 1 and not our own group are checked by the caller.
            Via::Group(pgid) => sys::kill(-pgid, sig),
        }
    }
    fn getpgid(&mut self, pid: i32) -> Result<i32, Errno> {
        sys::getpgid(pid)
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

/// earlyoom waits 100 × 100 ms for a victim (kill.c:311-398): 10 s in all.
const WAIT_STEP_MS: i32 = 100;
const WAIT_STEPS: u32 = 100;
/// How long a victim is still waited for after SIGKILL. A process that SIGKILL does not end
/// at once is stuck in the kernel (D state on NFS/FUSE/a GPU driver, a frozen cgroup);
/// process_mrelease has already reaped what it could, and waiting longer only keeps the
/// loop from the next victim. 12 s in all after an ignored SIGTERM, where it used to be 20.
const KILL_GRACE_MS: u32 = 2000;

fn signame(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => "SIGTERM",
        libc::SIGKILL => "SIGKILL",
        0 => "0 (no-op signal)",
        _ => "signal",
    }
}

/// What one call of [`Killer::kill_process`] came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// There was no victim (the daemon slept 1 s, as earlyoom).
    NoVictim,
    /// The victim is no longer the process the scan chose (it exited, or its pid was
    /// recycled): nothing was signalled and no hook ran.
    Replaced,
    /// `--dryrun`: nothing was signalled.
    DryRun,
    /// The self-test's signal 0 (its result is only logged).
    Probed,
    /// The victim exited `secs` after the first signal.
    Exited { secs: f64 },
    /// The victim was still there when the wait ended; `sigkilled` if it had SIGKILL.
    DidNotExit { sigkilled: bool },
    /// Signalling failed.
    Failed(Errno),
}

/// The target of one kill, once pinned.
struct Pinned {
    pidfd: Option<Fd>,
    /// The group to signal (`-g`), if it is safe to.
    group: Option<i32>,
}

pub struct Killer<S: Sys> {
    pub sys: S,
    pub cfg: KillConfig,
    pub limits: Limits,
    pub mech: Mechanism,
    /// The proc root is another PID namespace's (found by [`Killer::probe`]).
    pub foreign: bool,
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
            mech: Mechanism::Pidfd,
            foreign: false,
            children: Children::default(),
            counters: Counters::default(),
            reason: Reason::Memory,
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
    pub fn probe(&mut self, root: &ProcRoot) {
        let me = sys::getpid();
        let foreign = !sys::proc_root_is_ours(&root.0, me);
        self.foreign = foreign;
        let pidfd = if foreign {
            Err(None)
        } else {
            match self.sys.pidfd_open(me) {
                Ok(fd) => match self.sys.signal(Via::Pidfd(&fd, me), 0) {
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
        let dir = crate::procfs::ProcDir::open(root).and_then(|mut d| d.open_pid(me));
        let by_dir = match &dir {
            Ok(d) => self.sys.signal(Via::ProcDir(d.raw(), me), 0),
            Err(e) => Err(*e),
        };
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
            Err(e) if !foreign => {
                self.mech = Mechanism::Kill;
                crate::warn!(
                    "startup_selftests: {}, pidfd_send_signal failed: {}; signalling victims with kill(2) right after the start-time check\n",
                    because,
                    e
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
    /// wait is escalated to SIGKILL, and the whole wait is bounded. `sig` 0 is the startup
    /// self-test. `tick` is called on every wait step with the latest meminfo, so the caller
    /// can keep its metrics file fresh while a kill is in progress.
    pub fn kill_process(
        &mut self,
        mem: &mut meminfo::Reader,
        victim: Option<&Victim>,
        sig: i32,
        tick: &mut dyn FnMut(&Counters, &MemInfo),
    ) -> Result<Outcome, Fatal> {
        let Some(v) = victim else {
            crate::warn!("Could not find a process to kill. Sleeping 1 second.\n");
            if self.cfg.notify {
                hooks::dbus_notify(
                    &mut self.children,
                    b"Error: Could not find a process to kill. Sleeping 1 second.",
                );
            }
            self.sys.sleep_ms(1000);
            return Ok(Outcome::NoVictim);
        };
        // Pin first: no line, hook or signal for a process that is not the one the scan chose.
        let Some(pinned) = self.pin(v, sig) else {
            return Ok(Outcome::Replaced);
        };
        let sig = if sig == libc::SIGTERM && self.drops_sigterm(v) {
            libc::SIGKILL
        } else {
            sig
        };
        if sig != 0 || crate::log::debug_enabled() {
            let level = if sig != 0 {
                crate::log::Level::Warn
            } else {
                crate::log::Level::Debug
            };
            let mut cg = Text::new();
            crate::log::record(
                level,
                Kind::Kill,
                &self.fields(v, sig, &mut cg),
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
        if sig == 0 {
            if let Err(e) = self.send(v, pinned.pidfd.as_ref(), pinned.group, 0) {
                // The startup self-test ignores failures such as EPERM (kill.c:700), but says so.
                crate::debug!("startup_selftests: signal 0 to pid {}: {}\n", v.pid, e);
            }
            return Ok(Outcome::Probed);
        }
        if let Some(pre) = self.cfg.pre_hook.clone() {
            crate::debug!(
                "going to invoke program before killing: {}\n",
                String::from_utf8_lossy(&pre)
            );
            hooks::run_program(&mut self.children, &pre, v.into(), PREHOOK_WAIT_MS);
        }
        let outcome = if self.cfg.dryrun {
            crate::warn!("dryrun, not actually sending any signal\n");
            Outcome::DryRun
        } else {
            self.kill_wait(mem, v, &pinned, sig, tick)?
        };
        self.notify_killed(v);
        if let Outcome::Failed(e) = outcome {
            let mut cg = Text::new();
            crate::log::record(
                crate::log::Level::Warn,
                Kind::Failed,
                &self.fields(v, sig, &mut cg),
                format_args!("kill failed: {}\n", e),
            );
            if self.cfg.notify {
                hooks::dbus_notify(&mut self.children, b"Error: Failed to kill process");
            }
            if e.0 == libc::EPERM {
                crate::warn!("sleeping 1 second\n");
                self.sys.sleep_ms(1000);
            }
        }
        Ok(outcome)
    }

    /// Proves the victim is still the process the scan chose, and takes a pidfd for it.
    /// The scan read the victim through its own /proc/PID directory; a read through it still
    /// succeeding with the same start time means that process is still there (a pid is
    /// never given to another process while its owner exists), so a pidfd opened on the pid
    /// before that read refers to it. Also decides whether `-g` may signal its group.
    fn pin(&mut self, v: &Victim, sig: i32) -> Option<Pinned> {
        let pidfd = if self.mech == Mechanism::Pidfd && !(self.cfg.dryrun && sig != 0) {
            match self.sys.pidfd_open(v.pid) {
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
        let group = if self.cfg.kill_group && sig != 0 {
            self.group_of(v)
        } else {
            None
        };
        Some(Pinned { pidfd, group })
    }

    /// The victim's fields for a journal entry (its cgroup is read only under journald).
    fn fields<'a>(&self, v: &'a Victim, sig: i32, cgroup: &'a mut Text) -> Fields<'a> {
        if crate::journal::active() {
            v.dir.cgroup(cgroup);
        }
        Fields {
            pid: v.pid,
            uid: v.uid,
            comm: v.comm.as_bytes(),
            signal: if sig == 0 { "" } else { signame(sig) },
            rss_kib: v.rss_kib,
            oom_score: v.oom_score,
            reason: self.reason.label(),
            cgroup: cgroup.as_bytes(),
        }
    }

    /// `-g`: the victim's process group, or None (with the reason logged) where signalling it
    /// would hit the wrong processes: group 1 (init's: a container whose PID 1 leads the
    /// session) or 0 (not visible in our PID namespace); the daemon's own group (both
    /// started from one non-interactive shell), which would kill the daemon. The victim is
    /// then killed alone, which is what earlyoom does without -g.
    fn group_of(&mut self, v: &Victim) -> Option<i32> {
        if self.foreign {
            // The proc root is another PID namespace's: its group ids mean nothing to
            // kill(2) here.
            crate::warn!(
                "-g: /proc is another PID namespace's, killing process {} alone\n",
                v.pid
            );
            return None;
        }
        // The group as the kernel has it now, which must be the one the pinned process
        // is in (getpgid goes by number).
        let pgid = self.sys.getpgid(v.pid);
        match pgid {
            Ok(g) if g > 1 && !self.group_still_ours(v, g) => {
                crate::warn!(
                    "-g: process {} changed its process group, killing the process alone\n",
                    v.pid
                );
                None
            }
            _ => self.usable_group(v, pgid),
        }
    }

    fn usable_group(&mut self, v: &Victim, pgid: Result<i32, Errno>) -> Option<i32> {
        match pgid {
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
        v: &Victim,
        pidfd: Option<&Fd>,
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
            (None, None, _) => Via::ProcDir(v.dir.raw(), v.pid),
        };
        self.sys.signal(via, sig)
    }

    /// Signal, then `process_mrelease` to reap the victim's memory without waiting for it to
    /// run (kill.c `kill_release`); the release result is only logged.
    fn kill_release(
        &mut self,
        v: &Victim,
        pidfd: Option<&Fd>,
        group: Option<i32>,
        sig: i32,
    ) -> Result<(), Errno> {
        self.send(v, pidfd, group, sig)?;
        self.counters
            .signal_sent(self.reason, sig, v.comm.as_bytes());
        if let Some(fd) = pidfd {
            match self.sys.mrelease(fd) {
                Ok(()) => crate::info!(
                    "kill_release: pid={}: process_mrelease pidfd={} success\n",
                    v.pid,
                    fd.raw()
                ),
                Err(e) => crate::warn!(
                    "kill_release: pid={}: process_mrelease pidfd={} failed: {}\n",
                    v.pid,
                    fd.raw(),
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
    fn gone(&mut self, v: &Victim, pidfd: Option<&Fd>, group: Option<i32>) -> bool {
        if let Some(g) = group {
            self.children.reap();
            return self.sys.signal(Via::Group(g), 0).is_err();
        }
        if let Some(fd) = pidfd {
            return self.sys.wait_exit(fd, 0);
        }
        let mut buf = [0u8; 1024];
        match v.dir.reader().stat(&mut buf) {
            Ok(st) => st.state == b'X' || (st.state == b'Z' && st.num_threads <= 1),
            Err(_) => true,
        }
    }

    /// May the group still be signalled? Only while the pinned victim is a member: then the
    /// group id is held by a process we know, and cannot have been recycled for another
    /// group since the first signal.
    fn group_still_ours(&mut self, v: &Victim, pgid: i32) -> bool {
        let mut buf = [0u8; 1024];
        v.dir
            .reader()
            .stat(&mut buf)
            .is_ok_and(|st| st.starttime == v.starttime && st.pgrp == pgid)
    }

    fn kill_wait(
        &mut self,
        mem: &mut meminfo::Reader,
        v: &Victim,
        p: &Pinned,
        mut sig: i32,
        tick: &mut dyn FnMut(&Counters, &MemInfo),
    ) -> Result<Outcome, Fatal> {
        // -P ran meanwhile (up to 200 ms): the victim may have left its group since.
        let group = p.group.filter(|&g| {
            let ours = self.group_still_ours(v, g);
            if !ours {
                crate::warn!(
                    "-g: process {} changed its process group, killing the process alone\n",
                    v.pid
                );
            }
            ours
        });
        let pidfd = p.pidfd.as_ref();
        if let Some(g) = group {
            crate::warn!("killing whole process group {} (-g flag is active)\n", g);
        }
        let shown_pid = group.map_or(v.pid, |g| -g);
        let t0 = sys::monotonic_secs();
        if let Err(e) = self.kill_release(v, pidfd, group, sig) {
            return Ok(Outcome::Failed(e));
        }
        // In 100 ms steps: up to 10 s after a SIGTERM, then KILL_GRACE_MS after the SIGKILL;
        // a first SIGKILL gets only KILL_GRACE_MS: it is the most urgent case, and one that
        // SIGKILL does not end at once will not end in 10 s either.
        let grace = KILL_GRACE_MS / WAIT_STEP_MS as u32;
        let mut deadline = if sig == libc::SIGKILL {
            grace
        } else {
            WAIT_STEPS
        };
        for i in 0.. {
            let secs = sys::monotonic_secs() - t0;
            let m = mem.read()?;
            if sig != libc::SIGKILL {
                crate::debug!("{}", Report(&m));
                // earlyoom's escalation: memory fell to the SIGKILL limits while we waited.
                // Ours adds one: SIGTERM ignored for the whole wait (earlyoom #354, #373).
                if decide(&m, &self.limits) == Action::Kill || i >= WAIT_STEPS {
                    sig = libc::SIGKILL;
                    let group = match group {
                        Some(g) if !self.group_still_ours(v, g) => {
                            crate::warn!(
                                "process group {}: process {} has exited or left it, not signalling the group again (its id may have been reused)\n",
                                g,
                                v.pid
                            );
                            None
                        }
                        g => g,
                    };
                    match self.kill_release(v, pidfd, group, sig) {
                        // Exited meanwhile: the wait below sees it.
                        Err(e) if e.0 == libc::ESRCH => {}
                        Err(e) => return Ok(Outcome::Failed(e)),
                        Ok(()) => {
                            let mut cg = Text::new();
                            crate::log::record(
                                crate::log::Level::Warn,
                                Kind::Escalate,
                                &self.fields(v, sig, &mut cg),
                                format_args!("escalating to SIGKILL after {:.3} seconds\n", secs),
                            );
                        }
                    }
                    deadline = deadline.max(i + grace);
                }
            } else if crate::log::debug_enabled() {
                crate::info!("{}", Report(&m));
            }
            tick(&self.counters, &m);
            if self.gone(v, pidfd, group) {
                let mut cg = Text::new();
                crate::log::record(
                    crate::log::Level::Warn,
                    Kind::Exited,
                    &self.fields(v, sig, &mut cg),
                    format_args!("process {} exited after {:.3} seconds\n", shown_pid, secs),
                );
                return Ok(Outcome::Exited { secs });
            }
            if i >= deadline {
                break;
            }
            match pidfd {
                Some(fd) if group.is_none() => {
                    self.sys.wait_exit(fd, WAIT_STEP_MS);
                }
                _ => self.sys.sleep_ms(WAIT_STEP_MS as u64),
            }
        }
        let mut cg = Text::new();
        crate::log::record(
            crate::log::Level::Warn,
            Kind::Failed,
            &self.fields(v, sig, &mut cg),
            format_args!("process {} did not exit\n", shown_pid),
        );
        Ok(Outcome::DidNotExit {
            sigkilled: sig == libc::SIGKILL,
        })
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
            hooks::run_program(&mut self.children, &post, v.into(), 0);
        }
    }

    /// `--kernel-oom`: write `f` to `<proc>/sysrq-trigger` (kill.c:246-283). Returns false if
    /// it could not be done.
    pub fn trigger_kernel_oom(&mut self, sysrq: &[u8], dryrun: bool) -> bool {
        let shown = String::from_utf8_lossy(sysrq);
        if let Err(e) = sys::access_w(sysrq) {
            crate::warn!(
                "trigger_kernel_oom: no permission to write to {}: {}\n",
                shown,
                e
            );
            return false;
        }
        if dryrun {
            return true;
        }
        if let Err((what, e)) = sys::write_file(sysrq, b"f") {
            crate::warn!("trigger_kernel_oom: failed to {} {}: {}\n", what, shown, e);
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
