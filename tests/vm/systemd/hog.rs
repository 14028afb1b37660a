// The systemd lab's memory hog: `hog [MIB]` allocates and touches 1 MiB chunks as fast as
// it can until it holds MIB MiB (0 or no argument: forever), then sleeps holding them.
// Built statically by tests/vm/systemd-lab with plain rustc (no crates), so the guest
// needs nothing of the host's libc.
use std::time::Duration;

fn main() {
    let target: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        if target == 0 || held.len() < target {
            let mut chunk = vec![0u8; 1 << 20];
            // Touch every page so the memory is really resident (vec! of zeroes may be
            // lazily mapped); a non-zero value keeps it out of any zero-page sharing.
            for i in (0..chunk.len()).step_by(4096) {
                chunk[i] = 1;
            }
            held.push(chunk);
        } else {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}
