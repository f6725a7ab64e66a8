//! End-to-end tests: the host binary serving the fixture component.

mod support;

use std::time::{Duration, Instant};

use support::{fixture_wasm, start_host, start_upstream, try_start_host, HostProcess, Upstream};

const TOKEN: &str = "s3cr3t-token-value";

fn manifest(wasm: &std::path::Path) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "fixture"

[variables]
token = {{ required = true, secret = true }}
upstream = {{ default = "" }}
tls_upstream = {{ default = "" }}
unmapped = {{ default = "not-for-the-guest" }}

[[trigger.http]]
route = "/..."
component = "fixture"

[component.fixture]
source = "{}"
allowed_outbound_hosts = ["{{{{ upstream }}}}", "{{{{ tls_upstream }}}}"]
key_value_stores = ["default"]

[component.fixture.variables]
token = "{{{{ token }}}}"
"#,
        wasm.display()
    )
}

fn start(extra_args: &[&str]) -> HostProcess {
    let token_flag = format!("token={TOKEN}");
    let mut args = vec!["--variable", token_flag.as_str()];
    args.extend_from_slice(extra_args);
    start_host(&manifest(&fixture_wasm()), &args, &[])
}

#[test]
fn e2e_variables_visible_to_guest() {
    let host = start(&[]);
    assert_eq!(
        host.get("/variable?name=token"),
        (200, format!("ok:{TOKEN}"))
    );
    assert_eq!(
        host.get("/variable?name=unmapped"),
        (200, "undefined".to_string())
    );
    assert_eq!(
        host.get("/variable?name=Bad-Name"),
        (200, "invalid-name".to_string())
    );
}

#[test]
fn e2e_variable_from_env() {
    let host = start_host(
        &manifest(&fixture_wasm()),
        &[],
        &[("SPIN_VARIABLE_TOKEN", "from-env")],
    );
    assert_eq!(
        host.get("/variable?name=token"),
        (200, "ok:from-env".to_string())
    );
}

#[test]
fn e2e_missing_required_variable_fails_startup() {
    let Err((_, lines)) = try_start_host(&manifest(&fixture_wasm()), &[], &[]) else {
        panic!("host started without the required variable");
    };
    let text = lines.join("\n");
    assert!(text.contains("event=startup_failed"), "{text}");
    assert!(text.contains("token"), "{text}");
}

#[test]
fn e2e_key_value_store() {
    let host = start(&[]);
    assert_eq!(
        host.get("/kv/roundtrip"),
        (200, "hello:true:true".to_string())
    );
    assert_eq!(host.get("/kv/open?label=default"), (200, "ok".to_string()));
    assert_eq!(
        host.get("/kv/open?label=other"),
        (200, "access-denied".to_string())
    );
    assert_eq!(host.get("/kv/increment"), (200, "1".to_string()));
    assert_eq!(host.get("/kv/increment"), (200, "2".to_string()));
    assert_eq!(
        host.get("/kv/cas"),
        (200, "v1:retried-from-changed:v3".to_string())
    );
    assert!(host.dir.path().join(".spin/sqlite_key_value.db").exists());
}

#[test]
fn e2e_increment_concurrent_requests() {
    const REQUESTS: usize = 20;
    let host = start(&[]);
    let address = host.address;
    let threads: Vec<_> = (0..REQUESTS)
        .map(|_| std::thread::spawn(move || support::http_get(address, "/kv/increment")))
        .collect();
    let mut values: Vec<u64> = threads
        .into_iter()
        .map(|thread| thread.join().unwrap().1.parse().unwrap())
        .collect();
    values.sort_unstable();
    let expected: Vec<u64> = (1..=REQUESTS as u64).collect();
    assert_eq!(values, expected);
}

#[test]
fn e2e_outbound_allowed_and_denied() {
    let allowed_port = start_upstream(Upstream::Hello);
    let other_port = start_upstream(Upstream::Hello);
    let upstream = format!("upstream=http://127.0.0.1:{allowed_port}");
    let host = start(&["--variable", &upstream]);

    let (status, body) = host.get(&format!(
        "/outbound?scheme=http&authority=127.0.0.1:{allowed_port}"
    ));
    assert_eq!((status, body.as_str()), (200, "status:200:bytes:5"));

    let (status, body) = host.get(&format!(
        "/outbound?scheme=http&authority=127.0.0.1:{other_port}"
    ));
    assert_eq!(
        (status, body.as_str()),
        (200, "error:ErrorCode::HttpRequestDenied")
    );
    let line = host.wait_for_line("event=outbound_denied");
    assert!(
        line.contains(&format!("host=127.0.0.1:{other_port}")),
        "{line}"
    );

    let (_, body) = host.get(&format!(
        "/outbound?scheme=https&authority=127.0.0.1:{allowed_port}"
    ));
    assert_eq!(
        body, "error:ErrorCode::HttpRequestDenied",
        "the scheme must match too"
    );
}

