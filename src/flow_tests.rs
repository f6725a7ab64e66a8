use std::cell::RefCell;
use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use super::*;
use crate::intake::parse_query;
use crate::store::MemoryStore;

const TOKEN: &str = "tok-0123456789abcdef";
const KEY_ID: &str = "LTAI5tFakeKeyId01";
const KEY_SECRET: &str = "FakeKeySecretValue01";
const APP: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
const SAMPLE: &str = include_str!("../tests/fixtures/acr/personal-private.json");

/// A platform that records what the flow sends and replies from a script.
struct Fake {
    vars: HashMap<&'static str, String>,
    reply: RefCell<Vec<Result<RawResponse, SendError>>>,
    sent: RefCell<Vec<(sae::SignedRequest, Duration)>>,
    logs: RefCell<Vec<String>>,
    store: MemoryStore,
    slept: RefCell<Vec<Duration>>,
    budget: std::cell::Cell<Duration>,
}

impl Fake {
    fn new() -> Self {
        let mut vars = HashMap::new();
        vars.insert("webhook_token", TOKEN.to_string());
        vars.insert("access_key_id", KEY_ID.to_string());
        vars.insert("access_key_secret", KEY_SECRET.to_string());
        Fake {
            vars,
            reply: RefCell::new(Vec::new()),
            sent: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
            store: MemoryStore::default(),
            slept: RefCell::new(Vec::new()),
            budget: std::cell::Cell::new(Duration::from_secs(3600)),
        }
    }

    fn replying(self, status: u16, body: &str) -> Self {
        self.reply.borrow_mut().push(Ok(RawResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }));
        self
    }

    fn failing(self, error: SendError) -> Self {
        self.reply.borrow_mut().push(Err(error));
        self
    }
}

impl Variables for Fake {
    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

impl Platform for Fake {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    fn nonce(&self) -> String {
        format!("nonce-{}", self.sent.borrow().len())
    }

    fn send(&self, request: &sae::SignedRequest, timeout: Duration) -> Result<RawResponse, SendError> {
        self.sent.borrow_mut().push((request.clone(), timeout));
        self.reply
            .borrow_mut()
            .pop()
            .unwrap_or(Err(SendError::Failed("no scripted reply".into())))
    }

    fn log(&self, line: &str) {
        self.logs.borrow_mut().push(line.to_owned());
    }

    fn store(&self) -> Result<Box<dyn Store + '_>, StoreError> {
        Ok(Box::new(&self.store))
    }

    fn sleep(&self, duration: Duration) {
        self.slept.borrow_mut().push(duration);
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.budget.get()
    }
}

const LIST_EMPTY: &str = r#"{"RequestId":"req-l","Code":"200","Success":true,"Data":{"ChangeOrderList":[],"CurrentPage":1,"PageSize":20,"TotalSize":0}}"#;

const THROTTLED: &str = r#"{"RequestId":"req-t","Code":"Throttling.User","Message":"Request was denied due to user flow control."}"#;

const DEPLOY_OK: &str = r#"{"RequestId":"req-1","Code":"200","Success":true,"Data":{"ChangeOrderId":"co-1","AppId":"7171a6ca-d1cd-4928-8642-7d5cfe690000"}}"#;

fn post(query: &str, body: &str) -> Incoming {
    Incoming {
        method: "POST".into(),
        path: "/".into(),
        query: parse_query(query),
        query_too_long: false,
        headers: vec![("content-type".into(), "application/json".into())],
        body: Ok(body.as_bytes().to_vec()),
    }
}

fn good_query() -> String {
    format!("token={TOKEN}&app_id={APP}")
}

#[test]
fn deploy_succeeds() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["status"], "deploying");
    assert_eq!(answer.body["change_order_id"], "co-1");
    assert_eq!(answer.body["request_id"], "req-1");
    assert_eq!(answer.body["image"], "registry-vpc.cn-shanghai.aliyuncs.com/acme/order-api:v1.4.2");

    let sent = fake.sent.borrow();
    assert_eq!(sent.len(), 1);
    let (request, timeout) = &sent[0];
    assert_eq!(*timeout, Duration::from_secs(10));
    assert!(request.url.starts_with("https://sae.cn-shanghai.aliyuncs.com/pop/v1/sam/app/deployApplication?AppId="));
    assert!(request.url.contains("ImageUrl=registry-vpc.cn-shanghai.aliyuncs.com%2Facme%2Forder-api%3Av1.4.2"));
}

