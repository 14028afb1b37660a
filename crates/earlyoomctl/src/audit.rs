//! `earlyoomctl audit`: is this box set up to survive? Findings with a severity and a
//! one-line fix; the exit status is the worst severity (0 info/none, 1 warning, 2 critical).
//!
//! The checks are the lessons of docs/incident.md: a throttle band with no swap is
//! a livelock zone unless the guard watches it; caps that sum past RAM protect nothing; the
//! operator's way in must not be a victim; the backstop must run, be locked in memory and be
//! protected itself; and its thresholds must be able to fire on this box. And what the
//! admin protected must not live in a capped cgroup where only the kernel's memcg OOM
//! killer acts (docs/scopes.md: without `--cgroup-headroom`).

use crate::candidates;
use crate::config::{self, Effective, OptionsJson, Source};
use crate::host::{self, Cg, Host, RunningDaemon};
use crate::status;
use crate::units;
use crate::{exit, CtlError};
use earlyoom::cgroup;
use earlyoom::cli::Config;
use earlyoom::decide::Action;
use earlyoom::meminfo::MemInfo;
use earlyoom::victim::{Ranked, Skip};
use serde::Serialize;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn key(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
    fn exit(self) -> u8 {
        match self {
            Severity::Info => exit::OK,
            Severity::Warning => exit::WARNING,
            Severity::Critical => exit::CRITICAL,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    /// A stable identifier of the check (for CI filters).
    pub check: &'static str,
    /// What it is about: a cgroup, a process name, an option.
    pub subject: String,
    pub message: String,
    pub fix: String,
}

/// The findings gathered so far (not the library's `meminfo::Report`, the daemon's
/// periodic memory report).
#[derive(Default)]
struct AuditReport {
    findings: Vec<Finding>,
}

impl AuditReport {
    fn add(
        &mut self,
        severity: Severity,
        check: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            check,
            subject: subject.into(),
            message: message.into(),
            fix: fix.into(),
        });
    }
}

/// Processes that are the operator's way in or hold the sessions (earlyoom's own README
/// suggests avoiding several of them).
const WAY_IN: &[&str] = &[
    "sshd",
    "sshd-session",
    "systemd",
    "systemd-logind",
    "gdm",
    "gdm-session-wor",
    "sddm",
    "lightdm",
    "tmux: server",
    "screen",
    "SCREEN",
];

