//! The top-level error, its exit code and its rendering (`error: …`, then `hint: …`).
//!
//! Exit codes (docs/cli.md): 0 success; 1 a stage failed, or verification found a mismatch;
//! 2 bad input (spec, lockfile, arguments); 3 `--locked` and the lock would change.

use std::fmt::Write as _;
use std::io::IsTerminal;

use owo_colors::OwoColorize;

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
            let mut theme = if color_enabled() {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            };
            // The `error: …` line is ours, and so is the help below (wrapped as miette wraps
            // it); miette draws the snippet between: the diagnostic it gets has no message and
            // no help, and the theme no error mark, so miette's first line is empty (drawn
            // without wrapping, which would indent it).
            let help_style = theme.styles.help;
            theme.characters.error = String::new();
            let handler = miette::GraphicalReportHandler::new_themed(theme)
                .with_context_lines(1)
                .with_width(100)
                .with_wrap_lines(false);
            let mut out = format!("error: {spec}");
            if handler
                .render_report(&mut out, &spec.snippet_diagnostic())
                .is_ok()
            {
                if let Some(help) = &spec.help {
                    let first = "  help: ".style(help_style).to_string();
                    let opts = textwrap::Options::new(98)
                        .initial_indent(&first)
                        .subsequent_indent("        ");
                    let _ = writeln!(out, "{}", textwrap::fill(help, opts));
                }
                return out;
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
