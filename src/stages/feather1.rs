//! Feather version 1 (`FEA1`): what pyarrow's `write_feather(df, path, version=1)`, pandas
//! before 1.0 (`to_feather`) and R's `feather` package wrote, read as pyarrow's
//! `feather.read_table` reads it.
//!
//! The layout (Apache Arrow's `feather.fbs` and its v1 reader): `FEA1`, the columns one after
//! the other, a flatbuffer `CTable` (row count, and per column its name, a `PrimitiveArray`
//! locating its data, and type metadata: category levels, timestamp unit and time zone, date,
//! time unit), the flatbuffer's length as a little-endian `u32`, and `FEA1` again. A column's
//! data is a validity bitmap (only when it has nulls), then for strings and binary the offsets
//! (32-bit, 64-bit for the `LARGE_` types), then the values; each part is padded to 8 bytes
//! (not in files of format version 0 and 1, from feather before 0.3). Categories are kept as
//! Arrow dictionaries (levels as the dictionary), as normalize keeps pyarrow's dictionary
//! columns from Parquet and Feather 2; timestamps keep their unit and time zone.
//!
//! Every offset and length in the file is untrusted: the flatbuffer is read by hand here with
//! each offset checked against the metadata's bounds (no `unsafe`, no generated code), every
//! column's parts are checked against the file's size before anything is read, and strings'
//! offsets are checked batch by batch. Memory follows the data actually in the file: a forged
//! length is an error, never an allocation. Columns are contiguous, so rows are read in
//! batches of [`BATCH_ROWS`] with a few positioned reads per column and batch.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use arrow::array::{ArrayData, ArrayRef, RecordBatch, RecordBatchOptions, make_array};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::StageError;
use super::columnar;
use super::table::{self, BATCH_ROWS, Batches, Table};

const MAGIC: &[u8; 4] = b"FEA1";
/// The leading magic and the footer (metadata length, magic).
const FRAME: u64 = 4 + 8;
/// The most metadata a file may claim: about 200 bytes describe a column, so 10,000 columns
/// take 2 MB.
const MAX_METADATA: u64 = 64 << 20;

// Validity bitmaps of a batch start at a whole byte.
const _: () = assert!(BATCH_ROWS.is_multiple_of(8));

/// Why a file cannot be read.
#[derive(Debug)]
enum Problem {
    /// The file contradicts itself or is cut short.
    Damaged(String),
    /// A valid file holding something no reader of ours (or pyarrow's) reads.
    Unsupported(String),
    /// More columns than `MLDATA_MAX_COLUMNS` (theirs, the limit).
    TooWide(usize, usize),
}

type Res<T> = Result<T, Problem>;

fn damaged<T>(what: impl Into<String>) -> Res<T> {
    Err(Problem::Damaged(what.into()))
}

impl Problem {
    /// Says where a damage is (`column 2 (`b`): …`).
    fn within(self, place: &str) -> Problem {
        match self {
            Problem::Damaged(m) => Problem::Damaged(format!("{place}: {m}")),
            other => other,
        }
    }

