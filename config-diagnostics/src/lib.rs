//! Typed TOML loading whose errors name the file, line, column and key.
//!
//! Stack configs and the portfolio content file are both hand-edited TOML. A user who
//! mistypes a value wants every mistake at once, each pointing at the exact line — not a
//! serde error for the first one. [`TomlSource`] keeps the span of every key so that both
//! deserialization errors and later semantic checks ([`Checker`]) can point back into the file.
//!
//! What the binaries print when they stop on an error (an error's chain, clap's refusal of an
//! argument) goes through here too: in our words, and with what it quotes escaped
//! ([`error_text`], [`parse_args`]).
//!
//! TOML allows `inf` and `nan`, and a literal too large for a float reads as infinity. No
//! setting means anything by them, and every `> 0` check passes infinity, so the parse refuses
//! them at their key.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

mod plain;
mod strict;

/// One problem in one file, located as precisely as the source allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (e.g. the file cannot be read).
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
    /// Dotted key path, e.g. `lambda.memory_mb` or `alarms.sns_email`; empty for the whole file.
    pub key: String,
    pub message: String,
}

impl Diagnostic {
    /// A problem of `file` as a whole, or of `key` where the source cannot say which line.
    pub fn unlocated(file: impl Into<String>, key: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            column: 0,
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Printable(&self.file))?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", Printable(&self.key))?;
        }
        write!(f, ": {}", Printable(&plain::cut_quotes(&self.message)))
    }
}

/// Text that may quote a file's values, as printed: control characters (a newline, a NUL, a
/// terminal's escape sequence) and the marks that reorder text (a right-to-left override) are
/// written as escapes, so each problem stays on its one line, reads as written, and a value
/// cannot drive the reader's terminal.
pub struct Printable<'a>(pub &'a str);

/// Unicode's bidirectional formatting marks: invisible, they reorder the text around them.
fn reorders_text(c: char) -> bool {
    matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_printable(f, self.0, |_| false)
    }
}

/// [`Printable`] for a text of several lines (an error that quotes a tool's output): its line
/// breaks and tabs are kept, every other control character and reordering mark escaped.
pub struct PrintableLines<'a>(pub &'a str);

impl fmt::Display for PrintableLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_printable(f, self.0, |c| matches!(c, '\n' | '\t'))
    }
}

fn write_printable(f: &mut fmt::Formatter<'_>, text: &str, kept: fn(char) -> bool) -> fmt::Result {
    for c in text.chars() {
        if c.is_control() && !kept(c) {
            write!(f, "{}", c.escape_default())?;
        } else if reorders_text(c) {
            write!(f, "{}", c.escape_unicode())?;
        } else {
            fmt::Write::write_char(f, c)?;
        }
    }
    Ok(())
}

/// The command line parsed as `T` describes it, or the process ended as clap ends it. Clap
/// quotes a refused argument back as given; when an argument holds a control character (a
/// terminal's escape sequence, a line break) or a reordering mark, the error shown is the one
/// for the arguments written as [`Printable`], so it quotes them escaped instead of playing them.
pub fn parse_args<T: clap::Parser>() -> T {
    let given: Vec<std::ffi::OsString> = std::env::args_os().collect();
    T::try_parse_from(&given).unwrap_or_else(|error| {
        let printable: Vec<std::ffi::OsString> = given
            .iter()
            .map(|arg| match arg.to_str() {
                Some(text) => Printable(text).to_string().into(),
                None => arg.clone(),
            })
            .collect();
        if printable == given {
            error.exit()
        }
        match T::try_parse_from(printable) {
            Err(shown) => shown.exit(),
            // Escaping made the arguments valid: the first error's words, its sequences left out.
            Ok(_) => {
                eprint!("{}", PrintableLines(&error.render().to_string()));
                std::process::exit(error.exit_code())
            }
        }
    })
}

/// A command-line value parser for a whole number from `low` to `high`, refusing anything else
/// in our words: clap's own passes on the standard library's `invalid digit found in string`.
pub fn whole_number<T>(low: T, high: T) -> impl Fn(&str) -> Result<T, String> + Clone
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    move |value| {
        value
            .parse::<T>()
            .ok()
            .filter(|number| (low..=high).contains(number))
            .ok_or_else(|| format!("expected a whole number from {low} to {high}"))
    }
}

/// `value` as a message should quote it: as Rust prints it within the scale settings use, and
/// in exponent form beyond (`1e300`, `-1e-300`), where Rust would print hundreds of digits.
pub fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e15 || (magnitude != 0.0 && magnitude < 1e-5) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Every problem found in one run, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Machine-readable form for CI: `{"errors": [...], "count": N}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "errors": self.0, "count": self.0.len() })
    }

    fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            (a.file.as_str(), a.line, a.column).cmp(&(b.file.as_str(), b.line, b.column))
        });
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {d}")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

/// The key serde's "missing field `name`" names.
fn missing_key(serde_message: &str) -> Option<&str> {
    serde_message
        .strip_prefix("missing field `")?
        .strip_suffix('`')
}

/// A TOML file held with the byte span of every key path, so any problem can be located.
#[derive(Debug, Clone)]
pub struct TomlSource {
    label: String,
    text: String,
    /// Dotted key path → where its value is written, and what kind of value it is. Array
    /// elements are `key[i]`.
    values: BTreeMap<String, Written>,
    lines: Lines,
}

/// A value as the file writes it.
#[derive(Debug, Clone)]
struct Written {
    span: Range<usize>,
    kind: plain::Kind,
}

/// The most a configuration file may hold: far past any real stack or content file, and short
/// of exhausting memory when a path names something else (a disk image, a log).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Why `path` cannot be read whole, found before reading it: it is missing or unreadable, a
/// folder, not a regular file (reading a FIFO or a device can wait forever or never end), or
/// larger than `most_bytes` (a configuration file: [`MAX_FILE_BYTES`]).
pub fn check_readable(path: &Path, most_bytes: u64) -> std::io::Result<()> {
    let metadata = std::fs::metadata(path).map_err(|error| in_our_words(path, error))?;
    if metadata.is_dir() {
        return Err(std::io::Error::other("it is a folder"));
    }
    if !metadata.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a FIFO, socket or device)",
        ));
    }
    if metadata.len() > most_bytes {
        return Err(std::io::Error::other(format!(
            "it holds {} bytes, more than the {} allowed here",
            metadata.len(),
            mebibytes(most_bytes)
        )));
    }
    // Permissions: a regular file opens at once.
    std::fs::File::open(path)
        .map(drop)
        .map_err(|error| in_our_words(path, error))
}