/// `pid 812 at rank #4, pid 20771 at rank #5` (long) or `812 #4, 20771 #5`.
fn pids_text(rows: &[&Ranked], long: bool) -> String {
    rows.iter()
        .map(|r| match (r.position, long) {
            (Some(n), true) => format!("pid {} at rank #{n}", r.pid),
            (Some(n), false) => format!("{} #{n}", r.pid),
            (None, true) => format!("pid {}", r.pid),
            (None, false) => r.pid.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(
    host: &Host,
    default_file: &Path,
    given: Vec<OsString>,
    json: bool,
) -> Result<u8, CtlError> {
    let mem = host.meminfo()?;
    let from_cli = !given.is_empty();
    let mut r = AuditReport::default();
    // The options. On the command line a bad option is a usage error; from the file it is
    // the most important finding: the service would not start.
    let (source, args) = match config::resolve(default_file, given) {
        Ok(v) => v,
        Err(e) => {
            r.add(
                Severity::Critical,
                "options",
                default_file.display().to_string(),
                e,
                "make the file readable",
            );
            (Source::Builtin("unreadable".into()), Vec::new())
        }
    };
    let (cfg, parsed_ok) = match config::parse(&args, config::totals(&mem)) {
        Ok((cfg, warnings)) => {
            for w in warnings {
                r.add(
                    Severity::Info,
                    "options",
                    "earlyoom",
                    format!("earlyoom warns at startup: {w}"),
                    "give SIGTERM a value above SIGKILL",
                );
            }
            (cfg, true)
        }
        Err(msg) if from_cli => {
            return Err(CtlError::Usage(format!("earlyoom options: {msg}")));
        }
        Err(msg) => {
            r.add(
                Severity::Critical,
                "options",
                source.describe(),
                format!(
                    "earlyoom refuses these options and will not start: {msg} (the other checks assume earlyoom's defaults)"
                ),
                "correct EARLYOOM_ARGS (see earlyoom -h)",
            );
            (Config::default(), false)
        }
    };
    let opts = Effective {
        source: source.clone(),
        args,
        cfg,
        warnings: Vec::new(),
        mem,
    };
    check_options(&mut r, &opts, parsed_ok);
    let daemons = host.daemons();
    check_daemon(&mut r, &opts, &daemons);
    let survey = match candidates::survey(host, &opts.cfg) {
        Ok(s) => Some(s),
        Err(e) if from_cli => return Err(CtlError::Usage(format!("earlyoom options: {e}"))),
        Err(e) => {
            r.add(
                Severity::Critical,
                "options",
                opts.source.describe(),
                format!("{e}: earlyoom will not start"),
                "correct the regular expression in EARLYOOM_ARGS",
            );
            None
        }
    };
    if let Some(s) = &survey {
        check_way_in(&mut r, &opts, s);
    }
    let swaps = host.swaps();
    let cgs = host.cgroups();
    check_thresholds(&mut r, &opts, cgs.as_ref().ok(), survey.as_ref());
    check_swap(&mut r, &opts, &swaps);
    match &cgs {
        Ok(cgs) => {
            check_livelock_band(&mut r, host, &opts, cgs);
            check_caps(&mut r, &opts, cgs);
            if let Some(s) = &survey {
                check_capped_protected(&mut r, &opts, cgs, s);
            }
        }
        Err(why) => r.add(
            if opts.cfg.livelock_guard {
                Severity::Warning
            } else {
                Severity::Info
            },
            "cgroups",
            host.cgroup_root.display().to_string(),
            format!(
                "no cgroup v2 memory hierarchy ({why}): livelock-band, caps-sum and capped-protected checks skipped{}",
                if opts.cfg.livelock_guard {
                    "; --livelock-guard is on but inactive"
                } else {
                    ""
                }
            ),
            "boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1)",
        ),
    }
    check_hooks(&mut r, &opts.cfg);

    let mut findings = r.findings;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let worst = findings.iter().map(|f| f.severity).max();
    let code = worst.map_or(exit::OK, Severity::exit);
    if json {
        crate::print_json(&to_json(&opts, &findings, worst, code));
    } else {
        print!("{}", human(&opts, &findings, code));
    }
    Ok(code)
}

fn check_options(r: &mut AuditReport, opts: &Effective, parsed_ok: bool) {
    let cfg = &opts.cfg;
    if let Source::Builtin(why) = &opts.source {
        r.add(
            Severity::Info,
            "options",
            "EARLYOOM_ARGS",
            format!("{why}: earlyoom's defaults apply (-m 10,5 -s 10,5, no --avoid)"),
            "set EARLYOOM_ARGS in /etc/default/earlyoom",
        );
    }
    if !parsed_ok {
        return;
    }
    if cfg.dryrun {
        r.add(
            Severity::Warning,
            "options",
            "--dryrun",
            "--dryrun: earlyoom logs what it would kill and never kills",
            "remove --dryrun once the choice of victims is verified",
        );
    }
    if cfg.kernel_oom && (cfg.prefer.is_some() || cfg.avoid.is_some() || cfg.ignore.is_some()) {
        r.add(
            Severity::Warning,
            "options",
            "--kernel-oom",
            "--kernel-oom lets the kernel choose the victim: --prefer/--avoid/--ignore have no effect",
            "drop --kernel-oom, or protect processes with OOMScoreAdjust= instead of --avoid",
        );
    }
}

fn check_daemon(r: &mut AuditReport, opts: &Effective, daemons: &[RunningDaemon]) {
    if daemons.is_empty() {
        r.add(
            Severity::Warning,
            "daemon",
            "earlyoom",
            "earlyoom is not running (no process named earlyoom): nothing acts before the kernel OOM killer",
            "systemctl enable --now earlyoom",
        );
        return;
    }
    if daemons.len() > 1 {
        let pids: Vec<String> = daemons.iter().map(|d| d.pid.to_string()).collect();
        r.add(
            Severity::Warning,
            "daemon",
            "earlyoom",
            format!(
                "{} earlyoom processes (pids {}): each kills on its own",
                daemons.len(),
                pids.join(", ")
            ),
            "run one instance (the service)",
        );
    }
    for d in daemons {
        let subject = format!("earlyoom pid {}", d.pid);
        let mut ok = true;
        match d.vmlck_kib {
            Some(0) => {
                ok = false;
                r.add(
                    Severity::Warning,
                    "daemon",
                    subject.clone(),
                    "not locked in memory (VmLck 0): under memory pressure its own pages are reclaimed and it reacts late",
                    "grant CAP_IPC_LOCK (AmbientCapabilities=CAP_KILL CAP_IPC_LOCK, as the packaged unit does)",
                );
            }
            None => r.add(
                Severity::Info,
                "daemon",
                subject.clone(),
                "could not read VmLck from its status (hidepid?)",
                "run the audit as root",
            ),
            Some(_) => {}
        }
        match d.oom_score_adj {
            Some(adj) if adj >= 0 => {
                ok = false;
                r.add(
                    Severity::Warning,
                    "daemon",
                    subject.clone(),
                    format!("not protected: oom_score_adj {adj}, so the kernel OOM killer may kill the backstop"),
                    "OOMScoreAdjust=-100 in the unit (as packaged) or start it with -p",
                );
            }
            None => r.add(
                Severity::Info,
                "daemon",
                subject.clone(),
                "could not read its oom_score_adj",
                "run the audit as root",
            ),
            Some(_) => {}
        }
        if ok {
            r.add(
                Severity::Info,
                "daemon",
                subject.clone(),
                format!(
                    "earlyoom running, locked in memory ({} KiB) and protected (oom_score_adj {})",
                    d.vmlck_kib.unwrap_or(0),
                    d.oom_score_adj.unwrap_or(0)
                ),
                "nothing to do",
            );
        }
        // The configured options only count once the daemon runs with them.
        if let Source::DefaultFile(path) = &opts.source {
            let running = config::parse(&d.args, config::totals(&opts.mem));
            if running.as_ref().map(|(c, _)| c) != Ok(&opts.cfg) {
                r.add(
                    Severity::Warning,
                    "daemon",
                    subject,
                    format!(
                        "runs with other options than {}: {}",
                        path.display(),
                        config::shell_join(&d.args)
                    ),
                    "systemctl restart earlyoom",
                );
            }
        }
    }
}

fn check_way_in(r: &mut AuditReport, opts: &Effective, s: &candidates::Survey) {
    let mut avoided: Vec<String> = Vec::new();
    for name in WAY_IN {
        let rows: Vec<&Ranked> = s
            .rows
            .iter()
            .filter(|r| r.comm.as_bytes() == name.as_bytes())
            .collect();
        let exposed: Vec<&Ranked> = rows
            .iter()
            .copied()
            .filter(|r| candidates::eligible(r) && !r.avoid)
            .collect();
        let soft: Vec<&Ranked> = rows
            .iter()
            .copied()
            .filter(|r| candidates::eligible(r) && r.avoid)
            .collect();
        if !exposed.is_empty() {
            let rule = if opts.cfg.avoid.is_some() {
                "--avoid does not match it"
            } else {
                "there is no --avoid"
            };
            r.add(
                Severity::Warning,
                "way-in",
                *name,
                format!(
                    "{name} would be an eligible victim at full weight ({}): {rule}",
                    pids_text(&exposed, true)
                ),
                format!(
                    "add {name} to --avoid (e.g. --avoid '^({}|...)$') or give its unit OOMScoreAdjust=-1000",
                    regex_escape(name)
                ),
            );
        }
        if !soft.is_empty() {
            avoided.push(format!("{name} [{}]", pids_text(&soft, false)));
        }
    }
    if !avoided.is_empty() {
        r.add(
            Severity::Info,
            "way-in",
            "avoided",
            format!(
                "avoided but still eligible: {}; --avoid lowers the rank by 300 and can still pick them last",
                avoided.join(", ")
            ),
            "for never, use OOMScoreAdjust=-1000 (or --ignore)",
        );
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.^$|?*+()[]{}".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Cgroups that cannot swap and, together, can fill RAM down to the SIGTERM line (None:
/// no memory.max, unbounded).
fn no_swap_capacity(cgs: &[Cg], swap_total_kib: i64) -> (Vec<usize>, Option<u64>) {
    let mut idx = Vec::new();
    let mut sum: Option<u64> = Some(0);
    for (i, c) in cgs.iter().enumerate() {
        if i == 0 || !c.has_memory {
            continue;
        }
        // Only the outermost cgroup that cannot swap counts (its children are inside it).
        let parent_noswap = c
            .parent
            .is_some_and(|p| p != 0 && host::effective_swap_max(cgs, p) == Some(0));
        let noswap = swap_total_kib == 0 || host::effective_swap_max(cgs, i) == Some(0);
        if noswap && !parent_noswap {
            idx.push(i);
            sum = match (sum, c.max) {
                (Some(a), Some(b)) => Some(a.saturating_add(b)),
                _ => None,
            };
        }
    }
    (idx, sum)
}

fn check_thresholds(
    r: &mut AuditReport,
    opts: &Effective,
    cgs: Option<&Vec<Cg>>,
    survey: Option<&candidates::Survey>,
) {
    let m: &MemInfo = &opts.mem;
    let limits = config::probe_settings(&opts.cfg).limits;
    let th = status::thresholds(m, limits);
    if th.action != Action::None {
        let victim = survey
            .and_then(|s| s.next_victim())
            .map(|v| format!(" (next victim: pid {} {})", v.pid, candidates::comm(v)))
            .unwrap_or_default();
        r.add(
            Severity::Warning,
            "thresholds",
            status::action_key(th.action),
            format!(
                "the {} thresholds are met right now: memory {:.2} % available (limit {:.2} %), swap {:.2} % free (limit {:.2} %){victim}",
                status::action_key(th.action),
                m.mem_available_percent,
                if th.action == Action::Kill { limits.mem_kill_percent } else { limits.mem_term_percent },
                m.swap_free_percent,
                if th.action == Action::Kill { limits.swap_kill_percent } else { limits.swap_term_percent },
            ),
            "free memory, or lower -m/-M if this is the box's normal state (earlyoom kills every 100 ms while met)",
        );
    }
    if limits.mem_kill_percent <= 0.0 {
        r.add(
            Severity::Warning,
            "thresholds",
            "-m",
            "SIGKILL at 0 % available memory never comes before the kernel OOM killer, and earlyoom does not escalate a SIGTERM by time: a process that ignores SIGTERM is never killed",
            "give -m a SIGKILL value above 0 (e.g. -m 5,3)",
        );
    }
    if m.swap_total_kib == 0 {
        r.add(
            Severity::Info,
            "thresholds",
            "-s",
            format!(
                "no swap: earlyoom counts free swap as 0 %, so the swap condition is always met and memory alone decides (SIGTERM at {:.2} %, SIGKILL at {:.2} % available)",
                limits.mem_term_percent, limits.mem_kill_percent
            ),
            "nothing to do",
        );
        return;
    }
    if limits.swap_term_percent >= 100.0 && limits.swap_kill_percent >= 100.0 {
        r.add(
            Severity::Info,
            "thresholds",
            "-s",
            "-s 100,100: swap is ignored, memory alone decides",
            "nothing to do",
        );
        return;
    }
    // Swap present and required: processes that cannot swap can exhaust RAM while swap
    // stays free, and then the signal whose swap limit is below 100 % never comes.
    let (idx, sum) = cgs.map_or((Vec::new(), Some(0)), |c| {
        no_swap_capacity(c, m.swap_total_kib)
    });
    let fill = (m.mem_total_kib as f64 * 1024.0) * (1.0 - limits.mem_term_percent / 100.0);
    let starved = !idx.is_empty() && sum.is_none_or(|s| s as f64 >= fill);
    let names: Vec<&str> = match cgs {
        Some(c) => idx.iter().map(|&i| c[i].rel.as_str()).collect(),
        None => Vec::new(),
    };
    let who = format!(
        "{} cgroup{} with memory.swap.max 0 ({}) can fill RAM ({}) without touching swap",
        idx.len(),
        if idx.len() == 1 { "" } else { "s" },
        names.join(", "),
        sum.map_or("no memory.max".into(), units::bytes)
    );
    let term_needs_swap = limits.swap_term_percent < 100.0;
    if starved && term_needs_swap {
        r.add(
            Severity::Warning,
            "thresholds",
            "-s",
            format!(
                "both signals need free swap at or below {:.2} %/{:.2} %, but {who}: earlyoom would never fire",
                limits.swap_term_percent, limits.swap_kill_percent
            ),
            "use -s 100,100 (memory alone decides) or allow those cgroups to swap",
        );
    } else if starved {
        r.add(
            Severity::Warning,
            "thresholds",
            "-s",
            format!(
                "SIGKILL also needs free swap at or below {:.2} % (-s without KILL_PERCENT halves it), but {who}: earlyoom would only ever send SIGTERM, and never escalates by time",
                limits.swap_kill_percent
            ),
            "write -s 100,100 to ignore swap for both signals",
        );
    } else if !term_needs_swap {
        r.add(
            Severity::Info,
            "thresholds",
            "-s",
            format!(
                "SIGTERM ignores swap (-s 100) but SIGKILL waits for free swap at or below {:.2} % (KILL_PERCENT defaults to half)",
                limits.swap_kill_percent
            ),
            "write -s 100,100 to ignore swap for both signals",
        );
    }
}

fn check_swap(r: &mut AuditReport, opts: &Effective, swaps: &Result<Vec<host::SwapDev>, String>) {
    match swaps {
        Err(e) => r.add(
            Severity::Info,
            "swap",
            "/proc/swaps",
            format!("cannot read the swap devices: {e}"),
            "nothing to do",
        ),
        Ok(list) if list.is_empty() => r.add(
            Severity::Info,
            "swap",
            "swap",
            "no swap device: anonymous memory can only be freed by killing",
            "optional: zram swap gives a cheap buffer before killing",
        ),
        Ok(list) => {
            let desc: Vec<String> = list
                .iter()
                .map(|s| {
                    format!(
                        "{} ({}{}, {} used of {}, priority {})",
                        s.name,
                        if s.is_zram() { "zram " } else { "" },
                        s.kind,
                        units::kib(s.used_kib as i64),
                        units::kib(s.size_kib as i64),
                        s.priority
                    )
                })
                .collect();
            let disk = list.iter().any(|s| !s.is_zram());
            let swap_counts = opts.cfg.swap_term_percent < 100.0;
            r.add(
                Severity::Info,
                "swap",
                "swap",
                format!(
                    "swap: {}{}",
                    desc.join(", "),
                    if disk && swap_counts {
                        format!(
                            "; earlyoom acts only once disk swap is down to {:.2} % free, and swap-thrash on a slow disk can stall the box long before",
                            opts.cfg.swap_term_percent
                        )
                    } else {
                        String::new()
                    }
                ),
                if disk && swap_counts {
                    "prefer zram swap, or -s 100 so that memory alone decides"
                } else {
                    "nothing to do"
                },
            );
        }
    }
}

fn check_livelock_band(r: &mut AuditReport, host: &Host, opts: &Effective, cgs: &[Cg]) {
    let watched = cgroup::discover(&host.cgroup());
    let guard = opts.cfg.livelock_guard;
    let mut n = 0;
    for (i, c) in cgs.iter().enumerate() {
        if !watched.contains(&c.path) {
            continue;
        }
        let Some(high) = c.high else { continue };
        if c.max.is_some_and(|max| high >= max) {
            continue; // usage reaches max first: the kernel OOM-kills in the cgroup
        }
        let eff_swap = host::effective_swap_max(cgs, i);
        let no_swap = opts.mem.swap_total_kib == 0 || eff_swap == Some(0);
        if !no_swap {
            continue;
        }
        n += 1;
        let why_no_swap = if opts.mem.swap_total_kib == 0 {
            "the box has none".to_string()
        } else if c.swap_max == Some(0) {
            "memory.swap.max 0".to_string()
        } else {
            "an ancestor's memory.swap.max is 0".to_string()
        };
        let now = match c.current {
            Some(cur) if cur > high => {
                format!("; usage {} is above high now: throttled", units::bytes(cur))
            }
            _ => String::new(),
        };
        let band = format!(
            "memory.high {} < memory.max {} and no swap ({why_no_swap}): a hog that plateaus in between is throttled forever and never OOM-killed{now}",
            units::bytes(high),
            units::limit(c.max)
        );
        if guard {
            r.add(
                Severity::Info,
                "livelock-band",
                c.rel.clone(),
                format!("{band}; watched by --livelock-guard"),
                "nothing to do",
            );
        } else {
            r.add(
                Severity::Critical,
                "livelock-band",
                c.rel.clone(),
                format!("{band}; --livelock-guard is off"),
                "add --livelock-guard to EARLYOOM_ARGS, or set MemoryHigh=infinity",
            );
        }
    }
    if guard && n == 0 {
        r.add(
            Severity::Info,
            "livelock-band",
            "--livelock-guard",
            format!(
                "livelock guard on; {} cgroup{} with a finite memory.high, none in a no-swap band",
                watched.len(),
                if watched.len() == 1 { "" } else { "s" }
            ),
            "nothing to do",
        );
    }
}

fn check_caps(r: &mut AuditReport, opts: &Effective, cgs: &[Cg]) {
    let ram = opts.mem.mem_total_kib as u64 * 1024;
    let mut flagged = false;
    for (p, parent) in cgs.iter().enumerate() {
        let kids: Vec<&Cg> = cgs
            .iter()
            .filter(|c| c.parent == Some(p) && c.has_memory && c.max.is_some())
            .collect();
        if kids.is_empty() {
            continue;
        }
        let sum: u64 = kids.iter().filter_map(|c| c.max).sum();
        if sum <= ram {
            continue;
        }
        // A parent capped at or below RAM bounds its children together.
        let bound = match (parent.max, host::ancestors_max(cgs, p)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if bound.is_some_and(|b| b <= ram) {
            continue;
        }
        flagged = true;
        let names: Vec<String> = kids
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c.rel.rsplit('/').next().unwrap_or(&c.rel),
                    units::short(c.max)
                )
            })
            .collect();
        let parent_name = if parent.rel.is_empty() {
            "the root cgroup".to_string()
        } else {
            parent.rel.clone()
        };
        r.add(
            Severity::Warning,
            "caps-sum",
            parent_name.clone(),
            format!(
                "memory.max of the {} capped children of {parent_name} sums to {} > RAM {}: together they can still exhaust the box ({})",
                kids.len(),
                units::bytes(sum),
                units::bytes(ram),
                names.join(", ")
            ),
            format!(
                "lower the caps so they sum below RAM, or cap {parent_name} itself below RAM"
            ),
        );
    }
    // Box-wide: the outermost caps.
    let outer: Vec<&Cg> = cgs
        .iter()
        .enumerate()
        .filter(|(i, c)| *i != 0 && c.max.is_some() && host::ancestors_max(cgs, *i).is_none())
        .map(|(_, c)| c)
        .collect();
    let total: u64 = outer.iter().filter_map(|c| c.max).sum();
    if !outer.is_empty() {
        let over = total > ram;
        r.add(
            if over && !flagged {
                Severity::Warning
            } else {
                Severity::Info
            },
            "caps-sum",
            "box",
            format!(
                "the {} outermost memory caps sum to {} against RAM {}{}",
                outer.len(),
                units::bytes(total),
                units::bytes(ram),
                if over { ": over-committed" } else { "" }
            ),
            if over {
                "make the caps of the work cgroups sum below RAM"
            } else {
                "nothing to do"
            },
        );
    }
}

/// An oom_score_adj at or below this is the admin protecting a process.
pub const PROTECTED_ADJ: i32 = -900;

/// How the admin protected `r`, if they did: `--avoid` or `--ignore` matches it, or its
/// oom_score_adj is at or below [`PROTECTED_ADJ`] (kernel threads, init and zombies are not
/// services; the caller leaves the daemon out, whatever its oom_score_adj).
fn protection(r: &Ranked) -> Option<String> {
    if matches!(
        r.skip,
        Some(Skip::InitOrKthreadd | Skip::KernelThread | Skip::Zombie | Skip::Myself)
    ) {
        return None;
    }
    if r.avoid {
        Some("--avoid".into())
    } else if r.skip == Some(Skip::Ignored) {
        Some("--ignore".into())
    } else {
        r.oom_score_adj
            .filter(|&a| a <= PROTECTED_ADJ)
            .map(|a| format!("oom_score_adj {a}"))
    }
}

/// Protected processes in the subtree of a cgroup with a finite memory.max, while
/// `--cgroup-headroom` is off: when that cgroup fills up, the kernel's memcg OOM killer acts
/// there alone, long before the machine runs short (earlyoom #331). One finding per capped
/// cgroup, the innermost holding each process (membership by `cgroup::procs`, the daemon's
/// own reader).
fn check_capped_protected(
    r: &mut AuditReport,
    opts: &Effective,
    cgs: &[Cg],
    s: &candidates::Survey,
) {
    if opts.cfg.cgroup_headroom.is_some() {
        return;
    }
    let protected: Vec<(&Ranked, String)> = s
        .rows
        .iter()
        .filter(|row| Some(row.pid) != s.daemon_pid)
        .filter_map(|row| protection(row).map(|how| (row, how)))
        .collect();
    if protected.is_empty() {
        return;
    }
    // The walk lists parents before children: the last capped cgroup holding a process is
    // the innermost.
    let mut home: Vec<Option<usize>> = vec![None; protected.len()];
    for (i, c) in cgs.iter().enumerate() {
        if i == 0 || c.max.is_none() {
            continue;
        }
        let pids = cgroup::procs(&c.path);
        for (k, (row, _)) in protected.iter().enumerate() {
            if pids.binary_search(&row.pid).is_ok() {
                home[k] = Some(i);
            }
        }
    }
    const LISTED: usize = 6;
    for (i, c) in cgs.iter().enumerate() {
        let here: Vec<&(&Ranked, String)> = protected
            .iter()
            .zip(&home)
            .filter(|(_, h)| **h == Some(i))
            .map(|(p, _)| p)
            .collect();
        if here.is_empty() {
            continue;
        }
        let mut names: Vec<String> = here
            .iter()
            .take(LISTED)
            .map(|(row, how)| format!("{} (pid {}, {how})", candidates::comm(row), row.pid))
            .collect();
        if here.len() > LISTED {
            names.push(format!("{} more", here.len() - LISTED));
        }
        let (one, verb) = if here.len() == 1 {
            ("a protected process", "lives")
        } else {
            ("protected processes", "live")
        };
        r.add(
            Severity::Warning,
            "capped-protected",
            c.rel.clone(),
            format!(
                "{one} {verb} in {} (memory.max {}): {}. When that cgroup fills up, the kernel's memcg OOM killer acts there alone, before the machine is short of memory, and picks by oom_score inside the cgroup, ignoring --avoid and --ignore (earlyoom issue #331); without --cgroup-headroom earlyoom watches only the whole machine and never acts there",
                c.rel,
                units::limit(c.max),
                names.join(", ")
            ),
            "add --cgroup-headroom 10,5 to EARLYOOM_ARGS (earlyoom then kills inside the cgroup by its own rules, avoided processes last, before the kernel does)",
        );
    }
}

fn check_hooks(r: &mut AuditReport, cfg: &Config) {
    // Which hooks the daemon keeps is its own startup check's call (settings.rs).
    let kept = config::probe_settings(cfg).kill;
    for (flag, given, kept) in [
        ("-N", &cfg.notify_ext, &kept.post_hook),
        ("-P", &cfg.pre_hook, &kept.pre_hook),
    ] {
        let Some(given) = given else { continue };
        let shown = String::from_utf8_lossy(given).into_owned();
        let mut bad = |msg: String, fix: &str| {
            r.add(
                Severity::Warning,
                "hooks",
                format!("{flag} {shown}"),
                msg,
                fix,
            );
        };
        let Some(p) = kept else {
            bad(
                format!("{flag} '{shown}' is not an absolute path: earlyoom disables the hook at startup"),
                "give the hook's absolute path",
            );
            continue;
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(p));
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                bad(
                    format!("{flag} '{shown}': {e}"),
                    "install the hook or fix the path",
                );
                continue;
            }
        };
        let mode = meta.permissions().mode();
        if !meta.is_file() {
            bad(
                format!("{flag} '{shown}' is not a regular file"),
                "point it at the script",
            );
        } else if mode & 0o111 == 0 {
            bad(
                format!(
                    "{flag} '{shown}' is not executable (mode {:o})",
                    mode & 0o7777
                ),
                "chmod 755 the hook",
            );
        } else if mode & 0o001 == 0 {
            bad(
                format!(
                    "{flag} '{shown}' is not executable by other users (mode {:o}); the packaged unit runs earlyoom as a DynamicUser",
                    mode & 0o7777
                ),
                "chmod o+rx the hook",
            );
        }
        let hidden = ["/home/", "/root/", "/run/user/"]
            .iter()
            .any(|d| shown.starts_with(d));
        if hidden {
            bad(
                format!("{flag} '{shown}' is invisible to the packaged unit (ProtectHome=true)"),
                "move the hook below /usr/local/lib or /etc",
            );
        }
    }
}

#[derive(Serialize)]
struct FindingJson<'a> {
    severity: &'static str,
    check: &'static str,
    subject: &'a str,
    message: &'a str,
    fix: &'a str,
}

