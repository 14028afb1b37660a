//! Victim selection: earlyoom's ordering as pure functions, and the scan over a proc root.
//!
//! The scan follows earlyoom's `find_largest_process`/`is_larger` (docs/contract.md §5.1-5.3): per pid it
//! reads only what it needs, in earlyoom's order, and skips at the first failure. Deliberate
//! differences (docs/compatibility.md): zombies are never victims, and when the daemon itself
//! would win, the next candidate is taken instead of killing nothing.

use crate::proc::{PidDir, PidFiles, ProcDir, ProcRoot, Text};
use crate::sys::CPath;
use crate::sys::{self, Errno};
use crate::Fatal;
use regex::bytes::{Regex, RegexBuilder};
use std::mem::MaybeUninit;

/// earlyoom's "field not set" placeholder (meminfo.h:38), printed in debug tables.
pub const NOT_SET: i32 = -9999;
/// `--prefer`/`--avoid` adjustment in oom_score points ...
pub const SCORE_BONUS: i32 = 300;
/// ... and in KiB with `--sort-by-rss` (3 GiB).
pub const RSS_BONUS_KIB: i64 = 3_145_728;

/// What one `--prefer` match adds (and `--avoid` subtracts): oom_score points by default,
/// RSS with `--sort-by-rss`, never both (earlyoom kill.c `is_larger`).
pub fn bonus(sort_by_rss: bool) -> Rank {
    if sort_by_rss {
        Rank {
            oom_score: 0,
            rss_kib: RSS_BONUS_KIB,
        }
    } else {
        Rank {
            oom_score: SCORE_BONUS,
            rss_kib: 0,
        }
    }
}

/// What the ordering compares: oom_score and RSS, both already adjusted by prefer/avoid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rank {
    pub oom_score: i32,
    pub rss_kib: i64,
}

/// earlyoom's `is_larger` comparison (kill.c:478-514): does `cur` beat `victim`?
/// Default: higher oom_score, then higher RSS; a full tie keeps the earlier pid.
/// `--sort-by-rss`: higher RSS then higher oom_score. earlyoom sends every pair in which an
/// RSS is not positive down the oom_score path, meant for a zombie main thread (RSS 0, but
/// the threads still hold memory). An RSS that `--avoid` pushed below zero went the same way
/// (earlyoom #377): an avoided process then competed with its full oom_score and could win
/// over every real hog. Here only an RSS of exactly 0 means "zombie main thread, compare by
/// oom_score"; a negative RSS is simply smaller than any other, so an avoided process under
/// 3 GiB never beats one that is not avoided (earlyoom PR #381 makes the same change).
pub fn is_larger(sort_by_rss: bool, victim: Rank, cur: Rank) -> bool {
    let by_rss = (cur.rss_kib > 0 && victim.rss_kib > 0) || cur.rss_kib < 0 || victim.rss_kib < 0;
    if sort_by_rss && by_rss {
        return cur.rss_kib > victim.rss_kib
            || (cur.rss_kib == victim.rss_kib && cur.oom_score > victim.oom_score);
    }
    cur.oom_score > victim.oom_score
        || (cur.oom_score == victim.oom_score && cur.rss_kib > victim.rss_kib)
}

/// As the scan applies [`is_larger`]: the first eligible process (no victim yet) always wins.
pub fn beats(sort_by_rss: bool, victim: Option<Rank>, cur: Rank) -> bool {
    victim.is_none_or(|v| is_larger(sort_by_rss, v, cur))
}

/// Why a process can never be the victim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// pid 1 or 2 (init, kthreadd).
    InitOrKthreadd,
    /// `--ignore-root-user` and owned by root.
    RootUser,
    /// A child of kthreadd.
    KernelThread,
    /// A zombie (no memory to free).
    Zombie,
    /// `--ignore` matched its name.
    Ignored,
    /// oom_score_adj is -1000.
    Protected,
    /// The daemon itself.
    Myself,
    /// Already sent SIGKILL and it did not exit (stuck in the kernel: D state, a frozen
    /// cgroup): signalling it again frees nothing, so the scan passes over it.
    Unkillable,
    /// A per-pid file could not be read (the process vanished, or hidepid).
    Unreadable(&'static str),
    /// Lost the comparison against the current victim (only inside a scan).
    NotLarger,
}

