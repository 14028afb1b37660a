//! Reading the box below the configurable roots: meminfo through the daemon's reader, PSI
//! and the daemon's /proc/PID/status through the procfs crate, the cgroup tree through the
//! library's walker and interface-file readers, per-pid files through the daemon's
//! [`ProcDir`].

use crate::{CtlError, Roots};
use earlyoom::cgroup::{self, CgroupRoot, Files};
use earlyoom::meminfo::{self, MemInfo};
use earlyoom::proc::{ProcDir, ProcRoot, Text, DENTS_BUF};
use procfs::FromRead;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct Host {
    pub proc_root: PathBuf,
    pub cgroup_root: PathBuf,
}

/// One line of /proc/swaps.
#[derive(Clone, Debug)]
pub struct SwapDev {
    pub name: String,
    pub kind: String,
    pub size_kib: u64,
    pub used_kib: u64,
    pub priority: i64,
}

impl SwapDev {
    pub fn is_zram(&self) -> bool {
        self.name.starts_with("/dev/zram")
    }
}

/// A running earlyoom (a process whose comm is `earlyoom`), as found in the proc root; not
/// the library's `monitor::Daemon`, which is the daemon's own state.
#[derive(Clone, Debug)]
pub struct RunningDaemon {
    pub pid: i32,
    /// VmLck from /proc/PID/status, None if unreadable.
    pub vmlck_kib: Option<u64>,
    pub oom_score_adj: Option<i32>,
    /// argv[1..] from /proc/PID/cmdline.
    pub args: Vec<std::ffi::OsString>,
}

/// One cgroup of the v2 hierarchy ([`cgroup::walk`]'s node), with the memory files that
/// exist in it.
#[derive(Clone, Debug)]
pub struct Cg {
    pub path: PathBuf,
    /// Relative to the root ("" for the root itself).
    pub rel: String,
    /// Index of the parent in the walk (parents come before their children).
    pub parent: Option<usize>,
    /// The memory controller's files exist (it is enabled in the parent's subtree_control).
    pub has_memory: bool,
    /// memory.high / memory.max: bytes, None = "max".
    pub high: Option<u64>,
    pub max: Option<u64>,
    /// memory.swap.max: None = "max" or no swap accounting.
    pub swap_max: Option<u64>,
    pub current: Option<u64>,
}

/// The cgroup a command is restricted to (`candidates --cgroup`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    /// Its directory below the cgroup root.
    pub dir: PathBuf,
    /// As /proc/PID/cgroup and the daemon's logs show it: below the root, with a leading
    /// `/` (`/` for the root itself).
    pub shown: String,
}

/// A short look at one process (for naming the largest process of a cgroup).
#[derive(Clone, Debug)]
pub struct Brief {
    pub pid: i32,
    pub comm: String,
    pub rss_kib: i64,
}

impl Host {
    pub fn new(r: &Roots) -> Host {
        Host {
            proc_root: r.proc_root.clone(),
            cgroup_root: r.cgroup_root.clone(),
        }
    }

    pub fn proc(&self) -> ProcRoot {
        ProcRoot(self.proc_root.as_os_str().as_bytes().to_vec())
    }

    pub fn cgroup(&self) -> CgroupRoot {
        CgroupRoot(self.cgroup_root.clone())
    }

    /// Reading the real /proc (so earlyoomctl itself is among the processes).
    pub fn is_live(&self) -> bool {
        self.proc_root == Path::new("/proc")
    }

    /// /proc/meminfo through the daemon's reader.
    pub fn meminfo(&self) -> Result<MemInfo, CtlError> {
        let mut r = meminfo::Reader::open(self.proc_root.as_os_str().as_bytes())
            .map_err(|f| CtlError::Input(fatal_text(&f)))?;
        r.read().map_err(|f| CtlError::Input(fatal_text(&f)))
    }

