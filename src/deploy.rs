//! Deploying a planned push: per target, compare with the running version
//! when the tag policy asks, claim the (app, image) pair, call
//! `DeployApplication`, and keep the outcome in history.

use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::answer::Rejection;
use crate::config::DeployConfig;
use crate::dedup::{self, Claim, ClaimPolicy, POLL_INTERVAL};
use crate::flow::{call, Platform};
use crate::history;
use crate::logline::LogLine;
use crate::plan::PlanItem;
use crate::policy::{running_tag, Decision};
use crate::retry::{MIN_ATTEMPT_TIME, REQUEST_BUDGET};
use crate::sae::{deploy_application, describe_application_config, list_change_orders, DeployParams};
use crate::store::{DeployRecord, Store};
use crate::target::Target;
use crate::webhook::PushEvent;

/// Age after which an unfinished claim is taken over. It is well above the
/// longest a delivery can hold one (two SAE calls of at most 25 s each).
const STALE_CLAIM_SECS: u64 = 120;

/// How many of an app's newest change orders are searched for a lost one.
const RECENT_CHANGE_ORDERS: u32 = 20;

/// The result of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// SAE accepted the change order.
    Deploying,
    /// An earlier delivery already deployed this digest to the app.
    Duplicate,
    /// An earlier delivery of this digest is still deploying.
    InProgress,
    /// The policy decided not to deploy.
    Skipped,
    /// The deploy failed.
    Failed,
}

impl Status {
    /// Returns the word used in answers, logs and history.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Deploying => "deploying",
            Status::Duplicate => "duplicate",
            Status::InProgress => "in_progress",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// The outcome for one target.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// SAE application id.
    pub(crate) app_id: String,
    /// Route name, in route-table mode.
    pub(crate) route: Option<String>,
    /// What happened.
    pub(crate) status: Status,
    /// Why, for skips, duplicates and failures.
    pub(crate) reason: Option<String>,
    /// Image sent (or that would have been sent).
    pub(crate) image: Option<String>,
    /// SAE change order id (the original one for duplicates).
    pub(crate) change_order_id: Option<String>,
    /// SAE request id of the last call.
    pub(crate) request_id: Option<String>,
    /// The failure, for building the single-app answer.
    pub(crate) error: Option<Rejection>,
    /// Retries of throttled or busy SAE calls.
    pub(crate) retries: u32,
}

impl Outcome {
    fn new(item: &PlanItem<'_>, status: Status) -> Self {
        Outcome {
            app_id: item.app_id.clone(),
            route: item.route.map(|r| r.name.clone()),
            status,
            reason: None,
            image: item.target.as_ref().ok().map(|t| t.params.image_url.clone()),
            change_order_id: None,
            request_id: None,
            error: None,
            retries: 0,
        }
    }

    fn failed(item: &PlanItem<'_>, error: Rejection) -> Self {
        let mut outcome = Outcome::new(item, Status::Failed);
        outcome.reason = Some(error.to_string());
        outcome.error = Some(error);
        outcome
    }

    /// Returns the outcome as JSON for answers.
    pub(crate) fn to_json(&self) -> Value {
        let mut value = json!({
            "app_id": self.app_id,
            "status": self.status.as_str(),
            "image": self.image,
            "change_order_id": self.change_order_id,
            "request_id": self.request_id,
        });
        if let Some(route) = &self.route {
            value["route"] = json!(route);
        }
        if let Some(reason) = &self.reason {
            value["reason"] = json!(reason);
        }
        if let Some(error) = &self.error {
            let answer = error.to_answer();
            value["code"] = answer.body["code"].clone();
            for key in ["sae_code", "sae_message"] {
                if let Some(v) = answer.body.get(key) {
                    value[key] = v.clone();
                }
            }
        }
        value
    }
}

/// Shared inputs of one delivery's deploys.
pub(crate) struct Delivery<'a> {
    /// The host.
    pub(crate) platform: &'a dyn Platform,
    /// Settings.
    pub(crate) config: &'a DeployConfig,
    /// The key-value store, when it opened.
    pub(crate) store: Option<&'a dyn Store>,
    /// The push.
    pub(crate) event: &'a PushEvent,
}

/// Deploys one planned target and records the outcome.
pub(crate) fn execute(delivery: &Delivery<'_>, item: &PlanItem<'_>) -> Outcome {
    let target = match &item.target {
        Ok(target) => target,
        Err(error) => return Outcome::failed(item, error.clone()),
    };

    // Past the request's budget, a target is not started at all: no store
    // writes, no SAE calls, so a long route table ends in time.
    let left = delivery.platform.deadline().saturating_duration_since(Instant::now());
    if left < MIN_ATTEMPT_TIME {
        let error = Rejection::NotAttempted {
            action: "DeployApplication",
            budget_secs: REQUEST_BUDGET.as_secs(),
        };
        return Outcome::failed(item, error);
    }
    let outcome = run(delivery, item, target);
    if matches!(outcome.status, Status::Deploying | Status::Skipped | Status::Failed) {
        remember(delivery, target, &outcome);
    }
    outcome
}

