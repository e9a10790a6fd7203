//! Plain text (`.txt`) as the Hugging Face `text` loader reads it: one `text` column, one row
//! per line (`text_mode: line`), per paragraph (`paragraph`: blocks separated by a blank line,
//! `sample_by="paragraph"`) or per file (`file`: `sample_by="document"`).
//!
//! As Python's text mode does for `datasets`, `\r\n` and a lone `\r` end a line like `\n`
//! (universal newlines), and the line breaks are not part of a line. A final line break adds
//! no empty row; empty lines in between are rows (`""`). A paragraph is what
//! `text.split("\n\n")` gives, empty pieces left out, so a third line break starts the next
//! paragraph with `\n` and the last paragraph keeps its final line break, exactly as there.
//!
//! The text is streamed: a record (a line, a paragraph, the file) is held in memory whole, so
//! each is bounded by `MLDATA_MAX_RECORD_MIB`; rows are handed over in batches of at most
//! [`BATCH_ROWS`] rows or [`BATCH_BYTES`] bytes. Bytes that are not UTF-8 are an error naming
//! the line and the byte offset.

use std::io::Read;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::StageError;
use super::archive::{self, Tripwire};
use super::table::{BATCH_ROWS, ENV_RECORD_MIB};

/// A batch is handed over once its text reaches this many bytes, whatever its rows.
const BATCH_BYTES: usize = 64 << 20;
/// Arrow strings use 32-bit offsets: no batch (so no record) may reach 2 GiB.
const MAX_BATCH_BYTES: usize = (i32::MAX as usize) - 1;
/// Raw bytes read at a time.
const CHUNK: usize = 256 * 1024;

/// What one row of a text file is.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TextMode {
    /// One row per line (`datasets`' default, `sample_by="line"`).
    #[default]
    Line,
    /// One row per paragraph: blocks separated by a blank line (`sample_by="paragraph"`).
    Paragraph,
    /// One row per file (`sample_by="document"`).
    File,
}

impl TextMode {
    pub fn is_line(&self) -> bool {
        *self == TextMode::Line
    }
}

/// The schema of every text file: one string column `text`.
pub fn schema() -> Schema {
    Schema::new(vec![Field::new("text", DataType::Utf8, true)])
}

/// Splits a byte stream into records, validating UTF-8 and translating line breaks.
struct Records<R> {
    inner: R,
    name: String,
    mode: TextMode,
    max_record: u64,
    trip: Tripwire,
    chunk: Vec<u8>,
    /// Raw bytes consumed before `chunk`.
    offset: u64,
    /// The current line (1-based) of the raw text.
    line: u64,
    /// The last raw byte was `\r` (a `\n` right after it is part of the same line break).
    after_cr: bool,
    /// The end of an incomplete UTF-8 sequence at the end of the last chunk.
    carry: Vec<u8>,
    /// The record being collected (translated: every line break is `\n`).
    record: Vec<u8>,
    record_line: u64,
    /// Records complete and not yet handed over.
    ready: std::collections::VecDeque<Vec<u8>>,
    done: bool,
}

impl<R: Read> Records<R> {
    fn new(inner: R, name: &str, mode: TextMode, max_record: u64, trip: Tripwire) -> Self {
        Records {
            inner,
            name: name.to_owned(),
            mode,
            max_record,
            trip,
            chunk: vec![0; CHUNK],
            offset: 0,
            line: 1,
            after_cr: false,
            carry: Vec::new(),
            record: Vec::new(),
            record_line: 1,
            ready: std::collections::VecDeque::new(),
            done: false,
        }
    }

    fn err(&self, msg: impl std::fmt::Display) -> StageError {
        StageError::new(format!("`{}`: {msg}", self.name))
    }

    fn not_utf8(&self, at: u64, byte: Option<u8>) -> StageError {
        let what = match byte {
            Some(b) => format!("byte 0x{b:02x}"),
            None => "an incomplete character at the end".to_owned(),
        };
        self.err(format!(
            "line {} is not UTF-8 text ({what} at byte offset {at})",
            self.line
        ))
        .hint("a text file must be UTF-8; convert it (e.g. `iconv -f latin1 -t utf-8`)")
    }

    fn too_long(&self) -> StageError {
        let limit = archive::human(self.max_record);
        let mib = self.max_record >> 20;
        let what = match self.mode {
            TextMode::Line => format!("line {}", self.record_line),
            TextMode::Paragraph => {
                format!("the paragraph starting at line {}", self.record_line)
            }
            TextMode::File => "the file (`text_mode: file` reads it as one record)".to_owned(),
        };
        self.err(format!(
            "{what} is longer than {limit} (a text record may be at most {ENV_RECORD_MIB}={mib} MiB)"
        ))
        .hint(format!(
            "if the record is genuine, set {ENV_RECORD_MIB} above {mib} (MiB)"
        ))
    }