#[derive(Serialize)]
struct SummaryJson {
    critical: usize,
    warning: usize,
    info: usize,
}

/// `audit --json`.
#[derive(Serialize)]
struct AuditJson<'a> {
    command: &'static str,
    options: OptionsJson,
    worst: Option<&'static str>,
    exit_status: u8,
    summary: SummaryJson,
    findings: Vec<FindingJson<'a>>,
}

fn to_json<'a>(
    opts: &Effective,
    findings: &'a [Finding],
    worst: Option<Severity>,
    code: u8,
) -> AuditJson<'a> {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    AuditJson {
        command: "audit",
        options: opts.to_json(),
        worst: worst.map(Severity::key),
        exit_status: code,
        summary: SummaryJson {
            critical: count(Severity::Critical),
            warning: count(Severity::Warning),
            info: count(Severity::Info),
        },
        findings: findings
            .iter()
            .map(|f| FindingJson {
                severity: f.severity.key(),
                check: f.check,
                subject: &f.subject,
                message: &f.message,
                fix: &f.fix,
            })
            .collect(),
    }
}

fn human(opts: &Effective, findings: &[Finding], code: u8) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    o.push_str(&opts.header());
    o.push('\n');
    for f in findings {
        let tag = match f.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        };
        let _ = writeln!(o, "{tag:<8} {} {}", f.check, f.subject);
        let _ = writeln!(o, "         {}", units::wrap(&f.message, 9, 96));
        if f.fix != "nothing to do" {
            let _ = writeln!(o, "         fix: {}", units::wrap(&f.fix, 14, 96));
        }
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        o,
        "\n{} critical, {} warning, {} info (exit status {code})",
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_escapes() {
        assert_eq!(regex_escape("tmux: server"), "tmux: server");
        assert_eq!(regex_escape("a.b"), "a\\.b");
    }
}