#[test]
fn old_parameter_names_work() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    let answer = handle(&fake, &post(&format!("ACCESS_TOKEN={TOKEN}&APP_ID={APP}"), SAMPLE));
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[test]
fn bearer_header_works() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    let mut request = post(&format!("app_id={APP}"), SAMPLE);
    request.headers.push(("authorization".into(), format!("Bearer {TOKEN}")));
    assert_eq!(handle(&fake, &request).status, 200);
}

#[test]
fn rejections_make_no_call() {
    let cases: Vec<(Incoming, u16, &str)> = vec![
        (post(&format!("app_id={APP}"), SAMPLE), 401, "unauthorized"),
        (post(&format!("token=wrong&app_id={APP}"), SAMPLE), 401, "unauthorized"),
        (post(&format!("token={TOKEN}"), SAMPLE), 400, "missing_parameter"),
        (post(&format!("token={TOKEN}&app_id=nope"), SAMPLE), 400, "invalid_parameter"),
        (post(&good_query(), "{"), 400, "invalid_json"),
        (post(&good_query(), r#"{"push_data":{}}"#), 400, "missing_field"),
        (
            Incoming { body: Err(crate::intake::BodyUnread::TooLarge), ..post(&good_query(), "") },
            413,
            "payload_too_large",
        ),
        (
            Incoming { body: Err(crate::intake::BodyUnread::Broken), ..post(&good_query(), "") },
            400,
            "invalid_body",
        ),
        (Incoming { method: "GET".into(), ..post(&good_query(), SAMPLE) }, 405, "method_not_allowed"),
        (Incoming { path: "/other".into(), ..post(&good_query(), SAMPLE) }, 404, "not_found"),
        (Incoming { query_too_long: true, ..post("", SAMPLE) }, 414, "uri_too_long"),
    ];
    for (request, status, code) in cases {
        let fake = Fake::new();
        let answer = handle(&fake, &request);
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.body["code"], code);
        assert!(fake.sent.borrow().is_empty(), "{code} sent a request");
        assert_eq!(fake.logs.borrow().len(), 1);
    }
}

#[test]
fn config_error_names_variable() {
    let mut fake = Fake::new();
    fake.vars.remove("access_key_secret");
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["code"], "config_error");
    assert_eq!(answer.body["variable"], "access_key_secret");
    assert!(fake.sent.borrow().is_empty());
}

#[test]
fn missing_token_variable_is_config_error() {
    let mut fake = Fake::new();
    fake.vars.remove("webhook_token");
    let answer = handle(&fake, &post("token=&app_id=x", SAMPLE));
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["variable"], "webhook_token");
}

#[test]
fn sae_error_is_502_with_ids() {
    let fake = Fake::new().replying(
        400,
        r#"{"RequestId":"req-7","Code":"InvalidApplication.NotFound","Message":"no such app"}"#,
    );
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body["sae_code"], "InvalidApplication.NotFound");
    assert_eq!(answer.body["request_id"], "req-7");
    assert_eq!(fake.sent.borrow().len(), 1, "a caller error must not be retried");
    let logs = fake.logs.borrow();
    assert!(logs[0].contains("sae_code=InvalidApplication.NotFound"), "{}", logs[0]);
}

#[test]
fn timeout_is_504_and_failure_502() {
    let fake = Fake::new().failing(SendError::TimedOut);
    assert_eq!(handle(&fake, &post(&good_query(), SAMPLE)).status, 504);
    let fake = Fake::new().failing(SendError::Failed("connection refused".into()));
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body["code"], "sae_unreachable");
}

#[test]
fn secrets_never_leave() {
    let message = format!("string to sign had {KEY_SECRET} and {TOKEN} and {KEY_ID}");
    let body = format!(r#"{{"RequestId":"r","Code":"SignatureDoesNotMatch","Message":"{message}"}}"#);
    let fake = Fake::new().replying(400, &body);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    let text = answer.body.to_string();
    for secret in [TOKEN, KEY_ID, KEY_SECRET] {
        assert!(!text.contains(secret), "answer leaks a secret: {text}");
        assert!(!fake.logs.borrow()[0].contains(secret), "log leaks a secret");
    }
    let sent = fake.sent.borrow();
    let authorization = &sent[0].0.headers.last().unwrap().1;
    let signature = authorization.rsplit(':').next().unwrap();
    assert!(!fake.logs.borrow()[0].contains(signature));
    assert!(!text.contains(signature));
}

#[test]
fn log_line_has_the_event_fields() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    handle(&fake, &post(&good_query(), SAMPLE));
    let logs = fake.logs.borrow();
    let line = &logs[0];
    for part in [
        "event=request",
        "endpoint=trigger",
        &format!("app_id={APP}"),
        "repository=acme/order-api",
        "tag=v1.4.2",
        "outcome=deploying",
        "change_order_id=co-1",
        "request_id=req-1",
        "status=200",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "missing {part} in {line}");
    }
    assert!(!line.contains("token"), "{line}");
}

