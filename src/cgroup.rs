//! cgroup v2 readers below a configurable root (default `/sys/fs/cgroup`): pure parsers of
//! the interface files and one [`Sample`] per read (Documentation/admin-guide/cgroup-v2.rst).

use crate::sys::Errno;
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

/// Reads `dir/file` into `buf` through a stack path and one pread: the guard samples every
/// watched cgroup on every poll, so this must not allocate once `buf` has grown to READ_MAX.
fn read(dir: &Path, file: &str, buf: &mut Vec<u8>) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let mut path = crate::sys::CPath::new();
    if !(path.push(dir.as_os_str().as_bytes()) && path.push(b"/") && path.push(file.as_bytes())) {
        return Err(Errno(libc::ENAMETOOLONG));
    }
    buf.resize(READ_MAX, 0);
    let n = crate::sys::read_at(libc::AT_FDCWD, &path, buf);
    buf.truncate(*n.as_ref().unwrap_or(&0));
    n.map(|_| ())
}

fn bad() -> Errno {
    Errno(libc::EINVAL)
}

/// Reads a [`Sample`] of the cgroup directory `dir`. Fails if the cgroup vanished, has no
/// memory controller or no finite memory.high. With `full` false, stops after memory.high
/// and memory.current when usage is clearly below memory.high (the sample then has only
/// those two): the guard samples every watched cgroup on every poll, and on a host with a
/// thousand capped cgroups reading seven files of each would be most of the daemon's work.
pub fn read_sample(dir: &Path, t: f64, buf: &mut Vec<u8>, full: bool) -> Result<Sample, Errno> {
    let mut s = Sample {
        t,
        ..Default::default()
    };
    read(dir, "memory.high", buf)?;
    s.high = parse_limit(buf)
        .ok_or_else(bad)?
        .ok_or(Errno(libc::ERANGE))?;
    read(dir, "memory.current", buf)?;
    s.current = parse_u64(buf).ok_or_else(bad)?;
    if !full && !near_high(&s) {
        return Ok(s);
    }
    read(dir, "memory.max", buf)?;
    s.max = parse_limit(buf).ok_or_else(bad)?;
    // Absent without swap accounting (swapaccount=0 or CONFIG_MEMCG_SWAP off).
    if read(dir, "memory.swap.max", buf).is_ok() {
        s.swap_max = parse_limit(buf).ok_or_else(bad)?;
        read(dir, "memory.swap.current", buf)?;
        s.swap_current = parse_u64(buf).ok_or_else(bad)?;
    }
    read(dir, "memory.events", buf)?;
    s.events_high = parse_keyed(buf, "high").ok_or_else(bad)?;
    s.oom_kill = parse_keyed(buf, "oom_kill").unwrap_or(0);
    read(dir, "memory.pressure", buf)?;
    s.full_total_us = parse_full_total(buf).ok_or_else(bad)?;
    read(dir, "memory.stat", buf)?;
    s.anon = parse_keyed(buf, "anon").ok_or_else(bad)?;
    s.file = parse_keyed(buf, "file").ok_or_else(bad)?;
    s.shmem = parse_keyed(buf, "shmem").unwrap_or(0);
    Ok(s)
}

/// Usage within 2 % of memory.high or above it: the only place a livelock can be (the
/// detector's own tolerance is 1 %).
pub fn near_high(s: &Sample) -> bool {
    s.current + s.high / 50 >= s.high
}

/// `nr_descendants` of the root's cgroup.stat (Documentation/admin-guide/cgroup-v2.rst,
/// "cgroup.stat"): how many live cgroups there are below it. One small read, no allocation
/// once `buf` has grown; None where the file is missing or malformed.
pub fn descendants(root: &CgroupRoot, buf: &mut Vec<u8>) -> Option<u64> {
    read(&root.0, "cgroup.stat", buf).ok()?;
    parse_keyed(buf, "nr_descendants")
}

/// Why the guard cannot work under `root`, or Ok if it is a cgroup v2 hierarchy with the
/// memory controller and PSI.
pub fn check_v2(root: &CgroupRoot) -> Result<(), String> {
    let shown = root.0.display();
    let controllers = std::fs::read_to_string(root.0.join("cgroup.controllers"))
        .map_err(|_| format!("{shown} is not a cgroup v2 mount (cgroup v1 or hybrid hierarchy)"))?;
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!("the memory controller is not available in {shown}"));
    }
    if !root.0.join("memory.pressure").exists() && !Path::new("/proc/pressure/memory").exists() {
        return Err("the kernel has no PSI (CONFIG_PSI off or psi=0)".into());
    }
    Ok(())
}

/// Every cgroup below `root` (not the root itself) with a finite memory.high.
pub fn discover(root: &CgroupRoot) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.0.clone()];
    let mut buf = Vec::new();
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                let p = e.path();
                if read(&p, "memory.high", &mut buf).is_ok()
                    && matches!(parse_limit(&buf), Some(Some(_)))
                {
                    out.push(p.clone());
                }
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The pids in `dir` and all its descendants (`cgroup.procs`), sorted and deduplicated.
pub fn procs(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            stack.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
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
        let stat = b"anon 346030080\nfile 1212416\nkernel 2000000\nanon_thp 0\n";
        assert_eq!(parse_keyed(stat, "anon"), Some(346_030_080));
        assert_eq!(parse_keyed(stat, "file"), Some(1_212_416));
    }
}
