//! Dates: RFC 3339 timestamps (OSV's `modified`, `published` and
//! `withdrawn`, the KEV catalog's `dateReleased`) and `YYYY-MM-DD` dates
//! (KEV's `dateAdded` and `dueDate`), read into Unix seconds. What is
//! accepted is described under "Dates" in the [`crate::advisory`]
//! documentation.

use crate::clock::Timestamp;

/// Parses an RFC 3339 timestamp (`2024-05-02T05:12:33.123Z`) into Unix
/// seconds. See the [module documentation](crate::advisory#dates) for the
/// details.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

/// Parses a `YYYY-MM-DD` date into Unix seconds at 00:00 UTC.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return None;
    }
    let year: i16 = text[0..4].parse().ok()?;
    let month: i8 = text[5..7].parse().ok()?;
    let day: i8 = text[8..10].parse().ok()?;
    let date = jiff::civil::Date::new(year, month, day).ok()?;
    Some(
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps_parse_strictly() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-05-02T05:12:33Z"), Some(1_714_626_753));
        assert_eq!(
            parse_rfc3339("2024-05-02t05:12:33.999999999z"),
            Some(1_714_626_753)
        );
        assert_eq!(
            parse_rfc3339("2024-05-02T07:12:33+02:00"),
            Some(1_714_626_753)
        );
        assert_eq!(parse_rfc3339("2024-05-02 05:12:33Z"), Some(1_714_626_753));
        for bad in [
            "",
            "2024-05-02",
            "2024-05-02T05:12:33",
            "2024-05-02X05:12:33Z",
            "2024-05-32T05:12:33Z",
            "2024-05-02T25:12:33Z",
            "2024-05-02T05:12:33Z junk",
            "24-05-02T05:12:33Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2023-11-21"), Some(1_700_524_800));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T00:00:00Z",
            "",
            "２０２４-01-01",
            "+024-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
