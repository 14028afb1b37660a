//! earlyoom's four log levels, colours and `--syslog` switch, written without heap allocation.
//!
//! Behaviour kept from earlyoom's msg.c (spec §3.1): fatal/warn go to stderr, info/debug to
//! stdout; colour only when that stream is a tty and `NO_COLOR` is unset (any value disables);
//! the colour reset `\x1b[0m` follows every message, info included; plain `fprintf(stderr)`
//! lines (banner, notices) never get colour or syslog. Each message is one write(2), so stdout
//! behaves line-buffered even on a pipe.

use crate::sys;
use std::fmt::{self, Write};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, AtomicU8, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);
static SYSLOG: AtomicBool = AtomicBool::new(false);
/// Per stream (0 = stdout, 1 = stderr): 0 unknown, 1 colour, 2 no colour.
static COLOR: [AtomicU8; 2] = [AtomicU8::new(0), AtomicU8::new(0)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fatal,
    Warn,
    Info,
    Debug,
}

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Log lines dropped because writing them would have blocked the loop (a full pipe, a log
/// daemon that stopped reading) or failed: the metrics file reports it.
static DROPPED: AtomicU64 = AtomicU64::new(0);

pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn drop_line() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}

/// `--syslog`: from now on fatal/warn/info/debug go to the system log, as earlyoom's
/// `openlog("earlyoom", LOG_PID|LOG_NDELAY, LOG_DAEMON)` + `syslog()` send them, in the same
/// datagram format, but never blocking: glibc's syslog() writes to /dev/log on a blocking
/// socket, so a log daemon that stops reading (its queue full) would stop the loop inside
/// the next message, and a hog started then would live. Here the socket is non-blocking, a
/// datagram that does not fit is dropped and counted, and a lost connection (the log daemon
/// restarted) is made again at most once a second.
pub fn enable_syslog() {
    if !SYSLOG.swap(true, Ordering::Relaxed) {
        sys::prime_localtime();
        syslog_connect();
    }
}

/// The connected /dev/log socket (-1: none yet), and when connecting last failed.
static SYSLOG_FD: AtomicI32 = AtomicI32::new(-1);
/// /dev/log is a stream socket (syslog-ng's `unix-stream`): glibc's openlog falls back to
/// SOCK_STREAM on EPROTOTYPE, and then ends each message with a NUL.
static SYSLOG_STREAM: AtomicBool = AtomicBool::new(false);
static SYSLOG_RETRY_SEC: AtomicI64 = AtomicI64::new(i64::MIN);

/// Where syslog(3) sends (`_PATH_LOG`).
const DEV_LOG: &[u8] = b"/dev/log";

fn syslog_connect() -> i32 {
    let now = sys::monotonic_secs() as i64;
    if SYSLOG_RETRY_SEC.load(Ordering::Relaxed) == now {
        return -1;
    }
    let res = match sys::unix_connect(DEV_LOG, libc::SOCK_DGRAM) {
        Err(e) if e.0 == libc::EPROTOTYPE => {
            SYSLOG_STREAM.store(true, Ordering::Relaxed);
            sys::unix_connect(DEV_LOG, libc::SOCK_STREAM)
        }
        r => {
            SYSLOG_STREAM.store(false, Ordering::Relaxed);
            r
        }
    };
    match res {
        Ok(fd) => {
            let old = SYSLOG_FD.swap(fd, Ordering::Relaxed);
            sys::close(old);
            fd
        }
        Err(_) => {
            SYSLOG_RETRY_SEC.store(now, Ordering::Relaxed);
            -1
        }
    }
}

/// One message as syslog(3) formats it: `<PRI>Mmm dd hh:mm:ss earlyoom[PID]: text`.
fn syslog_send(prio: i32, line: &Line) {
    let mut msg = Line::new();
    let mut num = [0u8; 20];
    msg.push(b"<");
    msg.push(sys::decimal((libc::LOG_DAEMON | prio) as u64, &mut num));
    msg.push(b">");
    let mut ts = [0u8; 16];
    msg.push(sys::syslog_time(&mut ts));
    msg.push(b"earlyoom[");
    msg.push(sys::decimal(sys::getpid() as u64, &mut num));
    msg.push(b"]: ");
    msg.push(line.as_bytes());
    if SYSLOG_STREAM.load(Ordering::Relaxed) {
        msg.push(b"\0");
    }
    let mut fd = SYSLOG_FD.load(Ordering::Relaxed);
    if fd < 0 {
        fd = syslog_connect();
    }
    for attempt in 0..2 {
        if fd < 0 {
            break;
        }
        match sys::send_nonblocking(fd, msg.as_bytes()) {
            Ok(()) => return,
            // The log daemon went away or restarted: connect again (once) and resend.
            Err(e)
                if attempt == 0
                    && matches!(e.0, libc::ECONNREFUSED | libc::ENOTCONN | libc::EPIPE) =>
            {
                fd = syslog_connect();
            }
            // Part of a message went down a stream: what follows would be garbled, so
            // start a new connection for the next line.
            Err(e) if e.0 == libc::EMSGSIZE && SYSLOG_STREAM.load(Ordering::Relaxed) => {
                sys::close(SYSLOG_FD.swap(-1, Ordering::Relaxed));
                break;
            }
            Err(_) => break,
        }
    }
    drop_line();
}

