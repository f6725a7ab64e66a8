//! The route table: which SAE applications a push deploys to, read from the
//! Spin variable `routes`.
//!
//! The value is JSON, set inline, from a file (`--variable routes=@routes.json`)
//! or from a Kubernetes `ConfigMap`. An empty or whitespace-only value means no
//! table. The caller limits its size.
//!
//! ```json
//! { "routes": [
//!   { "name": "gateway-prod",
//!     "repository": "prod/gateway",
//!     "tags": "semver:minor",
//!     "prerelease": false,
//!     "targets": [
//!       { "app_id": "7171a6ca-d1cd-4928-8642-7d5cfe690000",
//!         "region": "cn-hangzhou",
//!         "registry_host": "myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
//!         "acr_instance_id": "cri-abc123",
//!         "min_ready_instances": 1,
//!         "min_ready_instance_ratio": 50,
//!         "batch_wait_time": 10,
//!         "update_strategy": {"type": "GrayBatchUpdate", "batchUpdate": {"batch": 2, "releaseType": "auto", "batchWaitTime": 1}, "grayUpdate": {"gray": 1}},
//!         "deploy_by_digest": false } ] } ] }
//! ```
//!
//! A bare array of routes is accepted in place of the object.
//!
//! | route field | meaning |
//! |---|---|
//! | `name` | optional; 1 to 64 letters, digits, `.`, `_` or `-`, unique in the table; default `routes[<index>]` |
//! | `repository` | required; a glob on `namespace/name`: `*` matches within one path component, `**` also across `/`, `?` is one character other than `/` |
//! | `tags` | optional tag policy, default `glob:*`; see [`crate::policy`] |
//! | `prerelease` | optional, default `false`; `true` lets a `semver:` policy admit pre-release tags, and is an error with other policies |
//! | `targets` | required; 1 to 20 targets, each application at most once |
//!
//! | target field | meaning |
//! |---|---|
//! | `app_id` | required; the SAE application id (a UUID; read in lower case) |
//! | `region` | SAE region of the application, e.g. `cn-hangzhou` |
//! | `registry_host` | registry host in the image URL, e.g. an ACR Enterprise VPC host |
//! | `acr_instance_id` | ACR Enterprise instance id, `cri-…` |
//! | `min_ready_instances` | `MinReadyInstances`, -1 or more |
//! | `min_ready_instance_ratio` | `MinReadyInstanceRatio`, -1 to 100 |
//! | `batch_wait_time` | `BatchWaitTime` in seconds, 0 to 86400 |
//! | `update_strategy` | `UpdateStrategy`: a JSON object, or a string containing one, with a string `type`; sent as compact JSON |
//! | `deploy_by_digest` | `true` deploys `…@sha256:…` instead of `…:<tag>`; default `false`; not allowed with `semver:` policies |
//!
//! A `null` value counts as absent. Unknown keys, a key repeated in one
//! object, more than 100 routes and a repeated route name are errors.


use serde_json::{Map, Value};

use crate::config::{check_acr_instance_id, check_region_id};
use crate::intake::check_app_id;
use crate::policy::{excerpt, Glob, TagPolicy};
use crate::reference::check_registry_host;
use crate::sae::DeployParams;
use crate::strict_json::StrictValue;

/// Maximum number of routes in a table.
pub(crate) const MAX_ROUTES: usize = 100;

/// Maximum number of targets in one route.
pub(crate) const MAX_TARGETS: usize = 20;

/// Maximum length of a route name.
const MAX_NAME_LEN: usize = 64;

/// Largest `update_strategy` as compact JSON. It goes into the query string
/// of the SAE call, and the limit keeps that URL well under the 8 KiB request
/// line that many HTTP servers accept.
const MAX_UPDATE_STRATEGY_BYTES: usize = 2048;

const ROUTE_FIELDS: &[&str] = &["name", "repository", "tags", "prerelease", "targets"];

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

/// An error in the `routes` variable. Messages are phrased to follow the
/// words "variable `routes`".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RouteError {
    /// The text is not well-formed JSON, or an object in it repeats a key.
    #[error("is not valid JSON: {reason} at line {line} column {column}")]
    InvalidJson {
        /// Parser message, without the text around the error.
        reason: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The table as a whole has the wrong shape or too many routes.
    #[error("{0}")]
    Table(String),
    /// A field of one route is missing or invalid.
    #[error("route `{route}` field `{field}`: {reason}")]
    Field {
        /// The route's name, or `routes[<index>]` when it has none.
        route: String,
        /// Path of the field inside the route, e.g. `targets[0].app_id`.
        field: String,
        /// The problem, and what to write instead.
        reason: String,
    },
}

