use serde_json::{json, Map, Value};

use super::*;

const APP_A: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";
const APP_B: &str = "7171a6ca-d1cd-4928-8642-7d5cfe69000b";
const APP_C: &str = "7171a6ca-d1cd-4928-8642-7d5cfe69000c";

fn table(value: Value) -> RouteTable {
    parse_routes(&value.to_string()).unwrap().unwrap()
}

fn error(value: Value) -> RouteError {
    parse_routes(&value.to_string()).unwrap_err()
}

/// Builds a valid one-route table with `app_id` APP_A, then applies `edit` to the route.
fn route_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    let mut route = json!({"name": "gateway-prod", "repository": "prod/gateway", "targets": [{"app_id": APP_A}]});
    if let Some(object) = route.as_object_mut() {
        edit(object);
    }
    json!({ "routes": [route] })
}

/// Builds a valid one-route table, then applies `edit` to its first target.
fn target_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Value {
    route_with(|route| {
        if let Some(target) = route.get_mut("targets").and_then(|t| t.get_mut(0)).and_then(Value::as_object_mut) {
            edit(target);
        }
    })
}

fn field_of(error: &RouteError) -> (&str, &str, &str) {
    match error {
        RouteError::Field { route, field, reason } => (route, field, reason),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn full_example_parses() {
    let text = r#"{ "routes": [
      { "name": "gateway-prod",
        "repository": "prod/gateway",
        "tags": "semver:minor",
        "prerelease": false,
        "targets": [
          { "app_id": "7171a6ca-d1cd-4928-8642-7d5cfe690000",
            "region": "cn-hangzhou",
            "registry_host": "myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com",
            "acr_instance_id": "cri-abc123",
            "min_ready_instances": 1,
            "min_ready_instance_ratio": 50,
            "batch_wait_time": 10,
            "update_strategy": {"type": "GrayBatchUpdate", "batchUpdate": {"batch": 2, "releaseType": "auto", "batchWaitTime": 1}, "grayUpdate": {"gray": 1}},
            "deploy_by_digest": false } ] } ] }"#;

    let table = parse_routes(text).unwrap().unwrap();
    assert_eq!(table.len(), 1);
    let route = &table.routes[0];
    assert_eq!(route.name, "gateway-prod");
    assert_eq!(route.repository.as_str(), "prod/gateway");
    assert_eq!(route.policy.to_string(), "semver:minor");

    let target = &route.targets[0];
    assert_eq!(target.app_id, APP_A);
    assert_eq!(target.region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(target.registry_host.as_deref(), Some("myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com"));
    assert_eq!(target.acr_instance_id.as_deref(), Some("cri-abc123"));
    assert_eq!(target.min_ready_instances, Some(1));
    assert_eq!(target.min_ready_instance_ratio, Some(50));
    assert_eq!(target.batch_wait_time, Some(10));
    assert_eq!(
        target.update_strategy.as_deref(),
        Some(r#"{"batchUpdate":{"batch":2,"batchWaitTime":1,"releaseType":"auto"},"grayUpdate":{"gray":1},"type":"GrayBatchUpdate"}"#)
    );
    assert!(!target.deploy_by_digest);
}

#[test]
fn defaults_and_bare_array() {
    let table = table(json!([{"repository": "prod/*", "targets": [{"app_id": APP_A}]}]));
    let route = &table.routes[0];
    assert_eq!(route.name, "routes[0]");
    assert_eq!(route.policy.to_string(), "glob:*");
    assert_eq!(route.targets[0], RouteTarget { app_id: APP_A.into(), ..RouteTarget::default() });
}

#[test]
fn empty_text_is_no_table() {
    for text in ["", " ", "\n\t  \r\n"] {
        assert!(parse_routes(text).unwrap().is_none(), "text {text:?}");
    }
}

#[test]
fn nulls_count_as_absent() {
    let table = table(target_with(|t| {
        t.insert("region".into(), Value::Null);
        t.insert("deploy_by_digest".into(), Value::Null);
    }));
    assert_eq!(table.routes[0].targets[0].region, None);
}

#[test]
fn update_strategy_as_string() {
    let strategy = r#"{ "type": "BatchUpdate", "batchUpdate": {"batch": 2, "releaseType": "auto"} }"#;
    let table = table(target_with(|t| {
        t.insert("update_strategy".into(), json!(format!("  {strategy}\n")));
    }));
    let compact = r#"{"batchUpdate":{"batch":2,"releaseType":"auto"},"type":"BatchUpdate"}"#;
    assert_eq!(table.routes[0].targets[0].update_strategy.as_deref(), Some(compact));
}

#[test]
fn invalid_json_has_position() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("{\"routes\": [", 1, 12, "EOF"),
        ("{\n  \"routes\": [}\n", 2, 14, "expected value"),
        ("[1,]", 1, 4, "trailing comma"),
        ("{\"routes\": []} x", 1, 16, "trailing characters"),
        ("{\"routes\": [], \"routes\": []}", 1, 23, "key `routes` appears twice"),
    ];
    for (text, line, column, reason) in cases {
        let error = parse_routes(text).unwrap_err();
        let RouteError::InvalidJson { reason: found, line: l, column: c } = &error else {
            panic!("text {text:?}: expected invalid JSON, got {error:?}");
        };
        assert!(found.contains(reason), "text {text:?}: {found}");
        assert_eq!((*l, *c), (*line, *column), "text {text:?}: {error}");
        assert!(error.to_string().contains(&format!("at line {line} column {column}")), "{error}");
    }
}

