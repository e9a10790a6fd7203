//! The `webdataset` format: POSIX tar shards of samples, as the `webdataset` library reads
//! them (`webdataset/<split>-000000.tar`, …, and `webdataset/_info.json`).
//!
//! A sample is a run of consecutive members sharing a key (`000000123.text.txt`,
//! `000000123.label.cls`): the key is the `key` column's value or the row number within the
//! split, zero-padded to 9 digits. Each column is one member whose extension says how it is
//! encoded: strings `.txt` (UTF-8); class labels (ClassLabel features, or integer columns
//! named `label`/`cls`) `.cls` (the decimal id); other numbers, lists and structs `.json`;
//! binary `.bin`, or `.png`/`.jpg`/`.webp` when the bytes are such an image; `Image` features
//! their bytes, with the extension of their path (or of the bytes' format). A null leaves its
//! member out. Headers are deterministic: mode 0444, uid/gid 0, owner `bigdata`, mtime 0;
//! members sorted within a sample.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::options::WebdatasetOptions;
use super::text::encode_rows;
use super::tfrecord::{bytes_at, undictionary};
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;

/// The format's folder.
const FOLDER: &str = "webdataset";

/// Owner and group names in every header.
const OWNER: &str = "bigdata";

/// How a column becomes a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    /// UTF-8 text, `.txt`.
    Txt,
    /// A class id in decimal, `.cls`.
    Cls,
    /// A JSON value, `.json`.
    Json,
    /// Bytes, `.bin` (or the image extension their magic says).
    Bin,
    /// An `Image` feature (struct of `bytes` and `path`): the bytes, with the path's extension.
    Image,
}

impl Enc {
    fn describe(self) -> &'static str {
        match self {
            Enc::Txt => "txt",
            Enc::Cls => "cls",
            Enc::Json => "json",
            Enc::Bin => "bin (png, jpg or webp when the bytes are such an image)",
            Enc::Image => "the image's extension (from its path, else its bytes)",
        }
    }
}

#[derive(Debug, Clone)]
struct Col {
    index: usize,
    name: String,
    enc: Enc,
}

fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
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

fn is_int_or_bool(dt: &DataType) -> bool {
    dt.is_integer() || *dt == DataType::Boolean
}

