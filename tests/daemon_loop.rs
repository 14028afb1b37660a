//! The whole loop in-process: [`Daemon::iterate`] and its sleep over a fixture /proc and a
//! fake cgroup tree, with the recorder (tests/fixture) as the kernel and its fake clock, so
//! each branch of the loop (memory fine, SIGTERM and SIGKILL lines, recovered while
//! selecting, the kernel OOM killer, a livelock trip, escalation, an unkillable victim, the
//! metrics countdown) is checked without root, without sleeping, in milliseconds.

mod fixture;
use earlyoom::cgroup::CgroupRoot;
use earlyoom::cli::Config;
use earlyoom::decide::{sleep_time_ms, Limits};
use earlyoom::guard::{Guard, GuardConfig};
use earlyoom::meminfo;
use earlyoom::metrics::{Metrics, MetricsFile};
use earlyoom::monitor::{Daemon, Relief};
use earlyoom::settings::Settings;
use fixture::*;
use std::path::Path;

fn daemon(t: &Tree, cfg: Config, r: Recorder) -> Daemon<Recorder> {
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&t.root().0).unwrap();
    let mut d = Daemon::new(settings, t.root(), mem, r);
    d.scanner.set_my_pid(999_999); // not in any tree
    d
}

fn tree(name: &str) -> Tree {
    Tree::new(name, &[p(80, "small", 500, 100), p(90, "hog", 900, 300)])
}

#[test]
fn memory_fine_sleeps_adaptively_and_signals_nothing() {
    let t = tree("fine");
    set_memory(&t, 50.0);
    let mut d = daemon(&t, Config::default(), Recorder::default());
    let ms = d.iterate().unwrap();
    let m = meminfo::parse(&std::fs::read(t.dir.join("meminfo")).unwrap()).unwrap();
    assert_eq!(ms, sleep_time_ms(&m, &Limits::default()));
    assert!(d.sys.signals.is_empty() && d.sys.opened.is_empty());
}

#[test]
fn the_sigterm_line_sends_sigterm_to_the_largest() {
    let t = tree("term");
    set_memory(&t, 8.0);
    let mut d = daemon(&t, Config::default(), Recorder::default());
    assert_eq!(d.iterate().unwrap(), 100);
    assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)]);
    assert_eq!(d.counters.kills[0], [1, 0]);
}

#[test]
fn the_sigkill_line_sends_sigkill() {
    let t = tree("kill");
    set_memory(&t, 3.0);
    let mut d = daemon(&t, Config::default(), Recorder::default());
    d.iterate().unwrap();
    assert_eq!(d.sys.signals, vec![(90, libc::SIGKILL)]);
    assert_eq!(d.counters.kills[0], [0, 1]);
}

/// earlyoom v1.6.2's double check: memory read again after the scan; freed meanwhile, no
/// kill. The recorder frees it when the daemon reads the clock at the end of the scan.
#[test]
fn memory_recovered_while_selecting_kills_nothing() {
    let t = tree("recovered");
    set_memory(&t, 8.0);
    let dir = t.dir.clone();
    let r = Recorder {
        on_now: Some(Box::new(move |n| {
            if n == 1 {
                // The scan's second clock read: it is done.
                let t = Tree { dir: dir.clone() };
                set_memory(&t, 60.0);
                std::mem::forget(t); // the outer Tree owns the directory
            }
        })),
        ..Default::default()
    };
    let mut d = daemon(&t, Config::default(), r);
    d.iterate().unwrap();
    assert!(d.sys.signals.is_empty(), "{:?}", d.sys.signals);
    assert!(d.sys.opened.is_empty());
}

/// `--kernel-oom` (when the self-test allowed it): sysrq-trigger is written instead of
/// killing, and the loop comes back after 500 ms; in dry-run only the permission is checked.
#[test]
fn kernel_oom_writes_sysrq_instead_of_killing() {
    for dryrun in [false, true] {
        let t = tree("sysrq");
        set_memory(&t, 8.0);
        let cfg = Config {
            kernel_oom: true,
            dryrun,
            ..Config::default()
        };
        let mut d = daemon(&t, cfg, Recorder::default());
        d.selftest(&[]).unwrap();
        assert_eq!(d.relief, Relief::KernelOom);
        assert_eq!(d.iterate().unwrap(), 500);
        let path = d.sysrq_path();
        assert_eq!(d.sys.sysrq, vec![(path.clone(), false), (path, !dryrun)]);
        assert!(d.sys.signals.is_empty());
    }
    // Not permitted: the self-test falls back to killing, as earlyoom does.
    let t = tree("sysrq-denied");
    set_memory(&t, 8.0);
    let r = Recorder {
        sysrq_denied: true,
        ..Default::default()
    };
    let cfg = Config {
        kernel_oom: true,
        ..Config::default()
    };
    let mut d = daemon(&t, cfg, r);
    d.selftest(&[]).unwrap();
    assert_eq!(d.relief, Relief::Kill);
    d.iterate().unwrap();
    assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)]);
}

/// A victim that ignores SIGTERM: SIGKILL after the 10 s wait (100 steps of the fake clock);
/// one that SIGKILL does not end either is passed over by the next poll, which takes the
/// next largest.
#[test]
fn escalation_and_an_unkillable_victim() {
    let t = tree("escalate");
    set_memory(&t, 8.0);
    let r = Recorder {
        stuck: true,
        ..Default::default()
    };
    let mut d = daemon(&t, Config::default(), r);
    let t0 = d.sys.now;
    d.iterate().unwrap();
    assert_eq!(
        d.sys.signals,
        vec![(90, libc::SIGTERM), (90, libc::SIGKILL)]
    );
    // 10 s of SIGTERM, then 2 s after the SIGKILL.
    assert!(((d.sys.now - t0) - 12.0).abs() < 0.2, "{}", d.sys.now - t0);
    assert_eq!(d.counters.kills[0], [1, 1]);
    d.sys.stuck = false;
    d.iterate().unwrap();
    assert_eq!(d.sys.signals[2], (80, libc::SIGTERM));
}