#[test]
fn duplicate_key_inside_target() {
    let text = format!(r#"[{{"repository": "a/b", "targets": [{{"app_id": "{APP_A}", "app_id": "{APP_B}"}}]}}]"#);
    let error = parse_routes(&text).unwrap_err();
    assert!(error.to_string().contains("key `app_id` appears twice"), "{error}");
}

#[test]
fn table_shape_errors() {
    let too_many: Vec<Value> = (0..=MAX_ROUTES)
        .map(|i| json!({"name": format!("r{i}"), "repository": "a/b", "targets": [{"app_id": APP_A}]}))
        .collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!("routes"), "not a string"),
        (json!(42), "not a number"),
        (json!({}), "has no `routes` key"),
        (json!({"routes": {}}), "must be an array"),
        (json!({"routes": [], "rotues": []}), "unknown top-level key `rotues`"),
        (json!([]), "has no routes"),
        (json!({"routes": []}), "has no routes"),
        (Value::Array(too_many), "101 routes, over the limit of 100"),
    ];
    for (value, reason) in cases {
        let error = error(value.clone());
        assert!(matches!(error, RouteError::Table(_)), "{value}: {error:?}");
        assert!(error.to_string().contains(reason), "{value}: {error}");
    }
}

#[test]
fn route_field_errors() {
    let long_name = "n".repeat(MAX_NAME_LEN + 1);
    let huge = "x".repeat(100_000);
    let targets_21: Vec<Value> = (0..21).map(|i| json!({"app_id": format!("7171a6ca-d1cd-4928-8642-7d5cfe69{i:04}")})).collect();
    type Edit = Box<dyn FnOnce(&mut Map<String, Value>)>;
    let set = |key: &'static str, value: Value| -> Edit { Box::new(move |r| drop(r.insert(key.into(), value))) };
    let remove = |key: &'static str| -> Edit { Box::new(move |r| drop(r.remove(key))) };
    // (edit, route label, field, reason fragment)
    let cases: Vec<(Edit, &str, &str, &str)> = vec![
        (set("name", json!("")), "routes[0]", "name", "1 to 64 letters"),
        (set("name", json!("has space")), "routes[0]", "name", "1 to 64 letters"),
        (set("name", json!(long_name)), "routes[0]", "name", "1 to 64 letters"),
        (set("name", json!(7)), "routes[0]", "name", "must be a string, not a number"),
        (remove("repository"), "gateway-prod", "repository", "is missing"),
        (set("repository", json!("Prod/*")), "gateway-prod", "repository", "lower case"),
        (set("repository", json!("gateway")), "gateway-prod", "repository", "has no `/`"),
        (set("repository", json!(["prod/*"])), "gateway-prod", "repository", "not an array"),
        (set("tags", json!("latest")), "gateway-prod", "tags", "`semver:minor`"),
        (set("tags", json!("semver:minr")), "gateway-prod", "tags", "unknown semver level"),
        (set("tags", json!("regexp:(")), "gateway-prod", "tags", "invalid regexp"),
        (set("tags", json!("glob:")), "gateway-prod", "tags", "empty glob"),
        (set("tags", json!(huge)), "gateway-prod", "tags", "no policy prefix"),
        (set("prerelease", json!("yes")), "gateway-prod", "prerelease", "true or false"),
        (set("prerelease", json!(true)), "gateway-prod", "prerelease", "only to `semver:` policies"),
        (remove("targets"), "gateway-prod", "targets", "is missing"),
        (set("targets", Value::Null), "gateway-prod", "targets", "is missing"),
        (set("targets", json!({"app_id": APP_A})), "gateway-prod", "targets", "must be an array"),
        (set("targets", json!([])), "gateway-prod", "targets", "is empty"),
        (set("targets", Value::Array(targets_21)), "gateway-prod", "targets", "has 21 targets, over the limit of 20"),
        (set("target", json!([])), "gateway-prod", "target", "is not a known field"),
        (set("app_id", json!(APP_A)), "gateway-prod", "app_id", "move it into an entry of `targets`"),
        (set("targets", json!([APP_A])), "gateway-prod", "targets[0]", "must be a JSON object"),
        (set("targets", json!([{"app_id": APP_A}, {"app_id": APP_A.to_uppercase()}])), "gateway-prod", "targets[1].app_id", "repeats targets[0]"),
    ];
    for (edit, route, field, reason) in cases {
        let error = error(route_with(edit));
        let (found_route, found_field, found_reason) = field_of(&error);
        assert_eq!((found_route, found_field), (route, field), "{error}");
        assert!(found_reason.contains(reason), "{error}");
        assert!(error.to_string().len() < 400, "message quotes too much: {error}");
    }
}

