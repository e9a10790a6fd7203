//! What reading CSV needs beyond the parser: the options users set (`na_values`, `decimal`,
//! `encoding`, `pandas_index`), the decoding of other text encodings into UTF-8, and what one
//! file's first pass learned for the second (its column layout).
//!
//! Defaults follow pandas' `read_csv`, which is what most CSV files in the field were written
//! for or checked with: its missing-value markers, a `.` decimal mark (a `,` one is detected
//! in files not separated by commas), UTF-8 text (a file that is not UTF-8 from its first
//! non-ASCII byte on is read as Windows-1252, which covers latin-1, and said so).

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::{Array, ArrayRef, Float64Builder, StringArray};
use encoding_rs::{Decoder, DecoderResult, Encoding};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::archive::Tripwire;

/// What pandas' `read_csv` reads as missing by default (`keep_default_na=True`).
pub const PANDAS_NA: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// The decimal mark of numbers in a CSV file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum Decimal {
    #[serde(rename = ".")]
    Dot,
    #[serde(rename = ",")]
    Comma,
}

/// What to do with pandas' unnamed index column (the first column of a file written by
/// `DataFrame.to_csv()` without `index=False`: no header name, integer values).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PandasIndex {
    /// Leave it out (it is a row number, not data), with a warning.
    #[default]
    Drop,
    /// Keep it, as `column_1`.
    Keep,
}

/// Strings read as null.
#[derive(Debug)]
pub struct NaValues {
    set: HashSet<String>,
    /// The same set for arrow's CSV decoder (it takes a regular expression).
    regex: regex::Regex,
    /// Given by the user (`na_values:`), not pandas' defaults.
    explicit: bool,
}

impl NaValues {
    pub fn new(values: &[String], explicit: bool) -> Self {
        let mut set: HashSet<String> = values.iter().cloned().collect();
        // An empty field is always missing (arrow's decoder and pandas agree on that).
        set.insert(String::new());
        let mut sorted: Vec<&String> = set.iter().collect();
        sorted.sort();
        let alternatives: Vec<String> = sorted.iter().map(|s| regex::escape(s)).collect();
        let regex = regex::Regex::new(&format!("^(?:{})$", alternatives.join("|")))
            .unwrap_or_else(|_| regex::Regex::new("^$").expect("a constant pattern"));
        NaValues {
            set,
            regex,
            explicit,
        }
    }

    /// pandas' defaults.
    pub fn pandas() -> Arc<NaValues> {
        static DEFAULT: OnceLock<Arc<NaValues>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let v: Vec<String> = PANDAS_NA.iter().map(|s| (*s).to_owned()).collect();
                Arc::new(NaValues::new(&v, false))
            })
            .clone()
    }

    pub fn contains(&self, value: &str) -> bool {
        self.set.contains(value)
    }

    pub fn regex(&self) -> &regex::Regex {
        &self.regex
    }

    pub fn explicit(&self) -> bool {
        self.explicit
    }
}

/// The CSV options of a stage, shared by its input files.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    pub na: Arc<NaValues>,
    pub decimal: Option<Decimal>,
    /// `None`: UTF-8, or detected (see the module documentation).
    pub encoding: Option<&'static Encoding>,
    pub pandas_index: PandasIndex,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            na: NaValues::pandas(),
            decimal: None,
            encoding: None,
            pandas_index: PandasIndex::Drop,
        }
    }
}

impl CsvOptions {
    /// Whether `,` may be a decimal mark in a file with this delimiter.
    pub fn comma_decimals(&self, delimiter: u8) -> bool {
        match self.decimal {
            Some(Decimal::Comma) => true,
            Some(Decimal::Dot) => false,
            None => delimiter != b',',
        }
    }
}

/// The encoding named by `encoding:` (any WHATWG label: `utf-8`, `latin-1`, `cp1252`,
/// `utf-16`, `shift_jis`, …).
pub fn encoding(label: &str) -> Result<&'static Encoding, String> {
    // Common spellings the WHATWG list lacks.
    let l = label.trim().to_ascii_lowercase().replace('_', "-");
    let l = match l.as_str() {
        "latin1" | "latin-1" => "iso-8859-1",
        "cp-1252" => "windows-1252",
        "utf8" => "utf-8",
        "utf16" => "utf-16",
        other => other,
    };
    Encoding::for_label(l.as_bytes()).ok_or_else(|| {
        format!("`encoding: {label}` is not a known text encoding; use a name such as utf-8, latin-1, cp1252, utf-16 or shift_jis")
    })
}

