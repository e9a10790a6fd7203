//! The calendar date of a count of days since 1970-01-01: chrono's proleptic Gregorian
//! calendar, stretched to every `i64` day count.

use chrono::{Datelike, NaiveDate};

/// Days in 400 Gregorian years, after which the calendar repeats itself exactly.
const CYCLE_DAYS: i64 = 146_097;

/// `(year, month, day)` of `days` since 1970-01-01. chrono holds about ±262,000 years; the day
/// is found within the 400-year cycle that starts on 1970-01-01 and its year moved by whole
/// cycles, so every `i64` has a date (a `SOURCE_DATE_EPOCH` millions of years away gives the
/// same date as before chrono did the arithmetic). Formatting is left to the caller: chrono's
/// `%Y` signs years past 9999 (`+10000`), the release date and spreadsheet text do not.
pub(crate) fn ymd(days: i64) -> (i64, u32, u32) {
    let cycles = days.div_euclid(CYCLE_DAYS);
    let date = i32::try_from(days.rem_euclid(CYCLE_DAYS))
        .ok()
        .and_then(NaiveDate::from_epoch_days)
        .expect("1970 to 2370 is within chrono's range");
    (
        i64::from(date.year()) + 400 * cycles,
        date.month(),
        date.day(),
    )
}

/// Days from 1970-01-01 to `year-month-day`; `None` when there is no such day (month 13,
/// Excel's 1900-02-29) or the year is beyond chrono's ±262,000.
pub(crate) fn days(year: i64, month: u32, day: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(i64::from(date.to_epoch_days()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_of_day_counts_both_ways() {
        assert_eq!(ymd(0), (1970, 1, 1));
        assert_eq!(ymd(-1), (1969, 12, 31));
        assert_eq!(ymd(19_782), (2024, 2, 29));
        assert_eq!(ymd(-25_508), (1900, 3, 1));
        assert_eq!(ymd(-719_528), (0, 1, 1));
        assert_eq!(ymd(-719_529), (-1, 12, 31));
        assert_eq!(ymd(2_932_896), (9999, 12, 31));
        assert_eq!(ymd(2_932_897), (10_000, 1, 1));
        assert_eq!(days(1970, 1, 1), Some(0));
        assert_eq!(days(2024, 2, 29), Some(19_782));
        assert_eq!(days(0, 1, 1), Some(-719_528));
        assert_eq!(days(9999, 12, 31), Some(2_932_896));
        assert_eq!(days(65_535, 12, 31), Some(23_217_003));
        assert_eq!(days(1900, 2, 29), None);
        assert_eq!(days(2023, 2, 29), None);
        assert_eq!(days(2000, 2, 29), Some(11_016));
        assert_eq!(days(2024, 13, 1), None);
        assert_eq!(days(2024, 4, 31), None);
        assert_eq!(days(2024, 1, 0), None);
    }

    #[test]
    fn day_counts_beyond_chronos_years() {
        // Past chrono's range the 400-year cycles carry on: ±1e9 days is ±2.7 million years.
        for d in [-1_000_000_000_i64, -96_000_000, 96_000_000, 1_000_000_000] {
            let (y, m, dd) = ymd(d);
            let shift = 400 * d.div_euclid(CYCLE_DAYS);
            assert_eq!(ymd(d.rem_euclid(CYCLE_DAYS)), (y - shift, m, dd), "{d}");
        }
        assert_eq!(ymd(i64::MAX / 86_400).0, 292_277_026_596);
        assert_eq!(ymd(i64::MIN / 86_400 - 1).0, -292_277_022_657);
    }
}
