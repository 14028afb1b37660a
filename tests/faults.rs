//! Fault scenarios on the host (issue 7): the daemon meets a hostile /proc (hidepid), hooks it
//! cannot start (deleted, RLIMIT_NPROC reached), and a storm of signals that interrupt its
//! system calls. In each it must go on running, keep its loop moving, and signal nothing but
//! the hog this test spawned (tests/common: the hog runs as uid 65534 and dies on its own
//! after 60 s). Full stdout pipes and hanging or failing hooks are in tests/cli.rs and
//! tests/kill.rs; a cgroup removed under the livelock guard needs cgroup v2 and runs in the
//! lab (tests/vm, scenario `cgroup-vanish`).

mod common;
use common::*;
use std::ffi::CStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How the daemon is started in a scenario: as root, or as uid 65534 in its own mount
/// namespace with /proc remounted with `proc_opts`, and with RLIMIT_NPROC at `nproc`.
#[derive(Clone, Copy, Default)]
struct Confine {
    as_nobody: bool,
    proc_opts: Option<&'static CStr>,
    nproc: Option<u64>,
}

/// The pre-exec steps of `Confine`. They run in the forked child before exec: plain system
/// calls only. Mounting comes before setuid (it needs root), the NPROC limit after it.
fn confine(cmd: &mut Command, c: Confine) {
    let step = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // SAFETY: the closure only makes system calls on arguments that live for the program's
    // whole run ('static C strings, integers), as pre_exec requires.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(opts) = c.proc_opts {
                step(libc::unshare(libc::CLONE_NEWNS))?;
                // Private first, so the new /proc never shows in the test's own namespace.
                step(libc::mount(
                    c"none".as_ptr(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                // A new procfs instance: since Linux 5.8 each mount has its own hidepid
                // (Documentation/filesystems/proc.rst, "Mount options").
                step(libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    opts.as_ptr().cast(),
                ))?;
            }
            if c.as_nobody {
                step(libc::setgroups(0, std::ptr::null()))?;
                step(libc::setgid(NOBODY))?;
                step(libc::setuid(NOBODY))?;
            }
            // After setuid: had the uid been over the limit when it changed, the kernel would
            // mark the task (PF_NPROC_EXCEEDED) and fail the execve below with EAGAIN.
            // Lowering a limit needs no privilege.
            if let Some(n) = c.nproc {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                step(libc::setrlimit(libc::RLIMIT_NPROC, &lim))?;
            }
            Ok(())
        });
    }
}

fn start_confined(args: &[String], c: Confine) -> Earlyoom {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Earlyoom::start_with(&args, |cmd| confine(cmd, c))
}

/// The daemon must still be running `secs` after the kill: no fault may end it.
fn assert_still_running(d: &mut Earlyoom, secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon exited:\n{}",
        d.log()
    );
}

/// Seconds from "sending" to "exited after N seconds" as the daemon logged them.
fn exited_after(log: &str) -> f64 {
    log.lines()
        .find_map(|l| l.split(" exited after ").nth(1))
        .and_then(|s| s.trim_end_matches(" seconds").parse().ok())
        .unwrap_or_else(|| panic!("no 'exited after' line:\n{log}"))
}

/// The options of the /proc the daemon sees: the last mount there in its namespace (the new
/// one is stacked on the one copied from ours).
fn proc_mount_options(pid: u32) -> String {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    info.lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/proc"))
        .unwrap_or_else(|| panic!("no /proc mount:\n{info}"))
        .to_string()
}

/// `-d`'s per-process table (stdout): (pid, oom_score, uid) of every row, i.e. of every pid
/// the scans met. Unreadable fields show as -9999, as in earlyoom.
fn scanned_rows(table: &str) -> Vec<(i32, i64, i64)> {
    table
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            let score = f.next()?.parse().ok()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((pid, score, uid))
        })
        .collect()
}

/// /proc mounted `hidepid=2` (invisible): an unprivileged daemon sees only its own uid's
/// processes. It must run normally (no exit, no error about /proc), scan only what it sees,
/// and kill the hog, which runs under the same uid.
#[test]
fn hidepid_invisible_shows_only_own_uid_and_the_kill_still_works() {
    hidepid_scenario(c"hidepid=2", "hidepid=invisible");
}

