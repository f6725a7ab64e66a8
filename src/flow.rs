//! The request flow, written once over the [`Platform`] trait so that it runs
//! the same under Spin and in host-target tests with a fake platform.

use std::time::{Duration, Instant, SystemTime};

use crate::answer::{scrub_json, Answer, Rejection};
use crate::answers;
use crate::auth::is_authorized;
use crate::config::{load_deploy_config, load_token, Credentials, DeployConfig, Variables};
use crate::deploy::{execute, Delivery, Outcome};
use crate::explain;
use crate::intake::{check_app_id, BodyUnread, Endpoint, Incoming, APP_ID_PARAMS};
use crate::logline::LogLine;
use crate::plan::{load_routes, plan};
use crate::retry::{
    backoff, is_retryable, jitter_from_hex, rate_limit_hint, MAX_ATTEMPTS, MIN_ATTEMPT_TIME, REQUEST_BUDGET,
};
use crate::routes::RouteTable;
use crate::sae::{self, SaeRequest};
use crate::sae_response::{self, SaeSuccess};
use crate::store::{Store, StoreError};
use crate::views;
use crate::webhook::{parse_push, PushEvent};

/// Variables whose values must never appear in an answer or a log line.
const SECRET_VARIABLES: &[&str] = &[
    "webhook_token",
    "access_key_id",
    "access_key_secret",
    "security_token",
];

/// The host services the flow needs: variables, clock, randomness,
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
    /// Opens the key-value store named `default`.
    fn store(&self) -> Result<Box<dyn Store + '_>, StoreError>;
    /// Sleeps, for polling the store and backing off.
    fn sleep(&self, duration: Duration);
    /// Returns the time by which every SAE call of this request must end.
    fn deadline(&self) -> Instant;
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

/// The reason an outbound request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendError {
    /// No answer within the time limit.
    TimedOut,
    /// The host refused the request or the connection failed before the
    /// request was sent.
    Failed(String),
    /// The exchange broke after the request may have reached SAE.
    Interrupted(String),
}

/// Handles one request end to end and logs one line about it.
pub(crate) fn handle(platform: &dyn Platform, request: &Incoming) -> Answer {
    let started = Instant::now();
    let mut log = LogLine::new("request");
    log.set("method", &request.method);

    // Route to an endpoint and run it.
    let endpoint = Endpoint::from_path(&request.path);
    log.set("endpoint", endpoint.name());
    let result = dispatch(platform, request, &endpoint, &mut log);

    // Turn the outcome into an answer.
    let mut answer = match result {
        Ok(answer) => answer,
        Err(rejection) => rejection.to_answer(),
    };
    if let Some(code) = answer.body.get("code").and_then(|c| c.as_str()) {
        log.set("code", code);
    }
    log.set("status", answer.status);
    log.set("duration_ms", started.elapsed().as_millis());

    // Scrub secrets from everything that leaves, before any value is cut.
    let secrets = secret_values(platform);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    scrub_json(&mut answer.body, &secrets);
    log.scrub(&secrets);
    platform.log(&log.render());
    answer
}

/// Returns the values of the secret variables that are set.
fn secret_values(platform: &dyn Platform) -> Vec<String> {
    SECRET_VARIABLES
        .iter()
        .filter_map(|name| platform.get(name))
        .collect()
}

fn dispatch(
    platform: &dyn Platform,
    request: &Incoming,
    endpoint: &Endpoint,
    log: &mut LogLine,
) -> Result<Answer, Rejection> {
    if request.query_too_long {
        return Err(Rejection::UriTooLong);
    }
    if *endpoint == Endpoint::NotFound {
        return Err(Rejection::NotFound);
    }
    if !endpoint.accepts(&request.method) {
        return Err(Rejection::MethodNotAllowed {
            method: request.method.clone(),
            allow: endpoint.allow(),
        });
    }
    match endpoint {
        Endpoint::Trigger if is_dry_run(platform, request)? => explain::explain(platform, request, log),
        Endpoint::Trigger => trigger(platform, request, log),
        Endpoint::Explain => explain::explain(platform, request, log),
        Endpoint::Deploys => views::list_deploys(platform, request),
        Endpoint::DeployStatus(id) => views::deploy_status(platform, request, id, log),
        Endpoint::Health => views::health(platform, request),
        Endpoint::NotFound => Err(Rejection::NotFound),
    }
}

