//! Real kills on the host, of children this test spawned and nothing else (issue 3 "Tests").
//!
//! The hog is this test binary itself, re-run as `hog_main` under an unprivileged uid with
//! oom_score_adj 1000; the daemon runs with `--ignore-root-user` (on this root-only machine the
//! hog is the only eligible process, and every "sending" line is checked to name it) and a
//! SIGTERM threshold just above where the hog's allocation pushes "mem avail" ("user mem
//! total" stays constant while the hog moves memory from available to anonymous). The hog
//! holds at most 5 % of RAM and at most 1200 MiB, and dies on its own after 60 s whatever
//! happens. The tests run one at a time so that two hogs never overlap.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const NOBODY: u32 = 65534;
const HOG_NAME: &str = "eoom-test-hog";

/// Not a test: the hog, entered when this binary is re-run with EOOM_HOG set.
/// EOOM_HOG = "mib=N[,ignore_term][,group=K]".
#[test]
#[ignore]
fn hog_main() {
    let Ok(spec) = std::env::var("EOOM_HOG") else {
        return;
    };
    let mut mib = 0usize;
    let mut ignore_term = false;
    let mut group = 0;
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("mib", v)) => mib = v.parse().unwrap(),
            Some(("group", v)) => group = v.parse().unwrap(),
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
    let mut chunks = Vec::new();
    for _ in 0..mib {
        chunks.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
    println!("READY {}", std::process::id());
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

struct Hog {
    child: Child,
    pid: i32,
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
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("eoom-kill-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        TempDir(d)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn meminfo_kib(key: &str) -> i64 {
    let s = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = s.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Hog size and the `-m` tuple that its allocation crosses (SIGTERM only; SIGKILL at 1 %).
fn plan() -> (usize, String) {
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
fn assert_no_foreign_nobody_processes() {
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

fn spawn_hog(spec: &str) -> Hog {
    assert_no_foreign_nobody_processes();
    let dir = TempDir::new("hog");
    let exe = dir.path().join(HOG_NAME);
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(&exe)
        .args([
            "--exact",
            "hog_main",
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
struct Daemon {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn start(args: &[&str]) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_earlyoom"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
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

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_log(&self, needle: &str, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn stop(mut self) -> String {
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
fn assert_only_hog_signalled(log: &str, hog_pid: i32) {
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

fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
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

fn base_args(m: &str) -> Vec<String> {
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

fn start(args: &[String]) -> Daemon {
    Daemon::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Switching to an unprivileged uid needs root; CI runs as root.
fn need_root() -> bool {
    // SAFETY: plain getter.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: real-kill tests need root (they run the hog as uid {NOBODY})");
        return false;
    }
    true
}

#[test]
fn sigterm_kills_the_hog() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (mib, m) = plan();
    let dir = TempDir::new("metrics");
    let prom = dir.path().join("earlyoom.prom");
    let mut hog = spawn_hog(&format!("mib={mib}"));
    let mut args = base_args(&m);
    args.extend(["--metrics-file".into(), prom.display().to_string()]);
    let d = start(&args);
    let status = wait_exit(&mut hog.child, 20).expect("hog was not killed");
    d.wait_log("exited after", 5);
    std::thread::sleep(Duration::from_millis(300));
    let log = d.stop();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{log}");
    // The kill is visible to node_exporter: counted, timestamped, named.
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(
        metrics.contains("earlyoom_kills_total{signal=\"SIGTERM\",reason=\"memory\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "earlyoom_last_victim_info{{comm=\"{HOG_NAME}\"}} 1\n"
        )),
        "{metrics}"
    );
    assert!(
        !metrics.contains("earlyoom_last_kill_timestamp_seconds 0.000"),
        "{metrics}"
    );
    assert_only_hog_signalled(&log, hog.pid);
    assert!(
        log.contains("low memory! at or below SIGTERM limits"),
        "{log}"
    );
    assert!(
        log.contains(&format!("process {} exited after ", hog.pid)),
        "{log}"
    );
    assert!(!log.contains("escalating"), "{log}");
}

#[test]
fn sigterm_ignored_is_escalated_to_sigkill_after_the_wait() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib},ignore_term"));
    let d = start(&base_args(&m));
    let status = wait_exit(&mut hog.child, 30).expect("hog was not killed");
    let log = d.stop();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{log}");
    assert_only_hog_signalled(&log, hog.pid);
    // Memory stayed above the SIGKILL line, so only the time limit can have escalated.
    let esc = log
        .lines()
        .find_map(|l| l.strip_prefix("escalating to SIGKILL after "))
        .unwrap_or_else(|| panic!("no escalation:\n{log}"));
    let secs: f64 = esc.trim_end_matches(" seconds").parse().unwrap();
    assert!(
        secs >= 9.9,
        "escalated after {secs} s, before the 10 s wait:\n{log}"
    );
    assert!(!log.contains("did not exit"), "{log}");
}

#[test]
fn group_kill_takes_the_whole_process_group() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Orphaned group members come to us, so we can reap them and see how they died.
    // SAFETY: plain prctl on this test process.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (mib, m) = plan();
    let hog = spawn_hog(&format!("mib={mib},group=2"));
    let mut args = base_args(&m);
    args.push("-g".into());
    let d = start(&args);
    let mut deaths = Vec::new();
    let t = Instant::now();
    while deaths.len() < 3 && t.elapsed() < Duration::from_secs(20) {
        let mut status = 0;
        // SAFETY: waits only for members of the hog's own process group (pgid = hog pid).
        let pid = unsafe { libc::waitpid(-hog.pid, &mut status, libc::WNOHANG) };
        if pid > 0 {
            deaths.push((pid, libc::WTERMSIG(status)));
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The daemon polls the group every 100 ms; give it time to see it gone.
    d.wait_log(&format!("process -{} exited after ", hog.pid), 5);
    let log = d.stop();
    assert_eq!(deaths.len(), 3, "group members reaped: {deaths:?}\n{log}");
    assert!(
        deaths.iter().all(|&(_, sig)| sig == libc::SIGTERM),
        "{deaths:?}"
    );
    assert!(
        log.contains(&format!(
            "killing whole process group {} (-g flag is active)",
            hog.pid
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("process -{} exited after ", hog.pid)),
        "{log}"
    );
    assert_only_hog_signalled(&log, hog.pid);
}

fn env_file(p: &Path) -> std::collections::HashMap<String, String> {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    s.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn hooks_receive_the_victims_environment() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("hooks");
    let script = |name: &str| {
        let p = dir.path().join(format!("{name}.sh"));
        let out = dir.path().join(format!("{name}.env"));
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n{{ echo \"PID=$EARLYOOM_PID\"; echo \"UID=$EARLYOOM_UID\"; echo \"NAME=$EARLYOOM_NAME\"; \
                 echo \"CMDLINE=$EARLYOOM_CMDLINE\"; echo \"ARGC=$#\"; echo \"ARG0=$0\"; \
                 if [ -d /proc/$EARLYOOM_PID ] && ! grep -q '^[0-9]* (.*) Z' /proc/$EARLYOOM_PID/stat; then echo ALIVE=1; else echo ALIVE=0; fi; }} > {}.tmp && mv {}.tmp {}\n",
                out.display(), out.display(), out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        (p, out)
    };
    let (pre, pre_out) = script("pre");
    let (post, post_out) = script("post");
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib}"));
    let mut args = base_args(&m);
    args.extend([
        "-P".into(),
        pre.display().to_string(),
        "-N".into(),
        post.display().to_string(),
    ]);
    let d = start(&args);
    wait_exit(&mut hog.child, 20).expect("hog was not killed");
    let t = Instant::now();
    while !post_out.exists() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = d.stop();
    for (which, out) in [("pre", &pre_out), ("post", &post_out)] {
        let env = env_file(out);
        assert_eq!(env["PID"], hog.pid.to_string(), "{which}\n{log}");
        assert_eq!(env["UID"], NOBODY.to_string(), "{which}");
        assert_eq!(env["NAME"], HOG_NAME, "{which}");
        assert!(
            env["CMDLINE"]
                .ends_with("eoom-test-hog --exact hog_main --ignored --nocapture --test-threads=1"),
            "{which}: {:?}",
            env["CMDLINE"]
        );
        assert_eq!(env["ARGC"], "0", "{which}: no arguments");
        assert!(
            env["ARG0"].ends_with(&format!("{which}.sh")),
            "{which}: argv[0] is the path"
        );
    }
    assert_eq!(
        env_file(&pre_out)["ALIVE"],
        "1",
        "-P runs before the signal"
    );
    assert_eq!(
        env_file(&post_out)["ALIVE"],
        "0",
        "-N runs after the victim exited"
    );
}

#[test]
fn dryrun_sends_nothing() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib}"));
    let mut args = base_args(&m);
    args.push("--dryrun".into());
    let d = start(&args);
    assert!(
        d.wait_log("dryrun, not actually sending any signal", 10),
        "{}",
        d.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = d.stop();
    assert!(
        hog.child.try_wait().unwrap().is_none(),
        "dry run killed the hog:\n{log}"
    );
    assert_only_hog_signalled(&log, hog.pid);
    assert!(!log.contains("exited after"), "{log}");
    let _ = hog.child.kill();
    let _ = hog.child.wait();
}

/// Fault: hooks that hang (or fail) never hold up the kill or the loop. A `-P` program that
/// does not exit gets earlyoom's 200 ms and is left running; a `-N` program that hangs is
/// not waited for at all. (The hanging hooks end on their own after 20 s.)
#[test]
fn hanging_hooks_do_not_block_the_kill() {
    if !need_root() {
        return;
    }
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("hang");
    let hang = dir.path().join("hang.sh");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 20\n").unwrap();
    std::fs::set_permissions(&hang, std::fs::Permissions::from_mode(0o755)).unwrap();
    let failing = dir.path().join("fail.sh");
    std::fs::write(&failing, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (pre, post) in [(&hang, &hang), (&failing, &failing)] {
        let (mib, m) = plan();
        let mut hog = spawn_hog(&format!("mib={mib}"));
        let mut args = base_args(&m);
        args.extend([
            "-P".into(),
            pre.display().to_string(),
            "-N".into(),
            post.display().to_string(),
        ]);
        let d = start(&args);
        let status = wait_exit(&mut hog.child, 20).expect("hog was not killed");
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(d.wait_log("exited after", 5), "{}", d.log());
        let log = d.stop();
        if pre == &hang {
            assert!(
                log.contains("notify_spawn_subprocess: timeout waiting for process"),
                "{log}"
            );
            // The signal followed the -P timeout within a second (200 ms + scheduling).
            let secs: f64 = log
                .lines()
                .find_map(|l| l.split("exited after ").nth(1))
                .and_then(|s| s.trim_end_matches(" seconds").parse().ok())
                .unwrap();
            assert!(secs < 5.0, "{log}");
        }
        assert!(!log.contains("did not exit"), "{log}");
    }
}