/// /proc mounted `hidepid=1` (noaccess): every pid directory is listed, but the files of
/// other users' processes fail to open (EPERM, from proc_pid_permission). Those pids must be
/// skipped one by one, not end the scan, and the hog must still be found and killed. (A
/// file that fails with EACCES is in tests/scan.rs, `eacces_pids_are_skipped_one_by_one`.)
#[test]
fn hidepid_noaccess_skips_unreadable_pids_and_the_kill_still_works() {
    hidepid_scenario(c"hidepid=1", "hidepid=noaccess");
}

/// Before Linux 5.8 all mounts of procfs in a pid namespace share one superblock, so a
/// `hidepid` mount in a private mount namespace would change the host's /proc too
/// (Documentation/filesystems/proc.rst, "Filesystem behavior"). Such kernels skip.
fn per_mount_procfs() -> bool {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = r
        .trim()
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    (major, minor) >= (5, 8)
}

/// Whether this machine lets us make a mount namespace and mount procfs in it (root
/// without CAP_SYS_ADMIN, as in a default container, cannot).
fn can_mount_proc() -> bool {
    let mut probe = Command::new("true");
    confine(
        &mut probe,
        Confine {
            as_nobody: false,
            proc_opts: Some(c"hidepid=0"),
            nproc: None,
        },
    );
    probe.status().is_ok_and(|s| s.success())
}

fn hidepid_scenario(opts: &'static CStr, shown: &str) {
    let Some(_g) = exclusive_root() else {
        return;
    };
    if !per_mount_procfs() || !can_mount_proc() {
        eprintln!("skipped: needs Linux >= 5.8 and the right to mount procfs");
        return;
    }
    let dir = TempDir::new("hidepid");
    let table = dir.path().join("table");
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib}"));
    // Without --ignore-root-user: root's processes are candidates, so under hidepid=1 the
    // scan really opens their files and meets the errors. As uid 65534 the daemon could not
    // signal them anyway, and --prefer with the hog's adj 1000 make the hog the victim.
    let mut args: Vec<String> = base_args(&m)
        .into_iter()
        .filter(|a| a != "--ignore-root-user")
        .collect();
    args.push("-d".into());
    let out = std::fs::File::create(&table).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Earlyoom::start_with(&args, |cmd| {
        cmd.stdout(out);
        confine(
            cmd,
            Confine {
                as_nobody: true,
                proc_opts: Some(opts),
                nproc: None,
            },
        )
    });
    let daemon_pid = d.child.id() as i32;
    std::thread::sleep(Duration::from_millis(200));
    let mount = proc_mount_options(d.child.id());
    assert!(mount.contains(shown), "{mount}");
    let status = wait_exit(&mut hog.child, 20).expect("hog was not killed");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{}", d.log());
    assert!(d.wait_log("exited after", 5), "{}", d.log());
    assert_still_running(&mut d, 1);
    let log = d.stop();
    assert_only_hog_signalled(&log, hog.pid);
    let table = std::fs::read_to_string(&table).unwrap();
    let rows = scanned_rows(&table);
    let seen: std::collections::BTreeSet<i32> = rows.iter().map(|r| r.0).collect();
    assert!(seen.contains(&hog.pid), "{table}");
    // Debug lines go to stdout with the table, as in earlyoom.
    let denied = table
        .lines()
        .filter(|l| l.ends_with("error reading oom_score: Operation not permitted"))
        .count();
    if opts == c"hidepid=2" {
        // Invisible: nothing of another uid was even listed, so nothing failed to open.
        let expect = std::collections::BTreeSet::from([hog.pid, daemon_pid]);
        assert_eq!(seen, expect, "{table}");
        assert_eq!(denied, 0, "{table}");
    } else {
        // Listed but denied: root's pids were met, their files refused, each one skipped.
        assert!(seen.contains(&1), "{table}");
        assert!(denied > 0, "no pid was refused:\n{table}");
        for &(pid, score, uid) in &rows {
            if uid != i64::from(NOBODY) {
                assert_eq!(
                    score, -9999,
                    "pid {pid} of uid {uid} was readable:\n{table}"
                );
            }
        }
    }
}

/// An executable script in `dir` that leaves `<name>.ran` behind when it runs.
fn marker_script(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let p = dir.join(format!("{name}.sh"));
    let ran = dir.join(format!("{name}.ran"));
    std::fs::write(&p, format!("#!/bin/sh\ntouch {}\n", ran.display())).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    (p, ran)
}

