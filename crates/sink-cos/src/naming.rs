//! Every object key to-cos makes, and the rules they keep: data objects from the key template, dead-letter
//! objects, and the bookkeeping beside the data (checkpoints, written offsets, dating ledgers, leases).
//!
//! Every placeholder of the key template is a function of the object's first record, so the same records
//! always get the same key and a re-delivered batch or a re-run overwrites instead of duplicating.
//! `{field:NAME}` routes records: those of one topic-partition with different values go to different
//! objects, each still keyed by its own first offset.

use ckafka_dump_core::dating::Granularity;
use ckafka_dump_core::template::{field_text, Part, Placeholder, Template};
use ckafka_dump_core::time::Zone;
use ckafka_dump_core::value::Path;
use ckafka_dump_core::{Record, StagedRecord};

use crate::lease::Fenced;

/// `object_key_template`'s placeholders besides `{field:NAME}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    Instance,
    Topic,
    TopicId,
    Partition,
    StartOffset,
    Date,
    Hour,
    Timestamp,
}

impl Placeholder for KeyPart {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("instance", KeyPart::Instance),
        ("topic", KeyPart::Topic),
        ("topic_id", KeyPart::TopicId),
        ("partition", KeyPart::Partition),
        ("start_offset", KeyPart::StartOffset),
        ("date", KeyPart::Date),
        ("hour", KeyPart::Hour),
        ("timestamp", KeyPart::Timestamp),
    ];
}

impl KeyPart {
    /// Renders in a fixed number of characters: a date, an hour, a zero-padded offset.
    fn fixed_width(self) -> bool {
        matches!(self, KeyPart::Date | KeyPart::Hour | KeyPart::StartOffset)
    }
}

/// The texts a record's `{field:NAME}` placeholders render, in template order: records of one
/// topic-partition with the same route share objects.
pub type Route = Vec<String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate(Template<KeyPart>);

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
    /// Where `{date}` and `{hour}` are read.
    pub zone: &'a Zone,
}

impl KeyTemplate {
    /// The console's `instance-id/topic-id/date/...` shape, ending in what makes the key unique and stable.
    pub const DEFAULT: &'static str = "{instance}/{topic_id}/{date}/{topic}+{partition}+{start_offset}";

    pub fn parse(template: &str) -> Result<Self, String> {
        let parsed = Template::<KeyPart>::parse(template)?;
        let parts = parsed.parts();
        let has = |p: KeyPart| parsed.has(p);
        if !(has(KeyPart::Partition) && has(KeyPart::StartOffset) && (has(KeyPart::Topic) || has(KeyPart::TopicId))) {
            return Err(format!(
                "`{template}` must contain {{partition}}, {{start_offset}} and {{topic}} or {{topic_id}}, so that each object has its own stable key"
            ));
        }
        if template.starts_with('/') {
            return Err(format!("`{template}` must not start with `/`"));
        }
        if let Some(segment) = bad_segment(template) {
            return Err(format!(
                "`{template}` has a path segment `{segment}`: segments between `/` must not be empty, `.` or `..`"
            ));
        }
        // `{topic}{partition}` renders `t1`+`23` and `t12`+`3` alike: a placeholder whose width varies needs
        // a literal after it (or the end) so that keys of different records cannot collide.
        for pair in parts.windows(2) {
            if let [left, right] = pair {
                let left_fixed =
                    matches!(left, Part::Literal(_)) || matches!(left, Part::Placeholder(p) if p.fixed_width());
                if !left_fixed && !matches!(right, Part::Literal(_)) {
                    return Err(format!(
                        "`{template}`: {left}{right} needs a separator between them (e.g. `/`, `+` or `-`), or keys of different records could be the same"
                    ));
                }
            }
        }
        Ok(KeyTemplate(parsed))
    }

    /// The value fields keys follow.
    pub fn fields_read(&self) -> Vec<Path> {
        self.0.fields_read()
    }

    pub fn routes_by_field(&self) -> bool {
        self.route_len() > 0
    }

    /// How many `{field:NAME}` placeholders there are.
    pub fn route_len(&self) -> usize {
        self.0.fields_len()
    }

    /// What `record`'s `{field:NAME}` placeholders render, made safe for a key (characters other than
    /// letters, digits and `-_.=@` become `_`); an error names the field that is missing or holds no text.
    pub fn route(&self, record: &StagedRecord<'_>, zone: &Zone) -> Result<Route, String> {
        self.0
            .parts()
            .iter()
            .filter_map(|part| match part {
                Part::Field(path) => Some(field_text(path, record, zone).map(|text| key_safe(&text))),
                _ => None,
            })
            .collect()
    }

