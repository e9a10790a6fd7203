//! Spreadsheets (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) through the `calamine` crate, read
//! as pandas `read_excel` reads them: one sheet (`sheet:`, a name or a 0-based index; the first
//! by default), the sheet's first row as the header, the grid anchored at cell A1 (empty
//! leading rows and columns are part of it, trailing ones are not), every cell typed.
//!
//! Types per column, from every cell of it: whole numbers are integers (as pandas converts a
//! whole float cell to an int), any fraction makes the column float64; booleans; strings;
//! Excel serial dates become a date when every value of the column is at midnight, else a
//! timestamp (milliseconds, as Excel and openpyxl keep them). Empty cells, empty strings and
//! error cells (`#DIV/0!`) are null. Any other mix is a string column, with a warning naming
//! the file, the sheet and the column. Times of day and durations are strings
//! (`12:30:00`, `30:00:00`).
//!
//! Every file is untrusted. The zip inside `.xlsx`, `.xlsb` and `.ods` files is expanded once
//! before calamine sees it, entry by entry, against the archive limits (entries, ratio, size),
//! which also finds damaged files (CRC). `.xlsx` and `.xlsb` sheets are then streamed cell by
//! cell; `.xls` (at most 65,536 × 256 cells a sheet) and `.ods` sheets (calamine caps them at
//! 100 million cells) are read whole by calamine. Batches hold at most
//! [`table::decode_rows`] rows, so a sparse sheet (one cell at A1, one at XFD1048576) never
//! becomes a dense grid in memory. A panic inside calamine is caught and reported as a
//! damaged file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder,
    RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use calamine::Reader;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::StageError;
use super::detect::Format;
use super::infer::{ColumnStats, Kind};
use super::table::{self, Batches, Table};

/// Which sheet of a workbook to read: its name, or its 0-based position.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum SheetRef {
    Index(usize),
    Name(String),
}

/// A cell's value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00.
    DateTime(i64),
    /// A time of day or a duration, as text.
    Time(String),
}

const DAY_US: i64 = 86_400_000_000;

impl Value {
    fn kind(&self) -> Kind {
        match self {
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Bool(_) => Kind::Bool,
            Value::Str(_) => Kind::Str,
            Value::Date(_) => Kind::Date,
            Value::DateTime(_) => Kind::DateTime,
            Value::Time(_) => Kind::Time,
        }
    }

    /// The value as text, as Python's `str` writes it (pandas' object columns).
    fn text(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(true) => "True".to_owned(),
            Value::Bool(false) => "False".to_owned(),
            Value::Str(s) | Value::Time(s) => s.clone(),
            Value::Date(d) => datetime_text(i64::from(*d) * DAY_US),
            Value::DateTime(us) => datetime_text(*us),
        }
    }

    /// A cell as calamine gives it; `None` for empty and error cells and empty strings.
    fn of<T: calamine::DataType>(d: &T) -> Option<Value> {
        if let Some(i) = d.get_int() {
            return Some(Value::Int(i));
        }
        if let Some(f) = d.get_float() {
            // A whole number is an integer, as pandas reads it.
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18 {
                return Some(Value::Int(f as i64));
            }
            return Some(Value::Float(f));
        }
        if let Some(b) = d.get_bool() {
            return Some(Value::Bool(b));
        }
        if let Some(s) = d.get_string() {
            return (!s.is_empty()).then(|| Value::Str(s.to_owned()));
        }
        if let Some(dt) = d.get_datetime() {
            return Some(excel_datetime(&dt));
        }
        if let Some(s) = d.get_datetime_iso() {
            return Some(iso_datetime(s));
        }
        if let Some(s) = d.get_duration_iso() {
            return Some(Value::Time(iso_duration(s)));
        }
        None
    }
}

/// `2024-01-05 03:04:05` (with `.ffffff` when there is a fraction), as Python prints it.
fn datetime_text(us: i64) -> String {
    let days = us.div_euclid(DAY_US);
    let rest = us.rem_euclid(DAY_US);
    let (y, m, d) = crate::civil::ymd(days);
    let s = rest / 1_000_000;
    let frac = rest % 1_000_000;
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if frac > 0 {
        out.push_str(&format!(".{frac:06}"));
    }
    out
}

