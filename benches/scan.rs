//! Library-level measurements for benches/compare.sh: one victim scan of /proc and one
//! monitoring-loop iteration (meminfo read + decision), each timed and counted by a global
//! allocator. Read-only: it never signals anything and never touches the debug log.
//!
//! Built as a plain `fn main()` program: Cargo.toml declares it as `[[bench]] name = "scan"`
//! with `harness = false`, so `cargo bench --bench scan -- --scans 50` runs it. compare.sh
//! instead builds it as a binary of a throw-away package in $CARGO_TARGET_DIR that depends on
//! this one, so that it can run inside the benchmark's PID namespace without cargo.
//!
//! Output: one `key=value` line per measurement, e.g.
//! `scan procs=10003 scans=50 median_us=... cpu_median_us=... allocs_per_scan=0`: wall time
//! and this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which is the steadier figure on a
//! shared machine; per_proc_ns is CPU time per process.
#![cfg_attr(test, allow(dead_code))]

use earlyoom::decide::{decide, sleep_time_ms, Limits};
use earlyoom::meminfo::Reader;
use earlyoom::proc::{ProcDir, ProcRoot};
use earlyoom::victim::{Matchers, Options, Scanner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Counts allocations and reallocations while `COUNTING` is set (the program is
/// single-threaded, so no per-thread filter is needed).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f`, returning its result and the number of allocations it made.
fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let r = f();
    COUNTING.store(false, Ordering::Relaxed);
    (r, ALLOCS.load(Ordering::Relaxed))
}

/// CPU time of this thread, in µs: unlike wall time it does not grow while other tasks
/// hold the CPU (the benchmark machine may be shared).
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Thread-group leaders listed in /proc, as the scan sees them.
fn count_procs() -> usize {
    let dir = ProcDir::open(&ProcRoot::default()).expect("open /proc");
    let mut buf = vec![std::mem::MaybeUninit::uninit(); 32 * 1024];
    let mut n = 0;
    dir.for_each_pid(&mut buf, |_| n += 1)
        .expect("getdents64 /proc");
    n
}

struct Args {
    scans: usize,
    iters: usize,
    rounds: usize,
    skip_scan: bool,
    skip_loop: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        scans: 50,
        iters: 2000,
        rounds: 21,
        skip_scan: false,
        skip_loop: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |what: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a positive integer"))
        };
        match arg.as_str() {
            "--scans" => a.scans = num("--scans").max(1),
            "--iters" => a.iters = num("--iters").max(1),
            "--rounds" => a.rounds = num("--rounds").max(1),
            "--no-scan" => a.skip_scan = true,
            "--no-loop" => a.skip_loop = true,
            // `cargo bench` passes --bench; libtest-style filters are ignored.
            _ => {}
        }
    }
    a
}

/// Victim scans as the daemon does them without -d: median wall time and allocations.
fn bench_scan(scans: usize) {
    let procs = count_procs();
    let mut s = Scanner::new(
        ProcRoot::default(),
        Options {
            sort_by_rss: false,
            ignore_root_user: false,
        },
        Matchers::default(),
    );
    // The first scan is the daemon's startup self-test; report its allocations separately.
    let (first, first_allocs) = counted(|| s.scan().expect("scan"));
    black_box(first);
    for _ in 0..2 {
        black_box(s.scan().expect("scan"));
    }
    let mut times = Vec::with_capacity(scans);
    let mut cpu = Vec::with_capacity(scans);
    let mut allocs = 0;
    for _ in 0..scans {
        let c = thread_cpu_us();
        let t = Instant::now();
        let (sel, n) = counted(|| s.scan().expect("scan"));
        let dt = t.elapsed();
        cpu.push(thread_cpu_us() - c);
        black_box(sel);
        allocs += n;
        times.push(dt.as_secs_f64() * 1e6);
    }
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let med = median(&mut times);
    let cpu_med = median(&mut cpu);
    println!(
        "scan procs={procs} scans={scans} median_us={med:.1} min_us={min:.1} max_us={max:.1} \
         cpu_median_us={cpu_med:.1} per_proc_ns={:.0} allocs_per_scan={} \
         first_scan_allocs={first_allocs}",
        cpu_med * 1000.0 / procs.max(1) as f64,
        allocs as f64 / scans as f64,
    );
}

/// One poll of the monitoring loop without a kill: pread /proc/meminfo, parse, decide, and
/// compute the adaptive sleep (monitor.rs `iterate` minus reaping and the -r report line).
fn bench_loop(iters: usize, rounds: usize) {
    let mut r = Reader::open(b"/proc").expect("open /proc/meminfo");
    // earlyoom's defaults: -m 10 (SIGKILL at 5), -s 10 (SIGKILL at 5).
    let limits = Limits {
        mem_term_percent: 10.0,
        mem_kill_percent: 5.0,
        swap_term_percent: 10.0,
        swap_kill_percent: 5.0,
    };
    let mut poll = || {
        let m = r.read().expect("read /proc/meminfo");
        black_box((decide(&m, &limits), sleep_time_ms(&m, &limits)));
    };
    for _ in 0..100 {
        poll();
    }
    let mut per_iter = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    let mut allocs = 0;
    for _ in 0..rounds {
        let c = thread_cpu_us();
        let t = Instant::now();
        let ((), n) = counted(|| {
            for _ in 0..iters {
                poll();
            }
        });
        per_iter.push(t.elapsed().as_secs_f64() * 1e9 / iters as f64);
        cpu.push((thread_cpu_us() - c) * 1e3 / iters as f64);
        allocs += n;
    }
    let med = median(&mut per_iter);
    let cpu_med = median(&mut cpu);
    println!(
        "loop iters={} median_ns={med:.0} cpu_median_ns={cpu_med:.0} allocs_per_iter={}",
        iters * rounds,
        allocs as f64 / (iters * rounds) as f64
    );
}

fn main() {
    let a = parse_args();
    // Self-check: the counter must see allocations, or "0 allocations" would mean nothing.
    let (v, n) = counted(|| black_box(vec![0u8; 16]));
    drop(v);
    assert!(n >= 1, "the counting allocator is not installed");
    if !a.skip_scan {
        bench_scan(a.scans);
    }
    if !a.skip_loop {
        bench_loop(a.iters, a.rounds);
    }
}