    /// /proc/pressure/memory (None: no PSI, CONFIG_PSI off or psi=0).
    pub fn psi(&self) -> Result<procfs::MemoryPressure, String> {
        let p = self.proc_root.join("pressure/memory");
        procfs::MemoryPressure::from_file(&p).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// /proc/swaps.
    pub fn swaps(&self) -> Result<Vec<SwapDev>, String> {
        let p = self.proc_root.join("swaps");
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(parse_swaps(&text))
    }

    /// Every process whose comm is `earlyoom`.
    pub fn daemons(&self) -> Vec<RunningDaemon> {
        let mut out = Vec::new();
        let Ok(dir) = ProcDir::open(&self.proc()) else {
            return out;
        };
        let pids = pids(&self.proc());
        let mut comm = Text::new();
        let mut buf = [0u8; 64];
        for pid in pids {
            if dir.comm(pid, &mut comm).is_err() || comm.as_bytes() != b"earlyoom" {
                continue;
            }
            let base = self.proc_root.join(pid.to_string());
            let vmlck_kib = procfs::process::Process::new_with_root(base.clone())
                .and_then(|p| p.status())
                .ok()
                .and_then(|s| s.vmlck);
            let oom_score_adj = dir.int(pid, b"oom_score_adj", &mut buf).ok();
            let args = std::fs::read(base.join("cmdline"))
                .map(|raw| {
                    let raw = raw.strip_suffix(b"\0").unwrap_or(&raw).to_vec();
                    raw.split(|&b| b == 0)
                        .skip(1)
                        .map(|a| std::ffi::OsStr::from_bytes(a).to_os_string())
                        .collect()
                })
                .unwrap_or_default();
            out.push(RunningDaemon {
                pid,
                vmlck_kib,
                oom_score_adj,
                args,
            });
        }
        out
    }

    /// comm and RSS of the given pids, through the daemon's per-pid readers.
    pub fn briefs(&self, pids: &[i32]) -> Vec<Brief> {
        let Ok(dir) = ProcDir::open(&self.proc()) else {
            return Vec::new();
        };
        let mut buf = [0u8; 1024];
        let mut comm = Text::new();
        let pk = earlyoom::sys::page_kib();
        pids.iter()
            .filter_map(|&pid| {
                let st = dir.stat(pid, &mut buf).ok()?;
                let _ = dir.comm(pid, &mut comm);
                Some(Brief {
                    pid,
                    comm: comm.display().to_string(),
                    rss_kib: st.rss_pages * pk,
                })
            })
            .collect()
    }

    /// The cgroup `arg` names: a path below the cgroup root (`/system.slice/foo.service` or
    /// `system.slice/foo.service`), or an absolute path under the root itself
    /// (`/sys/fs/cgroup/system.slice/foo.service`). Err: why it names no cgroup there.
    pub fn cgroup_dir(&self, arg: &Path) -> Result<CgroupDir, String> {
        use std::path::Component;
        let root = &self.cgroup_root;
        // An absolute path under the root (compared as absolute paths: tests give a
        // relative root), else a path below it.
        let abs_root = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        let rel = match arg.strip_prefix(&abs_root) {
            Ok(r) if arg.is_absolute() => r,
            _ => arg.strip_prefix("/").unwrap_or(arg),
        };
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(p),
                Component::CurDir | Component::RootDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(format!(
                        "cgroup {}: '..' is not allowed (a path below {})",
                        arg.display(),
                        root.display()
                    ))
                }
            }
        }
        let mut dir = root.clone();
        let mut shown = String::new();
        for p in &parts {
            dir.push(p);
            shown.push('/');
            shown.push_str(&p.to_string_lossy());
        }
        if shown.is_empty() {
            shown.push('/');
        }
        // A cgroup directory always has cgroup.procs (the root too).
        if !dir.join("cgroup.procs").is_file() {
            let what = if dir.exists() {
                "is not a cgroup (it has no cgroup.procs)"
            } else {
                "does not exist"
            };
            return Err(format!(
                "cgroup {shown} {what} under {} (give a path below the cgroup root, e.g. /system.slice/foo.service)",
                root.display()
            ));
        }
        Ok(CgroupDir { dir, shown })
    }

    /// The whole cgroup v2 tree, parents before children, siblings by name (the library's
    /// [`cgroup::walk`]), each with its memory limits and usage.
    pub fn cgroups(&self) -> Result<Vec<Cg>, String> {
        cgroup::check_v2(&self.cgroup())?;
        let mut files = Files::default();
        let out = cgroup::walk(&self.cgroup_root)
            .into_iter()
            .map(|n| {
                // A readable memory.max means the controller is enabled for this cgroup (the
                // root has none of the files).
                let max = files.limit(&n.path, "memory.max");
                let high = files.limit(&n.path, "memory.high").ok().flatten();
                let swap_max = files.limit(&n.path, "memory.swap.max").ok().flatten();
                let current = files.number(&n.path, "memory.current").ok();
                Cg {
                    has_memory: max.is_ok(),
                    max: max.ok().flatten(),
                    high,
                    swap_max,
                    current,
                    path: n.path,
                    rel: n.rel,
                    parent: n.parent,
                }
            })
            .collect();
        Ok(out)
    }
}

/// Every pid of the proc root, ascending (none if it cannot be opened).
pub fn pids(root: &ProcRoot) -> Vec<i32> {
    let mut pids = Vec::new();
    if let Ok(dir) = ProcDir::open(root) {
        let mut dents = vec![MaybeUninit::uninit(); DENTS_BUF];
        let _ = dir.for_each_pid(&mut dents, |pid| pids.push(pid));
    }
    pids.sort_unstable();
    pids
}

/// The daemon's fatal text, for errors reading meminfo.
pub fn fatal_text(f: &earlyoom::Fatal) -> String {
    f.message()
        .map(|m| String::from_utf8_lossy(&m).trim_end().to_string())
        .unwrap_or_else(|| format!("{f:?}"))
}

pub fn parse_swaps(text: &str) -> Vec<SwapDev> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 {
                return None;
            }
            Some(SwapDev {
                // Names with spaces are escaped as \040 by the kernel.
                name: f[0].replace("\\040", " "),
                kind: f[1].to_string(),
                size_kib: f[2].parse().ok()?,
                used_kib: f[3].parse().ok()?,
                priority: f[4].parse().ok()?,
            })
        })
        .collect()
}

/// Effective memory.swap.max of `i`: the smallest along the path to the root (None: no limit).
pub fn effective_swap_max(cgs: &[Cg], i: usize) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut cur = Some(i);
    while let Some(c) = cur {
        if let Some(v) = cgs[c].swap_max {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
        cur = cgs[c].parent;
    }
    best
}

/// The smallest memory.max among the ancestors of `i` (not `i` itself).
pub fn ancestors_max(cgs: &[Cg], i: usize) -> Option<u64> {
    let mut best: Option<u64> = None;
    let mut cur = cgs[i].parent;
    while let Some(c) = cur {
        if let Some(v) = cgs[c].max {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
        cur = cgs[c].parent;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_file() {
        let s = parse_swaps(
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swapfile                               file\t\t14680060\t37952\t\t-2\n/dev/zram0 partition 8388604 0 100\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "/swapfile");
        assert_eq!(
            (s[0].size_kib, s[0].used_kib, s[0].priority),
            (14680060, 37952, -2)
        );
        assert!(!s[0].is_zram() && s[1].is_zram());
        assert!(parse_swaps("Filename Type Size Used Priority\n").is_empty());
    }
}