/// Reads `dry_run` on the trigger. The token is checked first, so a caller
/// without it learns nothing from the parameter's validation.
fn is_dry_run(platform: &dyn Platform, request: &Incoming) -> Result<bool, Rejection> {
    if request.params(&["dry_run"]).is_empty() {
        return Ok(false);
    }
    authenticate(platform, request)?;
    request
        .flag("dry_run")
        .map_err(|reason| Rejection::InvalidParameter { param: "dry_run", reason })
}

/// Checks the request's token against `webhook_token`.
pub(crate) fn authenticate(platform: &dyn Platform, request: &Incoming) -> Result<(), Rejection> {
    let token = load_token(platform)?;
    if !is_authorized(request, &token) {
        return Err(Rejection::Unauthorized);
    }
    Ok(())
}

/// A push, authenticated and parsed, with the settings to deploy it.
pub(crate) struct Accepted {
    /// The push.
    pub(crate) event: PushEvent,
    /// The URL's `app_id`, when given.
    pub(crate) app_id: Option<String>,
    /// Settings from the variables.
    pub(crate) config: DeployConfig,
    /// The route table, when set.
    pub(crate) routes: Option<RouteTable>,
}

/// Authenticates a trigger request and parses everything it carries.
pub(crate) fn accept(platform: &dyn Platform, request: &Incoming, log: &mut LogLine) -> Result<Accepted, Rejection> {
    // Authenticate before looking at anything else the caller sent.
    authenticate(platform, request)?;

    // Read the target application and the push.
    let app_id = app_id(request)?;
    log.set_opt("app_id", app_id.as_deref());
    let body = request.body.as_ref().map_err(|unread| match unread {
        BodyUnread::TooLarge => Rejection::PayloadTooLarge,
        BodyUnread::Broken => Rejection::BodyUnreadable,
    })?;
    let event = parse_push(body)?;
    log.set("repository", event.repository());
    log.set("tag", &event.tag);

    // Load the settings and the route table.
    let config = load_deploy_config(platform)?;
    let routes = load_routes(platform)?;
    if routes.is_none() && app_id.is_none() {
        return Err(Rejection::MissingParameter {
            param: "app_id",
            hint: "add `app_id=<SAE application id>` to the trigger URL, or set the `routes` variable",
        });
    }
    Ok(Accepted {
        event,
        app_id,
        config,
        routes,
    })
}

/// `POST /`: deploy the push to every planned target.
fn trigger(platform: &dyn Platform, request: &Incoming, log: &mut LogLine) -> Result<Answer, Rejection> {
    let accepted = accept(platform, request, log)?;
    let items = plan(&accepted.config, accepted.routes.as_ref(), &accepted.event, accepted.app_id.as_deref())?;

    // Open the store; without it deploys go ahead, unguarded, and the log
    // and the answer say so.
    let store = platform.store();
    if let Err(error) = &store {
        log.set("store", "unavailable");
        platform.log(&format!("event=store_error step=open error=\"{error}\""));
    }
    let delivery = Delivery {
        platform,
        config: &accepted.config,
        store: store.as_ref().ok().map(|s| s.as_ref()),
        event: &accepted.event,
    };
    let outcomes: Vec<Outcome> = items.iter().map(|item| execute(&delivery, item)).collect();
    log_outcomes(log, &outcomes);

    let store_ok = store.is_ok();
    if accepted.routes.is_some() {
        return Ok(answers::routed(&accepted.event, &outcomes, store_ok));
    }
    Ok(answers::single(outcomes, store_ok))
}