/// An Excel serial date-time (1900 or 1904 system) as openpyxl reads it: to the millisecond;
/// below 1 a time of day; a duration-formatted cell as hours.
fn excel_datetime(dt: &calamine::ExcelDateTime) -> Value {
    let serial = dt.as_f64();
    if dt.is_duration() {
        let ms = (serial * 86_400_000.0).round() as i64;
        let sign = if ms < 0 { "-" } else { "" };
        let ms = ms.abs();
        let s = ms / 1000;
        let mut out = format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
        if ms % 1000 > 0 {
            out.push_str(&format!(".{:03}000", ms % 1000));
        }
        return Value::Time(out);
    }
    let (y, mo, d, h, mi, s, ms) = dt.to_ymd_hms_milli();
    let time_us = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)) * 1_000_000
        + i64::from(ms) * 1000;
    if (0.0..1.0).contains(&serial) {
        let mut out = format!("{h:02}:{mi:02}:{s:02}");
        if ms > 0 {
            out.push_str(&format!(".{ms:03}000"));
        }
        return Value::Time(out);
    }
    let Some(days) = crate::civil::days(i64::from(y), u32::from(mo), u32::from(d)) else {
        // Excel's 1900-02-29, which never was.
        return Value::Str(format!("{y:04}-{mo:02}-{d:02}"));
    };
    if time_us == 0 {
        Value::Date(days as i32)
    } else {
        Value::DateTime(days * DAY_US + time_us)
    }
}

/// An OpenDocument date (`2024-01-05`) or date-time (`2024-01-05T03:04:05.5`); anything else
/// stays text.
fn iso_datetime(s: &str) -> Value {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let date = (|| {
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let (y, m, d) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
        crate::civil::days(y, m, d)
    })();
    let Some(days) = date else {
        return Value::Str(s.to_owned());
    };
    if b.len() == 10 {
        return Value::Date(days as i32);
    }
    let time = (|| {
        if b.len() < 19 || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let mut us = (h * 3600 + mi * 60 + sec) * 1_000_000;
        if b.len() > 19 {
            let frac = s.get(20..)?;
            if b[19] != b'.' || frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
            us += digits.parse::<i64>().ok()?;
        }
        Some(us)
    })();
    match time {
        Some(0) => Value::Date(days as i32),
        Some(us) => Value::DateTime(days * DAY_US + us),
        None => Value::Str(s.to_owned()),
    }
}

/// An OpenDocument duration (`PT12H30M00S`) as `12:30:00`.
fn iso_duration(s: &str) -> String {
    let parse = || -> Option<String> {
        let rest = s.strip_prefix("PT")?;
        let (h, rest) = rest.split_once('H')?;
        let (m, rest) = rest.split_once('M')?;
        let sec = rest.strip_suffix('S')?;
        let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
        let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
        let whole: u64 = whole.parse().ok()?;
        let frac = frac.trim_end_matches('0');
        let mut out = format!("{h:02}:{m:02}:{whole:02}");
        if !frac.is_empty() {
            out.push('.');
            out.extend(frac.chars().chain(std::iter::repeat('0')).take(6));
        }
        Some(out)
    };
    parse().unwrap_or_else(|| s.to_owned())
}

/// `B5` for row 4, column 1 (0-based).
fn cell_name(row: u32, col: u32) -> String {
    let mut letters = Vec::new();
    let mut c = col + 1;
    while c > 0 {
        letters.push(b'A' + ((c - 1) % 26) as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row + 1)
}

fn err(t: &Table, msg: impl std::fmt::Display) -> StageError {
    StageError::new(format!("`{}`: {msg}", t.name))
}

const DAMAGED_HINT: &str = "the file may be damaged, truncated or password-protected; open it in a spreadsheet program and save it again (without a password)";

/// Expand every entry of the zip inside a workbook against the archive limits, before
/// calamine (which holds shared strings and `.ods` sheets in memory) reads it.
fn check_zip(t: &Table) -> Result<(), StageError> {
    let f = File::open(&t.path).map_err(|e| err(t, format!("cannot open: {e}")))?;
    let size = f.metadata().map_or(0, |m| m.len());
    let mut zip = zip::ZipArchive::new(BufReader::new(f)).map_err(|e| {
        err(
            t,
            format!("not a readable {} (its zip: {e})", t.format().name()),
        )
        .hint(DAMAGED_HINT)
    })?;
    let limits = t.limits.expansion;
    if zip.len() > limits.max_entries {
        return Err(err(
            t,
            format!(
                "more than {} entries (an archive bomb?)",
                limits.max_entries
            ),
        )
        .hint(format!(
            "if the file is genuine, raise the limit: set {} to more than {}",
            super::archive::ENV_ENTRIES,
            limits.max_entries
        )));
    }
    let cap = limits.cap(size);
    let mut total = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| {
            err(
                t,
                format!("not a readable {} (entry {i}: {e})", t.format().name()),
            )
            .hint(DAMAGED_HINT)
        })?;
        let name = entry
            .name()
            .map(std::borrow::Cow::into_owned)
            .unwrap_or_default();
        loop {
            let n = entry.read(&mut buf).map_err(|e| {
                err(
                    t,
                    format!("not a readable {} (entry `{name}`: {e})", t.format().name()),
                )
                .hint(DAMAGED_HINT)
            })?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > cap {
                let (message, hint) = limits.exceeded("a spreadsheet", size);
                return Err(err(t, message).hint(hint));
            }
        }
    }
    Ok(())
}

