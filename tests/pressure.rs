//! `--memory-pressure` and `--warn` in the whole loop, over a fixture /proc whose
//! `pressure/memory` and `vmstat` a test script advances with the recorder's fake clock:
//! the trigger fires on a gated stall and kills with the main rules, stays silent on page
//! cache churn (and says why), and the warning names the would-be victim once per episode.

mod fixture;
use earlyoom::cli::Config;
use earlyoom::meminfo;
use earlyoom::metrics::{NoKill, Reason};
use earlyoom::monitor::{Daemon, PressureWatch};
use earlyoom::pressure::{Sampler, Trigger};
use earlyoom::settings::Settings;
use earlyoom::warn::Episodes;
use fixture::*;

fn set_memory(t: &Tree, pct: f64) {
    set_memory_swap(t, pct, 2_000_000, 1_900_000);
}

fn set_pressure(t: &Tree, full_us: u64, swap_pages: u64) {
    std::fs::create_dir_all(t.dir.join("pressure")).unwrap();
    std::fs::write(
        t.dir.join("pressure/memory"),
        format!(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total={}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={full_us}\n",
            full_us + 1
        ),
    )
    .unwrap();
    std::fs::write(
        t.dir.join("vmstat"),
        format!("nr_free_pages 1000\npswpin 7\npswpout {swap_pages}\npgfault 1\n"),
    )
    .unwrap();
}

fn daemon(t: &Tree, cfg: Config) -> Daemon<Recorder> {
    let (settings, _) = Settings::new(&cfg).unwrap();
    let mem = meminfo::Reader::open(&t.root().0).unwrap();
    let mut d = Daemon::new(settings, t.root(), mem, Recorder::default());
    d.scanner.set_my_pid(999_999);
    if let Some(p) = d.settings.pressure {
        d.pressure = Some(PressureWatch {
            trigger: Trigger::new(p),
            sampler: Sampler::new(&t.root().0).unwrap(),
        });
    }
    if let Some(w) = d.settings.warn.as_ref() {
        d.warn = Some(Episodes::new(w.percent));
    }
    d
}

/// Runs the loop on the fake clock for `secs`, the stall at `stall` percent and swap at
/// `swap_per_s` pages/s; returns the time of the first signal, if any.
fn drive(
    d: &mut Daemon<Recorder>,
    t: &Tree,
    secs: f64,
    stall: f64,
    swap_per_s: f64,
) -> Option<f64> {
    let start = d.sys.now;
    let (mut full, mut pages) = (5_000_000.0, 1000.0);
    let mut last = start;
    while d.sys.now - start < secs {
        let now = d.sys.now;
        full += (now - last) * stall * 10_000.0;
        pages += (now - last) * swap_per_s;
        last = now;
        set_pressure(t, full as u64, pages as u64);
        let ms = d.iterate().unwrap();
        if !d.sys.signals.is_empty() {
            return Some(d.sys.now - start);
        }
        d.sleep(ms);
    }
    None
}

fn pressure_cfg() -> Config {
    Config {
        memory_pressure: Some((40.0, Some(10.0))),
        ..Config::default()
    }
}

/// Thrashing: 70 % full stall with heavy swapping while MemAvailable looks fine (35 %):
/// SIGTERM to the largest after the 10 s window, counted with reason `pressure`.
#[test]
fn a_swapping_stall_kills_the_largest_after_the_window() {
    let t = Tree::new(
        "psi-thrash",
        &[p(80, "service", 300, 100), p(90, "thrasher", 900, 300)],
    );
    set_memory(&t, 35.0);
    set_pressure(&t, 0, 0);
    let mut d = daemon(&t, pressure_cfg());
    let at = drive(&mut d, &t, 30.0, 70.0, 5000.0).expect("never fired");
    assert!((10.0..12.0).contains(&at), "fired after {at} s");
    assert_eq!(d.sys.signals, vec![(90, libc::SIGTERM)]);
    assert_eq!(d.counters.kills[Reason::Pressure as usize], [1, 0]);
}

/// Page cache churn: the same stall, memory available, no swapping: never a kill, and the
/// reason is counted.
#[test]
fn a_cache_stall_is_gated_and_explained() {
    let t = Tree::new("psi-cache", &[p(90, "reader", 900, 300)]);
    set_memory(&t, 60.0);
    set_pressure(&t, 0, 0);
    let mut d = daemon(&t, pressure_cfg());
    assert_eq!(drive(&mut d, &t, 30.0, 70.0, 0.0), None);
    assert!(d.counters.no_kill[NoKill::PressureGated as usize] > 0);
}

/// The warning: once per episode, naming the scan's first choice, with `--warn-hook` run
/// (the recorder records the spawn); nothing signalled. A new episode only after memory
/// recovered past the margin.
#[test]
fn the_warning_names_the_victim_once_per_episode() {
    let t = Tree::new("warn", &[p(80, "small", 300, 100), p(90, "big", 900, 300)]);
    let cfg = Config {
        warn_percent: Some(15.0),
        warn_hook: Some(b"/bin/true".to_vec()),
        ..Config::default()
    };
    let mut d = daemon(&t, cfg);
    for (pct, warnings) in [
        (30.0, 0),
        (14.0, 1),
        (13.0, 1),
        (16.0, 1),
        (14.0, 1),
        (18.0, 1),
        (12.0, 2),
    ] {
        set_memory(&t, pct);
        d.iterate().unwrap();
        assert_eq!(d.counters.warnings, warnings, "at {pct} %");
    }
    assert!(d.sys.signals.is_empty());
    assert_eq!(
        d.sys.spawned,
        vec![b"/bin/true".to_vec(), b"/bin/true".to_vec()]
    );
}

/// Bad combinations are exit 17 with the option named.
#[test]
fn warn_must_be_above_the_sigterm_line() {
    for cfg in [
        Config {
            warn_percent: Some(10.0),
            ..Config::default()
        },
        Config {
            warn_hook: Some(b"/bin/true".to_vec()),
            ..Config::default()
        },
    ] {
        assert!(matches!(
            Settings::new(&cfg),
            Err(earlyoom::Fatal::Option { .. })
        ));
    }
}
