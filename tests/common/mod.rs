//! Shared harness of the host tests that really kill: the hog (this test binary re-run as
//! `common::hog_main` under uid 65534), the daemon under test with its stderr collected, and
//! the checks that it signalled nothing but the hog. Used by tests/kill.rs and tests/faults.rs.
#![allow(dead_code)] // each test binary uses a different part of it

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
pub const NOBODY: u32 = 65534;
pub const HOG_NAME: &str = "eoom-test-hog";

/// Not a test: the hog, entered when this binary is re-run with EOOM_HOG set (as test
/// `common::hog_main`, the name it has in every test binary that includes this module).
/// EOOM_HOG = "mib=N[,ignore_term][,group=K][,go=PATH][,setsid][,nobody][,shm][,nsinit]";
/// with `go`, it reports ready at once and allocates only once PATH exists. `setsid`: lead a
/// new session; `nobody`: drop to uid 65534 itself (when started as root by something else
/// than `spawn_hog`); `shm`: hold the memory in a shared anonymous mapping (swap-backed, so
/// process_mrelease cannot free it); `nsinit`: be the init of a new PID namespace (the
/// process started forks that init, prints `INIT <pid>`, waits for it and prints how it
/// died: `DIED <signal>`).
#[test]
#[ignore]
pub fn hog_main() {
    let Ok(spec) = std::env::var("EOOM_HOG") else {
        return;
    };
    let mut mib = 0usize;
    let mut ignore_term = false;
    let mut group = 0;
    let mut go = None;
    let (mut setsid, mut nobody, mut shm, mut nsinit) = (false, false, false, false);
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("mib", v)) => mib = v.parse().unwrap(),
            Some(("group", v)) => group = v.parse().unwrap(),
            Some(("go", v)) => go = Some(PathBuf::from(v)),
            _ if part == "ignore_term" => ignore_term = true,
            _ if part == "setsid" => setsid = true,
            _ if part == "nobody" => nobody = true,
            _ if part == "shm" => shm = true,
            _ if part == "nsinit" => nsinit = true,
            _ => panic!("bad EOOM_HOG part {part}"),
        }
    }
    // SAFETY: plain libc calls in a process that exists only to be killed.
    unsafe {
        if nsinit {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWPID),
                0,
                "unshare(CLONE_NEWPID)"
            );
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                // Never outlive the process that reports on it (its alarm cannot end it:
                // the kernel drops an init's own default-action signals).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            if child > 0 {
                println!("INIT {child}");
                let mut status = 0;
                libc::waitpid(child, &mut status, 0);
                println!("DIED {}", libc::WTERMSIG(status));
                std::process::exit(0);
            }
        }
        if setsid {
            libc::setsid();
        }
        if nobody {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(NOBODY), 0);
            assert_eq!(libc::setuid(NOBODY), 0);
            // Changing uid made the process non-dumpable, which makes root the owner of its
            // /proc files (so its uid would read as 0 and its oom_score_adj be unwritable);
            // an exec would have reset that, here it is done by hand.
            assert_eq!(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
        }
    }
    // SAFETY: plain libc calls in a process that exists only to be killed.
    unsafe {
        libc::alarm(60); // never outlive a broken test
        if ignore_term {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
        if group > 0 {
            libc::setsid();
            for _ in 0..group {
                if libc::fork() == 0 {
                    libc::alarm(60);
                    loop {
                        libc::pause();
                    }
                }
            }
        }
    }
    std::fs::write("/proc/self/oom_score_adj", "1000").unwrap();
    if let Some(go) = &go {
        // Ready before allocating: the test sets up the daemon, then creates `go`.
        println!("READY {}", std::process::id());
        while !go.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut chunks = Vec::new();
    if shm {
        // SAFETY: a fresh shared anonymous mapping, written page by page and never unmapped.
        unsafe {
            let len = mib << 20;
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            for off in (0..len).step_by(4096) {
                *p.cast::<u8>().add(off) = 1;
            }
        }
    } else {
        for _ in 0..mib {
            chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
    }
    if go.is_none() {
        println!("READY {}", std::process::id());
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

pub struct Hog {
    pub child: Child,
    pub pid: i32,
    /// What the hog prints after READY (nsinit's DIED line).
    pub lines: Option<std::sync::mpsc::Receiver<String>>,
    _dir: TempDir,
}

/// A hog is never left behind, whatever the test's outcome (it is our own child).
impl Drop for Hog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills and reaps a child we spawned if it is dropped before being handed over.
pub struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("eoom-kill-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn meminfo_kib(key: &str) -> i64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Hog size and the `-m` tuple that its allocation crosses (SIGTERM only; SIGKILL at 1 %).
pub fn plan() -> (usize, String) {
    let total = meminfo_kib("MemTotal:");
    let user_total = meminfo_kib("MemAvailable:") + meminfo_kib("AnonPages:");
    let avail_pct = meminfo_kib("MemAvailable:") as f64 * 100.0 / user_total as f64;
    let mib = ((total / 20) / 1024).min(1200) as usize;
    let hog_pct = (mib as f64 * 1024.0) * 100.0 / user_total as f64;
    let term = (avail_pct - hog_pct / 2.0).min(99.0);
    assert!(
        term > 2.0,
        "host memory too tight for this test: avail {avail_pct:.1}%"
    );
    (mib, format!("{term:.2},1"))
}

/// Processes of uid NOBODY that are not ours would be eligible too: refuse to run then.
/// Hogs this test binary started (run from its own TempDirs) are ours.
pub fn assert_no_foreign_nobody_processes() {
    let ours = std::env::temp_dir()
        .join("eoom-kill-")
        .to_string_lossy()
        .into_owned();
    let suffix = format!("-{}/{HOG_NAME}", std::process::id());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        use std::os::unix::fs::MetadataExt;
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if e.metadata().is_ok_and(|m| m.uid() == NOBODY) {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let exe = cmd.split('\0').next().unwrap_or_default();
            if exe.starts_with(&ours) && exe.ends_with(&suffix) {
                continue;
            }
            panic!("pid {pid} ({cmd:?}) runs as uid {NOBODY}: refusing to start a killer that could pick it");
        }
    }
}

/// The hog's executable (a copy of this test binary named HOG_NAME) in `dir`, and the
/// arguments that make it run `common::hog_main`.
pub fn hog_exe(dir: &Path) -> (PathBuf, [&'static str; 5]) {
    let exe = dir.join(HOG_NAME);
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    (
        exe,
        [
            "--exact",
            "common::hog_main",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ],
    )
}

pub fn spawn_hog(spec: &str) -> Hog {
    spawn_hog_with(spec, |c| {
        c.uid(NOBODY).gid(NOBODY);
    })
    .0
}

/// As `spawn_hog`, with `setup` deciding how the hog is started (it must end up as uid
/// NOBODY); also returns the lines the hog printed up to READY.
pub fn spawn_hog_with(spec: &str, setup: impl FnOnce(&mut Command)) -> (Hog, Vec<String>) {
    assert_no_foreign_nobody_processes();
    let dir = TempDir::new("hog");
    let (exe, args) = hog_exe(dir.path());
    let mut cmd = Command::new(&exe);
    cmd.args(args)
        .env("EOOM_HOG", spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    setup(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let mut guard = Reap(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let t = Instant::now();
    while !lines.last().is_some_and(|l: &String| l.contains("READY")) {
        let left = Duration::from_secs(30).saturating_sub(t.elapsed());
        lines.push(rx.recv_timeout(left).expect("hog did not get ready"));
    }
    let child = guard.0.take().unwrap();
    let pid = child.id() as i32;
    (
        Hog {
            child,
            pid,
            lines: Some(rx),
            _dir: dir,
        },
        lines,
    )
}

/// The daemon under test, its stderr collected in the background.
pub struct Earlyoom {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Earlyoom {
    pub fn start(args: &[&str]) -> Earlyoom {
        Earlyoom::start_with(args, |_| {})
    }

    /// As `start`, after `setup` adjusted the command (pre_exec steps, environment).
    pub fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Earlyoom {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_earlyoom"));
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Earlyoom { child, stderr }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn wait_log(&self, needle: &str, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.log()
    }
}

/// A daemon is never left running, whatever the test's outcome.
impl Drop for Earlyoom {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every "sending" line must name the hog: the daemon signalled nothing else.
pub fn assert_only_hog_signalled(log: &str, hog_pid: i32) {
    let sends: Vec<_> = log
        .lines()
        .filter(|l| l.starts_with("sending ") && l.contains(" to process "))
        .collect();
    assert!(!sends.is_empty(), "nothing was sent:\n{log}");
    for l in sends {
        assert!(
            l.contains(&format!("to process {hog_pid} uid {NOBODY} \"{HOG_NAME}\"")),
            "unexpected target: {l}\n{log}"
        );
    }
}

/// Seconds the daemon logged in "escalating to SIGKILL after N seconds".
pub fn escalated_after(log: &str) -> f64 {
    log.lines()
        .find_map(|l| l.strip_prefix("escalating to SIGKILL after "))
        .and_then(|s| s.trim_end_matches(" seconds").parse().ok())
        .unwrap_or_else(|| panic!("no escalation:\n{log}"))
}

pub fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

pub fn base_args(m: &str) -> Vec<String> {
    [
        "-m",
        m,
        "-s",
        "100",
        "-r",
        "0",
        "--ignore-root-user",
        "--prefer",
        "^eoom-test-hog$",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn start(args: &[String]) -> Earlyoom {
    Earlyoom::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Switching to an unprivileged uid needs root; CI runs as root.
pub fn need_root() -> bool {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: real-kill tests need root (they run the hog as uid {NOBODY})");
        return false;
    }
    true
}

/// The start of every test that really kills: root (or None: skipped), then the lock that
/// keeps two hogs from ever overlapping, held until the returned guard drops.
pub fn exclusive_root() -> Option<std::sync::MutexGuard<'static, ()>> {
    if !need_root() {
        return None;
    }
    Some(ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The command runs in a mount namespace of its own where `src` is bind-mounted over
/// `target` (/dev, /run): a test gives the daemon its own /dev/log or journal socket without
/// touching the host's.
pub fn bind_in_own_namespace(cmd: &mut Command, src: &Path, target: &'static std::ffi::CStr) {
    use std::os::unix::ffi::OsStrExt;
    let src = std::ffi::CString::new(src.as_os_str().as_bytes()).unwrap();
    // SAFETY: plain system calls on strings that the closure owns or that are 'static.
    unsafe {
        cmd.pre_exec(move || {
            let ok = libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    src.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) == 0;
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}
