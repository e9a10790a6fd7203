//! Row-level helpers shared by `validate` and `split`: content hashes of rows, values as
//! strings, and column lookup with errors for people.

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::Schema;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::StageError;

/// The index of `column` in `schema`, or an error naming the columns and a close match.
pub fn column_index(
    schema: &Schema,
    column: &str,
    what: &str,
    key: &str,
) -> Result<usize, StageError> {
    schema.index_of(column).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let close = crate::spec::error::did_you_mean(column, names.iter().copied());
        let mut hint = close.map_or_else(String::new, |c| format!("did you mean `{c}`? "));
        hint.push_str(&format!("the columns are: {}", shorten_list(&names, 30)));
        StageError::new(format!(
            "`{key}: {column}`: the input has no column `{column}` to {what}"
        ))
        .hint(hint)
    })
}

/// `a, b, c` with at most `max` names, then `… and N more`.
pub fn shorten_list(names: &[&str], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    format!(
        "{}, … and {} more",
        names[..max].join(", "),
        names.len() - max
    )
}

/// A row's content hash: 96 bits of BLAKE3. With the row number beside it (`(RowHash, u32)`)
/// it takes 16 bytes, so dedup and leakage checks sort 16 bytes per row; two of 10^9 distinct
/// rows collide with probability ~10^-11.
pub type RowHash = [u8; 12];

/// The content hash of each row over the given columns: equal values give equal hashes
/// whatever the batch boundaries or the file they came from. Uses Arrow's row format (a
/// canonical, order-preserving byte encoding of the values, nulls included) and BLAKE3.
pub fn row_hashes(batch: &RecordBatch, columns: &[usize]) -> Result<Vec<RowHash>, StageError> {
    if columns.is_empty() {
        return Ok(vec![[0; 12]; batch.num_rows()]);
    }
    let arrays: Vec<ArrayRef> = columns.iter().map(|&c| batch.column(c).clone()).collect();
    let converter = RowConverter::new(
        arrays
            .iter()
            .map(|a| SortField::new(a.data_type().clone()))
            .collect(),
    )
    .map_err(|e| StageError::new(format!("cannot hash rows: {e}")))?;
    let rows = converter
        .convert_columns(&arrays)
        .map_err(|e| StageError::new(format!("cannot hash rows: {e}")))?;
    Ok(rows
        .iter()
        .map(|r| {
            let h = blake3::hash(r.as_ref());
            let mut b = [0u8; 12];
            b.copy_from_slice(&h.as_bytes()[..12]);
            b
        })
        .collect())
}

/// Each value of an array as display text (`None` for null): dates as ISO, lists as
/// `[1, 2]`. Used for labels, keys and groups, whose identity is their text.
pub fn value_strings(array: &dyn Array) -> Result<Vec<Option<String>>, StageError> {
    let opts = FormatOptions::default();
    let f = ArrayFormatter::try_new(array, &opts)
        .map_err(|e| StageError::new(format!("cannot read values: {e}")))?;
    Ok((0..array.len())
        .map(|i| {
            if array.is_null(i) {
                None
            } else {
                Some(f.value(i).to_string())
            }
        })
        .collect())
}

