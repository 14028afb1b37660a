//! Killing more than one process at once: a whole cgroup (`--cgroup-kill`) and the source of
//! a fork storm with its subtree (`--storm-guard`). Both end what one-victim-at-a-time
//! cannot: a workload whose memory is spread over many processes, a parent that forks
//! faster than its children are killed.
//!
//! The safety rules are those of the main scan, applied to every member: never PID 1, the
//! daemon or any of its ancestors (killing one would take the daemon's session or service
//! with it), nothing `--avoid` or `--ignore` matches, nothing with oom_score_adj -1000, and
//! no root-owned process with `--ignore-root-user`. A whole cgroup is never the root,
//! `init.scope`, the daemon's own cgroup or one of its ancestors, and is refused outright
//! when a member is protected: then only the chosen victim dies, as without the option.
//!
//! Every member is pinned (its /proc/PID directory, then a pidfd) before anything is sent,
//! so a recycled pid is never signalled. A set is stopped (SIGSTOP) before it is killed,
//! so that no member forks a replacement while its siblings die.

use crate::kill::Mechanism;
use crate::proc::{PidFiles, ProcDir, ProcRoot, Stat, Text};
use crate::seam::{Sys, Via};
use crate::sys::{self, CPath, Errno};
use crate::victim::{Matchers, Options, Victim};
use rustix::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why a process is left out of a set kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spared {
    Init,
    /// The daemon itself or one of its ancestors.
    Daemon,
    /// `--avoid` or `--ignore` matched its name.
    Avoided,
    /// oom_score_adj -1000.
    Protected,
    /// `--ignore-root-user`.
    Root,
    /// A kernel thread.
    Kernel,
}

impl Spared {
    pub fn describe(self) -> &'static str {
        match self {
            Spared::Init => "is PID 1",
            Spared::Daemon => "is the daemon or one of its ancestors",
            Spared::Avoided => "matches --avoid or --ignore",
            Spared::Protected => "has oom_score_adj -1000",
            Spared::Root => "is owned by root (--ignore-root-user)",
            Spared::Kernel => "is a kernel thread",
        }
    }
}

/// What the set-kill rules need to know.
pub struct Rules<'a> {
    pub root: &'a ProcRoot,
    pub matchers: &'a Matchers,
    pub select: Options,
    /// The daemon and its ancestors (up to PID 1), read at the time of the kill.
    pub lineage: Vec<i32>,
}

impl Rules<'_> {
    /// Why `v` must not be part of a set kill, if it must not.
    pub fn spared(&self, v: &Victim) -> Option<Spared> {
        if v.pid <= 1 {
            return Some(Spared::Init);
        }
        if self.lineage.contains(&v.pid) {
            return Some(Spared::Daemon);
        }
        let name = v.comm.as_bytes();
        let m = self.matchers;
        if m.avoid.as_ref().is_some_and(|r| r.is_match(name))
            || m.ignore.as_ref().is_some_and(|r| r.is_match(name))
        {
            return Some(Spared::Avoided);
        }
        if v.oom_score_adj == -1000 {
            return Some(Spared::Protected);
        }
        if self.select.ignore_root_user && v.uid == 0 {
            return Some(Spared::Root);
        }
        let mut buf = [0u8; 1024];
        if v.dir
            .reader()
            .stat(&mut buf)
            .is_ok_and(|st| st.flags & crate::proc::PF_KTHREAD != 0 || st.ppid == 2)
        {
            return Some(Spared::Kernel);
        }
        None
    }
}

/// The daemon's pid and its ancestors' under `root`.
pub fn lineage(root: &ProcRoot) -> Vec<i32> {
    let mut out = vec![sys::getpid()];
    let Ok(dir) = ProcDir::open(root) else {
        return out;
    };
    let mut buf = [0u8; 1024];
    while let Some(&pid) = out.last() {
        match dir.stat(pid, &mut buf) {
            Ok(st) if st.ppid > 0 && !out.contains(&st.ppid) && out.len() < 4096 => {
                out.push(st.ppid)
            }
            _ => break,
        }
    }
    out
}

