//! The livelock guard's watcher: finds every cgroup with a finite memory.high, samples each
//! on every poll for the detector (detect.rs), and is the loop's sleep, woken early by PSI
//! triggers on the cgroups' memory.pressure (Documentation/accounting/psi.rst).

use super::detect::{swap_available, GuardConfig, Tracker, Trip};
use crate::cgroup::{self, CgroupRoot, Discovery, Files};
use crate::seam::Sys;
use crate::sys::{self, CPath, Poll};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

/// One watched cgroup.
pub struct Watched {
    pub path: PathBuf,
    pub tracker: Tracker,
    /// A PSI trigger on its memory.pressure, if the kernel accepted one.
    trigger: Option<OwnedFd>,
}

/// `full` stall of 200 ms within 2 s: the window is a multiple of 2 s, which unprivileged
/// triggers require (psi.rst), so the same trigger works under DynamicUser. The first event
/// after arming can be spurious (psi_trigger_create seeds from the aggregator); that is
/// harmless because a wake-up only makes us sample, and decisions use `total=` deltas.
const TRIGGER: &[u8] = b"full 200000 2000000\0";

fn arm_trigger(path: &std::path::Path) -> Option<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = CPath::new();
    if !(p.push(path.as_os_str().as_bytes()) && p.push(b"/memory.pressure")) {
        return None;
    }
    let fd = sys::open_rdwr_nonblock(&p).ok()?;
    sys::write_all(fd.as_fd(), TRIGGER).ok()?;
    Some(fd)
}

/// At most this many PSI triggers at once. Each is an fd, and the kernel runs a poll worker
/// per cgroup that has one; a trigger only wakes the loop early, and every watched cgroup is
/// sampled on every poll anyway, so on a host with more capped cgroups than this
/// (Kubernetes MemoryQoS, hosting boxes) the rest are sampled only (issue 12, finding 6).
pub const MAX_TRIGGERS: usize = 128;
/// File descriptors kept free for everything else (the scan's /proc fds, pidfds, hooks'
/// pipes, the metrics file, the log sockets): triggers never take the last of them.
pub const FD_RESERVE: u64 = 64;

/// How many triggers fit under the soft RLIMIT_NOFILE (which startup raises to the hard
/// limit) with [`FD_RESERVE`] left over.
pub fn trigger_budget(nofile_soft: u64) -> usize {
    (nofile_soft.saturating_sub(FD_RESERVE) as usize).min(MAX_TRIGGERS)
}

/// The watcher over every cgroup with a finite memory.high.
pub struct Guard {
    pub root: CgroupRoot,
    pub cfg: GuardConfig,
    pub watched: Vec<Watched>,
    /// When to walk the tree again (asked to walk soon after a trigger died: a cgroup may be
    /// recreated under its path).
    discovery: Discovery,
    files: Files,
    pollfds: Vec<Poll>,
    /// How many PSI triggers may be open at once.
    pub trigger_budget: usize,
}

/// Sampling interval while a cgroup looks livelocked.
pub const SUSPICIOUS_SAMPLE_MS: u32 = 500;

impl Guard {
    /// Checks the hierarchy; Err carries why the guard is inactive.
    pub fn new(root: CgroupRoot, cfg: GuardConfig) -> Result<Guard, String> {
        cgroup::check_v2(&root)?;
        Ok(Guard {
            root,
            cfg,
            watched: Vec::new(),
            discovery: Discovery::default(),
            files: Files::default(),
            pollfds: Vec::new(),
            trigger_budget: trigger_budget(sys::nofile_soft()),
        })
    }

    fn discover(&mut self) {
        let found = cgroup::discover(&self.root);
        // By path, so that a walk of 10,000 cgroups stays linear.
        let mut old: std::collections::HashMap<PathBuf, Watched> =
            std::mem::take(&mut self.watched)
                .into_iter()
                .map(|w| (w.path.clone(), w))
                .collect();
        let mut armed = found
            .iter()
            .filter(|p| old.get(*p).is_some_and(|w| w.trigger.is_some()))
            .count();
        for path in found {
            let w = match old.remove(&path) {
                Some(w) => w,
                None => {
                    let trigger = if armed < self.trigger_budget {
                        arm_trigger(&path)
                    } else {
                        None
                    };
                    armed += usize::from(trigger.is_some());
                    crate::debug!(
                        "livelock guard: watching {} (PSI trigger: {})\n",
                        path.display(),
                        if trigger.is_some() {
                            "yes"
                        } else {
                            "no, polling"
                        }
                    );
                    Watched {
                        path,
                        tracker: Tracker::default(),
                        trigger,
                    }
                }
            };
            self.watched.push(w);
        }
    }

