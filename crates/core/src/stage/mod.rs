//! The transform stage between decoding and the sink: records as data. Configured by `TRANSFORM_*`
//! variables (and `time_zone`), validated at cold start; unconfigured it costs nothing — no value is parsed
//! (a sink that routes by a field parses the value it reads, once).
//!
//! Per record, in this order: parse the value (JSON, delimited text or a regex) → flatten → add Kafka
//! metadata fields → take the record time from a field → filter → rename → drop → keep. What the sink gets
//! is a [`StagedBatch`]: a kept record carries the resulting object, which the sink reads by field and
//! writes out without parsing it again; a filtered record leaves the batch and is counted; a record the
//! stage cannot process stays, rejected with its reason and its original bytes, for the sink's dead letters
//! (or the invocation fails, naming it).

mod filter;

use std::borrow::Cow;

use regex::Regex;

use crate::config::{split_list, Env, Kind, Unset, Var};
use crate::error::ConfigError;
use crate::record::{Batch, Record, Timestamp};
use crate::staged::{Outcome, Rejection, StagedBatch};
use crate::time::{TimeFormat, Zone};
use crate::value::{Meta, Object, Path, Slot, META_NAMES};

use self::filter::Filter;

/// How a value becomes fields.
#[derive(Debug, Clone)]
pub enum Parse {
    /// A JSON object (or a JSON string holding one).
    Json,
    /// Text split by `delimiter` into the named fields, in order.
    Delimited { delimiter: String, names: Vec<String> },
    /// Text matched by a regex; its named groups are the fields.
    Regex(Regex),
}

#[derive(Debug, Clone, Default)]
pub struct Stage {
    /// `None`: no `TRANSFORM_*` variable is set.
    steps: Option<Steps>,
    zone: Zone,
}

#[derive(Debug, Clone)]
struct Steps {
    parse: Parse,
    flatten: Option<String>,
    add: Vec<(String, Meta)>,
    time: Option<(Path, TimeFormat)>,
    filter: Option<Filter>,
    rename: Vec<(String, String)>,
    drop: Vec<String>,
    keep: Vec<String>,
}

enum Processed<'r> {
    Kept { fields: Object<'r>, time_ms: Option<i64> },
    Filtered,
    Rejected(String),
}

fn parse_spellings() -> Vec<&'static str> {
    vec!["json", "delimited", "regex"]
}

crate::variables! {
    /// The stage's variables (besides `time_zone`); setting any of them configures it.
    VARIABLES;
    TRANSFORM_PARSE = Var::new(
        "TRANSFORM_PARSE",
        Kind::Choice { default: "json", spellings: parse_spellings },
        "How a value becomes fields: a JSON object (or a JSON string holding one), text split by `TRANSFORM_DELIMITER` into `TRANSFORM_FIELDS`, or text matched by `TRANSFORM_REGEX`.",
    );
    TRANSFORM_DELIMITER = Var::new(
        "TRANSFORM_DELIMITER",
        Kind::Untrimmed(Unset::Means("`,`")),
        "`delimited`: the separator, taken untrimmed (a tab or a space works). The last field takes the rest of the line. E.g. `|`.",
    );
    TRANSFORM_FIELDS = Var::new(
        "TRANSFORM_FIELDS",
        Kind::List(Unset::Means("required with `delimited`")),
        "The fields' names, in order: `time, level, msg`.",
    );
    TRANSFORM_REGEX = Var::new(
        "TRANSFORM_REGEX",
        Kind::Text(Unset::Means("required with `regex`")),
        "A regex whose named groups are the fields: `^(?P<ip>\\S+) (?P<method>[A-Z]+) (?P<path>\\S+)`.",
    );
    TRANSFORM_FLATTEN = Var::new(
        "TRANSFORM_FLATTEN",
        Kind::Untrimmed(Unset::Nothing),
        "Raise nested objects' fields to the top, names joined by this separator (arrays stay): with `.`, `{\"a\":{\"b\":1}}` becomes `{\"a.b\":1}`.",
    );
    TRANSFORM_ADD = Var::new(
        "TRANSFORM_ADD",
        Kind::List(Unset::Nothing),
        "Add Kafka metadata as fields, `name:@source`: `@topic`, `@partition`, `@offset`, `@key` (text), `@timestamp` (Kafka time, RFC 3339 in `time_zone`), `@timestamp_ms`, `@headers` (an object), `@header.NAME`. E.g. `kafka_topic:@topic, kafka_offset:@offset`.",
    );
    TRANSFORM_TIME_FIELD = Var::new(
        "TRANSFORM_TIME_FIELD",
        Kind::Text(Unset::Nothing),
        "Take the record time from this field: it then dates ES indices, object keys, added timestamp fields and the produced Kafka timestamp in place of Kafka's time (and undated SCF records need no dating ledger). A time before 1970 or after year 9999 rejects the record.",
    );
    TRANSFORM_TIME_FORMAT = Var::new(
        "TRANSFORM_TIME_FORMAT",
        Kind::Text(Unset::Means("`auto`")),
        "`auto` (numbers below 10^11 are epoch seconds, above epoch ms; text RFC 3339), `epoch_s`, `epoch_ms`, `rfc3339`, or a strftime pattern such as `%Y-%m-%d %H:%M:%S` (without `%z` the text is local time in `time_zone`).",
    );
    TRANSFORM_FILTER = Var::new(
        "TRANSFORM_FILTER",
        Kind::Text(Unset::Nothing),
        "Keep only records for which this holds (see filter expressions); the rest are counted as `filtered`. Parentheses and `not` nest at most 64 deep. E.g. `level == \"error\" and app in [\"pay\", \"auth\"]`.",
    );
    TRANSFORM_RENAME = Var::new(
        "TRANSFORM_RENAME",
        Kind::List(Unset::Nothing),
        "`old:new` pairs: `msg:message, user.id:uid`.",
    );
    TRANSFORM_DROP = Var::new("TRANSFORM_DROP", Kind::List(Unset::Nothing), "Fields to remove: `password, debug`.");
    TRANSFORM_KEEP = Var::new("TRANSFORM_KEEP", Kind::List(Unset::Nothing), "Keep only these fields: `time, level, message`.");
}