/// Every process under `root` with its stat (one pass; allocates, as only an action does).
pub fn processes(root: &ProcRoot) -> Vec<(i32, Stat)> {
    let Ok(dir) = ProcDir::open(root) else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    let mut dents = vec![std::mem::MaybeUninit::uninit(); crate::proc::DENTS_BUF];
    let _ = dir.for_each_pid(&mut dents, |pid| pids.push(pid));
    let mut buf = [0u8; 1024];
    pids.into_iter()
        .filter_map(|pid| dir.stat(pid, &mut buf).ok().map(|st| (pid, st)))
        .collect()
}

/// `pid` (started at `starttime`) and all its descendants, parents before children, each
/// with its start time. A child is younger than its parent: one whose start time is earlier
/// belongs to an older process that had the parent's pid.
pub fn subtree(all: &[(i32, Stat)], pid: i32, starttime: u64) -> Vec<(i32, u64)> {
    let mut out = vec![(pid, starttime)];
    let mut i = 0;
    while i < out.len() {
        let (p, start) = out[i];
        for (c, st) in all {
            if st.ppid == p && st.starttime >= start && !out.iter().any(|(o, _)| o == c) {
                out.push((*c, st.starttime));
            }
        }
        i += 1;
    }
    out
}

/// The members of process group `pgid`, with their start times.
pub fn group(all: &[(i32, Stat)], pgid: i32) -> Vec<(i32, u64)> {
    all.iter()
        .filter(|(_, st)| st.pgrp == pgid)
        .map(|(p, st)| (*p, st.starttime))
        .collect()
}

/// A process of a set as listed: its pid, and the start time the listing saw (None: the
/// listing knows only the pid, as cgroup.procs).
pub type Listed = (i32, Option<u64>);

/// How a set's members are signalled: the kill path's mechanism (the startup self-test's
/// finding), and whether pidfds are taken at all (not in dry-run).
#[derive(Clone, Copy, Debug)]
pub struct Signalling {
    pub mech: Mechanism,
    pub pidfds: bool,
}

/// A pinned member of a set.
pub struct Member {
    pub v: Victim,
    pidfd: Option<OwnedFd>,
    /// Sent SIGSTOP (and so owed a SIGCONT if it is still there at the end).
    stopped: bool,
}

/// The outcome of pinning a set.
pub struct Pinned {
    pub members: Vec<Member>,
    /// The first member that must be spared, with why.
    pub spared: Option<(i32, Text, Spared)>,
    pub spared_count: usize,
}

/// Pins every listed process (gone ones, and ones whose pid now belongs to another process
/// than the listing saw, are dropped; with `cgroup`, so are those not in that cgroup or
/// below it) and sorts out the ones the rules spare.
pub fn pin(
    sys: &mut impl Sys,
    rules: &Rules<'_>,
    listed: &[Listed],
    how: Signalling,
    cgroup: Option<&[u8]>,
) -> Pinned {
    let mut out = Pinned {
        members: Vec::new(),
        spared: None,
        spared_count: 0,
    };
    for &(pid, start) in listed {
        let Ok(v) = Victim::pin(rules.root, pid) else {
            continue;
        };
        if start.is_some_and(|s| s != v.starttime) {
            continue; // the pid was recycled since the listing
        }
        if let Some(rel) = cgroup {
            let mut now = Text::new();
            if !v.dir.cgroup(&mut now) || !within(now.as_bytes(), rel) {
                continue; // left it (or /proc/PID/cgroup is unreadable)
            }
        }
        if let Some(why) = rules.spared(&v) {
            out.spared_count += 1;
            if out.spared.is_none() {
                out.spared = Some((pid, v.comm, why));
            }
            continue;
        }
        let pidfd = if how.pidfds && how.mech == Mechanism::Pidfd {
            sys.pidfd_open(pid).ok()
        } else {
            None
        };
        // The pidfd was opened after the directory: it is the same process only if the
        // directory still reads with the pinned start time.
        if v.still_itself() {
            out.members.push(Member {
                v,
                pidfd,
                stopped: false,
            });
        }
    }
    out
}

/// Whether cgroup path `p` is `rel` or below it.
fn within(p: &[u8], rel: &[u8]) -> bool {
    let (p, rel) = (trim_slash(p), trim_slash(rel));
    p == rel || (rel.is_empty() || p.starts_with(rel) && p.get(rel.len()) == Some(&b'/'))
}

