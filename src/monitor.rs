//! The monitoring loop (docs/contract.md §4.3), and only the loop: read → decide → (report
//! and watch cgroups) or (relieve: kernel OOM killer, or select → recheck → kill) → metrics
//! → sleep. Startup is startup.rs; every side effect goes through the [`Sys`] seam, so tests
//! drive [`Daemon::iterate`] with a recorder and a fake clock.

use crate::act::Explained;
use crate::cfmt::pct;
use crate::cgroup::CgroupRoot;
use crate::decide::{decide, Action, Approach};
use crate::guard::{Guard, Trip};
use crate::journal::{Fields, Kind};
use crate::kill::{Killer, Outcome, Signal, Watch};
use crate::meminfo::{self, MemInfo, Report};
use crate::metrics::{Counters, Metrics, NoKill, Reason};
use crate::pressure::{Sampler, Trigger, Verdict};
use crate::proc::ProcRoot;
use crate::proc::Text;
use crate::scope::Scopes;
use crate::seam::Sys;
use crate::settings::Settings;
use crate::storm::Storms;
use crate::victim::{Scanner, Victim};
use crate::warn::Episodes;
use crate::Fatal;

/// How low memory is relieved: earlyoom kills a victim itself, or with `--kernel-oom`
/// (when the self-test found it permitted) has the kernel's OOM killer do it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relief {
    Kill,
    KernelOom,
}

/// `--memory-pressure`: the trigger and what it reads.
pub struct PressureWatch {
    pub trigger: Trigger,
    pub sampler: Sampler,
}

/// The running daemon: everything the loop needs, allocated once.
pub struct Daemon<S: Sys> {
    pub settings: Settings,
    pub root: ProcRoot,
    pub mem: meminfo::Reader,
    pub scanner: Scanner,
    pub killer: Killer,
    pub sys: S,
    pub relief: Relief,
    /// `--livelock-guard`, when active.
    pub guard: Option<Guard>,
    /// `--metrics-file`, when given.
    pub metrics: Option<Metrics>,
    /// What the metrics file reports.
    pub counters: Counters,
    /// `--cgroup-headroom`, when active.
    pub scopes: Option<Scopes>,
    /// `--storm-guard`: the last kills.
    pub storms: Option<Storms>,
    /// Where cgroup v2 is mounted (`--cgroup-kill`, the storm guard's cgroup source).
    pub cgroup_root: CgroupRoot,
    /// The daemon's own cgroup, as /proc/self/cgroup gives it (never killed whole).
    pub my_cgroup: Text,
    /// `--cgroup-kill`, when active (asked for, and the hierarchy is cgroup v2).
    pub cgroup_kill: bool,
    /// The rate limit of the "no kill" lines.
    pub explained: Explained,
    /// `--memory-pressure`, when active.
    pub pressure: Option<PressureWatch>,
    /// `--warn`.
    pub warn: Option<Episodes>,
    /// The adaptive sleep's memory of the last poll (falling towards the line).
    pub approach: Approach,
    report_countdown_ms: i64,
}

impl<S: Sys> Daemon<S> {
    /// A daemon over `root` (a fixture tree in tests) without any startup side effect,
    /// keeping the /proc/meminfo reader startup opened (earlyoom reads meminfo once before
    /// parsing options and keeps that file open).
    pub fn new(settings: Settings, root: ProcRoot, mem: meminfo::Reader, sys: S) -> Daemon<S> {
        let scanner = Scanner::new(root.clone(), settings.select, settings.matchers.clone());
        Daemon {
            killer: Killer::new(settings.kill.clone()),
            settings,
            root,
            mem,
            scanner,
            sys,
            relief: Relief::Kill,
            guard: None,
            metrics: None,
            counters: Counters::default(),
            scopes: None,
            storms: None,
            cgroup_root: CgroupRoot::default(),
            my_cgroup: Text::new(),
            cgroup_kill: false,
            explained: Explained::default(),
            pressure: None,
            warn: None,
            approach: Approach::default(),
            report_countdown_ms: 0,
        }
    }

