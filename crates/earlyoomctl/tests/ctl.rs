//! `earlyoomctl` against the fixture boxes of tests/fixtures/{incident,healthy} (see
//! tests/fixtures/incident/make-fixtures.py): the built binary, its JSON checked with
//! serde_json, and its ranking checked against the daemon's own scan.
//!
//! Fixture pids are real pid numbers on the host; nothing here signals anything.

use earlyoom::proc::ProcRoot;
use earlyoom::victim::{compile, Matchers, Options, Scanner};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_earlyoomctl");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A private copy of a fixture box. As root, proc/<pid> is chowned to the uid in `owners`:
/// the daemon reads a process's uid as the owner of its proc directory, and git keeps none.
struct Box_ {
    dir: PathBuf,
}

impl Box_ {
    fn new(name: &str, tag: &str) -> Box_ {
        let dir = std::env::temp_dir().join(format!("eoomctl-{name}-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&fixture(name), &dir);
        if is_root() {
            let owners = std::fs::read_to_string(dir.join("owners")).unwrap();
            for l in owners.lines().filter(|l| !l.starts_with('#')) {
                let (pid, uid) = l.split_once(' ').unwrap();
                let uid: u32 = uid.parse().unwrap();
                std::os::unix::fs::chown(dir.join("proc").join(pid), Some(uid), Some(uid)).unwrap();
            }
        }
        Box_ { dir }
    }

    fn proc(&self) -> PathBuf {
        self.dir.join("proc")
    }

    fn cgroup(&self) -> PathBuf {
        self.dir.join("cgroup")
    }

    fn default_file(&self) -> PathBuf {
        self.dir.join("default-earlyoom")
    }

    fn roots(&self) -> Vec<String> {
        vec![
            format!("--proc-root={}", self.proc().display()),
            format!("--cgroup-root={}", self.cgroup().display()),
            format!("--default-file={}", self.default_file().display()),
        ]
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(self.roots())
            .args(args)
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> (Value, i32) {
        let out = self.run(args);
        let text = String::from_utf8(out.stdout).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}):\n{text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out.status.code().unwrap())
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.join(rel), text).unwrap();
    }
}

