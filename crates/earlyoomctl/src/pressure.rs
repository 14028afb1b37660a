//! `status`'s memory pressure and warning sections: the machine's `full` memory stall and
//! swap-out rate over `--interval`, read with the daemon's own [`Sampler`] and computed
//! with its [`stall_between`], the two gates of `--memory-pressure` by the daemon's rules
//! ([`soft_line`], [`SWAP_PAGES_PER_S`]), whether its [`Trigger`] would be armed now (a
//! trigger whose window is the interval: the daemon needs the stall for SECONDS), and the
//! `--warn` line by the daemon's own episode rule ([`Episodes`]).

use crate::host::{Brief, Host};
use crate::status::{Distance, DistanceJson, LargestJson};
use crate::units;
use earlyoom::meminfo::MemInfo;
use earlyoom::pressure::{
    soft_line, stall_between, Gate, PressureConfig, Reading, Sampler, Trigger, Verdict,
    SOFT_LINE_FACTOR, SWAP_PAGES_PER_S,
};
use earlyoom::settings::WarnSettings;
use earlyoom::warn::Episodes;
use serde::Serialize;
use std::fmt::Write;

/// Why the stall over the interval is not known.
#[derive(Clone, Debug, PartialEq)]
pub enum Unknown {
    /// No /proc/pressure/memory (the daemon's [`Sampler::new`] says why).
    NoPsi(String),
    /// PSI is there, but a reading failed (vmstat or pressure/memory unreadable).
    Unreadable(String),
    /// `--interval 0`: one reading, and a stall is a delta between two.
    OneReading,
}

impl Unknown {
    fn key(&self) -> &'static str {
        match self {
            Unknown::NoPsi(_) => "no-psi",
            Unknown::Unreadable(_) => "unreadable",
            Unknown::OneReading => "one-reading",
        }
    }
    fn reason(&self) -> String {
        match self {
            Unknown::NoPsi(why) => why.clone(),
            Unknown::Unreadable(why) => why.clone(),
            Unknown::OneReading => {
                "--interval 0 takes one reading, and the stall is the total= delta between two"
                    .into()
            }
        }
    }
}

/// The first reading, taken right before `status` waits its interval.
pub struct Probe {
    sampler: Result<Sampler, String>,
    first: Option<Reading>,
    proc_root: std::path::PathBuf,
}

impl Probe {
    /// `avail_percent` is the MemAvailable share every section of `status` shows.
    pub fn start(host: &Host, avail_percent: f64) -> Probe {
        use std::os::unix::ffi::OsStrExt;
        let mut sampler = Sampler::new(host.proc_root.as_os_str().as_bytes());
        let first = sampler
            .as_mut()
            .ok()
            .and_then(|s| s.read(earlyoom::sys::monotonic_secs(), avail_percent));
        Probe {
            sampler,
            first,
            proc_root: host.proc_root.clone(),
        }
    }

    /// The second reading (none when `two` is false: `--interval 0`), judged.
    pub fn finish(
        self,
        two: bool,
        cfg: Option<PressureConfig>,
        m: &MemInfo,
        term_percent: f64,
    ) -> PressureView {
        let Probe {
            sampler,
            first,
            proc_root,
        } = self;
        let (first, last, unknown) = match sampler {
            Err(why) => (None, None, Some(Unknown::NoPsi(why))),
            Ok(mut s) => {
                let last = if two {
                    s.read(earlyoom::sys::monotonic_secs(), m.mem_available_percent)
                } else {
                    first
                };
                match (first, last) {
                    (Some(f), Some(l)) => (Some(f), Some(l), (!two).then_some(Unknown::OneReading)),
                    _ => (
                        None,
                        None,
                        Some(Unknown::Unreadable(unreadable(&proc_root))),
                    ),
                }
            }
        };
        judge(cfg, first, last, unknown, m, term_percent)
    }
}