fn use_color(fd: i32) -> bool {
    let slot = &COLOR[(fd == 2) as usize];
    match slot.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // SAFETY: isatty on a plain fd.
            let on = unsafe { libc::isatty(fd) } == 1 && std::env::var_os("NO_COLOR").is_none();
            slot.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

/// A fixed-size line buffer; formatting into it never allocates and silently truncates.
///
/// The buffer is left uninitialised: only the `len` bytes written so far are ever read. Every
/// message, the once-a-second `-r` report line included, builds one of these on the stack, and
/// zeroing 4 KiB first was a third of a wake-up's user-space instructions.
pub struct Line {
    buf: [MaybeUninit<u8>; 4096],
    len: usize,
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: [MaybeUninit::uninit(); 4096],
            len: 0,
        }
    }
    pub fn push(&mut self, b: &[u8]) {
        // One byte stays free, as the C buffer this mirrors keeps one for its NUL.
        let n = b.len().min(self.buf.len() - 1 - self.len);
        for (dst, &src) in self.buf[self.len..self.len + n].iter_mut().zip(b) {
            dst.write(src);
        }
        self.len += n;
    }
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: push wrote (initialised) the first `len` bytes, and `len` never exceeds the
        // buffer; MaybeUninit<u8> has the layout of u8.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Writes raw bytes as a message at `level`.
pub fn emit_bytes(level: Level, msg: &[u8]) {
    compose(level, None, |line| line.push(msg));
}

/// Builds one message in one stack buffer (priority under journald, colour, `fatal: `
/// prefix, `body`, colour reset) and writes it, hands it to syslog, or sends it as a
/// structured journal entry when it is one (`record`). One buffer, not one for the text and
/// another for the framing: a message is the once-a-second `-r` report line too, and every
/// extra 4 KiB buffer is zeroed and copied on each wake-up.
fn compose(
    level: Level,
    record: Option<(crate::journal::Kind, &crate::journal::Fields<'_>)>,
    body: impl FnOnce(&mut Line),
) {
    if level == Level::Debug && !debug_enabled() {
        return;
    }
    let mut line = Line::new();
    if SYSLOG.load(Ordering::Relaxed) {
        let prio = match level {
            Level::Fatal => libc::LOG_ERR,
            Level::Warn => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        };
        body(&mut line);
        syslog_send(prio, &line);
        return;
    }
    let fd = match level {
        Level::Fatal | Level::Warn => 2,
        Level::Info | Level::Debug => 1,
    };
    let journal = crate::journal::stream(fd);
    if journal {
        line.push(&[b'<', b'0' + crate::journal::priority(level), b'>']);
    }
    let text_at = line.len;
    let color = use_color(fd);
    if color {
        line.push(match level {
            Level::Fatal => b"\x1b[31m",
            Level::Warn => b"\x1b[33m",
            Level::Debug => b"\x1b[2m",
            Level::Info => b"",
        });
    }
    if level == Level::Fatal {
        line.push(b"fatal: ");
    }
    body(&mut line);
    if color {
        line.push(b"\x1b[0m");
    }
    if let (true, Some((kind, fields))) = (journal, record) {
        let text = &line.as_bytes()[text_at..];
        let message = text.strip_suffix(b"\n").unwrap_or(text);
        if crate::journal::send(level, kind, fields, message) {
            return;
        }
    }
    write_line(fd, line.as_bytes());
}

/// A message that is also an action the journal records as a structured entry (under
/// systemd; everywhere else exactly [`emit`]).
pub fn record(
    level: Level,
    kind: crate::journal::Kind,
    fields: &crate::journal::Fields<'_>,
    args: fmt::Arguments<'_>,
) {
    compose(level, Some((kind, fields)), |line| {
        let _ = line.write_fmt(args);
    });
}

/// Writes one message unless that would block. An OOM killer must keep killing when nobody
/// reads its output: a full pipe (a stuck reader) drops the line instead of blocking the
/// loop, and errors (EPIPE on a closed stdout; std ignores SIGPIPE) are dropped too. A line
/// is at most 4 KiB, one pipe page, so a pipe that polls writable takes it whole.
fn write_line(fd: i32, msg: &[u8]) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut p, 1, 0) };
    if !(ready == 1 && p.revents & libc::POLLOUT != 0 && sys::write_all(fd, msg).is_ok()) {
        drop_line();
    }
}

