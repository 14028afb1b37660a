//! The journal as journald sees it (issue 13), on a real kill of our own hog: the daemon
//! runs in its own mount namespace where /run is a directory of this test holding a
//! `systemd/journal/socket` the test reads, and its stderr is a pipe named in
//! JOURNAL_STREAM as systemd names the journal stream. Stream lines must carry their
//! priority; each action must arrive once, as a native entry with its MESSAGE_ID and the
//! victim's fields and MESSAGE equal to the stream line it replaces. The systemd lab
//! (tests/vm/systemd-lab) checks the same against a real journald.

mod common;
use common::*;
use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One native journal datagram as journald parses it (both field forms).
fn parse_entry(d: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    let mut rest = d;
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let head = &rest[..nl];
        if let Some(eq) = head.iter().position(|&b| b == b'=') {
            out.insert(
                String::from_utf8_lossy(&head[..eq]).into_owned(),
                head[eq + 1..].to_vec(),
            );
            rest = &rest[nl + 1..];
        } else {
            let len = u64::from_le_bytes(rest[nl + 1..nl + 9].try_into().unwrap()) as usize;
            let value = rest[nl + 9..nl + 9 + len].to_vec();
            assert_eq!(rest[nl + 9 + len], b'\n');
            out.insert(String::from_utf8_lossy(head).into_owned(), value);
            rest = &rest[nl + 10 + len..];
        }
    }
    out
}

#[test]
fn kills_are_structured_journal_entries_and_lines_carry_priorities() {
    let Some(_g) = exclusive_root() else {
        return;
    };
    let dir = TempDir::new("journal");
    let run = dir.path().join("run");
    std::fs::create_dir_all(run.join("systemd/journal")).unwrap();
    let journal = UnixDatagram::bind(run.join("systemd/journal/socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // stderr: a pipe whose identity goes into JOURNAL_STREAM, as systemd does for its
    // stream socket.
    let mut p = [0; 2];
    // SAFETY: p is a valid 2-int array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: we own both new descriptors.
    let (mut r, w) = unsafe { (std::fs::File::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    let meta = std::fs::metadata(format!("/proc/self/fd/{}", p[1])).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    let (mib, m) = plan();
    let mut hog = spawn_hog(&format!("mib={mib}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_earlyoom"));
    cmd.args(base_args(&m))
        .env("JOURNAL_STREAM", &stream)
        .stdout(Stdio::null())
        .stderr(Stdio::from(w));
    bind_in_own_namespace(&mut cmd, &run, c"/run");
    let mut daemon = cmd.spawn().unwrap();
    let status = wait_exit(&mut hog.child, 20);
    // Collect the entries until the exit entry, then the stream.
    let mut entries = Vec::new();
    let t = Instant::now();
    let mut buf = vec![0u8; 65536];
    while t.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = journal.recv(&mut buf) {
            let e = parse_entry(&buf[..n]);
            let done = e["MESSAGE"].starts_with(b"process ");
            entries.push(e);
            if done {
                break;
            }
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    drop(cmd);
    let mut stderr = String::new();
    r.read_to_string(&mut stderr).unwrap();
    let status = status.unwrap_or_else(|| panic!("hog not killed:\n{stderr}"));
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{stderr}");

    // The stream: every earlyoom line carries its priority; warnings are warnings.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("<4>low memory! at or below SIGTERM limits")),
        "{stderr}"
    );
    // stdout (/dev/null here) is not the journal: nothing of it is touched; stderr's lines
    // that are not actions stay on the stream, with their priority.
    assert!(stderr
        .lines()
        .all(|l| l.starts_with('<') || !l.contains("low memory")));
    // The actions went to the journal as entries, not (also) down the stream.
    assert!(!stderr.contains("sending SIGTERM to process"), "{stderr}");
    assert!(!stderr.contains("exited after"), "{stderr}");

    let kill = entries
        .iter()
        .find(|e| e["MESSAGE_ID"] == b"bc25287a4ce94d53b138ae6d00ca3ab0")
        .unwrap_or_else(|| panic!("no kill entry: {entries:?}\n{stderr}"));
    let text = |k: &str| String::from_utf8_lossy(&kill[k]).into_owned();
    assert_eq!(text("EARLYOOM_PID"), hog.pid.to_string());
    assert_eq!(text("EARLYOOM_UID"), NOBODY.to_string());
    assert_eq!(text("EARLYOOM_COMM"), HOG_NAME);
    assert_eq!(text("EARLYOOM_SIGNAL"), "SIGTERM");
    assert_eq!(text("EARLYOOM_REASON"), "memory");
    assert_eq!(text("PRIORITY"), "4");
    assert_eq!(text("SYSLOG_IDENTIFIER"), "earlyoom");
    assert!(text("EARLYOOM_RSS_KIB").parse::<i64>().unwrap() > 0);
    let msg = text("MESSAGE");
    assert!(
        msg.starts_with(&format!(
            "sending SIGTERM to process {} uid {NOBODY} \"{HOG_NAME}\": oom_score ",
            hog.pid
        )),
        "{msg}"
    );
    assert!(!msg.ends_with('\n'));
    let exited = entries
        .iter()
        .find(|e| e["MESSAGE_ID"] == b"3f453d48ea7d4407b56a7dfceb8045f4")
        .unwrap_or_else(|| panic!("no exit entry: {entries:?}"));
    assert!(exited["MESSAGE"].starts_with(format!("process {} exited after ", hog.pid).as_bytes()));
}