/// Which of the sampler's two files failed.
fn unreadable(root: &std::path::Path) -> String {
    let bad: Vec<String> = ["pressure/memory", "vmstat"]
        .iter()
        .map(|f| root.join(f))
        .filter(|p| std::fs::read(p).is_err())
        .map(|p| p.display().to_string())
        .collect();
    if bad.is_empty() {
        format!(
            "{}/pressure/memory or {}/vmstat could not be parsed",
            root.display(),
            root.display()
        )
    } else {
        format!("{} unreadable", bad.join(" and "))
    }
}

/// The machine's memory pressure as `--memory-pressure` reads and judges it.
pub struct PressureView {
    /// `--memory-pressure` (None: off).
    pub cfg: Option<PressureConfig>,
    pub unknown: Option<Unknown>,
    /// The second reading (the only one with `--interval 0`).
    pub last: Option<Reading>,
    /// Seconds between the two readings.
    pub window_s: Option<f64>,
    pub stall_percent: Option<f64>,
    /// pswpout pages per second between the two readings.
    pub swap_out_per_s: Option<f64>,
    /// Available memory against the soft line (twice the SIGTERM line).
    pub soft: Distance,
    pub term_percent: f64,
    /// The daemon's trigger over the interval (None: off, or the stall is unknown).
    pub verdict: Option<Verdict>,
}

impl PressureView {
    /// The soft-line gate: available memory at or below it (the trigger's own comparison).
    pub fn soft_open(&self) -> bool {
        self.soft.now_percent <= self.soft.threshold_percent
    }

    /// The swap-out gate (None: the rate is unknown).
    pub fn swap_open(&self) -> Option<bool> {
        self.swap_out_per_s.map(|r| r >= SWAP_PAGES_PER_S)
    }

    /// Whether the trigger is armed now: the stall at or above PERCENT and a gate open.
    pub fn armed(&self) -> Option<bool> {
        self.verdict.map(|v| matches!(v, Verdict::Fire { .. }))
    }
}

/// Judges two readings (the same one twice, or none, when `unknown` says why) under `cfg`.
pub fn judge(
    cfg: Option<PressureConfig>,
    first: Option<Reading>,
    last: Option<Reading>,
    unknown: Option<Unknown>,
    m: &MemInfo,
    term_percent: f64,
) -> PressureView {
    let line = soft_line(term_percent);
    let soft = Distance::new(line, m.mem_available_percent, m.user_mem_total_kib, false);
    let pair = match (first, last, &unknown) {
        (Some(a), Some(b), None) => Some((a, b)),
        _ => None,
    };
    let window_s = pair.map(|(a, b)| b.t - a.t).filter(|&dt| dt > 0.0);
    let stall_percent = pair.and_then(|(a, b)| stall_between(&a, &b));
    let swap_out_per_s = pair
        .zip(window_s)
        .map(|((a, b), dt)| b.swap_pages.saturating_sub(a.swap_pages) as f64 / dt);
    // The daemon's trigger with a window as long as the interval: it fires on it exactly
    // when the stall held over it and a gate holds (the daemon waits for SECONDS of it).
    let verdict = match (cfg, pair, stall_percent) {
        (Some(c), Some((a, b)), Some(_)) => {
            let mut t = Trigger::new(PressureConfig {
                percent: c.percent,
                seconds: 0.0,
            });
            let _ = t.step(a, line);
            Some(t.step(b, line))
        }
        _ => None,
    };
    PressureView {
        cfg,
        unknown,
        last,
        window_s,
        stall_percent,
        swap_out_per_s,
        soft,
        term_percent,
        verdict,
    }
}

/// The `--warn` line against available memory now.
pub struct WarnView {
    pub percent: f64,
    pub hook: Option<String>,
    /// `--warn-hook` was given but the daemon disables it (not an absolute path).
    pub hook_disabled: bool,
    pub line: Distance,
    pub term: Distance,
    /// At or below the line: the daemon has warned, once for this episode.
    pub at_or_below: bool,
    /// Whom the warning would name (the machine-wide next victim).
    pub would_name: Option<Brief>,
}