/// Formats and emits a message at `level`.
pub fn emit(level: Level, args: fmt::Arguments<'_>) {
    compose(level, None, |line| {
        let _ = line.write_fmt(args);
    });
}

/// A plain `fprintf(stderr, ...)` line: never coloured, never sent to syslog.
pub fn plain_bytes(msg: &[u8]) {
    write_line(2, msg);
}

pub fn plain(args: fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = line.write_fmt(args);
    plain_bytes(line.as_bytes());
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::emit($crate::log::Level::Warn, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::emit($crate::log::Level::Info, format_args!($($t)*)) };
}
#[macro_export]
macro_rules! debug {
    ($($t:tt)*) => {
        if $crate::log::debug_enabled() {
            $crate::log::emit($crate::log::Level::Debug, format_args!($($t)*))
        }
    };
}
#[macro_export]
macro_rules! plain {
    ($($t:tt)*) => { $crate::log::plain(format_args!($($t)*)) };
}

/// C printf's `%.*f` for a double: Rust prints NaN as "NaN", C as "nan"; everything else
/// (inf, -inf, -0, rounding of the exact binary value) already agrees.
///
/// Finite values below 2^53 with at most 9 decimals, which is every percentage the daemon
/// prints, are formatted by [`fixed`] with integer arithmetic. The `-r` report line prints two
/// of them every second, and core's float formatting (Grisu with a Dragon4 fallback on a
/// bignum) is both slower and spread over more code pages than a wake-up should touch. Other
/// values go to core; `fixed_matches_core` checks that both give the same text.
pub struct CFloat(pub f64, pub usize, pub usize);

impl fmt::Display for CFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CFloat(v, width, prec) = *self;
        let mut buf = [0u8; FIXED_MAX];
        if let Some(n) = fixed(v, prec, &mut buf) {
            for _ in n..width {
                f.write_str(" ")?;
            }
            // The digits, sign and point are ASCII.
            return f.write_str(std::str::from_utf8(&buf[..n]).unwrap_or(""));
        }
        if v.is_nan() {
            let s = if v.is_sign_negative() { "-nan" } else { "nan" };
            write!(f, "{:>width$}", s, width = width)
        } else {
            write!(f, "{:>width$.prec$}", v, width = width, prec = prec)
        }
    }
}

/// Longest output of [`fixed`]: a sign, 16 integer digits (< 2^53), a point and 9 decimals.
const FIXED_MAX: usize = 32;

