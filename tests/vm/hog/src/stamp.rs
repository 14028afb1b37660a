//! `stamp` mode: run the daemon under test and prefix every line it prints with the
//! CLOCK_MONOTONIC millisecond it arrived, so the scenario can measure "threshold crossed
//! -> signal sent" against the sampler and the reaper on one clock.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use crate::args::Opts;
use crate::sys;

pub fn run(o: &Opts) -> ! {
    if o.command.is_empty() {
        sys::die("stamp: missing command after --");
    }
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        sys::die("stamp: pipe failed");
    }
    // SAFETY: both descriptors were just created and are owned by these Files.
    let (reader, writer) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let writer2 = writer
        .try_clone()
        .unwrap_or_else(|e| sys::die(&format!("stamp: {e}")));
    let mut cmd = Command::new(&o.command[0]);
    cmd.args(&o.command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2));
    // The lab shell (and so this stamper) runs at oom_score_adj -1000; the daemon under
    // test must run like a normal service at 0, otherwise "the daemon is the largest
    // process" could never happen and it would inherit protection it does not have
    // in the field. Raising one's own adj needs no privilege.
    // SAFETY: between fork and exec we only use open/write/close on a static path.
    unsafe {
        cmd.pre_exec(|| {
            let fd = libc::open(c"/proc/self/oom_score_adj".as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| sys::die(&format!("stamp: cannot run {}: {e}", o.command[0])));
    // Drop our copies of the write end (held inside `cmd`) so EOF arrives when the
    // daemon (and any hook it spawned) is gone.
    drop(cmd);
    if let Some(path) = &o.pidfile {
        sys::write_pidfile(path, child.id());
    }
    if let Some(name) = &o.name {
        sys::set_comm(name);
    }
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(reader).split(b'\n') {
        let Ok(line) = line else { break };
        let _ = write!(out, "{} ", sys::now_ms());
        let _ = out.write_all(&line);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
    let status = child.wait().map_or("wait-failed".to_string(), |s| {
        s.code().map_or_else(
            || format!("signal {}", s.signal().unwrap_or(0)),
            |c| format!("exit {c}"),
        )
    });
    let _ = writeln!(out, "{} LAB-DAEMON-EXIT {status}", sys::now_ms());
    let _ = out.flush();
    std::process::exit(0);
}
