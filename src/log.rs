//! earlyoom's four log levels, colours and `--syslog` switch, written without heap allocation.
//!
//! Behaviour kept from earlyoom's msg.c (docs/contract.md §3.1): fatal/warn go to stderr, info/debug to
//! stdout; colour only when that stream is a tty and `NO_COLOR` is unset (any value disables);
//! the colour reset `\x1b[0m` follows every message, info included; plain `fprintf(stderr)`
//! lines (banner, notices) never get colour or syslog. Each message is one write(2), so stdout
//! behaves line-buffered even on a pipe.

use crate::cfmt;
use crate::sys;
use std::fmt::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};

static DEBUG: AtomicBool = AtomicBool::new(false);
static SYSLOG: AtomicBool = AtomicBool::new(false);
/// Per stream (0 = stdout, 1 = stderr): 0 unknown, 1 colour, 2 no colour.
static COLOR: [AtomicU8; 2] = [AtomicU8::new(0), AtomicU8::new(0)];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fatal,
    Warn,
    /// The memory report printed while memory is low: earlyoom's warn() (stderr, yellow,
    /// LOG_WARNING with --syslog), but a report, so the journal gets it at info priority and
    /// `journalctl -p warning` shows the kills, not the reports.
    LowReport,
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

/// The connected /dev/log socket, and when connecting last failed.
static SYSLOG_FD: sys::FdSlot = sys::FdSlot::empty();
static SYSLOG_RETRY_SEC: AtomicI64 = AtomicI64::new(i64::MIN);
/// /dev/log is a stream socket (syslog-ng's `unix-stream`): glibc's openlog falls back to
/// SOCK_STREAM on EPROTOTYPE, and then ends each message with a NUL.
static SYSLOG_STREAM: AtomicBool = AtomicBool::new(false);

/// Where syslog(3) sends (`_PATH_LOG`).
const DEV_LOG: &[u8] = b"/dev/log";

/// (Re)connects to /dev/log, at most once a second; false if there is no connection.
fn syslog_connect() -> bool {
    let now = sys::monotonic_secs() as i64;
    if SYSLOG_RETRY_SEC.load(Ordering::Relaxed) == now {
        return false;
    }
    let res = match sys::unix_connect(DEV_LOG, false) {
        Err(e) if e.0 == libc::EPROTOTYPE => {
            SYSLOG_STREAM.store(true, Ordering::Relaxed);
            sys::unix_connect(DEV_LOG, true)
        }
        r => {
            SYSLOG_STREAM.store(false, Ordering::Relaxed);
            r
        }
    };
    let ok = res.is_ok();
    SYSLOG_FD.set(res.ok());
    if !ok {
        SYSLOG_RETRY_SEC.store(now, Ordering::Relaxed);
    }
    ok
}

/// One message as syslog(3) formats it: `<PRI>Mmm dd hh:mm:ss earlyoom[PID]: text`.
fn syslog_send(prio: i32, line: &Line) {
    let mut msg = Line::new();
    let mut num = [0u8; 20];
    msg.push(b"<");
    msg.push(cfmt::decimal((libc::LOG_DAEMON | prio) as u64, &mut num));
    msg.push(b">");
    let mut ts = [0u8; 16];
    msg.push(sys::syslog_time(&mut ts));
    msg.push(b"earlyoom[");
    msg.push(cfmt::decimal(sys::getpid() as u64, &mut num));
    msg.push(b"]: ");
    msg.push(line.as_bytes());
    if SYSLOG_STREAM.load(Ordering::Relaxed) {
        msg.push(b"\0");
    }
    let mut connected = SYSLOG_FD.is_set() || syslog_connect();
    for attempt in 0..2 {
        if !connected {
            break;
        }
        match SYSLOG_FD.with(|fd| sys::send_nonblocking(fd, msg.as_bytes())) {
            Some(Ok(())) => return,
            // The log daemon went away or restarted: connect again (once) and resend.
            Some(Err(e))
                if attempt == 0
                    && matches!(e.0, libc::ECONNREFUSED | libc::ENOTCONN | libc::EPIPE) =>
            {
                connected = syslog_connect();
            }
            // Part of a message went down a stream: what follows would be garbled, so
            // start a new connection for the next line.
            Some(Err(e)) if e.0 == libc::EMSGSIZE && SYSLOG_STREAM.load(Ordering::Relaxed) => {
                SYSLOG_FD.set(None);
                break;
            }
            _ => break,
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
            let on = sys::isatty(fd) && std::env::var_os("NO_COLOR").is_none();
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
    buf: crate::sys::UninitBuf<4096>,
}

impl Line {
    pub fn new() -> Line {
        Line {
            buf: crate::sys::UninitBuf::new(),
        }
    }
    pub fn push(&mut self, b: &[u8]) {
        // One byte stays free, as the C buffer this mirrors keeps one for its NUL.
        self.buf.push(b, 1);
    }
    pub fn len(&self) -> usize {
        self.buf.as_bytes().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_bytes()
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
            Level::Warn | Level::LowReport => libc::LOG_WARNING,
            Level::Info => libc::LOG_INFO,
            Level::Debug => libc::LOG_DEBUG,
        };
        body(&mut line);
        syslog_send(prio, &line);
        return;
    }
    let fd = match level {
        Level::Fatal | Level::Warn | Level::LowReport => 2,
        Level::Info | Level::Debug => 1,
    };
    let journal = crate::journal::stream(fd);
    if journal {
        line.push(&[b'<', b'0' + crate::journal::priority(level), b'>']);
    }
    let text_at = line.len();
    let color = use_color(fd);
    if color {
        line.push(match level {
            Level::Fatal => b"\x1b[31m",
            Level::Warn | Level::LowReport => b"\x1b[33m",
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
    if !(sys::writable(fd) && sys::write_all(sys::std_fd(fd), msg).is_ok()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_truncates_instead_of_growing() {
        let mut l = Line::new();
        for _ in 0..1000 {
            let _ = write!(l, "0123456789");
        }
        assert_eq!(l.as_bytes().len(), 4095);
    }
}
