//! The pure decision of one poll: which signal, and how long to sleep (docs/contract.md §4.2, §4.4).

use crate::meminfo::MemInfo;

/// The four thresholds, in percent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub mem_term_percent: f64,
    pub mem_kill_percent: f64,
    pub swap_term_percent: f64,
    pub swap_kill_percent: f64,
}

impl Default for Limits {
    /// earlyoom's defaults: `-m 10,5 -s 10,5`.
    fn default() -> Limits {
        Limits {
            mem_term_percent: 10.0,
            mem_kill_percent: 5.0,
            swap_term_percent: 10.0,
            swap_kill_percent: 5.0,
        }
    }
}

/// What a poll asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    None,
    Term,
    Kill,
}

/// SIGKILL is checked before SIGTERM; each needs memory *and* swap at or below its limits
/// (inclusive). No hysteresis: every poll decides afresh (main.c:524-531).
pub fn decide(m: &MemInfo, l: &Limits) -> Action {
    if m.mem_available_percent <= l.mem_kill_percent && m.swap_free_percent <= l.swap_kill_percent {
        Action::Kill
    } else if m.mem_available_percent <= l.mem_term_percent
        && m.swap_free_percent <= l.swap_term_percent
    {
        Action::Term
    } else {
        Action::None
    }
}

/// Fastest plausible RAM fill rate, KiB per ms (~6000 MiB/s, "stress -m 4" in earlyoom).
pub const MEM_FILL_RATE_KIB_PER_MS: u64 = 6000;
const MEM_FILL_RATE: i64 = MEM_FILL_RATE_KIB_PER_MS as i64;
/// Fastest plausible swap fill rate, KiB per ms (~800 MiB/s, zram).
const SWAP_FILL_RATE: i64 = 800;

/// earlyoom's adaptive sleep (main.c:492-517): the time the headroom above the SIGTERM line
/// lasts at the fastest fill rates, clamped to 100..=1000 ms.
pub fn sleep_time_ms(m: &MemInfo, l: &Limits) -> u32 {
    let mem_headroom = (((m.mem_available_percent - l.mem_term_percent)
        * m.user_mem_total_kib as f64
        / 100.0) as i64)
        .max(0);
    let swap_headroom = (((m.swap_free_percent - l.swap_term_percent) * m.swap_total_kib as f64
        / 100.0) as i64)
        .max(0);
    let ms = mem_headroom / MEM_FILL_RATE + swap_headroom / SWAP_FILL_RATE;
    ms.clamp(100, 1000) as u32
}

/// The shortest sleep while memory falls towards the SIGTERM line.
pub const MIN_FALLING_SLEEP_MS: u32 = 10;

/// earlyoom's adaptive sleep, shortened where it would make the loop wait at the line:
/// near the line earlyoom sleeps its 100 ms floor, so a fast hog crosses the line and is
/// then waited on for up to 100 ms before the scan even starts. While memory is falling
/// (available memory lower than at the last poll) with swap already at or below its
/// SIGTERM line (or none), the sleep is half the time the observed fall needs to reach the
/// line, between MIN_FALLING_SLEEP_MS and the floor. A meminfo read costs ~2 µs, so even 100
/// polls a second cost nothing worth measuring; memory that sits still or rises near the
/// line keeps earlyoom's 100 ms, and far from the line nothing changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Approach {
    last: Option<(f64, i64)>,
}

