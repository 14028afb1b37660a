//! Prometheus label escaping of process names (`earlyoom::metrics::escape_label`) and the
//! victim line of the metrics file (`MetricsFile::render`).
//!
//! Invariants:
//! - the output is valid UTF-8 with no raw newline and no unescaped '"', appended after what
//!   the buffer already held;
//! - un-escaping it (\\ -> \, \" -> ", \n -> newline; any other escape is an error) gives
//!   back exactly `String::from_utf8_lossy(input)`;
//! - in the rendered metrics file, a victim with that name (cut at 255 bytes as the daemon
//!   stores it) is one line `earlyoom_last_victim_info{comm="..."} 1`, and the file has the
//!   same lines as with a harmless name: a comm cannot inject samples or labels.
#![no_main]

use earlyoom::decide::Limits;
use earlyoom::meminfo;
use earlyoom::metrics::{escape_label, Counters, MetricsFile, Reason};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '"' => return Err("unescaped '\"'".into()),
            '\n' => return Err("raw newline".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

const MEMINFO: &[u8] = b"MemTotal: 16000000 kB\nMemFree: 1000 kB\nMemAvailable: 8000000 kB\n\
Buffers: 1 kB\nCached: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nAnonPages: 4000000 kB\nShmem: 1 kB\n";

fn render(victim: &[u8]) -> String {
    let m = meminfo::parse(MEMINFO).unwrap();
    let l = Limits {
        mem_term_percent: 10.0,
        mem_kill_percent: 5.0,
        swap_term_percent: 10.0,
        swap_kill_percent: 5.0,
    };
    let mut c = Counters::default();
    c.signal_sent(Reason::Memory, SIGTERM, victim);
    let mut f = MetricsFile::new(Path::new("/nonexistent/fuzz.prom"));
    String::from_utf8(f.render(&c, &m, &l, false).to_vec()).expect("metrics text is not UTF-8")
}

/// SIGTERM on Linux (the fuzz crate does not depend on libc).
const SIGTERM: i32 = 15;

fuzz_target!(|data: &[u8]| {
    let prefix = b"earlyoom_last_victim_info{comm=\"";
    let mut out = prefix.to_vec();
    escape_label(&mut out, data);
    assert!(
        out.starts_with(prefix),
        "escape_label changed what was already in the buffer"
    );
    let escaped = std::str::from_utf8(&out[prefix.len()..]).expect("escaped label is not UTF-8");
    let back = unescape(escaped).unwrap_or_else(|e| panic!("{e} in {escaped:?}"));
    assert_eq!(
        back,
        String::from_utf8_lossy(data),
        "escaping lost or changed characters"
    );

    // The same name in the rendered file, as the daemon stores it (Text: at most 255 bytes).
    let stored = &data[..data.len().min(255)];
    let text = render(stored);
    let plain = render(b"plain");
    assert_eq!(
        text.lines().count(),
        plain.lines().count(),
        "a comm added or removed lines"
    );
    let mut esc = Vec::new();
    escape_label(&mut esc, stored);
    let want = format!(
        "earlyoom_last_victim_info{{comm=\"{}\"}} 1",
        std::str::from_utf8(&esc).unwrap()
    );
    let victim_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("earlyoom_last_victim_info"))
        .collect();
    assert_eq!(victim_lines, [want.as_str()]);
    for (a, b) in text.lines().zip(plain.lines()) {
        if !a.starts_with("earlyoom_last_victim_info")
            && !a.starts_with("earlyoom_last_kill_timestamp")
            && !a.starts_with("earlyoom_start_time")
        {
            assert_eq!(a, b, "a comm changed another line");
        }
    }
});
