//! Startup (spec §1.1) and the monitoring loop (§4.3): sample → decide → select → act → sleep.

use crate::cli::{self, Config, Event, Parsed, Totals};
use crate::decide::{decide, sleep_time_ms, Action, Limits};
use crate::guard::{Guard, GuardConfig, Trip};
use crate::journal::{Fields, Kind};
use crate::kill::{KillConfig, Killer, Outcome, RealSys, Sys};
use crate::log::pct;
use crate::meminfo::{self, MemInfo, Report};
use crate::metrics::{Counters, MetricsFile, Reason};
use crate::procfs::ProcRoot;
use crate::sys::{self, Errno};
use crate::victim::{Matchers, Options, Scanner, Victim};
use crate::Fatal;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// The running daemon: everything the loop needs, allocated once.
pub struct Daemon<S: Sys> {
    pub cfg: Config,
    pub limits: Limits,
    pub root: ProcRoot,
    pub mem: meminfo::Reader,
    pub scanner: Scanner,
    pub killer: Killer<S>,
    /// `--livelock-guard`, when active.
    pub guard: Option<Guard>,
    /// `--metrics-file`, when given.
    pub metrics: Option<Metrics>,
    report_countdown_ms: i64,
}

/// The metrics file and when it is due.
pub struct Metrics {
    file: MetricsFile,
    /// Milliseconds until the next write (the loop counts its sleeps down).
    countdown_ms: i64,
    /// CLOCK_MONOTONIC of the last write (a kill in progress counts real time).
    last_write: f64,
    failing: bool,
    interval_ms: i64,
}

impl Metrics {
    pub fn new(file: MetricsFile, report_interval_ms: i32) -> Metrics {
        // At the report interval, but at least every 10 s and at most every second.
        let r = i64::from(report_interval_ms);
        Metrics {
            file,
            countdown_ms: 0,
            last_write: f64::NEG_INFINITY,
            failing: false,
            interval_ms: if r > 0 {
                r.clamp(1000, METRICS_INTERVAL_MS)
            } else {
                METRICS_INTERVAL_MS
            },
        }
    }

    /// Rewrites the file; a failure is logged once, and again after recovery.
    pub fn write(&mut self, c: &Counters, m: &MemInfo, l: &Limits, dryrun: bool) {
        match self.file.write(c, m, l, dryrun) {
            Ok(()) if self.failing => {
                self.failing = false;
                crate::warn!("metrics: writing the metrics file works again\n");
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                crate::warn!("metrics: could not write the metrics file: {}\n", e);
            }
            Err(_) => {}
        }
        self.countdown_ms = self.interval_ms;
        self.last_write = sys::monotonic_secs();
    }

    /// While a kill is waited out: rewrite when an interval has passed, so that "the daemon
    /// is not reporting" never fires because one victim is slow to exit.
    pub fn tick(&mut self, c: &Counters, m: &MemInfo, l: &Limits, dryrun: bool) {
        if (sys::monotonic_secs() - self.last_write) * 1000.0 >= self.interval_ms as f64 {
            self.write(c, m, l, dryrun);
        }
    }
}

/// The metrics file is rewritten at least this often (and after every kill), so that
/// "the daemon is not reporting" can be alerted on even with `-r 3600`.
const METRICS_INTERVAL_MS: i64 = 10_000;

impl<S: Sys> Daemon<S> {
    /// Builds a daemon over `root` (a fixture tree in tests) without any startup side effect.
    pub fn new(
        cfg: Config,
        root: ProcRoot,
        matchers: Matchers,
        sys: S,
    ) -> Result<Daemon<S>, Fatal> {
        let mem = meminfo::Reader::open(&root.0)?;
        Ok(Daemon::with_reader(cfg, root, mem, matchers, sys))
    }

    /// As [`Daemon::new`], keeping the /proc/meminfo reader startup already opened (earlyoom
    /// reads meminfo once before parsing options and keeps that file open).
    pub fn with_reader(
        cfg: Config,
        root: ProcRoot,
        mem: meminfo::Reader,
        matchers: Matchers,
        sys: S,
    ) -> Daemon<S> {
        let limits = Limits::from(&cfg);
        let scanner = Scanner::new(
            root.clone(),
            Options {
                sort_by_rss: cfg.sort_by_rss,
                ignore_root_user: cfg.ignore_root_user,
            },
            matchers,
        );
        let kcfg = KillConfig {
            dryrun: cfg.dryrun,
            kill_group: cfg.kill_process_group,
            notify: cfg.notify,
            post_hook: cfg.notify_ext.clone(),
            pre_hook: cfg.pre_hook.clone(),
        };
        Daemon {
            killer: Killer::new(sys, kcfg, limits),
            cfg,
            limits,
            root,
            mem,
            scanner,
            guard: None,
            metrics: None,
            report_countdown_ms: 0,
        }
    }

