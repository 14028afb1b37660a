//! The small resident modes: `idle` (sentinel, manyprocs), `zombie`, `heartbeat`
//! (livelock victim's bystander), `sample` (minimum MemAvailable, threshold crossing)
//! and `now` (the lab's clock for shell scripts).

use crate::args::Opts;
use crate::grow;
use crate::sys;

const KIB: usize = 1024;

/// Hold `--size` MiB (default 0), optionally fork idle children, sleep forever. Used for
/// the "protected service" sentinel and for the 1,500 processes of manyprocs (forking
/// them from one process is far cheaper under TCG than 1,500 shell spawns).
pub fn idle(o: &Opts) -> ! {
    grow::setup(o);
    for _ in 0..o.size_mib.unwrap_or(0) {
        sys::alloc_touch(1 << 20);
    }
    grow::spawn_children(o);
    sys::say(&format!(
        "idle {}: holding {} MiB",
        std::process::id(),
        o.size_mib.unwrap_or(0)
    ));
    sys::pause_forever();
}

/// Fork a child that exits at once and is never reaped: the child stays a zombie (state
/// Z, no memory, oom_score 0) for as long as we live. A killer must not waste its kill on
/// it nor wait on it forever.
pub fn zombie(o: &Opts) -> ! {
    grow::setup(o);
    let pid = sys::fork();
    if pid == 0 {
        sys::set_comm(o.child_name.as_deref().unwrap_or("zombie"));
        // SAFETY: _exit skips Rust/atexit teardown, which the forked child must not run.
        unsafe { libc::_exit(0) };
    }
    sys::say(&format!("zombie {pid}"));
    // SIGCHLD keeps its default disposition, which leaves the child as a zombie rather
    // than auto-reaping it (only an explicit SIG_IGN would do that).
    sys::pause_forever();
}

/// Every `--interval-ms`: touch and release 64 KiB (a little real work, the kind a
/// memory.high throttle stalls), print a beat and track the longest gap between beats.
/// SIGTERM prints the summary and exits.
pub fn heartbeat(o: &Opts) -> ! {
    grow::setup(o);
    sys::catch_term();
    // With --size: a latency-sensitive service's working set, all of it touched on every
    // beat (swapped out under thrashing, each beat then waits for it to come back).
    let ws = o
        .size_mib
        .map(|m| sys::WorkingSet::new(m as usize * (1 << 20)).unwrap_or_else(|| sys::die("mmap failed")));
    let mut last = sys::now_ms();
    let mut max_gap = 0;
    let mut beats: u64 = 0;
    loop {
        sys::touch_and_release(64 * KIB);
        if let Some(ws) = &ws {
            for i in 0..ws.pages() {
                ws.touch(i);
            }
        }
        let now = sys::now_ms();
        let gap = now - last;
        last = now;
        beats += 1;
        if gap > max_gap {
            max_gap = gap;
        }
        sys::say(&format!("beat {now} gap {gap} max {max_gap}"));
        if sys::got_term() {
            sys::say(&format!("heartbeat beats={beats} max_gap_ms={max_gap}"));
            std::process::exit(0);
        }
        sys::sleep_ms(o.interval_ms);
    }
}

/// `thrash`: hold `--size` MiB and write one byte of a random page of it, forever, as fast
/// as the pages come back: a random-access working set larger than RAM keeps the swap
/// device busy while swap itself stays mostly free. Prints a line when it holds the set.
pub fn thrash(o: &Opts) -> ! {
    grow::setup(o);
    let mib = o.size_mib.unwrap_or(256) as usize;
    let ws = sys::WorkingSet::new(mib << 20).unwrap_or_else(|| sys::die("mmap failed"));
    sys::say(&format!("thrash {}: holding {mib} MiB", std::process::id()));
    // xorshift64: no allocation, no dependency; the sequence need not be good, only spread.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ws.touch((x % ws.pages() as u64) as usize);
    }
}

/// Watch /proc/meminfo every `--interval-ms` and remember the minimum MemAvailable and
/// the first time available memory fell to `--pct` percent (the daemon's default SIGTERM
/// threshold): an independent witness of when memory ran low, to compare the daemon's
/// reaction against. The crossing is recorded for both percentage bases in use, percent
/// of MemAvailable+AnonPages (earlyoom 1.8+, this project) and percent of MemTotal
/// (earlyoom 1.7); the scenario picks the one matching the daemon's banner.
/// SIGTERM prints one summary line and exits.
pub fn sample(o: &Opts) -> ! {
    if let Some(name) = &o.name {
        sys::set_comm(name);
    }
    if let Some(path) = &o.pidfile {
        sys::write_pidfile(path, std::process::id());
    }
    sys::catch_term();
    let first = sys::now_ms();
    let mut samples: u64 = 0;
    let mut min_avail = u64::MAX;
    let mut min_at = 0;
    let mut cross_user: Option<u64> = None;
    let mut cross_total: Option<u64> = None;
    let mut total_at_min = 0;
    loop {
        let m = sys::meminfo();
        let now = sys::now_ms();
        samples += 1;
        if m.avail < min_avail {
            min_avail = m.avail;
            min_at = now;
            total_at_min = m.avail + m.anon;
        }
        if cross_user.is_none() && m.avail_pct_user() <= o.pct {
            cross_user = Some(now);
        }
        if cross_total.is_none() && m.avail_pct_total() <= o.pct {
            cross_total = Some(now);
        }
        if sys::got_term() {
            let show = |t: Option<u64>| t.map_or("-1".to_string(), |t| t.to_string());
            sys::say(&format!(
                "sample samples={samples} first_ms={first} min_avail_kib={min_avail} \
                 min_at_ms={min_at} user_total_kib={total_at_min} mem_total_kib={} \
                 cross_ms={} cross_total_ms={}",
                m.total,
                show(cross_user),
                show(cross_total)
            ));
            std::process::exit(0);
        }
        sys::sleep_ms(o.interval_ms);
    }
}
