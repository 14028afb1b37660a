//! Binary-level CLI tests: earlyoom's TestCli table (docs/contract.md §8.2) plus getopt, threshold, stream
//! and exit-code cases from docs/contract.md §2, §2.11 and §3, all run against the built `earlyoom` binary.
//!
//! Harness semantics follow earlyoom's own `runEarlyoom` (docs/contract.md §8.1): start the binary, read
//! stdout until a line starts with `mem avail: ` (10 s timeout = failure) — or, when the literal
//! argument `-r=0` is present, just let it run ~300 ms — then sample its VmRSS and open fds,
//! SIGKILL it (it is always our own child) and reap it. Exit code −1 means "still running,
//! killed by the harness". No row uses a `-m` value anywhere near 99: on this host memory is
//! never low at these thresholds, so the daemon never has a reason to kill anything.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_earlyoom");

/// `memReport` of testsuite_cli_test.go: the first periodic report line (docs/contract.md §3.2).
const MEM_REPORT: &str = "mem avail: ";
/// `startupMsg` of testsuite_cli_test.go: part of the limits banner (docs/contract.md §1.1 step 13).
const STARTUP_MSG: &str = "swap total: ";
/// The harness gives up waiting for the first report after this long (docs/contract.md §8.1).
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// With `-r=0` there is no report to wait for; the harness just lets it run (docs/contract.md §8.1).
const R0_RUN_TIME: Duration = Duration::from_millis(300);
/// `rssMaxKiB` (testsuite_cli_test.go:67). earlyoom's harness compared pages against it
/// (docs/contract.md §8.1); we compare the real VmRSS in KiB.
const RSS_MAX_KIB: u64 = 4096;
/// `openFdsMax` (docs/contract.md §8.1): 0, 1, 2, /proc/meminfo and one spare.
const OPEN_FDS_MAX: usize = 5;

/// What the harness observed about one run.
struct Run {
    /// n = exited with n; −1 = still running and killed by the harness; 128+sig = died of a
    /// signal the harness did not send.
    code: i32,
    stdout: String,
    stderr: String,
    /// The 10 s wait for `mem avail: ` ran out.
    timed_out: bool,
    /// (VmRSS, RssAnon) in KiB, sampled only while the process was still running.
    rss_kib: Option<(u64, u64)>,
    /// Entries of /proc/PID/fd, sampled only while the process was still running.
    fds: Option<usize>,
}

/// When the harness stops waiting and kills the daemon.
#[derive(Clone, Copy)]
enum Wait {
    /// Until the first `mem avail: ` line on stdout (or 300 ms if `-r=0` is an argument).
    Report,
    /// A fixed time, for runs whose reports are not on stdout (`--syslog`).
    For(Duration),
}

