//! Text formats: JSON Lines (`.jsonl`, `.jsonl.gz`), JSON arrays and CSV. UTF-8, dates and
//! times as ISO 8601 strings, binary as base64 (or left out with a warning), nested values in
//! CSV as JSON strings; per-format column selection and renaming.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::json::writer::{Encoder, EncoderFactory, EncoderOptions, NullableEncoder, make_encoder};
use arrow::record_batch::RecordBatch;
use base64::Engine as _;

use super::options::{
    BinaryMode, CsvOptions, CsvQuote, JsonOptions, JsonlOptions, TextCompression,
};
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, Sink, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;

/// Lines longer than this get a warning (some readers choke on them).
pub const LONG_LINE: usize = 1 << 20;

/// Which columns a text format writes, under which names.
#[derive(Debug, Clone)]
pub struct Projection {
    /// (input column index, output name).
    pub columns: Vec<(usize, String)>,
    /// Binary columns left out (with `binary: skip`).
    pub skipped: Vec<String>,
    pub schema: SchemaRef,
}

fn is_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

/// Resolve `columns` and `rename` against the schema; unknown names are errors listing the
/// columns.
pub fn projection(
    schema: &Schema,
    columns: Option<&[String]>,
    rename: &std::collections::BTreeMap<String, String>,
    binary: BinaryMode,
    format: &str,
) -> Result<Projection, StageError> {
    let all: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let unknown = |c: &str, key: &str| {
        let mut e = StageError::new(format!("{format}.{key}: no column `{c}` in the table"));
        e = match crate::spec::error::did_you_mean(c, all.iter().copied()) {
            Some(h) => e.hint(format!("{h} (columns: {})", all.join(", "))),
            None => e.hint(format!("columns: {}", all.join(", "))),
        };
        e
    };
    let picked: Vec<usize> = match columns {
        Some(cols) => cols
            .iter()
            .map(|c| schema.index_of(c).map_err(|_| unknown(c, "columns")))
            .collect::<Result<_, _>>()?,
        None => (0..schema.fields().len()).collect(),
    };
    for k in rename.keys() {
        if schema.index_of(k).is_err() {
            return Err(unknown(k, "rename"));
        }
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut fields = Vec::new();
    for i in picked {
        let f = schema.field(i);
        if binary == BinaryMode::Skip && is_binary(f.data_type()) {
            skipped.push(f.name().clone());
            continue;
        }
        let name = rename
            .get(f.name())
            .cloned()
            .unwrap_or_else(|| f.name().clone());
        if out.iter().any(|(_, n): &(usize, String)| *n == name) {
            return Err(StageError::new(format!(
                "{format}: two columns would both be written as `{name}`"
            ))
            .hint("give them different names under `rename`"));
        }
        fields.push(Field::new(&name, f.data_type().clone(), f.is_nullable()));
        out.push((i, name));
    }
    Ok(Projection {
        columns: out,
        skipped,
        schema: Arc::new(Schema::new(fields)),
    })
}

impl Projection {
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, StageError> {
        let cols: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|(i, _)| batch.column(*i).clone())
            .collect();
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| StageError::new(format!("internal error projecting columns: {e}")))
    }

    pub fn warnings(&self, format: &str) -> Vec<String> {
        if self.skipped.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "binary column(s) {} left out of the {format} files (`binary: skip`)",
                self.skipped.join(", ")
            )]
        }
    }
}

/// Encodes binary values as base64 strings.
#[derive(Debug)]
struct Base64Factory;

struct Base64Encoder<'a>(&'a dyn Array);

impl Encoder for Base64Encoder<'_> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let bytes: &[u8] = match self.0.data_type() {
            DataType::Binary => self.0.as_binary::<i32>().value(idx),
            DataType::LargeBinary => self.0.as_binary::<i64>().value(idx),
            DataType::BinaryView => self.0.as_binary_view().value(idx),
            DataType::FixedSizeBinary(_) => self.0.as_fixed_size_binary().value(idx),
            _ => &[],
        };
        out.push(b'"');
        out.extend_from_slice(
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .as_bytes(),
        );
        out.push(b'"');
    }
}

