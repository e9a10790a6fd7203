//! The `template` format: each row rendered through a minijinja template (the chat format
//! `{"messages": [...]}` for fine-tuning, prompt/completion pairs, plain text). With the
//! `jsonl` target every rendering must be one valid JSON document; it is written on one line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use minijinja::{Environment, UndefinedBehavior};

use super::options::{TemplateOptions, TemplateTarget};
use super::text::encode_rows;
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;

const NAME: &str = "template";

/// minijinja's fuel for one row: the template instructions its rendering may execute. A chat
/// template uses a few hundred a row; a loop that never ends (nested loops over long strings
/// or lists) runs out instead of running forever.
const DEFAULT_FUEL: u64 = 10_000_000;
pub const ENV_FUEL: &str = "MLDATA_TEMPLATE_FUEL";
/// The longest rendering of one row, in MiB: output is held in memory until it is checked.
const DEFAULT_MAX_OUTPUT_MIB: u64 = 64;
pub const ENV_MAX_OUTPUT: &str = "MLDATA_TEMPLATE_MAX_OUTPUT_MIB";

/// The largest template file, as for a spec (a template inside the spec is part of its 1 MiB).
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// A template file's text: at most [`MAX_TEMPLATE_BYTES`] are read.
fn read_template(p: &Path, origin: &str) -> Result<String, StageError> {
    let f = File::open(p).map_err(|e| file_err(p, e))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(f, MAX_TEMPLATE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|e| file_err(p, e))?;
    if bytes.len() as u64 > MAX_TEMPLATE_BYTES {
        return Err(StageError::new(format!(
            "the template {origin} is more than {MAX_TEMPLATE_BYTES} bytes; a template may be at most {MAX_TEMPLATE_BYTES} bytes"
        ))
        .hint("a template describes one row's rendering: put data in the table, not in the template"));
    }
    String::from_utf8(bytes).map_err(|e| {
        StageError::new(format!(
            "the template {origin} is not valid UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A row's rendering, in memory, refused past `max` bytes.
struct Bounded<'a> {
    buf: &'a mut Vec<u8>,
    max: usize,
    over: bool,
}

impl Write for Bounded<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("the rendering is too long"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where a template error is: `line L, column C` in the template.
fn locate(source: &str, e: &minijinja::Error) -> String {
    let line = e.line();
    let col = e.range().map(|r| {
        let start = r.start.min(source.len());
        let before = &source[..start];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        before[line_start..].chars().count() + 1
    });
    match (line, col) {
        (Some(l), Some(c)) => format!("line {l}, column {c}"),
        (Some(l), None) => format!("line {l}"),
        _ => "the template".to_owned(),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// Compile `source` with the settings exports use: strict undefined values (a misspelt
/// column is an error, not an empty string), no HTML escaping.
pub fn compile(source: &str, origin: &str) -> Result<Environment<'static>, StageError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template_owned(NAME, source.to_owned())
        .map_err(|e| {
            StageError::new(format!(
            "template error in {origin} at {}: {}",
            locate(source, &e),
            describe(&e)
        ))
        .hint("minijinja syntax: `{{ column }}`, `{{ column | tojson }}`, `{% if … %}…{% endif %}`")
        })?;
    Ok(env)
}

pub struct TemplateWriter {
    cx: ExportContext,
    fuel: u64,
    max_output: u64,
    out_buf: Vec<u8>,
    env: Environment<'static>,
    source: String,
    origin: String,
    target: TemplateTarget,
    dir: PathBuf,
    current: Option<(SplitInfo, PathBuf, BufWriter<File>, u64)>,
    written: Vec<(SplitInfo, PathBuf)>,
    rows_buf: Vec<u8>,
}

/// `source`: the template text (from the spec, or the `path` file's content).
pub fn create(
    cx: &ExportContext,
    o: &TemplateOptions,
    file: Option<&Path>,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let (source, origin) = match (&o.source, file) {
        (Some(s), _) => (s.clone(), "`template.source`".to_owned()),
        (None, Some(p)) => {
            let origin = format!("`{}`", o.path.as_deref().unwrap_or("template"));
            (read_template(p, &origin)?, origin)
        }
        (None, None) => {
            return Err(StageError::new("the template file is missing")
                .hint("set `template.source` or `template.path`"));
        }
    };
    let mut env = compile(&source, &origin)?;
    // Every row's rendering is bounded: in instructions (fuel) and in output.
    let fuel = crate::stages::archive::env_limit(ENV_FUEL, DEFAULT_FUEL)?;
    let max_output = crate::stages::archive::env_limit(ENV_MAX_OUTPUT, DEFAULT_MAX_OUTPUT_MIB)?
        .saturating_mul(1 << 20);
    env.set_fuel(Some(fuel));
    // A misspelt column is caught before any row is rendered.
    let tmpl = env
        .get_template(NAME)
        .map_err(|e| StageError::new(format!("internal error: {e}")))?;
    let columns: Vec<&str> = cx
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let mut unknown: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !columns.contains(&v.as_str()))
        .collect();
    unknown.sort();
    if let Some(first) = unknown.first() {
        let mut e = StageError::new(format!(
            "{origin} uses {}, which {} not a column of the table",
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.len() == 1 { "is" } else { "are" }
        ));
        let list = format!("columns: {}", columns.join(", "));
        e = match crate::spec::error::did_you_mean(first, columns.iter().copied()) {
            Some(h) => e.hint(format!("{h} ({list})")),
            None => e.hint(list),
        };
        return Err(e);
    }
    Ok(Box::new(TemplateWriter {
        dir: cx.format_dir("template")?,
        cx: cx.clone(),
        fuel,
        max_output,
        out_buf: Vec::new(),
        env,
        source,
        origin,
        target: o.target,
        current: None,
        written: Vec::new(),
        rows_buf: Vec::new(),
    }))
}

impl TemplateWriter {
    fn ext(&self) -> &'static str {
        match self.target {
            TemplateTarget::Jsonl => "jsonl",
            TemplateTarget::Text => "txt",
        }
    }
}

impl FormatWriter for TemplateWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let path = self.dir.join(format!("{}.{}", split.name, self.ext()));
        let f = File::create(&path).map_err(|e| file_err(&path, e))?;
        self.current = Some((
            split.clone(),
            path,
            BufWriter::with_capacity(crate::store::WRITE_SIZE, f),
            0,
        ));
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some((split, path, w, n)) = &mut self.current else {
            return Err(StageError::new("internal error: batch outside a split"));
        };
        let tmpl = self
            .env
            .get_template(NAME)
            .map_err(|e| StageError::new(format!("internal error: {e}")))?;
        // Rows as JSON objects (the same values the JSON formats write: ISO dates, base64
        // binary), then as template contexts.
        self.rows_buf.clear();
        encode_rows(batch, &mut self.rows_buf, b"\n")?;
        for line in self
            .rows_buf
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            let row: serde_json::Value = serde_json::from_slice(line)
                .map_err(|e| StageError::new(format!("internal error: {e}")))?;
            let ctx = minijinja::Value::from_serialize(&row);
            self.out_buf.clear();
            let mut bounded = Bounded {
                buf: &mut self.out_buf,
                max: usize::try_from(self.max_output).unwrap_or(usize::MAX),
                over: false,
            };
            let rendered = tmpl.render_captured_to(ctx, &mut bounded);
            let over = bounded.over;
            if let Err(e) = rendered {
                let at = format!(
                    "{} at {} (row {} of split `{}`)",
                    self.origin,
                    locate(&self.source, &e),
                    *n,
                    split.name
                );
                return Err(if over {
                    let mib = self.max_output >> 20;
                    StageError::new(format!(
                        "template {at} renders to more than {mib} MiB (one row may render to at most {ENV_MAX_OUTPUT}={mib} MiB)"
                    ))
                    .hint(format!("if the output is intended, set {ENV_MAX_OUTPUT} above {mib}"))
                } else if e.kind() == minijinja::ErrorKind::OutOfFuel {
                    StageError::new(format!(
                        "template {at} ran out of fuel: one row's rendering may execute at most {} template instructions ({ENV_FUEL})",
                        self.fuel
                    ))
                    .hint(format!(
                        "look for a loop that never ends or nests too deep; if the template is right, set {ENV_FUEL} above {}",
                        self.fuel
                    ))
                } else {
                    StageError::new(format!("template error in {at}: {}", describe(&e)))
                        .hint("the row's columns are the template's variables; `| default(\"\")` handles nulls")
                });
            }
            let out = String::from_utf8_lossy(&self.out_buf);
            match self.target {
                TemplateTarget::Jsonl => {
                    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&out) {
                        let shown: String = out.chars().take(200).collect();
                        return Err(StageError::new(format!(
                            "row {} of split `{}`: the template rendered invalid JSON ({e}): {shown}",
                            *n, split.name
                        ))
                        .hint("use `| tojson` for values inside JSON (it quotes and escapes them), or `target: text`"));
                    }
                    // In valid JSON, line breaks can only be whitespace between tokens.
                    let one_line: String =
                        out.chars().filter(|&c| c != '\n' && c != '\r').collect();
                    w.write_all(one_line.trim().as_bytes())
                        .map_err(|e| file_err(path, e))?;
                }
                TemplateTarget::Text => {
                    w.write_all(out.as_bytes()).map_err(|e| file_err(path, e))?;
                }
            }
            w.write_all(b"\n").map_err(|e| file_err(path, e))?;
            *n += 1;
        }
        Ok(())
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some((split, path, mut w, n)) = self.current.take() {
            w.flush().map_err(|e| file_err(&path, e))?;
            check_rows(&path, split.rows, n)?;
            self.written.push((split, path));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        for (split, path) in &self.written {
            if self.target == TemplateTarget::Jsonl {
                let text = std::fs::read_to_string(path).map_err(|e| file_err(path, e))?;
                let mut lines = 0u64;
                for (i, l) in text.lines().enumerate() {
                    serde_json::from_str::<serde::de::IgnoredAny>(l).map_err(|e| {
                        file_err(path, format!("line {} is not valid JSON: {e}", i + 1))
                    })?;
                    lines += 1;
                }
                check_rows(path, split.rows, lines)?;
            }
            res.artifacts.push(Artifact {
                path: rel(&self.cx, path),
                rows: Some(split.rows),
                split: Some(split.name.clone()),
            });
        }
        if self.target == TemplateTarget::Jsonl {
            let first = self.written.first().map_or_else(
                || "template/train.jsonl".to_owned(),
                |(_, p)| rel(&self.cx, p),
            );
            res.snippet = Some(format!(
                "from datasets import load_dataset\nds = load_dataset(\"json\", data_files=\"{first}\")"
            ));
        }
        Ok(res)
    }
}