#[test]
fn target_field_errors() {
    let strategy_huge = json!({"type": "BatchUpdate", "note": "x".repeat(MAX_UPDATE_STRATEGY_BYTES)});
    // (key, value, reason fragment); `None` removes the key.
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("app_id", None, "is missing"),
        ("app_id", Some(json!("my-app")), "is not an SAE application id"),
        ("app_id", Some(json!(12)), "must be a string"),
        ("region", Some(json!("hangzhou")), "is not a region id"),
        ("registry_host", Some(json!("https://registry.cn-hangzhou.aliyuncs.com")), "without a scheme"),
        ("acr_instance_id", Some(json!("abc123")), "is not an ACR Enterprise instance id"),
        ("min_ready_instances", Some(json!(-2)), "-1 or more, not -2"),
        ("min_ready_instances", Some(json!("1")), "not a string"),
        ("min_ready_instances", Some(json!(1.5)), "not 1.5"),
        ("min_ready_instance_ratio", Some(json!(101)), "from -1 to 100, not 101"),
        ("min_ready_instance_ratio", Some(json!(-2)), "from -1 to 100"),
        ("batch_wait_time", Some(json!(-1)), "from 0 to 86400, not -1"),
        ("batch_wait_time", Some(json!(86_401)), "from 0 to 86400"),
        ("batch_wait_time", Some(json!(u64::MAX)), "from 0 to 86400"),
        ("update_strategy", Some(json!(["BatchUpdate"])), "must be a JSON object"),
        ("update_strategy", Some(json!(1)), "must be a JSON object"),
        ("update_strategy", Some(json!("BatchUpdate")), "not valid JSON"),
        ("update_strategy", Some(json!("[1]")), "must contain a JSON object"),
        ("update_strategy", Some(json!({"batchUpdate": {"batch": 2}})), "needs a string `type`"),
        ("update_strategy", Some(json!({"type": 1})), "needs a string `type`"),
        ("update_strategy", Some(json!("{\"type\": 1}")), "needs a string `type`"),
        ("update_strategy", Some(strategy_huge), "over the 2048-byte limit"),
        ("deploy_by_digest", Some(json!("true")), "true or false"),
        ("tags", Some(json!("glob:*")), "move it out of `targets`"),
        ("regoin", Some(json!("cn-hangzhou")), "is not a known field"),
    ];
    for (key, value, reason) in cases {
        let error = error(target_with(|t| match value {
            Some(value) => drop(t.insert(key.into(), value)),
            None => drop(t.remove(key)),
        }));
        let (route, field, found) = field_of(&error);
        assert_eq!(route, "gateway-prod", "{error}");
        assert_eq!(field, format!("targets[0].{key}"), "{error}");
        assert!(found.contains(reason), "{key}: {error}");
        assert!(error.to_string().len() < 400, "message quotes too much: {error}");
    }
}

