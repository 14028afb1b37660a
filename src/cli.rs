//! earlyoom's command line: a table-driven parser with glibc `getopt_long` semantics (docs/contract.md §2).
//!
//! Why not clap: earlyoom users' scripts rely on glibc's exact behaviour (`-r=0` is the argument
//! "=0", unique prefixes of long options, "is ambiguous; possibilities", permutation, options
//! taking effect left to right so `-m 100 -h` exits 15 but `-h -m 100` exits 0) and on glibc's
//! exact diagnostics. The parser is a pure function: it returns the messages earlyoom prints
//! while parsing as [`Event`]s, in order, and the caller replays them.

use crate::cfmt::CFloat;
use crate::sys::Errno;
use crate::Fatal;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// What parsing printed, in argv order; the caller replays these through the logger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `fprintf(stderr, ...)`: never coloured, never syslog.
    Plain(Vec<u8>),
    /// `warn(...)`: yellow on a tty, syslog after `--syslog`.
    Warn(Vec<u8>),
    /// `--syslog` was reached: later warn/info/debug/fatal go to syslog.
    Syslog,
}

/// A SIGTERM/SIGKILL pair as given by `-m/-s` (percent) or `-M/-S` (KiB).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuple {
    pub term: f64,
    pub kill: f64,
}

/// Everything the command line sets. Defaults are earlyoom's (main.c:149-158).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub mem_term_percent: f64,
    pub mem_kill_percent: f64,
    pub swap_term_percent: f64,
    pub swap_kill_percent: f64,
    /// `-r` in milliseconds; 0 disables the periodic report.
    pub report_interval_ms: i32,
    pub notify: bool,
    pub kill_process_group: bool,
    pub notify_ext: Option<Vec<u8>>,
    pub pre_hook: Option<Vec<u8>>,
    pub debug: bool,
    pub set_priority: bool,
    pub ignore_root_user: bool,
    pub sort_by_rss: bool,
    pub prefer: Option<Vec<u8>>,
    pub avoid: Option<Vec<u8>>,
    pub ignore: Option<Vec<u8>>,
    pub dryrun: bool,
    pub kernel_oom: bool,
    /// `--livelock-guard`: watch cgroups for the memory.high throttle livelock (not in earlyoom).
    pub livelock_guard: bool,
    /// `--livelock-window SECONDS`, if given (the default is the guard's: settings.rs).
    pub livelock_window_s: Option<f64>,
    /// `--livelock-stall PERCENT`, if given.
    pub livelock_stall_percent: Option<f64>,
    /// `--metrics-file PATH`: node_exporter textfile (not in earlyoom).
    pub metrics_file: Option<Vec<u8>>,
    /// `--cgroup-headroom PERCENT[,KILL_PERCENT]` (not in earlyoom).
    pub cgroup_headroom: Option<Tuple>,
    /// `--cgroup-kill`.
    pub cgroup_kill: bool,
    /// `--storm-guard`.
    pub storm_guard: bool,
    /// `--memory-pressure PERCENT[,SECONDS]`: (percent, seconds if given).
    pub memory_pressure: Option<(f64, Option<f64>)>,
    /// `--warn PERCENT`.
    pub warn_percent: Option<f64>,
    /// `--warn-hook PROGRAM`.
    pub warn_hook: Option<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mem_term_percent: 10.0,
            mem_kill_percent: 5.0,
            swap_term_percent: 10.0,
            swap_kill_percent: 5.0,
            report_interval_ms: 1000,
            notify: false,
            kill_process_group: false,
            notify_ext: None,
            pre_hook: None,
            debug: false,
            set_priority: false,
            ignore_root_user: false,
            sort_by_rss: false,
            prefer: None,
            avoid: None,
            ignore: None,
            dryrun: false,
            kernel_oom: false,
            livelock_guard: false,
            livelock_window_s: None,
            livelock_stall_percent: None,
            metrics_file: None,
            cgroup_headroom: None,
            cgroup_kill: false,
            storm_guard: false,
            memory_pressure: None,
            warn_percent: None,
            warn_hook: None,
        }
    }
}

/// The outcome of a successful parse.
#[derive(Clone, Debug, PartialEq)]
pub enum Parsed {
    /// Start the daemon with this configuration.
    Run(Box<Config>),
    /// `-h` or `-v` was reached: exit 0.
    Exit,
}

/// Totals from the pre-parse /proc/meminfo snapshot; `-M`/`-S` limits and conversions use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    pub mem_total_kib: i64,
    pub swap_total_kib: i64,
}

/// The result of [`parse`]: the messages printed so far and the outcome.
#[derive(Debug)]
pub struct ParseResult {
    pub events: Vec<Event>,
    pub outcome: Result<Parsed, Fatal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    Short(u8),
    Prefer,
    Avoid,
    Ignore,
    Dryrun,
    IgnoreRootUser,
    SortByRss,
    Syslog,
    KernelOom,
    LivelockGuard,
    LivelockWindow,
    LivelockStall,
    MetricsFile,
    CgroupHeadroom,
    CgroupKill,
    StormGuard,
    MemoryPressure,
    Warn,
    WarnHook,
}

/// earlyoom's short option string.
const SHORT: &[u8] = b"m:s:M:S:kingN:P:dvr:ph";

struct LongOpt {
    name: &'static str,
    has_arg: bool,
    opt: Opt,
}

