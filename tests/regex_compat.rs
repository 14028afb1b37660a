//! Measured compatibility of `--prefer`/`--avoid`/`--ignore` patterns: glibc POSIX ERE versus
//! our `victim::compile`.
//!
//! earlyoom compiles these patterns with glibc `regcomp(REG_EXTENDED | REG_NOSUB)` and matches
//! them against `/proc/PID/comm` with `regexec` in the "C" locale (docs/contract.md §2.9). This test runs
//! the same table of patterns and comm-like subjects through both engines, classifies every
//! row, and pins the result so that a change on either side (a glibc upgrade, a `regex` crate
//! bump, a change to `compile`) shows up as a failure. Calling glibc's `regcomp` here is
//! test-only: the daemon itself never uses it. docs/regex-compat.md is written from the table
//! this test prints (`cargo test --test regex_compat -- --nocapture`).

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use earlyoom::victim::compile;
use std::ffi::{CStr, CString};
use std::fmt::Write as _;

/// A compiled glibc regex; owning it guarantees `regfree` runs exactly once, and only for a
/// `regcomp` that succeeded (glibc frees everything itself when `regcomp` fails).
struct PosixRegex {
    // Boxed so the address handed to regcomp stays put; glibc keeps no self-pointers, but
    // there is no reason to rely on that.
    re: Box<libc::regex_t>,
}

impl PosixRegex {
    /// Compiles as earlyoom does (main.c:395-415); `Err` carries glibc's `regerror` text.
    fn compile(pattern: &[u8]) -> Result<PosixRegex, String> {
        let c = CString::new(pattern).expect("argv patterns cannot contain NUL");
        // SAFETY: regex_t is a plain C struct of integers and pointers; all-zero is a valid
        // value, and regcomp initialises it before anything reads it.
        let mut re: Box<libc::regex_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `re` points to writable storage for a regex_t, `c` is NUL-terminated.
        let rc =
            unsafe { libc::regcomp(&mut *re, c.as_ptr(), libc::REG_EXTENDED | libc::REG_NOSUB) };
        if rc == 0 {
            return Ok(PosixRegex { re });
        }
        let mut buf = [0u8; 128];
        // SAFETY: regerror writes at most buf.len() bytes including the terminating NUL; it
        // only reads `re` for context, which is allowed after a failed regcomp.
        unsafe { libc::regerror(rc, &*re, buf.as_mut_ptr().cast(), buf.len()) };
        let msg = CStr::from_bytes_until_nul(&buf).expect("regerror terminates its message");
        Err(msg.to_string_lossy().into_owned())
    }

    /// `regexec(…, 0, NULL, 0)`: unanchored search, as earlyoom calls it (kill.c:453-476).
    fn is_match(&self, subject: &[u8]) -> bool {
        let c = CString::new(subject).expect("comm cannot contain NUL");
        // SAFETY: `self.re` was successfully compiled and not yet freed; `c` is NUL-terminated;
        // nmatch = 0 allows a null pmatch.
        let rc = unsafe { libc::regexec(&*self.re, c.as_ptr(), 0, std::ptr::null_mut(), 0) };
        match rc {
            0 => true,
            libc::REG_NOMATCH => false,
            other => panic!("regexec failed with {other}"),
        }
    }
}

impl Drop for PosixRegex {
    fn drop(&mut self) {
        // SAFETY: only successfully compiled regexes are wrapped, and drop runs once.
        unsafe { libc::regfree(&mut *self.re) };
    }
}

/// How one row's two outcomes relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Both compile and agree on every subject.
    Same,
    /// Both refuse the pattern: earlyoom and we both exit 6.
    BothReject,
    /// glibc compiles it, we exit 6: the user learns at startup.
    WeReject,
    /// We compile it, earlyoom would exit 6: harmless for a working earlyoom config.
    WeAccept,
    /// Both compile it but match differently: a silent change of victim.
    DifferentMatch,
}

impl Class {
    /// In declaration order, so that `class as usize` indexes it.
    const ALL: [Class; 5] = [
        Class::Same,
        Class::BothReject,
        Class::WeReject,
        Class::WeAccept,
        Class::DifferentMatch,
    ];