    fn sysrq_path(&self) -> Vec<u8> {
        let mut p = self.root.0.clone();
        p.extend_from_slice(b"/sysrq-trigger");
        p
    }

    /// earlyoom's `startup_selftests` (main.c:70-124): check `--kernel-oom` permissions, or
    /// dry-run a whole victim search and signal 0 (which also grows the stack before
    /// mlockall); then the `-N`/`-P` path checks.
    pub fn selftest(&mut self) -> Result<(), Fatal> {
        if self.cfg.kernel_oom {
            let path = self.sysrq_path();
            if !self.killer.trigger_kernel_oom(&path, true) {
                crate::warn!("startup_selftests: kernel OOM killer permission check failed, use user mode instead\n");
                self.cfg.kernel_oom = false;
            }
        } else {
            self.killer.probe(&self.root);
            crate::debug!("startup_selftests: dry-running oom kill...\n");
            let sel = self.scanner.scan()?;
            self.killer
                .kill_process(&mut self.mem, sel.victim.as_ref(), 0, &mut |_, _| {})?;
        }
        self.killer.cfg.post_hook =
            crate::hooks::check_program(self.killer.cfg.post_hook.take(), "-N", "notify script");
        self.killer.cfg.pre_hook =
            crate::hooks::check_program(self.killer.cfg.pre_hook.take(), "-P", "pre-hook program");
        Ok(())
    }

    /// The limits banner (main.c:434-445), plain stderr.
    pub fn print_limits(&self, m: &MemInfo) {
        crate::plain!(
            "mem total: {:4} MiB, user mem total: {:4} MiB, swap total: {:4} MiB\n",
            m.mem_total_kib / 1024,
            m.user_mem_total_kib / 1024,
            m.swap_total_kib / 1024
        );
        let l = &self.limits;
        if self.cfg.kernel_oom {
            crate::plain!(
                "triggering kernel oom when mem avail <= {}% and swap free <= {}%,\n",
                pct(l.mem_term_percent),
                pct(l.swap_term_percent)
            );
        } else {
            crate::plain!(
                "sending SIGTERM when mem avail <= {}% and swap free <= {}%,\n        SIGKILL when mem avail <= {}% and swap free <= {}%\n",
                pct(l.mem_term_percent),
                pct(l.swap_term_percent),
                pct(l.mem_kill_percent),
                pct(l.swap_kill_percent)
            );
        }
    }

    /// Rewrites the metrics file (if any).
    pub fn write_metrics(&mut self, m: &MemInfo) {
        let Some(f) = self.metrics.as_mut() else {
            return;
        };
        let c = &mut self.killer.counters;
        c.last_scan_seconds = self.scanner.last_scan_seconds;
        c.livelocked_cgroups = self.guard.as_ref().map_or(0, |g| {
            g.watched.iter().filter(|w| w.tracker.suspicious()).count() as u64
        });
        f.write(c, m, &self.limits, self.cfg.dryrun);
    }

    /// Kills `victim` (None: earlyoom's "could not find a process") for `reason`, keeping the
    /// metrics file fresh meanwhile, and remembers a victim that SIGKILL did not end.
    fn kill(&mut self, victim: Option<&Victim>, sig: i32, reason: Reason) -> Result<(), Fatal> {
        self.killer.reason = reason;
        self.killer.counters.last_scan_seconds = self.scanner.last_scan_seconds;
        let (limits, dryrun) = (self.limits, self.cfg.dryrun);
        let metrics = &mut self.metrics;
        let outcome = self
            .killer
            .kill_process(&mut self.mem, victim, sig, &mut |c, m| {
                if let Some(f) = metrics.as_mut() {
                    f.tick(c, m, &limits, dryrun);
                }
            })?;
        if let (Outcome::DidNotExit { sigkilled: true }, Some(v)) = (outcome, victim) {
            crate::warn!(
                "process {} did not exit after SIGKILL; passing over it from now on\n",
                v.pid
            );
            self.scanner.unkillable.remember(v.pid, v.starttime);
        }
        if let Some(f) = self.metrics.as_mut() {
            f.countdown_ms = 0;
        }
        Ok(())
    }

