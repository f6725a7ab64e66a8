//! Property test of the ROA signer against Alibaba Cloud's official SDK.
//!
//! Random `DeployApplication` calls are built and signed with
//! `internals::signed_deploy`, then sent over HTTP/1.1 to the Python SAE
//! stand-in (`tests/sae_standin/standin.py`). The stand-in recomputes the
//! string to sign and the signature with `alibabacloud-tea-openapi`'s own
//! functions, so every case must get HTTP 200. After each call the test also
//! reads the change order the stand-in created and checks that the decoded
//! parameters equal the generated ones.
//!
//! Two stand-ins run for the whole test: one for a plain AccessKey and one
//! for an STS AccessKey with its security token. The stand-ins need the
//! Python packages that `scripts/test` installs into `.venv`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use sae_deploy_trigger::internals::{signed_deploy, string_to_sign};
use serde_json::Value;

/// Number of generated calls, each signed and sent once (shrinking adds more).
const CASES: u32 = 256;

/// Seed of the case generator, fixed so that every run sends the same calls.
const SEED: [u8; 32] = *b"sae-deploy-trigger signer seed 1";

/// Path of `DeployApplication`, which the stand-in serves.
const DEPLOY_PATH: &str = "/pop/v1/sam/app/deployApplication";

/// How long a stand-in may take to start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Read and write timeout of one HTTP exchange with a stand-in.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

const PLAIN_KEY_ID: &str = "LTAI5tPropertyTestPlain";
const PLAIN_KEY_SECRET: &str = "pr0perty-Secret/Plain+Key=";
const STS_KEY_ID: &str = "STS.NTpropertyTestTemporaryKey";
const STS_KEY_SECRET: &str = "Sts9Secret8For7The6Property5Test4";
/// A made-up token in the Base64 form of STS tokens, with `+`, `/` and `=`.
const STS_TOKEN: &str = "CAIS+gF1q6Ft5B2yfSjIr5bSD9/Hm7pE1YWqTVfT0mUDO+5tpq7Zlzz2IHlOenJoB+kcs/U1mm5S7/0Tlrp3\
    SpZIRkzDa5NcteBUfUv1kzCJr5mxM1fhK2jaIAu3ALz1dj/xW2YBt8jpqyv4sZkcYOA3iN6Ebfwvmy0JoL3/GNmO8uMRZF/\
    rU1Q4N0NGOgvaUiupHJtAe8FbeH0JfPMGQx7tTt56r3LBWXygLYicCz8ITUWbFBp3B/x0M3uDqDAtXxiUn3RW0k1Rh7OZMyk\
    xIHBozwMAGhxqAAQ==";

/// One generated `DeployApplication` call.
#[derive(Debug, Clone)]
struct DeployCase {
    app_id: String,
    image_url: String,
    change_order_desc: String,
    acr_instance_id: Option<String>,
    sts: bool,
    nonce: String,
}

/// SAE application ids the stand-in accepts: `[A-Za-z0-9-]{1,64}`, often a UUID.
fn app_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[A-Za-z0-9-]{1,64}",
    ]
}

/// Image URLs: real shapes, reserved characters, CJK and emoji, up to 2000
/// characters. The stand-in rejects an empty `ImageUrl` or one with
/// whitespace, so none is generated.
fn image_url() -> impl Strategy<Value = String> {
    let tagged = (
        "(registry|registry-vpc)\\.cn-[a-z]{3,9}\\.aliyuncs\\.com",
        "[a-z0-9]{1,10}([._-][a-z0-9]{1,10}){0,2}",
        "[a-z0-9]{1,10}([._-][a-z0-9]{1,10}){0,2}",
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
    )
        .prop_map(|(host, namespace, name, tag)| format!("{host}/{namespace}/{name}:{tag}"));
    let digested = (
        "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){1,3}(:[0-9]{2,5})?",
        "[0-9a-f]{64}",
    )
        .prop_map(|(host, hex)| format!("{host}/ns/app@sha256:{hex}"));
    prop_oneof![
        tagged,
        digested,
        "[a-z0-9./:@_+&=~*%?#!$'(),;\\[\\]-]{1,300}",
        "[a-z0-9/:镜像仓库部署🚀🐳é+&=~*%?#-]{1,2000}",
    ]
}

