//! cgroup v2 readers below a configurable root (default `/sys/fs/cgroup`): pure parsers of
//! the interface files and one [`Sample`] per read (Documentation/admin-guide/cgroup-v2.rst).

use crate::sys::{self, CPath, Errno};
use std::path::{Path, PathBuf};

/// Where the unified hierarchy is mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupRoot(pub PathBuf);

impl Default for CgroupRoot {
    fn default() -> CgroupRoot {
        CgroupRoot(PathBuf::from("/sys/fs/cgroup"))
    }
}

/// A memory limit file (`memory.high`, `memory.max`, `memory.swap.max`): bytes, or None
/// for "max" (no limit).
pub fn parse_limit(buf: &[u8]) -> Option<Option<u64>> {
    let s = std::str::from_utf8(buf).ok()?.trim();
    if s == "max" {
        return Some(None);
    }
    s.parse().ok().map(Some)
}

/// A single number (`memory.current`, `memory.swap.current`).
pub fn parse_u64(buf: &[u8]) -> Option<u64> {
    std::str::from_utf8(buf).ok()?.trim().parse().ok()
}

/// A flat keyed file (`memory.events`, `memory.stat`): the value of `key`.
pub fn parse_keyed(buf: &[u8], key: &str) -> Option<u64> {
    let s = std::str::from_utf8(buf).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// The `total=` of the `full` line of a pressure file, in microseconds
/// (Documentation/accounting/psi.rst: "full avg10=0.00 avg60=0.00 avg300=0.00 total=0").
pub fn parse_full_total(buf: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(buf).ok()?;
    let line = s.lines().find(|l| l.starts_with("full "))?;
    line.split(' ')
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// One reading of a cgroup's memory state, at time `t` (CLOCK_MONOTONIC seconds).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub t: f64,
    pub current: u64,
    /// memory.high in bytes (the guard only watches cgroups where it is finite).
    pub high: u64,
    /// memory.max, None = "max".
    pub max: Option<u64>,
    /// memory.swap.max, None = "max" or not present (no swap accounting).
    pub swap_max: Option<u64>,
    pub swap_current: u64,
    /// memory.events `high`: times the cgroup was throttled / reclaimed over memory.high.
    pub events_high: u64,
    /// memory.events `oom_kill`: the kernel already acts when this rises.
    pub oom_kill: u64,
    /// memory.pressure `full total=` in µs: time all tasks of the cgroup were stalled.
    pub full_total_us: u64,
    /// memory.stat `anon`, `file` and `shmem` in bytes. `file` includes `shmem` (tmpfs,
    /// shm segments, shared anonymous mappings: cgroup-v2.rst, "memory.stat"), which is
    /// swap-backed: reclaim can move it only to swap, never drop it.
    pub anon: u64,
    pub file: u64,
    pub shmem: u64,
}

/// Largest interface file read (memory.stat is ~1.5-3 KiB on 6.x kernels).
const READ_MAX: usize = 16 * 1024;

/// Reads interface files into one buffer, allocated once and never zeroed (only the bytes a
/// read returns are looked at): the guard samples every watched cgroup on every poll, so
/// this must neither allocate nor touch 16 KiB per file. Files are opened by path: a
/// directory fd per watched cgroup would spend an fd on each, and a host with a thousand
/// capped cgroups must not run the kill path out of fds (issue 12, finding 6).
pub struct Files {
    buf: Box<[u8]>,
    path: CPath,
}

impl Default for Files {
    fn default() -> Files {
        Files {
            buf: vec![0; READ_MAX].into_boxed_slice(),
            path: CPath::new(),
        }
    }
}

impl Files {
    /// `dir/file`'s content (cut at 16 KiB).
    pub fn read(&mut self, dir: &Path, file: &str) -> Result<&[u8], Errno> {
        use std::os::unix::ffi::OsStrExt;
        let p = self.path.clear();
        if !(p.push(dir.as_os_str().as_bytes()) && p.push(b"/") && p.push(file.as_bytes())) {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        let n = sys::read_at(sys::cwd(), &self.path, &mut self.buf)?;
        Ok(&self.buf[..n])
    }

    /// A limit file: bytes, None for "max"; Err if unreadable or malformed.
    pub fn limit(&mut self, dir: &Path, file: &str) -> Result<Option<u64>, Errno> {
        parse_limit(self.read(dir, file)?).ok_or_else(bad)
    }

    /// A single number.
    pub fn number(&mut self, dir: &Path, file: &str) -> Result<u64, Errno> {
        parse_u64(self.read(dir, file)?).ok_or_else(bad)
    }
}

fn bad() -> Errno {
    Errno(libc::EINVAL)
}

/// Reads a [`Sample`] of the cgroup directory `dir`. Fails if the cgroup vanished, has no
/// memory controller or no finite memory.high. With `full` false, stops after memory.high
/// and memory.current when usage is clearly below memory.high (the sample then has only
/// those two): the guard samples every watched cgroup on every poll, and on a host with a
/// thousand capped cgroups reading seven files of each would be most of the daemon's work.
pub fn read_sample(dir: &Path, t: f64, f: &mut Files, full: bool) -> Result<Sample, Errno> {
    let mut s = Sample {
        t,
        ..Default::default()
    };
    s.high = f.limit(dir, "memory.high")?.ok_or(Errno(libc::ERANGE))?;
    s.current = f.number(dir, "memory.current")?;
    if !full && !near_high(&s) {
        return Ok(s);
    }
    s.max = f.limit(dir, "memory.max")?;
    // Absent without swap accounting (swapaccount=0 or CONFIG_MEMCG_SWAP off).
    if let Ok(m) = f.limit(dir, "memory.swap.max") {
        s.swap_max = m;
        s.swap_current = f.number(dir, "memory.swap.current")?;
    }
    let events = f.read(dir, "memory.events")?;
    s.events_high = parse_keyed(events, "high").ok_or_else(bad)?;
    s.oom_kill = parse_keyed(events, "oom_kill").unwrap_or(0);
    s.full_total_us = parse_full_total(f.read(dir, "memory.pressure")?).ok_or_else(bad)?;
    let stat = f.read(dir, "memory.stat")?;
    s.anon = parse_keyed(stat, "anon").ok_or_else(bad)?;
    s.file = parse_keyed(stat, "file").ok_or_else(bad)?;
    s.shmem = parse_keyed(stat, "shmem").unwrap_or(0);
    Ok(s)
}

/// Usage within 2 % of memory.high or above it: the only place a livelock can be (the
/// detector's own tolerance is 1 %).
pub fn near_high(s: &Sample) -> bool {
    s.current + s.high / 50 >= s.high
}

/// `nr_descendants` of the root's cgroup.stat (Documentation/admin-guide/cgroup-v2.rst,
/// "cgroup.stat"): how many live cgroups there are below it. One small read, no allocation;
/// None where the file is missing or malformed.
pub fn descendants(root: &CgroupRoot, f: &mut Files) -> Option<u64> {
    parse_keyed(f.read(&root.0, "cgroup.stat").ok()?, "nr_descendants")
}

/// When a watcher walks the cgroup tree again: every DISCOVERY_INTERVAL_S whatever happens,
/// and within a second or two of a cgroup being created or removed, which the root's
/// cgroup.stat `nr_descendants` shows (read only when a walk is allowed at all, not on every
/// poll). The livelock guard and the headroom watcher each keep one.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// When the tree was last walked, and how many cgroups it had then.
    last: f64,
    descendants: Option<u64>,
    /// Walk again as soon as REDISCOVERY_MIN_S allows, whatever the count says: after a walk
    /// that a count change caused (systemd writes memory.high just after the mkdir, so that
    /// walk may have come too early to see it), and when a watcher asks ([`Discovery::soon`]).
    walk_soon: bool,
}

/// How often the tree is walked again for new or removed cgroups, or for a limit set on an
/// existing one, whatever else happens.
pub const DISCOVERY_INTERVAL_S: f64 = 10.0;
/// A change in the number of cgroups walks the tree at once, but not more often than this:
/// a box that starts and stops services or app scopes all the time must not walk its whole
/// tree on every poll.
pub const REDISCOVERY_MIN_S: f64 = 1.0;

impl Default for Discovery {
    fn default() -> Discovery {
        Discovery {
            last: f64::NEG_INFINITY,
            descendants: None,
            walk_soon: false,
        }
    }
}

impl Discovery {
    /// Whether to walk the tree under `root` now; if so, it counts as walked.
    pub fn due(&mut self, now: f64, root: &CgroupRoot, f: &mut Files) -> bool {
        if now < self.last + REDISCOVERY_MIN_S {
            return false;
        }
        let descendants = descendants(root, f);
        let walk = now >= self.last + DISCOVERY_INTERVAL_S
            || self.walk_soon
            || descendants != self.descendants;
        if walk {
            // The first walk is not a change; a later count change earns one more walk.
            self.walk_soon = self.descendants.is_some() && descendants != self.descendants;
            self.last = now;
            self.descendants = descendants;
        }
        walk
    }

    /// Walk again as soon as allowed (a watched cgroup went away, and may come back).
    pub fn soon(&mut self) {
        self.walk_soon = true;
    }
}

/// Why the guard cannot work under `root`, or Ok if it is a cgroup v2 hierarchy with the
/// memory controller and PSI.
pub fn check_v2(root: &CgroupRoot) -> Result<(), String> {
    check_memory_v2(root)?;
    if !root.0.join("memory.pressure").exists() && !Path::new("/proc/pressure/memory").exists() {
        return Err("the kernel has no PSI (CONFIG_PSI off or psi=0)".into());
    }
    Ok(())
}

/// Why nothing can be watched under `root`, or Ok if it is a cgroup v2 hierarchy with the
/// memory controller (what `--cgroup-headroom` needs; the guard needs PSI as well).
pub fn check_memory_v2(root: &CgroupRoot) -> Result<(), String> {
    let shown = root.0.display();
    let controllers = std::fs::read_to_string(root.0.join("cgroup.controllers"))
        .map_err(|_| format!("{shown} is not a cgroup v2 mount (cgroup v1 or hybrid hierarchy)"))?;
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!("the memory controller is not available in {shown}"));
    }
    Ok(())
}

