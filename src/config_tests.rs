use std::collections::HashMap;

use super::*;

struct Map(HashMap<&'static str, String>);

impl Variables for Map {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn base() -> Map {
    let mut map = HashMap::new();
    map.insert("webhook_token", "0123456789abcdef0123".to_string());
    map.insert("access_key_id", "LTAI5tExampleId".to_string());
    map.insert("access_key_secret", "ExampleSecretValue".to_string());
    Map(map)
}

fn with(name: &'static str, value: &str) -> Map {
    let mut map = base();
    map.0.insert(name, value.to_string());
    map
}

#[test]
fn minimal_config_loads() {
    let config = load_deploy_config(&base()).unwrap();
    assert_eq!(config.region, None);
    assert_eq!(config.sae_endpoint, None);
    assert!(config.credentials.security_token.is_none());
    assert_eq!(config.sae_timeout, DEFAULT_SAE_TIMEOUT);
    assert_eq!(load_token(&base()).unwrap().expose(), "0123456789abcdef0123");
}

#[test]
fn empty_optional_is_unset() {
    let config = load_deploy_config(&with("security_token", "")).unwrap();
    assert!(config.credentials.security_token.is_none());
}

#[test]
fn rejection_table() {
    let long = "x".repeat(MAX_VALUE_LEN + 1);
    let cases: Vec<(Map, &str)> = vec![
        (with("access_key_id", ""), "access_key_id"),
        (with("access_key_secret", ""), "access_key_secret"),
        (with("access_key_id", "id with space"), "access_key_id"),
        (with("access_key_secret", "sécret"), "access_key_secret"),
        (with("access_key_secret", "secret\n"), "access_key_secret"),
        (with("security_token", "tok\u{7}en"), "security_token"),
        (with("security_token", &long), "security_token"),
        (with("region", "hangzhou"), "region"),
        (with("region", "cn-hangzhou.evil.com"), "region"),
        (with("region", "CN-HANGZHOU"), "region"),
        (with("sae_endpoint", "sae.cn-hangzhou.aliyuncs.com"), "sae_endpoint"),
        (with("sae_endpoint", "ftp://sae.example"), "sae_endpoint"),
        (with("sae_endpoint", "https://sae.example/path"), "sae_endpoint"),
        (with("sae_endpoint", "https://user@sae.example"), "sae_endpoint"),
        (with("sae_endpoint", "http://127.0.0.1:99999"), "sae_endpoint"),
        (with("registry_host", "https://registry.cn-hangzhou.aliyuncs.com"), "registry_host"),
        (with("registry_host", "registry.example/ns"), "registry_host"),
        (with("acr_instance_id", "abc"), "acr_instance_id"),
        (with("acr_instance_id", "cri-"), "acr_instance_id"),
        (with("acr_instance_id", "cri-ABC"), "acr_instance_id"),
        (with("sae_timeout_seconds", "0"), "sae_timeout_seconds"),
        (with("retention_hours", "0"), "retention_hours"),
        (with("retention_hours", "forever"), "retention_hours"),
        (with("sae_timeout_seconds", "26"), "sae_timeout_seconds"),
        (with("sae_timeout_seconds", "1.5"), "sae_timeout_seconds"),
    ];
    for (vars, variable) in cases {
        let error = load_deploy_config(&vars).unwrap_err();
        assert_eq!(error.variable, variable, "{error}");
    }
}

#[test]
fn missing_required_names_variable() {
    let mut vars = base();
    vars.0.remove("access_key_id");
    let error = load_deploy_config(&vars).unwrap_err();
    assert_eq!(error.variable, "access_key_id");
    assert!(error.to_string().contains("SPIN_VARIABLE_ACCESS_KEY_ID"), "{error}");
}

#[test]
fn errors_never_contain_values() {
    let secret = "TopSecretValue with space";
    let error = load_deploy_config(&with("access_key_secret", secret)).unwrap_err();
    assert!(!error.to_string().contains("TopSecret"), "{error}");
}

#[test]
fn token_rules() {
    assert_eq!(load_token(&with("webhook_token", "short")).unwrap_err().variable, "webhook_token");
    assert_eq!(load_token(&with("webhook_token", "")).unwrap_err().variable, "webhook_token");
    assert!(load_token(&with("webhook_token", &"t".repeat(MIN_TOKEN_LEN))).is_ok());
}

#[test]
fn endpoint_parsing() {
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("https://sae.cn-hangzhou.aliyuncs.com", Some(("https", "sae.cn-hangzhou.aliyuncs.com"))),
        ("https://sae.cn-hangzhou.aliyuncs.com/", Some(("https", "sae.cn-hangzhou.aliyuncs.com"))),
        ("http://127.0.0.1:8080", Some(("http", "127.0.0.1:8080"))),
        ("http://127.0.0.1:8080/x", None),
        ("https://", None),
        ("https://a?b", None),
        ("https://a#b", None),
        ("127.0.0.1:8080", None),
    ];
    for (value, expected) in cases {
        let actual = parse_endpoint(value).ok().map(|e| (e.scheme, e.authority));
        let expected = expected.map(|(s, a)| (s.to_string(), a.to_string()));
        assert_eq!(actual, expected, "endpoint {value:?}");
    }
}

#[test]
fn endpoint_for_region() {
    let config = load_deploy_config(&base()).unwrap();
    assert_eq!(
        endpoint_for(&config, "cn-shanghai").unwrap().base_url(),
        "https://sae.cn-shanghai.aliyuncs.com"
    );
    assert_eq!(endpoint_for(&config, "xx-nowhere-9"), None);
    let custom = load_deploy_config(&with("sae_endpoint", "http://127.0.0.1:9")).unwrap();
    assert_eq!(endpoint_for(&custom, "xx-nowhere-9").unwrap().base_url(), "http://127.0.0.1:9");
}

#[test]
fn region_ids() {
    for good in ["cn-hangzhou", "ap-southeast-1", "cn-hangzhou-finance", "us-west-1"] {
        assert!(check_region_id(good).is_ok(), "{good}");
    }
    for bad in ["", "cn", "cn-", "-cn", "cn--x", "cn_hangzhou", "cn-hangzhou/x", "c-x", "cn-Hangzhou"] {
        assert!(check_region_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn regions_match_manifest() {
    let manifest = include_str!("../spin.toml");
    let listed: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("\"https://sae."))
        .filter_map(|rest| rest.strip_suffix(".aliyuncs.com\","))
        .collect();
    assert_eq!(listed, SAE_REGIONS, "spin.toml allowed_outbound_hosts and SAE_REGIONS differ");
}

#[test]
fn timeout_is_configurable() {
    let config = load_deploy_config(&with("sae_timeout_seconds", "3")).unwrap();
    assert_eq!(config.sae_timeout, Duration::from_secs(3));
}

#[test]
fn retention_is_configurable() {
    assert_eq!(load_deploy_config(&base()).unwrap().retention, DEFAULT_RETENTION);
    let config = load_deploy_config(&with("retention_hours", "2")).unwrap();
    assert_eq!(config.retention, Duration::from_secs(7200));
}
