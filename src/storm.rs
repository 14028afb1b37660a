//! `--storm-guard`: when killing the largest process does not restore memory because a
//! parent keeps spawning new ones (a `make -j`, an agent or a shell loop forking), find the
//! source the victims share and kill it with its subtree instead of the next child.
//!
//! Evidence from the lab (docs/scopes.md): a shell forking a 16 MiB child every 50 ms in a
//! 1 GiB guest makes the daemon kill a child every 100-300 ms while memory stays at the
//! SIGTERM line; earlyoom 1.7 and this daemon without the guard killed over 100 children
//! and the kernel's OOM killer still fired. A normal low-memory kill frees memory and the
//! next poll is above the line: two kills of unrelated processes within seconds are
//! already unusual, three of siblings are a storm. Hence: [`STORM_KILLS`] kills (the one
//! about to be made included) within [`STORM_WINDOW_S`], each of a process at most
//! [`STORM_YOUNG_S`] old (a storm's victims are freshly forked; a browser's tabs that are
//! killed one after another are not, and are left to the normal rules), sharing one
//! source. The pure part is [`detect`], tested on recorded kill sequences.

use crate::proc::Text;

/// Kills (including the one about to be made) that make a storm.
pub const STORM_KILLS: usize = 3;
/// ... within this many seconds.
pub const STORM_WINDOW_S: f64 = 10.0;
/// ... of processes at most this old when they were chosen.
pub const STORM_YOUNG_S: f64 = 30.0;
/// Kills remembered (more than STORM_KILLS: a storm interleaved with other kills).
const RING: usize = 16;

/// One kill (or the one about to be made), with what a shared source would show.
#[derive(Clone, Copy)]
pub struct KillRecord {
    /// CLOCK_MONOTONIC of the kill.
    pub t: f64,
    pub pid: i32,
    /// Age of the victim when it was chosen, seconds.
    pub age_s: f64,
    /// Its parent (pid, start time): the same pid with another start time is another parent.
    pub ppid: i32,
    pub parent_start: u64,
    pub pgid: i32,
    /// Its cgroup v2 path (empty: unknown).
    pub cgroup: Text,
}

/// A storm found: its source, and the kills already made in it (the one about to be made
/// not counted) over how many seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Storm {
    pub source: Source,
    pub kills: usize,
    pub span_s: f64,
}

/// What the victims share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Their parent, which keeps forking them.
    Parent { pid: i32, starttime: u64 },
    /// Their process group.
    Group(i32),
    /// Their cgroup (the record's path).
    Cgroup,
}

/// The last kills, oldest first (a fixed ring: recording never allocates).
pub struct Storms {
    ring: [Option<KillRecord>; RING],
    next: usize,
}

impl Default for Storms {
    fn default() -> Storms {
        Storms {
            ring: [None; RING],
            next: 0,
        }
    }
}

impl Storms {
    pub fn record(&mut self, r: KillRecord) {
        self.ring[self.next] = Some(r);
        self.next = (self.next + 1) % RING;
    }

    /// Forget everything (after a storm was broken: the next one is a new one).
    pub fn clear(&mut self) {
        self.ring = [None; RING];
    }

    /// The storm `next` would continue, if any, with the kills made in it.
    pub fn detect(&self, next: &KillRecord) -> Option<Storm> {
        let source = detect(&self.ring, next)?;
        let shares = |r: &KillRecord| match source {
            Source::Parent { pid, starttime } => r.ppid == pid && r.parent_start == starttime,
            Source::Group(g) => r.pgid == g,
            Source::Cgroup => r.cgroup.as_bytes() == next.cgroup.as_bytes(),
        };
        let mut kills = 0;
        let mut first = next.t;
        for r in self.ring.iter().flatten() {
            if next.t - r.t <= STORM_WINDOW_S && r.pid != next.pid && shares(r) {
                kills += 1;
                first = first.min(r.t);
            }
        }
        Some(Storm {
            source,
            kills,
            span_s: next.t - first,
        })
    }
}