/// One cgroup of a walk: its directory, its path below the walk's top (`a/b`, empty for the
/// top itself) and its parent's index in the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub rel: String,
    pub parent: Option<usize>,
}

/// The cgroup tree below (and including) `top`, breadth first: parents before children,
/// siblings by name. The one walker of the project: the guard's discovery, the victims of a
/// cgroup's subtree and earlyoomctl's view of the tree all come from it. It allocates (a
/// walk happens at most once a second, never in a poll that finds nothing new).
pub fn walk(top: &Path) -> Vec<Node> {
    let mut out = vec![Node {
        path: top.to_path_buf(),
        rel: String::new(),
        parent: None,
    }];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i].path) {
            let mut kids: Vec<_> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.file_name())
                .collect();
            kids.sort();
            for k in kids {
                let name = k.to_string_lossy();
                let rel = if out[i].rel.is_empty() {
                    name.into_owned()
                } else {
                    format!("{}/{name}", out[i].rel)
                };
                let path = out[i].path.join(&k);
                out.push(Node {
                    path,
                    rel,
                    parent: Some(i),
                });
            }
        }
        i += 1;
    }
    out
}

/// Every cgroup below `root` (not the root itself) with a finite memory.high, by path.
pub fn discover(root: &CgroupRoot) -> Vec<PathBuf> {
    let mut f = Files::default();
    let mut out: Vec<PathBuf> = walk(&root.0)
        .into_iter()
        .skip(1)
        .filter(|n| matches!(f.limit(&n.path, "memory.high"), Ok(Some(_))))
        .map(|n| n.path)
        .collect();
    out.sort();
    out
}

