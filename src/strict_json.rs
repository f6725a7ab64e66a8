//! JSON parsing that rejects an object repeating a key, which
//! `serde_json::Value` alone resolves silently to the last value.
//!
//! [`StrictValue`] reads any value into a `serde_json::Value`.
//! [`read_object`] and [`read_once`] help a visitor read an object with
//! known keys straight into typed fields.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::policy::excerpt;

/// A JSON value parsed with repeated object keys rejected.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(repeated_key(&key));
            }
            let StrictValue(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Builds the error for a key that appears twice in one object.
fn repeated_key<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("key `{}` appears twice in one object", excerpt(key)))
}

/// An object key, borrowed from the input unless it contains escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
}

/// Reads the entries of an object with known keys. `read` reads the value
/// of a known key and returns `None` for an unknown one, whose value is then
/// checked and dropped and whose key goes into `unknown`.
///
/// A repeated key is rejected before its second value is read, so that the
/// error points at the key. `read` reports a known key that it has read
/// before by returning `Some(Ok(false))`, which [`read_once`] does.
pub(crate) fn read_object<'de, A: MapAccess<'de>>(
    mut map: A,
    unknown: &mut BTreeSet<String>,
    mut read: impl FnMut(&str, &mut A) -> Option<Result<bool, A::Error>>,
) -> Result<(), A::Error> {
    while let Some(Key(key)) = map.next_key()? {
        let first_time = match read(&key, &mut map) {
            Some(result) => result?,
            None if unknown.contains(key.as_ref()) => false,
            None => {
                map.next_value::<StrictValue>()?;
                unknown.insert(key.as_ref().to_owned());
                true
            }
        };
        if !first_time {
            return Err(repeated_key(&key));
        }
    }
    Ok(())
}

/// Reads the next value into `slot` with `seed`. Returns `Ok(false)`,
/// reading nothing, when `slot` already contains a value.
pub(crate) fn read_once<'de, A: MapAccess<'de>, S: DeserializeSeed<'de>>(
    slot: &mut Option<S::Value>,
    map: &mut A,
    seed: S,
) -> Result<bool, A::Error> {
    if slot.is_some() {
        return Ok(false);
    }
    *slot = Some(map.next_value_seed(seed)?);
    Ok(true)
}

/// Reads an object, rejecting repeated keys at every depth, and drops it.
pub(crate) fn skip_object<'de, A: MapAccess<'de>>(map: A) -> Result<(), A::Error> {
    StrictVisitor.visit_map(map).map(drop)
}
