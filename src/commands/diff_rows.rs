//! `diff --detailed`: the row-level part of `mldatabuild diff`.
//!
//! For every stage in both builds whose outputs differ (different `output_hash`), the Parquet
//! tables of both sides are read and compared row by row. A side's table files come from the
//! store (the object named by the recorded SHA-256, checked through the stat cache), else from
//! the dataset folder when the file there still has the recorded size and SHA-256; when neither
//! is there, the stage is reported as unavailable and the rest of the diff goes on.
//!
//! **Row identity.** With `--key COL` a row is identified by the text of its `COL` value (so
//! `7` as an integer and `"7"` as a string are the same key); rows sharing a key are paired in
//! file order (first with first, second with second) and counted as duplicates. Without a key a
//! row is identified by its content hash, so a row is either unchanged, added or removed: an
//! edit shows as one removed and one added row.
//!
//! **Row content hash.** BLAKE3 over the row's cells in column-name order, each cell as
//! (column name, canonical bytes): the `arrow::row` encoding when the column has the same type
//! on both sides, else the value's text (arrow's display) with a null tag. Both depend only
//! on the value, never on batch boundaries, row groups or Parquet encodings; reordering columns
//! changes no row.
//!
//! **Memory.** One hash map per side: 128-bit row id → 64-bit content hash + split index,
//! about 40–75 bytes per row and side (32-byte entries plus the map's slack); tables are
//! streamed batch by batch and never held whole. A second streaming pass over both sides
//! collects, for the changed rows only, one 64-bit hash per column (at most
//! [`COLUMN_CELLS_MAX`] cells) to name the changed columns, and the values of the first
//! [`EXAMPLES`] changed rows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::row::{RowConverter, Rows, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lockfile::{Lock, StageLock};
use crate::statcache::StatCache;
use crate::store::Store;

/// Changed rows shown with their old and new values, per stage.
pub(crate) const EXAMPLES: usize = 5;
/// Longest value shown in an example, in characters.
const VALUE_CHARS: usize = 40;
/// Most column hashes kept to name the changed columns (8 bytes each: 128 MiB).
pub(crate) const COLUMN_CELLS_MAX: usize = 16 << 20;
/// Rows per batch when reading.
const BATCH_ROWS: usize = 64 * 1024;

/// One build, as `diff` sees it.
pub(crate) struct Side<'a> {
    pub lock: &'a Lock,
    /// The folder holding the lock's outputs (`output:` next to a lockfile, or the folder of a
    /// `manifest.yaml`).
    pub dataset_dir: PathBuf,
    /// What recreates this build's outputs, for the "not in the store" message.
    pub recreate: String,
}

