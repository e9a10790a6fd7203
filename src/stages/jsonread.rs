//! What reading JSON needs beyond arrow's decoder: columns in the order the records first
//! name them (arrow's inference sorts them), columns whose values mix kinds read as strings
//! (with a warning), and the document shapes pandas' `to_json` writes (`orient=records`,
//! `split`, `table`, `index`, `columns`, `values`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use arrow::datatypes::{DataType, TimeUnit};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A JSON object's entries in document order.
pub struct Ordered(pub Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    entries.push((k, v));
                }
                Ok(Ordered(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// The top of a JSON document: an array, an object (entries in order), or a scalar.
enum Doc {
    Array(Vec<Box<RawValue>>),
    Object(Vec<(String, Box<RawValue>)>),
    Scalar,
}

impl<'de> serde::Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Doc, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = s.next_element::<Box<RawValue>>()? {
                    items.push(v);
                }
                Ok(Doc::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Doc, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                    entries.push((k, v));
                }
                Ok(Doc::Object(entries))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Doc, E> {
                Ok(Doc::Scalar)
            }
        }
        d.deserialize_any(V)
    }
}

/// Kinds of values seen in one column.
#[derive(Debug, Default, Clone, Copy)]
struct Kinds {
    string: u64,
    int: u64,
    float: u64,
    boolean: u64,
    object: u64,
    array: u64,
}

impl Kinds {
    fn add(&mut self, v: &Value) {
        match v {
            Value::Null => {}
            Value::Bool(_) => self.boolean += 1,
            Value::Number(n) if n.is_f64() => self.float += 1,
            Value::Number(_) => self.int += 1,
            Value::String(_) => self.string += 1,
            Value::Array(_) => self.array += 1,
            Value::Object(_) => self.object += 1,
        }
    }

    /// "3 numbers and 1 string", when the kinds do not fit one column type.
    fn mixed(&self) -> Option<String> {
        let numbers = self.int + self.float;
        let parts = [
            (numbers, "number"),
            (self.string, "string"),
            (self.boolean, "boolean"),
            (self.object, "object"),
            (self.array, "array"),
        ];
        let present: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
            .collect();
        (present.len() > 1).then(|| present.join(" and "))
    }
}

/// Columns in first-seen order, with the kinds of their values.
#[derive(Debug, Default)]
pub struct Columns {
    order: Vec<String>,
    at: HashMap<String, usize>,
    kinds: Vec<Kinds>,
}

impl Columns {
    pub fn add(&mut self, entries: &[(String, Value)]) {
        for (k, v) in entries {
            let i = if let Some(&i) = self.at.get(k) {
                i
            } else {
                self.at.insert(k.clone(), self.order.len());
                self.order.push(k.clone());
                self.kinds.push(Kinds::default());
                self.order.len() - 1
            };
            self.kinds[i].add(v);
        }
    }

    fn remove(&mut self, name: &str) {
        if let Some(i) = self.at.remove(name) {
            self.order.remove(i);
            self.kinds.remove(i);
            for v in self.at.values_mut() {
                if *v > i {
                    *v -= 1;
                }
            }
        }
    }

    pub fn order(&self) -> &[String] {
        &self.order
    }

    /// Columns whose values mix kinds: read as strings. Returns them and one warning each.
    pub fn mixed(&self, file: &str) -> (BTreeSet<String>, Vec<String>) {
        let mut names = BTreeSet::new();
        let mut warnings = Vec::new();
        for (name, k) in self.order.iter().zip(&self.kinds) {
            if let Some(what) = k.mixed() {
                names.insert(name.clone());
                warnings.push(format!(
                    "`{file}`: column `{name}` mixes {what}; it is read as string (numbers and booleans as their JSON text)"
                ));
            }
        }
        (names, warnings)
    }
}

/// A value of a column read as string: strings stay, anything else becomes its JSON text.
pub fn stringify(record: &mut Value, columns: &BTreeSet<String>) {
    let Some(record) = record.as_object_mut() else {
        return;
    };
    for c in columns {
        if let Some(v) = record.get_mut(c)
            && !matches!(v, Value::String(_) | Value::Null)
        {
            *v = Value::String(v.to_string());
        }
    }
}

#[derive(Debug)]
/// The records of a JSON document, whatever pandas orient wrote it.
pub struct Records {
    /// JSON objects.
    pub rows: Vec<Value>,
    /// Every column in first-seen order.
    pub columns: Columns,
    /// Types a `table` orient's schema gives.
    pub types: BTreeMap<String, DataType>,
    /// The shape found, when it is not a plain array of records.
    pub shape: Option<&'static str>,
}

