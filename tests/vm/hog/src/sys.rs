//! Thin wrappers around the few Linux system calls the helper needs (clock, prctl,
//! oom_score_adj, signals, fork, mmap, /proc/meminfo) so the modes read as plain logic.

use std::fs;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Milliseconds on CLOCK_MONOTONIC. Every timestamp the lab compares (daemon log lines,
/// sampler crossings, reaper records, heartbeats) uses this one clock, so differences
/// between them are meaningful inside one guest.
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Sleep for `ms` milliseconds. An interrupting signal ends the sleep early on purpose:
/// callers poll their signal flags right after sleeping.
pub fn sleep_ms(ms: u64) {
    let ts = libc::timespec {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_nsec: ((ms % 1000) * 1_000_000) as libc::c_long,
    };
    // SAFETY: ts is valid; a null remainder pointer is allowed.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// Set the comm name (what /proc/PID/comm shows and what --prefer/--avoid regexes see).
pub fn set_comm(name: &str) {
    // The kernel keeps 15 bytes plus NUL; truncate here so the result is predictable.
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: buf is NUL-terminated and lives across the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0) };
}

/// Write our own oom_score_adj. Scenarios depend on the exact value, so failure is fatal.
pub fn set_oom_score_adj(adj: i32) {
    if let Err(e) = fs::write("/proc/self/oom_score_adj", adj.to_string()) {
        die(&format!("cannot set oom_score_adj {adj}: {e}"));
    }
}

/// Move ourselves into a cgroup v2 directory before allocating anything, so every page
/// we touch is charged there (the livelock scenario relies on that).
pub fn join_cgroup(dir: &str) {
    let pid = std::process::id().to_string();
    if let Err(e) = fs::write(format!("{dir}/cgroup.procs"), pid) {
        die(&format!("cannot join cgroup {dir}: {e}"));
    }
}

/// Drop to `uid` (and the same gid) so the daemon reports a non-root victim uid.
pub fn become_uid(uid: u32) {
    // SAFETY: plain credential syscalls on our own process.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(uid) != 0
            || libc::setuid(uid) != 0
        {
            die(&format!(
                "cannot switch to uid {uid}: {}",
                io::Error::last_os_error()
            ));
        }
        // A uid change clears the dumpable flag, which makes /proc/PID owned by root; an
        // exec would restore it, we do not exec, so restore it by hand. Otherwise a daemon
        // that takes the uid from the owner of /proc/PID would see 0.
        libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0);
    }
}

pub fn setsid() {
    // SAFETY: no arguments; fails only if we already lead a process group.
    if unsafe { libc::setsid() } < 0 {
        die(&format!("setsid: {}", io::Error::last_os_error()));
    }
}

/// fork(2). Returns 0 in the child, the child's pid in the parent.
pub fn fork() -> i32 {
    // SAFETY: the helper is single-threaded, so the child may keep running Rust code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        die(&format!("fork: {}", io::Error::last_os_error()));
    }
    pid
}

/// Sleep until any signal handler runs.
pub fn pause_once() {
    // SAFETY: pause just waits for a signal.
    unsafe { libc::pause() };
}

pub fn pause_forever() -> ! {
    loop {
        // SAFETY: pause just waits for a signal.
        unsafe { libc::pause() };
    }
}

/// Set by the SIGTERM handler; polled by the modes that react to SIGTERM themselves.
pub static GOT_TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    GOT_TERM.store(true, Ordering::SeqCst);
}

/// Catch SIGTERM into GOT_TERM (no SA_RESTART, so sleeps are cut short).
pub fn catch_term() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_term as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
    }
}

pub fn ignore_term() {
    // SAFETY: installing SIG_IGN is always valid.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
}

pub fn got_term() -> bool {
    GOT_TERM.load(Ordering::SeqCst)
}

/// Map `bytes` of private anonymous memory and write to every page so it is really
/// resident (untouched pages cost nothing and would not pressure the kernel).
/// Returns false when the mapping itself fails.
pub fn alloc_touch(bytes: usize) -> bool {
    // SAFETY: fresh anonymous mapping; we only write inside it and never unmap it, the
    // point is to hold the memory until the process dies.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        let base = p as *mut u8;
        let mut off = 0;
        while off < bytes {
            // Non-zero so the page can never be mistaken for the shared zero page.
            std::ptr::write_volatile(base.add(off), 0x5a);
            off += 4096;
        }
    }
    true
}

/// Map, touch and unmap `bytes`: a short burst of real allocation, used by the heartbeat
/// to behave like a service doing a little work per request (which is what a throttled
/// cgroup punishes).
/// A resident working set of `bytes`, every page written once (anonymous, never freed).
pub struct WorkingSet {
    base: *mut u8,
    pages: usize,
}

impl WorkingSet {
    pub fn new(bytes: usize) -> Option<WorkingSet> {
        // SAFETY: a fresh private anonymous mapping that this struct owns for ever.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes.max(4096),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let ws = WorkingSet {
            base: p as *mut u8,
            pages: bytes.max(4096) / 4096,
        };
        for i in 0..ws.pages {
            ws.touch(i);
        }
        Some(ws)
    }

    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Writes one byte of page `i` (faulting it back in if it was swapped out).
    pub fn touch(&self, i: usize) {
        // SAFETY: i < pages is checked; the page lies inside the mapping.
        if i < self.pages {
            unsafe { std::ptr::write_volatile(self.base.add(i * 4096), i as u8) };
        }
    }
}

pub fn touch_and_release(bytes: usize) {
    // SAFETY: the mapping is private to this function and unmapped before returning.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return;
        }
        let base = p as *mut u8;
        let mut off = 0;
        while off < bytes {
            std::ptr::write_volatile(base.add(off), 1);
            off += 4096;
        }
        libc::munmap(p, bytes);
    }
}

/// The /proc/meminfo fields the lab looks at, in KiB.
pub struct MemInfo {
    pub total: u64,
    pub avail: u64,
    pub anon: u64,
}

pub fn meminfo() -> MemInfo {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mut m = MemInfo {
        total: 0,
        avail: 0,
        anon: 0,
    };
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let key = it.next().unwrap_or("");
        let val: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match key {
            "MemTotal:" => m.total = val,
            "MemAvailable:" => m.avail = val,
            "AnonPages:" => m.anon = val,
            _ => {}
        }
    }
    m
}

impl MemInfo {
    /// Available memory in percent of "user mem total" (MemAvailable + AnonPages), the
    /// base earlyoom 1.8+ and this project use for -m thresholds.
    pub fn avail_pct_user(&self) -> f64 {
        pct(self.avail, self.avail + self.anon)
    }

    /// Available memory in percent of MemTotal, the base of earlyoom 1.7 and older.
    pub fn avail_pct_total(&self) -> f64 {
        pct(self.avail, self.total)
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 100.0;
    }
    part as f64 * 100.0 / whole as f64
}

pub fn write_pidfile(path: &str, pid: u32) {
    if let Err(e) = fs::write(path, format!("{pid}\n")) {
        die(&format!("cannot write pidfile {path}: {e}"));
    }
}

/// Print one line and flush at once: output goes to files the scenario reads while we
/// are still running, and we may be SIGKILLed at any moment.
pub fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn die(msg: &str) -> ! {
    eprintln!("hog: {msg}");
    std::process::exit(2);
}
