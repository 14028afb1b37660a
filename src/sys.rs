//! The seam to the kernel: every system call the daemon makes, and every `unsafe` of the
//! library, lives here. Calls go through `rustix` (direct system calls, typed errors, no
//! allocation for short paths, std's `OwnedFd`); `libc` remains only for what rustix does
//! not have or what must be glibc's: strerror text (users grep it), strtod, fork/execve,
//! waitid(WNOWAIT) with the pid, localtime, process_mrelease, and poll over a reused array.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use std::ffi::{CStr, CString};
use std::fmt;

/// An errno value that prints as glibc's `strerror` text ("No such file or directory"),
/// because earlyoom's messages embed `strerror(errno)` and users grep for that text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's errno, after a call made through libc.
    fn last() -> Errno {
        // SAFETY: __errno_location always returns a valid thread-local pointer.
        Errno(unsafe { *libc::__errno_location() })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0 as libc::c_char; 128];
        // SAFETY: the XSI/GNU strerror_r that the libc crate binds (__xpg_strerror_r) writes a
        // NUL-terminated string into buf; glibc gives "Unknown error N" for unknown values.
        let rc = unsafe { libc::strerror_r(self.0, buf.as_mut_ptr(), buf.len()) };
        if rc != 0 {
            return write!(f, "Unknown error {}", self.0);
        }
        // SAFETY: strerror_r succeeded, so buf holds a NUL-terminated string.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        f.write_str(&String::from_utf8_lossy(s.to_bytes()))
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno(e.raw_os_error())
    }
}

/// Runs a rustix call again while it fails with EINTR.
fn again<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(Errno::from),
        }
    }
}

// ------------------------------------------------------------------------ paths ----

/// A small NUL-terminated path built on the stack, for openat() without allocation.
pub struct CPath {
    buf: [u8; 512],
    len: usize,
}

impl CPath {
    pub fn new() -> CPath {
        CPath {
            buf: [0; 512],
            len: 0,
        }
    }
    pub fn clear(&mut self) -> &mut Self {
        self.len = 0;
        self.buf[0] = 0;
        self
    }
    /// Appends bytes; returns false if they do not fit (the caller treats that as
    /// ENAMETOOLONG). A NUL inside `b` would end the C string early: refused too.
    pub fn push(&mut self, b: &[u8]) -> bool {
        if self.len + b.len() >= self.buf.len() || b.contains(&0) {
            return false;
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        self.buf[self.len] = 0;
        true
    }
    pub fn push_u32(&mut self, v: u32) -> bool {
        let mut tmp = [0u8; 20];
        self.push(crate::cfmt::decimal(u64::from(v), &mut tmp))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    pub fn as_cstr(&self) -> &CStr {
        // The buffer holds `len` bytes without a NUL (push refuses them), then a NUL.
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).unwrap_or(c"")
    }
    /// The path of `bytes`, or ENAMETOOLONG.
    pub fn of(bytes: &[u8]) -> Result<CPath, Errno> {
        let mut p = CPath::new();
        if p.push(bytes) {
            Ok(p)
        } else {
            Err(Errno(libc::ENAMETOOLONG))
        }
    }
}

impl Default for CPath {
    fn default() -> Self {
        CPath::new()
    }
}

/// A byte buffer on the stack that is never zeroed: only the bytes pushed so far are ever
/// read. Every log message, the once-a-second `-r` report line included, builds one, and
/// zeroing 4 KiB first was a third of a wake-up's user-space instructions.
pub struct UninitBuf<const N: usize> {
    buf: [std::mem::MaybeUninit<u8>; N],
    len: usize,
}

impl<const N: usize> UninitBuf<N> {
    pub fn new() -> Self {
        UninitBuf {
            buf: [std::mem::MaybeUninit::uninit(); N],
            len: 0,
        }
    }