    /// A line break seen in the translated text.
    fn newline(&mut self) {
        self.line += 1;
        match self.mode {
            TextMode::Line => {
                self.ready.push_back(std::mem::take(&mut self.record));
                self.record_line = self.line;
            }
            // `split("\n\n")`: a second `\n` in a row ends the piece (without either).
            TextMode::Paragraph if self.record.last() == Some(&b'\n') => {
                self.record.pop();
                let piece = std::mem::take(&mut self.record);
                if !piece.is_empty() {
                    self.ready.push_back(piece);
                }
            }
            TextMode::Paragraph | TextMode::File => {
                if self.record.is_empty() {
                    self.record_line = self.line - 1;
                }
                self.record.push(b'\n');
            }
        }
    }

    /// Translate and split `data` (valid UTF-8 up to here, or the part before a bad byte).
    fn feed(&mut self, data: &[u8]) -> Result<(), StageError> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', rest) {
                None => {
                    self.push(rest)?;
                    rest = &[];
                }
                Some(i) => {
                    self.push(&rest[..i])?;
                    self.after_cr = rest[i] == b'\r';
                    self.newline();
                    rest = &rest[i + 1..];
                }
            }
            if self.record.len() as u64 > self.max_record {
                return Err(self.too_long());
            }
        }
        Ok(())
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), StageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.record.is_empty() {
            self.record_line = self.line;
        }
        if (self.record.len() + bytes.len()) as u64 > self.max_record {
            return Err(self.too_long());
        }
        self.record.extend_from_slice(bytes);
        Ok(())
    }

    /// Read one more chunk; `false` at the end of the input.
    fn fill(&mut self) -> Result<bool, StageError> {
        let n = loop {
            match self.inner.read(&mut self.chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(match self.trip.get() {
                        Some((m, h)) => self.err(m).hint(h.clone()),
                        None => self.err(format!("cannot read: {e}")),
                    });
                }
            }
        };
        if n == 0 {
            if !self.carry.is_empty() {
                let at = self.offset - self.carry.len() as u64;
                return Err(self.not_utf8(at, None));
            }
            return Ok(false);
        }
        let chunk = std::mem::take(&mut self.chunk);
        let result = self.take_chunk(&chunk[..n]);
        self.chunk = chunk;
        self.offset += n as u64;
        result.map(|()| true)
    }

    /// Validate `data` (after the carried bytes) and feed the valid part.
    fn take_chunk(&mut self, data: &[u8]) -> Result<(), StageError> {
        // The carried bytes (at most 3) and the rest of their character from `data`.
        let mut start = 0;
        if !self.carry.is_empty() {
            let need = self.carry.len();
            let len = match self.carry[0] {
                0xf0.. => 4,
                0xe0.. => 3,
                _ => 2,
            };
            let take = (len - need).min(data.len());
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&data[..take]);
            let at = self.offset - need as u64;
            if joined.len() < len {
                if data[..take].iter().all(|b| b & 0xc0 == 0x80) {
                    self.carry = joined;
                    return Ok(());
                }
                return Err(self.not_utf8(at, joined.first().copied()));
            }
            if std::str::from_utf8(&joined).is_err() {
                return Err(self.not_utf8(at, joined.first().copied()));
            }
            // One character: no line break in it.
            self.push(&joined)?;
            start = take;
        }
        let data = &data[start..];
        match std::str::from_utf8(data) {
            Ok(_) => self.feed(data),
            Err(e) => {
                let good = e.valid_up_to();
                self.feed(&data[..good])?;
                if e.error_len().is_some() {
                    let at = self.offset + (start + good) as u64;
                    return Err(self.not_utf8(at, Some(data[good])));
                }
                self.carry = data[good..].to_vec();
                Ok(())
            }
        }
    }

    /// The next record, or `None` at the end.
    fn next_record(&mut self) -> Result<Option<Vec<u8>>, StageError> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(Some(r));
            }
            if self.done {
                return Ok(None);
            }
            if !self.fill()? {
                self.done = true;
                let last = std::mem::take(&mut self.record);
                // A final line break adds no empty line; the whole file is one record even
                // when it is empty.
                if !last.is_empty() || self.mode == TextMode::File {
                    self.ready.push_back(last);
                }
            }
        }
    }
}