impl EncoderFactory for Base64Factory {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, arrow::error::ArrowError> {
        if is_binary(array.data_type()) {
            Ok(Some(NullableEncoder::new(
                Box::new(Base64Encoder(array)),
                array.nulls().cloned(),
            )))
        } else {
            Ok(None)
        }
    }
}

fn json_options() -> EncoderOptions {
    EncoderOptions::default()
        .with_explicit_nulls(true)
        .with_encoder_factory(Arc::new(Base64Factory))
}

/// Append one JSON object per row of `batch` to `out`, each followed by `sep`; returns the
/// longest line.
pub fn encode_rows(
    batch: &RecordBatch,
    out: &mut Vec<u8>,
    sep: &[u8],
) -> Result<usize, StageError> {
    let opts = json_options();
    let fields = batch.schema().fields().clone();
    let mut encoders = fields
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| make_encoder(f, c.as_ref(), &opts))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StageError::new(format!("cannot encode rows as JSON: {e}")))?;
    let keys: Vec<Vec<u8>> = fields
        .iter()
        .map(|f| serde_json::to_vec(f.name()).unwrap_or_default())
        .collect();
    let mut longest = 0;
    for row in 0..batch.num_rows() {
        let start = out.len();
        out.push(b'{');
        for (i, enc) in encoders.iter_mut().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&keys[i]);
            out.push(b':');
            if enc.is_null(row) {
                out.extend_from_slice(b"null");
            } else {
                enc.encode(row, out);
            }
        }
        out.push(b'}');
        longest = longest.max(out.len() - start);
        out.extend_from_slice(sep);
    }
    Ok(longest)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Jsonl,
    Json { pretty: bool },
    Csv,
}

/// JSON Lines, JSON and CSV share this writer: per split, project the batch, encode it into
/// a buffer, write the buffer.
struct TextWriter {
    cx: ExportContext,
    kind: Kind,
    folder: &'static str,
    ext: &'static str,
    compression: TextCompression,
    proj: Projection,
    csv: Option<CsvOptions>,
    dir: PathBuf,
    current: Option<Current>,
    written: Vec<(SplitInfo, PathBuf)>,
    long_lines: u64,
    buf: Vec<u8>,
}

struct Current {
    split: SplitInfo,
    path: PathBuf,
    sink: Sink,
    rows: u64,
}

pub fn create_jsonl(
    cx: &ExportContext,
    o: &JsonlOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let proj = projection(
        &cx.schema,
        o.columns.as_deref(),
        &o.rename,
        o.binary,
        "jsonl",
    )?;
    let ext = match o.compression {
        TextCompression::None => "jsonl",
        TextCompression::Gzip => "jsonl.gz",
    };
    TextWriter::boxed(cx, Kind::Jsonl, "jsonl", ext, o.compression, proj, None)
}

pub fn create_json(
    cx: &ExportContext,
    o: &JsonOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let proj = projection(
        &cx.schema,
        o.columns.as_deref(),
        &o.rename,
        o.binary,
        "json",
    )?;
    TextWriter::boxed(
        cx,
        Kind::Json { pretty: o.pretty },
        "json",
        "json",
        TextCompression::None,
        proj,
        None,
    )
}

pub fn create_csv(cx: &ExportContext, o: &CsvOptions) -> Result<Box<dyn FormatWriter>, StageError> {
    let proj = projection(&cx.schema, o.columns.as_deref(), &o.rename, o.binary, "csv")?;
    TextWriter::boxed(
        cx,
        Kind::Csv,
        "csv",
        "csv",
        TextCompression::None,
        proj,
        Some(o.clone()),
    )
}

impl TextWriter {
    fn boxed(
        cx: &ExportContext,
        kind: Kind,
        folder: &'static str,
        ext: &'static str,
        compression: TextCompression,
        proj: Projection,
        csv: Option<CsvOptions>,
    ) -> Result<Box<dyn FormatWriter>, StageError> {
        Ok(Box::new(TextWriter {
            dir: cx.format_dir(folder)?,
            cx: cx.clone(),
            kind,
            folder,
            ext,
            compression,
            proj,
            csv,
            current: None,
            written: Vec::new(),
            long_lines: 0,
            buf: Vec::with_capacity(4 << 20),
        }))
    }
}

