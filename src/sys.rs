//! Thin, allocation-free wrappers over the libc calls the daemon needs (errno text, raw fds, syscalls).

use std::ffi::CStr;
use std::fmt;

/// An errno value that prints as glibc's `strerror` text ("No such file or directory"),
/// because earlyoom's messages embed `strerror(errno)` and users grep for that text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's current errno.
    pub fn last() -> Errno {
        // SAFETY: __errno_location always returns a valid thread-local pointer.
        Errno(unsafe { *libc::__errno_location() })
    }

    /// Sets the calling thread's errno (needed before strtod/strtof, which only set it on error).
    pub fn clear() {
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = 0 };
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

/// Retries a syscall wrapper while it fails with EINTR.
pub fn retry<T: PartialEq + From<i8> + Copy>(mut f: impl FnMut() -> T) -> T {
    loop {
        let r = f();
        if r != T::from(-1) || Errno::last().0 != libc::EINTR {
            return r;
        }
    }
}

/// Writes the whole buffer to fd, retrying short writes and EINTR; errors are returned, not
/// raised (std ignores SIGPIPE, so a closed stdout shows up here as EPIPE instead of killing us).
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice for its length.
        let n = retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) });
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            return Err(Errno(libc::EIO));
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

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
        self
    }
    /// Appends bytes; returns false if they do not fit (the caller treats that as ENAMETOOLONG).
    pub fn push(&mut self, b: &[u8]) -> bool {
        if self.len + b.len() >= self.buf.len() {
            return false;
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        self.buf[self.len] = 0;
        true
    }
    pub fn push_u32(&mut self, v: u32) -> bool {
        let mut tmp = [0u8; 20];
        self.push(decimal(u64::from(v), &mut tmp))
    }
    pub fn as_ptr(&self) -> *const libc::c_char {
        self.buf.as_ptr().cast()
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for CPath {
    fn default() -> Self {
        CPath::new()
    }
}

/// An owned raw fd closed on drop (std's OwnedFd would do, but we also need -1 handling and
/// the close errno that earlyoom logs for pidfds).
#[derive(Debug)]
pub struct Fd(pub i32);

impl Fd {
    pub fn raw(&self) -> i32 {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: we own this descriptor.
            unsafe { libc::close(self.0) };
        }
    }
}

/// openat(dirfd, path, O_RDONLY|O_CLOEXEC [| extra]).
pub fn openat(dirfd: i32, path: &CPath, extra: i32) -> Result<Fd, Errno> {
    // SAFETY: path is NUL-terminated.
    let fd = retry(|| unsafe {
        libc::openat(
            dirfd,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | extra,
        )
    });
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(Fd(fd))
    }
}

/// pread at offset 0 until EOF or the buffer is full; returns the byte count.
pub fn pread_all(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut off = 0usize;
    while off < buf.len() {
        // SAFETY: the destination range lies inside buf.
        let n = retry(|| unsafe {
            libc::pread(
                fd,
                buf[off..].as_mut_ptr().cast(),
                buf.len() - off,
                off as libc::off_t,
            )
        });
        if n < 0 {
            return Err(Errno::last());
        }
        if n == 0 {
            break;
        }
        off += n as usize;
        // A short read is the end: procfs/sysfs (seq_file) fill the buffer unless the file
        // ends, so confirming EOF with another pread would only cost a syscall per file.
        if off < buf.len() {
            break;
        }
    }
    Ok(off)
}

/// Reads a whole small file below dirfd into buf (truncated to buf's size).
pub fn read_at(dirfd: i32, path: &CPath, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = openat(dirfd, path, 0)?;
    pread_all(fd.raw(), buf)
}

/// Owner uid of `path` below `dirfd` (fstatat, following symlinks).
pub fn fstatat_uid(dirfd: i32, path: &CPath) -> Result<u32, Errno> {
    // SAFETY: zeroed stat is a valid out-parameter; path is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, 0) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(st.st_uid)
    }
}

/// Device and inode of an open file (JOURNAL_STREAM's `DEV:INODE`).
pub fn fstat_dev_ino(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// Owner uid of an open file.
pub fn fstat_uid(fd: i32) -> Result<u32, Errno> {
    // SAFETY: zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        Err(Errno::last())
    } else {
        Ok(st.st_uid)
    }
}

/// pidfd_open(2): Linux 5.3+. Raw syscall so that an old libc does not matter.
pub fn pidfd_open(pid: i32) -> Result<Fd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        Err(Errno::last())
    } else {
        Ok(Fd(fd as i32))
    }
}

