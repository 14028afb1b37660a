//! The scopes in the whole loop (docs/scopes.md): `--cgroup-headroom` acting inside a
//! capped cgroup, `--cgroup-kill` taking a workload cgroup whole or refusing to, the storm
//! guard killing a forking parent, and the reasons given when nothing is killed. Driven
//! in-process over a fixture /proc and a fake cgroup v2 tree, with the recorder
//! (tests/fixture) as the kernel: no root needed, nothing real is ever signalled.

mod fixture;
use earlyoom::cgroup::CgroupRoot;
use earlyoom::cli::Config;
use earlyoom::meminfo;
use earlyoom::metrics::{NoKill, Reason};
use earlyoom::monitor::Daemon;
use earlyoom::scope::Scopes;
use earlyoom::settings::Settings;
use earlyoom::storm::Storms;
use earlyoom::victim::Matchers;
use fixture::*;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;

fn matchers(avoid: Option<&str>, ignore: Option<&str>) -> Config {
    Config {
        avoid: avoid.map(|s| s.as_bytes().to_vec()),
        ignore: ignore.map(|s| s.as_bytes().to_vec()),
        ..Config::default()
    }
}

fn daemon(t: &Tree, cfg: Config) -> Daemon<Recorder> {
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&t.root().0).unwrap();
    let mut d = Daemon::new(settings, t.root(), mem, Recorder::default());
    d.scanner.set_my_pid(999_999);
    d.cgroup_root = CgroupRoot(t.dir.join("cgroup"));
    d.my_cgroup.set(b"/system.slice/earlyoom.service");
    d.cgroup_kill = d.settings.cgroup_kill;
    d
}

/// The fake hierarchy's root, with the memory controller.
fn cgroup_root(t: &Tree) -> PathBuf {
    let root = t.dir.join("cgroup");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    std::fs::write(root.join("cgroup.stat"), "nr_descendants 3\n").unwrap();
    root
}

/// Cgroup `rel` with `procs` (each pid's /proc/PID/cgroup says so), memory.max `max_mib`
/// (None: "max") and usage `current_mib` of which `file_mib` is page cache; no swap.
fn cgroup(
    t: &Tree,
    rel: &str,
    procs: &[i32],
    max_mib: Option<u64>,
    current_mib: u64,
    file_mib: u64,
) -> PathBuf {
    let dir = cgroup_root(t).join(rel);
    std::fs::create_dir_all(&dir).unwrap();
    let list: String = procs.iter().map(|p| format!("{p}\n")).collect();
    std::fs::write(dir.join("cgroup.procs"), list).unwrap();
    let max = max_mib.map_or("max".to_string(), |m| (m * MIB).to_string());
    std::fs::write(dir.join("memory.max"), format!("{max}\n")).unwrap();
    std::fs::write(dir.join("memory.swap.max"), "0\n").unwrap();
    std::fs::write(dir.join("memory.swap.current"), "0\n").unwrap();
    set_usage(&dir, current_mib, file_mib);
    for p in procs {
        std::fs::write(
            t.dir.join(p.to_string()).join("cgroup"),
            format!("0::/{rel}\n"),
        )
        .unwrap();
    }
    dir
}

fn set_usage(dir: &Path, current_mib: u64, file_mib: u64) {
    std::fs::write(
        dir.join("memory.current"),
        format!("{}\n", current_mib * MIB),
    )
    .unwrap();
    std::fs::write(
        dir.join("memory.stat"),
        format!(
            "anon {}\nfile {}\nshmem 0\n",
            (current_mib - file_mib) * MIB,
            file_mib * MIB
        ),
    )
    .unwrap();
}

fn with_headroom(d: &mut Daemon<Recorder>, t: &Tree, term: f64, kill: f64) {
    let cfg = earlyoom::scope::HeadroomConfig {
        term_percent: term,
        kill_percent: kill,
    };
    d.scopes = Some(Scopes::new(CgroupRoot(t.dir.join("cgroup")), cfg).unwrap());
}

