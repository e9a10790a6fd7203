//! The `tfrecord` format: TFRecord files of `tf.train.Example` protobufs, hand-encoded, with
//! a `schema.json` sidecar that describes every feature so readers can rebuild shapes.
//!
//! A TFRecord file is a sequence of records, all little-endian:
//! `u64 length | u32 masked_crc32c(length bytes) | data | u32 masked_crc32c(data)`.
//! Each record's data is one row as an `Example`:
//! `Example{features=1: Features{feature=1: map<string, Feature>}}`, the map entries sorted
//! by key, and `Feature` one of `bytes_list=1`, `float_list=2`, `int64_list=3` (the numeric
//! lists packed). Strings and binary become `bytes_list`; integers, booleans, dates (days),
//! times and timestamps (their integer unit) `int64_list`; floats `float_list` (float32);
//! lists of those flat lists of the same kind; a null an empty list of the column's kind.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, make_array};
use arrow::buffer::NullBuffer;
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Float32Type, Int64Type, TimeUnit};
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};

use super::options::{TextCompression, TfrecordOptions};
use super::writer::{
    Artifact, ExportContext, FormatResult, FormatWriter, Sink, SplitInfo, check_rows, file_err, rel,
};
use crate::stages::StageError;

/// The format's folder.
const FOLDER: &str = "tfrecord";

/// Records larger than this are refused when reading back (TensorFlow's own readers cap a
/// record at 2 GiB).
const MAX_RECORD: u64 = 1 << 31;

// ---------------------------------------------------------------------------------------
// CRC-32C (Castagnoli), table-driven, slicing by 8.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 0 { c >> 1 } else { (c >> 1) ^ POLY };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

/// CRC-32C of `data` (`crc32c(b"123456789") == 0xE306_9283`).
pub fn crc32c(data: &[u8]) -> u32 {
    let t = &CRC_TABLES;
    let mut c = !0u32;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// The CRC as TFRecord stores it: rotated and offset, so that CRCs of data holding CRCs
/// stay well distributed.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Append one record (framing and CRCs around `data`).
pub fn put_record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

// ---------------------------------------------------------------------------------------
// Protobuf encoding of `tf.train.Example`.

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2) with a one-byte tag.
fn put_len_field(out: &mut Vec<u8>, field: u8, body: &[u8]) {
    out.push(field << 3 | 2);
    put_varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// The kind of list a column's values go into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bytes,
    Float,
    Int64,
}

impl Kind {
    /// The field number of the list in `Feature`'s oneof.
    fn field(self) -> u8 {
        match self {
            Kind::Bytes => 1,
            Kind::Float => 2,
            Kind::Int64 => 3,
        }
    }

    fn list_name(self) -> &'static str {
        match self {
            Kind::Bytes => "bytes_list",
            Kind::Float => "float_list",
            Kind::Int64 => "int64_list",
        }
    }

    /// The type name in a description dict of the `tfrecord` Python package.
    fn reader_name(self) -> &'static str {
        match self {
            Kind::Bytes => "byte",
            Kind::Float => "float",
            Kind::Int64 => "int",
        }
    }

    fn tf_dtype(self) -> &'static str {
        match self {
            Kind::Bytes => "tf.string",
            Kind::Float => "tf.float32",
            Kind::Int64 => "tf.int64",
        }
    }
}