/// The extension of image bytes, from their first bytes.
fn image_ext(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if b.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpg")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// The extension of an image path, when it is a plain one (`photo.JPEG` → `jpeg`).
fn path_ext(p: &str) -> Option<String> {
    let ext = Path::new(p).extension()?.to_str()?;
    (!ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

fn bad_name(name: &str, why: &str) -> StageError {
    StageError::new(format!(
        "column `{name}` cannot name a WebDataset member: {why}"
    ))
    .hint(format!(
        "a column name becomes a member's extension (`000000000.{{column}}.txt`); rename it in normalize (`columns: {{new_name: {{from: \"{name}\"}}}}`) or drop it (`drop: [\"{name}\"]`)"
    ))
}

/// How each column becomes a member; errors name a column that cannot be one.
fn plan(schema: &Schema, features: &Value) -> Result<Vec<Col>, StageError> {
    let mut out = Vec::new();
    let mut lower: Vec<(String, &str)> = Vec::new();
    for (index, f) in schema.fields().iter().enumerate() {
        let name = f.name();
        if name.is_empty() {
            return Err(bad_name(name, "it is empty"));
        }
        if name.contains('.') || name.contains('/') {
            return Err(bad_name(
                name,
                "it holds a `.` or `/`, which would split the member's name differently",
            ));
        }
        if name.starts_with("__") {
            return Err(bad_name(
                name,
                "names starting with `__` are the reader's own (`__key__`, `__url__`)",
            ));
        }
        // Readers lowercase extensions by default: two names differing only in case would
        // collide.
        let l = name.to_lowercase();
        if let Some((_, other)) = lower.iter().find(|(x, _)| *x == l) {
            return Err(bad_name(
                name,
                &format!(
                    "it differs from column `{other}` only in case, and WebDataset readers lowercase extensions"
                ),
            ));
        }
        lower.push((l, name));
        let feature = &features[name.as_str()];
        let dt = f.data_type();
        let enc = if is_string(dt) {
            Enc::Txt
        } else if is_binary(dt) {
            Enc::Bin
        } else if is_int_or_bool(dt) {
            if feature["_type"] == "ClassLabel" || name == "label" || name == "cls" {
                Enc::Cls
            } else {
                Enc::Json
            }
        } else if feature["_type"] == "Image"
            && let DataType::Struct(fields) = dt
            && fields
                .iter()
                .any(|c| c.name() == "bytes" && is_binary(c.data_type()))
        {
            Enc::Image
        } else {
            Enc::Json
        };
        out.push(Col {
            index,
            name: name.clone(),
            enc,
        });
    }
    Ok(out)
}

/// One column of one batch, ready to give members.
struct Prepared {
    array: ArrayRef,
    nulls: Option<NullBuffer>,
    /// For `.json` and `.cls`: every row's JSON text, in `json[ranges[i]]`.
    json: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl Prepared {
    fn new(name: &str, enc: Enc, column: &ArrayRef) -> Result<Self, StageError> {
        let array =
            undictionary(column).map_err(|e| StageError::new(format!("column `{name}`: {e}")))?;
        let mut p = Prepared {
            nulls: array.logical_nulls(),
            array,
            json: Vec::new(),
            ranges: Vec::new(),
        };
        if matches!(enc, Enc::Json | Enc::Cls) {
            p.encode_json(name)?;
        }
        Ok(p)
    }

    /// JSON text of every row (the values the JSON formats write: ISO dates, base64 binary),
    /// cut out of `{"name":value}` lines.
    fn encode_json(&mut self, name: &str) -> Result<(), StageError> {
        let field = Field::new(name, self.array.data_type().clone(), true);
        let batch =
            RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![self.array.clone()])
                .map_err(|e| StageError::new(format!("column `{name}`: {e}")))?;
        encode_rows(&batch, &mut self.json, b"\n")?;
        let prefix = 2 + serde_json::to_string(name).unwrap_or_default().len();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &self.json) {
            // The line is `{` key `:` value `}`.
            self.ranges.push(start + prefix..end - 1);
            start = end + 1;
        }
        Ok(())
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    fn json(&self, i: usize) -> &[u8] {
        &self.json[self.ranges[i].clone()]
    }

    /// The extension and bytes of row `i`'s member, or None when it has none (a null, or an
    /// image without bytes).
    fn member(&self, enc: Enc, i: usize) -> Option<(String, &[u8])> {
        if self.is_null(i) {
            return None;
        }
        Some(match enc {
            Enc::Txt => ("txt".into(), bytes_at(self.array.as_ref(), i)),
            Enc::Cls => {
                let v: &[u8] = match self.json(i) {
                    b"true" => b"1",
                    b"false" => b"0",
                    other => other,
                };
                ("cls".into(), v)
            }
            Enc::Json => ("json".into(), self.json(i)),
            Enc::Bin => {
                let b = bytes_at(self.array.as_ref(), i);
                (image_ext(b).unwrap_or("bin").into(), b)
            }
            Enc::Image => {
                let s = self.array.as_struct();
                let bytes = s.column_by_name("bytes")?;
                if bytes.is_null(i) {
                    return None;
                }
                let b = bytes_at(bytes.as_ref(), i);
                let from_path = s
                    .column_by_name("path")
                    .filter(|p| is_string(p.data_type()) && p.is_valid(i))
                    .and_then(|p| {
                        let p = undictionary(p).ok()?;
                        path_ext(std::str::from_utf8(bytes_at(p.as_ref(), i)).ok()?)
                    });
                let ext = from_path
                    .or_else(|| image_ext(b).map(str::to_owned))
                    .unwrap_or_else(|| "bin".into());
                (ext, b)
            }
        })
    }

    /// Whether row `i` is an image whose bytes are missing (only its path is in the table).
    fn image_without_bytes(&self, i: usize) -> bool {
        !self.is_null(i)
            && self
                .array
                .as_struct()
                .column_by_name("bytes")
                .is_some_and(|b| b.is_null(i))
    }
}

/// A finished shard.
struct Shard {
    split: String,
    path: PathBuf,
    samples: u64,
}

/// The split being written.
struct Current {
    split: SplitInfo,
    /// Shards the split gets: ceil(rows / shard_rows), at least 1.
    count: u64,
    /// Rows (samples) of the split written so far.
    rows: u64,
    /// The open shard: index, path, tar builder, samples.
    shard: Option<(u64, PathBuf, tar::Builder<BufWriter<File>>, u64)>,
    /// Keys seen in the split (with a `key` column).
    keys: HashSet<String>,
}

struct WebdatasetWriter {
    cx: ExportContext,
    opts: WebdatasetOptions,
    dir: PathBuf,
    columns: Vec<Col>,
    /// The `key` column's index in the batch.
    key: Option<usize>,
    current: Option<Current>,
    shards: Vec<Shard>,
    /// Image rows without bytes, per column name.
    missing_images: std::collections::BTreeMap<String, u64>,
}

pub fn create(
    cx: &ExportContext,
    opts: &WebdatasetOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let columns = plan(&cx.schema, &cx.features)?;
    let key = match &opts.key {
        None => None,
        Some(k) => {
            let Ok(i) = cx.schema.index_of(k) else {
                let all: Vec<&str> = cx
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                let mut e =
                    StageError::new(format!("webdataset.key: no column `{k}` in the table"));
                e = match crate::spec::error::did_you_mean(k, all.iter().copied()) {
                    Some(h) => e.hint(format!("{h} (columns: {})", all.join(", "))),
                    None => e.hint(format!("columns: {}", all.join(", "))),
                };
                return Err(e);
            };
            let dt = cx.schema.field(i).data_type();
            if !(is_string(dt) || dt.is_integer()) {
                return Err(StageError::new(format!(
                    "webdataset.key: column `{k}` is of type {dt}; a key must be a string or an integer"
                ))
                .hint("pick a column of unique names or ids, or leave out `key` to number the rows"));
            }
            Some(i)
        }
    };
    Ok(Box::new(WebdatasetWriter {
        dir: cx.format_dir(FOLDER)?,
        cx: cx.clone(),
        opts: opts.clone(),
        columns,
        key,
        current: None,
        shards: Vec::new(),
        missing_images: std::collections::BTreeMap::new(),
    }))
}

/// A deterministic ustar header for a regular file.
fn header(name: &str, size: u64) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o444);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_username(OWNER)?;
    h.set_groupname(OWNER)?;
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h)
}