#[test]
fn e2e_outbound_first_byte_timeout() {
    let port = start_upstream(Upstream::Silent);
    let upstream = format!("upstream=http://127.0.0.1:{port}");
    let host = start(&["--variable", &upstream]);
    let started = Instant::now();
    let (_, body) = host.get(&format!(
        "/outbound?scheme=http&authority=127.0.0.1:{port}&timeout_ms=300"
    ));
    assert_eq!(body, "error:ErrorCode::ConnectionReadTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn e2e_outbound_between_bytes_timeout() {
    let port = start_upstream(Upstream::StallBody);
    let upstream = format!("upstream=http://127.0.0.1:{port}");
    let host = start(&["--variable", &upstream]);
    let started = Instant::now();
    let (_, body) = host.get(&format!(
        "/outbound?scheme=http&authority=127.0.0.1:{port}&timeout_ms=300"
    ));
    assert!(body.starts_with("status:200:body-error:"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn e2e_outbound_tls_handshake_stall_times_out() {
    let port = start_upstream(Upstream::Silent);
    let tls_upstream = format!("tls_upstream=https://127.0.0.1:{port}");
    let host = start(&["--variable", &tls_upstream]);
    let started = Instant::now();
    let (_, body) = host.get(&format!(
        "/outbound?scheme=https&authority=127.0.0.1:{port}&timeout_ms=300"
    ));
    assert_eq!(body, "error:ErrorCode::ConnectionTimeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn e2e_trap_returns_500_and_host_survives() {
    let host = start(&[]);
    let (status, _) = host.get("/trap");
    assert_eq!(status, 500);
    host.wait_for_line("event=guest_error");
    assert_eq!(host.get("/variable?name=token").0, 200);
}

#[test]
fn e2e_guest_output_copied() {
    let host = start(&[]);
    assert_eq!(host.get("/print"), (200, "printed".to_string()));
    host.wait_for_line("fixture-stdout-marker");
    host.wait_for_line("fixture-stderr-marker");
    let logs = host.dir.path().join(".spin/logs");
    let stdout = std::fs::read_to_string(logs.join("fixture_stdout.txt")).unwrap();
    let stderr = std::fs::read_to_string(logs.join("fixture_stderr.txt")).unwrap();
    assert!(stdout.contains("fixture-stdout-marker"), "{stdout}");
    assert!(stderr.contains("fixture-stderr-marker"), "{stderr}");
}

#[test]
fn e2e_request_url_and_spin_headers() {
    let host = start(&[]);
    let (status, body) = host.get("/echo?x=1");
    assert_eq!(status, 200);
    let base = format!("http://{}", host.address);
    assert!(body.contains(&format!("uri={base}/echo?x=1")), "{body}");
    assert!(
        body.contains(&format!("full-url={base}/echo?x=1")),
        "{body}"
    );
    assert!(body.contains("path-info=/echo\n"), "{body}");
    assert!(body.contains("matched-route=/...\n"), "{body}");
}

#[test]
fn e2e_host_logs_hide_secrets_and_queries() {
    let host = start(&[]);
    host.get("/variable?name=token&secret_query=q-value");
    host.wait_for_line("event=http_request");
    let text = host.stderr().join("\n");
    assert!(
        !text.contains(TOKEN),
        "a variable value reached the host log"
    );
    assert!(
        !text.contains("q-value"),
        "a query string reached the host log"
    );
}

#[test]
fn e2e_project_component_loads() {
    // The project's component is built by scripts/build; check it when present.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = root.join("target/component/sae_deploy_trigger.wasm");
    if !wasm.exists() {
        eprintln!("note: {} is not built; skipping", wasm.display());
        return;
    }
    let manifest = std::fs::read_to_string(root.join("spin.toml"))
        .unwrap()
        .replace(
            "source = \"target/component/sae_deploy_trigger.wasm\"",
            &format!("source = \"{}\"", wasm.display()),
        );
    let host = start_host(
        &manifest,
        &[
            "--variable",
            "webhook_token=t",
            "--variable",
            "access_key_id=id",
            "--variable",
            "access_key_secret=secret",
        ],
        &[],
    );
    let (status, _) = host.get("/");
    assert_ne!(status, 500, "{}", host.stderr().join("\n"));
}

#[test]
fn e2e_sigterm_stops_cleanly() {
    let mut host = start(&[]);
    let pid = host.pid().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = host.wait_exit(Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0));
    host.wait_for_line("event=stopping reason=terminate");
}

#[test]
fn e2e_instance_limit_returns_503() {
    let port = start_upstream(Upstream::Silent);
    let upstream = format!("upstream=http://127.0.0.1:{port}");
    let host = start(&["--variable", &upstream, "--max-instances", "1"]);
    let address = host.address;

    // The only instance waits 2 s for the silent upstream.
    let stalled = std::thread::spawn(move || {
        support::http_get(
            address,
            &format!("/outbound?scheme=http&authority=127.0.0.1:{port}&timeout_ms=2000"),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = host.get("/variable?name=token");
    assert_eq!(status, 503);
    assert!(body.contains("too many concurrent requests"), "{body}");
    host.wait_for_line("event=instance_limit_reached");

    let (_, stalled_body) = stalled.join().unwrap();
    assert_eq!(stalled_body, "error:ErrorCode::ConnectionReadTimeout");
    assert_eq!(
        host.get("/variable?name=token"),
        (200, format!("ok:{TOKEN}"))
    );
}

#[test]
fn e2e_concurrent_requests_within_default_limit() {
    const REQUESTS: usize = 100;
    let host = start(&[]);
    let address = host.address;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(REQUESTS));
    let threads: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                support::http_get(address, "/variable?name=token")
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), (200, format!("ok:{TOKEN}")));
    }
}
