//! The memory hog proper (`grow` mode) and the shared process setup (session, cgroup,
//! oom_score_adj, comm, uid, pidfile, children) that `idle` reuses.

use crate::args::{OnTerm, Opts};
use crate::sys;

const MIB: usize = 1 << 20;

/// Process setup common to the resident modes. Order matters: leave the parent's session
/// first (children forked later must share our group), join the cgroup before touching
/// memory, set oom_score_adj while still root, write the pidfile before dropping
/// privileges (the scenario's /tmp file), and drop the uid last.
pub fn setup(o: &Opts) {
    if o.setsid {
        sys::setsid();
    }
    if let Some(dir) = &o.cgroup {
        sys::join_cgroup(dir);
    }
    // Always write the adj: the lab shell runs at -1000 so that the daemon never picks
    // lab plumbing, and a test process must not inherit that protection by accident.
    sys::set_oom_score_adj(o.adj.unwrap_or(0));
    if let Some(name) = &o.name {
        sys::set_comm(name);
    }
    if let Some(path) = &o.pidfile {
        sys::write_pidfile(path, std::process::id());
    }
    if let Some(uid) = o.uid {
        sys::become_uid(uid);
    }
}

/// Fork `o.fork` children that hold `child_size_mib` and sleep. They keep the default
/// SIGTERM action whatever the parent does, so a group kill ends them at once.
pub fn spawn_children(o: &Opts) {
    let mut pids = Vec::new();
    for _ in 0..o.fork {
        let pid = sys::fork();
        if pid == 0 {
            if let Some(name) = o.child_name.as_ref().or(o.name.as_ref()) {
                sys::set_comm(name);
            }
            for _ in 0..o.child_size_mib {
                sys::alloc_touch(MIB);
            }
            sys::pause_forever();
        }
        pids.push(pid);
    }
    // One line per child: the pgroup scenario checks every member, and the manyprocs
    // scenario only needs the count, so a short summary is printed for large counts.
    if o.fork <= 16 {
        for pid in &pids {
            sys::say(&format!("child {pid}"));
        }
    } else {
        sys::say(&format!("children {}", pids.len()));
    }
}

pub fn run(o: &Opts) -> ! {
    setup(o);
    spawn_children(o);
    match o.on_term {
        OnTerm::Die => {}
        OnTerm::Ignore => sys::ignore_term(),
        OnTerm::Hold | OnTerm::Grow => sys::catch_term(),
    }
    let pid = std::process::id();
    let mut held: u64 = 0;
    // Set once SIGTERM arrived with --on-term grow: from then on no size/rate/avail limit.
    let mut unlimited = false;
    let start = sys::now_ms();
    loop {
        // Growth phase.
        let why = loop {
            if sys::got_term() {
                match o.on_term {
                    OnTerm::Hold => break "SIGTERM",
                    OnTerm::Grow if !unlimited => {
                        unlimited = true;
                        sys::say(&format!("hog {pid}: SIGTERM, growing without limit"));
                    }
                    _ => {}
                }
            }
            if !unlimited {
                if o.size_mib.is_some_and(|s| held >= s) {
                    break "size";
                }
                if let Some(p) = o.until_avail_pct {
                    if sys::meminfo().avail_pct_user() <= p {
                        break "avail";
                    }
                }
                if let Some(rate) = o.rate_mibps {
                    // Pace against the start time rather than sleeping a fixed amount per
                    // chunk, so slow page faults do not make the real rate drift lower.
                    let due = start + (held as f64 * 1000.0 / rate) as u64;
                    let now = sys::now_ms();
                    if due > now {
                        sys::sleep_ms(due - now);
                        continue; // re-check the SIGTERM flag after the sleep
                    }
                }
            }
            if !sys::alloc_touch(MIB) {
                break "mmap failed";
            }
            held += 1;
            if held.is_multiple_of(64) {
                sys::say(&format!("hog {pid}: holding {held} MiB"));
            }
        };
        sys::say(&format!("hog {pid}: holding {held} MiB (stopped: {why})"));
        // Hold phase: sleep until a signal; only --on-term grow can restart growth.
        loop {
            sys::pause_once();
            if o.on_term == OnTerm::Grow && sys::got_term() && !unlimited {
                break;
            }
        }
    }
}