/// pidfd_send_signal(2): Linux 5.1+. Signals exactly the process the pidfd refers to, so a
/// recycled pid can never receive it.
pub fn pidfd_send_signal(pidfd: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall; a NULL siginfo means "as kill(2) would".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
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

/// process_mrelease(2): Linux 5.15+ (syscall 448 on every architecture).
pub fn process_mrelease(pidfd: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    let rc = unsafe { libc::syscall(448, pidfd, 0) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The decimal digits of `v`, written at the end of `buf` (20 bytes hold any u64): the one
/// integer formatter of the allocation-free paths (pid paths, the report line's numbers).
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// poll(2) on `fds` for up to `ms` milliseconds (negative: no limit), as the kernel's own
/// poll but bounded by `ms` even under a storm of signals: after EINTR it polls again with
/// only what is left (retrying with the whole `ms` would let a signal every few ms stretch a
/// 200 ms `-P` wait forever). Returns poll's result, never an EINTR failure.
pub fn poll_for(fds: &mut [libc::pollfd], ms: i32) -> i32 {
    let deadline = monotonic_secs() + f64::from(ms.max(0)) / 1000.0;
    let mut left = ms;
    loop {
        // SAFETY: fds is a valid array of its length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, left) };
        if rc >= 0 || Errno::last().0 != libc::EINTR {
            return rc;
        }
        if ms >= 0 {
            left = ms_until(deadline);
        }
    }
}

/// Whole milliseconds from now until `deadline` (monotonic seconds), rounded up so that a
/// wait never ends early, and 0 once it has passed.
pub fn ms_until(deadline: f64) -> i32 {
    ((deadline - monotonic_secs()) * 1000.0)
        .ceil()
        .clamp(0.0, f64::from(i32::MAX)) as i32
}

/// Waits up to `ms` for the pidfd to become readable, which the kernel signals when the whole
/// thread group has exited (pidfd_open(2), "poll"). Returns true when the process is gone.
pub fn pidfd_wait_exit(pidfd: i32, ms: i32) -> bool {
    let mut p = [libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    }];
    poll_for(&mut p, ms) > 0 && p[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0
}

/// Sleeps `ms` milliseconds on CLOCK_MONOTONIC, resuming after EINTR (earlyoom's sleep is
/// EINTR-safe since v1.7).
pub fn sleep_ms(ms: u64) {
    let mut ts = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    loop {
        let mut rem = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid timespec pointers.
        let rc = unsafe { libc::nanosleep(&ts, &mut rem) };
        if rc == 0 || Errno::last().0 != libc::EINTR {
            return;
        }
        ts = rem;
    }
}

/// CLOCK_MONOTONIC in seconds as f64.
pub fn monotonic_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// kill(2).
pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::kill(pid, sig) } < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// getpgid(2) of another process, in our PID namespace.
pub fn getpgid(pid: i32) -> Result<i32, Errno> {
    // SAFETY: plain syscall.
    let g = unsafe { libc::getpgid(pid) };
    if g < 0 {
        Err(Errno::last())
    } else {
        Ok(g)
    }
}

/// Our own process group.
pub fn getpgrp() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpgrp() }
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
    let mut buf = [0u8; 32];
    // SAFETY: NUL-terminated path, buf writable for its length.
    let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return root != b"/proc";
    }
    std::str::from_utf8(&buf[..n as usize])
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
        == Some(me)
}

/// access(path, W_OK).
pub fn access_w(path: &[u8]) -> Result<(), Errno> {
    let mut c = CPath::new();
    if !c.push(path) {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    // SAFETY: NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// access(path, X_OK).
pub fn access_x(path: &[u8]) -> Result<(), Errno> {
    let mut c = CPath::new();
    if !c.push(path) {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    // SAFETY: NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Opens `path` write-only and writes `data` (sysrq-trigger); the error says which step
/// failed ("open", "write to"), as earlyoom's messages do.
pub fn write_file(path: &[u8], data: &[u8]) -> Result<(), (&'static str, Errno)> {
    let mut c = CPath::new();
    if !c.push(path) {
        return Err(("open", Errno(libc::ENAMETOOLONG)));
    }
    // SAFETY: NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(("open", Errno::last()));
    }
    let fd = Fd(fd);
    write_all(fd.raw(), data).map_err(|e| ("write to", e))
}

/// fork + execve(`path`, `argv`, `env`) without waiting for the exec (see hooks.rs for why
/// not posix_spawn). Returns the child's pid and the read end of a close-on-exec pipe on
/// which the child writes its errno if the exec fails (EOF once it succeeded).
pub fn spawn(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    env: &[std::ffi::CString],
) -> Result<(i32, Fd), Errno> {
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let mut p = [0; 2];
    // SAFETY: p is a valid 2-int array.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    let (r, w) = (Fd(p[0]), Fd(p[1]));
    let nofile = ORIG_NOFILE.load(std::sync::atomic::Ordering::Relaxed);
    let mut lim = libc::rlimit {
        rlim_cur: nofile,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = if nofile > 0 { nofile } else { lim.rlim_cur };
    // SAFETY: fork has no preconditions. The child below makes only async-signal-safe calls
    // (sigprocmask, signal, execve, write, _exit) on data prepared before the fork, as
    // fork(2) requires in a process that may have other threads (the test harness has).
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
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::execve(path.as_ptr(), args.as_ptr(), envp.as_ptr());
            let e = (*libc::__errno_location()).to_ne_bytes();
            libc::write(w.0, e.as_ptr().cast(), e.len());
            libc::_exit(1);
        }
    }
    drop(w);
    Ok((pid, r))
}

/// The errno a spawned child wrote before exiting (its exec failed), or None (it ran).
pub fn read_errno(fd: i32) -> Option<Errno> {
    let mut b = [0u8; 4];
    // SAFETY: b is writable for its length.
    let n = retry(|| unsafe { libc::read(fd, b.as_mut_ptr().cast(), b.len()) });
    (n == 4).then(|| Errno(i32::from_ne_bytes(b)))
}

/// A child of ours that has ended, without reaping it (waitid WNOWAIT), or None.
pub fn exited_child() -> Option<i32> {
    // SAFETY: zeroed siginfo is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = retry(|| unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    });
    // SAFETY: waitid filled info (si_pid 0: no child has ended).
    let pid = unsafe { info.si_pid() };
    (rc == 0 && pid > 0).then_some(pid)
}

/// Reaps child `pid` if it has ended; its wait status.
pub fn reap(pid: i32) -> Option<i32> {
    let mut status = 0;
    // SAFETY: plain waitpid on our own child.
    let rc = retry(|| unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) });
    (rc == pid).then_some(status)
}