/// calamine's caps on an `.ods` sheet's expanded rows and columns.
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;

/// The cells calamine will hold for an `.ods` file, counted from `content.xml` before it
/// reads it: each sheet's bounding box (rows up to the last one with a value, times the widest
/// such row), with `number-rows-repeated` and `number-columns-repeated` expanded as calamine
/// expands them. A few hundred bytes of XML can repeat one cell a million times down and 16,384
/// times across; such a file is refused with the sheet named, before any memory is spent.
fn check_ods_cells(t: &Table) -> Result<(), StageError> {
    let f = File::open(&t.path).map_err(|e| err(t, format!("cannot open: {e}")))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| err(t, format!("not a readable .ods (its zip: {e})")).hint(DAMAGED_HINT))?;
    let Ok(entry) = zip.by_name("content.xml") else {
        // calamine names what is missing.
        return Ok(());
    };
    let cells = ods_cells(BufReader::new(entry), t.limits.max_sheet_cells).map_err(|e| {
        err(t, format!("not a readable .ods (content.xml: {e})")).hint(DAMAGED_HINT)
    })?;
    if let Some((sheet, n)) = cells {
        let max = t.limits.max_sheet_cells;
        return Err(err(
            t,
            format!(
                "sheet `{sheet}` expands to more than {max} cells ({n} counted: rows times columns, repeated rows and cells included); at most {}={max} (a spreadsheet bomb?)",
                super::table::ENV_SHEET_CELLS
            ),
        )
        .hint(format!(
            "the sheet is held in memory whole (about 56 bytes a cell); if it is genuine, set {} above {n}, or save the sheet as CSV",
            super::table::ENV_SHEET_CELLS
        )));
    }
    Ok(())
}