/// Why `path` could not be opened, in our words: a link that leads nowhere says where it leads,
/// and the OS's error number is left off.
fn in_our_words(path: &Path, error: std::io::Error) -> std::io::Error {
    let kind = error.kind();
    let why = match (kind, std::fs::read_link(path)) {
        (std::io::ErrorKind::NotFound, Ok(target)) => {
            format!("it is a link to {}, which is not there", target.display())
        }
        (std::io::ErrorKind::NotFound, Err(_)) => "there is no such file".to_string(),
        (std::io::ErrorKind::PermissionDenied, _) => "permission denied".to_string(),
        _ => os_error_text(&error),
    };
    std::io::Error::new(kind, why)
}

/// An error and its causes as anyhow's `{:#}` prints them (`context: cause: …`), with each OS
/// error in our words and as [`PrintableLines`]: what a command or server prints when it stops
/// on an error (which may quote a path or a value as given).
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |link| link.source())
        .map(cause_text)
        .collect::<Vec<_>>()
        .join(": ")
}

/// One link of an error's chain, as [`PrintableLines`]: an error from the OS as
/// [`os_error_text`] tells it, anything else as it prints (an `io::Error` a library made up
/// keeps its words, `TLS …` included).
pub fn cause_text(link: &(dyn std::error::Error + 'static)) -> String {
    let text = match link.downcast_ref::<std::io::Error>() {
        Some(os) if os.raw_os_error().is_some() => os_error_text(os),
        _ => link.to_string(),
    };
    PrintableLines(&text).to_string()
}

/// The OS's text for `error` in our words: lowercased, without its error number
/// (`Not a directory (os error 20)` → `not a directory`).
pub fn os_error_text(error: &std::io::Error) -> String {
    let text = error.to_string();
    let text = text
        .rfind(" (os error ")
        .map_or(&text[..], |at| &text[..at]);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
}

impl TomlSource {
    /// Reads and parses `path`; the label in diagnostics is the path as given.
    pub fn read(path: &Path) -> Result<Self, Diagnostics> {
        let label = path.display().to_string();
        let unreadable = |why: std::io::Error| {
            Diagnostics(vec![Diagnostic::unlocated(
                label.clone(),
                "",
                format!("cannot read file: {why}"),
            )])
        };
        check_readable(path, MAX_FILE_BYTES).map_err(unreadable)?;
        let bytes = std::fs::read(path).map_err(unreadable)?;
        match String::from_utf8(bytes) {
            Ok(text) => Self::parse(label, text),
            Err(error) => Err(Diagnostics(vec![not_utf8(label, &error)])),
        }
    }

    /// Parses `text`, labelling diagnostics with `label`. Syntax errors are reported all at once.
    pub fn parse(label: impl Into<String>, text: impl Into<String>) -> Result<Self, Diagnostics> {
        let label = label.into();
        let text = text.into();
        let lines = Lines::of(&text);
        let (table, errors) = DeTable::parse_recoverable(&text);
        let mut walk = Walk::default();
        walk.table(table.get_ref(), "");
        if !errors.is_empty() {
            let keys = KeysAsWritten::of(&text, &lines, &walk.values);
            let unclosed = Unclosed::find(&text, &errors, &walk.values);
            let diags = errors
                .iter()
                .filter(|e| {
                    // What toml found inside a value never closed is that value's one problem.
                    e.span()
                        .is_none_or(|span| !unclosed.iter().any(|u| u.swallowed(span.start)))
                })
                .map(|e| {
                    let span = e.span();
                    let (line, column) = span
                        .as_ref()
                        .map(|s| lines.line_col(&text, s.start))
                        .unwrap_or((0, 0));
                    let message = first_line(e.message());
                    let (key, message) = match span {
                        Some(span) if message == "duplicate key" => {
                            let key = keys.key_at(&text, &lines, &span);
                            let message = match keys.first_set(&key, span.start, &walk.values) {
                                Some(first) => {
                                    format!(
                                        "set twice: first at line {}",
                                        lines.line_col(&text, first).0
                                    )
                                }
                                None => "set twice".to_string(),
                            };
                            (key, message)
                        }
                        // Named by the key its line sets, when the line sets one.
                        _ => {
                            let key = span
                                .and_then(|span| keys.on_line_of(&lines, span.start))
                                .unwrap_or_default();
                            (key.to_string(), format!("invalid TOML: {message}"))
                        }
                    };
                    Diagnostic {
                        file: label.clone(),
                        line,
                        column,
                        key,
                        message,
                    }
                })
                .chain(unclosed.iter().map(|u| {
                    let (line, column) = lines.line_col(&text, u.span.start);
                    Diagnostic {
                        file: label.clone(),
                        line,
                        column,
                        message: format!(
                            "invalid TOML: this {} is never closed, so the rest of the file was \
                             read into it: add `{}` where it ends",
                            u.kind.what, u.kind.closer
                        ),
                        key: u.path.clone(),
                    }
                }))
                .collect();
            return Err(Diagnostics(diags).sorted());
        }
        if !walk.refused.is_empty() {
            let diags = walk
                .refused
                .into_iter()
                .map(|(key, span, message)| {
                    let (line, column) = lines.line_col(&text, span.start);
                    Diagnostic {
                        file: label.clone(),
                        line,
                        column,
                        key,
                        message,
                    }
                })
                .collect();
            return Err(Diagnostics(diags).sorted());
        }
        Ok(Self {
            label,
            text,
            values: walk.values,
            lines,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserializes into `T`. A type error points at the offending key and says what the key
    /// takes in words, not Rust's (`u32`, `struct Lambda`). A struct is read from a table
    /// only, never from an array by position.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Diagnostics> {
        toml::de::Deserializer::parse(&self.text)
            .and_then(|document| T::deserialize(strict::Strict(document)))
            .map_err(|e| {
                let span = e.span();
                let message = first_line(e.message());
                if let (Some(name), Some(s)) = (missing_key(message), span.as_ref()) {
                    return Diagnostics(vec![self.missing(s, name)]);
                }
                let mut key = span
                    .as_ref()
                    .and_then(|s| {
                        self.unknown_key(s, message)
                            .or_else(|| self.innermost_key(s))
                    })
                    .unwrap_or_default();
                // `[[name]]` starts where its first table does: the array is what was wrong.
                if message.starts_with("invalid type: sequence") {
                    while self.values.get(&key).map(|v| v.kind) != Some(plain::Kind::Array) {
                        let Some(parent) = key.strip_suffix(']').and_then(|k| k.rsplit_once('['))
                        else {
                            break;
                        };
                        key = parent.0.to_string();
                    }
                }
                let (line, column) = span
                    .map(|s| self.lines.line_col(&self.text, s.start))
                    .unwrap_or((0, 0));
                let written = self
                    .values
                    .get(&key)
                    .map(|value| value.kind.describe(&self.text[value.span.clone()]));
                Diagnostics(vec![Diagnostic {
                    file: self.label.clone(),
                    line,
                    column,
                    key,
                    message: plain::message(message, written.as_deref()),
                }])
            })
    }

    /// Key `name`, missing from the table serde read at `span` (its header, or the value of an
    /// inline table; nothing for the file's top level), named with its whole path at that line.
    fn missing(&self, span: &Range<usize>, name: &str) -> Diagnostic {
        let table = self
            .values
            .iter()
            .filter(|(_, value)| value.span == *span)
            .map(|(path, _)| path)
            .max_by_key(|path| path.len());
        let (line, column) = match table {
            Some(_) => self.lines.line_col(&self.text, span.start),
            None => (1, 1),
        };
        Diagnostic {
            file: self.label.clone(),
            line,
            column,
            key: under(table.map_or("", String::as_str), name),
            message: "required, and not set here".into(),
        }
    }

    /// For "unknown field `name`" at `span` (where the key is written), the path of that key.
    fn unknown_key(&self, span: &Range<usize>, message: &str) -> Option<String> {
        let name = message.strip_prefix("unknown field `")?.split('`').next()?;
        let line_end = self.text[span.start..]
            .find('\n')
            .map_or(self.text.len(), |at| span.start + at);
        self.values
            .iter()
            .filter(|(path, value)| {
                (path.as_str() == name || path.ends_with(&format!(".{name}")))
                    && (span.start..=line_end).contains(&value.span.start)
            })
            .min_by_key(|(_, value)| value.span.start)
            .map(|(path, _)| path.clone())
    }

    /// True when the file sets `key` explicitly (as opposed to a default filling it in).
    pub fn has_key(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// A diagnostic at `key`, or at its nearest parent present in the file, or at the top.
    pub fn diagnostic(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        let (line, column) = self
            .locate(key)
            .map(|s| self.lines.line_col(&self.text, s.start))
            .unwrap_or((0, 0));
        Diagnostic {
            file: self.label.clone(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn locate(&self, key: &str) -> Option<Range<usize>> {
        let mut probe = key;
        loop {
            if let Some(value) = self.values.get(probe) {
                return Some(value.span.clone());
            }
            let cut = probe.rfind(['.', '['])?;
            probe = &probe[..cut];
        }
    }

    fn innermost_key(&self, span: &Range<usize>) -> Option<String> {
        self.values
            .iter()
            .map(|(k, v)| (k, &v.span))
            .filter(|(_, s)| s.start <= span.start && span.start <= s.end)
            .max_by_key(|(_, s)| (s.start, std::cmp::Reverse(s.end)))
            .map(|(k, _)| k.clone())
    }
}

/// Collects semantic errors against a [`TomlSource`] so all of them are reported together.
pub struct Checker<'a> {
    source: &'a TomlSource,
    found: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    pub fn new(source: &'a TomlSource) -> Self {
        Self {
            source,
            found: Vec::new(),
        }
    }

    /// Records `message` at `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.error(key, message());
        }
    }

    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.found.push(self.source.diagnostic(key, message));
    }

    pub fn source(&self) -> &TomlSource {
        self.source
    }

    /// `Ok(())` when nothing was recorded, otherwise every error sorted by position.
    pub fn finish(self) -> Result<(), Diagnostics> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(self.found).sorted())
        }
    }
}