/// CSV cannot hold nested values: turn lists, structs and maps into JSON strings, and binary
/// into base64 strings.
fn csv_ready(batch: &RecordBatch) -> Result<RecordBatch, StageError> {
    let opts = json_options();
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let nested = matches!(
            f.data_type(),
            DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::ListView(_)
                | DataType::Struct(_)
                | DataType::Map(..)
        ) || is_binary(f.data_type());
        if !nested {
            fields.push(f.clone());
            cols.push(c.clone());
            continue;
        }
        let mut enc = make_encoder(f, c.as_ref(), &opts)
            .map_err(|e| StageError::new(format!("cannot encode column `{}`: {e}", f.name())))?;
        let mut b = StringBuilder::with_capacity(c.len(), c.len() * 16);
        let mut tmp = Vec::new();
        let binary = is_binary(f.data_type());
        for i in 0..c.len() {
            if enc.is_null(i) {
                b.append_null();
                continue;
            }
            tmp.clear();
            enc.encode(i, &mut tmp);
            // A base64 value is a JSON string: write its content, not its quotes.
            let s = if binary && tmp.len() >= 2 {
                &tmp[1..tmp.len() - 1]
            } else {
                &tmp[..]
            };
            b.append_value(String::from_utf8_lossy(s));
        }
        fields.push(Arc::new(Field::new(
            f.name(),
            DataType::Utf8,
            f.is_nullable(),
        )));
        cols.push(Arc::new(b.finish()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| StageError::new(format!("internal error preparing CSV: {e}")))
}

impl FormatWriter for TextWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let path = self.dir.join(format!("{}.{}", split.name, self.ext));
        let mut sink = Sink::create(&path, self.compression)?;
        match self.kind {
            Kind::Json { .. } => sink.write_all(b"[").map_err(|e| file_err(&path, e))?,
            Kind::Csv => {
                let o = self.csv.as_ref().expect("csv options");
                if o.header {
                    let mut w = csv_writer(o, Vec::new());
                    w.write_record(self.proj.columns.iter().map(|(_, n)| n.as_str()))
                        .map_err(|e| file_err(&path, e))?;
                    let head = w.into_inner().map_err(|e| file_err(&path, e.error()))?;
                    sink.write_all(&head).map_err(|e| file_err(&path, e))?;
                }
            }
            Kind::Jsonl => {}
        }
        self.current = Some(Current {
            split: split.clone(),
            path,
            sink,
            rows: 0,
        });
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some(cur) = &mut self.current else {
            return Err(StageError::new("internal error: batch outside a split"));
        };
        let batch = self.proj.apply(batch)?;
        self.buf.clear();
        match self.kind {
            Kind::Jsonl => {
                let longest = encode_rows(&batch, &mut self.buf, b"\n")?;
                if longest > LONG_LINE {
                    self.long_lines += count_long(&self.buf, LONG_LINE);
                }
            }
            Kind::Json { pretty } => {
                let mut rows = Vec::new();
                encode_rows(&batch, &mut rows, b"\n")?;
                for (i, line) in rows
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    if cur.rows > 0 || i > 0 {
                        self.buf.push(b',');
                    }
                    if pretty {
                        self.buf.push(b'\n');
                        indent_json(line, 1, &mut self.buf);
                    } else {
                        self.buf.push(b'\n');
                        self.buf.extend_from_slice(line);
                    }
                }
            }
            Kind::Csv => {
                let o = self.csv.as_ref().expect("csv options");
                let ready = csv_ready(&batch)?;
                let quote = match o.quote {
                    CsvQuote::Necessary => arrow::csv::QuoteStyle::Necessary,
                    CsvQuote::Always => arrow::csv::QuoteStyle::Always,
                    CsvQuote::NonNumeric => arrow::csv::QuoteStyle::NonNumeric,
                    CsvQuote::Never => arrow::csv::QuoteStyle::Never,
                };
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .with_delimiter(o.delimiter.as_bytes()[0])
                    .with_quote_style(quote)
                    .with_date_format("%Y-%m-%d".into())
                    .with_datetime_format("%Y-%m-%dT%H:%M:%S%.f".into())
                    .with_timestamp_format("%Y-%m-%dT%H:%M:%S%.f".into())
                    .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.f%:z".into())
                    .build(&mut self.buf);
                w.write(&ready).map_err(|e| file_err(&cur.path, e))?;
                drop(w);
                if o.quote == CsvQuote::Never {
                    check_unquoted(&ready, o.delimiter.as_bytes()[0], &cur.path)?;
                }
            }
        }
        cur.rows += batch.num_rows() as u64;
        cur.sink
            .write_all(&self.buf)
            .map_err(|e| file_err(&cur.path, e))
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some(mut cur) = self.current.take() {
            if let Kind::Json { .. } = self.kind {
                let tail: &[u8] = if cur.rows > 0 { b"\n]\n" } else { b"]\n" };
                cur.sink
                    .write_all(tail)
                    .map_err(|e| file_err(&cur.path, e))?;
            }
            cur.sink.finish().map_err(|e| file_err(&cur.path, e))?;
            check_rows(&cur.path, cur.split.rows, cur.rows)?;
            self.written.push((cur.split, cur.path));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        for (split, path) in &self.written {
            let found = read_back(self.kind, self.compression, self.csv.as_ref(), path)?;
            check_rows(path, split.rows, found)?;
            res.artifacts.push(Artifact {
                path: rel(&self.cx, path),
                rows: Some(split.rows),
                split: Some(split.name.clone()),
            });
        }
        res.warnings = self.proj.warnings(self.folder);
        if self.long_lines > 0 {
            res.warnings.push(format!(
                "{} line(s) are longer than 1 MB; some JSON Lines readers refuse long lines",
                self.long_lines
            ));
        }
        let first = self.written.first().map_or_else(
            || format!("{}/train.{}", self.folder, self.ext),
            |(_, p)| rel(&self.cx, p),
        );
        res.snippet = Some(match self.kind {
            Kind::Jsonl | Kind::Json { .. } => format!(
                "from datasets import load_dataset\nds = load_dataset(\"json\", data_files=\"{first}\")"
            ),
            Kind::Csv => format!("import pandas as pd\ndf = pd.read_csv(\"{first}\")"),
        });
        Ok(res)
    }
}