fn shard_name(split: &str, i: u64) -> String {
    format!("{split}-{i:06}.tar")
}

impl WebdatasetWriter {
    fn open(&self, cur: &mut Current, index: u64) -> Result<(), StageError> {
        let path = self.dir.join(shard_name(&cur.split.name, index));
        let file = File::create(&path).map_err(|e| file_err(&path, e))?;
        cur.shard = Some((
            index,
            path,
            tar::Builder::new(BufWriter::with_capacity(crate::store::WRITE_SIZE, file)),
            0,
        ));
        Ok(())
    }

    fn close(cur: &mut Current, shards: &mut Vec<Shard>) -> Result<(), StageError> {
        if let Some((_, path, builder, samples)) = cur.shard.take() {
            builder
                .into_inner()
                .and_then(|mut w| w.flush())
                .map_err(|e| file_err(&path, e))?;
            shards.push(Shard {
                split: cur.split.name.clone(),
                path,
                samples,
            });
        }
        Ok(())
    }

    /// The key of row `row` (of the batch), checked: present, no `.` or `/`, unique.
    fn key_of(
        &self,
        cur: &mut Current,
        key: Option<&Prepared>,
        row: usize,
    ) -> Result<String, StageError> {
        let Some(p) = key else {
            return Ok(format!("{:09}", cur.rows));
        };
        let name = self.opts.key.as_deref().unwrap_or_default();
        let at = format!("row {} of split `{}`", cur.rows, cur.split.name);
        let hint = "keys must be unique, non-empty, without `.` or `/`; pick another column, or leave out `key` to number the rows";
        if p.is_null(row) {
            return Err(
                StageError::new(format!("webdataset.key: {at} has a null `{name}`")).hint(hint),
            );
        }
        let k = if is_string(p.array.data_type()) {
            String::from_utf8_lossy(bytes_at(p.array.as_ref(), row)).into_owned()
        } else {
            String::from_utf8_lossy(p.json(row)).into_owned()
        };
        // The value with invisible characters escaped (`\n`), or `an empty value`.
        let shown = if k.is_empty() {
            "an empty value".to_owned()
        } else {
            format!("`{}`", k.escape_debug())
        };
        if k.is_empty() || k.contains('.') || k.contains('/') {
            return Err(StageError::new(format!(
                "webdataset.key: {at} has `{name}` = {shown}, which cannot be a key (empty, or holding `.` or `/`)"
            ))
            .hint(hint));
        }
        if !cur.keys.insert(k.clone()) {
            return Err(StageError::new(format!(
                "webdataset.key: {at} has `{name}` = {shown}, which an earlier row of the split already has"
            ))
            .hint(hint));
        }
        Ok(k)
    }
}