/// Change order descriptions: empty, any characters (controls included),
/// reserved characters with CJK, emoji and spaces, and long text up to 2000
/// characters.
fn change_order_desc() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        proptest::collection::vec(any::<char>(), 0..200).prop_map(String::from_iter),
        "[ a-zA-Z0-9镜像推送部署变更单测试🚀🐳✅👍🏽+&=~*%/:?#]{0,2000}",
        "\\PC{0,300}",
        " {1,3}[a-z +]{0,20} {1,3}",
        "[a-z]{2000}",
    ]
}

/// `AcrInstanceId`, sent in the form body with `Content-MD5`, or absent.
fn acr_instance_id() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just(String::new()),
        "cri-[a-z0-9]{1,30}",
        "[ a-z0-9镜🚀+&=~*%/:?#]{0,64}",
    ])
}

/// Signature nonces: visible ASCII, as a header value allows.
fn nonce() -> impl Strategy<Value = String> {
    "[!-~]{1,64}"
}

fn deploy_case() -> impl Strategy<Value = DeployCase> {
    (
        app_id(),
        image_url(),
        change_order_desc(),
        acr_instance_id(),
        any::<bool>(),
        nonce(),
    )
        .prop_map(
            |(app_id, image_url, change_order_desc, acr_instance_id, sts, nonce)| DeployCase {
                app_id,
                image_url,
                change_order_desc,
                acr_instance_id,
                sts,
                nonce,
            },
        )
}