    /// One poll; returns how long to sleep. Allocation-free unless it kills.
    pub fn iterate(&mut self) -> Result<u32, Fatal> {
        self.killer.children.reap();
        let m = self.mem.read()?;
        let action = decide(&m, &self.limits);
        let mut last = m;
        if action != Action::None {
            crate::warn!("{}", Report(&m));
            let l = &self.limits;
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
            if self.cfg.kernel_oom {
                let path = self.sysrq_path();
                self.killer.trigger_kernel_oom(&path, self.cfg.dryrun);
                return Ok(500);
            }
            let sel = self.scanner.scan()?;
            // Double-check before killing (earlyoom v1.6.2): the scan takes time and memory
            // may have been freed meanwhile. The originally decided signal is used.
            last = self.mem.read()?;
            if decide(&last, &self.limits) == Action::None {
                crate::warn!("memory situation has recovered while selecting victim\n");
            } else {
                self.kill(sel.victim.as_ref(), action.signal(), Reason::Memory)?;
            }
        } else {
            if self.cfg.report_interval_ms > 0 && self.report_countdown_ms <= 0 {
                crate::info!("{}", Report(&m));
                self.report_countdown_ms = self.cfg.report_interval_ms as i64;
            }
            let trip = self.guard.as_mut().and_then(|g| g.check(m.swap_free_kib));
            if let Some((i, trip)) = trip {
                self.break_livelock(i, &trip)?;
            }
        }
        if self.metrics.as_ref().is_some_and(|f| f.countdown_ms <= 0) {
            self.write_metrics(&last);
        }
        let ms = sleep_time_ms(&last, &self.limits);
        crate::debug!("adaptive sleep time: {} ms\n", ms);
        self.report_countdown_ms -= ms as i64;
        if let Some(f) = self.metrics.as_mut() {
            f.countdown_ms -= ms as i64;
        }
        Ok(ms)
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
        let pids = crate::cgroup::procs(&path);
        let mut sel = self.scanner.scan_among(Some(&pids))?;
        // The victim must still be a member when it is signalled: cgroup.procs was read
        // before the scan chose. It is a member if its pid is in the cgroup's list read now
        // and the pinned process was there before and after that read (then the pid in the
        // list is that process, not a newcomer with its number). This holds whatever
        // namespace /proc/PID/cgroup would show the paths relative to.
        if let Some(v) = sel.victim.take() {
            let member = v.still_itself()
                && crate::cgroup::procs(&path).binary_search(&v.pid).is_ok()
                && v.still_itself();
            if member {
                sel.victim = Some(v);
            } else {
                crate::warn!(
                    "livelock guard: process {} left cgroup {} since it was chosen, not signalling it\n",
                    v.pid,
                    shown.display()
                );
            }
        }
        let s = &trip.sample;
        let mib = |b: u64| b as f64 / 1048576.0;
        let max = s
            .max
            .map_or("max".to_string(), |m| format!("{:.1} MiB", mib(m)));
        let what = match (&sel.victim, self.cfg.dryrun) {
            (Some(v), false) => format!("killing process {} \"{}\"", v.pid, v.comm.display()),
            (Some(v), true) => format!("would kill process {} \"{}\"", v.pid, v.comm.display()),
            (None, _) => "no process to kill in it".to_string(),
        };
        let cgroup = shown.as_os_str().as_encoded_bytes();
        let fields = sel.victim.as_ref().map_or(
            Fields {
                reason: Reason::Livelock.label(),
                cgroup,
                ..Fields::default()
            },
            |v| Fields {
                pid: v.pid,
                uid: v.uid,
                comm: v.comm.as_bytes(),
                // The kill that follows has its own entry, with the signal it sent.
                signal: "",
                rss_kib: v.rss_kib,
                oom_score: v.oom_score,
                reason: Reason::Livelock.label(),
                cgroup,
            },
        );
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
        self.killer.counters.livelock_trips += 1;
        if let Some(v) = sel.victim.as_ref() {
            self.kill(Some(v), libc::SIGTERM, Reason::Livelock)?;
        }
        Ok(())
    }

    /// Polls forever; returns only on a fatal error.
    pub fn run(&mut self) -> Result<(), Fatal> {
        loop {
            let ms = self.iterate()?;
            match self.guard.as_mut() {
                Some(g) => {
                    let ms = g.max_sleep_ms(ms);
                    g.wait(ms);
                }
                None => self.killer.sys.sleep_ms(ms as u64),
            }
        }
    }
}

/// Replays the parser's messages; `--syslog` takes effect where it stood in argv.
fn replay(events: Vec<Event>) {
    for e in events {
        match e {
            Event::Plain(b) => crate::log::plain_bytes(&b),
            Event::Warn(b) => crate::log::emit_bytes(crate::log::Level::Warn, &b),
            Event::Syslog => crate::log::enable_syslog(),
        }
    }
}

