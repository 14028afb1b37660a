//! `earlyoomctl candidates`: every process as the daemon's victim scan sees it, ranked.
//!
//! The per-process verdicts come from [`Scanner::survey`] (the scan's own read sequence and
//! rules); the order from [`is_larger`] applied the way the scan applies it: #1 is what one
//! scan would pick (the first process, in scan order, that no later process beats), #2 what
//! the next scan would pick once #1 is gone, and so on.

use crate::config::Effective;
use crate::host::Host;
use crate::json::Json;
use crate::units;
use crate::CtlError;
use earlyoom::cli::Config;
use earlyoom::victim::{
    beats, bonus, Candidate, Matchers, Options, Rank, Scanner, Skip, NOT_SET, RSS_BONUS_KIB,
    SCORE_BONUS,
};

/// One process with the daemon's verdict.
#[derive(Clone, Debug)]
pub struct Row {
    pub pid: i32,
    pub uid: Option<i32>,
    pub comm: String,
    /// The kernel's values, before prefer/avoid.
    pub oom_score: Option<i32>,
    pub oom_score_adj: Option<i32>,
    pub rss_kib: Option<i64>,
    /// Whether --prefer / --avoid matched and were applied.
    pub prefer: bool,
    pub avoid: bool,
    /// What the ordering compares (adjusted), when the scan got that far.
    pub ranked: Option<Rank>,
    pub skip: Option<Skip>,
    /// 1-based rank among the eligible processes.
    pub rank: Option<usize>,
}

impl Row {
    pub fn eligible(&self) -> bool {
        self.skip.is_none()
    }
}

pub struct Survey {
    /// Eligible processes in rank order, then the skipped ones in scan order.
    pub rows: Vec<Row>,
    pub sort_by_rss: bool,
    /// The running daemon's pid: the scan never picks the daemon itself.
    pub daemon_pid: Option<i32>,
}

impl Survey {
    pub fn next_victim(&self) -> Option<&Row> {
        self.rows.first().filter(|r| r.eligible())
    }
}

