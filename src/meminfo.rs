//! /proc/meminfo: a pure parser from bytes and a reader that keeps the file open (docs/contract.md §4.1).
//!
//! earlyoom keeps /proc/meminfo open and re-reads it every poll (meminfo.c:71-94); we do the
//! same with one `pread` at offset 0 into a fixed buffer, so a poll allocates nothing and
//! opens nothing (an OOM killer must work when the fd table or memory is exhausted).

use crate::cfmt::pct;
use crate::sys::{self, CPath, Errno};
use crate::Fatal;
use rustix::fd::{AsFd, OwnedFd};
use std::fmt;

/// One sample of /proc/meminfo, values in KiB, with earlyoom's derived figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemInfo {
    pub mem_total_kib: i64,
    pub mem_available_kib: i64,
    pub anon_pages_kib: i64,
    pub swap_total_kib: i64,
    pub swap_free_kib: i64,
    /// "user mem total" (earlyoom v1.8+): MemAvailable + AnonPages, the memory processes can
    /// use; it shrinks as tmpfs/shm fills, and is recomputed every poll.
    pub user_mem_total_kib: i64,
    pub mem_available_percent: f64,
    /// 0 when there is no swap: "If you have no swap, it is considered as 0% free swap"
    /// (earlyoom #290), so the swap condition is always met and memory alone decides.
    pub swap_free_percent: f64,
    /// MemAvailable was missing (kernel < 3.14) and was estimated.
    pub available_guessed: bool,
}

/// Why a buffer could not be parsed: earlyoom's exit 104 ("could not find entry").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// The key with its colon, as earlyoom prints it (`'SwapFree:'`).
    pub key: &'static str,
    pub errno: i32,
}

/// The first occurrence of `needle` in `hay`, as earlyoom's `strstr` finds it. memchr's
/// memmem does it in a few instructions per byte; comparing the needle at every offset (a
/// memcmp call per byte of the ~1.5 KiB file, five keys) was most of a poll's user-space time.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    // A searcher's set-up (choosing and building its SIMD tables) costs more than the search
    // itself on a 1.5 KiB file, so the searchers for earlyoom's keys are built once; any other
    // needle (tests, fuzzing) gets a fresh one.
    static KEYS: std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        KEY_NAMES
            .iter()
            .map(|k| memchr::memmem::Finder::new(k.as_bytes()))
            .collect()
    });
    match keys.iter().find(|f| f.needle() == needle) {
        Some(f) => f.find(hay),
        None => memchr::memmem::find(hay, needle),
    }
}

/// Every key earlyoom looks for (meminfo.c:51-61).
const KEY_NAMES: [&str; 9] = [
    "MemTotal:",
    "SwapTotal:",
    "AnonPages:",
    "SwapFree:",
    "MemAvailable:",
    "MemFree:",
    "Cached:",
    "Buffers:",
    "Shmem:",
];

/// earlyoom's `get_entry`: `strstr` for the key, then `strtoll` base 10 from just after it.
/// A missing key is ENODATA, an overflow ERANGE, a negative value counts as missing.
fn entry(buf: &[u8], key: &'static str) -> Result<i64, EntryError> {
    let missing = |errno| EntryError { key, errno };
    let at = find(buf, key.as_bytes()).ok_or(missing(libc::ENODATA))?;
    let mut rest = &buf[at + key.len()..];
    while let [b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let neg = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b - b'0') as i64))
            .ok_or(missing(libc::ERANGE))?;
    }
    if neg && v != 0 {
        // earlyoom's get_entry returns the negative value as an error code, and
        // get_entry_fatal prints strerror(-val).
        return Err(missing(i32::try_from(v).unwrap_or(0)));
    }
    Ok(v)
}