const APP_B: &str = "0f3c2a1b-0000-4000-8000-00000000000b";

fn with_routes(routes: &str) -> Fake {
    let mut fake = Fake::new();
    fake.vars.insert("routes", routes.to_string());
    fake
}

fn two_app_routes() -> String {
    format!(
        r#"{{"routes":[{{"name":"orders","repository":"acme/*","tags":"glob:v*","targets":[{{"app_id":"{APP}"}},{{"app_id":"{APP_B}","deploy_by_digest":true}}]}}]}}"#
    )
}

#[test]
fn routes_deploy_every_target() {
    let fake = with_routes(&two_app_routes()).replying(200, DEPLOY_OK).replying(200, DEPLOY_OK);
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), SAMPLE));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["status"], "deploying");
    let targets = answer.body["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0]["route"], "orders");
    let sent = fake.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].0.url.contains("order-api%40sha256%3A9f86d081884c"), "{}", sent[1].0.url);
}

#[test]
fn routes_are_an_allowlist() {
    let other = "11111111-2222-3333-4444-555555555555";
    let fake = with_routes(&two_app_routes());
    let answer = handle(&fake, &post(&format!("token={TOKEN}&app_id={other}"), SAMPLE));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "no_matching_route");
    assert!(fake.sent.borrow().is_empty());
    let fake = with_routes(&two_app_routes()).replying(200, DEPLOY_OK);
    let answer = handle(&fake, &post(&format!("token={TOKEN}&app_id={APP_B}"), SAMPLE));
    assert_eq!(answer.body["targets"].as_array().unwrap().len(), 1);
    assert_eq!(fake.sent.borrow().len(), 1);
}

#[test]
fn unmatched_push_makes_no_call() {
    let fake = with_routes(r#"[{"repository":"prod/*","targets":[{"app_id":"7171a6ca-d1cd-4928-8642-7d5cfe690000"}]}]"#);
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), SAMPLE));
    assert_eq!(answer.body["status"], "no_matching_route");
    assert!(fake.sent.borrow().is_empty());
}

#[test]
fn broken_table_is_config_error() {
    let fake = with_routes(r#"[{"repository":"acme/*","tags":"semverr:minor","targets":[{"app_id":"7171a6ca-d1cd-4928-8642-7d5cfe690000"}]}]"#);
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), SAMPLE));
    assert_eq!(answer.status, 500);
    assert_eq!(answer.body["variable"], "routes");
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.contains("routes[0]"), "{message}");
    assert!(message.contains("tags"), "{message}");
}

#[test]
fn semver_refuses_downgrade() {
    let routes = format!(r#"[{{"repository":"acme/order-api","tags":"semver:major","targets":[{{"app_id":"{APP}"}}]}}]"#);
    let running = r#"{"RequestId":"req-c","Code":"200","Success":true,"Data":{"ImageUrl":"registry-vpc.cn-shanghai.aliyuncs.com/acme/order-api:v2.0.0"}}"#;
    let fake = with_routes(&routes).replying(200, running);
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), SAMPLE));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["status"], "skipped");
    let reason = answer.body["targets"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("older than running"), "{reason}");
    let sent = fake.sent.borrow();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.action, "DescribeApplicationConfig");
}

#[test]
fn repeated_delivery_is_duplicate() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    let first = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(first.body["status"], "deploying");
    let second = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["status"], "duplicate");
    assert_eq!(second.body["change_order_id"], "co-1");
    assert_eq!(fake.sent.borrow().len(), 1);
}

