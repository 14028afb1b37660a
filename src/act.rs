//! The daemon's actions where the limit is (docs/scopes.md): a capped cgroup at its
//! headroom line (`--cgroup-headroom`), a victim's whole cgroup (`--cgroup-kill`), the
//! source of a fork storm (`--storm-guard`), and the reason given whenever memory is at a
//! line and nothing is signalled. The loop (monitor.rs) calls these; they choose with the
//! scan's rules and kill through kill.rs and whole.rs.

use crate::cgroup;
use crate::journal::{Fields, Kind};
use crate::kill::Signal;
use crate::log::Level;
use crate::metrics::{NoKill, Reason};
use crate::monitor::Daemon;
use crate::pressure::{Gate, Verdict};
use crate::proc::{PidFiles, ProcDir, Text};
use crate::scope::Low;
use crate::seam::Sys;
use crate::storm::{KillRecord, Source};
use crate::victim::{Selection, SkipCounts, Victim};
use crate::whole::{self, Rules};
use crate::Fatal;
use std::path::{Path, PathBuf};

/// A "no kill" situation is said once, and again after this long while it lasts.
pub const NO_KILL_REPEAT_S: f64 = 60.0;

/// Situations remembered at once (the oldest is forgotten first).
const SITUATIONS: usize = 16;

/// One situation said: its key, when it was last said, how often it was held back since.
#[derive(Clone, Copy, Debug, Default)]
struct Said {
    key: u64,
    at: f64,
    held: u64,
    used: bool,
}

/// The rate limit of the "no kill" lines: each situation (a reason, in a scope — the machine
/// or one cgroup by its path — at a line) is said once, again every NO_KILL_REPEAT_S while
/// it lasts (saying how often it was held back), and a situation not said recently is said
/// at once, even while another one lasts (two cgroups with nothing to kill, a pressure stall
/// beside memory at the SIGKILL line). A fixed table: remembering never allocates.
#[derive(Clone, Copy, Debug, Default)]
pub struct Explained {
    said: [Said; SITUATIONS],
}

