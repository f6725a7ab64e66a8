//! The request flow, written once over the [`Platform`] trait so that it runs
//! the same under Spin and in host-target tests with a fake platform.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use crate::answer::{scrub_json, scrub_text, Answer, Rejection};
use crate::auth::is_authorized;
use crate::config::{load_deploy_config, load_token, Credentials, DeployConfig, Variables};
use crate::intake::{check_app_id, Endpoint, Incoming, APP_ID_PARAMS};
use crate::logline::LogLine;
use crate::sae::{self, SaeRequest};
use crate::sae_response::{self, SaeSuccess};
use crate::target::{resolve, Target};
use crate::webhook::parse_push;

/// Variables whose values must never appear in an answer or a log line.
const SECRET_VARIABLES: &[&str] = &[
    "webhook_token",
    "access_key_id",
    "access_key_secret",
    "security_token",
];

/// What the flow needs from the host: variables, clock, randomness,
/// outbound HTTP and the log.
pub(crate) trait Platform: Variables {
    /// Returns the wall-clock time, for the `Date` header.
    fn now(&self) -> SystemTime;
    /// Returns a fresh random nonce for `x-acs-signature-nonce`.
    fn nonce(&self) -> String;
    /// Sends a signed request and waits at most `timeout` for the answer.
    fn send(&self, request: &sae::SignedRequest, timeout: Duration) -> Result<RawResponse, SendError>;
    /// Writes one log line to stderr.
    fn log(&self, line: &str);
}

/// An HTTP response from SAE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawResponse {
    /// HTTP status.
    pub(crate) status: u16,
    /// Headers, lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    /// Body bytes.
    pub(crate) body: Vec<u8>,
}

/// Why an outbound request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// No answer within the time limit.
    TimedOut,
    /// The host refused the request or the connection failed.
    Failed(String),
}

/// Handles one request end to end and logs one line about it.
pub(crate) fn handle(platform: &dyn Platform, request: &Incoming) -> Answer {
    let started = Instant::now();
    let mut log = LogLine::new("request");
    log.set("method", &request.method);

    // Route to an endpoint and run it.
    let endpoint = Endpoint::from_path(&request.path);
    let result = match endpoint {
        _ if request.query_too_long => Err(Rejection::UriTooLong),
        Endpoint::Trigger => trigger(platform, request, &mut log),
        Endpoint::NotFound => Err(Rejection::NotFound),
    };
    log.set("endpoint", format!("{endpoint:?}").to_lowercase());

    // Turn the outcome into an answer.
    let mut answer = match result {
        Ok(answer) => answer,
        Err(rejection) => {
            let answer = rejection.to_answer();
            log.set("code", answer.body["code"].as_str().unwrap_or_default());
            answer
        }
    };
    log.set("status", answer.status);
    log.set("duration_ms", started.elapsed().as_millis());

    // Scrub secrets from everything that leaves.
    let secrets: Vec<String> = SECRET_VARIABLES
        .iter()
        .filter_map(|name| platform.get(name))
        .collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    scrub_json(&mut answer.body, &secrets);
    platform.log(&scrub_text(&log.render(), &secrets));
    answer
}

/// `POST /`: authenticate, parse the push, deploy it.
fn trigger(platform: &dyn Platform, request: &Incoming, log: &mut LogLine) -> Result<Answer, Rejection> {
    if request.method != "POST" {
        return Err(Rejection::MethodNotAllowed {
            method: request.method.clone(),
            allow: Endpoint::Trigger.allow(),
        });
    }

    // Authenticate before looking at anything else the caller sent.
    let token = load_token(platform)?;
    if !is_authorized(request, &token) {
        return Err(Rejection::Unauthorized);
    }

    // Read the target application and the push.
    let app_id = app_id(request)?;
    log.set("app_id", &app_id);
    let body = request.body.as_ref().map_err(|_| Rejection::PayloadTooLarge)?;
    let event = parse_push(body)?;
    log.set("repository", event.repository());
    log.set("tag", &event.tag);

    // Work out where and what to deploy.
    let config = load_deploy_config(platform)?;
    let target = resolve(&config, &event, &app_id)?;
    log.set("image", &target.params.image_url);

    // Sign, send, and read SAE's answer.
    let request = sae::deploy_application(&target.endpoint, &target.params);
    let success = call(platform, &config, &request, log)?;
    let change_order_id = success.data_text("ChangeOrderId");
    log.set("outcome", "deploying");
    log.set_opt("change_order_id", change_order_id.as_deref());
    Ok(Answer::json(200, deploying_body(&target, &success, change_order_id)))
}

fn deploying_body(target: &Target, success: &SaeSuccess, change_order_id: Option<String>) -> serde_json::Value {
    json!({
        "status": "deploying",
        "app_id": target.params.app_id,
        "image": target.params.image_url,
        "change_order_id": change_order_id,
        "request_id": success.request_id,
    })
}

/// Returns the one SAE application id from `app_id` or `APP_ID`.
fn app_id(request: &Incoming) -> Result<String, Rejection> {
    let values = request.params(APP_ID_PARAMS);
    let Some(first) = values.first() else {
        return Err(Rejection::MissingParameter("app_id"));
    };
    if values.iter().any(|v| v != first) {
        return Err(Rejection::InvalidParameter {
            param: "app_id",
            reason: "is given more than once with different values".into(),
        });
    }
    check_app_id(first).map_err(|reason| Rejection::InvalidParameter { param: "app_id", reason })?;
    Ok((*first).to_owned())
}

/// Signs and sends one SAE call, and parses the answer. Logs SAE's request
/// id and error code.
pub(crate) fn call(
    platform: &dyn Platform,
    config: &DeployConfig,
    request: &SaeRequest,
    log: &mut LogLine,
) -> Result<SaeSuccess, Rejection> {
    let signed = sign(platform, &config.credentials, request);
    let response = match platform.send(&signed, config.sae_timeout) {
        Ok(response) => response,
        Err(SendError::TimedOut) => {
            log.set("outcome", "timeout");
            return Err(Rejection::SaeTimeout {
                action: request.action,
                seconds: config.sae_timeout.as_secs(),
            });
        }
        Err(SendError::Failed(reason)) => {
            log.set("outcome", "unreachable");
            return Err(Rejection::SaeUnreachable { action: request.action, reason });
        }
    };
    match sae_response::parse(response.status, &response.body) {
        Ok(success) => {
            log.set_opt("request_id", success.request_id.as_deref());
            Ok(success)
        }
        Err(error) => {
            log.set("outcome", "sae_error");
            log.set("sae_code", &error.code);
            log.set_opt("request_id", error.request_id.as_deref());
            Err(Rejection::Sae { action: request.action, error })
        }
    }
}

fn sign(platform: &dyn Platform, credentials: &Credentials, request: &SaeRequest) -> sae::SignedRequest {
    sae::sign(request, credentials, platform.now(), &platform.nonce())
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
