//! Helpers for the end-to-end tests: the fixture component, a running host
//! process, a minimal HTTP client and local upstream servers.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a test waits for the host to print `event=listening`. The first
/// start compiles the component, which takes a few seconds on 2 cores.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Builds the fixture component once per test process and returns its path.
pub fn fixture_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let host_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let guest_dir = host_dir.join("tests/fixtures/guest");
        let target_dir = host_dir.join("../target/fixture-guest");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
            .current_dir(&guest_dir)
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .expect("failed to run cargo to build the fixture component");
        assert!(
            status.success(),
            "building {} failed; is the wasm32-wasip2 target installed (`rustup target add wasm32-wasip2`)?",
            guest_dir.display()
        );
        target_dir.join("wasm32-wasip2/release/host_fixture_guest.wasm")
    })
    .clone()
}

/// A running `sae-trigger-host` process, stopped on drop.
pub struct HostProcess {
    child: Child,
    /// The address from the `event=listening` line.
    pub address: SocketAddr,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    /// The temporary directory with the manifest and state, deleted on drop.
    pub dir: tempfile::TempDir,
}

/// Writes `manifest` to a new temporary directory and starts the host on it
/// with `args` and `env`, waiting until it listens.
pub fn start_host(manifest: &str, args: &[&str], env: &[(&str, &str)]) -> HostProcess {
    match try_start_host(manifest, args, env) {
        Ok(host) => host,
        Err((message, lines)) => panic!("{message}; host stderr:\n{}", lines.join("\n")),
    }
}

/// Like [`start_host`], but returns the stderr lines when the host exits
/// before it listens.
pub fn try_start_host(
    manifest: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<HostProcess, (String, Vec<String>)> {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(&manifest_path, manifest).unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_sae-trigger-host"));
    command
        .arg("--from")
        .arg(&manifest_path)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("failed to start sae-trigger-host");

    let stderr_lines = Arc::new(Mutex::new(Vec::new()));
    let (address_sender, address_receiver) = mpsc::channel();
    let lines = stderr_lines.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("event=listening address=") {
                let address = rest.split_whitespace().next().unwrap_or("").to_string();
                let _ = address_sender.send(address);
            }
            lines.lock().unwrap().push(line);
        }
    });

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Ok(address) = address_receiver.recv_timeout(Duration::from_millis(100)) {
            let address = address.parse().expect("listening address");
            return Ok(HostProcess {
                child,
                address,
                stderr_lines,
                dir,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Give the reader thread a moment to collect the last lines.
            std::thread::sleep(Duration::from_millis(200));
            let lines = stderr_lines.lock().unwrap().clone();
            return Err((format!("host exited with {status} before listening"), lines));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let lines = stderr_lines.lock().unwrap().clone();
            return Err(("host did not listen in time".to_string(), lines));
        }
    }
}

impl HostProcess {
    /// Returns the host's stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr_lines.lock().unwrap().clone()
    }

    /// Waits up to 5 s for a stderr line containing `needle` and returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.stderr().into_iter().find(|line| line.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no stderr line contains {needle:?}:\n{}",
                self.stderr().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Returns the host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the host to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "host did not exit in time");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `GET path` and returns the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.address, path)
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one HTTP/1.1 GET with `Connection: close` and reads the response.
pub fn http_get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        decode_chunked(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn decode_chunked(mut body: &str) -> String {
    let mut decoded = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        decoded.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    decoded
}

/// What a local upstream server does with each connection.
#[derive(Clone, Copy)]
pub enum Upstream {
    /// Replies `200 OK` with the body `hello` to each request on the
    /// connection, keeping it open until the client closes it.
    Hello,
    /// Replies `200 OK` with the body `hello` to one request, then closes the
    /// connection without a `Connection: close` header.
    HelloThenClose,
    /// Reads the request and never responds.
    Silent,
    /// Sends the response head and 5 of 100 body bytes, then stalls.
    StallBody,
}

/// Starts a server on 127.0.0.1 that serves connections until the test
/// process exits, and returns its port.
pub fn start_upstream(behaviour: Upstream) -> u16 {
    start_counted_upstream(behaviour).0
}

/// Like [`start_upstream`], and also returns the number of connections the
/// server has accepted so far.
pub fn start_counted_upstream(behaviour: Upstream) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || serve_connection(&mut stream, behaviour));
        }
    });
    (port, accepted)
}

fn serve_connection(stream: &mut TcpStream, behaviour: Upstream) {
    match behaviour {
        Upstream::Hello => while answer_hello(stream) {},
        Upstream::HelloThenClose => {
            answer_hello(stream);
        }
        Upstream::Silent => {
            let _ = stream.read(&mut [0u8; 4096]);
            // Hold the connection open so that a stall stays a stall.
            std::thread::sleep(Duration::from_secs(30));
        }
        Upstream::StallBody => {
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhello");
            std::thread::sleep(Duration::from_secs(30));
        }
    }
}

/// Reads one request head (the tests send no request bodies) and replies
/// `hello`. Returns false when the client closed the connection instead.
fn answer_hello(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return false,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        .is_ok()
}