/// One process as the daemon judges it, for tools (`earlyoomctl candidates`): the kernel's
/// numbers and the adjusted ones the ordering compares, each None where the scan's own
/// read sequence did not get to it, so that a tool never has to know that sequence.
#[derive(Clone, Debug)]
pub struct Ranked {
    pub pid: i32,
    pub uid: Option<u32>,
    pub comm: Text,
    /// As the kernel gives them, before prefer/avoid.
    pub oom_score: Option<i32>,
    pub oom_score_adj: Option<i32>,
    pub rss_kib: Option<i64>,
    /// `--prefer` / `--avoid` matched (both can).
    pub prefer: bool,
    pub avoid: bool,
    /// What the ordering compares (prefer/avoid applied), for a process that can be chosen.
    pub adjusted: Option<Rank>,
    /// Why it can never be chosen.
    pub skip: Option<Skip>,
    /// 1-based: the order in which repeated scans would choose the eligible processes (#1
    /// is what one scan picks, #2 what the next picks once #1 is gone, ...).
    pub position: Option<usize>,
}

/// A chosen process, with what the kill log, the hooks and the identity check need.
#[derive(Debug)]
pub struct Victim {
    pub pid: i32,
    pub uid: i32,
    /// Adjusted by prefer/avoid, as earlyoom logs it.
    pub oom_score: i32,
    pub oom_score_adj: i32,
    /// Adjusted by prefer/avoid in `--sort-by-rss` mode, as earlyoom logs it.
    pub rss_kib: i64,
    /// Field 22 of stat at scan time: with the pid, the process's identity.
    pub starttime: u64,
    pub comm: Text,
    pub cmdline: Text,
    /// The victim's own /proc directory, open since the scan chose it: every number above
    /// was read through it, and the kill path proves the victim is still this process by
    /// reading through it again.
    pub dir: PidDir,
}

impl Victim {
    fn rank(&self) -> Rank {
        Rank {
            oom_score: self.oom_score,
            rss_kib: self.rss_kib,
        }
    }

    /// Whether the victim is still the process the scan chose: a read through its pinned
    /// directory succeeds (the process exists, so nobody else has its pid) with the start
    /// time the scan saw.
    pub fn still_itself(&self) -> bool {
        let mut buf = [0u8; 1024];
        self.dir
            .reader()
            .stat(&mut buf)
            .is_ok_and(|st| st.starttime == self.starttime)
    }

    /// Pins `pid` below `root` as a victim without a scan (tools and tests): its numbers are
    /// read as the scan reads them, without prefer/avoid.
    pub fn pin(root: &ProcRoot, pid: i32) -> Result<Victim, Errno> {
        let procdir = ProcDir::open(root)?;
        let dir = procdir.open_pid(pid, &mut CPath::new())?;
        let mut f = dir.reader();
        let mut buf = [0u8; 1024];
        let st = f.stat(&mut buf)?;
        let mut v = Victim {
            pid,
            uid: f.uid().map_or(NOT_SET, |u| u as i32),
            oom_score: f.int(b"oom_score", &mut buf).unwrap_or(NOT_SET),
            oom_score_adj: f.int(b"oom_score_adj", &mut buf).unwrap_or(NOT_SET),
            rss_kib: st.rss_pages * sys::page_kib(),
            starttime: st.starttime,
            comm: Text::new(),
            cmdline: Text::new(),
            dir,
        };
        let _ = v.dir.reader().comm(&mut v.comm);
        let _ = v.dir.reader().cmdline(&mut v.cmdline);
        Ok(v)
    }
}

/// The three regexes, compiled once at startup (settings.rs).
#[derive(Clone, Debug, Default)]
pub struct Matchers {
    pub prefer: Option<Regex>,
    pub avoid: Option<Regex>,
    pub ignore: Option<Regex>,
}

/// Builds a regex from a pattern given as bytes. `regex::bytes` with Unicode off matches
/// bytes, like glibc's ERE in the C locale; bytes that are not ASCII become `\xNN` escapes
/// so that any argv byte string can be a pattern (differences: docs/compatibility.md).
pub fn compile(pattern: &[u8]) -> Result<Regex, Fatal> {
    let mut src = String::with_capacity(pattern.len());
    for &b in pattern {
        if b.is_ascii() {
            src.push(b as char);
        } else {
            src.push_str(&format!("\\x{b:02X}"));
        }
    }
    RegexBuilder::new(&src)
        .unicode(false)
        // glibc ERE without REG_NEWLINE lets `.` match a newline, and a comm can hold one.
        .dot_matches_new_line(true)
        .build()
        .map_err(|_| Fatal::Regex(pattern.to_vec()))
}

