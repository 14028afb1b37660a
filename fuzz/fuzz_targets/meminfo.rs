//! /proc/meminfo parser (`earlyoom::meminfo::parse`) and its report line.
//!
//! Invariants, on every input the parser accepts:
//! - user mem total is exactly MemAvailable + AnonPages;
//! - every value read straight from the file is >= 0 (a negative entry counts as missing);
//! - no swap means 0 % free swap (earlyoom #290), otherwise SwapFree * 100 / SwapTotal;
//! - the estimate is used exactly when MemAvailable is missing or unusable, and a missing
//!   "MemAvailable:" key always means the estimate;
//! - `Report` renders one line ending in '\n' and never panics;
//! - a later duplicate "MemTotal: X kB" line changes nothing (earlyoom uses `strstr`: the first
//!   occurrence wins), whatever X is;
//! - the result (values, or the error's key and errno) equals a reference written here from
//!   the spec (§4.1: `strstr` + `strtoll`, a negative value counts as missing) with checked
//!   sums: MemAvailable + AnonPages or the estimate beyond i64 is an ERANGE error, never a
//!   panic or a wrapped total (finding 1 in docs/fuzzing.md, fixed in b17dbef).
#![no_main]

use earlyoom::meminfo::{parse, EntryError, MemInfo, Report};
use libfuzzer_sys::fuzz_target;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Field-wise equality with floats compared by bit pattern (NaN == NaN).
fn same(a: &MemInfo, b: &MemInfo) -> bool {
    a.mem_total_kib == b.mem_total_kib
        && a.mem_available_kib == b.mem_available_kib
        && a.anon_pages_kib == b.anon_pages_kib
        && a.swap_total_kib == b.swap_total_kib
        && a.swap_free_kib == b.swap_free_kib
        && a.user_mem_total_kib == b.user_mem_total_kib
        && a.mem_available_percent.to_bits() == b.mem_available_percent.to_bits()
        && a.swap_free_percent.to_bits() == b.swap_free_percent.to_bits()
        && a.available_guessed == b.available_guessed
}

const ENODATA: i32 = 61;
const ERANGE: i32 = 34;

fn error(key: &'static str, errno: i32) -> EntryError {
    EntryError { key, errno }
}

/// strstr for the key, then strtoll base 10 (C isspace skipped, optional sign). Missing:
/// ENODATA; too many digits: ERANGE; a negative value -v: error code v, as earlyoom's get_entry
/// returns it and get_entry_fatal prints strerror(v) (0 if v does not fit an int).
fn entry(buf: &[u8], key: &'static str) -> Result<i64, EntryError> {
    let at = buf
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .ok_or(error(key, ENODATA))?;
    let mut rest = &buf[at + key.len()..];
    while let [b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let neg = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = &rest[1..];
    }
    let mut v: i64 = 0;
    for &d in rest.iter().take_while(|d| d.is_ascii_digit()) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
            .ok_or(error(key, ERANGE))?;
    }
    if neg && v != 0 {
        return Err(error(key, i32::try_from(v).unwrap_or(0)));
    }
    Ok(v)
}

/// The spec's parser with checked sums: an estimate (MemFree + Cached + Buffers) or a user mem
/// total (MemAvailable + AnonPages) beyond i64 is ERANGE on MemFree: / AnonPages:.
fn reference(buf: &[u8]) -> Result<MemInfo, EntryError> {
    let mem_total_kib = entry(buf, "MemTotal:")?;
    let swap_total_kib = entry(buf, "SwapTotal:")?;
    let anon_pages_kib = entry(buf, "AnonPages:")?;
    let swap_free_kib = entry(buf, "SwapFree:")?;
    let (mem_available_kib, available_guessed) = match entry(buf, "MemAvailable:") {
        Ok(v) => (v, false),
        Err(_) => {
            let free = entry(buf, "MemFree:")?;
            let cached = entry(buf, "Cached:")?;
            let buffers = entry(buf, "Buffers:")?;
            let shmem = entry(buf, "Shmem:")?;
            let sum = free
                .checked_add(cached)
                .and_then(|v| v.checked_add(buffers))
                .ok_or(error("MemFree:", ERANGE))?;
            (sum - shmem, true)
        }
    };
    let user_mem_total_kib = mem_available_kib
        .checked_add(anon_pages_kib)
        .ok_or(error("AnonPages:", ERANGE))?;
    Ok(MemInfo {
        mem_total_kib,
        mem_available_kib,
        anon_pages_kib,
        swap_total_kib,
        swap_free_kib,
        user_mem_total_kib,
        mem_available_percent: mem_available_kib as f64 * 100.0 / user_mem_total_kib as f64,
        swap_free_percent: if swap_total_kib > 0 {
            swap_free_kib as f64 * 100.0 / swap_total_kib as f64
        } else {
            0.0
        },
        available_guessed,
    })
}

fuzz_target!(|data: &[u8]| {
    let want = match reference(data) {
        Ok(m) => m,
        Err(e) => {
            assert_eq!(parse(data).map(|_| ()), Err(e), "wrong error");
            return;
        }
    };
    let m =
        parse(data).unwrap_or_else(|e| panic!("rejected ({e:?}), the reference accepts {want:?}"));
    assert!(
        same(&m, &want),
        "differs from the reference: {m:?} != {want:?}"
    );

    assert_eq!(
        m.user_mem_total_kib,
        m.mem_available_kib + m.anon_pages_kib,
        "user mem total != MemAvailable + AnonPages: {m:?}"
    );
    for v in [
        m.mem_total_kib,
        m.anon_pages_kib,
        m.swap_total_kib,
        m.swap_free_kib,
    ] {
        assert!(v >= 0, "negative entry accepted: {m:?}");
    }
    if !m.available_guessed {
        assert!(
            m.mem_available_kib >= 0,
            "negative MemAvailable accepted: {m:?}"
        );
    }
    if !contains(data, b"MemAvailable:") {
        assert!(
            m.available_guessed,
            "no MemAvailable key but no estimate: {m:?}"
        );
    }
    if m.swap_total_kib == 0 {
        assert_eq!(m.swap_free_percent.to_bits(), 0.0f64.to_bits(), "{m:?}");
    } else {
        let want = m.swap_free_kib as f64 * 100.0 / m.swap_total_kib as f64;
        assert_eq!(m.swap_free_percent.to_bits(), want.to_bits(), "{m:?}");
    }
    let want = m.mem_available_kib as f64 * 100.0 / m.user_mem_total_kib as f64;
    assert_eq!(m.mem_available_percent.to_bits(), want.to_bits(), "{m:?}");

    let line = Report(&m).to_string();
    assert!(
        line.ends_with('\n'),
        "report line without newline: {line:?}"
    );
    assert_eq!(
        line.matches('\n').count(),
        1,
        "report is not one line: {line:?}"
    );
    assert!(line.starts_with("mem avail: "), "{line:?}");

    // A later duplicate MemTotal line, with a value derived from the input so the fuzzer
    // explores it too (including values that would overflow on their own).
    let x = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut dup = data.to_vec();
    dup.extend_from_slice(
        format!(
            "\nMemTotal: {x}{} kB\n",
            if x & 1 == 1 { "999" } else { "" }
        )
        .as_bytes(),
    );
    let m2 =
        parse(&dup).unwrap_or_else(|e| panic!("appending a MemTotal line broke parsing: {e:?}"));
    assert!(
        same(&m, &m2),
        "a later MemTotal line changed the result: {m:?} -> {m2:?}"
    );
});