/// Counts the expanded cells of an ODF spreadsheet's `content.xml` (see [`check_ods_cells`]);
/// `Some((sheet, cells))` for the sheet that takes the total past `max`.
fn ods_cells(r: impl std::io::BufRead, max: u64) -> Result<Option<(String, u64)>, String> {
    use quick_xml::events::{BytesStart, Event};
    fn count(e: &BytesStart, name: &str) -> Result<u64, String> {
        match e.try_get_attribute(name).map_err(|e| e.to_string())? {
            None => Ok(1),
            Some(a) => a
                .value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("`{name}` is not a count: `{}`", a.value)),
        }
    }
    let mut reader = quick_xml::Reader::from_reader(r);
    let mut buf = Vec::new();
    let mut total = 0u64;
    let mut sheet = String::new();
    // Per sheet: rows seen (expanded), rows up to the last with a value, widest such row.
    let (mut rows, mut used_rows, mut width) = (0u64, 0u64, 0u64);
    // Per row: its repeat count, columns seen, columns up to the last value.
    let (mut repeat, mut col, mut row_width) = (1u64, 0u64, 0u64);
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            match e.name().as_ref() {
                "table:table" => {
                    sheet = e
                        .try_get_attribute("table:name")
                        .ok()
                        .flatten()
                        .map(|a| a.value.to_string())
                        .unwrap_or_default();
                    (rows, used_rows, width) = (0, 0, 0);
                }
                "table:table-row" => {
                    repeat = count(e, "table:number-rows-repeated")?;
                    (col, row_width) = (0, 0);
                    if empty {
                        rows = rows.saturating_add(repeat).min(ODS_MAX_ROWS);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    col = col
                        .saturating_add(count(e, "table:number-columns-repeated")?)
                        .min(ODS_MAX_COLUMNS);
                    // A cell with content, or a value in its attributes, is held.
                    let valued = !empty
                        || e.try_get_attribute("office:value-type")
                            .ok()
                            .flatten()
                            .is_some();
                    if valued {
                        row_width = col;
                    }
                }
                _ => {}
            }
        }
        match &event {
            Event::End(e) if e.name().as_ref() == "table:table-row" => {
                rows = rows.saturating_add(repeat).min(ODS_MAX_ROWS);
                if row_width > 0 {
                    used_rows = rows;
                    width = width.max(row_width);
                }
            }
            Event::End(e) if e.name().as_ref() == "table:table" => {
                total = total.saturating_add(used_rows.saturating_mul(width));
                if total > max {
                    return Ok(Some((sheet, total)));
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
        buf.clear();
    }
}

type Rs = BufReader<File>;

enum Book {
    Xlsx(calamine::Xlsx<Rs>),
    Xlsb(calamine::Xlsb<Rs>),
    Xls(calamine::Xls<Rs>),
    Ods(calamine::Ods<Rs>),
}

/// Whether an OLE file holds an encrypted OOXML package (a password-protected `.xlsx`).
fn encrypted_package(t: &Table) -> bool {
    let needle: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let Ok(f) = File::open(&t.path) else {
        return false;
    };
    let mut data = Vec::new();
    if f.take(8 << 20).read_to_end(&mut data).is_err() {
        return false;
    }
    memchr::memmem::find(&data, &needle).is_some()
}

fn open(t: &Table) -> Result<Book, StageError> {
    let format = t.format();
    if matches!(format, Format::Xlsx | Format::Xlsb | Format::Ods) {
        check_zip(t)?;
    }
    if format == Format::Ods {
        check_ods_cells(t)?;
    }
    let f = File::open(&t.path).map_err(|e| err(t, format!("cannot open: {e}")))?;
    let rs = BufReader::new(f);
    let damaged = |e: &dyn std::fmt::Display| {
        if format == Format::Xls && encrypted_package(t) {
            return err(t, "is encrypted (password-protected)")
                .hint("save it again without a password, then read that copy");
        }
        err(t, format!("not a readable {} ({e})", format.name())).hint(DAMAGED_HINT)
    };
    Ok(match format {
        Format::Xlsx => Book::Xlsx(calamine::Xlsx::new(rs).map_err(|e| damaged(&e))?),
        Format::Xlsb => Book::Xlsb(calamine::Xlsb::new(rs).map_err(|e| damaged(&e))?),
        Format::Xls => Book::Xls(calamine::Xls::new(rs).map_err(|e| damaged(&e))?),
        _ => Book::Ods(calamine::Ods::new(rs).map_err(|e| damaged(&e))?),
    })
}

impl Book {
    fn sheet_names(&self) -> Vec<String> {
        match self {
            Book::Xlsx(b) => b.sheet_names(),
            Book::Xlsb(b) => b.sheet_names(),
            Book::Xls(b) => b.sheet_names(),
            Book::Ods(b) => b.sheet_names(),
        }
    }

    /// Call `f` with every non-empty cell of `sheet` (row, column, value), rows in order;
    /// `f` returns `false` to stop.
    fn each_cell(
        &mut self,
        t: &Table,
        sheet: &str,
        mut f: impl FnMut(u32, u32, Value) -> Result<bool, StageError>,
    ) -> Result<(), StageError> {
        let bad = |e: &dyn std::fmt::Display| {
            err(t, format!("sheet `{sheet}` is not readable ({e})")).hint(DAMAGED_HINT)
        };
        // The streaming readers of xlsx and xlsb have the same methods but no common trait.
        macro_rules! stream {
            ($book:expr) => {{
                let mut cells = $book.worksheet_cells_reader(sheet).map_err(|e| bad(&e))?;
                while let Some(c) = cells.next_cell().map_err(|e| bad(&e))? {
                    let (r, col) = c.get_position();
                    if let Some(v) = Value::of(c.get_value())
                        && !f(r, col, v)?
                    {
                        break;
                    }
                }
            }};
        }
        match self {
            Book::Xlsx(b) => stream!(b),
            Book::Xlsb(b) => stream!(b),
            Book::Xls(b) => range_cells(&b.worksheet_range(sheet).map_err(|e| bad(&e))?, f)?,
            Book::Ods(b) => range_cells(&b.worksheet_range(sheet).map_err(|e| bad(&e))?, f)?,
        }
        Ok(())
    }
}

fn range_cells(
    range: &calamine::Range<calamine::Data>,
    mut f: impl FnMut(u32, u32, Value) -> Result<bool, StageError>,
) -> Result<(), StageError> {
    let (r0, c0) = range.start().unwrap_or((0, 0));
    for (r, c, d) in range.used_cells() {
        if let Some(v) = Value::of(d)
            && !f(r0 + r as u32, c0 + c as u32, v)?
        {
            break;
        }
    }
    Ok(())
}

/// The sheet `t` reads: `sheet:` or the first.
fn chosen_sheet(t: &Table, book: &Book) -> Result<String, StageError> {
    let names = book.sheet_names();
    let list = || {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &t.read.sheet {
        None | Some(SheetRef::Index(0)) if !names.is_empty() => Ok(names[0].clone()),
        None => Err(err(t, "has no sheets")),
        Some(SheetRef::Index(i)) => names.get(*i).cloned().ok_or_else(|| {
            err(
                t,
                format!(
                    "has no sheet {i} (counting from 0): it has {} sheet{}: {}",
                    names.len(),
                    if names.len() == 1 { "" } else { "s" },
                    list()
                ),
            )
            .hint("set `sheet:` to one of them, by name or by position (0 is the first)")
        }),
        Some(SheetRef::Name(n)) => {
            if names.contains(n) {
                return Ok(n.clone());
            }
            let close = crate::spec::error::did_you_mean(n, names.iter().map(String::as_str));
            Err(
                err(t, format!("has no sheet `{n}`; its sheets: {}", list())).hint(
                    close.unwrap_or_else(|| {
                        "set `sheet:` to one of them, by name or by position (0 is the first)"
                            .to_owned()
                    }),
                ),
            )
        }
    }
}

/// Run `f`, turning a panic inside calamine into an error naming the file.
fn guarded<T>(t: &Table, f: impl FnOnce() -> Result<T, StageError>) -> Result<T, StageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(err(t, format!("not a readable {}", t.format().name())).hint(DAMAGED_HINT))
    })
}

