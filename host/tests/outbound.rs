//! The outbound sender, called directly: the host check, the timeouts and
//! connection reuse.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use sae_trigger_host::allowed_hosts::OutboundPolicy;
use sae_trigger_host::outbound::{send_allowed, send_request};
use support::{start_counted_upstream, start_upstream, Upstream};
use wasmtime_wasi_http::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::types::{
    default_send_request_handler, HostFutureIncomingResponse, IncomingResponse,
    OutgoingRequestConfig,
};

fn request(url: &str) -> hyper::Request<HyperOutgoingBody> {
    let body = Empty::<Bytes>::new()
        .map_err(|never| -> ErrorCode { match never {} })
        .boxed_unsync();
    hyper::Request::builder().uri(url).body(body).unwrap()
}

fn config(use_tls: bool, timeout: Duration) -> OutgoingRequestConfig {
    OutgoingRequestConfig {
        use_tls,
        connect_timeout: timeout,
        first_byte_timeout: timeout,
        between_bytes_timeout: timeout,
    }
}

async fn wait(response: HostFutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    match response {
        HostFutureIncomingResponse::Pending(handle) => handle.await.unwrap(),
        HostFutureIncomingResponse::Ready(result) => result.unwrap(),
        HostFutureIncomingResponse::Consumed => panic!("response already consumed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_denied_without_entry() {
    let policy = OutboundPolicy::parse(&["https://allowed.example.com"]).unwrap();
    let sent = send_request(
        &policy,
        "test",
        request("http://127.0.0.1:9/x?q=1"),
        config(false, Duration::from_secs(1)),
    );
    let Err(error) = sent else {
        panic!("request should be denied");
    };
    assert!(matches!(
        error.downcast_ref(),
        Some(ErrorCode::HttpRequestDenied)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_allowed_reaches_server() {
    let port = start_upstream(Upstream::Hello);
    let policy = OutboundPolicy::parse(&[format!("http://127.0.0.1:{port}")]).unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let future = send_request(
        &policy,
        "test",
        request(&url),
        config(false, Duration::from_secs(5)),
    )
    .unwrap();
    let response = wait(future).await.unwrap();
    assert_eq!(response.resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_first_byte_timeout_honoured() {
    let port = start_upstream(Upstream::Silent);
    let started = Instant::now();
    let result = wait(send_allowed(
        request(&format!("http://127.0.0.1:{port}/")),
        config(false, Duration::from_millis(300)),
    ))
    .await;
    assert!(
        matches!(result, Err(ErrorCode::ConnectionReadTimeout)),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_tls_stall_bounded() {
    let port = start_upstream(Upstream::Silent);
    let started = Instant::now();
    let result = wait(send_allowed(
        request(&format!("https://127.0.0.1:{port}/")),
        config(true, Duration::from_millis(300)),
    ))
    .await;
    assert!(
        matches!(result, Err(ErrorCode::ConnectionTimeout)),
        "{:?}",
        result.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_sender_tls_stall_unbounded() {
    // Documents why `send_allowed` adds its own bound: wasmtime-wasi-http
    // 41's default sender does not time out a stalled TLS handshake.
    let port = start_upstream(Upstream::Silent);
    let pending = tokio::time::timeout(
        Duration::from_millis(1500),
        default_send_request_handler(
            request(&format!("https://127.0.0.1:{port}/")),
            config(true, Duration::from_millis(300)),
        ),
    )
    .await;
    assert!(
        pending.is_err(),
        "the default sender now bounds the TLS handshake; the wrapper may be unneeded"
    );
}

/// Sends GET `url` through `send_allowed` and reads the whole body.
async fn get_body(url: &str) -> Result<Bytes, ErrorCode> {
    let response = wait(send_allowed(
        request(url),
        config(false, Duration::from_secs(5)),
    ))
    .await?;
    assert_eq!(response.resp.status(), 200);
    let body = response.resp.into_body().collect().await?;
    Ok(body.to_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_reuses_idle_connection() {
    let (port, accepted) = start_counted_upstream(Upstream::Hello);
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..3 {
        assert_eq!(get_body(&url).await.unwrap(), "hello");
        // The connection returns to the pool once the body has been read,
        // on a task of its own.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_closed_connection_not_reused() {
    let (port, accepted) = start_counted_upstream(Upstream::HelloThenClose);
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..3 {
        assert_eq!(get_body(&url).await.unwrap(), "hello");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_concurrent_requests_all_answered() {
    let (port, accepted) = start_counted_upstream(Upstream::Hello);
    let url = format!("http://127.0.0.1:{port}/");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get_body(&url).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), "hello");
    }
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=20).contains(&connections), "{connections} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_unfinished_body_not_reused() {
    // The server sends 5 of 100 body bytes per connection and then stalls,
    // so a reused connection would never respond to the second request.
    let (port, accepted) = start_counted_upstream(Upstream::StallBody);
    let url = format!("http://127.0.0.1:{port}/");
    for _ in 0..2 {
        let response = wait(send_allowed(
            request(&url),
            config(false, Duration::from_secs(2)),
        ))
        .await
        .unwrap();
        assert_eq!(response.resp.status(), 200);
        drop(response);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}