    pub fn sysrq_path(&self) -> Vec<u8> {
        let mut p = self.root.0.clone();
        p.extend_from_slice(b"/sysrq-trigger");
        p
    }

    /// Rewrites the metrics file (if any).
    pub fn write_metrics(&mut self, m: &MemInfo) {
        let Some(f) = self.metrics.as_mut() else {
            return;
        };
        let c = &mut self.counters;
        c.livelocked_cgroups = self.guard.as_ref().map_or(0, |g| {
            g.watched.iter().filter(|w| w.tracker.suspicious()).count() as u64
        });
        if let Some(s) = self.scopes.as_ref() {
            c.capped_cgroups = s.capped.len() as u64;
            c.low_cgroups = s.low as u64;
        }
        let now = self.sys.now();
        f.write(now, c, m, &self.settings.limits, self.settings.kill.dryrun);
    }

    /// A victim scan (of the pids in `only`, or all), timed on the seam's clock for the
    /// metrics file and `-d` (earlyoom's "selecting victim took" line follows the table).
    pub fn scan(&mut self, only: Option<&[i32]>) -> Result<crate::victim::Selection, Fatal> {
        let t0 = self.sys.now();
        let sel = self.scanner.scan_among(only)?;
        let secs = self.sys.now() - t0;
        self.counters.last_scan_seconds = secs;
        if crate::log::debug_enabled() {
            let us = (secs * 1e6) as i64;
            crate::debug!("selecting victim took {}.{:03} ms\n", us / 1000, us % 1000);
        }
        Ok(sel)
    }

    /// One poll; returns how long to sleep. Allocation-free unless it kills.
    pub fn iterate(&mut self) -> Result<u32, Fatal> {
        self.sys.reap();
        let m = self.mem.read()?;
        let action = decide(&m, &self.settings.limits);
        let verdict = self.pressure_step(&m);
        let mut last = m;
        if action != Action::None {
            last = self.relieve(&m, action)?;
            if self.relief == Relief::KernelOom {
                return Ok(500);
            }
        } else {
            let r = self.settings.report_interval_ms;
            if r > 0 && self.report_countdown_ms <= 0 {
                crate::info!("{}", Report(&m));
                self.report_countdown_ms = i64::from(r);
            }
            let now = self.sys.now();
            let trip = self
                .guard
                .as_mut()
                .and_then(|g| g.check(now, m.swap_free_kib));
            if let Some((i, trip)) = trip {
                self.break_livelock(i, &trip)?;
            }
            let low = self
                .scopes
                .as_mut()
                .and_then(|s| s.check(now, m.swap_free_kib));
            if let Some(low) = low {
                self.relieve_cgroup(low)?;
            }
            if self
                .warn
                .as_mut()
                .is_some_and(|w| w.step(m.mem_available_percent))
            {
                self.warn_now(&m)?;
            }
            match verdict {
                Some(v @ Verdict::Fire { .. }) => self.relieve_pressure(&v)?,
                Some(v @ Verdict::Gated { .. }) => self.explain_gated(&v),
                _ => {}
            }
        }
        if self.metrics.as_ref().is_some_and(Metrics::due) {
            self.write_metrics(&last);
        }
        let now = self.sys.now();
        let mut ms = self.approach.sleep_ms(now, &last, &self.settings.limits);
        if let Some(s) = self.scopes.as_ref() {
            ms = s.max_sleep_ms(ms);
        }
        crate::debug!("adaptive sleep time: {} ms\n", ms);
        self.report_countdown_ms -= i64::from(ms);
        if let Some(f) = self.metrics.as_mut() {
            f.slept(ms);
        }
        Ok(ms)
    }

