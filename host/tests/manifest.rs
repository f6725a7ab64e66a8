//! Manifest parsing: variables, templates, names, triggers and components.

use std::path::Path;

use sae_trigger_host::manifest::Manifest;
use sae_trigger_host::routes::Route;
use sae_trigger_host::template::Part;

const HEADER: &str = "spin_manifest_version = 2\n[application]\nname = \"app\"\n";

const TRIGGER: &str = r#"
[[trigger.http]]
route = "/..."
component = "web"

[component.web]
source = "web.wasm"
"#;

fn parse(body: &str) -> anyhow::Result<Manifest> {
    Manifest::parse(
        &format!("{HEADER}{body}"),
        Path::new("/apps/demo/spin.toml"),
    )
}

fn error_text(body: &str) -> String {
    format!(
        "{:#}",
        parse(body).expect_err("manifest should be rejected")
    )
}

#[test]
fn manifest_minimal_app() {
    let manifest = parse(TRIGGER).unwrap();
    assert_eq!(manifest.application_name, "app");
    assert_eq!(manifest.http_triggers.len(), 1);
    assert_eq!(
        manifest.http_triggers[0].route,
        Route::Wildcard(String::new())
    );
    assert_eq!(manifest.http_triggers[0].component, "web");
    assert_eq!(
        manifest.components["web"].source,
        Path::new("/apps/demo/web.wasm")
    );
}

#[test]
fn manifest_variables_table() {
    // (variables table, expected default of `v` or the error fragment)
    let cases: [(&str, Result<Option<&str>, &str>); 7] = [
        ("v = { required = true }", Ok(None)),
        ("v = { default = \"x\" }", Ok(Some("x"))),
        ("v = { default = \"\", secret = true }", Ok(Some(""))),
        (
            "v = { required = true, default = \"x\" }",
            Err("both `required = true` and `default`"),
        ),
        (
            "v = { secret = true }",
            Err("needs either `required = true` or `default"),
        ),
        (
            "v = { required = false }",
            Err("needs either `required = true` or `default"),
        ),
        ("v = { default = \"x\", unknown_key = 1 }", Ok(Some("x"))),
    ];
    for (table, expected) in cases {
        let body = format!("[variables]\n{table}\n{TRIGGER}");
        match expected {
            Ok(default) => {
                let manifest = parse(&body).unwrap_or_else(|e| panic!("{table}: {e:#}"));
                assert_eq!(
                    manifest.variables["v"].default.as_deref(),
                    default,
                    "{table}"
                );
            }
            Err(fragment) => {
                let text = error_text(&body);
                assert!(text.contains(fragment), "{table}: {text}");
                assert!(text.contains("variables.v"), "{table}: {text}");
                assert!(text.contains("/apps/demo/spin.toml"), "{table}: {text}");
            }
        }
    }
}

#[test]
fn manifest_secret_flag_kept() {
    let manifest = parse(&format!(
        "[variables]\nt = {{ required = true, secret = true }}\n{TRIGGER}"
    ))
    .unwrap();
    assert!(manifest.variables["t"].secret);
}

#[test]
fn manifest_bad_variable_names_rejected() {
    for name in ["Token", "\"web-token\"", "\"1token\"", "token_", "\"a__b\""] {
        let text = error_text(&format!(
            "[variables]\n{name} = {{ default = \"\" }}\n{TRIGGER}"
        ));
        assert!(text.contains("invalid variable name"), "{name}: {text}");
    }
}

#[test]
fn manifest_component_variable_templates() {
    let body = format!(
        "[variables]\nhost = {{ default = \"example.com\" }}\ntoken = {{ required = true }}\n{TRIGGER}\n[component.web.variables]\nurl = \"https://{{{{ host }}}}/api\"\ntoken = \"{{{{ token }}}}\"\nplain = \"text\"\n"
    );
    let manifest = parse(&body).unwrap();
    let variables = &manifest.components["web"].variables;
    assert_eq!(
        variables["url"].parts(),
        &[
            Part::Literal("https://".into()),
            Part::Variable("host".into()),
            Part::Literal("/api".into())
        ]
    );
    assert_eq!(
        variables["token"].parts(),
        &[Part::Variable("token".into())]
    );
    assert!(variables["plain"].is_literal());
}