/// Whether the kill `next` would be the STORM_KILLS-th within STORM_WINDOW_S of young
/// processes sharing a source, and which: the parent (the narrowest, and the only one that
/// stops the forking), else the process group, else the cgroup. Records of the same pid
/// are counted once (an escalated SIGKILL is not a second victim).
pub fn detect(past: &[Option<KillRecord>], next: &KillRecord) -> Option<Source> {
    if next.age_s > STORM_YOUNG_S {
        return None;
    }
    let mut counted = [0i32; RING];
    let mut n = 0;
    let recent = past.iter().flatten().filter(|r| {
        r.pid != next.pid
            && next.t - r.t <= STORM_WINDOW_S
            && r.t <= next.t
            && r.age_s <= STORM_YOUNG_S
    });
    let (mut parent, mut group, mut cgroup) = (1, 1, 1);
    for r in recent {
        if counted[..n].contains(&r.pid) || n == RING {
            continue;
        }
        counted[n] = r.pid;
        n += 1;
        parent += usize::from(r.ppid == next.ppid && r.parent_start == next.parent_start);
        group += usize::from(r.pgid == next.pgid);
        cgroup += usize::from(
            !r.cgroup.as_bytes().is_empty() && r.cgroup.as_bytes() == next.cgroup.as_bytes(),
        );
    }
    if parent >= STORM_KILLS && next.ppid > 1 {
        Some(Source::Parent {
            pid: next.ppid,
            starttime: next.parent_start,
        })
    } else if group >= STORM_KILLS && next.pgid > 1 {
        Some(Source::Group(next.pgid))
    } else if cgroup >= STORM_KILLS && !next.cgroup.as_bytes().is_empty() {
        Some(Source::Cgroup)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: f64, pid: i32, ppid: i32, pgid: i32, cg: &[u8]) -> KillRecord {
        let mut cgroup = Text::new();
        cgroup.set(cg);
        KillRecord {
            t,
            pid,
            age_s: 1.0,
            ppid,
            parent_start: 777,
            pgid,
            cgroup,
        }
    }

    fn ring(rs: &[KillRecord]) -> Storms {
        let mut s = Storms::default();
        for r in rs {
            s.record(*r);
        }
        s
    }

    /// The lab's storm: a shell (pid 300) forks a child every 50 ms; kills 150-300 ms apart.
    #[test]
    fn a_forking_parent_is_the_source_on_the_third_kill() {
        let s = ring(&[
            rec(10.0, 401, 300, 300, b"/lab"),
            rec(10.2, 405, 300, 300, b"/lab"),
        ]);
        let third = rec(10.4, 409, 300, 300, b"/lab");
        let storm = s.detect(&third).unwrap();
        assert_eq!(
            storm.source,
            Source::Parent {
                pid: 300,
                starttime: 777
            }
        );
        assert_eq!(storm.kills, 2);
        assert!((storm.span_s - 0.4).abs() < 1e-9);
        let s = ring(&[rec(10.0, 401, 300, 300, b"/lab")]);
        assert_eq!(
            s.detect(&rec(10.2, 405, 300, 300, b"/lab")),
            None,
            "two kills are not a storm"
        );
    }

    /// Kills spread over more than the window, an escalation of one victim counted twice,
    /// and old victims (tabs of a long-running browser) are no storm.
    #[test]
    fn slow_repeated_and_old_victims_are_no_storm() {
        let s = ring(&[rec(0.0, 401, 300, 300, b""), rec(6.0, 405, 300, 300, b"")]);
        assert_eq!(
            s.detect(&rec(12.0, 409, 300, 300, b"")),
            None,
            "outside the window"
        );
        let s = ring(&[rec(10.0, 401, 300, 300, b""), rec(10.1, 401, 300, 300, b"")]);
        assert_eq!(
            s.detect(&rec(10.2, 405, 300, 300, b"")),
            None,
            "one victim escalated"
        );
        let mut old = [rec(10.0, 401, 300, 300, b""), rec(10.2, 405, 300, 300, b"")];
        for r in &mut old {
            r.age_s = 3600.0;
        }
        assert_eq!(
            ring(&old).detect(&rec(10.4, 409, 300, 300, b"")),
            None,
            "old victims"
        );
        let mut next = rec(10.4, 409, 300, 300, b"");
        next.age_s = 3600.0;
        let s = ring(&[rec(10.0, 401, 300, 300, b""), rec(10.2, 405, 300, 300, b"")]);
        assert_eq!(s.detect(&next), None, "an old next victim");
    }

    /// A parent that exited and whose pid came back is another parent; then the group or
    /// the cgroup they share is the source; init's children share nothing.
    #[test]
    fn the_narrowest_live_shared_source_wins() {
        let mut other = rec(10.0, 401, 300, 300, b"/user.slice/app");
        other.parent_start = 1;
        let s = ring(&[other, rec(10.2, 405, 300, 300, b"/user.slice/app")]);
        let storm = s
            .detect(&rec(10.4, 409, 300, 300, b"/user.slice/app"))
            .unwrap();
        assert_eq!(storm.source, Source::Group(300));
        let s = ring(&[
            rec(10.0, 401, 1, 401, b"/app"),
            rec(10.2, 405, 1, 405, b"/app"),
        ]);
        let storm = s.detect(&rec(10.4, 409, 1, 409, b"/app")).unwrap();
        assert_eq!(storm.source, Source::Cgroup);
        let s = ring(&[rec(10.0, 401, 1, 401, b"/a"), rec(10.2, 405, 1, 405, b"/b")]);
        assert_eq!(s.detect(&rec(10.4, 409, 1, 409, b"/c")), None);
    }
}
