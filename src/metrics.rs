//! `--metrics-file`: a node_exporter textfile-collector file, rewritten atomically (write a
//! temporary file in the same directory, then rename) so the collector never reads half a file.
//!
//! Format: Prometheus text exposition format 0.0.4. Names follow Prometheus conventions
//! (`_total` counters, `_seconds` and `_ratio` in base units). Process names are hostile
//! input: label values are escaped (`\\`, `\"`, `\n`) and invalid UTF-8 becomes U+FFFD.

use crate::decide::Limits;
use crate::meminfo::MemInfo;
use crate::sys::{self, Errno};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Why a process was signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// System memory (and swap) at or below the thresholds: earlyoom's own rule.
    Memory,
    /// The livelock guard.
    Livelock,
    /// `--cgroup-headroom`: a capped cgroup at or below its line.
    Cgroup,
    /// `--storm-guard`: the source of a fork storm.
    Storm,
    /// `--memory-pressure`: the machine's full memory stall, gated.
    Pressure,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Memory,
        Reason::Livelock,
        Reason::Cgroup,
        Reason::Storm,
        Reason::Pressure,
    ];

    /// The `reason` label of `earlyoom_kills_total` (and of journal entries).
    pub fn label(self) -> &'static str {
        match self {
            Reason::Memory => "memory",
            Reason::Livelock => "livelock",
            Reason::Cgroup => "cgroup",
            Reason::Storm => "storm",
            Reason::Pressure => "pressure",
        }
    }
}

/// Why memory was at or below a line and nothing was signalled (`earlyoom_no_kill_total`,
/// and the `no kill:` lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoKill {
    /// `--dryrun`.
    DryRun,
    /// No process may be chosen: every one is ignored, protected, or the daemon.
    NoneEligible,
    /// The chosen process exited, or left its cgroup, before it was signalled.
    Replaced,
    /// Memory recovered while the victim was being chosen.
    Recovered,
    /// The only candidates were sent SIGKILL and have not exited (stuck in the kernel).
    Stuck,
    /// `--memory-pressure`: the stall held, but no gate (page cache churn).
    PressureGated,
}

impl NoKill {
    pub const ALL: [NoKill; 6] = [
        NoKill::DryRun,
        NoKill::NoneEligible,
        NoKill::Replaced,
        NoKill::Recovered,
        NoKill::Stuck,
        NoKill::PressureGated,
    ];

    /// The `why` label.
    pub fn label(self) -> &'static str {
        match self {
            NoKill::DryRun => "dryrun",
            NoKill::NoneEligible => "none_eligible",
            NoKill::Replaced => "replaced",
            NoKill::Recovered => "recovered",
            NoKill::Stuck => "stuck",
            NoKill::PressureGated => "pressure_gated",
        }
    }
}

/// What the daemon counts; updated by the kill path and the loop.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// [reason as in Reason::ALL][0 = SIGTERM, 1 = SIGKILL]
    pub kills: [[u64; 2]; 5],
    /// [why as in NoKill::ALL]
    pub no_kill: [u64; 6],
    /// `--warn`: warnings given.
    pub warnings: u64,
    /// `--memory-pressure`: the full stall over the last interval, percent.
    pub pressure_full_percent: Option<f64>,
    /// `--cgroup-headroom`: capped cgroups watched, and how many are at or below the line.
    pub capped_cgroups: u64,
    pub low_cgroups: u64,
    /// `--storm-guard`: storms broken.
    pub storms: u64,
    pub last_kill_unix: f64,
    pub last_victim: crate::proc::Text,
    pub last_scan_seconds: f64,
    pub livelocked_cgroups: u64,
    pub livelock_trips: u64,
}

impl Counters {
    /// Records one signal actually sent (dry runs send nothing and count nothing).
    pub fn signal_sent(&mut self, reason: Reason, sig: i32, victim: &[u8]) {
        let r = reason as usize;
        let s = usize::from(sig == libc::SIGKILL);
        self.kills[r][s] += 1;
        self.last_kill_unix = unix_now();
        self.last_victim.set(victim);
    }
}