/// The three regexes, compiled by the daemon's own code without its startup notices.
pub fn matchers(cfg: &Config) -> Result<Matchers, String> {
    Matchers::compile_config(cfg).map_err(|f| match f {
        earlyoom::Fatal::Regex(p) => format!(
            "could not compile regexp '{}' (earlyoom exits 6)",
            String::from_utf8_lossy(&p)
        ),
        other => format!("{other:?}"),
    })
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

/// Whether the scan reached the prefer/avoid step (it reads comm and matches there).
fn adjusted(skip: Option<Skip>) -> bool {
    matches!(
        skip,
        None | Some(Skip::Ignored)
            | Some(Skip::Protected)
            | Some(Skip::Myself)
            | Some(Skip::Unreadable("oom_score_adj"))
    )
}

/// A field the scan filled (it leaves `NOT_SET` in those it did not read).
fn set<T: PartialEq + From<i32>>(v: T) -> Option<T> {
    (v != T::from(NOT_SET)).then_some(v)
}

/// Runs the daemon's survey under `cfg` and ranks the eligible processes.
pub fn survey(host: &Host, cfg: &Config) -> Result<Survey, String> {
    let m = matchers(cfg)?;
    let any = m.prefer.is_some() || m.avoid.is_some() || m.ignore.is_some();
    let opts = Options {
        sort_by_rss: cfg.sort_by_rss,
        ignore_root_user: cfg.ignore_root_user,
    };
    let daemon_pid = host.daemons().first().map(|d| d.pid);
    let mut scanner = Scanner::new(host.proc(), opts, m);
    // The daemon excludes itself; earlyoomctl is not the daemon (pid 0 matches nobody).
    scanner.set_my_pid(daemon_pid.unwrap_or(0));
    let mut found: Vec<Candidate> = Vec::new();
    scanner
        .survey(|c| found.push(*c))
        .map_err(|f| crate::host::fatal_text(&f))?;
    let own = std::process::id() as i32;
    let mut rows: Vec<Row> = Vec::with_capacity(found.len());
    for c in &found {
        if host.is_live() && c.pid == own {
            continue; // this one-shot tool is not a candidate worth listing
        }
        let comm = c.comm.display().to_string();
        let (prefer, avoid) = (c.prefer, c.avoid);
        let net = prefer as i32 - avoid as i32;
        // Past the prefer/avoid step both were read (an adjusted value may be anything).
        let read = adjusted(c.skip) && (any || c.skip.is_none());
        let b = bonus(scanner.opts.sort_by_rss);
        let oom_score =
            (read || set(c.oom_score).is_some()).then(|| c.oom_score - net * b.oom_score);
        let rss_kib =
            (read || set(c.rss_kib).is_some()).then(|| c.rss_kib - net as i64 * b.rss_kib);
        let ranked = (oom_score.is_some() && rss_kib.is_some()).then_some(Rank {
            oom_score: c.oom_score,
            rss_kib: c.rss_kib,
        });
        rows.push(Row {
            pid: c.pid,
            uid: set(c.uid),
            comm,
            oom_score,
            oom_score_adj: set(c.oom_score_adj),
            rss_kib,
            prefer,
            avoid,
            ranked,
            skip: c.skip,
            rank: None,
        });
    }
    // Repeated scans: each picks, in scan order, what beats everything before it.
    let mut rest: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].eligible()).collect();
    let mut order = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let mut best: Option<usize> = None;
        for (k, &i) in rest.iter().enumerate() {
            let floor = best.and_then(|b| rows[rest[b]].ranked);
            let Some(cur) = rows[i].ranked else { continue };
            if beats(cfg.sort_by_rss, floor, cur) {
                best = Some(k);
            }
        }
        // Every eligible ranked process beats no victim at all, so the scan picks one.
        let k = best.unwrap_or(0);
        order.push(rest.remove(k));
    }
    let mut ranked: Vec<Row> = Vec::with_capacity(rows.len());
    for (n, &i) in order.iter().enumerate() {
        let mut r = rows[i].clone();
        r.rank = Some(n + 1);
        ranked.push(r);
    }
    ranked.extend(rows.into_iter().filter(|r| !r.eligible()));
    Ok(Survey {
        rows: ranked,
        sort_by_rss: cfg.sort_by_rss,
        daemon_pid,
    })
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
fn process_cells(r: &Row) -> String {
    format!(
        "{:>8} {:>6} {:<16} {:>9} {:>5} {:>10}",
        r.pid,
        opt(r.uid),
        comm_cell(&r.comm),
        opt(r.oom_score),
        opt(r.oom_score_adj),
        r.rss_kib.map_or("-".into(), units::kib)
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn adjustment_text(r: &Row, sort_by_rss: bool) -> String {
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

pub fn row_json(r: &Row, sort_by_rss: bool) -> Json {
    let net = r.prefer as i64 - r.avoid as i64;
    Json::obj(vec![
        ("rank", Json::opt(r.rank, |n| Json::Int(n as i64))),
        ("pid", Json::Int(r.pid as i64)),
        ("uid", Json::opt(r.uid, |u| Json::Int(u as i64))),
        ("comm", Json::str(&r.comm)),
        ("oom_score", Json::opt(r.oom_score, |v| Json::Int(v as i64))),
        (
            "oom_score_adj",
            Json::opt(r.oom_score_adj, |v| Json::Int(v as i64)),
        ),
        ("rss_kib", Json::opt(r.rss_kib, Json::Int)),
        ("prefer", Json::Bool(r.prefer)),
        ("avoid", Json::Bool(r.avoid)),
        (
            "adjustment",
            Json::obj(vec![
                (
                    "oom_score",
                    Json::Int(net * bonus(sort_by_rss).oom_score as i64),
                ),
                ("rss_kib", Json::Int(net * bonus(sort_by_rss).rss_kib)),
            ]),
        ),
        (
            "ranked_oom_score",
            Json::opt(r.ranked, |k| Json::Int(k.oom_score as i64)),
        ),
        (
            "ranked_rss_kib",
            Json::opt(r.ranked, |k| Json::Int(k.rss_kib)),
        ),
        (
            "ranked_by",
            Json::str(if sort_by_rss { "rss" } else { "oom_score" }),
        ),
        ("eligible", Json::Bool(r.eligible())),
        ("skip", Json::opt(r.skip, |s| Json::str(skip_key(s)))),
        (
            "skip_reason",
            Json::opt(r.skip, |s| Json::str(skip_reason(s))),
        ),
    ])
}

pub fn run(
    host: &Host,
    opts: &Effective,
    json: bool,
    all: bool,
    limit: usize,
) -> Result<u8, CtlError> {
    let s = survey(host, &opts.cfg).map_err(|e| {
        let msg = format!("earlyoom options from {}: {e}", opts.source.describe());
        if opts.source == crate::config::Source::CommandLine {
            CtlError::Usage(msg)
        } else {
            CtlError::Config(msg)
        }
    })?;
    if json {
        let v = Json::obj(vec![
            ("command", Json::str("candidates")),
            ("options", opts.to_json()),
            (
                "ranked_by",
                Json::str(if s.sort_by_rss { "rss" } else { "oom_score" }),
            ),
            (
                "daemon_pid",
                Json::opt(s.daemon_pid, |p| Json::Int(p as i64)),
            ),
            (
                "next_victim",
                Json::opt(s.next_victim(), |r| row_json(r, s.sort_by_rss)),
            ),
            (
                "processes",
                Json::Arr(s.rows.iter().map(|r| row_json(r, s.sort_by_rss)).collect()),
            ),
        ]);
        println!("{v}");
        return Ok(crate::exit::OK);
    }
    print!("{}", human(&s, opts, all, limit));
    Ok(crate::exit::OK)
}

pub fn human(s: &Survey, opts: &Effective, all: bool, limit: usize) -> String {
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
    match s.next_victim() {
        Some(r) => {
            let _ = writeln!(
                o,
                "next victim: pid {} {} (uid {}), oom_score {}, RSS {}",
                r.pid,
                comm_cell(&r.comm),
                opt(r.uid),
                opt(r.oom_score),
                r.rss_kib.map_or("-".into(), units::kib)
            );
        }
        None => {
            let _ = writeln!(o, "next victim: none (no eligible process)");
        }
    }
    let eligible: Vec<&Row> = s.rows.iter().filter(|r| r.eligible()).collect();
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:>4} {:>8} {:>6} {:<16} {:>9} {:>5} {:>10}  {:<14} {:>10}",
        "#", "PID", "UID", "COMM", "OOM_SCORE", "ADJ", "RSS", "PREFER/AVOID", "RANKED AS"
    );
    let shown = if limit == 0 {
        eligible.len()
    } else {
        limit.min(eligible.len())
    };
    for r in &eligible[..shown] {
        let key = r.ranked.map_or("-".into(), |k| {
            if s.sort_by_rss {
                units::kib(k.rss_kib)
            } else {
                k.oom_score.to_string()
            }
        });
        let _ = writeln!(
            o,
            "{:>4} {}  {:<14} {:>10}",
            r.rank.unwrap_or(0),
            process_cells(r),
            adjustment_text(r, s.sort_by_rss),
            key
        );
    }
    if shown < eligible.len() {
        let _ = writeln!(
            o,
            "     ... {} more eligible (--limit 0 lists all)",
            eligible.len() - shown
        );
    }
    let skipped: Vec<&Row> = s
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