impl Matchers {
    fn any(&self) -> bool {
        self.prefer.is_some() || self.avoid.is_some() || self.ignore.is_some()
    }
}

/// Selection options taken from the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub sort_by_rss: bool,
    pub ignore_root_user: bool,
}

/// One scan's result.
#[derive(Debug)]
pub struct Selection {
    pub victim: Option<Victim>,
    /// The daemon itself would have won (earlyoom's "selected myself" case); we logged it and
    /// took the best other process instead.
    pub skipped_self: bool,
    /// Why the processes looked at were passed over. Exact when there is no victim (then no
    /// process lost a comparison, every one was judged on every rule): the "no kill" line
    /// says why nothing could be chosen.
    pub skipped: SkipCounts,
}

/// Processes a scan looked at, and how many each rule passed over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkipCounts {
    pub seen: u32,
    pub init_or_kthreadd: u32,
    pub root_user: u32,
    pub kernel_thread: u32,
    pub zombie: u32,
    pub ignored: u32,
    pub protected: u32,
    pub myself: u32,
    pub unkillable: u32,
    pub unreadable: u32,
}

impl SkipCounts {
    pub fn add(&mut self, s: Skip) {
        let n = match s {
            Skip::InitOrKthreadd => &mut self.init_or_kthreadd,
            Skip::RootUser => &mut self.root_user,
            Skip::KernelThread => &mut self.kernel_thread,
            Skip::Zombie => &mut self.zombie,
            Skip::Ignored => &mut self.ignored,
            Skip::Protected => &mut self.protected,
            Skip::Myself => &mut self.myself,
            Skip::Unkillable => &mut self.unkillable,
            Skip::Unreadable(_) => &mut self.unreadable,
            Skip::NotLarger => return,
        };
        *n += 1;
    }

    /// The rules that passed over someone, with their counts: `3 ignored by --ignore, 1 with
    /// oom_score_adj -1000`. Only the nonzero ones, in the scan's order of rules.
    pub fn rules(&self) -> String {
        let parts = [
            (self.init_or_kthreadd, "init or kthreadd"),
            (self.root_user, "owned by root (--ignore-root-user)"),
            (self.kernel_thread, "kernel threads"),
            (self.zombie, "zombies"),
            (self.ignored, "ignored by --ignore"),
            (self.protected, "with oom_score_adj -1000"),
            (self.myself, "the daemon itself"),
            (self.unkillable, "sent SIGKILL already and not exiting"),
            (self.unreadable, "unreadable (exited meanwhile, or hidepid)"),
        ];
        let mut out = String::new();
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(&format!("{n} {what}"));
        }
        out
    }
}

/// Processes that were sent SIGKILL and did not exit (pid, start time): a small fixed ring,
/// so remembering never allocates; the oldest entry goes first. A process that is stuck
/// for good stays stuck, and 16 of them at once is already a box beyond help.
#[derive(Clone, Debug, Default)]
pub struct Unkillable {
    ring: [(i32, u64); 16],
    next: usize,
}

impl Unkillable {
    pub fn remember(&mut self, pid: i32, starttime: u64) {
        if !self.contains(pid, starttime) {
            self.ring[self.next] = (pid, starttime);
            self.next = (self.next + 1) % self.ring.len();
        }
    }

    pub fn contains(&self, pid: i32, starttime: u64) -> bool {
        pid > 0 && self.ring.contains(&(pid, starttime))
    }
}

/// Reusable scan state: buffers are allocated once, so a scan allocates nothing.
pub struct Scanner {
    pub root: ProcRoot,
    pub opts: Options,
    pub matchers: Matchers,
    /// Passed over by every scan (see [`Skip::Unkillable`]).
    pub unkillable: Unkillable,
    dents: Vec<MaybeUninit<u8>>,
    /// The per-pid path buffer, kept so that no read builds (or zeroes) one.
    path: CPath,
    file: Vec<u8>,
    my_pid: i32,
    page_kib: i64,
    /// Judging a pinned would-be victim again: earlyoom's per-process warnings were already
    /// given in the first look.
    quiet: bool,
}