impl Counters {
    /// Counts one kill not made.
    pub fn not_killed(&mut self, why: NoKill) {
        self.no_kill[why as usize] += 1;
    }
}

fn unix_now() -> f64 {
    sys::unix_secs()
}

/// Writes a Prometheus label value: escapes `\`, `"` and newline; invalid UTF-8 → U+FFFD.
pub fn escape_label(out: &mut Vec<u8>, value: &[u8]) {
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.extend_from_slice(b"\\\\"),
                '"' => out.extend_from_slice(b"\\\""),
                '\n' => out.extend_from_slice(b"\\n"),
                c => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// The metrics file and its reusable buffers.
pub struct MetricsFile {
    path: CString,
    tmp: CString,
    buf: Vec<u8>,
    start_unix: f64,
}

impl MetricsFile {
    pub fn new(path: &Path) -> MetricsFile {
        let bytes = path.as_os_str().as_bytes();
        let mut tmp = bytes.to_vec();
        tmp.extend_from_slice(b".tmp");
        MetricsFile {
            // argv strings cannot contain NUL, so these cannot fail.
            path: CString::new(bytes).unwrap_or_default(),
            tmp: CString::new(tmp).unwrap_or_default(),
            buf: Vec::with_capacity(4096),
            start_unix: unix_now(),
        }
    }

    /// Renders the exposition text into the reusable buffer.
    pub fn render(&mut self, c: &Counters, m: &MemInfo, l: &Limits, dryrun: bool) -> &[u8] {
        let b = &mut self.buf;
        b.clear();
        let _ = writeln!(
            b,
            "# HELP earlyoom_kills_total Signals sent to victims, by signal and reason."
        );
        let _ = writeln!(b, "# TYPE earlyoom_kills_total counter");
        for (ri, reason) in Reason::ALL.into_iter().enumerate() {
            for (si, sig) in ["SIGTERM", "SIGKILL"].into_iter().enumerate() {
                let _ = writeln!(
                    b,
                    "earlyoom_kills_total{{signal=\"{sig}\",reason=\"{}\"}} {}",
                    reason.label(),
                    c.kills[ri][si]
                );
            }
        }
        let _ = writeln!(b, "# HELP earlyoom_last_kill_timestamp_seconds Unix time of the last signal sent (0: never).");
        let _ = writeln!(b, "# TYPE earlyoom_last_kill_timestamp_seconds gauge");
        let _ = writeln!(
            b,
            "earlyoom_last_kill_timestamp_seconds {:.3}",
            c.last_kill_unix
        );
        let _ = writeln!(
            b,
            "# HELP earlyoom_last_victim_info Name (comm) of the last process signalled."
        );
        let _ = writeln!(b, "# TYPE earlyoom_last_victim_info gauge");
        if c.last_kill_unix > 0.0 {
            b.extend_from_slice(b"earlyoom_last_victim_info{comm=\"");
            escape_label(b, c.last_victim.as_bytes());
            b.extend_from_slice(b"\"} 1\n");
        }
        let ratios = [
            (
                "earlyoom_mem_available_ratio",
                "MemAvailable as a fraction of user mem total (MemAvailable + AnonPages).",
                m.mem_available_percent / 100.0,
            ),
            (
                "earlyoom_swap_free_ratio",
                "SwapFree as a fraction of SwapTotal (0 without swap).",
                m.swap_free_percent / 100.0,
            ),
        ];
        for (name, help, v) in ratios {
            let _ = writeln!(
                b,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v:.6}"
            );
        }
        let _ = writeln!(
            b,
            "# HELP earlyoom_threshold_ratio Configured thresholds as fractions."
        );
        let _ = writeln!(b, "# TYPE earlyoom_threshold_ratio gauge");
        for (res, sig, v) in [
            ("mem", "SIGTERM", l.mem_term_percent),
            ("mem", "SIGKILL", l.mem_kill_percent),
            ("swap", "SIGTERM", l.swap_term_percent),
            ("swap", "SIGKILL", l.swap_kill_percent),
        ] {
            let _ = writeln!(
                b,
                "earlyoom_threshold_ratio{{resource=\"{res}\",signal=\"{sig}\"}} {:.6}",
                v / 100.0
            );
        }
        let gauges = [
            (
                "earlyoom_livelocked_cgroups",
                "Cgroups the livelock guard currently sees stuck at memory.high.",
                c.livelocked_cgroups as f64,
            ),
            (
                "earlyoom_scan_duration_seconds",
                "Duration of the last victim scan.",
                c.last_scan_seconds,
            ),
            (
                "earlyoom_start_time_seconds",
                "Unix time the daemon started.",
                self.start_unix,
            ),
            (
                "earlyoom_dryrun",
                "1 if --dryrun is active (nothing is ever signalled).",
                f64::from(u8::from(dryrun)),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(b, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            b,
            "# HELP earlyoom_build_info The daemon's version, and the earlyoom whose behaviour it keeps."
        );
        let _ = writeln!(b, "# TYPE earlyoom_build_info gauge");
        let _ = writeln!(
            b,
            "earlyoom_build_info{{version=\"{}\",earlyoom_compat=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            crate::EARLYOOM_COMPAT
        );
        let _ = writeln!(
            b,
            "# HELP earlyoom_log_lines_dropped_total Log lines dropped because writing them would have blocked the daemon (a full pipe, a log daemon that stopped reading)."
        );
        let _ = writeln!(b, "# TYPE earlyoom_log_lines_dropped_total counter");
        let _ = writeln!(
            b,
            "earlyoom_log_lines_dropped_total {}",
            crate::log::dropped()
        );
        let _ = writeln!(b, "# HELP earlyoom_livelock_trips_total Times the livelock guard found a cgroup livelocked.");
        let _ = writeln!(b, "# TYPE earlyoom_livelock_trips_total counter");
        let _ = writeln!(b, "earlyoom_livelock_trips_total {}", c.livelock_trips);
        let _ = writeln!(
            b,
            "# HELP earlyoom_no_kill_total Times memory was at or below a line and nothing was signalled, by reason."
        );
        let _ = writeln!(b, "# TYPE earlyoom_no_kill_total counter");
        for (i, why) in NoKill::ALL.into_iter().enumerate() {
            let _ = writeln!(
                b,
                "earlyoom_no_kill_total{{why=\"{}\"}} {}",
                why.label(),
                c.no_kill[i]
            );
        }
        let gauges = [
            (
                "earlyoom_capped_cgroups",
                "Cgroups with a finite memory.max that --cgroup-headroom watches.",
                c.capped_cgroups,
            ),
            (
                "earlyoom_low_cgroups",
                "Watched cgroups at or below their --cgroup-headroom line at the last poll.",
                c.low_cgroups,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(b, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(
            b,
            "# HELP earlyoom_storms_total Fork storms the storm guard broke (their source killed)."
        );
        let _ = writeln!(b, "# TYPE earlyoom_storms_total counter");
        let _ = writeln!(b, "earlyoom_storms_total {}", c.storms);
        let _ = writeln!(
            b,
            "# HELP earlyoom_warnings_total Warnings given at the --warn line (one per episode)."
        );
        let _ = writeln!(b, "# TYPE earlyoom_warnings_total counter");
        let _ = writeln!(b, "earlyoom_warnings_total {}", c.warnings);
        if let Some(stall) = c.pressure_full_percent {
            let _ = writeln!(
                b,
                "# HELP earlyoom_memory_full_stall_ratio The machine's full memory stall over the last poll interval (--memory-pressure)."
            );
            let _ = writeln!(b, "# TYPE earlyoom_memory_full_stall_ratio gauge");
            let _ = writeln!(b, "earlyoom_memory_full_stall_ratio {:.6}", stall / 100.0);
        }
        &self.buf
    }

    /// Renders and replaces the file atomically; errors are returned for the caller to log.
    pub fn write(
        &mut self,
        c: &Counters,
        m: &MemInfo,
        l: &Limits,
        dryrun: bool,
    ) -> Result<(), Errno> {
        self.render(c, m, l, dryrun);
        sys::replace_file(&self.path, &self.tmp, &self.buf)?;
        Ok(())
    }
}

/// The metrics file is rewritten at least this often (and after every kill), so that
/// "the daemon is not reporting" can be alerted on even with `-r 3600`.
const METRICS_INTERVAL_MS: i64 = 10_000;

/// The metrics file and when it is next due.
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

    /// Whether the loop should rewrite the file now.
    pub fn due(&self) -> bool {
        self.countdown_ms <= 0
    }

    /// The loop slept `ms`.
    pub fn slept(&mut self, ms: u32) {
        self.countdown_ms -= i64::from(ms);
    }

    /// Something happened (a kill): rewrite at the end of this poll.
    pub fn soon(&mut self) {
        self.countdown_ms = 0;
    }

    /// Rewrites the file at `now` (the seam's CLOCK_MONOTONIC); a failure is logged once,
    /// and again after recovery.
    pub fn write(&mut self, now: f64, c: &Counters, m: &MemInfo, l: &Limits, dryrun: bool) {
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
        self.last_write = now;
    }

    /// While a kill is waited out: rewrite when an interval has passed, so that "the daemon
    /// is not reporting" never fires because one victim is slow to exit.
    pub fn tick(&mut self, now: f64, c: &Counters, m: &MemInfo, l: &Limits, dryrun: bool) {
        if (now - self.last_write) * 1000.0 >= self.interval_ms as f64 {
            self.write(now, c, m, l, dryrun);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_one_label() {
        let mut out = Vec::new();
        escape_label(&mut out, b"a\"b\\c\nd}\xff{x=\"1\"}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\"b\\\\c\\nd}\u{FFFD}{x=\\\"1\\\"}"
        );
    }

    #[test]
    fn renders_every_family() {
        let mut c = Counters::default();
        c.signal_sent(Reason::Livelock, libc::SIGTERM, b"evil\"\n");
        let m = crate::meminfo::parse(include_bytes!("../tests/fixtures/meminfo/debian12-nosw"))
            .unwrap();
        let l = Limits {
            mem_term_percent: 10.0,
            mem_kill_percent: 5.0,
            swap_term_percent: 10.0,
            swap_kill_percent: 5.0,
        };
        let mut f = MetricsFile::new(Path::new("/nonexistent/x.prom"));
        let text = String::from_utf8(f.render(&c, &m, &l, false).to_vec()).unwrap();
        assert!(text.contains("earlyoom_kills_total{signal=\"SIGTERM\",reason=\"livelock\"} 1\n"));
        assert!(text.contains("earlyoom_kills_total{signal=\"SIGKILL\",reason=\"memory\"} 0\n"));
        assert!(text.contains("earlyoom_last_victim_info{comm=\"evil\\\"\\n\"} 1\n"));
        assert!(text
            .contains("earlyoom_threshold_ratio{resource=\"mem\",signal=\"SIGKILL\"} 0.050000\n"));
        assert!(text.contains(&format!(
            "earlyoom_build_info{{version=\"{}\",earlyoom_compat=\"v1.9.0+5c3e3ea\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("\nearlyoom_log_lines_dropped_total "));
        // Every sample line belongs to a family declared with # TYPE.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(text.contains(&format!("# TYPE {name} ")), "{line}");
        }
        assert!(f.write(&c, &m, &l, false).is_err()); // directory does not exist
    }
}