/// The lab's `slice-avoid` in miniature: the machine is fine, the capped cgroup is at 6 %
/// headroom; the victim is the hog inside it, not the larger process outside it nor the
/// avoided service inside it; its kill counts with reason `cgroup`.
#[test]
fn headroom_kills_inside_the_cgroup_with_the_main_rules() {
    let t = Tree::new(
        "scope-basic",
        &[
            p(70, "outside", 990, 1000),
            p(80, "svc", 550, 300),
            p(90, "hog", 300, 200),
        ],
    );
    set_memory(&t, 60.0);
    cgroup(&t, "slice", &[80, 90], Some(500), 470, 1);
    let mut d = daemon(&t, matchers(Some("^svc$"), None));
    with_headroom(&mut d, &t, 10.0, 5.0);
    let ms = d.iterate().unwrap();
    assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)]);
    assert_eq!(d.counters.kills[Reason::Cgroup as usize], [1, 0]);
    assert_eq!(d.counters.kills[Reason::Memory as usize], [0, 0]);
    assert_eq!(
        ms, 100,
        "a small cgroup near its line is sampled every 100 ms"
    );
}

/// Page cache is room: a cgroup filled to its max with cache is no reason to kill. Below
/// the SIGKILL line the signal is SIGKILL.
#[test]
fn page_cache_is_room_and_the_kill_line_sends_sigkill() {
    let t = Tree::new("scope-cache", &[p(90, "hog", 300, 200)]);
    set_memory(&t, 60.0);
    let dir = cgroup(&t, "slice", &[90], Some(500), 499, 200);
    let mut d = daemon(&t, Config::default());
    with_headroom(&mut d, &t, 10.0, 5.0);
    let ms = d.iterate().unwrap();
    assert!(d.sys.signals.is_empty(), "{:?}", d.sys.signals);
    set_usage(&dir, 490, 1);
    d.sleep(ms); // each cgroup is sampled on its own schedule
    d.iterate().unwrap();
    assert_eq!(d.sys.signals, vec![(90, libc::SIGKILL)]);
}

/// Nested limits: a slice capped above a scope without a cap of its own; the slice is at
/// its line, so the victim comes from its whole subtree. A tighter cgroup elsewhere is
/// acted on first.
#[test]
fn the_capped_ancestor_decides_for_its_subtree_and_the_tightest_goes_first() {
    let t = Tree::new(
        "scope-nested",
        &[
            p(80, "a", 300, 100),
            p(90, "b", 200, 100),
            p(95, "c", 100, 100),
        ],
    );
    set_memory(&t, 60.0);
    cgroup(&t, "user.slice", &[], Some(700), 640, 0);
    cgroup(&t, "user.slice/session-1.scope", &[80], None, 600, 0);
    cgroup(&t, "system.slice", &[], None, 100, 0);
    let build = cgroup(
        &t,
        "system.slice/build.service",
        &[90, 95],
        Some(300),
        290,
        0,
    );
    let mut d = daemon(&t, Config::default());
    with_headroom(&mut d, &t, 10.0, 5.0);
    d.iterate().unwrap();
    // build.service: 3.3 % headroom (SIGKILL), user.slice 8.6 %: build.service first.
    assert_eq!(d.sys.signals, vec![(90, libc::SIGKILL)]);
    set_usage(&build, 100, 0);
    d.sleep(100);
    d.iterate().unwrap();
    assert_eq!(d.sys.signals[1], (80, libc::SIGTERM), "{:?}", d.sys.signals);
}

/// While the victim ignores SIGTERM, the cgroup reaching its SIGKILL line escalates (its
/// headroom decides, not the machine's memory, which is fine).
#[test]
fn the_cgroups_kill_line_escalates_while_waiting() {
    let t = Tree::new("scope-escalate", &[p(90, "hog", 300, 200)]);
    set_memory(&t, 60.0);
    let dir = cgroup(&t, "slice", &[90], Some(500), 470, 0);
    let mut d = daemon(&t, Config::default());
    with_headroom(&mut d, &t, 10.0, 5.0);
    d.sys.stuck = true;
    let grow = dir.clone();
    d.sys.after_first_signal = Some(Box::new(move || set_usage(&grow, 490, 0)));
    d.iterate().unwrap();
    assert_eq!(
        d.sys.signals,
        vec![(90, libc::SIGTERM), (90, libc::SIGKILL)]
    );
}