/// A per-pid record filled lazily, in earlyoom's order.
struct Cur {
    pid: i32,
    uid: i32,
    oom_score: i32,
    oom_score_adj: i32,
    rss_kib: i64,
    starttime: u64,
    comm: Text,
    comm_read: bool,
    prefer: bool,
    avoid: bool,
    /// The kernel's numbers as read, before prefer/avoid (for tools).
    raw_score: Option<i32>,
    raw_rss: Option<i64>,
}

impl Cur {
    /// A fresh record: every number "not set" (-9999), as earlyoom's.
    fn new(pid: i32) -> Cur {
        Cur {
            pid,
            uid: NOT_SET,
            oom_score: NOT_SET,
            oom_score_adj: NOT_SET,
            rss_kib: NOT_SET as i64,
            starttime: 0,
            comm: Text::new(),
            comm_read: false,
            prefer: false,
            avoid: false,
            raw_score: None,
            raw_rss: None,
        }
    }

    fn rank(&self) -> Rank {
        Rank {
            oom_score: self.oom_score,
            rss_kib: self.rss_kib,
        }
    }
}

impl Scanner {
    pub fn new(root: ProcRoot, opts: Options, matchers: Matchers) -> Scanner {
        Scanner {
            root,
            opts,
            matchers,
            unkillable: Unkillable::default(),
            dents: vec![MaybeUninit::uninit(); crate::proc::DENTS_BUF],
            path: CPath::new(),
            file: vec![0; 1024],
            my_pid: sys::getpid(),
            quiet: false,
            page_kib: sys::page_kib(),
        }
    }

    /// Pretend to be another pid (tests run the scan over fixture trees).
    pub fn set_my_pid(&mut self, pid: i32) {
        self.my_pid = pid;
    }

    /// Scans the proc root once (exit 5 if it cannot be opened, as earlyoom).
    pub fn scan(&mut self) -> Result<Selection, Fatal> {
        self.scan_among(None)
    }

    /// Scans only the given pids (sorted ascending), with the same rules: the livelock guard
    /// picks its victim among the processes of one cgroup this way.
    ///
    /// Each process gets a first look by path (`PID/oom_score` below the root: what almost
    /// every process is ruled out by). One that would become the victim is then pinned (its
    /// `/proc/PID` directory opened) and judged again from scratch through that directory,
    /// so the victim's every number comes from one process, and the kill path can later
    /// prove it is still that process. This costs an extra open for the few processes that
    /// take the lead during a scan, not for the others.
    pub fn scan_among(&mut self, only: Option<&[i32]>) -> Result<Selection, Fatal> {
        let dir = ProcDir::open(&self.root).map_err(Fatal::ProcOpen)?;
        let debug = crate::log::debug_enabled();
        if debug {
            crate::debug!("  PID OOM_SCORE  RSSkiB   UID OOM_SCORE_ADJ  COMM\n");
        }
        let mut best: Option<Victim> = None;
        let mut myself: Option<Rank> = None;
        let mut skipped = SkipCounts::default();
        let mut dents = std::mem::take(&mut self.dents);
        let mut path = std::mem::take(&mut self.path);
        let res = dir.for_each_pid(&mut dents, |pid| {
            if only.is_some_and(|set| set.binary_search(&pid).is_err()) {
                return;
            }
            let mut cur = Cur::new(pid);
            let floor = if pid == self.my_pid {
                None
            } else {
                best.as_ref().map(Victim::rank)
            };
            skipped.seen += 1;
            let first = self.evaluate(&mut dir.at(pid, &mut path), &mut cur, floor);
            if let Err(s) = first {
                skipped.add(s);
            }
            let mut won = first.is_ok();
            if won && pid == self.my_pid {
                skipped.add(Skip::Myself);
                myself = Some(cur.rank());
            } else if won {
                won = false;
                if let Ok(pd) = dir.open_pid(pid, &mut path) {
                    let mut pinned = Cur::new(pid);
                    self.quiet = true;
                    let again = self.evaluate(&mut pd.reader(), &mut pinned, floor);
                    self.quiet = false;
                    if again.is_ok() {
                        won = true;
                        cur = pinned;
                        best = Some(Victim {
                            pid,
                            uid: cur.uid,
                            oom_score: cur.oom_score,
                            oom_score_adj: cur.oom_score_adj,
                            rss_kib: cur.rss_kib,
                            starttime: cur.starttime,
                            comm: cur.comm,
                            cmdline: Text::new(),
                            dir: pd,
                        });
                    }
                }
            }
            if debug {
                self.debug_row(&dir, &mut cur, won && pid != self.my_pid);
            }
        });
        self.dents = dents;
        self.path = path;
        if let Err(e) = res {
            crate::warn!("find_largest_process: readdir error: {}", e);
        }
        let mut skipped_self = false;
        if let Some(me) = myself {
            if best
                .as_ref()
                .is_none_or(|b| is_larger(self.opts.sort_by_rss, b.rank(), me))
            {
                skipped_self = true;
                crate::warn!(
                    "find_largest_process: selected myself (pid {}). Do you use hidpid? See https://github.com/rfjakob/earlyoom/wiki/proc-hidepid\n",
                    self.my_pid
                );
            }
        }
        if let Some(v) = best.as_mut() {
            fill_informative_fields(v);
        }
        Ok(Selection {
            victim: best,
            skipped_self,
            skipped,
        })
    }

