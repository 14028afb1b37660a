//! `earlyoomctl`: asks the box "who would be killed, and is this machine set up to survive?"
//!
//! A one-shot companion of the daemon (issue 8). Every answer comes from the daemon's own
//! library code: its option parser ([`earlyoom::cli::parse`]) and settings
//! ([`earlyoom::settings::Settings`]), its victim rules and ordering
//! ([`earlyoom::victim::Scanner::rank`]), its decision ([`earlyoom::decide`]), the
//! livelock guard's cgroup readers and detector ([`earlyoom::cgroup`], [`earlyoom::guard`]),
//! `--cgroup-headroom`'s arithmetic ([`earlyoom::scope`]) and `--memory-pressure`'s sampler,
//! gates and trigger ([`earlyoom::pressure`]).
//! Nothing here signals a process or writes anywhere but stdout/stderr.
//!
//! Exit status: 0 ok (audit: nothing above info), 1 audit warning, 2 audit critical,
//! 64 usage error, 65 the configured earlyoom options do not parse, 66 the proc root or
//! /proc/meminfo cannot be read.

mod audit;
mod candidates;
mod config;
mod host;
mod pressure;
mod status;
mod units;

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit statuses (sysexits.h numbering for the errors).
pub mod exit {
    pub const OK: u8 = 0;
    pub const WARNING: u8 = 1;
    pub const CRITICAL: u8 = 2;
    /// EX_USAGE: bad earlyoomctl command line (including earlyoom options given on it).
    pub const USAGE: u8 = 64;
    /// EX_DATAERR: the earlyoom options read from the default file do not parse.
    pub const CONFIG: u8 = 65;
    /// EX_NOINPUT: the proc root or its meminfo cannot be read.
    pub const INPUT: u8 = 66;
}

/// An error that ends the command, with its exit status.
#[derive(Debug)]
pub enum CtlError {
    Usage(String),
    Config(String),
    Input(String),
}

impl CtlError {
    fn code(&self) -> u8 {
        match self {
            CtlError::Usage(_) => exit::USAGE,
            CtlError::Config(_) => exit::CONFIG,
            CtlError::Input(_) => exit::INPUT,
        }
    }
    fn message(&self) -> &str {
        match self {
            CtlError::Usage(m) | CtlError::Config(m) | CtlError::Input(m) => m,
        }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "earlyoomctl",
    version,
    about = "Ask the box who earlyoom would kill, how far it is from firing, and whether it is set up to survive",
    after_help = "earlyoom options (--prefer, --avoid, -m 5,3, --livelock-guard, ...) may follow a\n\
command; without any, the EARLYOOM_ARGS line of /etc/default/earlyoom is used, as the\n\
service does. earlyoomctl's own options (--json, ...) go before the earlyoom options.\n\n\
Exit status: 0 ok, 1 audit found a warning, 2 audit found something critical,\n\
64 usage error, 65 the configured earlyoom options do not parse, 66 /proc unreadable."
)]
struct Cli {
    #[command(flatten)]
    roots: Roots,
    #[command(subcommand)]
    command: Command,
}

/// Where the box is read from: tests point these at fixture trees.
#[derive(Args, Debug, Clone)]
pub struct Roots {
    /// The proc filesystem to read.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/proc",
        hide = true
    )]
    pub proc_root: PathBuf,
    /// The cgroup v2 hierarchy to read.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/sys/fs/cgroup",
        hide = true
    )]
    pub cgroup_root: PathBuf,
    /// The service's environment file holding EARLYOOM_ARGS.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "/etc/default/earlyoom",
        hide = true
    )]
    pub default_file: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Who earlyoom would kill now: every process ranked, #1 first
    Candidates(CandidatesArgs),
    /// Memory and swap against the thresholds, the warning line, memory pressure, guarded and
    /// capped cgroups
    Status(StatusArgs),
    /// Check the OOM setup: findings, fixes, exit status = worst
    Audit(AuditArgs),
}

#[derive(Args, Debug)]
struct CandidatesArgs {
    /// Machine-readable output (every process, ranked and skipped)
    #[arg(long)]
    json: bool,
    /// Also list kernel threads, init and zombies among the skipped processes
    #[arg(long)]
    all: bool,
    /// Show at most N eligible processes (0: all)
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// Only the processes of this cgroup and its descendants, ranked 1.. among themselves:
    /// whom --cgroup-headroom would kill there, in order (PATH below the cgroup root, e.g.
    /// /system.slice/foo.service)
    #[arg(long, value_name = "PATH")]
    cgroup: Option<PathBuf>,
    /// earlyoom options (--prefer, --avoid, --ignore, --ignore-root-user, --sort-by-rss, ...)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "EARLYOOM OPTIONS"
    )]
    earlyoom: Vec<OsString>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// Machine-readable output
    #[arg(long)]
    json: bool,
    /// Seconds between the two samples (the machine's and the cgroups') that stall, swap-out
    /// and event rates are computed from
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    interval: f64,
    /// earlyoom options (-m, -s, -M, -S, --memory-pressure, --warn, --livelock-guard, ...)
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "EARLYOOM OPTIONS"
    )]
    earlyoom: Vec<OsString>,
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// Machine-readable output
    #[arg(long)]
    json: bool,
    /// earlyoom options to audit instead of the configured ones
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "EARLYOOM OPTIONS"
    )]
    earlyoom: Vec<OsString>,
}

/// Prints a `--json` answer: one pretty-printed object on stdout.
pub fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => println!("{text}"),
        // Only a map with non-string keys or a failing Serialize impl can fail; none is here.
        Err(e) => unreachable!("JSON output: {e}"),
    }
}

fn run(cli: Cli) -> Result<u8, CtlError> {
    let host = host::Host::new(&cli.roots);
    match cli.command {
        Command::Candidates(a) => {
            let opts = config::load(&host, &cli.roots.default_file, a.earlyoom)?;
            candidates::run(&host, &opts, a.json, a.all, a.limit, a.cgroup.as_deref())
        }
        Command::Status(a) => {
            if !(a.interval.is_finite() && (0.0..=60.0).contains(&a.interval)) {
                return Err(CtlError::Usage(
                    "--interval must be between 0 and 60 seconds".into(),
                ));
            }
            let opts = config::load(&host, &cli.roots.default_file, a.earlyoom)?;
            status::run(&host, &opts, a.json, a.interval)
        }
        Command::Audit(a) => audit::run(&host, &cli.roots.default_file, a.earlyoom, a.json),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.message().trim_end();
            eprintln!("earlyoomctl: {msg}");
            ExitCode::from(e.code())
        }
    }
}
