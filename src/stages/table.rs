//! Reading and writing tables (Arrow record batches) for the stages.
//!
//! Parquet is the contract between stages. Writer properties are fixed so that the same rows
//! always give the same bytes.

use std::fs::File;
use std::io::{BufReader, Seek};
use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{InputFile, StageError};

/// Rows per record batch when reading text formats.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The table formats a stage can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Tsv => "TSV",
            Format::Jsonl => "JSON Lines",
            Format::Parquet => "Parquet",
        }
    }

    /// The format implied by a file name's extension.
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

pub const SUPPORTED: &str =
    "CSV (.csv), TSV (.tsv), JSON Lines (.jsonl, .ndjson), Parquet (.parquet)";

fn open(file: &InputFile) -> Result<File, StageError> {
    File::open(&file.path).map_err(|e| StageError::new(format!("cannot open `{}`: {e}", file.name)))
}

fn read_err(file: &InputFile, e: impl std::fmt::Display) -> StageError {
    StageError::new(format!("`{}`: {e}", file.name))
}

/// Infer the schema of one file.
pub fn infer_schema(file: &InputFile, format: Format) -> Result<Schema, StageError> {
    let mut f = open(file)?;
    let schema = match format {
        Format::Csv | Format::Tsv => {
            let (schema, rows) = csv_format(format)
                .infer_schema(&mut f, None)
                .map_err(|e| read_err(file, e))?;
            if schema.fields().is_empty() && rows == 0 {
                return Err(
                    StageError::new(format!("`{}` is empty: no header row", file.name))
                        .hint("remove the file from the source, or write its header row"),
                );
            }
            schema
        }
        Format::Jsonl => {
            let (schema, _) = arrow::json::reader::infer_json_schema(BufReader::new(&mut f), None)
                .map_err(|e| read_err(file, e))?;
            if schema.fields().is_empty() {
                return Err(StageError::new(format!("`{}` has no records", file.name)));
            }
            schema
        }
        Format::Parquet => {
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| read_err(file, e))?;
            builder.schema().as_ref().clone()
        }
    };
    Ok(schema)
}

fn csv_format(format: Format) -> arrow::csv::reader::Format {
    let f = arrow::csv::reader::Format::default().with_header(true);
    if format == Format::Tsv {
        f.with_delimiter(b'\t')
    } else {
        f
    }
}

/// Read one file as batches of `schema`.
pub fn read_file(
    file: &InputFile,
    format: Format,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, StageError> {
    let mut f = open(file)?;
    f.rewind().map_err(|e| read_err(file, e))?;
    let batches: Result<Vec<RecordBatch>, _> = match format {
        Format::Csv | Format::Tsv => arrow::csv::ReaderBuilder::new(schema.clone())
            .with_format(csv_format(format))
            .with_batch_size(BATCH_ROWS)
            .build(f)
            .map_err(|e| read_err(file, e))?
            .collect(),
        Format::Jsonl => arrow::json::ReaderBuilder::new(schema.clone())
            .with_batch_size(BATCH_ROWS)
            .build(BufReader::new(f))
            .map_err(|e| read_err(file, e))?
            .collect(),
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(|e| read_err(file, e))?
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| read_err(file, e))?;
            let batches: Result<Vec<_>, _> = reader.collect();
            let batches = batches.map_err(|e| read_err(file, e))?;
            return batches
                .into_iter()
                .map(|b| conform(&b, schema).map_err(|e| read_err(file, e)))
                .collect();
        }
    };
    batches.map_err(|e| read_err(file, e))
}

/// Cast a batch to `schema` (same column names; types widened by [`merge_schemas`]).
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(col) => arrow::compute::cast(col, field.data_type()),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// The widest of two inferred types: integers widen to floats, anything else to strings.
fn widen(a: &DataType, b: &DataType) -> DataType {
    use DataType as T;
    match (a, b) {
        _ if a == b => a.clone(),
        (T::Null, x) | (x, T::Null) => x.clone(),
        (T::Int64, T::Float64) | (T::Float64, T::Int64) => T::Float64,
        _ => T::Utf8,
    }
}

