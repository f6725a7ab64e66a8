//! Trigger answers built from per-target outcomes.

use serde_json::{json, Value};

use crate::answer::{Answer, Rejection};
use crate::deploy::{Outcome, Status};
use crate::webhook::PushEvent;

/// Single-app mode (no route table): the answer the trigger URL's one app
/// gets. A failure becomes the plain error answer (502, 504, …).
pub(crate) fn single(outcomes: Vec<Outcome>) -> Result<Answer, Rejection> {
    let Some(outcome) = outcomes.into_iter().next() else {
        return Err(Rejection::MissingParameter("app_id"));
    };
    if let Some(error) = outcome.error {
        return Err(error);
    }
    let mut body = json!({
        "status": match outcome.status {
            Status::Duplicate | Status::InProgress => "duplicate",
            other => other.as_str(),
        },
        "app_id": outcome.app_id,
        "image": outcome.image,
        "change_order_id": outcome.change_order_id,
        "request_id": outcome.request_id,
    });
    if outcome.status == Status::InProgress {
        body["in_progress"] = json!(true);
    }
    if let Some(reason) = outcome.reason {
        body["reason"] = json!(reason);
    }
    Ok(Answer::json(200, body))
}

/// Route-table mode: every target's outcome. The answer is 200 unless a
/// target failed: then 502 (504 when every failure was a timeout).
pub(crate) fn routed(event: &PushEvent, outcomes: &[Outcome]) -> Answer {
    let targets: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    let mut body = json!({
        "repository": event.repository(),
        "tag": event.tag,
        "digest": event.digest,
        "targets": targets,
    });

    if outcomes.is_empty() {
        body["status"] = json!("no_matching_route");
        body["message"] = json!("no route admits this repository and tag for the requested app; nothing was deployed");
        return Answer::json(200, body);
    }

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Status::Failed).collect();
    if failed.is_empty() {
        body["status"] = json!(summary(outcomes));
        return Answer::json(200, body);
    }

    let all_timeouts = failed
        .iter()
        .all(|o| matches!(o.error, Some(Rejection::SaeTimeout { .. })));
    let (status, code) = if all_timeouts { (504, "sae_timeout") } else { (502, "sae_error") };
    body["status"] = json!(if failed.len() == outcomes.len() { "failed" } else { "partial" });
    body["code"] = json!(code);
    body["message"] = json!(format!(
        "{} of {} targets failed; see `targets` for each outcome",
        failed.len(),
        outcomes.len()
    ));
    Answer::json(status, body)
}

/// Names the overall result when nothing failed.
fn summary(outcomes: &[Outcome]) -> &'static str {
    let any = |status: Status| outcomes.iter().any(|o| o.status == status);
    if any(Status::Deploying) {
        "deploying"
    } else if any(Status::Duplicate) || any(Status::InProgress) {
        "duplicate"
    } else {
        "skipped"
    }
}