/// The values of one feature of one row, to encode.
enum Values<'a> {
    Bytes(Vec<&'a [u8]>),
    Float(&'a [f32]),
    Int64(&'a [i64]),
}

/// Append the `Feature` message's body (the oneof's list) for `values`.
fn put_feature(out: &mut Vec<u8>, values: &Values<'_>, scratch: &mut Vec<u8>) {
    scratch.clear();
    let field = match values {
        Values::Bytes(v) => {
            for b in v {
                put_len_field(scratch, 1, b);
            }
            Kind::Bytes.field()
        }
        Values::Float(v) => {
            if !v.is_empty() {
                scratch.push(1 << 3 | 2);
                put_varint(scratch, 4 * v.len() as u64);
                for f in *v {
                    scratch.extend_from_slice(&f.to_le_bytes());
                }
            }
            Kind::Float.field()
        }
        Values::Int64(v) => {
            if !v.is_empty() {
                let mut packed = Vec::with_capacity(v.len() * 2);
                for &i in *v {
                    // Two's complement: a negative value takes ten bytes.
                    put_varint(&mut packed, i as u64);
                }
                put_len_field(scratch, 1, &packed);
            }
            Kind::Int64.field()
        }
    };
    put_len_field(out, field, scratch);
}

/// Encodes rows as `Example`s, reusing its buffers.
#[derive(Default)]
struct ExampleEncoder {
    features: Vec<u8>,
    entry: Vec<u8>,
    feature: Vec<u8>,
    list: Vec<u8>,
}

impl ExampleEncoder {
    /// Encode one row: `(key, values)` pairs, already sorted by key.
    fn encode<'a>(
        &mut self,
        entries: impl Iterator<Item = (&'a str, Values<'a>)>,
        out: &mut Vec<u8>,
    ) {
        self.features.clear();
        for (key, values) in entries {
            self.feature.clear();
            put_feature(&mut self.feature, &values, &mut self.list);
            self.entry.clear();
            put_len_field(&mut self.entry, 1, key.as_bytes());
            put_len_field(&mut self.entry, 2, &self.feature);
            put_len_field(&mut self.features, 1, &self.entry);
        }
        out.clear();
        put_len_field(out, 1, &self.features);
    }
}

// ---------------------------------------------------------------------------------------
// Protobuf reading, to check what was written.

struct Pb<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Pb<'a> {
    fn new(data: &'a [u8]) -> Self {
        Pb { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .data
                .get(self.pos)
                .ok_or("a varint runs past the end")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint is longer than ten bytes".into())
    }

    /// The next field, which must be length-delimited: (field number, body).
    fn len_field(&mut self) -> Result<(u64, &'a [u8]), String> {
        let tag = self.varint()?;
        if tag & 7 != 2 {
            return Err(format!(
                "field {} has wire type {}, expected 2",
                tag >> 3,
                tag & 7
            ));
        }
        let len = usize::try_from(self.varint()?).map_err(|e| e.to_string())?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.data.len())
            .ok_or("a field runs past the end")?;
        let body = &self.data[self.pos..end];
        self.pos = end;
        Ok((tag >> 3, body))
    }
}

/// Check that `data` is an `Example` holding `expected` features, each with a UTF-8 key and
/// exactly one list.
fn check_example(data: &[u8], expected: usize) -> Result<(), String> {
    let mut found = 0;
    let mut top = Pb::new(data);
    while !top.done() {
        let (field, body) = top.len_field()?;
        if field != 1 {
            return Err(format!("unexpected field {field} in Example"));
        }
        let mut features = Pb::new(body);
        while !features.done() {
            let (field, entry) = features.len_field()?;
            if field != 1 {
                return Err(format!("unexpected field {field} in Features"));
            }
            let (mut key, mut value) = (false, false);
            let mut e = Pb::new(entry);
            while !e.done() {
                match e.len_field()? {
                    (1, k) => {
                        std::str::from_utf8(k).map_err(|_| "a feature name is not UTF-8")?;
                        key = true;
                    }
                    (2, feature) => {
                        let mut f = Pb::new(feature);
                        let (kind, _) = f.len_field()?;
                        if !(1..=3).contains(&kind) || !f.done() {
                            return Err("a Feature does not hold exactly one list".into());
                        }
                        value = true;
                    }
                    (other, _) => return Err(format!("unexpected field {other} in a map entry")),
                }
            }
            if !(key && value) {
                return Err("a map entry lacks its key or its value".into());
            }
            found += 1;
        }
    }
    if found == expected {
        Ok(())
    } else {
        Err(format!("{found} features, expected {expected}"))
    }
}

// ---------------------------------------------------------------------------------------
// Columns.

/// How many values a feature holds per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One (a scalar column).
    Scalar,
    /// A list of any length.
    Variable,
    /// A list of this fixed length.
    Fixed(i32),
}

/// How one column becomes a feature.
#[derive(Debug, Clone)]
struct Column {
    index: usize,
    name: String,
    kind: Kind,
    shape: Shape,
    arrow_type: String,
    /// How the values are stored, for schema.json.
    encoding: &'static str,
    nulls: u64,
}

