//! Parquet and Arrow IPC (Feather v2) inputs, read with the values pyarrow reads and in the
//! types every stage keeps (docs/stages.md, "What normalize reads").
//!
//! Two steps. First the Arrow schema pyarrow gives a Parquet file: arrow-rs and pyarrow both
//! restore types from the `ARROW:schema` footer key, but differ in two places, where pyarrow
//! is followed ([`pyarrow_type`]): INT96 is a naive nanosecond timestamp whatever the stored
//! schema says, and a time zone is restored even when the stored unit differs. Then the
//! canonical types ([`canonical_type`]): one physical layout per logical type (dictionaries
//! decoded; large, view and list-view layouts to the plain ones) and the types Parquet cannot
//! hold mapped to the ones pyarrow reads back when it writes them (timestamp[s] → [ms],
//! time32[s] → [ms], date64 → date32, decimal32/64 → decimal128). Values are unchanged by the
//! mapping; every later stage sees only canonical types.

use std::fs::File;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;

use super::StageError;

/// The canonical type of `dt` (see the module doc); field names, nullability and metadata of
/// nested fields are kept.
pub fn canonical_type(dt: &DataType) -> DataType {
    use DataType as T;
    match dt {
        T::Dictionary(_, values) => canonical_type(values),
        T::LargeUtf8 | T::Utf8View => T::Utf8,
        T::LargeBinary | T::BinaryView => T::Binary,
        T::List(f) | T::LargeList(f) | T::ListView(f) | T::LargeListView(f) => {
            T::List(canonical_field(f))
        }
        T::FixedSizeList(f, n) => T::FixedSizeList(canonical_field(f), *n),
        T::Struct(fields) => T::Struct(fields.iter().map(canonical_field).collect::<Fields>()),
        T::Map(f, sorted) => T::Map(canonical_field(f), *sorted),
        T::Timestamp(TimeUnit::Second, tz) => T::Timestamp(TimeUnit::Millisecond, tz.clone()),
        T::Time32(TimeUnit::Second) => T::Time32(TimeUnit::Millisecond),
        T::Date64 => T::Date32,
        T::Decimal32(p, s) | T::Decimal64(p, s) => T::Decimal128(*p, *s),
        other => other.clone(),
    }
}

fn canonical_field(f: &FieldRef) -> FieldRef {
    let dt = canonical_type(f.data_type());
    if &dt == f.data_type() {
        return f.clone();
    }
    Arc::new(f.as_ref().clone().with_data_type(dt))
}

/// `schema` with canonical types (names, nullability and metadata kept).
pub fn canonical_schema(schema: &Schema) -> Schema {
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(canonical_field)
            .collect::<Fields>(),
        schema.metadata().clone(),
    )
}

/// The type pyarrow reads for a Parquet column that arrow-rs reads as `hinted` (with the
/// stored Arrow schema), `plain` (from the Parquet schema alone), with `stored` the type in the
/// file's `ARROW:schema` when it has one.
fn pyarrow_type(hinted: &DataType, plain: &DataType, stored: Option<&DataType>) -> DataType {
    use DataType as T;
    let stored = match stored {
        Some(T::Dictionary(_, values)) => Some(values.as_ref()),
        other => other,
    };
    match (hinted, plain) {
        // INT96 (and naive nanoseconds): pyarrow reads nanoseconds without a time zone.
        (T::Timestamp(..), T::Timestamp(TimeUnit::Nanosecond, None)) => plain.clone(),
        // A UTC-adjusted timestamp gets the stored time zone back, in the Parquet unit.
        (T::Timestamp(..), T::Timestamp(unit, Some(_))) => match stored {
            Some(T::Timestamp(_, Some(tz))) => T::Timestamp(*unit, Some(tz.clone())),
            _ => hinted.clone(),
        },
        (T::Dictionary(k, values), _) => {
            T::Dictionary(k.clone(), Box::new(pyarrow_type(values, plain, stored)))
        }
        (
            T::List(h) | T::LargeList(h) | T::FixedSizeList(h, _),
            T::List(p) | T::LargeList(p) | T::FixedSizeList(p, _),
        ) => {
            let s = match stored {
                Some(T::List(s) | T::LargeList(s) | T::FixedSizeList(s, _)) => Some(s),
                _ => None,
            };
            let f = pyarrow_field(h, p, s);
            match hinted {
                T::List(_) => T::List(f),
                T::LargeList(_) => T::LargeList(f),
                T::FixedSizeList(_, n) => T::FixedSizeList(f, *n),
                _ => hinted.clone(),
            }
        }
        (T::Struct(h), T::Struct(p)) if h.len() == p.len() => {
            let s = match stored {
                Some(T::Struct(s)) if s.len() == h.len() => Some(s),
                _ => None,
            };
            T::Struct(
                h.iter()
                    .zip(p.iter())
                    .enumerate()
                    .map(|(i, (h, p))| pyarrow_field(h, p, s.map(|s| &s[i])))
                    .collect::<Fields>(),
            )
        }
        (T::Map(h, sorted), T::Map(p, _)) => {
            let s = match stored {
                Some(T::Map(s, _)) => Some(s),
                _ => None,
            };
            T::Map(pyarrow_field(h, p, s), *sorted)
        }
        _ => hinted.clone(),
    }
}