/// What a pass over a sheet found.
struct Shape {
    sheet: String,
    names: Vec<String>,
    /// Data rows (the header not counted), up to the last non-empty one.
    rows: u64,
    /// Renamed headers.
    warnings: Vec<String>,
}

/// The column names and kinds of the chosen sheet.
fn scan(t: &Table) -> Result<(Shape, Vec<ColumnStats>), StageError> {
    let mut book = open(t)?;
    let sheet = chosen_sheet(t, &book)?;
    let mut header: BTreeMap<u32, Value> = BTreeMap::new();
    let mut kinds: Vec<ColumnStats> = Vec::new();
    let mut last_row: Option<u32> = None;
    let mut width = 0usize;
    let max_columns = t.limits.max_columns;
    let mut too_wide = false;
    book.each_cell(t, &sheet, |r, c, v| {
        let c = c as usize;
        if c >= max_columns {
            too_wide = true;
            return Ok(false);
        }
        width = width.max(c + 1);
        last_row = Some(last_row.map_or(r, |l| l.max(r)));
        if r == 0 {
            header.insert(c as u32, v);
            return Ok(true);
        }
        if kinds.len() <= c {
            kinds.resize_with(c + 1, ColumnStats::default);
        }
        kinds[c].add_kind(v.kind(), || v.text());
        Ok(true)
    })?;
    if too_wide {
        return Err(table::too_many_columns(
            &format!(
                "sheet `{sheet}` of `{}` has more than {max_columns} columns",
                t.name
            ),
            max_columns,
        ));
    }
    let Some(last_row) = last_row else {
        return Err(err(t, format!("sheet `{sheet}` is empty: no header row"))
            .hint("choose another sheet with `sheet:`, or remove the file from the source"));
    };
    kinds.resize_with(width, ColumnStats::default);
    let mut names: Vec<String> = (0..width)
        .map(|c| match header.get(&(c as u32)) {
            Some(v) => v.text(),
            None => format!("column_{}", c + 1),
        })
        .collect();
    let mut warnings = Vec::new();
    table::unique_names(&mut names, &t.name, &mut warnings);
    Ok((
        Shape {
            sheet,
            names,
            rows: u64::from(last_row),
            warnings,
        },
        kinds,
    ))
}