/// What the first pass over a CSV file learned that the second needs: its columns in file
/// order (the parser reads by position; the stage's schema is by name).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Every column of the file, in order, as named in the output.
    pub names: Vec<String>,
    /// The column left out (pandas' index), if one is.
    pub dropped: Option<String>,
    /// Columns of numbers written with decimal commas.
    pub comma_columns: BTreeSet<String>,
    /// JSON: columns whose values mix kinds, read as strings.
    pub strings: BTreeSet<String>,
    /// Whether a missing-value marker other than the empty field was seen (then the parser
    /// checks every field against them; otherwise only empty fields are null).
    pub na_markers: bool,
}

/// Things a table's readers learned and the stage reports: shared by the clones of a
/// `Table`, filled while reading.
#[derive(Debug, Default)]
pub struct Learned {
    pub layout: Mutex<Option<Layout>>,
    pub notes: Mutex<BTreeSet<String>>,
    /// Partition columns (hive folders) the file holds itself, as polars writes them.
    pub own_partition_columns: Mutex<Option<BTreeSet<String>>>,
}

impl Learned {
    pub fn note(&self, note: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.insert(note);
        }
    }

    pub fn notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|n| n.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn layout(&self) -> Option<Layout> {
        self.layout.lock().ok().and_then(|l| l.clone())
    }

    pub fn set_layout(&self, layout: Layout) {
        if let Ok(mut l) = self.layout.lock() {
            *l = Some(layout);
        }
    }
}

/// Whether `s` is a number written with a decimal comma: `-12,5`, `0,25`, `3,`.
pub fn is_comma_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let Some((int, frac)) = t.split_once(',') else {
        return false;
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(int.len() > 1 && int.starts_with('0'))
}