    fn name(self) -> &'static str {
        match self {
            Class::Same => "same",
            Class::BothReject => "both-reject",
            Class::WeReject => "we-reject-glibc-accepts",
            Class::WeAccept => "we-accept-glibc-rejects",
            Class::DifferentMatch => "different-match",
        }
    }

    /// The class two outcome strings imply (see `outcome`).
    fn of(glibc: &str, ours: &str) -> Class {
        match (glibc == ERR, ours == ERR) {
            (true, true) => Class::BothReject,
            (false, true) => Class::WeReject,
            (true, false) => Class::WeAccept,
            (false, false) if glibc == ours => Class::Same,
            (false, false) => Class::DifferentMatch,
        }
    }
}

/// A pattern the engines reject; otherwise an outcome is one `y`/`n` per subject.
const ERR: &str = "ERR";
/// Rows whose outcomes must be identical: real-world patterns and plain POSIX ERE syntax.
const MUST: bool = true;
/// Rows kept to document and pin behaviour, where a difference is acceptable.
const INFO: bool = false;

struct Case {
    must_agree: bool,
    pattern: &'static [u8],
    subjects: &'static [&'static [u8]],
    /// Expected outcomes, as `outcome` renders them.
    glibc: &'static str,
    ours: &'static str,
    class: Class,
}

// A macro rather than a const fn so that byte strings of different lengths coerce to slices.
macro_rules! row {
    ($must:ident, $pat:expr, [$($s:expr),* $(,)?], $glibc:expr, $ours:expr, $class:ident) => {
        Case {
            must_agree: $must,
            pattern: $pat as &[u8],
            subjects: &[$($s as &[u8]),*],
            glibc: $glibc,
            ours: $ours,
            class: Class::$class,
        }
    };
}