/// The sheet's schema; warnings for mixed columns and renamed headers.
pub fn infer(t: &Table) -> Result<(Schema, Vec<String>), StageError> {
    guarded(t, || {
        let (shape, kinds) = scan(t)?;
        let mut warnings = shape.warnings.clone();
        let fields = shape
            .names
            .iter()
            .zip(&kinds)
            .map(|(name, stats)| {
                let (dt, warning) = stats.resolve(name);
                if let Some(w) = warning {
                    warnings.push(format!("`{}` (sheet `{}`): {w}", t.name, shape.sheet));
                }
                Field::new(name, dt, true)
            })
            .collect::<Vec<_>>();
        Ok((Schema::new(fields), warnings))
    })
}

/// One column of the batch being built, typed as the target field.
enum Builder {
    Str(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(dt: &DataType) -> Self {
        match dt {
            DataType::Int64 => Builder::Int(Int64Builder::new()),
            DataType::Float64 => Builder::Float(Float64Builder::new()),
            DataType::Boolean => Builder::Bool(BooleanBuilder::new()),
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                Builder::Ts(TimestampMicrosecondBuilder::new())
            }
            // Anything else is built as text and cast.
            _ => Builder::Str(StringBuilder::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Builder::Str(b) => b.len(),
            Builder::Int(b) => b.len(),
            Builder::Float(b) => b.len(),
            Builder::Bool(b) => b.len(),
            Builder::Date(b) => b.len(),
            Builder::Ts(b) => b.len(),
        }
    }

    fn nulls(&mut self, n: usize) {
        match self {
            Builder::Str(b) => b.append_nulls(n),
            Builder::Int(b) => b.append_nulls(n),
            Builder::Float(b) => b.append_nulls(n),
            Builder::Bool(b) => b.append_nulls(n),
            Builder::Date(b) => b.append_nulls(n),
            Builder::Ts(b) => b.append_nulls(n),
        }
    }

    /// Append `v`; `false` when it does not fit the column's type.
    fn push(&mut self, v: &Value) -> bool {
        match (self, v) {
            (Builder::Str(b), v) => b.append_value(v.text()),
            (Builder::Int(b), Value::Int(i)) => b.append_value(*i),
            (Builder::Float(b), Value::Int(i)) => b.append_value(*i as f64),
            (Builder::Float(b), Value::Float(f)) => b.append_value(*f),
            (Builder::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Builder::Date(b), Value::Date(d)) => b.append_value(*d),
            (Builder::Ts(b), Value::Date(d)) => b.append_value(i64::from(*d) * DAY_US),
            (Builder::Ts(b), Value::DateTime(us)) => b.append_value(*us),
            _ => return false,
        }
        true
    }

    fn finish(&mut self, dt: &DataType) -> Result<ArrayRef, arrow::error::ArrowError> {
        let a: ArrayRef = match self {
            Builder::Str(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
        };
        if a.data_type() == dt {
            Ok(a)
        } else {
            arrow::compute::cast(&a, dt)
        }
    }
}

/// The sheet's rows as batches of `schema` (columns by name; others null), built on a thread
/// of their own and handed over through a small channel.
pub fn batches(t: &Table, schema: &SchemaRef) -> Result<Batches<'static>, StageError> {
    let (shape, _) = guarded(t, || scan(t))?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch, StageError>>(2);
    let name = t.name.clone();
    let t = t.clone();
    let schema = schema.clone();
    std::thread::Builder::new()
        .name("sheet-reader".into())
        .spawn(move || {
            let sent = tx.clone();
            let r = guarded(&t, || produce(&t, &schema, &shape, &sent));
            if let Err(e) = r {
                let _ = tx.send(Err(e));
            }
        })
        .map_err(|e| StageError::new(format!("`{name}`: cannot start a reader: {e}")))?;
    Ok(Box::new(rx.into_iter()))
}

fn produce(
    t: &Table,
    schema: &SchemaRef,
    shape: &Shape,
    tx: &std::sync::mpsc::SyncSender<Result<RecordBatch, StageError>>,
) -> Result<(), StageError> {
    // Sheet column → output column.
    let by_name: std::collections::HashMap<&str, usize> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name().as_str(), i))
        .collect();
    let target: Vec<Option<usize>> = shape
        .names
        .iter()
        .map(|n| by_name.get(n.as_str()).copied())
        .collect();
    let per_batch = table::decode_rows(schema.fields().len()) as u64;
    let mut builders: Vec<Builder> = schema
        .fields()
        .iter()
        .map(|f| Builder::new(f.data_type()))
        .collect();
    // The first data row of the batch being built (0-based among data rows).
    let mut start = 0u64;
    let mut stopped = false;
    let emit = |builders: &mut Vec<Builder>, rows: usize| -> Result<bool, StageError> {
        let mut columns = Vec::with_capacity(builders.len());
        for (b, f) in builders.iter_mut().zip(schema.fields()) {
            let missing = rows - b.len();
            b.nulls(missing);
            columns.push(b.finish(f.data_type()).map_err(|e| err(t, e))?);
        }
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| err(t, e))?;
        Ok(tx.send(Ok(batch)).is_ok())
    };
    let mut book = open(t)?;
    let mut last = (0u32, 0u32);
    book.each_cell(t, &shape.sheet, |r, c, v| {
        if (r, c) < last {
            return Err(err(
                t,
                format!(
                    "sheet `{}`: cell {} comes after {} (cells out of order: a damaged file?)",
                    shape.sheet,
                    cell_name(r, c),
                    cell_name(last.0, last.1)
                ),
            )
            .hint(DAMAGED_HINT));
        }
        last = (r, c);
        if r == 0 {
            return Ok(true);
        }
        let row = u64::from(r) - 1;
        while row >= start + per_batch {
            if !emit(&mut builders, per_batch as usize)? {
                stopped = true;
                return Ok(false);
            }
            start += per_batch;
        }
        let Some(Some(out)) = target.get(c as usize) else {
            return Ok(true);
        };
        let b = &mut builders[*out];
        let at = (row - start) as usize;
        b.nulls(at - b.len().min(at));
        if b.len() > at || !b.push(&v) {
            return Err(err(
                t,
                format!(
                    "sheet `{}`: cell {} (`{}`) does not fit column `{}` ({})",
                    shape.sheet,
                    cell_name(r, c),
                    v.text(),
                    shape.names[c as usize],
                    table::type_name(schema.field(*out).data_type())
                ),
            )
            .hint("the file changed while it was read, or the workbook is damaged"));
        }
        Ok(true)
    })?;
    if stopped {
        return Ok(());
    }
    while start < shape.rows {
        let rows = (shape.rows - start).min(per_batch);
        if !emit(&mut builders, rows as usize)? {
            return Ok(());
        }
        start += rows;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_names() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(4, 27), "AB5");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
        assert_eq!(iso_datetime("2024-01-05"), Value::Date(19_727));
        assert_eq!(
            iso_datetime("2024-01-05T00:00:00.5"),
            Value::DateTime(19_727 * DAY_US + 500_000)
        );
        assert_eq!(iso_datetime("2024-13-05"), Value::Str("2024-13-05".into()));
        assert_eq!(iso_duration("PT12H30M00S"), "12:30:00");
        assert_eq!(iso_duration("PT30H00M00.25S"), "30:00:00.250000");
        assert_eq!(
            datetime_text(19_727 * DAY_US + 3_723_000_001),
            "2024-01-05 01:02:03.000001"
        );
        let serial = |v: f64| {
            excel_datetime(&calamine::ExcelDateTime::new(
                v,
                calamine::ExcelDateTimeType::DateTime,
                false,
            ))
        };
        assert_eq!(serial(45_296.0), Value::Date(19_727));
        assert_eq!(
            serial(45_296.5),
            Value::DateTime(19_727 * DAY_US + DAY_US / 2)
        );
        assert_eq!(serial(0.5), Value::Time("12:00:00".into()));
        assert_eq!(serial(60.0), Value::Str("1900-02-29".into()));
    }
}
