//! Read-only endpoints: `GET /deploys`, `GET /deploys/<change_order_id>` and
//! `GET /healthz`.

use serde_json::{json, Value};

use crate::answer::{Answer, Rejection};
use crate::auth::presents_token;
use crate::config::{load_deploy_config, Endpoint};
use crate::deploy::now_ms;
use crate::flow::{authenticate, call, Platform};
use crate::history::{self, change_order_status, DEFAULT_LIST_LIMIT, MAX_RECORDS};
use crate::intake::Incoming;
use crate::logline::LogLine;
use crate::plan::load_routes;
use crate::sae::describe_change_order;
use crate::store::{rfc3339, DeployRecord};

/// Variables reported by name (never value) in the authenticated health view.
const REPORTED_VARIABLES: &[&str] = &[
    "webhook_token",
    "access_key_id",
    "access_key_secret",
    "security_token",
    "region",
    "sae_endpoint",
    "registry_host",
    "acr_instance_id",
    "routes",
];

/// Longest change order id accepted in a path (SAE ids are 36-character UUIDs).
const MAX_CHANGE_ORDER_ID_LEN: usize = 64;

/// `GET /deploys[?limit=N]`: recent history, newest first.
pub(crate) fn list_deploys(platform: &dyn Platform, request: &Incoming) -> Result<Answer, Rejection> {
    authenticate(platform, request)?;
    let limit_names = ["limit"];
    let limit = request
        .single_param(&limit_names)
        .map_err(|reason| Rejection::InvalidParameter { param: "limit", reason })?;
    let limit = match limit {
        None => DEFAULT_LIST_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_RECORDS).contains(n))
            .ok_or_else(|| Rejection::InvalidParameter {
                param: "limit",
                reason: format!("must be a whole number from 1 to {MAX_RECORDS}"),
            })?,
    };
    let store = platform.store().map_err(Rejection::Store)?;
    let records = history::recent(store.as_ref(), limit, now_ms(platform)).map_err(Rejection::Store)?;
    let deploys: Vec<Value> = records.iter().map(record_json).collect();
    Ok(Answer::json(200, json!({ "count": deploys.len(), "deploys": deploys })))
}

/// Returns a history record as JSON with a readable time.
pub(crate) fn record_json(record: &DeployRecord) -> Value {
    let mut value = serde_json::to_value(record).unwrap_or(Value::Null);
    value["time_utc"] = json!(rfc3339(record.time));
    value
}

/// `GET /deploys/<change_order_id>[?region=…]`: asks SAE for the status.
pub(crate) fn deploy_status(
    platform: &dyn Platform,
    request: &Incoming,
    change_order_id: &str,
    log: &mut LogLine,
) -> Result<Answer, Rejection> {
    authenticate(platform, request)?;
    check_change_order_id(change_order_id)?;
    log.set("change_order_id", change_order_id);

    // The region: the one recorded for this change order, else ?region=,
    // else the `region` variable.
    let config = load_deploy_config(platform)?;
    let region_names = ["region"];
    let region_param = request
        .single_param(&region_names)
        .map_err(|reason| Rejection::InvalidParameter { param: "region", reason })?
        .map(str::to_owned);
    let recorded = platform
        .store()
        .ok()
        .and_then(|store| {
            history::find_change_order(store.as_ref(), change_order_id, now_ms(platform))
                .ok()
                .flatten()
        });
    let region = recorded
        .as_ref()
        .map(|r| r.region.clone())
        .or(region_param)
        .or_else(|| config.region.clone())
        .ok_or(Rejection::MissingParameter {
            param: "region",
            hint: "this change order is not in the history, so add `?region=<region id>` or set the `region` variable",
        })?;
    crate::config::check_region_id(&region)
        .map_err(|reason| Rejection::InvalidParameter { param: "region", reason })?;
    let endpoint: Endpoint = crate::config::endpoint_for(&config, &region).ok_or_else(|| {
        Rejection::InvalidParameter {
            param: "region",
            reason: "has no known SAE endpoint; set `sae_endpoint`".into(),
        }
    })?;

    // Ask SAE and put the status into words.
    let success = call(platform, &config, &describe_change_order(&endpoint, change_order_id), log)?;
    let code = success.data.get("Status").and_then(Value::as_i64);
    Ok(Answer::json(
        200,
        json!({
            "change_order_id": change_order_id,
            "status": code.map_or("unknown", change_order_status),
            "status_code": code,
            "app_id": success.data_text("AppId").or_else(|| recorded.as_ref().map(|r| r.app_id.clone())),
            "description": success.data_text("Description"),
            "request_id": success.request_id,
            "deploy": recorded.as_ref().map(record_json),
        }),
    ))
}

fn check_change_order_id(id: &str) -> Result<(), Rejection> {
    let valid = !id.is_empty()
        && id.len() <= MAX_CHANGE_ORDER_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid {
        return Err(Rejection::InvalidParameter {
            param: "change_order_id",
            reason: "in the path `/deploys/<change_order_id>` must be an SAE change order id (letters, digits and `-`)".into(),
        });
    }
    Ok(())
}

/// `GET /healthz`: 200 for anyone; with a valid token, also which variables
/// are set, the route count and whether the store works.
pub(crate) fn health(platform: &dyn Platform, request: &Incoming) -> Result<Answer, Rejection> {
    if !presents_token(request) {
        return Ok(Answer::json(200, json!({ "status": "ok" })));
    }
    authenticate(platform, request)?;

    // Inserting one by one, unlike `collect`, needs no sort of the pairs.
    let mut variables = serde_json::Map::new();
    for name in REPORTED_VARIABLES {
        let set = platform.get(name).is_some_and(|v| !v.is_empty());
        variables.insert((*name).to_owned(), json!(set));
    }
    let config = match load_deploy_config(platform) {
        Ok(_) => json!("ok"),
        Err(error) => json!(error.to_string()),
    };
    let routes = match load_routes(platform) {
        Ok(Some(table)) => json!(table.len()),
        Ok(None) => json!(0),
        Err(error) => json!(error.to_string()),
    };
    let store = store_check(platform);

    // Liveness stays 200; `status` says whether deploys can work.
    let healthy = config == "ok" && routes.is_u64() && store == "ok";
    Ok(Answer::json(
        200,
        json!({
            "status": if healthy { "ok" } else { "degraded" },
            "variables": variables,
            "config": config,
            "routes": routes,
            "store": store,
        }),
    ))
}

/// Writes, reads back and deletes a probe key, and increments a probe
/// counter twice, as claims do.
fn store_check(platform: &dyn Platform) -> String {
    let nonce = platform.nonce();
    let probe = format!("healthz:{nonce}");
    let counter = format!("healthz-counter:{nonce}");
    let result = platform.store().and_then(|store| {
        store.set(&probe, b"ok")?;
        let read = store.get(&probe)?;
        store.delete(&probe)?;
        let counts = (store.increment(&counter, 1)?, store.increment(&counter, 1)?);
        store.delete(&counter)?;
        Ok((read, counts))
    });
    match result {
        Ok((Some(value), (1, 2))) if value == b"ok" => "ok".into(),
        Ok((Some(value), _)) if value == b"ok" => "error: the atomic increment returned wrong counts".into(),
        Ok(_) => "error: the probe value did not read back".into(),
        Err(error) => format!("error: {error}"),
    }
}
