//! The systemd journal, spoken natively: priorities on stream lines, and one structured entry
//! per kill, escalation, exit, livelock action and failed kill, without libsystemd.
//!
//! When systemd connects the daemon's stdout/stderr to the journal it says so in
//! `JOURNAL_STREAM=DEV:INODE` (systemd.exec(5)); only then does this module do anything.
//! - Every stream line starts with its syslog priority (`<4>` for a warning, sd-daemon(3)),
//!   which journald strips and stores as PRIORITY: `journalctl -p warning` then shows kills
//!   and failures and not the once-a-second reports. The text after it is earlyoom's.
//! - A line that is an action ([`Kind`]) goes instead as one datagram of the native protocol
//!   (`KEY=value` lines to /run/systemd/journal/socket, systemd's "Native Journal Protocol"
//!   document) with a stable MESSAGE_ID per kind, the victim's fields, and MESSAGE
//!   byte-identical to the line a stream would have carried (journald drops the trailing
//!   newline of stream lines, so MESSAGE has none either): `journalctl -u earlyoom` shows
//!   the same text as before, once, and `journalctl MESSAGE_ID=...` finds every kill. If the
//!   datagram cannot be sent (journald gone, its queue full), the line goes to the stream.
//!
//! The catalog entries explaining each MESSAGE_ID ship in packaging/systemd/earlyoom.catalog.
//! A new kind of action is one more [`Kind`] with its id there and here.

use crate::sys::{self, FdSlot};
use std::sync::atomic::{AtomicBool, Ordering};

/// Kinds of structured entries, one MESSAGE_ID each (never change an id once shipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A signal sent to a victim (`sending SIGTERM to process ...`).
    Kill,
    /// `escalating to SIGKILL after ...`.
    Escalate,
    /// `process N exited after ...`.
    Exited,
    /// The livelock guard acted on a cgroup.
    Livelock,
    /// A kill failed, or the victim did not exit.
    Failed,
    /// `--cgroup-headroom` acted on a cgroup (its line; the kill follows as [`Kind::Kill`]).
    Cgroup,
    /// `--storm-guard` acted on the source of a fork storm.
    Storm,
    /// Memory at or below a line and nothing signalled: the reason.
    NoKill,
    /// `--memory-pressure` acted (its line; the kill follows as [`Kind::Kill`]).
    Pressure,
    /// `--warn`: the warning, naming the would-be victim.
    Warn,
}

impl Kind {
    pub const fn message_id(self) -> &'static str {
        match self {
            Kind::Kill => "bc25287a4ce94d53b138ae6d00ca3ab0",
            Kind::Escalate => "01dcedcb5b0e46259656c784ff4c3c42",
            Kind::Exited => "3f453d48ea7d4407b56a7dfceb8045f4",
            Kind::Livelock => "8224d432749d4992b1e90d5010d14a89",
            Kind::Failed => "f6fb3f976fd94e1aa057fe3f6d54de42",
            Kind::Cgroup => "93052f5225a54a9d8e4b963fbc3eed73",
            Kind::Storm => "b9794046a1384201ac207a4fa1e7d26e",
            Kind::NoKill => "e7fbb661014b4e3898e55b83279f90d2",
            Kind::Pressure => "f055305bd95d467b9c53dfbfe2c2d16c",
            Kind::Warn => "ee3418c40d7142ac941081280f1598ab",
        }
    }
}

/// The victim's fields of a structured entry (what `-N` hooks get, and a little more).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fields<'a> {
    pub pid: i32,
    pub uid: i32,
    pub comm: &'a [u8],
    /// `SIGTERM`/`SIGKILL`, or empty.
    pub signal: &'a str,
    pub rss_kib: i64,
    pub oom_score: i32,
    /// The metrics file's reason label (`memory`, `livelock`).
    pub reason: &'a str,
    /// The victim's cgroup v2 path, or empty.
    pub cgroup: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields of an action on `victim` (None: an action that found no process), with
    /// `signal` (empty when the kill that follows has its own entry), the metrics `reason`
    /// label and the cgroup it concerns.
    pub fn of(
        victim: Option<&'a crate::victim::Victim>,
        signal: &'a str,
        reason: &'a str,
        cgroup: &'a [u8],
    ) -> Fields<'a> {
        match victim {
            Some(v) => Fields {
                pid: v.pid,
                uid: v.uid,
                comm: v.comm.as_bytes(),
                signal,
                rss_kib: v.rss_kib,
                oom_score: v.oom_score,
                reason,
                cgroup,
            },
            None => Fields {
                reason,
                cgroup,
                ..Fields::default()
            },
        }
    }
}