    /// Appends what fits, keeping `spare` bytes free at the end; silently truncates.
    pub fn push(&mut self, b: &[u8], spare: usize) {
        let n = b.len().min(N.saturating_sub(spare + self.len));
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

impl<const N: usize> Default for UninitBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

// -------------------------------------------------------------------- files -----

/// The current working directory, for paths that are absolute or relative to it.
pub fn cwd() -> BorrowedFd<'static> {
    rustix::fs::CWD
}

/// openat(dirfd, path, O_RDONLY|O_CLOEXEC [| O_DIRECTORY]).
pub fn openat(dirfd: BorrowedFd<'_>, path: &CPath, directory: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC;
    if directory {
        flags |= OFlags::DIRECTORY;
    }
    again(|| rustix::fs::openat(dirfd, path.as_cstr(), flags, Mode::empty()))
}

/// Opens `path` read-write and non-blocking (a PSI trigger file).
pub fn open_rdwr_nonblock(path: &CPath) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
    again(|| rustix::fs::openat(cwd(), path.as_cstr(), flags, Mode::empty()))
}

/// pread at offset 0 until EOF or the buffer is full; returns the byte count. The buffer
/// need not be zeroed: only the bytes read are ever looked at.
pub fn pread_all(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut off = 0usize;
    while off < buf.len() {
        let n = again(|| rustix::io::pread(fd, &mut buf[off..], off as u64))?;
        if n == 0 {
            break;
        }
        off += n;
        // A short read is the end: procfs/sysfs (seq_file) fill the buffer unless the file
        // ends, so confirming EOF with another pread would only cost a syscall per file.
        if off < buf.len() {
            break;
        }
    }
    Ok(off)
}

/// Reads a whole small file below dirfd into buf (truncated to buf's size).
pub fn read_at(dirfd: BorrowedFd<'_>, path: &CPath, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = openat(dirfd, path, false)?;
    pread_all(fd.as_fd(), buf)
}

/// Writes the whole buffer to fd, retrying short writes and EINTR; errors are returned, not
/// raised (Rust ignores SIGPIPE, so a closed stdout shows up here as EPIPE instead of
/// killing us).
pub fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        let n = again(|| rustix::io::write(fd, buf))?;
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// Standard output (1) or error (2).
pub fn std_fd(fd: i32) -> BorrowedFd<'static> {
    if fd == 2 {
        rustix::stdio::stderr()
    } else {
        rustix::stdio::stdout()
    }
}

/// Owner uid of `path` below `dirfd` (fstatat, following symlinks).
pub fn fstatat_uid(dirfd: BorrowedFd<'_>, path: &CPath) -> Result<u32, Errno> {
    Ok(again(|| rustix::fs::statat(dirfd, path.as_cstr(), AtFlags::empty()))?.st_uid)
}

/// Owner uid of an open file.
pub fn fstat_uid(fd: BorrowedFd<'_>) -> Result<u32, Errno> {
    Ok(again(|| rustix::fs::fstat(fd))?.st_uid)
}

/// Device and inode of standard output (1) or error (2): JOURNAL_STREAM's `DEV:INODE`.
pub fn fstat_dev_ino(fd: i32) -> Option<(u64, u64)> {
    let st = rustix::fs::fstat(std_fd(fd)).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// Whether standard output (1) or error (2) is a terminal.
pub fn isatty(fd: i32) -> bool {
    rustix::termios::isatty(std_fd(fd))
}

/// Whether `<root>/self` names our pid, i.e. the proc root shows our PID namespace and its
/// pid numbers mean to pidfd_open(2) and kill(2) what they mean to us. A root where `self`
/// cannot be read is ours unless it is /proc itself (fixture trees have no `self`; in a
/// /proc of an unrelated namespace, where we are not visible, `self` does not resolve).
pub fn proc_root_is_ours(root: &[u8], me: i32) -> bool {
    let mut path = CPath::new();
    if !(path.push(root) && path.push(b"/self")) {
        return true;
    }
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 32];
    match rustix::fs::readlinkat_raw(cwd(), path.as_cstr(), &mut buf) {
        Ok((link, _)) => {
            std::str::from_utf8(link)
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                == Some(me)
        }
        Err(_) => root != b"/proc",
    }
}