/// The keys a file writes, line by line, duplicates included: where the parsed document cannot
/// say which table a key set twice is under, or where it was set first (it keeps one setting).
struct KeysAsWritten {
    /// In the order written.
    headers: Vec<Header>,
    /// Inline tables (`{ … }`, one line each) by the line they are on, with their paths.
    inline_tables: BTreeMap<usize, Vec<(Range<usize>, String)>>,
    /// Each key path (a table's from its header, a value's from its `key =` line) → where the
    /// file first sets it.
    first_set: BTreeMap<String, usize>,
    /// The key path each such line sets, by where the line begins: what a syntax error there
    /// is reported at.
    on_line: BTreeMap<usize, String>,
}

/// A value that opens and is never closed (an array, an inline table, a multi-line string):
/// toml reads the rest of the file into it and reports every line after it, while what needs
/// mending is where it opens.
struct Unclosed {
    path: String,
    span: Range<usize>,
    kind: &'static OpenValue,
}

/// A kind of value that toml reads until its closing mark, across lines.
struct OpenValue {
    /// The start of toml's message when it reaches the end of the file still inside one.
    unclosed: &'static str,
    opener: &'static str,
    closer: &'static str,
    what: &'static str,
}

const OPEN_VALUES: [OpenValue; 4] = [
    OpenValue {
        unclosed: "unclosed array",
        opener: "[",
        closer: "]",
        what: "array",
    },
    OpenValue {
        unclosed: "unclosed inline table",
        opener: "{",
        closer: "}",
        what: "inline table",
    },
    OpenValue {
        unclosed: "invalid multi-line basic string",
        opener: "\"\"\"",
        closer: "\"\"\"",
        what: "multi-line string",
    },
    OpenValue {
        unclosed: "invalid multi-line literal string",
        opener: "'''",
        closer: "'''",
        what: "multi-line string",
    },
];

