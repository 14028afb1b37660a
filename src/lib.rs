//! earlyoom-rs: a memory-safe drop-in replacement for earlyoom, as a library the binary,
//! tests, benches and fuzz targets link.
//!
//! Module map (see docs/architecture.md):
//! - [`cli`], [`settings`]: earlyoom's command line with glibc getopt_long semantics, and
//!   what it makes the daemon do;
//! - [`startup`], [`monitor`]: earlyoom's startup order and self-test; the loop;
//! - [`meminfo`], [`decide`]: /proc/meminfo and the pure per-poll decision and sleep;
//! - [`proc`], [`victim`]: per-pid readers below a proc root; the ordering and the scan;
//! - [`kill`], [`hooks`], [`seam`]: the kill path, the hooks, every side effect as a trait;
//! - [`cgroup`], [`guard`]: cgroup v2 readers; the memory.high livelock guard;
//! - [`scope`], [`whole`], [`storm`], [`act`]: `--cgroup-headroom`, whole-set kills
//!   (`--cgroup-kill`, storms), `--storm-guard`, and the actions and "no kill" reasons;
//! - [`pressure`], [`warn`]: `--memory-pressure` (gated PSI trigger) and `--warn`;
//! - [`metrics`], [`journal`], [`log`], [`cfmt`]: output;
//! - [`sys`]: system calls and every unsafe.

pub mod act;
pub mod cfmt;
pub mod cgroup;
pub mod cli;
pub mod decide;
pub mod guard;
pub mod hooks;
pub mod journal;
pub mod kill;
pub mod log;
pub mod meminfo;
pub mod metrics;
pub mod monitor;
pub mod pressure;
pub mod proc;
pub mod scope;
pub mod seam;
pub mod settings;
pub mod startup;
pub mod storm;
pub mod sys;
pub mod victim;
pub mod warn;
pub mod whole;

use sys::Errno;

/// The earlyoom this daemon keeps the behaviour of: master at commit 5c3e3ea (after v1.9.0,
/// with `--kernel-oom`). Every `file:line` in a comment of this project points into that
/// tree; docs/contract.md is the behaviour it describes.
pub const EARLYOOM_COMPAT: &str = "v1.9.0+5c3e3ea";

/// Every way the daemon ends on its own; `main.rs` maps each to earlyoom's exit code
/// (docs/contract.md §2.11) and prints [`Fatal::message`] through the logger as `fatal: ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fatal {
    /// chdir("/proc") failed (exit 4).
    ProcChdir(Errno),
    /// Opening /proc for a victim scan failed (exit 5).
    ProcOpen(Errno),
    /// A --prefer/--avoid/--ignore pattern does not compile (exit 6).
    Regex(Vec<u8>),
    /// getopt rejected an option; glibc's diagnostic was already printed (exit 13).
    Usage,
    /// A non-option argument was left over (exit 13).
    ExtraArg(Vec<u8>),
    /// `-r` was negative (exit 14).
    Interval(Vec<u8>),
    /// `-m`/`-M` did not parse (exit 15).
    MemThreshold { opt: u8, err: String },
    /// `-s`/`-S` did not parse (exit 16).
    SwapThreshold { opt: u8, err: String },
    /// /proc/meminfo could not be opened (exit 102).
    MeminfoOpen(Errno),
    /// /proc/meminfo could not be read, or was empty (None) (exit 103).
    MeminfoRead(Option<Errno>),
    /// A required /proc/meminfo entry is missing or does not parse (exit 104).
    MeminfoEntry { key: &'static str, errno: Errno },
    /// One of our own (non-earlyoom) options has a bad value (exit 17).
    Option { opt: &'static str, err: String },
}

impl Fatal {
    /// The text after `fatal: `, byte for byte as earlyoom prints it (some have no newline).
    pub fn message(&self) -> Option<Vec<u8>> {
        let s = match self {
            Fatal::ProcChdir(e) => format!("Could not cd to /proc: {e}"),
            Fatal::ProcOpen(e) => format!("find_largest_process: could not open /proc: {e}"),
            Fatal::Regex(p) => {
                let mut v = b"could not compile regexp '".to_vec();
                v.extend_from_slice(p);
                v.extend_from_slice(b"'\n");
                return Some(v);
            }
            Fatal::Usage => return None,
            Fatal::ExtraArg(a) => {
                let mut v = b"extra argument not understood: '".to_vec();
                v.extend_from_slice(a);
                v.extend_from_slice(b"'\n");
                return Some(v);
            }
            Fatal::Interval(a) => {
                let mut v = b"-r: invalid interval '".to_vec();
                v.extend_from_slice(a);
                v.extend_from_slice(b"'\n");
                return Some(v);
            }
            Fatal::MemThreshold { opt, err } | Fatal::SwapThreshold { opt, err } => {
                format!("-{}: {err}", *opt as char)
            }
            Fatal::MeminfoOpen(e) => format!("could not open /proc/meminfo: {e}\n"),
            Fatal::MeminfoRead(Some(e)) => format!("could not read /proc/meminfo: {e}\n"),
            Fatal::MeminfoRead(None) => "could not read /proc/meminfo: 0 bytes returned\n".into(),
            Fatal::MeminfoEntry { key, errno } => {
                format!("could not find entry '{key}' in /proc/meminfo: {errno}\n")
            }
            Fatal::Option { opt, err } => format!("{opt}: {err}\n"),
        };
        Some(s.into_bytes())
    }
}
