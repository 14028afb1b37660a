//! `earlyoomctl status`: memory and swap against the thresholds through the daemon's
//! [`decide`], the `--warn` line, system PSI and the machine's stall, swap-out and gates as
//! `--memory-pressure` judges them (crate::pressure), the cgroups the livelock guard
//! watches, sampled twice with the guard's own reader and judged by the guard's own
//! detector, and the headroom of every capped cgroup as `--cgroup-headroom` computes and
//! judges it ([`scope::read_cap`], [`scope::headroom`], [`scope::decide`]).

use crate::config::{self, Effective, OptionsJson};
use crate::host::{Brief, Host};
use crate::units;
use crate::CtlError;
use earlyoom::cgroup::{self, Files, Sample};
use earlyoom::decide::{decide, Action, Limits};
use earlyoom::guard::{self, GuardConfig, Tracker};
use earlyoom::meminfo::MemInfo;
use earlyoom::scope::{self, CapSample, Headroom, HeadroomConfig};
use serde::Serialize;
use std::path::PathBuf;

/// How many capped cgroups the text output lists (the tightest); `--json` lists all.
pub const HEADROOM_SHOWN: usize = 20;

/// `v` rounded to `digits` decimals, as the JSON shows percentages and rates (a value that
/// is not finite becomes null).
fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

/// How far one condition is from being met.
#[derive(Clone, Copy, Debug)]
pub struct Distance {
    pub threshold_percent: f64,
    pub now_percent: f64,
    /// Percentage points above the threshold; <= 0 means met.
    pub points: f64,
    /// The same in MiB of the total it is a percentage of.
    pub mib: f64,
    /// No swap: earlyoom counts it as 0 % free, so the swap condition is always met.
    pub no_swap: bool,
}

impl Distance {
    pub fn met(&self) -> bool {
        self.points <= 0.0
    }
    pub fn new(threshold: f64, now: f64, total_kib: i64, no_swap: bool) -> Distance {
        let points = now - threshold;
        Distance {
            threshold_percent: threshold,
            now_percent: now,
            points,
            mib: points * total_kib as f64 / 100.0 / 1024.0,
            no_swap,
        }
    }
    pub fn json(&self) -> DistanceJson {
        DistanceJson {
            threshold_percent: round(self.threshold_percent, 2),
            now_percent: round(self.now_percent, 2),
            points_away: round(self.points.max(0.0), 2),
            mib_away: round(self.mib.max(0.0), 1),
            met: self.met(),
            no_swap: self.no_swap,
        }
    }
}

#[derive(Serialize)]
pub struct DistanceJson {
    threshold_percent: f64,
    now_percent: f64,
    points_away: f64,
    mib_away: f64,
    met: bool,
    no_swap: bool,
}

pub struct Thresholds {
    pub limits: Limits,
    pub action: Action,
    pub mem_term: Distance,
    pub mem_kill: Distance,
    pub swap_term: Distance,
    pub swap_kill: Distance,
}

pub fn thresholds(m: &MemInfo, limits: Limits) -> Thresholds {
    let no_swap = m.swap_total_kib == 0;
    let mem = |t| Distance::new(t, m.mem_available_percent, m.user_mem_total_kib, false);
    let swap = |t| Distance::new(t, m.swap_free_percent, m.swap_total_kib, no_swap);
    Thresholds {
        action: decide(m, &limits),
        mem_term: mem(limits.mem_term_percent),
        mem_kill: mem(limits.mem_kill_percent),
        swap_term: swap(limits.swap_term_percent),
        swap_kill: swap(limits.swap_kill_percent),
        limits,
    }
}

pub fn action_key(a: Action) -> &'static str {
    match a {
        Action::None => "none",
        Action::Term => "SIGTERM",
        Action::Kill => "SIGKILL",
    }
}