/// Every process in the cgroup is protected: no signal, the reason counted, and the
/// cgroup is left alone for a second (not scanned on every 100 ms poll).
#[test]
fn a_cgroup_with_nothing_to_kill_says_why_and_backs_off() {
    let mut prot = p(90, "db", 300, 200);
    prot.oom_score_adj = -1000;
    let t = Tree::new("scope-whynot", &[prot, p(91, "ignored", 200, 100)]);
    set_memory(&t, 60.0);
    cgroup(&t, "slice", &[90, 91], Some(500), 480, 0);
    let mut d = daemon(&t, matchers(None, Some("^ignored$")));
    with_headroom(&mut d, &t, 10.0, 5.0);
    for _ in 0..5 {
        let ms = d.iterate().unwrap();
        d.sleep(ms);
    }
    assert!(d.sys.signals.is_empty());
    let n = d.counters.no_kill[NoKill::NoneEligible as usize];
    assert!((1..=2).contains(&n), "scanned {n} times in 0.5 s");
}

/// The machine's own rule with every process ignored: earlyoom's line, then ours, counted.
#[test]
fn every_candidate_ignored_is_counted_as_none_eligible() {
    let t = Tree::new("scope-none", &[p(80, "a", 300, 100), p(90, "b", 200, 100)]);
    set_memory(&t, 8.0);
    let mut d = daemon(&t, matchers(None, Some("^(a|b)$")));
    d.iterate().unwrap();
    d.iterate().unwrap();
    assert!(d.sys.signals.is_empty());
    assert_eq!(d.counters.no_kill[NoKill::NoneEligible as usize], 2);
    assert_eq!(
        d.sys.slept_ms, 2000,
        "earlyoom's one-second sleep after each"
    );
}

/// `--cgroup-kill`: the victim's leaf cgroup is an application scope: the whole cgroup
/// goes, through cgroup.kill, and each member counts as a SIGKILL.
#[test]
fn cgroup_kill_takes_a_workload_cgroup_whole() {
    let t = Tree::new(
        "cgkill",
        &[
            p(90, "hog", 900, 300),
            p(91, "worker", 100, 10),
            p(92, "worker", 100, 10),
            p(50, "other", 200, 10),
        ],
    );
    set_memory(&t, 8.0);
    let dir = cgroup(
        &t,
        "user.slice/user-1000.slice/app-build-1.scope",
        &[90, 91, 92],
        None,
        300,
        0,
    );
    let cfg = Config {
        cgroup_kill: true,
        ..Config::default()
    };
    let mut d = daemon(&t, cfg);
    d.iterate().unwrap();
    let kill = dir.join("cgroup.kill");
    assert_eq!(
        d.sys.controls,
        vec![(kill.as_os_str().as_encoded_bytes().to_vec(), b"1".to_vec())]
    );
    // Stopped first (so that no member forks while the rest die), killed by the kernel.
    let mut sent = d.sys.signals.clone();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            (90, libc::SIGSTOP),
            (91, libc::SIGSTOP),
            (92, libc::SIGSTOP)
        ]
    );
    assert_eq!(d.counters.kills[Reason::Memory as usize], [0, 3]);
}

/// Before Linux 5.14 (no cgroup.kill): each pinned member gets SIGKILL.
#[test]
fn cgroup_kill_without_cgroup_kill_file_kills_each_member() {
    let t = Tree::new(
        "cgkill-old",
        &[p(90, "hog", 900, 300), p(91, "worker", 100, 10)],
    );
    set_memory(&t, 8.0);
    cgroup(&t, "app.scope", &[90, 91], None, 300, 0);
    let mut d = daemon(
        &t,
        Config {
            cgroup_kill: true,
            ..Config::default()
        },
    );
    d.sys.no_cgroup_kill = Some(libc::ENOENT);
    d.iterate().unwrap();
    let mut sent: Vec<_> = d
        .sys
        .signals
        .iter()
        .filter(|s| s.1 != libc::SIGSTOP)
        .copied()
        .collect();
    sent.sort();
    assert_eq!(sent, vec![(90, libc::SIGKILL), (91, libc::SIGKILL)]);
    let freeze = |v: &[u8]| {
        d.sys
            .controls
            .iter()
            .any(|(p, w)| p.ends_with(b"cgroup.freeze") && w == v)
    };
    assert!(
        freeze(b"1") && freeze(b"0"),
        "frozen and thawed: {:?}",
        d.sys.controls
    );
}

