//! The JSON shape of the `routes` value. One pass reads the raw fields of
//! the table, of each route and of each target, rejecting invalid JSON and
//! repeated keys anywhere in the text. Unknown keys are kept for the error
//! that `routes_parse.rs` raises in its field order.
//!
//! One node type with a runtime [`Expect`] serves every position, because
//! serde_json compiles its `deserialize_any` once per visitor type. A
//! visitor type per position made the component 9 KB larger.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::strict_json::{read_object, read_once, skip_object, StrictValue};

/// A JSON value of the `routes` value. An object is read into the fields
/// that its position expects, and an array's items as that position's
/// items. Any other value keeps its type for messages.
pub(super) enum Node<'de> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'de, str>),
    Array(Vec<Node<'de>>),
    /// An object where none is expected, checked for repeated keys and dropped.
    Object,
    Table(Box<TableFields<'de>>),
    Route(Box<RouteFields<'de>>),
    Target(Box<TargetFields<'de>>),
}

/// The kind of JSON expected at a position of the `routes` value.
#[derive(Clone, Copy)]
pub(super) enum Expect {
    /// A string, number, boolean or null.
    Scalar,
    /// The whole value: an object with a `routes` key, or an array of routes.
    Document,
    /// An array of routes.
    Routes,
    /// One route object.
    Route,
    /// An array of targets.
    Targets,
    /// One target object.
    Target,
}

/// The keys of the top-level object.
#[derive(Default)]
pub(super) struct TableFields<'de> {
    pub(super) routes: Option<Node<'de>>,
    pub(super) unknown: BTreeSet<String>,
}

/// The keys of one route, as read from the JSON.
#[derive(Default)]
pub(super) struct RouteFields<'de> {
    pub(super) name: Option<Node<'de>>,
    pub(super) repository: Option<Node<'de>>,
    pub(super) tags: Option<Node<'de>>,
    pub(super) prerelease: Option<Node<'de>>,
    pub(super) targets: Option<Node<'de>>,
    pub(super) unknown: BTreeSet<String>,
}

/// The keys of one target, as read from the JSON.
#[derive(Default)]
pub(super) struct TargetFields<'de> {
    pub(super) app_id: Option<Node<'de>>,
    pub(super) region: Option<Node<'de>>,
    pub(super) registry_host: Option<Node<'de>>,
    pub(super) acr_instance_id: Option<Node<'de>>,
    pub(super) min_ready_instances: Option<Node<'de>>,
    pub(super) min_ready_instance_ratio: Option<Node<'de>>,
    pub(super) batch_wait_time: Option<Node<'de>>,
    pub(super) update_strategy: Option<StrictValue>,
    pub(super) deploy_by_digest: Option<Node<'de>>,
    pub(super) unknown: BTreeSet<String>,
}

impl<'de> Node<'de> {
    /// Names the value's JSON type for messages, never quoting the value.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Array(_) => "an array",
            Node::Object | Node::Table(_) | Node::Route(_) | Node::Target(_) => "an object",
        }
    }
}

/// Parses the `routes` value, with the same errors, line and column as
/// `serde_json::from_str`.
pub(super) fn parse_document(text: &str) -> Result<Node<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let document = Expect::Document.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(document)
}

impl Expect {
    /// Returns the expectation for the items of an array at this position.
    fn items(self) -> Expect {
        match self {
            Expect::Document | Expect::Routes => Expect::Route,
            Expect::Targets => Expect::Target,
            Expect::Scalar | Expect::Route | Expect::Target => Expect::Scalar,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Expect {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(NodeVisitor(self))
    }
}

struct NodeVisitor(Expect);

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        // JSON text has no NaN or infinity, so the `Null` arm is unreachable
        // here. It mirrors `Value::from(f64)`.
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.0.items())? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Node<'de>, A::Error> {
        match self.0 {
            Expect::Document => read_table(map).map(Node::Table),
            Expect::Route => read_route(map).map(Node::Route),
            Expect::Target => read_target(map).map(Node::Target),
            Expect::Scalar | Expect::Routes | Expect::Targets => skip_object(map).map(|()| Node::Object),
        }
    }
}

// The field structs are large, so each is built in its box.

fn read_table<'de, A: MapAccess<'de>>(map: A) -> Result<Box<TableFields<'de>>, A::Error> {
    let mut fields = Box::<TableFields>::default();
    read_object(map, &mut fields.unknown, |key, map| match key {
        "routes" => Some(read_once(&mut fields.routes, map, Expect::Routes)),
        _ => None,
    })?;
    Ok(fields)
}

fn read_route<'de, A: MapAccess<'de>>(map: A) -> Result<Box<RouteFields<'de>>, A::Error> {
    let mut fields = Box::<RouteFields>::default();
    read_object(map, &mut fields.unknown, |key, map| {
        let (slot, expect) = match key {
            "name" => (&mut fields.name, Expect::Scalar),
            "repository" => (&mut fields.repository, Expect::Scalar),
            "tags" => (&mut fields.tags, Expect::Scalar),
            "prerelease" => (&mut fields.prerelease, Expect::Scalar),
            "targets" => (&mut fields.targets, Expect::Targets),
            _ => return None,
        };
        Some(read_once(slot, map, expect))
    })?;
    Ok(fields)
}

fn read_target<'de, A: MapAccess<'de>>(map: A) -> Result<Box<TargetFields<'de>>, A::Error> {
    let mut fields = Box::<TargetFields>::default();
    read_object(map, &mut fields.unknown, |key, map| {
        let slot = match key {
            "update_strategy" => return Some(read_once(&mut fields.update_strategy, map, PhantomData)),
            "app_id" => &mut fields.app_id,
            "region" => &mut fields.region,
            "registry_host" => &mut fields.registry_host,
            "acr_instance_id" => &mut fields.acr_instance_id,
            "min_ready_instances" => &mut fields.min_ready_instances,
            "min_ready_instance_ratio" => &mut fields.min_ready_instance_ratio,
            "batch_wait_time" => &mut fields.batch_wait_time,
            "deploy_by_digest" => &mut fields.deploy_by_digest,
            _ => return None,
        };
        Some(read_once(slot, map, Expect::Scalar))
    })?;
    Ok(fields)
}