#[test]
fn error_display_names_route_and_field() {
    let error = error(target_with(|t| drop(t.insert("app_id".into(), json!("nope")))));
    assert_eq!(
        error.to_string(),
        "route `gateway-prod` field `targets[0].app_id`: is not an SAE application id (a UUID like `7171a6ca-d1cd-4928-8642-7d5cfe690000`)"
    );
}

#[test]
fn huge_unknown_key_is_cut() {
    let key = "k".repeat(10_000);
    let error = error(target_with(|t| drop(t.insert(key, json!(1)))));
    assert!(error.to_string().len() < 400, "{error}");
}

#[test]
fn duplicate_route_names() {
    let route = json!({"name": "gateway", "repository": "prod/gateway", "targets": [{"app_id": APP_A}]});
    let other = json!({"repository": "dev/gateway", "targets": [{"app_id": APP_B}]});
    let error = error(json!([route, other, route]));
    let (name, field, reason) = field_of(&error);
    assert_eq!((name, field), ("gateway", "name"));
    assert!(reason.contains("is used by routes[0] and routes[2]"), "{error}");
}

fn sample_table() -> RouteTable {
    table(json!({"routes": [
        {"name": "gateway-prod", "repository": "prod/gateway", "tags": "semver:minor",
         "targets": [{"app_id": APP_A}, {"app_id": APP_B}]},
        {"name": "prod-rc", "repository": "prod/*", "tags": "semver:major", "prerelease": true,
         "targets": [{"app_id": APP_C}]},
        {"name": "all-releases", "repository": "**", "tags": "glob:release-*",
         "targets": [{"app_id": APP_A, "batch_wait_time": 30}]},
        {"name": "staging", "repository": "staging/*", "targets": [{"app_id": APP_B}]},
    ]}))
}

#[test]
fn evaluate_reports_every_route() {
    let table = sample_table();
    let evaluations = table.evaluate("prod/gateway", "v2.0.0-rc.1");
    let names: Vec<&str> = evaluations.iter().map(|e| e.route.as_str()).collect();
    assert_eq!(names, ["gateway-prod", "prod-rc", "all-releases", "staging"]);

    let flags: Vec<(bool, bool)> = evaluations.iter().map(|e| (e.repository_matched, e.tag_matched)).collect();
    assert_eq!(flags, [(true, false), (true, true), (true, false), (false, true)]);

    let reasons: Vec<&str> = evaluations.iter().map(|e| e.reason.as_str()).collect();
    assert!(reasons[0].contains("repository `prod/gateway` matches `prod/gateway`"), "{}", reasons[0]);
    assert!(reasons[0].contains("tag `v2.0.0-rc.1` is a pre-release; set \"prerelease\": true to admit it"), "{}", reasons[0]);
    assert!(reasons[1].contains("tag `v2.0.0-rc.1` matches `semver:major`"), "{}", reasons[1]);
    assert!(reasons[2].contains("does not match glob `release-*`"), "{}", reasons[2]);
    assert!(reasons[3].contains("repository `prod/gateway` does not match `staging/*`"), "{}", reasons[3]);
}