/// `-p`: nice -20 and oom_score_adj -100 for ourselves (main.c:416-430).
fn raise_priority(root: &ProcRoot) {
    // SAFETY: plain syscall.
    let nice_ok = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) } == 0;
    if !nice_ok {
        crate::warn!(
            "Could not set priority: {}. Continuing anyway\n",
            Errno::last()
        );
    }
    let mut path = root.0.clone();
    path.extend_from_slice(format!("/{}/oom_score_adj", sys::getpid()).as_bytes());
    let adj_ok = match std::fs::write(OsStr::from_bytes(&path), b"-100") {
        Ok(()) => true,
        Err(e) => {
            crate::warn!(
                "Could not set oom_score_adj: {}. Continuing anyway\n",
                Errno::from(e)
            );
            false
        }
    };
    if nice_ok && adj_ok {
        crate::plain!("Priority was raised successfully\n");
    }
}

/// mlockall so the daemon never waits on its own page-ins when memory is short (main.c:447-454).
fn lock_memory() {
    const MCL_ONFAULT: i32 = 4;
    // SAFETY: plain syscalls.
    let ok = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | MCL_ONFAULT) } == 0
        || unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0;
    if !ok {
        crate::plain!(
            "Could not lock memory - continuing anyway: {}\n",
            Errno::last()
        );
    }
}

/// earlyoom's `main` after the banner (spec §1.1 steps 4-15). Returns Ok(()) for `-h`/`-v`;
/// otherwise runs forever or returns the fatal error.
pub fn main(args: &[OsString]) -> Result<(), Fatal> {
    crate::journal::detect();
    let root = ProcRoot::default();
    // earlyoom works relative to /proc; failing that is exit 4.
    // SAFETY: NUL-terminated literal.
    if unsafe { libc::chdir(c"/proc".as_ptr()) } != 0 {
        return Err(Fatal::ProcChdir(Errno::last()));
    }
    // Hooks and dbus-send must not inherit CAP_KILL/CAP_IPC_LOCK from systemd's ambient set
    // (earlyoom #228). Failure (old kernels) is ignored, as earlyoom does.
    // SAFETY: plain prctl.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    // meminfo is read before the options: -M/-S limits come from it, and -h fails like
    // earlyoom when /proc is unusable.
    let mut mem = meminfo::Reader::open(&root.0)?;
    let m0 = mem.read()?;
    let totals = Totals {
        mem_total_kib: m0.mem_total_kib,
        swap_total_kib: m0.swap_total_kib,
    };
    let parsed = cli::parse(args, totals, std::env::var_os("POSIXLY_CORRECT").is_some());
    let debug = matches!(&parsed.outcome, Ok(Parsed::Run(c)) if c.debug);
    crate::log::set_debug(debug);
    replay(parsed.events);
    let cfg = match parsed.outcome? {
        Parsed::Exit => return Ok(()),
        Parsed::Run(c) => *c,
    };
    let matchers = Matchers::from_config(&cfg)?;
    if cfg.set_priority {
        raise_priority(&root);
    }
    // Watching cgroups, pidfds, hooks and the scan must never run out of fds.
    sys::raise_nofile();
    let mut d = Daemon::with_reader(cfg, root, mem, matchers, RealSys);
    // The daemon is single-threaded: every child that ends is ours to reap (earlyoom's
    // SIGCHLD handler reaps them all too).
    d.killer.children.adopt_foreign();
    if d.cfg.livelock_guard {
        let gcfg = GuardConfig {
            window_s: d.cfg.livelock_window_s,
            stall_percent: d.cfg.livelock_stall_percent,
        };
        let root = crate::cgroup::CgroupRoot::default();
        match Guard::new(root.clone(), gcfg) {
            Ok(g) => {
                crate::plain!(
                    "livelock guard: watching cgroups with a finite memory.high under {} (window {} s, full stall >= {}%)\n",
                    root.0.display(),
                    gcfg.window_s,
                    gcfg.stall_percent
                );
                d.guard = Some(g);
            }
            Err(why) => crate::warn!("livelock guard: inactive: {}\n", why),
        }
    }
    if let Some(p) = d.cfg.metrics_file.clone() {
        let file = MetricsFile::new(std::path::Path::new(OsStr::from_bytes(&p)));
        d.metrics = Some(Metrics::new(file, d.cfg.report_interval_ms));
    }
    d.selftest()?;
    d.print_limits(&m0);
    d.write_metrics(&m0);
    lock_memory();
    d.run()
}
