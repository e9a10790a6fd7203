//! The human reporter: status lines on stderr, a spinner per running stage on a terminal, and a
//! summary table at the end.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use super::events::{BuildSummary, Event, Reporter};
use crate::dirty::PlanAction;
use crate::error::color_enabled;

/// Files smaller than this get no bar of their own while a source downloads.
const PER_FILE_BAR_MIN: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct HumanReporter {
    verbosity: Verbosity,
    color: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl HumanReporter {
    pub fn new(verbosity: Verbosity, progress: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = (progress && tty && verbosity != Verbosity::Quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        HumanReporter {
            verbosity,
            color: color_enabled(),
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, verb: &str, rest: &str, style: Style) {
        let verb = format!("{verb:>9}");
        let verb = if self.color {
            match style {
                Style::Good => verb.green().bold().to_string(),
                Style::Info => verb.cyan().bold().to_string(),
                Style::Bad => verb.red().bold().to_string(),
                Style::Warn => verb.yellow().bold().to_string(),
                Style::Dim => verb.dimmed().to_string(),
            }
        } else {
            verb
        };
        let text = format!("{verb} {rest}");
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    /// Print a block of text (indented lines) above any progress bars.
    fn print(&self, text: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(text.trim_end());
            }
            None => {
                let _ = write!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn finish_bar(&self, name: &str) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(name)) {
            bar.finish_and_clear();
        }
    }

    /// Remove every bar whose key starts with `prefix`.
    fn finish_bars(&self, prefix: &str) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        bars.retain(|k, b| {
            let keep = !k.starts_with(prefix);
            if !keep {
                b.finish_and_clear();
            }
            keep
        });
    }

    fn summary(&self, s: &BuildSummary) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let mut out = String::new();
        if !s.stages.is_empty() {
            let w = s
                .stages
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(5)
                .max(5);
            out.push_str(&format!(
                "\n{:<w$}  {:<10} {:<9} {:>10} {:>9} {:>8}\n",
                "stage", "kind", "status", "rows", "seconds", "peak MB"
            ));
            for r in &s.stages {
                let na = |o: Option<String>| {
                    o.unwrap_or_else(|| {
                        if r.status == "failed" {
                            "n/a".into()
                        } else {
                            "-".into()
                        }
                    })
                };
                out.push_str(&format!(
                    "{:<w$}  {:<10} {:<9} {:>10} {:>9} {:>8}\n",
                    r.name,
                    r.kind,
                    r.status,
                    na(r.rows.map(|v| v.to_string())),
                    na(r.seconds.map(|v| format!("{v:.2}"))),
                    na(r.peak_rss_mb.map(|v| v.to_string())),
                ));
            }
        }
        if !s.dry_run && !s.files.is_empty() {
            out.push('\n');
            out.push_str(&super::tree::render(&s.output, &s.files, 30));
        }
        if s.dry_run {
            let n = s.stages.iter().filter(|r| r.status == "planned").count();
            out.push_str(&format!(
                "Dry run: {n} of {} stages would run or be restored; nothing was changed\n",
                s.stages.len()
            ));
        } else {
            let lock = match (s.writes_lock, s.lock_changed) {
                (false, _) => String::new(),
                (true, true) => " (lockfile updated)".into(),
                (true, false) => " (lockfile unchanged)".into(),
            };
            let verdict = if s.ok { "Built" } else { "Failed to build" };
            out.push_str(&format!(
                "{verdict} {} in {:.2}s → {}{lock}\n",
                s.dataset, s.seconds, s.output
            ));
        }
        let _ = write!(std::io::stderr().lock(), "{out}");
    }
}

#[derive(Clone, Copy)]
enum Style {
    Good,
    Info,
    Bad,
    Warn,
    Dim,
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// A count with an SI suffix: `950`, `12.3 K`, `4.41 M`.
pub(crate) fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Reporter for HumanReporter {
    fn event(&self, event: &Event) {
        let quiet = self.verbosity == Verbosity::Quiet;
        match event {
            Event::BuildStarted {
                dataset,
                version,
                nodes,
                jobs,
                dry_run,
            } if !quiet => {
                let what = if *dry_run { "Planning" } else { "Building" };
                self.line(
                    what,
                    &format!("{dataset} {version} ({nodes} stages, {jobs} jobs)"),
                    Style::Info,
                );
            }
            Event::SourceProgress {
                name,
                done,
                total,
                files_done,
                files_total,
                idle_secs,
                files,
            } => {
                let Some(m) = &self.multi else { return };
                let key = format!("fetch:{name}");
                let Ok(mut bars) = self.bars.lock() else { return };
                let bar = bars.entry(key).or_insert_with(|| {
                    let template = if *total > 0 {
                        "{prefix:>9} {msg} [{bar:24}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}"
                    } else {
                        "{prefix:>9} {msg} {spinner} {bytes} {bytes_per_sec}"
                    };
                    let b = m.add(ProgressBar::new(*total));
                    b.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    b.set_prefix("Fetching");
                    b
                });
                bar.set_position(*done);
                let stalled = if *idle_secs >= 5 {
                    format!(" (stalled {idle_secs}s)")
                } else {
                    String::new()
                };
                bar.set_message(format!("{name}: {files_done}/{files_total} files{stalled}"));
                // A bar per file downloading, under the source's, in name order, when there
                // are several (small files, which come and go within a redraw, get none).
                if *files_total > 1 {
                    let mut prev = bar.clone();
                    let prefix = format!("fetchfile:{name}:");
                    let shown: Vec<&crate::fetch::FileProgress> = files
                        .iter()
                        .filter(|f| f.total == 0 || f.total >= PER_FILE_BAR_MIN)
                        .collect();
                    let stale: Vec<String> = bars
                        .keys()
                        .filter(|k| {
                            k.strip_prefix(&prefix)
                                .is_some_and(|f| !shown.iter().any(|x| x.name == f))
                        })
                        .cloned()
                        .collect();
                    for k in stale {
                        if let Some(b) = bars.remove(&k) {
                            b.finish_and_clear();
                            m.remove(&b);
                        }
                    }
                    for f in shown {
                        let b = bars
                            .entry(format!("{prefix}{}", f.name))
                            .or_insert_with(|| {
                                let b = m.insert_after(&prev, ProgressBar::new(f.total));
                                b.set_style(
                                    ProgressStyle::with_template(
                                        "{prefix:>9}   {msg:32!} [{bar:16}] {bytes}/{total_bytes} {bytes_per_sec}",
                                    )
                                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                                    .progress_chars("=> "),
                                );
                                b.set_message(f.name.clone());
                                b
                            });
                        if f.total > 0 {
                            b.set_length(f.total);
                        }
                        b.set_position(f.done);
                        prev = b.clone();
                    }
                }
            }
            Event::StageProgress {
                name,
                done,
                total,
                tokens,
                elapsed,
            } => {
                let Some(m) = &self.multi else { return };
                let Ok(mut bars) = self.bars.lock() else { return };
                // The stage's spinner becomes a bar on its first progress report.
                let bar = bars
                    .entry(name.clone())
                    .or_insert_with(|| m.add(ProgressBar::new(0)));
                if bar.length().unwrap_or(0) != *total {
                    let template = if *total > 0 {
                        "{prefix:>9} {msg} [{bar:24}] {human_pos}/{human_len} rows ETA {eta}"
                    } else {
                        "{prefix:>9} {msg} {spinner} {human_pos} rows"
                    };
                    bar.set_length(*total);
                    bar.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_prefix("Running");
                }
                bar.set_position(*done);
                let rate = match tokens {
                    Some(t) if *elapsed > 0.0 => {
                        format!(", {} tokens/s", si(*t as f64 / elapsed))
                    }
                    _ => String::new(),
                };
                bar.set_message(format!("{name}{rate}"));
            }
            Event::SourceFetch { name, message } if !quiet => {
                self.finish_bar(&format!("fetch:{name}"));
                self.finish_bars(&format!("fetchfile:{name}:"));
                self.line("Fetching", &format!("source {name}: {message}"), Style::Dim);
            }
            Event::SourceHashed {
                name,
                files,
                bytes,
                rehashed,
            } if !quiet => {
                self.line(
                    "Hashed",
                    &format!(
                        "source {name}: {}, {} ({rehashed} read)",
                        plural(*files, "file"),
                        size(*bytes)
                    ),
                    Style::Dim,
                );
            }
            Event::StageFresh { name } if self.verbosity == Verbosity::Verbose => {
                self.line("Fresh", name, Style::Dim);
            }
            Event::StagePlanned {
                name,
                action,
                reason,
            } => {
                let verb = if *action == PlanAction::MayRun {
                    "Might run"
                } else {
                    "Would"
                };
                let what = if *action == PlanAction::MayRun {
                    name.clone()
                } else {
                    format!("{action} {name}")
                };
                self.line(verb, &format!("{what}: {reason}"), Style::Info);
            }
            Event::StageStarted {
                name,
                kind,
                reason,
                member,
                members,
            } if !quiet => {
                let of = if *members > 1 {
                    format!(" ({member}/{members})")
                } else {
                    String::new()
                };
                self.line(
                    "Running",
                    &format!("{name}{of} [{kind}]: {reason}"),
                    Style::Info,
                );
                if let Some(m) = &self.multi {
                    let bar = m.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("          {spinner} {msg} {elapsed}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(name.clone());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    if let Ok(mut bars) = self.bars.lock() {
                        bars.insert(name.clone(), bar);
                    }
                }
            }
            Event::StageRestored { name, reason } if !quiet => {
                self.line(
                    "Restored",
                    &format!("{name} from the run cache: {reason}"),
                    Style::Good,
                );
            }
            Event::StageFinished {
                name,
                seconds,
                peak_rss_mb,
                rows,
                outputs,
                schema,
                report,
            } => {
                self.finish_bar(name);
                if !quiet {
                    let rows = rows.map(|r| format!(", {r} rows")).unwrap_or_default();
                    self.line(
                        "Finished",
                        &format!(
                            "{name} in {seconds:.2}s ({}{rows}, peak {peak_rss_mb} MB)",
                            plural(*outputs, "file")
                        ),
                        Style::Good,
                    );
                    if !schema.is_empty() {
                        self.print(&schema_table(schema));
                    }
                    if let Some(r) = report {
                        self.print(r);
                    }
                }
            }
            Event::StageFailed { name, error, hint } => {
                self.finish_bar(name);
                self.line("Failed", &format!("{name}: {error}"), Style::Bad);
                if let Some(h) = hint {
                    self.line("", &format!("hint: {h}"), Style::Dim);
                }
            }
            Event::StageSkipped { name, reason } if !quiet => {
                self.line("Skipped", &format!("{name}: {reason}"), Style::Warn);
            }
            Event::Warning { message } => self.line("warning", message, Style::Warn),
            Event::SeedDrawn { stage, seed } => self.line(
                "Seed",
                &format!("{stage}: Split with seed: {seed} (drawn; kept in the lockfile, or set `seed: {seed}` in the spec)"),
                Style::Warn,
            ),
            Event::BuildFinished(s) => self.summary(s),
            Event::Pulled {
                uri,
                output,
                revision,
                files,
                bytes,
                linked,
                seconds,
            } if !quiet => {
                let copied = match files - linked {
                    0 => String::new(),
                    n => format!(
                        "; {} copied, the download cache being on another file system",
                        plural(n, "file")
                    ),
                };
                self.line(
                    "Pulled",
                    &format!(
                        "{uri} ({}, {}) into {output} in {seconds:.1}s ({}/s); revision {revision}{copied}",
                        plural(*files, "file"),
                        size(*bytes),
                        size((*bytes as f64 / seconds.max(1e-3)) as u64),
                    ),
                    Style::Good,
                );
            }
            _ => {}
        }
    }
}

/// A schema as an indented table; wide schemas (over 100 columns) are summarized.
pub(crate) fn schema_table(cols: &[super::events::ColumnInfo]) -> String {
    use std::fmt::Write as _;
    let pad = " ".repeat(10);
    let shown: Vec<Option<&super::events::ColumnInfo>> = if cols.len() > 100 {
        cols[..20]
            .iter()
            .map(Some)
            .chain(std::iter::once(None))
            .chain(cols[cols.len() - 5..].iter().map(Some))
            .collect()
    } else {
        cols.iter().map(Some).collect()
    };
    let w = cols
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 40);
    let tw = cols
        .iter()
        .map(|c| c.ty.len())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    let mut out = format!("{pad}{:<w$}  {:<tw$}  nullable\n", "column", "type");
    for c in shown {
        match c {
            Some(c) => {
                let name: String = c.name.chars().take(40).collect();
                let _ = writeln!(
                    out,
                    "{pad}{name:<w$}  {:<tw$}  {}",
                    c.ty,
                    if c.nullable { "yes" } else { "no" }
                );
            }
            None => {
                let _ = writeln!(out, "{pad}… {} more columns …", cols.len() - 25);
            }
        }
    }
    if cols.len() > 100 {
        let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for c in cols {
            *kinds.entry(c.ty.as_str()).or_default() += 1;
        }
        let parts: Vec<String> = kinds.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let _ = writeln!(out, "{pad}{} columns: {}", cols.len(), parts.join(", "));
    }
    out
}

/// Rows of cells as lines of left-aligned columns, two spaces apart (widths in characters).
pub fn aligned<R: AsRef<[String]>>(rows: &[R]) -> Vec<String> {
    let n = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .as_ref()
                .iter()
                .zip(&widths)
                .map(|(v, &w)| format!("{v:w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}