impl FormatWriter for WebdatasetWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let mut cur = Current {
            split: split.clone(),
            count: split.rows.div_ceil(self.opts.shard_rows).max(1),
            rows: 0,
            shard: None,
            keys: HashSet::new(),
        };
        self.open(&mut cur, 0)?;
        self.current = Some(cur);
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some(mut cur) = self.current.take() else {
            return Err(StageError::new(
                "internal error: webdataset batch outside a split",
            ));
        };
        let prepared: Vec<Prepared> = self
            .columns
            .iter()
            .map(|c| Prepared::new(&c.name, c.enc, batch.column(c.index)))
            .collect::<Result<_, _>>()?;
        // Every column is prepared in table order: a string key is `.txt` text, an integer
        // key has its decimal JSON text (`.cls` or `.json`).
        let key_col = self.key.map(|i| &prepared[i]);
        let mut members: Vec<(String, &[u8])> = Vec::with_capacity(self.columns.len());
        for row in 0..batch.num_rows() {
            let (index, samples) = cur.shard.as_ref().map_or((0, 0), |s| (s.0, s.3));
            if samples == self.opts.shard_rows {
                Self::close(&mut cur, &mut self.shards)?;
                if index + 1 >= cur.count {
                    return Err(StageError::new(format!(
                        "internal error: split `{}` has more rows than its {} announced",
                        cur.split.name, cur.split.rows
                    )));
                }
                self.open(&mut cur, index + 1)?;
            }
            let key = self.key_of(&mut cur, key_col, row)?;
            members.clear();
            for (c, p) in self.columns.iter().zip(&prepared) {
                match p.member(c.enc, row) {
                    Some((ext, data)) => members.push((format!("{key}.{}.{ext}", c.name), data)),
                    None => {
                        if c.enc == Enc::Image && p.image_without_bytes(row) {
                            *self.missing_images.entry(c.name.clone()).or_default() += 1;
                        }
                    }
                }
            }
            if members.is_empty() {
                return Err(StageError::new(format!(
                    "row {} of split `{}` holds only nulls, and a sample needs at least one member",
                    cur.rows, cur.split.name
                ))
                .hint("drop such rows before the export (normalize `drop_nulls: [...]`)"));
            }
            members.sort_by(|a, b| a.0.cmp(&b.0));
            let Some((_, path, builder, samples)) = &mut cur.shard else {
                return Err(StageError::new("internal error: no open webdataset shard"));
            };
            for (name, data) in &members {
                let h = header(name, data.len() as u64).map_err(|e| {
                    StageError::new(format!(
                        "row {} of split `{}`: member `{name}`: {e}",
                        cur.rows, cur.split.name
                    ))
                    .hint("a member name must fit a tar header (100 bytes); use shorter keys or column names")
                })?;
                builder.append(&h, *data).map_err(|e| file_err(path, e))?;
            }
            *samples += 1;
            cur.rows += 1;
        }
        self.current = Some(cur);
        Ok(())
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some(mut cur) = self.current.take() {
            // Every announced shard exists, even when the split has fewer rows than
            // announced; the row count check reports the difference.
            let last = cur.shard.as_ref().map_or(0, |s| s.0);
            Self::close(&mut cur, &mut self.shards)?;
            for index in last + 1..cur.count {
                self.open(&mut cur, index)?;
                Self::close(&mut cur, &mut self.shards)?;
            }
            check_rows(&self.dir.join(&cur.split.name), cur.split.rows, cur.rows)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        let mut splits = serde_json::Map::new();
        let mut first_pattern = None;
        for s in &self.cx.splits {
            let shards: Vec<&Shard> = self.shards.iter().filter(|x| x.split == s.name).collect();
            let mut total = 0;
            for sh in &shards {
                let found = read_back(&sh.path)?;
                check_rows(&sh.path, sh.samples, found)?;
                total += found;
                res.artifacts.push(Artifact {
                    path: rel(&self.cx, &sh.path),
                    rows: Some(sh.samples),
                    split: Some(s.name.clone()),
                });
            }
            check_rows(&self.dir.join(&s.name), s.rows, total)?;
            let n = shards.len() as u64;
            let pattern = if n > 1 {
                format!("{}-{{{:06}..{:06}}}.tar", s.name, 0, n - 1)
            } else {
                shard_name(&s.name, 0)
            };
            first_pattern.get_or_insert_with(|| pattern.clone());
            splits.insert(
                s.name.clone(),
                json!({
                    "samples": s.rows,
                    "shards": (0..n).map(|i| shard_name(&s.name, i)).collect::<Vec<_>>(),
                    "shard_samples": shards.iter().map(|x| x.samples).collect::<Vec<_>>(),
                    "pattern": pattern,
                }),
            );
        }
        for (col, n) in &self.missing_images {
            res.warnings.push(format!(
                "column `{col}`: {n} image(s) have no bytes in the table (only a path), so their samples lack that member; read the images with `embed_media: true` in normalize"
            ));
        }
        let info_path = self.dir.join("_info.json");
        let info = json!({
            "format": "webdataset",
            "key": match &self.opts.key {
                Some(k) => format!("the value of column `{k}`"),
                None => "the row number within the split, 9 digits".to_owned(),
            },
            "shard_rows": self.opts.shard_rows,
            "members": self
                .columns
                .iter()
                .map(|c| (c.name.clone(), Value::from(c.enc.describe())))
                .collect::<serde_json::Map<_, _>>(),
            "splits": splits,
            "features": self.cx.features,
        });
        let text = serde_json::to_string_pretty(&info)
            .map_err(|e| StageError::new(format!("internal error: {e}")))?;
        std::fs::write(&info_path, text + "\n").map_err(|e| file_err(&info_path, e))?;
        res.artifacts.push(Artifact {
            path: rel(&self.cx, &info_path),
            rows: None,
            split: None,
        });
        res.facts.insert("shards".into(), self.shards.len().into());
        let dir = rel(&self.cx, &self.dir);
        res.snippet = Some(format!(
            "import webdataset as wds\nds = wds.WebDataset(\"{dir}/{}\", shardshuffle=False).decode()",
            first_pattern.unwrap_or_else(|| shard_name("train", 0))
        ));
        Ok(res)
    }
}