#[test]
fn signed_deploys_verify_with_official_sdk() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing. Run `scripts/test` once: it creates .venv and installs the SAE stand-in's \
         Python packages (tests/requirements.txt).",
        python.display()
    );

    let secrets = SecretDir::create();
    let plain = StandIn::start(
        &python,
        root,
        PLAIN_KEY_ID,
        &secrets.write("plain-secret", PLAIN_KEY_SECRET),
        None,
    );
    let sts = StandIn::start(
        &python,
        root,
        STS_KEY_ID,
        &secrets.write("sts-secret", STS_KEY_SECRET),
        Some(&secrets.write("sts-token", STS_TOKEN)),
    );

    let config = Config {
        cases: CASES,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let sent = AtomicUsize::new(0);
    let started = Instant::now();
    let result = runner.run(&deploy_case(), |case| {
        sent.fetch_add(1, Ordering::Relaxed);
        let standin = if case.sts { &sts } else { &plain };
        check_case(standin, &case)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let sent = sent.into_inner();
    eprintln!(
        "sent {sent} signed DeployApplication calls in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(sent >= CASES as usize, "only {sent} of {CASES} cases ran");
}

/// Signs one case, sends it, and checks the response and the change order.
fn check_case(standin: &StandIn, case: &DeployCase) -> Result<(), TestCaseError> {
    // Reset clears the stand-in's nonces and change orders, so a nonce that
    // shrinking reuses is not rejected as a replay.
    let reset = standin.control("POST", "reset", Some(b"{}"));
    prop_assert_eq!(reset.status, 200, "reset failed: {}", reset.body_text());

    let (key_id, key_secret, token) = if case.sts {
        (STS_KEY_ID, STS_KEY_SECRET, Some(STS_TOKEN))
    } else {
        (PLAIN_KEY_ID, PLAIN_KEY_SECRET, None)
    };
    let (url, headers, body) = signed_deploy(
        &standin.base_url,
        [&case.app_id, &case.image_url, &case.change_order_desc],
        case.acr_instance_id.as_deref(),
        [key_id, key_secret],
        token,
        SystemTime::now(),
        &case.nonce,
    )
    .map_err(|error| TestCaseError::fail(format!("signed_deploy failed: {error}")))?;

    let target = url.strip_prefix(&standin.base_url).ok_or_else(|| {
        TestCaseError::fail(format!("URL {url:?} is not under {}", standin.base_url))
    })?;
    let response = standin.send("POST", target, &headers, body.as_deref());
    if response.status != 200 {
        let query = vec![
            ("AppId".to_string(), case.app_id.clone()),
            ("ImageUrl".to_string(), case.image_url.clone()),
            (
                "ChangeOrderDesc".to_string(),
                case.change_order_desc.clone(),
            ),
        ];
        let client_string_to_sign = string_to_sign("POST", DEPLOY_PATH, &query, &headers);
        return Err(TestCaseError::fail(format!(
            "stand-in returned HTTP {} for {case:#?}\nresponse body: {}\nclient string to sign: {client_string_to_sign:?}",
            response.status,
            response.body_text(),
        )));
    }

    // The stand-in decoded the same values that were generated.
    let orders = standin.control("GET", "change-orders", None);
    prop_assert_eq!(
        orders.status,
        200,
        "change-orders failed: {}",
        orders.body_text()
    );
    let document: Value = serde_json::from_slice(&orders.body)
        .map_err(|error| TestCaseError::fail(format!("change-orders is not JSON: {error}")))?;
    let orders = document["change_orders"]
        .as_array()
        .ok_or_else(|| TestCaseError::fail(format!("change-orders has no list: {document}")))?;
    prop_assert_eq!(
        orders.len(),
        1,
        "change orders after one deploy: {}",
        document
    );
    let order = &orders[0];
    prop_assert_eq!(order["AppId"].as_str(), Some(case.app_id.as_str()));
    prop_assert_eq!(order["ImageUrl"].as_str(), Some(case.image_url.as_str()));
    prop_assert_eq!(
        order["Description"].as_str(),
        Some(case.change_order_desc.as_str())
    );
    prop_assert_eq!(
        order["AcrInstanceId"].as_str(),
        case.acr_instance_id.as_deref()
    );
    Ok(())
}

/// One HTTP response: status code and body.
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Response {
    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A stand-in subprocess, killed on drop.
struct StandIn {
    child: Child,
    /// `http://127.0.0.1:<port>`
    base_url: String,
    /// `127.0.0.1:<port>`
    address: String,
}

impl StandIn {
    fn start(
        python: &Path,
        root: &Path,
        key_id: &str,
        secret_file: &Path,
        token_file: Option<&Path>,
    ) -> StandIn {
        let mut command = Command::new(python);
        command
            .arg(root.join("tests/sae_standin/standin.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--access-key-id",
                key_id,
            ])
            .arg("--access-key-secret-file")
            .arg(secret_file)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(token_file) = token_file {
            command.arg("--security-token-file").arg(token_file);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start {}: {error}", python.display()));
        let stderr = child.stderr.take().expect("stderr is piped");

        // The stand-in logs one line per request, so its stderr is read until
        // it exits; otherwise a full pipe would block it.
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || forward_lines(stderr, lines));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut output = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("event=listening url=") {
                        break url.trim().to_string();
                    }
                    output.push(line);
                }
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the SAE stand-in did not report `event=listening` ({error}); its stderr:\n{}",
                        output.join("\n")
                    );
                }
            }
        };
        let address = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("stand-in URL {url:?} is not http://"))
            .to_string();
        assert!(
            address.starts_with("127.0.0.1:"),
            "stand-in listens on {address}, not on loopback"
        );
        StandIn {
            child,
            base_url: url,
            address,
        }
    }

    /// Calls the stand-in's control API at `/__standin/<name>`.
    fn control(&self, method: &str, name: &str, body: Option<&[u8]>) -> Response {
        let headers = [("content-type".to_string(), "application/json".to_string())];
        self.send(method, &format!("/__standin/{name}"), &headers, body)
    }

    /// Sends one HTTP/1.1 request with `Content-Length` framing on a new
    /// connection and reads the response until the server closes it.
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Response {
        let body = body.unwrap_or_default();
        let mut request =
            format!("{method} {target} HTTP/1.1\r\nhost: {}\r\n", self.address).into_bytes();
        for (name, value) in headers {
            request.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        request.extend_from_slice(
            format!(
                "content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);

        let mut stream = TcpStream::connect(&self.address).unwrap_or_else(|error| {
            panic!(
                "failed to connect to the stand-in at {}: {error}",
                self.address
            )
        });
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(IO_TIMEOUT))
            .expect("set write timeout");
        stream
            .write_all(&request)
            .unwrap_or_else(|error| panic!("failed to send {method} {target}: {error}"));
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap_or_else(|error| {
            panic!("failed to read the response to {method} {target}: {error}")
        });
        parse_response(&raw)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends each stderr line of a stand-in to `lines` until the stream ends.
/// Once the receiver is dropped, lines are still read and then discarded.
fn forward_lines(stderr: ChildStderr, lines: mpsc::Sender<String>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        let _ = lines.send(line);
    }
}

/// Parses a whole `Connection: close` response: the status line's code and
/// everything after the blank line that ends the headers.
fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let header_end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("response has no end of headers: {text:?}"));
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("response has no status code: {text:?}"));
    Response {
        status,
        body: raw[header_end + 4..].to_vec(),
    }
}

/// A temporary directory for the secret files the stand-ins read, removed on drop.
struct SecretDir(PathBuf);

impl SecretDir {
    fn create() -> SecretDir {
        let path = std::env::temp_dir().join(format!("sae-signer-property-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("failed to create {}: {error}", path.display()));
        SecretDir(path)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
        path
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
