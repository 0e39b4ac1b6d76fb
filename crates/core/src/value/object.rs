//! A record's value as the stage works on it: the top-level fields of a JSON object, in their order, each
//! value left as the JSON text it was until something reads it. Filters, renames and metadata fields touch
//! a few top-level names, so the rest of a value is checked once and copied out as it came, never built
//! into a tree and written back.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::path::{Meta, Path};
use crate::record::Record;
use crate::time::Zone;

/// One field's value: still the JSON text of the record, or a typed value something made (the stage, a
/// decoder). A reader takes the type it needs without a trip through text; JSON output writes bytes as base64
/// and times as RFC 3339 in UTC.
#[derive(Debug, Clone)]
pub enum Slot<'a> {
    Raw(&'a RawValue),
    /// A number, string, boolean, null, or nested object or array.
    Made(Value),
    Bytes(Cow<'a, [u8]>),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
}

impl Slot<'_> {
    /// The value as JSON data; `None` for JSON text serde_json cannot hold.
    pub fn value(&self) -> Option<Cow<'_, Value>> {
        match self {
            Slot::Made(value) => Some(Cow::Borrowed(value)),
            Slot::Raw(raw) => serde_json::from_str(raw.get()).ok().map(Cow::Owned),
            Slot::Bytes(bytes) => Some(Cow::Owned(Value::String(base64_simd::STANDARD.encode_to_string(bytes)))),
            Slot::Timestamp(millis) => Some(Cow::Owned(Value::String(
                crate::time::DateTime::from_epoch_ms(*millis).rfc3339(),
            ))),
        }
    }

    fn write(&self, out: &mut impl JsonOut) {
        match self {
            Slot::Raw(raw) => out.push_text(raw.get()),
            Slot::Made(value) => out.push_value(value),
            other => out.push_value(&other.value().expect("bytes and times are JSON strings")),
        }
    }
}

/// A JSON object's top-level fields in order; a name appears once (the last one written wins, as in
/// serde_json's maps).
#[derive(Debug, Clone, Default)]
pub struct Object<'a> {
    fields: Vec<(Cow<'a, str>, Slot<'a>)>,
}

impl<'a> Object<'a> {
    /// The object `text` holds, or the one a JSON string in `text` holds (producers that encode twice).
    pub fn parse_json(text: &'a str) -> Result<Object<'a>, String> {
        let not_object = || "the value is not a JSON object".to_owned();
        match serde_json::from_str::<TopLevel<'a>>(text) {
            Ok(TopLevel::Object(object)) => Ok(object),
            Ok(TopLevel::Text(inner)) => match serde_json::from_str::<Value>(&inner) {
                Ok(Value::Object(fields)) => Ok(Object::from_map(fields)),
                _ => Err(not_object()),
            },
            Ok(TopLevel::Other) => Err(not_object()),
            Err(e) => Err(format!("the value is not JSON: {e}")),
        }
    }