impl Unclosed {
    /// The values toml was still inside at the end of `text`: for each such error, the
    /// innermost value of its kind that ends there.
    fn find(
        text: &str,
        errors: &[toml::de::Error],
        values: &BTreeMap<String, Written>,
    ) -> Vec<Self> {
        let end = text.trim_end().len();
        let mut found: Vec<Self> = Vec::new();
        for error in errors {
            let Some(at) = error.span().map(|span| span.start).filter(|&at| at >= end) else {
                continue;
            };
            let message = error.message();
            let Some(kind) = OPEN_VALUES
                .iter()
                .find(|kind| message.starts_with(kind.unclosed))
            else {
                continue;
            };
            let innermost = values
                .iter()
                .filter(|(_, value)| value.span.end == at && value.span.start < at)
                .filter(|(_, value)| {
                    text.get(value.span.start..)
                        .is_some_and(|rest| rest.starts_with(kind.opener))
                })
                .max_by_key(|(_, value)| value.span.start);
            if let Some((path, value)) = innermost {
                found.push(Self {
                    path: path.clone(),
                    span: value.span.clone(),
                    kind,
                });
            }
        }
        // A value holding another is left out: the inner one took its closing mark.
        let spans: Vec<Range<usize>> = found.iter().map(|u| u.span.clone()).collect();
        found.retain(|outer| {
            !spans
                .iter()
                .any(|inner| inner.start > outer.span.start && inner.end <= outer.span.end)
        });
        found.sort_by_key(|u| u.span.start);
        found.dedup_by(|a, b| a.span == b.span);
        found
    }

    /// Whether a problem toml found at `at` lies inside this value.
    fn swallowed(&self, at: usize) -> bool {
        self.span.start <= at && at <= self.span.end
    }
}

/// A table header, `[name]` or `[[name]]`.
struct Header {
    /// Where its `[` is.
    at: usize,
    /// The key it names (`projects`).
    name: String,
    /// The table it opens (`projects[1]` for the second `[[projects]]`).
    path: String,
}

impl KeysAsWritten {
    /// Every line outside a value written over several lines that opens a table or sets a key.
    fn of(text: &str, lines: &Lines, values: &BTreeMap<String, Written>) -> Self {
        let mut multiline: Vec<Range<usize>> = values
            .values()
            .filter(|value| value.kind != plain::Kind::Table)
            .map(|value| value.span.clone())
            .filter(|span| text.get(span.clone()).is_some_and(|v| v.contains('\n')))
            .collect();
        multiline.sort_by_key(|span| span.start);
        // Merged (an array holds arrays), so that one search answers for any line.
        let mut within_values: Vec<Range<usize>> = Vec::with_capacity(multiline.len());
        for span in multiline {
            match within_values.last_mut() {
                Some(last) if span.start < last.end => last.end = last.end.max(span.end),
                _ => within_values.push(span),
            }
        }
        let inside_a_value = |at: usize| {
            let before = within_values.partition_point(|span| span.start < at);
            before
                .checked_sub(1)
                .is_some_and(|last| at < within_values[last].end)
        };
        let mut keys = Self {
            headers: Vec::new(),
            inline_tables: BTreeMap::new(),
            first_set: BTreeMap::new(),
            on_line: BTreeMap::new(),
        };
        for (path, value) in values {
            let inline = text
                .get(value.span.start..)
                .is_some_and(|rest| rest.starts_with('{'));
            if value.kind == plain::Kind::Table && inline {
                keys.inline_tables
                    .entry(lines.start_of_line_at(value.span.start))
                    .or_default()
                    .push((value.span.clone(), path.clone()));
            }
        }
        // The element each array of tables is on, by its name as written (`[[a]]` → `a[1]`
        // after its second header), and how many elements each array has, by its path.
        let mut elements: BTreeMap<String, String> = BTreeMap::new();
        let mut counted: BTreeMap<String, usize> = BTreeMap::new();
        let mut table = String::new();
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            let start = at;
            at += line.len();
            let written = line.trim_start();
            let begins = start + line.len() - written.len();
            if written.is_empty() || written.starts_with('#') || inside_a_value(start) {
                continue;
            }
            if let Some(opened) = written.strip_prefix('[') {
                // Up to the first `]`, so a header left open (`[[p]`) still names its table.
                let (inside, array) = match opened.strip_prefix('[') {
                    Some(rest) => (rest, true),
                    None => (opened, false),
                };
                let name = inside.split(']').next().unwrap_or_default();
                let as_written = key_path(name);
                let name = on_elements(&as_written, &elements);
                table = if array {
                    let index = counted.entry(name.clone()).or_insert(0);
                    *index += 1;
                    let element = format!("{name}[{}]", *index - 1);
                    // A new element starts its own arrays of tables.
                    let nested = format!("{as_written}.");
                    elements.retain(|array, _| !array.starts_with(&nested));
                    elements.insert(as_written, element.clone());
                    element
                } else {
                    name.clone()
                };
                keys.first_set.entry(table.clone()).or_insert(begins);
                keys.on_line.insert(start, table.clone());
                keys.headers.push(Header {
                    at: begins,
                    name,
                    path: table.clone(),
                });
            } else if let Some(key) = written
                .split_once('=')
                .and_then(|(key, _)| key_as_written(key))
            {
                let path = under(&table, &key);
                keys.first_set.entry(path.clone()).or_insert(begins);
                keys.on_line.insert(start, path);
            }
        }
        keys
    }

    /// The key set on the line holding `at`, if that line sets one.
    fn on_line_of(&self, lines: &Lines, at: usize) -> Option<&str> {
        self.on_line
            .get(&lines.start_of_line_at(at))
            .map(String::as_str)
    }

    /// Where `key`, set again at `again`, was set first.
    fn first_set(
        &self,
        key: &str,
        again: usize,
        values: &BTreeMap<String, Written>,
    ) -> Option<usize> {
        let as_written = self.first_set.get(key).copied();
        let in_document = values.get(key).map(|value| value.span.start);
        as_written
            .into_iter()
            .chain(in_document)
            .filter(|&at| at < again)
            .min()
    }

    /// The path of the key written at `span`: a table header's own, or the key under the
    /// inline table or header it is written in.
    fn key_at(&self, text: &str, lines: &Lines, span: &Range<usize>) -> String {
        let line_start = lines.start_of_line_at(span.start);
        let header_here = self
            .headers
            .get(self.headers.partition_point(|h| h.at < line_start))
            .filter(|h| {
                h.at <= span.start
                    && text
                        .get(line_start..h.at)
                        .is_some_and(|gap| gap.trim().is_empty())
            });
        // A header is refused for the key it names, set before as something else.
        if let Some(header) = header_here {
            return header.name.clone();
        }
        let inline_table = self
            .inline_tables
            .get(&line_start)
            .into_iter()
            .flatten()
            .filter(|(table, _)| table.start < span.start && span.end <= table.end)
            .max_by_key(|(table, _)| table.start)
            .map(|(_, path)| path.clone());
        let table = inline_table.or_else(|| {
            let before = self.headers.partition_point(|h| h.at < span.start);
            before
                .checked_sub(1)
                .map(|last| self.headers[last].path.clone())
        });
        let written = text.get(span.clone()).unwrap_or_default();
        under(&table.unwrap_or_default(), &key_path(written))
    }
}