#[test]
fn targets_for_in_table_order() {
    let table = sample_table();
    let pairs = |repository: &str, tag: &str| -> Vec<(String, String)> {
        table
            .targets_for(repository, tag)
            .iter()
            .map(|(route, target)| (route.name.clone(), target.app_id.clone()))
            .collect()
    };
    let expect = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items.iter().map(|(r, a)| (r.to_string(), a.to_string())).collect()
    };
    assert_eq!(
        pairs("prod/gateway", "v1.2.3"),
        expect(&[("gateway-prod", APP_A), ("gateway-prod", APP_B), ("prod-rc", APP_C)])
    );
    assert_eq!(pairs("prod/gateway", "v2.0.0-rc.1"), expect(&[("prod-rc", APP_C)]));
    assert_eq!(pairs("prod/orders", "release-7"), expect(&[("all-releases", APP_A)]));
    assert_eq!(pairs("staging/web", "latest"), expect(&[("staging", APP_B)]));
    assert_eq!(pairs("dev/web", "latest"), expect(&[]));
    let digest = format!("sha256:{}", "a".repeat(64));
    assert_eq!(pairs("staging/web", &digest), expect(&[]));
}

#[test]
fn names_app_as_allowlist() {
    let table = sample_table();
    assert!(table.names_app("prod/gateway", "v1.2.3", APP_A));
    assert!(table.names_app("prod/gateway", "v1.2.3", &APP_B.to_uppercase()));
    assert!(!table.names_app("prod/gateway", "v2.0.0-rc.1", APP_A));
    assert!(table.names_app("prod/gateway", "v2.0.0-rc.1", APP_C));
    assert!(!table.names_app("dev/web", "latest", APP_B));
    assert!(!table.names_app("staging/web", "latest", APP_A));
}

#[test]
fn apply_options_overrides_only_set_fields() {
    let table = sample_table();
    let mut params = DeployParams {
        app_id: APP_A.into(),
        min_ready_instances: Some(2),
        acr_instance_id: Some("cri-global".into()),
        ..DeployParams::default()
    };
    table.routes[2].targets[0].apply_options(&mut params);
    assert_eq!(params.batch_wait_time, Some(30));
    assert_eq!(params.min_ready_instances, Some(2));
    assert_eq!(params.acr_instance_id.as_deref(), Some("cri-global"));

    let full = table_full_target();
    full.apply_options(&mut params);
    assert_eq!(params.min_ready_instances, Some(-1));
    assert_eq!(params.min_ready_instance_ratio, Some(100));
    assert_eq!(params.update_strategy.as_deref(), Some(r#"{"type":"BatchUpdate"}"#));
    assert_eq!(params.acr_instance_id.as_deref(), Some("cri-abc123"));
}

fn table_full_target() -> RouteTarget {
    let table = table(target_with(|t| {
        t.insert("min_ready_instances".into(), json!(-1));
        t.insert("min_ready_instance_ratio".into(), json!(100));
        t.insert("update_strategy".into(), json!({"type": "BatchUpdate"}));
        t.insert("acr_instance_id".into(), json!("cri-abc123"));
    }));
    table.routes[0].targets[0].clone()
}

#[test]
fn semver_with_deploy_by_digest_is_rejected() {
    let text = r#"[{"name":"r","repository":"prod/*","tags":"semver:minor","targets":[{"app_id":"7171a6ca-d1cd-4928-8642-7d5cfe690000","deploy_by_digest":true}]}]"#;
    let message = parse_routes(text).unwrap_err().to_string();
    assert!(message.contains("targets[0].deploy_by_digest"), "{message}");
    let glob = text.replace("semver:minor", "glob:*");
    assert!(parse_routes(&glob).is_ok());
}

#[test]
fn shipped_example_parses() {
    let table = parse_routes(include_str!("../routes.example.json")).unwrap().unwrap();
    assert!(table.len() >= 2, "the example should show several routes");
}