/// The row-level comparison of one stage.
#[derive(Debug, Serialize)]
pub(crate) struct StageRows {
    /// `compared` or `unavailable`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub result: Option<RowDiff>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct RowDiff {
    /// `key` (rows identified by `key`'s value) or `content` (by the hash of the whole row).
    pub identity: &'static str,
    pub key: Option<String>,
    pub old_rows: u64,
    pub new_rows: u64,
    pub added: u64,
    pub removed: u64,
    /// Same key, different content; `null` when rows are identified by content.
    pub changed: Option<u64>,
    pub unchanged: u64,
    /// Rows whose key an earlier row of the same build already has.
    pub duplicate_keys: Duplicates,
    /// Per column, the changed rows where it differs (most first).
    pub changed_columns: Vec<ColumnCount>,
    /// When not every changed row could be examined for `changed_columns`: how many were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns_counted_over: Option<u64>,
    pub examples: Vec<Example>,
    /// Split stages: per split, rows and rows added / removed (not moves).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub splits: BTreeMap<String, SplitRows>,
    /// Split stages: rows found in another split than before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Move>,
    pub notes: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct Duplicates {
    pub old: u64,
    pub new: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ColumnCount {
    pub column: String,
    pub rows: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Example {
    pub key: String,
    pub columns: Vec<ValueChange>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ValueChange {
    pub column: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct SplitRows {
    pub old_rows: u64,
    pub new_rows: u64,
    pub added: u64,
    pub removed: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Move {
    pub from: String,
    pub to: String,
    pub rows: u64,
}

// ---------------------------------------------------------------------------------------------
// Locating and opening the tables.

/// A stage's table files on one side, with the split each belongs to.
struct TableFiles {
    files: Vec<(PathBuf, String)>,
    rows: u64,
    /// Column name → its types across the files (one unless the files disagree).
    columns: Vec<(String, Vec<DataType>)>,
}

enum Located {
    Files(TableFiles),
    Missing(String),
}

fn split_name(stage: &StageLock, path: &str) -> String {
    let rel = path
        .strip_prefix(stage.output.as_str())
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path);
    rel.strip_suffix(".parquet").unwrap_or(rel).to_owned()
}

fn digest_is(stat: &mut StatCache, path: &Path, size: u64, sha256: &str) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == size)
        && stat.digest(path).is_ok_and(|d| d.sha256 == sha256)
}

fn read_schema(path: &Path) -> std::result::Result<Arc<Schema>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    Ok(builder.schema().clone())
}

fn locate(
    name: &str,
    which: &str,
    stage: &StageLock,
    side: &Side<'_>,
    store: Option<&Store>,
    stat: &mut StatCache,
) -> Located {
    let mut out = TableFiles {
        files: Vec::new(),
        rows: 0,
        columns: Vec::new(),
    };
    for f in stage
        .outputs
        .iter()
        .filter(|f| f.path.ends_with(".parquet"))
    {
        let in_store = store
            .map(|s| s.object_path(&f.sha256))
            .filter(|p| digest_is(stat, p, f.size, &f.sha256));
        let path = in_store.or_else(|| {
            let p = side.dataset_dir.join(&f.path);
            digest_is(stat, &p, f.size, &f.sha256).then_some(p)
        });
        let Some(path) = path else {
            return Located::Missing(format!(
                "{which} outputs of `{name}` are not in the store; {} to recreate them",
                side.recreate
            ));
        };
        let schema = match read_schema(&path) {
            Ok(s) => s,
            Err(e) => {
                return Located::Missing(format!(
                    "cannot read the {which} `{}` of `{name}`: {e}",
                    f.path
                ));
            }
        };
        for field in schema.fields() {
            match out.columns.iter_mut().find(|(n, _)| n == field.name()) {
                Some((_, types)) => {
                    if !types.contains(field.data_type()) {
                        types.push(field.data_type().clone());
                    }
                }
                None => out
                    .columns
                    .push((field.name().clone(), vec![field.data_type().clone()])),
            }
        }
        out.rows += f.rows.unwrap_or(0);
        out.files.push((path, split_name(stage, &f.path)));
    }
    Located::Files(out)
}

// ---------------------------------------------------------------------------------------------
// Hashing rows.

/// Row ids and content hashes are BLAKE3 output already: hash maps use their bits as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, i: u128) {
        self.0 ^= (i as u64) ^ ((i >> 64) as u64);
    }
}

type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<u128, BuildHasherDefault<IdHasher>>;

/// How one column's cells become bytes: the same on both sides.
#[derive(Clone)]
enum Encoding {
    /// `arrow::row` bytes (the column has this one type on both sides).
    Row(Arc<RowConverter>, DataType),
    /// The value's text, after a null tag (types differ, or `arrow::row` cannot encode it).
    Text,
}

/// What is compared: the union of both sides' columns, in name order.
struct Plan {
    columns: Vec<(String, Encoding)>,
    key: Option<String>,
    /// Split names of both sides, sorted (empty for tables that are not split stages).
    splits: Vec<String>,
}