/// One cgroup the guard would watch, over the sampling interval (the guard's own per-cgroup
/// state is the library's `guard::Watched`).
pub struct WatchedCgroup {
    pub rel: String,
    pub last: Sample,
    /// `full` stall over the interval, % of wall time (memory.pressure total= deltas).
    pub stall_percent: Option<f64>,
    /// memory.events `high` per second over the interval.
    pub high_rate: Option<f64>,
    pub swap_available: bool,
    /// The guard's detector saw the livelock signature over the whole interval.
    pub livelock: bool,
    pub largest: Option<Brief>,
}

impl WatchedCgroup {
    pub fn state(&self) -> &'static str {
        let s = &self.last;
        if self.livelock {
            "LIVELOCK"
        } else if s.current > s.high {
            "above high"
        } else if s.current + s.high / 100 >= s.high {
            "at high"
        } else {
            "ok"
        }
    }
}

pub struct GuardView {
    pub enabled: bool,
    /// Why the guard cannot work under this cgroup root (cgroup v1, no memory controller...).
    pub unavailable: Option<String>,
    pub cfg: GuardConfig,
    pub interval_s: f64,
    pub cgroups: Vec<WatchedCgroup>,
    /// Cgroups that were found but could not be read.
    pub unreadable: Vec<(String, String)>,
}

/// The guard's cgroups between their two samples.
pub struct Watching {
    view: GuardView,
    root: cgroup::CgroupRoot,
    files: Files,
    first: Vec<(PathBuf, Sample)>,
}

/// The first sample of every cgroup with a finite memory.high; [`Watching::finish`] takes
/// the second once the interval has passed.
pub fn watch(host: &Host, opts: &Effective, interval: f64) -> Watching {
    // The parameters the daemon's guard runs with under these options (when it is on).
    let cfg = config::probe_settings(&opts.cfg).guard.unwrap_or_default();
    let mut w = Watching {
        view: GuardView {
            enabled: opts.cfg.livelock_guard,
            unavailable: None,
            cfg,
            interval_s: interval,
            cgroups: Vec::new(),
            unreadable: Vec::new(),
        },
        root: host.cgroup(),
        files: Files::default(),
        first: Vec::new(),
    };
    if let Err(why) = cgroup::check_v2(&w.root) {
        w.view.unavailable = Some(why);
        return w;
    }
    for p in cgroup::discover(&w.root) {
        let t = earlyoom::sys::monotonic_secs();
        match cgroup::read_sample(&p, t, &mut w.files, true) {
            Ok(s) => w.first.push((p, s)),
            Err(e) => w.view.unreadable.push((below(&w.root, &p), e.to_string())),
        }
    }
    w
}

/// `p` below the cgroup root, as the guard's table names it.
fn below(root: &cgroup::CgroupRoot, p: &std::path::Path) -> String {
    p.strip_prefix(&root.0)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| p.display().to_string())
}

impl Watching {
    /// The second samples, judged over the interval.
    pub fn finish(self, host: &Host, opts: &Effective) -> GuardView {
        let Watching {
            mut view,
            root,
            mut files,
            first,
        } = self;
        let interval = view.interval_s;
        let cfg = view.cfg;
        let rel = |p: &PathBuf| below(&root, p);
        let swap_free_kib = opts.mem.swap_free_kib;
        for (p, s0) in first {
            let t = earlyoom::sys::monotonic_secs();
            let s1 = match cgroup::read_sample(&p, t, &mut files, true) {
                Ok(s) => s,
                Err(e) => {
                    view.unreadable.push((rel(&p), e.to_string()));
                    continue;
                }
            };
            let dt = s1.t - s0.t;
            // The guard's own arithmetic (total= deltas), so status and daemon agree.
            let (stall, rate) = match guard::rates(&s0, &s1).filter(|_| interval > 0.0) {
                Some((stall, rate)) => (Some(stall), Some(rate)),
                None => (None, None),
            };
            let swap_ok = guard::swap_available(&s1, swap_free_kib);
            // The guard's detector with a window as long as our interval: a trip means every
            // condition held over it (the daemon would act once it lasts --livelock-window).
            let mut livelock = false;
            if interval > 0.0 && dt > 0.0 {
                let mut tr = Tracker::default();
                let c = GuardConfig {
                    window_s: dt * 0.999,
                    stall_percent: cfg.stall_percent,
                };
                let _ = tr.update(s0, guard::swap_available(&s0, swap_free_kib), &c);
                livelock = tr.update(s1, swap_ok, &c).is_some();
            }
            let largest = host
                .briefs(&cgroup::procs(&p))
                .into_iter()
                .max_by_key(|b| b.rss_kib);
            view.cgroups.push(WatchedCgroup {
                rel: rel(&p),
                last: s1,
                stall_percent: stall,
                high_rate: rate,
                swap_available: swap_ok,
                livelock,
                largest,
            });
        }
        view
    }
}

