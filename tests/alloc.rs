//! Budget test: the steady state allocates nothing (one poll, and one victim scan over the real
//! /proc), counted by a global allocator that counts every allocation in this test binary.

use earlyoom::cgroup::CgroupRoot;
use earlyoom::cli::Config;
use earlyoom::guard::{Guard, GuardConfig};
use earlyoom::meminfo;
use earlyoom::monitor::Daemon;
use earlyoom::proc::ProcRoot;
use earlyoom::seam::RealSys;
use earlyoom::settings::Settings;
use earlyoom::victim::{compile, Matchers, Options, Scanner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

struct Counting;

static COUNT: AtomicU64 = AtomicU64::new(0);
/// Only allocations made by the measuring thread count (the harness has its own threads).
static MEASURING: AtomicBool = AtomicBool::new(false);
/// Tests in this file measure one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

thread_local! {
    static ME: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) && ME.with(|m| m.get()) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if MEASURING.load(Ordering::Relaxed) && ME.with(|m| m.get()) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn count(f: impl FnOnce()) -> u64 {
    ME.with(|m| m.set(true));
    COUNT.store(0, Ordering::Relaxed);
    MEASURING.store(true, Ordering::Relaxed);
    f();
    MEASURING.store(false, Ordering::Relaxed);
    ME.with(|m| m.set(false));
    COUNT.load(Ordering::Relaxed)
}

#[test]
fn counter_sees_allocations() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    // The budget below is only meaningful if the counter works.
    assert!(count(|| drop(std::hint::black_box(vec![1u8; 10]))) >= 1);
}

#[test]
fn a_poll_allocates_nothing() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    let dir = std::env::temp_dir().join(format!("eoom-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("tests/fixtures/meminfo/debian12-nosw", dir.join("meminfo")).unwrap();
    let root = ProcRoot(dir.to_str().unwrap().as_bytes().to_vec());
    let cfg = Config {
        report_interval_ms: 100, // report on every poll: formatting is part of the budget
        ..Config::default()
    };
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&root.0).unwrap();
    let mut d = Daemon::new(settings, root, mem, RealSys::default());
    d.iterate().unwrap(); // warm-up
    let n = count(|| {
        for _ in 0..20 {
            d.iterate().unwrap();
        }
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(n, 0, "allocations in 20 polls");
}

#[test]
fn a_scan_allocates_nothing() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    for matchers in [
        Matchers::default(),
        Matchers {
            prefer: Some(compile(b"^(firefox|chrome)$").unwrap()),
            avoid: Some(compile(b"(^|/)(init|sshd|systemd)$").unwrap()),
            ignore: Some(compile(b"^earlyoom$").unwrap()),
        },
    ] {
        let mut s = Scanner::new(
            ProcRoot::default(),
            Options {
                sort_by_rss: false,
                ignore_root_user: false,
            },
            matchers,
        );
        assert!(s.scan().unwrap().victim.is_some()); // warm-up (regex caches)
        let n = count(|| {
            for _ in 0..10 {
                std::hint::black_box(s.scan().unwrap());
            }
        });
        assert_eq!(n, 0, "allocations in 10 scans of /proc");
    }
}

/// With `--livelock-guard`, every poll samples every watched cgroup: that allocates nothing
/// either (discovery, every 10 s, may).
#[test]
fn a_guard_sample_allocates_nothing() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    let root = std::env::temp_dir().join(format!("eoom-alloc-cg-{}", std::process::id()));
    let cg = root.join("work");
    std::fs::create_dir_all(&cg).unwrap();
    std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    // Read on every check to notice new cgroups at once.
    std::fs::write(
        root.join("cgroup.stat"),
        "nr_descendants 1\nnr_dying_descendants 0\n",
    )
    .unwrap();
    std::fs::write(root.join("memory.pressure"), "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
    for (f, v) in [
        ("memory.high", "314572800\n"),
        ("memory.current", "330000000\n"),
        ("memory.max", "524288000\n"),
        ("memory.swap.max", "0\n"),
        ("memory.swap.current", "0\n"),
        ("memory.events", "low 0\nhigh 1000\nmax 0\noom 0\noom_kill 0\n"),
        ("memory.pressure", "some avg10=80.00 avg60=70.00 avg300=20.00 total=9000000\nfull avg10=78.00 avg60=69.00 avg300=19.00 total=8000000\n"),
        ("memory.stat", "anon 328000000\nfile 1000000\nkernel 2000000\n"),
    ] {
        std::fs::write(cg.join(f), v).unwrap();
    }
    let mut g = Guard::new(CgroupRoot(root.clone()), GuardConfig::default()).unwrap();
    g.check(0.0, 0); // discovery and warm-up
    assert_eq!(g.watched.len(), 1);
    let n = count(|| {
        for _ in 0..20 {
            std::hint::black_box(g.check(0.0, 0));
        }
    });
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(n, 0, "allocations in 20 guard samples");
}

/// With `--cgroup-headroom`, `--cgroup-kill` and `--storm-guard`, a poll samples every
/// capped cgroup (one far from its line: two files; one near it: five) and allocates
/// nothing; discovery (at most once a second) and actions may.
#[test]
fn a_poll_with_the_scopes_allocates_nothing() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    let dir = std::env::temp_dir().join(format!("eoom-alloc-scopes-{}", std::process::id()));
    let cgroot = dir.join("cgroup");
    std::fs::create_dir_all(&cgroot).unwrap();
    std::fs::copy("tests/fixtures/meminfo/debian12-nosw", dir.join("meminfo")).unwrap();
    std::fs::write(cgroot.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    std::fs::write(cgroot.join("cgroup.stat"), "nr_descendants 2\n").unwrap();
    for (name, current) in [
        ("far.service", "100000000\n"),
        ("near.service", "440000000\n"),
    ] {
        let cg = cgroot.join(name);
        std::fs::create_dir_all(&cg).unwrap();
        for (f, v) in [
            ("memory.max", "524288000\n"),
            ("memory.current", current),
            ("memory.swap.max", "0\n"),
            ("memory.swap.current", "0\n"),
            ("memory.stat", "anon 430000000\nfile 10000000\nshmem 0\n"),
        ] {
            std::fs::write(cg.join(f), v).unwrap();
        }
    }
    let root = ProcRoot(dir.to_str().unwrap().as_bytes().to_vec());
    let cfg = Config {
        report_interval_ms: 100,
        cgroup_kill: true,
        storm_guard: true,
        ..Config::default()
    };
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&root.0).unwrap();
    let mut d = Daemon::new(settings, root, mem, RealSys::default());
    let hc = earlyoom::scope::HeadroomConfig {
        term_percent: 10.0,
        kill_percent: 5.0,
    };
    d.scopes = Some(earlyoom::scope::Scopes::new(CgroupRoot(cgroot.clone()), hc).unwrap());
    d.storms = Some(earlyoom::storm::Storms::default());
    d.iterate().unwrap(); // warm-up and discovery
    assert_eq!(d.scopes.as_ref().unwrap().capped.len(), 2);
    let n = count(|| {
        for _ in 0..20 {
            d.iterate().unwrap();
        }
    });
    let near = d.scopes.as_ref().unwrap().capped[1].last.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(near.0.file > 0, "the near cgroup was not read in full");
    assert_eq!(n, 0, "allocations in 20 polls with the scopes on");
}

