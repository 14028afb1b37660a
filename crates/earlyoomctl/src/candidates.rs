//! `earlyoomctl candidates`: every process as the daemon's victim scan sees it, ranked.
//!
//! Everything per process comes from [`Scanner::rank`]: the verdicts (the scan's own read
//! sequence and rules), the kernel's numbers and the adjusted ones the ordering compares,
//! and the order: #1 is what one scan would pick, #2 what the next scan would pick once #1 is
//! gone, and so on. This file only presents them.
//!
//! With `--cgroup PATH` the ranking is that of the processes of that cgroup and its
//! descendants alone (`cgroup.procs`, read with the library's [`cgroup::procs`], as the
//! daemon's `--cgroup-headroom` reads them), from [`Scanner::rank_among`]: the order the
//! daemon's scan restricted to them ([`Scanner::scan_among`]) kills in, one kill after
//! another, whatever `--sort-by-rss` makes of RSS 0.

use crate::config::{self, Effective, OptionsJson};
use crate::host::{CgroupDir, Host};
use crate::units;
use crate::CtlError;
use earlyoom::cgroup;
use earlyoom::cli::Config;
use earlyoom::proc::ProcRoot;
use earlyoom::victim::{bonus, Ranked, Scanner, Skip, RSS_BONUS_KIB, SCORE_BONUS};
use serde::Serialize;

pub struct Survey {
    /// Eligible processes in rank order (`position` 1..), then the skipped ones in scan order.
    pub rows: Vec<Ranked>,
    pub sort_by_rss: bool,
    /// The running daemon's pid: the scan never picks the daemon itself.
    pub daemon_pid: Option<i32>,
}

impl Survey {
    pub fn next_victim(&self) -> Option<&Ranked> {
        self.rows.first().filter(|r| eligible(r))
    }
}

pub fn eligible(r: &Ranked) -> bool {
    r.skip.is_none()
}

/// The process name as text (the kernel's bytes, invalid UTF-8 replaced).
pub fn comm(r: &Ranked) -> String {
    r.comm.display().to_string()
}

pub fn skip_key(s: Skip) -> String {
    match s {
        Skip::InitOrKthreadd => "init-or-kthreadd".into(),
        Skip::RootUser => "root-user".into(),
        Skip::KernelThread => "kernel-thread".into(),
        Skip::Zombie => "zombie".into(),
        Skip::Ignored => "ignored".into(),
        Skip::Protected => "protected".into(),
        Skip::Myself => "daemon-itself".into(),
        Skip::Unkillable => "unkillable".into(),
        Skip::Unreadable(f) => format!("unreadable-{f}"),
        Skip::NotLarger => "not-larger".into(),
    }
}

pub fn skip_reason(s: Skip) -> String {
    match s {
        Skip::InitOrKthreadd => "pid 1 or 2 (init, kthreadd): never".into(),
        Skip::RootUser => "owned by root (--ignore-root-user)".into(),
        Skip::KernelThread => "kernel thread".into(),
        Skip::Zombie => "zombie: holds no memory".into(),
        Skip::Ignored => "--ignore matches its name".into(),
        Skip::Protected => "oom_score_adj -1000: never".into(),
        Skip::Myself => "the earlyoom daemon itself".into(),
        Skip::Unkillable => "already sent SIGKILL and did not exit".into(),
        Skip::Unreadable(f) => format!("cannot read /proc/PID/{f}"),
        Skip::NotLarger => "not larger".into(),
    }
}

/// The daemon's scanner under `cfg`, for one ranking or several (one per cgroup).
pub struct Ranker {
    scanner: Scanner,
    sort_by_rss: bool,
    daemon_pid: Option<i32>,
    live: bool,
    proc: ProcRoot,
}