/// The daemon has printed its startup summary (the limits), so option checks are behind it.
fn wait_started(d: &Earlyoom) {
    assert!(d.wait_log("SIGKILL when mem avail", 10), "{}", d.log());
}

/// A `-P` and a `-N` hook that cannot run, met at a kill: the daemon starts with both hooks
/// in place (so its startup check passes), `break_hooks` breaks them, then the hog
/// allocates. Both spawns must fail with `error` and be logged, the hooks must not run, the
/// kill must go ahead at once (from "allocate now" to the hog's death: its allocation, one
/// poll, the failed spawn, the signal; a -P that held the kill up would add its 200 ms at
/// least, one that blocked the loop would never let the hog die), and the daemon go on.
fn broken_hooks_scenario(
    tag: &str,
    confined: Confine,
    break_hooks: impl FnOnce(&[&Path]),
    expected_line: impl Fn(&Path) -> String,
) {
    let Some(_g) = exclusive_root() else {
        return;
    };
    let dir = TempDir::new(tag);
    let (pre, pre_ran) = marker_script(dir.path(), "pre");
    let (post, post_ran) = marker_script(dir.path(), "post");
    let go = dir.path().join("go");
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib},go={}", go.display()));
    let mut args = base_args(&m);
    args.extend([
        "-P".into(),
        pre.display().to_string(),
        "-N".into(),
        post.display().to_string(),
    ]);
    let mut d = start_confined(&args, confined);
    wait_started(&d);
    assert!(!d.log().contains("not executable"), "{}", d.log());
    break_hooks(&[&pre, &post]);
    std::fs::write(&go, "").unwrap();
    let go_time = Instant::now();
    let status = wait_exit(&mut hog.child, 20).expect("hog was not killed");
    let to_death = go_time.elapsed();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{}", d.log());
    assert!(d.wait_log("exited after", 5), "{}", d.log());
    assert_still_running(&mut d, 1);
    let log = d.stop();
    for p in [&pre, &post] {
        let line = expected_line(p);
        assert!(log.contains(&line), "{line}\n{log}");
    }
    assert!(
        !pre_ran.exists() && !post_ran.exists(),
        "a hook ran:\n{log}"
    );
    assert!(exited_after(&log) < 5.0, "{log}");
    assert!(to_death < Duration::from_secs(5), "{to_death:?}\n{log}");
    assert_only_hog_signalled(&log, hog.pid);
}

/// A `-P` and a `-N` program that were there at startup and are deleted before the kill:
/// each spawn fails with ENOENT.
#[test]
fn hooks_deleted_after_startup_do_not_stop_the_kill() {
    let delete = |hooks: &[&Path]| hooks.iter().for_each(|p| std::fs::remove_file(p).unwrap());
    broken_hooks_scenario("deleted", Confine::default(), delete, |p| {
        format!(
            "notify_spawn_subprocess: exec {} failed: No such file or directory",
            p.display()
        )
    });
}

/// RLIMIT_NPROC reached: the daemon runs as uid 65534 with RLIMIT_NPROC 1, which its own
/// task already uses up, so the fork of every hook fails with EAGAIN, before the kill (-P)
/// and after it (-N, when the hog is gone). The limit does not bind root, hence the
/// unprivileged daemon.
#[test]
fn hooks_that_cannot_fork_do_not_stop_the_kill() {
    let confined = Confine {
        as_nobody: true,
        proc_opts: None,
        nproc: Some(1),
    };
    broken_hooks_scenario(
        "nproc",
        confined,
        |_| {},
        // earlyoom's own message when fork fails (kill.c notify_spawn_subprocess).
        |_| "notify_spawn_subprocess: fork error: Resource temporarily unavailable".into(),
    );
}

