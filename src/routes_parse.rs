//! Parsing of the `routes` variable. The JSON is read first, into the raw
//! fields of `routes_json.rs`, and those are then checked in a fixed order
//! to build the [`Route`]s. So invalid JSON or a repeated key is reported
//! before any field error, wherever it occurs in the text.

use std::collections::BTreeSet;

use serde_json::Value;

use super::json::{parse_document, Node};
use super::{
    Route, RouteError, RouteTable, RouteTarget, MAX_NAME_LEN, MAX_ROUTES, MAX_TARGETS, MAX_UPDATE_STRATEGY_BYTES,
};
use crate::config::{check_acr_instance_id, check_region_id};
use crate::intake::check_app_id;
use crate::policy::{excerpt, Glob, TagPolicy};
use crate::reference::check_registry_host;
use crate::strict_json::StrictValue;

/// The keys that `RouteFields` reads, listed in messages.
const ROUTE_FIELDS: &[&str] = &["name", "repository", "tags", "prerelease", "targets"];

/// The keys that `TargetFields` reads, listed in messages.
const TARGET_FIELDS: &[&str] = &[
    "app_id",
    "region",
    "registry_host",
    "acr_instance_id",
    "min_ready_instances",
    "min_ready_instance_ratio",
    "batch_wait_time",
    "update_strategy",
    "deploy_by_digest",
];

/// Parses the `routes` variable. Returns `Ok(None)` for an empty or
/// whitespace-only value, which means no table.
pub(crate) fn parse_routes(text: &str) -> Result<Option<RouteTable>, RouteError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let document = parse_document(text).map_err(|error| RouteError::InvalidJson {
        reason: json_reason(&error),
        line: error.line(),
        column: error.column(),
    })?;
    let items = route_items(document)?;
    if items.is_empty() {
        return Err(RouteError::Table(
            "has no routes; add one, or set `routes` to an empty value to deploy only the trigger URL's `app_id`".into(),
        ));
    }
    if items.len() > MAX_ROUTES {
        return Err(RouteError::Table(format!(
            "has {} routes, over the limit of {MAX_ROUTES}; merge routes with repository globs such as `prod/*`",
            items.len()
        )));
    }

    let mut routes: Vec<Route> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let route = parse_route(index, item)?;
        if let Some(first) = routes.iter().position(|r| r.name == route.name) {
            return Err(field_error(
                &route.name,
                "name",
                format!("is used by routes[{first}] and routes[{index}]; give each route its own name"),
            ));
        }
        routes.push(route);
    }
    Ok(Some(RouteTable { routes }))
}

/// Takes the route list out of `{"routes": [...]}` or a bare array.
fn route_items(document: Node) -> Result<Vec<Node>, RouteError> {
    let table = |reason: String| Err(RouteError::Table(reason));
    let fields = match document {
        Node::Array(items) => return Ok(items),
        Node::Table(fields) => fields,
        other => {
            let reason = format!("must be an object {{\"routes\": [...]}} or an array of routes, not {}", other.kind());
            return table(reason);
        }
    };
    if let Some(key) = fields.unknown.first() {
        return table(format!("has the unknown top-level key `{}`; the only key is `routes`", excerpt(key)));
    }
    match fields.routes {
        Some(Node::Array(items)) => Ok(items),
        Some(other) => table(format!("key `routes` must be an array of routes, not {}", other.kind())),
        None => table("has no `routes` key; write {\"routes\": [...]} or a bare array of routes".into()),
    }
}

fn parse_route(index: usize, item: &Node) -> Result<Route, RouteError> {
    let default_name = || format!("routes[{index}]");
    let Node::Route(object) = item else {
        return Err(field_error(&default_name(), "(route)", format!("must be a JSON object, not {}", item.kind())));
    };

    // The name comes first so that later errors can use it.
    let name = match present(&object.name) {
        Some(value) => string(value)
            .and_then(check_name)
            .map_err(|reason| field_error(&default_name(), "name", reason))?
            .to_owned(),
        None => default_name(),
    };
    let at = |field: &str, reason: String| field_error(&name, field, reason);
    check_keys(&object.unknown, ROUTE_FIELDS, TARGET_FIELDS, "a target field; move it into an entry of `targets`")
        .map_err(|(key, reason)| at(&key, reason))?;

    let repository = match present(&object.repository) {
        Some(value) => string(value).and_then(Glob::repository),
        None => Err("is missing; set a glob on `namespace/name` such as `prod/gateway` or `prod/*`".into()),
    };
    let repository = repository.map_err(|reason| at("repository", reason))?;
    let prerelease = optional(&object.prerelease, boolean).map_err(|reason| at("prerelease", reason))?;
    let tags = optional(&object.tags, string).map_err(|reason| at("tags", reason))?;
    let policy = TagPolicy::parse(tags.unwrap_or("glob:*"), prerelease.unwrap_or(false))
        .map_err(|reason| at("tags", reason))?;
    if prerelease == Some(true) && !policy.needs_running_version() {
        let policy_text = excerpt(&policy.to_string());
        let reason = format!("applies only to `semver:` policies, and `tags` is `{policy_text}`; remove it");
        return Err(at("prerelease", reason));
    }
    let targets = parse_targets(object.targets.as_ref()).map_err(|(field, reason)| at(&field, reason))?;

    // SAE reports a digest-pinned image without a tag, so a semver policy
    // would have no running version to compare with and could downgrade.
    if policy.needs_running_version() {
        if let Some(index) = targets.iter().position(|t| t.deploy_by_digest) {
            let reason = format!(
                "cannot be `true` with `tags` `{policy}`: SAE then reports a digest, not a version, as running, so downgrades could not be refused"
            );
            return Err(at(&format!("targets[{index}].deploy_by_digest"), reason));
        }
    }
    Ok(Route { name, repository, policy, targets })
}

