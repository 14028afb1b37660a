//! earlyoom's startup, in its order (docs/contract.md §1.1 steps 4-15): chdir to /proc,
//! ambient capabilities, the first meminfo read, the options, the settings and their notices,
//! `-p`, the self-test, the limits banner, mlockall; then the loop (monitor.rs).

use crate::cfmt::pct;
use crate::cli::{self, Event, Parsed, Totals};
use crate::guard::Guard;
use crate::kill::Signal;
use crate::meminfo::{self, MemInfo};
use crate::metrics::{Metrics, MetricsFile, Reason};
use crate::monitor::{Daemon, Relief};
use crate::proc::ProcRoot;
use crate::seam::{RealSys, Sys};
use crate::settings::Settings;
use crate::sys;
use crate::Fatal;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

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
    let nice = sys::set_nice(-20);
    if let Err(e) = nice {
        crate::warn!("Could not set priority: {}. Continuing anyway\n", e);
    }
    let mut path = root.0.clone();
    path.extend_from_slice(format!("/{}/oom_score_adj", sys::getpid()).as_bytes());
    let adj = std::fs::write(OsStr::from_bytes(&path), b"-100");
    if let Err(e) = &adj {
        let e = sys::Errno(e.raw_os_error().unwrap_or(libc::EIO));
        crate::warn!("Could not set oom_score_adj: {}. Continuing anyway\n", e);
    }
    if nice.is_ok() && adj.is_ok() {
        crate::plain!("Priority was raised successfully\n");
    }
}

impl<S: Sys> Daemon<S> {
    /// earlyoom's `startup_selftests` (main.c:70-124): check `--kernel-oom` permissions, or
    /// find how to signal and dry-run a whole victim search with signal 0 (which also grows
    /// the stack before mlockall); then the `-N`/`-P` path warnings.
    pub fn selftest(&mut self, hook_warnings: &[String]) -> Result<(), Fatal> {
        self.relief = Relief::Kill;
        if self.settings.kernel_oom {
            let path = self.sysrq_path();
            if self.killer.kernel_oom(&mut self.sys, &path, false) {
                self.relief = Relief::KernelOom;
            } else {
                crate::warn!("startup_selftests: kernel OOM killer permission check failed, use user mode instead\n");
            }
        } else {
            self.killer.probe(&mut self.sys, &self.root);
            crate::debug!("startup_selftests: dry-running oom kill...\n");
            let sel = self.scan(None)?;
            match sel.victim.as_ref() {
                Some(v) => {
                    let mut none = NoWatch;
                    self.killer
                        .kill(&mut self.sys, v, Signal::Probe, Reason::Memory, &mut none)?;
                }
                None => {
                    self.killer.no_victim(&mut self.sys);
                    self.sys.sleep_ms(1000);
                }
            }
        }
        for w in hook_warnings {
            crate::log::emit_bytes(crate::log::Level::Warn, w.as_bytes());
        }
        Ok(())
    }

