//! Times as reports and the audit trail write them (RFC 3339, UTC,
//! milliseconds), and ages as operators type them (`30d`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{RecordsError, Result};

/// `t` as RFC 3339 in UTC with milliseconds, e.g. `2026-12-04T21:50:34.123Z`.
/// Times before 1970 are written as the epoch (no clock voxcap runs on is
/// set that far back).
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses an age: a whole number followed by `d` (days), `h`, `m` or `s`;
/// a bare number is days.
pub fn parse_age(text: &str) -> Result<Duration> {
    let bad = |reason: &str| RecordsError::BadSetting {
        what: "age",
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "d"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| bad("expected a whole number and a unit (d, h, m, s), e.g. 30d"))?;
    let unit_s = match unit {
        "d" => 86_400,
        "h" => 3600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad("the unit must be d, h, m or s")),
    };
    n.checked_mul(unit_s)
        .filter(|s| *s <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| bad("more than 100 years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (1_796_420_434, "2026-12-04T21:40:34.000Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
        assert!(rfc3339(UNIX_EPOCH + Duration::from_millis(1_500)).ends_with("01.500Z"));
    }

    #[test]
    fn ages() {
        for (text, secs) in [
            ("30d", 2_592_000),
            ("12h", 43_200),
            ("90m", 5400),
            ("7", 604_800),
            ("5s", 5),
        ] {
            assert_eq!(parse_age(text).unwrap().as_secs(), secs, "{text}");
        }
        for bad in ["", "d", "3w", "-1d", "1.5d", "99999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