/// Parses `targets`. Errors carry the field path inside the route.
fn parse_targets(value: Option<&Node>) -> Result<Vec<RouteTarget>, FieldError> {
    let field = |reason: String| ("targets".to_string(), reason);
    let items = match value {
        None | Some(Node::Null) => {
            return Err(field("is missing; list the applications to deploy, e.g. [{\"app_id\": \"7171a6ca-…\"}]".into()))
        }
        Some(Node::Array(items)) => items,
        Some(other) => return Err(field(format!("must be an array of targets, not {}", other.kind()))),
    };
    if items.is_empty() {
        return Err(field("is empty; list at least one target such as {\"app_id\": \"…\"}".into()));
    }
    if items.len() > MAX_TARGETS {
        let count = items.len();
        let reason = format!("has {count} targets, over the limit of {MAX_TARGETS}; split them over several routes");
        return Err(field(reason));
    }

    let mut targets: Vec<RouteTarget> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let path = |sub: &str| match sub {
            "" => format!("targets[{index}]"),
            _ => format!("targets[{index}].{sub}"),
        };
        let target = parse_target(item).map_err(|(sub, reason)| (path(&sub), reason))?;
        if let Some(first) = targets.iter().position(|t| t.app_id.eq_ignore_ascii_case(&target.app_id)) {
            let reason = format!("repeats targets[{first}]; list each application once per route");
            return Err((path("app_id"), reason));
        }
        targets.push(target);
    }
    Ok(targets)
}

/// A field path inside a route or target, and what is wrong with it.
type FieldError = (String, String);

/// Parses one target. Errors carry the field name inside the target, or an
/// empty name for the target itself.
fn parse_target(item: &Node) -> Result<RouteTarget, FieldError> {
    let Node::Target(object) = item else {
        let reason = format!("must be a JSON object such as {{\"app_id\": \"…\"}}, not {}", item.kind());
        return Err((String::new(), reason));
    };
    check_keys(&object.unknown, TARGET_FIELDS, ROUTE_FIELDS, "a route field; move it out of `targets` into the route")?;

    let app_id = match present(&object.app_id) {
        Some(value) => string(value).and_then(|id| check_app_id(id).map(|()| id.to_ascii_lowercase())),
        None => Err("is missing; set it to the SAE application id (a UUID like `7171a6ca-d1cd-4928-8642-7d5cfe690000`)".into()),
    };
    let update_strategy = object.update_strategy.as_ref().map(|StrictValue(value)| value);
    Ok(RouteTarget {
        app_id: app_id.map_err(blame("app_id"))?,
        region: checked_string(&object.region, "region", check_region_id)?,
        registry_host: checked_string(&object.registry_host, "registry_host", check_registry_host)?,
        acr_instance_id: checked_string(&object.acr_instance_id, "acr_instance_id", check_acr_instance_id)?,
        min_ready_instances: bounded(&object.min_ready_instances, "min_ready_instances", (-1, i64::MAX), "a whole number, -1 or more")?,
        min_ready_instance_ratio: bounded(&object.min_ready_instance_ratio, "min_ready_instance_ratio", (-1, 100), "a whole percentage from -1 to 100")?,
        batch_wait_time: bounded(&object.batch_wait_time, "batch_wait_time", (0, 86_400), "a whole number of seconds from 0 to 86400")?,
        update_strategy: parse_update_strategy(update_strategy.filter(|value| !value.is_null()))
            .map_err(blame("update_strategy"))?,
        deploy_by_digest: optional(&object.deploy_by_digest, boolean)
            .map_err(blame("deploy_by_digest"))?
            .unwrap_or(false),
    })
}