/// The expected table. Subjects are comm-like names (≤15 bytes, what the kernel keeps).
#[rustfmt::skip]
const CASES: &[Case] = &[
    // Real-world patterns from earlyoom's README, man page and issues.
    row!(MUST, b"(^|/)(init|X|sshd|firefox)$", [b"init", b"sshd", b"X", b"Xorg", b"sshd-session", b"firefox-esr"], "yyynnn", "yyynnn", Same),
    row!(MUST, b"(^|/)(init|systemd|Xorg|sshd)$", [b"systemd", b"systemd-journal", b"Xorg", b"sshd"], "ynyy", "ynyy", Same),
    row!(MUST, b"(^|/)(java|chromium)$", [b"java", b"chromium", b"chromium-brows", b"javac"], "yynn", "yynn", Same),
    row!(MUST, b"^(chrome|firefox|Web Content)$", [b"chrome", b"Web Content", b"Isolated Web Co", b"firefox-bin"], "yynn", "yynn", Same),
    row!(MUST, b"^(Web Content|Isolated Web Co)$", [b"Web Content", b"Isolated Web Co", b"WebExtensions"], "yyn", "yyn", Same),
    row!(MUST, b"^gnome-control-c$", [b"gnome-control-c", b"gnome-control", b"gnome-shell"], "ynn", "ynn", Same),
    row!(MUST, b"python3?", [b"python", b"python3", b"python3.11", b"pytho"], "yyyn", "yyyn", Same),
    row!(MUST, b"node|java", [b"node", b"java", b"nodejs", b"jav", b"MainThread"], "yyynn", "yyynn", Same),
    row!(MUST, b"^(dnf|yum|packagekitd)$", [b"dnf", b"packagekitd", b"dnf-automatic"], "yyn", "yyn", Same),
    // Literals and case sensitivity.
    row!(MUST, b"firefox", [b"firefox", b"firefox-esr", b"Firefox", b"xfirefox"], "yyny", "yyny", Same),
    row!(MUST, b"Firefox", [b"firefox", b"Firefox"], "ny", "ny", Same),
    row!(MUST, b"gnome-shell", [b"gnome-shell", b"gnome-shell-cal", b"gnome_shell"], "yyn", "yyn", Same),
    // Anchors.
    row!(MUST, b"^ssh", [b"sshd", b"ssh-agent", b"xssh"], "yyn", "yyn", Same),
    row!(MUST, b"sh$", [b"bash", b"sshd", b"zsh"], "yny", "yny", Same),
    row!(MUST, b"^$", [b"", b"a"], "yn", "yn", Same),
    row!(MUST, b"a^b", [b"a^b", b"ab"], "nn", "nn", Same),
    row!(MUST, b"a$b", [b"a$b", b"ab"], "nn", "nn", Same),
    // Alternation and groups.
    row!(MUST, b"sshd|cron", [b"sshd", b"crond", b"bash"], "yyn", "yyn", Same),
    row!(MUST, b"^(ab)+c$", [b"abc", b"ababc", b"ac"], "yyn", "yyn", Same),
    row!(MUST, b"^(a|b)*c$", [b"c", b"abbac", b"abd"], "yyn", "yyn", Same),
    // Bracket expressions, POSIX classes, ranges.
    row!(MUST, b"^[abc]x", [b"ax", b"cx", b"dx"], "yyn", "yyn", Same),
    row!(MUST, b"[^a-z]", [b"bash", b"Xorg", b"kworker/0:1"], "nyy", "nyy", Same),
    row!(MUST, b"^[a-c]+$", [b"abc", b"abcd"], "yn", "yn", Same),
    row!(MUST, b"[0-9]", [b"python3", b"bash"], "yn", "yn", Same),
    row!(MUST, b"[[:digit:]]", [b"python3", b"bash"], "yn", "yn", Same),
    row!(MUST, b"^[[:alpha:]]+$", [b"bash", b"python3", b"m\xc3\xbcller"], "ynn", "ynn", Same),
    row!(MUST, b"[[:upper:]]", [b"Xorg", b"xorg"], "yn", "yn", Same),
    row!(MUST, b"[[:space:]]", [b"Web Content", b"firefox"], "yn", "yn", Same),
    row!(MUST, b"^[[:alnum:]_-]+$", [b"gnome-shell", b"kworker/0:1", b"my_app"], "yny", "yny", Same),
    row!(MUST, b"^[[:punct:]]", [b"(sd-pam)", b"sd-pam"], "yn", "yn", Same),
    row!(INFO, b"[[:foo:]]", [b"foo"], ERR, "y", WeAccept),
    row!(INFO, b"[[:word:]]", [b"a", b"-"], ERR, "yn", WeAccept),
    row!(MUST, b"^[^[:space:]]+$", [b"Web Content", b"firefox"], "ny", "ny", Same),
    row!(MUST, b"[z-a]", [b"a"], ERR, ERR, BothReject),
    row!(MUST, b"^[.]$", [b".", b"a"], "yn", "yn", Same),
    row!(MUST, b"^[^0-9]+$", [b"bash", b"python3"], "yn", "yn", Same),
    row!(MUST, b"^[a-]+$", [b"a-a", b"ab"], "yn", "yn", Same),
    row!(MUST, b"[]a]", [b"]", b"a", b"b"], "yyn", "yyn", Same),
    row!(MUST, b"^[^]a]", [b"]x", b"ax", b"bx"], "nny", "nny", Same),
    row!(INFO, b"[[.a.]]", [b"a", b"."], "yn", "yy", DifferentMatch),
    row!(INFO, b"[[=a=]]", [b"a", b"="], "yn", "yy", DifferentMatch),
    row!(INFO, b"[a&&b]", [b"a", b"&", b"b"], "yyy", "nnn", DifferentMatch),
    row!(INFO, b"[ab--b]", [b"a", b"b", b"-"], ERR, "ynn", WeAccept),
    row!(INFO, b"[a~~b]", [b"a", b"~"], "yy", "yn", DifferentMatch),
    row!(INFO, b"[[]", [b"[", b"a"], "yn", ERR, WeReject),
    row!(INFO, b"[a[]", [b"[", b"a"], "yy", ERR, WeReject),
    // Any character.
    row!(MUST, b"f.x", [b"fox", b"f.x", b"fx"], "yyn", "yyn", Same),
    row!(MUST, b"^a.b$", [b"a\nb", b"axb"], "yy", "yy", Same),
    // Quantifiers.
    row!(MUST, b"^ab*c$", [b"ac", b"abbbc", b"adc"], "yyn", "yyn", Same),
    row!(MUST, b"^ab+c$", [b"ac", b"abc", b"abbc"], "nyy", "nyy", Same),
    row!(MUST, b"^ab?c$", [b"ac", b"abc", b"abbc"], "yyn", "yyn", Same),
    row!(MUST, b"^a{2}$", [b"a", b"aa", b"aaa"], "nyn", "nyn", Same),
    row!(MUST, b"^a{2,}$", [b"a", b"aa", b"aaaa"], "nyy", "nyy", Same),
    row!(MUST, b"^a{1,2}$", [b"", b"a", b"aa", b"aaa"], "nyyn", "nyyn", Same),
    row!(MUST, b"^a{0,2}$", [b"", b"a", b"aa", b"aaa"], "yyyn", "yyyn", Same),
    row!(INFO, b"^a{,2}$", [b"", b"a", b"aa", b"aaa", b"a{,2}"], "yyynn", ERR, WeReject),
    row!(INFO, b"a{,3}", [b"", b"bash"], "yy", ERR, WeReject),
    row!(INFO, b"^a{0}$", [b"", b"a"], "yn", "yn", Same),
    row!(INFO, b"^a{2}{3}$", [b"aa", b"aaaaaa"], "ny", "ny", Same),
    row!(INFO, b"a{32768}", [b"a"], ERR, "n", WeAccept),
    // Odd and nested repetition (GNU accepts several; POSIX leaves them undefined).
    row!(INFO, b"a**", [b"", b"b", b"aa"], "yyy", "yyy", Same),
    row!(INFO, b"a+*", [b"", b"b"], "yy", "yy", Same),
    row!(INFO, b"^a*+$", [b"", b"aa", b"b"], "yyn", "yyn", Same),
    row!(INFO, b"^a+?$", [b"", b"a", b"aa"], "yyy", "nyy", DifferentMatch),
    row!(INFO, b"^a*?$", [b"", b"aa", b"b"], "yyn", "yyn", Same),
    row!(INFO, b"^a??$", [b"", b"a", b"aa"], "yyn", "yyn", Same),
    row!(INFO, b"^(a*)*$", [b"", b"aaa", b"b"], "yyn", "yyn", Same),
    // Degenerate and malformed patterns.
    row!(INFO, b"", [b"", b"bash"], "yy", "yy", Same),
    row!(INFO, b"()", [b"", b"bash"], "yy", "yy", Same),
    row!(INFO, b"a|", [b"", b"bash"], "yy", "yy", Same),
    row!(INFO, b"|a", [b"", b"bash"], "yy", "yy", Same),
    row!(INFO, b"a||b", [b"c"], "y", "y", Same),
    row!(INFO, b")", [b")", b"a"], "yn", ERR, WeReject),
    row!(INFO, b"a)", [b"a)", b"a"], "yn", ERR, WeReject),
    row!(INFO, b"*a", [b"a", b"*a"], ERR, ERR, BothReject),
    row!(INFO, b"+a", [b"a", b"+a"], ERR, ERR, BothReject),
    row!(INFO, b"?a", [b"a"], ERR, ERR, BothReject),
    row!(INFO, b"^*a", [b"a", b"*a"], ERR, "yy", WeAccept),
    row!(INFO, b"a{", [b"a{"], ERR, ERR, BothReject),
    row!(INFO, b"a{1", [b"a{1"], ERR, ERR, BothReject),
    row!(INFO, b"a{x}", [b"a{x}"], ERR, ERR, BothReject),
    row!(INFO, b"{a", [b"{a"], ERR, ERR, BothReject),
    row!(INFO, b"a{2,1}", [b"aa"], ERR, ERR, BothReject),
    row!(MUST, b"[a-", [b"a"], ERR, ERR, BothReject),
    row!(MUST, b"[", [b"["], ERR, ERR, BothReject),
    row!(INFO, b"]", [b"]"], "y", "y", Same),
    row!(INFO, br"\", [b"\\"], ERR, ERR, BothReject),
    row!(MUST, b"(", [b"("], ERR, ERR, BothReject),
    row!(INFO, b"(?i)firefox", [b"Firefox", b"firefox"], ERR, "yy", WeAccept),
    // Back-references.
    row!(INFO, br"(a)\1", [b"aa", b"a"], "yn", ERR, WeReject),
    row!(INFO, br"^(.)\1", [b"ssh", b"bash"], "yn", ERR, WeReject),
    // Escapes outside brackets. The GNU operators \s \S \w \W \b \B \< \> appear in real
    // configs, so they must keep agreeing; other escaped letters are literal in glibc.
    row!(MUST, br"\s", [b"Web Content", b"firefox"], "yn", "yn", Same),
    row!(MUST, br"^\S+$", [b"Web Content", b"firefox"], "ny", "ny", Same),
    row!(MUST, br"^\w+$", [b"my_app1", b"gnome-shell", "müller".as_bytes()], "ynn", "ynn", Same),
    row!(MUST, br"\W", [b"my_app1", b"gnome-shell"], "ny", "ny", Same),
    row!(MUST, br"\bsh\b", [b"sh", b"x-sh", b"bash"], "yyn", "yyn", Same),
    row!(MUST, br"\Bsh", [b"sh", b"bash"], "ny", "ny", Same),
    row!(MUST, br"\<sh", [b"sh", b"x-sh", b"bash"], "yyn", "yyn", Same),
    row!(MUST, br"sh\>", [b"sh", b"sh-x", b"shx"], "yyn", "yyn", Same),
    row!(INFO, br"\`sh", [b"sh", b"bash"], "yn", "nn", DifferentMatch),
    row!(INFO, br"sh\'", [b"sh", b"sshd"], "yn", "nn", DifferentMatch),
    row!(INFO, br"\d", [b"python3", b"dnf", b"bash"], "nyn", "ynn", DifferentMatch),
    row!(INFO, br"\D", [b"123", b"D", b"x"], "nyn", "nyy", DifferentMatch),
    row!(INFO, br"\n", [b"n", b"bash"], "yn", "nn", DifferentMatch),
    row!(INFO, br"\t", [b"t", b"bash"], "yn", "nn", DifferentMatch),
    row!(INFO, br"\x41", [b"A", b"x41"], "ny", "yn", DifferentMatch),
    row!(INFO, br"\A", [b"A", b"bash"], "yn", "yy", DifferentMatch),
    row!(INFO, br"sh\z", [b"bash", b"shz"], "ny", "yn", DifferentMatch),
    row!(MUST, br"\.", [b"python3.11", b"bash"], "yn", "yn", Same),
    row!(MUST, br"^\(sd-pam\)$", [b"(sd-pam)", b"sd-pam"], "yn", "yn", Same),
    row!(MUST, br"\[", [b"[", b"a"], "yn", "yn", Same),
    row!(MUST, br"^a\\b$", [b"a\\b", b"ab"], "yn", "yn", Same),
    row!(INFO, br"\/", [b"kworker/0:1", b"bash"], "yn", "yn", Same),
    row!(INFO, br"\-", [b"gnome-shell", b"bash"], "yn", "yn", Same),
    // Escapes inside brackets: POSIX makes the backslash an ordinary member there.
    row!(INFO, br"[\d]", [b"3", b"d", b"\\", b"x"], "nyyn", "ynnn", DifferentMatch),
    row!(INFO, br"[\.]", [b".", b"\\", b"a"], "yyn", "ynn", DifferentMatch),
    row!(INFO, br"[\s]", [b" ", b"s", b"\\", b"a"], "nyyn", "ynnn", DifferentMatch),
    row!(INFO, br"[\n]", [b"n", b"\\", b"x"], "yyn", "nnn", DifferentMatch),
    row!(INFO, br"[\]]", [b"]", b"\\", b"\\]"], "nny", "yny", DifferentMatch),
    // Non-ASCII bytes and UTF-8 comm names.
    row!(MUST, "müller".as_bytes(), ["müller".as_bytes(), b"muller", b"M\xc3\xbcller"], "ynn", "ynn", Same),
    row!(MUST, "^m.ller$".as_bytes(), ["müller".as_bytes(), b"maller"], "ny", "ny", Same),
    row!(MUST, "^m..ller$".as_bytes(), ["müller".as_bytes(), b"maller"], "yn", "yn", Same),
    row!(MUST, "[ü]".as_bytes(), ["ü".as_bytes(), b"\xbc", b"u"], "yyn", "yyn", Same),
    row!(MUST, "🦊".as_bytes(), ["fox🦊".as_bytes(), b"fox"], "yn", "yn", Same),
    row!(MUST, "^.{4}$".as_bytes(), ["🦊".as_bytes(), b"abcd", b"abc"], "yyn", "yyn", Same),
    row!(MUST, b"\xff", [b"a\xffb", b"ab"], "yn", "yn", Same),
    row!(INFO, "\\ü".as_bytes(), ["ü".as_bytes(), "\\ü".as_bytes()], "yy", "nn", DifferentMatch),
    row!(INFO, "[\\ü]".as_bytes(), ["ü".as_bytes(), b"\\", b"x", b"3"], "yynn", "yyyy", DifferentMatch),
];

/// glibc's result for one row: `Err(message)` or one `y`/`n` per subject.
fn glibc_outcome(case: &Case) -> Result<String, String> {
    let re = PosixRegex::compile(case.pattern)?;
    Ok(case
        .subjects
        .iter()
        .map(|s| if re.is_match(s) { 'y' } else { 'n' })
        .collect())
}

/// Our result for one row, through the daemon's own `compile` and `is_match`.
fn our_outcome(case: &Case) -> Option<String> {
    let re = compile(case.pattern).ok()?;
    Some(
        case.subjects
            .iter()
            .map(|s| if re.is_match(s) { 'y' } else { 'n' })
            .collect(),
    )
}

/// Renders bytes as a Markdown code span: valid UTF-8 as text, control characters as `<0xNN>`,
/// other bytes as `\xNN`. Backslashes stay as typed so patterns read as a user would write
/// them (hence `<0x0a>` for a newline, which `\n` would make ambiguous).
fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_string();
    }
    let mut out = String::new();
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            for ch in s.chars() {
                if ch.is_control() {
                    write!(out, "<0x{:02x}>", u32::from(ch)).unwrap();
                } else if ch == '|' {
                    // Keeps the Markdown table intact.
                    out.push_str("\\|");
                } else {
                    out.push(ch);
                }
            }
        }
        Err(_) => {
            for &b in bytes {
                match b {
                    b'|' => out.push_str("\\|"),
                    0x20..=0x7e => out.push(b as char),
                    _ => write!(out, "\\x{b:02x}").unwrap(),
                }
            }
        }
    }
    // A code span containing a backtick needs a longer delimiter and padding.
    if out.contains('`') {
        format!("`` {out} ``")
    } else {
        format!("`{out}`")
    }
}