pub fn warn_view(
    w: &WarnSettings,
    given_hook: bool,
    m: &MemInfo,
    term: Distance,
    would_name: Option<Brief>,
) -> WarnView {
    WarnView {
        percent: w.percent,
        hook: w
            .hook
            .as_ref()
            .map(|h| String::from_utf8_lossy(h).into_owned()),
        hook_disabled: given_hook && w.hook.is_none(),
        line: Distance::new(
            w.percent,
            m.mem_available_percent,
            m.user_mem_total_kib,
            false,
        ),
        term,
        // A fresh episode state starts an episode exactly when memory is at the line.
        at_or_below: Episodes::new(w.percent).step(m.mem_available_percent),
        would_name,
    }
}

fn pct(v: f64) -> String {
    format!("{v:.2} %")
}

fn away(d: &Distance) -> String {
    format!("{:.2} pp ({:.0} MiB)", d.points, d.mib)
}

/// The memory pressure section of `status`.
pub fn pressure_text(v: &PressureView) -> String {
    let mut o = String::new();
    let head = match v.cfg {
        Some(c) => format!(
            "on (SIGTERM once the full stall stays >= {} for {} s while a gate is open)",
            pct(c.percent),
            c.seconds
        ),
        None => "OFF (--memory-pressure not in the options); what it would see:".into(),
    };
    let _ = writeln!(o, "memory pressure: {}", units::wrap(&head, 17, 100));
    match (&v.unknown, v.stall_percent, v.window_s) {
        (Some(u), _, _) => {
            let _ = writeln!(
                o,
                "  full stall: unknown: {}",
                units::wrap(&u.reason(), 23, 100)
            );
            let consequence = match u {
                Unknown::NoPsi(_) => {
                    "the daemon runs without the trigger here (it says 'memory pressure: inactive' at startup)"
                }
                Unknown::Unreadable(_) => {
                    "the daemon's trigger reads nothing here either: it never fires"
                }
                Unknown::OneReading => "",
            };
            if v.cfg.is_some() && !consequence.is_empty() {
                let _ = writeln!(o, "  {}", units::wrap(consequence, 2, 100));
            }
        }
        (None, Some(s), Some(dt)) => {
            let _ = writeln!(
                o,
                "  full stall: {s:.2} % over {dt:.2} s (the total= delta of pressure/memory)"
            );
            let _ = writeln!(
                o,
                "  swap-out:   {:.0} pages/s (the pswpout delta of vmstat)",
                v.swap_out_per_s.unwrap_or(0.0)
            );
        }
        _ => {
            let _ = writeln!(o, "  full stall: unknown (the readings are no time apart)");
        }
    }
    // The soft line is SOFT_LINE_FACTOR x the SIGTERM line of the table above.
    let soft = if v.soft_open() {
        format!(
            "OPEN: mem avail {} <= {} ({} x SIGTERM)",
            pct(v.soft.now_percent),
            pct(v.soft.threshold_percent),
            SOFT_LINE_FACTOR
        )
    } else {
        format!(
            "closed: mem avail {} > {} ({} x SIGTERM), {} above",
            pct(v.soft.now_percent),
            pct(v.soft.threshold_percent),
            SOFT_LINE_FACTOR,
            away(&v.soft)
        )
    };
    let _ = writeln!(o, "  gate soft line: {}", units::wrap(&soft, 18, 100));
    let swap = match (v.swap_open(), v.swap_out_per_s) {
        (Some(true), Some(r)) => format!("OPEN: {r:.0} pages/s >= {SWAP_PAGES_PER_S} pages/s"),
        (Some(false), Some(r)) => format!("closed: {r:.0} pages/s < {SWAP_PAGES_PER_S} pages/s"),
        _ => format!("unknown (no rate; open at >= {SWAP_PAGES_PER_S} pages/s)"),
    };
    let _ = writeln!(o, "  gate swap-out:  {swap}");
    if let (Some(c), Some(verdict), Some(stall)) = (v.cfg, v.verdict, v.stall_percent) {
        let t = match verdict {
            Verdict::Fire { gate, .. } => format!(
                "ARMED: full stall {} >= {} and the {} gate open; the daemon fires once that lasts {} s",
                pct(stall),
                pct(c.percent),
                match gate {
                    Gate::LowAvailable { .. } => "soft line",
                    Gate::Swapping { .. } => "swap-out",
                },
                c.seconds
            ),
            Verdict::Gated { .. } => format!(
                "not armed: full stall {} >= {}, but no gate is open (page cache churn or refaults, which a kill would not relieve: the daemon logs 'no kill' after {} s)",
                pct(stall),
                pct(c.percent),
                c.seconds
            ),
            Verdict::Calm => format!(
                "not armed: full stall {} < {}",
                pct(stall),
                pct(c.percent)
            ),
        };
        let _ = writeln!(o, "  trigger now: {}", units::wrap(&t, 15, 100));
    } else if v.cfg.is_some() {
        let _ = writeln!(o, "  trigger now: unknown (the stall is unknown)");
    }
    o
}