impl Approach {
    /// The sleep after a poll at `now` (seconds) that read `m`.
    pub fn sleep_ms(&mut self, now: f64, m: &MemInfo, l: &Limits) -> u32 {
        let base = sleep_time_ms(m, l);
        let prev = self.last.replace((now, m.mem_available_kib));
        if base > 100 || m.swap_free_percent > l.swap_term_percent {
            return base;
        }
        let Some((t0, a0)) = prev else {
            return base;
        };
        let dt_ms = (now - t0) * 1000.0;
        let fall = (a0 - m.mem_available_kib) as f64;
        let above =
            (m.mem_available_percent - l.mem_term_percent) * m.user_mem_total_kib as f64 / 100.0;
        if dt_ms <= 0.0 || fall <= 0.0 || above <= 0.0 {
            return base;
        }
        let eta_ms = above / (fall / dt_ms);
        (eta_ms / 2.0).clamp(f64::from(MIN_FALLING_SLEEP_MS), f64::from(base)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(avail_pct: f64, swap_pct: f64) -> MemInfo {
        MemInfo {
            mem_total_kib: 1_000_000,
            mem_available_kib: (avail_pct * 10_000.0) as i64,
            anon_pages_kib: 0,
            swap_total_kib: 1_000_000,
            swap_free_kib: (swap_pct * 10_000.0) as i64,
            user_mem_total_kib: 1_000_000,
            mem_available_percent: avail_pct,
            swap_free_percent: swap_pct,
            available_guessed: false,
        }
    }

    const L: Limits = Limits {
        mem_term_percent: 10.0,
        mem_kill_percent: 5.0,
        swap_term_percent: 10.0,
        swap_kill_percent: 5.0,
    };

    #[test]
    fn both_must_be_low_and_limits_are_inclusive() {
        assert_eq!(decide(&mem(50.0, 50.0), &L), Action::None);
        assert_eq!(decide(&mem(10.0, 10.0), &L), Action::Term);
        assert_eq!(decide(&mem(5.0, 5.0), &L), Action::Kill);
        assert_eq!(decide(&mem(5.0, 10.0), &L), Action::Term);
        assert_eq!(decide(&mem(1.0, 50.0), &L), Action::None);
        assert_eq!(decide(&mem(50.0, 1.0), &L), Action::None);
        assert_eq!(decide(&mem(10.01, 0.0), &L), Action::None);
    }

    #[test]
    fn no_swap_means_memory_alone_decides() {
        let mut m = mem(4.0, 0.0);
        m.swap_total_kib = 0;
        m.swap_free_kib = 0;
        assert_eq!(decide(&m, &L), Action::Kill);
    }

    #[test]
    fn adaptive_sleep() {
        // 90 % headroom of 1 GB = 900000 KiB / 6000 = 150 ms, plus swap 900000/800 = 1125 → 1000.
        assert_eq!(sleep_time_ms(&mem(100.0, 100.0), &L), 1000);
        assert_eq!(sleep_time_ms(&mem(100.0, 0.0), &L), 150);
        assert_eq!(sleep_time_ms(&mem(10.0, 10.0), &L), 100);
        assert_eq!(sleep_time_ms(&mem(1.0, 1.0), &L), 100);
        let mut big = mem(50.0, 0.0);
        big.user_mem_total_kib = 24_000_000; // 40 % of 24 GB / 6000 = 1600 → 1000
        assert_eq!(sleep_time_ms(&big, &L), 1000);
        big.mem_available_percent = 12.0; // 2 % of 24 GB = 480000/6000 = 80 → 100
        assert_eq!(sleep_time_ms(&big, &L), 100);
        big.mem_available_percent = 13.0; // 720000/6000 = 120
        assert_eq!(sleep_time_ms(&big, &L), 120);
    }

    /// Falling towards the line: half the time to it at the observed rate, 10..=100 ms;
    /// still or rising, or with swap to spare, or far away: earlyoom's sleep.
    #[test]
    fn falling_towards_the_line_shortens_the_floor() {
        let mut a = Approach::default();
        let no_swap = |pct: f64| {
            let mut m = mem(pct, 0.0);
            m.swap_total_kib = 0;
            m.swap_free_kib = 0;
            m
        };
        assert_eq!(a.sleep_ms(0.0, &no_swap(14.0), &L), 100, "first poll");
        // 14 % -> 13 % of 1 GB in 100 ms: 100 KiB/ms; 30,000 KiB above the line: 300 ms
        // to it, half of that clamps to the 100 ms floor.
        assert_eq!(a.sleep_ms(0.1, &no_swap(13.0), &L), 100);
        // 13 % -> 11 % in 100 ms: 200 KiB/ms, 10,000 KiB left: 50 ms, sleep 25.
        assert_eq!(a.sleep_ms(0.2, &no_swap(11.0), &L), 25);
        // 11 % -> 10.1 % in 25 ms: 360 KiB/ms, 1,000 KiB left: ~3 ms, floor 10.
        assert_eq!(a.sleep_ms(0.225, &no_swap(10.1), &L), 10);
        assert_eq!(a.sleep_ms(0.3, &no_swap(10.1), &L), 100, "still");
        assert_eq!(a.sleep_ms(0.4, &no_swap(10.5), &L), 100, "rising");
        let mut b = Approach::default();
        b.sleep_ms(0.0, &mem(13.0, 50.0), &L);
        let spare = mem(11.0, 50.0);
        assert_eq!(
            b.sleep_ms(0.1, &spare, &L),
            sleep_time_ms(&spare, &L),
            "swap to spare"
        );
        let mut c = Approach::default();
        c.sleep_ms(0.0, &no_swap(90.0), &L);
        assert_eq!(
            c.sleep_ms(1.0, &no_swap(60.0), &L),
            sleep_time_ms(&no_swap(60.0), &L)
        );
    }
}