#[test]
fn failed_deploy_can_be_redelivered() {
    let fake = Fake::new()
        .replying(200, DEPLOY_OK)
        .replying(200, LIST_EMPTY)
        .replying(500, r#"{"RequestId":"r","Code":"InternalError","Message":"x"}"#);
    let failed = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(failed.status, 502);
    assert_eq!(handle(&fake, &post(&good_query(), SAMPLE)).status, 200);
    let actions: Vec<&str> = fake.sent.borrow().iter().map(|(r, _)| r.action).collect();
    assert_eq!(actions, ["DeployApplication", "ListChangeOrders", "DeployApplication"]);
}

#[test]
fn dry_run_sends_and_stores_nothing() {
    for (path, query) in [("/explain", good_query()), ("/", format!("{}&dry_run=true", good_query()))] {
        let fake = Fake::new();
        let request = Incoming { path: path.into(), ..post(&query, SAMPLE) };
        let answer = handle(&fake, &request);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["status"], "dry_run");
        let target = &answer.body["targets"][0];
        assert_eq!(target["decision"], "deploy");
        assert_eq!(target["request"]["method"], "POST");
        assert!(target["request"]["headers"].get("authorization").is_none());
        assert!(fake.sent.borrow().is_empty());
        assert!(fake.store.map.lock().unwrap().is_empty());
    }
}

#[test]
fn history_lists_deploys_with_token_only() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    handle(&fake, &post(&good_query(), SAMPLE));
    let get = |query: &str| Incoming { method: "GET".into(), path: "/deploys".into(), ..post(query, "") };
    assert_eq!(handle(&fake, &get("")).status, 401);
    let answer = handle(&fake, &get(&format!("token={TOKEN}")));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["count"], 1);
    assert_eq!(answer.body["deploys"][0]["change_order_id"], "co-1");
    assert_eq!(answer.body["deploys"][0]["outcome"], "deploying");
}

#[test]
fn health_hides_details_without_token() {
    let fake = Fake::new();
    let get = |query: &str| Incoming { method: "GET".into(), path: "/healthz".into(), ..post(query, "") };
    let open = handle(&fake, &get(""));
    assert_eq!(open.status, 200);
    assert_eq!(open.body, serde_json::json!({"status": "ok"}));
    let detailed = handle(&fake, &get(&format!("token={TOKEN}")));
    assert_eq!(detailed.body["variables"]["access_key_id"], true);
    assert_eq!(detailed.body["variables"]["security_token"], false);
    assert_eq!(detailed.body["store"], "ok");
    assert_eq!(handle(&fake, &get("token=wrong-token-value")).status, 401);
}

#[test]
fn throttling_is_retried_with_backoff() {
    let fake = Fake::new().replying(200, DEPLOY_OK).replying(400, THROTTLED).replying(400, THROTTLED);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(fake.sent.borrow().len(), 3);
    let slept = fake.slept.borrow();
    assert_eq!(slept.len(), 2);
    assert!(slept[1] >= slept[0] / 2, "{slept:?}");
    assert!(fake.logs.borrow()[0].contains("retries=2"));
}

#[test]
fn persistent_throttling_is_503_with_retry_after() {
    let mut fake = Fake::new();
    for _ in 0..crate::retry::MAX_ATTEMPTS {
        fake = fake.replying(400, THROTTLED);
    }
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["code"], "sae_busy");
    assert_eq!(answer.body["sae_code"], "Throttling.User");
    let retry_after = answer.headers.iter().find(|(n, _)| n == "retry-after").map(|(_, v)| v.parse::<u64>().unwrap());
    assert!(retry_after.is_some_and(|secs| secs >= 1), "{:?}", answer.headers);
    assert_eq!(fake.sent.borrow().len() as u32, crate::retry::MAX_ATTEMPTS);
}

#[test]
fn lost_answer_is_confirmed_not_retried() {
    // The fake's nonces are `nonce-<calls so far>`, so the first deploy's
    // marker is `[delivery nonce0]`.
    let listed = r#"{"RequestId":"req-l","Code":"200","Success":true,"Data":{"ChangeOrderList":[{"ChangeOrderId":"co-found","Description":"sae-deploy-trigger: ACR push acme/order-api:v1.4.2 [delivery nonce0]"}]}}"#;
    let fake = Fake::new().replying(200, listed).failing(SendError::TimedOut);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    let actions: Vec<&str> = fake.sent.borrow().iter().map(|(r, _)| r.action).collect();
    assert_eq!(actions, ["DeployApplication", "ListChangeOrders"]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["change_order_id"], "co-found");
    assert!(answer.body["reason"].as_str().unwrap().contains("ListChangeOrders"));
    assert!(fake.sent.borrow()[0].0.url.contains("%5Bdelivery%20nonce0%5D"));
}

