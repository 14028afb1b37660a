//! The whole command line (`earlyoom::cli::parse`: glibc getopt_long semantics, docs/contract.md §2).
//!
//! Input: one mode byte (bit 0: POSIXLY_CORRECT; bits 1-3: which machine's MemTotal/SwapTotal
//! the -M/-S limits use), then the arguments separated by NUL bytes, as in
//! /proc/PID/cmdline; argv[0] is "earlyoom". Invariants:
//! - never panics;
//! - on Ok(Run(cfg)): each threshold is NaN or >= 0 and at most 99 (memory) / 100 (swap), or
//!   at most what the largest accepted -M/-S converts to (100 * (Total*100/99) / Total, just
//!   above 100 %); SIGKILL <= SIGTERM unless an argument spells "nan" (then even earlyoom can
//!   invert them); report_interval_ms >= 0; the livelock options stay in their ranges;
//! - Err(Fatal::Usage) always ends with the "Try 'earlyoom --help'" line;
//! - every printed message is a complete line (ends in '\n').
#![no_main]

use earlyoom::cli::{parse, Event, Parsed, Totals};
use earlyoom::Fatal;
use libfuzzer_sys::fuzz_target;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

const TOTALS: [Totals; 8] = [
    Totals {
        mem_total_kib: 16_000_000,
        swap_total_kib: 0,
    },
    Totals {
        mem_total_kib: 16_000_000,
        swap_total_kib: 8_000_000,
    },
    Totals {
        mem_total_kib: 1,
        swap_total_kib: 1,
    },
    Totals {
        mem_total_kib: 99,
        swap_total_kib: 99,
    },
    Totals {
        mem_total_kib: 1 << 40,
        swap_total_kib: 1 << 40,
    },
    Totals {
        mem_total_kib: 33_554_432,
        swap_total_kib: 14_680_064,
    },
    Totals {
        mem_total_kib: 0,
        swap_total_kib: 0,
    },
    // Absurd totals from a fake /proc/meminfo: the -M/-S limits saturate (finding 3).
    Totals {
        mem_total_kib: i64::MAX,
        swap_total_kib: i64::MAX / 2,
    },
];

/// The largest percentage an accepted -M/-S (at most Total*100/99 KiB) converts to.
fn size_bound(total: i64, base: f64) -> f64 {
    if total <= 0 {
        return base; // only NaN passes the limit 0 (and -S is then ignored)
    }
    let limit = (i128::from(total) * 100 / 99).min(i64::MAX.into()) as i64;
    base.max(100.0 * limit as f64 / total as f64)
}

fn check_pair(what: &str, term: f64, kill: f64, hi: f64, nan_given: bool) {
    for v in [term, kill] {
        assert!(
            v.is_nan() || (0.0..=hi).contains(&v),
            "{what} threshold {v} outside 0..={hi}"
        );
    }
    // With a NaN anywhere, earlyoom itself can put SIGKILL above SIGTERM: `-m 0,nan -M 1000`
    // gives 0 / 0.003125 (its min(NaN, y) is y). So this check needs NaN-free arguments.
    if nan_given {
        return;
    }
    if !term.is_nan() && !kill.is_nan() {
        assert!(kill <= term, "{what}: SIGKILL {kill} above SIGTERM {term}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let posixly_correct = mode & 1 == 1;
    let totals = TOTALS[(mode as usize >> 1) % TOTALS.len()];
    let mut args = vec![OsString::from("earlyoom")];
    if !rest.is_empty() {
        args.extend(
            rest.split(|&b| b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }

    let r = parse(&args, totals, posixly_correct);
    let nan_given = args.iter().any(|a| {
        a.as_encoded_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"nan"))
    });

    for e in &r.events {
        if let Event::Plain(b) | Event::Warn(b) = e {
            assert!(
                b.ends_with(b"\n"),
                "message without newline: {:?}",
                String::from_utf8_lossy(b)
            );
        }
    }
    match &r.outcome {
        Ok(Parsed::Run(cfg)) => {
            check_pair(
                "mem",
                cfg.mem_term_percent,
                cfg.mem_kill_percent,
                size_bound(totals.mem_total_kib, 99.0),
                nan_given,
            );
            check_pair(
                "swap",
                cfg.swap_term_percent,
                cfg.swap_kill_percent,
                size_bound(totals.swap_total_kib, 100.0),
                nan_given,
            );
            assert!(
                cfg.report_interval_ms >= 0,
                "negative report interval {}",
                cfg.report_interval_ms
            );
            assert!(
                cfg.livelock_window_s
                    .is_none_or(|w| (0.5..=3600.0).contains(&w)),
                "{:?}",
                cfg.livelock_window_s
            );
            assert!(
                cfg.livelock_stall_percent
                    .is_none_or(|p| (1.0..=100.0).contains(&p)),
                "{:?}",
                cfg.livelock_stall_percent
            );
        }
        Ok(Parsed::Exit) => {}
        Err(Fatal::Usage) => {
            assert_eq!(
                r.events.last(),
                Some(&Event::Plain(
                    b"Try 'earlyoom --help' for more information.\n".to_vec()
                )),
                "usage error without the hint: {:?}",
                r.events
            );
        }
        Err(f) => {
            // Every other fatal error has a message for the logger.
            assert!(f.message().is_some(), "{f:?} has no message");
        }
    }
});
