//! Command-line parsing for every mode: a flat `--flag value` list, strict about unknown
//! flags so a typo in a scenario script fails loudly instead of changing the test.

use crate::sys::die;

/// What the hog does when SIGTERM arrives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnTerm {
    /// Default action: die of SIGTERM (the normal, well-behaved victim).
    Die,
    /// SIG_IGN and keep growing: only SIGKILL helps.
    Ignore,
    /// Catch it, stop growing and hold: memory stays between the SIGTERM and SIGKILL
    /// thresholds, so only a time-based escalation ends it.
    Hold,
    /// Catch it and grow at full speed without limit from then on (a "cleanup" that
    /// allocates): the daemon must escalate on its kill threshold.
    Grow,
}

#[derive(Debug)]
pub struct Opts {
    pub mode: String,
    pub size_mib: Option<u64>,
    pub rate_mibps: Option<f64>,
    pub on_term: OnTerm,
    pub fork: u32,
    pub child_size_mib: u64,
    pub child_name: Option<String>,
    pub setsid: bool,
    pub adj: Option<i32>,
    pub name: Option<String>,
    pub uid: Option<u32>,
    pub cgroup: Option<String>,
    pub pidfile: Option<String>,
    pub until_avail_pct: Option<f64>,
    pub interval_ms: u64,
    pub pct: f64,
    pub log: Option<String>,
    /// Everything after `--` (the command for `stamp` and `init`).
    pub command: Vec<String>,
}

pub const USAGE: &str = "\
usage: hog [MODE] [FLAGS]
modes:
  grow (default)  allocate and touch 1 MiB chunks
  idle            hold --size MiB (default 0) and sleep forever
  zombie          fork a child that exits and is never reaped, then sleep
  heartbeat       every --interval-ms do a little work (and touch --size MiB), print a beat,
                  track the longest gap
  thrash          hold --size MiB and write random pages of it for ever
  sample          watch /proc/meminfo every --interval-ms; print a summary on SIGTERM
  stamp -- CMD    run CMD, prefix each of its output lines with CLOCK_MONOTONIC ms
  now             print CLOCK_MONOTONIC ms
  init -- CMD     PID 1: run CMD, reap every orphan (logged to --log), power off after CMD
flags:
  --size MIB            stop growing at MIB and hold (grow: default unbounded)
  --rate MIBPS          growth rate (default: full speed)
  --on-term die|ignore|hold|grow   reaction to SIGTERM (default die)
  --fork N              fork N children (they hold --child-size MiB and sleep)
  --child-size MIB      memory each child holds (default 0)
  --child-name NAME     comm of the children (default: same as --name)
  --setsid              start a new session, so the children share our process group
  --adj N               oom_score_adj (grow/idle/zombie/heartbeat default 0)
  --name NAME           comm name via prctl(PR_SET_NAME)
  --uid UID             switch to UID after setting oom_score_adj
  --cgroup DIR          join cgroup v2 DIR before allocating
  --pidfile FILE        write our pid (stamp: the command's pid) to FILE
  --until-avail-pct P   grow: stop once MemAvailable <= P % of MemAvailable+AnonPages
  --interval-ms MS      heartbeat/sample period (default 50)
  --pct P               sample: threshold whose first crossing is recorded (default 10)
  --log FILE            init: append reaped children here";

pub fn parse(argv: &[String]) -> Opts {
    let mut o = Opts {
        mode: "grow".into(),
        size_mib: None,
        rate_mibps: None,
        on_term: OnTerm::Die,
        fork: 0,
        child_size_mib: 0,
        child_name: None,
        setsid: false,
        adj: None,
        name: None,
        uid: None,
        cgroup: None,
        pidfile: None,
        until_avail_pct: None,
        interval_ms: 50,
        pct: 10.0,
        log: None,
        command: Vec::new(),
    };
    let mut i = 0;
    if let Some(first) = argv.first() {
        if !first.starts_with('-') {
            o.mode = first.clone();
            i = 1;
        }
    }
    while i < argv.len() {
        let flag = argv[i].as_str();
        if flag == "--" {
            o.command = argv[i + 1..].to_vec();
            break;
        }
        if flag == "--setsid" {
            o.setsid = true;
            i += 1;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let val = match argv.get(i + 1) {
            Some(v) => v.as_str(),
            None => die(&format!("{flag} needs a value\n{USAGE}")),
        };
        match flag {
            "--size" => o.size_mib = Some(num(flag, val)),
            "--rate" => o.rate_mibps = Some(num(flag, val)),
            "--on-term" => {
                o.on_term = match val {
                    "die" => OnTerm::Die,
                    "ignore" => OnTerm::Ignore,
                    "hold" => OnTerm::Hold,
                    "grow" => OnTerm::Grow,
                    _ => die(&format!("--on-term: unknown reaction '{val}'")),
                }
            }
            "--fork" => o.fork = num(flag, val),
            "--child-size" => o.child_size_mib = num(flag, val),
            "--child-name" => o.child_name = Some(val.into()),
            "--adj" => o.adj = Some(num(flag, val)),
            "--name" => o.name = Some(val.into()),
            "--uid" => o.uid = Some(num(flag, val)),
            "--cgroup" => o.cgroup = Some(val.into()),
            "--pidfile" => o.pidfile = Some(val.into()),
            "--until-avail-pct" => o.until_avail_pct = Some(num(flag, val)),
            "--interval-ms" => o.interval_ms = num(flag, val),
            "--pct" => o.pct = num(flag, val),
            "--log" => o.log = Some(val.into()),
            _ => die(&format!("unknown flag {flag}\n{USAGE}")),
        }
        i += 2;
    }
    o
}

fn num<T: std::str::FromStr>(flag: &str, val: &str) -> T {
    val.parse()
        .unwrap_or_else(|_| die(&format!("{flag}: bad number '{val}'")))
}
