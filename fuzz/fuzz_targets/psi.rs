//! Pressure-stall files (`memory.pressure`, /proc/pressure/memory):
//! `earlyoom::cgroup::parse_full_total`.
//!
//! Invariants:
//! - the result equals a reference written here: the first line (lines split at "\n", a
//!   "\r\n" counts as "\n") that starts with "full ", its first space-separated field that
//!   starts with "total=", that field's rest as a u64; non-UTF-8 input is rejected;
//! - only the "full " line is read: replacing every other line (the "some" line, junk, later
//!   "full" lines) by anything changes nothing;
//! - a line the kernel would print, "full avg10=A avg60=B avg300=C total=N", gives N.
#![no_main]

use earlyoom::cgroup::parse_full_total;
use libfuzzer_sys::fuzz_target;

fn reference(buf: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(buf).ok()?;
    let line = s.lines().find(|l| l.starts_with("full "))?;
    let field = line.split(' ').find(|f| f.starts_with("total="))?;
    let digits = &field["total=".len()..];
    // u64's FromStr: an optional '+', then 1..=20 ASCII digits that fit.
    let d = digits.strip_prefix('+').unwrap_or(digits);
    if d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in d.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let got = parse_full_total(data);
    assert_eq!(
        got,
        reference(data),
        "input {:?}",
        String::from_utf8_lossy(data)
    );

    // Only the first "full " line matters.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(full) = s.lines().find(|l| l.starts_with("full ")) {
            // A bare '\r' ending the last line stays in it (str::lines only drops "\r\n"),
            // so it cannot be moved in front of a '\n' without changing the line.
            if full.ends_with('\r') {
                return;
            }
            let other = format!(
                "some avg10=99.99 avg60=0.00 avg300=0.00 total=18446744073709551615\n\
                 total=1\nfull\n{full}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
            );
            assert_eq!(
                parse_full_total(other.as_bytes()),
                got,
                "the other lines changed the result"
            );
        } else {
            assert_eq!(got, None);
        }
    }

    // Kernel-shaped lines built from the input's bytes.
    if data.len() >= 8 {
        let n = u64::from_le_bytes(data[..8].try_into().unwrap());
        let a = f64::from(data[0]) / 7.0;
        let kernel = format!(
            "some avg10={a:.2} avg60=1.00 avg300=0.00 total={}\nfull avg10={a:.2} avg60={a:.2} avg300=0.00 total={n}\n",
            n / 3
        );
        assert_eq!(parse_full_total(kernel.as_bytes()), Some(n));
    }
});