/// access(path, W_OK).
pub fn access_w(path: &[u8]) -> Result<(), Errno> {
    let p = CPath::of(path)?;
    again(|| {
        rustix::fs::accessat(
            cwd(),
            p.as_cstr(),
            rustix::fs::Access::WRITE_OK,
            AtFlags::empty(),
        )
    })
}

/// access(path, X_OK).
pub fn access_x(path: &[u8]) -> Result<(), Errno> {
    let p = CPath::of(path)?;
    again(|| {
        rustix::fs::accessat(
            cwd(),
            p.as_cstr(),
            rustix::fs::Access::EXEC_OK,
            AtFlags::empty(),
        )
    })
}

/// Opens `path` write-only and writes `data` (sysrq-trigger); the error says which step
/// failed ("open", "write to"), as earlyoom's messages do.
pub fn write_file(path: &[u8], data: &[u8]) -> Result<(), (&'static str, Errno)> {
    let p = CPath::of(path).map_err(|e| ("open", e))?;
    let fd = again(|| {
        rustix::fs::openat(
            cwd(),
            p.as_cstr(),
            OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    })
    .map_err(|e| ("open", e))?;
    write_all(fd.as_fd(), data).map_err(|e| ("write to", e))
}

/// Replaces `path` with `data` atomically: written to `tmp` (mode 0644, so a collector
/// running as another user can read it), then renamed over `path`.
pub fn replace_file(path: &CStr, tmp: &CStr, data: &[u8]) -> Result<(), Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o644);
    let fd = again(|| rustix::fs::openat(cwd(), tmp, flags, mode))?;
    write_all(fd.as_fd(), data)?;
    drop(fd);
    again(|| rustix::fs::renameat(cwd(), tmp, cwd(), path))
}

/// chdir(2).
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    again(|| rustix::process::chdir(path))
}

/// USER_HZ: the unit of stat's start time (proc(5)).
pub fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// The page size in KiB (stat's RSS is in pages).
pub fn page_kib() -> i64 {
    (rustix::param::page_size() / 1024) as i64
}

// ---------------------------------------------------------------- processes ----

/// Our own pid.
pub fn getpid() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Our own process group.
pub fn getpgrp() -> i32 {
    rustix::process::getpgrp().as_raw_nonzero().get()
}

fn pid(p: i32) -> Result<rustix::process::Pid, Errno> {
    rustix::process::Pid::from_raw(p).ok_or(Errno(libc::ESRCH))
}

fn signal(sig: i32) -> Result<Option<rustix::process::Signal>, Errno> {
    if sig == 0 {
        return Ok(None);
    }
    rustix::process::Signal::from_raw(sig)
        .map(Some)
        .ok_or(Errno(libc::EINVAL))
}

/// getpgid(2) of another process, in our PID namespace.
pub fn getpgid(p: i32) -> Result<i32, Errno> {
    let g = again(|| rustix::process::getpgid(Some(pid(p).map_err(|_| rustix::io::Errno::SRCH)?)))?;
    Ok(g.as_raw_nonzero().get())
}

/// kill(2) of one process (`pid` > 0) or of process group `-pid`; signal 0 probes.
pub fn kill(target: i32, sig: i32) -> Result<(), Errno> {
    let s = signal(sig)?;
    let p = pid(target.abs())?;
    again(|| match (target > 0, s) {
        (true, Some(s)) => rustix::process::kill_process(p, s),
        (true, None) => rustix::process::test_kill_process(p),
        (false, Some(s)) => rustix::process::kill_process_group(p, s),
        (false, None) => rustix::process::test_kill_process_group(p),
    })
}