/// Starts the binary with `args` (argv[0] = `BIN`, which getopt diagnostics echo, docs/contract.md §2.1).
fn spawn(args: &[String], no_color_unset: bool) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // POSIXLY_CORRECT would turn off GNU argument permutation (docs/contract.md §2.1).
        .env_remove("POSIXLY_CORRECT");
    if no_color_unset {
        cmd.env_remove("NO_COLOR");
    }
    // Go's os/exec hands the child only fds 0-2; Rust's Command passes on every inherited fd
    // without FD_CLOEXEC (e.g. from whatever launched `cargo test`), which would inflate the
    // /proc/PID/fd count that §8.1 limits to 5. Mark everything ≥ 3 close-on-exec in the child.
    // SAFETY: between fork and exec only async-signal-safe syscalls are made, no allocation.
    unsafe {
        cmd.pre_exec(|| {
            const CLOSE_RANGE_CLOEXEC: libc::c_long = 4;
            if libc::syscall(libc::SYS_close_range, 3, u32::MAX, CLOSE_RANGE_CLOEXEC) != 0 {
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawning the earlyoom binary")
}

/// `runEarlyoom` of testsuite_helpers.go (docs/contract.md §8.1), with VmRSS read in KiB.
fn run_opts(args: &[String], wait: Wait, no_color_unset: bool) -> Run {
    let mut child = spawn(args, no_color_unset);
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");

    // stdout: every line goes to the waiting loop and into the full transcript. Bytes, not
    // String: `-d` prints process names, which need not be UTF-8.
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let out_reader = thread::spawn(move || {
        let mut all = Vec::new();
        let mut r = BufReader::new(&mut stdout);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    all.extend_from_slice(&line);
                    let _ = tx.send(line);
                }
            }
        }
        all
    });
    let err_reader = thread::spawn(move || {
        let mut all = Vec::new();
        let _ = stderr.read_to_end(&mut all);
        all
    });

    let start = Instant::now();
    let mut timed_out = false;
    // stdout reached EOF: the process is exiting on its own.
    let mut stdout_closed = false;
    let fixed = match wait {
        Wait::For(d) => Some(d),
        Wait::Report if args.iter().any(|a| a == "-r=0") => Some(R0_RUN_TIME),
        Wait::Report => None,
    };
    match fixed {
        Some(d) => {
            while start.elapsed() < d {
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        None => loop {
            let left = REPORT_TIMEOUT.saturating_sub(start.elapsed());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(MEM_REPORT.as_bytes()) => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    stdout_closed = true;
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
            }
        },
    }

    // A closed stdout means exit is imminent; give it time to become reapable so an exiting
    // daemon is not misreported as "still running" (−1).
    if stdout_closed {
        let deadline = Instant::now() + REPORT_TIMEOUT;
        while child.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
    }

    let (code, rss_kib, fds) = match child.try_wait().expect("try_wait") {
        Some(status) => (exit_code(status), None, None),
        None => {
            // Still running (or at least not yet reaped, so the pid is still ours).
            let rss = read_rss_kib(pid);
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .ok()
                .map(|d| d.count());
            // SIGKILL our own child, then reap it.
            let _ = child.kill();
            let status = child.wait().expect("reaping the earlyoom child");
            let code = if status.signal() == Some(libc::SIGKILL) {
                -1
            } else {
                // It exited by itself between try_wait and kill.
                exit_code(status)
            };
            (code, rss, fds)
        }
    };

    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Run {
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        timed_out,
        rss_kib,
        fds,
    }
}

fn run(args: &[String]) -> Run {
    run_opts(args, Wait::Report, false)
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => i32::MIN,
    }
}

/// (VmRSS, RssAnon) from /proc/PID/status, both in KiB.
fn read_rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("RssAnon:")?))
}

/// A value from /proc/meminfo in KiB (the daemon reads the same file before parsing options,
/// docs/contract.md §1.1 step 6, so `-M`/`-S` arguments computed from it match its limits).
fn meminfo_kib(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("reading /proc/meminfo");
    let line = text
        .lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("{key} missing from /proc/meminfo"));
    line[key.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("meminfo value")
}

