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

/// Our own pid.
pub fn getpid() -> i32 {
    // SAFETY: always succeeds.
    unsafe { libc::getpid() }
}