    /// Memory is at or below a line: say so, then relieve it by the configured way. Returns
    /// the last meminfo read.
    fn relieve(&mut self, m: &MemInfo, action: Action) -> Result<MemInfo, Fatal> {
        crate::log::emit(crate::log::Level::LowReport, format_args!("{}", Report(m)));
        let l = &self.settings.limits;
        if action == Action::Kill {
            crate::warn!(
                "low memory! at or below SIGKILL limits: mem {}%, swap {}%\n",
                pct(l.mem_kill_percent),
                pct(l.swap_kill_percent)
            );
        } else {
            crate::warn!(
                "low memory! at or below SIGTERM limits: mem {}%, swap {}%\n",
                pct(l.mem_term_percent),
                pct(l.swap_term_percent)
            );
        }
        if self.relief == Relief::KernelOom {
            let path = self.sysrq_path();
            let write = !self.settings.kill.dryrun;
            self.killer.kernel_oom(&mut self.sys, &path, write);
            return Ok(*m);
        }
        let sel = self.scan(None)?;
        // Double-check before killing (earlyoom v1.6.2): the scan takes time and memory
        // may have been freed meanwhile. The originally decided signal is used.
        let last = self.mem.read()?;
        if decide(&last, &self.settings.limits) == Action::None {
            crate::warn!("memory situation has recovered while selecting victim\n");
            self.counters.not_killed(NoKill::Recovered);
        } else if let Some(v) = sel.victim.as_ref() {
            self.kill(v, Signal::of(action), Reason::Memory, None)?;
        } else {
            self.killer.no_victim(&mut self.sys);
            let line = match action {
                Action::Kill => "memory is at or below the SIGKILL line",
                _ => "memory is at or below the SIGTERM line",
            };
            self.explain_no_victim(None, line, &sel.skipped);
            self.sys.sleep_ms(1000);
        }
        Ok(last)
    }

    /// Kills `v` for `reason` (for cgroup `scope` of the headroom watcher, whose headroom
    /// then decides the escalation), counting what is sent and keeping the metrics file
    /// fresh meanwhile; remembers a victim that SIGKILL did not end. With `--storm-guard`
    /// a victim that continues a storm has its source killed instead, and with
    /// `--cgroup-kill` a victim in a workload cgroup takes its whole cgroup with it.
    pub(crate) fn kill(
        &mut self,
        v: &Victim,
        sig: Signal,
        reason: Reason,
        scope: Option<usize>,
    ) -> Result<(), Fatal> {
        let record = match self.storms.is_some() && reason != Reason::Livelock {
            true => Some(self.kill_record(v)),
            false => None,
        };
        if let Some(r) = record.as_ref() {
            if self.break_storm(v, r)? {
                return Ok(());
            }
        }
        if self.cgroup_kill && self.kill_whole_cgroup(v, reason)? {
            if let (Some(s), Some(r)) = (self.storms.as_mut(), record) {
                s.record(r);
            }
            return Ok(());
        }
        let mut watch = Waiting {
            mem: &mut self.mem,
            settings: &self.settings,
            metrics: &mut self.metrics,
            counters: &mut self.counters,
            scope: self.scopes.as_mut().zip(scope),
            reason,
            comm: v.comm.as_bytes(),
        };
        let outcome = self
            .killer
            .kill(&mut self.sys, v, sig, reason, &mut watch)?;
        match outcome {
            Outcome::Replaced => self.counters.not_killed(NoKill::Replaced),
            Outcome::DryRun => self.counters.not_killed(NoKill::DryRun),
            _ => {}
        }
        if !matches!(outcome, Outcome::Replaced | Outcome::Failed(_)) {
            self.after_kill();
            if let (Some(s), Some(r)) = (self.storms.as_mut(), record) {
                s.record(r);
            }
        }
        if let Outcome::DidNotExit { sigkilled: true } = outcome {
            crate::warn!(
                "process {} did not exit after SIGKILL; passing over it from now on\n",
                v.pid
            );
            self.scanner.unkillable.remember(v.pid, v.starttime);
        }
        if let Some(f) = self.metrics.as_mut() {
            f.soon();
        }
        Ok(())
    }