/// Never whole: a cgroup holding an `--avoid`ed process (the victim dies alone, SIGTERM),
/// a login session, a cgroup that holds the daemon, one that is neither a unit nor marked
/// memory.oom.group; marked, any cgroup is a workload.
#[test]
fn cgroup_kill_refuses_protected_and_non_workload_cgroups() {
    for (rel, avoid, oom_group, whole) in [
        ("app.scope", Some("^keeper$"), false, false),
        ("user.slice/session-2.scope", None, false, false),
        ("system.slice/earlyoom.service", None, false, false),
        ("work", None, false, false),
        ("work", None, true, true),
        ("app.scope", None, false, true),
        // A service's cgroup holds its daemon: whole only with memory.oom.group.
        ("cron.service", None, false, false),
        ("cron.service", None, true, true),
    ] {
        let t = Tree::new(
            "cgkill-no",
            &[p(90, "hog", 900, 300), p(91, "keeper", 100, 10)],
        );
        set_memory(&t, 8.0);
        let dir = cgroup(&t, rel, &[90, 91], None, 300, 0);
        if oom_group {
            std::fs::write(dir.join("memory.oom.group"), "1\n").unwrap();
        }
        let mut cfg = matchers(avoid, None);
        cfg.cgroup_kill = true;
        let mut d = daemon(&t, cfg);
        d.iterate().unwrap();
        if whole {
            assert_eq!(d.sys.controls.len(), 1, "{rel}");
        } else {
            assert!(d.sys.controls.is_empty(), "{rel}");
            assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)], "{rel}");
        }
    }
}

/// A fork storm: children of one shell killed one after another while memory stays low.
/// The third kill within the window goes to the shell and its subtree (stopped first,
/// then SIGKILL), sparing its protected descendant; an unrelated process is untouched.
#[test]
fn the_storm_guard_kills_the_forking_parent_on_the_third_kill() {
    let mut procs = vec![p(300, "sh", 10, 100), p(50, "svc", 200, 100)];
    for (i, pid) in [401, 402, 403, 404].into_iter().enumerate() {
        let mut c = p(pid, "child", 500 - i as i32, 4096);
        c.ppid = 300;
        procs.push(c);
    }
    let mut kept = p(405, "keeper", 1, 10);
    kept.ppid = 300;
    kept.oom_score_adj = -1000;
    procs.push(kept);
    let t = Tree::new("storm", &procs);
    // Booted 20 s ago: the fixture's start times (1000 + pid ticks) make everyone ~6 s old.
    std::fs::write(t.dir.join("uptime"), "20.00 30.00\n").unwrap();
    set_memory(&t, 8.0);
    let cfg = Config {
        storm_guard: true,
        ..matchers(Some("^svc$"), None)
    };
    let mut d = daemon(&t, cfg);
    d.storms = Some(Storms::default());
    for victim in [401, 402] {
        d.iterate().unwrap();
        assert_eq!(d.sys.signals.last(), Some(&(victim, libc::SIGTERM)));
        std::fs::remove_dir_all(t.dir.join(victim.to_string())).unwrap();
    }
    d.sys.signals.clear();
    d.iterate().unwrap();
    let s = &d.sys.signals;
    for pid in [300, 403, 404] {
        assert!(
            s.contains(&(pid, libc::SIGSTOP)),
            "{pid} not stopped: {s:?}"
        );
        assert!(s.contains(&(pid, libc::SIGKILL)), "{pid} not killed: {s:?}");
    }
    assert!(!s.iter().any(|(p, _)| *p == 405 || *p == 50), "{s:?}");
    assert_eq!(d.counters.storms, 1);
    assert_eq!(d.counters.kills[Reason::Storm as usize], [0, 3]);
}

/// The same storm from a service manager (`systemd`): never its source; the children are
/// killed one by one as without the guard.
#[test]
fn a_service_manager_is_never_a_storms_source() {
    let mut procs = vec![p(300, "systemd", 10, 100)];
    for (i, pid) in [401, 402, 403].into_iter().enumerate() {
        let mut c = p(pid, "child", 500 - i as i32, 4096);
        c.ppid = 300;
        procs.push(c);
    }
    let t = Tree::new("storm-mgr", &procs);
    std::fs::write(t.dir.join("uptime"), "20.00 30.00\n").unwrap();
    set_memory(&t, 8.0);
    let mut d = daemon(
        &t,
        Config {
            storm_guard: true,
            ..Config::default()
        },
    );
    d.storms = Some(Storms::default());
    for victim in [401, 402, 403] {
        d.iterate().unwrap();
        assert_eq!(d.sys.signals.last(), Some(&(victim, libc::SIGTERM)));
        std::fs::remove_dir_all(t.dir.join(victim.to_string())).unwrap();
    }
    assert_eq!(d.counters.storms, 0);
    let _ = Matchers::default();
}