/// Re-read a shard: every header, grouped by key into samples; returns the sample count.
fn read_back(path: &Path) -> Result<u64, StageError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let mut samples = 0u64;
    let mut last: Option<String> = None;
    for entry in archive.entries().map_err(|e| file_err(path, e))? {
        let entry = entry.map_err(|e| file_err(path, e))?;
        let name = entry.path().map_err(|e| file_err(path, e))?;
        let name = name.to_string_lossy();
        let Some((key, _)) = name.split_once('.') else {
            return Err(file_err(path, format!("member `{name}` has no extension"))
                .hint("the file is damaged; run the export again"));
        };
        if last.as_deref() != Some(key) {
            samples += 1;
            last = Some(key.to_owned());
        }
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_take_their_extension_from_the_type_and_features() {
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("label", DataType::Int64, true),
            Field::new("stars", DataType::Int64, true),
            Field::new("grade", DataType::Int32, true),
            Field::new("score", DataType::Float64, true),
            Field::new("blob", DataType::Binary, true),
            Field::new(
                "image",
                DataType::Struct(
                    vec![
                        Field::new("bytes", DataType::Binary, true),
                        Field::new("path", DataType::Utf8, true),
                    ]
                    .into(),
                ),
                true,
            ),
        ]);
        let features = json!({
            "grade": {"_type": "ClassLabel", "names": ["a", "b"]},
            "image": {"_type": "Image"},
        });
        let encs: Vec<Enc> = plan(&schema, &features)
            .unwrap()
            .iter()
            .map(|c| c.enc)
            .collect();
        assert_eq!(
            encs,
            [
                Enc::Txt,
                Enc::Cls,
                Enc::Json,
                Enc::Cls,
                Enc::Json,
                Enc::Bin,
                Enc::Image
            ]
        );
    }

    #[test]
    fn bad_column_names_are_refused_with_a_hint() {
        for (names, needle) in [
            (vec!["a.b"], "`a.b`"),
            (vec!["x/y"], "`x/y`"),
            (vec!["__key__"], "`__key__`"),
            (vec!["Text", "text"], "only in case"),
        ] {
            let schema = Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            );
            let e = plan(&schema, &json!({})).unwrap_err();
            assert!(e.message.contains(needle), "{}", e.message);
            assert!(e.hint.unwrap().contains("rename"));
        }
    }

    #[test]
    fn image_bytes_are_recognised() {
        assert_eq!(image_ext(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(image_ext(&[0xff, 0xd8, 0xff, 0xe0]), Some("jpg"));
        assert_eq!(image_ext(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(image_ext(b"GIF89a"), None);
        assert_eq!(path_ext("cats/1.JPEG").as_deref(), Some("jpeg"));
        assert_eq!(path_ext("noext"), None);
        assert_eq!(path_ext("a.b c"), None);
    }

    #[test]
    fn headers_are_deterministic_ustar() {
        let h = header("000000001.text.txt", 5).unwrap();
        let b = h.as_bytes();
        assert_eq!(&b[257..263], b"ustar\0");
        assert_eq!(h.mode().unwrap(), 0o444);
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.username().unwrap(), Some(OWNER));
        assert_eq!(h.groupname().unwrap(), Some(OWNER));
        assert_eq!(
            h.as_bytes(),
            header("000000001.text.txt", 5).unwrap().as_bytes()
        );
    }
}