/// The `--warn` line of `status` (None: off).
pub fn warn_text(w: Option<&WarnView>) -> String {
    let mut o = String::new();
    let Some(w) = w else {
        let _ = writeln!(o, "warning: off (--warn not in the options)");
        return o;
    };
    let _ = writeln!(
        o,
        "warning: on at <= {} of available memory (--warn), once per episode",
        pct(w.percent)
    );
    match (&w.hook, w.hook_disabled) {
        (Some(h), _) => {
            let _ = writeln!(o, "  --warn-hook {h}");
        }
        (None, true) => {
            let _ = writeln!(o, "  --warn-hook disabled: not an absolute path");
        }
        (None, false) => {}
    }
    let now = if w.at_or_below {
        format!(
            "mem avail {} is AT OR BELOW the warning line: the daemon has warned; {} above the SIGTERM line {}",
            pct(w.line.now_percent),
            away(&w.term),
            pct(w.term.threshold_percent)
        )
    } else {
        format!(
            "mem avail {}: {} above the warning line, {} above the SIGTERM line {}",
            pct(w.line.now_percent),
            away(&w.line),
            away(&w.term),
            pct(w.term.threshold_percent)
        )
    };
    let _ = writeln!(o, "  {}", units::wrap(&now, 2, 100));
    match &w.would_name {
        Some(b) => {
            let _ = writeln!(
                o,
                "  the warning names the next victim: pid {} {}, RSS {}",
                b.pid,
                crate::candidates::comm_cell(&b.comm),
                units::kib(b.rss_kib)
            );
        }
        None => {
            let _ = writeln!(o, "  the warning would say no process could be killed");
        }
    }
    o
}

#[derive(Serialize)]
struct SoftGateJson {
    line_percent: f64,
    sigterm_percent: f64,
    available_percent: f64,
    open: bool,
    points_away: f64,
    mib_away: f64,
}

#[derive(Serialize)]
struct SwapGateJson {
    threshold_pages_per_second: f64,
    pages_per_second: Option<f64>,
    open: Option<bool>,
}

#[derive(Serialize)]
struct GatesJson {
    soft_line: SoftGateJson,
    swap_out: SwapGateJson,
}

#[derive(Serialize)]
struct TriggerJson {
    armed: bool,
    /// `calm` (stall below PERCENT), `fire` (at or above, a gate open), `gated` (at or
    /// above, no gate).
    verdict: &'static str,
    /// The gate the daemon would name (soft line first, as it checks them).
    gate: Option<&'static str>,
    /// How long the daemon needs it to last.
    needs_seconds: f64,
}

