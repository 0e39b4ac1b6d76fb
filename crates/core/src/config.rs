//! Environment → typed configuration helpers. Every error names the variable; secrets' values never
//! appear in an error or a log.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// A variable's value: unset (`None`), or its text, or `Err` when it is not UTF-8.
type Lookup = Box<dyn Fn(&str) -> Option<Result<String, ()>> + Send + Sync>;

/// Where configuration is read from: the process environment, or fixed pairs in tests.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    pub fn process() -> Self {
        Env {
            lookup: Box::new(|name| std::env::var_os(name).map(|v| v.into_string().map_err(drop))),
        }
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env {
            lookup: Box::new(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| Ok(v.clone()))),
        }
    }

    /// The trimmed value; unset and empty are the same. A value that is not UTF-8, or holds a control
    /// character (a newline pasted into a console form), is refused: it would otherwise be taken as unset or
    /// break a request header later.
    pub fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.raw(name)?.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)?
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// Taken as it is, untrimmed; its value never appears in an error.
    pub fn secret(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        Ok(self.untrimmed(name)?.map(Secret))
    }

    /// Taken as it is (a delimiter may be a space or a tab); unset and empty are the same.
    pub fn untrimmed(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.raw(name)?.filter(|v| !v.is_empty()))
    }

    fn raw(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match (self.lookup)(name) {
            None => Ok(None),
            Some(Err(())) => Err(ConfigError::new(name, "is not valid UTF-8")),
            Some(Ok(value)) => match value.trim().char_indices().find(|(_, c)| c.is_control()) {
                Some((at, c)) => Err(ConfigError::new(
                    name,
                    format!("holds a control character ({:?}) at byte {at}; remove it", c),
                )),
                None => Ok(Some(value)),
            },
        }
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name)? {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError::new(name, format!("`{raw}` is not valid: {e}"))),
        }
    }

    /// A count, size or time in `range` (what the target accepts): sizes, concurrency, timeouts.
    pub fn within(&self, name: &str, default: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
        let value = self.parse_or(name, default)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(
                name,
                format!("{value} is out of range: must be {} to {}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    /// [`Env::within`] for sizes and counts held in memory.
    pub fn size_within(&self, name: &str, default: usize, range: RangeInclusive<usize>) -> Result<usize, ConfigError> {
        let value = self.within(name, default as u64, *range.start() as u64..=*range.end() as u64)?;
        Ok(value as usize)
    }

    /// A time in milliseconds, from 1 ms to `max`.
    pub fn millis_within(&self, name: &str, default: Duration, max: Duration) -> Result<Duration, ConfigError> {
        let ms = self.within(name, default.as_millis() as u64, 1..=max.as_millis() as u64)?;
        Ok(Duration::from_millis(ms))
    }

    /// A PEM certificate given as its text (starting `-----BEGIN`) or as a file path.
    pub fn pem(&self, name: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        match self.get(name)? {
            None => Ok(None),
            Some(pem) if pem.starts_with("-----BEGIN") => Ok(Some(pem.into_bytes())),
            Some(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| ConfigError::new(name, format!("cannot read `{path}`: {e}"))),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name)?.map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(name, format!("`{v}` is not a boolean (true/false)"))),
        }
    }

    /// One of `T`'s spellings (case-insensitive).
    pub fn choice<T: Choice>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.get(name)? {
            None => Ok(default),
            Some(v) => T::from_spelling(&v).map_err(|reason| ConfigError::new(name, reason)),
        }
    }

    /// A comma-separated list, items trimmed, empty items dropped; empty when unset.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        Ok(self.get(name)?.map_or_else(Vec::new, |v| split_list(&v)))
    }
}

