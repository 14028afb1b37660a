//! Per-pid readers below a proc root (default `/proc`; tests point it at fixture trees).
//!
//! Everything reads into caller-owned buffers and fixed-size strings: a victim scan over
//! 10,000 processes allocates nothing (architecture.md, "Allocate nothing in the steady state").

use crate::sys::{self, CPath, Errno, Fd};

/// The page size in KiB (stat's RSS is in pages).
pub fn page_kib() -> i64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    (if p > 0 { p } else { 4096 }) as i64 / 1024
}

/// The proc root every reader goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRoot(pub Vec<u8>);

impl Default for ProcRoot {
    fn default() -> ProcRoot {
        ProcRoot(b"/proc".to_vec())
    }
}

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

fn parse_int<T: std::str::FromStr>(tok: &[u8]) -> Option<T> {
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

/// Where one process's files are read from: paths `PID/file` below the proc root (the cheap
/// first look a scan takes at every process) or the process's own `/proc/PID` directory
/// ([`PidDir`], every read of that one process). The readers follow earlyoom's
/// (meminfo.c, proc_pid.c) byte for byte.
pub trait PidFiles {
    /// Reads `file` into buf; returns the byte count.
    fn read(&mut self, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno>;

    /// Owner of the process's /proc directory: the effective uid (or 0 for non-dumpable
    /// processes), which is what earlyoom's `--ignore-root-user` and `EARLYOOM_UID` use.
    fn uid(&mut self) -> Result<u32, Errno>;

    fn stat(&mut self, buf: &mut [u8]) -> Result<Stat, Errno> {
        let n = self.read(b"stat", buf)?;
        parse_stat(&buf[..n]).ok_or(Errno(libc::EINVAL))
    }

    /// A file holding one decimal integer (oom_score, oom_score_adj).
    fn int(&mut self, file: &[u8], buf: &mut [u8]) -> Result<i32, Errno> {
        let n = self.read(file, buf)?;
        let s = buf[..n].trim_ascii();
        parse_int(s).ok_or(Errno(libc::EINVAL))
    }

    /// comm as earlyoom reads it (meminfo.c:196-220): ≤255 bytes, the last byte (the newline)
    /// dropped, truncated UTF-8 fixed; an empty file is an error.
    fn comm(&mut self, out: &mut Text) -> Result<(), Errno> {
        let mut buf = [0u8; 256];
        let n = self.read(b"comm", &mut buf[..255])?;
        if n == 0 {
            out.clear();
            return Err(Errno(libc::ENODATA));
        }
        let s = &buf[..n - 1];
        out.set(&s[..fix_truncated_utf8(s)]);
        Ok(())
    }

    /// cmdline as earlyoom reads it (meminfo.c:222-256): ≤255 bytes, NUL → space, the last
    /// byte dropped (normally the trailing NUL), truncated UTF-8 fixed; empty stays empty.
    fn cmdline(&mut self, out: &mut Text) -> Result<(), Errno> {
        let mut buf = [0u8; 256];
        let n = self.read(b"cmdline", &mut buf[..255])?;
        out.clear();
        if n == 0 {
            return Ok(());
        }
        for b in &mut buf[..n] {
            if *b == 0 {
                *b = b' ';
            }
        }
        let s = &buf[..n - 1];
        out.set(&s[..fix_truncated_utf8(s)]);
        Ok(())
    }
}

/// The proc root opened for one scan; per-pid files are opened relative to it.
pub struct ProcDir {
    fd: Fd,
    path: CPath,
}

impl ProcDir {
    pub fn open(root: &ProcRoot) -> Result<ProcDir, Errno> {
        let mut path = CPath::new();
        if !path.push(&root.0) {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        let fd = sys::openat(libc::AT_FDCWD, &path, libc::O_DIRECTORY)?;
        Ok(ProcDir {
            fd,
            path: CPath::new(),
        })
    }

    pub fn raw(&self) -> i32 {
        self.fd.raw()
    }

    fn pid_path(&mut self, pid: i32, file: &[u8]) -> &CPath {
        let p = self.path.clear();
        p.push_u32(pid as u32);
        if !file.is_empty() {
            p.push(b"/");
            p.push(file);
        }
        &self.path
    }

    /// The files of `pid` by path (`PID/file` below the root).
    pub fn at(&mut self, pid: i32) -> ByPath<'_> {
        ByPath { dir: self, pid }
    }

    /// Opens `<root>/<pid>` itself: from then on every read is of the process that owned
    /// the pid at this moment, and fails (ESRCH) once it is gone, never of a newcomer that
    /// got the same pid.
    pub fn open_pid(&mut self, pid: i32) -> Result<PidDir, Errno> {
        let dirfd = self.fd.raw();
        let path = self.pid_path(pid, b"");
        let fd = sys::openat(dirfd, path, libc::O_DIRECTORY)?;
        Ok(PidDir { fd, pid })
    }

    /// Reads `<pid>/<file>` into buf; returns the byte count.
    pub fn read(&mut self, pid: i32, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        self.at(pid).read(file, buf)
    }

    pub fn uid(&mut self, pid: i32) -> Result<u32, Errno> {
        self.at(pid).uid()
    }

    pub fn stat(&mut self, pid: i32, buf: &mut [u8]) -> Result<Stat, Errno> {
        self.at(pid).stat(buf)
    }

    pub fn int(&mut self, pid: i32, file: &[u8], buf: &mut [u8]) -> Result<i32, Errno> {
        self.at(pid).int(file, buf)
    }

    pub fn comm(&mut self, pid: i32, out: &mut Text) -> Result<(), Errno> {
        self.at(pid).comm(out)
    }

    pub fn cmdline(&mut self, pid: i32, out: &mut Text) -> Result<(), Errno> {
        self.at(pid).cmdline(out)
    }
}

/// The files of one pid by path below the proc root.
pub struct ByPath<'a> {
    dir: &'a mut ProcDir,
    pid: i32,
}

impl PidFiles for ByPath<'_> {
    fn read(&mut self, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        let dirfd = self.dir.fd.raw();
        let path = self.dir.pid_path(self.pid, file);
        sys::read_at(dirfd, path, buf)
    }

    fn uid(&mut self) -> Result<u32, Errno> {
        let dirfd = self.dir.fd.raw();
        let path = self.dir.pid_path(self.pid, b"");
        sys::fstatat_uid(dirfd, path)
    }
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

/// One process's `/proc/PID` directory, held open: the process is pinned for reading. Every
/// file is read relative to it, so two processes' data can never merge into one record, and
/// a pid recycled after the process exited makes each read fail instead of answering for the
/// newcomer (proc(5): the directory of a process that has exited gives ESRCH).
#[derive(Debug)]
pub struct PidDir {
    fd: Fd,
    pid: i32,
}

impl PidDir {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn raw(&self) -> i32 {
        self.fd.raw()
    }

    /// The directory as a [`PidFiles`] reader (reads need no exclusive access).
    pub fn reader(&self) -> &PidDir {
        self
    }

    /// NSpid and the signal masks (for a container's init, see [`Status`]).
    pub fn status(&self) -> Result<Status, Errno> {
        // Groups: of a user in a few hundred groups (AD, sssd) pushes the signal lines
        // past 2 KiB.
        let mut buf = [0u8; 8192];
        let n = self.reader().read(b"status", &mut buf)?;
        parse_status(&buf[..n]).ok_or(Errno(libc::EINVAL))
    }

    /// The process's cgroup v2 path into `out` (cut at 255 bytes); false if it has none.
    pub fn cgroup(&self, out: &mut Text) -> bool {
        let mut buf = [0u8; 4096];
        let Ok(n) = self.reader().read(b"cgroup", &mut buf) else {
            return false;
        };
        match parse_cgroup_v2(&buf[..n]) {
            Some(p) => {
                out.set(p);
                true
            }
            None => false,
        }
    }
}

impl PidFiles for &PidDir {
    fn read(&mut self, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        let mut path = CPath::new();
        if !path.push(file) {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        sys::read_at(self.fd.raw(), &path, buf)
    }

    fn uid(&mut self) -> Result<u32, Errno> {
        sys::fstat_uid(self.fd.raw())
    }
}

/// Size of the getdents64 buffer a scan keeps. 4 KiB holds 128-170 entries of /proc (24-32
/// bytes each), so a scan of 10,000 processes makes ~80 getdents64 calls instead of ~10 with
/// 32 KiB: nothing next to its ~30,000 per-process calls. The buffer lives as long as the
/// daemon and is zeroed when allocated, so all of it is resident and, after mlockall, locked:
/// 32 KiB made the daemon's heap 48 KiB, 4 KiB makes it 20 KiB (earlyoom's: 8-12 KiB).
pub const DENTS_BUF: usize = 4096;

/// Calls `f` for every all-digit entry of the directory `dirfd`, in the kernel's readdir
/// order (ascending pids, thread-group leaders only), using getdents64 into `buf` so nothing
/// is allocated. `dirfd` must be freshly opened (the position is not rewound).
pub fn for_each_pid(dirfd: i32, buf: &mut [u8], mut f: impl FnMut(i32)) -> Result<(), Errno> {
    loop {
        // SAFETY: buf is writable for its length.
        let n = sys::retry(|| unsafe {
            libc::syscall(libc::SYS_getdents64, dirfd, buf.as_mut_ptr(), buf.len())
        });
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        while off < n as usize {
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name = &buf[off + 19..off + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(pid) = parse_pid(name) {
                f(pid);
            }
            off += reclen;
        }
    }
}

/// A directory entry name that is all ASCII digits and fits a pid (kill.c:44-61).
pub fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = name.iter().fold(0, |a, &b| a * 10 + (b - b'0') as u64);
    i32::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "S 547891 547891 547891 0 -1 4194560 1386384 8418 1 0 16452 4364 2 5 20 0 23 0 2418 4726292480 65528 18446744073709551615 1 1 0 0 0 0 0 4096 83192 0 0 0 17 2 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    fn line(comm: &str) -> Vec<u8> {
        format!("123 ({comm}) {TEMPLATE}").into_bytes()
    }

    /// earlyoom's Test_parse_proc_pid_stat_Mock comms.
    #[test]
    fn hostile_comm_names_do_not_shift_fields() {
        for comm in [
            "gnome-shell",
            "",
            ": - )",
            "()()()())))(((()))()()",
            "   \n\n    ",
            "foo) Z 1 1",
        ] {
            let s = parse_stat(&line(comm)).unwrap_or_else(|| panic!("{comm:?}"));
            assert_eq!(s.state, b'S', "{comm:?}");
            assert_eq!(s.ppid, 547891);
            assert_eq!(s.num_threads, 23);
            assert_eq!(s.starttime, 2418);
            assert_eq!(s.rss_pages, 65528);
        }
    }

    #[test]
    fn garbage_stat_fails() {
        for bad in [&b""[..], b"x", b"\0\0\0", b")", b"1 (x) S", b"1 (x) SS 1 1"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_own_stat_like_the_procfs_crate() {
        let me = procfs::process::Process::myself().unwrap().stat().unwrap();
        let mut d = ProcDir::open(&ProcRoot::default()).unwrap();
        let mut buf = [0u8; 1024];
        let s = d.stat(sys::getpid(), &mut buf).unwrap();
        assert_eq!(s.ppid, me.ppid);
        assert_eq!(s.pgrp, me.pgrp);
        assert_eq!(s.starttime, me.starttime);
        assert_eq!(s.num_threads, me.num_threads);
        let mut comm = Text::new();
        d.comm(sys::getpid(), &mut comm).unwrap();
        assert_eq!(comm.as_bytes(), me.comm.as_bytes());
        assert!(d.comm(i32::MAX, &mut comm).is_err());
        assert!(d.int(i32::MAX, b"oom_score", &mut buf).is_err());
        assert!(d.int(sys::getpid(), b"oom_score", &mut buf).unwrap() >= 0);
    }

    #[test]
    fn lists_pids_like_the_procfs_crate() {
        let d = ProcDir::open(&ProcRoot::default()).unwrap();
        let mut buf = vec![0u8; 4096]; // small on purpose: several getdents64 calls
        let mut ours = Vec::new();
        for_each_pid(d.raw(), &mut buf, |p| ours.push(p)).unwrap();
        assert!(ours.contains(&1));
        assert!(ours.contains(&sys::getpid()));
        assert!(ours.len() > 3);
        assert!(ours.windows(2).all(|w| w[0] < w[1]), "ascending order");
    }

    /// earlyoom's Test_fix_truncated_utf8: every prefix (len >= 3) becomes valid UTF-8.
    #[test]
    fn truncated_utf8_is_fixed() {
        let s = "abc🐧 λ∑ 𝔸 ö€ 😀😀 x∀y".as_bytes();
        for n in 3..=s.len() {
            let cut = fix_truncated_utf8(&s[..n]);
            assert!(std::str::from_utf8(&s[..cut]).is_ok(), "prefix {n}");
            assert!(cut >= 3 && cut + 3 >= n, "prefix {n} cut to {cut}");
        }
    }

    #[test]
    fn pid_names() {
        assert_eq!(parse_pid(b"1"), Some(1));
        assert_eq!(parse_pid(b"4194304"), Some(4194304));
        assert_eq!(parse_pid(b"self"), None);
        assert_eq!(parse_pid(b""), None);
        assert_eq!(parse_pid(b"12a"), None);
        assert_eq!(parse_pid(b"99999999999"), None);
    }
}
