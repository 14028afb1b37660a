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
/// EOOM_HOG = "mib=N[,ignore_term][,group=K][,go=PATH]"; with `go`, it reports ready at once
/// and allocates only once PATH exists.
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
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("mib", v)) => mib = v.parse().unwrap(),
            Some(("group", v)) => group = v.parse().unwrap(),
            Some(("go", v)) => go = Some(PathBuf::from(v)),
            _ if part == "ignore_term" => ignore_term = true,
            _ => panic!("bad EOOM_HOG part {part}"),
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
    for _ in 0..mib {
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
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
pub fn assert_no_foreign_nobody_processes() {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        use std::os::unix::fs::MetadataExt;
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if e.metadata().is_ok_and(|m| m.uid() == NOBODY) {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            panic!("pid {pid} ({cmd:?}) runs as uid {NOBODY}: refusing to start a killer that could pick it");
        }
    }
}

pub fn spawn_hog(spec: &str) -> Hog {
    assert_no_foreign_nobody_processes();
    let dir = TempDir::new("hog");
    let exe = dir.path().join(HOG_NAME);
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(&exe)
        .args([
            "--exact",
            "common::hog_main",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("EOOM_HOG", spec)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut guard = Reap(Some(child));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("READY") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("hog did not get ready");
    let child = guard.0.take().unwrap();
    let pid = child.id() as i32;
    Hog {
        child,
        pid,
        _dir: dir,
    }
}

/// The daemon under test, its stderr collected in the background.
pub struct Daemon {
    pub child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    pub fn start(args: &[&str]) -> Daemon {
        Daemon::start_with(args, |_| {})
    }

    /// As `start`, after `setup` adjusted the command (pre_exec steps, environment).
    pub fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Daemon {
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
        Daemon { child, stderr }
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
impl Drop for Daemon {
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

pub fn start(args: &[String]) -> Daemon {
    Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
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
