//! `--cgroup-headroom`: memory runs out inside a capped cgroup (`memory.max`) long before
//! the machine runs out, and there the kernel's memcg OOM killer acts alone, by oom_score
//! inside the cgroup and blind to `--prefer`/`--avoid` (earlyoom #331). This watches every
//! cgroup v2 with a finite memory.max and says when one is at its line, so the daemon can
//! kill inside it, with its own rules, before the kernel does.
//!
//! Headroom = memory.max - memory.current + what reclaim can still free inside the cgroup
//! (Documentation/admin-guide/cgroup-v2.rst, "memory.stat"): page cache (`file`) but not its
//! swap-backed part (`shmem`: tmpfs, shm), plus anon and shmem only as far as the cgroup may
//! swap (memory.swap.max) and the machine has swap free. Page cache filling a cgroup to its
//! max is therefore never a reason to kill. The pure arithmetic is [`headroom`]; [`Scopes`]
//! samples the cgroups.

use crate::cgroup::{self, CgroupRoot, Discovery, Files};
use crate::decide::Action;
use crate::sys::Errno;
use std::path::{Path, PathBuf};

/// `--cgroup-headroom PERCENT[,KILL_PERCENT]`, percent of memory.max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadroomConfig {
    pub term_percent: f64,
    pub kill_percent: f64,
}

/// One reading of a capped cgroup, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CapSample {
    pub max: u64,
    pub current: u64,
    pub file: u64,
    pub shmem: u64,
    pub anon: u64,
    /// memory.swap.max: None = "max" (or no swap accounting: then the system's swap decides).
    pub swap_max: Option<u64>,
    pub swap_current: u64,
    /// The least swap room an ancestor leaves (its memory.swap.max - memory.swap.current),
    /// None if none caps swap: a cgroup under a slice with swap.max=0 cannot swap either.
    pub ancestor_swap_room: Option<u64>,
}

/// What is left in a cgroup before its memory.max.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Headroom {
    /// What reclaim could still free in it, bytes.
    pub reclaimable: u64,
    /// memory.max - memory.current + reclaimable, bytes.
    pub bytes: u64,
    /// `bytes` in percent of memory.max.
    pub percent: f64,
}

/// The headroom of a sample, with `system_swap_free_kib` of swap free on the machine.
pub fn headroom(s: &CapSample, system_swap_free_kib: i64) -> Headroom {
    let free = s.max.saturating_sub(s.current);
    let shmem = s.shmem.min(s.file);
    let cache = s.file - shmem;
    let swap_room = s
        .swap_max
        .map_or(u64::MAX, |m| m.saturating_sub(s.swap_current))
        .min(s.ancestor_swap_room.unwrap_or(u64::MAX))
        .min(u64::try_from(system_swap_free_kib.max(0)).unwrap_or(0) * 1024);
    let swappable = (s.anon + shmem).min(swap_room);
    let reclaimable = cache + swappable;
    let bytes = free.saturating_add(reclaimable);
    let percent = if s.max == 0 {
        0.0
    } else {
        bytes as f64 * 100.0 / s.max as f64
    };
    Headroom {
        reclaimable,
        bytes,
        percent,
    }
}

/// Reads a [`CapSample`] of cgroup `dir` (Err: gone, no memory controller, or no finite
/// memory.max). Without `full`, only memory.max and memory.current (what is free below
/// the max alone; enough when that clears the line by far). earlyoomctl reads with it too.
pub fn read_cap(f: &mut Files, root: &Path, dir: &Path, full: bool) -> Result<CapSample, Errno> {
    let mut s = CapSample {
        max: f.limit(dir, "memory.max")?.ok_or(Errno(libc::ERANGE))?,
        current: f.number(dir, "memory.current")?,
        ..CapSample::default()
    };
    if !full {
        return Ok(s);
    }
    let stat = f.read(dir, "memory.stat")?;
    s.anon = cgroup::parse_keyed(stat, "anon").unwrap_or(0);
    s.file = cgroup::parse_keyed(stat, "file").unwrap_or(0);
    s.shmem = cgroup::parse_keyed(stat, "shmem").unwrap_or(0);
    if let Ok(m) = f.limit(dir, "memory.swap.max") {
        s.swap_max = m;
        s.swap_current = f.number(dir, "memory.swap.current").unwrap_or(0);
    }
    // The ancestors' swap caps, below the root (which has none).
    let mut up = dir.parent();
    while let Some(a) = up.filter(|a| a.starts_with(root) && *a != root) {
        if let Ok(Some(m)) = f.limit(a, "memory.swap.max") {
            let used = f.number(a, "memory.swap.current").unwrap_or(0);
            let room = m.saturating_sub(used);
            s.ancestor_swap_room = Some(s.ancestor_swap_room.map_or(room, |r| r.min(room)));
        }
        up = a.parent();
    }
    Ok(s)
}

/// The signal a cgroup's headroom asks for (at or below the lines, as earlyoom's `-m`).
pub fn decide(h: &Headroom, cfg: &HeadroomConfig) -> Action {
    if h.percent <= cfg.kill_percent {
        Action::Kill
    } else if h.percent <= cfg.term_percent {
        Action::Term
    } else {
        Action::None
    }
}

