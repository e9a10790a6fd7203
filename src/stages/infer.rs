//! Column type inference for delimited text, from a sample of records.
//!
//! Each non-empty value is classified (bool, int, float, date, datetime, datetime with an
//! offset, string). A column's type is the narrowest that holds every sampled value: int widens
//! to float, date to datetime; date-times with offsets are instants in UTC; any other mix
//! becomes string and is reported as mixed, with counts and an example.

use std::collections::BTreeMap;

use arrow::datatypes::{DataType, TimeUnit};

/// The kind of one value (a column's type follows from the kinds of its values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Bool,
    Int,
    Float,
    /// A number with a decimal comma (`1,5`), where the file's delimiter allows one.
    CommaFloat,
    Date,
    DateTime,
    /// A date-time with `Z` or a UTC offset (`+01:00`, `+0100`): a point in time, read in UTC.
    DateTimeZ,
    /// A time of day or a duration (spreadsheet cells), kept as text.
    Time,
    Str,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Bool => "booleans",
            Kind::Int => "integers",
            Kind::Float => "numbers",
            Kind::CommaFloat => "numbers with decimal commas",
            Kind::Date => "dates",
            Kind::DateTime => "date-times",
            Kind::DateTimeZ => "date-times with a UTC offset",
            Kind::Time => "times",
            Kind::Str => "strings",
        }
    }
}

fn is_int(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty()
        && digits.len() <= 18
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'))
}

fn is_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let b = t.as_bytes();
    if b.len() > 1 && b[0] == b'0' && b[1].is_ascii_digit() {
        return false; // leading zeros: an identifier
    }
    let first = b.first();
    // Digits or a leading dot; no words like "inf" or "nan", which are more often text.
    (first.is_some_and(u8::is_ascii_digit) || (first == Some(&b'.') && t.len() > 1))
        && s.parse::<f64>().is_ok()
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
}

fn is_datetime(s: &str) -> bool {
    if s.len() < 19 || !s.is_char_boundary(10) || !is_date(&s[..10]) {
        return false;
    }
    let rest = &s.as_bytes()[10..];
    (rest[0] == b'T' || rest[0] == b' ')
        && rest[1..3].iter().all(u8::is_ascii_digit)
        && rest[3] == b':'
        && rest[4..6].iter().all(u8::is_ascii_digit)
        && rest[6] == b':'
        && rest[7..9].iter().all(u8::is_ascii_digit)
        && rest[9..]
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'Z' | b'+' | b'-' | b':'))
}

fn classify(s: &str) -> Kind {
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        Kind::Bool
    } else if is_int(s) {
        Kind::Int
    } else if is_float(s) {
        Kind::Float
    } else if is_date(s) {
        Kind::Date
    } else if is_datetime(s) {
        // After `YYYY-MM-DDTHH:MM:SS`: fractions, then `Z` or an offset, if any.
        if s.as_bytes()[19..]
            .iter()
            .any(|c| matches!(c, b'Z' | b'+' | b'-'))
        {
            Kind::DateTimeZ
        } else {
            Kind::DateTime
        }
    } else {
        Kind::Str
    }
}

/// Accumulates value kinds per column.
#[derive(Debug, Default, Clone)]
pub struct ColumnStats {
    counts: BTreeMap<Kind, u64>,
    example_str: Option<String>,
    pub nulls: u64,
}

impl ColumnStats {
    pub fn add(&mut self, value: &str) {
        self.add_with(value, str::is_empty, false);
    }

    /// Count one value: null when `is_na` says so; a decimal-comma number when `comma` allows.
    pub fn add_with(&mut self, value: &str, is_na: impl Fn(&str) -> bool, comma: bool) {
        if is_na(value) {
            self.nulls += 1;
            return;
        }
        let k = match classify(value) {
            Kind::Str if comma && super::csvread::is_comma_float(value) => Kind::CommaFloat,
            k => k,
        };
        self.add_kind(k, || value.to_owned());
    }