    /// The guard found cgroup `i` livelocked: explain it in one line, then kill the best
    /// victim among that cgroup's processes with the main killer's rules and kill path.
    fn break_livelock(&mut self, i: usize, trip: &Trip) -> Result<(), Fatal> {
        let Some(guard) = self.guard.as_mut() else {
            return Ok(());
        };
        let path = guard.watched[i].path.clone();
        guard.watched[i].tracker.reset();
        let shown = path
            .strip_prefix(&guard.root.0)
            .map_or(path.clone(), |p| std::path::Path::new("/").join(p));
        let sel = self.victim_in(&path, &shown, "livelock guard")?;
        let s = &trip.sample;
        let mib = |b: u64| b as f64 / 1048576.0;
        let max = s
            .max
            .map_or("max".to_string(), |m| format!("{:.1} MiB", mib(m)));
        let what = crate::act::action_text(
            sel.victim.as_ref(),
            self.settings.kill.dryrun,
            "no process to kill in it",
        );
        let cgroup = shown.as_os_str().as_encoded_bytes();
        // The kill that follows has its own entry, with the signal it sent.
        let fields = Fields::of(sel.victim.as_ref(), "", Reason::Livelock.label(), cgroup);
        crate::log::record(
            crate::log::Level::Warn,
            Kind::Livelock,
            &fields,
            format_args!(
                "livelock guard: cgroup {}: usage {:.1} MiB >= memory.high {:.1} MiB (memory.max {}), full stall {:.1}% for {:.1} s, memory.events high +{:.0}/s, reclaimable {:.1} MiB, {}: {}\n",
                shown.display(),
                mib(s.current),
                mib(s.high),
                max,
                trip.stall_percent,
                trip.duration_s,
                trip.high_rate,
                mib(trip.reclaimable),
                if trip.swap_available { "swap available" } else { "no swap" },
                what
            ),
        );
        self.counters.livelock_trips += 1;
        if let Some(v) = sel.victim.as_ref() {
            self.kill(v, Signal::Term, Reason::Livelock, None)?;
        }
        Ok(())
    }

    /// The loop's sleep: a poll on the PSI triggers (the guard's, shorter while a cgroup
    /// looks livelocked, and `--memory-pressure`'s on the machine); without any, a plain
    /// sleep.
    pub fn sleep(&mut self, ms: u32) {
        let extra = self.pressure.as_ref().and_then(|p| p.sampler.trigger_fd());
        match self.guard.as_mut() {
            Some(g) => {
                let ms = g.max_sleep_ms(ms);
                g.wait(&mut self.sys, ms, extra);
            }
            None => match extra {
                Some(fd) => {
                    let mut p = [crate::sys::Poll::new(fd, libc::POLLPRI)];
                    if self.sys.poll(&mut p, ms as i32) < 0 {
                        self.sys.sleep_ms(u64::from(ms));
                    }
                }
                None => self.sys.sleep_ms(u64::from(ms)),
            },
        }
    }

    /// Polls forever; returns only on a fatal error.
    pub fn run(&mut self) -> Result<(), Fatal> {
        loop {
            let ms = self.iterate()?;
            self.sleep(ms);
        }
    }
}

/// The daemon's side of a kill's wait: memory for the escalation, counting each signal sent,
/// and the metrics file kept fresh.
struct Waiting<'a> {
    mem: &'a mut meminfo::Reader,
    settings: &'a Settings,
    metrics: &'a mut Option<Metrics>,
    counters: &'a mut Counters,
    /// The headroom watcher and the cgroup a kill is for: its headroom decides escalation.
    scope: Option<(&'a mut Scopes, usize)>,
    reason: Reason,
    comm: &'a [u8],
}

impl Watch for Waiting<'_> {
    fn step(&mut self, now: f64) -> Result<(MemInfo, Action), Fatal> {
        let m = self.mem.read()?;
        if let Some(f) = self.metrics.as_mut() {
            f.tick(
                now,
                self.counters,
                &m,
                &self.settings.limits,
                self.settings.kill.dryrun,
            );
        }
        let action = match self.scope.as_mut() {
            Some((s, i)) => s
                .resample(*i, m.swap_free_kib)
                .map_or(Action::None, |(_, _, a)| a),
            None => decide(&m, &self.settings.limits),
        };
        Ok((m, action))
    }

    fn sent(&mut self, sig: Signal) {
        self.counters
            .signal_sent(self.reason, sig.number(), self.comm);
    }
}
