//! Environment → typed configuration. Every variable a function reads is declared once, with [`variables!`]: a
//! [`Var`] — its name, the names it is also read under, its kind with the default and range the parser applies —
//! read only through that declaration, and beside it a one-line doc ([`Documented`]). The documentation's
//! configuration tables are rendered from the same declarations ([`table`]), and a test per function fails when
//! its page and its declarations differ. The docs are kept apart from the `Var`s so binaries do not carry them.
//! Every error names the variable; secrets' values never appear in an error or a log.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// One environment variable, declared once.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    /// Older names read when `name` is unset (a variable's first name, a template's spelling).
    pub aliases: &'static [&'static str],
    pub kind: Kind,
}

/// A variable with what it does, for the documentation.
#[derive(Debug, Clone, Copy)]
pub struct Documented {
    pub var: &'static Var,
    pub doc: &'static str,
}

/// What a variable holds, with the default and range its reader applies.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Text, trimmed; what applies when it is unset.
    Text(Unset),
    /// Text taken as it is (a delimiter may be a space); what applies when it is unset.
    Untrimmed(Unset),
    /// A password or key: never shown.
    Secret(Unset),
    /// A comma-separated list.
    List(Unset),
    /// A PEM certificate: its text, or a file path.
    Pem,
    Flag {
        default: bool,
    },
    /// A count or size from `min` to `max`.
    Count {
        default: u64,
        min: u64,
        max: u64,
    },
    /// Milliseconds from 1 to `max`.
    Millis {
        default: u64,
        max: u64,
    },
    /// One of a [`Choice`]'s spellings.
    Choice {
        default: &'static str,
        spellings: fn() -> Vec<&'static str>,
    },
}

