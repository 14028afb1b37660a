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
}