/// `memory_pressure` of `status --json`.
#[derive(Serialize)]
pub struct PressureJson {
    enabled: bool,
    percent: Option<f64>,
    seconds: Option<f64>,
    /// null, `no-psi`, `unreadable` or `one-reading`.
    stall_unknown: Option<&'static str>,
    stall_unknown_reason: Option<String>,
    window_s: Option<f64>,
    full_stall_percent: Option<f64>,
    swap_out_pages_per_second: Option<f64>,
    /// The counters of the last reading.
    full_total_us: Option<u64>,
    pswpout: Option<u64>,
    gates: GatesJson,
    /// null when off or the stall is unknown.
    trigger: Option<TriggerJson>,
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

pub fn pressure_json(v: &PressureView) -> PressureJson {
    PressureJson {
        enabled: v.cfg.is_some(),
        percent: v.cfg.map(|c| round(c.percent, 2)),
        seconds: v.cfg.map(|c| round(c.seconds, 2)),
        stall_unknown: v.unknown.as_ref().map(Unknown::key),
        stall_unknown_reason: v.unknown.as_ref().map(Unknown::reason),
        window_s: v.window_s.map(|t| round(t, 3)),
        full_stall_percent: v.stall_percent.map(|s| round(s, 2)),
        swap_out_pages_per_second: v.swap_out_per_s.map(|r| round(r, 1)),
        full_total_us: v.last.map(|r| r.full_us),
        pswpout: v.last.map(|r| r.swap_pages),
        gates: GatesJson {
            soft_line: SoftGateJson {
                line_percent: round(v.soft.threshold_percent, 2),
                sigterm_percent: round(v.term_percent, 2),
                available_percent: round(v.soft.now_percent, 2),
                open: v.soft_open(),
                points_away: round(v.soft.points.max(0.0), 2),
                mib_away: round(v.soft.mib.max(0.0), 1),
            },
            swap_out: SwapGateJson {
                threshold_pages_per_second: SWAP_PAGES_PER_S,
                pages_per_second: v.swap_out_per_s.map(|r| round(r, 1)),
                open: v.swap_open(),
            },
        },
        trigger: v.cfg.zip(v.verdict).map(|(c, verdict)| TriggerJson {
            armed: v.armed() == Some(true),
            verdict: match verdict {
                Verdict::Calm => "calm",
                Verdict::Fire { .. } => "fire",
                Verdict::Gated { .. } => "gated",
            },
            gate: match verdict {
                Verdict::Fire {
                    gate: Gate::LowAvailable { .. },
                    ..
                } => Some("soft-line"),
                Verdict::Fire {
                    gate: Gate::Swapping { .. },
                    ..
                } => Some("swap-out"),
                _ => None,
            },
            needs_seconds: round(c.seconds, 2),
        }),
    }
}

/// `warn` of `status --json`.
#[derive(Serialize)]
pub struct WarnJson {
    enabled: bool,
    percent: Option<f64>,
    hook: Option<String>,
    hook_disabled: bool,
    /// Available memory against the warning line (null when off).
    line: Option<DistanceJson>,
    /// ... and against the SIGTERM line.
    sigterm: DistanceJson,
    at_or_below: Option<bool>,
    would_name: Option<LargestJson>,
}

pub fn warn_json(w: Option<&WarnView>, term: &Distance) -> WarnJson {
    WarnJson {
        enabled: w.is_some(),
        percent: w.map(|w| round(w.percent, 2)),
        hook: w.and_then(|w| w.hook.clone()),
        hook_disabled: w.is_some_and(|w| w.hook_disabled),
        line: w.map(|w| w.line.json()),
        sigterm: term.json(),
        at_or_below: w.map(|w| w.at_or_below),
        would_name: w.and_then(|w| w.would_name.as_ref()).map(LargestJson::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 16 GiB of user memory, `avail` percent of it available.
    fn mem(avail: f64) -> MemInfo {
        MemInfo {
            mem_total_kib: 16 * 1024 * 1024,
            mem_available_kib: (avail / 100.0 * 16.0 * 1024.0 * 1024.0) as i64,
            anon_pages_kib: 0,
            swap_total_kib: 0,
            swap_free_kib: 0,
            user_mem_total_kib: 16 * 1024 * 1024,
            mem_available_percent: avail,
            swap_free_percent: 0.0,
            available_guessed: false,
        }
    }

    fn reading(t: f64, full_us: u64, swap_pages: u64, avail: f64) -> Reading {
        Reading {
            t,
            full_us,
            avail_percent: avail,
            swap_pages,
        }
    }

    /// `text` with each line break and the indentation after it as one space (the wrap).
    fn flat(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    const ON: Option<PressureConfig> = Some(PressureConfig {
        percent: 40.0,
        seconds: 10.0,
    });

    /// Over 2 s: `stall` percent full stall, `pages` swapped out; SIGTERM line 10 %.
    fn over_2s(cfg: Option<PressureConfig>, stall: f64, pages: u64, avail: f64) -> PressureView {
        let a = reading(100.0, 5_000_000, 1000, avail);
        let b = reading(
            102.0,
            5_000_000 + (stall * 20_000.0) as u64,
            1000 + pages,
            avail,
        );
        judge(cfg, Some(a), Some(b), None, &mem(avail), 10.0)
    }

    #[test]
    fn stall_swap_rate_and_gates() {
        let v = over_2s(ON, 55.0, 1200, 40.0);
        assert!((v.stall_percent.unwrap() - 55.0).abs() < 1e-6);
        assert_eq!(v.window_s, Some(2.0));
        assert_eq!(v.swap_out_per_s, Some(600.0));
        assert_eq!(v.soft.threshold_percent, 20.0);
        assert!(!v.soft_open());
        assert_eq!(v.swap_open(), Some(true));
        assert_eq!(v.armed(), Some(true));
        assert!(matches!(
            v.verdict,
            Some(Verdict::Fire {
                gate: Gate::Swapping { .. },
                ..
            })
        ));
        // 20 pp above the soft line of 16 GiB.
        assert!((v.soft.mib - 0.2 * 16.0 * 1024.0).abs() < 1e-6);
        // The swap gate's edge is inclusive, as the trigger's: 512 pages in 2 s is 256/s.
        assert_eq!(over_2s(ON, 55.0, 512, 40.0).swap_open(), Some(true));
        assert_eq!(over_2s(ON, 55.0, 510, 40.0).swap_open(), Some(false));
        // So is the soft line's.
        assert!(over_2s(ON, 55.0, 0, 20.0).soft_open());
        assert!(!over_2s(ON, 55.0, 0, 20.01).soft_open());
    }

    /// Armed exactly when the stall reaches PERCENT and a gate is open, as the trigger says.
    #[test]
    fn armed_is_stall_and_a_gate() {
        for stall in [0.0, 39.9, 40.0, 90.0] {
            for pages in [0, 511, 512, 9000] {
                for avail in [5.0, 20.0, 20.5, 70.0] {
                    let v = over_2s(ON, stall, pages, avail);
                    let want = v.stall_percent.unwrap() >= 40.0
                        && (v.soft_open() || v.swap_open() == Some(true));
                    assert_eq!(v.armed(), Some(want), "{stall} {pages} {avail}");
                    let verdict = v.verdict.unwrap();
                    match verdict {
                        Verdict::Gated { .. } => assert!(stall >= 40.0 && !want),
                        Verdict::Calm => assert!(stall < 40.0),
                        Verdict::Fire { gate, .. } => {
                            // The soft line is named first when both are open.
                            assert_eq!(
                                matches!(gate, Gate::LowAvailable { .. }),
                                v.soft_open(),
                                "{stall} {pages} {avail}"
                            )
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn off_still_measures_but_judges_nothing() {
        let v = over_2s(None, 70.0, 9000, 5.0);
        assert!(v.stall_percent.is_some() && v.swap_open() == Some(true) && v.soft_open());
        assert_eq!(v.verdict, None);
        assert_eq!(v.armed(), None);
        let text = pressure_text(&v);
        assert!(
            text.starts_with("memory pressure: OFF (--memory-pressure not in the options)"),
            "{text}"
        );
        assert!(text.contains("full stall: 70.00 % over 2.00 s"), "{text}");
        assert!(text.contains("swap-out:   4500 pages/s"), "{text}");
        assert!(!text.contains("trigger"), "{text}");
        let j = serde_json::to_value(pressure_json(&v)).unwrap();
        assert_eq!(j["enabled"], false);
        assert!(j["trigger"].is_null() && j["percent"].is_null());
        assert_eq!(j["gates"]["swap_out"]["open"], true);
        assert_eq!(j["gates"]["soft_line"]["open"], true);
    }

    #[test]
    fn trigger_texts() {
        let fire = pressure_text(&over_2s(ON, 70.0, 0, 15.0));
        assert!(
            flat(&fire).contains("trigger now: ARMED: full stall 70.00 % >= 40.00 % and the soft line gate open; the daemon fires once that lasts 10 s"),
            "{fire}"
        );
        assert!(fire.contains("gate soft line: OPEN: mem avail 15.00 % <= 20.00 %"));
        assert!(fire.contains("gate swap-out:  closed: 0 pages/s < 256 pages/s"));
        let gated = pressure_text(&over_2s(ON, 70.0, 0, 60.0));
        assert!(
            flat(&gated).contains(
                "trigger now: not armed: full stall 70.00 % >= 40.00 %, but no gate is open"
            ),
            "{gated}"
        );
        assert!(
            flat(&gated).contains("gate soft line: closed: mem avail 60.00 % > 20.00 % (2 x SIGTERM), 40.00 pp (6554 MiB) above"),
            "{gated}"
        );
        let calm = pressure_text(&over_2s(ON, 12.5, 9000, 60.0));
        assert!(
            calm.contains("trigger now: not armed: full stall 12.50 % < 40.00 %"),
            "{calm}"
        );
        assert!(calm.contains("gate swap-out:  OPEN: 4500 pages/s >= 256 pages/s"));
        let j = serde_json::to_value(pressure_json(&over_2s(ON, 70.0, 9000, 60.0))).unwrap();
        assert_eq!(j["trigger"]["armed"], true);
        assert_eq!(j["trigger"]["verdict"], "fire");
        assert_eq!(j["trigger"]["gate"], "swap-out");
        assert_eq!(j["trigger"]["needs_seconds"], 10.0);
        let j = serde_json::to_value(pressure_json(&over_2s(ON, 70.0, 0, 60.0))).unwrap();
        assert_eq!(j["trigger"]["armed"], false);
        assert_eq!(j["trigger"]["verdict"], "gated");
        assert!(j["trigger"]["gate"].is_null());
    }

    /// One reading, or none: the stall, the rate and the trigger are unknown, the soft line
    /// (meminfo) is still judged.
    #[test]
    fn unknown_stall() {
        let r = reading(100.0, 5_000_000, 1000, 15.0);
        let one = judge(
            ON,
            Some(r),
            Some(r),
            Some(Unknown::OneReading),
            &mem(15.0),
            10.0,
        );
        assert_eq!((one.stall_percent, one.swap_out_per_s), (None, None));
        assert_eq!((one.verdict, one.swap_open()), (None, None));
        assert!(one.soft_open());
        let text = pressure_text(&one);
        assert!(text.contains("full stall: unknown: --interval 0 takes one reading"));
        assert!(text.contains("gate swap-out:  unknown"));
        assert!(text.contains("trigger now: unknown (the stall is unknown)"));
        let j = serde_json::to_value(pressure_json(&one)).unwrap();
        assert_eq!(j["stall_unknown"], "one-reading");
        assert!(j["full_stall_percent"].is_null() && j["trigger"].is_null());
        assert_eq!(j["full_total_us"], 5_000_000);
        let why = "/proc/pressure/memory is unreadable (no PSI: CONFIG_PSI off or psi=0)";
        let none = judge(
            ON,
            None,
            None,
            Some(Unknown::NoPsi(why.into())),
            &mem(15.0),
            10.0,
        );
        let text = pressure_text(&none);
        assert!(
            text.contains(&format!("full stall: unknown: {why}")),
            "{text}"
        );
        assert!(
            text.contains("the daemon runs without the trigger here"),
            "{text}"
        );
        let off = judge(
            None,
            None,
            None,
            Some(Unknown::NoPsi(why.into())),
            &mem(15.0),
            10.0,
        );
        assert!(!pressure_text(&off).contains("the daemon runs without"));
        let bad = judge(
            ON,
            None,
            None,
            Some(Unknown::Unreadable("/proc/vmstat unreadable".into())),
            &mem(15.0),
            10.0,
        );
        let text = pressure_text(&bad);
        assert!(
            text.contains("full stall: unknown: /proc/vmstat unreadable\n  the daemon's trigger reads nothing here either: it never fires"),
            "{text}"
        );
        let j = serde_json::to_value(pressure_json(&none)).unwrap();
        assert_eq!(j["stall_unknown"], "no-psi");
        assert_eq!(j["stall_unknown_reason"], why);
        assert!(j["full_total_us"].is_null() && j["gates"]["swap_out"]["open"].is_null());
    }

    #[test]
    fn warning_line() {
        let m = mem(30.0);
        let term = Distance::new(10.0, 30.0, m.user_mem_total_kib, false);
        let w = WarnSettings {
            percent: 25.0,
            hook: None,
        };
        let v = warn_view(&w, true, &m, term, None);
        assert!(!v.at_or_below && v.hook_disabled);
        let text = warn_text(Some(&v));
        assert!(
            flat(&text).contains("mem avail 30.00 %: 5.00 pp (819 MiB) above the warning line, 20.00 pp (3277 MiB) above the SIGTERM line 10.00 %"),
            "{text}"
        );
        assert!(text.contains("--warn-hook disabled"), "{text}");
        assert!(text.contains("no process could be killed"), "{text}");
        let w = WarnSettings {
            percent: 30.0,
            hook: Some(b"/usr/local/bin/warn".to_vec()),
        };
        let b = Brief {
            pid: 41377,
            comm: "ugrep".into(),
            rss_kib: 1024,
        };
        let v = warn_view(&w, true, &m, term, Some(b));
        assert!(v.at_or_below && !v.hook_disabled);
        let text = warn_text(Some(&v));
        assert!(text.contains("AT OR BELOW the warning line"), "{text}");
        assert!(
            text.contains("\n  --warn-hook /usr/local/bin/warn\n"),
            "{text}"
        );
        assert!(
            text.contains("names the next victim: pid 41377 ugrep"),
            "{text}"
        );
        assert_eq!(
            warn_text(None),
            "warning: off (--warn not in the options)\n"
        );
        let j = serde_json::to_value(warn_json(Some(&v), &term)).unwrap();
        assert_eq!(j["at_or_below"], true);
        assert_eq!(j["line"]["met"], true);
        assert_eq!(j["sigterm"]["points_away"], 20.0);
        assert_eq!(j["would_name"]["pid"], 41377);
        let j = serde_json::to_value(warn_json(None, &term)).unwrap();
        assert_eq!(j["enabled"], false);
        assert!(j["line"].is_null() && j["at_or_below"].is_null());
    }
}
