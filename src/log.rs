//! earlyoom's four log levels, colours and `--syslog` switch, written without heap allocation.
//!
//! Behaviour kept from earlyoom's msg.c (spec §3.1): fatal/warn go to stderr, info/debug to
//! stdout; colour only when that stream is a tty and `NO_COLOR` is unset (any value disables);
//! the colour reset `\x1b[0m` follows every message, info included; plain `fprintf(stderr)`
//! lines (banner, notices) never get colour or syslog. Each message is one write(2), so stdout
//! behaves line-buffered even on a pipe.

use crate::sys;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

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

/// `--syslog`: from now on fatal/warn/info/debug go to syslog(3) as earlyoom does
/// (`openlog("earlyoom", LOG_PID|LOG_NDELAY, LOG_DAEMON)`).
pub fn enable_syslog() {
    if !SYSLOG.swap(true, Ordering::Relaxed) {
        // SAFETY: the ident is a static NUL-terminated string, as openlog requires.
        unsafe {
            libc::openlog(
                c"earlyoom".as_ptr(),
                libc::LOG_PID | libc::LOG_NDELAY,
                libc::LOG_DAEMON,
            )
        };
    }
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
pub struct Line {
    buf: [u8; 4096],
    len: usize,
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: [0; 4096],
            len: 0,
        }
    }
    pub fn push(&mut self, b: &[u8]) {
        let n = b.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    fn c_str(&mut self) -> *const libc::c_char {
        self.buf[self.len] = 0;
        self.buf.as_ptr().cast()
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
    if level == Level::Debug && !debug_enabled() {
        return;
    }
    if SYSLOG.load(Ordering::Relaxed) {
        let prio = match level {
            Level::Fatal => libc::LOG_ERR,
            Level::Warn => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        };
        let mut line = Line::new();
        line.push(msg);
        let p = line.c_str();
        // SAFETY: "%s" with a NUL-terminated buffer.
        unsafe { libc::syslog(prio, c"%s".as_ptr(), p) };
        return;
    }
    let fd = match level {
        Level::Fatal | Level::Warn => 2,
        Level::Info | Level::Debug => 1,
    };
    let mut line = Line::new();
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
    line.push(msg);
    if color {
        line.push(b"\x1b[0m");
    }
    write_line(fd, line.as_bytes());
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
    if ready == 1 && p.revents & libc::POLLOUT != 0 {
        let _ = sys::write_all(fd, msg);
    }
}

/// Formats and emits a message at `level`.
pub fn emit(level: Level, args: fmt::Arguments<'_>) {
    if level == Level::Debug && !debug_enabled() {
        return;
    }
    let mut line = Line::new();
    let _ = line.write_fmt(args);
    emit_bytes(level, line.as_bytes());
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
pub struct CFloat(pub f64, pub usize, pub usize);

impl fmt::Display for CFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CFloat(v, width, prec) = *self;
        if v.is_nan() {
            let s = if v.is_sign_negative() { "-nan" } else { "nan" };
            write!(f, "{:>width$}", s, width = width)
        } else {
            write!(f, "{:>width$.prec$}", v, width = width, prec = prec)
        }
    }
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

    #[test]
    fn line_truncates_instead_of_growing() {
        let mut l = Line::new();
        for _ in 0..1000 {
            let _ = write!(l, "0123456789");
        }
        assert_eq!(l.as_bytes().len(), 4095);
    }
}