/// A string column of decimal-comma numbers as float64 (nulls stay null). A value that is not
/// a number fails with the same words as the parser's type errors, so the stage re-reads the
/// file's types in full (or, with `cast: lenient`, the caller makes it null).
pub fn comma_floats(col: &ArrayRef, column: &str, lenient: bool) -> Result<ArrayRef, String> {
    let Some(s) = col.as_any().downcast_ref::<StringArray>() else {
        return Ok(col.clone());
    };
    let mut b = Float64Builder::with_capacity(s.len());
    let mut text = String::new();
    for v in s {
        match v {
            None => b.append_null(),
            Some(v) => {
                text.clear();
                text.push_str(v);
                let parsed = if let Some(i) = text.find(',') {
                    text.replace_range(i..=i, ".");
                    text.parse::<f64>().ok()
                } else {
                    v.parse::<f64>().ok()
                };
                match parsed {
                    Some(x) => b.append_value(x),
                    None if lenient => b.append_null(),
                    None => {
                        return Err(format!(
                            "Error while parsing value '{v}' as type Float64 for column `{column}`"
                        ));
                    }
                }
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Reads text in any encoding as UTF-8, without a byte order mark.
///
/// UTF-8 passes through after validation, in the caller's buffer. With no encoding given, a
/// UTF-16 byte order mark selects UTF-16, and a file whose first byte that is not UTF-8 comes
/// before any non-ASCII UTF-8 text is read as Windows-1252 from there on (a note says so);
/// invalid UTF-8 after valid non-ASCII UTF-8 is an error naming the line and byte.
pub struct Decode {
    inner: Box<dyn Read + Send>,
    given: Option<&'static Encoding>,
    started: bool,
    /// Bytes read but not yet passed on (a BOM check's bytes, an incomplete UTF-8 sequence,
    /// or the undecoded rest for a decoder).
    pending: Vec<u8>,
    decoder: Option<Decoder>,
    /// Decoded output not yet returned (decoder mode).
    out: Vec<u8>,
    out_at: usize,
    eof: bool,
    /// Raw bytes consumed before `pending`.
    offset: u64,
    /// Line breaks passed on so far.
    newlines: u64,
    /// The first line with non-ASCII UTF-8 text.
    utf8_line: Option<u64>,
    name: String,
    trip: Tripwire,
    learned: Arc<Learned>,
}

impl Decode {
    pub fn new(
        inner: Box<dyn Read + Send>,
        given: Option<&'static Encoding>,
        name: &str,
        trip: Tripwire,
        learned: Arc<Learned>,
    ) -> Self {
        Decode {
            inner,
            given,
            started: false,
            pending: Vec::new(),
            decoder: None,
            out: Vec::new(),
            out_at: 0,
            eof: false,
            offset: 0,
            newlines: 0,
            utf8_line: None,
            name: name.to_owned(),
            trip,
            learned,
        }
    }

    fn fill_pending(&mut self, want: usize) -> std::io::Result<()> {
        let mut chunk = vec![0u8; want];
        while !self.eof && self.pending.len() < want {
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.eof = true;
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
        Ok(())
    }

    /// The byte order mark, and the decoder it (or `encoding:`) asks for.
    fn start(&mut self) -> std::io::Result<()> {
        self.started = true;
        self.fill_pending(4)?;
        let (bom, len) = match Encoding::for_bom(&self.pending) {
            Some((e, l)) => (Some(e), l),
            None => (None, 0),
        };
        let chosen = match (self.given, bom) {
            (Some(g), _) => Some(g),
            (None, Some(b)) => Some(b),
            (None, None) => None,
        };
        if chosen.is_some_and(|e| bom == Some(e)) {
            self.pending.drain(..len);
            self.offset += len as u64;
        }
        if let Some(e) = chosen
            && e != encoding_rs::UTF_8
        {
            self.decoder = Some(e.new_decoder_without_bom_handling());
        }
        Ok(())
    }

    fn count(&mut self, text: &[u8]) {
        if self.utf8_line.is_none() && !text.is_ascii() {
            let upto = text
                .iter()
                .position(|b| !b.is_ascii())
                .map_or(text, |i| &text[..i]);
            self.utf8_line =
                Some(self.newlines + 1 + memchr::memchr_iter(b'\n', upto).count() as u64);
        }
        self.newlines += memchr::memchr_iter(b'\n', text).count() as u64;
    }

    /// The error for a byte that is not text in the encoding.
    fn bad_byte(&mut self, at: u64, byte: u8, encoding: &str) -> std::io::Error {
        let line = self.newlines + 1;
        let mut message =
            format!("line {line} (byte offset {at}): 0x{byte:02X} is not {encoding} text");
        let hint;
        if let (None, Some(l)) = (self.given, self.utf8_line) {
            message.push_str(&format!(
                ", but line {l} holds UTF-8 text: the file mixes encodings"
            ));
            hint = "convert the file to one encoding (e.g. `iconv -f latin1 -t utf-8`), or set `encoding:` on the stage to the one most of it uses".to_owned();
        } else {
            hint = "set `encoding:` on the stage to the file's encoding (e.g. `latin-1`, `cp1252`, `utf-16`, `shift_jis`)".to_owned();
        }
        self.trip.trip(message, hint)
    }

    fn read_utf8(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Bytes held back (BOM check, incomplete sequence) go first.
        let carried = self.pending.len().min(buf.len());
        buf[..carried].copy_from_slice(&self.pending[..carried]);
        self.pending.drain(..carried);
        let mut n = carried;
        if self.pending.is_empty() && !self.eof && n < buf.len() {
            let k = self.inner.read(&mut buf[n..])?;
            if k == 0 {
                self.eof = true;
            }
            n += k;
        }
        if n == 0 {
            return Ok(0);
        }
        match std::str::from_utf8(&buf[..n]) {
            Ok(_) => {
                self.count_span(buf, n);
                Ok(n)
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_none() && !(self.eof && self.pending.is_empty()) {
                    // An incomplete sequence at the end of what was read: keep it for later.
                    let mut rest = buf[valid..n].to_vec();
                    rest.extend_from_slice(&self.pending);
                    self.pending = rest;
                    if valid == 0 {
                        self.fill_pending(self.pending.len() + 4)?;
                        return self.read_utf8(buf);
                    }
                    self.count_span(buf, valid);
                    return Ok(valid);
                }
                self.count_span(buf, valid);
                let at = self.offset;
                let byte = buf[valid];
                if self.given.is_none() && self.utf8_line.is_none() {
                    // Not UTF-8 from the first non-ASCII byte on: Windows-1252 (latin-1).
                    let line = self.newlines + 1;
                    self.learned.note(format!(
                        "`{}` is not UTF-8 (byte 0x{byte:02X} on line {line}); it is read as Windows-1252, which covers latin-1 (set `encoding:` to choose another)",
                        self.name
                    ));
                    let mut rest = buf[valid..n].to_vec();
                    rest.extend_from_slice(&self.pending);
                    self.pending = rest;
                    self.decoder =
                        Some(encoding_rs::WINDOWS_1252.new_decoder_without_bom_handling());
                    if valid > 0 {
                        return Ok(valid);
                    }
                    return self.read_decoded(buf);
                }
                Err(self.bad_byte(at, byte, "UTF-8"))
            }
        }
    }

    fn count_span(&mut self, buf: &[u8], n: usize) {
        self.count(&buf[..n]);
        self.offset += n as u64;
    }

    fn read_decoded(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.out_at < self.out.len() {
                let k = (self.out.len() - self.out_at).min(buf.len());
                buf[..k].copy_from_slice(&self.out[self.out_at..self.out_at + k]);
                self.out_at += k;
                return Ok(k);
            }
            if self.decoder.is_none() {
                return Ok(0);
            }
            if !self.eof && self.pending.len() < 64 * 1024 {
                self.fill_pending(64 * 1024)?;
            }
            let last = self.eof;
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let room = decoder
                .max_utf8_buffer_length_without_replacement(self.pending.len())
                .unwrap_or(self.pending.len().saturating_mul(4))
                .max(16);
            let mut out = std::mem::take(&mut self.out);
            out.clear();
            out.resize(room, 0);
            let (result, read, written) =
                decoder.decode_to_utf8_without_replacement(&self.pending, &mut out, last);
            let encoding = decoder.encoding().name();
            out.truncate(written);
            self.out_at = 0;
            self.count(&out);
            self.out = out;
            if let DecoderResult::Malformed(bad, extra) = result {
                let idx = read.saturating_sub(bad as usize + extra as usize);
                let at = self.offset + idx as u64;
                let byte = self.pending.get(idx).copied().unwrap_or(0);
                return Err(self.bad_byte(at, byte, encoding));
            }
            self.pending.drain(..read);
            self.offset += read as u64;
            if last && result == DecoderResult::InputEmpty {
                // Finished: what is in `out` is the last of it.
                self.decoder = None;
            }
        }
    }
}

impl Read for Decode {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.started {
            self.start()?;
        }
        if self.decoder.is_some() || self.out_at < self.out.len() {
            self.read_decoded(buf)
        } else {
            self.read_utf8(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(
        bytes: &[u8],
        given: Option<&'static Encoding>,
    ) -> (Result<String, String>, Vec<String>) {
        let learned = Arc::new(Learned::default());
        let trip = Tripwire::default();
        let mut d = Decode::new(
            Box::new(std::io::Cursor::new(bytes.to_vec())),
            given,
            "f.csv",
            trip.clone(),
            learned.clone(),
        );
        // Tiny reads: sequences split across calls must survive.
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        let r = loop {
            match d.read(&mut buf) {
                Ok(0) => break Ok(String::from_utf8(out).expect("decoded text is UTF-8")),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break Err(trip.get().map(|(m, _)| m.clone()).unwrap_or_default()),
            }
        };
        (r, learned.notes())
    }

    #[test]
    fn utf8_passes_through_and_a_bom_goes() {
        let (r, notes) = decode("\u{feff}a,b\nJosé,München\n".as_bytes(), None);
        assert_eq!(r.unwrap(), "a,b\nJosé,München\n");
        assert!(notes.is_empty());
    }

    #[test]
    fn latin1_is_detected_and_noted() {
        let (r, notes) = decode(b"name\nJos\xe9\n\x80 5\n", None);
        assert_eq!(r.unwrap(), "name\nJosé\n€ 5\n");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("line 2"), "{notes:?}");
        assert!(notes[0].contains("Windows-1252"), "{notes:?}");
    }

    #[test]
    fn mixed_encodings_fail_naming_line_and_byte() {
        let (r, _) = decode(
            "a\nJosé\nx\nJos\u{e9}"
                .as_bytes()
                .iter()
                .copied()
                .chain([0xe9, b'\n'])
                .collect::<Vec<u8>>()
                .as_slice(),
            None,
        );
        let e = r.unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert!(e.contains("0xE9"), "{e}");
        assert!(e.contains("line 2 holds UTF-8"), "{e}");
    }

    #[test]
    fn given_utf8_refuses_latin1() {
        let (r, _) = decode(b"a\nb\xe9\n", Some(encoding_rs::UTF_8));
        let e = r.unwrap_err();
        assert!(
            e.contains("line 2 (byte offset 3): 0xE9 is not UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn utf16_by_bom_and_given_encodings() {
        let mut bytes = vec![0xff, 0xfe];
        for u in "a\tb\r\nü\t1\r\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&bytes, None).0.unwrap(), "a\tb\r\nü\t1\r\n");
        let sjis = encoding("shift_jis").unwrap();
        let (encoded, _, _) = sjis.encode("名前\n日本\n");
        assert_eq!(decode(&encoded, Some(sjis)).0.unwrap(), "名前\n日本\n");
        assert_eq!(encoding("latin-1").unwrap().name(), "windows-1252");
        assert!(encoding("klingon").is_err());
    }

    #[test]
    fn comma_floats_parse() {
        assert!(is_comma_float("-12,5"));
        assert!(is_comma_float("0,25"));
        assert!(!is_comma_float("1.5"));
        assert!(!is_comma_float("1,2,3"));
        assert!(!is_comma_float("007,5"));
        let col: ArrayRef = Arc::new(StringArray::from(vec![Some("1,5"), None, Some("2")]));
        let f = comma_floats(&col, "x", false).unwrap();
        let f = f
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap();
        assert_eq!(f.value(0), 1.5);
        assert!(f.is_null(1));
        assert_eq!(f.value(2), 2.0);
        let bad: ArrayRef = Arc::new(StringArray::from(vec![Some("x")]));
        assert!(
            comma_floats(&bad, "x", false)
                .unwrap_err()
                .contains("parsing value")
        );
        assert_eq!(comma_floats(&bad, "x", true).unwrap().null_count(), 1);
    }
}
