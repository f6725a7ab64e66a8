//! The HTTP/1.1 server: routing, Spin's request headers, one fresh instance
//! per request, a 500 response when the guest fails and a 503 response when
//! no instance slot is free.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use tokio::net::TcpListener;
use wasmtime_wasi_http::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::WasiHttpView;

use crate::engine::is_pool_exhausted;
use crate::log;
use crate::routes::{RouteMatch, Router};
use crate::runtime::ComponentRuntime;

/// Text that replaces a secret variable's value in the host's log lines.
const REDACTED: &str = "[REDACTED]";

/// The routes and the component that serves each of them.
pub struct App {
    router: Router,
    /// Indexed like the router's routes.
    handlers: Vec<Arc<ComponentRuntime>>,
    /// Non-empty values of the variables declared `secret = true`.
    secret_values: Vec<String>,
}

impl App {
    /// Creates an app in which `handlers[i]` serves the router's route `i`.
    /// `secret_values` are redacted from the request paths the host logs.
    pub fn new(
        router: Router,
        handlers: Vec<Arc<ComponentRuntime>>,
        secret_values: Vec<String>,
    ) -> Self {
        let secret_values = secret_values.into_iter().filter(|v| !v.is_empty()).collect();
        Self {
            router,
            handlers,
            secret_values,
        }
    }

    /// Returns `path` with every secret value replaced by `[REDACTED]`, so a
    /// caller that puts a token into the path does not put it into the log.
    fn loggable_path(&self, path: &str) -> String {
        let mut text = path.to_string();
        for secret in &self.secret_values {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }
}

/// Accepts connections on `listener` and serves each on its own task until
/// the process stops.
pub async fn serve(listener: TcpListener, app: Arc<App>) -> Result<()> {
    loop {
        let (stream, client_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Errors such as EMFILE are temporary, so keep accepting.
                log::event("accept_failed", &[("error", &error.to_string())]);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(app, request, client_addr).await) }
            });
            if let Err(error) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log::event(
                    "connection_error",
                    &[
                        ("client", &client_addr.to_string()),
                        ("error", &error.to_string()),
                    ],
                );
            }
        });
    }
}

async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    client_addr: SocketAddr,
) -> Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = request.method().to_string();
    let raw_path = request.uri().path().to_string();
    let path = app.loggable_path(&raw_path);

    let Some(route_match) = app.router.route(&raw_path) else {
        log_request(&method, &path, "", StatusCode::NOT_FOUND, started);
        return text_response(StatusCode::NOT_FOUND, "Not Found");
    };
    let handler = app.handlers[route_match.trigger_index].clone();

    let response = match run_guest(&handler, request, &route_match, client_addr).await {
        Ok(response) => response,
        Err(error) if is_pool_exhausted(&error) => {
            log::event(
                "instance_limit_reached",
                &[
                    ("component", handler.id()),
                    ("method", &method),
                    ("path", &path),
                    ("error", &format!("{error:#}")),
                ],
            );
            busy_response()
        }
        Err(error) => {
            log::event(
                "guest_error",
                &[
                    ("component", handler.id()),
                    ("method", &method),
                    ("path", &path),
                    ("error", &format!("{error:#}")),
                ],
            );
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    };
    log_request(&method, &path, handler.id(), response.status(), started);
    response
}

/// Runs the guest's `incoming-handler.handle` for one request.
async fn run_guest(
    handler: &Arc<ComponentRuntime>,
    mut request: Request<Incoming>,
    route_match: &RouteMatch,
    client_addr: SocketAddr,
) -> Result<Response<HyperOutgoingBody>> {
    prepare_request(&mut request, route_match, client_addr)?;

    let mut store = handler.new_store();
    let incoming = store
        .data_mut()
        .new_incoming_request(Scheme::Http, request)?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let outparam = store.data_mut().new_response_outparam(sender)?;
    let pre = handler.pre().clone();
    let component = handler.id().to_string();

    // The guest runs on its own task so that it can keep streaming the
    // response body after the response head has been returned.
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });

    match receiver.await {
        Ok(Ok(response)) => {
            // Report a failure that happens after the response head was sent.
            tokio::spawn(async move {
                let error = match task.await {
                    Ok(Ok(())) => return,
                    Ok(Err(error)) => format!("{error:#}"),
                    Err(join_error) => join_error.to_string(),
                };
                log::event(
                    "guest_error_after_response",
                    &[("component", &component), ("error", &error)],
                );
            });
            Ok(response)
        }
        Ok(Err(code)) => Err(anyhow!("guest set an error response: {code:?}")),
        Err(_) => {
            // The guest dropped the response outparam: report why.
            match task.await {
                Ok(Ok(())) => Err(anyhow!("guest returned without setting a response")),
                Ok(Err(error)) => Err(error.context("guest invocation failed")),
                Err(join_error) => Err(anyhow!("guest task failed: {join_error}")),
            }
        }
    }
}

/// Sets the absolute URL passed to the guest and adds Spin's `spin-*` headers.
fn prepare_request(
    request: &mut Request<Incoming>,
    route_match: &RouteMatch,
    client_addr: SocketAddr,
) -> Result<()> {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|value| value.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("http://{host}{path_and_query}");
    let client = client_addr.to_string();
    *request.uri_mut() = full_url
        .parse::<Uri>()
        .map_err(|error| anyhow!("invalid request URL: {error}"))?;

    let spin_headers = [
        ("spin-full-url", full_url.as_str()),
        ("spin-path-info", route_match.path_info.as_str()),
        ("spin-matched-route", route_match.matched_route.as_str()),
        ("spin-base-path", "/"),
        (
            "spin-raw-component-route",
            route_match.matched_route.as_str(),
        ),
        ("spin-component-route", route_match.component_route.as_str()),
        ("spin-client-addr", client.as_str()),
    ];
    let headers = request.headers_mut();
    for (name, value) in spin_headers {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_str(value)?);
    }
    Ok(())
}

fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never: Infallible| -> ErrorCode { match never {} })
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// Returns `503` with `Retry-After: 1`, for a request that found every
/// instance slot in use.
fn busy_response() -> Response<HyperOutgoingBody> {
    let mut response = text_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable: too many concurrent requests, retry later",
    );
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn log_request(method: &str, path: &str, component: &str, status: StatusCode, started: Instant) {
    log::event(
        "http_request",
        &[
            ("method", method),
            ("path", path),
            ("component", component),
            ("status", status.as_str()),
            ("duration_ms", &started.elapsed().as_millis().to_string()),
        ],
    );
}
