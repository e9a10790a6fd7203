//! Hugging Face `datasets` features for an Arrow schema: `Value` dtypes, `Sequence`, nested
//! dicts, and `ClassLabel` for columns the spec names in `class_labels`. Kept in the lock so that
//! export writes them without reading the data again.

use std::collections::BTreeMap;
use std::fmt;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use schemars::JsonSchema;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

/// `class_labels:` for one column: its class names, or `auto` (the sorted distinct values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassNames {
    Auto,
    Names(Vec<String>),
}

impl Serialize for ClassNames {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ClassNames::Auto => s.serialize_str("auto"),
            ClassNames::Names(n) => n.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ClassNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClassNames;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`auto` or a list of class names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClassNames, E> {
                if v == "auto" {
                    Ok(ClassNames::Auto)
                } else {
                    Err(E::custom(format!(
                        "class labels must be `auto` or a list of names: got `{v}` | hint: e.g. `class_labels: {{label: [negative, positive]}}`"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClassNames, A::Error> {
                let mut names: Vec<String> = Vec::new();
                while let Some(n) = seq.next_element::<String>()? {
                    if names.contains(&n) {
                        return Err(de::Error::custom(format!(
                            "class name `{n}` is listed twice | hint: each class needs a distinct name"
                        )));
                    }
                    names.push(n);
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "the list of class names is empty | hint: list the names, or write `auto`",
                    ));
                }
                Ok(ClassNames::Names(names))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ClassNames {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClassNames".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`auto` (the sorted distinct values of the column) or the class names, in id order",
            "oneOf": [{"const": "auto"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true}]
        })
    }
}

/// The `datasets` dtype name of a primitive Arrow type.
fn dtype(dt: &DataType) -> Option<String> {
    use DataType as T;
    Some(match dt {
        T::Null => "null".into(),
        T::Boolean => "bool".into(),
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
        T::Utf8 | T::Utf8View => "string".into(),
        T::LargeUtf8 => "large_string".into(),
        T::Binary | T::BinaryView => "binary".into(),
        T::LargeBinary => "large_binary".into(),
        T::Date32 => "date32".into(),
        T::Date64 => "date64".into(),
        T::Timestamp(unit, tz) => {
            let u = unit_name(*unit);
            match tz {
                Some(tz) => format!("timestamp[{u}, tz={tz}]"),
                None => format!("timestamp[{u}]"),
            }
        }
        T::Time32(unit) => format!("time32[{}]", unit_name(*unit)),
        T::Time64(unit) => format!("time64[{}]", unit_name(*unit)),
        T::Duration(unit) => format!("duration[{}]", unit_name(*unit)),
        T::Decimal128(p, s) => format!("decimal128({p}, {s})"),
        T::Decimal256(p, s) => format!("decimal256({p}, {s})"),
        T::FixedSizeBinary(n) => format!("fixed_size_binary[{n}]"),
        T::Dictionary(_, values) => return dtype(values),
        _ => return None,
    })
}

/// The short name of a time unit in `datasets` dtypes (`s`, `ms`, `us`, `ns`).
fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// The Arrow type of a temporal `datasets` dtype (the inverse of [`dtype`] for them):
/// `timestamp[s]`, `timestamp[ms, tz=UTC]`, `time32[s]`, `time64[us]`, `date32`, `date64`;
/// `None` for other dtypes.
pub fn temporal_type(dtype: &str) -> Option<DataType> {
    let unit = |u: &str| {
        let u = u.trim();
        [
            TimeUnit::Second,
            TimeUnit::Millisecond,
            TimeUnit::Microsecond,
            TimeUnit::Nanosecond,
        ]
        .into_iter()
        .find(|t| unit_name(*t) == u)
    };
    let inner = |prefix: &str| dtype.strip_prefix(prefix)?.strip_suffix(']');
    if let Some(inner) = inner("timestamp[") {
        let (u, tz) = match inner.split_once(',') {
            Some((u, rest)) => (u, rest.trim().strip_prefix("tz=").map(str::trim)),
            None => (inner, None),
        };
        return Some(DataType::Timestamp(unit(u)?, tz.map(Into::into)));
    }
    if let Some(u) = inner("time32[") {
        return Some(DataType::Time32(unit(u)?));
    }
    if let Some(u) = inner("time64[") {
        return Some(DataType::Time64(unit(u)?));
    }
    match dtype {
        "date32" => Some(DataType::Date32),
        "date64" => Some(DataType::Date64),
        _ => None,
    }
}

/// The feature of one Arrow type.
pub fn feature(dt: &DataType) -> Value {
    match dt {
        // A list of structs is `[{…}]`, the form every `datasets` version reads as a list of
        // dicts (a `Sequence` over a dict would mean a dict of lists). A map is a list of
        // `{key, value}` structs: `datasets` has no map feature, and reads a map that way.
        DataType::List(f) | DataType::LargeList(f)
            if matches!(f.data_type(), DataType::Struct(_)) =>
        {
            json!([feature(f.data_type())])
        }
        DataType::Map(entries, _) => json!([feature(entries.data_type())]),
        DataType::List(f) | DataType::LargeList(f) => {
            json!({"_type": "Sequence", "feature": feature(f.data_type())})
        }
        DataType::FixedSizeList(f, n) => {
            json!({"_type": "Sequence", "feature": feature(f.data_type()), "length": n})
        }
        DataType::Struct(fields) => Value::Object(
            fields
                .iter()
                .map(|f| (f.name().clone(), feature(f.data_type())))
                .collect(),
        ),
        other => {
            json!({"_type": "Value", "dtype": dtype(other).unwrap_or_else(|| "string".into())})
        }
    }
}

/// The Arrow/Parquet schema metadata key under which `datasets` keeps features.
pub const METADATA_KEY: &str = "huggingface";

/// The value of [`METADATA_KEY`] for these features: `{"info": {"features": …}}`, as
/// `datasets` writes and reads it (ClassLabel names survive a round trip through Parquet).
pub fn metadata_value(features: &Value) -> String {
    json!({"info": {"features": features}}).to_string()
}

/// The features recorded in a schema's `huggingface` metadata, when present and well formed.
pub fn from_metadata(schema: &Schema) -> Option<serde_json::Map<String, Value>> {
    let raw = schema.metadata().get(METADATA_KEY)?;
    let v: Value = serde_json::from_str(raw).ok()?;
    v.get("info")?.get("features")?.as_object().cloned()
}

/// The class names of `column` when its recorded feature is a `ClassLabel`, or a sequence of
/// them (multi-label): id `i` is named `names[i]`.
pub fn class_names(schema: &Schema, column: &str) -> Option<Vec<String>> {
    fn names(f: &Value) -> Option<Vec<String>> {
        match f {
            // `datasets` writes a list feature as `[feature]` in some versions.
            Value::Array(items) if items.len() == 1 => names(&items[0]),
            Value::Object(o) => match o.get("_type")?.as_str()? {
                "ClassLabel" => o
                    .get("names")?
                    .as_array()?
                    .iter()
                    .map(|n| n.as_str().map(str::to_owned))
                    .collect(),
                "Sequence" | "List" | "LargeList" => names(o.get("feature")?),
                _ => None,
            },
            _ => None,
        }
    }
    names(from_metadata(schema)?.get(column)?)
}

/// Features of `output`, a table derived from `input`: a column carried over keeps the
/// feature the input recorded for it (ClassLabel names, Image…), the others are derived
/// from their Arrow types.
pub fn carried(input: &Schema, output: &Schema) -> Value {
    let recorded = from_metadata(input).unwrap_or_default();
    let mut feats = features(output, &BTreeMap::new());
    if let Some(obj) = feats.as_object_mut() {
        for (name, f) in obj.iter_mut() {
            let same_type = input.field_with_name(name).ok().map(Field::data_type)
                == output.field_with_name(name).ok().map(Field::data_type);
            if same_type && let Some(r) = recorded.get(name) {
                *f = r.clone();
            }
        }
    }
    feats
}

/// Features of a whole schema, with `ClassLabel` for the given columns (names resolved).
pub fn features(schema: &Schema, class_labels: &BTreeMap<String, Vec<String>>) -> Value {
    Value::Object(
        schema
            .fields()
            .iter()
            .map(|f| {
                let feat = match class_labels.get(f.name()) {
                    Some(names) => json!({"_type": "ClassLabel", "names": names}),
                    None => feature(f.data_type()),
                };
                (f.name().clone(), feat)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use std::sync::Arc;

    #[test]
    fn temporal_dtypes_round_trip() {
        for dt in [
            DataType::Timestamp(TimeUnit::Second, None),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            DataType::Date32,
            DataType::Date64,
        ] {
            assert_eq!(temporal_type(&dtype(&dt).unwrap()), Some(dt));
        }
        assert_eq!(
            temporal_type("time32[s]"),
            Some(DataType::Time32(TimeUnit::Second))
        );
        assert_eq!(temporal_type("timestamp[h]"), None);
        assert_eq!(temporal_type("int64"), None);
    }

    #[test]
    fn reads_class_names_back() {
        let schema = Schema::new(vec![
            Field::new("label", DataType::Int64, true),
            Field::new("text", DataType::Utf8, true),
        ]);
        let labels =
            BTreeMap::from([("label".to_owned(), vec!["neg".to_owned(), "pos".to_owned()])]);
        let feats = features(&schema, &labels);
        let schema = schema.with_metadata(
            [(METADATA_KEY.to_owned(), metadata_value(&feats))]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        assert_eq!(
            class_names(&schema, "label"),
            Some(vec!["neg".to_owned(), "pos".to_owned()])
        );
        assert_eq!(class_names(&schema, "text"), None);
        let multi = json!({"tags": {"_type": "Sequence", "feature": {"_type": "ClassLabel", "names": ["a"]}}});
        let schema = Schema::new(Vec::<Field>::new()).with_metadata(
            [(METADATA_KEY.to_owned(), metadata_value(&multi))]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
        assert_eq!(class_names(&schema, "tags"), Some(vec!["a".to_owned()]));
    }

    #[test]
    fn maps_types() {
        let schema = Schema::new(vec![
            Field::new("text", DataType::Utf8, true),
            Field::new("label", DataType::Int64, true),
            Field::new(
                "ids",
                DataType::List(Arc::new(Field::new("item", DataType::UInt32, true))),
                true,
            ),
            Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]);
        let labels =
            BTreeMap::from([("label".to_owned(), vec!["neg".to_owned(), "pos".to_owned()])]);
        assert_eq!(
            features(&schema, &labels),
            json!({
                "text": {"_type": "Value", "dtype": "string"},
                "label": {"_type": "ClassLabel", "names": ["neg", "pos"]},
                "ids": {"_type": "Sequence", "feature": {"_type": "Value", "dtype": "uint32"}},
                "at": {"_type": "Value", "dtype": "timestamp[us]"}
            })
        );
    }
}