    /// Samples every watched cgroup at `now` (CLOCK_MONOTONIC seconds); returns the first
    /// that is livelocked.
    pub fn check(&mut self, now: f64, system_swap_free_kib: i64) -> Option<(usize, Trip)> {
        // A cgroup created since the last walk (a new service, session or app scope) is
        // found within a second or two, not only at the next periodic walk.
        if self.discovery.due(now, &self.root, &mut self.files) {
            self.discover();
        }
        let mut hit = None;
        for (i, w) in self.watched.iter_mut().enumerate() {
            // A cgroup removed meanwhile just fails to read until the next discovery.
            let Ok(s) = cgroup::read_sample(&w.path, now, &mut self.files, false) else {
                w.tracker.reset();
                continue;
            };
            if !cgroup::near_high(&s) {
                // Clearly below memory.high: not stuck, whatever the other files say.
                w.tracker.reset();
                continue;
            }
            let swap = swap_available(&s, system_swap_free_kib);
            if let Some(t) = w.tracker.update(s, swap, &self.cfg) {
                if hit.is_none() {
                    hit = Some((i, t));
                }
            }
        }
        hit
    }

    /// How long the loop may sleep: shorter while a cgroup looks livelocked.
    pub fn max_sleep_ms(&self, ms: u32) -> u32 {
        if self.watched.iter().any(|w| w.tracker.suspicious()) {
            ms.min(SUSPICIOUS_SAMPLE_MS)
        } else {
            ms
        }
    }

