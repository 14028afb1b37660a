//! Per-pid readers below a proc root (default `/proc`; tests point it at fixture trees):
//! the root opened once per scan, each pid's files read by path or through its own pinned
//! `/proc/PID` directory, into caller-owned buffers (a scan of 10,000 processes allocates
//! nothing). The pure parsers of what those files hold are in [`parse`].

pub mod parse;
pub use parse::*;

use crate::sys::{self, CPath, Errno};
use rustix::fd::{AsFd, OwnedFd};
use std::mem::MaybeUninit;

/// The proc root every reader goes through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRoot(pub Vec<u8>);

impl Default for ProcRoot {
    fn default() -> ProcRoot {
        ProcRoot(b"/proc".to_vec())
    }
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
    fd: OwnedFd,
}

impl ProcDir {
    pub fn open(root: &ProcRoot) -> Result<ProcDir, Errno> {
        let fd = sys::openat(sys::cwd(), &CPath::of(&root.0)?, true)?;
        Ok(ProcDir { fd })
    }

    /// The files of `pid` by path (`PID/file` below the root), built in `path` (a buffer the
    /// caller keeps, so that a scan neither allocates nor zeroes one per file).
    pub fn at<'a>(&'a self, pid: i32, path: &'a mut CPath) -> ByPath<'a> {
        ByPath {
            fd: self.fd.as_fd(),
            path,
            pid,
        }
    }

    /// Opens `<root>/<pid>` itself: from then on every read is of the process that owned
    /// the pid at this moment, and fails (ESRCH) once it is gone, never of a newcomer that
    /// got the same pid.
    pub fn open_pid(&self, pid: i32, path: &mut CPath) -> Result<PidDir, Errno> {
        path.clear().push_u32(pid as u32);
        let fd = sys::openat(self.fd.as_fd(), path, true)?;
        Ok(PidDir { fd, pid })
    }

    /// Calls `f` for every all-digit entry of the root, in the kernel's readdir order
    /// (ascending pids, thread-group leaders only), reading the directory with getdents64
    /// into `buf` so nothing is allocated. The root must be freshly opened (its position
    /// is not rewound).
    pub fn for_each_pid(
        &self,
        buf: &mut [MaybeUninit<u8>],
        mut f: impl FnMut(i32),
    ) -> Result<(), Errno> {
        let mut dir = rustix::fs::RawDir::new(self.fd.as_fd(), buf);
        while let Some(entry) = dir.next() {
            match entry {
                Ok(e) => {
                    if let Some(pid) = parse_pid(e.file_name().to_bytes()) {
                        f(pid);
                    }
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// For tools (not the scan): `<pid>/<file>` with a path buffer of their own.
    pub fn read(&self, pid: i32, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        self.at(pid, &mut CPath::new()).read(file, buf)
    }

    pub fn uid(&self, pid: i32) -> Result<u32, Errno> {
        self.at(pid, &mut CPath::new()).uid()
    }

    pub fn stat(&self, pid: i32, buf: &mut [u8]) -> Result<Stat, Errno> {
        self.at(pid, &mut CPath::new()).stat(buf)
    }

    pub fn int(&self, pid: i32, file: &[u8], buf: &mut [u8]) -> Result<i32, Errno> {
        self.at(pid, &mut CPath::new()).int(file, buf)
    }

    pub fn comm(&self, pid: i32, out: &mut Text) -> Result<(), Errno> {
        self.at(pid, &mut CPath::new()).comm(out)
    }

    pub fn cmdline(&self, pid: i32, out: &mut Text) -> Result<(), Errno> {
        self.at(pid, &mut CPath::new()).cmdline(out)
    }
}

/// The files of one pid by path below the proc root.
pub struct ByPath<'a> {
    fd: rustix::fd::BorrowedFd<'a>,
    path: &'a mut CPath,
    pid: i32,
}

impl PidFiles for ByPath<'_> {
    fn read(&mut self, file: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        let p = self.path.clear();
        p.push_u32(self.pid as u32);
        p.push(b"/");
        if !p.push(file) {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        sys::read_at(self.fd, self.path, buf)
    }

    fn uid(&mut self) -> Result<u32, Errno> {
        self.path.clear().push_u32(self.pid as u32);
        sys::fstatat_uid(self.fd, self.path)
    }
}

/// One process's `/proc/PID` directory, held open: the process is pinned for reading. Every
/// file is read relative to it, so two processes' data can never merge into one record, and
/// a pid recycled after the process exited makes each read fail instead of answering for the
/// newcomer (proc(5): the directory of a process that has exited gives ESRCH).
#[derive(Debug)]
pub struct PidDir {
    fd: OwnedFd,
    pid: i32,
}

impl PidDir {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The directory's descriptor: pidfd_send_signal takes it as a pidfd.
    pub fn fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self.fd.as_fd()
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
        sys::read_at(self.fd.as_fd(), &CPath::of(file)?, buf)
    }

    fn uid(&mut self) -> Result<u32, Errno> {
        sys::fstat_uid(self.fd.as_fd())
    }
}

/// Size of the getdents64 buffer a scan keeps. 4 KiB holds 128-170 entries of /proc (24-32
/// bytes each), so a scan of 10,000 processes makes ~80 getdents64 calls instead of ~10 with
/// 32 KiB: nothing next to its ~30,000 per-process calls. The buffer lives as long as the
/// daemon and is never zeroed (only what getdents64 wrote is read), so it costs resident
/// memory only once a scan has used it.
pub const DENTS_BUF: usize = 4096;

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
        let d = ProcDir::open(&ProcRoot::default()).unwrap();
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
        let mut buf = vec![MaybeUninit::uninit(); 4096]; // small: several getdents64 calls
        let mut ours = Vec::new();
        d.for_each_pid(&mut buf, |p| ours.push(p)).unwrap();
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