#[test]
fn lost_answer_without_change_order_fails() {
    let fake = Fake::new()
        .replying(200, LIST_EMPTY)
        .replying(503, r#"{"RequestId":"r5","Code":"ServiceUnavailable","Message":"x"}"#);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert_eq!(answer.body["sae_code"], "ServiceUnavailable");
    assert_eq!(fake.sent.borrow().len(), 2);
}

#[test]
fn app_on_two_routes_deploys_once() {
    let routes = format!(
        r#"[{{"name":"exact","repository":"acme/order-api","targets":[{{"app_id":"{APP}"}}]}},{{"name":"all","repository":"acme/*","targets":[{{"app_id":"{}"}}]}}]"#,
        APP.to_ascii_uppercase()
    );
    let fake = with_routes(&routes).replying(200, DEPLOY_OK);
    let body = SAMPLE.replace(r#""digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","#, "");
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), &body));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["targets"].as_array().unwrap().len(), 1);
    assert_eq!(answer.body["targets"][0]["route"], "exact");
    assert_eq!(fake.sent.borrow().len(), 1);
}

#[test]
fn app_id_case_is_one_claim() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    handle(&fake, &post(&good_query(), SAMPLE));
    let upper = format!("token={TOKEN}&app_id={}", APP.to_ascii_uppercase());
    let again = handle(&fake, &post(&upper, SAMPLE));
    assert_eq!(again.body["status"], "duplicate", "{}", again.body);
    assert_eq!(fake.sent.borrow().len(), 1);
}

#[test]
fn failure_log_names_code() {
    let fake = Fake::new().failing(SendError::TimedOut).failing(SendError::TimedOut);
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 504);
    assert!(fake.logs.borrow()[0].contains("code=sae_timeout"), "{}", fake.logs.borrow()[0]);
}

#[test]
fn unknown_dry_run_value_is_rejected() {
    for value in ["on", "TRUEISH", ""] {
        let fake = Fake::new();
        let query = format!("{}&dry_run={value}", good_query());
        let answer = handle(&fake, &post(&query, SAMPLE));
        assert_eq!(answer.status, 400, "dry_run={value}: {}", answer.body);
        assert_eq!(answer.body["parameter"], "dry_run");
        assert!(fake.sent.borrow().is_empty());
    }
    let fake = Fake::new();
    let answer = handle(&fake, &post(&format!("{}&dry_run=TRUE", good_query()), SAMPLE));
    assert_eq!(answer.body["status"], "dry_run");
}

#[test]
fn dry_run_sees_earlier_deploy() {
    let fake = Fake::new().replying(200, DEPLOY_OK);
    handle(&fake, &post(&good_query(), SAMPLE));
    let answer = handle(&fake, &post(&format!("{}&dry_run=1", good_query()), SAMPLE));
    let target = &answer.body["targets"][0];
    assert_eq!(target["decision"], "duplicate", "{}", answer.body);
    assert_eq!(target["change_order_id"], "co-1");
    let query = target["request"]["query"].to_string();
    assert!(query.contains("[delivery "), "{query}");
    assert_eq!(fake.sent.borrow().len(), 1);
}

#[test]
fn spent_budget_sends_nothing() {
    let fake = Fake::new();
    fake.budget.set(Duration::from_millis(10));
    let answer = handle(&fake, &post(&good_query(), SAMPLE));
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.body["code"], "budget_exhausted");
    assert!(fake.sent.borrow().is_empty());
    assert!(fake.store.map.lock().unwrap().is_empty(), "no store writes past the budget");
}

#[test]
fn dry_run_value_needs_token_first() {
    let fake = Fake::new();
    let answer = handle(&fake, &post(&format!("app_id={APP}&dry_run=on"), SAMPLE));
    assert_eq!(answer.status, 401, "{}", answer.body);
}

#[test]
fn routed_busy_answer_has_retry_after() {
    let mut fake = with_routes(&format!(r#"[{{"repository":"acme/*","targets":[{{"app_id":"{APP}"}}]}}]"#));
    for _ in 0..crate::retry::MAX_ATTEMPTS {
        fake = fake.replying(400, THROTTLED);
    }
    let answer = handle(&fake, &post(&format!("token={TOKEN}"), SAMPLE));
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["code"], "sae_busy");
    assert!(answer.headers.iter().any(|(name, _)| name == "retry-after"), "{:?}", answer.headers);
}