/// Expected stdout of a run (docs/contract.md §8.2 columns).
#[derive(Clone, Copy)]
enum Out {
    Any,
    Empty,
    Contains(&'static str),
}

/// One row: arguments, expected exit code, stdout expectation, stderr substrings.
struct Case {
    args: Vec<String>,
    code: i32,
    stdout: Out,
    stderr: Vec<String>,
}

fn case(args: &[&str], code: i32, stdout: Out, stderr: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        stdout,
        stderr: stderr.iter().map(|s| s.to_string()).collect(),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// VmRSS limit for this build. A release binary (~1 MiB) stays near the 2 MiB the README
/// claims (docs/contract.md §6), so the real 4096 KiB applies. An unoptimised debug binary is ~20 MiB with
/// debuginfo and its locked, file-backed text alone can pass 4 MiB once the regex engine is
/// touched; there we apply the 4096 KiB limit to private memory (RssAnon) and to VmRSS the limit
/// earlyoom's harness effectively enforced, 4096 pages = 16 MiB (docs/contract.md §8.1).
fn check_rss(rss: Option<(u64, u64)>, errs: &mut Vec<String>) {
    let Some((vm_rss, anon)) = rss else { return };
    let (vm_limit, anon_limit) = if cfg!(debug_assertions) {
        (4 * RSS_MAX_KIB, RSS_MAX_KIB)
    } else {
        (RSS_MAX_KIB, RSS_MAX_KIB)
    };
    if vm_rss == 0 || vm_rss > vm_limit {
        errs.push(format!("VmRSS {vm_rss} KiB not in 1..={vm_limit}"));
    }
    if anon > anon_limit {
        errs.push(format!("RssAnon {anon} KiB > {anon_limit}"));
    }
}

/// Checks that hold for every run: the banner is the first stderr line, before option parsing
/// (docs/contract.md §1.1 step 3, §11.1); the harness's RSS and fd limits (docs/contract.md §8.1).
fn common_checks(r: &Run, errs: &mut Vec<String>) {
    if r.timed_out {
        errs.push(format!(
            "no {MEM_REPORT:?} line on stdout within {REPORT_TIMEOUT:?}"
        ));
    }
    let first = r.stderr.lines().next().unwrap_or("");
    if !first.starts_with("earlyoom v") {
        errs.push(format!(
            "first stderr line {first:?} is not the banner \"earlyoom v...\""
        ));
    }
    check_rss(r.rss_kib, errs);
    if let Some(n) = r.fds {
        if n > OPEN_FDS_MAX {
            errs.push(format!("{n} open fds > {OPEN_FDS_MAX}"));
        }
    }
}

/// Runs a case and returns all mismatches (empty = pass), with the transcript for diagnosis.
fn check(c: &Case) -> Result<(), String> {
    check_run(c, &run(&c.args))
}

fn check_run(c: &Case, r: &Run) -> Result<(), String> {
    let mut errs = Vec::new();
    common_checks(r, &mut errs);
    if r.code != c.code {
        errs.push(format!("exit code {} != expected {}", r.code, c.code));
    }
    match c.stdout {
        Out::Any => {}
        Out::Empty if !r.stdout.is_empty() => errs.push("stdout not empty".into()),
        Out::Contains(s) if !r.stdout.contains(s) => {
            errs.push(format!("stdout lacks {s:?}"));
        }
        _ => {}
    }
    for s in &c.stderr {
        if !r.stderr.contains(s.as_str()) {
            errs.push(format!("stderr lacks {s:?}"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(describe(&c.args, &errs, r))
    }
}

fn describe(args: &[String], errs: &[String], r: &Run) -> String {
    format!(
        "earlyoom {:?}:\n  - {}\n  --- stdout ---\n{}\n  --- stderr ---\n{}\n",
        args,
        errs.join("\n  - "),
        r.stdout,
        r.stderr
    )
}

/// Runs all cases in parallel threads and fails once with every mismatching row listed.
fn check_all(cases: Vec<Case>) {
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = cases.iter().map(|c| s.spawn(move || check(c))).collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("case thread").err())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Asserts `r` matches `c` and panics with the transcript otherwise.
fn assert_case(c: &Case, r: &Run) {
    if let Err(e) = check_run(c, r) {
        panic!("{e}");
    }
}

/// Port of earlyoom's TestCli table, row for row (docs/contract.md §8.2, testsuite_cli_test.go:69-206).
#[test]
fn test_cli_table() {
    use Out::{Any, Contains, Empty};
    let report = Contains(MEM_REPORT);
    let mem1pct = (meminfo_kib("MemTotal") / 100).to_string();

    let mut cases = vec![
        case(&["-h"], 0, Empty, &["this help text"]),
        case(&["--help"], 0, Empty, &["this help text"]),
        case(&[], -1, report, &[STARTUP_MSG]),
        case(&["-p"], -1, report, &[]),
        case(&["-v"], 0, Empty, &["earlyoom v"]),
        case(&["-d"], -1, Contains("new victim"), &[]),
        case(&["-m", "1"], -1, report, &[" 1.00%"]),
        case(&["-m", "0"], 15, Empty, &["fatal"]),
        case(&["-m", "-10"], 15, Empty, &["fatal"]),
        case(&["-m", "100"], 15, Empty, &["fatal"]),
        case(&["-s", "2"], -1, report, &[" 2.00%"]),
        case(&["-s", "100"], -1, report, &[" 100.00%"]),
        case(&["-s", "101"], 16, Empty, &["fatal"]),
        case(&["-s", "0"], 16, Empty, &["fatal"]),
        case(&["-s", "-10"], 16, Empty, &["fatal"]),
        case(&["-M", &mem1pct], -1, report, &[" 1.00%"]),
        case(&["-M", "9999999999999999"], 15, Empty, &["fatal"]),
        case(&["-r=0"], -1, Empty, &[STARTUP_MSG]),
        case(&["-r", "0.1"], -1, report, &[STARTUP_MSG]),
        case(
            &["--avoid", "MyProcess1"],
            -1,
            report,
            &["Will avoid killing"],
        ),
        case(
            &["--prefer", "MyProcess2"],
            -1,
            report,
            &["Preferring to kill"],
        ),
        case(
            &["--ignore-root-user"],
            -1,
            report,
            &["Processes owned by root will not be killed"],
        ),
        case(
            &["--sort-by-rss"],
            -1,
            report,
            &["Find process with the largest rss"],
        ),
        case(&["-i"], -1, Any, &["Option -i is ignored"]),
        case(&["xyz"], 13, Empty, &["extra argument not understood"]),
        case(&["-i", "1"], 13, Empty, &["extra argument not understood"]),
        case(
            &["-m", "2,1"],
            -1,
            report,
            &["sending SIGTERM when mem avail <=  2.00% and swap free <= 10.00%"],
        ),
        case(&["-m", "1,2"], -1, report, &[]),
        case(&["-m", "1,-1"], 15, Empty, &["fatal"]),
        case(&["-m", "1000,-1000"], 15, Empty, &["fatal"]),
        case(
            &["-s", "2,1"],
            -1,
            report,
            &["sending SIGTERM when mem avail <= 10.00% and swap free <=  2.00%"],
        ),
        case(&["-s", "1,2"], -1, report, &[]),
        case(&["-m", "5,0"], -1, report, &[]),
        case(&["-m", "5,9"], -1, report, &[]),
        case(
            &["-m", "3.14"],
            -1,
            report,
            &["SIGTERM when mem avail <=  3.14%"],
        ),
        case(
            &["-m", "7,3.14"],
            -1,
            report,
            &["SIGKILL when mem avail <=  3.14%"],
        ),
        case(&["-s", "12.34"], -1, report, &["swap free <= 12.34%"]),
        case(
            &["-m", "10", "-M", &mem1pct],
            -1,
            report,
            &["SIGTERM when mem avail <=  1.00%"],
        ),
        // [HEAD-only] rows (docs/contract.md §5.7). Without a writable /proc/sysrq-trigger the daemon
        // falls back to user mode (docs/contract.md §1.1 step 12) and keeps running either way.
        case(&["--kernel-oom"], -1, report, &["Using kernel OOM killer"]),
        case(&["--kernel-oom", "--dryrun"], -1, report, &["dryrun"]),
    ];
    for v in ["-1", "2147483648", "4294967296"] {
        cases.push(case(&["-M", v], 15, Empty, &["fatal"]));
        cases.push(case(&["-m", v], 15, Empty, &["fatal"]));
        cases.push(case(&["-S", v], 16, Empty, &["fatal"]));
        cases.push(case(&["-s", v], 16, Empty, &["fatal"]));
    }

    // The `-S` success rows need swap: with SwapTotal = 0 any positive -S exceeds the limit 0
    // (docs/contract.md §2.4), so earlyoom's suite only runs them on a box with swap.
    let swap_total = meminfo_kib("SwapTotal");
    if swap_total > 0 {
        let swap2pct = (swap_total * 2 / 100).to_string();
        cases.push(case(&["-S", &swap2pct], -1, report, &[" 2.00%"]));
        cases.push(case(
            &["-s", "10", "-S", &swap2pct],
            -1,
            report,
            &["swap free <=  1.00%"],
        ));
    } else {
        println!("skipped: `-S <2% of swap>` and `-s 10 -S <2% of swap>` (SwapTotal is 0)");
    }

    check_all(cases);
}

/// `-h`/`-v` act when getopt reaches them, after earlier options were validated (docs/contract.md §2.1).
#[test]
fn help_and_version_are_positional() {
    use Out::Empty;
    check_all(vec![
        case(
            &["-m", "100", "-h"],
            15,
            Empty,
            &["fatal: -m: value 100.000000 exceeds limit 99"],
        ),
        case(&["-h", "-m", "100"], 0, Empty, &["this help text"]),
        case(&["--he"], 0, Empty, &["this help text"]),
    ]);

    // `-v`: the banner is all there is (docs/contract.md §2.2: "banner already printed; stdout empty").
    let r = run(&strings(&["-v"]));
    assert_case(&case(&["-v"], 0, Empty, &["earlyoom v"]), &r);
    assert_eq!(r.stderr.lines().count(), 1, "-v stderr: {:?}", r.stderr);
}

/// glibc getopt_long diagnostics, argv[0] as invoked, then earlyoom's hint; exit 13 (§2.1).
#[test]
fn getopt_diagnostics() {
    const TRY: &str = "Try 'earlyoom --help' for more information.\n";
    let diag =
        |args: &[&str], msg: &str| case(args, 13, Out::Empty, &[&format!("{BIN}: {msg}\n{TRY}")]);
    check_all(vec![
        diag(
            &["--d"],
            "option '--d' is ambiguous; possibilities: '--dryrun' '--debug'",
        ),
        diag(
            &["--ign"],
            "option '--ign' is ambiguous; possibilities: '--ignore' '--ignore-root-user'",
        ),
        diag(
            &["--dryrun=x"],
            "option '--dryrun' doesn't allow an argument",
        ),
        diag(&["--foo"], "unrecognized option '--foo'"),
        diag(&["-x"], "invalid option -- 'x'"),
        diag(&["-m"], "option requires an argument -- 'm'"),
        diag(&["--prefer"], "option '--prefer' requires an argument"),
    ]);
}

/// Unique prefixes of long options are accepted like the full name (docs/contract.md §2.1).
#[test]
fn long_option_prefixes() {
    let report = Out::Contains(MEM_REPORT);
    check_all(vec![
        case(
            &["--dry"],
            -1,
            report,
            &["dryrun mode enabled, will not kill anything\n"],
        ),
        case(
            &["--sort"],
            -1,
            report,
            &["Find process with the largest rss\n"],
        ),
        case(
            &["--ignore-r"],
            -1,
            report,
            &["Processes owned by root will not be killed\n"],
        ),
    ]);
}

/// Threshold and interval errors: exact texts, exit codes 14/15/16, and `fatal: -X: …` without
/// a trailing newline (docs/contract.md §2.3 step 7, §2.5, §2.11).
#[test]
fn threshold_and_interval_errors() {
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (strings(&["-m=10"]), 15, "fatal: -m: trailing garbage '=10'"),
        (
            strings(&["-m", "1e999"]),
            15,
            "fatal: -m: conversion error: Numerical result out of range",
        ),
        (
            strings(&["-r", "-1"]),
            14,
            "fatal: -r: invalid interval '-1'\n",
        ),
    ];
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(args, code, tail)| {
                s.spawn(move || {
                    let r = run(args);
                    let mut errs = Vec::new();
                    common_checks(&r, &mut errs);
                    if r.code != *code {
                        errs.push(format!("exit code {} != expected {code}", r.code));
                    }
                    if !r.stdout.is_empty() {
                        errs.push("stdout not empty".into());
                    }
                    if !r.stderr.ends_with(tail) {
                        errs.push(format!("stderr does not end with {tail:?}"));
                    }
                    if errs.is_empty() {
                        Ok(())
                    } else {
                        Err(describe(args, &errs, &r))
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("case thread").err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `-S` on a swapless box is fatal, contrary to the man page (docs/contract.md §2.4, §11.7).
#[test]
fn swap_size_without_swap_is_fatal() {
    if meminfo_kib("SwapTotal") > 0 {
        println!("skipped: `-S 1` without swap (this host has swap)");
        return;
    }
    let r = run(&strings(&["-S", "1"]));
    assert_case(&case(&["-S", "1"], 16, Out::Empty, &[]), &r);
    assert!(
        r.stderr
            .ends_with("fatal: -S: value 1.000000 exceeds limit 0"),
        "stderr: {:?}",
        r.stderr
    );
}

/// Other fatal paths and the term<kill warning (docs/contract.md §2.1, §2.3 step 5, §2.9, §2.11).
#[test]
fn misc_fatal_and_warnings() {
    use Out::{Contains, Empty};
    check_all(vec![
        case(
            &["-m", "5,9"],
            -1,
            Contains(MEM_REPORT),
            &["warning: SIGTERM value 5.00 is below SIGKILL value 9.00, \
               setting SIGTERM = SIGKILL = 9.00\n"],
        ),
        case(
            &["--prefer", "("],
            6,
            Empty,
            &["fatal: could not compile regexp '('\n"],
        ),
        case(
            &["xyz"],
            13,
            Empty,
            &["fatal: extra argument not understood: 'xyz'\n"],
        ),
        // `--` ends option parsing, so `-m` is a leftover operand (docs/contract.md §2.1).
        case(
            &["--", "-m"],
            13,
            Empty,
            &["fatal: extra argument not understood: '-m'\n"],
        ),
        // Our own options: a bad value is exit 17 with the option named.
        case(
            &["--cgroup-headroom", "200"],
            17,
            Empty,
            &["fatal: --cgroup-headroom: value 200.000000 exceeds limit 100\n"],
        ),
        case(
            &["--cgroup-headroom=nan"],
            17,
            Empty,
            &["fatal: --cgroup-headroom: invalid number 'nan'\n"],
        ),
        case(
            &["--livelock-window", "0"],
            17,
            Empty,
            &["fatal: --livelock-window: value 0.00 is not between 0.5 and 3600\n"],
        ),
    ]);
}

/// Bundled flags and attached arguments (docs/contract.md §2.1), `-N` path checks (docs/contract.md §1.1 step 12).
#[test]
fn bundling_attached_args_and_hook_paths() {
    use Out::Contains;
    let report = Contains(MEM_REPORT);
    check_all(vec![
        case(&["-m10"], -1, report, &["SIGTERM when mem avail <= 10.00%"]),
        // 10 is also the default; a non-default value proves the attached argument is used.
        case(
            &["-m3,2"],
            -1,
            report,
            &[
                "sending SIGTERM when mem avail <=  3.00%",
                "SIGKILL when mem avail <=  2.00%",
            ],
        ),
        case(
            &["-N", "relative"],
            -1,
            report,
            &[
                "startup_selftests: -N: notify script 'relative' is not an absolute path, \
               disabling -N\n",
            ],
        ),
        case(
            &["-N/nonexistent"],
            -1,
            report,
            &[
                "startup_selftests: -N: notify script '/nonexistent' is not executable: \
               No such file or directory\n",
            ],
        ),
    ]);

    // `-dp` = `-d -p`: debug output proves `d`; `p` always reports its outcome (docs/contract.md §2.6),
    // success or a "Continuing anyway" warning depending on the privileges we run with.
    let r = run(&strings(&["-dp"]));
    assert_case(&case(&["-dp"], -1, Contains("new victim"), &[]), &r);
    assert!(
        r.stderr.contains("Priority was raised successfully\n")
            || r.stderr.contains(". Continuing anyway\n"),
        "-dp: no -p outcome on stderr: {:?}",
        r.stderr
    );

    // At HEAD the self-test (and its -N warning) runs before the limits banner (docs/contract.md §1.1).
    let r = run(&strings(&["-N", "relative"]));
    let warn = r.stderr.find("startup_selftests: -N:");
    let banner = r.stderr.find("mem total:");
    assert!(
        matches!((warn, banner), (Some(w), Some(b)) if w < b),
        "-N warning should precede the banner: {:?}",
        r.stderr
    );
}

/// With `NO_COLOR` unset and pipes (not ttys) there are no escape codes at all (docs/contract.md §3.1, §6).
#[test]
fn no_color_codes_on_pipes() {
    for (args, code) in [
        // warn (dryrun notice, tuple warning), plain banner lines, info report.
        (strings(&["--dryrun", "-m", "5,9", "-N", "relative"]), -1),
        // debug lines on stdout.
        (strings(&["-d"]), -1),
        // fatal.
        (strings(&["-m", "0"]), 15),
    ] {
        let r = run_opts(&args, Wait::Report, true);
        let mut errs = Vec::new();
        common_checks(&r, &mut errs);
        if r.code != code {
            errs.push(format!("exit code {} != expected {code}", r.code));
        }
        if r.stdout.contains('\x1b') || r.stderr.contains('\x1b') {
            errs.push("escape byte \\x1b in output".into());
        }
        assert!(errs.is_empty(), "{}", describe(&args, &errs, &r));
    }
}

/// `--syslog` moves warn/info/debug/fatal to syslog from its argv position on; plain stderr
/// lines (banner, limits) stay on stderr (docs/contract.md §2.10). The reports never reach stdout, so the
/// harness waits a fixed 1.5 s instead of for `mem avail: `.
#[test]
fn syslog_redirects_reports() {
    let args = strings(&["--syslog"]);
    let r = run_opts(&args, Wait::For(Duration::from_millis(1500)), false);
    let mut errs = Vec::new();
    common_checks(&r, &mut errs);
    if r.code != -1 {
        errs.push(format!("exit code {} != expected -1", r.code));
    }
    if r.stdout.contains(MEM_REPORT) {
        errs.push("a `mem avail:` report reached stdout".into());
    }
    if !r.stdout.is_empty() {
        errs.push("stdout not empty".into());
    }
    for s in ["mem total:", "sending SIGTERM when mem avail <= 10.00%"] {
        if !r.stderr.contains(s) {
            errs.push(format!("stderr lacks plain line {s:?}"));
        }
    }
    assert!(errs.is_empty(), "{}", describe(&args, &errs, &r));
}

/// earlyoom's help text (docs/contract.md §2.2, observed at HEAD), `{argv0}` = argv[0] as invoked.
const HELP: &str = "Usage: {argv0} [OPTION]...

  -m PERCENT[,KILL_PERCENT] set available memory minimum to PERCENT of total
                            (default 10 %).
                            earlyoom sends SIGTERM once below PERCENT, then
                            SIGKILL once below KILL_PERCENT (default PERCENT/2).
  -s PERCENT[,KILL_PERCENT] set free swap minimum to PERCENT of total (default
                            10 %).
                            Note: both memory and swap must be below minimum for
                            earlyoom to act.
  -M SIZE[,KILL_SIZE]       set available memory minimum to SIZE KiB
  -S SIZE[,KILL_SIZE]       set free swap minimum to SIZE KiB
  -n                        enable d-bus notifications
  -N /PATH/TO/SCRIPT        call script after oom kill
  -g                        kill all processes within a process group
  -d, --debug               enable debugging messages
  -v                        print version information and exit
  -r INTERVAL               memory report interval in seconds (default 1), set
                            to 0 to disable completely
  -p                        set niceness of earlyoom to -20 and oom_score_adj to
                            -100
  --ignore-root-user        do not kill processes owned by root
  --sort-by-rss             find process with the largest rss (default oom_score)
  --prefer REGEX            prefer to kill processes matching REGEX
  --avoid REGEX             avoid killing processes matching REGEX
  --ignore REGEX            ignore processes matching REGEX
  --dryrun                  dry run (do not kill any processes)
  --syslog                  use syslog instead of std streams
  --kernel-oom              use kernel OOM killer via /proc/sysrq-trigger
                            instead of killing processes directly. Requires
                            Linux v5.17+ and root to work correctly.
  -h, --help                this help text
";

/// `-h` prints banner + help to stderr and nothing else (docs/contract.md §2.2). The port deliberately
/// adds the `-P` line that earlyoom's main.c lacks (README.md:248 documents it; src/cli.rs
/// `help_text`) and, after earlyoom's text, a section for its own options; those are
/// tolerated, everything of earlyoom's must match byte for byte.
#[test]
fn help_text_is_earlyooms() {
    let r = run(&strings(&["-h"]));
    assert_case(&case(&["-h"], 0, Out::Empty, &[]), &r);
    let (banner, help) = r.stderr.split_once('\n').expect("banner line");
    assert!(banner.starts_with("earlyoom v"), "banner {banner:?}");
    let (help, ours) = help
        .split_once("\nearlyoom-rs additions:\n")
        .expect("our own options are listed after earlyoom's");
    assert!(ours.contains("--livelock-guard"), "{ours}");
    let help: String = help
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("  -P /PATH/TO/SCRIPT        call script before oom kill"))
        .collect();
    assert_eq!(help, HELP.replace("{argv0}", BIN));
}

/// Startup banner and first report: exact printf shapes (docs/contract.md §1.1 step 13, §3.2) and values
/// that agree with /proc/meminfo (MemTotal and SwapTotal do not change while we run).
#[test]
fn banner_and_report_format() {
    let r = run(&strings(&["-m", "7,3"]));
    assert_case(
        &case(&["-m", "7,3"], -1, Out::Contains(MEM_REPORT), &[]),
        &r,
    );
    let mem_total = meminfo_kib("MemTotal") / 1024;
    let swap_total = meminfo_kib("SwapTotal") / 1024;

    let banner = regex::Regex::new(&format!(
        "(?m)^mem total: {mem_total:>4} MiB, user mem total: [ 0-9]{{4,}} MiB, \
         swap total: {swap_total:>4} MiB\n\
         sending SIGTERM when mem avail <=  7\\.00% and swap free <= 10\\.00%,\n        \
         SIGKILL when mem avail <=  3\\.00% and swap free <=  5\\.00%\n"
    ))
    .unwrap();
    assert!(banner.is_match(&r.stderr), "banner: {:?}", r.stderr);

    // `%5lld of %5lld MiB (%5.2lf%%), swap free: %4lld of %4lld MiB (%5.2lf%%)`
    let report = regex::Regex::new(&format!(
        "^mem avail: [ 0-9]{{5,}} of [ 0-9]{{5,}} MiB \\([ 0-9]{{2,}}\\.[0-9]{{2}}%\\), \
         swap free: [ 0-9]{{4,}} of {swap_total:>4} MiB \\([ 0-9]{{2,}}\\.[0-9]{{2}}%\\)\n$"
    ))
    .unwrap();
    let first = r.stdout.split_inclusive('\n').next().unwrap_or("");
    assert!(report.is_match(first), "report line {first:?}");
}

/// `--syslog` takes effect at its argv position: warn-level notices before it still reach
/// stderr, those after it do not (docs/contract.md §2.10).
#[test]
fn syslog_applies_from_its_position() {
    const DRYRUN: &str = "dryrun mode enabled, will not kill anything\n";
    let wait = Wait::For(Duration::from_millis(500));
    let before = strings(&["--dryrun", "--syslog"]);
    let after = strings(&["--syslog", "--dryrun"]);
    let (rb, ra) = thread::scope(|s| {
        let b = s.spawn(|| run_opts(&before, wait, false));
        let a = s.spawn(|| run_opts(&after, wait, false));
        (b.join().unwrap(), a.join().unwrap())
    });
    for (args, r, want) in [(&before, &rb, true), (&after, &ra, false)] {
        let mut errs = Vec::new();
        common_checks(r, &mut errs);
        if r.code != -1 {
            errs.push(format!("exit code {} != expected -1", r.code));
        }
        if r.stderr.contains(DRYRUN) != want {
            errs.push(format!("dryrun notice on stderr: expected {want}"));
        }
        assert!(errs.is_empty(), "{}", describe(args, &errs, r));
    }
}

/// Fault: nobody reads stdout (a stuck log reader) and the pipe is full. earlyoom would block
/// in write(2) and stop watching memory; ours drops the lines and keeps polling.
#[test]
fn a_full_stdout_pipe_never_blocks_the_daemon() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let mut child = Command::new(BIN)
        .args(["-d", "-r", "0.1"])
        .env_remove("POSIXLY_CORRECT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    // Shrink the pipe to one page so that the startup debug table alone fills it.
    // SAFETY: fcntl on a pipe fd we own.
    unsafe { libc::fcntl(out.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let mut err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
            let _ = tx.send(s.clone());
        }
    });
    // The banner after the self-test comes only if the debug table did not block it.
    let t = std::time::Instant::now();
    let mut seen = String::new();
    while !seen.contains("mem total:") && t.elapsed() < Duration::from_secs(10) {
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(100)) {
            seen = s;
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    drop(out);
    assert!(
        seen.contains("mem total:"),
        "daemon blocked on a full stdout: {seen}"
    );
    assert!(still_running, "daemon died with a full stdout");
}

/// Fault: stdout goes away. A pipe whose reader has gone fails every write with EPIPE (and
/// would raise SIGPIPE, which must not kill the daemon), and a stdout closed before exec
/// must not let a later open land on fd 1 so that log lines would be written into it. In
/// both cases the daemon must keep polling: it is still running after 1.5 s of `-r 0.1`
/// reports with the `-d` table.
#[test]
fn a_vanished_stdout_never_ends_the_daemon() {
    for closed_fd in [false, true] {
        let mut cmd = Command::new(BIN);
        cmd.args(["-d", "-r", "0.1"])
            .env_remove("POSIXLY_CORRECT")
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        if closed_fd {
            // SAFETY: close(2) in the child before exec.
            unsafe {
                cmd.stdout(Stdio::inherit()).pre_exec(|| {
                    libc::close(1);
                    Ok(())
                });
            }
        } else {
            cmd.stdout(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before the first line
        std::thread::sleep(Duration::from_millis(1500));
        // Checked before anything reads /proc/PID: if the daemon had died, try_wait reaped
        // it and the pid could already name another process.
        let status = child.try_wait().unwrap();
        if status.is_some() {
            panic!("closed fd {closed_fd}: the daemon ended: {status:?}");
        }
        let fd1 = std::fs::read_link(format!("/proc/{}/fd/1", child.id()));
        let meminfo_fd = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .unwrap()
            .flatten()
            .find(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t == std::path::Path::new("/proc/meminfo"))
            })
            .map(|e| e.file_name().to_string_lossy().into_owned());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            meminfo_fd
                .as_deref()
                .is_some_and(|fd| fd.parse::<i32>().unwrap() > 2),
            "closed fd {closed_fd}: /proc/meminfo is on fd {meminfo_fd:?}, stdout is {fd1:?}"
        );
    }
}