    /// Sleeps up to `ms`, waking early when a PSI trigger fires (poll POLLPRI; POLLERR means
    /// the cgroup went away). Single-threaded: this *is* the loop's sleep.
    ///
    /// kernfs answers every poll of a removed cgroup's file with POLLERR, at once and forever
    /// (kernfs_fop_poll once the node is deactivated), so a dead trigger must leave the poll
    /// set or the loop would spin. Only the cgroups whose trigger reported it are dropped: the
    /// others keep theirs (discovery keeps a known path as it is and would never re-arm a
    /// trigger taken away) and are polled for the rest of the sleep; a cgroup recreated under
    /// the same path is found again by a walk brought forward (within a second), with a
    /// fresh trigger and tracker. After EINTR, poll goes on for what is left of `ms`.
    pub fn wait(&mut self, sys: &mut impl Sys, ms: u32, extra: Option<i32>) {
        let deadline = sys.now() + f64::from(ms) / 1000.0;
        loop {
            let left = ((deadline - sys.now()) * 1000.0).ceil().max(0.0) as i32;
            if left == 0 {
                return;
            }
            self.pollfds.clear();
            self.pollfds.extend(self.watched.iter().filter_map(|w| {
                w.trigger
                    .as_ref()
                    .map(|fd| Poll::new(fd.as_raw_fd(), libc::POLLPRI))
            }));
            // The machine's trigger (`--memory-pressure`) last, after the cgroups' ones.
            let cgroups = self.pollfds.len();
            self.pollfds
                .extend(extra.map(|fd| Poll::new(fd, libc::POLLPRI)));
            if self.pollfds.is_empty() {
                sys.sleep_ms(left as u64);
                return;
            }
            match sys.poll(&mut self.pollfds, left) {
                0 => return, // slept the whole time
                rc if rc < 0 => {
                    sys.sleep_ms(left as u64); // poll failed: sleep, never spin
                    return;
                }
                _ => {}
            }
            // A dead kernfs file reports POLLERR|POLLPRI, so POLLPRI alone does not mean fired.
            let dead = |p: &Poll| p.revents() & libc::POLLERR != 0;
            let fired = self
                .pollfds
                .iter()
                .any(|p| !dead(p) && p.revents() & libc::POLLPRI != 0);
            let any_dead = self.pollfds[..cgroups].iter().any(dead);
            if any_dead {
                // pollfds holds one entry per watched cgroup with a trigger, in order.
                let mut polled = self.pollfds[..cgroups].iter();
                self.watched
                    .retain(|w| w.trigger.is_none() || polled.next().is_none_or(|p| !dead(p)));
                self.discovery.soon();
            }
            if fired {
                return;
            }
            if !any_dead {
                sys.sleep_ms(left as u64); // something else was reported: never spin on it
                return;
            }
            // Keep watching the live triggers for the rest of the sleep.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seam::RealSys;
    use rustix::net::SendFlags;
    use std::os::unix::net::UnixStream;

    fn fake_root(tag: &str) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("earlyoom-guard-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(root.join("memory.pressure"), "").unwrap();
        root
    }

    /// A cgroup directory as discovery and arm_trigger see it: a finite memory.high and a
    /// memory.pressure that takes the trigger write (a regular file; poll never reports
    /// POLLPRI or POLLERR on it, like a live trigger with no stall).
    fn fake_cgroup(dir: &std::path::Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("memory.high"), "314572800\n").unwrap();
        std::fs::write(dir.join("memory.pressure"), "").unwrap();
    }

    /// What kernfs makes of a removed cgroup's trigger: an fd whose poll reports POLLERR at
    /// once and forever. The write end of a pipe whose read end is closed does the same.
    fn dead_trigger() -> OwnedFd {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        w.into()
    }

    fn trigger_of(g: &Guard, name: &str) -> Option<i32> {
        let w = g.watched.iter().find(|w| w.path.ends_with(name))?;
        Some(w.trigger.as_ref()?.as_raw_fd())
    }

    /// Issue 7 (lab scenario cgroup-vanish): one watched cgroup is removed. The wait that sees
    /// its POLLERR still sleeps its full time (no spinning on the dead fd), drops that cgroup
    /// only, and a bystander keeps its trigger (it used to lose it for good: every trigger
    /// was dropped and discovery never re-arms a known path). A cgroup made again under the
    /// removed path is watched again with a fresh trigger.
    #[test]
    fn a_removed_cgroup_drops_only_its_own_trigger() {
        let root = fake_root("vanish");
        fake_cgroup(&root.join("vanish"));
        fake_cgroup(&root.join("bystander"));
        let mut g = Guard::new(CgroupRoot(root.clone()), GuardConfig::default()).unwrap();
        assert_eq!(g.check(100.0, 0), None); // discovers and arms both
        let bystander = trigger_of(&g, "bystander").expect("bystander armed");
        assert!(trigger_of(&g, "vanish").is_some());

        std::fs::remove_dir_all(root.join("vanish")).unwrap();
        let w = g.watched.iter_mut().find(|w| w.path.ends_with("vanish"));
        w.unwrap().trigger = Some(dead_trigger());
        let t0 = sys::monotonic_secs();
        g.wait(&mut RealSys::default(), 200, None);
        assert!(sys::monotonic_secs() - t0 >= 0.19, "woke early on POLLERR");
        assert_eq!(g.watched.len(), 1);
        assert_eq!(trigger_of(&g, "bystander"), Some(bystander));
        // The dead fd is gone, so the next wait sleeps through too.
        let t0 = sys::monotonic_secs();
        g.wait(&mut RealSys::default(), 100, None);
        assert!(sys::monotonic_secs() - t0 >= 0.09);

        fake_cgroup(&root.join("vanish"));
        // The POLLERR brought the next walk forward to a second after the last one.
        assert_eq!(g.check(101.0, 0), None);
        assert!(
            trigger_of(&g, "vanish").is_some(),
            "recreated cgroup not re-armed"
        );
        assert_eq!(trigger_of(&g, "bystander"), Some(bystander));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A live trigger: one end of an AF_UNIX stream socket pair. Out-of-band data sent on the
    /// other end makes it poll POLLPRI without POLLERR (Linux 5.15+), as a PSI trigger that
    /// fires does. Returns (trigger, the end to send on).
    fn live_trigger() -> (OwnedFd, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (a.into(), b)
    }

    fn fire(peer: &UnixStream) {
        // One byte out of band: the other end then polls POLLPRI.
        assert_eq!(rustix::net::send(peer, b"x", SendFlags::OOB).unwrap(), 1);
    }

    /// A guard over two cgroups: `vanish`, whose trigger is dead (removed), and `stalled`,
    /// whose trigger is `live`.
    fn guard_with_dead_and_live(tag: &str, live: OwnedFd) -> (Guard, std::path::PathBuf) {
        let root = fake_root(tag);
        fake_cgroup(&root.join("vanish"));
        fake_cgroup(&root.join("stalled"));
        let mut g = Guard::new(CgroupRoot(root.clone()), GuardConfig::default()).unwrap();
        assert_eq!(g.check(100.0, 0), None);
        let mut live = Some(live);
        for w in &mut g.watched {
            w.trigger = if w.path.ends_with("vanish") {
                Some(dead_trigger())
            } else {
                live.take()
            };
        }
        (g, root)
    }

    /// A dead trigger and a firing one in the same poll: the dead one is dropped and the
    /// wait still ends at once for the live one (it used to sleep out the rest).
    #[test]
    fn a_firing_trigger_wakes_even_beside_a_dead_one() {
        let (live, peer) = live_trigger();
        fire(&peer);
        let (mut g, root) = guard_with_dead_and_live("fire", live);
        let t0 = sys::monotonic_secs();
        g.wait(&mut RealSys::default(), 2000, None);
        let took = sys::monotonic_secs() - t0;
        assert!(took < 1.0, "slept through a fired trigger ({took} s)");
        assert_eq!(g.watched.len(), 1);
        assert!(g.watched[0].path.ends_with("stalled"));
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A trigger that fires while the rest of a sleep is waited out after a dead trigger was
    /// dropped still wakes the loop (it used to be a plain sleep then, blind to pressure).
    #[test]
    fn a_trigger_firing_after_a_dead_one_is_dropped_still_wakes() {
        let (live, peer) = live_trigger();
        let (mut g, root) = guard_with_dead_and_live("later", live);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            fire(&peer);
            peer
        });
        let t0 = sys::monotonic_secs();
        g.wait(&mut RealSys::default(), 3000, None);
        let took = sys::monotonic_secs() - t0;
        drop(sender.join().unwrap());
        assert!((0.25..2.0).contains(&took), "woke after {took} s");
        assert_eq!(g.watched.len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A cgroup created after the first walk is watched within a second or two when the
    /// root's cgroup.stat says the tree grew, not only after the 10 s periodic walk, even if
    /// its memory.high comes just after that walk; while the count is unchanged, the tree is
    /// not walked again before then.
    #[test]
    fn a_new_cgroup_is_found_when_cgroup_stat_changes() {
        let root = fake_root("new");
        let stat = |n: u32| {
            let s = format!("nr_descendants {n}\nnr_dying_descendants 0\n");
            std::fs::write(root.join("cgroup.stat"), s).unwrap();
        };
        stat(1);
        fake_cgroup(&root.join("old"));
        let mut g = Guard::new(CgroupRoot(root.clone()), GuardConfig::default()).unwrap();
        // A fake clock: no test of discovery timing needs to sleep.
        let mut now = 100.0;
        assert_eq!(g.check(now, 0), None);
        assert_eq!(g.watched.len(), 1);

        // Made without the count changing (as if one came and one went): not seen yet.
        fake_cgroup(&root.join("quiet"));
        now += 1.1;
        assert_eq!(g.check(now, 0), None);
        assert_eq!(g.watched.len(), 1, "walked again with the count unchanged");

        // The count changes: the next check walks the tree (more than a second after the last).
        fake_cgroup(&root.join("new"));
        stat(3);
        assert_eq!(g.check(now, 0), None);
        let mut names: Vec<_> = g.watched.iter().map(|w| w.path.clone()).collect();
        names.sort();
        assert_eq!(names, ["new", "old", "quiet"].map(|n| root.join(n)));

        // As systemd does: mkdir, then memory.high a moment later, after the walk the count
        // change caused. That walk is followed by one more a second later, which sees it.
        std::fs::create_dir_all(root.join("late")).unwrap();
        stat(4);
        now += 1.1;
        assert_eq!(g.check(now, 0), None);
        assert_eq!(g.watched.len(), 3, "no memory.high yet");
        fake_cgroup(&root.join("late"));
        now += 1.1;
        assert_eq!(g.check(now, 0), None);
        assert_eq!(
            g.watched.len(),
            4,
            "memory.high set after the walk not seen"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn triggers_are_budgeted() {
        assert_eq!(trigger_budget(1024), MAX_TRIGGERS);
        assert_eq!(trigger_budget(100), 36);
        assert_eq!(trigger_budget(10), 0);
        let root = fake_root("budget");
        for i in 0..40 {
            fake_cgroup(&root.join(format!("c{i:02}")));
        }
        let mut g = Guard::new(CgroupRoot(root.clone()), GuardConfig::default()).unwrap();
        g.trigger_budget = 25;
        assert_eq!(g.check(100.0, 0), None);
        assert_eq!(g.watched.len(), 40);
        assert_eq!(g.watched.iter().filter(|w| w.trigger.is_some()).count(), 25);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
