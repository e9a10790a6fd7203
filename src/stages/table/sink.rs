//! A Parquet file written batch by batch, the columns of each batch encoded in parallel on the
//! rayon pool.
//!
//! The bytes are those `ArrowWriter` writes with the same properties, whatever the number of
//! threads: every column has its own writer, which sees the same slices in the same order as
//! `ArrowWriter` would hand it (each batch, cut at row-group boundaries), and the finished
//! column chunks are appended in schema order. Only which thread encodes a column changes.
//!
//! [`ParquetSink::create_adaptive`] also chooses dictionary encoding per column from the data:
//! from the first batch written (a deterministic function of the output), a column whose
//! values mostly differ is written without a dictionary. parquet-rs otherwise builds a
//! dictionary for every column chunk, hashing every value, and for ids, measurements and free
//! text gives up at the 1 MB dictionary-page limit and writes the values plainly anyway.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use super::super::StageError;

/// Rows of the first batch looked at to choose dictionary encoding (a batch of
/// [`super::BATCH_ROWS`] rows in a streamed table).
const DICTIONARY_SAMPLE_ROWS: usize = 64 * 1024;

/// A Parquet file being written batch by batch.
pub struct ParquetSink {
    path: PathBuf,
    schema: SchemaRef,
    state: State,
    /// Choose dictionary encoding per column from the first batch.
    adaptive: bool,
    pub rows: u64,
}

enum State {
    /// Created, no batch written yet: the properties may still change with the first batch.
    Pending {
        file: File,
        props: Box<WriterProperties>,
        footer: Vec<KeyValue>,
    },
    Open(Box<Open>),
    /// A write failed; nothing more is written.
    Broken,
}

struct Open {
    writer: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    /// The row group being written (one writer per leaf column; empty between row groups).
    columns: Vec<ArrowColumnWriter>,
    buffered: usize,
    max_rows: usize,
    /// Leaf columns of each top-level field, in schema order.
    leaves: Vec<usize>,
}

impl ParquetSink {
    /// A sink with the fixed properties of every stage's tables ([`super::writer_properties`]).
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<Self, StageError> {
        Self::create_with(path, schema, super::writer_properties())
    }

    /// [`ParquetSink::create`], with dictionary encoding turned off for the columns whose values
    /// mostly differ in the first batch written ([`dictionary_pays`]).
    pub fn create_adaptive(path: &Path, schema: &SchemaRef) -> Result<Self, StageError> {
        let mut sink = Self::create(path, schema)?;
        sink.adaptive = true;
        Ok(sink)
    }

    /// [`ParquetSink::create`] with other (still fixed) writer properties. Row groups are cut
    /// by row count only (`max_row_group_bytes` is not applied).
    pub fn create_with(
        path: &Path,
        schema: &SchemaRef,
        props: WriterProperties,
    ) -> Result<Self, StageError> {
        let file = File::create(path)
            .map_err(|e| StageError::new(format!("cannot write `{}`: {e}", path.display())))?;
        Ok(ParquetSink {
            path: path.to_owned(),
            schema: schema.clone(),
            state: State::Pending {
                file,
                props: Box::new(props),
                footer: Vec::new(),
            },
            adaptive: false,
            rows: 0,
        })
    }

    fn error(&self, e: impl std::fmt::Display) -> StageError {
        StageError::new(format!("cannot write `{}`: {e}", self.path.display()))
    }