#[test]
fn manifest_template_errors_table() {
    let cases = [
        (
            "x = \"{{ missing }}\"",
            "references unknown variable `missing`",
        ),
        ("x = \"{{ host\"", "unmatched"),
        (
            "Bad = \"text\"",
            "invalid variable name `component.web.variables.Bad`",
        ),
    ];
    for (entry, fragment) in cases {
        let body = format!("[variables]\nhost = {{ default = \"h\" }}\n{TRIGGER}\n[component.web.variables]\n{entry}\n");
        let text = error_text(&body);
        assert!(text.contains(fragment), "{entry}: {text}");
    }
}

#[test]
fn manifest_allowed_hosts_checked() {
    let ok = format!(
        "[variables]\nendpoint = {{ default = \"\" }}\n{TRIGGER}allowed_outbound_hosts = [\"https://a.example.com\", \"{{{{ endpoint }}}}\"]\n"
    );
    let manifest = parse(&ok).unwrap();
    assert_eq!(manifest.components["web"].allowed_outbound_hosts.len(), 2);

    let bad_literal = format!("{TRIGGER}allowed_outbound_hosts = [\"a.example.com\"]\n");
    assert!(error_text(&bad_literal).contains("allowed_outbound_hosts[0]"));

    let unknown_variable = format!("{TRIGGER}allowed_outbound_hosts = [\"{{{{ nope }}}}\"]\n");
    assert!(error_text(&unknown_variable).contains("unknown variable `nope`"));
}

#[test]
fn manifest_key_value_labels() {
    let ok = format!("{TRIGGER}key_value_stores = [\"default\"]\n");
    assert_eq!(
        parse(&ok).unwrap().components["web"].key_value_stores,
        vec!["default"]
    );

    let other = format!("{TRIGGER}key_value_stores = [\"cache\"]\n");
    assert!(error_text(&other).contains("unknown store \"cache\""));
}

#[test]
fn manifest_structure_errors_table() {
    let cases = [
        ("spin_manifest_version = 2\n", "missing `application.name`"),
        (
            "[application]\nname = \"a\"\n",
            "missing `spin_manifest_version`",
        ),
        (
            "spin_manifest_version = \"1\"\n[application]\nname = \"a\"\n",
            "not supported",
        ),
    ];
    for (text, fragment) in cases {
        let error = Manifest::parse(text, Path::new("spin.toml")).expect_err(text);
        assert!(format!("{error:#}").contains(fragment), "{text}: {error:#}");
    }
}

#[test]
fn manifest_trigger_errors_table() {
    let cases = [
        ("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"nope\"\n[component.web]\nsource = \"w.wasm\"\n", "no `[component.nope]` table"),
        ("[[trigger.http]]\ncomponent = \"web\"\n[component.web]\nsource = \"w.wasm\"\n", "missing `trigger.http[0].route`"),
        ("[[trigger.http]]\nroute = \"api\"\ncomponent = \"web\"\n[component.web]\nsource = \"w.wasm\"\n", "must start with '/'"),
        ("[[trigger.redis]]\nchannel = \"c\"\ncomponent = \"web\"\n[component.web]\nsource = \"w.wasm\"\n", "only `[[trigger.http]]`"),
        ("[component.web]\nsource = \"w.wasm\"\n", "no `[[trigger.http]]` entry"),
        ("[[trigger.http]]\nroute = \"/a\"\ncomponent = \"web\"\n[[trigger.http]]\nroute = \"/a/\"\ncomponent = \"web\"\n[component.web]\nsource = \"w.wasm\"\n", "is used by both"),
        ("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n[component.web]\nsource = { url = \"https://x\", digest = \"sha256:0\" }\n", "local .wasm file"),
        ("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n[component.web]\n", "missing `component.web.source`"),
        ("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web_x\"\n[component.web_x]\nsource = \"w.wasm\"\n", "invalid component id"),
        ("[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n[component.web]\nsource = \"w.wasm\"\nfiles = [\"a.txt\"]\n", "`component.web.files` is not supported"),
    ];
    for (body, fragment) in cases {
        let text = error_text(body);
        assert!(text.contains(fragment), "{body}\n=> {text}");
    }
}

#[test]
fn manifest_project_file_loads() {
    // The project's own manifest must stay loadable by this host.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spin.toml");
    let manifest = Manifest::load(&path).unwrap();
    let component = &manifest.components["sae-deploy-trigger"];
    assert_eq!(component.key_value_stores, vec!["default"]);
    assert!(manifest.variables["webhook_token"].default.is_none());
    assert!(manifest.variables["webhook_token"].secret);
}