/// What applies when a text variable is unset.
#[derive(Debug, Clone, Copy)]
pub enum Unset {
    Required,
    Nothing,
    /// Described: `from the COS domain, else us-east-1`, `required with csv`.
    Means(&'static str),
    /// This value ([`Env::text`] gives it).
    Default(&'static str),
}

impl Var {
    /// The default column of the documentation.
    pub fn default_text(&self) -> String {
        let unset = |u: Unset| match u {
            Unset::Required => "required".to_owned(),
            Unset::Nothing => "unset".to_owned(),
            Unset::Means(text) => text.to_owned(),
            Unset::Default(value) => format!("`{value}`"),
        };
        match self.kind {
            Kind::Text(u) | Kind::Untrimmed(u) | Kind::Secret(u) | Kind::List(u) => unset(u),
            Kind::Pem => "unset".to_owned(),
            Kind::Flag { default } => format!("`{default}`"),
            Kind::Count { default, .. } | Kind::Millis { default, .. } => format!("`{default}`"),
            Kind::Choice { default, .. } => format!("`{default}`"),
        }
    }

    /// The effect column: `doc`, then what the kind allows.
    pub fn effect_text(&self, doc: &str) -> String {
        let mut text = doc.to_owned();
        match self.kind {
            Kind::Count { min, max, .. } => text.push_str(&format!(" From {min} to {max}.")),
            Kind::Millis { max, .. } => text.push_str(&format!(" From 1 to {max} ms.")),
            Kind::Choice { spellings, .. } => {
                let spellings: Vec<String> = spellings().iter().map(|s| format!("`{s}`")).collect();
                text.push_str(&format!(" One of {}.", spellings.join(", ")));
            }
            Kind::Secret(_) => text.push_str(" Never logged."),
            _ => {}
        }
        text
    }
}

/// The spellings of a [`Choice`], for [`Kind::Choice`].
pub fn spellings<T: Choice>() -> Vec<&'static str> {
    T::CHOICES.iter().map(|(spelling, _)| *spelling).collect()
}

/// Declares variables: each `NAME = Var::new("name", kind, "doc") [.also(&["older"])];` becomes a constant
/// [`Var`], and the list names them all with their docs, so no declared variable is left out of the
/// documentation.
#[macro_export]
macro_rules! variables {
    (
        $(#[$list_doc:meta])* $list:ident;
        $($(#[$doc:meta])* $name:ident = Var::new($var:expr, $kind:expr, $text:expr $(,)?) $(.also($aliases:expr))?;)+
    ) => {
        $(
            $(#[$doc])*
            pub const $name: $crate::config::Var = $crate::config::Var {
                name: $var,
                aliases: $crate::variables!(@aliases $($aliases)?),
                kind: $kind,
            };
        )+
        $(#[$list_doc])*
        pub const $list: &[$crate::config::Documented] = &[$($crate::config::Documented { var: &$name, doc: $text }),+];
    };
    (@aliases) => { &[] };
    (@aliases $aliases:expr) => { $aliases };
}

/// The configuration table of `vars`, as the documentation shows it.
pub fn table<'v>(vars: impl IntoIterator<Item = &'v Documented>) -> String {
    let mut out = String::from("| variable | default | effect |\n|---|---|---|\n");
    for &Documented { var, doc } in vars {
        let mut names = format!("`{}`", var.name);
        for alias in var.aliases {
            names.push_str(&format!(" (also `{alias}`)"));
        }
        let cell = |text: String| text.replace('|', "\\|");
        out.push_str(&format!(
            "| {names} | {} | {} |\n",
            cell(var.default_text()),
            cell(var.effect_text(doc))
        ));
    }
    out
}

/// Replaces the block of `page` between `<!-- configuration: NAME -->` and `<!-- /configuration -->` with
/// `table`; `None` when the page has no such block.
pub fn with_table(page: &str, name: &str, table: &str) -> Option<String> {
    let open = format!("<!-- configuration: {name} -->\n");
    let start = page.find(&open)? + open.len();
    let end = start + page[start..].find("<!-- /configuration -->")?;
    Some(format!("{}{table}{}", &page[..start], &page[end..]))
}

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
    /// break a request header later. An unset variable is read under its other names, in order.
    pub fn get(&self, var: &Var) -> Result<Option<String>, ConfigError> {
        Ok(self
            .untrimmed(var)?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()))
    }

    /// [`Env::get`], or the declared [`Unset::Default`].
    pub fn text(&self, var: &Var) -> Result<Option<String>, ConfigError> {
        Ok(self.get(var)?.or_else(|| match var.kind {
            Kind::Text(Unset::Default(value)) => Some(value.to_owned()),
            _ => None,
        }))
    }

    pub fn required(&self, var: &Var) -> Result<String, ConfigError> {
        self.get(var)?
            .ok_or_else(|| ConfigError::new(var.name, "is required but not set"))
    }

    /// Taken as it is, untrimmed; its value never appears in an error.
    pub fn secret(&self, var: &Var) -> Result<Option<Secret>, ConfigError> {
        Ok(self.untrimmed(var)?.map(Secret))
    }

    /// Taken as it is (a delimiter may be a space or a tab); unset and empty are the same.
    pub fn untrimmed(&self, var: &Var) -> Result<Option<String>, ConfigError> {
        for name in std::iter::once(&var.name).chain(var.aliases) {
            if let Some(value) = self.raw(name)?.filter(|v| !v.trim().is_empty()) {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn raw(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
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

    /// A value of any type that parses from text; `None` when unset.
    pub fn parse<T>(&self, var: &Var) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(var)? {
            None => Ok(None),
            Some(raw) => raw
                .parse()
                .map(Some)
                .map_err(|e| ConfigError::new(var.name, format!("`{raw}` is not valid: {e}"))),
        }
    }

    /// A [`Kind::Count`]: a count, size or port within what the target accepts.
    pub fn count(&self, var: &Var) -> Result<u64, ConfigError> {
        let Kind::Count { default, min, max } = var.kind else {
            panic!("{} is not declared as a count", var.name)
        };
        let value = self.parse(var)?.unwrap_or(default);
        if !(min..=max).contains(&value) {
            return Err(ConfigError::new(
                var.name,
                format!("{value} is out of range: must be {min} to {max}"),
            ));
        }
        Ok(value)
    }

    /// [`Env::count`] for sizes and counts held in memory.
    pub fn size(&self, var: &Var) -> Result<usize, ConfigError> {
        self.count(var).map(|n| n as usize)
    }

    /// A [`Kind::Millis`]: a time in milliseconds, from 1 ms to its maximum.
    pub fn millis(&self, var: &Var) -> Result<Duration, ConfigError> {
        let Kind::Millis { default, max } = var.kind else {
            panic!("{} is not declared as milliseconds", var.name)
        };
        let ms = self.parse(var)?.unwrap_or(default);
        if !(1..=max).contains(&ms) {
            return Err(ConfigError::new(
                var.name,
                format!("{ms} is out of range: must be 1 to {max}"),
            ));
        }
        Ok(Duration::from_millis(ms))
    }

    /// A PEM certificate given as its text (starting `-----BEGIN`) or as a file path.
    pub fn pem(&self, var: &Var) -> Result<Option<Vec<u8>>, ConfigError> {
        match self.get(var)? {
            None => Ok(None),
            Some(pem) if pem.starts_with("-----BEGIN") => Ok(Some(pem.into_bytes())),
            Some(path) => std::fs::read(&path)
                .map(Some)
                .map_err(|e| ConfigError::new(var.name, format!("cannot read `{path}`: {e}"))),
        }
    }

    /// A [`Kind::Flag`].
    pub fn flag(&self, var: &Var) -> Result<bool, ConfigError> {
        let Kind::Flag { default } = var.kind else {
            panic!("{} is not declared as a flag", var.name)
        };
        match self.get(var)?.map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ConfigError::new(
                var.name,
                format!("`{v}` is not a boolean (true/false)"),
            )),
        }
    }

    /// A [`Kind::Choice`]: one of `T`'s spellings (case-insensitive), its declared default when unset.
    pub fn choice<T: Choice>(&self, var: &Var) -> Result<T, ConfigError> {
        let Kind::Choice { default, .. } = var.kind else {
            panic!("{} is not declared as a choice", var.name)
        };
        match self.get(var)? {
            None => Ok(T::from_spelling(default).expect("a declared default is one of the spellings")),
            Some(v) => T::from_spelling(&v).map_err(|reason| ConfigError::new(var.name, reason)),
        }
    }

    /// A [`Kind::Choice`] whose default follows from other settings (`None` when unset).
    pub fn choice_given<T: Choice>(&self, var: &Var) -> Result<Option<T>, ConfigError> {
        match self.get(var)? {
            None => Ok(None),
            Some(v) => T::from_spelling(&v)
                .map(Some)
                .map_err(|reason| ConfigError::new(var.name, reason)),
        }
    }

    /// A comma-separated list, items trimmed, empty items dropped; empty when unset.
    pub fn list(&self, var: &Var) -> Result<Vec<String>, ConfigError> {
        Ok(self.get(var)?.map_or_else(Vec::new, |v| split_list(&v)))
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

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Granularity {
        Day,
        Hour,
    }

    impl Choice for Granularity {
        const CHOICES: &'static [(&'static str, Self)] = &[("day", Granularity::Day), ("hour", Granularity::Hour)];
    }

    crate::variables! {
        ALL;
        N = Var::new("n", Kind::Count { default: 4, min: 1, max: 10 }, "A count.");
        B = Var::new("b", Kind::Flag { default: true }, "A flag.");
        C = Var::new("c", Kind::Choice { default: "day", spellings: spellings::<Granularity> }, "A choice.");
        T = Var::new("t", Kind::Millis { default: 1000, max: 900_000 }, "A time.");
        L = Var::new("l", Kind::List(Unset::Nothing), "A list.");
        R = Var::new("r", Kind::Text(Unset::Required), "Text.").also(&["old_r"]);
        PW = Var::new("pw", Kind::Secret(Unset::Nothing), "A password.");
        CA = Var::new("ca", Kind::Pem, "A CA.");
    }

    #[test]
    fn values_are_read_through_their_declarations_and_errors_name_the_variable() {
        let env = Env::from_pairs(&[
            ("n", "ten"),
            ("b", "maybe"),
            ("c", "HOUR"),
            ("t", "1500"),
            ("old_r", " x "),
        ]);
        let e = env.count(&N).unwrap_err();
        assert_eq!(e.var, "n");
        assert!(e.to_string().contains("`ten`"), "{e}");
        assert!(env.flag(&B).unwrap_err().to_string().contains("environment variable b"));
        assert_eq!(env.choice::<Granularity>(&C).unwrap(), Granularity::Hour);
        assert_eq!(Granularity::Hour.spelling(), "hour");
        assert_eq!(env.millis(&T), Ok(Duration::from_millis(1500)));
        assert_eq!(env.required(&R).unwrap(), "x", "read under its other name, trimmed");
        assert!(env.list(&L).unwrap().is_empty());
        let unset = Env::from_pairs(&[]);
        assert_eq!(
            (unset.count(&N), unset.flag(&B), unset.choice::<Granularity>(&C)),
            (Ok(4), Ok(true), Ok(Granularity::Day)),
            "the declared defaults"
        );
        assert!(unset.required(&R).unwrap_err().to_string().contains("r: is required"));
        let bad = Env::from_pairs(&[("c", "week")])
            .choice::<Granularity>(&C)
            .unwrap_err()
            .to_string();
        assert!(bad.contains("`week` is not one of day, hour"), "{bad}");
        assert!(Env::from_pairs(&[("n", "0")])
            .count(&N)
            .unwrap_err()
            .to_string()
            .contains("0 is out of range: must be 1 to 10"));
        assert_eq!(split_list(" a, b,,c ,"), ["a", "b", "c"]);
        let pem = Env::from_pairs(&[("ca", "-----BEGIN CERTIFICATE-----")]);
        assert!(pem.pem(&CA).unwrap().is_some());
        let missing = Env::from_pairs(&[("ca", "/nonexistent/ca.pem")])
            .pem(&CA)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("/nonexistent/ca.pem"), "{missing}");
    }

    #[test]
    fn the_table_shows_defaults_ranges_choices_and_other_names() {
        let table = table(ALL);
        assert!(table.contains("| `n` | `4` | A count. From 1 to 10. |"), "{table}");
        assert!(
            table.contains("| `c` | `day` | A choice. One of `day`, `hour`. |"),
            "{table}"
        );
        assert!(table.contains("| `r` (also `old_r`) | required | Text. |"), "{table}");
        assert!(
            table.contains("| `pw` | unset | A password. Never logged. |"),
            "{table}"
        );
        let page = "a\n<!-- configuration: x -->\nold\n<!-- /configuration -->\nb";
        assert_eq!(
            with_table(page, "x", "new\n").unwrap(),
            "a\n<!-- configuration: x -->\nnew\n<!-- /configuration -->\nb"
        );
    }

    #[test]
    fn control_characters_and_non_utf8_values_are_refused() {
        let var = |name, kind| Var {
            name,
            aliases: &[],
            kind,
        };
        let region = var("region", Kind::Text(Unset::Nothing));
        let id = var("id", Kind::Text(Unset::Nothing));
        let key = var("key", Kind::Secret(Unset::Nothing));
        let env = Env::from_pairs(&[("region", "ap-guang\nzhou"), ("id", " AKID1\n"), ("key", "sk\r\n-1")]);
        let e = env.get(&region).unwrap_err().to_string();
        assert!(
            e.contains("region") && e.contains("control character ('\\n') at byte 8"),
            "{e}"
        );
        assert_eq!(
            env.get(&id).unwrap().as_deref(),
            Some("AKID1"),
            "a trailing newline is trimmed"
        );
        let secret = env.secret(&key).unwrap_err().to_string();
        assert!(!secret.contains("sk"), "{secret}");
        let not_utf8 = Env {
            lookup: Box::new(|_| Some(Err(()))),
        };
        let topic_id = var("topic_id", Kind::Text(Unset::Nothing));
        assert_eq!(
            not_utf8.get(&topic_id).unwrap_err().to_string(),
            "environment variable topic_id: is not valid UTF-8"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let env = Env::from_pairs(&[("pw", "hunter2")]);
        let secret = env.secret(&PW).unwrap().unwrap();
        assert_eq!(secret.expose(), "hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