fn run(delivery: &Delivery<'_>, item: &PlanItem<'_>, target: &Target) -> Outcome {
    // Compare with the running version when the tag policy asks for it.
    if let Some(route) = item.route.filter(|r| r.policy.needs_running_version()) {
        let running = match running_image(delivery, target) {
            Ok(image) => image,
            Err(error) => return Outcome::failed(item, error),
        };
        let repository = delivery.event.repository();
        let running_tag = running.as_deref().and_then(|image| running_tag(image, &repository));
        if let Decision::Skip(reason) = route.policy.decide(&delivery.event.tag, running_tag) {
            let mut outcome = Outcome::new(item, Status::Skipped);
            outcome.reason = Some(reason);
            return outcome;
        }
    }

    // Claim the (app, image) pair so that only one delivery deploys it.
    let claimed = match claim(delivery, item, target) {
        Ok(claimed) => claimed,
        Err(outcome) => return *outcome,
    };

    // Deploy, with a marker in the description that finds the change
    // order again if the answer is lost.
    let mut scratch = LogLine::default();
    let (params, marker) = with_marker(&target.params, &delivery.platform.nonce());
    let request = deploy_application(&target.endpoint, &params);
    let result = call(delivery.platform, delivery.config, &request, &mut scratch);
    let outcome = match result {
        Ok(success) => {
            let mut outcome = Outcome::new(item, Status::Deploying);
            outcome.change_order_id = success.data_text("ChangeOrderId");
            outcome.request_id = success.request_id;
            outcome
        }
        Err(error) if is_ambiguous(&error) => confirm(delivery, item, target, &marker, error),
        Err(error) => {
            let mut outcome = Outcome::failed(item, error);
            outcome.request_id = scratch.get("request_id").map(str::to_owned);
            outcome
        }
    };
    let mut outcome = outcome;
    outcome.retries = scratch.get("retries").and_then(|r| r.parse().ok()).unwrap_or(0);
    if let (Some(store), Some(image_id)) = (claimed, image_id(delivery.event, target)) {
        let stored = match outcome.status {
            Status::Deploying => dedup::finish(store, &record(delivery, target, &outcome), &image_id),
            _ => dedup::release(store, &item.app_id, &image_id),
        };
        if let Err(error) = stored {
            delivery.platform.log(&format!("event=store_error step=finish_claim error=\"{error}\""));
        }
    }
    outcome
}

/// Appends a marker unique to this deploy attempt, e.g. `[delivery 3f9a1c02e4]`,
/// to the change order description. Returns the parameters and the marker.
pub(crate) fn with_marker(params: &DeployParams, nonce: &str) -> (DeployParams, String) {
    let id: String = nonce.chars().filter(char::is_ascii_alphanumeric).take(10).collect();
    let marker = format!("[delivery {id}]");
    let mut params = params.clone();
    params.change_order_desc = format!("{} {marker}", params.change_order_desc);
    (params, marker)
}

/// Returns true when the error leaves open whether SAE created the change
/// order: a timeout, a 5xx, a broken exchange or an unreadable answer. Other
/// errors mean it did not.
fn is_ambiguous(error: &Rejection) -> bool {
    match error {
        Rejection::SaeTimeout { .. } => true,
        Rejection::SaeUnreachable { maybe_sent, .. } => *maybe_sent,
        Rejection::Sae { error, .. } => error.status >= 500 || error.code == "InvalidResponse",
        _ => false,
    }
}

/// After an ambiguous failure, looks for the change order with this
/// delivery's marker instead of retrying blindly, and reports what SAE did.
fn confirm(delivery: &Delivery<'_>, item: &PlanItem<'_>, target: &Target, marker: &str, error: Rejection) -> Outcome {
    let request = list_change_orders(&target.endpoint, &target.params.app_id, RECENT_CHANGE_ORDERS);
    let listed = call(delivery.platform, delivery.config, &request, &mut LogLine::default());
    let found = listed.as_ref().ok().and_then(|success| {
        success
            .data
            .get("ChangeOrderList")?
            .as_array()?
            .iter()
            .find(|order| order.get("Description").and_then(Value::as_str).is_some_and(|d| d.contains(marker)))
            .and_then(|order| crate::sae_response::text(order, "ChangeOrderId"))
    });
    match (found, listed) {
        (Some(change_order_id), _) => {
            let mut outcome = Outcome::new(item, Status::Deploying);
            outcome.reason = Some(format!(
                "SAE did not answer cleanly ({error}) but created the change order; found with ListChangeOrders"
            ));
            outcome.change_order_id = Some(change_order_id);
            outcome
        }
        (None, Ok(_)) => {
            let mut outcome = Outcome::failed(item, error);
            outcome.reason = Some(format!(
                "{}; ListChangeOrders shows no change order from this delivery, so redelivering deploys again",
                outcome.reason.unwrap_or_default()
            ));
            outcome
        }
        (None, Err(list_error)) => {
            let mut outcome = Outcome::failed(item, error);
            outcome.reason = Some(format!(
                "{}; whether SAE created a change order is unknown because ListChangeOrders failed: {list_error}",
                outcome.reason.unwrap_or_default()
            ));
            outcome
        }
    }
}