/// One signal to a member by the kill path's mechanism: its pidfd, else its pinned /proc/PID
/// directory (pidfd_send_signal takes it), else kill(2) right after the start-time check.
fn send(sys: &mut impl Sys, m: &Member, mech: Mechanism, sig: i32) -> Result<(), Errno> {
    match (&m.pidfd, mech) {
        (Some(fd), _) => sys.signal(Via::Pidfd(fd.as_fd(), m.v.pid), sig),
        (None, Mechanism::Kill) => {
            if !m.v.still_itself() {
                return Err(Errno(libc::ESRCH));
            }
            sys.signal(Via::Kill(m.v.pid), sig)
        }
        (None, _) => sys.signal(Via::ProcDir(m.v.dir.fd(), m.v.pid), sig),
    }
}

fn gone(sys: &mut impl Sys, m: &Member) -> bool {
    match &m.pidfd {
        Some(fd) => sys.wait_exit(fd.as_fd(), 0),
        None => {
            let mut buf = [0u8; 1024];
            match m.v.dir.reader().stat(&mut buf) {
                Ok(st) => st.state == b'X' || (st.state == b'Z' && st.num_threads <= 1),
                Err(_) => true,
            }
        }
    }
}

/// What a set kill came to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SetOutcome {
    /// Members sent SIGKILL (by cgroup.kill: all of them).
    pub sent: usize,
    /// Members still there when the wait ended (each was sent SIGCONT: one that was stopped
    /// but never killed, such as a member that left the cgroup, must not stay stopped).
    pub left: Vec<(i32, u64)>,
    pub secs: f64,
}

/// How long a set is waited for after SIGKILL (as for one victim, kill.rs KILL_GRACE_MS).
pub const SET_GRACE_MS: u64 = 2000;

/// SIGSTOPs every member not stopped yet: a stopped process forks nothing.
pub fn stop(sys: &mut impl Sys, members: &mut [Member], mech: Mechanism) {
    for m in members.iter_mut().filter(|m| !m.stopped) {
        m.stopped = send(sys, m, mech, libc::SIGSTOP).is_ok();
    }
}

/// SIGCONTs every member that was stopped: the way back when a stopped set is not killed.
pub fn resume(sys: &mut impl Sys, members: &[Member], mech: Mechanism) {
    for m in members.iter().filter(|m| m.stopped) {
        let _ = send(sys, m, mech, libc::SIGCONT);
    }
}

/// Pins and stops a set that may be growing while it is stopped (a parent forking, its
/// children forking): `list` gives the set as it is now; whoever appeared since the last
/// look is pinned and stopped, until a look finds nobody new (at most 8 looks: each look
/// stops everyone it found, so only a process forked during the look itself can appear in
/// the next). Returns the pinned set, stopped unless `dry`.
pub fn pin_and_stop(
    sys: &mut impl Sys,
    rules: &Rules<'_>,
    mut list: impl FnMut() -> Vec<Listed>,
    how: Signalling,
    cgroup: Option<&[u8]>,
    dry: bool,
) -> Pinned {
    let mut all = Pinned {
        members: Vec::new(),
        spared: None,
        spared_count: 0,
    };
    let mut seen: Vec<i32> = Vec::new();
    for _ in 0..8 {
        let new: Vec<Listed> = list()
            .into_iter()
            .filter(|p| !seen.contains(&p.0))
            .collect();
        if new.is_empty() {
            break;
        }
        seen.extend(new.iter().map(|p| p.0));
        let mut more = pin(sys, rules, &new, how, cgroup);
        if !dry {
            stop(sys, &mut more.members, how.mech);
        }
        if all.spared.is_none() {
            all.spared = more.spared;
        }
        all.spared_count += more.spared_count;
        all.members.extend(more.members);
        if dry {
            break;
        }
    }
    all
}

/// SIGKILLs every member (stopped ones too), releases their memory, waits up to
/// SET_GRACE_MS for them to be gone, and SIGCONTs whoever is left.
pub fn kill_set(sys: &mut impl Sys, members: &[Member], mech: Mechanism) -> SetOutcome {
    let t0 = sys.now();
    let mut out = SetOutcome::default();
    for m in members {
        if send(sys, m, mech, libc::SIGKILL).is_ok() {
            out.sent += 1;
        }
    }
    finish(sys, members, mech, t0, out)
}

