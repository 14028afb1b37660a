//! /proc/PID/stat parser (`earlyoom::proc::parse_stat`).
//!
//! The comm field (2) is whatever the process wrote to /proc/self/comm: any bytes but NUL,
//! including ')', '(', spaces and newlines. Invariants:
//! 1. Structured: "PID (COMM) S ppid pgrp ... " built from fuzzer-chosen COMM bytes and
//!    fuzzer-chosen field values parses to exactly those values (state, ppid, pgrp, flags,
//!    num_threads, starttime, rss_pages): no comm can shift the fields after the last ')'.
//! 2. Raw: arbitrary bytes never panic, and the result depends only on what follows the last
//!    ')' (replacing everything before it by another pid and comm changes nothing).
#![no_main]

use earlyoom::proc::{parse_stat, Stat};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

/// Builds a stat line the way the kernel does (fs/proc/array.c do_task_stat): 52 fields
/// separated by single spaces, ending in '\n'.
fn build(mut u: Unstructured<'_>) -> Result<(Vec<u8>, Stat)> {
    let pid: i32 = u.arbitrary()?;
    let mut state: u8 = u.arbitrary()?;
    // The state is one byte; a separator or ')' cannot be a state the kernel prints.
    if matches!(state, b' ' | b'\n' | b')') {
        state = b'R';
    }
    let want = Stat {
        state,
        ppid: u.arbitrary()?,
        pgrp: u.arbitrary()?,
        flags: u.arbitrary()?,
        num_threads: u.arbitrary()?,
        starttime: u.arbitrary()?,
        rss_pages: u.arbitrary()?,
    };
    let filler: u64 = u.arbitrary()?;
    let neg_filler: i64 = u.arbitrary()?;
    let trailing_newline: bool = u.arbitrary()?;
    let comm = u.take_rest();

    let mut line = Vec::with_capacity(comm.len() + 400);
    write!(line, "{pid} (").unwrap();
    line.extend_from_slice(comm);
    line.extend_from_slice(b") ");
    line.push(state); // raw byte: the parser must accept any single byte here
    write!(line, " {} {}", want.ppid, want.pgrp).unwrap();
    // Fields 6..=19: session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime,
    // stime, cutime, cstime, priority, nice (the last ones can be negative).
    for n in 6..=19u64 {
        if n == 9 {
            write!(line, " {}", want.flags).unwrap();
        } else if n >= 16 {
            write!(line, " {}", neg_filler.wrapping_add(n as i64)).unwrap();
        } else {
            write!(line, " {}", filler.wrapping_add(n)).unwrap();
        }
    }
    write!(line, " {}", want.num_threads).unwrap(); // 20
    write!(line, " 0").unwrap(); // 21 itrealvalue
    write!(line, " {}", want.starttime).unwrap(); // 22
    write!(line, " {}", filler).unwrap(); // 23 vsize
    write!(line, " {}", want.rss_pages).unwrap(); // 24
    for n in 25..=52u64 {
        write!(line, " {}", filler.wrapping_mul(n)).unwrap();
    }
    if trailing_newline {
        line.push(b'\n');
    }
    Ok((line, want))
}

fuzz_target!(|data: &[u8]| {
    // Raw input: no panic, and only the part after the last ')' matters.
    let raw = parse_stat(data);
    if let Some(close) = data.iter().rposition(|&b| b == b')') {
        let mut other = b"4242 (other comm".to_vec();
        other.extend_from_slice(&data[close..]);
        assert_eq!(
            parse_stat(&other),
            raw,
            "the bytes before the last ')' changed the result"
        );
    } else {
        assert_eq!(raw, None, "parsed a stat line without ')'");
    }
    if let Some(s) = raw {
        assert!(
            !matches!(s.state, b' ' | b'\n' | b')'),
            "impossible state {s:?}"
        );
    }

    // Structured: a well-formed line with a hostile comm parses to exactly its fields.
    if let Ok((line, want)) = build(Unstructured::new(data)) {
        let got = parse_stat(&line);
        assert_eq!(
            got,
            Some(want),
            "misread fields of {:?}",
            String::from_utf8_lossy(&line)
        );
    }
});
