//! Calendar formatting from epoch milliseconds (index names, object keys, timestamp fields) in UTC or the
//! function's `time_zone`, and reading a record's time from a field.

use crate::config::{Env, Kind, Unset};
use crate::error::ConfigError;

/// A date and time as a clock in some zone shows it, with that zone's offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
    pub offset_seconds: i32,
}

impl DateTime {
    /// The UTC date and time of `epoch_ms`.
    pub fn from_epoch_ms(epoch_ms: i64) -> Self {
        Self::shown_with_offset(epoch_ms, 0)
    }

    fn shown_with_offset(epoch_ms: i64, offset_seconds: i32) -> Self {
        let local_ms = epoch_ms.saturating_add(i64::from(offset_seconds) * 1000);
        let days = local_ms.div_euclid(86_400_000);
        let ms_of_day = local_ms.rem_euclid(86_400_000) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        DateTime {
            year,
            month,
            day,
            hour: ms_of_day / 3_600_000,
            minute: ms_of_day / 60_000 % 60,
            second: ms_of_day / 1000 % 60,
            millisecond: ms_of_day % 1000,
            offset_seconds,
        }
    }

    pub fn now() -> Self {
        Self::from_epoch_ms(now_epoch_ms())
    }

    /// `YYYY-MM-DD`
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, or `+08:00` for another offset (RFC 3339, what Elasticsearch's `date`
    /// type parses by default).
    pub fn rfc3339(&self) -> String {
        let offset = match self.offset_seconds {
            0 => "Z".to_owned(),
            s => {
                let sign = if s < 0 { '-' } else { '+' };
                let minutes = s.unsigned_abs() / 60;
                format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
        };
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}{offset}",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.millisecond
        )
    }
}

/// The zone every date a function renders is shown in: `time_zone` (an IANA name such as
/// `Asia/Shanghai`), UTC by default. The zone rules are built in, so no system time-zone files are needed.
#[derive(Debug, Clone)]
pub struct Zone(jiff::tz::TimeZone);

impl Default for Zone {
    fn default() -> Self {
        Zone::utc()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

crate::variables! {
    /// `time_zone`: read by every function.
    VARIABLES;
    TIME_ZONE = Var::new(
        "time_zone",
        Kind::Text(Unset::Means("`UTC`")),
        "IANA zone (zone rules are built in; e.g. `Asia/Shanghai`) of every date a function renders: ES index dates, object-key `{date}` / `{hour}`, `@timestamp` fields and CSV cells, strftime times without an offset, and the dating ledger's days and hours.",
    );
}

impl Zone {
    pub fn utc() -> Self {
        Zone(jiff::tz::TimeZone::UTC)
    }

    pub fn named(name: &str) -> Result<Self, String> {
        jiff::tz::TimeZone::get(name)
            .map(Zone)
            .map_err(|_| format!("`{name}` is not an IANA time zone name (e.g. Asia/Shanghai, UTC)"))
    }

    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.get(&TIME_ZONE)? {
            None => Ok(Zone::utc()),
            Some(name) => Zone::named(&name).map_err(|reason| ConfigError::new(TIME_ZONE.name, reason)),
        }
    }

    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    pub fn is_utc(&self) -> bool {
        self.name() == "UTC"
    }

    /// `epoch_ms` as this zone's clocks showed it.
    pub fn date_time(&self, epoch_ms: i64) -> DateTime {
        let offset = jiff::Timestamp::from_millisecond(epoch_ms).map_or(0, |t| self.0.to_offset(t).seconds());
        DateTime::shown_with_offset(epoch_ms, offset)
    }

    /// The instant of a date and time written without an offset, read as this zone's local time.
    fn instant_of(&self, local: jiff::civil::DateTime) -> Result<i64, String> {
        self.0
            .to_ambiguous_timestamp(local)
            .compatible()
            .map(|t| t.as_millisecond())
            .map_err(|e| e.to_string())
    }
}

/// How a record's time is written in its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// Epoch seconds or milliseconds by magnitude (numbers or digit strings), else RFC 3339.
    Auto,
    EpochSeconds,
    EpochMillis,
    Rfc3339,
    /// A strftime pattern (`%Y-%m-%d %H:%M:%S`); without `%z` the text is local time in the zone.
    Pattern(String),
}

impl TimeFormat {
    pub fn parse(spelling: &str) -> Result<Self, String> {
        Ok(match spelling {
            "auto" => TimeFormat::Auto,
            "epoch_s" => TimeFormat::EpochSeconds,
            "epoch_ms" => TimeFormat::EpochMillis,
            "rfc3339" => TimeFormat::Rfc3339,
            p if p.contains('%') => {
                let probe = jiff::Timestamp::UNIX_EPOCH.to_zoned(jiff::tz::TimeZone::UTC);
                jiff::fmt::strtime::BrokenDownTime::from(&probe)
                    .to_string(p)
                    .map_err(|e| format!("`{p}` is not a strftime pattern jiff understands: {e}"))?;
                TimeFormat::Pattern(p.to_owned())
            }
            other => {
                return Err(format!(
                    "`{other}` is not a time format (auto, epoch_s, epoch_ms, rfc3339, or a strftime pattern with %)"
                ))
            }
        })
    }