#[test]
fn glibc_ere_versus_ours() {
    // The table is only meaningful in the C locale, which is what earlyoom runs in: nothing in
    // earlyoom or in this test binary calls setlocale(LC_ALL, "").
    // SAFETY: querying with a null locale only reads; the result is a NUL-terminated string.
    let locale = unsafe { CStr::from_ptr(libc::setlocale(libc::LC_ALL, std::ptr::null())) };
    assert_eq!(locale.to_bytes(), b"C", "the test must run in the C locale");

    let mut table = String::from(
        "| # | pattern | subjects | glibc | ours | class |\n|---|---|---|---|---|---|\n",
    );
    let mut counts = [0usize; 5];
    let mut must_disagree = Vec::new();
    let mut unexpected = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        assert!(!case.subjects.is_empty(), "row {i} needs subjects");
        let glibc = glibc_outcome(case);
        let ours = our_outcome(case);
        let glibc_s = glibc.as_deref().unwrap_or(ERR);
        let ours_s = ours.as_deref().unwrap_or(ERR);
        let class = Class::of(glibc_s, ours_s);
        let glibc_shown = match &glibc {
            Ok(s) => s.clone(),
            Err(msg) => format!("{ERR} ({msg})"),
        };
        let subjects: Vec<String> = case.subjects.iter().map(|s| show(s)).collect();
        writeln!(
            table,
            "| {i} | {} | {} | {glibc_shown} | {ours_s} | {}{} |",
            show(case.pattern),
            subjects.join(" "),
            class.name(),
            if case.must_agree { " (must agree)" } else { "" },
        )
        .unwrap();
        counts[class as usize] += 1;
        if case.must_agree && glibc_s != ours_s {
            must_disagree.push(format!(
                "row {i} {}: glibc {glibc_s}, ours {ours_s}",
                show(case.pattern)
            ));
        }
        // The expected table must be self-consistent before it can be compared against.
        assert_eq!(
            Class::of(case.glibc, case.ours),
            case.class,
            "row {i}: expected class"
        );
        if (glibc_s, ours_s, class) != (case.glibc, case.ours, case.class) {
            unexpected.push(format!(
                "row {i} {}: expected glibc {} ours {} ({}), measured glibc {glibc_s} ours {ours_s} ({})",
                show(case.pattern),
                case.glibc,
                case.ours,
                case.class.name(),
                class.name(),
            ));
        }
    }
    println!("{table}");
    for (class, n) in Class::ALL.iter().zip(counts) {
        println!("{}: {n}", class.name());
    }
    println!("total: {}", CASES.len());

    assert!(
        must_disagree.is_empty(),
        "must-agree rows differ:\n{}",
        must_disagree.join("\n")
    );
    assert!(
        unexpected.is_empty(),
        "table changed:\n{}",
        unexpected.join("\n")
    );
}
