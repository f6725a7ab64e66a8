//! Trigger answers built from per-target outcomes.

use serde_json::{json, Value};

use crate::answer::{Answer, Rejection};
use crate::deploy::{Outcome, Status};
use crate::webhook::PushEvent;

/// Warning added to answers when the key-value store did not open.
pub(crate) const STORE_WARNING: &str =
    "the key-value store is unavailable, so this push was not checked for duplicates or kept in history";

/// Single-app mode (no route table): the answer the trigger URL's one app
/// gets. A failure becomes the plain error answer (502, 504, …), with the
/// deploy step's finding as `detail` when it adds to the error.
pub(crate) fn single(outcomes: Vec<Outcome>, store_ok: bool) -> Answer {
    let Some(outcome) = outcomes.into_iter().next() else {
        return Rejection::MissingParameter { param: "app_id", hint: "add `app_id=<SAE application id>` to the trigger URL" }
            .to_answer();
    };
    if let Some(error) = outcome.error {
        let mut answer = error.to_answer();
        if let Some(reason) = outcome.reason.filter(|r| *r != error.to_string()) {
            answer.body["detail"] = json!(reason);
        }
        return with_store_warning(answer, store_ok);
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
    with_store_warning(Answer::json(200, body), store_ok)
}

fn with_store_warning(mut answer: Answer, store_ok: bool) -> Answer {
    if !store_ok {
        answer.body["warning"] = json!(STORE_WARNING);
    }
    answer
}

/// Route-table mode: every target's outcome. The answer is 200 unless a
/// target failed: then it takes the status and code of the most severe
/// failure (the highest status), e.g. 502 `sae_error` or 504 `sae_timeout`.
pub(crate) fn routed(event: &PushEvent, outcomes: &[Outcome], store_ok: bool) -> Answer {
    with_store_warning(routed_answer(event, outcomes), store_ok)
}

fn routed_answer(event: &PushEvent, outcomes: &[Outcome]) -> Answer {
    let targets: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    let mut body = json!({
        "repository": event.repository(),
        "tag": event.tag,
        "digest": event.digest,
        "targets": targets,
    });

    if outcomes.is_empty() {
        body["status"] = json!("no_matching_route");
        body["message"] = json!("no route admits this repository and tag (for the trigger URL's `app_id`, when given); nothing was deployed");
        return Answer::json(200, body);
    }

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Status::Failed).collect();
    if failed.is_empty() {
        body["status"] = json!(summary(outcomes));
        return Answer::json(200, body);
    }

    let (status, code) = failed
        .iter()
        .filter_map(|o| o.error.as_ref().map(Rejection::status_and_code))
        .max_by_key(|(status, _)| *status)
        .unwrap_or((502, "sae_error"));
    body["status"] = json!(if failed.len() == outcomes.len() { "failed" } else { "partial" });
    body["code"] = json!(code);
    body["message"] = json!(format!(
        "{} of {} targets failed; see `targets` for each outcome",
        failed.len(),
        outcomes.len()
    ));
    let mut answer = Answer::json(status, body);

    // A busy SAE asks the sender to come back: the longest wait wins.
    let retry_after = failed
        .iter()
        .filter_map(|o| match &o.error {
            Some(Rejection::SaeBusy { retry_after_secs, .. }) => Some(*retry_after_secs),
            _ => None,
        })
        .max();
    if let (503, Some(secs)) = (status, retry_after) {
        answer.headers.push(("retry-after".into(), secs.to_string()));
    }
    answer
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