/// A parsed route table, in the order of the `routes` value.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    routes: Vec<Route>,
}

/// One route: which pushes it admits and where it deploys them.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// The `name` field, or `routes[<index>]`.
    pub(crate) name: String,
    /// Glob on `namespace/name`.
    pub(crate) repository: Glob,
    /// Tag policy from `tags` and `prerelease`.
    pub(crate) policy: TagPolicy,
    /// Applications to deploy to, each at most once.
    pub(crate) targets: Vec<RouteTarget>,
}

/// One application of a route, with its deploy options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RouteTarget {
    /// SAE application id.
    pub(crate) app_id: String,
    /// SAE region of the application.
    pub(crate) region: Option<String>,
    /// Registry host in the image URL.
    pub(crate) registry_host: Option<String>,
    /// ACR Enterprise instance id.
    pub(crate) acr_instance_id: Option<String>,
    /// `MinReadyInstances`.
    pub(crate) min_ready_instances: Option<i64>,
    /// `MinReadyInstanceRatio`, percent.
    pub(crate) min_ready_instance_ratio: Option<i64>,
    /// `BatchWaitTime`, seconds.
    pub(crate) batch_wait_time: Option<i64>,
    /// `UpdateStrategy` as compact JSON text. Keys come out sorted because
    /// serde_json's `preserve_order` feature is off in this build.
    pub(crate) update_strategy: Option<String>,
    /// Deploy the pushed digest instead of the tag.
    pub(crate) deploy_by_digest: bool,
}

/// One route's judgment of a push, for dry runs and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteEvaluation {
    /// The route's name.
    pub(crate) route: String,
    /// The repository glob matched.
    pub(crate) repository_matched: bool,
    /// The tag policy admitted the tag.
    pub(crate) tag_matched: bool,
    /// Both judgments as one sentence, e.g. "repository `prod/gateway`
    /// matches `prod/*`; tag `latest` is not a semver version (…)".
    pub(crate) reason: String,
}

impl RouteTable {
    /// Returns the number of routes.
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    /// Judges a push against every route, in table order.
    pub(crate) fn evaluate(&self, repository: &str, tag: &str) -> Vec<RouteEvaluation> {
        self.routes.iter().map(|route| route.evaluate(repository, tag)).collect()
    }

    /// Returns the (route, target) pairs that a push deploys to, in table
    /// order. An application named by two admitting routes appears twice.
    pub(crate) fn targets_for(&self, repository: &str, tag: &str) -> Vec<(&Route, &RouteTarget)> {
        self.routes
            .iter()
            .filter(|route| route.admits(repository, tag))
            .flat_map(|route| route.targets.iter().map(move |target| (route, target)))
            .collect()
    }

    /// Returns true when a route that admits the push names `app_id`.
    // NOTE: plan.rs filters `targets_for` itself, so only tests call this yet.
    #[allow(dead_code)]
    pub(crate) fn names_app(&self, repository: &str, tag: &str, app_id: &str) -> bool {
        self.targets_for(repository, tag)
            .iter()
            .any(|(_, target)| target.app_id.eq_ignore_ascii_case(app_id))
    }
}

impl Route {
    /// Returns true when both the repository glob and the tag policy admit the push.
    pub(crate) fn admits(&self, repository: &str, tag: &str) -> bool {
        self.repository.is_match(repository) && self.policy.matches(tag).is_ok()
    }

    fn evaluate(&self, repository: &str, tag: &str) -> RouteEvaluation {
        let repository_matched = self.repository.is_match(repository);
        let verb = if repository_matched { "matches" } else { "does not match" };
        let repository_reason = format!("repository `{}` {verb} `{}`", excerpt(repository), self.repository);
        let tag_result = self.policy.matches(tag);
        let tag_reason = match &tag_result {
            Ok(()) => format!("tag `{}` matches `{}`", excerpt(tag), self.policy),
            Err(reason) => format!("tag `{}` {reason}", excerpt(tag)),
        };
        RouteEvaluation {
            route: self.name.clone(),
            repository_matched,
            tag_matched: tag_result.is_ok(),
            reason: format!("{repository_reason}; {tag_reason}"),
        }
    }
}