    /// earlyoom's `is_larger` read sequence: Ok if `cur` is eligible and (when `victim` is
    /// given) beats it, else why not. Without `victim` nothing short-circuits on the
    /// comparison, so every eligible process gets its oom_score_adj read (`survey`).
    fn evaluate(
        &mut self,
        f: &mut impl PidFiles,
        cur: &mut Cur,
        victim: Option<Rank>,
    ) -> Result<(), Skip> {
        let pid = cur.pid;
        // 1. init and kthreadd.
        if pid <= 2 {
            return Err(Skip::InitOrKthreadd);
        }
        // 2. --ignore-root-user: the owner of /proc/PID.
        if self.opts.ignore_root_user {
            match f.uid() {
                Ok(uid) => cur.uid = uid as i32,
                Err(e) => {
                    crate::debug!("is_larger: pid {}: error reading uid: {}\n", pid, e);
                    return Err(Skip::Unreadable("uid"));
                }
            }
            if cur.uid == 0 {
                return Err(Skip::RootUser);
            }
        }
        // earlyoom reads stat (3-4), then oom_score (5), then comm (6). Only the order of
        // reads differs here, never the outcome: by default the ranking is by oom_score,
        // so oom_score and the name come first and stat (the kernel-thread and zombie
        // rules, RSS for ties) is read only for processes that can still win. That saves
        // three syscalls for most processes of a scan. With --sort-by-rss, RSS decides,
        // so stat stays first.
        if self.opts.sort_by_rss {
            self.read_stat(f, cur)?;
            self.read_score_and_name(f, cur)?;
        } else {
            self.read_score_and_name(f, cur)?;
            if victim.is_some_and(|v| cur.oom_score < v.oom_score) {
                return Err(Skip::NotLarger);
            }
            self.read_stat(f, cur)?;
        }
        // 7. Compare.
        if self.opts.sort_by_rss && cur.rss_kib == 0 {
            self.zombie_main_thread_warning(f, cur);
        }
        if !beats(self.opts.sort_by_rss, victim, cur.rank()) {
            return Err(Skip::NotLarger);
        }
        // 8. oom_score_adj last, only for would-be winners; -1000 means "never".
        match f.int(b"oom_score_adj", &mut self.file) {
            Ok(adj) => cur.oom_score_adj = adj,
            Err(e) => {
                crate::debug!(
                    "is_larger: pid {}: error reading oom_score_adj: {}\n",
                    pid,
                    e
                );
                return Err(Skip::Unreadable("oom_score_adj"));
            }
        }
        if cur.oom_score_adj == -1000 {
            return Err(Skip::Protected);
        }
        Ok(())
    }

    /// Every process judged by the daemon's own rules, the eligible ones in the order repeated
    /// scans would choose them, then the others in scan order (`earlyoomctl candidates`).
    pub fn rank(&mut self) -> Result<Vec<Ranked>, Fatal> {
        self.rank_among(None)
    }

