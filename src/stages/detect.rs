//! What is in a file: compression, archive, table format and CSV dialect, from its name and
//! its first bytes. Content wins over the extension; when they disagree the result carries a
//! warning.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// Bytes read from the (decompressed) start of a file to recognize it.
const HEAD: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }

    pub fn from_magic(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(b"BZh") && head.get(3).is_some_and(|c| (b'1'..=b'9').contains(c))
        {
            Some(Compression::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }

    fn from_ext(ext: &str) -> Option<Compression> {
        match ext {
            "gz" | "gzip" | "tgz" => Some(Compression::Gzip),
            "zst" | "zstd" => Some(Compression::Zstd),
            "bz2" => Some(Compression::Bzip2),
            "xz" => Some(Compression::Xz),
            _ => None,
        }
    }
}

/// Wrap a reader in the decompressor for `c`.
pub fn decompress<'a>(
    r: Box<dyn Read + Send + 'a>,
    c: Option<Compression>,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    let (inner, what): (Box<dyn Read + Send + 'a>, &'static str) = match c {
        None => return Ok(r),
        Some(Compression::Gzip) => (Box::new(flate2::read::MultiGzDecoder::new(r)), "gzip"),
        Some(Compression::Zstd) => (Box::new(zstd::Decoder::new(r)?), "zstd"),
        Some(Compression::Bzip2) => (Box::new(bzip2::read::MultiBzDecoder::new(r)), "bzip2"),
        Some(Compression::Xz) => (Box::new(lzma_rust2::XzReader::new(r, true)), "xz"),
    };
    Ok(Box::new(Damaged { inner, what }))
}

/// A decompressor whose errors say, in words, that the compressed data is damaged (the
/// decoders say "Unknown frame descriptor" or "corrupt deflate stream").
struct Damaged<'a> {
    inner: Box<dyn Read + Send + 'a>,
    what: &'static str,
}

impl Read for Damaged<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                return e;
            }
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "the {} compressed data is damaged ({e}): the file is truncated or corrupt; download or write it again",
                    self.what
                ),
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Archive {
    Zip,
    Tar,
}

/// Table formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Jsonl,
    Parquet,
    ArrowFile,
    ArrowStream,
    /// Feather version 1 (`FEA1`; `feather1`).
    Feather1,
    /// Plain text: one row per line, paragraph or file (`textlines`).
    Text,
    /// Spreadsheets (`sheet`).
    Xlsx,
    Xlsb,
    Xls,
    Ods,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Json => "JSON",
            Format::Jsonl => "JSON Lines",
            Format::Parquet => "Parquet",
            Format::ArrowFile => "Arrow IPC file",
            Format::ArrowStream => "Arrow IPC stream",
            Format::Feather1 => "Feather version 1",
            Format::Text => "text",
            Format::Xlsx => "Excel workbook (xlsx)",
            Format::Xlsb => "Excel binary workbook (xlsb)",
            Format::Xls => "Excel 97-2003 workbook (xls)",
            Format::Ods => "OpenDocument spreadsheet (ods)",
        }
    }

    fn from_ext(ext: &str) -> Option<(Format, Option<u8>)> {
        match ext {
            "csv" => Some((Format::Csv, None)),
            "tsv" | "tab" => Some((Format::Csv, Some(b'\t'))),
            "psv" => Some((Format::Csv, Some(b'|'))),
            "json" => Some((Format::Json, None)),
            "jsonl" | "ndjson" => Some((Format::Jsonl, None)),
            "parquet" | "pq" => Some((Format::Parquet, None)),
            "arrow" | "feather" | "ipc" => Some((Format::ArrowFile, None)),
            "arrows" => Some((Format::ArrowStream, None)),
            "txt" => Some((Format::Text, None)),
            "xlsx" | "xlsm" => Some((Format::Xlsx, None)),
            "xlsb" => Some((Format::Xlsb, None)),
            "xls" => Some((Format::Xls, None)),
            "ods" => Some((Format::Ods, None)),
            _ => None,
        }
    }

    /// Formats that need random access (read from a plain file).
    pub fn needs_seek(self) -> bool {
        matches!(self, Format::Parquet | Format::ArrowFile | Format::Feather1) || self.is_sheet()
    }

    /// Spreadsheets (read through calamine).
    pub fn is_sheet(self) -> bool {
        matches!(
            self,
            Format::Xlsx | Format::Xlsb | Format::Xls | Format::Ods
        )
    }
}

