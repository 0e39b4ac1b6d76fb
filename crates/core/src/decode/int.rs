//! Integer fields (`partition`, `offset`, `timestamp`) as a number or a numeric string — EventBridge Pipes and
//! some AWS samples send `"partition": "0"` — with errors that name the field and what was expected.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Reads one integer field; `null` is `None`.
pub(super) struct IntSeed<T> {
    field: &'static str,
    int: PhantomData<T>,
}

impl<T> IntSeed<T> {
    pub(super) fn new(field: &'static str) -> Self {
        IntSeed {
            field,
            int: PhantomData,
        }
    }
}

/// A required integer field of a derived struct: `#[serde(deserialize_with = "int::partition")]`.
pub(super) fn partition<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    IntSeed::new("partition").required(deserializer)
}

pub(super) fn offset<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    IntSeed::new("offset").required(deserializer)
}

impl<T: TryFrom<i64> + TryFrom<u64> + FromStr> IntSeed<T> {
    fn required<'de, D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        let field = self.field;
        self.deserialize(deserializer)?
            .ok_or_else(|| de::Error::custom(format_args!("`{field}` is null; expected an integer")))
    }
}

impl<'de, T: TryFrom<i64> + TryFrom<u64> + FromStr> DeserializeSeed<'de> for IntSeed<T> {
    type Value = Option<T>;
    /// From the value's text: with serde_json's `arbitrary_precision` (numbers keep their digits) its own
    /// number parsing would allocate a string for every integer of the event.
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') if text.bytes().skip(1).all(|b| b.is_ascii_digit()) => match text.parse::<i64>() {
                Ok(v) => self.visit_i64(v),
                Err(_) => match text.parse::<u64>() {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(de::Error::invalid_value(Unexpected::Other("number"), &self)),
                },
            },
            Some(b'-' | b'0'..=b'9') => Err(de::Error::invalid_type(
                Unexpected::Other("floating point number"),
                &self,
            )),
            Some(b'"') => {
                let s: Cow<'de, str> = serde_json::from_str(text).map_err(de::Error::custom)?;
                self.visit_str(&s)
            }
            Some(b'n') => Ok(None),
            Some(b't' | b'f') => Err(de::Error::invalid_type(Unexpected::Bool(text == "true"), &self)),
            Some(b'[') => Err(de::Error::invalid_type(Unexpected::Seq, &self)),
            _ => Err(de::Error::invalid_type(Unexpected::Map, &self)),
        }
    }
}

impl<'de, T: TryFrom<i64> + TryFrom<u64> + FromStr> Visitor<'de> for IntSeed<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "`{}` as an integer (a JSON number or a numeric string) in range",
            self.field
        )
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<T>, E> {
        T::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<T>, E> {
        T::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<T>, E> {
        v.parse()
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Option<i32>, String> {
        let mut de = serde_json::Deserializer::from_str(json);
        IntSeed::<i32>::new("partition")
            .deserialize(&mut de)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_and_numeric_strings_are_integers() {
        assert_eq!(read("3"), Ok(Some(3)));
        assert_eq!(read(r#""3""#), Ok(Some(3)));
        assert_eq!(read("null"), Ok(None));
    }

    #[test]
    fn errors_name_the_field_and_the_expectation() {
        let empty = read(r#""""#).unwrap_err();
        assert!(
            empty.starts_with(r#"invalid value: string "", expected `partition` as an integer"#),
            "{empty}"
        );
        assert!(read("99999999999").unwrap_err().contains("`partition`"));
        assert!(read("1.5").unwrap_err().contains("`partition`"), "{:?}", read("1.5"));
        assert!(read("[]").unwrap_err().contains("`partition`"));
    }
}
