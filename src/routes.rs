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


use crate::policy::{excerpt, Glob, TagPolicy};
use crate::sae::DeployParams;

#[path = "routes_json.rs"]
mod json;
#[path = "routes_parse.rs"]
mod parse;

pub(crate) use parse::parse_routes;

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

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
