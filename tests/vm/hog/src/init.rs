//! `init` mode: the guest's PID 1. Runs the scenario command, reaps every process that
//! ends up orphaned (as a real init does) and records how each one died, then powers the
//! guest off when the scenario command exits.
//!
//! Why not leave PID 1 to the busybox shell: a shell only reaps its own jobs, so the
//! children of a killed hog would linger as zombies, and `earlyoom -g` counts zombies as
//! live group members (kill(-pgid, 0) succeeds), which would turn a lab artefact into a
//! false failure. The reap log also gives the scenario the exact death signal and time of
//! every process it started in the background.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;

use crate::args::Opts;
use crate::sys;

pub fn run(o: &Opts) -> ! {
    if o.command.is_empty() {
        sys::die("init: missing command after --");
    }
    let log_path = o.log.as_deref().unwrap_or("/run/reaped.log");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| sys::die(&format!("init: cannot open {log_path}: {e}")));
    let main = match Command::new(&o.command[0]).args(&o.command[1..]).spawn() {
        Ok(c) => c.id() as i32,
        Err(e) => {
            eprintln!("hog init: cannot run {}: {e}", o.command[0]);
            power_off();
        }
    };
    loop {
        // Peek first (WNOWAIT) so the comm of the dead process can still be read from
        // /proc, then reap it for real.
        // SAFETY: siginfo is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc != 0 {
            // ECHILD cannot happen while `main` runs; anything else: try again.
            sys::sleep_ms(10);
            continue;
        }
        // SAFETY: waitid succeeded, so si_pid is set.
        let pid = unsafe { info.si_pid() };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let mut status = 0;
        // SAFETY: reaping the child we just peeked at.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let how = if libc::WIFSIGNALED(status) {
            format!("signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit {}", libc::WEXITSTATUS(status))
        };
        let _ = writeln!(log, "{} {pid} {how} {}", sys::now_ms(), comm.trim_end());
        if pid == main {
            power_off();
        }
    }
}

fn power_off() -> ! {
    // SAFETY: sync and reboot(POWER_OFF) are the normal way for PID 1 to stop the guest.
    unsafe {
        libc::sync();
        libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF);
    }
    // Only reached if reboot failed; PID 1 exiting panics the kernel, and the lab boots
    // with panic=-1 -no-reboot, so QEMU still exits.
    std::process::exit(1);
}