/// One schema for several files: columns by name in first-seen order, types widened.
pub fn merge_schemas(schemas: &[Schema]) -> Schema {
    let mut fields: Vec<Field> = Vec::new();
    for (i, schema) in schemas.iter().enumerate() {
        for f in schema.fields() {
            if let Some(existing) = fields.iter_mut().find(|e| e.name() == f.name()) {
                let dt = widen(existing.data_type(), f.data_type());
                *existing = Field::new(f.name(), dt, existing.is_nullable() || f.is_nullable());
            } else {
                // A column missing from earlier files is null there.
                fields.push(Field::new(
                    f.name(),
                    f.data_type().clone(),
                    f.is_nullable() || i > 0,
                ));
            }
        }
        for existing in &mut fields {
            if schema.field_with_name(existing.name()).is_err() {
                *existing = existing.clone().with_nullable(true);
            }
        }
    }
    Schema::new(fields)
}

/// Read every Parquet file of a stage input as one schema and its batches.
pub fn read_parquet_inputs(
    input: &[InputFile],
) -> Result<(SchemaRef, Vec<RecordBatch>), StageError> {
    let parquet: Vec<&InputFile> = input
        .iter()
        .filter(|f| Format::from_name(&f.name) == Some(Format::Parquet))
        .collect();
    if parquet.is_empty() {
        return Err(StageError::new("the input has no Parquet table")
            .hint("put a `normalize` stage before this one"));
    }
    let schemas = parquet
        .iter()
        .map(|f| infer_schema(f, Format::Parquet))
        .collect::<Result<Vec<_>, _>>()?;
    let schema = Arc::new(merge_schemas(&schemas));
    let mut batches = Vec::new();
    for f in parquet {
        batches.extend(read_file(f, Format::Parquet, &schema)?);
    }
    Ok((schema, batches))
}

/// Writer properties fixed for reproducible bytes.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by("mldatabuild".to_owned())
        .build()
}

/// Write batches to a Parquet file; returns the row count.
pub fn write_parquet(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, StageError> {
    let werr = |e: &dyn std::fmt::Display| {
        StageError::new(format!("cannot write `{}`: {e}", path.display()))
    };
    let file = File::create(path).map_err(|e| werr(&e))?;
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(writer_properties()))
        .map_err(|e| werr(&e))?;
    let mut rows = 0u64;
    for b in batches {
        rows += b.num_rows() as u64;
        writer.write(b).map_err(|e| werr(&e))?;
    }
    writer.close().map_err(|e| werr(&e))?;
    Ok(rows)
}

/// The schema as recorded in the lock: name, type, nullable.
pub fn schema_summary(schema: &Schema) -> serde_json::Value {
    serde_json::Value::Array(
        schema
            .fields()
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name(),
                    "type": type_name(f.data_type()),
                    "nullable": f.is_nullable(),
                })
            })
            .collect(),
    )
}

/// A short, stable name for an Arrow type.
pub fn type_name(dt: &DataType) -> String {
    use DataType as T;
    match dt {
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "string".into(),
        T::Int8 => "int8".into(),
        T::Int16 => "int16".into(),
        T::Int32 => "int32".into(),
        T::Int64 => "int64".into(),
        T::UInt8 => "uint8".into(),
        T::UInt16 => "uint16".into(),
        T::UInt32 => "uint32".into(),
        T::UInt64 => "uint64".into(),
        T::Float16 => "float16".into(),
        T::Float32 => "float32".into(),
        T::Float64 => "float64".into(),
        T::Boolean => "bool".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Timestamp(_, _) => "datetime".into(),
        T::Binary | T::LargeBinary | T::BinaryView => "binary".into(),
        T::Null => "null".into(),
        T::List(f) | T::LargeList(f) => format!("list<{}>", type_name(f.data_type())),
        T::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), type_name(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string().to_lowercase(),
    }
}