/// One cgroup with a finite memory.max, as the headroom watcher reads it.
pub struct CappedCgroup {
    /// Below the cgroup root, no leading `/` (as the guard's table).
    pub rel: String,
    pub sample: CapSample,
    pub headroom: Headroom,
    /// What the daemon would do now (None: `--cgroup-headroom` is off).
    pub action: Option<Action>,
    /// The process the daemon would signal in it, when it would act.
    pub next_victim: Option<Brief>,
}

pub struct HeadroomView {
    /// The lines `--cgroup-headroom` sets (None: off).
    pub cfg: Option<HeadroomConfig>,
    /// Why it cannot work under this cgroup root (not cgroup v2, no memory controller).
    pub unavailable: Option<String>,
    /// Tightest first (least headroom in percent of memory.max), then by path.
    pub cgroups: Vec<CappedCgroup>,
    pub unreadable: Vec<(String, String)>,
    /// The processes were ranked (some cgroup is at a line and the patterns compile).
    pub ranked: bool,
}

/// Every cgroup below the root with a finite memory.max (the daemon's own rule for what it
/// watches), read once with the daemon's reader, its headroom and the signal it asks for
/// computed by the daemon's own functions, the machine's free swap as the swap room.
pub fn headrooms(host: &Host, opts: &Effective) -> HeadroomView {
    let cfg = config::probe_settings(&opts.cfg).headroom;
    let mut view = HeadroomView {
        cfg,
        unavailable: None,
        cgroups: Vec::new(),
        unreadable: Vec::new(),
        ranked: false,
    };
    let root = host.cgroup();
    if let Err(why) = cgroup::check_memory_v2(&root) {
        view.unavailable = Some(why);
        return view;
    }
    let mut files = Files::default();
    for n in cgroup::walk(&root.0).into_iter().skip(1) {
        if !matches!(files.limit(&n.path, "memory.max"), Ok(Some(_))) {
            continue;
        }
        let sample = match scope::read_cap(&mut files, &root.0, &n.path, true) {
            Ok(s) => s,
            Err(e) => {
                view.unreadable.push((n.rel, e.to_string()));
                continue;
            }
        };
        let headroom = scope::headroom(&sample, opts.mem.swap_free_kib);
        view.cgroups.push(CappedCgroup {
            action: cfg.map(|c| scope::decide(&headroom, &c)),
            rel: n.rel,
            sample,
            headroom,
            next_victim: None,
        });
    }
    view.cgroups.sort_by(|a, b| {
        a.headroom
            .percent
            .total_cmp(&b.headroom.percent)
            .then_with(|| a.rel.cmp(&b.rel))
    });
    // Who the daemon would signal where it would act: the ranking of the cgroup's subtree
    // alone, as its scan restricted to it chooses (a pattern that does not compile names
    // nobody: the daemon would not start).
    let acting = view
        .cgroups
        .iter()
        .any(|c| c.action.is_some_and(|a| a != Action::None));
    if acting {
        if let Ok(mut ranker) = crate::candidates::Ranker::new(host, &opts.cfg) {
            view.ranked = true;
            for c in view
                .cgroups
                .iter_mut()
                .filter(|c| c.action.is_some_and(|a| a != Action::None))
            {
                let Ok(s) = ranker.survey(Some(&cgroup::procs(&root.0.join(&c.rel)))) else {
                    continue;
                };
                c.next_victim = s.next_victim().map(|r| Brief {
                    pid: r.pid,
                    comm: crate::candidates::comm(r),
                    rss_kib: r.rss_kib.unwrap_or(0),
                });
            }
        }
    }
    view
}