impl Explained {
    /// Whether to say (`why`, `scope`, `line`) at `now`; counts it as said if so, and returns
    /// how many times it was held back since it was last said.
    pub fn due(&mut self, why: NoKill, scope: &[u8], line: &str, now: f64) -> Option<u64> {
        let key = situation_key(why, scope, line);
        if let Some(e) = self.said.iter_mut().find(|e| e.used && e.key == key) {
            if now - e.at < NO_KILL_REPEAT_S {
                e.held += 1;
                return None;
            }
            let held = e.held;
            e.at = now;
            e.held = 0;
            return Some(held);
        }
        let slot = self
            .said
            .iter_mut()
            .min_by(|a, b| {
                (a.used, a.at)
                    .partial_cmp(&(b.used, b.at))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .expect("a fixed, non-empty table");
        *slot = Said {
            key,
            at: now,
            held: 0,
            used: true,
        };
        Some(0)
    }

    /// A kill was made: every situation after it is a new one.
    pub fn reset(&mut self) {
        self.said = [Said::default(); SITUATIONS];
    }
}

/// FNV-1a over the situation's parts (no allocation).
fn situation_key(why: NoKill, scope: &[u8], line: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in [why as u8]
        .iter()
        .chain(scope)
        .chain([0u8].iter())
        .chain(line.as_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn mib(b: u64) -> f64 {
    b as f64 / 1048576.0
}

/// The rules a set kill follows, with the daemon's lineage read now.
/// "killing process N "comm"" (or "would kill", under `--dryrun`), or `none`.
pub(crate) fn action_text(v: Option<&Victim>, dryrun: bool, none: &str) -> String {
    match (v, dryrun) {
        (Some(v), false) => format!("killing process {} \"{}\"", v.pid, v.comm.display()),
        (Some(v), true) => format!("would kill process {} \"{}\"", v.pid, v.comm.display()),
        (None, _) => none.to_string(),
    }
}

/// The line of a whole-cgroup kill refused for a protected member.
fn refuse_whole(rel: &Text, pid: i32, comm: &Text, spared: whole::Spared, v: &Victim) {
    crate::warn!(
        "cgroup kill: not killing cgroup {} whole: its process {} \"{}\" {}; killing process {} alone\n",
        rel.display(),
        pid,
        comm.display(),
        spared.describe(),
        v.pid
    );
}

/// A listing with start times, as [`whole::pin`] takes it.
fn listed(v: Vec<(i32, u64)>) -> Vec<whole::Listed> {
    v.into_iter().map(|(p, s)| (p, Some(s))).collect()
}

fn rules_of<'a>(
    root: &'a crate::proc::ProcRoot,
    settings: &'a crate::settings::Settings,
) -> Rules<'a> {
    Rules {
        root,
        matchers: &settings.matchers,
        select: settings.select,
        lineage: whole::lineage(root),
    }
}

impl<S: Sys> Daemon<S> {
    /// Says why nothing was signalled although memory (of the machine, or of cgroup
    /// `scope` of the headroom watcher) is at or below `line`: the processes looked at
    /// and the rules that passed over each, rate-limited ([`Explained`]).
    pub(crate) fn explain_no_victim(
        &mut self,
        scope: Option<(usize, &Path)>,
        line: &str,
        skipped: &SkipCounts,
    ) {
        let why = if skipped.unkillable > 0 {
            NoKill::Stuck
        } else {
            NoKill::NoneEligible
        };
        self.counters.not_killed(why);
        let now = self.sys.now();
        let path = scope.map_or(&b""[..], |(_, p)| p.as_os_str().as_encoded_bytes());
        let Some(held) = self.explained.due(why, path, line, now) else {
            return;
        };
        let rules = skipped.rules();
        let rules = if rules.is_empty() {
            "none".to_string()
        } else {
            rules
        };
        let again = if held > 0 {
            format!(" (the same {held} more times in the last {NO_KILL_REPEAT_S:.0} s)")
        } else {
            String::new()
        };
        let shown = scope.map(|(_, p)| p.as_os_str().as_encoded_bytes().to_vec());
        let fields = Fields {
            reason: why.label(),
            cgroup: shown.as_deref().unwrap_or_default(),
            ..Fields::default()
        };
        match scope {
            None => crate::log::record(
                Level::Warn,
                Kind::NoKill,
                &fields,
                format_args!(
                    "no kill: {}, but none of the {} processes may be chosen: {}{}\n",
                    line, skipped.seen, rules, again
                ),
            ),
            Some((_, p)) => crate::log::record(
                Level::Warn,
                Kind::NoKill,
                &fields,
                format_args!(
                    "no kill: cgroup {} is at or below its {} headroom line, but none of its {} processes may be chosen: {}{}\n",
                    p.display(),
                    line,
                    skipped.seen,
                    rules,
                    again
                ),
            ),
        }
    }

    /// The best victim among the processes of cgroup `dir` and its descendants, with the
    /// main rules. The victim must still be a member when it is signalled, and cgroup.procs
    /// was read before the scan chose: it is one if its pid is in the list read again now
    /// and the pinned process was there before and after that read (then the pid in the
    /// list is that process, not a newcomer with its number), whatever namespace
    /// /proc/PID/cgroup would show paths in. `who` starts the line said otherwise.
    pub(crate) fn victim_in(
        &mut self,
        dir: &Path,
        shown: &Path,
        who: &str,
    ) -> Result<Selection, Fatal> {
        let pids = cgroup::procs(dir);
        let mut sel = self.scan(Some(&pids))?;
        if let Some(v) = sel.victim.take() {
            let member = v.still_itself()
                && cgroup::procs(dir).binary_search(&v.pid).is_ok()
                && v.still_itself();
            if member {
                sel.victim = Some(v);
            } else {
                crate::warn!(
                    "{}: process {} left cgroup {} since it was chosen, not signalling it\n",
                    who,
                    v.pid,
                    shown.display()
                );
                self.counters.not_killed(NoKill::Replaced);
            }
        }
        Ok(sel)
    }

    /// A capped cgroup is at or below its `--cgroup-headroom` line: say so in one line,
    /// then signal the best victim inside its subtree (the main rules, kill path, hooks and
    /// metrics, reason `cgroup`).
    pub(crate) fn relieve_cgroup(&mut self, low: Low) -> Result<(), Fatal> {
        let Some(scopes) = self.scopes.as_ref() else {
            return Ok(());
        };
        let cfg = scopes.cfg;
        let c = &scopes.capped[low.index];
        let (dir, shown) = (c.path.clone(), c.shown.clone());
        let sel = self.victim_in(&dir, &shown, "cgroup headroom")?;
        // Double-check after the scan, as earlyoom does for the machine (v1.6.2).
        let swap_free = self.mem.read()?.swap_free_kib;
        let again = self
            .scopes
            .as_mut()
            .and_then(|s| s.resample(low.index, swap_free));
        let Some((s, h, action)) = again else {
            return Ok(());
        };
        let line = match action {
            crate::decide::Action::None => {
                crate::warn!(
                    "cgroup headroom: cgroup {}: headroom recovered to {:.1}% while selecting victim\n",
                    shown.display(),
                    h.percent
                );
                self.counters.not_killed(NoKill::Recovered);
                return Ok(());
            }
            crate::decide::Action::Kill => ("SIGKILL", cfg.kill_percent),
            crate::decide::Action::Term => ("SIGTERM", cfg.term_percent),
        };
        let what = action_text(
            sel.victim.as_ref(),
            self.settings.kill.dryrun,
            "no process to kill in it",
        );
        let cg = shown.as_os_str().as_encoded_bytes();
        let fields = Fields::of(sel.victim.as_ref(), "", Reason::Cgroup.label(), cg);
        crate::log::record(
            Level::Warn,
            Kind::Cgroup,
            &fields,
            format_args!(
                "cgroup headroom: cgroup {}: memory.max {:.1} MiB, current {:.1} MiB, reclaimable {:.1} MiB, headroom {:.1}% <= {}% ({}): {}\n",
                shown.display(),
                mib(s.max),
                mib(s.current),
                mib(h.reclaimable),
                h.percent,
                crate::cfmt::pct(line.1),
                line.0,
                what
            ),
        );
        match sel.victim.as_ref() {
            Some(v) => {
                self.kill(v, Signal::of(action), Reason::Cgroup, Some(low.index))?;
            }
            None => {
                self.explain_no_victim(Some((low.index, &shown)), line.0, &sel.skipped);
                // As earlyoom's "sleeping 1 second", for this cgroup only.
                let now = self.sys.now();
                if let Some(s) = self.scopes.as_mut() {
                    s.capped[low.index].quiet_until = now + 1.0;
                }
            }
        }
        Ok(())
    }

    /// What the storm guard remembers of a kill of `v`, read before it is signalled.
    pub(crate) fn kill_record(&mut self, v: &Victim) -> KillRecord {
        let mut buf = [0u8; 1024];
        let st = v.dir.reader().stat(&mut buf).unwrap_or_default();
        let parent_start = ProcDir::open(&self.root)
            .and_then(|d| d.stat(st.ppid, &mut buf))
            .map_or(0, |p| p.starttime);
        let age_s =
            whole::uptime_s(&self.root).map_or(f64::INFINITY, |u| whole::age_s(st.starttime, u));
        let mut cgroup = Text::new();
        v.dir.cgroup(&mut cgroup);
        KillRecord {
            t: self.sys.now(),
            pid: v.pid,
            age_s,
            ppid: st.ppid,
            parent_start,
            pgid: st.pgrp,
            cgroup,
        }
    }

    /// `--storm-guard`: if killing `v` would continue a storm, kill its source instead.
    /// True if the storm was dealt with (nothing more to do for `v`).
    pub(crate) fn break_storm(&mut self, v: &Victim, rec: &KillRecord) -> Result<bool, Fatal> {
        let Some(storm) = self.storms.as_ref().and_then(|s| s.detect(rec)) else {
            return Ok(false);
        };
        let rules = rules_of(&self.root, &self.settings);
        let root = self.root.clone();
        let dry = self.settings.kill.dryrun;
        let how = whole::Signalling {
            mech: self.killer.mech,
            pidfds: !dry,
        };
        let (what, pinned, cgroup_dir) = match storm.source {
            Source::Parent { pid, starttime } => {
                let Ok(p) = Victim::pin(&self.root, pid) else {
                    return Ok(false);
                };
                if p.starttime != starttime {
                    return Ok(false);
                }
                let why = rules
                    .spared(&p)
                    .map(whole::Spared::describe)
                    .or_else(|| whole::is_manager(&p).then_some("is a service or session manager"));
                if let Some(why) = why {
                    crate::warn!(
                        "storm guard: the victims' parent, process {} \"{}\", {}: not killing it, killing process {} alone\n",
                        pid,
                        p.comm.display(),
                        why,
                        v.pid
                    );
                    return Ok(false);
                }
                // The parent is stopped first (it is first in the subtree), and the
                // subtree listed again until nobody new shows up: a child forked after a
                // listing is caught by the next one.
                let list = || listed(whole::subtree(&whole::processes(&root), pid, starttime));
                (
                    format!(
                        "their parent, process {} \"{}\", and its subtree",
                        pid,
                        p.comm.display()
                    ),
                    whole::pin_and_stop(&mut self.sys, &rules, list, how, None, dry),
                    None,
                )
            }
            Source::Group(g) => {
                if g == crate::sys::getpgrp() {
                    return Ok(false);
                }
                let list = || listed(whole::group(&whole::processes(&root), g));
                (
                    format!("their process group {g}"),
                    whole::pin_and_stop(&mut self.sys, &rules, list, how, None, dry),
                    None,
                )
            }
            Source::Cgroup => {
                let rel = rec.cgroup.as_bytes();
                if let Some(why) = whole::cgroup_refused(rel, self.my_cgroup.as_bytes()) {
                    crate::warn!(
                        "storm guard: the victims share cgroup {}, but {}: killing process {} alone\n",
                        rec.cgroup.display(),
                        why,
                        v.pid
                    );
                    return Ok(false);
                }
                let dir = self.cgroup_dir(rel);
                let name = dir
                    .file_name()
                    .map(|n| n.as_encoded_bytes().to_vec())
                    .unwrap_or_default();
                if whole::is_workload(&name, !whole::has_children(&dir), whole::oom_group(&dir))
                    .is_none()
                {
                    crate::warn!(
                        "storm guard: the victims share cgroup {}, which is not a workload cgroup: killing process {} alone\n",
                        rec.cgroup.display(),
                        v.pid
                    );
                    return Ok(false);
                }
                // cgroup.kill takes everyone in it at once: no stopping needed.
                let members = whole::cgroup_members(&dir);
                let pinned = whole::pin(&mut self.sys, &rules, &members, how, Some(rel));
                (
                    format!("their cgroup {}", rec.cgroup.display()),
                    pinned,
                    Some(dir),
                )
            }
        };
        drop(rules);
        if let (Some(_), Some((pid, comm, why))) = (&cgroup_dir, pinned.spared) {
            crate::warn!(
                "storm guard: not killing {} whole: process {} \"{}\" in it {}; killing process {} alone\n",
                what,
                pid,
                comm.display(),
                why.describe(),
                v.pid
            );
            return Ok(false);
        }
        let spared = if pinned.spared_count > 0 {
            format!(", sparing {} protected", pinned.spared_count)
        } else {
            String::new()
        };
        let verb = if dry { "would kill" } else { "killing" };
        let head = pinned.members.first().map(|m| &m.v).unwrap_or(v);
        let mut cg = Text::new();
        head.dir.cgroup(&mut cg);
        let fields = Fields::of(Some(head), "SIGKILL", Reason::Storm.label(), cg.as_bytes());
        crate::log::record(
            Level::Warn,
            Kind::Storm,
            &fields,
            format_args!(
                "storm guard: {} kills in {:.1} s have not restored memory, and the next victim, process {} \"{}\", shares {} with them: {} {}, {} processes, with SIGKILL{}\n",
                storm.kills,
                storm.span_s,
                v.pid,
                v.comm.display(),
                match storm.source {
                    Source::Parent { .. } => "its parent",
                    Source::Group(_) => "its process group",
                    Source::Cgroup => "its cgroup",
                },
                verb,
                what,
                pinned.members.len(),
                spared
            ),
        );
        self.counters.storms += 1;
        if let Some(s) = self.storms.as_mut() {
            s.clear();
        }
        self.after_kill();
        self.killer.pre_hook(&mut self.sys, head);
        if !self.settings.kill.dryrun {
            let out = match cgroup_dir.as_deref() {
                Some(dir) => whole::kill_cgroup(&mut self.sys, dir, &pinned.members, how.mech),
                None => whole::kill_set(&mut self.sys, &pinned.members, how.mech),
            };
            if !self.set_outcome("storm guard", &what, &pinned.members, Reason::Storm, out) {
                return Ok(false);
            }
        } else {
            crate::warn!("dryrun, not actually sending any signal\n");
            self.counters.not_killed(NoKill::DryRun);
        }
        self.killer.notify_killed(&mut self.sys, head);
        if let Some(f) = self.metrics.as_mut() {
            f.soon();
        }
        Ok(true)
    }

    /// Says what a set kill came to and counts it: each member sent SIGKILL, and those
    /// still there after the wait remembered as unkillable. False if nothing could be sent
    /// (then the chosen victim is killed alone, by the normal path).
    fn set_outcome(
        &mut self,
        who: &str,
        what: &str,
        members: &[whole::Member],
        reason: Reason,
        out: whole::SetOutcome,
    ) -> bool {
        if out.sent == 0 {
            crate::warn!(
                "{}: no signal could be sent to {}; killing the chosen process alone\n",
                who,
                what
            );
            return false;
        }
        for m in members.iter().take(out.sent) {
            self.counters
                .signal_sent(reason, libc::SIGKILL, m.v.comm.as_bytes());
        }
        if out.left.is_empty() {
            crate::log::emit(
                Level::Warn,
                format_args!(
                    "{}: {} processes of {} exited after {:.3} seconds\n",
                    who, out.sent, what, out.secs
                ),
            );
        } else {
            crate::log::emit(
                Level::Warn,
                format_args!(
                    "{}: {}: {} of {} processes still there after {:.3} seconds (resumed if stopped; passed over from now on)\n",
                    who,
                    what,
                    out.left.len(),
                    out.sent,
                    out.secs
                ),
            );
            for &(pid, start) in &out.left {
                self.scanner.unkillable.remember(pid, start);
            }
        }
        true
    }

    /// The directory of cgroup `rel` (as /proc/PID/cgroup gives it) below the mount.
    pub(crate) fn cgroup_dir(&self, rel: &[u8]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let rel = rel.strip_prefix(b"/").unwrap_or(rel);
        self.cgroup_root.0.join(std::ffi::OsStr::from_bytes(rel))
    }

    /// `--cgroup-kill`: if `v`'s own cgroup is a workload cgroup (or has memory.oom.group
    /// set) that may be killed whole, kill it whole. True if it was (nothing more to do).
    pub(crate) fn kill_whole_cgroup(&mut self, v: &Victim, reason: Reason) -> Result<bool, Fatal> {
        let mut rel = Text::new();
        if !v.dir.cgroup(&mut rel) {
            return Ok(false);
        }
        let dir = self.cgroup_dir(rel.as_bytes());
        let name = dir
            .file_name()
            .map(|n| n.as_encoded_bytes().to_vec())
            .unwrap_or_default();
        let oom_group = whole::oom_group(&dir);
        let Some(why) = whole::is_workload(&name, !whole::has_children(&dir), oom_group) else {
            return Ok(false);
        };
        if let Some(no) = whole::cgroup_refused(rel.as_bytes(), self.my_cgroup.as_bytes()) {
            crate::warn!(
                "cgroup kill: not killing cgroup {} whole ({}): {}; killing process {} alone\n",
                rel.display(),
                why,
                no,
                v.pid
            );
            return Ok(false);
        }
        let rules = rules_of(&self.root, &self.settings);
        let pids = whole::cgroup_members(&dir);
        let dry = self.settings.kill.dryrun;
        let how = whole::Signalling {
            mech: self.killer.mech,
            pidfds: !dry,
        };
        let pinned = whole::pin(&mut self.sys, &rules, &pids, how, Some(rel.as_bytes()));
        drop(rules);
        if let Some((pid, comm, spared)) = pinned.spared {
            refuse_whole(&rel, pid, &comm, spared, v);
            return Ok(false);
        }
        if !pinned.members.iter().any(|m| m.v.pid == v.pid) {
            // The victim left (or exited) since it was chosen: the normal path says so.
            return Ok(false);
        }
        // Stopped first, and looked at again until nobody new shows up, so that the
        // fallback (one SIGKILL each, where cgroup.kill is missing or read-only) cannot be
        // outrun by a member that forks.
        drop(pinned);
        let rules = rules_of(&self.root, &self.settings);
        let pinned = whole::pin_and_stop(
            &mut self.sys,
            &rules,
            || whole::cgroup_members(&dir),
            how,
            Some(rel.as_bytes()),
            dry,
        );
        drop(rules);
        // A protected process may have joined between the two looks: back out.
        if let Some((pid, comm, spared)) = pinned.spared {
            whole::resume(&mut self.sys, &pinned.members, how.mech);
            refuse_whole(&rel, pid, &comm, spared, v);
            return Ok(false);
        }
        let verb = if self.settings.kill.dryrun {
            "would kill"
        } else {
            "killing"
        };
        let mut cg = Text::new();
        cg.set(rel.as_bytes());
        let fields = Fields::of(Some(v), "SIGKILL", reason.label(), cg.as_bytes());
        crate::log::record(
            Level::Warn,
            Kind::Kill,
            &fields,
            format_args!(
                "cgroup kill: {} cgroup {} whole ({}): {} processes with SIGKILL, for process {} uid {} \"{}\": oom_score {}, VmRSS {} MiB\n",
                verb,
                rel.display(),
                why,
                pinned.members.len(),
                v.pid,
                v.uid,
                v.comm.display(),
                v.oom_score,
                v.rss_kib / 1024
            ),
        );
        self.after_kill();
        self.killer.pre_hook(&mut self.sys, v);
        if self.settings.kill.dryrun {
            crate::warn!("dryrun, not actually sending any signal\n");
            self.counters.not_killed(NoKill::DryRun);
        } else {
            let out = whole::kill_cgroup(&mut self.sys, &dir, &pinned.members, how.mech);
            let what = format!("cgroup {}", rel.display());
            if !self.set_outcome("cgroup kill", &what, &pinned.members, reason, out) {
                return Ok(false);
            }
        }
        self.killer.notify_killed(&mut self.sys, v);
        if let Some(f) = self.metrics.as_mut() {
            f.soon();
        }
        Ok(true)
    }
}

impl<S: Sys> Daemon<S> {
    /// A kill was made (for any reason): the next "no kill" situation is a new one, and the
    /// pressure trigger holds off while the survivors refault.
    pub(crate) fn after_kill(&mut self) {
        self.explained.reset();
        let now = self.sys.now();
        if let Some(p) = self.pressure.as_mut() {
            p.trigger.killed(now);
        }
    }

    /// `--memory-pressure`: one reading of the machine's stall, judged.
    pub(crate) fn pressure_step(&mut self, m: &crate::meminfo::MemInfo) -> Option<Verdict> {
        let now = self.sys.now();
        let p = self.pressure.as_mut()?;
        let r = p.sampler.read(now, m.mem_available_percent)?;
        self.counters.pressure_full_percent = p.trigger.last_stall(&r);
        let line = crate::pressure::soft_line(self.settings.limits.mem_term_percent);
        Some(p.trigger.step(r, line))
    }

    /// The stall held and a gate holds: one line, then SIGTERM to the best victim with the
    /// main rules (the kill path escalates to SIGKILL after its wait, as for memory).
    pub(crate) fn relieve_pressure(&mut self, v: &Verdict) -> Result<(), Fatal> {
        let Verdict::Fire {
            stall_percent,
            duration_s,
            gate,
        } = *v
        else {
            return Ok(());
        };
        let Some(cfg) = self.pressure.as_ref().map(|p| p.trigger.cfg) else {
            return Ok(());
        };
        let sel = self.scan(None)?;
        let gate = match gate {
            Gate::LowAvailable { percent, line } => format!(
                "mem avail {:.1}% <= {}% (the soft line)",
                percent,
                crate::cfmt::pct(line)
            ),
            Gate::Swapping { pages_per_s } => {
                format!("swapping out {pages_per_s:.0} pages/s")
            }
        };
        let what = action_text(
            sel.victim.as_ref(),
            self.settings.kill.dryrun,
            "no process to kill",
        );
        let fields = Fields::of(sel.victim.as_ref(), "", Reason::Pressure.label(), b"");
        crate::log::record(
            Level::Warn,
            Kind::Pressure,
            &fields,
            format_args!(
                "memory pressure: full stall {:.1}% for {:.1} s (>= {}% for {} s), {}: {}\n",
                stall_percent,
                duration_s,
                crate::cfmt::pct(cfg.percent),
                cfg.seconds,
                gate,
                what
            ),
        );
        match sel.victim.as_ref() {
            Some(v) => self.kill(v, Signal::Term, Reason::Pressure, None)?,
            None => {
                let now = self.sys.now();
                if let Some(p) = self.pressure.as_mut() {
                    // Nothing to kill: judge again after a new window, not every poll.
                    p.trigger.killed(now);
                }
                self.explain_no_victim(None, "the memory pressure trigger fired", &sel.skipped);
            }
        }
        Ok(())
    }

    /// The stall held but no gate: say why nothing is killed (rate-limited).
    pub(crate) fn explain_gated(&mut self, v: &Verdict) {
        let Verdict::Gated {
            stall_percent,
            duration_s,
            avail_percent,
            line,
            pages_per_s,
        } = *v
        else {
            return;
        };
        let now = self.sys.now();
        // Counted once per situation, as it is said: a gated stall lasts many polls.
        if self
            .explained
            .due(NoKill::PressureGated, b"", "pressure", now)
            .is_none()
        {
            return;
        }
        self.counters.not_killed(NoKill::PressureGated);
        crate::log::record(
            Level::Warn,
            Kind::NoKill,
            &Fields {
                reason: NoKill::PressureGated.label(),
                ..Fields::default()
            },
            format_args!(
                "no kill: memory full stall {:.1}% for {:.1} s, but memory is not short (mem avail {:.1}% > {}%, the soft line) and nothing is swapped out ({:.0} pages/s): page cache churn or refaults, which a kill would not relieve\n",
                stall_percent,
                duration_s,
                avail_percent,
                crate::cfmt::pct(line),
                pages_per_s
            ),
        );
    }

    /// `--warn`: available memory reached the warning line: name the would-be victim once
    /// for this episode; `-n` and `--warn-hook` get it too. Nothing is signalled.
    pub(crate) fn warn_now(&mut self, m: &crate::meminfo::MemInfo) -> Result<(), Fatal> {
        let Some(w) = self.settings.warn.clone() else {
            return Ok(());
        };
        self.counters.warnings += 1;
        let sel = self.scan(None)?;
        let l = &self.settings.limits;
        let above = m.mem_available_percent - l.mem_term_percent;
        let above_mib = above / 100.0 * m.user_mem_total_kib as f64 / 1024.0;
        let head = format!(
            "warning: mem avail {:.1}% <= {}% (--warn), {:.1}% ({:.0} MiB) above the SIGTERM line",
            m.mem_available_percent,
            crate::cfmt::pct(w.percent),
            above,
            above_mib
        );
        let Some(v) = sel.victim.as_ref() else {
            crate::log::record(
                Level::Warn,
                Kind::Warn,
                &Fields::default(),
                format_args!("{head}: no process could be killed\n"),
            );
            return Ok(());
        };
        crate::log::record(
            Level::Warn,
            Kind::Warn,
            &Fields::of(Some(v), "", "warn", b""),
            format_args!(
                "{}: the next victim would be process {} uid {} \"{}\": oom_score {}, VmRSS {} MiB\n",
                head,
                v.pid,
                v.uid,
                v.comm.display(),
                v.oom_score,
                v.rss_kib / 1024
            ),
        );
        if self.settings.kill.notify {
            let mut body = format!("Memory is low: process {} (", v.pid).into_bytes();
            body.extend_from_slice(v.comm.as_bytes());
            body.extend_from_slice(b") will be killed if it runs out");
            crate::hooks::dbus_notify(&mut self.sys, &body);
        }
        if let Some(hook) = w.hook.as_deref() {
            crate::hooks::run_program(&mut self.sys, hook, v.into(), 0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per situation, again after NO_KILL_REPEAT_S (saying how often it was held
    /// back), at once for a new situation or after a kill.
    #[test]
    fn no_kill_lines_are_rate_limited_per_situation() {
        let mut e = Explained::default();
        let (none, stuck) = (NoKill::NoneEligible, NoKill::Stuck);
        assert_eq!(e.due(none, b"", "SIGTERM", 100.0), Some(0));
        assert_eq!(e.due(none, b"", "SIGTERM", 101.0), None);
        assert_eq!(e.due(none, b"", "SIGTERM", 159.0), None);
        assert_eq!(e.due(none, b"", "SIGTERM", 160.0), Some(2));
        assert_eq!(e.due(none, b"", "SIGKILL", 160.5), Some(0), "another line");
        assert_eq!(e.due(none, b"/a", "SIGTERM", 161.0), Some(0), "a cgroup");
        assert_eq!(
            e.due(none, b"/b", "SIGTERM", 161.0),
            Some(0),
            "another cgroup"
        );
        assert_eq!(
            e.due(stuck, b"/b", "SIGTERM", 162.0),
            Some(0),
            "another reason"
        );
        // Two situations lasting side by side: each once, not one after the other.
        for t in 0..100 {
            let now = 163.0 + f64::from(t) * 0.5;
            assert_eq!(e.due(none, b"/a", "SIGTERM", now), None);
            assert_eq!(e.due(none, b"/b", "SIGTERM", now), None);
        }
        e.reset();
        assert_eq!(
            e.due(none, b"/a", "SIGTERM", 300.0),
            Some(0),
            "after a kill"
        );
    }

    #[test]
    fn skip_counts_name_only_the_rules_that_applied() {
        let mut c = SkipCounts::default();
        assert_eq!(c.rules(), "");
        for s in [
            crate::victim::Skip::Ignored,
            crate::victim::Skip::Ignored,
            crate::victim::Skip::Protected,
            crate::victim::Skip::Myself,
            crate::victim::Skip::NotLarger,
        ] {
            c.add(s);
        }
        assert_eq!(
            c.rules(),
            "2 ignored by --ignore, 1 with oom_score_adj -1000, 1 the daemon itself"
        );
    }
}