fn pyarrow_field(hinted: &FieldRef, plain: &FieldRef, stored: Option<&FieldRef>) -> FieldRef {
    let dt = pyarrow_type(
        hinted.data_type(),
        plain.data_type(),
        stored.map(|s| s.data_type()),
    );
    if &dt == hinted.data_type() {
        return hinted.clone();
    }
    Arc::new(hinted.as_ref().clone().with_data_type(dt))
}

/// The Arrow schema a writer stored in a Parquet footer (`ARROW:schema`: base64 of an IPC
/// schema message), when there is one that decodes.
fn stored_arrow_schema(kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Option<Schema> {
    use base64::Engine;
    let encoded = kv?
        .iter()
        .find(|kv| kv.key == parquet::arrow::ARROW_SCHEMA_META_KEY)?
        .value
        .as_deref()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let message = match bytes.get(..4) {
        Some([255, 255, 255, 255]) => bytes.get(8..)?,
        _ => &bytes[..],
    };
    let message = arrow::ipc::root_as_message(message).ok()?;
    arrow::ipc::convert::try_fb_to_schema(message.header_as_schema()?).ok()
}

/// A Parquet file opened for reading in canonical types, and that schema.
pub fn open_parquet(
    name: &str,
    file: File,
) -> Result<(ParquetRecordBatchReaderBuilder<File>, SchemaRef), StageError> {
    let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
        .map_err(|e| parquet_error(name, &e))?;
    let file_meta = meta.metadata().file_metadata();
    let plain = parquet::arrow::parquet_to_arrow_schema(file_meta.schema_descr(), None).ok();
    let stored = stored_arrow_schema(file_meta.key_value_metadata());
    let hinted = meta.schema();
    let fields: Fields = match &plain {
        Some(plain) if plain.fields().len() == hinted.fields().len() => hinted
            .fields()
            .iter()
            .zip(plain.fields().iter())
            .enumerate()
            .map(|(i, (h, p))| {
                let s = stored
                    .as_ref()
                    .filter(|s| s.fields().len() == hinted.fields().len())
                    .map(|s| &s.fields()[i]);
                canonical_field(&pyarrow_field(h, p, s))
            })
            .collect(),
        _ => hinted.fields().iter().map(canonical_field).collect(),
    };
    let schema = Arc::new(Schema::new_with_metadata(fields, hinted.metadata().clone()));
    // The reader decodes straight into the canonical types where arrow-rs can; where it cannot
    // (a layout it has no reader for), it reads the stored types and the batches are cast.
    let meta = ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(schema.clone()),
    )
    .unwrap_or(meta);
    Ok((
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta),
        schema,
    ))
}

/// The error for a Parquet file that cannot be read, in words.
pub fn parquet_error(name: &str, e: &ParquetError) -> StageError {
    let text = e.to_string();
    let text = text.trim_start_matches("Parquet error: ");
    let lower = text.to_ascii_lowercase();
    let (what, hint) = if lower.contains("disabled feature at compile time") {
        let codec = text.rsplit(": ").next().unwrap_or("unknown");
        (
            format!(
                "uses the {codec} compression codec, which this build of mldatabuild cannot read"
            ),
            "rewrite the file with zstd or snappy (e.g. pyarrow.parquet.write_table(..., compression=\"zstd\"))",
        )
    } else if lower.contains("footer")
        || lower.contains("magic")
        || lower.contains("eof")
        || lower.contains("metadata")
        || lower.contains("size is smaller")
        || lower.contains("out of range")
    {
        (
            "is not a readable Parquet file: its footer (the table of contents at its end) is missing or damaged".to_owned(),
            "the file was probably truncated (cut short while it was downloaded or written); download or write it again",
        )
    } else {
        (
            format!("is not a readable Parquet file ({text})"),
            "the file may be truncated or damaged; download or write it again",
        )
    };
    StageError::new(format!("`{name}` {what}")).hint(hint)
}

/// The error for damaged data inside a Parquet file (a page that does not decompress or
/// decode), in words.
pub fn parquet_data_error(name: &str, e: &ArrowError) -> StageError {
    let mut text = e.to_string();
    for prefix in [
        "Parquet argument error: ",
        "External error: ",
        "Parquet error: ",
        "External: ",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            text = rest.to_owned();
        }
    }
    StageError::new(format!(
        "`{name}` has damaged data: a page does not decompress or decode ({text})"
    ))
    .hint("the file is corrupt; download or write it again (its footer is intact, so it was damaged, not cut short)")
}