    pub fn from_map(fields: Map<String, Value>) -> Object<'a> {
        Object {
            fields: fields
                .into_iter()
                .map(|(name, value)| (Cow::Owned(name), Slot::Made(value)))
                .collect(),
        }
    }

    /// Fields of text values, from a delimited or regex-matched value.
    pub fn from_texts<'t>(fields: impl Iterator<Item = (&'t str, &'t str)>) -> Object<'a> {
        let mut object = Object::default();
        for (name, text) in fields {
            object.insert(Cow::Owned(name.to_owned()), Slot::Made(Value::String(text.to_owned())));
        }
        object
    }

    /// The fields in their order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Slot<'a>)> {
        self.fields.iter().map(|(name, slot)| (name.as_ref(), slot))
    }

    /// The fields in their order, taken out.
    pub fn into_fields(self) -> impl Iterator<Item = (Cow<'a, str>, Slot<'a>)> {
        self.fields.into_iter()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }

    pub fn insert(&mut self, name: Cow<'a, str>, slot: Slot<'a>) {
        match self.position(&name) {
            Some(i) => self.fields[i].1 = slot,
            None => self.fields.push((name, slot)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Slot<'a>> {
        self.position(name).map(|i| &self.fields[i].1)
    }

    /// `other`'s fields over these (its value wins where both have a name).
    pub fn extend(&mut self, other: Object<'a>) {
        for (name, slot) in other.fields {
            self.insert(name, slot);
        }
    }

    /// Renames a field in its place; a field already called `to` gives way.
    pub fn rename(&mut self, from: &str, to: Cow<'a, str>) {
        if from == to || self.position(from).is_none() {
            return;
        }
        self.remove(&to);
        let i = self.position(from).expect("still there: only `to` was removed");
        self.fields[i].0 = to;
    }

    pub fn remove(&mut self, name: &str) -> Option<Slot<'a>> {
        self.position(name).map(|i| self.fields.remove(i).1)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.fields.retain(|(name, _)| keep(name));
    }

    /// The value of a field path: the top-level field of that exact name first (a flattened name), else
    /// the nested one.
    pub fn find(&self, path: &Path) -> Option<Cow<'_, Value>> {
        let Path::Field { name, segments } = path else {
            return None;
        };
        if let Some(slot) = self.get(name) {
            return slot.value();
        }
        let (first, rest) = segments.split_first().filter(|(_, rest)| !rest.is_empty())?;
        match self.get(first)?.value()? {
            Cow::Borrowed(value) => walk(value, rest).map(Cow::Borrowed),
            Cow::Owned(value) => walk(&value, rest).cloned().map(Cow::Owned),
        }
    }

    /// The value of a field path or, for metadata, from `record`.
    pub fn resolve(&self, path: &Path, record: &Record<'_>, zone: &Zone) -> Option<Cow<'_, Value>> {
        match path {
            Path::Field { .. } => self.find(path),
            Path::Meta(meta) => Meta::value(meta, record, zone).map(Cow::Owned),
        }
    }

    /// Nested objects' fields raised to the top level, their names joined by `separator`; arrays stay.
    pub fn flatten(self, separator: &str) -> Object<'a> {
        fn raise<'a>(prefix: Cow<'a, str>, value: Value, separator: &str, out: &mut Object<'a>) {
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    for (name, value) in inner {
                        raise(Cow::Owned(format!("{prefix}{separator}{name}")), value, separator, out);
                    }
                }
                other => out.insert(prefix, Slot::Made(other)),
            }
        }
        let mut out = Object::default();
        for (name, slot) in self.fields {
            let slot = match slot {
                Slot::Raw(raw) if raw.get().starts_with('{') => match serde_json::from_str(raw.get()) {
                    Ok(value) => Slot::Made(value),
                    Err(_) => Slot::Raw(raw),
                },
                other => other,
            };
            match slot {
                Slot::Made(value @ Value::Object(_)) => raise(name, value, separator, &mut out),
                other => out.insert(name, other),
            }
        }
        out
    }

    /// Writes the object as JSON: raw values byte for byte as they came.
    pub fn write(&self, out: &mut impl JsonOut) {
        self.write_open(out);
        out.push_text("}");
    }

    /// Writes `{` and the fields, leaving the object open for more; tells whether any field was written.
    pub fn write_open(&self, out: &mut impl JsonOut) -> bool {
        self.write_open_where(out, |_| true)
    }

    /// [`Object::write_open`] of the fields whose names `keep` accepts.
    pub fn write_open_where(&self, out: &mut impl JsonOut, keep: impl Fn(&str) -> bool) -> bool {
        out.push_text("{");
        let mut written = false;
        for (name, slot) in self.fields.iter().filter(|(name, _)| keep(name)) {
            if std::mem::replace(&mut written, true) {
                out.push_text(",");
            }
            write_name(out, name);
            out.push_text(":");
            slot.write(out);
        }
        written
    }

    /// The field named `name`, or else the first whose name matches it ignoring ASCII case (SQL columns).
    pub fn get_ignoring_case(&self, name: &str) -> Option<&Slot<'a>> {
        self.get(name).or_else(|| {
            self.fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, slot)| slot)
        })
    }
}

/// The value `segments` lead to, object by object.
fn walk<'v>(value: &'v Value, segments: &[String]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(value, |value, segment| value.as_object()?.get(segment))
}

/// Where an object is written: the stage's text, or a sink's bytes.
pub trait JsonOut {
    fn push_text(&mut self, text: &str);
    fn push_value(&mut self, value: &Value);
}

impl JsonOut for Vec<u8> {
    fn push_text(&mut self, text: &str) {
        self.extend_from_slice(text.as_bytes());
    }

    fn push_value(&mut self, value: &Value) {
        serde_json::to_writer(self, value).expect("a JSON value always serializes");
    }
}

impl JsonOut for String {
    fn push_text(&mut self, text: &str) {
        self.push_str(text);
    }

    fn push_value(&mut self, value: &Value) {
        self.push_str(&serde_json::to_string(value).expect("a JSON value always serializes"));
    }
}

