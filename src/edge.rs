//! The Spin edge: every spin-sdk and WASI call of the component.
//!
//! It turns the incoming wasi-http request into an [`Incoming`], runs
//! [`flow::handle`] with [`SpinPlatform`], and writes the [`Answer`]. All
//! waits are bounded: the outbound call by the SAE timeout (request options
//! plus a clock pollable, in case a host ignores the options), and the
//! request body by its size limit.

use std::time::{Duration, Instant, SystemTime};

use spin_sdk::http::{IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::answer::Answer;
use crate::config::Variables;
use crate::flow::{self, Platform, RawResponse, SendError};
use crate::intake::{parse_query, BodyUnread, Incoming, MAX_BODY_BYTES, MAX_QUERY_BYTES};
use crate::retry::REQUEST_BUDGET;
use crate::sae::SignedRequest;
use crate::store::{Store, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, store as kv};

/// Largest SAE response body read; SAE answers are a few KB.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Longest wait for a request body, so a client that stops sending cannot
/// hold an instance.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes per read from an input stream.
const READ_CHUNK: u64 = 16 * 1024;

/// Bytes per `blocking-write-and-flush`, whose WASI limit is 4096.
const WRITE_CHUNK: usize = 4096;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let platform = SpinPlatform {
        deadline: Instant::now() + REQUEST_BUDGET,
    };
    let incoming = read_incoming(request);
    let answer = flow::handle(&platform, &incoming);
    write_answer(response_out, &answer);
}

/// The platform under Spin.
struct SpinPlatform {
    /// When the SAE calls of this request must be done.
    deadline: Instant,
}

impl Variables for SpinPlatform {
    fn get(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}

impl Platform for SpinPlatform {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn nonce(&self) -> String {
        let bytes = wasi::random::random::get_random_bytes(16);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn send(&self, request: &SignedRequest, timeout: Duration) -> Result<RawResponse, SendError> {
        send(request, timeout)
    }

    fn log(&self, line: &str) {
        eprintln!("{line}");
    }

    fn store(&self) -> Result<Box<dyn Store + '_>, StoreError> {
        let bucket = kv::open("default").map_err(store_error)?;
        Ok(Box::new(SpinStore(bucket)))
    }

    fn sleep(&self, duration: Duration) {
        wasi::clocks::monotonic_clock::subscribe_duration(nanos(duration)).block();
    }

    fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// The `default` key-value store through `wasi:keyvalue`, whose `atomics`
/// interface gives the atomic increment that claims rely on.
struct SpinStore(kv::Bucket);

impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).map_err(store_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.0.set(key, value).map_err(store_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(key).map_err(store_error)
    }

    fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.0.exists(key).map_err(store_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.0, key, delta).map_err(store_error)
    }
}

fn store_error(error: kv::Error) -> StoreError {
    StoreError(match error {
        kv::Error::NoSuchStore => "no such store; add `key_value_stores = [\"default\"]` to the component".into(),
        kv::Error::AccessDenied => "access denied to the `default` store".into(),
        kv::Error::Other(message) => message,
    })
}

/// Reads method, path, query, headers and at most [`MAX_BODY_BYTES`] of body.
fn read_incoming(request: IncomingRequest) -> Incoming {
    let method = method_name(&request.method());
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, raw_query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query.as_str(), ""));
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), String::from_utf8_lossy(&value).into_owned()))
        .collect();

    // A query over the limit is not parsed; the flow answers 414.
    let query_too_long = raw_query.len() > MAX_QUERY_BYTES;
    let query = if query_too_long { Vec::new() } else { parse_query(raw_query) };

    // Refuse a declared oversize body without reading it.
    let declared = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.trim().parse::<u64>().ok());
    let body = match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(BodyUnread::TooLarge),
        _ => read_body(request.consume().ok()),
    };

    Incoming {
        method,
        path: path.to_owned(),
        query,
        query_too_long,
        headers,
        body,
    }
}

fn read_body(body: Option<IncomingBody>) -> Result<Vec<u8>, BodyUnread> {
    let Some(body) = body else {
        return Ok(Vec::new());
    };
    let Ok(stream) = body.stream() else {
        return Ok(Vec::new());
    };
    let bytes = read_capped(&stream, MAX_BODY_BYTES, Some(Instant::now() + BODY_READ_TIMEOUT));
    drop(stream);
    drop(body);
    match bytes {
        Ok(bytes) => Ok(bytes),
        Err(ReadError::TooLarge) => Err(BodyUnread::TooLarge),
        Err(ReadError::TimedOut | ReadError::Failed) => Err(BodyUnread::Broken),
    }
}

/// Why reading a stream stopped early.
enum ReadError {
    TooLarge,
    TimedOut,
    Failed,
}

/// Reads a stream to its end, stopping past `cap` bytes or at the deadline.
fn read_capped(stream: &InputStream, cap: usize, deadline: Option<Instant>) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    loop {
        if let Some(deadline) = deadline {
            if !wait_until(&stream.subscribe(), deadline) {
                return Err(ReadError::TimedOut);
            }
        }
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > cap {
                    return Err(ReadError::TooLarge);
                }
            }
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(_)) => return Err(ReadError::Failed),
        }
    }
}