/// earlyoom's adaptive sleep (decide.rs) applied to a cgroup: how long the headroom above the
/// SIGTERM line lasts at the fastest plausible fill rate, clamped to 100..=1000 ms.
pub fn sleep_ms(h: &Headroom, max: u64, cfg: &HeadroomConfig) -> u32 {
    let line = (cfg.term_percent / 100.0 * max as f64) as u64;
    let above_kib = h.bytes.saturating_sub(line) / 1024;
    (above_kib / crate::decide::MEM_FILL_RATE_KIB_PER_MS).clamp(100, 1000) as u32
}

/// A capped cgroup at or below its line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Low {
    /// Index into [`Scopes::capped`].
    pub index: usize,
    pub sample: CapSample,
    pub headroom: Headroom,
    pub action: Action,
}

/// The cgroups watched, their last reading.
#[derive(Clone, Debug)]
pub struct Capped {
    pub path: PathBuf,
    /// As the logs show it: below the cgroup root, with a leading `/`.
    pub shown: PathBuf,
    pub last: Option<(CapSample, Headroom)>,
    /// Not acted on before this CLOCK_MONOTONIC second (nothing could be killed in it).
    pub quiet_until: f64,
    /// Not sampled again before this CLOCK_MONOTONIC second: each cgroup has its own
    /// adaptive sleep, so one near its line does not make the others be read every 100 ms.
    pub next_sample: f64,
}

/// The watcher over every cgroup with a finite memory.max.
pub struct Scopes {
    pub root: CgroupRoot,
    pub cfg: HeadroomConfig,
    pub capped: Vec<Capped>,
    discovery: Discovery,
    files: Files,
    /// The adaptive sleep the last check asks for.
    sleep: u32,
    /// Cgroups at or below their line at the last check.
    pub low: usize,
}

impl Scopes {
    /// Checks the hierarchy; Err carries why the watcher is inactive.
    pub fn new(root: CgroupRoot, cfg: HeadroomConfig) -> Result<Scopes, String> {
        cgroup::check_memory_v2(&root)?;
        Ok(Scopes {
            root,
            cfg,
            capped: Vec::new(),
            discovery: Discovery::default(),
            files: Files::default(),
            sleep: 1000,
            low: 0,
        })
    }

    fn discover(&mut self) {
        let mut old: std::collections::HashMap<PathBuf, Capped> = std::mem::take(&mut self.capped)
            .into_iter()
            .map(|c| (c.path.clone(), c))
            .collect();
        for n in cgroup::walk(&self.root.0).into_iter().skip(1) {
            if !matches!(self.files.limit(&n.path, "memory.max"), Ok(Some(_))) {
                continue;
            }
            let c = old.remove(&n.path).unwrap_or_else(|| {
                crate::debug!("cgroup headroom: watching /{}\n", n.rel);
                Capped {
                    shown: Path::new("/").join(&n.rel),
                    path: n.path,
                    last: None,
                    quiet_until: f64::NEG_INFINITY,
                    next_sample: f64::NEG_INFINITY,
                }
            });
            self.capped.push(c);
        }
    }

    fn read(&mut self, dir: &Path, full: bool) -> Result<CapSample, Errno> {
        read_cap(&mut self.files, &self.root.0, dir, full)
    }

    /// Samples every capped cgroup at `now`; returns the one with the least headroom that is
    /// at or below the SIGTERM line. A nested cgroup under a capped one is checked on its
    /// own: whichever of them is tightest is acted on first.
    pub fn check(&mut self, now: f64, system_swap_free_kib: i64) -> Option<Low> {
        if self.discovery.due(now, &self.root, &mut self.files) {
            self.discover();
        }
        let mut low: Option<Low> = None;
        let mut sleep = 1000;
        self.low = 0;
        for i in 0..self.capped.len() {
            let next = self.capped[i].next_sample;
            if now < next {
                sleep = sleep.min(((next - now) * 1000.0).ceil() as u32);
                if let Some((_, h)) = self.capped[i].last {
                    if decide(&h, &self.cfg) != Action::None {
                        self.low += 1;
                    }
                }
                continue;
            }
            let path = std::mem::take(&mut self.capped[i].path);
            // What is free below memory.max alone: if that clears the line, reclaim need
            // not be counted (two files read instead of five).
            let quick = self.read(&path, false);
            let sample = match quick {
                Ok(q) if headroom(&q, 0).percent > self.cfg.term_percent * 2.0 => Ok(q),
                Ok(_) => self.read(&path, true),
                Err(e) => Err(e),
            };
            self.capped[i].path = path;
            let Ok(s) = sample else {
                // Removed meanwhile, or its limit lifted: gone at the next walk.
                self.capped[i].last = None;
                self.discovery.soon();
                continue;
            };
            let h = headroom(&s, system_swap_free_kib);
            self.capped[i].last = Some((s, h));
            let own = sleep_ms(&h, s.max, &self.cfg);
            self.capped[i].next_sample = now + f64::from(own) / 1000.0;
            sleep = sleep.min(own);
            let action = decide(&h, &self.cfg);
            if action != Action::None {
                self.low += 1;
            }
            let quiet = now < self.capped[i].quiet_until;
            if action != Action::None
                && !quiet
                && low.is_none_or(|l| h.percent < l.headroom.percent)
            {
                low = Some(Low {
                    index: i,
                    sample: s,
                    headroom: h,
                    action,
                });
            }
        }
        self.sleep = sleep;
        low
    }