/// The error for an Arrow IPC file or stream that cannot be read, in words.
pub fn ipc_error(name: &str, stream: bool, e: &ArrowError) -> StageError {
    let text = e.to_string();
    let text = text
        .trim_start_matches("Ipc error: ")
        .trim_start_matches("Io error: ")
        .trim_start_matches("Parser error: ");
    let lower = text.to_ascii_lowercase();
    let kind = if stream {
        "Arrow IPC stream"
    } else {
        "Arrow IPC (Feather v2) file"
    };
    let cut = lower.contains("eof")
        || lower.contains("fill whole buffer")
        || lower.contains("footer")
        || lower.contains("magic")
        || lower.contains("out of bounds")
        || lower.contains("buffer");
    if cut {
        StageError::new(format!(
            "`{name}` is not a complete {kind}: it ends early or its layout is damaged ({text})"
        ))
        .hint("the file was probably cut short while it was downloaded or written; download or write it again")
    } else {
        StageError::new(format!("`{name}` is not a readable {kind} ({text})"))
            .hint("the file may be truncated or damaged; download or write it again")
    }
}

/// Cast a batch to `schema` by column name, exactly: a value that does not fit the canonical
/// type (a timestamp in seconds past the milliseconds range) is an error, never a null.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StageError> {
    if batch.schema().fields() == schema.fields() {
        return RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
            .map_err(|e| StageError::new(format!("internal error: {e}")));
    }
    let opts = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(col) if col.data_type() == field.data_type() => Ok(col.clone()),
            Some(col) => cast_with_options(col, field.data_type(), &opts).map_err(|e| {
                StageError::new(format!(
                    "column `{}` cannot be read as {}: {e}",
                    field.name(),
                    super::table::type_name(field.data_type())
                ))
            }),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| StageError::new(e.to_string()))
}

/// Whether a Parquet table can hold a column of this type (after [`canonical_type`]).
pub fn parquet_can_hold(dt: &DataType) -> bool {
    use DataType as T;
    match dt {
        T::Union(..) | T::Interval(_) | T::RunEndEncoded(..) => false,
        T::List(f) | T::FixedSizeList(f, _) | T::Map(f, _) => parquet_can_hold(f.data_type()),
        T::Struct(fields) => {
            !fields.is_empty() && fields.iter().all(|f| parquet_can_hold(f.data_type()))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn list(dt: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", dt, true)))
    }

    #[test]
    fn canonical_types_have_one_layout() {
        use DataType as T;
        let dict = T::Dictionary(Box::new(T::Int8), Box::new(T::LargeUtf8));
        assert_eq!(canonical_type(&dict), T::Utf8);
        assert_eq!(canonical_type(&T::Utf8View), T::Utf8);
        assert_eq!(canonical_type(&T::BinaryView), T::Binary);
        assert_eq!(
            canonical_type(&T::LargeList(Arc::new(Field::new(
                "item",
                T::Utf8View,
                true
            )))),
            list(T::Utf8)
        );
        assert_eq!(
            canonical_type(&T::Timestamp(TimeUnit::Second, Some("+05:30".into()))),
            T::Timestamp(TimeUnit::Millisecond, Some("+05:30".into()))
        );
        assert_eq!(canonical_type(&T::Date64), T::Date32);
        assert_eq!(canonical_type(&T::Decimal32(7, 2)), T::Decimal128(7, 2));
        for kept in [
            T::UInt64,
            T::Float16,
            T::Timestamp(TimeUnit::Nanosecond, None),
            T::Duration(TimeUnit::Second),
            T::Decimal256(76, 0),
            T::FixedSizeBinary(16),
            T::Null,
        ] {
            assert_eq!(canonical_type(&kept), kept);
        }
    }

    #[test]
    fn int96_and_time_zones_follow_pyarrow() {
        use DataType as T;
        let ts = |u, tz: Option<&str>| T::Timestamp(u, tz.map(Into::into));
        // INT96 with a stored microsecond, UTC schema: nanoseconds, no zone.
        let stored = ts(TimeUnit::Microsecond, Some("UTC"));
        assert_eq!(
            pyarrow_type(&stored, &ts(TimeUnit::Nanosecond, None), Some(&stored)),
            ts(TimeUnit::Nanosecond, None)
        );
        // Seconds stored as milliseconds: the zone comes back, the unit stays (in lists too).
        let stored = list(ts(TimeUnit::Second, Some("Europe/Paris")));
        let utc = list(ts(TimeUnit::Millisecond, Some("UTC")));
        assert_eq!(
            pyarrow_type(&utc, &utc, Some(&stored)),
            list(ts(TimeUnit::Millisecond, Some("Europe/Paris")))
        );
        // Without a stored schema nothing changes.
        assert_eq!(pyarrow_type(&utc, &utc, None), utc);
    }
}