/// Whole-cgroup kills go by the kill path's mechanism: where pidfds are missing, each
/// member's /proc/PID directory; where pidfd_send_signal is missing too, kill(2) after the
/// start-time check. (A set that could not be signalled at all would leave the victim alive.)
#[test]
fn cgroup_kill_signals_by_the_mechanism_the_self_test_found() {
    use earlyoom::kill::Mechanism;
    for (mech, via) in [(Mechanism::ProcDir, "procdir"), (Mechanism::Kill, "kill")] {
        let t = Tree::new(
            "cgkill-mech",
            &[p(90, "hog", 900, 300), p(91, "worker", 100, 10)],
        );
        set_memory(&t, 8.0);
        cgroup(&t, "app.scope", &[90, 91], None, 300, 0);
        let mut d = daemon(
            &t,
            Config {
                cgroup_kill: true,
                ..Config::default()
            },
        );
        d.killer.mech = mech;
        d.sys.no_cgroup_kill = Some(libc::EROFS);
        d.iterate().unwrap();
        let kills: Vec<_> = d
            .sys
            .signals
            .iter()
            .filter(|s| s.1 == libc::SIGKILL)
            .collect();
        assert_eq!(kills.len(), 2, "{mech:?}: {:?}", d.sys.signals);
        assert!(
            d.sys.via.iter().all(|v| *v == via),
            "{mech:?}: {:?}",
            d.sys.via
        );
        assert!(d.sys.opened.is_empty(), "no pidfd taken with {mech:?}");
    }
}

/// A pid listed in cgroup.procs that is no longer in the cgroup (moved, or a pid read from a
/// list that changed) is never stopped nor killed; members still there after the wait are
/// resumed (SIGCONT) and passed over by later scans.
#[test]
fn cgroup_kill_leaves_outsiders_alone_and_resumes_the_stuck() {
    let t = Tree::new(
        "cgkill-out",
        &[
            p(90, "hog", 900, 300),
            p(91, "worker", 100, 10),
            p(92, "outsider", 50, 10),
        ],
    );
    set_memory(&t, 8.0);
    cgroup(&t, "app.scope", &[90, 91, 92], None, 300, 0);
    std::fs::write(t.dir.join("92/cgroup"), "0::/user.slice/other.scope\n").unwrap();
    let mut d = daemon(
        &t,
        Config {
            cgroup_kill: true,
            ..Config::default()
        },
    );
    d.sys.stuck = true;
    d.iterate().unwrap();
    let s = &d.sys.signals;
    assert!(
        !s.iter().any(|(p, _)| *p == 92),
        "the outsider was signalled: {s:?}"
    );
    for pid in [90, 91] {
        assert!(s.contains(&(pid, libc::SIGSTOP)), "{s:?}");
        assert!(
            s.contains(&(pid, libc::SIGCONT)),
            "{pid} left stopped: {s:?}"
        );
        assert!(d.scanner.unkillable.contains(pid, 1000 + pid as u64));
    }
}

/// `--dryrun` with every scope option: the lines say "would", nothing is stopped, killed
/// or written.
#[test]
fn dry_run_stops_kills_and_writes_nothing() {
    let mut procs = vec![p(300, "sh", 10, 100)];
    for (i, pid) in [401, 402, 403].into_iter().enumerate() {
        let mut c = p(pid, "child", 500 - i as i32, 4096);
        c.ppid = 300;
        procs.push(c);
    }
    let t = Tree::new("dry", &procs);
    std::fs::write(t.dir.join("uptime"), "20.00 30.00\n").unwrap();
    set_memory(&t, 8.0);
    cgroup(&t, "app.scope", &[300, 401, 402, 403], None, 300, 0);
    let cfg = Config {
        dryrun: true,
        cgroup_kill: true,
        storm_guard: true,
        ..Config::default()
    };
    let mut d = daemon(&t, cfg);
    d.storms = Some(Storms::default());
    for _ in 0..4 {
        d.iterate().unwrap();
    }
    assert!(d.sys.signals.is_empty(), "{:?}", d.sys.signals);
    assert!(d.sys.controls.is_empty(), "{:?}", d.sys.controls);
    assert!(d.counters.no_kill[NoKill::DryRun as usize] >= 4);
}
