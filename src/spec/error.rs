//! Spec errors that point at the offending text.

use std::fmt;
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

    /// Byte range of a location reported by the YAML parser (at least one character wide).
    pub fn range(&self, loc: Location) -> (usize, usize) {
        let span = loc.span();
        if let Some(start) = span.byte_offset() {
            let start = usize::try_from(start).unwrap_or(0).min(self.text.len());
            let len = usize::try_from(span.byte_len().unwrap_or(0)).unwrap_or(0);
            return (
                start,
                len.max(1).min(self.text.len().saturating_sub(start).max(1)),
            );
        }
        // Fall back to line/column (1-based, characters).
        let line = usize::try_from(loc.line()).unwrap_or(1).max(1);
        let column = usize::try_from(loc.column()).unwrap_or(1).max(1);
        let mut offset = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let col: usize = l.chars().take(column - 1).map(char::len_utf8).sum();
                return (offset + col, 1);
            }
            offset += l.len();
        }
        (self.text.len().saturating_sub(1), 1)
    }

    /// `path:line:column` of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
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

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position()) {
            (_, Some(pos)) => write!(f, "{pos}: {}", self.message),
            (Some(file), None) => write!(f, "{}: {}", file.name, self.message),
            (None, None) => f.write_str(&self.message),
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
                NamedSource::new(f.name.clone(), f.text.to_string()).with_language("yaml")
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