    /// The finest time the keys render (none: keys do not depend on time).
    pub fn granularity(&self) -> Option<Granularity> {
        let has = |p: KeyPart| self.0.has(p);
        if has(KeyPart::Timestamp) {
            Some(Granularity::Millisecond)
        } else if has(KeyPart::Hour) {
            Some(Granularity::Hour)
        } else if has(KeyPart::Date) {
            Some(Granularity::Day)
        } else {
            None
        }
    }

    /// `prefix` + the rendered template + `extension`; `route` is the first record's.
    pub fn render(&self, prefix: &str, fields: &KeyFields<'_>, route: &[String], extension: &str) -> String {
        use std::fmt::Write;
        let time = fields.zone.date_time(fields.timestamp_ms);
        let mut key = String::with_capacity(prefix.len() + 96);
        key.push_str(prefix);
        let mut route = route.iter();
        let rendered = self.0.render_with(
            &mut key,
            |part, key| {
                let _ = match part {
                    KeyPart::Instance => write!(key, "{}", fields.instance),
                    KeyPart::Topic => write!(key, "{}", fields.topic),
                    KeyPart::TopicId => write!(key, "{}", fields.topic_id),
                    KeyPart::Partition => write!(key, "{}", fields.partition),
                    // 19 digits hold any i64 offset, so keys sort in offset order.
                    KeyPart::StartOffset => write!(key, "{:019}", fields.start_offset),
                    KeyPart::Date => write!(key, "{}", time.date()),
                    KeyPart::Hour => write!(key, "{:02}", time.hour),
                    KeyPart::Timestamp => write!(key, "{}", fields.timestamp_ms),
                };
            },
            |_, key| {
                key.push_str(route.next().map_or("", String::as_str));
                Ok::<(), std::convert::Infallible>(())
            },
        );
        let Ok(()) = rendered;
        key.push_str(extension);
        key
    }
}

/// Where an object stands in its partition, read from its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCoordinates {
    pub partition: i32,
    pub start_offset: i64,
    /// From `.jsonl` on: what the object holds and how it is compressed.
    pub extension: String,
}

/// Reads the keys a template wrote for one topic back into their coordinates, the way a restore finds a
/// backup's objects in offset order.
#[derive(Debug, Clone)]
pub struct KeyReader {
    head: String,
    pattern: regex::Regex,
}

impl KeyReader {
    /// The keys `template` gives `topic`'s objects under `prefix`, with the dump's `instance` and `topic_id`
    /// (the topic itself when unset).
    pub fn new(template: &KeyTemplate, prefix: &str, instance: &str, topic_id: Option<&str>, topic: &str) -> Self {
        let known = |part: &KeyPart| match part {
            KeyPart::Instance => Some(instance),
            KeyPart::TopicId => Some(topic_id.unwrap_or(topic)),
            KeyPart::Topic => Some(topic),
            _ => None,
        };
        let mut head = prefix.to_owned();
        let mut in_head = true;
        let mut pattern = format!("^{}", regex::escape(prefix));
        for part in template.0.parts() {
            let (text, exact) = match part {
                Part::Literal(text) => (regex::escape(text), Some(text.as_str())),
                Part::Placeholder(p) => match (p, known(p)) {
                    (_, Some(value)) => (regex::escape(value), Some(value)),
                    (KeyPart::Partition, None) => (r"(?P<partition>\d{1,10})".to_owned(), None),
                    (KeyPart::StartOffset, None) => (r"(?P<offset>\d{19})".to_owned(), None),
                    _ => (".*?".to_owned(), None),
                },
                Part::Field(_) => ("[^/]*?".to_owned(), None),
            };
            match exact {
                Some(exact) if in_head => head.push_str(exact),
                _ => in_head = false,
            }
            pattern.push_str(&text);
        }
        pattern.push_str(r"(?P<extension>(?:\.[a-z]+)+)$");
        KeyReader {
            head,
            pattern: regex::Regex::new(&pattern).expect("escaped literals and fixed groups make a valid pattern"),
        }
    }

    /// Where to list: every key of the topic starts with this.
    pub fn listing_prefix(&self) -> &str {
        &self.head
    }

    /// The key's partition and first offset, or `None` when the template did not write it.
    pub fn read(&self, key: &str) -> Option<KeyCoordinates> {
        let found = self.pattern.captures(key)?;
        Some(KeyCoordinates {
            partition: found["partition"].parse().ok()?,
            start_offset: found["offset"].parse().ok()?,
            extension: found["extension"].to_owned(),
        })
    }
}