/// The end of a set kill: release the memory, wait, resume and list who is left.
fn finish(
    sys: &mut impl Sys,
    members: &[Member],
    mech: Mechanism,
    t0: f64,
    mut out: SetOutcome,
) -> SetOutcome {
    for m in members {
        if let Some(fd) = &m.pidfd {
            let _ = sys.mrelease(fd.as_fd());
        }
    }
    loop {
        sys.reap();
        let left = members.iter().filter(|m| !gone(sys, m)).count();
        if left == 0 || (sys.now() - t0) * 1000.0 >= SET_GRACE_MS as f64 {
            break;
        }
        sys.sleep_ms(20);
    }
    let left: Vec<&Member> = members.iter().filter(|m| !gone(sys, m)).collect();
    for m in &left {
        if m.stopped {
            let _ = send(sys, m, mech, libc::SIGCONT);
        }
    }
    out.left = left.iter().map(|m| (m.v.pid, m.v.starttime)).collect();
    out.secs = sys.now() - t0;
    out
}

/// Why a cgroup is never killed whole.
pub fn cgroup_refused(rel: &[u8], daemon_cgroup: &[u8]) -> Option<&'static str> {
    if rel.len() >= 255 {
        // Text keeps 255 bytes: a longer path was cut and names another cgroup.
        return Some("its path is too long to be sure of it");
    }
    if daemon_cgroup.is_empty() {
        return Some("the daemon's own cgroup is unknown");
    }
    let rel = trim_slash(rel);
    if rel.is_empty() {
        return Some("it is the root cgroup");
    }
    if rel == b"init.scope" {
        return Some("it is init.scope");
    }
    let mine = trim_slash(daemon_cgroup);
    if mine == rel || (mine.starts_with(rel) && mine.get(rel.len()) == Some(&b'/')) {
        return Some("it holds the daemon");
    }
    None
}

fn trim_slash(p: &[u8]) -> &[u8] {
    let p = p.strip_prefix(b"/").unwrap_or(p);
    p.strip_suffix(b"/").unwrap_or(p)
}

/// Whether a victim's leaf cgroup is a workload cgroup that `--cgroup-kill` kills whole:
/// any cgroup with `memory.oom.group` set, the kernel's own "kill it as a whole" flag
/// (Documentation/admin-guide/cgroup-v2.rst; systemd sets it for `OOMPolicy=kill`), or a
/// systemd scope without child cgroups: an application or container started as a unit of
/// its own (`app-*.scope`, `docker-*.scope`, `run-*.scope`), not `init.scope` nor a login
/// session's `session-N.scope` (the admin's shell and terminal). A `*.service` is not
/// killed whole unless it asked to be (oom.group): a service's cgroup holds its daemon,
/// which a job it started (cron's, an sshd session without PAM) must not take with it.
pub fn is_workload(name: &[u8], leaf: bool, oom_group: bool) -> Option<&'static str> {
    if oom_group {
        return Some("memory.oom.group is set");
    }
    if leaf && name.ends_with(b".scope") && name != b"init.scope" && !name.starts_with(b"session-")
    {
        return Some("an application scope");
    }
    None
}

/// Whether cgroup `dir` has `memory.oom.group` set.
pub fn oom_group(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("memory.oom.group")).is_ok_and(|s| s.trim() == "1")
}

/// A process that manages a whole session or container (systemd, a user's `systemd
/// --user`, a PID namespace's init): never a storm's source, whatever it forks, since
/// killing it takes every service it runs.
pub fn is_manager(v: &Victim) -> bool {
    v.comm.as_bytes() == b"systemd" || v.dir.status().is_ok_and(|s| s.ns_init)
}

/// Whether `dir` has child cgroups.
pub fn has_children(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten()
            .any(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    })
}

/// Kills cgroup `dir` whole, its `members` pinned (and stopped) by the caller:
/// `cgroup.kill` (Linux 5.14+) SIGKILLs every process in it and its descendants at once,
/// so nothing forks its way out. Where that file is missing (before 5.14) or read-only
/// (the shipped unit's ProtectControlGroups=): freeze it (`cgroup.freeze`, 5.2+) if
/// possible, SIGKILL each pinned member (a frozen or stopped task still dies of SIGKILL),
/// thaw. Then as [`kill_set`]: wait, resume and list who is left.
pub fn kill_cgroup(
    sys: &mut impl Sys,
    dir: &Path,
    members: &[Member],
    mech: Mechanism,
) -> SetOutcome {
    use std::os::unix::ffi::OsStrExt;
    let t0 = sys.now();
    let file = |name: &str| -> PathBuf { dir.join(name) };
    let mut out = SetOutcome::default();
    match sys.write_control(file("cgroup.kill").as_os_str().as_bytes(), b"1") {
        Ok(()) => out.sent = members.len(),
        Err(e) => {
            crate::warn!(
                "cgroup kill: writing {}: {}; freezing it and killing its {} processes one by one\n",
                file("cgroup.kill").display(),
                e,
                members.len()
            );
            let freeze = file("cgroup.freeze");
            let frozen = sys
                .write_control(freeze.as_os_str().as_bytes(), b"1")
                .is_ok();
            for m in members {
                if send(sys, m, mech, libc::SIGKILL).is_ok() {
                    out.sent += 1;
                }
            }
            if frozen {
                let _ = sys.write_control(freeze.as_os_str().as_bytes(), b"0");
            }
        }
    }
    finish(sys, members, mech, t0, out)
}

