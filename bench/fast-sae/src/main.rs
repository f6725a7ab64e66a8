//! A loopback SAE OpenAPI stand-in for load benchmarks.
//!
//! It responds to `DeployApplication` (and `DescribeApplicationConfig`) with
//! SAE's success envelope and checks no signature, so a benchmark measures
//! the client and not the stand-in. The signature-checking stand-in for
//! tests is `tests/sae_standin/`.
//!
//! ```text
//! fast-sae [--listen 127.0.0.1:0]
//! ```
//!
//! When ready it writes `event=listening url=http://127.0.0.1:<port>` to
//! stderr. `GET /__fast/stats` returns the request counts as JSON, and on
//! SIGINT or SIGTERM it writes them to stderr and exits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const DEPLOY_PATH: &str = "/pop/v1/sam/app/deployApplication";
const DESCRIBE_CONFIG_PATH: &str = "/pop/v1/sam/app/describeApplicationConfig";
const STATS_PATH: &str = "/__fast/stats";

/// Request counts since start.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    deploys: AtomicU64,
}

impl Counters {
    fn to_json(&self) -> String {
        format!(
            "{{\"requests\":{},\"deploys\":{}}}",
            self.requests.load(Ordering::Relaxed),
            self.deploys.load(Ordering::Relaxed)
        )
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let address = match parse_listen_address(std::env::args().skip(1).collect()) {
        Ok(address) => address,
        Err(message) => {
            eprintln!("fast-sae: {message}");
            eprintln!("usage: fast-sae [--listen 127.0.0.1:<port>]");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("event=bind_failed address={address} error=\"{error}\"");
            return ExitCode::FAILURE;
        }
    };
    let local = match listener.local_addr() {
        Ok(local) => local,
        Err(error) => {
            eprintln!("event=bind_failed address={address} error=\"{error}\"");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("event=listening url=http://{local}");

    let counters = Arc::new(Counters::default());
    tokio::select! {
        () = serve(listener, counters.clone()) => {}
        reason = shutdown_signal() => {
            eprintln!("event=stopped reason={reason} counts={}", counters.to_json());
        }
    }
    ExitCode::SUCCESS
}

/// Reads `--listen ADDRESS:PORT` and accepts only loopback addresses.
fn parse_listen_address(args: Vec<String>) -> Result<SocketAddr, String> {
    let mut address: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                let value = args.next().ok_or("--listen needs a value")?;
                address = value
                    .parse()
                    .map_err(|_| format!("--listen value {value:?} is not ADDRESS:PORT"))?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !address.ip().is_loopback() {
        return Err(format!("--listen address {address} is not a loopback address"));
    }
    Ok(address)
}

async fn serve(listener: TcpListener, counters: Arc<Counters>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("event=accept_failed error=\"{error}\"");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let counters = counters.clone();
                async move { Ok::<_, Infallible>(respond(request, &counters).await) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("event=connection_error error=\"{error}\"");
            }
        });
    }
}

/// Responds to one request. The body is read in full, as SAE's gateway
/// would, and then ignored.
async fn respond(request: Request<Incoming>, counters: &Counters) -> Response<Full<Bytes>> {
    let number = counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let _ = request.into_body().collect().await;

    let request_id = format!("FA57BE1C-0000-4000-8000-{number:012X}");
    match (method, path.as_str()) {
        (Method::POST, DEPLOY_PATH) => {
            counters.deploys.fetch_add(1, Ordering::Relaxed);
            let body = format!(
                "{{\"RequestId\":\"{request_id}\",\"Code\":\"200\",\"Message\":\"success\",\"Success\":true,\
                 \"TraceId\":\"0bc3b6e215637275918588187d{number:06x}\",\
                 \"Data\":{{\"ChangeOrderId\":\"01db03d3-3ee9-48b3-b3d0-{number:012x}\",\"AppId\":\"\",\"IsNeedApproval\":false}}}}"
            );
            json(StatusCode::OK, body)
        }
        (Method::GET, DESCRIBE_CONFIG_PATH) => {
            let body = format!(
                "{{\"RequestId\":\"{request_id}\",\"Code\":\"200\",\"Message\":\"success\",\"Success\":true,\
                 \"Data\":{{\"ImageUrl\":\"\"}}}}"
            );
            json(StatusCode::OK, body)
        }
        (Method::GET, STATS_PATH) => json(StatusCode::OK, counters.to_json()),
        _ => {
            let body = format!(
                "{{\"RequestId\":\"{request_id}\",\"Code\":\"InvalidApi.NotFound\",\
                 \"Message\":\"fast-sae serves only DeployApplication and DescribeApplicationConfig\"}}"
            );
            json(StatusCode::NOT_FOUND, body)
        }
    }
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json;charset=utf-8"));
    response
}

/// Waits for SIGINT or SIGTERM and returns which one arrived.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupt";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupt",
        _ = terminate.recv() => "terminate",
    }
}
