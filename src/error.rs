//! The top-level error, its exit code and its rendering (`error: …`, then `hint: …`).
//!
//! Exit codes (docs/cli.md): 0 success; 1 a stage failed, or verification found a mismatch;
//! 2 bad input (spec, lockfile, arguments); 3 `--locked` and the lock would change.

use std::fmt::Write as _;
use std::io::IsTerminal;

use crate::spec::SpecError;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_LOCKED: u8 = 3;

#[derive(Debug)]
pub struct Error {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
    pub spec: Option<Box<SpecError>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input from the user: exit code 2.
    pub fn user(message: impl Into<String>) -> Self {
        Error {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
            spec: None,
        }
    }
    /// The work failed (a stage, a verification): exit code 1.
    pub fn failure(message: impl Into<String>) -> Self {
        Error {
            code: EXIT_FAILURE,
            message: message.into(),
            hint: None,
            spec: None,
        }
    }
    /// `--locked` and the lockfile would change: exit code 3.
    pub fn locked(message: impl Into<String>) -> Self {
        Error {
            code: EXIT_LOCKED,
            message: message.into(),
            hint: None,
            spec: None,
        }
    }
    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The error as text for a terminal (or a log, when stderr is not a terminal).
    pub fn render(&self) -> String {
        if let Some(spec) = &self.spec
            && !spec.labels.is_empty()
            && !spec.snippet_fits()
        {
            // A line too wide to draw (miette panics past 65,535 columns): a clipped excerpt.
            let mut out = format!("error: {spec}\n{}", spec.clipped_snippet());
            if let Some(h) = &self.hint {
                let _ = write!(out, "\nhint: {h}\n");
            }
            return out;
        }
        if let Some(spec) = &self.spec
            && !spec.labels.is_empty()
        {
            let theme = if color_enabled() {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            };
            let handler = miette::GraphicalReportHandler::new_themed(theme)
                .with_context_lines(1)
                .with_width(100);
            let mut out = String::new();
            if handler
                .render_report(&mut out, &spec.to_diagnostic())
                .is_ok()
            {
                // miette's first line(s) repeat the message: keep from the snippet on.
                let snippet = out
                    .find('╭')
                    .and_then(|i| out[..i].rfind('\n'))
                    .map_or(out.as_str(), |i| &out[i + 1..]);
                return format!("error: {spec}\n{snippet}");
            }
        }
        let mut out = format!("error: {}\n", self.message);
        if let Some(h) = &self.hint {
            let _ = write!(out, "\nhint: {h}\n");
        }
        out
    }
}

impl From<SpecError> for Error {
    fn from(e: SpecError) -> Self {
        Error {
            code: EXIT_USAGE,
            message: e.to_string(),
            hint: e.help.clone(),
            spec: Some(Box::new(e)),
        }
    }
}

impl From<crate::lockfile::LockError> for Error {
    fn from(e: crate::lockfile::LockError) -> Self {
        let hint = e.hint();
        Error {
            code: EXIT_USAGE,
            message: e.to_string(),
            hint,
            spec: None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::failure(e.to_string())
    }
}

/// Color on stderr: a terminal, and neither `NO_COLOR` nor `CLICOLOR=0`.
pub fn color_enabled() -> bool {
    color_allowed() && std::io::stderr().is_terminal()
}

/// Color on stdout, by the same rules.
pub fn stdout_color_enabled() -> bool {
    color_allowed() && std::io::stdout().is_terminal()
}

fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("CLICOLOR").map_or(true, |v| v != "0")
}