/// `dir`'s processes (cgroup.procs of it and its descendants), sorted; the listing knows
/// no start times, so [`pin`] checks membership instead.
pub fn cgroup_members(dir: &Path) -> Vec<Listed> {
    crate::cgroup::procs(dir)
        .into_iter()
        .map(|p| (p, None))
        .collect()
}

/// Reads a process's age in seconds at `uptime_s` from its stat start time.
pub fn age_s(st_starttime: u64, uptime_s: f64) -> f64 {
    let hz = sys::clock_ticks().max(1) as f64;
    (uptime_s - st_starttime as f64 / hz).max(0.0)
}

/// Seconds since boot, from `<root>/uptime`.
pub fn uptime_s(root: &ProcRoot) -> Option<f64> {
    let mut p = root.0.clone();
    p.extend_from_slice(b"/uptime");
    let mut buf = [0u8; 64];
    let n = sys::read_at(sys::cwd(), &CPath::of(&p).ok()?, &mut buf).ok()?;
    let first = buf[..n].split(|&b| b == b' ').next()?;
    std::str::from_utf8(first).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(ppid: i32, pgrp: i32, starttime: u64) -> Stat {
        Stat {
            state: b'S',
            ppid,
            pgrp,
            starttime,
            ..Stat::default()
        }
    }

    #[test]
    fn a_subtree_is_the_parent_and_its_younger_descendants() {
        let all = [
            (300, st(1, 300, 100)),
            (301, st(300, 300, 110)),
            (302, st(301, 300, 120)),
            (303, st(1, 303, 130)),
            // Has 300 as parent by number but started before it: another process's child.
            (299, st(300, 299, 50)),
        ];
        assert_eq!(
            subtree(&all, 300, 100),
            vec![(300, 100), (301, 110), (302, 120)]
        );
        assert_eq!(group(&all, 300), vec![(300, 100), (301, 110), (302, 120)]);
    }

    #[test]
    fn root_init_scope_and_the_daemons_cgroups_are_never_killed_whole() {
        let me = b"/system.slice/earlyoom.service";
        assert!(cgroup_refused(b"/", me).is_some());
        assert!(cgroup_refused(b"/init.scope", me).is_some());
        assert!(cgroup_refused(b"/system.slice", me).is_some());
        assert!(cgroup_refused(b"/system.slice/earlyoom.service", me).is_some());
        assert!(
            cgroup_refused(b"/app.scope", b"").is_some(),
            "own cgroup unknown"
        );
        assert!(cgroup_refused(&[b'a'; 255], me).is_some(), "a cut path");
        assert_eq!(cgroup_refused(b"/system.slice/earlyoom.serviced", me), None);
        assert_eq!(
            cgroup_refused(b"/user.slice/user-1000.slice/app.scope", me),
            None
        );
    }

    #[test]
    fn workload_cgroups() {
        assert!(
            is_workload(b"build.service", true, false).is_none(),
            "a service's daemon"
        );
        assert!(
            is_workload(b"build.service", true, true).is_some(),
            "OOMPolicy=kill"
        );
        assert!(is_workload(b"app-firefox-123.scope", true, false).is_some());
        assert!(is_workload(b"session-3.scope", true, false).is_none());
        assert!(is_workload(b"init.scope", true, false).is_none());
        assert!(is_workload(b"user@1000.service", false, false).is_none());
        assert!(is_workload(b"work", true, false).is_none());
        assert!(is_workload(b"work", false, true).is_some());
        assert!(is_workload(b"session-3.scope", true, true).is_some());
    }
}