    /// `--cgroup-headroom`, `--cgroup-kill`, `--storm-guard`: one line each on what is on,
    /// or why it is inactive.
    pub fn start_scopes(&mut self) {
        let root = self.cgroup_root.clone();
        let dir = crate::proc::ProcDir::open(&self.root)
            .and_then(|d| d.open_pid(sys::getpid(), &mut sys::CPath::new()));
        if let Ok(me) = dir {
            me.cgroup(&mut self.my_cgroup);
        }
        if let Some(cfg) = self.settings.headroom {
            match crate::scope::Scopes::new(root.clone(), cfg) {
                Ok(s) => {
                    crate::plain!(
                        "cgroup headroom: watching cgroups with a finite memory.max under {} (SIGTERM at {}%, SIGKILL at {}% of memory.max)\n",
                        root.0.display(),
                        pct(cfg.term_percent),
                        pct(cfg.kill_percent)
                    );
                    self.scopes = Some(s);
                }
                Err(why) => crate::warn!("cgroup headroom: inactive: {}\n", why),
            }
        }
        if self.settings.cgroup_kill {
            match crate::cgroup::check_memory_v2(&root) {
                Ok(()) if self.my_cgroup.as_bytes().is_empty() => crate::warn!(
                    "cgroup kill: inactive: the daemon's own cgroup is unknown (/proc/self/cgroup has no cgroup v2 line)\n"
                ),
                Ok(()) => {
                    self.cgroup_kill = true;
                    crate::plain!(
                    "cgroup kill: a victim in an application scope, or in a cgroup with memory.oom.group set, takes its whole cgroup with it\n"
                    )
                }
                Err(why) => crate::warn!("cgroup kill: inactive: {}\n", why),
            }
        }
        if let Some(cfg) = self.settings.pressure {
            match crate::pressure::Sampler::new(&self.root.0) {
                Ok(mut sampler) => {
                    let armed = sampler.arm(cfg.percent);
                    crate::plain!(
                        "memory pressure: SIGTERM when the full stall stays >= {}% for {} s while mem avail <= {}% or the system swaps out >= {} pages/s ({})\n",
                        pct(cfg.percent),
                        cfg.seconds,
                        pct(crate::pressure::soft_line(self.settings.limits.mem_term_percent)),
                        crate::pressure::SWAP_PAGES_PER_S,
                        if armed { "PSI trigger armed" } else { "no PSI trigger: sampled on every poll" }
                    );
                    self.pressure = Some(crate::monitor::PressureWatch {
                        trigger: crate::pressure::Trigger::new(cfg),
                        sampler,
                    });
                }
                Err(why) => crate::warn!("memory pressure: inactive: {}\n", why),
            }
        }
        if let Some(w) = self.settings.warn.as_ref() {
            crate::plain!(
                "warning at mem avail <= {}%{}\n",
                pct(w.percent),
                if w.hook.is_some() {
                    ", with --warn-hook"
                } else {
                    ""
                }
            );
            self.warn = Some(crate::warn::Episodes::new(w.percent));
        }
        if self.settings.storm_guard {
            crate::plain!(
                "storm guard: when {} kills within {} s hit processes younger than {} s that share a parent, process group or cgroup, that source is killed instead\n",
                crate::storm::STORM_KILLS,
                crate::storm::STORM_WINDOW_S,
                crate::storm::STORM_YOUNG_S
            );
            self.storms = Some(crate::storm::Storms::default());
        }
    }

    /// The limits banner (main.c:434-445), plain stderr.
    pub fn print_limits(&self, m: &MemInfo) {
        crate::plain!(
            "mem total: {:4} MiB, user mem total: {:4} MiB, swap total: {:4} MiB\n",
            m.mem_total_kib / 1024,
            m.user_mem_total_kib / 1024,
            m.swap_total_kib / 1024
        );
        let l = &self.settings.limits;
        if self.relief == Relief::KernelOom {
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
}

/// The self-test's probe sends nothing and waits for nothing.
struct NoWatch;

impl crate::kill::Watch for NoWatch {
    fn step(&mut self, _: f64) -> Result<(MemInfo, crate::decide::Action), Fatal> {
        Err(Fatal::MeminfoRead(None))
    }
    fn sent(&mut self, _: Signal) {}
}

/// earlyoom's `main` after the banner. Returns Ok(()) for `-h`/`-v`; otherwise runs forever
/// or returns the fatal error.
pub fn main(args: &[OsString]) -> Result<(), Fatal> {
    crate::journal::detect();
    let root = ProcRoot::default();
    // earlyoom works relative to /proc; failing that is exit 4.
    sys::chdir(c"/proc").map_err(Fatal::ProcChdir)?;
    sys::clear_ambient_caps();
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
    let (settings, notices) = Settings::new(&cfg)?;
    for line in &notices.regexes {
        crate::log::plain_bytes(line);
    }
    if settings.set_priority {
        raise_priority(&root);
    }
    // Watching cgroups, pidfds, hooks and the scan must never run out of fds.
    sys::raise_nofile();
    let mut sys_ = RealSys::default();
    // The daemon is single-threaded: every child that ends is ours to reap (earlyoom's
    // SIGCHLD handler reaps them all too).
    sys_.children.adopt_foreign();
    let mut d = Daemon::new(settings, root, mem, sys_);
    if let Some(gcfg) = d.settings.guard {
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
    d.start_scopes();
    if let Some(p) = d.settings.metrics_file.as_deref() {
        let file = MetricsFile::new(std::path::Path::new(OsStr::from_bytes(p)));
        d.metrics = Some(Metrics::new(file, d.settings.report_interval_ms));
    }
    d.selftest(&notices.hooks)?;
    d.print_limits(&m0);
    d.write_metrics(&m0);
    // mlockall so the daemon never waits on its own page-ins when memory is short.
    if let Err(e) = sys::lock_memory() {
        crate::plain!("Could not lock memory - continuing anyway: {}\n", e);
    }
    d.run()
}
