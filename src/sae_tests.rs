use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::config::Secret;

/// 2026-01-01T00:00:00Z, the date of the SAE-shaped test vectors.
fn vector_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

const NONCE: &str = "3156853299f313e23d1673dc12e1703d";

fn credentials(id: &str, token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: Secret::new(id),
        access_key_secret: Secret::new("testsecret"),
        security_token: token.map(Secret::new),
    }
}

fn endpoint() -> Endpoint {
    Endpoint::for_region("cn-hangzhou")
}

fn vector_params() -> DeployParams {
    DeployParams {
        app_id: "7171a6ca-d1cd-4928-8642-7d5cfe690000".into(),
        image_url: "registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1.2.3".into(),
        change_order_desc: "acr push v1.2.3".into(),
        min_ready_instances: Some(1),
        ..DeployParams::default()
    }
}

fn header<'a>(request: &'a SignedRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn vector_a_through_sign() {
    let request = deploy_application(&endpoint(), &vector_params());
    let signed = sign(&request, &credentials("testid", None), vector_date(), NONCE);
    assert_eq!(header(&signed, "date"), Some("Thu, 01 Jan 2026 00:00:00 GMT"));
    assert_eq!(
        header(&signed, "authorization"),
        Some("acs testid:xRu0z3EADkzdJphY5no6o4Zyy3Q=")
    );
    assert_eq!(signed.body, None);
    assert_eq!(header(&signed, "content-type"), None);
}

#[test]
fn vector_b_form_body() {
    let mut params = vector_params();
    params.acr_instance_id = Some("cri-abc123".into());
    let request = deploy_application(&endpoint(), &params);
    let signed = sign(&request, &credentials("testid", None), vector_date(), NONCE);
    assert_eq!(signed.body.as_deref(), Some(&b"AcrInstanceId=cri-abc123"[..]));
    assert_eq!(header(&signed, "content-md5"), Some("GxxyEUPNmV30uWlCCegTkg=="));
    assert_eq!(
        header(&signed, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        header(&signed, "authorization"),
        Some("acs testid:M3sK0fqnDGKTvbFpcWGzTalFYi0=")
    );
}

#[test]
fn vector_c_sts() {
    let request = deploy_application(&endpoint(), &vector_params());
    let signed = sign(&request, &credentials("STS.testid", Some("testtoken")), vector_date(), NONCE);
    assert_eq!(header(&signed, "x-acs-security-token"), Some("testtoken"));
    assert_eq!(header(&signed, "x-acs-accesskey-id"), Some("STS.testid"));
    assert_eq!(
        header(&signed, "authorization"),
        Some("acs STS.testid:SW/jiXjisWCpWwghuyAA/PpK/sk=")
    );
}

#[test]
fn url_encodes_reserved_and_unicode() {
    let mut params = vector_params();
    params.change_order_desc = "a b+c&d=e~f*g%h/镜像:".into();
    params.min_ready_instances = None;
    let url = url(&deploy_application(&endpoint(), &params));
    assert_eq!(
        url,
        "https://sae.cn-hangzhou.aliyuncs.com/pop/v1/sam/app/deployApplication?AppId=7171a6ca-d1cd-4928-8642-7d5cfe690000&ImageUrl=registry-vpc.cn-hangzhou.aliyuncs.com%2Fdemo-ns%2Fdemo-app%3Av1.2.3&ChangeOrderDesc=a%20b%2Bc%26d%3De~f%2Ag%25h%2F%E9%95%9C%E5%83%8F%3A"
    );
}

#[test]
fn empty_value_is_kept_in_url() {
    let mut params = vector_params();
    params.change_order_desc = String::new();
    let url = url(&deploy_application(&endpoint(), &params));
    assert!(url.contains("ChangeOrderDesc=&"), "{url}");
}

#[test]
fn optional_deploy_parameters() {
    let params = DeployParams {
        app_id: "a".into(),
        image_url: "i".into(),
        change_order_desc: "d".into(),
        acr_instance_id: None,
        min_ready_instances: Some(-1),
        min_ready_instance_ratio: Some(50),
        batch_wait_time: Some(10),
        update_strategy: Some(r#"{"type":"BatchUpdate"}"#.into()),
    };
    let request = deploy_application(&endpoint(), &params);
    let names: Vec<&str> = request.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "AppId",
            "ImageUrl",
            "ChangeOrderDesc",
            "MinReadyInstances",
            "MinReadyInstanceRatio",
            "BatchWaitTime",
            "UpdateStrategy"
        ]
    );
    assert!(request.form.is_empty());
}

#[test]
fn read_calls_are_get_without_body() {
    let request = describe_change_order(&endpoint(), "co-1");
    let signed = sign(&request, &credentials("id", None), vector_date(), NONCE);
    assert_eq!(signed.method, "GET");
    assert_eq!(signed.body, None);
    assert!(signed.url.ends_with("/pop/v1/sam/changeorder/DescribeChangeOrder?ChangeOrderId=co-1"));
    assert_eq!(header(&signed, "x-acs-action"), Some("DescribeChangeOrder"));
}

#[test]
fn signing_is_deterministic_and_nonce_sensitive() {
    let request = deploy_application(&endpoint(), &vector_params());
    let creds = credentials("id", None);
    let first = sign(&request, &creds, vector_date(), NONCE);
    let again = sign(&request, &creds, vector_date(), NONCE);
    let other = sign(&request, &creds, vector_date(), "other-nonce");
    assert_eq!(first, again);
    assert_ne!(header(&first, "authorization"), header(&other, "authorization"));
}

#[test]
fn custom_endpoint_keeps_port() {
    let endpoint = Endpoint {
        scheme: "http".into(),
        authority: "127.0.0.1:8080".into(),
    };
    let url = url(&describe_application_config(&endpoint, "app"));
    assert_eq!(
        url,
        "http://127.0.0.1:8080/pop/v1/sam/app/describeApplicationConfig?AppId=app"
    );
}
