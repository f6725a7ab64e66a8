//! `allowed_outbound_hosts` parsing and matching.

use sae_trigger_host::allowed_hosts::{AllowedHost, OutboundPolicy};

#[test]
fn allowed_host_parse_table() {
    let valid = [
        "https://sae.cn-hangzhou.aliyuncs.com",
        "https://sae.cn-hangzhou.aliyuncs.com/",
        "http://127.0.0.1:8080",
        "http://localhost:*",
        "https://*.aliyuncs.com",
        "*://example.com:443",
        "https://*",
        "http://example.com:8000..8010",
        "redis://cache.internal",
        "http://self",
        "HTTPS://Example.COM",
    ];
    for entry in valid {
        assert!(AllowedHost::parse(entry).is_ok(), "{entry:?} should parse");
    }

    let invalid = [
        ("example.com", "no scheme"),
        ("", "no scheme"),
        ("*", "no scheme"),
        ("https://example.com/path", "path"),
        ("https://example.com:abc", "not a number"),
        ("https://example.com:70000", "not a number"),
        ("https://a.*.com", "wildcard"),
        ("https://exa*mple.com", "wildcard"),
        ("foo://example.com", "no default port"),
        ("ht-tp://example.com", "ASCII letters"),
        ("https://", "host is empty"),
    ];
    for (entry, fragment) in invalid {
        let error = AllowedHost::parse(entry).expect_err(entry);
        assert!(error.contains(fragment), "{entry:?}: {error}");
    }
}

#[test]
fn allowed_host_match_table() {
    // (entry, scheme, host, port, allowed)
    let cases = [
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "sae.cn-hangzhou.aliyuncs.com",
            None,
            true,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "sae.cn-hangzhou.aliyuncs.com",
            Some(443),
            true,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "SAE.CN-HANGZHOU.ALIYUNCS.COM",
            None,
            true,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "sae.cn-hangzhou.aliyuncs.com",
            Some(8443),
            false,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "http",
            "sae.cn-hangzhou.aliyuncs.com",
            None,
            false,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "sae.cn-shanghai.aliyuncs.com",
            None,
            false,
        ),
        (
            "https://sae.cn-hangzhou.aliyuncs.com",
            "https",
            "evil.com",
            None,
            false,
        ),
        (
            "http://127.0.0.1:8080",
            "http",
            "127.0.0.1",
            Some(8080),
            true,
        ),
        ("http://127.0.0.1:8080", "http", "127.0.0.1", None, false),
        ("http://127.0.0.1", "http", "127.0.0.1", Some(80), true),
        ("http://localhost:*", "http", "localhost", Some(1234), true),
        ("http://localhost:*", "http", "localhost", None, true),
        (
            "https://*.aliyuncs.com",
            "https",
            "sae.cn-beijing.aliyuncs.com",
            None,
            true,
        ),
        (
            "https://*.aliyuncs.com",
            "https",
            "aliyuncs.com",
            None,
            false,
        ),
        (
            "https://*.aliyuncs.com",
            "https",
            "evilaliyuncs.com",
            None,
            false,
        ),
        (
            "*://example.com:443",
            "http",
            "example.com",
            Some(443),
            true,
        ),
        ("*://example.com:443", "https", "example.com", None, true),
        ("https://*", "https", "anything.example", None, true),
        ("https://*", "https", "anything.example", Some(444), false),
        (
            "http://example.com:8000..8010",
            "http",
            "example.com",
            Some(8009),
            true,
        ),
        (
            "http://example.com:8000..8010",
            "http",
            "example.com",
            Some(8010),
            false,
        ),
        ("http://self", "http", "self", None, false),
        ("http://self", "http", "localhost", None, false),
    ];
    for (entry, scheme, host, port, allowed) in cases {
        let parsed = AllowedHost::parse(entry).unwrap();
        assert_eq!(
            parsed.allows(scheme, host, port),
            allowed,
            "{entry:?} vs {scheme}://{host}:{port:?}"
        );
    }
}

#[test]
fn policy_skips_empty_entries() {
    let policy = OutboundPolicy::parse(&["https://a.example.com", "", "  "]).unwrap();
    assert_eq!(policy.len(), 1);
    assert!(policy.allows("https", "a.example.com", None));
    assert!(!policy.allows("https", "b.example.com", None));
}

#[test]
fn policy_empty_denies_everything() {
    let policy = OutboundPolicy::parse::<&str>(&[]).unwrap();
    assert!(policy.is_empty());
    assert!(!policy.allows("https", "example.com", None));
    assert!(!policy.allows("http", "127.0.0.1", Some(80)));
}

#[test]
fn policy_reports_invalid_entry() {
    let error = OutboundPolicy::parse(&["https://ok.example.com", "bad.example.com"]).unwrap_err();
    assert!(error.contains("bad.example.com"), "{error}");
}

#[test]
fn policy_templates_resolved_and_empty_skipped() {
    use sae_trigger_host::manifest::Manifest;
    use sae_trigger_host::runtime::resolve_outbound_policy;
    use std::collections::BTreeMap;

    let text = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
endpoint = { default = "" }
port = { default = "8080" }
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
allowed_outbound_hosts = ["https://fixed.example.com", "{{ endpoint }}", "http://127.0.0.1:{{ port }}"]
"#;
    let manifest = Manifest::parse(text, std::path::Path::new("spin.toml")).unwrap();
    let component = &manifest.components["web"];

    let defaults = BTreeMap::from([
        ("endpoint".to_string(), String::new()),
        ("port".to_string(), "8080".to_string()),
    ]);
    let policy = resolve_outbound_policy("web", component, &defaults).unwrap();
    assert_eq!(policy.len(), 2);
    assert!(policy.allows("http", "127.0.0.1", Some(8080)));
    assert!(!policy.allows("http", "127.0.0.1", Some(8081)));

    let with_endpoint = BTreeMap::from([
        (
            "endpoint".to_string(),
            "https://sae-vpc.cn-hangzhou.aliyuncs.com".to_string(),
        ),
        ("port".to_string(), "8080".to_string()),
    ]);
    let policy = resolve_outbound_policy("web", component, &with_endpoint).unwrap();
    assert_eq!(policy.len(), 3);
    assert!(policy.allows("https", "sae-vpc.cn-hangzhou.aliyuncs.com", None));

    let invalid = BTreeMap::from([
        ("endpoint".to_string(), "sae.example.com".to_string()),
        ("port".to_string(), "8080".to_string()),
    ]);
    assert!(resolve_outbound_policy("web", component, &invalid).is_err());
}
