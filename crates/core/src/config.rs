//! Environment → typed configuration helpers. Every error names the variable; secrets' values never
//! appear in an error or a log.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;

type Lookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where configuration is read from: the process environment, or fixed pairs in tests.
pub struct Env {
    lookup: Lookup,
}

impl Env {
    pub fn process() -> Self {
        Env {
            lookup: Box::new(|name| std::env::var(name).ok()),
        }
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env {
            lookup: Box::new(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())),
        }
    }

    /// The trimmed value; unset and empty are the same.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    pub fn secret(&self, name: &str) -> Option<Secret> {
        (self.lookup)(name).filter(|v| !v.is_empty()).map(Secret)
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| ConfigError::new(name, format!("`{raw}` is not valid: {e}"))),
        }
    }

    /// A count with a lower bound: sizes, concurrency.
    pub fn at_least(&self, name: &str, default: usize, min: usize) -> Result<usize, ConfigError> {
        let value = self.parse_or(name, default)?;
        if value < min {
            return Err(ConfigError::new(name, format!("must be at least {min}")));
        }
        Ok(value)
    }

    /// A PEM certificate given as its text (starting `-----BEGIN`) or as a file path.
    pub fn pem(&self, name: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(pem) if pem.starts_with("-----BEGIN") => Ok(Some(pem.into_bytes())),
            Some(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| ConfigError::new(name, format!("cannot read `{path}`: {e}"))),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(name, format!("`{v}` is not a boolean (true/false)"))),
        }
    }

    /// One of `T`'s spellings (case-insensitive).
    pub fn choice<T: Choice>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => T::CHOICES
                .iter()
                .find(|(spelling, _)| spelling.eq_ignore_ascii_case(&v))
                .map(|&(_, choice)| choice)
                .ok_or_else(|| {
                    let spellings: Vec<&str> = T::CHOICES.iter().map(|(s, _)| *s).collect();
                    ConfigError::new(name, format!("`{v}` is not one of {}", spellings.join(", ")))
                }),
        }
    }

    /// A comma-separated list, items trimmed, empty items dropped; empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map_or_else(Vec::new, |v| split_list(&v))
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
pub trait Choice: Copy + 'static {
    const CHOICES: &'static [(&'static str, Self)];
}

/// A password or key: usable, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
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
        assert_eq!(env.choice("unset", Granularity::Day).unwrap(), Granularity::Day);
        let bad = env.choice("n", Granularity::Day).unwrap_err().to_string();
        assert!(bad.contains("`ten` is not one of day, hour"), "{bad}");
        assert_eq!(split_list(" a, b,,c ,"), ["a", "b", "c"]);
        assert!(env.list("unset").is_empty());
        assert_eq!(env.parse_or("empty", 7u32).unwrap(), 7);
        assert!(env.required("missing").unwrap_err().to_string().contains("missing"));
        assert!(Env::from_pairs(&[("n", "0")])
            .at_least("n", 4, 1)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        let pem = Env::from_pairs(&[("ca", "-----BEGIN CERTIFICATE-----"), ("path", "/nonexistent/ca.pem")]);
        assert!(pem.pem("ca").unwrap().is_some());
        assert!(pem.pem("path").unwrap_err().to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn secrets_do_not_print() {
        let env = Env::from_pairs(&[("pw", "hunter2")]);
        let secret = env.secret("pw").unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
