//! Object keys from a template. Every placeholder is a function of the object's first record, so the same
//! records always get the same key and a re-delivered batch or a re-run overwrites instead of duplicating.

use ckafka_dump_core::dating::Granularity;
use ckafka_dump_core::time::DateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Instance,
    Topic,
    TopicId,
    Partition,
    StartOffset,
    Date,
    Hour,
    Timestamp,
}

const FIELDS: [(&str, Field); 8] = [
    ("instance", Field::Instance),
    ("topic", Field::Topic),
    ("topic_id", Field::TopicId),
    ("partition", Field::Partition),
    ("start_offset", Field::StartOffset),
    ("date", Field::Date),
    ("hour", Field::Hour),
    ("timestamp", Field::Timestamp),
];

impl Field {
    /// Renders in a fixed number of characters: a date, an hour, a zero-padded offset.
    fn fixed_width(self) -> bool {
        matches!(self, Field::Date | Field::Hour | Field::StartOffset)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate(Vec<Part>);

/// What a key is made of: the object's first record and the function's naming settings.
#[derive(Debug, Clone, Copy)]
pub struct KeyFields<'a> {
    pub instance: &'a str,
    pub topic: &'a str,
    pub topic_id: &'a str,
    pub partition: i32,
    pub start_offset: i64,
    /// The first record's timestamp (epoch ms).
    pub timestamp_ms: i64,
}

impl KeyTemplate {
    /// The console's `instance-id/topic-id/date/...` shape, ending in what makes the key unique and stable.
    pub const DEFAULT: &'static str = "{instance}/{topic_id}/{date}/{topic}+{partition}+{start_offset}";

    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{template}`: unclosed `{{`"))?;
            let name = &rest[open + 1..open + close];
            let field = FIELDS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let known: Vec<_> = FIELDS.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                    format!(
                        "`{template}`: unknown placeholder `{{{name}}}` (known: {})",
                        known.join(" ")
                    )
                })?;
            parts.push(Part::Field(field));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let has = |f: Field| parts.contains(&Part::Field(f));
        if !(has(Field::Partition) && has(Field::StartOffset) && (has(Field::Topic) || has(Field::TopicId))) {
            return Err(format!(
                "`{template}` must contain {{partition}}, {{start_offset}} and {{topic}} or {{topic_id}}, so that each object has its own stable key"
            ));
        }
        if template.starts_with('/') {
            return Err(format!("`{template}` must not start with `/`"));
        }
        // `{topic}{partition}` renders `t1`+`23` and `t12`+`3` alike: a placeholder whose width varies needs
        // a literal after it (or the end) so that keys of different records cannot collide.
        for pair in parts.windows(2) {
            if let [Part::Field(left), Part::Field(right)] = pair {
                if !left.fixed_width() {
                    let name = |f: &Field| FIELDS.iter().find(|(_, x)| x == f).map_or("?", |(n, _)| n);
                    return Err(format!(
                        "`{template}`: {{{}}}{{{}}} needs a separator between them (e.g. `/`, `+` or `-`), or keys of different records could be the same",
                        name(left),
                        name(right)
                    ));
                }
            }
        }
        Ok(KeyTemplate(parts))
    }

    /// The finest time the keys render (none: keys do not depend on time).
    pub fn granularity(&self) -> Option<Granularity> {
        let has = |f: Field| self.0.contains(&Part::Field(f));
        if has(Field::Timestamp) {
            Some(Granularity::Millisecond)
        } else if has(Field::Hour) {
            Some(Granularity::Hour)
        } else if has(Field::Date) {
            Some(Granularity::Day)
        } else {
            None
        }
    }

    /// `prefix` + the rendered template + `extension`.
    pub fn render(&self, prefix: &str, fields: &KeyFields<'_>, extension: &str) -> String {
        use std::fmt::Write;
        let time = DateTime::from_epoch_ms(fields.timestamp_ms);
        let mut key = String::with_capacity(prefix.len() + 96);
        key.push_str(prefix);
        for part in &self.0 {
            let _ = match part {
                Part::Literal(text) => write!(key, "{text}"),
                Part::Field(Field::Instance) => write!(key, "{}", fields.instance),
                Part::Field(Field::Topic) => write!(key, "{}", fields.topic),
                Part::Field(Field::TopicId) => write!(key, "{}", fields.topic_id),
                Part::Field(Field::Partition) => write!(key, "{}", fields.partition),
                // 19 digits hold any i64 offset, so keys sort in offset order.
                Part::Field(Field::StartOffset) => write!(key, "{:019}", fields.start_offset),
                Part::Field(Field::Date) => write!(key, "{}", time.date()),
                Part::Field(Field::Hour) => write!(key, "{:02}", time.hour),
                Part::Field(Field::Timestamp) => write!(key, "{}", fields.timestamp_ms),
            };
        }
        key.push_str(extension);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS_2018: KeyFields<'static> = KeyFields {
        instance: "ckafka-80o10xxx",
        topic: "orders",
        topic_id: "topic-abc",
        partition: 3,
        start_offset: 42,
        timestamp_ms: 1_545_084_000_000, // 2018-12-17T22:00:00Z
    };

    #[test]
    fn default_template_keeps_the_console_shape_and_ends_in_partition_and_offset() {
        let key = KeyTemplate::parse(KeyTemplate::DEFAULT)
            .unwrap()
            .render("dump/", &FIELDS_2018, ".txt");
        assert_eq!(
            key,
            "dump/ckafka-80o10xxx/topic-abc/2018-12-17/orders+3+0000000000000000042.txt"
        );
    }

    #[test]
    fn every_placeholder_renders() {
        let t = KeyTemplate::parse("{topic}/{date}/{hour}/{timestamp}-{partition}-{start_offset}").unwrap();
        assert_eq!(
            t.render("", &FIELDS_2018, ".jsonl.gz"),
            "orders/2018-12-17/22/1545084000000-3-0000000000000000042.jsonl.gz"
        );
    }

    #[test]
    fn the_granularity_is_the_finest_time_rendered() {
        let of = |t: &str| KeyTemplate::parse(t).unwrap().granularity();
        assert_eq!(of(KeyTemplate::DEFAULT), Some(Granularity::Day));
        assert_eq!(
            of("{date}/{hour}/{topic}/{partition}/{start_offset}"),
            Some(Granularity::Hour)
        );
        assert_eq!(
            of("{timestamp}-{topic}-{partition}-{start_offset}"),
            Some(Granularity::Millisecond)
        );
        assert_eq!(of("{topic}/{partition}/{start_offset}"), None);
    }

    #[test]
    fn fixed_width_placeholders_may_touch_the_next() {
        for good in [
            "{topic}/{date}{hour}/{partition}+{start_offset}",
            "{topic}+{partition}+{start_offset}{timestamp}",
        ] {
            assert!(KeyTemplate::parse(good).is_ok(), "{good}");
        }
        let bad = KeyTemplate::parse("{topic}{partition}{start_offset}").unwrap_err();
        assert!(bad.contains("{topic}{partition} needs a separator"), "{bad}");
    }

    #[test]
    fn templates_that_could_collide_or_do_not_parse_are_refused() {
        for bad in [
            "{topic}/{date}",
            "{topic}/{partition}",
            "{date}/{partition}/{start_offset}",
            "{topic}/{nope}/{partition}{start_offset}",
            "{topic",
            "/{topic}/{partition}/{start_offset}",
            "{topic}{partition}{start_offset}",
            "{topic}/{partition}{start_offset}",
            "{instance}{topic}/{partition}/{start_offset}",
        ] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