    /// Reads cgroup `i` again (the double-check after a scan, and every step of a kill's
    /// wait): its sample, headroom and the signal it asks for; None if it is gone.
    pub fn resample(
        &mut self,
        i: usize,
        system_swap_free_kib: i64,
    ) -> Option<(CapSample, Headroom, Action)> {
        let path = std::mem::take(&mut self.capped.get_mut(i)?.path);
        let s = self.read(&path, true);
        self.capped[i].path = path;
        let s = s.ok()?;
        let h = headroom(&s, system_swap_free_kib);
        self.capped[i].last = Some((s, h));
        Some((s, h, decide(&h, &self.cfg)))
    }

    /// How long the loop may sleep: earlyoom's adaptive sleep on the tightest cgroup.
    pub fn max_sleep_ms(&self, ms: u32) -> u32 {
        ms.min(self.sleep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const CFG: HeadroomConfig = HeadroomConfig {
        term_percent: 10.0,
        kill_percent: 5.0,
    };

    /// The lab's `slice-avoid` cgroup: max 500M, no swap, a 300 MiB service and a hog.
    fn slice(current_mib: u64, file_mib: u64, shmem_mib: u64) -> CapSample {
        CapSample {
            max: 500 * MIB,
            current: current_mib * MIB,
            file: file_mib * MIB,
            shmem: shmem_mib * MIB,
            anon: (current_mib - file_mib) * MIB,
            swap_max: Some(0),
            swap_current: 0,
            ancestor_swap_room: None,
        }
    }

    #[test]
    fn anonymous_memory_near_max_is_low() {
        let h = headroom(&slice(460, 1, 0), 0);
        assert_eq!(h.reclaimable, MIB);
        assert!((h.percent - 8.2).abs() < 0.01, "{h:?}");
        assert_eq!(decide(&h, &CFG), Action::Term);
        assert_eq!(decide(&headroom(&slice(480, 1, 0), 0), &CFG), Action::Kill);
        assert_eq!(decide(&headroom(&slice(400, 1, 0), 0), &CFG), Action::None);
    }

    /// Page cache counts as room: a cgroup full of cache is never a reason to kill; tmpfs
    /// in it is not cache (without swap it stays).
    #[test]
    fn page_cache_is_room_and_tmpfs_is_not() {
        let cache = headroom(&slice(495, 200, 0), 0);
        assert_eq!(decide(&cache, &CFG), Action::None, "{cache:?}");
        let tmpfs = headroom(&slice(495, 200, 195), 0);
        assert_eq!(tmpfs.reclaimable, 5 * MIB);
        assert_eq!(decide(&tmpfs, &CFG), Action::Kill, "{tmpfs:?}");
    }

    /// Anon counts as room only as far as the cgroup may swap and the machine has swap free.
    #[test]
    fn swap_room_is_bounded_by_swap_max_and_free_swap() {
        let mut s = slice(490, 0, 0);
        s.swap_max = None;
        assert_eq!(headroom(&s, 0).reclaimable, 0, "no swap on the machine");
        assert_eq!(headroom(&s, 100 * 1024).reclaimable, 100 * MIB);
        s.swap_max = Some(60 * MIB);
        s.swap_current = 20 * MIB;
        assert_eq!(headroom(&s, 1 << 30).reclaimable, 40 * MIB);
        // A slice above with swap.max=0 leaves no room, whatever the cgroup's own says.
        s.ancestor_swap_room = Some(0);
        assert_eq!(headroom(&s, 1 << 30).reclaimable, 0);
    }

    /// At earlyoom's fastest fill rate (6000 KiB/ms) a 500 MiB cgroup fills in ~80 ms, so
    /// a small cgroup is sampled every 100 ms; a big one with room, every second.
    #[test]
    fn the_sleep_follows_the_headroom() {
        assert_eq!(
            sleep_ms(&headroom(&slice(100, 0, 0), 0), 500 * MIB, &CFG),
            100
        );
        assert_eq!(
            sleep_ms(&headroom(&slice(449, 0, 0), 0), 500 * MIB, &CFG),
            100
        );
        let h = headroom(
            &CapSample {
                max: 64 << 30,
                current: 32 << 30,
                ..CapSample::default()
            },
            0,
        );
        // 32 GiB free, 6.4 GiB to the line: 25.6 GiB at 6000 KiB/ms is ~4.5 s, clamped.
        assert_eq!(sleep_ms(&h, 64 << 30, &CFG), 1000);
    }
}