impl Ranker {
    /// Err: a pattern that does not compile (earlyoom exits 6).
    pub fn new(host: &Host, cfg: &Config) -> Result<Ranker, String> {
        let settings = config::settings(cfg)?;
        let daemon_pid = host.daemons().first().map(|d| d.pid);
        let mut scanner = Scanner::new(host.proc(), settings.select, settings.matchers);
        // The daemon excludes itself; earlyoomctl is not the daemon (pid 0 matches nobody).
        scanner.set_my_pid(daemon_pid.unwrap_or(0));
        Ok(Ranker {
            scanner,
            sort_by_rss: settings.select.sort_by_rss,
            daemon_pid,
            live: host.is_live(),
            proc: host.proc(),
        })
    }

    /// Every process (`only` None), or those whose pid is in `only` (sorted ascending),
    /// ranked among themselves as the daemon's scan restricted to them chooses.
    pub fn survey(&mut self, only: Option<&[i32]>) -> Result<Survey, String> {
        // This one-shot tool is not a candidate worth listing: it is gone by the time the
        // daemon scans. It is left out of the ranking itself, not out of its result, so
        // that the order is the one the scans make without it.
        let without_me: Option<Vec<i32>> = self.live.then(|| {
            let own = std::process::id() as i32;
            let mut pids = only.map_or_else(|| self.host_pids(), <[i32]>::to_vec);
            pids.retain(|&p| p != own);
            pids
        });
        let rows = self
            .scanner
            .rank_among(without_me.as_deref().or(only))
            .map_err(|f| crate::host::fatal_text(&f))?;
        Ok(Survey {
            rows,
            sort_by_rss: self.sort_by_rss,
            daemon_pid: self.daemon_pid,
        })
    }

    fn host_pids(&self) -> Vec<i32> {
        crate::host::pids(&self.proc)
    }
}

/// Ranks every process under `cfg` with the daemon's own settings and scan.
pub fn survey(host: &Host, cfg: &Config) -> Result<Survey, String> {
    Ranker::new(host, cfg)?.survey(None)
}

fn noisy(s: Skip) -> bool {
    matches!(s, Skip::InitOrKthreadd | Skip::KernelThread | Skip::Zombie)
}

/// The comm for a fixed-width column: control characters shown as `?`, at most 16 chars.
pub fn comm_cell(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(16)
        .collect()
}