    fn into_error(self, name: &str) -> StageError {
        match self {
            Problem::Damaged(m) => StageError::new(format!(
                "`{name}`: a damaged Feather version 1 file: {m}"
            ))
            .hint("the file may be cut short or incompletely written; write it again from its source (pyarrow's `feather.write_feather(df, path)` writes the current Feather version 2)"),
            Problem::Unsupported(m) => StageError::new(format!("`{name}`: {m}")).hint(
                "write it again as Feather version 2 (pyarrow: `feather.write_feather(df, path)`) or Parquet",
            ),
            Problem::TooWide(n, max) => {
                table::too_many_columns(&format!("`{name}` has {n} columns"), max)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The flatbuffer, read with every offset checked.

fn bytes<const N: usize>(buf: &[u8], at: usize) -> Res<[u8; N]> {
    match at
        .checked_add(N)
        .and_then(|end| buf.get(at..end))
        .and_then(|b| <[u8; N]>::try_from(b).ok())
    {
        Some(b) => Ok(b),
        None => damaged("an offset in the metadata points outside it"),
    }
}

fn u32_at(buf: &[u8], at: usize) -> Res<u32> {
    bytes::<4>(buf, at).map(u32::from_le_bytes)
}

fn u16_at(buf: &[u8], at: usize) -> Res<u16> {
    bytes::<2>(buf, at).map(u16::from_le_bytes)
}

/// The position an offset stored at `at` points to (flatbuffer offsets are relative to where
/// they are stored).
fn follow(buf: &[u8], at: usize) -> Res<usize> {
    let off = u32_at(buf, at)? as usize;
    match at.checked_add(off) {
        Some(p) if p < buf.len() => Ok(p),
        _ => damaged("an offset in the metadata points outside it"),
    }
}

/// A flatbuffer table: its position and its vtable's.
#[derive(Clone, Copy)]
struct Tbl<'a> {
    buf: &'a [u8],
    pos: usize,
    vt: usize,
    vt_len: usize,
}

impl<'a> Tbl<'a> {
    fn at(buf: &'a [u8], pos: usize) -> Res<Self> {
        let soff = i64::from(i32::from_le_bytes(bytes::<4>(buf, pos)?));
        let vt = i64::try_from(pos).ok().and_then(|p| p.checked_sub(soff));
        let Some(vt) = vt.and_then(|v| usize::try_from(v).ok()) else {
            return damaged("a table in the metadata has its vtable outside it");
        };
        let vt_len = usize::from(u16_at(buf, vt)?);
        if vt_len < 4 || vt.checked_add(vt_len).is_none_or(|e| e > buf.len()) {
            return damaged("a table in the metadata has a vtable of impossible size");
        }
        Ok(Tbl {
            buf,
            pos,
            vt,
            vt_len,
        })
    }

    /// Where field `id` is, if the table has it.
    fn field(&self, id: usize) -> Res<Option<usize>> {
        let entry = 4 + 2 * id;
        if entry + 2 > self.vt_len {
            return Ok(None);
        }
        let off = usize::from(u16_at(self.buf, self.vt + entry)?);
        Ok((off != 0).then_some(self.pos + off))
    }

    fn scalar<const N: usize>(&self, id: usize) -> Res<Option<[u8; N]>> {
        match self.field(id)? {
            Some(at) => bytes::<N>(self.buf, at).map(Some),
            None => Ok(None),
        }
    }

    fn i64(&self, id: usize) -> Res<i64> {
        Ok(self.scalar::<8>(id)?.map_or(0, i64::from_le_bytes))
    }

    fn i32(&self, id: usize) -> Res<i32> {
        Ok(self.scalar::<4>(id)?.map_or(0, i32::from_le_bytes))
    }

    fn u8(&self, id: usize) -> Res<u8> {
        Ok(self.scalar::<1>(id)?.map_or(0, |b| b[0]))
    }

    fn table(&self, id: usize) -> Res<Option<Tbl<'a>>> {
        match self.field(id)? {
            Some(at) => Tbl::at(self.buf, follow(self.buf, at)?).map(Some),
            None => Ok(None),
        }
    }

    fn string(&self, id: usize) -> Res<Option<&'a str>> {
        let Some(at) = self.field(id)? else {
            return Ok(None);
        };
        let p = follow(self.buf, at)?;
        let len = u32_at(self.buf, p)? as usize;
        let Some(b) = (p + 4)
            .checked_add(len)
            .and_then(|end| self.buf.get(p + 4..end))
        else {
            return damaged("a string in the metadata runs past its end");
        };
        match std::str::from_utf8(b) {
            Ok(s) => Ok(Some(s)),
            Err(_) => damaged("a string in the metadata is not UTF-8"),
        }
    }

    /// A vector of tables.
    fn tables(&self, id: usize) -> Res<Vec<Tbl<'a>>> {
        let Some(at) = self.field(id)? else {
            return Ok(Vec::new());
        };
        let p = follow(self.buf, at)?;
        let len = u32_at(self.buf, p)? as usize;
        if len
            .checked_mul(4)
            .is_none_or(|n| p + 4 + n > self.buf.len())
        {
            return damaged("a vector in the metadata runs past its end");
        }
        (0..len)
            .map(|i| Tbl::at(self.buf, follow(self.buf, p + 4 + 4 * i)?))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The file's metadata.

/// How a part's values are laid out.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// One bit a value (booleans).
    Bits,
    /// This many bytes a value.
    Fixed(u64),
    /// Offsets (8 bytes each when `wide`, else 4) into bytes.
    Var { wide: bool },
}

/// One `PrimitiveArray`: where its data is, checked against the file.
#[derive(Debug, Clone, Copy)]
struct Part {
    offset: u64,
    len: u64,
    nulls: bool,
    total: u64,
    layout: Layout,
    /// Bytes of the validity bitmap, padding included (0 without nulls).
    bitmap: u64,
    /// Bytes of the offsets, padding included (0 for fixed-width values).
    offsets: u64,
}

impl Part {
    fn values_at(&self) -> u64 {
        self.offset + self.bitmap + self.offsets
    }