fn log_outcomes(log: &mut LogLine, outcomes: &[Outcome]) {
    let join = |f: &dyn Fn(&Outcome) -> Option<String>| {
        outcomes.iter().filter_map(f).collect::<Vec<_>>().join(",")
    };
    if outcomes.len() != 1 || log.get("app_id").is_none() {
        log.set("targets", outcomes.len());
        log.set("app_id", join(&|o| Some(o.app_id.clone())));
    }
    log.set("outcome", join(&|o| Some(o.status.as_str().to_owned())));
    log.set("image", join(&|o| o.image.clone()));
    let codes = join(&|o| o.error.as_ref().and_then(|e| e.sae_code().map(str::to_owned)));
    if !codes.is_empty() {
        log.set("sae_code", codes);
    }
    let change_orders = join(&|o| o.change_order_id.clone());
    if !change_orders.is_empty() {
        log.set("change_order_id", change_orders);
    }
    let retries: u32 = outcomes.iter().map(|o| o.retries).sum();
    if retries > 0 {
        log.set("retries", retries);
    }
    let request_ids = join(&|o| o.request_id.clone());
    if !request_ids.is_empty() {
        log.set("request_id", request_ids);
    }
}

/// Returns the one SAE application id from `app_id` or `APP_ID`, if given.
fn app_id(request: &Incoming) -> Result<Option<String>, Rejection> {
    let invalid = |reason| Rejection::InvalidParameter { param: "app_id", reason };
    let Some(first) = request.single_param(APP_ID_PARAMS).map_err(invalid)? else {
        return Ok(None);
    };
    check_app_id(first).map_err(invalid)?;

    // SAE writes application ids in lower case; one spelling keeps one claim.
    Ok(Some(first.to_ascii_lowercase()))
}

/// Signs and sends one SAE call, retrying throttling and "change order
/// running" with backoff inside the request's deadline, and parses the
/// answer. Logs SAE's request id, error code and the number of retries.
pub(crate) fn call(
    platform: &dyn Platform,
    config: &DeployConfig,
    request: &SaeRequest,
    log: &mut LogLine,
) -> Result<SaeSuccess, Rejection> {
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let remaining = platform.deadline().saturating_duration_since(Instant::now());
        if remaining < MIN_ATTEMPT_TIME {
            return Err(Rejection::NotAttempted {
                action: request.action,
                budget_secs: REQUEST_BUDGET.as_secs(),
            });
        }
        let result = call_once(platform, config, request, config.sae_timeout.min(remaining), log);
        let error = match result {
            Err(Rejection::Sae { error, .. }) if is_retryable(&error.code) => error,
            other => {
                if attempt > 1 {
                    log.set("retries", attempt - 1);
                }
                return other;
            }
        };

        // Wait and try again, unless attempts or time run out.
        let delay = backoff(attempt, jitter_from_hex(&platform.nonce()), error.retry_after);
        let remaining = platform.deadline().saturating_duration_since(Instant::now());
        if attempt >= MAX_ATTEMPTS || delay + MIN_ATTEMPT_TIME > remaining {
            log.set("retries", attempt - 1);
            log.set("outcome", "sae_busy");
            let retry_after_secs = (delay.as_secs() + u64::from(delay.subsec_nanos() > 0)).max(1);
            return Err(Rejection::SaeBusy {
                action: request.action,
                error,
                retry_after_secs,
            });
        }
        platform.sleep(delay);
    }
}

/// Makes one attempt of an SAE call.
fn call_once(
    platform: &dyn Platform,
    config: &DeployConfig,
    request: &SaeRequest,
    timeout: Duration,
    log: &mut LogLine,
) -> Result<SaeSuccess, Rejection> {
    let signed = sign(platform, &config.credentials, request);
    let response = match platform.send(&signed, timeout) {
        Ok(response) => response,
        Err(SendError::TimedOut) => {
            log.set("outcome", "timeout");
            return Err(Rejection::SaeTimeout {
                action: request.action,
                seconds: timeout.as_secs(),
            });
        }
        Err(SendError::Failed(reason)) => {
            log.set("outcome", "unreachable");
            return Err(Rejection::SaeUnreachable { action: request.action, reason, maybe_sent: false });
        }
        Err(SendError::Interrupted(reason)) => {
            log.set("outcome", "interrupted");
            return Err(Rejection::SaeUnreachable { action: request.action, reason, maybe_sent: true });
        }
    };
    // SAE's messages can quote the string to sign, STS token included, so
    // they are scrubbed before they are cut, stored or answered.
    let secrets = secret_values(platform);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    match sae_response::parse(response.status, &response.body, &secrets) {
        Ok(success) => {
            log.set_opt("request_id", success.request_id.as_deref());
            Ok(success)
        }
        Err(mut error) => {
            error.retry_after = rate_limit_hint(&response.headers);
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