impl Drop for Box_ {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// (severity, check, subject) of every warning and critical finding.
fn problems(v: &Value) -> BTreeSet<(String, String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["check"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn find(v: &Value, pid: i64) -> &Value {
    v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not listed"))
}

#[test]
fn audit_flags_exactly_the_incident() {
    let b = Box_::new("incident", "audit");
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["exit_status"], 2);
    assert_eq!(v["worst"], "critical");
    assert_eq!(v["options"]["source"], "default-file");
    assert_eq!(
        problems(&v),
        set(&[
            ("critical", "livelock-band", "docker.slice"),
            ("critical", "livelock-band", "system.slice/webterm.service"),
            ("critical", "livelock-band", "user.slice/user-1000.slice"),
            ("critical", "livelock-band", "user.slice/user-1001.slice"),
            ("critical", "livelock-band", "user.slice/user-1002.slice"),
            ("warning", "way-in", "sshd"),
            ("warning", "caps-sum", "user.slice"),
            (
                "warning",
                "capped-protected",
                "system.slice/webterm.service"
            ),
            ("warning", "capped-protected", "user.slice/user-1000.slice"),
        ]),
        "{v:#}"
    );
    let msg = |check: &str, subject: &str| -> String {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check && f["subject"] == subject)
            .map(|f| f["message"].as_str().unwrap().to_string())
            .unwrap()
    };
    let web = msg("livelock-band", "system.slice/webterm.service");
    assert!(web.contains("12.0 GiB < memory.max 16.0 GiB"), "{web}");
    assert!(web.contains("--livelock-guard is off"), "{web}");
    assert!(web.contains("above high now"), "{web}");
    let caps = msg("caps-sum", "user.slice");
    assert!(caps.contains("48.0 GiB > RAM 32.0 GiB"), "{caps}");
    let sshd = msg("way-in", "sshd");
    assert!(sshd.contains("812") && sshd.contains("20771"), "{sshd}");
    // The daemon itself is fine on this box: running, mlocked, protected.
    assert!(msg("daemon", "earlyoom pid 1187").contains("locked in memory (2480 KiB)"));

    let out = b.run(&["audit"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("CRITICAL livelock-band system.slice/webterm.service"));
    assert!(text.contains("fix: add --livelock-guard to EARLYOOM_ARGS"));
    assert!(text.contains("5 critical, 4 warning"), "{text}");
}

#[test]
fn audit_finds_nothing_wrong_on_the_healthy_box() {
    let b = Box_::new("healthy", "audit");
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 0, "{v:#}");
    assert!(problems(&v).is_empty(), "{v:#}");
    assert_eq!(v["summary"]["critical"], 0);
    let text = v.to_string();
    assert!(text.contains("livelock guard on"), "{text}");
    assert!(
        text.contains("sum to 28.0 GiB against RAM 32.0 GiB"),
        "{text}"
    );
    assert!(
        text.contains("sshd [812 #8"),
        "avoided sshd is listed as info: {text}"
    );
    let out = b.run(&["audit"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_guard_turns_the_bands_into_info() {
    let b = Box_::new("incident", "guard");
    let (v, code) = b.json(&[
        "audit",
        "--json",
        "-m",
        "5,3",
        "-s",
        "100",
        "--livelock-guard",
        "--cgroup-headroom",
        "10,5",
        "--avoid",
        "^(sshd|systemd.*|tmux.*)$",
    ]);
    assert_eq!(v["options"]["source"], "command-line");
    // Only the caps remain (and no daemon option mismatch: the options came from us).
    assert_eq!(
        problems(&v),
        set(&[("warning", "caps-sum", "user.slice")]),
        "{v:#}"
    );
    assert_eq!(code, 1);
    let bands = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "livelock-band" && f["severity"] == "info")
        .count();
    assert_eq!(bands, 5);
}

#[test]
fn candidates_rank_the_hog_first_like_the_daemon() {
    let b = Box_::new("incident", "cand");
    let (v, code) = b.json(&["candidates", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(v["options"]["source"], "default-file");
    assert_eq!(v["ranked_by"], "oom_score");
    assert_eq!(v["daemon_pid"], 1187);
    let next = &v["next_victim"];
    assert_eq!(
        (next["pid"].as_i64(), next["comm"].as_str()),
        (Some(41377), Some("ugrep"))
    );
    assert_eq!(next["rank"], 1);
    assert_eq!(next["rss_kib"], 12_949_912);
    // Ranks are 1..n over the eligible processes, which come first.
    let procs = v["processes"].as_array().unwrap();
    let eligible: Vec<&Value> = procs.iter().take_while(|p| p["eligible"] == true).collect();
    assert!(procs[eligible.len()..]
        .iter()
        .all(|p| p["eligible"] == false));
    for (i, p) in eligible.iter().enumerate() {
        assert_eq!(p["rank"], i as i64 + 1);
    }
    // sshd: eligible at full weight (the incident's avoid list lacks it).
    let sshd = find(&v, 812);
    assert_eq!(sshd["eligible"], true);
    assert_eq!(sshd["avoid"], false);
    assert_eq!(sshd["adjustment"]["oom_score"], 0);
    assert_eq!(sshd["oom_score"], 666);
    // tmux is avoided: -300, ranked below every unavoided process.
    let tmux = find(&v, 3140);
    assert_eq!(tmux["avoid"], true);
    assert_eq!(tmux["adjustment"]["oom_score"], -300);
    assert_eq!(tmux["ranked_oom_score"], 366);
    assert!(tmux["rank"].as_i64() > sshd["rank"].as_i64());
    // Why the others are never chosen.
    for (pid, skip) in [
        (1, "init-or-kthreadd"),
        (2, "init-or-kthreadd"),
        (3, "kernel-thread"),
        (455, "protected"),
        (1187, "daemon-itself"),
        (3188, "zombie"),
    ] {
        assert_eq!(find(&v, pid)["skip"], skip, "pid {pid}");
        assert_eq!(find(&v, pid)["rank"], Value::Null);
    }
    if is_root() {
        assert_eq!(next["uid"], 1002);
        assert_eq!(find(&v, 1187)["uid"], 61234);
        assert_eq!(find(&v, 20771)["uid"], 1001);
    }

    // The daemon's own scan over the same tree picks the same process.
    let cfg_avoid = "^(systemd.*|dockerd|containerd|ttyd|tmux.*)$";
    let scan_pick = |root: &Path| {
        let m = Matchers {
            prefer: Some(compile(b"^(python3|node|chrome)$").unwrap()),
            avoid: Some(compile(cfg_avoid.as_bytes()).unwrap()),
            ignore: None,
        };
        let mut s = Scanner::new(
            ProcRoot(root.as_os_str().as_bytes().to_vec()),
            Options::default(),
            m,
        );
        s.set_my_pid(1187);
        s.scan().unwrap().victim.map(|v| v.pid)
    };
    assert_eq!(scan_pick(&b.proc()), Some(41377));
    // #2, #3, #4 are what the next scans pick once the earlier ones are gone.
    for (k, p) in eligible.iter().enumerate().skip(1).take(3) {
        let gone = eligible[k - 1]["pid"].as_i64().unwrap();
        std::fs::remove_dir_all(b.proc().join(gone.to_string())).unwrap();
        assert_eq!(
            scan_pick(&b.proc()).map(i64::from),
            p["pid"].as_i64(),
            "rank {}",
            k + 1
        );
    }
}

#[test]
fn candidates_human_output() {
    let b = Box_::new("incident", "human");
    let out = b.run(&["candidates"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("from EARLYOOM_ARGS in"), "{text}");
    assert!(text.contains("next victim: pid 41377 ugrep"), "{text}");
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(
        first.contains("41377") && first.contains("12.3 GiB"),
        "{first}"
    );
    assert!(text.contains("oom_score_adj -1000: never"));
    assert!(text.contains("the earlyoom daemon itself"));
    assert!(text.contains("not listed: 2 init/kthreadd, 1 kernel thread, 1 zombie"));
    let all = String::from_utf8(b.run(&["candidates", "--all"]).stdout).unwrap();
    assert!(all.contains("kernel thread") && all.contains("rcu_gp"));
    let limited = String::from_utf8(b.run(&["candidates", "--limit", "2"]).stdout).unwrap();
    assert!(limited.contains("12 more eligible"), "{limited}");
}

#[test]
fn options_on_the_command_line_win_over_the_file() {
    let b = Box_::new("incident", "opts");
    let (v, _) = b.json(&[
        "candidates",
        "--json",
        "--prefer",
        "^bash$",
        "--avoid",
        "^sshd$",
    ]);
    assert_eq!(v["options"]["source"], "command-line");
    assert_eq!(v["options"]["args"][1], "^bash$");
    // Any bash gets +300 (666 + 300 = 966 > ugrep's 923).
    assert_eq!(v["next_victim"]["comm"], "bash");
    assert_eq!(v["next_victim"]["prefer"], true);
    assert_eq!(v["next_victim"]["adjustment"]["oom_score"], 300);
    assert_eq!(v["next_victim"]["ranked_oom_score"], 966);
    assert_eq!(find(&v, 812)["avoid"], true);
    assert_eq!(find(&v, 812)["ranked_oom_score"], 366);

    let (v, _) = b.json(&[
        "candidates",
        "--json",
        "--sort-by-rss",
        "--avoid",
        "^ugrep$",
    ]);
    assert_eq!(v["ranked_by"], "rss");
    // 12.35 GiB - 3 GiB still beats postgres' 1 GiB.
    assert_eq!(v["next_victim"]["pid"], 41377);
    assert_eq!(v["next_victim"]["adjustment"]["rss_kib"], -3_145_728);
    assert_eq!(v["next_victim"]["ranked_rss_kib"], 12_949_912 - 3_145_728);
    assert_eq!(find(&v, 33050)["rank"], 2);

    let (v, _) = b.json(&["candidates", "--json", "--ignore", "^ugrep$"]);
    assert_eq!(find(&v, 41377)["skip"], "ignored");
    assert_eq!(v["next_victim"]["comm"], "postgres");

    if is_root() {
        let (v, _) = b.json(&["candidates", "--json", "--ignore-root-user"]);
        assert_eq!(find(&v, 812)["skip"], "root-user");
        assert_eq!(find(&v, 20771)["eligible"], true);
    }
}

#[test]
fn where_the_options_come_from() {
    let b = Box_::new("healthy", "src");
    // The EARLYOOM_ARGS line, split like systemd: the quoted regex is one word.
    let (v, _) = b.json(&["candidates", "--json"]);
    let args: Vec<&str> = v["options"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            "-m",
            "5,3",
            "-s",
            "100",
            "-r",
            "3600",
            "--avoid",
            "^(sshd|sshd-session|systemd.*|dockerd|containerd|ttyd|tmux.*)$",
            "--prefer",
            "^(python3|node|chrome)$",
            "--livelock-guard",
            "--cgroup-headroom",
            "10,5"
        ]
    );
    // Healthy: sshd avoided.
    assert_eq!(find(&v, 812)["avoid"], true);
    assert_eq!(find(&v, 812)["ranked_oom_score"], 366);
    // No file, or no EARLYOOM_ARGS in it: earlyoom's defaults.
    std::fs::remove_file(b.default_file()).unwrap();
    let (v, _) = b.json(&["candidates", "--json"]);
    assert_eq!(v["options"]["source"], "builtin-defaults");
    assert!(v["options"]["description"]
        .as_str()
        .unwrap()
        .contains("no "));
    b.write("default-earlyoom", "# nothing\n#EARLYOOM_ARGS=\"-m 1\"\n");
    let (v, _) = b.json(&["status", "--json", "--interval", "0"]);
    assert_eq!(v["options"]["source"], "builtin-defaults");
    assert_eq!(v["thresholds"]["mem_term"]["threshold_percent"], 10.0);
}

#[test]
fn status_against_the_thresholds() {
    let b = Box_::new("incident", "status");
    let (v, code) = b.json(&["status", "--json", "--interval", "0.05"]);
    assert_eq!(code, 0);
    assert_eq!(v["action"], "none");
    let m = &v["memory"];
    assert_eq!(m["mem_total_kib"], 33_554_432);
    assert_eq!(m["swap_total_kib"], 0);
    let t = &v["thresholds"];
    assert_eq!(t["mem_term"]["threshold_percent"], 5.0);
    assert_eq!(t["mem_kill"]["threshold_percent"], 3.0);
    assert_eq!(t["mem_term"]["now_percent"], 50.27);
    assert_eq!(t["mem_term"]["points_away"], 45.27);
    // 45.27 % of user mem total (15,870,000 + 15,700,000 KiB) in MiB.
    let mib = t["mem_term"]["mib_away"].as_f64().unwrap();
    assert!((mib - 13_956.5).abs() < 1.0, "{mib}");
    assert_eq!(t["swap_term"]["no_swap"], true);
    assert_eq!(t["swap_term"]["met"], true);
    assert_eq!(v["psi_memory"]["full"]["avg60"], 2.31);
    assert_eq!(v["psi_memory"]["some"]["total_us"], 3_412_880_112u64);
    let g = &v["livelock_guard"];
    assert_eq!(g["enabled"], false);
    let cgs = g["cgroups"].as_array().unwrap();
    let names: Vec<&str> = cgs.iter().map(|c| c["cgroup"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "docker.slice",
            "system.slice/webterm.service",
            "user.slice/user-1000.slice",
            "user.slice/user-1001.slice",
            "user.slice/user-1002.slice"
        ]
    );
    let web = &cgs[1];
    assert_eq!(web["high_bytes"], 12_884_901_888u64);
    assert_eq!(web["max_bytes"], 17_179_869_184u64);
    assert_eq!(web["swap_max_bytes"], 0);
    assert_eq!(web["state"], "above high");
    assert_eq!(web["events_high"], 882_948);
    assert_eq!(web["largest_process"]["pid"], 41377);
    // The fixture does not change between the samples: no stall, no events.
    assert_eq!(web["full_stall_percent"], 0.0);
    assert_eq!(web["high_events_per_second"], 0.0);

    let (v, _) = Box_::new("healthy", "status").json(&["status", "--json", "--interval", "0"]);
    assert_eq!(v["livelock_guard"]["enabled"], true);
    assert!(v["livelock_guard"]["cgroups"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(v["memory"]["swap_total_kib"], 8_388_604);
    assert_eq!(v["thresholds"]["swap_kill"]["threshold_percent"], 50.0);
}

/// A cgroup stuck between high and max while we sample: the guard's detector sees the
/// livelock, stall and event rate come from the total= and `high` deltas.
#[test]
fn status_sees_a_livelock_in_progress() {
    let b = Box_::new("incident", "live");
    let child = Command::new(BIN)
        .args(b.roots())
        .args(["status", "--json", "--interval", "3"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Well after the first sample (taken right at start), well before the second.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let web = "cgroup/system.slice/webterm.service";
    // +2.4 s of full stall and +300 throttling events during the 3 s interval.
    b.write(
        &format!("{web}/memory.pressure"),
        "some avg10=83.02 avg60=81.33 avg300=66.90 total=3186502312\nfull avg10=79.12 avg60=80.03 avg300=64.22 total=3036951870\n",
    );
    b.write(
        &format!("{web}/memory.events"),
        "low 0\nhigh 883248\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    );
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["livelock_guard"]["cgroups"][1];
    assert_eq!(c["cgroup"], "system.slice/webterm.service");
    let stall = c["full_stall_percent"].as_f64().unwrap();
    let rate = c["high_events_per_second"].as_f64().unwrap();
    assert!((50.0..=100.0).contains(&stall), "{c:#}");
    assert!((60.0..=160.0).contains(&rate), "{c:#}");
    assert_eq!(c["livelock"], true, "{c:#}");
    assert_eq!(c["state"], "LIVELOCK");
    // Only that one.
    assert_eq!(v["livelock_guard"]["cgroups"][0]["livelock"], false);
}

/// `status`'s memory pressure section: the machine's full stall and swap-out rate over the
/// interval, the two gates of --memory-pressure and its trigger; and the --warn line.
#[test]
fn status_memory_pressure_and_warning() {
    let b = Box_::new("incident", "mpress");
    // The file's options: --memory-pressure and --warn are off. One reading: no stall.
    let (v, code) = b.json(&["status", "--json", "--interval", "0"]);
    assert_eq!(code, 0);
    let p = &v["memory_pressure"];
    assert_eq!(p["enabled"], false);
    assert!(p["percent"].is_null() && p["trigger"].is_null(), "{p:#}");
    assert_eq!(p["stall_unknown"], "one-reading");
    assert!(p["full_stall_percent"].is_null() && p["swap_out_pages_per_second"].is_null());
    assert_eq!(p["full_total_us"], 402_118_009);
    assert_eq!(p["pswpout"], 2_904_311);
    // The soft line is twice the SIGTERM line (-m 5): 10 %, with 50.27 % available.
    let soft = &p["gates"]["soft_line"];
    assert_eq!(soft["line_percent"], 10.0);
    assert_eq!(soft["sigterm_percent"], 5.0);
    assert_eq!(soft["available_percent"], 50.27);
    assert_eq!(soft["open"], false);
    assert_eq!(soft["points_away"], 40.27);
    assert_eq!(p["gates"]["swap_out"]["threshold_pages_per_second"], 256.0);
    assert!(p["gates"]["swap_out"]["open"].is_null());
    assert_eq!(v["warn"]["enabled"], false);
    assert!(v["warn"]["line"].is_null());
    assert_eq!(v["warn"]["sigterm"]["points_away"], 45.27);
    let text = String::from_utf8(b.run(&["status", "--interval", "0"]).stdout).unwrap();
    assert!(
        text.contains("memory pressure: OFF (--memory-pressure not in the options); what it would see:\n  full stall: unknown: --interval 0 takes one reading"),
        "{text}"
    );
    assert!(
        text.contains("warning: off (--warn not in the options)"),
        "{text}"
    );
    assert!(!text.contains("trigger now"), "{text}");

    // On, with a SIGTERM line of 30 %: the soft line (60 %) is above available memory. The
    // fixture does not change between the readings: no stall, no swap-out, not armed.
    let on = [
        "--memory-pressure",
        "40",
        "-m",
        "30",
        "--warn",
        "55",
        "--warn-hook",
        "/bin/true",
    ];
    let args = |json: bool| {
        let mut a = vec!["status", "--interval", "0.05"];
        if json {
            a.insert(1, "--json");
        }
        a.extend(on);
        a
    };
    let (v, _) = b.json(&args(true));
    let p = &v["memory_pressure"];
    assert_eq!(
        (p["enabled"].clone(), p["percent"].clone()),
        (true.into(), 40.0.into())
    );
    assert_eq!(p["seconds"], 10.0, "the daemon's default SECONDS");
    assert!(p["stall_unknown"].is_null(), "{p:#}");
    assert_eq!(p["full_stall_percent"], 0.0);
    assert_eq!(p["swap_out_pages_per_second"], 0.0);
    assert!(p["window_s"].as_f64().unwrap() >= 0.05);
    assert_eq!(p["gates"]["soft_line"]["line_percent"], 60.0);
    assert_eq!(p["gates"]["soft_line"]["open"], true);
    assert_eq!(p["gates"]["soft_line"]["points_away"], 0.0);
    assert_eq!(p["gates"]["swap_out"]["open"], false);
    assert_eq!(p["trigger"]["armed"], false);
    assert_eq!(p["trigger"]["verdict"], "calm");
    assert_eq!(p["trigger"]["needs_seconds"], 10.0);
    // --warn 55 with 50.27 % available: at the line; the warning names the next victim.
    let w = &v["warn"];
    assert_eq!(w["enabled"], true);
    assert_eq!(w["percent"], 55.0);
    assert_eq!(w["hook"], "/bin/true");
    assert_eq!(w["at_or_below"], true);
    assert_eq!(w["line"]["met"], true);
    assert_eq!(w["sigterm"]["points_away"], 20.27);
    assert_eq!(w["would_name"]["pid"], 41377);
    let text = String::from_utf8(b.run(&args(false)).stdout).unwrap();
    for want in [
        "memory pressure: on (SIGTERM once the full stall stays >= 40.00 % for 10 s while a gate is open)",
        "  full stall: 0.00 % over 0.",
        "  swap-out:   0 pages/s (the pswpout delta of vmstat)",
        "  gate soft line: OPEN: mem avail 50.27 % <= 60.00 % (2 x SIGTERM)",
        "  gate swap-out:  closed: 0 pages/s < 256 pages/s",
        "  trigger now: not armed: full stall 0.00 % < 40.00 %",
        "warning: on at <= 55.00 % of available memory (--warn), once per episode",
        "  --warn-hook /bin/true",
        "mem avail 50.27 % is AT OR BELOW the warning line",
        "  the warning names the next victim: pid 41377 ugrep, RSS 12.3 GiB",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    // Above the warning line: how far from it, and from the SIGTERM line; a relative hook
    // is disabled, as the daemon disables it.
    let (v, _) = b.json(&[
        "status",
        "--json",
        "--interval",
        "0",
        "--warn",
        "20",
        "--warn-hook",
        "bin/hook",
    ]);
    let w = &v["warn"];
    assert_eq!(w["at_or_below"], false);
    assert_eq!(w["line"]["points_away"], 30.27);
    assert_eq!(w["sigterm"]["threshold_percent"], 10.0);
    assert_eq!(w["sigterm"]["points_away"], 40.27);
    assert!(w["hook"].is_null());
    assert_eq!(w["hook_disabled"], true);

    // vmstat unreadable: the daemon's sampler reads nothing, and says so.
    std::fs::rename(b.proc().join("vmstat"), b.dir.join("vmstat")).unwrap();
    let (v, code) = b.json(&[
        "status",
        "--json",
        "--interval",
        "0.05",
        "--memory-pressure",
        "40",
    ]);
    assert_eq!(code, 0);
    let p = &v["memory_pressure"];
    assert_eq!(p["stall_unknown"], "unreadable");
    let why = p["stall_unknown_reason"].as_str().unwrap();
    assert!(why.ends_with("proc/vmstat unreadable"), "{why}");
    assert!(p["trigger"].is_null() && p["full_total_us"].is_null());
    // No PSI at all.
    std::fs::rename(b.dir.join("vmstat"), b.proc().join("vmstat")).unwrap();
    std::fs::remove_file(b.proc().join("pressure/memory")).unwrap();
    let (v, code) = b.json(&[
        "status",
        "--json",
        "--interval",
        "0.05",
        "--memory-pressure",
        "40",
    ]);
    assert_eq!(code, 0);
    let p = &v["memory_pressure"];
    assert_eq!(p["stall_unknown"], "no-psi");
    assert!(p["stall_unknown_reason"]
        .as_str()
        .unwrap()
        .contains("no PSI: CONFIG_PSI off or psi=0"));
    assert!(p["trigger"].is_null());
    // The soft line is meminfo's: still judged.
    assert_eq!(p["gates"]["soft_line"]["open"], false);
    let out = b.run(&["status", "--interval", "0.05", "--memory-pressure", "40"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("full stall: unknown: {}", b.proc().display()))
            && flat
                .contains("/proc/pressure/memory is unreadable (no PSI: CONFIG_PSI off or psi=0)"),
        "{text}"
    );
    assert!(
        text.contains("the daemon runs without the trigger here"),
        "{text}"
    );
    assert!(
        text.contains("trigger now: unknown (the stall is unknown)"),
        "{text}"
    );
}

/// The machine stalls and swaps out while `status` waits: the stall and the rate come from
/// the total= and pswpout deltas between the two readings, the swap-out gate opens and the
/// trigger is armed.
#[test]
fn status_sees_memory_pressure_in_progress() {
    let b = Box_::new("incident", "mpresslive");
    let spawn = |json: bool| {
        let mut c = Command::new(BIN);
        c.args(b.roots()).arg("status");
        if json {
            c.arg("--json");
        }
        c.args(["--interval", "3", "--memory-pressure", "40,20"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (json, text) = (spawn(true), spawn(false));
    // Well after the first reading (taken right at start), well before the second.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    // +2.4 s of full stall and +3000 pages swapped out during the 3 s interval.
    b.write(
        "proc/pressure/memory",
        "some avg10=84.20 avg60=40.87 avg300=12.02 total=3415880112\nfull avg10=79.10 avg60=30.31 avg300=9.40 total=404518009\n",
    );
    let vm = std::fs::read_to_string(b.proc().join("vmstat")).unwrap();
    b.write(
        "proc/vmstat",
        &vm.replace("pswpout 2904311\n", "pswpout 2907311\n"),
    );
    let out = json.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["memory_pressure"];
    let window = p["window_s"].as_f64().unwrap();
    assert!((3.0..4.5).contains(&window), "{p:#}");
    let stall = p["full_stall_percent"].as_f64().unwrap();
    // 2.4 s of stall in `window` seconds, in percent.
    assert!((240.0 / window - stall).abs() < 0.1, "{p:#}");
    let rate = p["swap_out_pages_per_second"].as_f64().unwrap();
    assert!((3000.0 / window - rate).abs() < 1.0, "{p:#}");
    assert_eq!(p["pswpout"], 2_907_311);
    assert_eq!(p["gates"]["swap_out"]["open"], true);
    assert_eq!(p["gates"]["soft_line"]["open"], false);
    assert_eq!(p["trigger"]["armed"], true, "{p:#}");
    assert_eq!(p["trigger"]["verdict"], "fire");
    assert_eq!(p["trigger"]["gate"], "swap-out");
    assert_eq!(p["trigger"]["needs_seconds"], 20.0);
    let out = text.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("  gate swap-out:  OPEN: "), "{text}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("and the swap-out gate open; the daemon fires once that lasts 20 s"),
        "{text}"
    );
    assert!(flat.contains("trigger now: ARMED: full stall "), "{text}");
}

#[test]
fn daemon_findings() {
    let b = Box_::new("healthy", "daemon");
    // Not locked in memory, not protected.
    let status = std::fs::read_to_string(b.proc().join("1187/status")).unwrap();
    b.write(
        "proc/1187/status",
        &status.replace("VmLck:\t    2480 kB", "VmLck:\t       0 kB"),
    );
    b.write("proc/1187/oom_score_adj", "0\n");
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 1);
    let daemon: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "daemon" && f["severity"] == "warning")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(daemon.len(), 2, "{v:#}");
    assert!(daemon[0].contains("VmLck 0") && daemon[1].contains("oom_score_adj 0"));
    // Running with other options than the file now says (no --livelock-guard).
    b.write(
        "proc/1187/cmdline",
        "/usr/bin/earlyoom\0-m\x005,3\0-s\x00100\0",
    );
    let (v, _) = b.json(&["audit", "--json"]);
    assert!(problems(&v).contains(&(
        "warning".into(),
        "daemon".into(),
        "earlyoom pid 1187".into()
    )));
    assert!(v.to_string().contains("systemctl restart earlyoom"));
    // Not running at all.
    std::fs::remove_dir_all(b.proc().join("1187")).unwrap();
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(problems(&v), set(&[("warning", "daemon", "earlyoom")]));
}

#[test]
fn thresholds_that_cannot_fire_and_hooks() {
    // The incident box with its 14 GiB swap file still on: the work cgroups cannot swap.
    let b = Box_::new("incident", "swap");
    let mi = std::fs::read_to_string(b.proc().join("meminfo")).unwrap();
    b.write(
        "proc/meminfo",
        &mi.replace("SwapTotal:             0 kB", "SwapTotal:      14680060 kB")
            .replace("SwapFree:              0 kB", "SwapFree:       14642108 kB"),
    );
    let base = [
        "--livelock-guard",
        "--avoid",
        "^(sshd|systemd.*|tmux.*)$",
        "-m",
        "5,3",
    ];
    let audit = |extra: &[&str]| {
        let mut a = vec!["audit", "--json"];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        b.json(&a).0
    };
    let thresholds = |v: &Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["check"] == "thresholds" && f["severity"] == "warning")
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect()
    };
    // -s 100 halves to SIGKILL at 50 %: never reached while the capped groups fill RAM.
    let v = audit(&["-s", "100"]);
    let t = thresholds(&v);
    assert_eq!(t.len(), 1, "{v:#}");
    assert!(t[0].contains("only ever send SIGTERM"), "{}", t[0]);
    // The default -s 10: earlyoom never fires at all.
    let t = thresholds(&audit(&[]));
    assert!(t.len() == 1 && t[0].contains("would never fire"), "{t:?}");
    // -s 100,100: fine.
    assert!(thresholds(&audit(&["-s", "100,100"])).is_empty());
    // -m with a SIGKILL of 0.
    let t = thresholds(&audit(&["-s", "100,100", "-m", "5,0"]));
    assert!(t.len() == 1 && t[0].contains("SIGKILL at 0 %"), "{t:?}");
    // Thresholds already met: memory is at 50 % available.
    let t = thresholds(&audit(&["-s", "100,100", "-m", "60,55"]));
    assert!(t.len() == 1 && t[0].contains("met right now"), "{t:?}");

    // Hooks: relative, missing, not executable.
    let v = audit(&["-s", "100,100", "-N", "hook.sh", "-P", "/nonexistent/pre"]);
    let hooks: BTreeSet<String> = problems(&v)
        .into_iter()
        .filter(|p| p.1 == "hooks")
        .map(|p| p.2)
        .collect();
    assert_eq!(
        hooks,
        ["-N hook.sh", "-P /nonexistent/pre"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let hook = b.dir.join("hook.sh");
    std::fs::write(&hook, "#!/bin/sh\n").unwrap();
    let h = hook.display().to_string();
    let v = audit(&["-s", "100,100", "-N", &h]);
    assert!(
        v.to_string().contains("is not executable (mode 644)"),
        "{v:#}"
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let v = audit(&["-s", "100,100", "-N", &h]);
    assert!(!problems(&v).iter().any(|p| p.1 == "hooks"), "{v:#}");
}

#[test]
fn exit_statuses() {
    let b = Box_::new("incident", "exit");
    let code = |args: &[&str]| b.run(args).status.code().unwrap();
    // Usage errors: ours, and earlyoom options typed on the command line.
    assert_eq!(code(&["frobnicate"]), 64);
    assert_eq!(code(&["candidates", "--limit", "x"]), 64);
    assert_eq!(code(&["candidates", "--bogus"]), 64);
    assert_eq!(code(&["audit", "-m", "100"]), 64);
    assert_eq!(code(&["candidates", "--prefer", "("]), 64);
    assert_eq!(code(&["status", "--interval", "-1"]), 64);
    // What the parser accepts but the daemon's settings refuse (it exits at startup): the
    // same usage error, with earlyoom's fatal line, not a crash.
    for (args, says) in [
        (
            &["status", "--interval", "0", "-m", "5", "--warn", "5"][..],
            "--warn:",
        ),
        (
            &["candidates", "--warn-hook", "/bin/true"],
            "--warn-hook: needs --warn",
        ),
        (&["audit", "--warn", "2"], "is not above the SIGTERM line"),
    ] {
        let out = b.run(args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    let out = b.run(&["candidates", "--prefer", "x", "--json"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("go before the earlyoom options"));
    assert_eq!(code(&["--help"]), 0);
    assert_eq!(code(&["--version"]), 0);
    // A file the daemon would refuse: 65 for candidates/status, a critical finding in audit.
    b.write("default-earlyoom", "EARLYOOM_ARGS=\"-m 5,3 -S 100\"\n");
    assert_eq!(code(&["candidates"]), 65);
    assert_eq!(code(&["status", "--interval", "0"]), 65);
    let (v, c) = b.json(&["audit", "--json"]);
    assert_eq!(c, 2);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "options")
        .unwrap();
    assert_eq!(f["severity"], "critical");
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("-S: value 100.000000 exceeds limit 0"),
        "{f}"
    );
    b.write("default-earlyoom", "EARLYOOM_ARGS=\"-m 10 --warn 10\"\n");
    assert_eq!(code(&["status", "--interval", "0"]), 65);
    let (v, code_) = b.json(&["audit", "--json"]);
    assert_eq!(code_, 2);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "options")
        .unwrap();
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("will not start: fatal: --warn:"),
        "{f}"
    );
    b.write("default-earlyoom", "EARLYOOM_ARGS=\"--avoid '('\"\n");
    assert_eq!(code(&["candidates"]), 65);
    assert_eq!(b.json(&["audit", "--json"]).1, 2);
    // No readable /proc.
    let out = Command::new(BIN)
        .args(["--proc-root=/nonexistent", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(66));
}

#[test]
fn human_output_fits_100_columns() {
    for name in ["incident", "healthy"] {
        let b = Box_::new(name, "width");
        for args in [
            &["candidates"][..],
            &["candidates", "--all"],
            &["status", "--interval", "0"],
            &[
                "status",
                "--interval",
                "0.05",
                "--memory-pressure",
                "40",
                "-m",
                "30",
                "--warn",
                "60",
                "--warn-hook",
                "/usr/local/libexec/a-rather-long-path-to/the-warning-hook",
            ],
            &["audit"],
        ] {
            let out = b.run(args);
            let text = String::from_utf8(out.stdout).unwrap();
            for l in text.lines() {
                // A path is as long as it is.
                if l.starts_with("  from EARLYOOM_ARGS in") {
                    continue;
                }
                assert!(l.chars().count() <= 100, "{name} {args:?}: {l:?}");
            }
        }
    }
}

#[test]
fn runs_on_this_machine() {
    // Whatever the host is (cgroup v1 or v2, a daemon or not), the commands answer.
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["--default-file=/nonexistent/earlyoom"])
            .args(args)
            .output()
            .unwrap()
    };
    let child = Command::new(BIN)
        .args([
            "--default-file=/nonexistent/earlyoom",
            "candidates",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let me = child.id() as i64;
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let procs = v["processes"].as_array().unwrap();
    assert!(procs.iter().any(|p| p["pid"] == 1));
    // earlyoomctl does not list itself (other tests' runs may well be listed).
    assert!(!procs.iter().any(|p| p["pid"] == me));
    assert_eq!(v["options"]["source"], "builtin-defaults");
    let out = run(&["status", "--json", "--interval", "0.1"]);
    assert_eq!(out.status.code(), Some(0));
    let _: Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = run(&["audit", "--json"]);
    assert!(matches!(out.status.code(), Some(0..=2)));
    let _: Value = serde_json::from_slice(&out.stdout).unwrap();
}

/// The eligible pids of a `candidates --json`, in rank order (checking ranks are 1..n).
fn ranked_pids(v: &Value) -> Vec<i64> {
    let procs = v["processes"].as_array().unwrap();
    let eligible: Vec<&Value> = procs.iter().take_while(|p| p["eligible"] == true).collect();
    for (i, p) in eligible.iter().enumerate() {
        assert_eq!(p["rank"], i as i64 + 1, "{p}");
    }
    assert!(procs[eligible.len()..]
        .iter()
        .all(|p| p["eligible"] == false && p["rank"].is_null()));
    eligible
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect()
}

/// `candidates --cgroup`: the ranking restricted to a cgroup's subtree and renumbered, which
/// is the order the daemon's own scan restricted to that subtree (what --cgroup-headroom
/// runs) picks in, one kill after another.
#[test]
fn candidates_within_a_cgroup() {
    let b = Box_::new("incident", "cgwithin");
    let (v, code) = b.json(&["candidates", "--json", "--cgroup", "/user.slice"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["cgroup"]["path"], "/user.slice");
    // 3100, 3140, 3141, 3188 (user-1000's subtree) and 20771, 20790 (user-1001's).
    assert_eq!(v["cgroup"]["member_pids"], 6);
    assert_eq!(ranked_pids(&v), [20771, 20790, 3141, 3100, 3140]);
    assert_eq!(v["next_victim"]["pid"], 20771);
    // Nothing from outside the subtree, skipped ones included.
    let listed: BTreeSet<i64> = v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [3100, 3140, 3141, 3188, 20771, 20790].into());
    assert_eq!(find(&v, 3188)["skip"], "zombie");
    // Without --cgroup: null, and every process.
    let (all, _) = b.json(&["candidates", "--json"]);
    assert!(all["cgroup"].is_null());
    assert!(all["processes"].as_array().unwrap().len() > listed.len());

    // The three spellings name the same cgroup.
    let abs = b.cgroup().join("system.slice/webterm.service");
    for arg in [
        "/system.slice/webterm.service",
        "system.slice/webterm.service",
        abs.to_str().unwrap(),
    ] {
        let (v, code) = b.json(&["candidates", "--json", "--cgroup", arg]);
        assert_eq!(code, 0, "{arg}");
        assert_eq!(
            v["cgroup"]["path"], "/system.slice/webterm.service",
            "{arg}"
        );
        assert_eq!(ranked_pids(&v), [41377, 2301], "{arg}");
    }
    // The earlyoom options still apply: --prefer ttyd lifts it to #1 inside the cgroup.
    let (v, _) = b.json(&[
        "candidates",
        "--json",
        "--cgroup",
        "/system.slice/webterm.service",
        "--prefer",
        "^ttyd$",
    ]);
    assert_eq!(ranked_pids(&v), [2301, 41377]);
    // A cgroup where nothing may be chosen (udevd has oom_score_adj -1000).
    let (v, code) = b.json(&[
        "candidates",
        "--json",
        "--cgroup",
        "system.slice/systemd-udevd.service",
    ]);
    assert_eq!(code, 0);
    assert!(v["next_victim"].is_null(), "{v:#}");
    assert_eq!(find(&v, 455)["skip"], "protected");

    // The daemon's scan restricted to each cgroup (its --cgroup-headroom path), repeated
    // with each pick removed, picks in the same order.
    let (file_cfg, _) = b.json(&["candidates", "--json"]);
    assert_eq!(file_cfg["next_victim"]["pid"], 41377);
    let m = || Matchers {
        prefer: Some(compile(b"^(python3|node|chrome)$").unwrap()),
        avoid: Some(compile(b"^(systemd.*|dockerd|containerd|ttyd|tmux.*)$").unwrap()),
        ignore: None,
    };
    for cg in ["user.slice", "system.slice", "docker.slice", "/"] {
        let (v, _) = b.json(&["candidates", "--json", "--cgroup", cg]);
        let dir = b.cgroup().join(cg.trim_start_matches('/'));
        let mut pids = earlyoom::cgroup::procs(&dir);
        // The daemon never picks itself (left out, its scan would say so on stderr).
        pids.retain(|&p| p != 1187);
        let mut order = Vec::new();
        loop {
            let mut s = Scanner::new(
                ProcRoot(b.proc().as_os_str().as_bytes().to_vec()),
                Options::default(),
                m(),
            );
            s.set_my_pid(1187);
            let Some(pick) = s.scan_among(Some(&pids)).unwrap().victim.map(|v| v.pid) else {
                break;
            };
            order.push(i64::from(pick));
            pids.retain(|&p| p != pick);
        }
        assert!(!order.is_empty(), "{cg}");
        assert_eq!(ranked_pids(&v), order, "cgroup '{cg}'");
    }

    // Human output: the scope said, ranks from 1.
    let out = b.run(&["candidates", "--cgroup", "/docker.slice"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("only cgroup /docker.slice and its descendants (2 pids"),
        "{text}"
    );
    assert!(text.contains("next victim: pid 33050 postgres"), "{text}");
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(first.contains("33050"), "{first}");
    assert!(!text.contains("41377"), "{text}");
}

/// `--sort-by-rss` compares a process whose RSS is 0 (a zombie main thread) by oom_score
/// alone, so the ordering is not transitive, and the order inside a cgroup is not the
/// machine-wide one with the others left out: A (RSS 100 MiB, oom_score 100) beats B (50 MiB,
/// 500) by RSS, B beats Z (RSS 0, 300) and Z beats A by oom_score. With Z outside the cgroup
/// and scanned between A and B, the machine-wide scans pick B, Z, A (filtered: B, A); the
/// daemon's scan restricted to the cgroup picks A, then B, and so must `candidates --cgroup`.
#[test]
fn candidates_cgroup_order_is_the_scans_own_under_sort_by_rss() {
    let b = Box_::new("incident", "cgrss");
    let root = ProcRoot(b.proc().as_os_str().as_bytes().to_vec());
    // The scan goes in directory order: name the three by where they come in it.
    let three = [20771, 20790, 3141];
    let mut order = Vec::new();
    let dir = earlyoom::proc::ProcDir::open(&root).unwrap();
    let mut dents = vec![std::mem::MaybeUninit::uninit(); earlyoom::proc::DENTS_BUF];
    dir.for_each_pid(&mut dents, |pid| {
        if three.contains(&pid) {
            order.push(pid);
        }
    })
    .unwrap();
    let [a, z, bb] = order[..] else {
        panic!("{order:?}")
    };
    let page_kib = earlyoom::sys::page_kib();
    let set = |pid: i32, rss_kib: i64, score: i32| {
        let path = format!("proc/{pid}/stat");
        let stat = std::fs::read_to_string(b.dir.join(&path)).unwrap();
        let (head, tail) = stat.rsplit_once(") ").unwrap();
        let mut f: Vec<String> = tail.split(' ').map(str::to_string).collect();
        f[21] = (rss_kib / page_kib).to_string();
        b.write(&path, &format!("{head}) {}", f.join(" ")));
        b.write(&format!("proc/{pid}/oom_score"), &format!("{score}\n"));
    };
    set(a, 100 * 1024, 100);
    set(z, 0, 300);
    set(bb, 50 * 1024, 500);
    // Nothing else may be chosen.
    for e in std::fs::read_dir(b.proc()).unwrap() {
        let e = e.unwrap();
        let pid: i32 = match e.file_name().to_str().unwrap().parse() {
            Ok(p) => p,
            Err(_) => continue,
        };
        if !three.contains(&pid) && e.path().join("oom_score_adj").exists() {
            b.write(&format!("proc/{pid}/oom_score_adj"), "-1000\n");
        }
    }
    std::fs::create_dir_all(b.cgroup().join("test.slice")).unwrap();
    b.write("cgroup/test.slice/cgroup.procs", &format!("{a}\n{bb}\n"));

    let (all, _) = b.json(&["candidates", "--json", "--sort-by-rss"]);
    assert_eq!(ranked_pids(&all), [bb, z, a].map(i64::from), "{all:#}");
    let (v, code) = b.json(&[
        "candidates",
        "--json",
        "--cgroup",
        "/test.slice",
        "--sort-by-rss",
    ]);
    assert_eq!(code, 0);
    assert_eq!(ranked_pids(&v), [a, bb].map(i64::from), "{v:#}");
    // The daemon's own scans restricted to the cgroup, each pick removed.
    let mut pids = vec![a.min(bb), a.max(bb)];
    let mut picks = Vec::new();
    while let Some(pick) = {
        let mut s = Scanner::new(
            root.clone(),
            Options {
                sort_by_rss: true,
                ..Options::default()
            },
            Matchers::default(),
        );
        s.set_my_pid(1187);
        s.scan_among(Some(&pids)).unwrap().victim.map(|v| v.pid)
    } {
        picks.push(i64::from(pick));
        pids.retain(|&p| p != pick);
    }
    assert_eq!(ranked_pids(&v), picks);
}

#[test]
fn candidates_cgroup_usage_errors() {
    let b = Box_::new("incident", "cgusage");
    let fails = |arg: &str, says: &str| {
        let out = b.run(&["candidates", "--cgroup", arg]);
        assert_eq!(out.status.code(), Some(64), "{arg}");
        assert!(out.stdout.is_empty(), "{arg}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(err.contains(says), "{arg}: {err}");
    };
    fails(
        "/system.slice/nope.service",
        "cgroup /system.slice/nope.service does not exist under",
    );
    fails("../incident", "'..' is not allowed");
    fails(
        "/system.slice/webterm.service/memory.max",
        "is not a cgroup",
    );
    // --json too: no JSON on stdout, the same status.
    let out = b.run(&["candidates", "--json", "--cgroup", "nope"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty());
    // After the earlyoom options --cgroup is theirs (ambiguous to earlyoom): a hint.
    let out = b.run(&["candidates", "--cgroup-kill", "--cgroup", "/docker.slice"]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("go before the earlyoom options"), "{err}");
    // The daemon's --cgroup-* options are still earlyoom options.
    let (v, code) = b.json(&[
        "candidates",
        "--json",
        "--cgroup",
        "/docker.slice",
        "--cgroup-kill",
        "--cgroup-headroom",
        "10,5",
    ]);
    assert_eq!(code, 0);
    assert_eq!(v["options"]["args"][0], "--cgroup-kill");
    assert_eq!(ranked_pids(&v), [33050, 33012]);
}

/// The `cgroup_headroom.cgroups` of a `status --json`, by name.
fn capped<'a>(v: &'a Value, cgroup: &str) -> &'a Value {
    v["cgroup_headroom"]["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cgroup"] == cgroup)
        .unwrap_or_else(|| panic!("{cgroup} not listed: {v:#}"))
}

/// Writes a capped cgroup's memory files (bytes) below the box's cgroup root.
fn write_cap(b: &Box_, rel: &str, max: u64, current: u64, file: u64, shmem: u64) {
    std::fs::create_dir_all(b.cgroup().join(rel)).unwrap();
    let w = |f: &str, t: String| b.write(&format!("cgroup/{rel}/{f}"), &t);
    w("memory.max", format!("{max}\n"));
    w("memory.current", format!("{current}\n"));
    w(
        "memory.stat",
        format!(
            "anon {}\nfile {file}\nkernel 0\nshmem {shmem}\n",
            current - file
        ),
    );
    if !b.cgroup().join(rel).join("cgroup.procs").exists() {
        w("cgroup.procs", String::new());
    }
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// `status`: every cgroup with a finite memory.max, its headroom as --cgroup-headroom
/// computes it (free below max plus page cache, not tmpfs, plus anon only as far as swap
/// allows), tightest first, and without the option what it would see.
#[test]
fn status_shows_the_headroom_of_capped_cgroups() {
    let b = Box_::new("incident", "headroom");
    let (v, code) = b.json(&["status", "--json", "--interval", "0"]);
    assert_eq!(code, 0);
    let h = &v["cgroup_headroom"];
    assert_eq!(h["enabled"], false, "{h:#}");
    assert!(h["term_percent"].is_null() && h["unavailable"].is_null());
    let names: Vec<&str> = h["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cgroup"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "system.slice/webterm.service",
            "user.slice/user-1000.slice",
            "docker.slice",
            "system.slice/earlyoom.service",
            "user.slice/user-1001.slice",
            "user.slice/user-1002.slice"
        ]
    );
    // webterm: 16 GiB max, 12.85 GiB used of which 30 MiB page cache, no swap.
    let web = capped(&v, "system.slice/webterm.service");
    let (max, cur, cache) = (16 * GIB, 13_797_582_438u64, 30 * MIB);
    assert_eq!(web["max_bytes"], max);
    assert_eq!(web["current_bytes"], cur);
    assert_eq!(web["reclaimable_bytes"], cache);
    assert_eq!(web["headroom_bytes"], max - cur + cache);
    assert_eq!(web["headroom_percent"], 19.87);
    assert!(h["cgroups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["action"].is_null() && c["next_victim"].is_null()));
    let text = String::from_utf8(b.run(&["status", "--interval", "0"]).stdout).unwrap();
    assert!(
        text.contains("cgroup headroom: OFF (--cgroup-headroom not in the options)"),
        "{text}"
    );
    assert!(text.contains("6 cgroups with a finite memory.max, tightest first"));
    let row = text
        .lines()
        .find(|l| l.starts_with("system.slice/webterm.service") && l.contains("19.9 %"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.ends_with("  -"), "{row}");

    // Now: webterm 1 GiB from its max (SIGTERM at 10 %), user-1002 full of tmpfs
    // (SIGKILL: shmem is not cache), docker.slice as full but of page cache (none).
    write_cap(&b, "system.slice/webterm.service", max, max - GIB, cache, 0);
    write_cap(
        &b,
        "user.slice/user-1002.slice",
        max,
        max - 200 * MIB,
        3 * GIB,
        3 * GIB,
    );
    write_cap(&b, "docker.slice", max, max - 100 * MIB, 4 * GIB, 0);
    let (v, _) = b.json(&[
        "status",
        "--json",
        "--interval",
        "0",
        "--cgroup-headroom",
        "10,5",
    ]);
    let h = &v["cgroup_headroom"];
    assert_eq!(h["enabled"], true);
    assert_eq!(
        (h["term_percent"].as_f64(), h["kill_percent"].as_f64()),
        (Some(10.0), Some(5.0))
    );
    let (tmpfs, web, cache_full) = (
        capped(&v, "user.slice/user-1002.slice"),
        capped(&v, "system.slice/webterm.service"),
        capped(&v, "docker.slice"),
    );
    assert_eq!(tmpfs["reclaimable_bytes"], 0);
    assert_eq!(tmpfs["headroom_percent"], 1.22);
    assert_eq!(tmpfs["action"], "SIGKILL");
    assert!(tmpfs["next_victim"].is_null(), "no process in it");
    assert_eq!(web["headroom_bytes"], GIB + cache);
    assert_eq!(web["action"], "SIGTERM");
    // The victim inside it: the ranking restricted to it (ttyd is avoided).
    assert_eq!(web["next_victim"]["pid"], 41377);
    assert_eq!(web["next_victim"]["comm"], "ugrep");
    assert_eq!(cache_full["reclaimable_bytes"], 4 * GIB);
    assert_eq!(cache_full["action"], "none");
    assert!(cache_full["next_victim"].is_null());
    // Tightest first.
    let order: Vec<&str> = h["cgroups"].as_array().unwrap()[..3]
        .iter()
        .map(|c| c["cgroup"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "user.slice/user-1002.slice",
            "system.slice/webterm.service",
            "docker.slice"
        ]
    );
    let out = b.run(&["status", "--interval", "0", "--cgroup-headroom", "10,5"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "cgroup headroom: on (SIGTERM at <= 10.00 %, SIGKILL at <= 5.00 % of memory.max)"
        ),
        "{text}"
    );
    assert!(
        text.contains("next victim in it: pid 41377 ugrep"),
        "{text}"
    );
    assert!(text.contains("no process in it may be chosen"), "{text}");
    let section = &text[text.find("cgroup headroom:").unwrap()..];
    let row = |name: &str| {
        section
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {text}"))
            .to_string()
    };
    assert!(row("user.slice/user-1002.slice").ends_with("SIGKILL"));
    assert!(row("system.slice/webterm.service").ends_with("SIGTERM"));
    assert!(row("docker.slice").ends_with("none"));
}

/// Anon is room only as far as the cgroup may swap and the machine has swap free: the
/// healthy box's 8 GiB of zram.
#[test]
fn headroom_counts_swap_only_where_the_cgroup_may_swap() {
    let b = Box_::new("healthy", "hswap");
    let web = "system.slice/webterm.service";
    write_cap(&b, web, 4 * GIB, 4 * GIB - 50 * MIB, 0, 0);
    let status = || {
        let (v, _) = b.json(&[
            "status",
            "--json",
            "--interval",
            "0",
            "--cgroup-headroom",
            "10,5",
        ]);
        v
    };
    let v = status();
    let c = capped(&v, web);
    assert_eq!(c["swap_max_bytes"], 0);
    assert_eq!(c["reclaimable_bytes"], 0);
    assert_eq!(c["action"], "SIGKILL");
    b.write(&format!("cgroup/{web}/memory.swap.max"), "max\n");
    let v = status();
    let c = capped(&v, web);
    // Up to the machine's free swap (8 GiB zram, more than the cgroup's anon).
    assert_eq!(c["reclaimable_bytes"], 4 * GIB - 50 * MIB);
    assert_eq!(c["action"], "none");
    b.write(
        &format!("cgroup/{web}/memory.swap.max"),
        &format!("{}\n", 100 * MIB),
    );
    b.write(
        &format!("cgroup/{web}/memory.swap.current"),
        &format!("{}\n", 40 * MIB),
    );
    let c = capped(&status(), web).clone();
    assert_eq!(c["reclaimable_bytes"], 60 * MIB);
    assert_eq!(c["headroom_bytes"], 110 * MIB);
    assert_eq!(c["action"], "SIGKILL");
}

/// Thousands of cgroups: the text shows the 20 tightest and says how many it left out; the
/// JSON has them all.
#[test]
fn status_headroom_is_bounded_in_text() {
    let b = Box_::new("incident", "hbound");
    for i in 0..30u64 {
        write_cap(
            &b,
            &format!("machine.slice/vm-{i:02}.scope"),
            GIB,
            (20 + i) * GIB / 100,
            0,
            0,
        );
    }
    let (v, _) = b.json(&["status", "--json", "--interval", "0"]);
    let all = v["cgroup_headroom"]["cgroups"].as_array().unwrap();
    assert_eq!(all.len(), 36);
    let pct: Vec<f64> = all
        .iter()
        .map(|c| c["headroom_percent"].as_f64().unwrap())
        .collect();
    assert!(pct.windows(2).all(|w| w[0] <= w[1]), "{pct:?}");
    let out = b.run(&["status", "--interval", "0"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let section = &text[text.find("cgroup headroom:").unwrap()..];
    assert!(section.contains("36 cgroups with a finite memory.max"));
    let rows = section.lines().filter(|l| l.ends_with(" %  -")).count();
    assert_eq!(rows, 20, "{section}");
    assert!(
        section.contains("... 16 more cgroups with more headroom not shown (--json lists all)"),
        "{section}"
    );
    // The 20 tightest: the webterm (19.9 %), then vm-29 (51 %) .. vm-11 (69 %).
    assert!(section.contains("system.slice/webterm.service"));
    assert!(section.contains("machine.slice/vm-29.scope"));
    assert!(section.contains("machine.slice/vm-11.scope"));
    assert!(!section.contains("vm-10") && !section.contains("vm-00"));
}

/// No cgroup v2 memory hierarchy: the section says why, the rest still answers.
#[test]
fn status_headroom_without_cgroup_v2() {
    let b = Box_::new("incident", "hnov2");
    std::fs::remove_file(b.cgroup().join("cgroup.controllers")).unwrap();
    let (v, code) = b.json(&[
        "status",
        "--json",
        "--interval",
        "0",
        "--cgroup-headroom",
        "10",
    ]);
    assert_eq!(code, 0);
    let h = &v["cgroup_headroom"];
    assert_eq!(h["enabled"], true);
    assert!(h["unavailable"]
        .as_str()
        .unwrap()
        .contains("not a cgroup v2 mount"));
    assert!(h["cgroups"].as_array().unwrap().is_empty());
    let text = String::from_utf8(
        b.run(&["status", "--interval", "0", "--cgroup-headroom", "10"])
            .stdout,
    )
    .unwrap();
    assert!(
        text.contains("cgroup headroom: on but cannot work here"),
        "{text}"
    );
}

/// The (subject, message) of every `capped-protected` finding.
fn capped_protected(v: &Value) -> Vec<(String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "capped-protected")
        .map(|f| {
            assert_eq!(f["severity"], "warning", "{f}");
            (
                f["subject"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// audit: what the admin protected (--avoid, --ignore, oom_score_adj <= -900) living in a
/// capped cgroup's subtree while --cgroup-headroom is off: there the kernel's memcg OOM
/// killer acts alone and ignores --avoid.
#[test]
fn audit_flags_protected_services_in_capped_cgroups() {
    let b = Box_::new("incident", "cprot");
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 2);
    let found = capped_protected(&v);
    let subjects: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    // ttyd in the web-terminal unit; the user manager and tmux server in user-1000's slice
    // (deeper, in cgroups with no cap of their own). Not the daemon in its capped service.
    assert_eq!(
        subjects,
        ["system.slice/webterm.service", "user.slice/user-1000.slice"]
    );
    let (_, web) = &found[0];
    assert!(web.contains("ttyd (pid 2301, --avoid)"), "{web}");
    assert!(web.contains("memory.max 16.0 GiB"), "{web}");
    assert!(
        web.contains("memcg OOM killer") && web.contains("issue #331"),
        "{web}"
    );
    assert!(
        !web.contains("ugrep"),
        "only the protected are named: {web}"
    );
    let (_, user) = &found[1];
    assert!(
        user.contains("systemd (pid 3100, --avoid), tmux: server (pid 3140, --avoid)"),
        "{user}"
    );
    let fix = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "capped-protected")
        .unwrap()["fix"]
        .as_str()
        .unwrap();
    assert!(fix.contains("--cgroup-headroom 10,5"), "{fix}");
    let text = String::from_utf8(b.run(&["audit"]).stdout).unwrap();
    assert!(
        text.contains("WARNING  capped-protected system.slice/webterm.service"),
        "{text}"
    );
    assert!(text.contains("fix: add --cgroup-headroom 10,5 to EARLYOOM_ARGS"));

    // The same options with --cgroup-headroom: no such finding.
    let base = [
        "-m",
        "5,3",
        "-s",
        "100",
        "--avoid",
        "^(systemd.*|dockerd|containerd|ttyd|tmux.*)$",
    ];
    let audit = |extra: &[&str]| {
        let mut a = vec!["audit", "--json"];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        b.json(&a).0
    };
    assert_eq!(capped_protected(&audit(&[])).len(), 2);
    assert!(capped_protected(&audit(&["--cgroup-headroom", "10,5"])).is_empty());
    assert!(capped_protected(&audit(&["--cgroup-headroom", "5"])).is_empty());

    // The innermost capped cgroup holds a process: cap tmux.scope itself.
    let tmux = "user.slice/user-1000.slice/user@1000.service/app.slice/tmux.scope";
    b.write(&format!("cgroup/{tmux}/memory.max"), &format!("{}\n", GIB));
    let found = capped_protected(&audit(&[]));
    let subjects: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "system.slice/webterm.service",
            "user.slice/user-1000.slice",
            tmux
        ]
    );
    assert!(
        found[1].1.contains("a protected process lives in"),
        "{}",
        found[1].1
    );
    assert!(found[1].1.contains("systemd (pid 3100, --avoid)"));
    assert!(found[2].1.contains("tmux: server (pid 3140, --avoid)"));
    assert!(found[2].1.contains("memory.max 1.0 GiB"));
}

#[test]
fn capped_protected_by_oom_score_adj_and_ignore() {
    let b = Box_::new("incident", "cprotadj");
    // No --avoid: only oom_score_adj <= -900 (containerd -999, udevd -1000) and --ignore.
    let opts = ["audit", "--json", "-m", "5,3", "-s", "100"];
    assert!(capped_protected(&b.json(&opts).0).is_empty());
    b.write(
        "cgroup/system.slice/containerd.service/memory.max",
        &format!("{}\n", 2 * GIB),
    );
    b.write("cgroup/system.slice/memory.max", &format!("{}\n", 20 * GIB));
    let (v, code) = b.json(&opts);
    assert_eq!(code, 2);
    let found = capped_protected(&v);
    let subjects: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    // containerd in its own capped unit (the innermost); udevd only under system.slice.
    assert_eq!(
        subjects,
        ["system.slice", "system.slice/containerd.service"]
    );
    assert!(
        found[0]
            .1
            .contains("systemd-udevd (pid 455, oom_score_adj -1000)"),
        "{}",
        found[0].1
    );
    assert!(
        !found[0].1.contains("dockerd"),
        "-500 is not protected: {}",
        found[0].1
    );
    assert!(found[1]
        .1
        .contains("containerd (pid 880, oom_score_adj -999)"));
    // --ignore protects too: postgres in docker.slice.
    let mut with_ignore = opts.to_vec();
    with_ignore.extend_from_slice(&["--ignore", "^postgres$"]);
    let found = capped_protected(&b.json(&with_ignore).0);
    let docker = found
        .iter()
        .find(|(s, _)| s == "docker.slice")
        .unwrap_or_else(|| panic!("{found:?}"));
    assert!(
        docker.1.contains("postgres (pid 33050, --ignore)"),
        "{}",
        docker.1
    );
    // The daemon is not a protected service, whatever its oom_score_adj (its own unit is
    // capped at 50M).
    b.write("proc/1187/oom_score_adj", "-1000\n");
    let found = capped_protected(&b.json(&opts).0);
    assert!(
        !found
            .iter()
            .any(|(s, _)| s == "system.slice/earlyoom.service"),
        "{found:?}"
    );
}

/// The healthy box runs with --cgroup-headroom; take it out and the audit warns, exit 1.
#[test]
fn the_healthy_box_needs_its_cgroup_headroom() {
    let b = Box_::new("healthy", "cprot");
    let (v, code) = b.json(&["audit", "--json"]);
    assert_eq!(code, 0);
    assert!(capped_protected(&v).is_empty());
    let (v, code) = b.json(&[
        "audit",
        "--json",
        "-m",
        "5,3",
        "-s",
        "100",
        "-r",
        "3600",
        "--avoid",
        "^(sshd|sshd-session|systemd.*|dockerd|containerd|ttyd|tmux.*)$",
        "--prefer",
        "^(python3|node|chrome)$",
        "--livelock-guard",
    ]);
    assert_eq!(code, 1, "{v:#}");
    assert_eq!(
        problems(&v),
        set(&[
            (
                "warning",
                "capped-protected",
                "system.slice/webterm.service"
            ),
            ("warning", "capped-protected", "user.slice/user-1000.slice"),
            ("warning", "capped-protected", "user.slice/user-1001.slice"),
        ]),
        "{v:#}"
    );
    let found = capped_protected(&v);
    assert!(
        found[2].1.contains("sshd (pid 20771, --avoid)"),
        "{found:?}"
    );
    assert!(found[0].1.contains("memory.max 4.0 GiB"), "{found:?}");
}