/// The list kind of a scalar Arrow type, and how its values are stored.
fn scalar_kind(dt: &DataType) -> Option<(Kind, &'static str)> {
    use DataType as T;
    Some(match dt {
        T::Utf8 | T::LargeUtf8 | T::Utf8View => (Kind::Bytes, "UTF-8 bytes"),
        T::Binary | T::LargeBinary | T::BinaryView | T::FixedSizeBinary(_) => {
            (Kind::Bytes, "raw bytes")
        }
        T::Null => (Kind::Bytes, "always null (empty lists)"),
        T::Boolean => (Kind::Int64, "0 (false) or 1 (true)"),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 => {
            (Kind::Int64, "integer")
        }
        T::UInt64 => (Kind::Int64, "integer (values above 2^63-1 are refused)"),
        T::Date32 => (Kind::Int64, "days since 1970-01-01"),
        T::Date64 => (Kind::Int64, "milliseconds since 1970-01-01"),
        T::Timestamp(unit, _) | T::Time32(unit) | T::Time64(unit) | T::Duration(unit) => (
            Kind::Int64,
            match unit {
                TimeUnit::Second => "seconds",
                TimeUnit::Millisecond => "milliseconds",
                TimeUnit::Microsecond => "microseconds",
                TimeUnit::Nanosecond => "nanoseconds",
            },
        ),
        T::Float16 | T::Float32 => (Kind::Float, "float32"),
        T::Float64 => (Kind::Float, "float32 (converted from float64)"),
        T::Dictionary(_, v) => return scalar_kind(v),
        _ => return None,
    })
}

fn unsupported(name: &str, dt: &DataType, why: &str) -> StageError {
    StageError::new(format!(
        "column `{name}` of type {dt} cannot be a tf.train.Example feature: {why}"
    ))
    .hint(format!(
        "a tf.train.Example feature is one flat list of bytes, int64 or float; drop the column (normalize `drop: [{name}]`) or flatten it, or export it in another format (parquet, jsonl)"
    ))
}

/// How each column of `schema` becomes a feature; an error names the first column that
/// cannot be one.
fn plan(schema: &arrow::datatypes::Schema) -> Result<Vec<Column>, StageError> {
    let mut out = Vec::new();
    for (index, f) in schema.fields().iter().enumerate() {
        let dt = f.data_type();
        let (item, shape) = match dt {
            DataType::List(c) | DataType::LargeList(c) => (c.data_type(), Shape::Variable),
            DataType::FixedSizeList(c, n) => (c.data_type(), Shape::Fixed(*n)),
            other => (other, Shape::Scalar),
        };
        let Some((kind, encoding)) = scalar_kind(item) else {
            let why = match item {
                DataType::Struct(_) => "structs have no flat form",
                DataType::Map(..) => "maps have no flat form",
                DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::ListView(_)
                | DataType::LargeListView(_) => {
                    if shape == Shape::Scalar {
                        "list views are not supported"
                    } else {
                        "lists of lists have no flat form"
                    }
                }
                _ => "the type has no Example list kind",
            };
            return Err(unsupported(f.name(), dt, why));
        };
        out.push(Column {
            index,
            name: f.name().clone(),
            kind,
            shape,
            arrow_type: dt.to_string(),
            encoding,
            nulls: 0,
        });
    }
    Ok(out)
}

/// A dictionary array as its values.
pub(super) fn undictionary(a: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    match a.data_type() {
        DataType::Dictionary(_, v) => cast(a, v),
        _ => Ok(a.clone()),
    }
}

/// Values cast to the list kind's Arrow type: Int64 (temporal types by their integer
/// representation), Float32, or unchanged (bytes).
fn to_kind(a: &ArrayRef, kind: Kind) -> Result<ArrayRef, arrow::error::ArrowError> {
    let a = undictionary(a)?;
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    match kind {
        Kind::Bytes => Ok(a),
        Kind::Float => cast_with_options(&a, &DataType::Float32, &strict),
        Kind::Int64 => {
            let physical = match a.data_type() {
                DataType::Date32 | DataType::Time32(_) => Some(DataType::Int32),
                DataType::Date64
                | DataType::Time64(_)
                | DataType::Timestamp(..)
                | DataType::Duration(_) => Some(DataType::Int64),
                _ => None,
            };
            let a = match physical {
                Some(t) => make_array(a.to_data().into_builder().data_type(t).build()?),
                None => a,
            };
            cast_with_options(&a, &DataType::Int64, &strict)
        }
    }
}