/// pidfd_open(2): Linux 5.3+.
pub fn pidfd_open(p: i32) -> Result<OwnedFd, Errno> {
    let p = pid(p)?;
    again(|| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
}

/// pidfd_send_signal(2) (Linux 5.1+) on a pidfd or a /proc/PID directory fd, which the
/// kernel takes as a pidfd: the signal reaches exactly that process, never a recycled pid.
/// Signal 0 probes.
pub fn pidfd_send_signal(fd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    match signal(sig)? {
        Some(s) => again(|| rustix::process::pidfd_send_signal(fd, s)),
        // rustix has no probe form: the raw call with signal 0, as kill(pid, 0).
        None => {
            // SAFETY: plain syscall with integer arguments; a NULL siginfo is "as kill(2)".
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    0,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
            if rc < 0 {
                Err(Errno::last())
            } else {
                Ok(())
            }
        }
    }
}

/// process_mrelease(2): Linux 5.15+ (syscall 448 on every architecture; rustix has none).
pub fn process_mrelease(pidfd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::syscall(448, pidfd.as_raw_fd(), 0) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Waits up to `ms` for the pidfd to become readable, which the kernel signals when the whole
/// thread group has exited (pidfd_open(2), "poll"). Returns true when the process is gone.
pub fn pidfd_wait_exit(pidfd: BorrowedFd<'_>, ms: i32) -> bool {
    let mut p = [Poll::new(pidfd.as_raw_fd(), libc::POLLIN)];
    poll_for(&mut p, ms) > 0 && p[0].revents() & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// `-p`: nice -20 for ourselves.
pub fn set_nice(nice: i32) -> Result<(), Errno> {
    again(|| rustix::process::setpriority_process(None, nice))
}

/// Clears the ambient capability set, so that children (hooks, dbus-send) do not inherit
/// CAP_KILL/CAP_IPC_LOCK from systemd (earlyoom #228). Failure (old kernels) is ignored.
pub fn clear_ambient_caps() {
    let _ = rustix::thread::clear_ambient_capability_set();
}

/// mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT), then without MCL_ONFAULT (kernels before
/// 4.4), as earlyoom does (main.c:447-454); the last error if both fail.
pub fn lock_memory() -> Result<(), Errno> {
    use rustix::mm::MlockAllFlags as F;
    rustix::mm::mlockall(F::CURRENT | F::FUTURE | F::ONFAULT)
        .or_else(|_| rustix::mm::mlockall(F::CURRENT | F::FUTURE))
        .map_err(Errno::from)
}

/// The soft RLIMIT_NOFILE before [`raise_nofile`] (0: never raised). Hooks get it back:
/// programs that use select(2) break with descriptors above 1024, so a raised soft limit is
/// not passed on (the advice of systemd.exec(5), LimitNOFILE=).
static ORIG_NOFILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Raises the soft RLIMIT_NOFILE to the hard limit (a service gets 1024 by default, with a
/// far higher hard limit): watching many cgroups must never starve the kill path of fds.
pub fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    if let (Some(cur), max) = (lim.current, lim.maximum) {
        if max.is_none_or(|m| cur < m) {
            let raised = Rlimit {
                current: max,
                maximum: max,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                ORIG_NOFILE.store(cur, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

/// The soft RLIMIT_NOFILE (u64::MAX: unlimited).
pub fn nofile_soft() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// fork + execve(`path`, `argv`, `env`) without waiting for the exec (see hooks.rs for why
/// not posix_spawn). Returns the child's pid and the read end of a close-on-exec pipe on
/// which the child writes its errno if the exec fails (EOF once it succeeded).
pub fn spawn(path: &CStr, argv: &[CString], env: &[CString]) -> Result<(i32, OwnedFd), Errno> {
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Errno::from)?;
    let w = w.as_raw_fd();
    let nofile = ORIG_NOFILE.load(std::sync::atomic::Ordering::Relaxed);
    let lim = libc::rlimit {
        rlim_cur: nofile,
        rlim_max: rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(libc::RLIM_INFINITY),
    };
    // SAFETY: fork has no preconditions. The child below makes only async-signal-safe calls
    // (sigprocmask, signal, setrlimit, execve, write, _exit) on data prepared before the
    // fork, as fork(2) requires in a process that may have other threads (the test
    // harness has).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Errno::last());
    }
    if pid == 0 {
        // SAFETY: see above; _exit never returns, so no destructor runs in the child.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            // Rust ignores SIGPIPE; an ignored signal stays ignored across exec, and a
            // hook should get the default, as earlyoom's children do.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            if nofile > 0 {
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            libc::execve(path.as_ptr(), args.as_ptr(), envp.as_ptr());
            let e = (*libc::__errno_location()).to_ne_bytes();
            libc::write(w, e.as_ptr().cast(), e.len());
            libc::_exit(1);
        }
    }
    Ok((pid, r))
}

/// The errno a spawned child wrote before exiting (its exec failed), or None (it ran).
pub fn read_errno(fd: BorrowedFd<'_>) -> Option<Errno> {
    let mut b = [0u8; 4];
    let n = again(|| rustix::io::read(fd, &mut b)).ok()?;
    (n == 4).then(|| Errno(i32::from_ne_bytes(b)))
}

/// A child of ours that has ended, without reaping it (waitid WNOWAIT), or None. rustix's
/// waitid does not say which child it was, hence libc.
pub fn exited_child() -> Option<i32> {
    // SAFETY: zeroed siginfo is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = loop {
        // SAFETY: valid out-pointer; P_ALL with id 0.
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc == 0 || Errno::last().0 != libc::EINTR {
            break rc;
        }
    };
    // SAFETY: waitid filled info (si_pid 0: no child has ended).
    let pid = unsafe { info.si_pid() };
    (rc == 0 && pid > 0).then_some(pid)
}

/// Whether child `p` has ended, without reaping it.
fn child_ended(p: i32) -> bool {
    let Ok(p) = pid(p) else {
        return true;
    };
    let opts = rustix::process::WaitidOptions::EXITED
        | rustix::process::WaitidOptions::NOHANG
        | rustix::process::WaitidOptions::NOWAIT;
    matches!(
        again(|| rustix::process::waitid(rustix::process::WaitId::Pid(p), opts)),
        Ok(Some(_)) | Err(_)
    )
}

/// Reaps child `p` if it has ended; its wait status (as waitpid(2) gives it).
pub fn reap(p: i32) -> Option<i32> {
    let p = pid(p).ok()?;
    match again(|| rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG)) {
        Ok(Some(status)) => Some(status.as_raw() as i32),
        _ => None,
    }
}

/// Waits up to `ms` for child `p` to end, without reaping it.
pub fn wait_child(p: i32, ms: i32) -> bool {
    if let Ok(fd) = pidfd_open(p) {
        return pidfd_wait_exit(fd.as_fd(), ms);
    }
    // Without pidfd_open: look every 10 ms.
    let deadline = monotonic_secs() + f64::from(ms) / 1000.0;
    loop {
        if child_ended(p) {
            return true;
        }
        if monotonic_secs() >= deadline {
            return false;
        }
        sleep_ms(10);
    }
}

/// A descriptor kept in a `static` (the log and journal sockets, which the logger reaches
/// from anywhere): owned by the slot, replaced or closed through it.
pub struct FdSlot(std::sync::atomic::AtomicI32);

impl FdSlot {
    pub const fn empty() -> FdSlot {
        FdSlot(std::sync::atomic::AtomicI32::new(-1))
    }

    /// Puts `fd` in the slot, closing what was there.
    pub fn set(&self, fd: Option<OwnedFd>) {
        use rustix::fd::IntoRawFd;
        let new = fd.map_or(-1, IntoRawFd::into_raw_fd);
        let old = self.0.swap(new, std::sync::atomic::Ordering::Relaxed);
        if old >= 0 {
            // SAFETY: the slot owned `old` (it came from an OwnedFd), and no longer holds it.
            drop(unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(old) });
        }
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed) >= 0
    }

    /// Runs `f` on the descriptor, if there is one. The daemon is single-threaded, so the
    /// slot cannot be emptied while `f` runs.
    pub fn with<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> Option<T> {
        let raw = self.0.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the slot owns `raw` until set() replaces it, which does not happen during f.
        (raw >= 0).then(|| f(unsafe { BorrowedFd::borrow_raw(raw) }))
    }
}

// ----------------------------------------------------------------- sockets -----

/// A non-blocking AF_UNIX socket of `kind` (SOCK_DGRAM, SOCK_STREAM) connected to `path`.
pub fn unix_connect(path: &[u8], stream: bool) -> Result<OwnedFd, Errno> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let kind = if stream {
        SocketType::STREAM
    } else {
        SocketType::DGRAM
    };
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        kind,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(Errno::from)?;
    let addr = SocketAddrUnix::new(CPath::of(path)?.as_cstr()).map_err(Errno::from)?;
    again(|| rustix::net::connect_unix(&fd, &addr))?;
    Ok(fd)
}