    /// [`Scanner::rank`] over the pids in `only` (sorted ascending), as
    /// [`Scanner::scan_among`] chooses among them: the order repeated scans of a cgroup's
    /// processes would kill them in (`--cgroup-headroom`, `earlyoomctl candidates --cgroup`).
    pub fn rank_among(&mut self, only: Option<&[i32]>) -> Result<Vec<Ranked>, Fatal> {
        let mut all = Vec::new();
        let dir = ProcDir::open(&self.root).map_err(Fatal::ProcOpen)?;
        let mut dents = std::mem::take(&mut self.dents);
        let mut path = std::mem::take(&mut self.path);
        let res = dir.for_each_pid(&mut dents, |pid| {
            if only.is_some_and(|set| set.binary_search(&pid).is_err()) {
                return;
            }
            let mut cur = Cur::new(pid);
            let mut skip = self
                .evaluate(&mut dir.at(pid, &mut path), &mut cur, None)
                .err();
            if pid == self.my_pid && skip.is_none() {
                skip = Some(Skip::Myself);
            }
            if !cur.comm_read {
                let _ = dir.comm(pid, &mut cur.comm);
            }
            let uid = if cur.uid == NOT_SET {
                dir.uid(pid).ok()
            } else {
                u32::try_from(cur.uid).ok()
            };
            if cur.oom_score_adj == NOT_SET && !matches!(skip, Some(Skip::InitOrKthreadd)) {
                cur.oom_score_adj = dir
                    .int(pid, b"oom_score_adj", &mut self.file)
                    .unwrap_or(NOT_SET);
            }
            // Both numbers of the ordering were read (and adjusted) for a process that
            // passed every rule, or that failed only at a step after the comparison.
            let compared = cur.raw_score.is_some() && cur.raw_rss.is_some();
            let adjusted = (compared
                && matches!(
                    skip,
                    None | Some(Skip::Protected)
                        | Some(Skip::Myself)
                        | Some(Skip::Unreadable("oom_score_adj"))
                ))
            .then(|| cur.rank());
            all.push(Ranked {
                pid,
                uid,
                comm: cur.comm,
                oom_score: cur.raw_score,
                oom_score_adj: (cur.oom_score_adj != NOT_SET).then_some(cur.oom_score_adj),
                rss_kib: cur.raw_rss,
                prefer: cur.prefer,
                avoid: cur.avoid,
                adjusted,
                skip,
                position: None,
            });
        });
        self.dents = dents;
        self.path = path;
        res.map_err(Fatal::ProcOpen)?;
        // Repeated scans: each picks, in scan order, what beats everything before it.
        let mut rest: Vec<usize> = (0..all.len()).filter(|&i| all[i].skip.is_none()).collect();
        let mut order = Vec::with_capacity(rest.len());
        while !rest.is_empty() {
            let mut best: Option<usize> = None;
            for (k, &i) in rest.iter().enumerate() {
                let floor = best.and_then(|b| all[rest[b]].adjusted);
                if let Some(cur) = all[i].adjusted {
                    if beats(self.opts.sort_by_rss, floor, cur) {
                        best = Some(k);
                    }
                }
            }
            order.push(rest.remove(best.unwrap_or(0)));
        }
        let mut ranked: Vec<Ranked> = Vec::with_capacity(all.len());
        for (n, &i) in order.iter().enumerate() {
            let mut r = all[i].clone();
            r.position = Some(n + 1);
            ranked.push(r);
        }
        ranked.extend(all.into_iter().filter(|r| r.skip.is_some()));
        Ok(ranked)
    }

    /// Steps 3-4 of earlyoom's sequence: stat, the kernel-thread and zombie rules, RSS.
    fn read_stat(&mut self, f: &mut impl PidFiles, cur: &mut Cur) -> Result<(), Skip> {
        let pid = cur.pid;
        // 3. stat, parsed after the last ')'.
        let stat = match f.stat(&mut self.file) {
            Ok(s) => s,
            Err(_) => {
                crate::debug!("is_larger: pid {}: error reading stat\n", pid);
                return Err(Skip::Unreadable("stat"));
            }
        };
        cur.rss_kib = stat.rss_pages * self.page_kib;
        cur.raw_rss = Some(cur.rss_kib);
        cur.starttime = stat.starttime;
        // 4. Kernel threads. earlyoom (like procps) tests ppid == 2, which inside a PID
        // namespace (containers) skips the children of an ordinary process that happens
        // to be pid 2; the kernel's own PF_KTHREAD flag is exact everywhere.
        if stat.flags & crate::proc::PF_KTHREAD != 0 {
            return Err(Skip::KernelThread);
        }
        // Deliberate difference: a zombie (or dead) process holds no memory and cannot be
        // made to exit by a signal; earlyoom would "kill" it every 100 ms until its parent
        // reaps it. A zombie *main thread* with live threads still holds memory: keep it.
        if stat.state == b'X' || (stat.state == b'Z' && stat.num_threads <= 1) {
            return Err(Skip::Zombie);
        }
        if self.unkillable.contains(pid, stat.starttime) {
            return Err(Skip::Unkillable);
        }
        Ok(())
    }

