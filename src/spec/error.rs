//! Spec errors that point at the offending text.

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};
use serde_saphyr::Location;

/// The text of a spec file, shared by every error that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: Arc<str>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Byte offsets where lines start. A line ends at `\n`, `\r\n` or a lone `\r`, as in YAML.
    fn line_starts(&self) -> Vec<usize> {
        let b = self.text.as_bytes();
        let mut starts = vec![0];
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        starts
    }

    /// The largest char boundary at or before `offset`.
    fn floor(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }

    /// Byte range of a location reported by the YAML parser (at least one character wide when
    /// the text allows, always on char boundaries).
    pub fn range(&self, loc: Location) -> (usize, usize) {
        let span = loc.span();
        let start = if let Some(start) = span.byte_offset() {
            self.floor(usize::try_from(start).unwrap_or(0))
        } else {
            // Line and column (1-based, in characters).
            let line = usize::try_from(loc.line()).unwrap_or(1).max(1);
            let column = usize::try_from(loc.column()).unwrap_or(1).max(1);
            let starts = self.line_starts();
            match starts.get(line - 1) {
                Some(&s) => {
                    let rest = &self.text[s..];
                    let line_text = rest.split(['\n', '\r']).next().unwrap_or("");
                    s + line_text
                        .chars()
                        .take(column - 1)
                        .map(char::len_utf8)
                        .sum::<usize>()
                }
                None => self.floor(self.text.len().saturating_sub(1)),
            }
        };
        let len = span
            .byte_len()
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(0)
            .max(1);
        let mut end = (start + len).min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        (start, end - start)
    }

    /// 1-based (line, column in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.floor(offset);
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset);
        let start = starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

/// An error in `dataset.yaml`, with the span it is about and an optional hint.
#[derive(Debug)]
pub struct SpecError {
    pub message: String,
    pub file: Option<SourceFile>,
    pub labels: Vec<(usize, usize, String)>,
    pub help: Option<String>,
}

impl SpecError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            file: None,
            labels: Vec::new(),
            help: None,
        }
    }

    #[must_use]
    pub fn at(mut self, file: &SourceFile, loc: Location, label: impl Into<String>) -> Self {
        if loc.line() == 0 {
            self.file.get_or_insert_with(|| file.clone());
            return self;
        }
        let (start, len) = file.range(loc);
        self.file = Some(file.clone());
        self.labels.push((start, len, label.into()));
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column` of the first label, for plain-text contexts.
    pub fn position(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        let (start, _, _) = self.labels.first()?;
        let (line, col) = file.line_col(*start);
        Some(format!("{}:{line}:{col}", file.name))
    }
}

/// Lines wider than this (in columns) are not drawn by miette: it pads underlines with a
/// format width, which panics past 65,535 columns, and a snippet line that wide is unreadable
/// anyway. Such errors get [`SpecError::clipped_snippet`] instead.
pub const MAX_SNIPPET_COLUMNS: usize = 1000;

/// Characters shown on each side of a label in a clipped snippet.
const CLIP_CONTEXT: usize = 40;
/// At most this many characters of a label are underlined in a clipped snippet.
const CLIP_LABEL: usize = 60;

/// A line's width in terminal columns, counted generously (a tab as 8, anything beyond ASCII
/// as 2) so that a line under [`MAX_SNIPPET_COLUMNS`] surely fits.
fn columns(line: &str) -> usize {
    line.chars()
        .map(|c| match c {
            '\t' => 8,
            c if c.is_ascii() => 1,
            _ => 2,
        })
        .sum()
}

impl SpecError {
    /// Whether the graphical snippet can be drawn: every line it shows (each label's lines and
    /// one line of context on either side) is at most [`MAX_SNIPPET_COLUMNS`] wide.
    pub fn snippet_fits(&self) -> bool {
        let Some(file) = &self.file else {
            return true;
        };
        let starts = file.line_starts();
        let line_text = |i: usize| -> &str {
            let s = starts[i];
            let e = starts.get(i + 1).copied().unwrap_or(file.text.len());
            &file.text[s..e]
        };
        self.labels.iter().all(|&(start, len, _)| {
            let first = starts.partition_point(|&s| s <= start).saturating_sub(1);
            let last = starts
                .partition_point(|&s| s <= start + len.saturating_sub(1))
                .saturating_sub(1);
            (first.saturating_sub(1)..=(last + 1).min(starts.len() - 1))
                .all(|i| columns(line_text(i)) <= MAX_SNIPPET_COLUMNS)
        })
    }

    /// A plain snippet for labels on very long lines: each label's line clipped to
    /// [`CLIP_CONTEXT`] characters around it, with a caret underline.
    ///
    /// ```text
    ///   --> dataset.yaml:3:70027 (line 3 is 70052 characters long)
    ///    3 | …xxxxxxxxxxxx", bogus: 1}
    ///      |                 ^^^^^ unknown key
    /// ```
    pub fn clipped_snippet(&self) -> String {
        let Some(file) = &self.file else {
            return String::new();
        };
        let starts = file.line_starts();
        let mut out = String::new();
        for (start, len, label) in &self.labels {
            let (line, col) = file.line_col(*start);
            let s = starts[line - 1];
            let masked = crate::trust::mask_url_passwords(&file.text);
            let text = masked[s..].split(['\n', '\r']).next().unwrap_or("");
            let chars: Vec<char> = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let at = (col - 1).min(chars.len());
            let label_chars = file.text[file.floor(*start)..file.floor(start + len)]
                .chars()
                .take_while(|&c| c != '\n' && c != '\r')
                .count()
                .clamp(1, CLIP_LABEL);
            let from = at.saturating_sub(CLIP_CONTEXT);
            let to = (at + label_chars + CLIP_CONTEXT).min(chars.len());
            let shown: String = chars[from..to].iter().collect();
            let (open, close) = (
                if from > 0 { "…" } else { "" },
                if to < chars.len() { "…" } else { "" },
            );
            let gutter = line.to_string().len();
            let _ = writeln!(
                out,
                "{:gutter$}--> {}:{line}:{col} (line {line} is {} characters long)",
                "",
                file.name,
                chars.len()
            );
            let _ = writeln!(out, " {line} | {open}{shown}{close}");
            let pad = open.chars().count() + at - from;
            let _ = writeln!(
                out,
                " {:gutter$} | {:pad$}{} {label}",
                "",
                "",
                "^".repeat(label_chars)
            );
        }
        out
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = crate::trust::mask_url_passwords(&self.message);
        match (&self.file, self.position()) {
            (_, Some(pos)) => write!(f, "{pos}: {message}"),
            (Some(file), None) => write!(f, "{}: {message}", file.name),
            (None, None) => f.write_str(&message),
        }
    }
}