/// Stops the storm thread and joins it when dropped, so that it never outlives the daemon
/// it signals, even when an assertion fails first (declared after the daemon, it drops
/// before it).
struct Storm {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Storm {
    fn finish(&mut self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().map_or(0, |t| t.join().unwrap())
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A storm of stop and continue signals at the daemon while it waits out a SIGTERM-ignoring
/// hog: SIGSTOP, 1 ms, SIGCONT, 2 ms, over and over. A stopped task's blocking calls are
/// interrupted and, without a handler, restarted by the kernel or failed with EINTR for the
/// calls signal(7) lists under "Interruption of system calls and library functions by stop
/// signals". The escalation to SIGKILL must still come after earlyoom's 10 s and not much
/// later, and the daemon must go on. (The daemon installs no handler of its own, so this is
/// all a signal can do to it; EINTR from a handler is tested on the wrappers below.)
#[test]
fn a_stop_continue_storm_does_not_derail_the_kill() {
    let Some(_g) = exclusive_root() else {
        return;
    };
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib},ignore_term"));
    let mut d = start(&base_args(&m));
    // Through a pidfd taken while the daemon is our unreaped child: it names that process
    // for good, so no signal can reach a later holder of the pid.
    let pidfd = earlyoom::sys::pidfd_open(d.child.id() as i32).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut storm = Storm {
        stop: stop.clone(),
        thread: Some(std::thread::spawn(move || {
            let mut sent = 0u64;
            let send = |sig| {
                earlyoom::sys::pidfd_send_signal(std::os::fd::AsFd::as_fd(&pidfd), sig).is_ok()
            };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sent += u64::from(send(libc::SIGSTOP));
                std::thread::sleep(Duration::from_millis(1));
                sent += u64::from(send(libc::SIGCONT));
                std::thread::sleep(Duration::from_millis(2));
            }
            send(libc::SIGCONT); // never leave it stopped
            sent
        })),
    };
    let status = wait_exit(&mut hog.child, 40);
    let logged = d.wait_log("exited after", 5);
    let sent = storm.finish();
    let status = status.expect("hog was not killed");
    assert!(logged, "{}", d.log());
    assert_still_running(&mut d, 1);
    let log = d.stop();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{log}");
    assert!(sent > 1000, "only {sent} signals delivered");
    let esc = escalated_after(&log);
    assert!(
        (9.9..20.0).contains(&esc),
        "escalated after {esc} s:\n{log}"
    );
    assert_only_hog_signalled(&log, hog.pid);
}

/// The daemon's scanner over the host's real /proc with earlyoom's default options.
fn host_scanner() -> earlyoom::victim::Scanner {
    use earlyoom::victim;
    victim::Scanner::new(
        earlyoom::proc::ProcRoot::default(),
        victim::Options {
            sort_by_rss: false,
            ignore_root_user: false,
        },
        victim::Matchers::default(),
    )
}

static EINTR_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn count_hit(_: libc::c_int) {
    EINTR_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A real EINTR storm on the library's system-call wrappers: a handler installed without
/// SA_RESTART and a signal sent to the working thread every ~100 µs, so blocking calls fail
/// with EINTR over and over (signal(7)). The daemon itself installs no handler, so this can
/// only reach it through a library user or a future handler; the wrappers must hold anyway.
/// Each must finish with the right result and within its own time bound: in particular the
/// pidfd wait that gives `-P` its 200 ms must not restart its whole timeout on every EINTR.
#[test]
fn an_eintr_storm_on_the_syscall_wrappers() {
    use earlyoom::{meminfo, sys};
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    /// Puts the previous SIGUSR2 disposition back when the test ends, however it ends.
    struct Restore(libc::sigaction);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: reinstalls the action saved below.
            unsafe { libc::sigaction(libc::SIGUSR2, &self.0, std::ptr::null_mut()) };
        }
    }
    // SAFETY: installs a handler that only bumps an atomic; SIGUSR2 is sent by this test
    // alone, and only to its own worker thread.
    let _restore = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        let mut old: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_hit as *const () as usize;
        sa.sa_flags = 0; // no SA_RESTART: interrupted calls fail with EINTR
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, &mut old), 0);
        Restore(old)
    };
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        // SAFETY: plain getter.
        tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut report = Vec::new();
        let t = Instant::now();
        sys::sleep_ms(300);
        report.push(("sleep_ms(300)", t.elapsed(), true));

        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let fd = sys::pidfd_open(sleeper.id() as i32).unwrap();
        let t = Instant::now();
        let gone = sys::pidfd_wait_exit(std::os::fd::AsFd::as_fd(&fd), 300);
        report.push(("pidfd_wait_exit(live, 300)", t.elapsed(), !gone));
        sleeper.kill().unwrap();
        let t = Instant::now();
        let gone = sys::pidfd_wait_exit(std::os::fd::AsFd::as_fd(&fd), 5000);
        report.push(("pidfd_wait_exit(killed, 5000)", t.elapsed(), gone));
        sleeper.wait().unwrap();

        let t = Instant::now();
        let mut r = meminfo::Reader::open(b"/proc").unwrap();
        let ok = (0..500).all(|_| r.read().is_ok_and(|m| m.mem_total_kib > 0));
        report.push(("500 meminfo reads", t.elapsed(), ok));

        let t = Instant::now();
        let mut s = host_scanner();
        let ok = (0..5).all(|_| s.scan().is_ok_and(|sel| sel.victim.is_some()));
        report.push(("5 scans", t.elapsed(), ok));

        // A blocking pipe write that is interrupted part-way must resume where it stopped.
        let (r, w) = std::io::pipe().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut f = r;
            let mut all = Vec::new();
            f.read_to_end(&mut all).unwrap();
            all
        });
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        let t = Instant::now();
        let wrote = sys::write_all(std::os::fd::AsFd::as_fd(&w), &data).is_ok();
        drop(w); // the reader sees EOF
        let read = reader.join().unwrap();
        report.push(("write_all 4 MiB", t.elapsed(), wrote && read == data));
        done_tx.send(report).unwrap();
    });
    let tid = tid_rx.recv().unwrap();
    let before = EINTR_HITS.load(std::sync::atomic::Ordering::Relaxed);
    let t = Instant::now();
    let report = loop {
        // SAFETY: the worker thread is alive until it sends its report (joined below).
        unsafe { libc::pthread_kill(tid, libc::SIGUSR2) };
        std::thread::sleep(Duration::from_micros(100));
        match done_rx.try_recv() {
            Ok(r) => break r,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                worker.join().expect("the worker panicked");
                unreachable!("the worker ended without a report");
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        // Everything above takes ~2 s unloaded; a stuck wrapper never finishes.
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the worker is stuck under the storm"
        );
    };
    worker.join().unwrap();
    let hits = EINTR_HITS.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert!(hits > 100, "only {hits} signals were handled");
    for (what, took, ok) in &report {
        assert!(ok, "{what}: wrong result under the storm ({took:?})");
    }
    let took = |name: &str| report.iter().find(|r| r.0 == name).unwrap().1;
    assert!(took("sleep_ms(300)") >= Duration::from_millis(300));
    let w = took("pidfd_wait_exit(live, 300)");
    assert!(
        w >= Duration::from_millis(299) && w < Duration::from_secs(3),
        "a 300 ms wait took {w:?} under the storm"
    );
}

