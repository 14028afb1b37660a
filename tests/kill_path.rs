//! The kill path behind the recorder (tests/fixture): identity pinning, hooks, `-g`, the
//! bounded wait and escalation, a namespace's init, the pidfd fallbacks; and the real
//! kernel path on children this test spawned. Fixture pids are real pids on the host, so
//! only the recorder ever "signals" them.

mod fixture;
use earlyoom::kill::{Killer, Mechanism, Outcome, Signal};
use earlyoom::metrics::Reason;
use earlyoom::proc::ProcRoot;
use earlyoom::seam::RealSys;
use earlyoom::settings::KillSettings;
use earlyoom::victim::{Matchers, Options, Scanner, Victim};
use fixture::*;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

const DEFAULT: Options = Options {
    sort_by_rss: false,
    ignore_root_user: false,
};

fn killer(cfg: KillSettings) -> Killer {
    Killer::new(cfg)
}

fn kill(k: &mut Killer, r: &mut Recorder, t: &Tree, v: &Victim, sig: Signal) -> Outcome {
    let mut w = FixedWatch::new(t);
    k.kill(r, v, sig, Reason::Memory, &mut w).unwrap()
}

#[test]
fn kill_goes_to_the_scanned_process_only() {
    let t = Tree::new("rec", &[p(90, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    let v = s.scan_once();
    let (mut k, mut r) = (killer(KillSettings::default()), Recorder::default());
    assert!(matches!(
        kill(&mut k, &mut r, &t, &v, Signal::Term),
        Outcome::Exited { .. }
    ));
    assert_eq!(r.signals, vec![(90, libc::SIGTERM)]);

    // The pid is taken by another process between scan and kill: nothing is sent.
    let mut replaced = p(90, "hog", 900, 100);
    replaced.starttime = 555_555;
    t.write(&replaced);
    let (mut k, mut r) = (killer(KillSettings::default()), Recorder::default());
    assert_eq!(
        kill(&mut k, &mut r, &t, &v, Signal::Term),
        Outcome::Replaced
    );
    assert!(r.signals.is_empty(), "{:?}", r.signals);
}

/// Finding 13 of issue 12: hooks are run only for a victim whose identity was proven. A
/// victim replaced since the scan gets no -P (which used to run before the check) and no
/// -N (which used to run even after the check refused the pid), so a hook acting on
/// EARLYOOM_PID can never act on an innocent process.
#[test]
fn no_hook_runs_for_a_replaced_victim() {
    let t = Tree::new("hookrep", &[p(91, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    let v = s.scan_once();
    let hook = t.dir.join("hook.sh").as_os_str().as_bytes().to_vec();
    let cfg = KillSettings {
        pre_hook: Some(hook.clone()),
        post_hook: Some(hook.clone()),
        ..Default::default()
    };
    let mut replaced = p(91, "hog", 900, 100);
    replaced.starttime = 777_777;
    t.write(&replaced);
    let mut r = Recorder::default();
    let mut k = killer(cfg.clone());
    assert_eq!(
        kill(&mut k, &mut r, &t, &v, Signal::Term),
        Outcome::Replaced
    );
    assert!(r.spawned.is_empty(), "a hook ran for a replaced victim");
    assert!(r.signals.is_empty());
    // The same victim, still itself: -P before the signal, -N after.
    t.write(&p(91, "hog", 900, 100));
    let v = s.scan_once();
    let mut r = Recorder::default();
    let mut k = killer(cfg);
    assert!(matches!(
        kill(&mut k, &mut r, &t, &v, Signal::Term),
        Outcome::Exited { .. }
    ));
    assert_eq!(r.spawned, [hook.clone(), hook]);
    assert_eq!(r.signals, vec![(91, libc::SIGTERM)]);
}

#[test]
fn dryrun_and_group_kill() {
    let t = Tree::new("dry", &[p(95, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    let v = s.scan_once();
    let mut r = Recorder::default();
    let mut k = killer(KillSettings {
        dryrun: true,
        ..Default::default()
    });
    assert_eq!(kill(&mut k, &mut r, &t, &v, Signal::Kill), Outcome::DryRun);
    assert!(r.opened.is_empty() && r.signals.is_empty());
    let mut r = Recorder::default();
    let mut k = killer(KillSettings {
        kill_group: true,
        ..Default::default()
    });
    kill(&mut k, &mut r, &t, &v, Signal::Term);
    assert_eq!(r.signals[0], (-95, libc::SIGTERM));
}

/// Findings 7 and 8 of issue 12: `-g` falls back to the victim alone where the group
/// cannot be signalled safely: group 1 (a container whose PID 1 leads the session), 0 (not
/// visible in our PID namespace) and the daemon's own group (which used to kill the daemon).
#[test]
fn group_kill_falls_back_to_the_victim_alone() {
    let t = Tree::new("grp", &[p(96, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    // SAFETY: plain getter.
    let own = unsafe { libc::getpgrp() };
    for pgid in [0, 1, own] {
        let v = s.scan_once();
        let mut r = Recorder {
            pgid: Some(pgid),
            ..Default::default()
        };
        let mut k = killer(KillSettings {
            kill_group: true,
            ..Default::default()
        });
        assert!(matches!(
            kill(&mut k, &mut r, &t, &v, Signal::Term),
            Outcome::Exited { .. }
        ));
        assert_eq!(r.signals, vec![(96, libc::SIGTERM)], "pgid {pgid}");
        assert_eq!(r.via, vec!["pidfd"], "pgid {pgid}");
    }
}

/// `-g` escalation never signals a group the pinned victim no longer belongs to (then its
/// id may have been recycled for another group): the SIGTERM went to the group, the
/// SIGKILL after the wait only to the victim, once the victim's stat shows another group.
#[test]
fn group_escalation_needs_the_victim_in_the_group() {
    let t = Tree::new("grpesc", &[p(97, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    let v = s.scan_once();
    let mut r = Recorder {
        stuck: true,
        ..Default::default()
    };
    let mut k = killer(KillSettings {
        kill_group: true,
        ..Default::default()
    });
    // The fixture's pgrp (stat field 5) is the pid itself: the victim leads group 97.
    let out = kill(&mut k, &mut r, &t, &v, Signal::Term);
    assert_eq!(out, Outcome::DidNotExit { sigkilled: true });
    assert_eq!(r.signals, vec![(-97, libc::SIGTERM), (-97, libc::SIGKILL)]);
    // Now the victim moves to another group after the SIGTERM, before the escalation.
    let stat_path = t.dir.join("97/stat");
    let stat = std::fs::read_to_string(&stat_path).unwrap();
    let moved = stat.replacen(" 1 97 ", " 1 4242 ", 1);
    assert_ne!(stat, moved);
    let later = moved.clone();
    let mut r = Recorder {
        stuck: true,
        pgid: Some(97),
        after_first_signal: Some(Box::new(move || {
            std::fs::write(&stat_path, &later).unwrap()
        })),
        ..Default::default()
    };
    let mut k = killer(KillSettings {
        kill_group: true,
        ..Default::default()
    });
    kill(&mut k, &mut r, &t, &v, Signal::Term);
    assert_eq!(r.signals, vec![(-97, libc::SIGTERM), (97, libc::SIGKILL)]);
    // Moved already before the first signal (while -P ran): the victim alone, from the start.
    std::fs::write(t.dir.join("97/stat"), &moved).unwrap();
    let mut r = Recorder {
        pgid: Some(97),
        ..Default::default()
    };
    let mut k = killer(KillSettings {
        kill_group: true,
        ..Default::default()
    });
    kill(&mut k, &mut r, &t, &v, Signal::Term);
    assert_eq!(r.signals, vec![(97, libc::SIGTERM)]);
}

/// Finding 9 of issue 12: a victim that SIGKILL does not end (D state, a frozen cgroup) is
/// waited for a bounded time: 10 s of SIGTERM, then SIGKILL and 2 s more (it was 20 s in
/// all), in 100 ms steps; the outcome says it had SIGKILL so the daemon passes over it.
#[test]
fn a_stuck_victim_is_waited_for_a_bounded_time() {
    let t = Tree::new("stuck", &[p(98, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    let v = s.scan_once();
    let mut r = Recorder {
        stuck: true,
        ..Default::default()
    };
    let mut k = killer(KillSettings::default());
    assert_eq!(
        kill(&mut k, &mut r, &t, &v, Signal::Term),
        Outcome::DidNotExit { sigkilled: true }
    );
    assert_eq!(r.signals, vec![(98, libc::SIGTERM), (98, libc::SIGKILL)]);
    assert_eq!(r.steps, 120, "wait steps");
    // A first SIGKILL (memory at the kill line) is waited for 2 s, not earlyoom's 10 s: it
    // is the most urgent case, and SIGKILL that does not end a process at once will not.
    let mut r = Recorder {
        stuck: true,
        ..Default::default()
    };
    let mut k = killer(KillSettings::default());
    assert_eq!(
        kill(&mut k, &mut r, &t, &v, Signal::Kill),
        Outcome::DidNotExit { sigkilled: true }
    );
    assert_eq!(r.steps, 20);
}

/// Finding 9, the scan's side: a process remembered as unkillable is passed over, and the
/// next largest is chosen; a new process that reuses its pid is not.
#[test]
fn the_scan_passes_over_unkillable_processes() {
    let t = Tree::new("unk", &[p(60, "stuck", 900, 100), p(61, "next", 500, 300)]);
    let mut s = t.scanner(DEFAULT, Matchers::default());
    assert_eq!(s.scan().unwrap().victim.map(|v| v.pid), Some(60));
    s.unkillable.remember(60, 1060);
    assert_eq!(s.scan().unwrap().victim.map(|v| v.pid), Some(61));
    let mut reborn = p(60, "stuck", 900, 100);
    reborn.starttime = 9999;
    t.write(&reborn);
    assert_eq!(s.scan().unwrap().victim.map(|v| v.pid), Some(60));
}

/// Finding 10 of issue 12: the init of a PID namespace (NSpid ends in 1) that neither
/// handles nor blocks SIGTERM is sent SIGKILL at once: the kernel drops SIGTERM to it. One
/// that catches it (a handler: SigCgt) or blocks it to take it with sigtimedwait or a
/// signalfd (tini, catatonit, dumb-init, systemd: SigBlk) still gets SIGTERM, and so does
/// one whose status lacks the masks.
#[test]
fn a_namespace_init_without_a_handler_gets_sigkill() {
    let t = Tree::new("nsinit", &[p(99, "containerd-shim", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    for (masks, want) in [
        (
            "SigBlk:\t0000000000000000\nSigCgt:\t0000000000000000\n",
            libc::SIGKILL,
        ),
        (
            "SigBlk:\t0000000000000000\nSigCgt:\t0000000000004000\n",
            libc::SIGTERM,
        ),
        (
            "SigBlk:\tfffffffe7ffbfeff\nSigCgt:\t0000000000000000\n",
            libc::SIGTERM,
        ),
        ("", libc::SIGTERM),
    ] {
        std::fs::write(
            t.dir.join("99/status"),
            format!("Name:\tx\nNSpid:\t99\t1\n{masks}"),
        )
        .unwrap();
        let v = s.scan_once();
        let (mut k, mut r) = (killer(KillSettings::default()), Recorder::default());
        kill(&mut k, &mut r, &t, &v, Signal::Term);
        assert_eq!(r.signals[0], (99, want), "{masks:?}");
    }
    // Not a namespace init: SIGTERM as always.
    std::fs::write(
        t.dir.join("99/status"),
        "Name:\tx\nNSpid:\t99\nSigBlk:\t0000000000000000\nSigCgt:\t0000000000000000\n",
    )
    .unwrap();
    let v = s.scan_once();
    let (mut k, mut r) = (killer(KillSettings::default()), Recorder::default());
    kill(&mut k, &mut r, &t, &v, Signal::Term);
    assert_eq!(r.signals[0], (99, libc::SIGTERM));
}

/// Finding 2 of issue 12: where pidfd_open is missing (ENOSYS) or filtered (EPERM), the
/// self-test's probe picks signalling through the /proc/PID directory; where
/// pidfd_send_signal is refused too, kill(2) after the start-time check. Either way the
/// victim is signalled, where it used to be "kill failed" on every attempt.
#[test]
fn kills_without_pidfd_open_fall_back() {
    let t = Tree::new("nopidfd", &[p(93, "hog", 900, 100)]);
    let s = t.scanner(DEFAULT, Matchers::default());
    for (no_pidfd, no_signal, mech, via) in [
        (Some(libc::ENOSYS), None, Mechanism::ProcDir, "procdir"),
        (Some(libc::EPERM), None, Mechanism::ProcDir, "procdir"),
        (
            Some(libc::ENOSYS),
            Some(libc::ENOSYS),
            Mechanism::Kill,
            "kill",
        ),
        (None, Some(libc::EPERM), Mechanism::Kill, "kill"),
        (None, None, Mechanism::Pidfd, "pidfd"),
    ] {
        let mut r = Recorder {
            no_pidfd,
            no_pidfd_signal: no_signal,
            ..Default::default()
        };
        let mut k = killer(KillSettings::default());
        k.probe(&mut r, &ProcRoot::default());
        assert_eq!(k.mech, mech, "{no_pidfd:?} {no_signal:?}");
        let v = s.scan_once();
        // (A fixture process never exits: the fallbacks watch its stat, the recorder has no
        // say there, so only the first signal is checked.)
        let _ = kill(&mut k, &mut r, &t, &v, Signal::Term);
        assert_eq!(r.signals[0], (93, libc::SIGTERM), "{mech:?}");
        assert_eq!(r.via[0], via);
    }
}

trait ScanOnce {
    fn scan_once(&self) -> Victim;
}

impl ScanOnce for Scanner {
    fn scan_once(&self) -> Victim {
        let mut s = Scanner::new(self.root.clone(), self.opts, Matchers::default());
        s.set_my_pid(999_999);
        s.scan().unwrap().victim.expect("a victim")
    }
}

/// The real kernel path on a child we spawned: a stale identity is refused, the right one
/// is killed through its pidfd.
#[test]
fn real_pid_reuse_guard_on_our_own_child() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let mut sys = RealSys::default();
    let mut w = FixedWatch::over(b"/proc");
    let mut k = killer(KillSettings::default());
    // What the scan saw was an earlier process with this pid.
    let mut stale = Victim::pin(&ProcRoot::default(), pid).unwrap();
    stale.starttime -= 1;
    k.kill(&mut sys, &stale, Signal::Term, Reason::Memory, &mut w)
        .unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "a replaced process must not be signalled"
    );
    // The real identity: killed by SIGTERM.
    let v = Victim::pin(&ProcRoot::default(), pid).unwrap();
    k.kill(&mut sys, &v, Signal::Term, Reason::Memory, &mut w)
        .unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

/// The victim is read through its own /proc/PID directory: once that process has exited
/// (and its pid could be anyone's), reads through it fail instead of answering for whoever
/// holds the pid now.
#[test]
fn a_pinned_victim_reads_only_its_own_process() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let v = Victim::pin(&ProcRoot::default(), pid).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut buf = [0u8; 1024];
    use earlyoom::proc::PidFiles;
    assert!(v.dir.reader().stat(&mut buf).is_err());
    let mut k = killer(KillSettings::default());
    let mut w = FixedWatch::over(b"/proc");
    assert_eq!(
        k.kill(
            &mut RealSys::default(),
            &v,
            Signal::Term,
            Reason::Memory,
            &mut w
        )
        .unwrap(),
        Outcome::Replaced
    );
}