fn blame(key: &'static str) -> impl Fn(String) -> FieldError {
    move |reason| (key.to_owned(), reason)
}

/// Reads an optional string that must pass `check`.
fn checked_string(
    slot: &Option<Node>,
    key: &'static str,
    check: fn(&str) -> Result<(), String>,
) -> Result<Option<String>, FieldError> {
    let read = |value| {
        let text = string(value)?;
        check(text)?;
        Ok(text.to_owned())
    };
    optional(slot, read).map_err(blame(key))
}

/// Reads an optional integer within `(min, max)`, both included. `rule`
/// describes the range in messages.
fn bounded(
    slot: &Option<Node>,
    key: &'static str,
    (min, max): (i64, i64),
    rule: &str,
) -> Result<Option<i64>, FieldError> {
    optional(slot, |value| integer(value, min, max, rule)).map_err(blame(key))
}

/// Checks that `update_strategy` is an object, or a string containing one,
/// with a string `type`, and returns it as compact JSON.
fn parse_update_strategy(value: Option<&Value>) -> Result<Option<String>, String> {
    const EXAMPLE: &str = r#"{"type": "BatchUpdate", "batchUpdate": {"batch": 2, "releaseType": "auto"}}"#;
    let parsed;
    let strategy = match value {
        None => return Ok(None),
        Some(value @ Value::Object(_)) => value,
        Some(Value::String(text)) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|error| {
                let reason = json_reason(&error);
                format!("is a string that is not valid JSON ({reason}); write a JSON object such as {EXAMPLE}")
            })?;
            &parsed
        }
        Some(other) => return Err(format!("must be a JSON object such as {EXAMPLE}, not {}", kind(other))),
    };
    let Some(object) = strategy.as_object() else {
        return Err(format!("must contain a JSON object such as {EXAMPLE}, not {}", kind(strategy)));
    };
    match object.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => {}
        _ => return Err("needs a string `type`, such as `GrayBatchUpdate` or `BatchUpdate`".into()),
    }
    let compact = strategy.to_string();
    if compact.len() > MAX_UPDATE_STRATEGY_BYTES {
        let size = compact.len();
        return Err(format!("is {size} bytes as compact JSON, over the {MAX_UPDATE_STRATEGY_BYTES}-byte limit"));
    }
    Ok(Some(compact))
}

fn check_name(name: &str) -> Result<&str, String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(format!("must be 1 to {MAX_NAME_LEN} letters, digits, `.`, `_` or `-`, such as `gateway-prod`"));
    }
    Ok(name)
}

/// Rejects the first of the `unknown` keys in sorted order. A key from
/// `elsewhere` gets `hint`.
fn check_keys(unknown: &BTreeSet<String>, allowed: &[&str], elsewhere: &[&str], hint: &str) -> Result<(), FieldError> {
    let Some(key) = unknown.first() else {
        return Ok(());
    };
    let reason = if elsewhere.contains(&key.as_str()) {
        format!("is {hint}")
    } else {
        format!("is not a known field; the fields here are `{}`", allowed.join("`, `"))
    };
    Err((excerpt(key), reason))
}

/// Returns the value of a key unless it is absent or `null`.
fn present<'a, 'de>(slot: &'a Option<Node<'de>>) -> Option<&'a Node<'de>> {
    slot.as_ref().filter(|value| !matches!(value, Node::Null))
}

fn optional<'a, 'de: 'a, T>(
    slot: &'a Option<Node<'de>>,
    read: impl FnOnce(&'a Node<'de>) -> Result<T, String>,
) -> Result<Option<T>, String> {
    present(slot).map(read).transpose()
}

fn string<'a>(value: &'a Node) -> Result<&'a str, String> {
    match value {
        Node::String(text) => Ok(text),
        other => Err(format!("must be a string, not {}", other.kind())),
    }
}

fn boolean(value: &Node) -> Result<bool, String> {
    match value {
        Node::Bool(flag) => Ok(*flag),
        other => Err(format!("must be true or false, not {}", other.kind())),
    }
}

fn integer(value: &Node, min: i64, max: i64, rule: &str) -> Result<i64, String> {
    let Node::Number(number) = value else {
        return Err(format!("must be {rule}, not {}", value.kind()));
    };
    match number.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("must be {rule}, not {}", excerpt(&number.to_string()))),
    }
}

/// Names a JSON value's type for messages, never quoting the value.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn field_error(route: &str, field: &str, reason: String) -> RouteError {
    RouteError::Field { route: route.to_owned(), field: field.to_owned(), reason }
}

/// Returns `serde_json`'s message without its " at line … column …" suffix.
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}