/// The long options in earlyoom's table order; glibc lists ambiguous matches in this order.
const LONG: &[LongOpt] = &[
    LongOpt {
        name: "prefer",
        has_arg: true,
        opt: Opt::Prefer,
    },
    LongOpt {
        name: "avoid",
        has_arg: true,
        opt: Opt::Avoid,
    },
    LongOpt {
        name: "ignore",
        has_arg: true,
        opt: Opt::Ignore,
    },
    LongOpt {
        name: "dryrun",
        has_arg: false,
        opt: Opt::Dryrun,
    },
    LongOpt {
        name: "ignore-root-user",
        has_arg: false,
        opt: Opt::IgnoreRootUser,
    },
    LongOpt {
        name: "sort-by-rss",
        has_arg: false,
        opt: Opt::SortByRss,
    },
    LongOpt {
        name: "syslog",
        has_arg: false,
        opt: Opt::Syslog,
    },
    LongOpt {
        name: "kernel-oom",
        has_arg: false,
        opt: Opt::KernelOom,
    },
    LongOpt {
        name: "help",
        has_arg: false,
        opt: Opt::Short(b'h'),
    },
    LongOpt {
        name: "debug",
        has_arg: false,
        opt: Opt::Short(b'd'),
    },
    // Ours. All start with "l", which no earlyoom option does, so no abbreviation that
    // earlyoom accepts becomes ambiguous.
    LongOpt {
        name: "livelock-guard",
        has_arg: false,
        opt: Opt::LivelockGuard,
    },
    LongOpt {
        name: "livelock-window",
        has_arg: true,
        opt: Opt::LivelockWindow,
    },
    LongOpt {
        name: "livelock-stall",
        has_arg: true,
        opt: Opt::LivelockStall,
    },
    // "m" is no earlyoom long option's first letter either.
    LongOpt {
        name: "metrics-file",
        has_arg: true,
        opt: Opt::MetricsFile,
    },
    // Nor "c".
    LongOpt {
        name: "cgroup-headroom",
        has_arg: true,
        opt: Opt::CgroupHeadroom,
    },
    LongOpt {
        name: "cgroup-kill",
        has_arg: false,
        opt: Opt::CgroupKill,
    },
    // "--s" is ambiguous in earlyoom already (--sort-by-rss, --syslog); "--so" and "--sy"
    // stay unique, "--st" is ours.
    LongOpt {
        name: "storm-guard",
        has_arg: false,
        opt: Opt::StormGuard,
    },
    // "--me" is now ambiguous between two of ours ("--met", "--mem" are unique).
    LongOpt {
        name: "memory-pressure",
        has_arg: true,
        opt: Opt::MemoryPressure,
    },
    // No earlyoom long option starts with "w".
    LongOpt {
        name: "warn",
        has_arg: true,
        opt: Opt::Warn,
    },
    LongOpt {
        name: "warn-hook",
        has_arg: true,
        opt: Opt::WarnHook,
    },
];

/// earlyoom's `-h` text (main.c:322-357) with the `-P` line earlyoom forgot; `{}` is argv[0].
pub fn help_text(argv0: &[u8]) -> Vec<u8> {
    let mut s = b"Usage: ".to_vec();
    s.extend_from_slice(argv0);
    s.extend_from_slice(
        b" [OPTION]...

  -m PERCENT[,KILL_PERCENT] set available memory minimum to PERCENT of total
                            (default 10 %).
                            earlyoom sends SIGTERM once below PERCENT, then
                            SIGKILL once below KILL_PERCENT (default PERCENT/2).
  -s PERCENT[,KILL_PERCENT] set free swap minimum to PERCENT of total (default
                            10 %).
                            Note: both memory and swap must be below minimum for
                            earlyoom to act.
  -M SIZE[,KILL_SIZE]       set available memory minimum to SIZE KiB
  -S SIZE[,KILL_SIZE]       set free swap minimum to SIZE KiB
  -n                        enable d-bus notifications
  -N /PATH/TO/SCRIPT        call script after oom kill
  -P /PATH/TO/SCRIPT        call script before oom kill
  -g                        kill all processes within a process group
  -d, --debug               enable debugging messages
  -v                        print version information and exit
  -r INTERVAL               memory report interval in seconds (default 1), set
                            to 0 to disable completely
  -p                        set niceness of earlyoom to -20 and oom_score_adj to
                            -100
  --ignore-root-user        do not kill processes owned by root
  --sort-by-rss             find process with the largest rss (default oom_score)
  --prefer REGEX            prefer to kill processes matching REGEX
  --avoid REGEX             avoid killing processes matching REGEX
  --ignore REGEX            ignore processes matching REGEX
  --dryrun                  dry run (do not kill any processes)
  --syslog                  use syslog instead of std streams
  --kernel-oom              use kernel OOM killer via /proc/sysrq-trigger
                            instead of killing processes directly. Requires
                            Linux v5.17+ and root to work correctly.
  -h, --help                this help text

earlyoom-rs additions:
  --livelock-guard          kill the hog of a cgroup stuck above memory.high
                            (throttle livelock: no swap, nothing to reclaim)
  --livelock-window SECONDS how long the livelock must last (default 5)
  --livelock-stall PERCENT  minimum memory.pressure full stall (default 40)
  --metrics-file PATH       write Prometheus metrics for node_exporter's
                            textfile collector to PATH (atomically)
  --cgroup-headroom PERCENT[,KILL_PERCENT]
                            for every cgroup with a memory.max: SIGTERM the
                            largest process inside it once its headroom (free
                            plus reclaimable) is at or below PERCENT of
                            memory.max, SIGKILL at KILL_PERCENT (default
                            PERCENT/2)
  --cgroup-kill             kill a victim's whole cgroup (cgroup.kill) when it
                            is an app scope or has memory.oom.group set
  --storm-guard             when kills do not bring memory back and the
                            victims share a parent, process group or cgroup,
                            kill that source and all it spawned
  --memory-pressure PERCENT[,SECONDS]
                            SIGTERM the largest process when the memory full
                            stall stays at or above PERCENT for SECONDS
                            (default 10) while memory is short or the system
                            swaps out (never for page cache churn)
  --warn PERCENT            once available memory falls to PERCENT (above the
                            SIGTERM line), say which process would be killed
                            (with -n as a desktop notification)
  --warn-hook /PATH/TO/SCRIPT
                            call script at each warning, with the would-be
                            victim in EARLYOOM_PID, _UID, _NAME, _CMDLINE
",
    );
    s
}

/// C `strtod` in the "C" locale, glibc's own (see [`crate::sys::strtod`]).
pub fn c_strtod(s: &[u8]) -> (f64, usize, i32) {
    crate::sys::strtod(s)
}