/// Waits up to `ms` for child `pid` to end, without reaping it.
pub fn wait_child(pid: i32, ms: i32) -> bool {
    if let Ok(fd) = pidfd_open(pid) {
        return pidfd_wait_exit(fd.raw(), ms);
    }
    // Without pidfd_open: look every 10 ms.
    let deadline = monotonic_secs() + f64::from(ms) / 1000.0;
    loop {
        // SAFETY: zeroed siginfo is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: as above.
        if rc == 0 && unsafe { info.si_pid() } == pid {
            return true;
        }
        if monotonic_secs() >= deadline {
            return false;
        }
        sleep_ms(10);
    }
}

/// A non-blocking AF_UNIX datagram socket connected to `path` (the syslog socket).
pub fn unix_dgram_connect(path: &[u8]) -> Result<i32, Errno> {
    unix_connect(path, libc::SOCK_DGRAM)
}

/// A non-blocking AF_UNIX socket of `kind` (SOCK_DGRAM, SOCK_STREAM) connected to `path`.
pub fn unix_connect(path: &[u8], kind: i32) -> Result<i32, Errno> {
    // SAFETY: plain socket call.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: zeroed sockaddr_un is valid; the path is copied in within its bounds.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    if path.len() >= addr.sun_path.len() {
        close(fd);
        return Err(Errno(libc::ENAMETOOLONG));
    }
    for (d, &b) in addr.sun_path.iter_mut().zip(path) {
        *d = b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    // SAFETY: addr is a valid sockaddr_un of at least `len` bytes.
    let rc = retry(|| unsafe {
        libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            len as libc::socklen_t,
        )
    });
    if rc < 0 {
        let e = Errno::last();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// send(2) that never blocks (EAGAIN when the receiver's queue is full) and never raises
/// SIGPIPE; Ok only if all of `msg` went.
pub fn send_nonblocking(fd: i32, msg: &[u8]) -> Result<(), Errno> {
    // SAFETY: msg is valid for its length.
    let n = retry(|| unsafe {
        libc::send(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    });
    if n < 0 {
        Err(Errno::last())
    } else if (n as usize) < msg.len() {
        // Only a stream socket sends part of a message.
        Err(Errno(libc::EMSGSIZE))
    } else {
        Ok(())
    }
}

/// close(2), ignoring -1.
pub fn close(fd: i32) {
    if fd >= 0 {
        // SAFETY: the caller owns fd.
        unsafe { libc::close(fd) };
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
    // SAFETY: time with a null pointer; localtime_r with valid pointers.
    let t = unsafe { libc::time(std::ptr::null_mut()) };
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

/// Raises the soft RLIMIT_NOFILE to the hard limit (a service gets 1024 by default, with a
/// far higher hard limit): watching many cgroups must never starve the kill path of fds.
/// Returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    use std::sync::atomic::Ordering;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit pointers.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            ORIG_NOFILE.store(lim.rlim_cur, Ordering::Relaxed);
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The soft RLIMIT_NOFILE before [`raise_nofile`] (0: never raised). Hooks get it back:
/// programs that use select(2) break with descriptors above 1024, so a raised soft limit is
/// not passed on (the advice of systemd.exec(5), LimitNOFILE=).
static ORIG_NOFILE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The soft RLIMIT_NOFILE.
pub fn nofile_soft() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: valid rlimit pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur
}

/// Our own pid.
pub fn getpid() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}
