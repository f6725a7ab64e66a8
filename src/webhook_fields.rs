//! Reads the known string fields of an ACR body with serde, in document
//! order, and records which field stopped the read.
//!
//! The visitors are written by hand because they know the path of each
//! field they read. Derived structs would need a generic wrapper such as
//! `serde_path_to_error` to name the field, which cost about 12 KB of the
//! release component.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::webhook::{data_reason, BodyError};

/// Keys of `push_data` that the product reads.
const PUSH_DATA_KEYS: &[&str] = &["digest", "tag"];

/// Keys of `repository` that the product reads.
const REPOSITORY_KEYS: &[&str] = &["name", "namespace", "region", "repo_full_name"];

/// The two sections of a body, `None` when absent or `null`.
pub(crate) struct RawBody {
    pub(crate) push_data: Option<Section>,
    pub(crate) repository: Option<Section>,
}

/// The string values of one section's known keys.
pub(crate) struct Section {
    keys: &'static [&'static str],
    values: Vec<Option<String>>,
}

impl Section {
    /// Takes the value of `key`, which is `None` when absent or `null`.
    pub(crate) fn take(&mut self, key: &str) -> Option<String> {
        let index = self.keys.iter().position(|k| *k == key)?;
        self.values.get_mut(index)?.take()
    }
}

/// Reads a body that is known to be a JSON object. On a data error the
/// returned error contains the field's `BodyError`. Other errors come back
/// with `None`.
pub(crate) fn read_body(body: &[u8]) -> Result<RawBody, (Option<BodyError>, serde_json::Error)> {
    let mut failure = None;
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let result = BodySeed { failure: &mut failure }.deserialize(deserializer);
    result.map_err(|error| (failure, error))
}

/// Records a failure at `field` and returns an error that stops the read.
/// Callers report the recorded failure, not this error.
fn fail<E: de::Error>(failure: &mut Option<BodyError>, field: String, reason: String) -> E {
    *failure = Some(BodyError::InvalidField { field, reason });
    E::custom("invalid field")
}

/// The top-level object.
struct BodySeed<'a> {
    failure: &'a mut Option<BodyError>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = RawBody;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawBody, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = RawBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawBody, A::Error> {
        let mut body = RawBody {
            push_data: None,
            repository: None,
        };
        let mut seen = [false; 2];
        while let Some(key) = map.next_key::<String>()? {
            let (index, keys, slot) = match key.as_str() {
                "push_data" => (0, PUSH_DATA_KEYS, &mut body.push_data),
                "repository" => (1, REPOSITORY_KEYS, &mut body.repository),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(fail(self.failure, key, "appears more than once".into()));
            }
            let seed = SectionSeed {
                name: if index == 0 { "push_data" } else { "repository" },
                keys,
                failure: &mut *self.failure,
            };
            *slot = map.next_value_seed(seed)?;
        }
        Ok(body)
    }
}

/// One section: `null` or an object whose known keys hold strings.
struct SectionSeed<'a> {
    name: &'static str,
    keys: &'static [&'static str],
    failure: &'a mut Option<BodyError>,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_> {
    type Value = Option<Section>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Section>, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for SectionSeed<'_> {
    type Value = Option<Section>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Section>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Section>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Section>, D::Error> {
        deserializer.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Section>, A::Error> {
        let mut values: Vec<Option<String>> = vec![None; self.keys.len()];
        let mut seen = vec![false; self.keys.len()];
        while let Some(key) = map.next_key::<String>()? {
            let Some(index) = self.keys.iter().position(|k| *k == key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = || format!("{}.{key}", self.name);
            if std::mem::replace(&mut seen[index], true) {
                return Err(fail(self.failure, field(), "appears more than once".into()));
            }
            match map.next_value::<Option<String>>() {
                Ok(value) => values[index] = value,
                Err(error) => return Err(fail(self.failure, field(), data_reason(&error.to_string()))),
            }
        }
        Ok(Some(Section { keys: self.keys, values }))
    }
}
