//! Formats the HTTP `Date` header (IMF-fixdate, RFC 9110 section 5.6.7),
//! e.g. `Thu, 01 Jan 2026 00:00:00 GMT`.
//!
//! The `httpdate` crate does the same but panics on times before 1970 or
//! after 9999, and its panic messages link `Debug` code for `Duration`.

use std::time::{SystemTime, UNIX_EPOCH};

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Formats `time` as an IMF-fixdate. Times before 1970 are formatted as
/// the start of 1970.
pub(crate) fn format(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut days = secs / 86_400;
    let weekday = WEEKDAYS[(days % 7) as usize];

    // Walk years, then months, from 1970-01-01.
    let mut year = 1970;
    while days >= year_days(year) {
        days -= year_days(year);
        year += 1;
    }
    let mut month = 0;
    while days >= month_days(year, month) {
        days -= month_days(year, month);
        month += 1;
    }

    let of_day = secs % 86_400;
    format!(
        "{weekday}, {:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        days + 1,
        MONTHS[month],
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

fn is_leap(year: u64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn year_days(year: u64) -> u64 {
    if is_leap(year) {
        366
    } else {
        365
    }
}

/// Days in `month` (0 is January) of `year`.
fn month_days(year: u64, month: usize) -> u64 {
    match month {
        1 if is_leap(year) => 29,
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_dates() {
        assert_eq!(format(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(at(1_767_225_600)), "Thu, 01 Jan 2026 00:00:00 GMT");
        assert_eq!(format(at(951_782_400)), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format(at(4_107_542_399)), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(format(at(4_107_542_400)), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn before_epoch_is_epoch() {
        let early = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(format(early), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn matches_httpdate() {
        // Steps of about 92 days that are not whole days vary the weekday,
        // month and time of day, up to the year 9999 that httpdate supports.
        let mut secs = 0;
        while secs < 253_402_300_800 {
            assert_eq!(format(at(secs)), httpdate::fmt_http_date(at(secs)), "{secs}");
            secs += 7_919_993;
        }
    }
}