impl RouteTarget {
    /// Copies the target's deploy options into `params`. Options the target
    /// leaves unset keep their values in `params`.
    pub(crate) fn apply_options(&self, params: &mut DeployParams) {
        let options = [
            (&mut params.min_ready_instances, self.min_ready_instances),
            (&mut params.min_ready_instance_ratio, self.min_ready_instance_ratio),
            (&mut params.batch_wait_time, self.batch_wait_time),
        ];
        for (slot, value) in options {
            if value.is_some() {
                *slot = value;
            }
        }
        if self.update_strategy.is_some() {
            params.update_strategy.clone_from(&self.update_strategy);
        }
        if self.acr_instance_id.is_some() {
            params.acr_instance_id.clone_from(&self.acr_instance_id);
        }
    }
}

/// Parses the `routes` variable. Returns `Ok(None)` for an empty or
/// whitespace-only value, which means no table.
pub(crate) fn parse_routes(text: &str) -> Result<Option<RouteTable>, RouteError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let items = route_items(parse_json(text)?)?;
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
fn route_items(value: Value) -> Result<Vec<Value>, RouteError> {
    let table = |reason: String| Err(RouteError::Table(reason));
    let mut object = match value {
        Value::Array(items) => return Ok(items),
        Value::Object(object) => object,
        other => {
            let reason = format!("must be an object {{\"routes\": [...]}} or an array of routes, not {}", kind(&other));
            return table(reason);
        }
    };
    if let Some(key) = object.keys().find(|key| key.as_str() != "routes") {
        return table(format!("has the unknown top-level key `{}`; the only key is `routes`", excerpt(key)));
    }
    match object.remove("routes") {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => table(format!("key `routes` must be an array of routes, not {}", kind(&other))),
        None => table("has no `routes` key; write {\"routes\": [...]} or a bare array of routes".into()),
    }
}