/// The bytes of value `i` of a string or binary array.
pub(super) fn bytes_at(a: &dyn Array, i: usize) -> &[u8] {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(i).as_bytes(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).as_bytes(),
        DataType::Utf8View => a.as_string_view().value(i).as_bytes(),
        DataType::Binary => a.as_binary::<i32>().value(i),
        DataType::LargeBinary => a.as_binary::<i64>().value(i),
        DataType::BinaryView => a.as_binary_view().value(i),
        DataType::FixedSizeBinary(_) => a.as_fixed_size_binary().value(i),
        _ => &[],
    }
}

/// One column of one batch, ready to encode row by row.
struct Prepared {
    /// The column (its nulls are the rows' nulls; its offsets the lists').
    column: ArrayRef,
    nulls: Option<NullBuffer>,
    /// The scalar values, cast for the kind: the column, or a list's child values.
    values: ArrayRef,
    value_nulls: Option<NullBuffer>,
}

impl Prepared {
    fn new(col: &Column, column: &ArrayRef) -> Result<Self, StageError> {
        let err = |e: arrow::error::ArrowError| {
            StageError::new(format!(
                "column `{}` ({}): {e}",
                col.name, col.arrow_type
            ))
            .hint("a value does not fit the feature's kind (an unsigned integer above 2^63-1?); cast or drop the column")
        };
        let column = undictionary(column).map_err(err)?;
        let child = match column.data_type() {
            DataType::List(_) => Some(column.as_list::<i32>().values().clone()),
            DataType::LargeList(_) => Some(column.as_list::<i64>().values().clone()),
            DataType::FixedSizeList(..) => Some(column.as_fixed_size_list().values().clone()),
            _ => None,
        };
        let values = to_kind(child.as_ref().unwrap_or(&column), col.kind).map_err(err)?;
        Ok(Prepared {
            nulls: column.logical_nulls(),
            value_nulls: values.logical_nulls(),
            column,
            values,
        })
    }

    /// The range of `values` that row `i` holds.
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        match self.column.data_type() {
            DataType::List(_) => {
                let o = self.column.as_list::<i32>().value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            DataType::LargeList(_) => {
                let o = self.column.as_list::<i64>().value_offsets();
                o[i] as usize..o[i + 1] as usize
            }
            DataType::FixedSizeList(_, n) => {
                let start = self.column.as_fixed_size_list().value_offset_at(i);
                start..start + *n as usize
            }
            _ => i..i + 1,
        }
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(i))
    }

    /// Row `i`'s values; None when a list holds a null element.
    fn values(&self, kind: Kind, i: usize) -> Option<Values<'_>> {
        if self.is_null(i) {
            return Some(match kind {
                Kind::Bytes => Values::Bytes(Vec::new()),
                Kind::Float => Values::Float(&[]),
                Kind::Int64 => Values::Int64(&[]),
            });
        }
        let r = self.range(i);
        if let Some(n) = &self.value_nulls
            && r.clone().any(|j| n.is_null(j))
        {
            return None;
        }
        Some(match kind {
            Kind::Bytes => Values::Bytes(r.map(|j| bytes_at(self.values.as_ref(), j)).collect()),
            Kind::Float => Values::Float(&self.values.as_primitive::<Float32Type>().values()[r]),
            Kind::Int64 => Values::Int64(&self.values.as_primitive::<Int64Type>().values()[r]),
        })
    }
}

// ---------------------------------------------------------------------------------------
// The writer.

/// A finished file.
struct Shard {
    split: String,
    path: PathBuf,
    rows: u64,
}

/// The split being written.
struct Current {
    split: SplitInfo,
    /// Files the split gets: ceil(rows / shard_rows), at least 1.
    count: u64,
    /// Rows of the split written so far.
    rows: u64,
    /// The open file: its index, path, sink and rows.
    file: Option<(u64, PathBuf, Sink, u64)>,
}

/// Writes `tfrecord/<split>-0000i-of-0000N.tfrecord[.gz]` and `tfrecord/schema.json`.
struct TfrecordWriter {
    cx: ExportContext,
    opts: TfrecordOptions,
    dir: PathBuf,
    columns: Vec<Column>,
    /// Indices into `columns`, sorted by name: the order of the map entries.
    order: Vec<usize>,
    current: Option<Current>,
    shards: Vec<Shard>,
    encoder: ExampleEncoder,
    example: Vec<u8>,
    buf: Vec<u8>,
}