    /// Steps 5-6: oom_score, then comm and the regexes when one is configured.
    fn read_score_and_name(&mut self, f: &mut impl PidFiles, cur: &mut Cur) -> Result<(), Skip> {
        let pid = cur.pid;
        // 5. oom_score.
        match f.int(b"oom_score", &mut self.file) {
            Ok(s) => {
                cur.oom_score = s;
                cur.raw_score = Some(s);
            }
            Err(e) => {
                crate::debug!("is_larger: pid {}: error reading oom_score: {}\n", pid, e);
                return Err(Skip::Unreadable("oom_score"));
            }
        }
        // 6. comm and the regexes, only when one is configured.
        if self.matchers.any() {
            if let Err(e) = f.comm(&mut cur.comm) {
                crate::debug!(
                    "is_larger: pid {}: error reading process name: {}\n",
                    pid,
                    e
                );
                return Err(Skip::Unreadable("comm"));
            }
            cur.comm_read = true;
            let name = cur.comm.as_bytes();
            let hit = |r: &Option<Regex>| r.as_ref().is_some_and(|r| r.is_match(name));
            cur.prefer = hit(&self.matchers.prefer);
            cur.avoid = hit(&self.matchers.avoid);
            let ignored = hit(&self.matchers.ignore);
            let b = bonus(self.opts.sort_by_rss);
            let net = i32::from(cur.prefer) - i32::from(cur.avoid);
            cur.oom_score += net * b.oom_score;
            // By default RSS is read after this and not adjusted (b.rss_kib is 0); with
            // --sort-by-rss stat came first and RSS takes the adjustment instead.
            cur.rss_kib += i64::from(net) * b.rss_kib;
            if ignored {
                return Err(Skip::Ignored);
            }
        }
        Ok(())
    }

    fn zombie_main_thread_warning(&self, f: &mut impl PidFiles, cur: &mut Cur) {
        if self.quiet {
            return;
        }
        if !cur.comm_read {
            cur.comm_read = f.comm(&mut cur.comm).is_ok();
        }
        crate::warn!(
            "is_larger: pid {} \"{}\": rss=0 but oom_score={}. Zombie main thread? Using oom_score for this process.\n",
            cur.pid,
            cur.comm.display(),
            cur.oom_score
        );
    }

    fn debug_row(&self, dir: &ProcDir, cur: &mut Cur, new_victim: bool) {
        if !cur.comm_read {
            cur.comm_read = dir.comm(cur.pid, &mut cur.comm).is_ok();
        }
        if cur.uid == NOT_SET {
            if let Ok(uid) = dir.uid(cur.pid) {
                cur.uid = uid as i32;
            }
        }
        crate::debug!(
            "{:5} {:9} {:7} {:5} {:13} \"{}\"{}",
            cur.pid,
            cur.oom_score,
            cur.rss_kib,
            cur.uid,
            cur.oom_score_adj,
            cur.comm.display(),
            if new_victim {
                " <--- new victim\n"
            } else {
                "\n"
            }
        );
    }
}

