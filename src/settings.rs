//! What the daemon does, made once from what the command line said: [`Config`] (argv as
//! parsed) becomes [`Settings`] (thresholds, selection rules with compiled regexes, kill
//! settings with the hook paths checked, the guard's parameters) in one function, after
//! which nothing copies or changes it. The daemon and earlyoomctl both build it here.

use crate::cli::Config;
use crate::decide::Limits;
use crate::guard::GuardConfig;
use crate::pressure::PressureConfig;
use crate::scope::HeadroomConfig;
use crate::sys;
use crate::victim::{compile, Matchers, Options};
use crate::Fatal;

/// The kill path's settings.
#[derive(Clone, Debug, Default)]
pub struct KillSettings {
    pub dryrun: bool,
    /// `-g`.
    pub kill_group: bool,
    /// `-n`.
    pub notify: bool,
    /// `-N`, `-P`: absolute paths (a relative one was disabled, as earlyoom does).
    pub post_hook: Option<Vec<u8>>,
    pub pre_hook: Option<Vec<u8>>,
}

/// Everything the running daemon follows.
pub struct Settings {
    pub limits: Limits,
    /// `-r` in milliseconds; 0: no periodic report.
    pub report_interval_ms: i32,
    pub select: Options,
    pub matchers: Matchers,
    pub kill: KillSettings,
    /// `--kernel-oom` asked for (the self-test decides whether it can be done).
    pub kernel_oom: bool,
    /// `-p`.
    pub set_priority: bool,
    /// `--livelock-guard` and its parameters.
    pub guard: Option<GuardConfig>,
    /// `--metrics-file`.
    pub metrics_file: Option<Vec<u8>>,
    /// `--cgroup-headroom`.
    pub headroom: Option<HeadroomConfig>,
    /// `--cgroup-kill`.
    pub cgroup_kill: bool,
    /// `--storm-guard`.
    pub storm_guard: bool,
    /// `--memory-pressure`.
    pub pressure: Option<PressureConfig>,
    /// `--warn` and `--warn-hook` (a relative hook path was disabled, as for `-N`).
    pub warn: Option<WarnSettings>,
}

/// The warning stage.
#[derive(Clone, Debug, PartialEq)]
pub struct WarnSettings {
    pub percent: f64,
    pub hook: Option<Vec<u8>>,
}

/// What making the settings has to say, each at its place in earlyoom's startup
/// (docs/contract.md §1.1): the regex notices right away (step 10), the hook path warnings
/// after the self-test (step 12).
#[derive(Debug, Default)]
pub struct Notices {
    pub regexes: Vec<Vec<u8>>,
    pub hooks: Vec<String>,
}

impl Settings {
    /// Validates and compiles `cfg`: a regex that does not compile is exit 6 (earlyoom
    /// compiles prefer → avoid → ignore in that order, main.c:395-415).
    pub fn new(cfg: &Config) -> Result<(Settings, Notices), Fatal> {
        let mut notices = Notices::default();
        let mut rx = |pat: &Option<Vec<u8>>, notice: &str| -> Result<_, Fatal> {
            let Some(p) = pat else {
                return Ok(None);
            };
            let r = compile(p)?;
            let mut line = notice.as_bytes().to_vec();
            line.extend_from_slice(b" '");
            line.extend_from_slice(p);
            line.extend_from_slice(b"'\n");
            notices.regexes.push(line);
            Ok(Some(r))
        };
        let matchers = Matchers {
            prefer: rx(
                &cfg.prefer,
                "Preferring to kill process names that match regex",
            )?,
            avoid: rx(
                &cfg.avoid,
                "Will avoid killing process names that match regex",
            )?,
            ignore: rx(&cfg.ignore, "Will ignore process names that match regex")?,
        };
        let mut hook = |path: &Option<Vec<u8>>, flag: &str, what: &str| {
            let (path, warning) = check_program(path.as_deref(), flag, what);
            notices.hooks.extend(warning);
            path
        };
        let post_hook = hook(&cfg.notify_ext, "-N", "notify script");
        let pre_hook = hook(&cfg.pre_hook, "-P", "pre-hook program");
        let warn_hook = hook(&cfg.warn_hook, "--warn-hook", "warning script");
        if cfg.warn_hook.is_some() && cfg.warn_percent.is_none() {
            return Err(Fatal::Option {
                opt: "--warn-hook",
                err: "needs --warn PERCENT".into(),
            });
        }
        if let Some(w) = cfg.warn_percent {
            if w <= cfg.mem_term_percent {
                return Err(Fatal::Option {
                    opt: "--warn",
                    err: format!(
                        "{} is not above the SIGTERM line of {} (-m)",
                        crate::cfmt::pct(w),
                        crate::cfmt::pct(cfg.mem_term_percent)
                    ),
                });
            }
        }
        let defaults = GuardConfig::default();
        let settings = Settings {
            limits: Limits {
                mem_term_percent: cfg.mem_term_percent,
                mem_kill_percent: cfg.mem_kill_percent,
                swap_term_percent: cfg.swap_term_percent,
                swap_kill_percent: cfg.swap_kill_percent,
            },
            report_interval_ms: cfg.report_interval_ms,
            select: Options {
                sort_by_rss: cfg.sort_by_rss,
                ignore_root_user: cfg.ignore_root_user,
            },
            matchers,
            kill: KillSettings {
                dryrun: cfg.dryrun,
                kill_group: cfg.kill_process_group,
                notify: cfg.notify,
                post_hook,
                pre_hook,
            },
            kernel_oom: cfg.kernel_oom,
            set_priority: cfg.set_priority,
            guard: cfg.livelock_guard.then(|| GuardConfig {
                window_s: cfg.livelock_window_s.unwrap_or(defaults.window_s),
                stall_percent: cfg.livelock_stall_percent.unwrap_or(defaults.stall_percent),
            }),
            metrics_file: cfg.metrics_file.clone(),
            headroom: cfg.cgroup_headroom.map(|t| HeadroomConfig {
                term_percent: t.term,
                kill_percent: t.kill,
            }),
            cgroup_kill: cfg.cgroup_kill,
            storm_guard: cfg.storm_guard,
            pressure: cfg.memory_pressure.map(|(percent, secs)| PressureConfig {
                percent,
                seconds: secs.unwrap_or(crate::pressure::DEFAULT_SECONDS),
            }),
            warn: cfg.warn_percent.map(|percent| WarnSettings {
                percent,
                hook: warn_hook,
            }),
        };
        Ok((settings, notices))
    }
}

