//! The `earlyoom` binary: banner, run, and earlyoom's exit codes (docs/contract.md §2.11).

use earlyoom::Fatal;
use std::process::ExitCode;

/// One place maps every fatal condition to earlyoom's documented exit status.
fn exit_code(f: &Fatal) -> u8 {
    match f {
        Fatal::ProcChdir(_) => 4,
        Fatal::ProcOpen(_) => 5,
        Fatal::Regex(_) => 6,
        Fatal::Usage | Fatal::ExtraArg(_) => 13,
        Fatal::Interval(_) => 14,
        Fatal::MemThreshold { .. } => 15,
        Fatal::SwapThreshold { .. } => 16,
        Fatal::MeminfoOpen(_) => 102,
        Fatal::MeminfoRead(_) => 103,
        Fatal::MeminfoEntry { .. } => 104,
        // Ours, for options earlyoom does not have; 17 is unused by earlyoom.
        Fatal::Option { .. } => 17,
    }
}

fn main() -> ExitCode {
    // Scripts and earlyoom's own test suite match "earlyoom v" on stderr, first thing.
    earlyoom::plain!("earlyoom v{}\n", env!("CARGO_PKG_VERSION"));
    let args: Vec<_> = std::env::args_os().collect();
    match earlyoom::startup::main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(msg) = f.message() {
                earlyoom::log::emit_bytes(earlyoom::log::Level::Fatal, &msg);
            }
            ExitCode::from(exit_code(&f))
        }
    }
}
