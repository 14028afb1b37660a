//! `--memory-pressure PERCENT[,SECONDS]`: act on memory pressure (earlyoom #100, #34), but
//! only on the pressure a kill relieves.
//!
//! The machine's `full` memory stall (Documentation/accounting/psi.rst: the share of time
//! every non-idle task waited on memory) is measured from the `total=` microseconds of
//! `/proc/pressure/memory` between two readings, not from `avg10` (which lags by design and
//! decays after the stall ended). Stall alone is no reason to kill: streaming a file larger
//! than RAM through the page cache, or the refaults of the survivors right after a kill,
//! stall as much as a shortage does, and killing helps neither (what peers that triggered
//! on PSI alone were reported for). So the trigger fires only when the stall has stayed at
//! or above PERCENT for SECONDS **and** a gate holds: available memory is at or below a soft
//! line (twice the SIGTERM line: reclaim is evicting what is still needed), or the machine is
//! swapping out (`pswpout` of `/proc/vmstat` at least [`SWAP_PAGES_PER_S`] over the window:
//! anonymous memory that does not fit is being pushed out). Swap-in alone is not a gate: it
//! is also what the survivors of a kill do when they fault their pages back into memory the
//! kill freed, which no further kill helps. After a kill the trigger also holds off until
//! the stall falls below PERCENT, or [`HOLD_MAX_S`] passed.
//! The pure part is [`Trigger::step`], tested on recorded sequences.