/// Waits for a pollable until the deadline. Returns false on timeout.
fn wait_until(pollable: &wasi::io::poll::Pollable, deadline: Instant) -> bool {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let timer = wasi::clocks::monotonic_clock::subscribe_duration(nanos(remaining));
    let ready = wasi::io::poll::poll(&[pollable, &timer]);
    ready.contains(&0)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Sends a signed SAE request and reads the response, all within `timeout`.
fn send(request: &SignedRequest, timeout: Duration) -> Result<RawResponse, SendError> {
    let deadline = Instant::now() + timeout;
    let outgoing = build_outgoing(request)?;
    let body = outgoing.body().map_err(|_| failed("request body unavailable"))?;

    // Ask the host to bound each phase too; the clock below is the backstop.
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos(timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(timeout)));
    let future = outgoing_handler::handle(outgoing, Some(options)).map_err(map_error)?;

    // Write the form body, if any, then close it.
    if let Some(bytes) = &request.body {
        let stream = body.write().map_err(|_| failed("request body unavailable"))?;
        write_all(&stream, bytes).map_err(|_| failed("writing the request body failed"))?;
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(map_error)?;

    // Wait for the response head.
    if !wait_until(&future.subscribe(), deadline) {
        return Err(SendError::TimedOut);
    }
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(error))) => return Err(map_error(error)),
        _ => return Err(interrupted("no response")),
    };

    // Read the body within the same deadline.
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = response.consume().map_err(|_| interrupted("response body unavailable"))?;
    let stream = body.stream().map_err(|_| interrupted("response body unavailable"))?;
    let bytes = read_capped(&stream, MAX_RESPONSE_BYTES, Some(deadline));
    drop(stream);
    drop(body);
    match bytes {
        Ok(body) => Ok(RawResponse { status, headers, body }),
        Err(ReadError::TimedOut) => Err(SendError::TimedOut),
        Err(ReadError::TooLarge) => Err(interrupted("response body is over 1 MiB")),
        Err(ReadError::Failed) => Err(interrupted("reading the response failed")),
    }
}

fn build_outgoing(request: &SignedRequest) -> Result<OutgoingRequest, SendError> {
    let (scheme, rest) = request
        .url
        .split_once("://")
        .ok_or_else(|| failed("request URL has no scheme"))?;
    let (authority, path_with_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    let fields = Fields::from_list(&headers).map_err(|_| failed("a request header was refused by the host"))?;

    let outgoing = OutgoingRequest::new(fields);
    let method = if request.method == "POST" { Method::Post } else { Method::Get };
    let scheme = if scheme == "http" { Scheme::Http } else { Scheme::Https };
    let set = [
        outgoing.set_method(&method),
        outgoing.set_scheme(Some(&scheme)),
        outgoing.set_authority(Some(authority)),
        outgoing.set_path_with_query(Some(path_with_query)),
    ];
    if set.iter().any(Result::is_err) {
        return Err(failed("the host refused the request URL"));
    }
    Ok(outgoing)
}

/// Maps a wasi-http error to a timeout or a failure with a short reason.
/// Errors raised before a connection carried the request are `Failed`;
/// the rest may have reached SAE and are `Interrupted`.
fn map_error(error: ErrorCode) -> SendError {
    match error {
        ErrorCode::ConnectionTimeout | ErrorCode::ConnectionReadTimeout | ErrorCode::HttpResponseTimeout => {
            SendError::TimedOut
        }
        ErrorCode::HttpRequestDenied => {
            failed("the host denied the request; add the endpoint to allowed_outbound_hosts")
        }
        ErrorCode::ConnectionRefused => failed("connection refused"),
        ErrorCode::DnsError(_) | ErrorCode::DnsTimeout => failed("DNS lookup failed"),
        ErrorCode::DestinationNotFound | ErrorCode::DestinationUnavailable | ErrorCode::DestinationIpUnroutable => {
            failed("the SAE endpoint is unreachable")
        }
        ErrorCode::TlsCertificateError | ErrorCode::TlsAlertReceived(_) | ErrorCode::TlsProtocolError => {
            failed("TLS handshake failed")
        }
        other => SendError::Interrupted(format!("HTTP error {other:?}")),
    }
}

fn failed(reason: &str) -> SendError {
    SendError::Failed(reason.to_owned())
}

fn interrupted(reason: &str) -> SendError {
    SendError::Interrupted(reason.to_owned())
}

fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk)?;
    }
    Ok(())
}

/// Writes the answer as JSON with its status and headers.
fn write_answer(response_out: ResponseOutparam, answer: &Answer) {
    let mut headers: Vec<(String, Vec<u8>)> = vec![("content-type".into(), b"application/json".to_vec())];
    headers.extend(answer.headers.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
    let Ok(fields) = Fields::from_list(&headers) else {
        eprintln!("event=answer_failed reason=headers_refused");
        return;
    };
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(answer.status);
    let Ok(body) = response.body() else {
        eprintln!("event=answer_failed reason=body_unavailable");
        return;
    };
    response_out.set(response);

    let mut bytes = answer.body.to_string().into_bytes();
    bytes.push(b'\n');
    if let Ok(stream) = body.write() {
        if write_all(&stream, &bytes).is_err() {
            eprintln!("event=answer_failed reason=write_failed");
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.to_ascii_uppercase(),
    }
}