pub fn create(
    cx: &ExportContext,
    opts: &TfrecordOptions,
) -> Result<Box<dyn FormatWriter>, StageError> {
    let columns = plan(&cx.schema)?;
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by(|&a, &b| columns[a].name.cmp(&columns[b].name));
    Ok(Box::new(TfrecordWriter {
        dir: cx.format_dir(FOLDER)?,
        cx: cx.clone(),
        opts: opts.clone(),
        columns,
        order,
        current: None,
        shards: Vec::new(),
        encoder: ExampleEncoder::default(),
        example: Vec::new(),
        buf: Vec::with_capacity(4 << 20),
    }))
}

impl TfrecordWriter {
    fn ext(&self) -> &'static str {
        match self.opts.compression {
            TextCompression::None => "tfrecord",
            TextCompression::Gzip => "tfrecord.gz",
        }
    }

    /// Close the open file, if any.
    fn close(cur: &mut Current, shards: &mut Vec<Shard>) -> Result<(), StageError> {
        if let Some((_, path, sink, rows)) = cur.file.take() {
            sink.finish().map_err(|e| file_err(&path, e))?;
            shards.push(Shard {
                split: cur.split.name.clone(),
                path,
                rows,
            });
        }
        Ok(())
    }

    /// Open file `index` of the current split.
    fn open(&self, cur: &mut Current, index: u64) -> Result<(), StageError> {
        let path = self.dir.join(format!(
            "{}-{index:05}-of-{:05}.{}",
            cur.split.name,
            cur.count,
            self.ext()
        ));
        let sink = Sink::create(&path, self.opts.compression)?;
        cur.file = Some((index, path, sink, 0));
        Ok(())
    }
}

impl FormatWriter for TfrecordWriter {
    fn begin_split(&mut self, split: &SplitInfo) -> Result<(), StageError> {
        let mut cur = Current {
            split: split.clone(),
            count: split.rows.div_ceil(self.opts.shard_rows).max(1),
            rows: 0,
            file: None,
        };
        self.open(&mut cur, 0)?;
        self.current = Some(cur);
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        let Some(mut cur) = self.current.take() else {
            return Err(StageError::new(
                "internal error: tfrecord batch outside a split",
            ));
        };
        let prepared: Vec<Prepared> = self
            .columns
            .iter()
            .map(|c| Prepared::new(c, batch.column(c.index)))
            .collect::<Result<_, _>>()?;
        for (c, p) in self.columns.iter_mut().zip(&prepared) {
            c.nulls += (0..batch.num_rows()).filter(|&i| p.is_null(i)).count() as u64;
        }
        self.buf.clear();
        for row in 0..batch.num_rows() {
            let (index, rows) = cur.file.as_ref().map_or((0, 0), |f| (f.0, f.3));
            if rows == self.opts.shard_rows {
                // Flush what this file has buffered, then start the next one.
                if let Some((_, path, sink, _)) = &mut cur.file {
                    sink.write_all(&self.buf).map_err(|e| file_err(path, e))?;
                }
                self.buf.clear();
                Self::close(&mut cur, &mut self.shards)?;
                if index + 1 >= cur.count {
                    return Err(StageError::new(format!(
                        "internal error: split `{}` has more rows than its {} announced",
                        cur.split.name, cur.split.rows
                    )));
                }
                self.open(&mut cur, index + 1)?;
            }
            let mut entries = Vec::with_capacity(self.order.len());
            for &k in &self.order {
                let col = &self.columns[k];
                let Some(values) = prepared[k].values(col.kind, row) else {
                    return Err(StageError::new(format!(
                        "column `{}` holds a null inside a list (row {} of split `{}`), which an Example list cannot hold",
                        col.name,
                        cur.rows,
                        cur.split.name
                    ))
                    .hint("drop or fill those values before the export, or export the column in another format (parquet keeps them)"));
                };
                entries.push((col.name.as_str(), values));
            }
            self.encoder.encode(entries.into_iter(), &mut self.example);
            put_record(&mut self.buf, &self.example);
            cur.rows += 1;
            if let Some(f) = &mut cur.file {
                f.3 += 1;
            }
        }
        if let Some((_, path, sink, _)) = &mut cur.file {
            sink.write_all(&self.buf).map_err(|e| file_err(path, e))?;
        }
        self.current = Some(cur);
        Ok(())
    }

