//! The `-m/-s/-M/-S` threshold tuple parser (`earlyoom::cli::parse_tuple`, docs/contract.md §2.3).
//!
//! Input: one byte choosing the upper limit (those of -m, -s, -M and -S on a few machines),
//! then the argument. Arguments containing NUL are skipped: argv strings cannot hold one.
//! Invariants:
//! - an argument longer than 255 bytes is always an error;
//! - on Ok, term and kill are each NaN or within 0..=limit (earlyoom lets NaN through);
//! - term >= kill unless one is NaN; they are never both zero; a warning means term == kill;
//! - for plain decimals ("12", "3.5,1.25", "7,") the result equals a reference built on
//!   Rust's correctly rounded `f64` parser (glibc's strtod rounds correctly too), including
//!   whether it is an error.
#![no_main]

use earlyoom::cli::parse_tuple;
use libfuzzer_sys::fuzz_target;

/// Upper limits the daemon passes: -m 99, -s 100, and MemTotal*100/99 / SwapTotal*100/99 for
/// -M/-S on machines with no swap, 1 KiB, 16 GB, 1 TiB and a huge total.
const LIMITS: [i64; 8] = [
    99,
    100,
    0,
    1,
    16_000_000 * 100 / 99,
    (1 << 30) * 100 / 99,
    i64::MAX / 100,
    101,
];

/// `[0-9]{1,18}(\.[0-9]{0,18})?` or empty: a subset where strtod and Rust agree exactly.
fn plain_decimal(p: &[u8]) -> Option<f64> {
    if p.is_empty() {
        return Some(0.0);
    }
    let (int, frac) = match p.iter().position(|&b| b == b'.') {
        Some(i) => (&p[..i], Some(&p[i + 1..])),
        None => (p, None),
    };
    let digits =
        |s: &[u8], min: usize| s.len() >= min && s.len() <= 18 && s.iter().all(u8::is_ascii_digit);
    if !digits(int, 1) || !frac.is_none_or(|f| digits(f, 0)) {
        return None;
    }
    std::str::from_utf8(p).ok()?.parse().ok()
}

/// msg.c parse_term_kill_tuple for plain decimals; None when the input is outside the subset.
fn reference(arg: &[u8], limit: i64) -> Option<Result<(f64, f64), ()>> {
    let (a, b) = match arg.iter().position(|&c| c == b',') {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    let mut term = plain_decimal(a)?;
    let kill = match b {
        Some(b) => Some(plain_decimal(b)?),
        None => None,
    };
    if arg.len() > 255 {
        return Some(Err(()));
    }
    if term > limit as f64 {
        return Some(Err(()));
    }
    let kill = match kill {
        Some(k) if k > limit as f64 => return Some(Err(())),
        Some(k) => k,
        None => term / 2.0,
    };
    if term < kill {
        term = kill;
    }
    if term == 0.0 && kill == 0.0 {
        return Some(Err(()));
    }
    Some(Ok((term, kill)))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, arg)) = data.split_first() else {
        return;
    };
    if arg.contains(&0) {
        return;
    }
    let limit = LIMITS[sel as usize % LIMITS.len()];
    let res = parse_tuple(arg, limit);

    if arg.len() > 255 {
        assert!(res.is_err(), "accepted a {}-byte argument", arg.len());
    }
    if let Ok((t, warning)) = &res {
        for v in [t.term, t.kill] {
            assert!(
                v.is_nan() || (0.0..=limit as f64).contains(&v),
                "{v} outside 0..={limit} for {:?}",
                String::from_utf8_lossy(arg)
            );
        }
        if !t.term.is_nan() && !t.kill.is_nan() {
            assert!(t.term >= t.kill, "term < kill: {t:?}");
        }
        assert!(
            !(t.term == 0.0 && t.kill == 0.0),
            "both zero accepted: {t:?}"
        );
        if warning.is_some() {
            assert_eq!(
                t.term.to_bits(),
                t.kill.to_bits(),
                "warned but term != kill: {t:?}"
            );
            assert!(warning.as_deref().unwrap().ends_with('\n'));
        }
    }
    if let Err(e) = &res {
        assert!(!e.is_empty());
    }

    if let Some(want) = reference(arg, limit) {
        let got = res
            .as_ref()
            .map(|(t, _)| (t.term.to_bits(), t.kill.to_bits()))
            .map_err(|_| ());
        let want = want.map(|(a, b)| (a.to_bits(), b.to_bits()));
        assert_eq!(
            got,
            want,
            "differs from the reference for {:?} (limit {limit}): {res:?}",
            String::from_utf8_lossy(arg)
        );
    }
});