impl std::error::Error for SpecError {}

impl SpecError {
    /// A miette diagnostic that renders the snippet with its labels.
    pub fn to_diagnostic(&self) -> SpecDiagnostic {
        SpecDiagnostic {
            message: self.to_string(),
            source: self.file.as_ref().map(|f| {
                NamedSource::new(
                    f.name.clone(),
                    crate::trust::mask_url_passwords(&f.text).into_owned(),
                )
                .with_language("yaml")
            }),
            labels: self
                .labels
                .iter()
                .map(|(s, l, text)| LabeledSpan::new(Some(text.clone()), *s, *l))
                .collect(),
            help: self.help.clone(),
        }
    }
}

impl SpecError {
    /// The diagnostic without its message and help: the snippet with its labels, which
    /// miette draws between the `error: …` line and the help.
    pub fn snippet_diagnostic(&self) -> SpecDiagnostic {
        SpecDiagnostic {
            message: String::new(),
            help: None,
            ..self.to_diagnostic()
        }
    }
}

/// Renderable form of a [`SpecError`].
#[derive(Debug)]
pub struct SpecDiagnostic {
    message: String,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl fmt::Display for SpecDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecDiagnostic {}

impl Diagnostic for SpecDiagnostic {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        if self.labels.is_empty() {
            return None;
        }
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// "did you mean `x`?" for a misspelled name, when one candidate is close enough.
pub fn did_you_mean<'a>(
    got: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(got, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str, start: usize, len: usize) -> SpecError {
        let mut e = SpecError::new("bad");
        e.file = Some(SourceFile::new("d.yaml", text));
        e.labels.push((start, len, "here".into()));
        e
    }

    #[test]
    fn long_lines_are_clipped_around_the_label() {
        let line = format!("a: {}\n", "x".repeat(2000));
        // Short lines are drawn by miette; a long one around the label, or next to it.
        assert!(err("a: 1\nb: 2\n", 0, 1).snippet_fits());
        assert!(!err(&line, 0, 1).snippet_fits());
        assert!(
            !err(&format!("a: 1\n{line}"), 0, 1).snippet_fits(),
            "context line"
        );
        assert!(err(&format!("a: 1\nb: 2\n{line}"), 0, 1).snippet_fits());
        // At the start, the end, and past the end (an error at the end of input).
        let s = err(&line, 0, 1).clipped_snippet();
        assert!(s.contains(" 1 | a: xxx"), "{s}");
        assert!(s.contains("   | ^ here"), "{s}");
        let s = err(&line, line.len() - 2, 1).clipped_snippet();
        assert!(s.contains("(line 1 is 2003 characters long)"), "{s}");
        assert!(
            s.ends_with(&format!("x\n   | {}^ here\n", " ".repeat(41))),
            "the caret under the last character, after `…` and 40 of context: {s:?}"
        );
        let s = err(&line, line.len(), 0).clipped_snippet();
        assert!(s.contains("--> d.yaml:2:1"), "{s}");
        // A label spanning lines is underlined on its first line only.
        let two = format!("{line}{line}");
        let s = err(&two, 1000, 2000).clipped_snippet();
        assert!(s.contains(&format!("{} here", "^".repeat(60))), "{s}");
    }
}