pub const SUPPORTED: &str = "CSV/TSV (.csv, .tsv), JSON (.json: an array of records, or records under a key), \
JSON Lines (.jsonl, .ndjson), Parquet (.parquet), Arrow IPC (.arrow file, .arrows stream), \
Feather versions 1 and 2 (.feather), \
text (.txt), spreadsheets (.xlsx, .xlsm, .xlsb, .xls, .ods), \
each optionally compressed (.gz, .zst, .bz2, .xz), and archives of them (.zip, .tar, .tar.gz)";

/// A CSV dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dialect {
    #[serde(serialize_with = "as_char")]
    pub delimiter: u8,
    #[serde(serialize_with = "as_char")]
    pub quote: u8,
    pub header: bool,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's serialize_with passes a reference"
)]
fn as_char<S: serde::Serializer>(b: &u8, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&(*b as char).to_string())
}

/// What a file is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detected {
    pub compression: Option<Compression>,
    pub archive: Option<Archive>,
    /// `None` for archives (their members are detected one by one).
    pub format: Option<Format>,
    pub dialect: Option<Dialect>,
    /// `content`, `extension`, or `spec` (the stage's `format:`).
    pub by: &'static str,
    #[serde(skip)]
    pub warning: Option<String>,
}

impl Detected {
    /// "CSV (gzip; delimiter ',', header)" for reports.
    pub fn describe(&self) -> String {
        let mut s = match (self.archive, self.format) {
            (Some(Archive::Zip), _) => "zip archive".to_owned(),
            (Some(Archive::Tar), _) => "tar archive".to_owned(),
            (None, Some(f)) => f.name().to_owned(),
            (None, None) => "unknown".to_owned(),
        };
        let mut extra = Vec::new();
        if let Some(c) = self.compression {
            extra.push(c.name().to_owned());
        }
        if let Some(d) = self.dialect {
            let delim = match d.delimiter {
                b'\t' => "tab".to_owned(),
                c => format!("'{}'", c as char),
            };
            extra.push(format!(
                "delimiter {delim}, {}",
                if d.header { "header" } else { "no header" }
            ));
        }
        if !extra.is_empty() {
            s = format!("{s} ({})", extra.join("; "));
        }
        s
    }
}

/// Whether a file's first bytes are a zip archive's (a local file header, or the end record
/// of an empty archive).
pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Extensions of a name, innermost last: `a.csv.gz` → [csv, gz].
fn extensions(name: &str) -> Vec<String> {
    let file = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let mut parts: Vec<String> = file.split('.').skip(1).map(str::to_owned).collect();
    if parts.len() > 3 {
        parts.drain(..parts.len() - 3);
    }
    parts
}