/// `%.{prec}f` of `v` into `out` without floating-point formatting: the exact binary value,
/// rounded to `prec` decimals, ties to even (printf's and core's rule in the default rounding
/// mode). Returns the length, or None for NaN, infinities, |v| >= 2^53 and `prec` > 9.
///
/// v = m * 2^e exactly (m < 2^53, -1074 <= e <= 0 here), so v * 10^prec = m * 10^prec / 2^-e,
/// a quotient and a remainder of integers below 2^83, which fit a u128.
fn fixed(v: f64, prec: usize, out: &mut [u8; FIXED_MAX]) -> Option<usize> {
    const POW10: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let pow = *POW10.get(prec)?;
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (m, e) = match biased {
        0x7ff => return None,
        0 => (frac, -1074),
        _ => (frac | (1 << 52), biased - 1075),
    };
    if e > 0 {
        return None;
    }
    let scaled = u128::from(m) * u128::from(pow);
    let shift = e.unsigned_abs();
    let q = if shift == 0 {
        scaled
    } else if shift >= 128 {
        // v * 10^prec < 2^83 / 2^128: far below one half, rounds to 0.
        0
    } else {
        let q = scaled >> shift;
        let rem = scaled & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // q <= 2^53 * 10^9 < 2^84. Split q / pow into two u64 divisions (long division in base
    // 2^32): a u128 division is a call to compiler_builtins' __udivti3, code that nothing else
    // on the daemon's paths touches. hi < 2^52; r < pow < 2^30, so (r << 32 | lo) < pow * 2^32
    // and its quotient fits 32 bits.
    let hi = (q >> 32) as u64;
    let lo = (q & 0xffff_ffff) as u64;
    let t = ((hi % pow) << 32) | lo;
    let int = ((hi / pow) << 32) | (t / pow);
    let dec = t % pow;
    let mut n = 0;
    if bits >> 63 == 1 {
        out[n] = b'-';
        n += 1;
    }
    let mut digits = [0u8; 20];
    let d = sys::decimal(int, &mut digits);
    out[n..n + d.len()].copy_from_slice(d);
    n += d.len();
    if prec > 0 {
        out[n] = b'.';
        n += 1;
        let mut x = dec;
        for k in (0..prec).rev() {
            out[n + k] = b'0' + (x % 10) as u8;
            x /= 10;
        }
        n += prec;
    }
    Some(n)
}

/// earlyoom's `PRIPCT` (`%5.2lf%%` without the `%`).
pub fn pct(v: f64) -> CFloat {
    CFloat(v, 5, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfloat_matches_printf() {
        assert_eq!(pct(1.0).to_string(), " 1.00");
        assert_eq!(pct(100.0).to_string(), "100.00");
        assert_eq!(pct(f64::NAN).to_string(), "  nan");
        assert_eq!(CFloat(f64::INFINITY, 0, 6).to_string(), "inf");
        assert_eq!(CFloat(-10.0, 0, 6).to_string(), "-10.000000");
        assert_eq!(CFloat(2.675, 0, 2).to_string(), "2.67"); // exact binary value rounds down, as glibc
    }

    /// `fixed` against core's `{:>w$.p$}` (which agrees with glibc's printf, see
    /// `cfloat_matches_printf`) over every kind of input it takes: random bit patterns,
    /// percentages, exact ties (k/8, k/1024...), the numbers next to them, subnormals, the
    /// 2^53 boundary, both signs, all precisions and some widths.
    #[test]
    fn fixed_matches_core() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: reproducible, no dependency.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut values = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            0.5,
            0.005,
            0.015,
            0.025,
            0.125,
            2.675,
            99.995,
            99.999_999_9,
            100.0,
            9_007_199_254_740_991.0, // 2^53 - 1: the largest value `fixed` takes
            9_007_199_254_740_992.0, // 2^53: handed to core
            4_503_599_627_370_495.5,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for _ in 0..100_000 {
            let r = next();
            values.push(f64::from_bits(r)); // any double, NaN included
            let pct = (r >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
            values.push(pct);
            values.push(-pct);
            // Exact binary ties for every precision up to 9, and their neighbours.
            let tie = (r % 1_000_000) as f64 / (1u64 << (r % 31)) as f64;
            values.push(tie);
            values.push(f64::from_bits(tie.to_bits() + 1));
            values.push(f64::from_bits(tie.to_bits().saturating_sub(1)));
            // An integer ratio as meminfo gives: avail * 100 / total.
            let total = (r >> 20) % 100_000_000 + 1;
            values.push((r % total) as f64 * 100.0 / total as f64);
        }
        let mut buf = [0u8; FIXED_MAX];
        let mut checked = 0;
        for &v in &values {
            for prec in 0..=10 {
                let n = fixed(v, prec, &mut buf);
                if v.is_finite() && v.abs() < 9_007_199_254_740_992.0 && prec <= 9 {
                    let n = n.unwrap_or_else(|| panic!("{v:e} .{prec} not handled"));
                    let ours = std::str::from_utf8(&buf[..n]).unwrap();
                    assert_eq!(
                        ours,
                        format!("{v:.prec$}"),
                        "{v:e} ({:#x}) .{prec}",
                        v.to_bits()
                    );
                    checked += 1;
                } else {
                    assert_eq!(n, None, "{v:e} .{prec}");
                }
            }
            let w = (v.to_bits() % 9) as usize;
            assert_eq!(
                CFloat(v, w, 2).to_string(),
                if v.is_nan() {
                    format!("{:>w$}", if v.is_sign_negative() { "-nan" } else { "nan" })
                } else {
                    format!("{v:>w$.2}")
                }
            );
        }
        assert!(checked > 5_000_000, "{checked}");
    }

    #[test]
    fn line_truncates_instead_of_growing() {
        let mut l = Line::new();
        for _ in 0..1000 {
            let _ = write!(l, "0123456789");
        }
        assert_eq!(l.as_bytes().len(), 4095);
    }
}