/// Parses a /proc/meminfo buffer. Required: MemTotal, SwapTotal, AnonPages, SwapFree; without
/// MemAvailable (kernels before 3.14) the estimate is MemFree + Cached + Buffers - Shmem, as
/// earlyoom does (meminfo.c:51-61).
pub fn parse(buf: &[u8]) -> Result<MemInfo, EntryError> {
    let mem_total_kib = entry(buf, "MemTotal:")?;
    let swap_total_kib = entry(buf, "SwapTotal:")?;
    let anon_pages_kib = entry(buf, "AnonPages:")?;
    let swap_free_kib = entry(buf, "SwapFree:")?;
    let (mem_available_kib, available_guessed) = match entry(buf, "MemAvailable:") {
        Ok(v) => (v, false),
        Err(_) => {
            let free = entry(buf, "MemFree:")?;
            let cached = entry(buf, "Cached:")?;
            let buffers = entry(buf, "Buffers:")?;
            let shmem = entry(buf, "Shmem:")?;
            let sum = free
                .checked_add(cached)
                .and_then(|s| s.checked_add(buffers))
                .ok_or(EntryError {
                    key: "MemFree:",
                    errno: libc::ERANGE,
                })?;
            (sum - shmem, true)
        }
    };
    // No kernel reports values near i64::MAX, but a corrupted or fake /proc could: an
    // overflow here would wrap to a negative total and decide SIGKILL (found by fuzzing).
    let user_mem_total_kib = mem_available_kib
        .checked_add(anon_pages_kib)
        .ok_or(EntryError {
            key: "AnonPages:",
            errno: libc::ERANGE,
        })?;
    let mem_available_percent = mem_available_kib as f64 * 100.0 / user_mem_total_kib as f64;
    let swap_free_percent = if swap_total_kib > 0 {
        swap_free_kib as f64 * 100.0 / swap_total_kib as f64
    } else {
        0.0
    };
    Ok(MemInfo {
        mem_total_kib,
        mem_available_kib,
        anon_pages_kib,
        swap_total_kib,
        swap_free_kib,
        user_mem_total_kib,
        mem_available_percent,
        swap_free_percent,
        available_guessed,
    })
}

/// The periodic report line (meminfo.c:277-286), MiB values truncated KiB/1024.
pub struct Report<'a>(pub &'a MemInfo);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        writeln!(
            f,
            "mem avail: {:5} of {:5} MiB ({}%), swap free: {:4} of {:4} MiB ({}%)",
            m.mem_available_kib / 1024,
            m.user_mem_total_kib / 1024,
            pct(m.mem_available_percent),
            m.swap_free_kib / 1024,
            m.swap_total_kib / 1024,
            pct(m.swap_free_percent)
        )
    }
}

/// Size of earlyoom's read buffer (8191 bytes read + NUL); /proc/meminfo is ~1.5 KiB.
const BUF: usize = 8192;

/// /proc/meminfo kept open and re-read in place.
pub struct Reader {
    fd: OwnedFd,
    buf: Box<[u8; BUF]>,
    warned_guess: bool,
}

impl Reader {
    /// Opens `<root>/meminfo` (exit 102 on failure, as earlyoom).
    pub fn open(proc_root: &[u8]) -> Result<Reader, Fatal> {
        let mut path = CPath::new();
        if !(path.push(proc_root) && path.push(b"/meminfo")) {
            return Err(Fatal::MeminfoOpen(Errno(libc::ENAMETOOLONG)));
        }
        let fd = sys::openat(sys::cwd(), &path, false).map_err(Fatal::MeminfoOpen)?;
        Ok(Reader {
            fd,
            buf: Box::new([0; BUF]),
            warned_guess: false,
        })
    }