    fn end_split(&mut self) -> Result<(), StageError> {
        if let Some(mut cur) = self.current.take() {
            // A split with fewer rows than announced still gets all its files, so that the
            // names' `-of-N` hold; the row count check below reports the difference.
            let last = cur.file.as_ref().map_or(0, |f| f.0);
            Self::close(&mut cur, &mut self.shards)?;
            for index in last + 1..cur.count {
                self.open(&mut cur, index)?;
                Self::close(&mut cur, &mut self.shards)?;
            }
            let path = self.dir.join(&cur.split.name);
            check_rows(&path, cur.split.rows, cur.rows)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<FormatResult, StageError> {
        let mut res = FormatResult::default();
        let gzip = self.opts.compression == TextCompression::Gzip;
        let mut splits = serde_json::Map::new();
        for s in &self.cx.splits {
            let files: Vec<&Shard> = self.shards.iter().filter(|f| f.split == s.name).collect();
            let mut total = 0;
            for f in &files {
                let found = read_back(&f.path, gzip, self.columns.len())?;
                check_rows(&f.path, f.rows, found)?;
                total += found;
                res.artifacts.push(Artifact {
                    path: rel(&self.cx, &f.path),
                    rows: Some(f.rows),
                    split: Some(s.name.clone()),
                });
            }
            check_rows(&self.dir.join(&s.name), s.rows, total)?;
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    f.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            splits.insert(
                s.name.clone(),
                json!({"rows": s.rows, "files": names, "file_rows": files.iter().map(|f| f.rows).collect::<Vec<_>>()}),
            );
        }
        let schema_path = self.dir.join("schema.json");
        let schema = schema_json(&self.columns, &self.cx.features, &self.opts, &splits);
        let text = serde_json::to_string_pretty(&schema)
            .map_err(|e| StageError::new(format!("internal error: {e}")))?;
        std::fs::write(&schema_path, text + "\n").map_err(|e| file_err(&schema_path, e))?;
        res.artifacts.push(Artifact {
            path: rel(&self.cx, &schema_path),
            rows: None,
            split: None,
        });
        res.facts.insert("shards".into(), self.shards.len().into());
        res.facts.insert(
            "compression".into(),
            if gzip { "gzip" } else { "none" }.into(),
        );
        res.snippet = Some(snippet(
            &rel(&self.cx, &self.dir),
            &self.columns,
            self.cx.splits.first().map_or("train", |s| s.name.as_str()),
            self.ext(),
            gzip,
        ));
        Ok(res)
    }
}

/// The `tf.io` parsing spec of a feature: fixed-length when every row has the same number of
/// values (a scalar or a fixed-size list without nulls), else variable-length.
fn tf_spec(c: &Column) -> String {
    match (c.shape, c.nulls) {
        (Shape::Scalar, 0) => format!("tf.io.FixedLenFeature([], {})", c.kind.tf_dtype()),
        (Shape::Fixed(n), 0) => format!("tf.io.FixedLenFeature([{n}], {})", c.kind.tf_dtype()),
        _ => format!("tf.io.VarLenFeature({})", c.kind.tf_dtype()),
    }
}

fn schema_json(
    columns: &[Column],
    features: &Value,
    opts: &TfrecordOptions,
    splits: &serde_json::Map<String, Value>,
) -> Value {
    let feats: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "kind": c.kind.list_name(),
                "arrow_type": c.arrow_type,
                "encoding": c.encoding,
                "length": match c.shape {
                    Shape::Scalar => json!(1),
                    Shape::Fixed(n) => json!(n),
                    Shape::Variable => json!("variable"),
                },
                "nulls": c.nulls,
                "tf": tf_spec(c),
            })
        })
        .collect();
    json!({
        "format": "tfrecord",
        "record": "tf.train.Example",
        "compression": match opts.compression {
            TextCompression::None => "none",
            TextCompression::Gzip => "gzip",
        },
        "shard_rows": opts.shard_rows,
        "null": "a null value is written as an empty list of the feature's kind (`nulls` counts them)",
        "features": feats,
        "description": columns
            .iter()
            .map(|c| (c.name.clone(), Value::from(c.kind.reader_name())))
            .collect::<serde_json::Map<_, _>>(),
        "hf_features": features,
        "splits": splits,
    })
}