/// Header name `a.b.c` (as written) as the path it opens: each array of tables it is under
/// (`[[a]]`) on its current element (`a[1].b.c`).
fn on_elements(as_written: &str, elements: &BTreeMap<String, String>) -> String {
    let mut prefix = String::new();
    let mut path = String::new();
    for segment in as_written.split('.') {
        prefix = under(&prefix, segment);
        path = match elements.get(&prefix) {
            Some(element) if prefix != as_written => element.clone(),
            _ => under(&path, segment),
        };
    }
    path
}

/// `key` under `table` (the file's top level when empty).
fn under(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

/// The text before a line's first `=` as a key path, when it reads as one: not empty, and not
/// cut inside a quoted key that holds an `=`.
fn key_as_written(before_equals: &str) -> Option<String> {
    let closed = |quote: char| before_equals.matches(quote).count().is_multiple_of(2);
    let quotes_closed = closed('"') && closed('\'');
    let path = key_path(before_equals);
    (quotes_closed && !path.split('.').any(str::is_empty)).then_some(path)
}

/// A key as written (`a . "b"`) as a path (`a.b`).
fn key_path(written: &str) -> String {
    written
        .split('.')
        .map(|part| part.trim().trim_matches(['"', '\'']))
        .collect::<Vec<_>>()
        .join(".")
}

/// One pass over the parsed document: where every key path's value is and its kind, and the
/// floats that are not finite.
#[derive(Default)]
struct Walk {
    values: BTreeMap<String, Written>,
    /// Values no setting can mean: (key path, span, why).
    refused: Vec<(String, Range<usize>, String)>,
}

impl Walk {
    fn table(&mut self, table: &DeTable<'_>, prefix: &str) {
        for (key, value) in table.iter() {
            self.value(value, under(prefix, key.get_ref()));
        }
    }

    fn value(&mut self, value: &Spanned<DeValue<'_>>, path: String) {
        match value.get_ref() {
            DeValue::Table(t) => self.table(t, &path),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(item, format!("{path}[{i}]"));
                }
            }
            DeValue::Float(float) => {
                let literal = float.as_str();
                let finite = literal
                    .replace('_', "")
                    .parse::<f64>()
                    .is_ok_and(f64::is_finite);
                if !finite {
                    let why = format!("`{literal}` is not a finite number");
                    self.refused.push((path.clone(), value.span(), why));
                }
            }
            DeValue::String(text) => {
                if let Some(why) = hidden_character(text) {
                    self.refused.push((path.clone(), value.span(), why));
                }
            }
            _ => {}
        }
        let written = Written {
            span: value.span(),
            kind: plain::Kind::of(value.get_ref()),
        };
        self.values.insert(path, written);
    }
}

/// Why `text` cannot be a value: the first character in it that no page, log or AWS name
/// shows as written (a control character other than a line break or tab), or that makes it
/// read other than as written (a direction override; the marks and isolates that right-to-left
/// text needs are kept).
fn hidden_character(text: &str) -> Option<String> {
    let control = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
    let c = text
        .chars()
        .find(|&c| control(c) || matches!(c, '\u{202d}' | '\u{202e}'))?;
    let code = format!("U+{:04X}", u32::from(c));
    Some(if control(c) {
        format!("holds {code}, a control character; remove it")
    } else {
        format!(
            "holds {code}, an invisible override that makes the text after it read the other \
             way; remove it"
        )
    })
}

/// `16 MiB`, or the bytes when they are not whole mebibytes.
fn mebibytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// TOML is UTF-8: where the first byte that is not lies.
fn not_utf8(label: String, error: &std::string::FromUtf8Error) -> Diagnostic {
    let bytes = error.as_bytes();
    let valid = error.utf8_error().valid_up_to();
    // The prefix is valid UTF-8 by definition of `valid_up_to`.
    let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
    let (line, column) = Lines::of(before).line_col(before, valid);
    Diagnostic {
        file: label,
        line,
        column,
        key: String::new(),
        message: format!(
            "the file is not UTF-8 text: byte 0x{:02X} here (save it as UTF-8)",
            bytes[valid]
        ),
    }
}