pub fn run(host: &Host, opts: &Effective, json: bool, interval: f64) -> Result<u8, CtlError> {
    let m = opts.mem;
    let settings = config::probe_settings(&opts.cfg);
    let th = thresholds(&m, settings.limits);
    let psi = host.psi();
    // The cgroups' first samples, then the machine's reading right before the wait and
    // right after it, then the cgroups' second samples.
    let watching = watch(host, opts, interval);
    let probe = crate::pressure::Probe::start(host, m.mem_available_percent);
    if interval > 0.0 {
        std::thread::sleep(std::time::Duration::from_secs_f64(interval));
    }
    let machine = probe.finish(
        interval > 0.0,
        settings.pressure,
        &m,
        settings.limits.mem_term_percent,
    );
    let view = watching.finish(host, opts);
    let warning = settings.warn.as_ref().map(|w| {
        // The daemon's warning names the machine-wide next victim (its scan(None)).
        let next = crate::candidates::survey(host, &opts.cfg)
            .ok()
            .and_then(|s| {
                s.next_victim().map(|r| Brief {
                    pid: r.pid,
                    comm: crate::candidates::comm(r),
                    rss_kib: r.rss_kib.unwrap_or(0),
                })
            });
        crate::pressure::warn_view(w, opts.cfg.warn_hook.is_some(), &m, th.mem_term, next)
    });
    let rooms = headrooms(host, opts);
    let s = Sections {
        th: &th,
        psi: &psi,
        machine: &machine,
        warning: warning.as_ref(),
        view: &view,
        rooms: &rooms,
    };
    if json {
        crate::print_json(&to_json(opts, &m, &s));
    } else {
        print!("{}", human(opts, &m, &s));
    }
    Ok(crate::exit::OK)
}

/// What `status` found, section by section.
struct Sections<'a> {
    th: &'a Thresholds,
    psi: &'a Result<procfs::MemoryPressure, String>,
    machine: &'a crate::pressure::PressureView,
    warning: Option<&'a crate::pressure::WarnView>,
    view: &'a GuardView,
    rooms: &'a HeadroomView,
}

#[derive(Serialize)]
struct PressureJson {
    avg10: f64,
    avg60: f64,
    avg300: f64,
    total_us: u64,
}

/// `psi_memory`: the two lines of /proc/pressure/memory, or why it could not be read.
#[derive(Serialize)]
#[serde(untagged)]
enum PsiJson {
    Read {
        some: PressureJson,
        full: PressureJson,
    },
    Unreadable {
        error: String,
    },
}

fn psi_json(psi: &Result<procfs::MemoryPressure, String>) -> PsiJson {
    match psi {
        Ok(p) => {
            let rec = |r: &procfs::PressureRecord| PressureJson {
                avg10: round(f64::from(r.avg10), 2),
                avg60: round(f64::from(r.avg60), 2),
                avg300: round(f64::from(r.avg300), 2),
                total_us: r.total,
            };
            PsiJson::Read {
                some: rec(&p.some),
                full: rec(&p.full),
            }
        }
        Err(e) => PsiJson::Unreadable { error: e.clone() },
    }
}

#[derive(Serialize)]
pub struct LargestJson {
    pid: i32,
    comm: String,
    rss_kib: i64,
}