/// A text file's rows as batches of `schema` (its `text` column, other columns null).
pub fn batches(
    r: Box<dyn Read + Send>,
    trip: Tripwire,
    name: &str,
    mode: TextMode,
    max_record: u64,
    schema: &SchemaRef,
) -> Result<super::table::Batches<'static>, StageError> {
    let max_record = max_record.min(MAX_BATCH_BYTES as u64);
    let mut records = Records::new(r, name, mode, max_record, trip);
    let schema = schema.clone();
    let col = schema.index_of("text").ok();
    let mut failed = false;
    let mut held: Option<Vec<u8>> = None;
    Ok(Box::new(std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let mut b = StringBuilder::new();
        let mut bytes = 0usize;
        let mut rows = 0usize;
        while rows < BATCH_ROWS {
            let rec = match held.take() {
                Some(r) => r,
                None => match records.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => break,
                    Err(e) => {
                        failed = true;
                        return Some(Err(e));
                    }
                },
            };
            if rows > 0 && bytes + rec.len() > BATCH_BYTES {
                held = Some(rec);
                break;
            }
            // Valid UTF-8: checked as the bytes were read.
            match std::str::from_utf8(&rec) {
                Ok(s) => b.append_value(s),
                Err(e) => {
                    failed = true;
                    return Some(Err(records.err(format!("not UTF-8 text: {e}"))));
                }
            }
            bytes += rec.len();
            rows += 1;
        }
        if rows == 0 {
            return None;
        }
        let text: arrow::array::ArrayRef = Arc::new(b.finish());
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if Some(i) == col {
                    arrow::compute::cast(&text, f.data_type())
                } else {
                    Ok(arrow::array::new_null_array(f.data_type(), rows))
                }
            })
            .collect::<Result<Vec<_>, _>>();
        let batch = columns.and_then(|c| RecordBatch::try_new(schema.clone(), c));
        Some(batch.map_err(|e| {
            failed = true;
            records.err(e)
        }))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], mode: TextMode, max: u64, chunk: usize) -> Result<Vec<String>, String> {
        let mut r = Records::new(text, "t.txt", mode, max, Tripwire::default());
        r.chunk = vec![0; chunk];
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().map_err(|e| e.message)? {
            out.push(String::from_utf8(rec).unwrap());
        }
        Ok(out)
    }

    /// What `datasets`' text loader gives (checked with `load_dataset("text", ...)`).
    #[test]
    fn splits_as_the_text_loader_does() {
        let cases: &[(&[u8], &[&str], &[&str])] = &[
            (
                b"one\ntwo\n\nthree\n",
                &["one", "two", "", "three"],
                &["one\ntwo", "three\n"],
            ),
            (
                b"one\r\ntwo\r\n\r\n\r\nthree",
                &["one", "two", "", "", "three"],
                &["one\ntwo", "\nthree"],
            ),
            (
                b"x\n\n\ny\nz\n\n",
                &["x", "", "", "y", "z", ""],
                &["x", "\ny\nz"],
            ),
            (b"\n\nlead\n", &["", "", "lead"], &["lead\n"]),
            (b"a\rb\n", &["a", "b"], &["a\nb\n"]),
            ("é✓ à\n\nπ".as_bytes(), &["é✓ à", "", "π"], &["é✓ à", "π"]),
        ];
        for (text, lines, paragraphs) in cases {
            for chunk in [1, 2, 3, 7, 1 << 16] {
                assert_eq!(read(text, TextMode::Line, 1 << 20, chunk).unwrap(), *lines);
                assert_eq!(
                    read(text, TextMode::Paragraph, 1 << 20, chunk).unwrap(),
                    *paragraphs
                );
                let whole = String::from_utf8(text.to_vec())
                    .unwrap()
                    .replace("\r\n", "\n")
                    .replace('\r', "\n");
                assert_eq!(read(text, TextMode::File, 1 << 20, chunk).unwrap(), [whole]);
            }
        }
    }

    #[test]
    fn bad_bytes_name_the_line_and_offset() {
        for chunk in [1, 2, 5, 1 << 16] {
            let e = read(b"ok\nfine\nbad \xff here\n", TextMode::Line, 1 << 20, chunk).unwrap_err();
            assert_eq!(
                e, "`t.txt`: line 3 is not UTF-8 text (byte 0xff at byte offset 12)",
                "{chunk}"
            );
            let e = read(b"ok\n\xc3", TextMode::Line, 1 << 20, chunk).unwrap_err();
            assert!(e.contains("line 2") && e.contains("offset 3"), "{e}");
            let e = read(b"ok\n\xc3(", TextMode::Paragraph, 1 << 20, chunk).unwrap_err();
            assert!(e.contains("line 2") && e.contains("offset 3"), "{e}");
        }
    }

    #[test]
    fn records_past_the_limit_stop() {
        assert_eq!(
            read(b"12345\n123\n", TextMode::Line, 5, 2).unwrap(),
            ["12345", "123"]
        );
        let e = read(b"12345\n123456\n", TextMode::Line, 5, 2).unwrap_err();
        assert!(e.contains("line 2 is longer than 5 bytes"), "{e}");
        let e = read(b"a\n\nb\nc\nd\n", TextMode::Paragraph, 4, 3).unwrap_err();
        assert!(e.contains("the paragraph starting at line 3"), "{e}");
        let e = read(b"a\nb\nc\n", TextMode::File, 4, 3).unwrap_err();
        assert!(e.contains("the file"), "{e}");
    }
}