/// An error: message and hint.
pub type Problem = (String, Option<String>);

fn problem(message: impl Into<String>, hint: Option<&str>) -> Problem {
    (message.into(), hint.map(str::to_owned))
}

fn parse<'a, T: serde::Deserialize<'a>>(raw: &'a RawValue, what: &str) -> Result<T, Problem> {
    serde_json::from_str(raw.get()).map_err(|e| problem(format!("{what}: {e}"), None))
}

fn is_integer_label(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether row labels are 0, 1, 2, … (pandas' default index, which `datasets` and pandas
/// leave out of a table's columns).
fn default_labels<'a>(labels: impl Iterator<Item = &'a str>) -> bool {
    labels.enumerate().all(|(i, l)| l == i.to_string())
}

/// Parse a document into records.
pub fn records(bytes: &[u8], json_field: Option<&str>) -> Result<Records, Problem> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| {
        problem(
            format!(
                "JSON syntax error at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            None,
        )
    })?;
    let mut out = Records {
        rows: Vec::new(),
        columns: Columns::default(),
        types: BTreeMap::new(),
        shape: None,
    };
    match doc {
        Doc::Scalar => return Err(problem("is a JSON scalar, not records", None)),
        Doc::Array(items) => array_rows(&items, &mut out)?,
        Doc::Object(entries) => object_rows(&entries, json_field, &mut out)?,
    }
    Ok(out)
}

fn push_record(out: &mut Records, entries: Vec<(String, Value)>) {
    out.columns.add(&entries);
    out.rows.push(Value::Object(
        entries.into_iter().collect::<Map<String, Value>>(),
    ));
}

/// `[{…}, …]` (records) or `[[…], …]` (pandas' `values`: columns `column_1`, …).
fn array_rows(items: &[Box<RawValue>], out: &mut Records) -> Result<(), Problem> {
    let first = items
        .first()
        .map(|r| r.get().trim_start().as_bytes().first().copied());
    if first == Some(Some(b'[')) {
        out.shape = Some("arrays of values (pandas `orient=\"values\"`)");
        for (i, raw) in items.iter().enumerate() {
            let row: Vec<Value> = parse(raw, &format!("record {}", i + 1)).map_err(|_| {
                problem(
                    format!("record {} is not an array like the first one", i + 1),
                    None,
                )
            })?;
            let entries = row
                .into_iter()
                .enumerate()
                .map(|(c, v)| (format!("column_{}", c + 1), v))
                .collect();
            push_record(out, entries);
        }
        return Ok(());
    }
    for (i, raw) in items.iter().enumerate() {
        let rec: Ordered = serde_json::from_str(raw.get()).map_err(|_| {
            problem(
                format!("record {} is not a JSON object", i + 1),
                Some("a JSON input is an array of objects (records), or one of the shapes pandas' `to_json` writes"),
            )
        })?;
        push_record(out, rec.0);
    }
    Ok(())
}