/// Our stdout ([0]) and stderr ([1]) are journal streams: each on its own, since a unit
/// may send one to the journal and the other to a file (`StandardError=file:...`), whose
/// lines must then stay exactly earlyoom's.
static STREAM: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// The connected native socket.
static SOCKET: FdSlot = FdSlot::empty();

/// journald's socket for native entries.
const SOCKET_PATH: &[u8] = b"/run/systemd/journal/socket";

/// Looks at JOURNAL_STREAM once, at startup (before any line that wants a priority).
pub fn detect() {
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return;
    };
    let v = v.to_string_lossy();
    let Some((dev, ino)) = v.split_once(':') else {
        return;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return;
    };
    // systemd.exec(5): compare with fstat() of fd 1 and 2; an fd the service redirected
    // since (a shell wrapper, StandardError=file:) is not the journal.
    let mut any = false;
    for (slot, fd) in STREAM.iter().zip([1, 2]) {
        if sys::fstat_dev_ino(fd) == Some((dev, ino)) {
            slot.store(true, Ordering::Relaxed);
            any = true;
        }
    }
    if any {
        SOCKET.set(sys::unix_connect(SOCKET_PATH, false).ok());
    }
}

/// Whether lines written to `fd` (1 or 2) go to the journal: then they carry a priority
/// prefix, and actions go as native entries instead.
pub fn stream(fd: i32) -> bool {
    STREAM[usize::from(fd == 2)].load(Ordering::Relaxed)
}

/// Whether either stream is the journal (the victim's cgroup is then worth reading).
pub fn active() -> bool {
    stream(1) || stream(2)
}

/// The syslog priority of a level, as sd-daemon(3) prefixes and PRIORITY= values.
pub fn priority(level: crate::log::Level) -> u8 {
    use crate::log::Level;
    match level {
        Level::Fatal => 3,
        Level::Warn => 4,
        Level::LowReport => 6,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

/// A datagram under construction in a fixed buffer (no allocation on the kill path).
struct Datagram {
    buf: [u8; 8192],
    len: usize,
    overflow: bool,
}

impl Datagram {
    fn push(&mut self, b: &[u8]) {
        if self.len + b.len() > self.buf.len() {
            self.overflow = true;
            return;
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// One field: `KEY=value\n`, or the binary form (`KEY\n`, 64-bit little-endian length,
    /// value, `\n`) when the value holds a newline, which a hostile comm can.
    fn field(&mut self, key: &str, value: &[u8]) {
        self.push(key.as_bytes());
        if value.contains(&b'\n') {
            self.push(b"\n");
            self.push(&(value.len() as u64).to_le_bytes());
        } else {
            self.push(b"=");
        }
        self.push(value);
        self.push(b"\n");
    }

    fn number(&mut self, key: &str, v: i64) {
        let mut digits = [0u8; 20];
        let d = crate::cfmt::decimal(v.unsigned_abs(), &mut digits);
        let mut out = [0u8; 21];
        let n = if v < 0 {
            out[0] = b'-';
            out[1..=d.len()].copy_from_slice(d);
            d.len() + 1
        } else {
            out[..d.len()].copy_from_slice(d);
            d.len()
        };
        self.field(key, &out[..n]);
    }
}

/// Sends one structured entry; false if it could not be sent (then the caller writes the
/// line to the stream instead). `message` is the line without its trailing newline.
pub fn send(level: crate::log::Level, kind: Kind, f: &Fields<'_>, message: &[u8]) -> bool {
    if !SOCKET.is_set() {
        return false;
    }
    let mut d = Datagram {
        buf: [0; 8192],
        len: 0,
        overflow: false,
    };
    d.field("MESSAGE", message);
    d.field("MESSAGE_ID", kind.message_id().as_bytes());
    d.field("PRIORITY", &[b'0' + priority(level)]);
    d.field("SYSLOG_IDENTIFIER", b"earlyoom");
    d.number("EARLYOOM_PID", f.pid.into());
    d.number("EARLYOOM_UID", f.uid.into());
    d.field("EARLYOOM_COMM", f.comm);
    if !f.signal.is_empty() {
        d.field("EARLYOOM_SIGNAL", f.signal.as_bytes());
    }
    d.number("EARLYOOM_RSS_KIB", f.rss_kib);
    d.number("EARLYOOM_OOM_SCORE", f.oom_score.into());
    d.field("EARLYOOM_REASON", f.reason.as_bytes());
    if !f.cgroup.is_empty() {
        d.field("EARLYOOM_CGROUP", f.cgroup);
    }
    if d.overflow {
        return false;
    }
    SOCKET
        .with(|fd| sys::send_nonblocking(fd, &d.buf[..d.len]).is_ok())
        .unwrap_or(false)
}