/// Each value of an array as JSON, exactly (`head --json`): numbers as numbers (a float that
/// is not finite as the string `NaN`, `Infinity` or `-Infinity`), decimals as strings with
/// their scale (`"-7.00"`: a JSON number would be read back as a float), binary as hex, lists as
/// arrays, structs as objects, maps as arrays of `[key, value]` pairs (keys of any type, order
/// and repeats kept), dates, times, timestamps (ISO 8601, in the column's time zone) and
/// durations as their display text.
pub fn json_values(array: &dyn Array) -> Result<Vec<serde_json::Value>, StageError> {
    use arrow::array::AsArray;
    use arrow::datatypes::{
        ArrowNativeType, ArrowPrimitiveType, DataType as T, Float16Type, Float32Type, Float64Type,
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
    };
    use serde_json::Value;
    fn ints<P: ArrowPrimitiveType>(a: &dyn Array) -> Vec<Value>
    where
        P::Native: Into<serde_json::Number>,
    {
        a.as_primitive::<P>()
            .values()
            .iter()
            .map(|v| Value::Number((*v).into()))
            .collect()
    }
    fn float(v: f64) -> Value {
        serde_json::Number::from_f64(v).map_or_else(
            || {
                Value::String(
                    if v.is_nan() {
                        "NaN"
                    } else if v > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .into(),
                )
            },
            Value::Number,
        )
    }
    fn hex(b: &[u8]) -> Value {
        Value::String(crate::statcache::hex(b))
    }
    fn lists<O: arrow::array::OffsetSizeTrait>(a: &dyn Array) -> Result<Vec<Value>, StageError> {
        let l = a.as_list::<O>();
        let inner = json_values(l.values().as_ref())?;
        Ok(l.offsets()
            .windows(2)
            .map(|w| Value::Array(inner[w[0].as_usize()..w[1].as_usize()].to_vec()))
            .collect())
    }
    let dt = array.data_type();
    let mut out: Vec<Value> = match dt {
        T::Null => vec![Value::Null; array.len()],
        T::Boolean => array
            .as_boolean()
            .values()
            .iter()
            .map(Value::Bool)
            .collect(),
        T::Int8 => ints::<Int8Type>(array),
        T::Int16 => ints::<Int16Type>(array),
        T::Int32 => ints::<Int32Type>(array),
        T::Int64 => ints::<Int64Type>(array),
        T::UInt8 => ints::<UInt8Type>(array),
        T::UInt16 => ints::<UInt16Type>(array),
        T::UInt32 => ints::<UInt32Type>(array),
        T::UInt64 => ints::<UInt64Type>(array),
        T::Float16 => array
            .as_primitive::<Float16Type>()
            .values()
            .iter()
            .map(|v| float(v.to_f64()))
            .collect(),
        T::Float32 => array
            .as_primitive::<Float32Type>()
            .values()
            .iter()
            .map(|v| float(f64::from(*v)))
            .collect(),
        T::Float64 => array
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .map(|v| float(*v))
            .collect(),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => {
            let s = arrow::compute::cast(array, &T::Utf8)
                .map_err(|e| StageError::new(format!("cannot read values: {e}")))?;
            s.as_string::<i32>()
                .iter()
                .map(|v| Value::String(v.unwrap_or_default().to_owned()))
                .collect()
        }
        T::Binary | T::LargeBinary | T::BinaryView => {
            let b = arrow::compute::cast(array, &T::Binary)
                .map_err(|e| StageError::new(format!("cannot read values: {e}")))?;
            b.as_binary::<i32>()
                .iter()
                .map(|v| hex(v.unwrap_or_default()))
                .collect()
        }
        T::FixedSizeBinary(_) => {
            let b = array.as_fixed_size_binary();
            (0..b.len()).map(|i| hex(b.value(i))).collect()
        }
        T::List(_) => lists::<i32>(array)?,
        T::LargeList(_) => lists::<i64>(array)?,
        T::FixedSizeList(_, n) => {
            let l = array.as_fixed_size_list();
            let inner = json_values(l.values().as_ref())?;
            let n = usize::try_from(*n).unwrap_or(0);
            (0..l.len())
                .map(|i| Value::Array(inner[i * n..(i + 1) * n].to_vec()))
                .collect()
        }
        T::Struct(fields) => {
            let s = array.as_struct();
            let columns = s
                .columns()
                .iter()
                .map(|c| json_values(c.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            (0..s.len())
                .map(|i| {
                    Value::Object(
                        fields
                            .iter()
                            .zip(&columns)
                            .map(|(f, c)| (f.name().clone(), c[i].clone()))
                            .collect(),
                    )
                })
                .collect()
        }
        T::Map(..) => {
            let m = array.as_map();
            let keys = json_values(m.keys().as_ref())?;
            let values = json_values(m.values().as_ref())?;
            m.offsets()
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0].as_usize(), w[1].as_usize());
                    Value::Array(
                        (a..b)
                            .map(|k| Value::Array(vec![keys[k].clone(), values[k].clone()]))
                            .collect(),
                    )
                })
                .collect()
        }
        T::Dictionary(_, values) => {
            let plain = arrow::compute::cast(array, values)
                .map_err(|e| StageError::new(format!("cannot read values: {e}")))?;
            return json_values(plain.as_ref());
        }
        // Decimals, dates, times, timestamps, durations and anything else: the display text.
        _ => value_strings(array)?
            .into_iter()
            .map(|v| v.map_or(Value::Null, Value::String))
            .collect(),
    };
    if let Some(nulls) = array.logical_nulls() {
        for (i, v) in out.iter_mut().enumerate() {
            if nulls.is_null(i) {
                *v = Value::Null;
            }
        }
    }
    Ok(out)
}

/// A 64-bit hash of `(domain, seed, value)`, for seeded ordering and bucketing.
pub fn seeded_hash(domain: &[u8], seed: u64, value: &[u8]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(&seed.to_le_bytes());
    h.update(value);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Shorten text for a report: at most `max` characters, one line.
pub fn preview(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut s: String = one_line.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    fn batch(ids: &[i64], texts: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(texts.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn equal_rows_hash_equal_across_batches() {
        let a = batch(&[1, 2], &[Some("x"), None]);
        let b = batch(&[2, 1], &[None, Some("x")]);
        let ha = row_hashes(&a, &[0, 1]).unwrap();
        let hb = row_hashes(&b, &[0, 1]).unwrap();
        assert_eq!(ha[0], hb[1]);
        assert_eq!(ha[1], hb[0]);
        assert_ne!(ha[0], ha[1]);
        // Only the text column: null and "x" differ; "" differs from null.
        let c = batch(&[1, 2], &[Some(""), None]);
        let hc = row_hashes(&c, &[1]).unwrap();
        assert_ne!(hc[0], hc[1]);
    }

    #[test]
    fn missing_column_error_lists_columns() {
        let s = Schema::new(vec![Field::new("label", DataType::Utf8, true)]);
        let e = column_index(&s, "lable", "stratify by", "stratify").unwrap_err();
        assert!(e.message.contains("no column `lable`"), "{}", e.message);
        assert!(e.hint.unwrap().contains("did you mean `label`"));
    }

    #[test]
    fn preview_shortens() {
        assert_eq!(preview("a\nb", 10), "a b");
        assert_eq!(preview("abcdef", 4), "abc…");
    }
}