/// Per-pid files vanishing mid-scan, for real: while the library walks the host's /proc at
/// least 200 times, this test keeps starting and reaping short-lived children of its own, so
/// pids disappear between getdents64 and the open of their files, or between two of their
/// files. Every walk must succeed (and every scan find a victim), and at least one pid must
/// be seen vanishing, or the test proved nothing. (Fixture-tree cases with missing and
/// garbage files are in tests/scan.rs.)
#[test]
fn processes_exiting_during_scans_are_skipped() {
    use earlyoom::victim;
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let exited = std::sync::Arc::new(AtomicU32::new(0));
    let churn = {
        let (stop, exited) = (stop.clone(), exited.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let kids: Vec<_> = (0..8)
                    .filter_map(|_| Command::new("true").spawn().ok())
                    .collect();
                for mut k in kids {
                    let _ = k.wait();
                    exited.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mut s = host_scanner();
    let t = Instant::now();
    let mut results = Vec::new();
    // The ranking walks /proc with the same per-process code as the scan and says why each
    // pid was skipped: "unreadable" means it was listed, then gone before its files were.
    let mut vanished = 0;
    while (results.len() < 200 || exited.load(Ordering::Relaxed) < 1000 || vanished == 0)
        && t.elapsed() < Duration::from_secs(60)
    {
        results.push(s.scan().map(|sel| sel.victim.is_some()));
        let ranked = s.rank().map(|all| {
            vanished += all
                .iter()
                .filter(|c| matches!(c.skip, Some(victim::Skip::Unreadable(_))))
                .count();
        });
        results.push(ranked.map(|()| true));
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    let exited = exited.load(Ordering::Relaxed);
    assert!(exited >= 1000, "only {exited} children came and went");
    assert!(
        vanished > 0,
        "no pid vanished mid-walk in {} walks",
        results.len()
    );
    for (i, r) in results.iter().enumerate() {
        assert!(matches!(r, Ok(true)), "walk {i}: {r:?}");
    }
}
