//! The one template engine: names that follow a record — an index (`logs-{field:app}-{date}`), a topic
//! (`mirror.{topic}`), an object key (`{topic}/{date}/{topic}+{partition}+{start_offset}`). Literal text,
//! `{field:PATH}` (a value field or Kafka metadata, as the transform stage names them), and the placeholders
//! of the sink that uses the template ([`Placeholder`]). Every placeholder is a function of the record, so a
//! re-delivered record gets the same name.

use std::borrow::Cow;

use crate::staged::StagedRecord;
use crate::time::Zone;
use crate::value::{routing_text, Path};

/// The placeholders a sink's templates know besides `{field:PATH}`.
pub trait Placeholder: Copy + Eq + std::fmt::Debug + 'static {
    /// Each placeholder's name, as written between the braces.
    const NAMES: &'static [(&'static str, Self)];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(name, _)| name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<P> {
    Literal(String),
    Placeholder(P),
    /// `{field:PATH}`.
    Field(Path),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template<P> {
    parts: Vec<Part<P>>,
}

impl<P: Placeholder> Template<P> {
    pub fn parse(text: &str) -> Result<Template<P>, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or_else(|| {
                format!(
                    "`{text}`: unclosed `{{` at character {}",
                    text.len() - rest.len() + open + 1
                )
            })?;
            let name = &rest[open + 1..open + close];
            let known = P::NAMES.iter().find(|(n, _)| *n == name);
            parts.push(match (known, name.strip_prefix("field:")) {
                (Some((_, placeholder)), _) => Part::Placeholder(*placeholder),
                (None, Some(path)) if !path.is_empty() => {
                    Part::Field(Path::parse(path).map_err(|e| format!("`{text}`: {e}"))?)
                }
                _ => {
                    let known: Vec<String> = P::NAMES
                        .iter()
                        .map(|(n, _)| format!("{{{n}}}"))
                        .chain(["{field:NAME}".to_owned()])
                        .collect();
                    return Err(format!(
                        "`{text}`: unknown placeholder `{{{name}}}` (known: {})",
                        known.join(", ")
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub fn parts(&self) -> &[Part<P>] {
        &self.parts
    }

    pub fn has(&self, placeholder: P) -> bool {
        self.parts.contains(&Part::Placeholder(placeholder))
    }

    /// The value fields the template reads (metadata left out).
    pub fn fields_read(&self) -> Vec<Path> {
        let fields = self.parts.iter().filter_map(|p| match p {
            Part::Field(path @ Path::Field { .. }) => Some(path.clone()),
            _ => None,
        });
        fields.collect()
    }

    /// How many `{field:...}` placeholders there are.
    pub fn fields_len(&self) -> usize {
        self.parts.iter().filter(|p| matches!(p, Part::Field(_))).count()
    }

    /// The template's literal text, placeholders left out (to check the characters a target allows).
    pub fn literals(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Literal(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The literal text before the first placeholder.
    pub fn prefix(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(text)) => text,
            _ => "",
        }
    }

    /// The template rendered into `out`: literals as they are, each placeholder by `placeholder`, each
    /// `{field:...}` by `field` (which fails for a record that cannot name anything).
    pub fn render_with<E>(
        &self,
        out: &mut String,
        mut placeholder: impl FnMut(P, &mut String),
        mut field: impl FnMut(&Path, &mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(p) => placeholder(*p, out),
                Part::Field(path) => field(path, out)?,
            }
        }
        Ok(())
    }

    /// The name for `record`: placeholders by `placeholder`, field values through `clean` (what the target
    /// allows). An error names the field that is missing or cannot name anything.
    pub fn render(
        &self,
        record: &StagedRecord<'_>,
        zone: &Zone,
        clean: fn(&str) -> String,
        placeholder: impl FnMut(P, &mut String),
    ) -> Result<String, String> {
        let mut out = String::with_capacity(64);
        self.render_with(&mut out, placeholder, |path, out| {
            out.push_str(&clean(&field_text(path, record, zone)?));
            Ok::<(), String>(())
        })?;
        Ok(out)
    }
}

/// As written: `{date}`, `{field:app}`.
impl<P: Placeholder> std::fmt::Display for Part<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Literal(text) => f.write_str(text),
            Part::Placeholder(p) => write!(f, "{{{}}}", p.name()),
            Part::Field(path) => write!(f, "{{field:{path}}}"),
        }
    }
}

/// The text of `path` in `record` for a name (an index, a topic, an object key); an error names the field
/// that is missing or holds no text (an object, an array, null, "").
pub fn field_text<'r>(path: &Path, record: &StagedRecord<'r>, zone: &Zone) -> Result<Cow<'r, str>, String> {
    let value = record.field(path, zone)?;
    let text = match &value {
        Cow::Borrowed(value) => routing_text(value),
        Cow::Owned(value) => routing_text(value).map(|t| Cow::Owned(t.into_owned())),
    };
    text.filter(|t| !t.is_empty())
        .ok_or_else(|| format!("field `{path}` ({value}) cannot name a target"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, Record};

    fn keep(s: &str) -> String {
        s.to_owned()
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Dated {
        Date,
        Hour,
    }

    impl Placeholder for Dated {
        const NAMES: &'static [(&'static str, Self)] = &[("date", Dated::Date), ("hour", Dated::Hour)];
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Nothing {}

    impl Placeholder for Nothing {
        const NAMES: &'static [(&'static str, Self)] = &[];
    }

    fn dated(zone: &Zone, ms: i64) -> impl FnMut(Dated, &mut String) + '_ {
        move |p, out| {
            let t = zone.date_time(ms);
            out.push_str(&match p {
                Dated::Date => t.date(),
                Dated::Hour => format!("{:02}", t.hour),
            })
        }
    }

    #[test]
    fn renders_fields_metadata_and_zoned_dates() {
        let t = Template::<Dated>::parse("logs-{field:app}-{field:@partition}-{date}-{hour}").unwrap();
        assert!(t.fields_read() == [Path::parse("app").unwrap()] && t.has(Dated::Date));
        assert_eq!(t.prefix(), "logs-");
        let value = br#"{"app": "Pay", "n": 3, "o": {}, "e": ""}"#;
        let record = Record::new("t", 2, 0, None, None, Some(value));
        let record = StagedRecord::new(record, &Outcome::Original);
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(
            t.render(&record, &shanghai, keep, dated(&shanghai, 1_709_310_600_000)),
            Ok("logs-Pay-2-2024-03-02-00".to_owned())
        );
        let lower: fn(&str) -> String = |s| s.to_lowercase();
        assert_eq!(
            Template::<Nothing>::parse("{field:app}{field:n}")
                .unwrap()
                .render(&record, &shanghai, lower, |_, _| ()),
            Ok("pay3".to_owned())
        );
        for (field, error) in [
            ("x", "field `x` is missing"),
            ("o", "field `o` ({}) cannot name"),
            ("e", "field `e` (\"\")"),
        ] {
            let t = Template::<Nothing>::parse(&format!("{{field:{field}}}")).unwrap();
            let e = t.render(&record, &shanghai, keep, |_, _| ()).unwrap_err();
            assert!(e.starts_with(error), "{e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(Template::<Dated>::parse("a-{date")
            .unwrap_err()
            .contains("unclosed `{` at character 3"));
        assert!(Template::<Nothing>::parse("{date}")
            .unwrap_err()
            .contains("unknown placeholder `{date}` (known: {field:NAME})"));
        assert!(Template::<Dated>::parse("{field:}")
            .unwrap_err()
            .contains("unknown placeholder `{field:}` (known: {date}, {hour}, {field:NAME})"));
        assert!(Template::<Dated>::parse("{field:@nope}")
            .unwrap_err()
            .contains("not Kafka metadata"));
        assert!(Template::<Dated>::parse("plain").unwrap().fields_read().is_empty());
    }
}