/// comm, cmdline and uid for the kill log and hooks (kill.c:531-555), through the victim's
/// own directory.
fn fill_informative_fields(v: &mut Victim) {
    if v.comm.as_bytes().is_empty() {
        if let Err(e) = v.dir.reader().comm(&mut v.comm) {
            crate::debug!(
                "fill_informative_fields: pid {}: error reading process name: {}\n",
                v.pid,
                e
            );
        }
    }
    if let Err(e) = v.dir.reader().cmdline(&mut v.cmdline) {
        crate::debug!(
            "fill_informative_fields: pid {}: error reading process cmdline: {}\n",
            v.pid,
            e
        );
    }
    if v.uid == NOT_SET {
        match v.dir.reader().uid() {
            Ok(uid) => v.uid = uid as i32,
            Err(e) => crate::debug!(
                "fill_informative_fields: pid {}: error reading uid: {}\n",
                v.pid,
                e
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(oom_score: i32, rss_kib: i64) -> Rank {
        Rank { oom_score, rss_kib }
    }

    /// Every list is sorted smallest → largest; every later element must beat every earlier
    /// one and never the reverse (earlyoom's Test_is_larger / Test_is_larger_by_rss).
    fn check_order(sort_by_rss: bool, list: &[Rank]) {
        for (i, a) in list.iter().enumerate() {
            assert!(!is_larger(sort_by_rss, *a, *a), "is_larger(x, x) for {a:?}");
            for b in &list[i + 1..] {
                assert!(is_larger(sort_by_rss, *a, *b), "{b:?} should beat {a:?}");
                assert!(
                    !is_larger(sort_by_rss, *b, *a),
                    "{a:?} should not beat {b:?}"
                );
            }
        }
    }

    #[test]
    fn earlyoom_ordering_default() {
        check_order(
            false,
            &[r(100, 1234), r(100, 1238), r(101, 4), r(102, 4), r(103, 0)],
        );
    }

    #[test]
    fn earlyoom_ordering_by_rss() {
        // Neighbours only: the zombie-main-thread fallback is not transitive (as in earlyoom).
        let list = [
            r(100, 4),
            r(100, 8),
            r(101, 8),
            r(99, 12),
            r(102, 0),
            r(102, 12),
        ];
        for w in list.windows(2) {
            assert!(
                is_larger(true, w[0], w[1]),
                "{:?} should beat {:?}",
                w[1],
                w[0]
            );
            assert!(
                !is_larger(true, w[1], w[0]),
                "{:?} should not beat {:?}",
                w[0],
                w[1]
            );
        }
        for x in list {
            assert!(!is_larger(true, x, x));
        }
    }

    /// earlyoom #377: with --sort-by-rss, --avoid takes 3 GiB off RSS; a small avoided
    /// process (negative RSS) used to fall into the oom_score comparison meant for zombie
    /// main threads and beat real hogs. It must lose to every process that is not avoided,
    /// whatever the oom_scores, and a scan must still pick the largest non-avoided one.
    #[test]
    fn avoided_processes_never_win_by_rss_fallback() {
        let avoided = |score, kib: i64| r(score, kib - RSS_BONUS_KIB);
        let small = r(10, 4_000);
        let zombie_main = r(5, 0);
        let big = r(673, 1_048_576);
        for a in [
            avoided(866, 100),
            avoided(999, 50_000),
            avoided(1, 2_000_000),
        ] {
            for n in [small, zombie_main, big] {
                assert!(!is_larger(true, n, a), "avoided {a:?} beat {n:?}");
                assert!(is_larger(true, a, n), "{n:?} did not beat avoided {a:?}");
            }
        }
        // The scan's walk: whatever the order, the 1 GiB hog is chosen.
        for order in [
            [avoided(866, 100), small, big, avoided(999, 50_000)],
            [big, avoided(866, 100), small, avoided(999, 50_000)],
            [small, avoided(999, 50_000), avoided(866, 100), big],
        ] {
            let mut best: Option<Rank> = None;
            for c in order {
                if beats(true, best, c) {
                    best = Some(c);
                }
            }
            assert_eq!(best, Some(big), "{order:?}");
        }
        // Among avoided processes the larger RSS still wins; above 3 GiB avoid is a bias.
        assert!(is_larger(true, avoided(900, 100), avoided(1, 200)));
        assert!(is_larger(true, big, avoided(1, 4 * RSS_BONUS_KIB)));
    }

    #[test]
    fn first_eligible_process_beats_nobody() {
        assert!(beats(false, None, r(0, 0)));
        assert!(beats(true, None, r(0, 0)));
        // An avoided process can go below zero but still beats nobody.
        assert!(beats(false, None, r(-300, 4)));
        assert!(beats(true, None, r(500, -3_000_000)));
    }

    #[test]
    fn regexes_match_bytes_without_unicode() {
        assert!(compile(b"^fire").unwrap().is_match(b"firefox"));
        assert!(compile(b"").unwrap().is_match(b"anything"));
        assert!(compile(b"(^|/)(init|X|sshd)$").unwrap().is_match(b"sshd"));
        assert!(!compile(b"(^|/)(init|X|sshd)$")
            .unwrap()
            .is_match(b"sshd-session"));
        // Non-ASCII pattern bytes match the same bytes in a comm.
        assert!(compile("ü".as_bytes())
            .unwrap()
            .is_match("müller".as_bytes()));
        assert!(compile(b"\xff").unwrap().is_match(b"a\xffb"));
        assert_eq!(compile(b"(").unwrap_err(), Fatal::Regex(b"(".to_vec()));
        assert_eq!(compile(b"*a").unwrap_err(), Fatal::Regex(b"*a".to_vec()));
    }
}