/// With `--memory-pressure` and `--warn`, a poll reads /proc/pressure/memory and
/// /proc/vmstat and judges both and allocates nothing (a warning or a kill may).
#[test]
fn a_poll_with_pressure_and_warn_allocates_nothing() {
    let _g = ONE_AT_A_TIME.lock().unwrap();
    let dir = std::env::temp_dir().join(format!("eoom-alloc-psi-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pressure")).unwrap();
    std::fs::copy("tests/fixtures/meminfo/debian12-nosw", dir.join("meminfo")).unwrap();
    std::fs::write(
        dir.join("pressure/memory"),
        "some avg10=1.00 avg60=0.00 avg300=0.00 total=12345\nfull avg10=1.00 avg60=0.00 avg300=0.00 total=6789\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("vmstat"),
        "nr_free_pages 1\npswpin 10\npswpout 20\n",
    )
    .unwrap();
    let root = ProcRoot(dir.to_str().unwrap().as_bytes().to_vec());
    let cfg = Config {
        report_interval_ms: 100,
        memory_pressure: Some((40.0, Some(10.0))),
        warn_percent: Some(15.0),
        ..Config::default()
    };
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&root.0).unwrap();
    let mut d = Daemon::new(settings, root.clone(), mem, RealSys::default());
    d.pressure = Some(earlyoom::monitor::PressureWatch {
        trigger: earlyoom::pressure::Trigger::new(d.settings.pressure.unwrap()),
        sampler: earlyoom::pressure::Sampler::new(&root.0).unwrap(),
    });
    d.warn = Some(earlyoom::warn::Episodes::new(15.0));
    d.iterate().unwrap();
    let n = count(|| {
        for _ in 0..20 {
            d.iterate().unwrap();
        }
    });
    let read = d.counters.pressure_full_percent;
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(read.is_some(), "the pressure was not read");
    assert_eq!(n, 0, "allocations in 20 polls with pressure and warn on");
}