fn read_head(r: &mut dyn Read) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD);
    r.take(HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Detect a file. `forced` is the stage's `format:` when it is not `auto`.
pub fn detect(
    name: &str,
    path: &Path,
    forced: Option<(Format, Option<u8>)>,
) -> Result<Detected, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let raw = read_head(&mut f).map_err(|e| format!("cannot read: {e}"))?;
    if raw.is_empty() {
        return Err("the file is empty".into());
    }
    let exts = extensions(name);
    let compression = Compression::from_magic(&raw);
    let ext_compression = exts.last().and_then(|e| Compression::from_ext(e));
    let mut warning = None;
    if compression.is_none() && ext_compression.is_some() {
        warning = Some(format!(
            "`{name}` is named like {} data but is not compressed; reading it as is",
            ext_compression.map_or("", Compression::name)
        ));
    }
    let head = if compression.is_some() {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let mut r = decompress(Box::new(file), compression)
            .map_err(|e| format!("cannot decompress: {e}"))?;
        read_head(&mut r).map_err(|e| {
            format!(
                "cannot decompress ({}): {e}",
                compression.map_or("", Compression::name)
            )
        })?
    } else {
        raw.clone()
    };
    if compression.is_some() && head.is_empty() {
        return Err("the file decompresses to nothing".into());
    }
    // Feather version 1 (pyarrow's `write_feather(..., version=1)`, pandas < 1.0, R's
    // `feather`): not Arrow IPC, though named `.feather` like Feather 2 (and `format: arrow`
    // names both).
    if head.starts_with(b"FEA1") && forced.is_none_or(|(f, _)| f == Format::ArrowFile) {
        return Ok(Detected {
            compression,
            archive: None,
            format: Some(Format::Feather1),
            dialect: None,
            by: "content",
            warning,
        });
    }
    // Spreadsheets are zip archives (xlsx, xlsb, ods) or OLE files (xls).
    if compression.is_none()
        && let Some(format) = sniff_workbook(&raw, path, forced.map(|(f, _)| f), &exts)
    {
        return Ok(Detected {
            compression: None,
            archive: None,
            format: Some(format),
            dialect: None,
            by: if forced.is_some() { "spec" } else { "content" },
            warning,
        });
    }
    // Archives.
    if compression.is_none() && is_zip(&raw) {
        return Ok(Detected {
            compression: None,
            archive: Some(Archive::Zip),
            format: None,
            dialect: None,
            by: "content",
            warning,
        });
    }
    if head.len() > 262 && &head[257..262] == b"ustar" {
        return Ok(Detected {
            compression,
            archive: Some(Archive::Tar),
            format: None,
            dialect: None,
            by: "content",
            warning,
        });
    }
    // UTF-16 text (a byte order mark says so; Excel's "Unicode text"): sniffed as UTF-8.
    let head = match encoding_rs::Encoding::for_bom(&head) {
        Some((e, _)) if e != encoding_rs::UTF_8 => {
            let even = &head[..head.len() & !1];
            e.decode_with_bom_removal(even).0.into_owned().into_bytes()
        }
        _ => head,
    };
    let inner_ext = exts.iter().rev().find_map(|e| Format::from_ext(e));
    if let Some((format, delimiter)) = forced {
        let dialect = (format == Format::Csv).then(|| sniff_csv(&head, delimiter));
        return Ok(Detected {
            compression,
            archive: None,
            format: Some(format),
            dialect,
            by: "spec",
            warning,
        });
    }
    let by_content = sniff_format(&head);
    let (format, by) = match (by_content, inner_ext) {
        (Some(c), Some((e, _))) if c == e => (c, "content"),
        (Some(Format::Csv), Some((e, _))) if e == Format::Csv => (e, "content"),
        (Some(c), Some((e, _))) => {
            // Binary magic is certain; a text guess against an explicit extension is not.
            let certain = matches!(c, Format::Parquet | Format::ArrowFile | Format::ArrowStream)
                || c.is_sheet();
            // `.json` files that hold JSON Lines are common (and read as such by `datasets`).
            let json_lines_named_json = c == Format::Jsonl && e == Format::Json;
            // A `.txt` holding a table was read as one before text files were (`format: text`
            // reads it line by line).
            let table_named_txt = e == Format::Text;
            let chosen = if certain || e.needs_seek() || json_lines_named_json || table_named_txt {
                c
            } else {
                e
            };
            warning = Some(format!(
                "`{name}` is named like {} but looks like {}; reading it as {}",
                e.name(),
                c.name(),
                chosen.name()
            ));
            (chosen, if chosen == c { "content" } else { "extension" })
        }
        (Some(c), None) => (c, "content"),
        (None, Some((e, _))) => (e, "extension"),
        (None, None) => {
            return Err(format!(
                "unknown file format (not recognized from its name or content); supported: {SUPPORTED}"
            ));
        }
    };
    let dialect = (format == Format::Csv).then(|| sniff_csv(&head, inner_ext.and_then(|(_, d)| d)));
    Ok(Detected {
        compression,
        archive: None,
        format: Some(format),
        dialect,
        by,
        warning,
    })
}