fn object_rows(
    entries: &[(String, Box<RawValue>)],
    json_field: Option<&str>,
    out: &mut Records,
) -> Result<(), Problem> {
    let keys: BTreeSet<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    let get = |k: &str| entries.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    if let Some(field) = json_field {
        let Some(raw) = get(field) else {
            return Err(problem(
                format!("has no key `{field}`"),
                Some("check `json_field:`"),
            ));
        };
        let items: Vec<Box<RawValue>> = parse(raw, &format!("`{field}`"))
            .map_err(|_| problem(format!("`{field}` is not an array of records"), None))?;
        return array_rows(&items, out);
    }
    // pandas `orient="split"`: {"columns": […], "index": […], "data": [[…], …]}.
    if keys.contains("columns")
        && keys.contains("data")
        && keys
            .iter()
            .all(|k| matches!(*k, "columns" | "index" | "data"))
        && let (Some(c), Some(d)) = (get("columns"), get("data"))
        && let (Ok(columns), Ok(data)) = (
            serde_json::from_str::<Vec<Value>>(c.get()),
            serde_json::from_str::<Vec<Vec<Value>>>(d.get()),
        )
    {
        let names: Vec<String> = columns.iter().map(label).collect();
        let index: Option<Vec<Value>> =
            get("index").and_then(|i| serde_json::from_str(i.get()).ok());
        let index = index.filter(|ix| {
            !default_labels(
                ix.iter()
                    .map(label)
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            )
        });
        for (r, row) in data.into_iter().enumerate() {
            if row.len() != names.len() {
                return Err(problem(
                    format!(
                        "row {} of `data` has {} values for {} columns",
                        r + 1,
                        row.len(),
                        names.len()
                    ),
                    None,
                ));
            }
            let mut entries = Vec::with_capacity(names.len() + 1);
            if let Some(ix) = &index {
                entries.push((
                    "index".to_owned(),
                    ix.get(r).cloned().unwrap_or(Value::Null),
                ));
            }
            entries.extend(names.iter().cloned().zip(row));
            push_record(out, entries);
        }
        return Ok(());
    }
    // pandas `orient="table"`: {"schema": {"fields": […], "primaryKey": […]}, "data": [{…}]}.
    if keys.contains("schema")
        && keys.contains("data")
        && let (Some(s), Some(d)) = (get("schema"), get("data"))
        && let Ok(schema) = serde_json::from_str::<Value>(s.get())
        && let Some(fields) = schema.get("fields").and_then(Value::as_array)
    {
        let items: Vec<Box<RawValue>> =
            parse(d, "`data`").map_err(|_| problem("`data` is not an array of records", None))?;
        array_rows(&items, out)?;
        for f in fields {
            if let (Some(name), Some(ty)) = (
                f.get("name").and_then(Value::as_str),
                f.get("type").and_then(Value::as_str),
            ) && let Some(dt) = table_type(ty, f.get("tz").and_then(Value::as_str))
            {
                out.types.insert(name.to_owned(), dt);
            }
        }
        // The default index (named `index`, 0, 1, 2, …) is not data.
        let key: Vec<&str> = schema
            .get("primaryKey")
            .and_then(Value::as_array)
            .map(|k| k.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if key == ["index"]
            && default_labels(
                out.rows
                    .iter()
                    .map(|r| r.get("index").map(label).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            )
        {
            for r in &mut out.rows {
                if let Some(o) = r.as_object_mut() {
                    o.remove("index");
                }
            }
            out.columns.remove("index");
            out.types.remove("index");
        }
        return Ok(());
    }
    // One key holding an array of records (`{"data": [{…}]}`).
    let arrays: Vec<&String> = entries
        .iter()
        .filter(|(_, v)| {
            serde_json::from_str::<Vec<Box<RawValue>>>(v.get()).is_ok_and(|a| {
                !a.is_empty() && a.iter().all(|r| r.get().trim_start().starts_with('{'))
            })
        })
        .map(|(k, _)| k)
        .collect();
    match arrays.as_slice() {
        [k] => {
            let raw = get(k).ok_or_else(|| problem("internal error", None))?;
            let items: Vec<Box<RawValue>> = parse(raw, k)?;
            return array_rows(&items, out);
        }
        [] => {}
        many => {
            let names: Vec<String> = many.iter().map(|k| format!("`{k}`")).collect();
            return Err(problem(
                format!("has several arrays of records: {}", names.join(", ")),
                Some("choose one with `json_field:` on the stage"),
            ));
        }
    }
    // pandas `orient="columns"` (its default) or `"index"`: an object of objects.
    let inner: Option<Vec<(String, Ordered)>> = entries
        .iter()
        .map(|(k, v)| {
            serde_json::from_str::<Ordered>(v.get())
                .ok()
                .map(|o| (k.clone(), o))
        })
        .collect();
    if let Some(inner) = inner
        && !inner.is_empty()
    {
        let outer_labels = inner.iter().all(|(k, _)| is_integer_label(k));
        let inner_labels = inner
            .iter()
            .all(|(_, o)| o.0.iter().all(|(k, _)| is_integer_label(k)));
        if outer_labels && !inner_labels {
            // `index`: {"0": {"a": 1, …}, "1": {…}}.
            out.shape = Some("pandas `orient=\"index\"`");
            let keep = !default_labels(inner.iter().map(|(k, _)| k.as_str()));
            for (k, o) in inner {
                let mut entries = Vec::with_capacity(o.0.len() + 1);
                if keep {
                    entries.push(("index".to_owned(), Value::String(k)));
                }
                entries.extend(o.0);
                push_record(out, entries);
            }
        } else {
            // `columns`: {"a": {"0": 1, "1": 2}, "b": {…}}.
            out.shape = Some("pandas `orient=\"columns\"`");
            let mut labels: Vec<String> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for (_, o) in &inner {
                for (k, _) in &o.0 {
                    if !seen.contains_key(k) {
                        seen.insert(k.clone(), labels.len());
                        labels.push(k.clone());
                    }
                }
            }
            let keep = !default_labels(labels.iter().map(String::as_str));
            let mut rows: Vec<Vec<(String, Value)>> = labels
                .iter()
                .map(|l| {
                    if keep {
                        vec![("index".to_owned(), Value::String(l.clone()))]
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            for (col, o) in inner {
                let mut values: Vec<Value> = vec![Value::Null; labels.len()];
                for (k, v) in o.0 {
                    if let Some(&r) = seen.get(&k) {
                        values[r] = v;
                    }
                }
                for (r, v) in values.into_iter().enumerate() {
                    rows[r].push((col.clone(), v));
                }
            }
            for r in rows {
                push_record(out, r);
            }
        }
        return Ok(());
    }
    Err(problem(
        "is a JSON object with no array of records",
        Some(
            "a JSON input is an array of objects, an object holding one under a key (`json_field:`), or one of the shapes pandas' `to_json` writes",
        ),
    ))
}

/// A column or row label as text.
fn label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The arrow type of a Table Schema type (what pandas' `orient="table"` writes), where the
/// values alone would not tell: date-times are written as text. (Other types follow the
/// values: pandas calls an object column of booleans and nulls `string`.)
fn table_type(ty: &str, tz: Option<&str>) -> Option<DataType> {
    match ty {
        "datetime" => Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            tz.map(Into::into),
        )),
        _ => None,
    }
}

/// Keys and kinds of one JSON Lines record, for the column order (values not kept).
pub fn line_entries(line: &str) -> Result<Vec<(String, Value)>, serde_json::Error> {
    serde_json::from_str::<Ordered>(line).map(|o| o.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(doc: &str) -> (Vec<String>, Vec<Value>, Option<&'static str>) {
        let r = records(doc.as_bytes(), None).unwrap();
        (r.columns.order().to_vec(), r.rows, r.shape)
    }

    #[test]
    fn records_keep_first_seen_order_and_missing_keys() {
        let (cols, rows, shape) = rows(r#"[{"z": 1, "a": "x"}, {"a": "y", "m": true}]"#);
        assert_eq!(cols, ["z", "a", "m"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(shape, None);
    }

    #[test]
    fn pandas_orients_read_as_the_same_table() {
        let want = (
            vec!["b".to_owned(), "a".to_owned()],
            vec![
                serde_json::json!({"b": 1.5, "a": "x"}),
                serde_json::json!({"b": null, "a": "z"}),
            ],
        );
        for doc in [
            r#"{"columns":["b","a"],"index":[0,1],"data":[[1.5,"x"],[null,"z"]]}"#,
            r#"{"schema":{"fields":[{"name":"index","type":"integer"},{"name":"b","type":"number"},{"name":"a","type":"string"}],"primaryKey":["index"]},"data":[{"index":0,"b":1.5,"a":"x"},{"index":1,"b":null,"a":"z"}]}"#,
            r#"{"0":{"b":1.5,"a":"x"},"1":{"b":null,"a":"z"}}"#,
            r#"{"b":{"0":1.5,"1":null},"a":{"0":"x","1":"z"}}"#,
        ] {
            let (cols, rows, _) = rows(doc);
            assert_eq!((cols, rows), want, "{doc}");
        }
    }

    #[test]
    fn a_labelled_index_is_kept() {
        let (cols, rows, _) = rows(r#"{"b":{"x":1,"y":2}}"#);
        assert_eq!(cols, ["index", "b"]);
        assert_eq!(rows[1], serde_json::json!({"index": "y", "b": 2}));
    }

    #[test]
    fn mixed_kinds_are_named_and_stringified() {
        let r = records(
            br#"[{"v": 1}, {"v": "two"}, {"v": true}, {"v": null}]"#,
            None,
        )
        .unwrap();
        let (names, warnings) = r.columns.mixed("f.json");
        assert!(names.contains("v"));
        assert!(
            warnings[0].contains("mixes 1 number and 1 string and 1 boolean"),
            "{warnings:?}"
        );
        let mut rows = r.rows;
        for row in &mut rows {
            stringify(row, &names);
        }
        assert_eq!(rows[0]["v"], "1");
        assert_eq!(rows[2]["v"], "true");
        assert_eq!(rows[3]["v"], Value::Null);
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        assert!(records(b"3", None).unwrap_err().0.contains("scalar"));
        assert!(
            records(b"[1, 2]", None)
                .unwrap_err()
                .0
                .contains("record 1 is not a JSON object")
        );
        assert!(
            records(br#"{"a": [{"x":1}], "b": [{"y":2}]}"#, None)
                .unwrap_err()
                .0
                .contains("several arrays")
        );
        assert!(
            records(b"[{\"a\": 1}", None)
                .unwrap_err()
                .0
                .contains("line 1")
        );
    }
}