/// send(2) that never blocks (EAGAIN when the receiver's queue is full) and never raises
/// SIGPIPE; Ok only if all of `msg` went.
pub fn send_nonblocking(fd: BorrowedFd<'_>, msg: &[u8]) -> Result<(), Errno> {
    use rustix::net::SendFlags;
    let n = again(|| rustix::net::send(fd, msg, SendFlags::DONTWAIT | SendFlags::NOSIGNAL))?;
    if n < msg.len() {
        // Only a stream socket sends part of a message.
        Err(Errno(libc::EMSGSIZE))
    } else {
        Ok(())
    }
}

// -------------------------------------------------------------------- time ------

/// CLOCK_MONOTONIC in seconds as f64.
pub fn monotonic_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// Whole milliseconds from now until `deadline` (monotonic seconds), rounded up so that a
/// wait never ends early, and 0 once it has passed.
pub fn ms_until(deadline: f64) -> i32 {
    ((deadline - monotonic_secs()) * 1000.0)
        .ceil()
        .clamp(0.0, f64::from(i32::MAX)) as i32
}

/// Sleeps `ms` milliseconds on CLOCK_MONOTONIC, resuming after EINTR (earlyoom's sleep is
/// EINTR-safe since v1.7).
pub fn sleep_ms(ms: u64) {
    use rustix::thread::NanosleepRelativeResult as R;
    let mut ts = rustix::time::Timespec {
        tv_sec: (ms / 1000) as _,
        tv_nsec: ((ms % 1000) * 1_000_000) as _,
    };
    loop {
        match rustix::thread::nanosleep(&ts) {
            R::Interrupted(rem) => ts = rem,
            _ => return,
        }
    }
}

