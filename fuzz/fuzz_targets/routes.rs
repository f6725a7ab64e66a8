//! Feeds arbitrary UTF-8 to the route table parser. Parsing must never panic,
//! and a table it accepts must plan and sign the pushes of the ACR fixtures
//! without a panic.

#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use sae_deploy_trigger::internals::{
    parse_route_table, parse_webhook, plan_deploys, sign_all, Push,
};

/// The `app_id` of the trigger URL, which narrows nothing once a table is set.
const APP_ID: &str = "7171a6ca-d1cd-4928-8642-7d5cfe690000";

/// Valid pushes: ACR Enterprise `prod/gateway:release-v2.0.1` in cn-hangzhou
/// and ACR Personal `acme/order-api:v1.4.2` in cn-shanghai.
static PUSHES: LazyLock<Vec<Push>> = LazyLock::new(|| {
    [
        &include_bytes!("../../tests/fixtures/acr/enterprise.json")[..],
        &include_bytes!("../../tests/fixtures/acr/personal-private.json")[..],
    ]
    .into_iter()
    .map(|body| parse_webhook(body).expect("an ACR fixture parses"))
    .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(routes) = parse_route_table(text) else {
        return;
    };
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    for push in PUSHES.iter() {
        if let Ok(planned) = plan_deploys(push, &routes, APP_ID) {
            sign_all(
                &planned,
                "fuzz-secret",
                now,
                "0123456789abcdef0123456789abcdef",
            );
        }
    }
});