fn parse_route(index: usize, item: &Value) -> Result<Route, RouteError> {
    let default_name = format!("routes[{index}]");
    let Some(object) = item.as_object() else {
        return Err(field_error(&default_name, "(route)", format!("must be a JSON object, not {}", kind(item))));
    };

    // The name comes first so that later errors can use it.
    let name = match present(object, "name") {
        Some(value) => string(value)
            .and_then(check_name)
            .map_err(|reason| field_error(&default_name, "name", reason))?
            .to_owned(),
        None => default_name,
    };
    let at = |field: &str, reason: String| field_error(&name, field, reason);
    check_keys(object, ROUTE_FIELDS, TARGET_FIELDS, "a target field; move it into an entry of `targets`")
        .map_err(|(key, reason)| at(&key, reason))?;

    let repository = match present(object, "repository") {
        Some(value) => string(value).and_then(Glob::repository),
        None => Err("is missing; set a glob on `namespace/name` such as `prod/gateway` or `prod/*`".into()),
    };
    let repository = repository.map_err(|reason| at("repository", reason))?;
    let prerelease = optional(object, "prerelease", boolean).map_err(|reason| at("prerelease", reason))?;
    let tags = optional(object, "tags", string).map_err(|reason| at("tags", reason))?;
    let policy = TagPolicy::parse(tags.unwrap_or("glob:*"), prerelease.unwrap_or(false))
        .map_err(|reason| at("tags", reason))?;
    if prerelease == Some(true) && !policy.needs_running_version() {
        let policy_text = excerpt(&policy.to_string());
        let reason = format!("applies only to `semver:` policies, and `tags` is `{policy_text}`; remove it");
        return Err(at("prerelease", reason));
    }
    let targets = parse_targets(object.get("targets")).map_err(|(field, reason)| at(&field, reason))?;

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
fn parse_targets(value: Option<&Value>) -> Result<Vec<RouteTarget>, FieldError> {
    let field = |reason: String| ("targets".to_string(), reason);
    let items = match value {
        None | Some(Value::Null) => {
            return Err(field("is missing; list the applications to deploy, e.g. [{\"app_id\": \"7171a6ca-…\"}]".into()))
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(field(format!("must be an array of targets, not {}", kind(other)))),
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
fn parse_target(item: &Value) -> Result<RouteTarget, FieldError> {
    let Some(object) = item.as_object() else {
        let reason = format!("must be a JSON object such as {{\"app_id\": \"…\"}}, not {}", kind(item));
        return Err((String::new(), reason));
    };
    check_keys(object, TARGET_FIELDS, ROUTE_FIELDS, "a route field; move it out of `targets` into the route")?;

    let app_id = match present(object, "app_id") {
        Some(value) => string(value).and_then(|id| check_app_id(id).map(|()| id.to_ascii_lowercase())),
        None => Err("is missing; set it to the SAE application id (a UUID like `7171a6ca-d1cd-4928-8642-7d5cfe690000`)".into()),
    };
    Ok(RouteTarget {
        app_id: app_id.map_err(blame("app_id"))?,
        region: checked_string(object, "region", check_region_id)?,
        registry_host: checked_string(object, "registry_host", check_registry_host)?,
        acr_instance_id: checked_string(object, "acr_instance_id", check_acr_instance_id)?,
        min_ready_instances: bounded(object, "min_ready_instances", (-1, i64::MAX), "a whole number, -1 or more")?,
        min_ready_instance_ratio: bounded(object, "min_ready_instance_ratio", (-1, 100), "a whole percentage from -1 to 100")?,
        batch_wait_time: bounded(object, "batch_wait_time", (0, 86_400), "a whole number of seconds from 0 to 86400")?,
        update_strategy: optional(object, "update_strategy", update_strategy).map_err(blame("update_strategy"))?,
        deploy_by_digest: optional(object, "deploy_by_digest", boolean)
            .map_err(blame("deploy_by_digest"))?
            .unwrap_or(false),
    })
}

fn blame(key: &'static str) -> impl Fn(String) -> FieldError {
    move |reason| (key.to_owned(), reason)
}

/// Reads an optional string that must pass `check`.
fn checked_string(
    object: &Map<String, Value>,
    key: &'static str,
    check: fn(&str) -> Result<(), String>,
) -> Result<Option<String>, FieldError> {
    let read = |value| {
        let text = string(value)?;
        check(text)?;
        Ok(text.to_owned())
    };
    optional(object, key, read).map_err(blame(key))
}

/// Reads an optional integer within `(min, max)`, both included. `rule`
/// describes the range in messages.
fn bounded(
    object: &Map<String, Value>,
    key: &'static str,
    (min, max): (i64, i64),
    rule: &str,
) -> Result<Option<i64>, FieldError> {
    optional(object, key, |value| integer(value, min, max, rule)).map_err(blame(key))
}

/// Checks that `update_strategy` is an object, or a string containing one,
/// with a string `type`, and returns it as compact JSON.
fn update_strategy(value: &Value) -> Result<String, String> {
    const EXAMPLE: &str = r#"{"type": "BatchUpdate", "batchUpdate": {"batch": 2, "releaseType": "auto"}}"#;
    let parsed;
    let strategy = match value {
        Value::Object(_) => value,
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|error| {
                let reason = json_reason(&error);
                format!("is a string that is not valid JSON ({reason}); write a JSON object such as {EXAMPLE}")
            })?;
            &parsed
        }
        other => return Err(format!("must be a JSON object such as {EXAMPLE}, not {}", kind(other))),
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
    Ok(compact)
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

/// Rejects keys outside `allowed`. A key from `elsewhere` gets `hint`.
fn check_keys(object: &Map<String, Value>, allowed: &[&str], elsewhere: &[&str], hint: &str) -> Result<(), FieldError> {
    let Some(key) = object.keys().find(|key| !allowed.contains(&key.as_str())) else {
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
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn optional<'a, T>(
    object: &'a Map<String, Value>,
    key: &str,
    read: impl FnOnce(&'a Value) -> Result<T, String>,
) -> Result<Option<T>, String> {
    present(object, key).map(read).transpose()
}

fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| format!("must be a string, not {}", kind(value)))
}

fn boolean(value: &Value) -> Result<bool, String> {
    value.as_bool().ok_or_else(|| format!("must be true or false, not {}", kind(value)))
}

fn integer(value: &Value, min: i64, max: i64, rule: &str) -> Result<i64, String> {
    let Value::Number(number) = value else {
        return Err(format!("must be {rule}, not {}", kind(value)));
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

/// Parses JSON and rejects an object that repeats a key, which
/// `serde_json::Value` alone would resolve silently to the last value.
fn parse_json(text: &str) -> Result<Value, RouteError> {
    serde_json::from_str::<StrictValue>(text)
        .map(|StrictValue(value)| value)
        .map_err(|error| RouteError::InvalidJson {
            reason: json_reason(&error),
            line: error.line(),
            column: error.column(),
        })
}

/// Returns `serde_json`'s message without its " at line … column …" suffix.
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
