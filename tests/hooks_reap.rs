//! Hooks that outnumber what the daemon once tracked (64) are all reaped once they end (a
//! fault of issue 7's "never dies itself": unreaped hooks would pile up as zombies, each
//! holding a pid). Outside the daemon each hook is reaped by its own pid, never as "any
//! child" (the daemon itself also reaps children that are not hooks: tests/failures.rs).

use earlyoom::hooks::{run_program, VictimEnv};
use earlyoom::seam::RealSys;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// State of /proc/PID ('Z' for a zombie), None once it is gone.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn more_live_hooks_than_slots_are_all_reaped() {
    let dir = std::env::temp_dir().join(format!("eoom-reap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hook = dir.join("slow.sh");
    std::fs::write(&hook, "#!/bin/sh\nexec sleep 0.5\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let victim = VictimEnv {
        pid: 1,
        uid: 0,
        comm: b"",
        cmdline: b"",
    };
    let mut sys = RealSys::default();
    let path = hook.to_str().unwrap().as_bytes();
    // 70 -N hooks (not waited for), more than the 64 slots, all alive at once.
    let pids: Vec<i32> = (0..70)
        .map(|_| run_program(&mut sys, path, victim, 0).expect("spawned"))
        .collect();
    assert_eq!(sys.children.pending(), 70);
    earlyoom::seam::Sys::reap(&mut sys);
    assert!(sys.children.pending() > 60, "reaped before they ended");
    let t = Instant::now();
    while sys.children.pending() > 0 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
        sys.children.reap();
    }
    assert_eq!(sys.children.pending(), 0);
    let left: Vec<_> = pids.iter().filter_map(|&p| Some((p, state(p)?))).collect();
    assert!(left.is_empty(), "not reaped: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