/// The key of the dead letters of one batch's topic-partition: `{dead_letter_prefix}{topic}+{partition}+{first
/// offset}.jsonl`, so a re-delivered batch overwrites them.
pub fn dead_letter_key(prefix: &str, first: &Record<'_>) -> String {
    format!("{prefix}{}+{}+{:019}.jsonl", first.topic, first.partition, first.offset)
}

/// A field's text as a piece of an object key: no `/` (a new folder), no characters COS and S3 advise
/// against. Keys stay unique whatever two values clean to, as each object's key holds its first offset.
/// A whole value of `.`, `..` or nothing would make a folder that is no folder: its dots become `_`, and an
/// empty value is `_`.
fn key_safe(text: &str) -> String {
    if text.is_empty() || text == "." || text == ".." {
        return "_".repeat(text.len().max(1));
    }
    text.chars()
        .map(|c| match c {
            c if c.is_alphanumeric() => c,
            '-' | '_' | '.' | '=' | '@' => c,
            _ => '_',
        })
        .collect()
}

/// The first segment of `key` (between `/`) that is empty, `.` or `..`: stores that map keys to paths would
/// write such a key outside its folder, or not at all.
pub fn bad_segment(key: &str) -> Option<&str> {
    key.split('/')
        .find(|segment| segment.is_empty() || *segment == "." || *segment == "..")
}

/// The longest key S3 and COS accept, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Why the store cannot take `key`: longer than it accepts, or a path segment that leaves its folder.
pub fn key_problem(key: &str) -> Option<String> {
    if key.len() > MAX_KEY_BYTES {
        Some(format!(
            "{} bytes, longer than the {MAX_KEY_BYTES} the store accepts",
            key.len()
        ))
    } else {
        bad_segment(key).map(|segment| format!("`{key}` has a path segment `{segment}`, which would leave its folder"))
    }
}

/// `<prefix>.ckafka-dump/<instance>/<topic>/<partition>.json`: beside the data, apart from its keys.
pub fn checkpoint_key(prefix: &str, instance: &str, topic: &str, partition: i32) -> String {
    bookkeeping_key(prefix, instance, topic, partition, "json")
}

/// `<prefix>.ckafka-dump/<instance>/<topic>/<partition>.written.json`: the offsets trigger mode wrote.
pub fn written_key(prefix: &str, instance: &str, topic: &str, partition: i32) -> String {
    bookkeeping_key(prefix, instance, topic, partition, "written.json")
}

/// `<prefix>.ckafka-dump/<instance>/<topic>/<partition>.dates.json`: the dating ledger of a partition's
/// undated records in trigger mode.
pub fn ledger_key(prefix: &str, instance: &str, topic: &str, partition: i32) -> String {
    bookkeeping_key(prefix, instance, topic, partition, "dates.json")
}

fn bookkeeping_key(prefix: &str, instance: &str, topic: &str, partition: i32, extension: &str) -> String {
    format!("{prefix}.ckafka-dump/{instance}/{topic}/{partition}.{extension}")
}

/// `<prefix>.ckafka-dump/<instance>/<topic>/<partition>.leases/<what>-<attempt, 4 digits>.json`, `<what>` the
/// offset in 19 digits or `trigger`.
pub fn lease_key(prefix: &str, instance: &str, topic: &str, partition: i32, fenced: Fenced, attempt: u32) -> String {
    let name = match fenced {
        Fenced::Offset(offset) => format!("leases/{offset:019}-{attempt:04}.json"),
        Fenced::Partition => format!("leases/trigger-{attempt:04}.json"),
    };
    bookkeeping_key(prefix, instance, topic, partition, &name)
}

