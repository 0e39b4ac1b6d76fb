//! Names that follow a record: `logs-{field:app}-{date}` for an index, `{field:region}` for a topic.
//! Every placeholder is a function of the record (its fields, metadata and record time), so a re-delivered
//! record gets the same name.

use std::borrow::Cow;

use crate::staged::StagedRecord;
use crate::time::Zone;
use crate::value::{routing_text, Path};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Path),
    /// `YYYY-MM-DD` of the record time in the zone.
    Date,
    /// `HH` of the record time in the zone.
    Hour,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// `dated`: whether `{date}` and `{hour}` may appear.
    pub fn parse(text: &str, dated: bool) -> Result<Template, String> {
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
            parts.push(match name {
                "date" if dated => Part::Date,
                "hour" if dated => Part::Hour,
                _ => match name.strip_prefix("field:") {
                    Some(path) if !path.is_empty() => Part::Field(Path::parse(path)?),
                    _ => {
                        let known = if dated {
                            "{field:NAME}, {date}, {hour}"
                        } else {
                            "{field:NAME}"
                        };
                        return Err(format!("`{text}`: unknown placeholder `{{{name}}}` (known: {known})"));
                    }
                },
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The value fields the template reads (metadata left out).
    pub fn fields_read(&self) -> Vec<Path> {
        let fields = self.parts.iter().filter_map(|p| match p {
            Part::Field(path @ Path::Field { .. }) => Some(path.clone()),
            _ => None,
        });
        fields.collect()
    }

    pub fn is_dated(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Date | Part::Hour))
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

    /// The name for `record` dated `time_ms`; field values pass through `clean` (what the target allows).
    /// An error names the field that is missing or cannot name anything.
    pub fn render(
        &self,
        record: &StagedRecord<'_>,
        time_ms: i64,
        zone: &Zone,
        clean: fn(&str) -> String,
    ) -> Result<String, String> {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        let time = self.is_dated().then(|| zone.date_time(time_ms));
        for part in &self.parts {
            match (part, &time) {
                (Part::Literal(text), _) => out.push_str(text),
                (Part::Date, Some(t)) => {
                    let _ = write!(out, "{:04}-{:02}-{:02}", t.year, t.month, t.day);
                }
                (Part::Hour, Some(t)) => {
                    let _ = write!(out, "{:02}", t.hour);
                }
                (Part::Date | Part::Hour, None) => unreachable!("a dated template has a time"),
                (Part::Field(path), _) => out.push_str(&clean(&field_text(path, record, zone)?)),
            }
        }
        Ok(out)
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

    #[test]
    fn renders_fields_metadata_and_zoned_dates() {
        let t = Template::parse("logs-{field:app}-{field:@partition}-{date}-{hour}", true).unwrap();
        assert!(t.fields_read() == [Path::parse("app").unwrap()] && t.is_dated());
        assert_eq!(t.prefix(), "logs-");
        let value = br#"{"app": "Pay", "n": 3, "o": {}, "e": ""}"#;
        let record = Record::new("t", 2, 0, None, None, Some(value));
        let record = StagedRecord::new(record, &Outcome::Original);
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(
            t.render(&record, 1_709_310_600_000, &shanghai, keep),
            Ok("logs-Pay-2-2024-03-02-00".to_owned())
        );
        let lower: fn(&str) -> String = |s| s.to_lowercase();
        assert_eq!(
            Template::parse("{field:app}{field:n}", false)
                .unwrap()
                .render(&record, 0, &shanghai, lower),
            Ok("pay3".to_owned())
        );
        for (field, error) in [
            ("x", "field `x` is missing"),
            ("o", "field `o` ({}) cannot name"),
            ("e", "field `e` (\"\")"),
        ] {
            let t = Template::parse(&format!("{{field:{field}}}"), false).unwrap();
            let e = t.render(&record, 0, &shanghai, keep).unwrap_err();
            assert!(e.starts_with(error), "{e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(Template::parse("a-{date", true)
            .unwrap_err()
            .contains("unclosed `{` at character 3"));
        assert!(Template::parse("{date}", false)
            .unwrap_err()
            .contains("unknown placeholder `{date}`"));
        assert!(Template::parse("{field:}", true)
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(Template::parse("{field:@nope}", true)
            .unwrap_err()
            .contains("not Kafka metadata"));
        assert!(Template::parse("plain", true).unwrap().fields_read().is_empty());
    }
}