/// A workbook recognized from its first bytes (an OLE file: `.xls`) or its zip's entries
/// (`xl/` → xlsx, `xl/workbook.bin` → xlsb, `content.xml` with an OpenDocument spreadsheet
/// `mimetype` → ods). A `format:` forcing a spreadsheet format is taken as it is.
fn sniff_workbook(
    raw: &[u8],
    path: &Path,
    forced: Option<Format>,
    exts: &[String],
) -> Option<Format> {
    if let Some(f) = forced {
        return (f.is_sheet() && (is_zip(raw) || raw.starts_with(OLE))).then_some(f);
    }
    if raw.starts_with(OLE) {
        return Some(Format::Xls);
    }
    if !is_zip(raw) {
        return None;
    }
    let Ok(zip) = zip::ZipArchive::new(std::fs::File::open(path).ok()?) else {
        // A damaged workbook is still one by its name (and calamine says what is wrong).
        return exts
            .last()
            .and_then(|e| Format::from_ext(e))
            .map(|(f, _)| f)
            .filter(|f| f.is_sheet());
    };
    let mut xl = false;
    let mut bin = false;
    let mut content = false;
    for name in zip.file_names().filter_map(Result::ok) {
        xl |= name.starts_with("xl/");
        bin |= name == "xl/workbook.bin";
        content |= name == "content.xml";
    }
    let ods_mime = raw.get(30..38) == Some(b"mimetype".as_slice())
        && memchr::memmem::find(
            &raw[..raw.len().min(200)],
            b"application/vnd.oasis.opendocument.spreadsheet",
        )
        .is_some();
    if bin {
        Some(Format::Xlsb)
    } else if xl
        && zip
            .file_names()
            .filter_map(Result::ok)
            .any(|n| n == "xl/workbook.xml")
    {
        Some(Format::Xlsx)
    } else if content && ods_mime {
        Some(Format::Ods)
    } else {
        None
    }
}

/// The first bytes of an OLE compound file (`.xls`, and a password-protected `.xlsx`).
const OLE: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// Recognize a table format from the first bytes.
fn sniff_format(head: &[u8]) -> Option<Format> {
    if head.starts_with(b"PAR1") {
        return Some(Format::Parquet);
    }
    if head.starts_with(b"ARROW1") {
        return Some(Format::ArrowFile);
    }
    if head.starts_with(&[0xff, 0xff, 0xff, 0xff]) && head.len() >= 8 {
        return Some(Format::ArrowStream);
    }
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if text.iter().take(4096).any(|&b| b == 0) {
        return None; // binary we do not know
    }
    let trimmed = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&text[..0], |i| &text[i..]);
    match trimmed.first() {
        Some(b'[') => return Some(Format::Json),
        Some(b'{') => {
            // JSON Lines when the first two lines are complete JSON objects on their own; a
            // single complete line is one JSON document (a `.jsonl` name still makes it JSON Lines).
            let mut lines = trimmed
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
            let complete = |l: Option<&[u8]>| {
                l.is_some_and(|l| {
                    serde_json::from_slice::<serde_json::Value>(l).is_ok_and(|v| v.is_object())
                })
            };
            let jsonl = complete(lines.next()) && complete(lines.next());
            return Some(if jsonl { Format::Jsonl } else { Format::Json });
        }
        _ => {}
    }
    let lines = text_lines(text, 50);
    if !lines.is_empty() && best_delimiter(&lines).is_some() {
        return Some(Format::Csv);
    }
    None
}

fn text_lines(text: &[u8], max: usize) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    // The last line of a 64 KiB head may be cut short.
    if text.len() >= HEAD && lines.len() > 1 {
        lines.pop();
    }
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .take(max)
        .collect()
}