/// Loads the time zone once (glibc's localtime_r reads /etc/localtime on its first call
/// only), so that no log line later has to.
pub fn prime_localtime() {
    let mut ts = [0u8; 16];
    syslog_time(&mut ts);
}

/// The local time as syslog(3) stamps a message: `Mmm dd hh:mm:ss ` (strftime "%h %e %T "
/// in the C locale), into `out`.
pub fn syslog_time(out: &mut [u8; 16]) -> &[u8] {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec as libc::time_t;
    // SAFETY: zeroed tm is a valid out-parameter; localtime_r with valid pointers.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&t, &mut tm) }.is_null() {
        return b"";
    }
    let two = |v: i32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    out[..3].copy_from_slice(MONTHS[tm.tm_mon.clamp(0, 11) as usize]);
    out[3] = b' ';
    let d = two(tm.tm_mday);
    out[4] = if d[0] == b'0' { b' ' } else { d[0] };
    out[5] = d[1];
    out[6] = b' ';
    out[7..9].copy_from_slice(&two(tm.tm_hour));
    out[9] = b':';
    out[10..12].copy_from_slice(&two(tm.tm_min));
    out[12] = b':';
    out[13..15].copy_from_slice(&two(tm.tm_sec));
    out[15] = b' ';
    &out[..]
}