    /// Re-reads and parses (exit 103 on read errors, 104 with earlyoom's buffer dump on
    /// missing entries). Allocation-free.
    pub fn read(&mut self) -> Result<MemInfo, Fatal> {
        let n = sys::pread_all(self.fd.as_fd(), &mut self.buf[..BUF - 1])
            .map_err(|e| Fatal::MeminfoRead(Some(e)))?;
        if n == 0 {
            return Err(Fatal::MeminfoRead(None));
        }
        let buf = &self.buf[..n];
        match parse(buf) {
            Ok(m) => {
                if m.available_guessed && !self.warned_guess {
                    self.warned_guess = true;
                    crate::log::plain_bytes(
                        b"Warning: Your kernel does not provide MemAvailable data (needs 3.14+)\n         Falling back to guesstimate\n",
                    );
                }
                Ok(m)
            }
            Err(e) => {
                crate::log::emit_bytes(
                    crate::log::Level::Warn,
                    b"get_entry_fatal: fatal error, dumping buffer for later diagnosis:\n",
                );
                crate::log::emit_bytes(crate::log::Level::Warn, buf);
                Err(Fatal::MeminfoEntry {
                    key: e.key,
                    errno: Errno(e.errno),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../tests/fixtures/meminfo/debian12-nosw");
    const OLD: &[u8] = include_bytes!("../tests/fixtures/meminfo/no-memavailable");

    #[test]
    fn parses_a_real_file() {
        let m = parse(REAL).unwrap();
        assert_eq!(m.mem_total_kib, 24_677_864);
        assert_eq!(m.mem_available_kib, 23_552_640);
        assert_eq!(m.anon_pages_kib, 215_664);
        assert_eq!(m.user_mem_total_kib, 23_552_640 + 215_664);
        assert_eq!(m.swap_total_kib, 0);
        assert_eq!(m.swap_free_percent, 0.0);
        assert!(!m.available_guessed);
        assert_eq!(
            Report(&m).to_string(),
            "mem avail: 23000 of 23211 MiB (99.09%), swap free:    0 of    0 MiB ( 0.00%)\n"
        );
    }

    /// `find` is `strstr` over bytes: the first match, anywhere, or none (keys are never empty).
    #[test]
    fn find_is_the_first_match() {
        let naive = |h: &[u8], n: &[u8]| h.windows(n.len()).position(|w| w == n);
        for (h, n) in [
            (&b"MemTotal: 1"[..], &b"MemTotal:"[..]),
            (b"xxMemTotal:MemTotal:", b"MemTotal:"),
            (b"SwapFree", b"SwapFree:"),
            (b"", b"A"),
            (b"aaab", b"aab"),
        ] {
            assert_eq!(find(h, n), naive(h, n), "{h:?} {n:?}");
        }
        for key in [
            "MemTotal:",
            "SwapTotal:",
            "AnonPages:",
            "SwapFree:",
            "MemAvailable:",
        ] {
            assert_eq!(
                find(REAL, key.as_bytes()),
                naive(REAL, key.as_bytes()),
                "{key}"
            );
        }
    }

    #[test]
    fn falls_back_without_memavailable() {
        let m = parse(OLD).unwrap();
        assert!(m.available_guessed);
        // MemFree + Cached + Buffers - Shmem
        assert_eq!(m.mem_available_kib, 200_000 + 300_000 + 50_000 - 25_000);
        assert_eq!(m.swap_free_percent, 50.0);
    }

    #[test]
    fn missing_and_garbage_entries() {
        let cut = &REAL[..find(REAL, b"SwapTotal:").unwrap()]; // truncated before SwapTotal
        assert_eq!(
            parse(cut).unwrap_err(),
            EntryError {
                key: "SwapTotal:",
                errno: libc::ENODATA
            }
        );
        assert_eq!(parse(b"").unwrap_err().key, "MemTotal:");
        assert_eq!(parse(b"\0\xff garbage").unwrap_err().key, "MemTotal:");
        let huge = b"MemTotal: 99999999999999999999 kB\n";
        assert_eq!(parse(huge).unwrap_err().errno, libc::ERANGE);
        // Found by fuzzing: values that overflow "user mem total" are an error, not a wrap.
        let sum = b"MemTotal: 1 kB\nSwapTotal: 0 kB\nAnonPages: 9223372036854775807 kB\nSwapFree: 0 kB\nMemAvailable: 1 kB\n";
        assert_eq!(
            parse(sum).unwrap_err(),
            EntryError {
                key: "AnonPages:",
                errno: libc::ERANGE
            }
        );
        // A negative value: earlyoom prints strerror(-value).
        assert_eq!(parse(b"MemTotal: -5 kB\n").unwrap_err().errno, 5);
        // Without MemAvailable every fallback entry becomes required.
        let no_shmem = b"MemTotal: 1 kB\nSwapTotal: 0 kB\nAnonPages: 1 kB\nSwapFree: 0 kB\nMemFree: 1 kB\nCached: 1 kB\nBuffers: 1 kB\n";
        assert_eq!(parse(no_shmem).unwrap_err().key, "Shmem:");
    }

    #[test]
    fn reader_rereads_in_place() {
        let dir = std::env::temp_dir().join(format!("eoom-meminfo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meminfo"), REAL).unwrap();
        let mut r = Reader::open(dir.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(r.read().unwrap().mem_total_kib, 24_677_864);
        std::fs::write(dir.join("meminfo"), "").unwrap();
        assert_eq!(r.read().unwrap_err(), Fatal::MeminfoRead(None));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            Reader::open(dir.as_os_str().as_encoded_bytes()),
            Err(Fatal::MeminfoOpen(Errno(libc::ENOENT)))
        ));
    }
}