fn plan(old: &TableFiles, new: &TableFiles, key: Option<&str>, is_split: bool) -> Plan {
    let mut names: Vec<&str> = old
        .columns
        .iter()
        .chain(&new.columns)
        .map(|(n, _)| n.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let columns = names
        .into_iter()
        .map(|n| {
            let mut types: Vec<&DataType> = old
                .columns
                .iter()
                .chain(&new.columns)
                .filter(|(c, _)| c == n)
                .flat_map(|(_, t)| t)
                .collect();
            types.dedup();
            let enc = match types.as_slice() {
                [t] if types_agree(&old.columns, &new.columns, n)
                    && !matches!(t, DataType::Dictionary(..))
                    && RowConverter::supports_fields(&[SortField::new((*t).clone())]) =>
                {
                    RowConverter::new(vec![SortField::new((*t).clone())])
                        .map_or(Encoding::Text, |c| Encoding::Row(Arc::new(c), (*t).clone()))
                }
                _ => Encoding::Text,
            };
            (n.to_owned(), enc)
        })
        .collect();
    let mut splits: Vec<String> = if is_split {
        old.files
            .iter()
            .chain(&new.files)
            .map(|(_, s)| s.clone())
            .collect()
    } else {
        Vec::new()
    };
    splits.sort_unstable();
    splits.dedup();
    Plan {
        columns,
        key: key.map(str::to_owned),
        splits,
    }
}

/// The column has one type on every side where it exists.
fn types_agree(a: &[(String, Vec<DataType>)], b: &[(String, Vec<DataType>)], name: &str) -> bool {
    let ta = a.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    let tb = b.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    match (ta, tb) {
        (Some(x), Some(y)) => x.len() == 1 && x == y,
        (Some(x), None) | (None, Some(x)) => x.len() == 1,
        (None, None) => false,
    }
}

/// One column of one batch, ready to give each row's canonical bytes.
enum Cells<'a> {
    Row(Rows),
    Text(ArrayFormatter<'a>, &'a dyn Array),
    Opaque,
}

impl Cells<'_> {
    fn bytes<'s>(&'s self, i: usize, buf: &'s mut String) -> &'s [u8] {
        match self {
            Cells::Row(rows) => rows.row(i).data(),
            Cells::Text(f, a) => {
                buf.clear();
                if a.is_null(i) {
                    buf.push('\0');
                } else {
                    buf.push('\u{1}');
                    if write!(buf, "{}", f.value(i)).is_err() {
                        buf.clear();
                        buf.push('\u{2}');
                    }
                }
                buf.as_bytes()
            }
            Cells::Opaque => b"\x03",
        }
    }
}

const TEXT_OPTIONS: FormatOptions<'static> = FormatOptions::new();

fn cells<'a>(array: &'a ArrayRef, enc: &Encoding) -> Cells<'a> {
    if let Encoding::Row(conv, dt) = enc
        && array.data_type() == dt
        && let Ok(rows) = conv.convert_columns(std::slice::from_ref(array))
    {
        return Cells::Row(rows);
    }
    match ArrayFormatter::try_new(array.as_ref(), &TEXT_OPTIONS) {
        Ok(f) => Cells::Text(f, array.as_ref()),
        // Neither displayable nor row-encodable (no such type in arrow 60): cells hash alike.
        Err(_) => Cells::Opaque,
    }
}

/// A batch's columns, in plan order (`None` where this batch lacks the column).
struct BatchCells<'a> {
    cols: Vec<Option<Cells<'a>>>,
    key: Option<Cells<'a>>,
    rows: usize,
}

fn batch_cells<'a>(batch: &'a RecordBatch, plan: &Plan) -> BatchCells<'a> {
    let schema = batch.schema();
    let cols = plan
        .columns
        .iter()
        .map(|(name, enc)| {
            schema
                .index_of(name)
                .ok()
                .map(|i| cells(batch.column(i), enc))
        })
        .collect();
    let key = plan.key.as_ref().and_then(|k| {
        schema.index_of(k).ok().and_then(|i| {
            ArrayFormatter::try_new(batch.column(i).as_ref(), &TEXT_OPTIONS)
                .ok()
                .map(|f| Cells::Text(f, batch.column(i).as_ref()))
        })
    });
    BatchCells {
        cols,
        key,
        rows: batch.num_rows(),
    }
}

fn u128_of(h: &blake3::Hash) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

