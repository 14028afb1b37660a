//! Which earlyoom options to evaluate, and the daemon's own parser applied to them.
//!
//! Options given after the command win; otherwise the `EARLYOOM_ARGS` line of the service's
//! environment file (/etc/default/earlyoom) is read and split the way systemd expands
//! `ExecStart=.../earlyoom $EARLYOOM_ARGS`: the file's value unquoted as systemd's
//! EnvironmentFile= reader does, then split at whitespace with quotes removed and backslashes
//! consumed (docs/contract.md §7.1); without either, earlyoom's built-in defaults apply.

use crate::host::Host;
use crate::CtlError;
use earlyoom::cli::{self, Config, Event, Parsed, Totals};
use earlyoom::meminfo::MemInfo;
use earlyoom::settings::Settings;
use serde::Serialize;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Where the evaluated options came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Given on earlyoomctl's command line.
    CommandLine,
    /// The EARLYOOM_ARGS line of this file.
    DefaultFile(PathBuf),
    /// earlyoom's defaults: the file is missing or sets no EARLYOOM_ARGS (the reason).
    Builtin(String),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::CommandLine => "the command line".into(),
            Source::DefaultFile(p) => format!("EARLYOOM_ARGS in {}", p.display()),
            Source::Builtin(why) => format!("earlyoom's defaults ({why})"),
        }
    }
    pub fn key(&self) -> &'static str {
        match self {
            Source::CommandLine => "command-line",
            Source::DefaultFile(_) => "default-file",
            Source::Builtin(_) => "builtin-defaults",
        }
    }
}

/// The options the commands evaluate, parsed by the daemon's parser.
pub struct Effective {
    pub source: Source,
    pub args: Vec<OsString>,
    pub cfg: Config,
    /// earlyoom's own parse-time warnings (e.g. "SIGTERM value ... is below SIGKILL value").
    pub warnings: Vec<String>,
    /// The /proc/meminfo sample whose totals the parse used (-M/-S limits).
    pub mem: MemInfo,
}

impl Effective {
    pub fn args_text(&self) -> String {
        shell_join(&self.args)
    }

    /// The lines every human output starts with: the options (wrapped at 100 columns), their
    /// source, and earlyoom's own parse-time warnings.
    pub fn header(&self) -> String {
        let args = self.args_text();
        let mut o = format!(
            "earlyoom options: {}\n  from {}\n",
            crate::units::wrap(if args.is_empty() { "(none)" } else { &args }, 18, 100),
            self.source.describe()
        );
        for w in &self.warnings {
            o.push_str(&format!("  earlyoom warns: {w}\n"));
        }
        o
    }

    pub fn to_json(&self) -> OptionsJson {
        OptionsJson {
            source: self.source.key(),
            description: self.source.describe(),
            args: self.args.iter().map(lossy).collect(),
            file: match &self.source {
                Source::DefaultFile(p) => Some(p.display().to_string()),
                _ => None,
            },
        }
    }
}