impl From<&Brief> for LargestJson {
    fn from(b: &Brief) -> LargestJson {
        LargestJson {
            pid: b.pid,
            comm: b.comm.clone(),
            rss_kib: b.rss_kib,
        }
    }
}

#[derive(Serialize)]
struct WatchedJson {
    cgroup: String,
    high_bytes: u64,
    max_bytes: Option<u64>,
    current_bytes: u64,
    swap_max_bytes: Option<u64>,
    swap_current_bytes: u64,
    swap_available: bool,
    anon_bytes: u64,
    file_bytes: u64,
    events_high: u64,
    oom_kill: u64,
    full_stall_percent: Option<f64>,
    high_events_per_second: Option<f64>,
    state: &'static str,
    livelock: bool,
    largest_process: Option<LargestJson>,
}

fn watched_json(w: &WatchedCgroup) -> WatchedJson {
    let s = &w.last;
    WatchedJson {
        cgroup: w.rel.clone(),
        high_bytes: s.high,
        max_bytes: s.max,
        current_bytes: s.current,
        swap_max_bytes: s.swap_max,
        swap_current_bytes: s.swap_current,
        swap_available: w.swap_available,
        anon_bytes: s.anon,
        file_bytes: s.file,
        events_high: s.events_high,
        oom_kill: s.oom_kill,
        full_stall_percent: w.stall_percent.map(|v| round(v, 2)),
        high_events_per_second: w.high_rate.map(|v| round(v, 2)),
        state: w.state(),
        livelock: w.livelock,
        largest_process: w.largest.as_ref().map(|b| LargestJson {
            pid: b.pid,
            comm: b.comm.clone(),
            rss_kib: b.rss_kib,
        }),
    }
}

#[derive(Serialize)]
struct MemoryJson {
    mem_total_kib: i64,
    mem_available_kib: i64,
    user_mem_total_kib: i64,
    mem_available_percent: f64,
    swap_total_kib: i64,
    swap_free_kib: i64,
    swap_free_percent: f64,
}

#[derive(Serialize)]
struct ThresholdsJson {
    mem_term: DistanceJson,
    mem_kill: DistanceJson,
    swap_term: DistanceJson,
    swap_kill: DistanceJson,
}

#[derive(Serialize)]
struct UnreadableJson {
    cgroup: String,
    error: String,
}

#[derive(Serialize)]
struct GuardJson {
    enabled: bool,
    unavailable: Option<String>,
    window_s: f64,
    stall_percent: f64,
    interval_s: f64,
    cgroups: Vec<WatchedJson>,
    unreadable: Vec<UnreadableJson>,
}

#[derive(Serialize)]
struct CappedJson {
    cgroup: String,
    max_bytes: u64,
    current_bytes: u64,
    anon_bytes: u64,
    file_bytes: u64,
    shmem_bytes: u64,
    swap_max_bytes: Option<u64>,
    swap_current_bytes: u64,
    reclaimable_bytes: u64,
    headroom_bytes: u64,
    headroom_percent: f64,
    /// null when `--cgroup-headroom` is off.
    action: Option<&'static str>,
    next_victim: Option<LargestJson>,
}

#[derive(Serialize)]
struct HeadroomJson {
    enabled: bool,
    term_percent: Option<f64>,
    kill_percent: Option<f64>,
    unavailable: Option<String>,
    /// Tightest first.
    cgroups: Vec<CappedJson>,
    unreadable: Vec<UnreadableJson>,
}