/// Unix time in seconds (the metrics file's timestamps).
pub fn unix_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

// -------------------------------------------------------------------- poll ------

/// One entry of a poll set. The guard keeps its set between sleeps and refills it in
/// place, which rustix's `PollFd` (it borrows each fd for its lifetime) cannot be stored
/// for; so this is poll(2)'s own struct, and poll is called through libc.
#[derive(Clone, Copy, Debug)]
#[repr(transparent)]
pub struct Poll(libc::pollfd);

impl Poll {
    pub fn new(fd: i32, events: i16) -> Poll {
        Poll(libc::pollfd {
            fd,
            events,
            revents: 0,
        })
    }
    pub fn revents(&self) -> i16 {
        self.0.revents
    }
}

/// poll(2) on `fds` for up to `ms` milliseconds (negative: no limit), bounded by `ms` even
/// under a storm of signals: after EINTR it polls again with only what is left (retrying
/// with the whole `ms` would let a signal every few ms stretch a 200 ms `-P` wait forever).
/// Returns poll's result, never an EINTR failure.
pub fn poll_for(fds: &mut [Poll], ms: i32) -> i32 {
    let deadline = monotonic_secs() + f64::from(ms.max(0)) / 1000.0;
    let mut left = ms;
    loop {
        // SAFETY: Poll is a transparent libc::pollfd, and fds a valid array of its length.
        let rc = unsafe {
            libc::poll(
                fds.as_mut_ptr().cast::<libc::pollfd>(),
                fds.len() as libc::nfds_t,
                left,
            )
        };
        if rc >= 0 || Errno::last().0 != libc::EINTR {
            return rc;
        }
        if ms >= 0 {
            left = ms_until(deadline);
        }
    }
}

/// Whether standard output (1) or error (2) takes a write now without blocking.
pub fn writable(fd: i32) -> bool {
    let mut p = [Poll::new(fd, libc::POLLOUT)];
    poll_for(&mut p, 0) == 1 && p[0].revents() & libc::POLLOUT != 0
}

// ------------------------------------------------------------------ strtod ------

/// C `strtod` in the "C" locale (earlyoom never calls setlocale): returns the value, the
/// number of bytes consumed and errno (ERANGE on overflow and underflow). Hex floats, `inf`,
/// `infinity`, `nan` and leading blanks are accepted exactly as glibc accepts them, because
/// this *is* glibc's strtod (neither rustix nor core has it). `s` must not contain NUL (argv
/// strings cannot); earlyoom refuses tuples over 255 bytes before parsing them.
pub fn strtod(s: &[u8]) -> (f64, usize, i32) {
    let mut buf = [0u8; 260];
    let n = s.len().min(buf.len() - 1);
    buf[..n].copy_from_slice(&s[..n]);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: errno is thread-local; buf is NUL-terminated and end points into it afterwards.
    unsafe { *libc::__errno_location() = 0 };
    let v = unsafe { libc::strtod(buf.as_ptr().cast(), &mut end) };
    let errno = Errno::last().0;
    let used = (end as usize).saturating_sub(buf.as_ptr() as usize);
    (v, used, errno)
}

/// C `strtof(arg, NULL)` as earlyoom uses it for `-r`: no error checking, anything after the
/// number is ignored, no number at all gives 0.
pub fn strtof(s: &[u8]) -> f32 {
    let mut v = s.to_vec();
    v.push(0);
    // SAFETY: v is NUL-terminated.
    unsafe { libc::strtof(v.as_ptr().cast(), std::ptr::null_mut()) }
}
