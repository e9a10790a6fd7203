//! `--json`: one event per line on stdout.

use std::io::Write;

use super::events::{Event, Reporter};

pub struct JsonReporter;

impl Reporter for JsonReporter {
    fn event(&self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