use crate::cgroup::{self, Files};
use crate::sys::{self, CPath};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `--memory-pressure PERCENT[,SECONDS]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PressureConfig {
    pub percent: f64,
    pub seconds: f64,
}

/// SECONDS when not given.
pub const DEFAULT_SECONDS: f64 = 10.0;
/// The swapping gate: 256 pages/s is 1 MiB/s swapped out with 4 KiB pages. Thrashing in
/// the lab swapped out thousands of pages a second (a 60 MB/s disk); an idle box with swap
/// moves a few pages a minute.
pub const SWAP_PAGES_PER_S: f64 = 256.0;
/// The soft line is this many times the SIGTERM line of available memory.
pub const SOFT_LINE_FACTOR: f64 = 2.0;
/// After a kill, the trigger is held at most this long while the stall stays high.
pub const HOLD_MAX_S: f64 = 30.0;

/// One reading of the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    /// CLOCK_MONOTONIC, seconds.
    pub t: f64,
    /// `full ... total=` of /proc/pressure/memory, microseconds.
    pub full_us: u64,
    /// MemAvailable in percent of user mem total (the daemon's base).
    pub avail_percent: f64,
    /// pswpout of /proc/vmstat, pages.
    pub swap_pages: u64,
}

/// The gate that let the trigger fire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gate {
    /// Available memory at or below the soft line.
    LowAvailable { percent: f64, line: f64 },
    /// Swapping out at this many pages/s over the window.
    Swapping { pages_per_s: f64 },
}

/// What a step found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Stall below the line, not long enough yet, or held after a kill.
    Calm,
    /// The stall held for the window and a gate holds: kill.
    Fire {
        stall_percent: f64,
        duration_s: f64,
        gate: Gate,
    },
    /// The stall held for the window, but no gate: page cache churn, not a shortage.
    Gated {
        stall_percent: f64,
        duration_s: f64,
        avail_percent: f64,
        line: f64,
        pages_per_s: f64,
    },
}

/// The trigger's state between readings.
#[derive(Clone, Debug)]
pub struct Trigger {
    pub cfg: PressureConfig,
    last: Option<Reading>,
    /// Where the current run of high-stall intervals began.
    since: Option<Reading>,
    /// When the last kill was made, while the trigger is held.
    held_since: Option<f64>,
    /// Readings at least a second apart over the last SECONDS (and a little more): the
    /// stall and the swap-out rate a decision uses are those of the last window, not of the
    /// whole run (an hour of gated cache churn must not dilute a minute of thrashing).
    /// Allocated once; it never grows past its capacity.
    history: std::collections::VecDeque<Reading>,
}

impl Trigger {
    pub fn new(cfg: PressureConfig) -> Trigger {
        Trigger {
            cfg,
            last: None,
            since: None,
            held_since: None,
            history: std::collections::VecDeque::with_capacity(cfg.seconds.ceil() as usize + 3),
        }
    }

    fn remember(&mut self, r: Reading) {
        if self.history.back().is_some_and(|b| r.t - b.t < 1.0) {
            return;
        }
        if self.history.len() == self.history.capacity() {
            self.history.pop_front();
        }
        self.history.push_back(r);
    }

    /// The reading the window ending at `r` starts from: the newest one at least SECONDS
    /// old, but not before the run began.
    fn window_start(&self, r: &Reading, run: Reading) -> Reading {
        let from = r.t - self.cfg.seconds;
        self.history
            .iter()
            .rev()
            .find(|h| h.t <= from + 1e-9 && h.t < r.t)
            .copied()
            .filter(|h| h.t >= run.t)
            .unwrap_or(run)
    }

    /// The full stall over the last interval, percent (None before two readings).
    pub fn last_stall(&self, r: &Reading) -> Option<f64> {
        let prev = self.last?;
        stall_between(&prev, r)
    }

    /// Takes reading `r`; `soft_line` is the soft line of available memory, percent.
    pub fn step(&mut self, r: Reading, soft_line: f64) -> Verdict {
        let Some(prev) = self.last.replace(r) else {
            self.remember(r);
            return Verdict::Calm;
        };
        self.remember(r);
        let Some(stall) = stall_between(&prev, &r) else {
            return Verdict::Calm;
        };
        if let Some(k) = self.held_since {
            if stall < self.cfg.percent || r.t - k >= HOLD_MAX_S {
                self.held_since = None;
            }
            self.since = None;
            return Verdict::Calm;
        }
        if stall < self.cfg.percent {
            self.since = None;
            return Verdict::Calm;
        }
        let start = *self.since.get_or_insert(prev);
        let duration_s = r.t - start.t;
        if duration_s + 1e-9 < self.cfg.seconds {
            return Verdict::Calm;
        }
        let w = self.window_start(&r, start);
        let stall_percent = stall_between(&w, &r).unwrap_or(stall);
        let pages_per_s = r.swap_pages.saturating_sub(w.swap_pages) as f64 / (r.t - w.t).max(1e-3);
        if r.avail_percent <= soft_line {
            Verdict::Fire {
                stall_percent,
                duration_s,
                gate: Gate::LowAvailable {
                    percent: r.avail_percent,
                    line: soft_line,
                },
            }
        } else if pages_per_s >= SWAP_PAGES_PER_S {
            Verdict::Fire {
                stall_percent,
                duration_s,
                gate: Gate::Swapping { pages_per_s },
            }
        } else {
            Verdict::Gated {
                stall_percent,
                duration_s,
                avail_percent: r.avail_percent,
                line: soft_line,
                pages_per_s,
            }
        }
    }

    /// A kill was made at `t` (for any reason): hold until the pressure falls.
    pub fn killed(&mut self, t: f64) {
        self.held_since = Some(t);
        self.since = None;
    }

    /// Whether the trigger is held after a kill.
    pub fn held(&self) -> bool {
        self.held_since.is_some()
    }
}

/// The full stall between two readings, percent of the wall time.
pub fn stall_between(a: &Reading, b: &Reading) -> Option<f64> {
    let dt = b.t - a.t;
    if dt <= 0.0 {
        return None;
    }
    Some(b.full_us.saturating_sub(a.full_us) as f64 / (dt * 1e6) * 100.0)
}

/// The soft line for a SIGTERM line of `term_percent`.
pub fn soft_line(term_percent: f64) -> f64 {
    (term_percent * SOFT_LINE_FACTOR).min(100.0)
}

/// Reads the machine's stall and swap counters below a proc root, without allocating, and
/// holds a PSI trigger on `<root>/pressure/memory` that wakes the loop when the stall rises.
pub struct Sampler {
    dir: PathBuf,
    files: Files,
    trigger: Option<OwnedFd>,
}

impl Sampler {
    /// Err if the kernel has no PSI (CONFIG_PSI off, `psi=0`).
    pub fn new(proc_root: &[u8]) -> Result<Sampler, String> {
        let dir = PathBuf::from(std::ffi::OsStr::new(
            std::str::from_utf8(proc_root).unwrap_or("/proc"),
        ));
        let mut s = Sampler {
            dir,
            files: Files::default(),
            trigger: None,
        };
        if s.full_us().is_none() {
            return Err(format!(
                "{}/pressure/memory is unreadable (no PSI: CONFIG_PSI off or psi=0)",
                s.dir.display()
            ));
        }
        Ok(s)
    }

    /// Arms the trigger for `percent`: a `full` stall of that share of a 2 s window (a
    /// multiple of 2 s, which unprivileged triggers require: psi.rst). The trigger only
    /// wakes the loop early; the decision is the sampled `total=` deltas, so a kernel or a
    /// sandbox that refuses it (EPERM, a read-only /proc) leaves sampling on every poll.
    /// Returns whether it was armed.
    pub fn arm(&mut self, percent: f64) -> bool {
        let mut p = CPath::new();
        let path = self.dir.join("pressure/memory");
        if !p.push(path.as_os_str().as_bytes()) {
            return false;
        }
        let us = (percent * 20_000.0).clamp(1.0, 2_000_000.0) as u64;
        let spec = format!("full {us} 2000000\0");
        self.trigger = sys::open_rdwr_nonblock(&p)
            .ok()
            .filter(|fd| sys::write_all(fd.as_fd(), spec.as_bytes()).is_ok());
        self.trigger.is_some()
    }

    /// The trigger's fd, to poll for POLLPRI.
    pub fn trigger_fd(&self) -> Option<i32> {
        self.trigger.as_ref().map(|f| f.as_raw_fd())
    }

    fn full_us(&mut self) -> Option<u64> {
        // `<root>/pressure/memory`, built in the reader's own path buffer.
        cgroup::parse_full_total(self.files.read(&self.dir, "pressure/memory").ok()?)
    }

    /// A reading at `t` with `avail_percent` from the loop's meminfo.
    pub fn read(&mut self, t: f64, avail_percent: f64) -> Option<Reading> {
        let full_us = self.full_us()?;
        let vm = self.files.read(&self.dir, "vmstat").ok()?;
        let swap_pages = cgroup::parse_keyed(vm, "pswpout").unwrap_or(0);
        Some(Reading {
            t,
            full_us,
            avail_percent,
            swap_pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: PressureConfig = PressureConfig {
        percent: 40.0,
        seconds: 10.0,
    };

    /// Monotonic counters fed one reading a second: `stall` percent full stall in each
    /// second, available memory `avail`, `swap` pages moved in each second.
    struct Feed {
        now: f64,
        full: u64,
        pages: u64,
    }

    impl Feed {
        fn new(t: &mut Trigger) -> Feed {
            let f = Feed {
                now: 100.0,
                full: 1_000_000,
                pages: 0,
            };
            t.step(f.reading(50.0), 20.0);
            f
        }

        fn reading(&self, avail: f64) -> Reading {
            Reading {
                t: self.now,
                full_us: self.full,
                avail_percent: avail,
                swap_pages: self.pages,
            }
        }

        fn run(&mut self, t: &mut Trigger, seq: &[(f64, f64, u64)]) -> Vec<Verdict> {
            let mut out = vec![Verdict::Calm];
            for &(stall, avail, swap) in seq {
                self.now += 1.0;
                self.full += (stall * 10_000.0) as u64;
                self.pages += swap;
                out.push(t.step(self.reading(avail), 20.0));
            }
            out
        }
    }

    fn run(t: &mut Trigger, seq: &[(f64, f64, u64)]) -> Vec<Verdict> {
        Feed::new(t).run(t, seq)
    }

    /// Thrashing (the lab's `thrash`): high stall, plenty of memory "available" by
    /// MemAvailable's count, heavy swapping: fires once the window is full, not before.
    #[test]
    fn thrashing_fires_after_the_window_on_the_swap_gate() {
        let mut t = Trigger::new(CFG);
        let v = run(&mut t, &[(70.0, 35.0, 9000); 12]);
        assert!(v[..10].iter().all(|v| *v == Verdict::Calm), "{v:?}");
        match v[10] {
            Verdict::Fire {
                gate: Gate::Swapping { pages_per_s },
                stall_percent,
                duration_s,
            } => {
                assert!((pages_per_s - 9000.0).abs() < 1.0);
                assert!((stall_percent - 70.0).abs() < 0.01);
                assert!((duration_s - 10.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Streaming a file larger than RAM: the stall is as high, but memory is available
    /// (page cache) and nothing swaps: gated, never fired.
    #[test]
    fn page_cache_churn_is_gated() {
        let mut t = Trigger::new(CFG);
        let v = run(&mut t, &[(65.0, 70.0, 0); 15]);
        assert!(
            v.iter().all(|v| !matches!(v, Verdict::Fire { .. })),
            "{v:?}"
        );
        assert!(matches!(v[14], Verdict::Gated { .. }));
    }

    /// An hour of gated cache churn, then thrashing: the gate is judged on the last window,
    /// so it fires a window after the swapping began, not after it has diluted the hour.
    #[test]
    fn the_gate_is_judged_on_the_last_window() {
        let mut t = Trigger::new(CFG);
        let mut f = Feed::new(&mut t);
        let v = f.run(&mut t, &[(70.0, 60.0, 0); 3600]);
        assert!(v.iter().all(|v| !matches!(v, Verdict::Fire { .. })));
        let v = f.run(&mut t, &[(70.0, 60.0, 9000); 15]);
        let first = v
            .iter()
            .position(|v| matches!(v, Verdict::Fire { .. }))
            .unwrap();
        assert!(first <= 11, "fired {first} s after the swapping began");
    }

    /// A dip below PERCENT restarts the window; low available memory opens the gate.
    #[test]
    fn a_dip_restarts_the_window_and_low_memory_opens_the_gate() {
        let mut t = Trigger::new(CFG);
        let mut seq = vec![(60.0, 12.0, 0); 8];
        seq.push((20.0, 12.0, 0));
        seq.extend([(60.0, 12.0, 0); 10]);
        let v = run(&mut t, &seq);
        assert!(v[..19].iter().all(|v| *v == Verdict::Calm), "{v:?}");
        assert!(
            matches!(
                v[19],
                Verdict::Fire {
                    gate: Gate::LowAvailable { .. },
                    ..
                }
            ),
            "{:?}",
            v[19]
        );
    }

    /// After a kill, the survivors' refaults keep the stall up for a while: no second kill
    /// until the stall fell below PERCENT and a whole new window passed.
    #[test]
    fn the_refaults_after_a_kill_do_not_fire_again() {
        let mut t = Trigger::new(CFG);
        let mut f = Feed::new(&mut t);
        let v = f.run(&mut t, &[(70.0, 10.0, 0); 11]);
        assert!(matches!(v[10], Verdict::Fire { .. }));
        t.killed(f.now);
        let mut seq = vec![(80.0, 10.0, 3000); 5];
        seq.push((10.0, 30.0, 0));
        let v = f.run(&mut t, &seq);
        assert!(v.iter().all(|v| *v == Verdict::Calm), "{v:?}");
        assert!(!t.held(), "re-armed once the stall fell");
        // The refaults themselves: swap-in with memory freed by the kill, no swap-out: the
        // stall holds for a whole window, and no gate opens.
        let v = f.run(&mut t, &[(80.0, 60.0, 0); 12]);
        assert!(
            v.iter().all(|v| !matches!(v, Verdict::Fire { .. })),
            "{v:?}"
        );
        assert!(matches!(v[11], Verdict::Gated { .. }), "{:?}", v[11]);
        // The hold ends after HOLD_MAX_S even if the stall never falls.
        t.killed(f.now);
        let v = f.run(&mut t, &[(80.0, 10.0, 0); 45]);
        let first = v
            .iter()
            .position(|v| matches!(v, Verdict::Fire { .. }))
            .unwrap();
        assert!(first >= 30 + 10, "fired again after {first} s");
    }
}