impl Stage {
    pub fn from_env(env: &Env) -> Result<Stage, ConfigError> {
        let zone = Zone::from_env(env)?;
        let mut any_set = false;
        for documented in VARIABLES {
            any_set |= env.get(documented.var)?.is_some();
        }
        let steps = if any_set { Some(Steps::from_env(env)?) } else { None };
        Ok(Stage { steps, zone })
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    pub fn is_configured(&self) -> bool {
        self.steps.is_some()
    }

    /// Runs the stage over `batch`: filtered records leave it, kept ones carry the object the stage made of
    /// their value and their record time, rejected ones their reason. Unconfigured, it hands every record on
    /// as it came, parsing nothing.
    pub fn apply<'s>(&'s self, batch: &'s Batch<'s>) -> StagedBatch<'s> {
        if self.steps.is_none() {
            return StagedBatch::unstaged(batch);
        }
        StagedBatch::new(batch, batch.records().map(|record| self.stage_record(&record)))
    }

    /// One record through the stage (a record the scheduled dump fetched): its record time and outcome, or
    /// `None` when the filter leaves it out.
    pub fn stage_record<'s>(&'s self, record: &Record<'s>) -> Option<(Option<Timestamp>, Outcome<'s>)> {
        let Some(steps) = &self.steps else {
            return Some((record.timestamp, Outcome::Original));
        };
        if record.value.is_none() {
            return Some((record.timestamp, Outcome::Original));
        }
        match steps.process(record, &self.zone) {
            Processed::Filtered => None,
            Processed::Rejected(reason) => Some((record.timestamp, Outcome::Rejected(Rejection(reason)))),
            Processed::Kept { fields, time_ms } => {
                let timestamp = match time_ms {
                    Some(millis) => Timestamp::dated(millis, None),
                    None => record.timestamp,
                };
                Some((timestamp, Outcome::Object(fields)))
            }
        }
    }
}

impl Steps {
    fn from_env(env: &Env) -> Result<Steps, ConfigError> {
        let invalid = |var: &'static str| move |reason: String| ConfigError::new(var, reason);
        let parse = match env.get(&TRANSFORM_PARSE)?.as_deref().unwrap_or("json") {
            "json" => Parse::Json,
            "delimited" => {
                let names = split_list(&env.required(&TRANSFORM_FIELDS)?);
                // The delimiter is taken untrimmed: a tab or a space is a common one.
                let delimiter = env.untrimmed(&TRANSFORM_DELIMITER)?.unwrap_or_else(|| ",".to_owned());
                Parse::Delimited { delimiter, names }
            }
            "regex" => {
                let pattern = env.required(&TRANSFORM_REGEX)?;
                let regex = Regex::new(&pattern).map_err(|e| ConfigError::new(TRANSFORM_REGEX.name, e.to_string()))?;
                if regex.capture_names().flatten().next().is_none() {
                    return Err(ConfigError::new(
                        TRANSFORM_REGEX.name,
                        "has no named group; name each field as (?P<name>...)",
                    ));
                }
                Parse::Regex(regex)
            }
            other => {
                return Err(ConfigError::new(
                    TRANSFORM_PARSE.name,
                    format!("`{other}` is not json, delimited or regex"),
                ))
            }
        };
        let add = pairs(env, &TRANSFORM_ADD)?
            .into_iter()
            .map(|(name, source)| match Path::parse(&source) {
                Ok(Path::Meta(meta)) => Ok((name, meta)),
                _ => Err(ConfigError::new(
                    TRANSFORM_ADD.name,
                    format!("`{name}:{source}`: the source must be Kafka metadata ({})", META_NAMES),
                )),
            })
            .collect::<Result<_, _>>()?;
        let time = match env.get(&TRANSFORM_TIME_FIELD)? {
            None => None,
            Some(field) => {
                let format = env.get(&TRANSFORM_TIME_FORMAT)?.unwrap_or_else(|| "auto".to_owned());
                let format = TimeFormat::parse(&format).map_err(invalid(TRANSFORM_TIME_FORMAT.name))?;
                Some((Path::parse(&field).map_err(invalid(TRANSFORM_TIME_FIELD.name))?, format))
            }
        };
        let filter = match env.get(&TRANSFORM_FILTER)? {
            None => None,
            Some(text) => Some(Filter::parse(&text).map_err(invalid(TRANSFORM_FILTER.name))?),
        };
        Ok(Steps {
            parse,
            flatten: env.untrimmed(&TRANSFORM_FLATTEN)?,
            add,
            time,
            filter,
            rename: pairs(env, &TRANSFORM_RENAME)?,
            drop: env.list(&TRANSFORM_DROP)?,
            keep: env.list(&TRANSFORM_KEEP)?,
        })
    }