/// Fields per line for `delim`, honoring double quotes (a quoted field may not span lines here).
fn count_fields(line: &[u8], delim: u8, quote: u8) -> usize {
    let mut n = 1;
    let mut quoted = false;
    for &b in line {
        if b == quote {
            quoted = !quoted;
        } else if b == delim && !quoted {
            n += 1;
        }
    }
    n
}

/// The delimiter that splits the sampled lines into the same number (> 1) of fields most often.
fn best_delimiter(lines: &[&[u8]]) -> Option<u8> {
    let mut best: Option<(usize, usize, u8)> = None; // (consistent lines, fields, delimiter)
    for &d in b",\t;|" {
        let counts: Vec<usize> = lines.iter().map(|l| count_fields(l, d, b'"')).collect();
        let first = counts[0];
        if first < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == first).count();
        if consistent * 10 < counts.len() * 9 {
            continue;
        }
        if best.is_none_or(|(bc, bf, _)| (consistent, first) > (bc, bf)) {
            best = Some((consistent, first, d));
        }
    }
    best.map(|(_, _, d)| d)
}

fn looks_numeric(field: &[u8]) -> bool {
    let s = String::from_utf8_lossy(field);
    let s = s.trim().trim_matches('"');
    !s.is_empty() && s.parse::<f64>().is_ok()
}

/// The CSV dialect of a sample: delimiter (given or sniffed), quote, header or not.
pub fn sniff_csv(head: &[u8], delimiter: Option<u8>) -> Dialect {
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let lines = text_lines(text, 50);
    let delimiter = delimiter.or_else(|| best_delimiter(&lines)).unwrap_or(b',');
    // Header: a first row of non-numbers over columns that are numbers below it (as Python's
    // csv.Sniffer does). With no numeric column to tell, assume a header, as most files have.
    let split =
        |l: &[u8]| -> Vec<Vec<u8>> { l.split(|&b| b == delimiter).map(<[u8]>::to_vec).collect() };
    let mut header = true;
    if let Some((first, rest)) = lines.split_first() {
        let first = split(first);
        let rows: Vec<Vec<Vec<u8>>> = rest
            .iter()
            .map(|l| split(l))
            .filter(|r| r.len() == first.len())
            .collect();
        if !rows.is_empty() {
            let mut votes: i32 = 0;
            for (c, name) in first.iter().enumerate() {
                if rows.iter().all(|r| looks_numeric(&r[c])) {
                    votes += if looks_numeric(name) { -1 } else { 1 };
                }
            }
            header = votes >= 0;
        }
    }
    Dialect {
        delimiter,
        quote: b'"',
        header,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_formats() {
        assert_eq!(sniff_format(b"[{\"a\": 1}]"), Some(Format::Json));
        assert_eq!(
            sniff_format(b"{\"a\": 1}\n{\"a\": 2}\n"),
            Some(Format::Jsonl)
        );
        assert_eq!(sniff_format(b"{\n  \"data\": [1]\n}\n"), Some(Format::Json));
        assert_eq!(sniff_format(b"a,b\n1,2\n"), Some(Format::Csv));
        assert_eq!(sniff_format(b"PAR1...."), Some(Format::Parquet));
        assert_eq!(sniff_format(b"\x00\x01\x02binary"), None);
    }

    #[test]
    fn sniffs_dialects() {
        let d = sniff_csv(b"id;name;score\n1;a;0.5\n2;b;0.7\n", None);
        assert_eq!((d.delimiter, d.header), (b';', true));
        let d = sniff_csv(b"1\t2\t3\n4\t5\t6\n", None);
        assert_eq!((d.delimiter, d.header), (b'\t', false));
        let d = sniff_csv(b"text,label\n\"hello, world\",1\n\"a, b, c\",0\n", None);
        assert_eq!((d.delimiter, d.header), (b',', true));
    }

    #[test]
    fn extensions_stack() {
        assert_eq!(extensions("dir/a.b.csv.gz"), ["b", "csv", "gz"]);
        assert!(extensions("noext").is_empty());
    }
}