/// The columns every row shares: pid, uid, comm, oom_score, oom_score_adj, RSS.
fn process_cells(r: &Ranked) -> String {
    format!(
        "{:>8} {:>6} {:<16} {:>9} {:>5} {:>10}",
        r.pid,
        opt(r.uid),
        comm_cell(&comm(r)),
        opt(r.oom_score),
        opt(r.oom_score_adj),
        r.rss_kib.map_or("-".into(), units::kib)
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn adjustment_text(r: &Ranked, sort_by_rss: bool) -> String {
    let what = |sign: &str| {
        if sort_by_rss {
            format!("{sign}{}", units::kib(RSS_BONUS_KIB))
        } else {
            format!("{sign}{SCORE_BONUS}")
        }
    };
    match (r.prefer, r.avoid) {
        (true, true) => "prefer+avoid 0".into(),
        (true, false) => format!("prefer {}", what("+")),
        (false, true) => format!("avoid {}", what("-")),
        (false, false) => String::new(),
    }
}

fn ranked_by(sort_by_rss: bool) -> &'static str {
    if sort_by_rss {
        "rss"
    } else {
        "oom_score"
    }
}

/// What `--prefer`/`--avoid` did to the two numbers the ordering compares.
#[derive(Serialize)]
pub struct AdjustmentJson {
    oom_score: i64,
    rss_kib: i64,
}

/// One process of `candidates --json` (and of audit's way-in check): null where the scan
/// never read the value.
#[derive(Serialize)]
pub struct ProcessJson {
    rank: Option<usize>,
    pid: i32,
    uid: Option<u32>,
    comm: String,
    oom_score: Option<i32>,
    oom_score_adj: Option<i32>,
    rss_kib: Option<i64>,
    prefer: bool,
    avoid: bool,
    adjustment: AdjustmentJson,
    ranked_oom_score: Option<i32>,
    ranked_rss_kib: Option<i64>,
    ranked_by: &'static str,
    eligible: bool,
    skip: Option<String>,
    skip_reason: Option<String>,
}

pub fn row_json(r: &Ranked, sort_by_rss: bool) -> ProcessJson {
    // The bonus as shown: what one match adds (prefer) or takes (avoid), both cancel out.
    let net = i64::from(r.prefer) - i64::from(r.avoid);
    let b = bonus(sort_by_rss);
    ProcessJson {
        rank: r.position,
        pid: r.pid,
        uid: r.uid,
        comm: comm(r),
        oom_score: r.oom_score,
        oom_score_adj: r.oom_score_adj,
        rss_kib: r.rss_kib,
        prefer: r.prefer,
        avoid: r.avoid,
        adjustment: AdjustmentJson {
            oom_score: net * i64::from(b.oom_score),
            rss_kib: net * b.rss_kib,
        },
        ranked_oom_score: r.adjusted.map(|k| k.oom_score),
        ranked_rss_kib: r.adjusted.map(|k| k.rss_kib),
        ranked_by: ranked_by(sort_by_rss),
        eligible: eligible(r),
        skip: r.skip.map(skip_key),
        skip_reason: r.skip.map(skip_reason),
    }
}

/// `cgroup` of `candidates --json` (null without `--cgroup`).
#[derive(Serialize)]
struct CgroupJson {
    /// Below the cgroup root, with a leading `/`.
    path: String,
    directory: String,
    /// The pids listed in cgroup.procs of it and its descendants (also those the proc root
    /// no longer has).
    member_pids: usize,
}

/// `candidates --json`.
#[derive(Serialize)]
struct CandidatesJson {
    command: &'static str,
    options: OptionsJson,
    cgroup: Option<CgroupJson>,
    ranked_by: &'static str,
    daemon_pid: Option<i32>,
    next_victim: Option<ProcessJson>,
    processes: Vec<ProcessJson>,
}

/// The cgroup `candidates --cgroup` restricts the ranking to, with its members.
pub struct Within {
    pub cgroup: CgroupDir,
    pub pids: Vec<i32>,
}

pub fn run(
    host: &Host,
    opts: &Effective,
    json: bool,
    all: bool,
    limit: usize,
    cgroup_arg: Option<&std::path::Path>,
) -> Result<u8, CtlError> {
    let within = match cgroup_arg {
        Some(a) => {
            let cg = host.cgroup_dir(a).map_err(CtlError::Usage)?;
            let pids = cgroup::procs(&cg.dir);
            Some(Within { cgroup: cg, pids })
        }
        None => None,
    };
    let s = Ranker::new(host, &opts.cfg)
        .and_then(|mut r| r.survey(within.as_ref().map(|w| &w.pids[..])))
        .map_err(|e| {
            let msg = format!("earlyoom options from {}: {e}", opts.source.describe());
            if opts.source == crate::config::Source::CommandLine {
                CtlError::Usage(msg)
            } else {
                CtlError::Config(msg)
            }
        })?;
    if json {
        let v = CandidatesJson {
            command: "candidates",
            options: opts.to_json(),
            cgroup: within.as_ref().map(|w| CgroupJson {
                path: w.cgroup.shown.clone(),
                directory: w.cgroup.dir.display().to_string(),
                member_pids: w.pids.len(),
            }),
            ranked_by: ranked_by(s.sort_by_rss),
            daemon_pid: s.daemon_pid,
            next_victim: s.next_victim().map(|r| row_json(r, s.sort_by_rss)),
            processes: s.rows.iter().map(|r| row_json(r, s.sort_by_rss)).collect(),
        };
        crate::print_json(&v);
        return Ok(crate::exit::OK);
    }
    print!("{}", human(&s, opts, all, limit, within.as_ref()));
    Ok(crate::exit::OK)
}

pub fn human(
    s: &Survey,
    opts: &Effective,
    all: bool,
    limit: usize,
    within: Option<&Within>,
) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    o.push_str(&opts.header());
    let _ = writeln!(
        o,
        "  ranked by {}; --prefer/--avoid add/subtract {}",
        if s.sort_by_rss {
            "RSS, then oom_score (--sort-by-rss)"
        } else {
            "oom_score, then RSS"
        },
        if s.sort_by_rss {
            format!("{} of RSS", units::kib(RSS_BONUS_KIB))
        } else {
            format!("{SCORE_BONUS} oom_score points")
        }
    );
    if let Some(w) = within {
        let _ = writeln!(
            o,
            "  {}",
            units::wrap(
                &format!(
                    "only cgroup {} and its descendants ({} pid{} in cgroup.procs): whom --cgroup-headroom kills there, in this order",
                    w.cgroup.shown,
                    w.pids.len(),
                    if w.pids.len() == 1 { "" } else { "s" }
                ),
                2,
                96
            )
        );
    }
    match s.next_victim() {
        Some(r) => {
            let _ = writeln!(
                o,
                "next victim: pid {} {} (uid {}), oom_score {}, RSS {}",
                r.pid,
                comm_cell(&comm(r)),
                opt(r.uid),
                opt(r.oom_score),
                r.rss_kib.map_or("-".into(), units::kib)
            );
        }
        None => {
            let _ = writeln!(o, "next victim: none (no eligible process)");
        }
    }
    let ranked: Vec<&Ranked> = s.rows.iter().filter(|r| eligible(r)).collect();
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:>4} {:>8} {:>6} {:<16} {:>9} {:>5} {:>10}  {:<14} {:>10}",
        "#", "PID", "UID", "COMM", "OOM_SCORE", "ADJ", "RSS", "PREFER/AVOID", "RANKED AS"
    );
    let shown = if limit == 0 {
        ranked.len()
    } else {
        limit.min(ranked.len())
    };
    for r in &ranked[..shown] {
        let key = r.adjusted.map_or("-".into(), |k| {
            if s.sort_by_rss {
                units::kib(k.rss_kib)
            } else {
                k.oom_score.to_string()
            }
        });
        let _ = writeln!(
            o,
            "{:>4} {}  {:<14} {:>10}",
            r.position.unwrap_or(0),
            process_cells(r),
            adjustment_text(r, s.sort_by_rss),
            key
        );
    }
    if shown < ranked.len() {
        let _ = writeln!(
            o,
            "     ... {} more eligible (--limit 0 lists all)",
            ranked.len() - shown
        );
    }
    let skipped: Vec<&Ranked> = s
        .rows
        .iter()
        .filter(|r| r.skip.is_some_and(|k| all || !noisy(k)))
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(o, "\nnever chosen:");
        let _ = writeln!(
            o,
            "{:>4} {:>8} {:>6} {:<16} {:>9} {:>5} {:>10}  WHY",
            "", "PID", "UID", "COMM", "OOM_SCORE", "ADJ", "RSS"
        );
        for r in skipped {
            let _ = writeln!(
                o,
                "{:>4} {}  {}",
                "",
                process_cells(r),
                skip_reason(r.skip.unwrap_or(Skip::NotLarger))
            );
        }
    }
    if !all {
        let count = |k: Skip| s.rows.iter().filter(|r| r.skip == Some(k)).count();
        let hidden: Vec<String> = [
            (Skip::InitOrKthreadd, "init/kthreadd", "init/kthreadd"),
            (Skip::KernelThread, "kernel thread", "kernel threads"),
            (Skip::Zombie, "zombie", "zombies"),
        ]
        .iter()
        .filter_map(|&(k, one, many)| {
            let n = count(k);
            (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
        })
        .collect();
        if !hidden.is_empty() {
            let _ = writeln!(o, "not listed: {} (--all lists them)", hidden.join(", "));
        }
    }
    o
}