fn u64_of(bytes: &[u8]) -> u64 {
    let h = blake3::hash(bytes);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

impl BatchCells<'_> {
    /// The row's content hash (128 bits).
    fn content(&self, plan: &Plan, i: usize, buf: &mut String) -> u128 {
        let mut h = blake3::Hasher::new();
        h.update(b"mldatabuild-row-v1");
        for ((name, _), cells) in plan.columns.iter().zip(&self.cols) {
            let Some(cells) = cells else { continue };
            let bytes = cells.bytes(i, buf);
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        u128_of(&h.finalize())
    }

    /// The row's key id (128 bits), from the text of its key value.
    fn key(&self, i: usize, buf: &mut String) -> Option<u128> {
        let cells = self.key.as_ref()?;
        let mut h = blake3::Hasher::new();
        h.update(b"mldatabuild-key-v1");
        h.update(cells.bytes(i, buf));
        Some(u128_of(&h.finalize()))
    }

    /// The key value as shown in examples.
    fn key_text(&self, i: usize) -> String {
        match &self.key {
            Some(Cells::Text(f, a)) => show(f, *a, i, false),
            _ => String::new(),
        }
    }

    /// One 64-bit hash per plan column (absent columns hash alike).
    fn column_hashes(&self, i: usize, buf: &mut String) -> Box<[u64]> {
        self.cols
            .iter()
            .map(|c| c.as_ref().map_or(ABSENT, |c| u64_of(c.bytes(i, buf))))
            .collect()
    }
}

/// Every plan column's value in row `i`, as shown in examples.
fn row_values(batch: &RecordBatch, plan: &Plan, i: usize) -> Box<[String]> {
    let schema = batch.schema();
    plan.columns
        .iter()
        .map(|(name, _)| match schema.index_of(name) {
            Ok(c) => {
                let a = batch.column(c).as_ref();
                let quoted = matches!(
                    a.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                );
                match ArrayFormatter::try_new(a, &TEXT_OPTIONS) {
                    Ok(f) => show(&f, a, i, quoted),
                    Err(_) => "(not displayable)".into(),
                }
            }
            Err(_) => "(no column)".into(),
        })
        .collect()
}

const ABSENT: u64 = 0x6162_7365_6e74_2121;

/// A value for humans: `null`, strings quoted, at most [`VALUE_CHARS`] characters.
fn show(f: &ArrayFormatter<'_>, a: &dyn Array, i: usize, quoted: bool) -> String {
    if a.is_null(i) {
        return "null".into();
    }
    let text = f.value(i).to_string();
    let text = if text.chars().count() > VALUE_CHARS {
        let mut t: String = text.chars().take(VALUE_CHARS - 1).collect();
        t.push('…');
        t
    } else {
        text
    };
    // Quoted as a JSON string: `"a\"b"`, control characters escaped.
    if quoted {
        serde_json::Value::from(text).to_string()
    } else {
        text
    }
}

fn read_batches(
    files: &TableFiles,
    mut each: impl FnMut(&RecordBatch, u16) -> std::result::Result<(), String>,
    plan: &Plan,
) -> std::result::Result<(), String> {
    for (path, split) in &files.files {
        let split = plan
            .splits
            .iter()
            .position(|s| s == split)
            .unwrap_or(0)
            .min(usize::from(u16::MAX)) as u16;
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for batch in reader {
            let batch = batch.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            each(&batch, split)?;
        }
    }
    Ok(())
}

/// A row in the first pass: content hash (64 bits: compared only between rows with one id)
/// and split index.
#[derive(Clone, Copy)]
struct Entry {
    content: u64,
    split: u16,
}

/// One side after the first pass.
#[derive(Default)]
struct SideRows {
    rows: IdMap<Entry>,
    /// Key id → rows seen with it, for ids seen more than once.
    seen: IdMap<u32>,
    /// Row id of a repeated key → the key id (for the second pass).
    base: IdMap<u128>,
    duplicates: u64,
    total: u64,
    per_split: Vec<u64>,
}

/// The id of the `n`th row (from 0) with key id `key`.
fn nth(key: u128, n: u32) -> u128 {
    if n == 0 {
        return key;
    }
    let mut h = blake3::Hasher::new();
    h.update(b"mldatabuild-dup-v1");
    h.update(&key.to_le_bytes());
    h.update(&n.to_le_bytes());
    u128_of(&h.finalize())
}

fn first_pass(files: &TableFiles, plan: &Plan) -> std::result::Result<SideRows, String> {
    let mut side = SideRows {
        rows: IdMap::with_capacity_and_hasher(
            usize::try_from(files.rows).unwrap_or(0),
            BuildHasherDefault::default(),
        ),
        per_split: vec![0; plan.splits.len().max(1)],
        ..SideRows::default()
    };
    let mut buf = String::new();
    read_batches(
        files,
        |batch, split| {
            let cells = batch_cells(batch, plan);
            for i in 0..cells.rows {
                let content = cells.content(plan, i, &mut buf);
                let key = cells.key(i, &mut buf).unwrap_or(content);
                let entry = Entry {
                    content: content as u64,
                    split,
                };
                let id = if side.rows.contains_key(&key) {
                    let n = side.seen.entry(key).or_insert(1);
                    let id = nth(key, *n);
                    *n += 1;
                    side.duplicates += 1;
                    side.base.insert(id, key);
                    id
                } else {
                    key
                };
                side.rows.insert(id, entry);
                side.total += 1;
                if let Some(c) = side.per_split.get_mut(usize::from(split)) {
                    *c += 1;
                }
            }
            Ok(())
        },
        plan,
    )?;
    Ok(side)
}

/// A changed row of the old side, kept in the second pass.
struct OldRow {
    order: usize,
    columns: Box<[u64]>,
    /// For the first [`EXAMPLES`] changed rows: the key and every value.
    example: Option<(String, Box<[String]>)>,
}

/// Second pass (with a key, when rows changed): which columns differ, and examples.
fn second_pass(
    old: &TableFiles,
    new: &TableFiles,
    plan: &Plan,
    changed: &IdSet,
    keys: &IdSet,
    diff: &mut RowDiff,
) -> std::result::Result<(), String> {
    let ncols = plan.columns.len().max(1);
    let limit = (COLUMN_CELLS_MAX / ncols).max(EXAMPLES);
    let mut kept: IdMap<OldRow> = IdMap::default();
    let mut buf = String::new();
    // The row id of each row whose key has a changed row; rows counted per key as in pass 1.
    let ids = |cells: &BatchCells<'_>,
               i: usize,
               seen: &mut IdMap<u32>,
               buf: &mut String|
     -> Option<u128> {
        let key = cells.key(i, buf)?;
        if !keys.contains(&key) {
            return None;
        }
        let n = seen.entry(key).or_insert(0);
        let id = nth(key, *n);
        *n += 1;
        changed.contains(&id).then_some(id)
    };
    let mut seen = IdMap::default();
    read_batches(
        old,
        |batch, _| {
            let cells = batch_cells(batch, plan);
            for i in 0..cells.rows {
                if kept.len() >= limit {
                    return Ok(());
                }
                let Some(id) = ids(&cells, i, &mut seen, &mut buf) else {
                    continue;
                };
                let order = kept.len();
                let example =
                    (order < EXAMPLES).then(|| (cells.key_text(i), row_values(batch, plan, i)));
                kept.insert(
                    id,
                    OldRow {
                        order,
                        columns: cells.column_hashes(i, &mut buf),
                        example,
                    },
                );
            }
            Ok(())
        },
        plan,
    )?;
    let mut counts = vec![0u64; plan.columns.len()];
    let mut examples: Vec<(usize, Example)> = Vec::new();
    let mut seen = IdMap::default();
    let mut counted = 0u64;
    read_batches(
        new,
        |batch, _| {
            let cells = batch_cells(batch, plan);
            for i in 0..cells.rows {
                let Some(id) = ids(&cells, i, &mut seen, &mut buf) else {
                    continue;
                };
                let Some(o) = kept.get(&id) else { continue };
                counted += 1;
                let cols = cells.column_hashes(i, &mut buf);
                let differ: Vec<usize> = (0..cols.len())
                    .filter(|&c| o.columns.get(c) != cols.get(c))
                    .collect();
                for &c in &differ {
                    counts[c] += 1;
                }
                if let Some((key, old_values)) = &o.example {
                    let new_values = row_values(batch, plan, i);
                    examples.push((
                        o.order,
                        Example {
                            key: key.clone(),
                            columns: differ
                                .iter()
                                .map(|&c| ValueChange {
                                    column: plan.columns[c].0.clone(),
                                    old: old_values.get(c).cloned().unwrap_or_default(),
                                    new: new_values.get(c).cloned().unwrap_or_default(),
                                })
                                .collect(),
                        },
                    ));
                }
            }
            Ok(())
        },
        plan,
    )?;
    let mut cols: Vec<ColumnCount> = plan
        .columns
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|((name, _), rows)| ColumnCount {
            column: name.clone(),
            rows,
        })
        .collect();
    cols.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.column.cmp(&b.column)));
    diff.changed_columns = cols;
    if diff.changed.is_some_and(|c| counted < c) {
        diff.columns_counted_over = Some(counted);
    }
    examples.sort_by_key(|(o, _)| *o);
    diff.examples = examples.into_iter().map(|(_, e)| e).collect();
    Ok(())
}

