//! Variable resolution order, required variables and the guest-facing errors.

use std::collections::BTreeMap;
use std::path::Path;

use sae_trigger_host::manifest::{Manifest, VariableDecl};
use sae_trigger_host::variables::{
    env_name, parse_variable_flag, resolve_application_variables, undeclared_flags,
    ComponentVariables, VariableError,
};

fn decl(default: Option<&str>) -> VariableDecl {
    VariableDecl {
        default: default.map(str::to_string),
        secret: false,
    }
}

fn declared() -> BTreeMap<String, VariableDecl> {
    BTreeMap::from([
        ("region".to_string(), decl(Some("default-region"))),
        ("token".to_string(), decl(None)),
    ])
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn resolution_order_table() {
    // (flag value, env value, expected value of `region`)
    let cases = [
        (Some("from-flag"), Some("from-env"), "from-flag"),
        (None, Some("from-env"), "from-env"),
        (None, None, "default-region"),
        (Some(""), Some("from-env"), ""),
    ];
    for (flag, env, expected) in cases {
        let mut flags = BTreeMap::from([("token".to_string(), "t".to_string())]);
        if let Some(flag) = flag {
            flags.insert("region".to_string(), flag.to_string());
        }
        let env_lookup = |name: &str| {
            (name == "SPIN_VARIABLE_REGION")
                .then(|| env.map(str::to_string))
                .flatten()
        };
        let values = resolve_application_variables(&declared(), &flags, env_lookup).unwrap();
        assert_eq!(values["region"], expected, "flag {flag:?} env {env:?}");
    }
}

#[test]
fn env_name_is_upper_case() {
    assert_eq!(env_name("access_key_id"), "SPIN_VARIABLE_ACCESS_KEY_ID");
}

#[test]
fn required_variable_missing_fails() {
    let error = resolve_application_variables(&declared(), &BTreeMap::new(), no_env).unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("\"token\""), "{text}");
    assert!(text.contains("SPIN_VARIABLE_TOKEN"), "{text}");
}

#[test]
fn required_variable_from_env_succeeds() {
    let env = |name: &str| (name == "SPIN_VARIABLE_TOKEN").then(|| "secret-value".to_string());
    let values = resolve_application_variables(&declared(), &BTreeMap::new(), env).unwrap();
    assert_eq!(values["token"], "secret-value");
}

#[test]
fn missing_variable_error_hides_values() {
    let flags = BTreeMap::from([("region".to_string(), "visible-only-as-value".to_string())]);
    let error = resolve_application_variables(&declared(), &flags, no_env).unwrap_err();
    assert!(!format!("{error:#}").contains("visible-only-as-value"));
}

#[test]
fn variable_flag_forms() {
    assert_eq!(
        parse_variable_flag("a=b").unwrap(),
        ("a".to_string(), "b".to_string())
    );
    assert_eq!(
        parse_variable_flag("a=b=c").unwrap(),
        ("a".to_string(), "b=c".to_string())
    );
    assert_eq!(
        parse_variable_flag("a=").unwrap(),
        ("a".to_string(), String::new())
    );
    assert!(parse_variable_flag("novalue").is_err());
    assert!(parse_variable_flag("Bad=x").is_err());
}

#[test]
fn variable_flag_reads_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret.txt");
    std::fs::write(&path, "line one\n").unwrap();
    let (name, value) = parse_variable_flag(&format!("token=@{}", path.display())).unwrap();
    assert_eq!(name, "token");
    assert_eq!(value, "line one\n");

    let missing = parse_variable_flag(&format!("token=@{}", dir.path().join("nope").display()));
    assert!(missing.is_err());
}

#[test]
fn undeclared_flag_names_listed() {
    let flags = BTreeMap::from([
        ("token".to_string(), "x".to_string()),
        ("typo".to_string(), "y".to_string()),
    ]);
    assert_eq!(undeclared_flags(&declared(), &flags), vec!["typo"]);
}

fn component_variables() -> ComponentVariables {
    let manifest_text = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
host = { default = "example.com" }
token = { required = true }
unmapped = { default = "hidden" }
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
[component.web.variables]
url = "https://{{ host }}/v1"
token = "{{ token }}"
"#;
    let manifest = Manifest::parse(manifest_text, Path::new("spin.toml")).unwrap();
    let flags = BTreeMap::from([("token".to_string(), "t0k".to_string())]);
    let values = resolve_application_variables(&manifest.variables, &flags, no_env).unwrap();
    ComponentVariables::resolve("web", &manifest.components["web"], &values).unwrap()
}

#[test]
fn component_get_mapped_values() {
    let variables = component_variables();
    assert_eq!(variables.get("url").unwrap(), "https://example.com/v1");
    assert_eq!(variables.get("token").unwrap(), "t0k");
}

#[test]
fn component_get_unmapped_is_undefined() {
    // `unmapped` is an application variable, but the component does not map it.
    let variables = component_variables();
    assert!(matches!(
        variables.get("unmapped"),
        Err(VariableError::Undefined(_))
    ));
    assert!(matches!(
        variables.get("host"),
        Err(VariableError::Undefined(_))
    ));
}

#[test]
fn component_get_invalid_name() {
    let variables = component_variables();
    for name in ["URL", "has-dash", "", "a__b"] {
        assert!(
            matches!(variables.get(name), Err(VariableError::InvalidName(_))),
            "{name:?}"
        );
    }
}