fn headroom_json(v: &HeadroomView) -> HeadroomJson {
    HeadroomJson {
        enabled: v.cfg.is_some(),
        term_percent: v.cfg.map(|c| round(c.term_percent, 2)),
        kill_percent: v.cfg.map(|c| round(c.kill_percent, 2)),
        unavailable: v.unavailable.clone(),
        cgroups: v
            .cgroups
            .iter()
            .map(|c| {
                let s = &c.sample;
                CappedJson {
                    cgroup: c.rel.clone(),
                    max_bytes: s.max,
                    current_bytes: s.current,
                    anon_bytes: s.anon,
                    file_bytes: s.file,
                    shmem_bytes: s.shmem,
                    swap_max_bytes: s.swap_max,
                    swap_current_bytes: s.swap_current,
                    reclaimable_bytes: c.headroom.reclaimable,
                    headroom_bytes: c.headroom.bytes,
                    headroom_percent: round(c.headroom.percent, 2),
                    action: c.action.map(action_key),
                    next_victim: c.next_victim.as_ref().map(|b| LargestJson {
                        pid: b.pid,
                        comm: b.comm.clone(),
                        rss_kib: b.rss_kib,
                    }),
                }
            })
            .collect(),
        unreadable: v
            .unreadable
            .iter()
            .map(|(c, e)| UnreadableJson {
                cgroup: c.clone(),
                error: e.clone(),
            })
            .collect(),
    }
}

/// `status --json`.
#[derive(Serialize)]
struct StatusJson {
    command: &'static str,
    options: OptionsJson,
    memory: MemoryJson,
    action: &'static str,
    thresholds: ThresholdsJson,
    warn: crate::pressure::WarnJson,
    psi_memory: PsiJson,
    memory_pressure: crate::pressure::PressureJson,
    livelock_guard: GuardJson,
    cgroup_headroom: HeadroomJson,
}

fn to_json(opts: &Effective, m: &MemInfo, s: &Sections) -> StatusJson {
    let (th, view) = (s.th, s.view);
    StatusJson {
        command: "status",
        options: opts.to_json(),
        memory: MemoryJson {
            mem_total_kib: m.mem_total_kib,
            mem_available_kib: m.mem_available_kib,
            user_mem_total_kib: m.user_mem_total_kib,
            mem_available_percent: round(m.mem_available_percent, 2),
            swap_total_kib: m.swap_total_kib,
            swap_free_kib: m.swap_free_kib,
            swap_free_percent: round(m.swap_free_percent, 2),
        },
        action: action_key(th.action),
        thresholds: ThresholdsJson {
            mem_term: th.mem_term.json(),
            mem_kill: th.mem_kill.json(),
            swap_term: th.swap_term.json(),
            swap_kill: th.swap_kill.json(),
        },
        warn: crate::pressure::warn_json(s.warning, &th.mem_term),
        psi_memory: psi_json(s.psi),
        memory_pressure: crate::pressure::pressure_json(s.machine),
        livelock_guard: GuardJson {
            enabled: view.enabled,
            unavailable: view.unavailable.clone(),
            window_s: round(view.cfg.window_s, 2),
            stall_percent: round(view.cfg.stall_percent, 2),
            interval_s: round(view.interval_s, 3),
            cgroups: view.cgroups.iter().map(watched_json).collect(),
            unreadable: view
                .unreadable
                .iter()
                .map(|(c, e)| UnreadableJson {
                    cgroup: c.clone(),
                    error: e.clone(),
                })
                .collect(),
        },
        cgroup_headroom: headroom_json(s.rooms),
    }
}

fn distance_text(d: &Distance, swap_ignored: bool) -> String {
    if d.no_swap {
        "met: no swap counts as 0 % free".into()
    } else if swap_ignored {
        "always met (-s 100)".into()
    } else if d.met() {
        "MET".into()
    } else {
        format!("{:.2} pp ({:.0} MiB) away", d.points, d.mib)
    }
}

