//! The memory.high livelock guard (not in earlyoom; the incident it exists for:
//! docs/incident.md): a pure detector and the watcher that feeds it.

pub mod detect;
pub mod watch;

pub use detect::*;
pub use watch::*;