    /// The bytes after the bitmap and the offsets.
    fn values_len(&self) -> u64 {
        self.total - self.bitmap - self.offsets
    }
}

/// The plain type a `PrimitiveArray`'s type code names.
fn plain(code: i8) -> Res<(DataType, Layout)> {
    use DataType as T;
    use Layout::{Bits, Fixed, Var};
    Ok(match code {
        0 => (T::Boolean, Bits),
        1 => (T::Int8, Fixed(1)),
        2 => (T::Int16, Fixed(2)),
        3 => (T::Int32, Fixed(4)),
        4 => (T::Int64, Fixed(8)),
        5 => (T::UInt8, Fixed(1)),
        6 => (T::UInt16, Fixed(2)),
        7 => (T::UInt32, Fixed(4)),
        8 => (T::UInt64, Fixed(8)),
        9 => (T::Float32, Fixed(4)),
        10 => (T::Float64, Fixed(8)),
        11 => (T::Utf8, Var { wide: false }),
        12 => (T::Binary, Var { wide: false }),
        17 => (T::LargeUtf8, Var { wide: true }),
        18 => (T::LargeBinary, Var { wide: true }),
        19 | 20 => {
            return Err(Problem::Unsupported(
                "a Feather version 1 file with complex numbers, which are not read (pyarrow does not read them either)".into(),
            ));
        }
        13..=16 => return damaged(format!("type code {code} without its type metadata")),
        _ => return damaged(format!("unknown type code {code}")),
    })
}

fn unit(code: u8) -> Res<TimeUnit> {
    Ok(match code {
        0 => TimeUnit::Second,
        1 => TimeUnit::Millisecond,
        2 => TimeUnit::Microsecond,
        3 => TimeUnit::Nanosecond,
        _ => return damaged(format!("unknown time unit {code}")),
    })
}

/// A column: its name, its Arrow type, its values (the codes of a category) and levels.
#[derive(Debug)]
struct Col {
    name: String,
    dt: DataType,
    values: Part,
    levels: Option<(DataType, Part)>,
}

/// What the footer says.
#[derive(Debug)]
struct Meta {
    rows: u64,
    columns: Vec<Col>,
}

/// Checks a `PrimitiveArray` of `layout` against the data region `..end`.
fn part(pa: &Tbl<'_>, layout: Layout, padded: bool, end: u64) -> Res<Part> {
    // PrimitiveArray: type, encoding, offset, length, null_count, total_bytes.
    if pa.u8(1)? != 0 {
        return Err(Problem::Unsupported(
            "a Feather version 1 file with dictionary-encoded arrays, which no known writer produces and pyarrow does not read".into(),
        ));
    }
    let (offset, len, null_count, total) = (pa.i64(2)?, pa.i64(3)?, pa.i64(4)?, pa.i64(5)?);
    let nonneg = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| Problem::Damaged(format!("a negative {what} ({v})")))
    };
    let (offset, len, null_count, total) = (
        nonneg(offset, "offset")?,
        nonneg(len, "length")?,
        nonneg(null_count, "null count")?,
        nonneg(total, "size")?,
    );
    if null_count > len {
        return damaged(format!("{null_count} nulls among {len} values"));
    }
    let pad = |n: u64| {
        if padded {
            n.checked_add(7).map(|n| n & !7)
        } else {
            Some(n)
        }
    };
    let too_long = || Problem::Damaged(format!("a column of {len} values is too long"));
    let bitmap = if null_count > 0 {
        pad(len.div_ceil(8)).ok_or_else(too_long)?
    } else {
        0
    };
    let (offsets, least) = match layout {
        Layout::Bits => (0, len.div_ceil(8)),
        Layout::Fixed(w) => (0, len.checked_mul(w).ok_or_else(too_long)?),
        Layout::Var { wide } => {
            let w = if wide { 8 } else { 4 };
            let n = len
                .checked_add(1)
                .and_then(|n| n.checked_mul(w))
                .and_then(pad)
                .ok_or_else(too_long)?;
            (n, 0)
        }
    };
    let needed = bitmap
        .checked_add(offsets)
        .and_then(|n| n.checked_add(least))
        .ok_or_else(too_long)?;
    if needed > total {
        return damaged(format!(
            "{len} values need {needed} bytes but the column has {total}"
        ));
    }
    if offset.checked_add(total).is_none_or(|e| e > end) {
        return damaged(format!(
            "its data (bytes {offset} to {}) runs past the end of the data section (byte {end})",
            offset.saturating_add(total)
        ));
    }
    Ok(Part {
        offset,
        len,
        nulls: null_count > 0,
        total,
        layout,
        bitmap,
        offsets,
    })
}