fn human(opts: &Effective, m: &MemInfo, s: &Sections) -> String {
    use std::fmt::Write;
    let th = s.th;
    let mut o = String::new();
    o.push_str(&opts.header());
    let _ = writeln!(
        o,
        "memory: {} available of {} user memory ({:.2} %), MemTotal {}",
        units::kib(m.mem_available_kib),
        units::kib(m.user_mem_total_kib),
        m.mem_available_percent,
        units::kib(m.mem_total_kib)
    );
    if m.swap_total_kib == 0 {
        let _ = writeln!(o, "swap:   none (earlyoom counts it as 0 % free)");
    } else {
        let _ = writeln!(
            o,
            "swap:   {} free of {} ({:.2} %)",
            units::kib(m.swap_free_kib),
            units::kib(m.swap_total_kib),
            m.swap_free_percent
        );
    }
    let _ = writeln!(
        o,
        "\n{:<8} {:<7} {:>12} {:>9}  distance",
        "signal", "", "fires at <=", "now"
    );
    let rows = [
        ("SIGTERM", "memory", &th.mem_term, false),
        (
            "",
            "swap",
            &th.swap_term,
            th.limits.swap_term_percent >= 100.0,
        ),
        ("SIGKILL", "memory", &th.mem_kill, false),
        (
            "",
            "swap",
            &th.swap_kill,
            th.limits.swap_kill_percent >= 100.0,
        ),
    ];
    for (sig, what, d, ignored) in rows {
        let _ = writeln!(
            o,
            "{:<8} {:<7} {:>10.2} % {:>7.2} %  {}",
            sig,
            what,
            d.threshold_percent,
            d.now_percent,
            distance_text(d, ignored)
        );
    }
    let verdict = match th.action {
        Action::Kill => "SIGKILL: memory and swap are both at or below the SIGKILL limits".into(),
        Action::Term => "SIGTERM: memory and swap are both at or below the SIGTERM limits".into(),
        Action::None if th.mem_term.met() => {
            "none: memory is low but swap is above its limit (both must be met)".into()
        }
        Action::None => format!(
            "none: memory must fall {:.2} pp ({:.0} MiB) more for SIGTERM",
            th.mem_term.points, th.mem_term.mib
        ),
    };
    let _ = writeln!(o, "earlyoom would act now: {verdict}");
    o.push_str(&crate::pressure::warn_text(s.warning));
    match s.psi {
        Ok(p) => {
            let _ = writeln!(
                o,
                "\nPSI memory (avg10/avg60/avg300 %): some {:.2}/{:.2}/{:.2}, full {:.2}/{:.2}/{:.2}",
                p.some.avg10, p.some.avg60, p.some.avg300, p.full.avg10, p.full.avg60, p.full.avg300
            );
        }
        Err(e) => {
            let _ = writeln!(o, "\nPSI memory: unavailable ({e})");
        }
    }
    o.push_str(&crate::pressure::pressure_text(s.machine));
    let _ = writeln!(o);
    o.push_str(&guard_text(s.view));
    let _ = writeln!(o);
    o.push_str(&headroom_text(s.rooms));
    o
}

/// The livelock guard's section of `status`.
fn guard_text(view: &GuardView) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    if let Some(why) = &view.unavailable {
        let _ = writeln!(
            o,
            "livelock guard: {} but cannot work here: {why}",
            if view.enabled { "on" } else { "off" }
        );
        return o;
    }
    let _ = writeln!(
        o,
        "livelock guard: {}",
        if view.enabled {
            format!(
                "on (acts after {} s at >= {} % full stall)",
                view.cfg.window_s, view.cfg.stall_percent
            )
        } else {
            "OFF (--livelock-guard not in the options)".into()
        }
    );
    let _ = writeln!(
        o,
        "{} cgroup{} with a finite memory.high{}",
        view.cgroups.len(),
        if view.cgroups.len() == 1 { "" } else { "s" },
        if view.interval_s > 0.0 {
            format!(", sampled {} s apart", view.interval_s)
        } else {
            String::new()
        }
    );
    if !view.cgroups.is_empty() {
        let _ = writeln!(
            o,
            "{:<32} {:>6} {:>6} {:>6} {:>8} {:>6} {:>8}  STATE",
            "CGROUP", "HIGH", "MAX", "USAGE", "SWAP.MAX", "FULL%", "HIGH/s"
        );
    }
    for w in &view.cgroups {
        let s = &w.last;
        let name = if w.rel.chars().count() > 32 {
            let _ = writeln!(o, "{}", w.rel);
            String::new()
        } else {
            w.rel.clone()
        };
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            o,
            "{:<32} {:>6} {:>6} {:>6} {:>8} {:>6} {:>8}  {}{}",
            name,
            units::short(Some(s.high)),
            units::short(s.max),
            units::short(Some(s.current)),
            units::short(s.swap_max),
            f(w.stall_percent),
            f(w.high_rate),
            w.state(),
            if w.swap_available { "" } else { ", no swap" }
        );
        if w.state() != "ok" {
            if let Some(b) = &w.largest {
                let _ = writeln!(
                    o,
                    "    largest process: {} {} ({}); memory.events high {}, oom_kill {}",
                    b.pid,
                    crate::candidates::comm_cell(&b.comm),
                    units::kib(b.rss_kib),
                    s.events_high,
                    s.oom_kill
                );
            }
        }
    }
    for (c, e) in &view.unreadable {
        let _ = writeln!(o, "{c}: unreadable ({e})");
    }
    o
}