    /// `'r` spans the record and these steps: added and renamed fields borrow their names from the steps.
    fn process<'r>(&'r self, record: &Record<'r>, zone: &Zone) -> Processed<'r> {
        let mut fields = match self.fields_of(record) {
            Ok(fields) => fields,
            Err(reason) => return Processed::Rejected(reason),
        };
        if let Some(separator) = &self.flatten {
            fields = fields.flatten(separator);
        }
        for (name, meta) in &self.add {
            if let Some(value) = meta.value(record, zone) {
                fields.insert(Cow::Borrowed(name), Slot::Made(value));
            }
        }
        let time_ms = match &self.time {
            None => None,
            Some((path, format)) => match fields.resolve(path, record, zone) {
                None => return Processed::Rejected(format!("record time field `{}` is missing", path)),
                Some(value) => match format.read(&value, zone) {
                    Ok(ms) if Timestamp::dated(ms, None).is_some() => Some(ms),
                    Ok(ms) => {
                        return Processed::Rejected(format!(
                            "record time field `{path}`: {ms} ms is before 1970 or after year 9999"
                        ))
                    }
                    Err(reason) => return Processed::Rejected(format!("record time field `{}`: {reason}", path)),
                },
            },
        };
        if let Some(filter) = &self.filter {
            if !filter.passes(&|path: &Path| fields.resolve(path, record, zone)) {
                return Processed::Filtered;
            }
        }
        for (from, to) in &self.rename {
            fields.rename(from, Cow::Borrowed(to));
        }
        for name in &self.drop {
            fields.remove(name);
        }
        if !self.keep.is_empty() {
            fields.retain(|name| self.keep.iter().any(|kept| kept == name));
        }
        Processed::Kept { fields, time_ms }
    }

    fn fields_of<'r>(&self, record: &Record<'r>) -> Result<Object<'r>, String> {
        let text = || {
            record
                .value_str()
                .ok_or_else(|| "the value is not UTF-8 text".to_owned())
        };
        match &self.parse {
            // JSON is UTF-8: bytes that are not fail to parse, and the error says where.
            Parse::Json => match record.value_str() {
                Some(text) => Object::parse_json(text),
                None => Err(
                    match serde_json::from_slice::<serde::de::IgnoredAny>(record.value_bytes()) {
                        Err(e) => format!("the value is not JSON: {e}"),
                        Ok(_) => "the value is not UTF-8 text".to_owned(),
                    },
                ),
            },
            Parse::Delimited { delimiter, names } => {
                let parts: Vec<&str> = text()?.splitn(names.len(), delimiter.as_str()).collect();
                if parts.len() != names.len() {
                    return Err(format!(
                        "{} fields expected, {} found between `{delimiter}`",
                        names.len(),
                        parts.len()
                    ));
                }
                Ok(Object::from_texts(names.iter().map(String::as_str).zip(parts)))
            }
            Parse::Regex(regex) => {
                let captures = regex
                    .captures(text()?)
                    .ok_or_else(|| format!("the value does not match the regex `{}`", regex.as_str()))?;
                Ok(Object::from_texts(
                    regex
                        .capture_names()
                        .flatten()
                        .filter_map(|name| Some((name, captures.name(name)?.as_str()))),
                ))
            }
        }
    }
}

/// `a:b, c:d` pairs; an error names the item.
fn pairs(env: &Env, var: &Var) -> Result<Vec<(String, String)>, ConfigError> {
    env.list(var)?
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item.split_once(':') {
            Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
                Ok((a.trim().to_owned(), b.trim().to_owned()))
            }
            _ => Err(ConfigError::new(
                var.name,
                format!("item {} `{item}` is not `name:name`", i + 1),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests;