/// Identifies what a deploy puts on the app: the digest, plus the tag when
/// the image is deployed by tag, so that pushing the same image under a new
/// tag (promoting `rc` to `v1.0.0`) still deploys. `None` without a digest:
/// a tag alone can move, so such pushes are not deduplicated.
pub(crate) fn image_id(event: &PushEvent, target: &Target) -> Option<String> {
    let digest = event.digest.as_ref()?;
    if target.params.image_url.contains('@') {
        Some(digest.clone())
    } else {
        Some(format!("{digest}:{}", event.tag))
    }
}

/// Takes the claim. Returns the store that holds it (`None` when there is
/// no digest or no store), or the outcome that ends this target.
fn claim<'a>(delivery: &Delivery<'a>, item: &PlanItem<'_>, target: &Target) -> Result<Option<&'a dyn Store>, Box<Outcome>> {
    let (Some(store), Some(image_id)) = (delivery.store, image_id(delivery.event, target)) else {
        return Ok(None);
    };
    let policy = ClaimPolicy {
        now: now_secs(delivery.platform),
        retention: delivery.config.retention.as_secs(),
        stale_after: STALE_CLAIM_SECS,
    };
    // Wait for another delivery at most as long as its SAE call can take,
    // and never past this request's deadline.
    let left = delivery.platform.deadline().saturating_duration_since(Instant::now());
    let budget = (delivery.config.sae_timeout + Duration::from_secs(2)).min(left.saturating_sub(MIN_ATTEMPT_TIME));
    let polls = budget.as_millis() / POLL_INTERVAL.as_millis();
    let mut remaining = polls;
    let mut wait = || {
        if remaining == 0 {
            return false;
        }
        remaining -= 1;
        delivery.platform.sleep(POLL_INTERVAL);
        true
    };
    match dedup::claim(store, &item.app_id, &image_id, policy, &mut wait) {
        Ok(Claim::Won) => Ok(Some(store)),
        Ok(Claim::Duplicate(original)) => {
            let mut outcome = Outcome::new(item, Status::Duplicate);
            outcome.reason = Some(format!("this image was already deployed at {}", crate::store::rfc3339(original.time)));
            outcome.change_order_id = original.change_order_id;
            outcome.request_id = original.request_id;
            Err(Box::new(outcome))
        }
        Ok(Claim::InProgress) => {
            let mut outcome = Outcome::new(item, Status::InProgress);
            outcome.reason = Some("an earlier delivery of this image is still deploying".into());
            Err(Box::new(outcome))
        }
        Err(error) => Err(Box::new(Outcome::failed(item, error.into()))),
    }
}

/// Reads the image the app runs now, with `DescribeApplicationConfig`.
fn running_image(delivery: &Delivery<'_>, target: &Target) -> Result<Option<String>, Rejection> {
    let request = describe_application_config(&target.endpoint, &target.params.app_id);
    let success = call(delivery.platform, delivery.config, &request, &mut LogLine::default())?;
    Ok(success.data_text("ImageUrl"))
}

fn record(delivery: &Delivery<'_>, target: &Target, outcome: &Outcome) -> DeployRecord {
    let event = delivery.event;
    let sae_code = outcome
        .error
        .as_ref()
        .and_then(|e| e.sae_code().map(str::to_owned));
    DeployRecord {
        time: now_secs(delivery.platform),
        repository: event.repository(),
        tag: event.tag.clone(),
        digest: event.digest.clone(),
        app_id: outcome.app_id.clone(),
        image: target.params.image_url.clone(),
        region: target.region.clone(),
        route: outcome.route.clone(),
        outcome: outcome.status.as_str().to_owned(),
        reason: outcome.reason.clone(),
        change_order_id: outcome.change_order_id.clone(),
        request_id: outcome.request_id.clone(),
        sae_code,
    }
}

/// Appends the outcome to history; a store failure is logged, not fatal.
fn remember(delivery: &Delivery<'_>, target: &Target, outcome: &Outcome) {
    let Some(store) = delivery.store else { return };
    let record = record(delivery, target, outcome);
    let time_ms = now_ms(delivery.platform);
    let retention = delivery.config.retention.as_secs();
    if let Err(error) = history::append(store, &record, time_ms, retention) {
        delivery.platform.log(&format!("event=store_error step=history error=\"{error}\""));
    }
}

pub(crate) fn now_secs(platform: &dyn Platform) -> u64 {
    now_ms(platform) / 1000
}

pub(crate) fn now_ms(platform: &dyn Platform) -> u64 {
    let since = platform.now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}