/// The `--cgroup-headroom` section of `status`: the HEADROOM_SHOWN tightest capped cgroups.
fn headroom_text(v: &HeadroomView) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let state = match v.cfg {
        Some(c) => format!(
            "on (SIGTERM at <= {:.2} %, SIGKILL at <= {:.2} % of memory.max)",
            c.term_percent, c.kill_percent
        ),
        None => "OFF (--cgroup-headroom not in the options); what it would see:".into(),
    };
    if let Some(why) = &v.unavailable {
        let on = if v.cfg.is_some() { "on" } else { "off" };
        let _ = writeln!(o, "cgroup headroom: {on} but cannot work here: {why}");
        return o;
    }
    let _ = writeln!(o, "cgroup headroom: {}", units::wrap(&state, 17, 100));
    let n = v.cgroups.len();
    let _ = writeln!(
        o,
        "{n} cgroup{} with a finite memory.max{}",
        if n == 1 { "" } else { "s" },
        if n > 1 { ", tightest first" } else { "" }
    );
    if n > 0 {
        let _ = writeln!(
            o,
            "{:<32} {:>6} {:>6} {:>8} {:>9} {:>9}  ACTION",
            "CGROUP", "MAX", "USAGE", "RECLAIM", "HEADROOM", "% OF MAX"
        );
    }
    for c in v.cgroups.iter().take(HEADROOM_SHOWN) {
        let name = if c.rel.chars().count() > 32 {
            let _ = writeln!(o, "{}", c.rel);
            String::new()
        } else {
            c.rel.clone()
        };
        let _ = writeln!(
            o,
            "{:<32} {:>6} {:>6} {:>8} {:>9} {:>7.1} %  {}",
            name,
            units::short(Some(c.sample.max)),
            units::short(Some(c.sample.current)),
            units::short(Some(c.headroom.reclaimable)),
            units::short(Some(c.headroom.bytes)),
            c.headroom.percent,
            c.action.map_or("-", action_key)
        );
        if let Some(b) = &c.next_victim {
            let _ = writeln!(
                o,
                "    next victim in it: pid {} {}, RSS {} (see candidates --cgroup)",
                b.pid,
                crate::candidates::comm_cell(&b.comm),
                units::kib(b.rss_kib)
            );
        } else if v.ranked && c.action.is_some_and(|a| a != Action::None) {
            let _ = writeln!(o, "    no process in it may be chosen");
        }
    }
    if n > HEADROOM_SHOWN {
        let _ = writeln!(
            o,
            "... {} more cgroups with more headroom not shown (--json lists all)",
            n - HEADROOM_SHOWN
        );
    }
    for (c, e) in &v.unreadable {
        let _ = writeln!(o, "{c}: unreadable ({e})");
    }
    o
}