fn compare_tables(
    old: &TableFiles,
    new: &TableFiles,
    plan: &Plan,
) -> std::result::Result<RowDiff, String> {
    let (a, b) = rayon::join(|| first_pass(old, plan), || first_pass(new, plan));
    let (a, b) = (a?, b?);
    let mut d = RowDiff {
        identity: if plan.key.is_some() { "key" } else { "content" },
        key: plan.key.clone(),
        old_rows: a.total,
        new_rows: b.total,
        duplicate_keys: Duplicates {
            old: a.duplicates,
            new: b.duplicates,
        },
        ..RowDiff::default()
    };
    let nsplits = plan.splits.len().max(1);
    let mut added = vec![0u64; nsplits];
    let mut removed = vec![0u64; nsplits];
    let mut moved: BTreeMap<(u16, u16), u64> = BTreeMap::new();
    let mut changed = IdSet::default();
    let mut changed_keys = IdSet::default();
    let mut unchanged = 0u64;
    for (id, o) in &a.rows {
        match b.rows.get(id) {
            None => {
                if let Some(r) = removed.get_mut(usize::from(o.split)) {
                    *r += 1;
                }
            }
            Some(n) => {
                if o.content == n.content {
                    unchanged += 1;
                } else {
                    changed.insert(*id);
                    changed_keys.insert(a.base.get(id).copied().unwrap_or(*id));
                }
                if o.split != n.split {
                    *moved.entry((o.split, n.split)).or_insert(0) += 1;
                }
            }
        }
    }
    for (id, n) in &b.rows {
        if !a.rows.contains_key(id)
            && let Some(x) = added.get_mut(usize::from(n.split))
        {
            *x += 1;
        }
    }
    d.added = added.iter().sum();
    d.removed = removed.iter().sum();
    d.unchanged = unchanged;
    if plan.key.is_some() {
        d.changed = Some(changed.len() as u64);
    } else {
        d.notes.push(
            "rows are identified by their content, so a changed row shows as removed + added; \
             pass --key COLUMN to pair rows by a column"
                .into(),
        );
    }
    if d.duplicate_keys.old + d.duplicate_keys.new > 0 {
        d.notes.push(if plan.key.is_some() {
            format!(
                "{} rows of the old build and {} of the new repeat a key: rows sharing a key are \
                 compared in file order",
                d.duplicate_keys.old, d.duplicate_keys.new
            )
        } else {
            format!(
                "{} rows of the old build and {} of the new repeat an earlier row: identical rows \
                 are paired in file order",
                d.duplicate_keys.old, d.duplicate_keys.new
            )
        });
    }
    if !plan.splits.is_empty() {
        for (i, name) in plan.splits.iter().enumerate() {
            d.splits.insert(
                name.clone(),
                SplitRows {
                    old_rows: a.per_split.get(i).copied().unwrap_or(0),
                    new_rows: b.per_split.get(i).copied().unwrap_or(0),
                    added: added.get(i).copied().unwrap_or(0),
                    removed: removed.get(i).copied().unwrap_or(0),
                },
            );
        }
        let name = |i: u16| plan.splits.get(usize::from(i)).cloned().unwrap_or_default();
        d.moved = moved
            .into_iter()
            .map(|((f, t), rows)| Move {
                from: name(f),
                to: name(t),
                rows,
            })
            .collect();
    }
    drop((a, b));
    if !changed.is_empty() {
        second_pass(old, new, plan, &changed, &changed_keys, &mut d)?;
    }
    Ok(d)
}