/// Where each line of a text begins: a problem is placed by a search, not by counting the
/// lines before it, so a file with thousands of problems is not read thousands of times.
#[derive(Debug, Clone)]
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn of(text: &str) -> Self {
        let breaks = text.match_indices('\n').map(|(at, _)| at + 1);
        Self {
            starts: std::iter::once(0).chain(breaks).collect(),
        }
    }

    /// The 1-based line holding byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }

    /// Where the line holding byte `offset` begins.
    fn start_of_line_at(&self, offset: usize) -> usize {
        self.starts[self.line_at(offset).saturating_sub(1)]
    }

    /// The 1-based line and column (in characters) of byte `offset` of `text`.
    fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(text.len());
        let (line, start) = (self.line_at(offset), self.start_of_line_at(offset));
        let column = text
            .get(start..offset)
            .map_or(0, |before| before.chars().count());
        (line, column + 1)
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Demo {
        name: String,
        lambda: Lambda,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Lambda {
        memory_mb: u32,
    }

    const GOOD: &str = "name = \"x\"\n\n[lambda]\nmemory_mb = 512\n";

    #[test]
    fn a_value_quoted_in_a_problem_cannot_break_its_line_or_drive_a_terminal() {
        let problem = Diagnostic {
            file: "stacks/dev.toml".into(),
            line: 4,
            column: 10,
            key: "domain".into(),
            message: "`evil\n\u{1b}]0;owned\u{7}\0.dev` is not a DNS name".into(),
        };
        assert_eq!(
            problem.to_string(),
            "stacks/dev.toml:4:10: `domain`: `evil\\n\\u{1b}]0;owned\\u{7}\\u{0}.dev` is not a DNS name"
        );
    }

    /// A right-to-left override made a quoted value print reversed; a value of 100 000
    /// characters printed whole, burying what the problem said about it.
    #[test]
    fn a_quoted_value_reads_as_written_and_a_long_one_is_cut() {
        let problem = |message: String| Diagnostic {
            file: "portfolio.toml".into(),
            line: 3,
            column: 9,
            key: "profile.email".into(),
            message,
        };
        assert_eq!(
            problem("`\u{202e}moc.live` is not an email address".into()).to_string(),
            "portfolio.toml:3:9: `profile.email`: `\\u{202e}moc.live` is not an email address"
        );
        let long = problem(format!("`{}` is not an email address", "x".repeat(100_000)));
        assert_eq!(
            long.to_string(),
            format!(
                "portfolio.toml:3:9: `profile.email`: `{}…` is not an email address",
                "x".repeat(40)
            )
        );
        // The machine-readable form keeps the whole value.
        assert_eq!(
            long.message.len(),
            100_000 + "`` is not an email address".len()
        );
    }

    #[test]
    fn a_file_that_is_not_utf8_is_reported_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("latin1.toml");
        std::fs::write(&path, b"name = \"x\"\ncity = \"Z\xFCrich\"\n").expect("write");
        let err = TomlSource::read(&path).expect_err("not UTF-8");
        let d = &err.0[0];
        assert_eq!((d.line, d.column), (2, 10), "{d}");
        assert!(d.message.contains("not UTF-8 text: byte 0xFC"), "{d}");
    }

    #[test]
    fn what_is_not_a_regular_file_of_sane_size_is_refused_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Reading a FIFO nobody writes to would wait forever.
        let err = TomlSource::read(&fifo).expect_err("a FIFO");
        assert!(err.0[0].message.contains("not a regular file"), "{err}");
        let err = TomlSource::read(dir.path()).expect_err("a folder");
        assert!(err.0[0].message.contains("it is a folder"), "{err}");
        let huge = dir.path().join("huge.toml");
        std::fs::File::create(&huge)
            .and_then(|file| file.set_len(MAX_FILE_BYTES + 1))
            .expect("a sparse file");
        let err = TomlSource::read(&huge).expect_err("too large");
        assert!(err.0[0].message.contains("more than the 16 MiB"), "{err}");
    }

    /// A link to nowhere, or in a loop, was called missing by the CLI, and the OS's own words
    /// and error number were shown.
    #[test]
    fn a_file_that_cannot_be_reached_says_why_in_our_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let why = |name: &str| {
            let err = TomlSource::read(&dir.path().join(name)).expect_err(name);
            err.0[0].message.clone()
        };
        assert_eq!(
            why("absent.toml"),
            "cannot read file: there is no such file"
        );
        std::os::unix::fs::symlink("gone.toml", dir.path().join("dangling.toml")).expect("link");
        assert_eq!(
            why("dangling.toml"),
            "cannot read file: it is a link to gone.toml, which is not there"
        );
        std::os::unix::fs::symlink("loop.toml", dir.path().join("loop.toml")).expect("link");
        assert_eq!(
            why("loop.toml"),
            "cannot read file: too many levels of symbolic links"
        );
    }

    #[test]
    fn an_error_chain_tells_its_os_errors_in_our_words() {
        #[derive(Debug)]
        struct Context(std::io::Error);
        impl fmt::Display for Context {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot create out/prod")
            }
        }
        impl std::error::Error for Context {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let os = std::io::Error::from_raw_os_error(20);
        assert!(os.to_string().ends_with("(os error 20)"), "{os}");
        assert_eq!(
            error_text(&Context(os)),
            "cannot create out/prod: not a directory"
        );
        let made_up = std::io::Error::other("TLS handshake failed");
        assert_eq!(
            error_text(&Context(made_up)),
            "cannot create out/prod: TLS handshake failed"
        );
    }

    #[test]
    fn an_error_keeps_its_lines_but_cannot_drive_a_terminal() {
        let quoted = std::io::Error::other("cannot read /tmp/\u{1b}[2J\u{202e}x:\n  line two\tend");
        assert_eq!(
            error_text(&quoted),
            "cannot read /tmp/\\u{1b}[2J\\u{202e}x:\n  line two\tend"
        );
    }

    #[test]
    fn type_error_names_line_and_key() {
        let src = TomlSource::parse("demo.toml", GOOD.replace("512", "\"lots\"")).expect("parses");
        let err = src.deserialize::<Demo>().expect_err("type error");
        let d = &err.0[0];
        assert_eq!((d.line, d.key.as_str()), (4, "lambda.memory_mb"), "{d}");
        assert!(
            d.to_string()
                .starts_with("demo.toml:4:13: `lambda.memory_mb`:"),
            "{d}"
        );
    }

    #[test]
    fn unknown_field_is_located() {
        let src = TomlSource::parse("demo.toml", format!("{GOOD}memroy = 1\n")).expect("parses");
        let err = src.deserialize::<Demo>().expect_err("unknown field");
        assert_eq!(err.0[0].line, 5, "{err}");
        assert!(err.0[0].message.contains("memroy"), "{err}");
    }

    /// serde reads a struct from an array by position, so `lambda = [512]` passed as
    /// `[lambda] memory_mb = 512`, and `[[lambda]]` failed about its first field's type.
    #[test]
    fn a_table_given_as_an_array_is_refused_at_its_key() {
        for (text, line) in [
            ("name = \"x\"\nlambda = [512]\n", 2),
            ("name = \"x\"\n\n[[lambda]]\nmemory_mb = 512\n", 3),
        ] {
            let src = TomlSource::parse("demo.toml", text).expect("parses");
            let err = src.deserialize::<Demo>().expect_err(text);
            let d = &err.0[0];
            assert_eq!((d.line, d.key.as_str()), (line, "lambda"), "{d}");
            assert_eq!(d.message, "must be a table, not an array", "{d}");
        }
    }

    /// serde says "missing field `memory_mb`" at the table that lacks it: the key is named
    /// with its whole path, at the table's line, in the file's words.
    #[test]
    fn a_missing_key_is_named_with_its_path() {
        for (text, line, key) in [
            ("[lambda]\nmemory_mb = 512\n", 1, "name"),
            ("name = \"x\"\n", 1, "lambda"),
            ("name = \"x\"\n\n[lambda]\n", 3, "lambda.memory_mb"),
        ] {
            let src = TomlSource::parse("demo.toml", text).expect("parses");
            let err = src.deserialize::<Demo>().expect_err(text);
            let d = &err.0[0];
            assert_eq!((d.line, d.key.as_str()), (line, key), "{d}");
            assert_eq!(d.message, "required, and not set here", "{d}");
        }
    }

    #[test]
    fn a_wrong_type_is_told_in_the_files_words() {
        let src = TomlSource::parse("demo.toml", GOOD.replace("512", "512.5")).expect("parses");
        let err = src.deserialize::<Demo>().expect_err("a float");
        assert_eq!(
            err.0[0].message,
            "must be a whole number from 0 to 4294967295, not `512.5`"
        );
    }

    #[test]
    fn an_unknown_key_inside_a_table_is_named_with_its_path() {
        let src = TomlSource::parse(
            "demo.toml",
            GOOD.replace("[lambda]\n", "[lambda]\nmemroy = 1\n"),
        )
        .expect("parses");
        let err = src.deserialize::<Demo>().expect_err("unknown key");
        let d = &err.0[0];
        assert_eq!((d.line, d.key.as_str()), (4, "lambda.memroy"), "{d}");
        assert!(d.message.starts_with("unknown key `memroy`"), "{d}");
    }

    /// toml says only "duplicate key": the key is named with its whole path (a table's keys
    /// included, of a table set twice too), and the line that first set it.
    #[test]
    fn a_key_set_twice_is_named_with_the_line_that_first_set_it() {
        let table_twice = "name = \"x\"\n\n[lambda]\nmemory_mb = 1\n\n[lambda]\nmemory_mb = 2\n";
        for (text, expected) in [
            ("name = \"x\"\nname = \"y\"\n", vec![(2, "name", 1)]),
            (
                "name = \"x\"\n\n[lambda]\nmemory_mb = 1\nmemory_mb = 2\n",
                vec![(5, "lambda.memory_mb", 4)],
            ),
            (
                table_twice,
                vec![(6, "lambda", 3), (7, "lambda.memory_mb", 4)],
            ),
            (
                "[[p]]\nn = [\n[1],\n]\n[[p]]\nn = 2\nn = 3\n",
                vec![(7, "p[1].n", 6)],
            ),
            ("name = \"x\"\n[name]\n", vec![(2, "name", 1)]),
            (
                "[[a]]\n[[a.b]]\nn = 1\n[[a]]\n[[a.b]]\nn = 2\nn = 3\n",
                vec![(7, "a[1].b[0].n", 6)],
            ),
            (
                "# a comment\nname = \"\"\"\nname = 1\n\"\"\"\n\"name\" = \"y\"\n",
                vec![(5, "name", 2)],
            ),
            (
                "name = \"x\"\nlambda = { memory_mb = 1, memory_mb = 2 }\n",
                vec![(2, "lambda.memory_mb", 2)],
            ),
            (
                "[lambda]\nmemory_mb = 1\n[[lambda]]\n",
                vec![(3, "lambda", 1)],
            ),
            (
                "[lambda]\nmemory_mb = 1\n[lambda.memory_mb]\n",
                vec![(3, "lambda.memory_mb", 2)],
            ),
        ] {
            let err = TomlSource::parse("demo.toml", text).expect_err(text);
            let found: Vec<_> = err
                .0
                .iter()
                .map(|d| (d.line, d.key.as_str(), d.message.clone()))
                .collect();
            let wanted: Vec<_> = expected
                .into_iter()
                .map(|(line, key, first)| (line, key, format!("set twice: first at line {first}")))
                .collect();
            assert_eq!(found, wanted, "{err}");
        }
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let err = TomlSource::parse("bad.toml", "a = \nb = = 2\n").expect_err("syntax");
        assert!(!err.is_empty());
        assert!(err.0.iter().all(|d| d.line > 0), "{err}");
    }

    /// A syntax error names the key its line sets, under its table or array element, so the
    /// reader sees which setting to mend; a line that sets no key (or one that cannot be read
    /// as a key) gives none.
    #[test]
    fn a_syntax_error_names_the_key_its_line_sets() {
        let cases = [
            ("name = \"demo\n", 1, "name"),
            (
                "name = \"demo\"\n[lambda]\nmemory_mb = 1 2\n",
                3,
                "lambda.memory_mb",
            ),
            ("[lambda\nmemory_mb = 1\n", 1, "lambda"),
            ("[[p]\nname = 1\n", 1, "p[0]"),
            ("[[p]]\nname = \"a\"\n[[p]]\nname = 'b\n", 4, "p[1].name"),
            ("[a]\nb . \"c\" = [1, 2\n", 2, "a.b.c"),
            ("x = 1\n\"a=b\" = 1 2\n", 2, ""),
            ("x = 1\n= 1\n", 2, ""),
            ("x = 1\nx \"y\"\n", 2, ""),
        ];
        for (text, line, key) in cases {
            let err = TomlSource::parse("bad.toml", text).expect_err(text);
            let syntax = err
                .iter()
                .find(|d| d.message.starts_with("invalid TOML"))
                .unwrap_or_else(|| panic!("{text:?}: {err}"));
            assert_eq!(
                (syntax.line, syntax.key.as_str()),
                (line, key),
                "{text:?}: {err}"
            );
        }
    }

    /// An array, inline table or multi-line string left open swallowed the rest of the file:
    /// every later line was reported (63 errors for one missing `]` in a stack file), none of
    /// them at the line that needed mending.
    #[test]
    fn a_value_never_closed_is_one_error_where_it_opens() {
        let cases = [
            (
                "name = \"demo\"\n[lambda]\nmemory_mb = [1, 2\narch = \"arm64\"\n[api]\nrate = 1\n",
                vec![(3, 13, "lambda.memory_mb", "`]`")],
            ),
            (
                "name = \"demo\"\n[lambda]\nmemory_mb = {a = 1\narch = \"arm64\"\n",
                vec![(3, 13, "lambda.memory_mb", "`}`")],
            ),
            // The array is closed; the table inside it is not, and took its `]`.
            (
                "a = [\n  { b = 1 },\n  { b = 2 ,\n]\nc = 1\n",
                vec![(3, 3, "a[1]", "`}`")],
            ),
            ("x = [1, [2\ny = 3\n", vec![(1, 9, "x[1]", "`]`")]),
            (
                "name = \"\"\"abc\nx = 1\n",
                vec![(1, 8, "name", "`\"\"\"`")],
            ),
            ("name = '''abc\nx = 1\n", vec![(1, 8, "name", "`'''`")]),
            // A problem before it is still told.
            (
                "x = 1 2\ny = [1\nz = 2\n",
                vec![(1, 5, "x", "must be quoted"), (2, 5, "y", "`]`")],
            ),
        ];
        for (text, expected) in cases {
            let err = TomlSource::parse("bad.toml", text).expect_err(text);
            let found: Vec<(usize, usize, &str)> = err
                .iter()
                .map(|d| (d.line, d.column, d.key.as_str()))
                .collect();
            let wanted: Vec<(usize, usize, &str)> = expected
                .iter()
                .map(|&(line, column, key, _)| (line, column, key))
                .collect();
            assert_eq!(found, wanted, "{text:?}: {err}");
            for (diagnostic, (_, _, _, says)) in err.iter().zip(&expected) {
                assert!(diagnostic.message.contains(says), "{text:?}: {err}");
            }
        }
    }

    #[test]
    fn checker_reports_everything_sorted() {
        let src = TomlSource::parse("demo.toml", GOOD).expect("parses");
        let mut c = Checker::new(&src);
        c.check(false, "lambda.memory_mb", || "too small".into());
        c.check(false, "name", || "bad name".into());
        c.check(true, "name", || unreachable!());
        let err = c.finish().expect_err("two errors");
        assert_eq!(err.len(), 2);
        assert_eq!(err.0[0].key, "name");
        assert_eq!(err.0[1].line, 4);
        assert_eq!(err.to_json()["count"], 2);
    }

    #[test]
    fn floats_that_are_not_finite_are_refused_at_their_key() {
        for literal in ["inf", "+inf", "-inf", "nan", "-nan", "1e400", "-1_0e4_00"] {
            let text =
                format!("name = \"x\"\n\n[lambda]\nrate = {literal}\nlist = [1.5, {literal}]\n");
            let err = TomlSource::parse("demo.toml", text).expect_err(literal);
            let found: Vec<(usize, &str)> = err.iter().map(|d| (d.line, d.key.as_str())).collect();
            assert_eq!(found, [(4, "lambda.rate"), (5, "lambda.list[1]")], "{err}");
            assert!(
                err.0[0].message.contains(&literal.replace('_', "")),
                "{err}"
            );
        }
        assert!(TomlSource::parse("demo.toml", "rate = 1.5e300\nzero = -0.0\n").is_ok());
    }

    /// A NUL in a name reached the pages (as U+FFFD) and EVE's prompt; a right-to-left
    /// override made a name read backwards on the site.
    #[test]
    fn a_string_with_a_hidden_character_is_refused_at_its_key() {
        let text = concat!(
            "name = \"Al\\u0000ex\"\n",
            "[profile]\n",
            "tagline = \"\\u202Eevil\"\n",
            "paragraphs = [\"fine\", \"\\u001b[2J\"]\n",
            "about = \"\"\"\nTwo lines,\n\twith a tab.\r\n\"\"\"\n",
            "hebrew = \"שלום \\u200F(1)\"\n",
        );
        let err = TomlSource::parse("content.toml", text).expect_err("hidden characters");
        let found: Vec<(usize, &str, &str)> = err
            .iter()
            .map(|d| (d.line, d.key.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (1, "name", "holds U+0000, a control character; remove it"),
                (
                    3,
                    "profile.tagline",
                    "holds U+202E, an invisible override that makes the text after it read \
                     the other way; remove it"
                ),
                (
                    4,
                    "profile.paragraphs[1]",
                    "holds U+001B, a control character; remove it"
                ),
            ],
            "{err}"
        );
    }

    #[test]
    fn missing_key_falls_back_to_parent() {
        let src = TomlSource::parse("demo.toml", GOOD).expect("parses");
        let d = src.diagnostic("lambda.timeout_s", "required");
        assert_eq!(d.line, 3);
        assert!(!src.has_key("lambda.timeout_s"));
    }
}