    /// Epoch milliseconds of `value`, a field's JSON value.
    pub fn read(&self, value: &serde_json::Value, zone: &Zone) -> Result<i64, String> {
        use serde_json::Value;
        let number = || match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let text = || value.as_str().ok_or_else(|| format!("{value} is not a string"));
        let ms = match self {
            TimeFormat::Auto => match number() {
                // Below 10^11 an epoch is in seconds (until the year 5138), above it in milliseconds.
                Some(n) if n.abs() < 1e11 => n * 1000.0,
                Some(n) => n,
                None => return rfc3339(text()?),
            },
            TimeFormat::EpochSeconds => number().ok_or_else(|| format!("{value} is not epoch seconds"))? * 1000.0,
            TimeFormat::EpochMillis => number().ok_or_else(|| format!("{value} is not epoch milliseconds"))?,
            TimeFormat::Rfc3339 => return rfc3339(text()?),
            TimeFormat::Pattern(pattern) => {
                let text = text()?;
                let parsed = jiff::fmt::strtime::parse(pattern, text)
                    .map_err(|e| format!("`{text}` does not match `{pattern}`: {e}"))?;
                return match parsed.offset() {
                    Some(_) => parsed
                        .to_timestamp()
                        .map(|t| t.as_millisecond())
                        .map_err(|e| e.to_string()),
                    None => zone.instant_of(parsed.to_datetime().map_err(|e| format!("`{text}`: {e}"))?),
                };
            }
        };
        if !ms.is_finite() || jiff::Timestamp::from_millisecond(ms as i64).is_err() {
            return Err(format!("{value} is out of range as a time"));
        }
        Ok(ms as i64)
    }
}

fn rfc3339(text: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

pub fn now_epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_known_instants() {
        let t = DateTime::from_epoch_ms(1_545_084_650_987);
        assert_eq!(t.rfc3339(), "2018-12-17T22:10:50.987Z");
        assert_eq!(DateTime::from_epoch_ms(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(DateTime::from_epoch_ms(951_782_400_000).date(), "2000-02-29");
        assert_eq!(DateTime::from_epoch_ms(-1).rfc3339(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn beijing_time_crosses_utc_midnight_eight_hours_early() {
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        // 2024-03-01T16:30:00Z is already 00:30 on 2 March in Beijing.
        let t = shanghai.date_time(1_709_310_600_000);
        assert_eq!((t.date(), t.hour), ("2024-03-02".to_owned(), 0));
        assert_eq!(t.rfc3339(), "2024-03-02T00:30:00.000+08:00");
        let new_york = Zone::named("America/New_York").unwrap().date_time(1_709_310_600_000);
        assert_eq!(new_york.rfc3339(), "2024-03-01T11:30:00.000-05:00");
        assert!(Zone::named("Mars/Olympus").unwrap_err().contains("IANA"));
        let bad = Zone::from_env(&Env::from_pairs(&[("time_zone", "GMT+8h")])).unwrap_err();
        assert!(bad.to_string().contains("time_zone"), "{bad}");
        assert!(Zone::from_env(&Env::from_pairs(&[])).unwrap().is_utc());
    }

    #[test]
    fn reads_record_times_in_every_format() {
        let utc = Zone::utc();
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        let read =
            |format: &str, value: serde_json::Value, zone: &Zone| TimeFormat::parse(format).unwrap().read(&value, zone);
        assert_eq!(read("auto", json!(1_709_310_600), &utc), Ok(1_709_310_600_000));
        assert_eq!(read("auto", json!("1709310600123"), &utc), Ok(1_709_310_600_123));
        assert_eq!(read("auto", json!("2024-03-01T16:30:00Z"), &utc), Ok(1_709_310_600_000));
        assert_eq!(read("epoch_s", json!(1.5), &utc), Ok(1500));
        assert_eq!(read("epoch_ms", json!("12"), &utc), Ok(12));
        assert_eq!(
            read("rfc3339", json!("2024-03-02T00:30:00+08:00"), &utc),
            Ok(1_709_310_600_000)
        );
        assert_eq!(
            read("%Y-%m-%d %H:%M:%S", json!("2024-03-02 00:30:00"), &shanghai),
            Ok(1_709_310_600_000)
        );
        assert_eq!(
            read("%Y/%m/%d %H:%M:%S %z", json!("2024/03/01 16:30:00 +0000"), &shanghai),
            Ok(1_709_310_600_000)
        );
        assert!(read("rfc3339", json!("yesterday"), &utc)
            .unwrap_err()
            .contains("yesterday"));
        assert!(read("epoch_ms", json!(true), &utc).is_err());
        assert!(read("%Y-%m-%d", json!("2024-13-01"), &utc).is_err());
        assert!(read("epoch_s", json!(1e300), &utc)
            .unwrap_err()
            .contains("out of range"));
        assert!(TimeFormat::parse("unix").unwrap_err().contains("epoch_s"));
        assert!(TimeFormat::parse("%Y-%").is_err());
    }
}