fn read_exact<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> Res<()> {
    r.seek(SeekFrom::Start(at))
        .and_then(|_| r.read_exact(buf))
        .or_else(|e| damaged(format!("cannot read {} bytes at {at}: {e}", buf.len())))
}

impl Meta {
    /// The footer of a file of `size` bytes, every column checked against the file.
    fn read<R: Read + Seek>(r: &mut R, size: u64, max_columns: usize) -> Res<Meta> {
        if size < FRAME {
            return damaged(format!("it has only {size} bytes"));
        }
        let mut head = [0u8; 4];
        read_exact(r, 0, &mut head)?;
        let mut foot = [0u8; 8];
        read_exact(r, size - 8, &mut foot)?;
        if &head != MAGIC || &foot[4..] != MAGIC {
            return damaged("it does not end with `FEA1` (cut short?)");
        }
        let meta_len = u64::from(u32::from_le_bytes([foot[0], foot[1], foot[2], foot[3]]));
        if meta_len > size - FRAME || meta_len > MAX_METADATA {
            return damaged(format!(
                "its footer claims {meta_len} bytes of metadata in a file of {size} bytes"
            ));
        }
        let end = size - 8 - meta_len;
        let mut buf = vec![0u8; meta_len as usize];
        read_exact(r, end, &mut buf)?;
        let root = Tbl::at(&buf, u32_at(&buf, 0)? as usize)?;
        // CTable: description, num_rows, columns, version, metadata.
        let rows = u64::try_from(root.i64(1)?).or_else(|_| damaged("a negative row count"))?;
        let padded = root.i32(3)? >= 2;
        let cols = root.tables(2)?;
        if cols.len() > max_columns {
            return Err(Problem::TooWide(cols.len(), max_columns));
        }
        let mut columns = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            // Column: name, values, metadata_type, metadata, user_metadata.
            let name = c.string(0)?.unwrap_or_default().to_owned();
            let at = |p: Problem| p.within(&format!("column {} (`{name}`)", i + 1));
            let col = (|| {
                let Some(values) = c.table(1)? else {
                    return damaged("no data");
                };
                let code = i8::from_le_bytes(values.scalar::<1>(0)?.unwrap_or([0]));
                let meta = c.table(3)?;
                let kind = c.u8(2)?;
                let need_meta = || match meta {
                    Some(m) => Ok(m),
                    None => damaged("type metadata is missing"),
                };
                let (dt, layout, levels) = match kind {
                    0 => {
                        let (dt, layout) = plain(code)?;
                        (dt, layout, None)
                    }
                    1 => {
                        let (key, layout) = plain(code)?;
                        if !key.is_integer() {
                            return damaged(format!("category codes of type {key}"));
                        }
                        // CategoryMetadata: levels, ordered.
                        let Some(lv) = need_meta()?.table(0)? else {
                            return damaged("a category without levels");
                        };
                        let (value, lay) =
                            plain(i8::from_le_bytes(lv.scalar::<1>(0)?.unwrap_or([0])))?;
                        let levels = part(&lv, lay, padded, end)?;
                        (
                            DataType::Dictionary(Box::new(key), Box::new(value.clone())),
                            layout,
                            Some((value, levels)),
                        )
                    }
                    2 => {
                        // TimestampMetadata: unit, timezone.
                        let m = need_meta()?;
                        let tz = m.string(1)?.filter(|s| !s.is_empty()).map(Arc::from);
                        (
                            DataType::Timestamp(unit(m.u8(0)?)?, tz),
                            Layout::Fixed(8),
                            None,
                        )
                    }
                    3 => (DataType::Date32, Layout::Fixed(4), None),
                    4 => {
                        // TimeMetadata: unit.
                        match unit(need_meta()?.u8(0)?)? {
                            u @ (TimeUnit::Second | TimeUnit::Millisecond) => {
                                (DataType::Time32(u), Layout::Fixed(4), None)
                            }
                            u => (DataType::Time64(u), Layout::Fixed(8), None),
                        }
                    }
                    k => return damaged(format!("unknown type metadata {k}")),
                };
                let values = part(&values, layout, padded, end)?;
                if values.len != rows {
                    return damaged(format!("{} values in a table of {rows} rows", values.len));
                }
                Ok(Col {
                    name: name.clone(),
                    dt,
                    values,
                    levels,
                })
            })()
            .map_err(at)?;
            columns.push(col);
        }
        // Without columns there is nothing to hold rows (and a forged count would be a
        // stream of empty batches).
        let rows = if columns.is_empty() { 0 } else { rows };
        Ok(Meta { rows, columns })
    }

    /// The schema (repeated names made unique, with a warning each).
    fn schema(&self, file: &str) -> (Schema, Vec<String>) {
        let mut names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        let mut warnings = Vec::new();
        table::unique_names(&mut names, file, &mut warnings);
        let fields: Vec<Field> = names
            .into_iter()
            .zip(&self.columns)
            .map(|(n, c)| Field::new(n, c.dt.clone(), true))
            .collect();
        (Schema::new(fields), warnings)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading rows.

/// `len` bytes at `at`, in a buffer aligned for any Arrow type.
fn read_buffer<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> Res<Buffer> {
    let Ok(n) = usize::try_from(len) else {
        return damaged(format!("a column part of {len} bytes"));
    };
    let mut buf = MutableBuffer::from_len_zeroed(n);
    read_exact(r, at, buf.as_slice_mut())?;
    Ok(buf.into())
}

/// Rows `start..start + n` of a part (`start` a multiple of 8), as an array of `dt`; a
/// dictionary's levels are `dict`.
fn read_rows<R: Read + Seek>(
    r: &mut R,
    p: &Part,
    dt: &DataType,
    start: u64,
    n: u64,
    dict: Option<&ArrayData>,
) -> Res<ArrayData> {
    debug_assert!(start.is_multiple_of(8) && start + n <= p.len);
    let len = usize::try_from(n).or_else(|_| damaged("too many rows"))?;
    let mut b = ArrayData::builder(dt.clone()).len(len).align_buffers(true);
    if p.nulls {
        let bits = read_buffer(r, p.offset + start / 8, n.div_ceil(8))?;
        b = b.nulls(Some(NullBuffer::new(BooleanBuffer::new(bits, 0, len))));
    }
    let at = p.values_at();
    match p.layout {
        Layout::Bits => {
            b = b.add_buffer(read_buffer(r, at + start / 8, n.div_ceil(8))?);
        }
        Layout::Fixed(w) => {
            b = b.add_buffer(read_buffer(r, at + start * w, n * w)?);
        }
        Layout::Var { wide } => {
            let w: u64 = if wide { 8 } else { 4 };
            let raw = read_buffer(r, p.offset + p.bitmap + start * w, (n + 1) * w)?;
            let offsets: Vec<i64> = if wide {
                raw.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect()
            } else {
                raw.chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                    .collect()
            };
            let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
            let room = p.values_len();
            if first < 0
                || offsets.windows(2).any(|o| o[1] < o[0])
                || u64::try_from(last).is_ok_and(|l| l > room)
            {
                return damaged(format!(
                    "string offsets out of order or beyond the column's {room} bytes of values"
                ));
            }
            let (first_u, last_u) = (first as u64, last as u64);
            let values = read_buffer(r, at + first_u, last_u - first_u)?;
            let rebased: Buffer = if wide {
                Buffer::from_vec(offsets.iter().map(|o| o - first).collect::<Vec<i64>>())
            } else {
                // Narrow offsets came from i32 and are not below `first`: they fit.
                Buffer::from_vec(
                    offsets
                        .iter()
                        .map(|o| i32::try_from(o - first).unwrap_or(i32::MAX))
                        .collect::<Vec<i32>>(),
                )
            };
            b = b.add_buffer(rebased).add_buffer(values);
        }
    }
    if let Some(d) = dict {
        b = b.add_child_data(d.clone());
    }
    b.build()
        .or_else(|e| damaged(format!("invalid values: {e}")))
}

/// The batches of a file, [`BATCH_ROWS`] rows at a time.
struct Stream<R> {
    r: R,
    columns: Vec<Col>,
    /// Each category's levels.
    dicts: Vec<Option<ArrayData>>,
    schema: SchemaRef,
    rows: u64,
    next: u64,
}

impl<R: Read + Seek> Stream<R> {
    fn new(mut r: R, meta: Meta, schema: SchemaRef) -> Res<Self> {
        let dicts = meta
            .columns
            .iter()
            .map(|c| {
                c.levels
                    .as_ref()
                    .map(|(dt, p)| read_rows(&mut r, p, dt, 0, p.len, None))
                    .transpose()
                    .map_err(|e| e.within(&format!("the levels of column `{}`", c.name)))
            })
            .collect::<Res<Vec<_>>>()?;
        Ok(Stream {
            r,
            dicts,
            schema,
            rows: meta.rows,
            next: 0,
            columns: meta.columns,
        })
    }

    fn batch(&mut self) -> Res<RecordBatch> {
        let start = self.next;
        let n = (self.rows - start).min(BATCH_ROWS as u64);
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (c, d) in self.columns.iter().zip(&self.dicts) {
            let data = read_rows(&mut self.r, &c.values, &c.dt, start, n, d.as_ref())
                .map_err(|e| e.within(&format!("column `{}`", c.name)))?;
            arrays.push(make_array(data));
        }
        self.next += n;
        let options = RecordBatchOptions::new().with_row_count(Some(n as usize));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .or_else(|e| damaged(e.to_string()))
    }
}

impl<R: Read + Seek> Iterator for Stream<R> {
    type Item = Res<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.rows {
            return None;
        }
        let b = self.batch();
        if b.is_err() {
            self.next = self.rows;
        }
        Some(b)
    }
}