/// `a, b,,c` → `[a, b, c]`.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// An enum set by one variable: its spellings, the first of each value being the canonical one.
pub trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];

    /// The canonical spelling of this value (for messages).
    /// The choice spelled `value` (any case), or why not.
    fn from_spelling(value: &str) -> Result<Self, String> {
        Self::CHOICES
            .iter()
            .find(|(spelling, _)| spelling.eq_ignore_ascii_case(value))
            .map(|&(_, choice)| choice)
            .ok_or_else(|| {
                let spellings: Vec<&str> = Self::CHOICES.iter().map(|(s, _)| *s).collect();
                format!("`{value}` is not one of {}", spellings.join(", "))
            })
    }

    fn spelling(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(_, choice)| *choice == self)
            .map_or("", |(spelling, _)| spelling)
    }
}

/// A password or key: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_variable_and_value() {
        let env = Env::from_pairs(&[("n", "ten"), ("b", "maybe"), ("c", "HOUR"), ("empty", " ")]);
        let e = env.parse_or::<u32>("n", 1).unwrap_err();
        assert_eq!(e.var, "n");
        assert!(e.to_string().contains("`ten`"), "{e}");
        assert!(env
            .bool_or("b", true)
            .unwrap_err()
            .to_string()
            .contains("environment variable b"));
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Granularity {
            Day,
            Hour,
        }
        impl Choice for Granularity {
            const CHOICES: &'static [(&'static str, Self)] = &[("day", Granularity::Day), ("hour", Granularity::Hour)];
        }
        assert_eq!(env.choice("c", Granularity::Day).unwrap(), Granularity::Hour);
        assert_eq!(Granularity::Hour.spelling(), "hour");
        assert_eq!(env.choice("unset", Granularity::Day).unwrap(), Granularity::Day);
        let bad = env.choice("n", Granularity::Day).unwrap_err().to_string();
        assert!(bad.contains("`ten` is not one of day, hour"), "{bad}");
        assert_eq!(split_list(" a, b,,c ,"), ["a", "b", "c"]);
        assert!(env.list("unset").unwrap().is_empty());
        assert_eq!(env.parse_or("empty", 7u32).unwrap(), 7);
        assert!(env.required("missing").unwrap_err().to_string().contains("missing"));
        assert!(Env::from_pairs(&[("n", "0")])
            .within("n", 4, 1..=10)
            .unwrap_err()
            .to_string()
            .contains("0 is out of range: must be 1 to 10"));
        assert!(Env::from_pairs(&[("n", "40000000000")])
            .size_within("n", 4, 1..=1 << 20)
            .is_err());
        assert_eq!(
            Env::from_pairs(&[("t", "1500")]).millis_within("t", Duration::from_secs(1), Duration::from_secs(900)),
            Ok(Duration::from_millis(1500))
        );
        let pem = Env::from_pairs(&[("ca", "-----BEGIN CERTIFICATE-----"), ("path", "/nonexistent/ca.pem")]);
        assert!(pem.pem("ca").unwrap().is_some());
        assert!(pem.pem("path").unwrap_err().to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn control_characters_and_non_utf8_values_are_refused() {
        let env = Env::from_pairs(&[("region", "ap-guang\nzhou"), ("id", " AKID1\n"), ("key", "sk\r\n-1")]);
        let e = env.get("region").unwrap_err().to_string();
        assert!(
            e.contains("region") && e.contains("control character ('\\n') at byte 8"),
            "{e}"
        );
        assert_eq!(
            env.get("id").unwrap().as_deref(),
            Some("AKID1"),
            "a trailing newline is trimmed"
        );
        let secret = env.secret("key").unwrap_err().to_string();
        assert!(!secret.contains("sk"), "{secret}");
        let not_utf8 = Env {
            lookup: Box::new(|_| Some(Err(()))),
        };
        assert_eq!(
            not_utf8.get("topic_id").unwrap_err().to_string(),
            "environment variable topic_id: is not valid UTF-8"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let env = Env::from_pairs(&[("pw", "hunter2")]);
        let secret = env.secret("pw").unwrap().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
