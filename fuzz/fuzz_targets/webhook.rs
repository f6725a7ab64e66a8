//! Feeds arbitrary bytes to the ACR webhook parser. A body it accepts must
//! hold only parts that pass the image reference grammar, must survive a
//! rebuild into a minimal body, and must plan and sign without a panic.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use sae_deploy_trigger::internals::{
    check_reference, parse_route_table, parse_webhook, plan_deploys, sign_all,
};

/// A registry host that passes `check_reference`, for its fifth slot.
const REGISTRY_HOST: &str = "registry-vpc.cn-hangzhou.aliyuncs.com";

/// A valid SAE application id (a UUID).
const APP_ID: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";

/// Maximum length of `<namespace>/<name>`, from the Distribution spec.
const MAX_REPOSITORY_LEN: usize = 255;

fuzz_target!(|body: &[u8]| {
    let Ok(push) = parse_webhook(body) else {
        return;
    };
    let [namespace, name, tag, digest, region] = push.parts();

    // Every part that goes into an image URL passes the reference grammar.
    let valid = check_reference(namespace, name, tag, digest, REGISTRY_HOST);
    assert!(valid[0], "accepted an invalid namespace {namespace:?}");
    assert!(valid[1], "accepted an invalid name {name:?}");
    assert!(valid[2], "accepted an invalid tag {tag:?}");
    assert!(
        digest.is_empty() || valid[3],
        "accepted an invalid digest {digest:?}"
    );
    assert!(
        namespace.len() + 1 + name.len() <= MAX_REPOSITORY_LEN,
        "accepted a repository of {} bytes",
        namespace.len() + 1 + name.len()
    );

    // A minimal body rebuilt from the parts parses to the same parts.
    let rebuilt = serde_json::json!({
        "push_data": { "tag": tag, "digest": digest },
        "repository": {
            "namespace": namespace,
            "name": name,
            "region": region,
            "repo_full_name": format!("{namespace}/{name}"),
        },
    })
    .to_string();
    let again = parse_webhook(rebuilt.as_bytes())
        .unwrap_or_else(|error| panic!("rebuilt body {rebuilt} was rejected: {error}"));
    assert_eq!(again.parts(), push.parts(), "rebuilt body {rebuilt}");

    // Single-app mode: plan and sign for one application.
    let no_table = parse_route_table("").expect("an empty route table parses");
    if let Ok(planned) = plan_deploys(&push, &no_table, APP_ID) {
        let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        for authorization in sign_all(
            &planned,
            "fuzz-secret",
            now,
            "0123456789abcdef0123456789abcdef",
        ) {
            assert!(
                authorization.starts_with("acs LTAIbenchmarkKeyId:"),
                "unexpected Authorization {authorization:?}"
            );
        }
    }
});