fn snippet(dir: &str, columns: &[Column], split: &str, ext: &str, gzip: bool) -> String {
    let spec: Vec<String> = columns
        .iter()
        // A JSON string is a Python string literal.
        .map(|c| {
            format!(
                "    {}: {},",
                serde_json::Value::from(c.name.as_str()),
                tf_spec(c)
            )
        })
        .collect();
    format!(
        "import tensorflow as tf\nspec = {{\n{}\n}}\nfiles = tf.io.gfile.glob(\"{dir}/{split}-*.{ext}\")\nds = tf.data.TFRecordDataset(files{}).map(lambda r: tf.io.parse_single_example(r, spec))",
        spec.join("\n"),
        if gzip {
            ", compression_type=\"GZIP\""
        } else {
            ""
        }
    )
}

/// Fill `buf` from `r`; returns how many bytes were read (less than its length only at the
/// end of the stream).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read every record of a written file: check both CRCs and that the data is an `Example`
/// with every feature; returns the number of records.
fn read_back(path: &Path, gzip: bool, features: usize) -> Result<u64, StageError> {
    let file = File::open(path).map_err(|e| file_err(path, e))?;
    let mut r: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    let bad = |n: u64, what: &str| {
        file_err(path, format!("record {n}: {what}"))
            .hint("the file is damaged or the disk is full; run the export again")
    };
    let mut n = 0u64;
    let mut head = [0u8; 12];
    let mut crc = [0u8; 4];
    let mut data = Vec::new();
    loop {
        match read_full(&mut r, &mut head).map_err(|e| file_err(path, e))? {
            0 => break,
            12 => {}
            _ => return Err(bad(n, "the file ends inside a record header")),
        }
        let len_bytes: [u8; 8] = head[..8].try_into().unwrap_or_default();
        if masked_crc(&len_bytes).to_le_bytes() != head[8..12] {
            return Err(bad(n, "the CRC of the length does not match"));
        }
        let len = u64::from_le_bytes(len_bytes);
        if len > MAX_RECORD {
            return Err(bad(n, "the record is larger than 2 GiB"));
        }
        data.resize(len as usize, 0);
        if read_full(&mut r, &mut data).map_err(|e| file_err(path, e))? != data.len()
            || read_full(&mut r, &mut crc).map_err(|e| file_err(path, e))? != 4
        {
            return Err(bad(n, "the file ends inside a record"));
        }
        if masked_crc(&data).to_le_bytes() != crc {
            return Err(bad(n, "the CRC of the data does not match"));
        }
        check_example(&data, features)
            .map_err(|e| bad(n, &format!("not a valid tf.train.Example: {e}")))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Date32Array, Float64Array, ListArray, StringArray, TimestampMicrosecondArray,
        UInt64Array,
    };
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::statcache::hex;

    #[test]
    fn crc32c_check_value_and_mask() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
        // Slicing by 8 agrees with the bytewise loop on every length and alignment.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                let slice = &data[start..end];
                let mut c = !0u32;
                for &b in slice {
                    c = CRC_TABLES[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
                }
                assert_eq!(crc32c(slice), !c, "{start}..{end}");
            }
        }
        // ((c >> 15) | (c << 17)) + 0xa282ead8 of the check value.
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    }

    #[test]
    fn example_and_record_match_the_reference_bytes() {
        let mut enc = ExampleEncoder::default();
        let mut out = Vec::new();
        enc.encode(std::iter::once(("label", Values::Int64(&[1]))), &mut out);
        assert_eq!(hex(&out), "0a100a0e0a056c6162656c12051a030a0101");
        let mut rec = Vec::new();
        put_record(&mut rec, &out);
        assert_eq!(
            hex(&rec),
            "1200000000000000241f64250a100a0e0a056c6162656c12051a030a0101f5d6547b"
        );
        check_example(&out, 1).unwrap();
        assert!(check_example(&out, 2).is_err());
        assert!(check_example(&out[..out.len() - 1], 1).is_err());
    }

    #[test]
    fn negative_ints_take_ten_bytes_and_empty_lists_keep_their_kind() {
        let mut enc = ExampleEncoder::default();
        let mut out = Vec::new();
        enc.encode(
            [
                ("a", Values::Int64(&[-1])),
                ("b", Values::Float(&[])),
                ("c", Values::Bytes(vec![b"hi".as_slice(), b""])),
                ("d", Values::Float(&[1.5])),
            ]
            .into_iter(),
            &mut out,
        );
        // The bytes protobuf's own `SerializeToString(deterministic=True)` gives for the same
        // Example: -1 as a ten-byte varint, `b` an empty but present float_list (readers see
        // its kind), `c` bytes_list{"hi", ""}, `d` float_list{1.5f32 little-endian}.
        assert_eq!(
            hex(&out),
            "0a3c0a130a0161120e1a0c0a0affffffffffffffffff010a070a0162120212000a0d0a016312080a060a0268690a000a0d0a0164120812060a040000c03f"
        );
        check_example(&out, 4).unwrap();
    }

    #[test]
    fn columns_map_to_list_kinds_and_values() {
        use Kind::{Bytes as B, Float as F, Int64 as I};
        let ids = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(-2)]),
            None,
            Some(vec![]),
        ]);
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("day", DataType::Date32, true),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("score", DataType::Float64, true),
            Field::new("big", DataType::UInt64, true),
            Field::new("ids", ids.data_type().clone(), true),
        ]);
        let cols = plan(&schema).unwrap();
        let kinds: Vec<Kind> = cols.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [B, I, I, I, F, I, I]);
        assert_eq!(cols[6].shape, Shape::Variable);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            Arc::new(BooleanArray::from(vec![true, false, true])),
            Arc::new(Date32Array::from(vec![19_723, 0, -1])),
            Arc::new(TimestampMicrosecondArray::from(vec![5, 6, 7])),
            Arc::new(Float64Array::from(vec![0.5, 1.25, -2.0])),
            Arc::new(UInt64Array::from(vec![1, 2, 3])),
            Arc::new(ids),
        ];
        let p: Vec<Prepared> = cols
            .iter()
            .zip(&arrays)
            .map(|(c, a)| Prepared::new(c, a).unwrap())
            .collect();
        let ints = |i: usize, row: usize| match p[i].values(cols[i].kind, row) {
            Some(Values::Int64(v)) => v.to_vec(),
            _ => panic!("not ints"),
        };
        assert_eq!(ints(1, 0), [1]);
        assert_eq!(ints(2, 0), [19_723]);
        assert_eq!(ints(2, 2), [-1]);
        assert_eq!(ints(3, 1), [6]);
        assert_eq!(ints(6, 0), [1, -2]);
        assert!(ints(6, 1).is_empty());
        assert!(ints(6, 2).is_empty());
        match p[0].values(Kind::Bytes, 1) {
            Some(Values::Bytes(v)) => assert!(v.is_empty()),
            _ => panic!("not bytes"),
        }
        match p[4].values(Kind::Float, 1) {
            Some(Values::Float(v)) => assert_eq!(v, [1.25]),
            _ => panic!("not floats"),
        }
        // A null inside a list is refused (None), not dropped.
        let holes =
            ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), None])]);
        let hp = Prepared::new(&cols[6], &(Arc::new(holes) as ArrayRef)).unwrap();
        assert!(hp.values(Kind::Int64, 0).is_none());
        // An unsigned value above i64::MAX is an error naming the column.
        let e = Prepared::new(
            &cols[5],
            &(Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef),
        )
        .err()
        .unwrap();
        assert!(e.message.contains("column `big`"), "{}", e.message);
    }

    #[test]
    fn structs_and_nested_lists_are_refused_naming_the_column() {
        let schema = Schema::new(vec![
            Field::new("ok", DataType::Utf8, true),
            Field::new(
                "meta",
                DataType::Struct(vec![Field::new("a", DataType::Int64, true)].into()),
                true,
            ),
        ]);
        let e = plan(&schema).unwrap_err();
        assert!(e.message.contains("column `meta`"), "{}", e.message);
        assert!(e.message.contains("structs"), "{}", e.message);
        assert!(e.hint.unwrap().contains("drop: [meta]"));
        let inner = Field::new("item", DataType::Int64, true);
        let nested = DataType::List(Arc::new(Field::new(
            "item",
            DataType::List(Arc::new(inner)),
            true,
        )));
        let e = plan(&Schema::new(vec![Field::new("grid", nested, true)])).unwrap_err();
        assert!(e.message.contains("lists of lists"), "{}", e.message);
        // Lists of strings are fine: bytes lists.
        let words = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let cols = plan(&Schema::new(vec![Field::new("words", words, true)])).unwrap();
        assert_eq!(cols[0].kind, Kind::Bytes);
    }
}