fn open(t: &Table) -> Result<(File, u64), StageError> {
    let f = File::open(&t.path)
        .map_err(|e| StageError::new(format!("`{}`: cannot open: {e}", t.name)))?;
    let size = f
        .metadata()
        .map_err(|e| StageError::new(format!("`{}`: cannot read: {e}", t.name)))?
        .len();
    Ok((f, size))
}

/// The schema of a Feather version 1 file, and warnings (renamed repeated column names).
pub(super) fn infer(t: &Table) -> Result<(Schema, Vec<String>), StageError> {
    let (mut f, size) = open(t)?;
    let meta = Meta::read(&mut f, size, t.limits.max_columns).map_err(|p| p.into_error(&t.name))?;
    // The canonical types Feather 2 and Parquet inputs get (dictionaries decoded,
    // `timestamp[s]` as milliseconds…), so a table reads the same whatever its container.
    let (schema, warnings) = meta.schema(&t.name);
    Ok((columnar::canonical_schema(&schema), warnings))
}

/// The rows of a Feather version 1 file as batches of `schema` (columns cast by name).
pub(super) fn batches(t: &Table, schema: &SchemaRef) -> Result<Batches<'static>, StageError> {
    let (mut f, size) = open(t)?;
    let meta = Meta::read(&mut f, size, t.limits.max_columns).map_err(|p| p.into_error(&t.name))?;
    let file_schema = Arc::new(meta.schema(&t.name).0);
    let stream = Stream::new(f, meta, file_schema).map_err(|p| p.into_error(&t.name))?;
    let name = t.name.clone();
    let target = schema.clone();
    Ok(Box::new(stream.map(move |b| {
        let b = b.map_err(|p| p.into_error(&name))?;
        columnar::conform(&b, &target)
            .map_err(|e| StageError::new(format!("`{name}`: {}", e.message)))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use std::io::Cursor;

    /// Every row of a file's bytes, or the problem (never a panic).
    fn read_all(bytes: &[u8]) -> Res<Vec<RecordBatch>> {
        let size = bytes.len() as u64;
        let mut r = Cursor::new(bytes.to_vec());
        let meta = Meta::read(&mut r, size, 10_000)?;
        let schema = Arc::new(meta.schema("t").0);
        Stream::new(r, meta, schema)?.collect()
    }

    /// pyarrow's `write_feather(t, path, version=1)` of 11 rows: int8, uint64, float32, bool,
    /// string, large_string, binary, a category, timestamp[ns, Asia/Tokyo], date32,
    /// time32[ms], most with nulls.
    const TYPES: &[u8] = include_bytes!("../../tests/fixtures/feather1/types.feather");

    #[test]
    fn reads_every_type() {
        let batches = read_all(TYPES).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.num_rows(), 11);
        let types: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(
            types,
            [
                "Int8",
                "UInt64",
                "Float32",
                "Boolean",
                "Utf8",
                "LargeUtf8",
                "Binary",
                "Dictionary(Int32, Utf8)",
                "Timestamp(ns, \"Asia/Tokyo\")",
                "Date32",
                "Time32(ms)",
            ]
        );
        let s = b
            .column(4)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert!(s.is_null(0) && s.is_null(5));
        assert_eq!(s.value(3), "ééé");
        assert_eq!(b.column(0).null_count(), 3);
    }

    #[test]
    fn garbage_never_panics() {
        let good = TYPES.to_vec();
        // Cutting the file anywhere and changing any byte is an error or a table, never a
        // panic (nor an allocation the file's size does not bound).
        for cut in 0..good.len() {
            let _ = read_all(&good[..cut]);
        }
        for i in 0..good.len() {
            for v in [0u8, 0xff, 0x7f, 0x80] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = read_all(&bad);
            }
        }
    }
}