/// A field name as a JSON string; most need no escaping and are copied as they are.
fn write_name(out: &mut impl JsonOut, name: &str) {
    if name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push_text("\"");
        out.push_text(name);
        out.push_text("\"");
    } else {
        out.push_value(&Value::String(name.to_owned()));
    }
}

/// What a value's top level is, read without building anything below it.
enum TopLevel<'a> {
    Object(Object<'a>),
    Text(String),
    Other,
}

impl<'de> Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut object = Object {
            fields: Vec::with_capacity(map.size_hint().unwrap_or(16)),
        };
        while let Some(Name(name)) = map.next_key()? {
            let raw: &'de RawValue = map.next_value()?;
            object.insert(name, Slot::Raw(raw));
        }
        Ok(TopLevel::Object(object))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(TopLevel::Text(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(TopLevel::Text(text))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TopLevel::Other)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TopLevel::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TopLevel::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TopLevel::Other)
    }
}

/// A field name, borrowed from the value's text unless it had escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn written(object: &Object<'_>) -> String {
        let mut text = String::new();
        object.write(&mut text);
        let mut bytes = Vec::new();
        object.write(&mut bytes);
        assert_eq!(text.as_bytes(), bytes, "both outputs write the same");
        text
    }

    #[test]
    fn values_are_written_as_they_came_in_their_order() {
        let text = r#" {"b": [1, {"x" : 2}], "a\"q":"s", "n":1.50, "b":null, "\u0001":0} "#;
        let object = Object::parse_json(text).unwrap();
        assert_eq!(
            written(&object),
            r#"{"b":null,"a\"q":"s","n":1.50,"\u0001":0}"#,
            "a repeated name keeps its first place and its last value"
        );
        let json: Value = serde_json::from_str(&written(&object)).unwrap();
        assert_eq!(json["n"].to_string(), "1.50", "a number keeps its text");
    }

    #[test]
    fn renamed_fields_keep_their_place() {
        let mut object = Object::parse_json(r#"{"a":1,"b":2,"c":3}"#).unwrap();
        object.rename("b", Cow::Borrowed("x"));
        object.rename("missing", Cow::Borrowed("y"));
        assert_eq!(written(&object), r#"{"a":1,"x":2,"c":3}"#);
        object.rename("c", Cow::Borrowed("a"));
        assert_eq!(written(&object), r#"{"x":2,"a":3}"#, "the renamed value wins");
    }

    #[test]
    fn only_objects_or_strings_holding_one_are_objects() {
        let twice = Object::parse_json(r#""{\"a\":{\"b\":1}}""#).unwrap();
        assert_eq!(written(&twice), r#"{"a":{"b":1}}"#);
        for other in ["[1,{}]", "1", "true", "null", r#""text""#] {
            assert_eq!(
                Object::parse_json(other).unwrap_err(),
                "the value is not a JSON object",
                "{other}"
            );
        }
        for broken in ["{", r#"{"a":1} x"#, r#"{"a":[1,}"#] {
            assert!(
                Object::parse_json(broken)
                    .unwrap_err()
                    .starts_with("the value is not JSON: "),
                "{broken}"
            );
        }
    }

    #[test]
    fn paths_find_flattened_names_first_then_nested_fields() {
        let object = Object::parse_json(r#"{"a.b": 1, "a": {"b": 2, "c": {"d": 3}}, "x": [1], "big": 1e999}"#).unwrap();
        let find = |path: &str| object.find(&Path::parse(path).unwrap()).map(Cow::into_owned);
        assert_eq!(find("a.b"), Some(json!(1)));
        assert_eq!(find("a.c.d"), Some(json!(3)));
        assert_eq!(find("a.c"), Some(json!({"d": 3})));
        assert_eq!(find("x.0"), None);
        assert_eq!(
            find("big").map(|n| n.to_string()).as_deref(),
            Some("1e+999"),
            "a number no float holds is read with every digit (serde_json writes the exponent's sign)"
        );
        assert_eq!(
            written(&object).matches("1e999").count(),
            1,
            "but is written as it came"
        );
    }

    #[test]
    fn flatten_joins_nested_names_and_keeps_arrays() {
        let object =
            Object::parse_json(r#"{"a": {"b": 1, "c": {"d": [1, {"e": 2}]}, "empty": {}}, "z": null}"#).unwrap();
        let json: Value = serde_json::from_str(&written(&object.flatten("_"))).unwrap();
        assert_eq!(
            json,
            json!({"a_b": 1, "a_c_d": [1, {"e": 2}], "a_empty": {}, "z": null})
        );
    }
}
