//! Flat keyed files and single values of cgroup v2 (`memory.events`, `memory.stat`,
//! `memory.current`, `memory.high`, `memory.max`, `memory.swap.max`):
//! `earlyoom::cgroup::{parse_keyed, parse_limit, parse_u64}`.
//!
//! Input: one byte choosing the key (the keys the daemon asks for, or a key taken from the
//! input's first line), then the file. Invariants:
//! - strict reference: the first line exactly "KEY <digits>" (the kernel's format) gives the
//!   value; when every line that starts with "KEY " has that exact form and the buffer is
//!   UTF-8, `parse_keyed` returns exactly the reference's answer (found or not);
//! - `parse_keyed` never invents a value: Some(v) comes from a line "KEY " + rest with
//!   rest.trim() == v in decimal (an optional '+' and leading zeros aside);
//! - a key never matches a longer key ("oom_kill" does not read "oom_kill_disable 5");
//! - `parse_limit` is Some(None) exactly for "max" (trimmed), otherwise `parse_u64` in Some;
//!   `parse_u64` round-trips every u64 written as the kernel does ("N\n").
#![no_main]

use earlyoom::cgroup::{parse_keyed, parse_limit, parse_u64};
use libfuzzer_sys::fuzz_target;

const KEYS: [&str; 7] = ["high", "oom_kill", "anon", "file", "max", "oom", "low"];

fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.split(|&b| b == b'\n')
}

fn strict(buf: &[u8], key: &[u8]) -> (Option<u64>, bool) {
    let mut canonical = true;
    let mut found = None;
    for l in lines(buf) {
        let Some(rest) = l.strip_prefix(key).and_then(|r| r.strip_prefix(b" ")) else {
            continue;
        };
        let ok = !rest.is_empty() && rest.iter().all(u8::is_ascii_digit);
        let v = ok
            .then(|| std::str::from_utf8(rest).unwrap().parse::<u64>().ok())
            .flatten();
        match v {
            Some(v) if found.is_none() => found = Some(v),
            Some(_) => {}
            None => canonical = false,
        }
    }
    (found, canonical)
}

fn canonical_number(s: &str) -> &str {
    let s = s.strip_prefix('+').unwrap_or(s);
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() {
        "0"
    } else {
        t
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, buf)) = data.split_first() else {
        return;
    };
    let first_word: Vec<u8> = buf
        .iter()
        .take_while(|&&b| b != b' ' && b != b'\n')
        .copied()
        .collect();
    let key: &[u8] = match KEYS.get(sel as usize % 8) {
        Some(k) => k.as_bytes(),
        None => &first_word,
    };
    let Ok(key_str) = std::str::from_utf8(key) else {
        return;
    };
    let got = parse_keyed(buf, key_str);

    let (want, canonical) = strict(buf, key);
    if canonical && std::str::from_utf8(buf).is_ok() {
        assert_eq!(
            got,
            want,
            "key {key_str:?} in {:?}",
            String::from_utf8_lossy(buf)
        );
    }
    if let Some(v) = got {
        let s = std::str::from_utf8(buf).expect("a value from non-UTF-8 input");
        let from_some_line = s.lines().any(|l| {
            l.split_once(' ').is_some_and(|(k, rest)| {
                k == key_str && canonical_number(rest.trim()) == v.to_string()
            })
        });
        assert!(
            from_some_line,
            "value {v} for {key_str:?} is on no line: {s:?}"
        );
    }
    // A longer key sharing the prefix is never read.
    let mut longer = key.to_vec();
    longer.extend_from_slice(b"_x 5\n");
    longer.extend_from_slice(buf);
    if std::str::from_utf8(&longer).is_ok() {
        assert_eq!(
            parse_keyed(&longer, key_str),
            got,
            "{key_str:?} matched {key_str}_x"
        );
    }

    // Single values and limits.
    let u = parse_u64(buf);
    let l = parse_limit(buf);
    let is_max = std::str::from_utf8(buf).is_ok_and(|s| s.trim() == "max");
    if is_max {
        assert_eq!(l, Some(None));
    } else {
        assert_eq!(l, u.map(Some), "parse_limit disagrees with parse_u64");
    }
    if let Some(v) = u {
        let s = std::str::from_utf8(buf).unwrap().trim();
        assert_eq!(canonical_number(s), v.to_string());
    }
    if buf.len() >= 8 {
        let n = u64::from_le_bytes(buf[..8].try_into().unwrap());
        assert_eq!(parse_u64(format!("{n}\n").as_bytes()), Some(n));
        assert_eq!(parse_limit(format!("{n}\n").as_bytes()), Some(Some(n)));
        let file = format!("{key_str}_total 9\n{key_str} {n}\n{key_str} 1\n");
        if !key_str.contains(['\n', ' ', '\r']) && !key_str.is_empty() {
            assert_eq!(parse_keyed(file.as_bytes(), key_str), Some(n), "{file:?}");
        }
    }
});
