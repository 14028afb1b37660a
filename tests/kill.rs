//! Real kills on the host, of children this test spawned and nothing else (issue 3 "Tests").
//!
//! The hog is this test binary itself, re-run as `hog_main` under an unprivileged uid with
//! oom_score_adj 1000; the daemon runs with `--ignore-root-user` (on this root-only machine the
//! hog is the only eligible process, and every "sending" line is checked to name it) and a
//! SIGTERM threshold just above where the hog's allocation pushes "mem avail" ("user mem
//! total" stays constant while the hog moves memory from available to anonymous). The hog
//! holds at most 5 % of RAM and at most 1200 MiB, and dies on its own after 60 s whatever
//! happens. The tests run one at a time so that two hogs never overlap.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn sigterm_kills_the_hog() {
    let Some(_g) = exclusive_root() else {
        return;
    };
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
    let Some(_g) = exclusive_root() else {
        return;
    };
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib},ignore_term"));
    let d = start(&base_args(&m));
    let status = wait_exit(&mut hog.child, 30).expect("hog was not killed");
    let log = d.stop();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{log}");
    assert_only_hog_signalled(&log, hog.pid);
    // Memory stayed above the SIGKILL line, so only the time limit can have escalated.
    let secs = escalated_after(&log);
    assert!(
        secs >= 9.9,
        "escalated after {secs} s, before the 10 s wait:\n{log}"
    );
    assert!(!log.contains("did not exit"), "{log}");
}

#[test]
fn group_kill_takes_the_whole_process_group() {
    let Some(_g) = exclusive_root() else {
        return;
    };
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
    let Some(_g) = exclusive_root() else {
        return;
    };
    let dir = TempDir::new("hooks");
    // Each hook records whether the victim was alive when it ran, from one read of its stat
    // (alive: readable and not a zombie). One read, because this test reaps the dead hog
    // concurrently: a zombie tested for existence and then for its state could be gone in
    // between and look alive (a CI run failed that way).
    let script = |name: &str| {
        let p = dir.path().join(format!("{name}.sh"));
        let out = dir.path().join(format!("{name}.env"));
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n{{ echo \"PID=$EARLYOOM_PID\"; echo \"UID=$EARLYOOM_UID\"; echo \"NAME=$EARLYOOM_NAME\"; \
                 echo \"CMDLINE=$EARLYOOM_CMDLINE\"; echo \"ARGC=$#\"; echo \"ARG0=$0\"; \
                 st=$(cat /proc/$EARLYOOM_PID/stat 2>/dev/null); \
                 case \"$st\" in '') echo ALIVE=0;; *') Z '*) echo ALIVE=0;; *) echo ALIVE=1;; esac; }} > {}.tmp && mv {}.tmp {}\n",
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
            env["CMDLINE"].ends_with(
                "eoom-test-hog --exact common::hog_main --ignored --nocapture --test-threads=1"
            ),
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
    let Some(_g) = exclusive_root() else {
        return;
    };
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
/// not waited for at all. (The hanging hooks end on their own after 5 s.)
#[test]
fn hanging_hooks_do_not_block_the_kill() {
    let Some(_g) = exclusive_root() else {
        return;
    };
    let dir = TempDir::new("hang");
    let hang = dir.path().join("hang.sh");
    std::fs::write(&hang, "#!/bin/sh\nexec sleep 5\n").unwrap();
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
        // The hog's memory is already taken, so the daemon's first poll kills: from its
        // start to the hog's death is startup, one scan, the -P wait and the signal. A
        // hanging -P that held the kill up would take its whole 5 s at least.
        let t = Instant::now();
        let mut d = start(&args);
        let status = wait_exit(&mut hog.child, 20).expect("hog was not killed");
        let to_death = t.elapsed();
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(d.wait_log("exited after", 5), "{}", d.log());
        // The -N program runs after the exit; a hanging one must not stop the loop.
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "the daemon exited:\n{}",
            d.log()
        );
        let log = d.stop();
        let timeouts = log
            .matches("notify_spawn_subprocess: timeout waiting for process")
            .count();
        if pre == &hang {
            // Only -P is waited for (200 ms); the hanging -N is never waited for.
            assert_eq!(timeouts, 1, "{log}");
            assert!(
                to_death < Duration::from_millis(4000),
                "{to_death:?}\n{log}"
            );
        } else {
            assert_eq!(timeouts, 0, "{log}");
        }
        assert!(!log.contains("did not exit"), "{log}");
    }
}