    /// Open the writer, with the properties the first batch decides (if any).
    fn open(&mut self, first: Option<&RecordBatch>) -> Result<&mut Open, StageError> {
        if matches!(self.state, State::Pending { .. }) {
            let State::Pending {
                file,
                mut props,
                footer,
            } = std::mem::replace(&mut self.state, State::Broken)
            else {
                unreachable!("checked above")
            };
            if let (true, Some(batch)) = (self.adaptive, first) {
                *props = choose_dictionaries(*props, batch);
            }
            let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
            let writer = ArrowWriter::try_new(file, self.schema.clone(), Some(*props))
                .map_err(|e| self.error(e))?;
            let (mut writer, factory) =
                writer.into_serialized_writer().map_err(|e| self.error(e))?;
            for kv in footer {
                writer.append_key_value_metadata(kv);
            }
            let descr = writer.schema_descr();
            let mut leaves = vec![0; self.schema.fields().len()];
            for leaf in 0..descr.num_columns() {
                if let Some(n) = leaves.get_mut(descr.get_column_root_idx(leaf)) {
                    *n += 1;
                }
            }
            self.state = State::Open(Box::new(Open {
                writer,
                factory,
                columns: Vec::new(),
                buffered: 0,
                max_rows: max_rows.max(1),
                leaves,
            }));
        }
        match &mut self.state {
            State::Open(open) => Ok(open),
            _ => Err(StageError::new(format!(
                "cannot write `{}`: an earlier write failed",
                self.path.display()
            ))),
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StageError> {
        self.rows += batch.num_rows() as u64;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = self.schema.clone();
        let result = self.open(Some(batch))?.write(&schema, batch);
        result.map_err(|e| {
            self.state = State::Broken;
            self.error(e)
        })
    }

    /// Add a key to the file's footer metadata (written at `finish`).
    pub fn footer(&mut self, key: &str, value: &str) {
        let kv = KeyValue::new(key.to_owned(), value.to_owned());
        match &mut self.state {
            State::Pending { footer, .. } => footer.push(kv),
            State::Open(open) => open.writer.append_key_value_metadata(kv),
            State::Broken => {}
        }
    }

    pub fn finish(mut self) -> Result<u64, StageError> {
        let rows = self.rows;
        self.open(None)?;
        let State::Open(mut open) = std::mem::replace(&mut self.state, State::Broken) else {
            unreachable!("opened above")
        };
        open.flush().map_err(|e| self.error(e))?;
        open.writer.close().map_err(|e| self.error(e))?;
        Ok(rows)
    }
}

impl Open {
    /// `ArrowWriter::write`: the batch cut at row-group boundaries, each piece encoded column
    /// by column (in parallel), a full row group written out.
    fn write(&mut self, schema: &SchemaRef, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            if self.columns.is_empty() {
                let index = self.writer.flushed_row_groups().len();
                self.columns = self.factory.create_column_writers(index)?;
            }
            let room = self.max_rows - self.buffered;
            let piece = if rest.num_rows() > room {
                let piece = rest.slice(0, room);
                rest = rest.slice(room, rest.num_rows() - room);
                piece
            } else {
                let empty = rest.slice(0, 0);
                std::mem::replace(&mut rest, empty)
            };
            self.encode(schema, &piece)?;
            self.buffered += piece.num_rows();
            if self.buffered >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Encode one piece of a row group: each top-level column on the pool.
    fn encode(&mut self, schema: &SchemaRef, piece: &RecordBatch) -> Result<(), ParquetError> {
        let mut groups = Vec::with_capacity(self.leaves.len());
        let mut writers: &mut [ArrowColumnWriter] = &mut self.columns;
        for ((field, column), &n) in schema
            .fields()
            .iter()
            .zip(piece.columns())
            .zip(&self.leaves)
        {
            let k = n.min(writers.len());
            let (mine, tail) = std::mem::take(&mut writers).split_at_mut(k);
            writers = tail;
            groups.push((mine, field, column));
        }
        let results: Vec<Result<(), ParquetError>> = groups
            .into_par_iter()
            .map(|(writers, field, column)| {
                let leaves = compute_leaves(field, column)?;
                if leaves.len() != writers.len() {
                    return Err(ParquetError::General(format!(
                        "internal error: column `{}` has {} leaves, the schema {}",
                        field.name(),
                        leaves.len(),
                        writers.len()
                    )));
                }
                for (w, leaf) in writers.iter_mut().zip(&leaves) {
                    w.write(leaf)?;
                }
                Ok(())
            })
            .collect();
        // The first error in column order, whichever thread found it first.
        results.into_iter().collect()
    }

    /// Close the row group being written (each column on the pool) and append it to the file.
    fn flush(&mut self) -> Result<(), ParquetError> {
        if self.columns.is_empty() {
            return Ok(());
        }
        let columns = std::mem::take(&mut self.columns);
        self.buffered = 0;
        let chunks: Vec<ArrowColumnChunk> = columns
            .into_par_iter()
            .map(ArrowColumnWriter::close)
            .collect::<Result<_, _>>()?;
        let mut group = self.writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        Ok(())
    }
}

/// `props` with dictionary encoding turned off for each top-level column of `batch` whose
/// values mostly differ ([`dictionary_pays`] says no); other columns keep `props`' setting.
fn choose_dictionaries(props: WriterProperties, batch: &RecordBatch) -> WriterProperties {
    let sample = batch.slice(0, batch.num_rows().min(DICTIONARY_SAMPLE_ROWS));
    let mut builder = props.into_builder();
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        if dictionary_pays(column.as_ref()) == Some(false) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Whether a dictionary pays for a column with these values: when each value occurs at least
/// twice on average (distinct values at most half the non-null ones). `None` for the types
/// this does not judge (booleans, nested and dictionary columns, all-null columns).
fn dictionary_pays(column: &dyn Array) -> Option<bool> {
    let non_null = column.len() - column.null_count();
    if non_null == 0 {
        return None;
    }
    // Stop counting as soon as the answer is known.
    let limit = non_null / 2;
    let valid = |i: &usize| column.is_valid(*i);
    let rows = 0..column.len();
    let distinct = match column.data_type() {
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            count_distinct(rows.filter(valid).map(|i| a.value(i).as_bytes()), limit)
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            count_distinct(rows.filter(valid).map(|i| a.value(i).as_bytes()), limit)
        }
        DataType::Binary => {
            let a = column.as_binary::<i32>();
            count_distinct(rows.filter(valid).map(|i| a.value(i)), limit)
        }
        DataType::LargeBinary => {
            let a = column.as_binary::<i64>();
            count_distinct(rows.filter(valid).map(|i| a.value(i)), limit)
        }
        dt if dt.is_primitive() => {
            let width = dt.primitive_width()?;
            let data = column.to_data();
            let values = data.buffers().first()?.as_slice();
            let start = data.offset() * width;
            let values = values.get(start..start + column.len() * width)?;
            count_distinct(
                values
                    .chunks_exact(width)
                    .enumerate()
                    .filter(|(i, _)| valid(i))
                    .map(|(_, v)| v),
                limit,
            )
        }
        _ => return None,
    };
    Some(distinct <= limit)
}

/// Distinct items, counted up to `limit + 1`.
fn count_distinct<'a>(values: impl Iterator<Item = &'a [u8]>, limit: usize) -> usize {
    let mut seen: HashSet<&[u8], ahash::RandomState> =
        HashSet::with_capacity_and_hasher(limit.min(1 << 16) + 1, ahash::RandomState::new());
    for v in values {
        seen.insert(v);
        if seen.len() > limit {
            break;
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, ListArray, StringArray, StructArray};
    use arrow::datatypes::{Field, Int64Type, Schema};

    use super::*;

    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        let st = DataType::Struct(
            vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Utf8, true),
            ]
            .into(),
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("cat", DataType::Utf8, true),
            Field::new("list", list, true),
            Field::new("st", st.clone(), true),
            Field::new("text", DataType::Utf8, true),
        ]));
        let mut out = Vec::new();
        let mut start = 0i64;
        for rows in [700i64, 2500, 1, 1800] {
            let ids: ArrayRef = Arc::new(
                (start..start + rows)
                    .map(|i| (i % 11 != 0).then_some(i))
                    .collect::<Int64Array>(),
            );
            let cat: ArrayRef = Arc::new(
                (start..start + rows)
                    .map(|i| Some(["x", "y", "z"][(i % 3) as usize]))
                    .collect::<StringArray>(),
            );
            let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(
                (start..start + rows)
                    .map(|i| (i % 7 != 0).then(|| (0..i % 4).map(Some).collect::<Vec<_>>())),
            ));
            let a: ArrayRef = Arc::new(Int64Array::from_iter_values(start..start + rows));
            let b: ArrayRef = Arc::new(StringArray::from_iter_values(
                (start..start + rows).map(|i| format!("b{}", i * 31 % 977)),
            ));
            let DataType::Struct(fields) = &st else {
                unreachable!()
            };
            let st: ArrayRef = Arc::new(StructArray::new(fields.clone(), vec![a, b], None));
            let text: ArrayRef = Arc::new(
                (start..start + rows)
                    .map(|i| {
                        (i % 5 != 0).then(|| format!("row {i} {}", "t".repeat((i % 50) as usize)))
                    })
                    .collect::<StringArray>(),
            );
            out.push(RecordBatch::try_new(schema.clone(), vec![ids, cat, list, st, text]).unwrap());
            start += rows;
        }
        (schema, out)
    }

    fn props() -> WriterProperties {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .set_compression(parquet::basic::Compression::ZSTD(
                parquet::basic::ZstdLevel::try_new(3).unwrap(),
            ))
            .set_created_by("mldatabuild".to_owned())
            .build()
    }

    fn sink_bytes(threads: usize, adaptive: bool) -> Vec<u8> {
        let (schema, batches) = batches();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut s = ParquetSink::create_with(&path, &schema, props()).unwrap();
            s.adaptive = adaptive;
            s.footer("k", "v");
            for b in &batches {
                s.write(b).unwrap();
            }
            assert_eq!(s.finish().unwrap(), 5001);
        });
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn bytes_are_arrow_writers_whatever_the_thread_count() {
        let (schema, batches) = batches();
        let mut want = Vec::new();
        let mut w = ArrowWriter::try_new(&mut want, schema, Some(props())).unwrap();
        w.append_key_value_metadata(KeyValue::new("k".to_owned(), "v".to_owned()));
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        for threads in [1, 2, 4] {
            assert!(sink_bytes(threads, false) == want, "{threads} threads");
        }
        let adaptive = sink_bytes(1, true);
        assert!(adaptive != want);
        for threads in [2, 4] {
            assert!(sink_bytes(threads, true) == adaptive, "{threads} threads");
        }
    }

    #[test]
    fn dictionaries_where_values_repeat() {
        let (_, batches) = batches();
        let b = &batches[1];
        assert_eq!(dictionary_pays(b.column(0).as_ref()), Some(false), "ids");
        assert_eq!(
            dictionary_pays(b.column(1).as_ref()),
            Some(true),
            "three values"
        );
        assert_eq!(dictionary_pays(b.column(2).as_ref()), None, "a list");
        assert_eq!(dictionary_pays(b.column(4).as_ref()), Some(false), "text");
        let half: ArrayRef = Arc::new(Int64Array::from_iter_values((0..100).map(|i| i / 2)));
        assert_eq!(
            dictionary_pays(half.as_ref()),
            Some(true),
            "each value twice"
        );
        let nulls: ArrayRef = Arc::new(Int64Array::from(vec![None::<i64>; 10]));
        assert_eq!(dictionary_pays(nulls.as_ref()), None);
        // A slice counts its own values only.
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values((0..100).map(|i| i % 50)));
        assert_eq!(dictionary_pays(ids.slice(0, 50).as_ref()), Some(false));
        assert_eq!(dictionary_pays(ids.as_ref()), Some(true));
    }
}
