//! Dry run (`POST /explain` or `POST /?dry_run=true`): everything up to the
//! SAE call, returned instead of sent. No SAE call and no store write.

use serde_json::{json, Value};

use crate::answer::{Answer, Rejection};
use crate::dedup::{lookup, ClaimPolicy};
use crate::deploy::{image_id, now_secs, with_marker};
use crate::store::{DeployRecord, Store};
use crate::flow::{accept, Platform};
use crate::logline::LogLine;
use crate::plan::{plan, PlanItem};
use crate::policy::TagPolicy;
use crate::routes::RouteTable;
use crate::sae::{deploy_application, sign, SignedRequest};
use crate::webhook::PushEvent;

/// Runs the trigger without side effects and explains each decision.
pub(crate) fn explain(platform: &dyn Platform, request: &crate::intake::Incoming, log: &mut LogLine) -> Result<Answer, Rejection> {
    let accepted = accept(platform, request, log)?;
    log.set("outcome", "dry_run");
    let items = plan(&accepted.config, accepted.routes.as_ref(), &accepted.event, accepted.app_id.as_deref())?;

    let store = platform.store().ok();
    let store = store.as_ref().map(|s| s.as_ref());
    let targets: Vec<Value> = items
        .iter()
        .map(|item| explain_item(platform, &accepted.config, store, &accepted.event, item))
        .collect();
    let body = json!({
        "status": "dry_run",
        "mode": if accepted.routes.is_some() { "routes" } else { "single_app" },
        "event": event_json(&accepted.event),
        "routes": accepted.routes.as_ref().map(|table| routes_json(table, &accepted.event)),
        "targets": targets,
    });
    Ok(Answer::json(200, body))
}

fn event_json(event: &PushEvent) -> Value {
    json!({
        "repository": event.repository(),
        "namespace": event.namespace,
        "name": event.name,
        "tag": event.tag,
        "digest": event.digest,
        "region": event.region,
    })
}

fn routes_json(table: &RouteTable, event: &PushEvent) -> Vec<Value> {
    table
        .evaluate(&event.repository(), &event.tag)
        .iter()
        .map(|evaluation| {
            json!({
                "route": evaluation.route,
                "matched": evaluation.repository_matched && evaluation.tag_matched,
                "repository_matched": evaluation.repository_matched,
                "tag_matched": evaluation.tag_matched,
                "reason": evaluation.reason,
            })
        })
        .collect()
}

fn explain_item(
    platform: &dyn Platform,
    config: &crate::config::DeployConfig,
    store: Option<&dyn Store>,
    event: &PushEvent,
    item: &PlanItem<'_>,
) -> Value {
    let mut value = json!({
        "app_id": item.app_id,
        "route": item.route.map(|r| r.name.clone()),
    });
    let target = match &item.target {
        Ok(target) => target,
        Err(error) => {
            value["decision"] = json!("fail");
            value["reason"] = json!(error.to_string());
            return value;
        }
    };
    let policy = item.route.map(|r| &r.policy);
    value["decision"] = json!("deploy");
    value["reason"] = json!(policy_reason(policy));
    value["region"] = json!(target.region);

    // A real push would stop at an earlier deploy of the same image.
    if let Some(original) = earlier_deploy(platform, config, store, event, target) {
        value["decision"] = json!("duplicate");
        value["reason"] = json!("this image was already deployed to the app; a real push answers `duplicate`");
        value["change_order_id"] = json!(original.change_order_id);
    }

    // The request as the deploy step builds it, marker included.
    let (params, _) = with_marker(&target.params, &platform.nonce());
    let signed = sign(
        &deploy_application(&target.endpoint, &params),
        &config.credentials,
        platform.now(),
        &platform.nonce(),
    );
    value["request"] = request_json(&signed);
    value
}

/// Reads, without writing, whether this image was already deployed.
fn earlier_deploy(
    platform: &dyn Platform,
    config: &crate::config::DeployConfig,
    store: Option<&dyn Store>,
    event: &PushEvent,
    target: &crate::target::Target,
) -> Option<DeployRecord> {
    let image_id = image_id(event, target)?;
    let policy = ClaimPolicy {
        now: now_secs(platform),
        retention: config.retention.as_secs(),
        stale_after: 0,
    };
    lookup(store?, &target.params.app_id, &image_id, policy).ok().flatten()
}

fn policy_reason(policy: Option<&TagPolicy>) -> String {
    match policy {
        None => "single-app mode: the trigger URL names the app".into(),
        Some(policy) if policy.needs_running_version() => format!(
            "tag is admitted by `{policy}`; at deploy time it is also compared with the version the app runs (not read in a dry run)"
        ),
        Some(policy) => format!("tag is admitted by `{policy}`"),
    }
}

/// Shows a signed request without `Authorization`; the flow's scrubbing
/// also replaces the AccessKey id and STS token values.
fn request_json(request: &SignedRequest) -> Value {
    let (path, query) = match request.url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..])) {
        Some(path_query) => path_query.split_once('?').unwrap_or((path_query, "")),
        None => ("", ""),
    };
    // Inserting one by one, unlike `collect`, needs no sort of the pairs.
    let mut headers = serde_json::Map::new();
    for (name, value) in request.headers.iter().filter(|(name, _)| name != "authorization") {
        headers.insert(name.clone(), json!(value));
    }
    let form = request
        .body
        .as_ref()
        .map(|body| String::from_utf8_lossy(body).into_owned());
    json!({
        "method": request.method,
        "url": request.url,
        "path": path,
        "query": crate::intake::parse_query(query)
            .into_iter()
            .map(|(k, v)| json!([k, v]))
            .collect::<Vec<_>>(),
        "form": form,
        "headers": headers,
    })
}