/// The `options` object every `--json` output has.
#[derive(Serialize)]
pub struct OptionsJson {
    source: &'static str,
    description: String,
    args: Vec<String>,
    /// Only when the options came from the default file.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

/// What the daemon would run with under `cfg` (its own [`Settings::new`]); Err is a pattern
/// that does not compile, which makes earlyoom exit 6.
pub fn settings(cfg: &Config) -> Result<Settings, String> {
    Settings::new(cfg)
        .map(|(s, _notices)| s)
        .map_err(|f| match f {
            earlyoom::Fatal::Regex(p) => format!(
                "could not compile regexp '{}' (earlyoom exits 6)",
                String::from_utf8_lossy(&p)
            ),
            other => crate::host::fatal_text(&other),
        })
}

/// The daemon's settings for what `status` and audit's threshold checks report, which must
/// exist for any options the parser accepts: the patterns are left out (they decide nothing
/// there, and one that does not compile is the `candidates`/`audit` error), and the guard is
/// taken as on, so that its parameters are those these options give it (status shows what
/// the guard would see, on or not; whether it is on is `cfg.livelock_guard`).
pub fn probe_settings(cfg: &Config) -> Settings {
    match Settings::new(&probe(cfg)) {
        Ok((s, _notices)) => s,
        // [`parse`] refused every option set whose settings fail but for a pattern, and
        // there is none.
        Err(f) => unreachable!("settings without patterns: {f:?}"),
    }
}

/// `cfg` without the patterns, the guard on (see [`probe_settings`]).
fn probe(cfg: &Config) -> Config {
    Config {
        prefer: None,
        avoid: None,
        ignore: None,
        livelock_guard: true,
        ..cfg.clone()
    }
}

pub fn lossy(a: &OsString) -> String {
    String::from_utf8_lossy(a.as_bytes()).into_owned()
}

/// Words joined for display, single-quoted where the shell would need it.
pub fn shell_join(args: &[OsString]) -> String {
    args.iter()
        .map(|a| {
            let s = lossy(a);
            let plain = !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.,/=:+@%".contains(&b));
            if plain {
                s
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The options from the command line if any, else from the default file.
pub fn resolve(
    default_file: &Path,
    given: Vec<OsString>,
) -> Result<(Source, Vec<OsString>), String> {
    if !given.is_empty() {
        return Ok((Source::CommandLine, given));
    }
    let shown = default_file.display();
    match std::fs::read(default_file) {
        Ok(text) => match env_file_value(&text, b"EARLYOOM_ARGS") {
            Some(v) => Ok((
                Source::DefaultFile(default_file.to_path_buf()),
                split_like_systemd(&v),
            )),
            None => Ok((
                Source::Builtin(format!("{shown} sets no EARLYOOM_ARGS")),
                vec![],
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((Source::Builtin(format!("no {shown}")), vec![]))
        }
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// Runs the daemon's parser over `args` (argv\[0\] = "earlyoom"). Err carries what earlyoom
/// would print before exiting (glibc's diagnostic and/or `fatal: ...`).
pub fn parse(args: &[OsString], totals: Totals) -> Result<(Config, Vec<String>), String> {
    let mut argv: Vec<OsString> = vec!["earlyoom".into()];
    argv.extend(args.iter().cloned());
    let r = cli::parse(&argv, totals, false);
    let mut warnings = Vec::new();
    let mut printed = String::new();
    for e in &r.events {
        match e {
            Event::Warn(b) => {
                let s = String::from_utf8_lossy(b).trim_end().to_string();
                printed.push_str(&s);
                printed.push('\n');
                warnings.push(s);
            }
            Event::Plain(b) => printed.push_str(&String::from_utf8_lossy(b)),
            Event::Syslog => {}
        }
    }
    match r.outcome {
        Ok(Parsed::Run(c)) => {
            // What the parser lets through but the settings refuse (--warn at or below the
            // SIGTERM line, --warn-hook without --warn): earlyoom exits there too.
            if let Err(f) = Settings::new(&probe(&c)) {
                let m = f.message().unwrap_or_default();
                return Err(format!("fatal: {}", String::from_utf8_lossy(&m).trim_end()));
            }
            Ok((*c, warnings))
        }
        Ok(Parsed::Exit) => {
            Err("the options contain -h/--help or -v: earlyoom would only print and exit".into())
        }
        Err(f) => {
            // getopt's diagnostics came as events; Fatal::message() is the `fatal:` line.
            let mut msg = String::new();
            if let Some(m) = f.message() {
                msg.push_str("fatal: ");
                msg.push_str(String::from_utf8_lossy(&m).trim_end());
            } else {
                let diag: Vec<&str> = printed
                    .lines()
                    .filter(|l| l.starts_with("earlyoom: "))
                    .collect();
                msg.push_str(&diag.join("; "));
            }
            Err(msg)
        }
    }
}

pub fn totals(m: &MemInfo) -> Totals {
    Totals {
        mem_total_kib: m.mem_total_kib,
        swap_total_kib: m.swap_total_kib,
    }
}

/// Resolves and parses; an unparsable option set is a usage error when it was typed on the
/// command line and a configuration error when it came from the file.
pub fn load(host: &Host, default_file: &Path, given: Vec<OsString>) -> Result<Effective, CtlError> {
    let mem = host.meminfo()?;
    let (source, args) = resolve(default_file, given).map_err(CtlError::Config)?;
    match parse(&args, totals(&mem)) {
        Ok((cfg, warnings)) => Ok(Effective {
            source,
            args,
            cfg,
            warnings,
            mem,
        }),
        Err(msg) => {
            let text = format!("earlyoom options from {}: {msg}", source.describe());
            if source == Source::CommandLine {
                // earlyoom has no --json, and `--cgroup` alone is ambiguous to its getopt
                // (--cgroup-headroom, --cgroup-kill): both are earlyoomctl's, misplaced.
                let ours = |a: &OsString| {
                    let a = a.as_bytes();
                    a.starts_with(b"--json") || a == b"--cgroup" || a.starts_with(b"--cgroup=")
                };
                let hint = if args.iter().any(ours) {
                    " (earlyoomctl's own options such as --json and --cgroup go before the earlyoom options)"
                } else {
                    ""
                };
                Err(CtlError::Usage(format!("{text}{hint}")))
            } else {
                Err(CtlError::Config(text))
            }
        }
    }
}

/// The value of the last `KEY=...` assignment of an environment file, unquoted the way
/// systemd's EnvironmentFile= reader does (`#`/`;` comment lines, `'...'` literal, `"..."`
/// with backslash escapes of `"\`$` and line continuation, unquoted values with backslash
/// escapes and trailing blanks trimmed). An `export ` prefix (shell style) is tolerated.
pub fn env_file_value(text: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let mut found = None;
    let mut i = 0;
    let n = text.len();
    let blank = |b: u8| b == b' ' || b == b'\t';
    while i < n {
        // Start of a line.
        while i < n && (blank(text[i]) || text[i] == b'\r') {
            i += 1;
        }
        if i >= n {
            break;
        }
        if text[i] == b'#' || text[i] == b';' || text[i] == b'\n' {
            while i < n && text[i] != b'\n' {
                i += 1;
            }
            i += 1;
            continue;
        }
        let key_start = i;
        while i < n && text[i] != b'=' && text[i] != b'\n' {
            i += 1;
        }
        if i >= n || text[i] == b'\n' {
            i += 1;
            continue; // not an assignment
        }
        let mut k = text[key_start..i].trim_ascii();
        if let Some(rest) = k.strip_prefix(b"export") {
            if rest.first().is_some_and(|&b| blank(b)) {
                k = rest.trim_ascii();
            }
        }
        i += 1; // '='
        let mut value = Vec::new();
        // Pre-value, then quoted or unquoted segments until the end of the line.
        let mut last_nonblank = 0usize;
        loop {
            while i < n && blank(text[i]) && value.is_empty() {
                i += 1;
            }
            if i >= n || text[i] == b'\n' || text[i] == b'\r' {
                break;
            }
            match text[i] {
                b'\'' => {
                    i += 1;
                    while i < n && text[i] != b'\'' {
                        value.push(text[i]);
                        i += 1;
                    }
                    i += 1;
                    last_nonblank = value.len();
                    // systemd goes back to "pre-value": blanks between segments are skipped.
                    while i < n && blank(text[i]) {
                        i += 1;
                    }
                }
                b'"' => {
                    i += 1;
                    while i < n && text[i] != b'"' {
                        if text[i] == b'\\' && i + 1 < n {
                            let c = text[i + 1];
                            if c == b'\n' {
                                i += 2;
                                continue;
                            }
                            if b"\"\\`$".contains(&c) {
                                value.push(c);
                                i += 2;
                                continue;
                            }
                        }
                        value.push(text[i]);
                        i += 1;
                    }
                    i += 1;
                    last_nonblank = value.len();
                    while i < n && blank(text[i]) {
                        i += 1;
                    }
                }
                _ => {
                    while i < n && text[i] != b'\n' && text[i] != b'\r' {
                        let c = text[i];
                        if c == b'\\' && i + 1 < n {
                            if text[i + 1] != b'\n' {
                                value.push(text[i + 1]);
                                last_nonblank = value.len();
                            }
                            i += 2;
                            continue;
                        }
                        value.push(c);
                        if !blank(c) {
                            last_nonblank = value.len();
                        }
                        i += 1;
                    }
                }
            }
        }
        value.truncate(last_nonblank);
        while i < n && text[i] != b'\n' {
            i += 1;
        }
        i += 1;
        if k == key {
            found = Some(value);
        }
    }
    found
}

/// `$VAR` as a separate word of ExecStart=: split at whitespace, quotes removed, a backslash
/// takes the next byte literally, an unterminated quote runs to the end (systemd's
/// EXTRACT_UNQUOTE|EXTRACT_RELAX).
pub fn split_like_systemd(v: &[u8]) -> Vec<OsString> {
    let mut words = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < v.len() {
        let c = v[i];
        i += 1;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == b'\\' && i < v.len() => {
                cur.get_or_insert_with(Vec::new).push(v[i]);
                i += 1;
            }
            Some(_) => cur.get_or_insert_with(Vec::new).push(c),
            None => match c {
                b' ' | b'\t' | b'\n' | b'\r' => {
                    if let Some(w) = cur.take() {
                        words.push(OsString::from_vec(w));
                    }
                }
                b'\'' | b'"' => {
                    quote = Some(c);
                    cur.get_or_insert_with(Vec::new);
                }
                b'\\' if i < v.len() => {
                    cur.get_or_insert_with(Vec::new).push(v[i]);
                    i += 1;
                }
                _ => cur.get_or_insert_with(Vec::new).push(c),
            },
        }
    }
    if let Some(w) = cur {
        words.push(OsString::from_vec(w));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &str) -> Vec<String> {
        split_like_systemd(v.as_bytes())
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn env_file_values() {
        let f = b"# comment\n; also\nFOO=1\nEARLYOOM_ARGS=\"-r 3600\"\n\n#EARLYOOM_ARGS=\"-m 1\"\n";
        assert_eq!(env_file_value(f, b"EARLYOOM_ARGS").unwrap(), b"-r 3600");
        assert_eq!(env_file_value(f, b"FOO").unwrap(), b"1");
        assert_eq!(env_file_value(f, b"BAR"), None);
        // The last assignment wins; single quotes are literal; escapes in double quotes.
        let f = b"EARLYOOM_ARGS=a\nEARLYOOM_ARGS='-m 5 --avoid \"x|y\"'\n";
        assert_eq!(
            env_file_value(f, b"EARLYOOM_ARGS").unwrap(),
            b"-m 5 --avoid \"x|y\""
        );
        let f = b"EARLYOOM_ARGS=\"--avoid '(^|/)(init|X)$' -N \\\"a\\\" \\\\x \\d\"\n";
        assert_eq!(
            env_file_value(f, b"EARLYOOM_ARGS").unwrap(),
            b"--avoid '(^|/)(init|X)$' -N \"a\" \\x \\d"
        );
        // Unquoted: trailing blanks trimmed, backslash escapes, continuation lines.
        let f = b"  export EARLYOOM_ARGS = -m 5 \\\n -s 10   \n";
        assert_eq!(env_file_value(f, b"EARLYOOM_ARGS").unwrap(), b"-m 5  -s 10");
        let f = b"EARLYOOM_ARGS=\"-m 5 \\\n-s 10\"\r\n";
        assert_eq!(env_file_value(f, b"EARLYOOM_ARGS").unwrap(), b"-m 5 -s 10");
        assert_eq!(
            env_file_value(b"EARLYOOM_ARGS=", b"EARLYOOM_ARGS").unwrap(),
            b""
        );
    }

    #[test]
    fn systemd_word_splitting() {
        assert_eq!(words("-r 3600"), ["-r", "3600"]);
        assert_eq!(
            words("  -m 5,3\t--avoid '(^|/)(init|X|sshd)$' --prefer \"a b\"  "),
            [
                "-m",
                "5,3",
                "--avoid",
                "(^|/)(init|X|sshd)$",
                "--prefer",
                "a b"
            ]
        );
        assert_eq!(words(r"--avoid a\ b\\c"), ["--avoid", r"a b\c"]);
        assert_eq!(words("--avoid=''"), ["--avoid="]);
        assert_eq!(words("''"), [""]);
        assert_eq!(words("'unterminated x"), ["unterminated x"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn joins_for_display() {
        let a: Vec<OsString> = ["-m", "5,3", "--avoid", "^(sshd|x)$", "it's"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(shell_join(&a), r"-m 5,3 --avoid '^(sshd|x)$' 'it'\''s'");
    }
}
