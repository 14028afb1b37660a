//! Pure parsers of procfs files (proc(5)): `/proc/PID/stat` from its last `)`, the signal
//! lines of `status`, `cgroup`, pid directory names, and earlyoom's string rules for comm and
//! cmdline. Functions of bytes only, so they are unit-tested and fuzzed without a /proc.

/// PF_KTHREAD (include/linux/sched.h): the task is a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of `/proc/PID/stat` the daemon uses (proc(5) field numbers in brackets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// (3) R, S, D, Z, T, t, X, I...
    pub state: u8,
    /// (4)
    pub ppid: i32,
    /// (5)
    pub pgrp: i32,
    /// (9) PF_* flags.
    pub flags: u64,
    /// (20)
    pub num_threads: i64,
    /// (22) clock ticks after boot: with the pid, the identity of a process.
    pub starttime: u64,
    /// (24) resident pages.
    pub rss_pages: i64,
}

pub(crate) fn parse_int<T: std::str::FromStr>(tok: &[u8]) -> Option<T> {
    std::str::from_utf8(tok).ok()?.parse().ok()
}

/// Parses `/proc/PID/stat` starting after the **last** `)`, so that a hostile comm such as
/// `foo) Z 1 1` cannot shift the fields (earlyoom proc_pid.c, procps). Fields are separated by
/// single spaces; everything we need is up to field 24.
pub fn parse_stat(buf: &[u8]) -> Option<Stat> {
    let close = buf.iter().rposition(|&b| b == b')')?;
    let rest = buf.get(close + 1..)?;
    let rest = rest.strip_prefix(b" ")?;
    // f[n - 3] is proc(5) field n, for n in 3..=24.
    let mut f: [&[u8]; 22] = [&[]; 22];
    let mut it = rest.split(|&b| b == b' ' || b == b'\n');
    for slot in f.iter_mut() {
        *slot = it.next()?;
    }
    let state = f[0];
    if state.len() != 1 {
        return None;
    }
    let ppid = parse_int(f[4 - 3])?;
    let pgrp = parse_int(f[5 - 3])?;
    let flags = parse_int(f[9 - 3])?;
    let num_threads = parse_int(f[20 - 3])?;
    let starttime = parse_int(f[22 - 3])?;
    let rss_pages = parse_int(f[24 - 3])?;
    Some(Stat {
        state: state[0],
        ppid,
        pgrp,
        flags,
        num_threads,
        starttime,
        rss_pages,
    })
}

/// A short string read from procfs (comm, cmdline), at most 255 bytes, no allocation.
#[derive(Clone, Copy)]
pub struct Text {
    buf: [u8; 256],
    len: usize,
}

impl Text {
    pub const fn new() -> Text {
        Text {
            buf: [0; 256],
            len: 0,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn set(&mut self, b: &[u8]) {
        let n = b.len().min(255);
        self.buf[..n].copy_from_slice(&b[..n]);
        self.len = n;
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    /// Bytes as text for logs; earlyoom prints them raw, and so do we where it matters
    /// (hooks), but `Display` must be valid UTF-8, so invalid sequences become U+FFFD.
    pub fn display(&self) -> impl std::fmt::Display + '_ {
        Lossy(self.as_bytes())
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

struct Lossy<'a>(&'a [u8]);

impl std::fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// earlyoom's `fix_truncated_utf8` (msg.c:225-248): a string cut at 255 bytes may end inside
/// a multi-byte character; only the last 3 bytes are inspected and a dangling lead byte (and
/// what follows it) is cut. Strings shorter than 3 bytes are left alone.
pub fn fix_truncated_utf8(s: &[u8]) -> usize {
    let len = s.len();
    if len < 3 {
        return len;
    }
    let is_lead = |b: u8| b & 0xC0 == 0xC0;
    if is_lead(s[len - 1]) {
        return len - 1;
    }
    if s[len - 2] & 0xE0 == 0xE0 {
        return len - 2;
    }
    if s[len - 3] & 0xF0 == 0xF0 {
        return len - 3;
    }
    len
}

/// What `/proc/PID/status` says about how a process takes signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The last NSpid field is 1 and there is more than one: the process is the init of a
    /// PID namespace below the proc root's (a container's PID 1).
    pub ns_init: bool,
    /// SIGTERM has a handler (SigCgt) or is blocked (SigBlk: tini, catatonit, dumb-init and
    /// systemd block it and take it with sigtimedwait or a signalfd). The kernel drops a
    /// signal sent from outside to a namespace init otherwise (sig_task_ignored() for
    /// SIGNAL_UNKILLABLE tasks). Unknown (a line missing) counts as handled.
    pub term_handled: bool,
}

/// Parses the NSpid, SigBlk and SigCgt lines of `/proc/PID/status` (proc(5)).
pub fn parse_status(buf: &[u8]) -> Option<Status> {
    let term = |v: &[u8]| -> Option<bool> {
        let hex = std::str::from_utf8(v.trim_ascii()).ok()?;
        let mask = u64::from_str_radix(hex, 16).ok()?;
        Some(mask & (1 << (libc::SIGTERM - 1)) != 0)
    };
    let mut st = Status::default();
    let (mut nspid, mut blocked, mut caught) = (false, None, None);
    for line in buf.split(|&b| b == b'\n') {
        if let Some(v) = line.strip_prefix(b"NSpid:") {
            let mut n = 0;
            let mut last = None;
            for f in v
                .split(|&b| b == b'\t' || b == b' ')
                .filter(|f| !f.is_empty())
            {
                n += 1;
                last = parse_int::<i64>(f);
            }
            st.ns_init = n > 1 && last == Some(1);
            nspid = true;
        } else if let Some(v) = line.strip_prefix(b"SigBlk:") {
            blocked = term(v);
        } else if let Some(v) = line.strip_prefix(b"SigCgt:") {
            caught = term(v);
        }
    }
    st.term_handled = match (caught, blocked) {
        (Some(c), Some(b)) => c || b,
        _ => true,
    };
    // NSpid exists since Linux 4.1; without it there are no nested namespaces to worry about.
    nspid.then_some(st)
}

/// The cgroup v2 path in a `/proc/PID/cgroup` buffer (the `0::/path` line).
pub fn parse_cgroup_v2(buf: &[u8]) -> Option<&[u8]> {
    buf.split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"0::"))
}

/// A directory entry name that is all ASCII digits and fits a pid (kill.c:44-61).
pub fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = name.iter().fold(0, |a, &b| a * 10 + (b - b'0') as u64);
    i32::try_from(v).ok()
}