/// `<prefix>.ckafka-dump/<instance>/fencing-check-<run>.json`: the object a process creates twice to see that
/// the store refuses the second create.
pub fn probe_key(prefix: &str, instance: &str, run: &str) -> String {
    format!("{prefix}.ckafka-dump/{instance}/fencing-check-{run}.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_2018(zone: &Zone) -> KeyFields<'_> {
        KeyFields {
            instance: "ckafka-80o10xxx",
            topic: "orders",
            topic_id: "topic-abc",
            partition: 3,
            start_offset: 42,
            timestamp_ms: 1_545_084_000_000, // 2018-12-17T22:00:00Z
            zone,
        }
    }

    #[test]
    fn a_reader_finds_partition_and_first_offset_in_the_keys_a_template_wrote() {
        let zone = Zone::utc();
        let fields = |partition: i32, start_offset: i64| KeyFields {
            instance: "ckafka-1",
            topic: "orders",
            topic_id: "topic-abc",
            partition,
            start_offset,
            timestamp_ms: 1_545_084_000_000,
            zone: &zone,
        };
        let default = KeyTemplate::parse(KeyTemplate::DEFAULT).unwrap();
        let reader = KeyReader::new(&default, "dump/", "ckafka-1", Some("topic-abc"), "orders");
        assert_eq!(reader.listing_prefix(), "dump/ckafka-1/topic-abc/");
        let key = default.render("dump/", &fields(12, 42), &[], ".jsonl.gz");
        assert_eq!(
            reader.read(&key),
            Some(KeyCoordinates {
                partition: 12,
                start_offset: 42,
                extension: ".jsonl.gz".into()
            })
        );
        assert_eq!(
            reader.read("dump/ckafka-1/topic-abc/2018-12-17/other+1+0000000000000000042.jsonl"),
            None
        );
        let hourly = KeyTemplate::parse("{topic}/{date}/{hour}/{timestamp}-{partition}-{start_offset}").unwrap();
        let reader = KeyReader::new(&hourly, "", "i", None, "orders");
        assert_eq!(reader.listing_prefix(), "orders/");
        let key = hourly.render("", &fields(3, i64::MAX), &[], ".csv");
        assert_eq!(
            reader.read(&key).map(|c| (c.partition, c.start_offset, c.extension)),
            Some((3, i64::MAX, ".csv".into()))
        );
        let routed = KeyTemplate::parse("{field:app}/{partition}/{topic}+{start_offset}").unwrap();
        let reader = KeyReader::new(&routed, "p/", "i", None, "orders");
        assert_eq!(reader.listing_prefix(), "p/");
        assert_eq!(
            reader
                .read("p/Pay_EU/7/orders+0000000000000000005.jsonl")
                .map(|c| (c.partition, c.start_offset)),
            Some((7, 5))
        );
    }

    #[test]
    fn default_template_keeps_the_console_shape_and_ends_in_partition_and_offset() {
        let key =
            KeyTemplate::parse(KeyTemplate::DEFAULT)
                .unwrap()
                .render("dump/", &at_2018(&Zone::utc()), &[], ".txt");
        assert_eq!(
            key,
            "dump/ckafka-80o10xxx/topic-abc/2018-12-17/orders+3+0000000000000000042.txt"
        );
    }

    #[test]
    fn every_placeholder_renders() {
        let t = KeyTemplate::parse("{topic}/{date}/{hour}/{timestamp}-{partition}-{start_offset}").unwrap();
        assert_eq!(
            t.render("", &at_2018(&Zone::utc()), &[], ".jsonl.gz"),
            "orders/2018-12-17/22/1545084000000-3-0000000000000000042.jsonl.gz"
        );
    }

    #[test]
    fn dates_and_hours_are_the_zones() {
        let t = KeyTemplate::parse("{date}/{hour}/{topic}+{partition}+{start_offset}").unwrap();
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(
            t.render("", &at_2018(&shanghai), &[], ""),
            "2018-12-18/06/orders+3+0000000000000000042"
        );
    }

    #[test]
    fn fields_route_records_and_are_made_safe_for_keys() {
        let t = KeyTemplate::parse("app={field:app}/{field:@header.region}-{date}/{topic}+{partition}+{start_offset}")
            .unwrap();
        assert!(t.fields_read().len() == 1 && t.routes_by_field());
        let value = br#"{"app": "Pay/EU v2", "n": 1}"#;
        let record = StagedRecord::unstaged(Record::new("orders", 3, 42, None, None, Some(value)));
        let zone = Zone::utc();
        assert_eq!(
            t.route(&record, &zone).unwrap_err(),
            "field `@header.region` is missing"
        );
        let t = KeyTemplate::parse("app={field:app}/{field:n}/{topic}+{partition}+{start_offset}").unwrap();
        let route = t.route(&record, &zone).unwrap();
        assert_eq!(route, ["Pay_EU_v2", "1"]);
        assert_eq!(
            t.render("", &at_2018(&zone), &route, ".csv"),
            "app=Pay_EU_v2/1/orders+3+0000000000000000042.csv"
        );
        let by_meta = KeyTemplate::parse("{field:@partition}/{topic}+{partition}+{start_offset}").unwrap();
        assert!(by_meta.fields_read().is_empty() && by_meta.routes_by_field());
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
        let bad = KeyTemplate::parse("{field:app}{topic}/{partition}/{start_offset}").unwrap_err();
        assert!(bad.contains("{field:app}{topic} needs a separator"), "{bad}");
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
            "{field:}/{topic}/{partition}/{start_offset}",
            "{field:@nope}/{topic}/{partition}/{start_offset}",
        ] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