// ---------------------------------------------------------------------------------------------
// The command's part.

/// The store named by `MLDATA_HOME` (or `~/.mldata`), only read: unlike `Store::from_env`,
/// this creates no folders.
fn store_without_creating() -> Option<Store> {
    let root = match std::env::var_os("MLDATA_HOME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".mldata"),
    };
    Some(Store { root })
}

/// Row-level comparison of every stage in both builds whose outputs differ, by stage name.
pub(crate) fn compare(
    old: &Side<'_>,
    new: &Side<'_>,
    key: Option<&str>,
    stat: &mut StatCache,
) -> Result<BTreeMap<String, StageRows>> {
    let store = store_without_creating();
    let mut located = Vec::new();
    for (name, a) in &old.lock.stages {
        let Some(b) = new.lock.stages.get(name) else {
            continue;
        };
        if a.output_hash == b.output_hash {
            continue;
        }
        let has_tables = |s: &StageLock| s.outputs.iter().any(|f| f.path.ends_with(".parquet"));
        if !has_tables(a) && !has_tables(b) {
            continue;
        }
        let la = locate(name, "old", a, old, store.as_ref(), stat);
        let lb = locate(name, "new", b, new, store.as_ref(), stat);
        let is_split = a.kind == "split" && b.kind == "split";
        located.push((name, la, lb, is_split));
    }
    // The key must name a column of at least one table we can read.
    if let Some(k) = key {
        let mut all: Vec<&str> = Vec::new();
        for (_, la, lb, _) in &located {
            for l in [la, lb] {
                if let Located::Files(t) = l {
                    for (c, _) in &t.columns {
                        if !all.contains(&c.as_str()) {
                            all.push(c);
                        }
                    }
                }
            }
        }
        if !all.is_empty() && !all.contains(&k) {
            let stages: Vec<&str> = located.iter().map(|(n, ..)| n.as_str()).collect();
            let hint = crate::spec::error::did_you_mean(k, all.iter().copied())
                .map_or_else(String::new, |d| format!("{d} "));
            return Err(Error::user(format!(
                "--key {k}: no such column in the tables of {}",
                stages.join(", ")
            ))
            .hint(format!("{hint}the columns are: {}", all.join(", "))));
        }
    }
    let mut out = BTreeMap::new();
    for (name, la, lb, is_split) in located {
        let (ta, tb) = match (la, lb) {
            (Located::Files(a), Located::Files(b)) => (a, b),
            (Located::Missing(r), _) | (_, Located::Missing(r)) => {
                out.insert(
                    name.clone(),
                    StageRows {
                        status: "unavailable",
                        reason: Some(r),
                        result: None,
                    },
                );
                continue;
            }
        };
        let has = |t: &TableFiles, k: &str| t.columns.iter().any(|(c, _)| c == k);
        let mut note = None;
        let stage_key = key.filter(|k| {
            let ok = has(&ta, k) && has(&tb, k);
            if !ok {
                let where_ = match (has(&ta, k), has(&tb, k)) {
                    (true, false) => "is only in the old build",
                    (false, true) => "is only in the new build",
                    _ => "is not in this stage's tables",
                };
                note = Some(format!(
                    "column `{k}` {where_}: rows are identified by their content"
                ));
            }
            ok
        });
        let plan = plan(&ta, &tb, stage_key, is_split);
        let rows = match compare_tables(&ta, &tb, &plan) {
            Ok(mut d) => {
                if let Some(n) = note {
                    d.notes.insert(0, n);
                }
                StageRows {
                    status: "compared",
                    reason: None,
                    result: Some(d),
                }
            }
            Err(e) => StageRows {
                status: "unavailable",
                reason: Some(e),
                result: None,
            },
        };
        out.insert(name.clone(), rows);
    }
    Ok(out)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The human text of the row-level comparison (appended to the lock-level diff).
pub(crate) fn render(rows: &BTreeMap<String, StageRows>, s: &mut String) {
    for (name, r) in rows {
        let Some(d) = &r.result else {
            let _ = writeln!(
                s,
                "rows {name}: unavailable: {}",
                r.reason.as_deref().unwrap_or("")
            );
            continue;
        };
        let by = d
            .key
            .as_ref()
            .map_or_else(|| "by content".to_owned(), |k| format!("by {k}"));
        let _ = writeln!(
            s,
            "rows {name} ({by}): {} → {}",
            plural(d.old_rows, "row", "rows"),
            plural(d.new_rows, "row", "rows")
        );
        let _ = writeln!(s, "  + {} added", d.added);
        let _ = writeln!(s, "  - {} removed", d.removed);
        if let Some(c) = d.changed {
            let cols: Vec<String> = d
                .changed_columns
                .iter()
                .map(|c| format!("{} ({})", c.column, c.rows))
                .collect();
            if cols.is_empty() {
                let _ = writeln!(s, "  ~ {c} changed");
            } else {
                let _ = writeln!(s, "  ~ {c} changed: {}", cols.join(", "));
            }
            if let Some(n) = d.columns_counted_over {
                let _ = writeln!(s, "    (columns counted over the first {n} changed rows)");
            }
            for e in &d.examples {
                let changes: Vec<String> = e
                    .columns
                    .iter()
                    .map(|v| format!("{} {} → {}", v.column, v.old, v.new))
                    .collect();
                let k = d.key.as_deref().unwrap_or("key");
                let _ = writeln!(s, "      {k} {}: {}", e.key, changes.join("; "));
            }
        }
        let _ = writeln!(s, "  = {} unchanged", d.unchanged);
        for m in &d.moved {
            let _ = writeln!(s, "  moved {} → {}: {}", m.from, m.to, m.rows);
        }
        for (split, x) in &d.splits {
            if x.added + x.removed > 0 {
                let _ = writeln!(
                    s,
                    "  split {split}: {} added, {} removed",
                    x.added, x.removed
                );
            }
        }
        for n in &d.notes {
            let _ = writeln!(s, "  note: {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::Field;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    fn batch(texts: &[Option<&str>]) -> RecordBatch {
        let n = texts.len() as i64;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from(texts.to_vec())),
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| i as f64 / 3.0),
                )),
            ],
        )
        .unwrap()
    }

    /// Write `b` in slices of `chunk` rows with the given properties; read back its plan input.
    fn table(
        dir: &Path,
        name: &str,
        b: &RecordBatch,
        chunk: usize,
        props: WriterProperties,
    ) -> TableFiles {
        let path = dir.join(name);
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            b.schema(),
            Some(props),
        )
        .unwrap();
        let mut at = 0;
        while at < b.num_rows() {
            let len = chunk.min(b.num_rows() - at);
            w.write(&b.slice(at, len)).unwrap();
            w.flush().unwrap();
            at += len;
        }
        w.close().unwrap();
        let schema = read_schema(&path).unwrap();
        TableFiles {
            files: vec![(path, "all".into())],
            rows: b.num_rows() as u64,
            columns: schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), vec![f.data_type().clone()]))
                .collect(),
        }
    }

    fn texts(n: usize) -> Vec<Option<String>> {
        (0..n)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some(String::new()),
                _ => Some(format!("text {}", i % 11)),
            })
            .collect()
    }

    #[test]
    fn row_hashes_ignore_batches_row_groups_and_encodings() {
        let dir = tempfile::tempdir().unwrap();
        let t = texts(1000);
        let b = batch(&t.iter().map(Option::as_deref).collect::<Vec<_>>());
        let a = table(
            dir.path(),
            "a.parquet",
            &b,
            1000,
            WriterProperties::builder().build(),
        );
        let c = table(
            dir.path(),
            "c.parquet",
            &b,
            77,
            WriterProperties::builder()
                .set_dictionary_enabled(false)
                .set_max_row_group_row_count(Some(50))
                .build(),
        );
        for key in [None, Some("id")] {
            let p = plan(&a, &c, key, false);
            let d = compare_tables(&a, &c, &p).unwrap();
            assert_eq!(
                (d.added, d.removed, d.unchanged),
                (0, 0, 1000),
                "key {key:?}"
            );
            assert_eq!(d.changed, key.map(|_| 0));
        }
    }

    #[test]
    fn null_and_empty_string_differ() {
        let dir = tempfile::tempdir().unwrap();
        let a = table(
            dir.path(),
            "a.parquet",
            &batch(&[None, Some("x")]),
            2,
            WriterProperties::builder().build(),
        );
        let b = table(
            dir.path(),
            "b.parquet",
            &batch(&[Some(""), Some("x")]),
            2,
            WriterProperties::builder().build(),
        );
        let d = compare_tables(&a, &b, &plan(&a, &b, Some("id"), false)).unwrap();
        assert_eq!(d.changed, Some(1));
        assert_eq!(d.changed_columns[0].column, "text");
        assert_eq!(d.examples[0].key, "0");
        assert_eq!(d.examples[0].columns[0].old, "null");
        assert_eq!(d.examples[0].columns[0].new, "\"\"");
    }
}