/// C `strtof(arg, NULL)` as earlyoom uses it for `-r`: no error checking, anything after the
/// number is ignored, no number at all gives 0.
fn c_strtof(s: &[u8]) -> f32 {
    crate::sys::strtof(s)
}

/// One part of a tuple (msg.c `parse_part`): checks in earlyoom's order.
fn parse_part(part: &[u8], upper_limit: i64) -> Result<f64, String> {
    let (val, used, errno) = c_strtod(part);
    if used < part.len() {
        return Err(format!(
            "trailing garbage '{}'",
            String::from_utf8_lossy(&part[used..])
        ));
    }
    if errno != 0 {
        return Err(format!("conversion error: {}", Errno(errno)));
    }
    if val > upper_limit as f64 {
        return Err(format!(
            "value {} exceeds limit {}",
            CFloat(val, 0, 6),
            upper_limit
        ));
    }
    if val < 0.0 {
        return Err(format!("value {} below zero", CFloat(val, 0, 6)));
    }
    Ok(val)
}

/// `PERCENT[,KILL_PERCENT]` (msg.c `parse_term_kill_tuple`, docs/contract.md §2.3). On success also returns
/// the "SIGTERM below SIGKILL" warning earlyoom prints, if any.
pub fn parse_tuple(arg: &[u8], upper_limit: i64) -> Result<(Tuple, Option<String>), String> {
    if arg.len() > 255 {
        return Err(format!("argument too long ({} bytes)", arg.len()));
    }
    let (first, second) = match arg.iter().position(|&b| b == b',') {
        Some(i) => (&arg[..i], Some(&arg[i + 1..])),
        None => (arg, None),
    };
    let mut term = parse_part(first, upper_limit)?;
    let kill = match second {
        Some(p) => parse_part(p, upper_limit)?,
        None => term / 2.0,
    };
    let mut warning = None;
    if term < kill {
        warning = Some(format!(
            "warning: SIGTERM value {} is below SIGKILL value {}, setting SIGTERM = SIGKILL = {}\n",
            CFloat(term, 0, 2),
            CFloat(kill, 0, 2),
            CFloat(kill, 0, 2)
        ));
        term = kill;
    }
    if term == 0.0 && kill == 0.0 {
        return Err("both SIGTERM and SIGKILL values are zero".to_string());
    }
    Ok((Tuple { term, kill }, warning))
}

/// A number for one of our own options: the whole argument must parse (C strtod) and lie in
/// `lo..=hi`; otherwise exit 17 (`fatal: --opt: ...`).
fn bounded(opt: &'static str, arg: &[u8], lo: f64, hi: f64) -> Result<f64, Fatal> {
    let (v, used, errno) = c_strtod(arg.get(..255).unwrap_or(arg));
    let err = if arg.is_empty() || used < arg.len() || errno != 0 {
        format!("invalid number '{}'", String::from_utf8_lossy(arg))
    } else if !(lo..=hi).contains(&v) {
        format!("value {} is not between {} and {}", CFloat(v, 0, 2), lo, hi)
    } else {
        return Ok(v);
    };
    Err(Fatal::Option { opt, err })
}