/// The memory line crossed while a SIGTERM is waited for: earlyoom's escalation, at once.
#[test]
fn reaching_the_sigkill_line_while_waiting_escalates() {
    let t = tree("memesc");
    set_memory(&t, 8.0);
    let dir = t.dir.clone();
    let r = Recorder {
        stuck: true,
        // A few clock reads into the wait, memory falls to 2 %.
        on_now: Some(Box::new(move |n| {
            if n == 4 {
                let t = Tree { dir: dir.clone() };
                set_memory(&t, 2.0);
                std::mem::forget(t);
            }
        })),
        ..Default::default()
    };
    let mut d = daemon(&t, Config::default(), r);
    let t0 = d.sys.now;
    d.iterate().unwrap();
    assert_eq!(
        d.sys.signals,
        vec![(90, libc::SIGTERM), (90, libc::SIGKILL)]
    );
    // Escalated within the first second, then the 2 s grace.
    assert!(d.sys.now - t0 < 3.5, "{}", d.sys.now - t0);
}

/// The metrics file: written on the first poll, then when the loop's sleeps add up to the
/// interval (1 s here, from `-r 1`), not before; and right after a kill.
#[test]
fn the_metrics_file_follows_its_countdown() {
    let t = tree("metrics");
    set_memory(&t, 50.0);
    let file = t.dir.join("earlyoom.prom");
    let mut d = daemon(&t, Config::default(), Recorder::default());
    d.metrics = Some(Metrics::new(MetricsFile::new(&file), 1000));
    d.iterate().unwrap();
    assert!(file.exists(), "not written on the first poll");
    std::fs::remove_file(&file).unwrap();
    let mut slept = 0;
    while slept < 1000 {
        assert!(!file.exists(), "rewritten after {slept} ms of sleep");
        slept += d.iterate().unwrap();
    }
    assert!(file.exists(), "not rewritten after {slept} ms of sleep");
    std::fs::remove_file(&file).unwrap();
    set_memory(&t, 8.0);
    d.iterate().unwrap();
    let text = std::fs::read_to_string(&file).expect("written after the kill");
    assert!(text.contains("earlyoom_kills_total{signal=\"SIGTERM\",reason=\"memory\"} 1\n"));
}

/// A fake cgroup v2 tree with one cgroup, `work`, holding the fixture's hog.
fn cgroup_tree(t: &Tree) -> std::path::PathBuf {
    let root = t.dir.join("cgroup");
    let cg = root.join("work");
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    std::fs::write(root.join("memory.pressure"), "").unwrap();
    std::fs::write(cg.join("cgroup.procs"), "90\n").unwrap();
    for (f, v) in [
        ("memory.high", "314572800\n"),
        ("memory.max", "524288000\n"),
        ("memory.swap.max", "0\n"),
        ("memory.swap.current", "0\n"),
        ("memory.stat", "anon 328000000\nfile 1000000\nshmem 0\n"),
    ] {
        std::fs::write(cg.join(f), v).unwrap();
    }
    root
}

/// The incident at time `s` (seconds after it began): usage pinned above memory.high, the
/// `high` counter climbing ~100/s, full stall 78 %.
fn livelock_at(cg: &Path, s: f64) {
    std::fs::write(cg.join("memory.current"), "330000000\n").unwrap();
    std::fs::write(
        cg.join("memory.events"),
        format!(
            "low 0\nhigh {}\nmax 0\noom 0\noom_kill 0\n",
            (s * 100.0) as u64
        ),
    )
    .unwrap();
    std::fs::write(
        cg.join("memory.pressure"),
        format!(
            "some avg10=80.00 avg60=70.00 avg300=20.00 total={}\nfull avg10=78.00 avg60=69.00 avg300=19.00 total={}\n",
            (s * 0.8e6) as u64,
            (s * 0.78e6) as u64
        ),
    )
    .unwrap();
}

/// `--livelock-guard` in the loop, on the fake clock: nothing for the first 5 s of the
/// livelock (the window), then one SIGTERM to the hog in the cgroup, though the machine has
/// plenty of memory; the guard's sampling shortens the sleep meanwhile.
#[test]
fn a_livelock_trips_the_guard_after_its_window() {
    let t = tree("guard");
    set_memory(&t, 50.0);
    let root = cgroup_tree(&t);
    let cg = root.join("work");
    let cfg = Config {
        livelock_guard: true,
        ..Config::default()
    };
    let mut d = daemon(&t, cfg, Recorder::default());
    d.guard = Some(Guard::new(CgroupRoot(root), GuardConfig::default()).unwrap());
    let start = d.sys.now;
    let mut tripped_at = None;
    while d.sys.now - start < 20.0 && tripped_at.is_none() {
        livelock_at(&cg, d.sys.now - start);
        let ms = d.iterate().unwrap();
        if !d.sys.signals.is_empty() {
            tripped_at = Some(d.sys.now - start);
        } else {
            d.sleep(ms);
        }
    }
    let at = tripped_at.expect("the guard never tripped");
    assert!((5.0..6.5).contains(&at), "tripped after {at} s");
    assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)]);
    assert_eq!(d.counters.livelock_trips, 1);
    assert_eq!(d.counters.kills[1], [1, 0]);
}