    /// Count one value already classified (a typed cell); `text` gives a string's example.
    pub fn add_kind(&mut self, k: Kind, text: impl FnOnce() -> String) {
        if k == Kind::Str && self.example_str.is_none() {
            self.example_str = Some(text().chars().take(40).collect());
        }
        *self.counts.entry(k).or_default() += 1;
    }

    /// Whether the column's numbers are written with decimal commas.
    pub fn comma_decimals(&self) -> bool {
        self.counts.contains_key(&Kind::CommaFloat)
    }

    /// The column's type, and a warning when its values are of mixed kinds.
    pub fn resolve(&self, column: &str) -> (DataType, Option<String>) {
        let kinds: Vec<Kind> = self.counts.keys().copied().collect();
        let dt = match kinds.as_slice() {
            [] | [Kind::Str | Kind::Time] | [Kind::Time, Kind::Str] => DataType::Utf8,
            [Kind::Bool] => DataType::Boolean,
            [Kind::Int] => DataType::Int64,
            [Kind::Float | Kind::CommaFloat] | [Kind::Int, Kind::Float | Kind::CommaFloat] => {
                DataType::Float64
            }
            [Kind::Date] => DataType::Date32,
            [Kind::DateTime] | [Kind::Date, Kind::DateTime] => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            // Offsets name instants: kept as such in UTC, as pyarrow reads them (a naive
            // column would silently shift them); a mix with naive values stays text.
            [Kind::DateTimeZ] => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            _ => {
                let parts: Vec<String> = self
                    .counts
                    .iter()
                    .map(|(k, n)| format!("{n} {}", k.name()))
                    .collect();
                let example = self
                    .example_str
                    .as_ref()
                    .map(|e| format!(" (e.g. `{e}`)"))
                    .unwrap_or_default();
                return (
                    DataType::Utf8,
                    Some(format!(
                        "column `{column}` mixes {}{example}; it is read as string (cast it with `columns: {{{column}: {{type: …}}}}` and `cast: lenient` to turn the odd values into nulls)",
                        parts.join(" and ")
                    )),
                );
            }
        };
        (dt, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[&str]) -> (DataType, Option<String>) {
        let mut s = ColumnStats::default();
        for v in values {
            s.add(v);
        }
        s.resolve("c")
    }

    #[test]
    fn kinds() {
        assert_eq!(infer(&["1", "-2", ""]).0, DataType::Int64);
        assert_eq!(infer(&["1", "2.5"]).0, DataType::Float64);
        assert_eq!(infer(&["true", "False"]).0, DataType::Boolean);
        assert_eq!(infer(&["2024-01-31", "2023-12-01"]).0, DataType::Date32);
        assert_eq!(
            infer(&["2024-01-31T10:00:00", "2024-01-31 10:00:00.5"]).0,
            DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        for zoned in [
            &["2024-01-31T10:00:00Z", "2024-02-01T00:00:00.123+01:00"][..],
            &[
                "2020-01-01T12:30:00.000000+0100",
                "2021-06-01 00:00:00-05:00",
            ],
        ] {
            assert_eq!(
                infer(zoned).0,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                "{zoned:?}"
            );
        }
        let (dt, warning) = infer(&["2024-01-31T10:00:00", "2024-01-31T10:00:00Z"]);
        assert_eq!(dt, DataType::Utf8);
        assert!(warning.unwrap().contains("date-times with a UTC offset"));
        assert_eq!(
            infer(&["007", "12"]).0,
            DataType::Utf8,
            "leading zeros are identifiers, not numbers"
        );
        assert_eq!(infer(&["", ""]).0, DataType::Utf8);
        let (dt, warning) = infer(&["1", "2", "N/A"]);
        assert_eq!(dt, DataType::Utf8);
        assert!(
            warning
                .unwrap()
                .contains("mixes 2 integers and 1 strings (e.g. `N/A`)")
        );
    }
}