/// `-M`/`-S` upper limit: `Total * 100 / 99` in integer math (main.c:237-258), saturating
/// instead of overflowing for absurd totals from a fake /proc/meminfo.
fn size_limit(total_kib: i64) -> i64 {
    (i128::from(total_kib) * 100 / 99).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

/// A getopt_long "?" return: glibc's diagnostic then earlyoom's hint, exit 13.
fn usage_error(events: &mut Vec<Event>, argv0: &[u8], msg: &[u8]) -> Fatal {
    let mut line = argv0.to_vec();
    line.extend_from_slice(b": ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    events.push(Event::Plain(line));
    events.push(Event::Plain(
        b"Try 'earlyoom --help' for more information.\n".to_vec(),
    ));
    Fatal::Usage
}

fn quoted(prefix: &str, name: &[u8]) -> Vec<u8> {
    let mut v = b"'".to_vec();
    v.extend_from_slice(prefix.as_bytes());
    v.extend_from_slice(name);
    v.push(b'\'');
    v
}

/// State shared by the option handlers while parsing.
struct Parser<'a> {
    totals: Totals,
    argv0: &'a [u8],
    events: Vec<Event>,
    cfg: Config,
    mem_kib: Option<Tuple>,
    swap_kib: Option<Tuple>,
    have_m: bool,
    have_s: bool,
}

enum Step {
    Continue,
    Exit,
}

impl Parser<'_> {
    fn tuple(&mut self, opt: u8, arg: &[u8], limit: i64) -> Result<Tuple, Fatal> {
        match parse_tuple(arg, limit) {
            Ok((t, warning)) => {
                if let Some(w) = warning {
                    self.events.push(Event::Warn(w.into_bytes()));
                }
                Ok(t)
            }
            Err(err) if opt == b'm' || opt == b'M' => Err(Fatal::MemThreshold { opt, err }),
            Err(err) => Err(Fatal::SwapThreshold { opt, err }),
        }
    }

    fn plain(&mut self, s: &str) {
        self.events.push(Event::Plain(s.as_bytes().to_vec()));
    }

    /// Applies one option, in argv order, with earlyoom's side effects (main.c:206-362).
    fn apply(&mut self, opt: Opt, arg: Option<&[u8]>) -> Result<Step, Fatal> {
        let arg = arg.unwrap_or_default();
        match opt {
            Opt::Short(b'm') => {
                let t = self.tuple(b'm', arg, 99)?;
                self.cfg.mem_term_percent = t.term;
                self.cfg.mem_kill_percent = t.kill;
                self.have_m = true;
            }
            Opt::Short(b's') => {
                let t = self.tuple(b's', arg, 100)?;
                self.cfg.swap_term_percent = t.term;
                self.cfg.swap_kill_percent = t.kill;
                self.have_s = true;
            }
            Opt::Short(b'M') => {
                let limit = size_limit(self.totals.mem_total_kib);
                self.mem_kib = Some(self.tuple(b'M', arg, limit)?);
            }
            Opt::Short(b'S') => {
                let limit = size_limit(self.totals.swap_total_kib);
                let t = self.tuple(b'S', arg, limit)?;
                if self.totals.swap_total_kib == 0 {
                    // Reachable only with `-S nan`: any positive value exceeds the limit 0.
                    self.events.push(Event::Warn(
                        b"warning: -S: total swap is zero, using default percentages\n".to_vec(),
                    ));
                } else {
                    self.swap_kib = Some(t);
                }
            }
            Opt::Short(b'k') => self.plain("Option -k is ignored since earlyoom v1.2\n"),
            Opt::Short(b'i') => self.plain("Option -i is ignored since earlyoom v1.7\n"),
            Opt::Short(b'n') => {
                self.cfg.notify = true;
                self.plain("Notifying through D-Bus\n");
            }
            Opt::Short(b'g') => self.cfg.kill_process_group = true,
            Opt::Short(b'N') => self.cfg.notify_ext = Some(arg.to_vec()),
            Opt::Short(b'P') => self.cfg.pre_hook = Some(arg.to_vec()),
            Opt::Short(b'd') => self.cfg.debug = true,
            Opt::Short(b'v') => return Ok(Step::Exit),
            Opt::Short(b'r') => {
                // strtof without error checking (main.c:284-290): "abc", "=0" and "" are 0.
                let secs = c_strtof(arg);
                if secs < 0.0 {
                    return Err(Fatal::Interval(arg.to_vec()));
                }
                // `(int)(float * 1000)`; Rust's cast saturates where C is undefined (docs/contract.md §2.5).
                self.cfg.report_interval_ms = (secs * 1000.0) as i32;
            }
            Opt::Short(b'p') => self.cfg.set_priority = true,
            Opt::Short(b'h') => {
                let text = help_text(self.argv0);
                self.events.push(Event::Plain(text));
                return Ok(Step::Exit);
            }
            Opt::Short(other) => unreachable!("option -{} is in SHORT but not handled", other),
            Opt::IgnoreRootUser => {
                self.cfg.ignore_root_user = true;
                self.plain("Processes owned by root will not be killed\n");
            }
            Opt::SortByRss => {
                self.cfg.sort_by_rss = true;
                self.plain("Find process with the largest rss\n");
            }
            Opt::Prefer => self.cfg.prefer = Some(arg.to_vec()),
            Opt::Avoid => self.cfg.avoid = Some(arg.to_vec()),
            Opt::Ignore => self.cfg.ignore = Some(arg.to_vec()),
            Opt::Dryrun => {
                self.cfg.dryrun = true;
                self.events.push(Event::Warn(
                    b"dryrun mode enabled, will not kill anything\n".to_vec(),
                ));
            }
            Opt::Syslog => {
                self.events.push(Event::Syslog);
            }
            Opt::KernelOom => {
                self.cfg.kernel_oom = true;
                self.plain("Using kernel OOM killer (requires Linux v5.17+)\n");
            }
            Opt::LivelockGuard => self.cfg.livelock_guard = true,
            Opt::LivelockWindow => {
                self.cfg.livelock_window_s = Some(bounded("--livelock-window", arg, 0.5, 3600.0)?);
            }
            Opt::MetricsFile => self.cfg.metrics_file = Some(arg.to_vec()),
            Opt::LivelockStall => {
                self.cfg.livelock_stall_percent =
                    Some(bounded("--livelock-stall", arg, 1.0, 100.0)?);
            }
            Opt::CgroupHeadroom => {
                // -m's rules (KILL defaults to PERCENT/2, KILL above PERCENT raises PERCENT),
                // percent of memory.max, at most 100; a bad value is exit 17.
                let (t, warning) = parse_tuple(arg, 100).map_err(|err| Fatal::Option {
                    opt: "--cgroup-headroom",
                    err,
                })?;
                if t.term.is_nan() || t.kill.is_nan() {
                    return Err(Fatal::Option {
                        opt: "--cgroup-headroom",
                        err: format!("invalid number '{}'", String::from_utf8_lossy(arg)),
                    });
                }
                if let Some(w) = warning {
                    self.events
                        .push(Event::Warn(format!("--cgroup-headroom: {w}").into_bytes()));
                }
                self.cfg.cgroup_headroom = Some(t);
            }
            Opt::CgroupKill => self.cfg.cgroup_kill = true,
            Opt::StormGuard => self.cfg.storm_guard = true,
            Opt::MemoryPressure => {
                let (pct, secs) = match arg.iter().position(|&b| b == b',') {
                    Some(i) => (&arg[..i], Some(&arg[i + 1..])),
                    None => (arg, None),
                };
                let pct = bounded("--memory-pressure", pct, 1.0, 100.0)?;
                let secs = match secs {
                    Some(s) => Some(bounded("--memory-pressure", s, 1.0, 300.0)?),
                    None => None,
                };
                self.cfg.memory_pressure = Some((pct, secs));
            }
            Opt::Warn => self.cfg.warn_percent = Some(bounded("--warn", arg, 0.0, 100.0)?),
            Opt::WarnHook => self.cfg.warn_hook = Some(arg.to_vec()),
        }
        Ok(Step::Continue)
    }

    /// `-M`/`-S` become percentages of MemTotal/SwapTotal; with `-m`/`-s` too, the element-wise
    /// minimum wins regardless of argv order (main.c:367-394). earlyoom's `min(a, b)` is
    /// `a < b ? a : b`, which keeps a NaN in `b`; `f64::min` would drop it (found by fuzzing).
    fn merge_sizes(&mut self) {
        let c_min = |a: f64, b: f64| if a < b { a } else { b };
        if let Some(t) = self.mem_kib {
            let total = self.totals.mem_total_kib as f64;
            let (term, kill) = (100.0 * t.term / total, 100.0 * t.kill / total);
            if self.have_m {
                self.cfg.mem_term_percent = c_min(self.cfg.mem_term_percent, term);
                self.cfg.mem_kill_percent = c_min(self.cfg.mem_kill_percent, kill);
            } else {
                self.cfg.mem_term_percent = term;
                self.cfg.mem_kill_percent = kill;
            }
        }
        if let Some(t) = self.swap_kib {
            let total = self.totals.swap_total_kib as f64;
            let (term, kill) = (100.0 * t.term / total, 100.0 * t.kill / total);
            if self.have_s {
                self.cfg.swap_term_percent = c_min(self.cfg.swap_term_percent, term);
                self.cfg.swap_kill_percent = c_min(self.cfg.swap_kill_percent, kill);
            } else {
                self.cfg.swap_term_percent = term;
                self.cfg.swap_kill_percent = kill;
            }
        }
    }
}