/// The pids in `dir` and all its descendants (`cgroup.procs`), sorted and deduplicated.
/// Each file is read whole (a cgroup of a fork storm holds thousands of pids, far past any
/// fixed buffer), and only complete lines count: a number cut short would name another
/// process. Allocates; called only when acting on a cgroup.
pub fn procs(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for n in walk(dir) {
        if let Ok(text) = std::fs::read(n.path.join("cgroup.procs")) {
            pids.extend(parse_procs(&text));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The pids of a cgroup.procs text: one per newline-terminated line.
pub fn parse_procs(text: &[u8]) -> impl Iterator<Item = i32> + '_ {
    let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    text[..complete]
        .split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok()?.trim().parse::<i32>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_limit(b"max\n"), Some(None));
        assert_eq!(parse_limit(b"314572800\n"), Some(Some(314_572_800)));
        assert_eq!(parse_limit(b"lots"), None);
        let events = b"low 0\nhigh 882948\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";
        assert_eq!(parse_keyed(events, "high"), Some(882_948));
        assert_eq!(parse_keyed(events, "oom_kill"), Some(0));
        assert_eq!(parse_keyed(events, "hig"), None);
        let psi = b"some avg10=80.12 avg60=70.00 avg300=20.00 total=123456\nfull avg10=79.00 avg60=69.00 avg300=19.00 total=120000\n";
        assert_eq!(parse_full_total(psi), Some(120_000));
        assert_eq!(
            parse_full_total(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"),
            None
        );
        let procs: Vec<i32> = parse_procs(b"1\n102339\n1023").collect();
        assert_eq!(procs, [1, 102339], "a cut last line names nobody");
        let stat = b"anon 346030080\nfile 1212416\nkernel 2000000\nanon_thp 0\n";
        assert_eq!(parse_keyed(stat, "anon"), Some(346_030_080));
        assert_eq!(parse_keyed(stat, "file"), Some(1_212_416));
    }
}
