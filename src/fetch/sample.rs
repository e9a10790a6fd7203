//! Sample rows from the first bytes of a data file, for `info --sample` on sources without a
//! dataset viewer (Kaggle, OpenML): one ranged request for the file's first [`PREFIX_BYTES`],
//! never the whole file.

use serde_json::{Map, Value};

/// How much of a file is read for a sample.
pub const PREFIX_BYTES: u64 = 256 * 1024;

/// Whether `rows` can read a file of this name.
pub fn readable(name: &str) -> bool {
    matches!(extension(name).as_str(), "csv" | "tsv" | "jsonl" | "ndjson")
}

/// A file name's extension, lowercased.
fn extension(name: &str) -> String {
    std::path::Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Sample rows: objects of column → value, and the columns in the file's order (JSON objects
/// keep their keys sorted).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub columns: Vec<String>,
    pub rows: Vec<Value>,
}

/// Up to `n` rows from the start of a CSV, TSV or JSON Lines file. `bytes` is the whole file
/// when shorter than [`PREFIX_BYTES`]; otherwise its last line, which may be cut, is dropped.
/// `None` when the bytes are not such a file (a zip archive, say).
pub fn rows(name: &str, bytes: &[u8], n: usize) -> Option<Sample> {
    use crate::stages::detect::{Compression, is_zip};
    if is_zip(bytes) || Compression::from_magic(bytes).is_some() {
        return None;
    }
    let body = whole_lines(bytes)?;
    let ext = extension(name);
    if ext == "jsonl" || ext == "ndjson" {
        let rows: Vec<Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(n)
            .map(|l| {
                serde_json::from_slice::<Value>(l)
                    .ok()
                    .filter(Value::is_object)
            })
            .collect::<Option<_>>()?;
        let mut columns: Vec<String> = Vec::new();
        for r in &rows {
            for k in r.as_object().into_iter().flat_map(Map::keys) {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        return Some(Sample { columns, rows });
    }
    // The delimiter as normalize would find it (`;` and `|` files are common on Kaggle).
    let given = (ext == "tsv").then_some(b'\t');
    let dialect = crate::stages::detect::sniff_csv(body, given);
    csv_rows(body, dialect.delimiter, n)
}

/// The whole lines of a file's first bytes: all of them when the file was shorter than
/// [`PREFIX_BYTES`], else up to the last line break (the line after it may be cut); `None`
/// when there is none.
pub fn whole_lines(bytes: &[u8]) -> Option<&[u8]> {
    if (bytes.len() as u64) < PREFIX_BYTES {
        Some(bytes)
    } else {
        Some(&bytes[..=bytes.iter().rposition(|b| *b == b'\n')?])
    }
}

/// Up to `n` records of CSV text with a header line, as objects of strings.
pub fn csv_rows(body: &[u8], delimiter: u8, n: usize) -> Option<Sample> {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(body);
    let header = r.headers().ok()?.clone();
    let mut out = Vec::new();
    for rec in r.records().take(n) {
        let rec = rec.ok()?;
        let obj: Map<String, Value> = header
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.to_owned(), Value::String(v.to_owned())))
            .collect();
        out.push(Value::Object(obj));
    }
    Some(Sample {
        columns: header.iter().map(str::to_owned).collect(),
        rows: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tsv_and_json_lines() {
        let s = rows("a.csv", b"text,id\n\"x, y\",1\nz,2\n", 5).unwrap();
        assert_eq!(s.columns, ["text", "id"]);
        assert_eq!(s.rows.len(), 2);
        assert_eq!(s.rows[0]["text"], "x, y");
        let s = super::rows("a.TSV", b"id\ttext\n1\tx\n", 5).unwrap();
        assert_eq!(s.rows[0]["text"], "x");
        let s = super::rows("a.jsonl", b"{\"b\":1}\n\n{\"a\":2}\n{\"a\":3}\n", 2).unwrap();
        assert_eq!(s.columns, ["b", "a"]);
        assert_eq!(
            s.rows,
            vec![serde_json::json!({"b":1}), serde_json::json!({"a":2})]
        );
        assert!(super::rows("a.csv", b"PK\x03\x04....", 5).is_none());
        assert!(super::rows("a.jsonl", b"[1]\n", 5).is_none());
        assert!(super::rows("a.csv", &[0x28, 0xb5, 0x2f, 0xfd, 0], 5).is_none());
        let s = super::rows("a.csv", b"id;text\n1;x, y\n2;z\n", 5).unwrap();
        assert_eq!(s.columns, ["id", "text"]);
        assert_eq!(s.rows[0]["text"], "x, y");
        assert!(!readable("a.parquet") && readable("b.ndjson"));
    }

    #[test]
    fn a_cut_last_line_is_dropped() {
        let mut text = b"id,text\n".to_vec();
        let mut i = 0;
        while (text.len() as u64) < PREFIX_BYTES {
            text.extend_from_slice(format!("{i},row number {i}\n").as_bytes());
            i += 1;
        }
        text.truncate(PREFIX_BYTES as usize + 3);
        let s = rows("a.csv", &text, usize::MAX).unwrap();
        let last = s.rows.last().unwrap();
        assert_eq!(
            last["text"],
            format!("row number {}", last["id"].as_str().unwrap())
        );
    }
}