/// Resolves `--name[=value]` against the long table the way glibc's `process_long_option`
/// does: an exact match wins, otherwise a unique prefix; several prefixes are ambiguous.
fn find_long(name: &[u8]) -> Result<&'static LongOpt, Vec<&'static LongOpt>> {
    if let Some(o) = LONG.iter().find(|o| o.name.as_bytes() == name) {
        return Ok(o);
    }
    let hits: Vec<_> = LONG
        .iter()
        .filter(|o| o.name.as_bytes().starts_with(name))
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        _ => Err(hits),
    }
}

/// Parses argv (argv[0] included). `posixly_correct` is whether `POSIXLY_CORRECT` is set, which
/// makes glibc stop at the first non-option instead of permuting.
pub fn parse(args: &[OsString], totals: Totals, posixly_correct: bool) -> ParseResult {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let argv0 = argv.first().copied().unwrap_or(b"earlyoom");
    let mut p = Parser {
        totals,
        argv0,
        events: Vec::new(),
        cfg: Config::default(),
        mem_kib: None,
        swap_kib: None,
        have_m: false,
        have_s: false,
    };
    let outcome = parse_into(&mut p, &argv, posixly_correct);
    ParseResult {
        events: p.events,
        outcome,
    }
}

fn parse_into(p: &mut Parser<'_>, argv: &[&[u8]], posixly_correct: bool) -> Result<Parsed, Fatal> {
    let mut nonopts: Vec<&[u8]> = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i];
        i += 1;
        if a == b"--" {
            nonopts.extend_from_slice(&argv[i..]);
            break;
        }
        if a.len() < 2 || a[0] != b'-' {
            nonopts.push(a);
            if posixly_correct {
                nonopts.extend_from_slice(&argv[i..]);
                break;
            }
            continue;
        }
        if let Some(body) = a.strip_prefix(b"--") {
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(eq) => (&body[..eq], Some(&body[eq + 1..])),
                None => (body, None),
            };
            let o = match find_long(name) {
                Ok(o) => o,
                Err(hits) if hits.is_empty() => {
                    let mut m = b"unrecognized option ".to_vec();
                    m.extend(quoted("--", body));
                    return Err(usage_error(&mut p.events, p.argv0, &m));
                }
                Err(hits) => {
                    let mut m = b"option ".to_vec();
                    m.extend(quoted("--", body));
                    m.extend_from_slice(b" is ambiguous; possibilities:");
                    for h in hits {
                        m.push(b' ');
                        m.extend(quoted("--", h.name.as_bytes()));
                    }
                    return Err(usage_error(&mut p.events, p.argv0, &m));
                }
            };
            let arg = match (o.has_arg, value) {
                (true, Some(v)) => Some(v),
                (true, None) if i < argv.len() => {
                    i += 1;
                    Some(argv[i - 1])
                }
                (true, None) => {
                    let mut m = b"option ".to_vec();
                    m.extend(quoted("--", o.name.as_bytes()));
                    m.extend_from_slice(b" requires an argument");
                    return Err(usage_error(&mut p.events, p.argv0, &m));
                }
                (false, Some(_)) => {
                    let mut m = b"option ".to_vec();
                    m.extend(quoted("--", o.name.as_bytes()));
                    m.extend_from_slice(b" doesn't allow an argument");
                    return Err(usage_error(&mut p.events, p.argv0, &m));
                }
                (false, None) => None,
            };
            if let Step::Exit = p.apply(o.opt, arg)? {
                return Ok(Parsed::Exit);
            }
            continue;
        }
        // A cluster of short options: `-dp`, `-m10`, `-N/path`, `-r=0`.
        let mut j = 1;
        while j < a.len() {
            let c = a[j];
            j += 1;
            let pos = SHORT.iter().position(|&s| s == c).filter(|_| c != b':');
            let Some(pos) = pos else {
                let m = [b"invalid option -- '".as_slice(), &[c], b"'"].concat();
                return Err(usage_error(&mut p.events, p.argv0, &m));
            };
            let takes_arg = SHORT.get(pos + 1) == Some(&b':');
            let arg = if !takes_arg {
                None
            } else if j < a.len() {
                let rest = &a[j..];
                j = a.len();
                Some(rest)
            } else if i < argv.len() {
                i += 1;
                Some(argv[i - 1])
            } else {
                let m = [b"option requires an argument -- '".as_slice(), &[c], b"'"].concat();
                return Err(usage_error(&mut p.events, p.argv0, &m));
            };
            if let Step::Exit = p.apply(Opt::Short(c), arg)? {
                return Ok(Parsed::Exit);
            }
        }
    }
    if let Some(extra) = nonopts.first() {
        return Err(Fatal::ExtraArg(extra.to_vec()));
    }
    p.merge_sizes();
    Ok(Parsed::Run(Box::new(p.cfg.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTALS: Totals = Totals {
        mem_total_kib: 16_000_000,
        swap_total_kib: 0,
    };

    fn run(args: &[&str]) -> ParseResult {
        let mut v: Vec<OsString> = vec!["./earlyoom".into()];
        v.extend(args.iter().map(OsString::from));
        parse(&v, TOTALS, false)
    }

    fn cfg(args: &[&str]) -> Config {
        match run(args).outcome {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn fatal(args: &[&str]) -> Fatal {
        match run(args).outcome {
            Err(f) => f,
            other => panic!("{args:?}: expected an error, got {other:?}"),
        }
    }

    fn stderr_text(r: &ParseResult) -> String {
        let mut s = String::new();
        for e in &r.events {
            match e {
                Event::Plain(b) | Event::Warn(b) => s.push_str(&String::from_utf8_lossy(b)),
                Event::Syslog => s.push_str("<syslog>"),
            }
        }
        s
    }

    /// earlyoom's TestParseTuple table (testsuite_unit_test.go:20-71), limit 100 unless noted.
    #[test]
    #[allow(clippy::approx_constant)] // earlyoom's table uses 3.1415 and 2.7182 literally
    fn tuple_table() {
        let ok = |arg: &str, limit: i64, term: f64, kill: f64| {
            let (t, _) =
                parse_tuple(arg.as_bytes(), limit).unwrap_or_else(|e| panic!("{arg}: {e}"));
            assert_eq!((t.term, t.kill), (term, kill), "{arg}");
        };
        let bad = |arg: &str, limit: i64| {
            assert!(
                parse_tuple(arg.as_bytes(), limit).is_err(),
                "{arg} should fail"
            );
        };
        ok("2,1", 100, 2.0, 1.0);
        ok("30", 100, 30.0, 15.0);
        bad("30", 20);
        bad("22,20", 20);
        ok("5,0", 100, 5.0, 0.0);
        ok("5,9", 100, 9.0, 9.0);
        ok("0,5", 100, 5.0, 5.0);
        ok("4,5", 100, 5.0, 5.0);
        bad("0", 100);
        bad("0,0", 100);
        ok("4.0,2.0", 100, 4.0, 2.0);
        bad("4,0,2,0", 100);
        ok("3.1415,2.7182", 100, 3.1415, 2.7182);
        ok("3.1415", 100, 3.1415, 1.57075);
        bad(&format!("1.{}", "123".repeat(100)), 100);
        for b in ["x1,x2", "1,x2", "1x,2x", "1.1.", "1,2.."] {
            bad(b, 100);
        }
    }

    #[test]
    fn tuple_messages_are_earlyoms() {
        let e = |arg: &str, limit| parse_tuple(arg.as_bytes(), limit).unwrap_err();
        assert_eq!(e("1x", 99), "trailing garbage 'x'");
        assert_eq!(e("x1", 99), "trailing garbage 'x1'");
        assert_eq!(e("1.1.", 99), "trailing garbage '.'");
        assert_eq!(e("4,0,2,0", 99), "trailing garbage ',2,0'");
        assert_eq!(e("=10", 99), "trailing garbage '=10'");
        assert_eq!(e("5 ", 99), "trailing garbage ' '");
        assert_eq!(e("5,9,", 99), "trailing garbage ','");
        assert_eq!(e("100", 99), "value 100.000000 exceeds limit 99");
        assert_eq!(e("-10", 99), "value -10.000000 below zero");
        assert_eq!(e("inf", 99), "value inf exceeds limit 99");
        assert_eq!(
            e("1e999", 99),
            "conversion error: Numerical result out of range"
        );
        assert_eq!(
            e("1e-400", 99),
            "conversion error: Numerical result out of range"
        );
        assert_eq!(e("", 99), "both SIGTERM and SIGKILL values are zero");
        assert_eq!(e(&"1".repeat(256), 99), "argument too long (256 bytes)");
        let (t, w) = parse_tuple(b"5,9", 99).unwrap();
        assert_eq!(
            t,
            Tuple {
                term: 9.0,
                kill: 9.0
            }
        );
        assert_eq!(
            w.unwrap(),
            "warning: SIGTERM value 5.00 is below SIGKILL value 9.00, setting SIGTERM = SIGKILL = 9.00\n"
        );
        // strtod particulars that earlyoom inherits.
        assert_eq!(
            parse_tuple(b"0x10", 99).unwrap().0,
            Tuple {
                term: 16.0,
                kill: 8.0
            }
        );
        assert_eq!(parse_tuple(b" 5", 99).unwrap().0.term, 5.0);
        assert_eq!(
            parse_tuple(b"5,", 99).unwrap().0,
            Tuple {
                term: 5.0,
                kill: 0.0
            }
        );
        assert!(parse_tuple(b"nan", 99).unwrap().0.term.is_nan());
    }

    #[test]
    fn every_spelling_of_a_short_option_with_argument() {
        for args in [
            &["-m", "20"][..],
            &["-m20"],
            &["-dm20"],
            &["-d", "-m", "20"],
            &["-m", "20", "--"],
        ] {
            assert_eq!(cfg(args).mem_term_percent, 20.0, "{args:?}");
        }
        assert_eq!(cfg(&["-N/bin/true"]).notify_ext.unwrap(), b"/bin/true");
        assert_eq!(cfg(&["-N", "/bin/true"]).notify_ext.unwrap(), b"/bin/true");
        assert_eq!(cfg(&["-P/x"]).pre_hook.unwrap(), b"/x");
        assert_eq!(cfg(&["-gnP", "/x"]).pre_hook.unwrap(), b"/x");
        // A separate argument is taken verbatim even when it starts with '-'.
        assert!(matches!(
            fatal(&["-m", "-10"]),
            Fatal::MemThreshold { opt: b'm', ref err } if err == "value -10.000000 below zero"
        ));
        // `-m=10` is the argument "=10".
        assert!(matches!(
            fatal(&["-m=10"]),
            Fatal::MemThreshold { ref err, .. } if err == "trailing garbage '=10'"
        ));
    }

    #[test]
    fn every_spelling_of_long_options() {
        for args in [
            &["--prefer", "fire"][..],
            &["--prefer=fire"],
            &["--pref", "fire"],
            &["--p=fire"],
        ] {
            assert_eq!(cfg(args).prefer.unwrap(), b"fire", "{args:?}");
        }
        assert_eq!(cfg(&["--avoid=x"]).avoid.unwrap(), b"x");
        assert_eq!(cfg(&["--a", "x"]).avoid.unwrap(), b"x");
        // `--ignore` is an exact match and wins over `--ignore-root-user`.
        let c = cfg(&["--ignore", "x"]);
        assert_eq!(c.ignore.unwrap(), b"x");
        assert!(!c.ignore_root_user);
        assert!(cfg(&["--ignore-r"]).ignore_root_user);
        assert!(cfg(&["--dry"]).dryrun);
        assert!(cfg(&["--de"]).debug);
        assert!(cfg(&["--debug"]).debug);
        assert!(cfg(&["--sort"]).sort_by_rss);
        assert_eq!(run(&["--sy"]).events, vec![Event::Syslog]);
        assert!(cfg(&["--ker"]).kernel_oom);
        assert_eq!(run(&["--he"]).outcome.unwrap(), Parsed::Exit);
    }

    #[test]
    fn getopt_errors_are_glibcs() {
        let r = run(&["--d"]);
        assert_eq!(r.outcome.as_ref().unwrap_err(), &Fatal::Usage);
        assert_eq!(
            stderr_text(&r),
            "./earlyoom: option '--d' is ambiguous; possibilities: '--dryrun' '--debug'\n\
             Try 'earlyoom --help' for more information.\n"
        );
        let r = run(&["--ign"]);
        assert!(stderr_text(&r).starts_with(
            "./earlyoom: option '--ign' is ambiguous; possibilities: '--ignore' '--ignore-root-user'\n"
        ));
        let r = run(&["--dryrun=x"]);
        assert!(stderr_text(&r)
            .starts_with("./earlyoom: option '--dryrun' doesn't allow an argument\n"));
        let r = run(&["--dry=x"]);
        assert!(stderr_text(&r)
            .starts_with("./earlyoom: option '--dryrun' doesn't allow an argument\n"));
        let r = run(&["--foo=bar"]);
        assert!(stderr_text(&r).starts_with("./earlyoom: unrecognized option '--foo=bar'\n"));
        let r = run(&["-x"]);
        assert!(stderr_text(&r).starts_with("./earlyoom: invalid option -- 'x'\n"));
        let r = run(&["-:"]);
        assert!(stderr_text(&r).starts_with("./earlyoom: invalid option -- ':'\n"));
        let r = run(&["-m"]);
        assert!(stderr_text(&r).starts_with("./earlyoom: option requires an argument -- 'm'\n"));
        let r = run(&["--prefer"]);
        assert!(stderr_text(&r).starts_with("./earlyoom: option '--prefer' requires an argument\n"));
        for args in [&["-x"][..], &["-m"], &["--prefer"], &["--foo"], &["--d"]] {
            assert_eq!(run(args).outcome.unwrap_err(), Fatal::Usage, "{args:?}");
        }
    }

    #[test]
    fn order_matters_and_last_wins() {
        assert!(matches!(
            fatal(&["-m", "100", "-h"]),
            Fatal::MemThreshold { .. }
        ));
        assert_eq!(run(&["-h", "-m", "100"]).outcome.unwrap(), Parsed::Exit);
        assert_eq!(run(&["-v", "-m", "100"]).outcome.unwrap(), Parsed::Exit);
        let c = cfg(&["-m", "20", "-m", "30"]);
        assert_eq!(c.mem_term_percent, 30.0);
        assert_eq!(cfg(&["-N", "/a", "-N", "/b"]).notify_ext.unwrap(), b"/b");
    }

    #[test]
    fn non_options_are_permuted_then_rejected() {
        let r = run(&["xyz", "-i"]);
        assert_eq!(
            r.outcome.as_ref().unwrap_err(),
            &Fatal::ExtraArg(b"xyz".to_vec())
        );
        // The option after the non-option was still processed first (permutation).
        assert_eq!(
            stderr_text(&r),
            "Option -i is ignored since earlyoom v1.7\n"
        );
        assert_eq!(fatal(&["-i", "1"]), Fatal::ExtraArg(b"1".to_vec()));
        assert_eq!(fatal(&["--", "-m", "5"]), Fatal::ExtraArg(b"-m".to_vec()));
        assert_eq!(fatal(&["-"]), Fatal::ExtraArg(b"-".to_vec()));
        // POSIXLY_CORRECT stops at the first non-option.
        let v: Vec<OsString> = ["./earlyoom", "x", "-m", "100"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            parse(&v, TOTALS, true).outcome.unwrap_err(),
            Fatal::ExtraArg(b"x".to_vec())
        );
    }

    #[test]
    fn interval_is_strtof_without_checks() {
        assert_eq!(cfg(&["-r=0"]).report_interval_ms, 0);
        assert_eq!(cfg(&["-r", "abc"]).report_interval_ms, 0);
        assert_eq!(cfg(&["-r", "0.1"]).report_interval_ms, 100);
        assert_eq!(cfg(&["-r", "3600"]).report_interval_ms, 3_600_000);
        assert_eq!(cfg(&["-r", "5x"]).report_interval_ms, 5000);
        assert_eq!(cfg(&["-r", "0.0009"]).report_interval_ms, 0);
        assert_eq!(cfg(&["-r", "-0"]).report_interval_ms, 0);
        assert_eq!(fatal(&["-r", "-1"]), Fatal::Interval(b"-1".to_vec()));
    }

    #[test]
    fn sizes_combine_with_percentages() {
        // -M alone: percent of MemTotal.
        let c = cfg(&["-M", "160000"]);
        assert_eq!((c.mem_term_percent, c.mem_kill_percent), (1.0, 0.5));
        // Both: element-wise minimum regardless of order.
        let c = cfg(&["-M", "160000,160000", "-m", "10"]);
        assert_eq!((c.mem_term_percent, c.mem_kill_percent), (1.0, 1.0));
        let c = cfg(&["-m", "0.5,0.2", "-M", "160000"]);
        assert_eq!((c.mem_term_percent, c.mem_kill_percent), (0.5, 0.2));
        // Limit is MemTotal*100/99 in integer math.
        assert!(matches!(
            fatal(&["-M", "9999999999999999"]),
            Fatal::MemThreshold { opt: b'M', ref err } if err == "value 10000000000000000.000000 exceeds limit 16161616"
        ));
        // No swap: any positive -S exceeds the limit 0; -S nan reaches the warning.
        assert!(matches!(
            fatal(&["-S", "1"]),
            Fatal::SwapThreshold { opt: b'S', .. }
        ));
        let r = run(&["-S", "nan"]);
        assert!(
            stderr_text(&r).contains("warning: -S: total swap is zero, using default percentages")
        );
        assert_eq!(cfg(&["-S", "nan"]).swap_term_percent, 10.0);
        // earlyoom's min keeps a NaN from -M (found by fuzzing): SIGKILL never fires.
        let c = cfg(&["-m", "10", "-M", ",nan"]);
        assert_eq!(c.mem_term_percent, 0.0);
        assert!(c.mem_kill_percent.is_nan());
        assert_eq!(size_limit(i64::MAX), i64::MAX);
    }

    #[test]
    fn notices_in_argv_order() {
        let r = run(&[
            "-k",
            "--syslog",
            "-n",
            "--sort-by-rss",
            "--ignore-root-user",
            "--dryrun",
            "--kernel-oom",
        ]);
        assert_eq!(
            stderr_text(&r),
            "Option -k is ignored since earlyoom v1.2\n<syslog>Notifying through D-Bus\n\
             Find process with the largest rss\nProcesses owned by root will not be killed\n\
             dryrun mode enabled, will not kill anything\nUsing kernel OOM killer (requires Linux v5.17+)\n"
        );
    }

    #[test]
    fn livelock_options() {
        let c = cfg(&[
            "--livelock-guard",
            "--livelock-window",
            "8",
            "--livelock-stall=55.5",
        ]);
        assert!(c.livelock_guard);
        assert_eq!(
            (c.livelock_window_s, c.livelock_stall_percent),
            (Some(8.0), Some(55.5))
        );
        assert_eq!(cfg(&[]).livelock_window_s, None);
        assert!(cfg(&["--livelock-g"]).livelock_guard);
        assert_eq!(
            cfg(&["--metrics-file=/x.prom"]).metrics_file.unwrap(),
            b"/x.prom"
        );
        assert_eq!(cfg(&["--met", "/y"]).metrics_file.unwrap(), b"/y");
        assert!(matches!(
            fatal(&["--livelock-window", "0"]),
            Fatal::Option { opt: "--livelock-window", ref err } if err == "value 0.00 is not between 0.5 and 3600"
        ));
        assert!(
            matches!(fatal(&["--livelock-stall", "x"]), Fatal::Option { ref err, .. } if err == "invalid number 'x'")
        );
        assert!(matches!(
            fatal(&["--livelock-stall", "101"]),
            Fatal::Option { .. }
        ));
        // "--livelock" alone is ambiguous among ours; every earlyoom prefix is unchanged.
        assert_eq!(run(&["--livelock"]).outcome.unwrap_err(), Fatal::Usage);
        for prefix in [
            "--p",
            "--a",
            "--dr",
            "--de",
            "--sy",
            "--so",
            "--k",
            "--h",
            "--ignore-r",
        ] {
            let r = run(&[prefix, "x"]);
            assert!(!stderr_text(&r).contains("ambiguous"), "{prefix}");
        }
    }

    #[test]
    fn scope_options() {
        let c = cfg(&[
            "--cgroup-headroom",
            "10,5",
            "--cgroup-kill",
            "--storm-guard",
        ]);
        let t = c.cgroup_headroom.unwrap();
        assert_eq!((t.term, t.kill), (10.0, 5.0));
        assert!(c.cgroup_kill && c.storm_guard);
        // KILL defaults to PERCENT/2, as for -m.
        let t = cfg(&["--cgroup-h=8"]).cgroup_headroom.unwrap();
        assert_eq!((t.term, t.kill), (8.0, 4.0));
        assert!(cfg(&["--st"]).storm_guard);
        for bad in ["200", "-1", "nan", "x", "10,nan"] {
            assert!(
                matches!(
                    fatal(&["--cgroup-headroom", bad]),
                    Fatal::Option {
                        opt: "--cgroup-headroom",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        // "--c" is ambiguous among ours only; "--s" was ambiguous in earlyoom already.
        assert_eq!(run(&["--c"]).outcome.unwrap_err(), Fatal::Usage);
        assert!(stderr_text(&run(&["--s"])).contains("'--sort-by-rss' '--syslog'"));
    }

    #[test]
    fn pressure_and_warn_options() {
        let c = cfg(&[
            "--memory-pressure",
            "40,15",
            "--warn=15",
            "--warn-hook",
            "/bin/true",
        ]);
        assert_eq!(c.memory_pressure, Some((40.0, Some(15.0))));
        assert_eq!(c.warn_percent, Some(15.0));
        assert_eq!(c.warn_hook.unwrap(), b"/bin/true");
        assert_eq!(cfg(&["--mem", "60"]).memory_pressure, Some((60.0, None)));
        for bad in ["0", "101", "40,0", "40,x", "x", "40,"] {
            assert!(
                matches!(
                    fatal(&["--memory-pressure", bad]),
                    Fatal::Option {
                        opt: "--memory-pressure",
                        ..
                    }
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            fatal(&["--warn", "-1"]),
            Fatal::Option { opt: "--warn", .. }
        ));
        // "--warn" is exact, so not ambiguous with --warn-hook; "--me" is (ours only).
        assert!(cfg(&["--warn", "20"]).warn_percent.is_some());
        assert_eq!(run(&["--me", "x"]).outcome.unwrap_err(), Fatal::Usage);
    }

    #[test]
    fn help_names_every_option() {
        let h = String::from_utf8(help_text(b"./earlyoom")).unwrap();
        assert!(h.starts_with("Usage: ./earlyoom [OPTION]...\n"));
        for o in [
            "-m ",
            "-s ",
            "-M ",
            "-S ",
            "-n ",
            "-N ",
            "-P ",
            "-g ",
            "-d, --debug",
            "-v ",
            "-r ",
            "-p ",
            "--ignore-root-user",
            "--sort-by-rss",
            "--prefer",
            "--avoid",
            "--ignore ",
            "--dryrun",
            "--syslog",
            "--kernel-oom",
            "this help text",
        ] {
            assert!(h.contains(o), "{o}");
        }
    }
}