/// Pretty-print compact JSON (as the encoder writes it: no whitespace outside strings) with
/// two-space indents starting at `level`, keeping the keys in column order.
fn indent_json(compact: &[u8], level: usize, out: &mut Vec<u8>) {
    let pad = |out: &mut Vec<u8>, n: usize| out.extend(std::iter::repeat_n(b' ', 2 * n));
    let mut depth = level;
    let mut in_str = false;
    let mut escaped = false;
    pad(out, depth);
    let mut i = 0;
    while i < compact.len() {
        let b = compact[i];
        if in_str {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                if compact.get(i + 1) == Some(&close) {
                    out.extend_from_slice(&[b, close]);
                    i += 2;
                    continue;
                }
                depth += 1;
                out.push(b);
                out.push(b'\n');
                pad(out, depth);
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                out.push(b'\n');
                pad(out, depth);
                out.push(b);
            }
            b',' => {
                out.extend_from_slice(b",\n");
                pad(out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
        i += 1;
    }
}

fn count_long(buf: &[u8], limit: usize) -> u64 {
    buf.split(|&b| b == b'\n')
        .filter(|l| l.len() > limit)
        .count() as u64
}

fn csv_writer<W: Write>(o: &CsvOptions, w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .delimiter(o.delimiter.as_bytes()[0])
        .quote_style(match o.quote {
            CsvQuote::Necessary => csv::QuoteStyle::Necessary,
            CsvQuote::Always => csv::QuoteStyle::Always,
            CsvQuote::NonNumeric => csv::QuoteStyle::NonNumeric,
            CsvQuote::Never => csv::QuoteStyle::Never,
        })
        .from_writer(w)
}

/// With `quote: never`, a value holding the delimiter, a quote or a line break would make an
/// unreadable file: refuse it, naming the column.
fn check_unquoted(batch: &RecordBatch, delim: u8, path: &Path) -> Result<(), StageError> {
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if let Some(s) = c.as_string_opt::<i32>() {
            for i in 0..s.len() {
                if s.is_valid(i)
                    && s.value(i)
                        .bytes()
                        .any(|b| b == delim || b == b'"' || b == b'\n' || b == b'\r')
                {
                    return Err(StageError::new(format!(
                        "`{}`: column `{}` holds a value with a delimiter, quote or line break, which `quote: never` cannot write",
                        path.display(),
                        f.name()
                    ))
                    .hint("use `quote: necessary` (the default)"));
                }
            }
        }
    }
    Ok(())
}

/// Count the rows of a written text file, parsing every one (JSON) or every record (CSV).
fn read_back(
    kind: Kind,
    compression: TextCompression,
    csv_opts: Option<&CsvOptions>,
    path: &Path,
) -> Result<u64, StageError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let reader: Box<dyn std::io::Read> = match compression {
        TextCompression::None => Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
        TextCompression::Gzip => {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        }
    };
    match kind {
        Kind::Jsonl => {
            let mut n = 0u64;
            let r = std::io::BufReader::with_capacity(1 << 20, reader);
            for (i, line) in std::io::BufRead::split(r, b'\n').enumerate() {
                let line = line.map_err(|e| file_err(path, e))?;
                serde_json::from_slice::<serde::de::IgnoredAny>(&line).map_err(|e| {
                    file_err(path, format!("line {} is not valid JSON: {e}", i + 1))
                })?;
                n += 1;
            }
            Ok(n)
        }
        Kind::Json { .. } => {
            let v: Vec<serde::de::IgnoredAny> = serde_json::from_reader(reader)
                .map_err(|e| file_err(path, format!("not a valid JSON array: {e}")))?;
            Ok(v.len() as u64)
        }
        Kind::Csv => {
            let o = csv_opts.expect("csv options");
            let mut r = csv::ReaderBuilder::new()
                .delimiter(o.delimiter.as_bytes()[0])
                .has_headers(o.header)
                .from_reader(reader);
            let mut n = 0u64;
            let mut rec = csv::ByteRecord::new();
            while r
                .read_byte_record(&mut rec)
                .map_err(|e| file_err(path, e))?
            {
                n += 1;
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_printing_keeps_key_order_and_strings() {
        let mut out = Vec::new();
        indent_json(
            br#"{"b":1,"a":[1,{"x":"s,:{}[]\"q"}],"e":{},"f":[]}"#,
            1,
            &mut out,
        );
        let s = String::from_utf8(out).unwrap();
        let expected = "  {\n    \"b\": 1,\n    \"a\": [\n      1,\n      {\n        \"x\": \"s,:{}[]\\\"q\"\n      }\n    ],\n    \"e\": {},\n    \"f\": []\n  }";
        assert_eq!(s, expected);
        // Still the same JSON.
        let a: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(a["a"][1]["x"], "s,:{}[]\"q");
    }

    #[test]
    fn projection_selects_renames_and_names_unknown_columns() {
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("label", DataType::Int64, true),
            Field::new("blob", DataType::Binary, true),
        ]);
        let mut rename = std::collections::BTreeMap::new();
        rename.insert("text".to_owned(), "prompt".to_owned());
        let p = projection(
            &schema,
            Some(&["label".to_owned(), "text".to_owned(), "blob".to_owned()]),
            &rename,
            BinaryMode::Skip,
            "jsonl",
        )
        .unwrap();
        let names: Vec<&str> = p.columns.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["label", "prompt"]);
        assert_eq!(p.skipped, ["blob"]);
        let e = projection(
            &schema,
            Some(&["lable".to_owned()]),
            &rename,
            BinaryMode::Base64,
            "csv",
        )
        .unwrap_err();
        assert_eq!(e.message, "csv.columns: no column `lable` in the table");
        assert!(e.hint.unwrap().contains("`label`"));
        let mut clash = std::collections::BTreeMap::new();
        clash.insert("text".to_owned(), "label".to_owned());
        let e = projection(&schema, None, &clash, BinaryMode::Base64, "csv").unwrap_err();
        assert!(
            e.message.contains("both be written as `label`"),
            "{}",
            e.message
        );
    }
}