/// The startup check of a `-N`/`-P` path (main.c:87-102): not absolute disables it, not
/// executable only warns. `flag` is "-N" or "-P", `what` earlyoom's wording. Returns the path
/// to use and the warning to print.
fn check_program(path: Option<&[u8]>, flag: &str, what: &str) -> (Option<Vec<u8>>, Option<String>) {
    let Some(path) = path else {
        return (None, None);
    };
    let shown = String::from_utf8_lossy(path);
    if !path.starts_with(b"/") {
        let w = format!(
            "startup_selftests: {flag}: {what} '{shown}' is not an absolute path, disabling {flag}\n"
        );
        return (None, Some(w));
    }
    let warning = sys::access_x(path)
        .err()
        .map(|e| format!("startup_selftests: {flag}: {what} '{shown}' is not executable: {e}\n"));
    (Some(path.to_vec()), warning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config::default();
        f(&mut c);
        c
    }

    #[test]
    fn notices_in_earlyoom_order_and_bad_regex_is_exit_6() {
        let (s, n) = Settings::new(&cfg(|c| {
            c.ignore = Some(b"^x$".to_vec());
            c.prefer = Some(b"^p$".to_vec());
        }))
        .unwrap();
        assert!(s.matchers.prefer.is_some() && s.matchers.ignore.is_some());
        assert_eq!(
            n.regexes,
            [
                b"Preferring to kill process names that match regex '^p$'\n".to_vec(),
                b"Will ignore process names that match regex '^x$'\n".to_vec()
            ]
        );
        assert_eq!(
            Settings::new(&cfg(|c| c.avoid = Some(b"(".to_vec()))).err(),
            Some(Fatal::Regex(b"(".to_vec()))
        );
    }

    #[test]
    fn hooks_are_checked_once() {
        let (s, n) = Settings::new(&cfg(|c| {
            c.notify_ext = Some(b"relative.sh".to_vec());
            c.pre_hook = Some(b"/nonexistent/pre".to_vec());
        }))
        .unwrap();
        assert_eq!(s.kill.post_hook, None);
        assert_eq!(s.kill.pre_hook.as_deref(), Some(&b"/nonexistent/pre"[..]));
        assert_eq!(
            n.hooks,
            [
                "startup_selftests: -N: notify script 'relative.sh' is not an absolute path, disabling -N\n",
                "startup_selftests: -P: pre-hook program '/nonexistent/pre' is not executable: No such file or directory\n"
            ]
        );
    }

    #[test]
    fn the_guard_takes_its_defaults_here() {
        let (s, _) = Settings::new(&Config::default()).unwrap();
        assert!(s.guard.is_none());
        let (s, _) = Settings::new(&cfg(|c| {
            c.livelock_guard = true;
            c.livelock_stall_percent = Some(60.0);
        }))
        .unwrap();
        assert_eq!(
            s.guard,
            Some(GuardConfig {
                window_s: GuardConfig::default().window_s,
                stall_percent: 60.0
            })
        );
    }
}
