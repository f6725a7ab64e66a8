//! Answers: every outcome as an HTTP status and a JSON body with `code` and
//! `message`, and the last-line defence that scrubs secrets from them.

use serde_json::{json, Value};

use crate::config::ConfigError;
use crate::intake::{MAX_BODY_BYTES, MAX_QUERY_BYTES};
use crate::sae_response::SaeError;
use crate::webhook::BodyError;

/// Shortest secret that [`scrub`] replaces; shorter strings would match
/// ordinary text. Tokens and AccessKeys are longer than this.
const MIN_SCRUB_LEN: usize = 8;

/// What replaces a secret that reached an answer or a log line.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTTP status code.
    pub(crate) status: u16,
    /// Extra headers besides `content-type: application/json`.
    pub(crate) headers: Vec<(String, String)>,
    /// JSON body.
    pub(crate) body: Value,
}

impl Answer {
    /// Builds a JSON answer without extra headers.
    pub(crate) fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// Why a request ends without the outcome the caller asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    /// No token, a wrong token, or tokens that disagree.
    #[error("missing or invalid token; send it as `?token=…` or `Authorization: Bearer …`")]
    Unauthorized,
    /// The endpoint does not take this method.
    #[error("method {method} is not allowed here; use {allow}")]
    MethodNotAllowed {
        /// The method the caller used.
        method: String,
        /// The methods the endpoint takes.
        allow: &'static str,
    },
    /// No endpoint at this path.
    #[error("no endpoint at this path; the trigger is `POST /`")]
    NotFound,
    /// The body is over the size limit.
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    /// The body stream broke before its end.
    #[error("request body could not be read: it did not arrive within 10 s, its chunked framing is broken, or the connection closed early")]
    BodyUnreadable,
    /// The query string is over the size limit.
    #[error("query string is longer than {MAX_QUERY_BYTES} bytes")]
    UriTooLong,
    /// The webhook body is invalid.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A parameter is absent.
    #[error("parameter `{param}` is missing; {hint}")]
    MissingParameter {
        /// Parameter name.
        param: &'static str,
        /// Where to give it.
        hint: &'static str,
    },
    /// A parameter of the query or the path is invalid.
    #[error("parameter `{param}` {reason}")]
    InvalidParameter {
        /// Parameter name.
        param: &'static str,
        /// What is wrong, phrased to follow the name.
        reason: String,
    },
    /// A Spin variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The key-value store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// SAE answered with an error.
    #[error("SAE {action} failed: {} {}", .error.code, .error.message)]
    Sae {
        /// The SAE action that failed.
        action: &'static str,
        /// SAE's error.
        error: SaeError,
    },
    /// SAE stayed busy or throttled through every retry.
    #[error("SAE {action} is busy: {}; retry after {retry_after_secs} s", .error.code)]
    SaeBusy {
        /// The SAE action.
        action: &'static str,
        /// SAE's last error.
        error: SaeError,
        /// Seconds the caller should wait, sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// The request's time budget ran out before this call was sent.
    #[error("SAE {action} was not sent: the request's {budget_secs} s budget for SAE calls ran out; deliver the push again")]
    NotAttempted {
        /// The SAE action.
        action: &'static str,
        /// The budget.
        budget_secs: u64,
    },
    /// SAE did not answer in time.
    #[error("SAE {action} did not answer within {seconds} s")]
    SaeTimeout {
        /// The SAE action that timed out.
        action: &'static str,
        /// The time limit.
        seconds: u64,
    },
    /// The SAE endpoint could not be reached or the host refused the call.
    #[error("SAE {action} could not be sent: {reason}")]
    SaeUnreachable {
        /// The SAE action.
        action: &'static str,
        /// Transport error, without URL or query.
        reason: String,
        /// The request may have reached SAE before the exchange broke.
        maybe_sent: bool,
    },
}

impl Rejection {
    /// Returns the HTTP status and the stable `code` of the JSON body.
    pub(crate) fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            Rejection::Unauthorized => (401, "unauthorized"),
            Rejection::MethodNotAllowed { .. } => (405, "method_not_allowed"),
            Rejection::NotFound => (404, "not_found"),
            Rejection::PayloadTooLarge => (413, "payload_too_large"),
            Rejection::UriTooLong => (414, "uri_too_long"),
            Rejection::BodyUnreadable => (400, "invalid_body"),
            Rejection::Body(BodyError::InvalidJson(_)) => (400, "invalid_json"),
            Rejection::Body(BodyError::MissingField(_)) => (400, "missing_field"),
            Rejection::Body(BodyError::InvalidField { .. }) => (400, "invalid_field"),
            Rejection::MissingParameter { .. } => (400, "missing_parameter"),
            Rejection::InvalidParameter { .. } => (400, "invalid_parameter"),
            Rejection::Config(_) => (500, "config_error"),
            Rejection::Store(_) => (503, "store_unavailable"),
            Rejection::Sae { .. } => (502, "sae_error"),
            Rejection::SaeBusy { .. } => (503, "sae_busy"),
            Rejection::SaeTimeout { .. } => (504, "sae_timeout"),
            Rejection::NotAttempted { .. } => (504, "budget_exhausted"),
            Rejection::SaeUnreachable { .. } => (502, "sae_unreachable"),
        }
    }

    /// Returns SAE's error code when the rejection carries one.
    pub(crate) fn sae_code(&self) -> Option<&str> {
        match self {
            Rejection::Sae { error, .. } | Rejection::SaeBusy { error, .. } => Some(&error.code),
            _ => None,
        }
    }

    /// Builds the answer: status, `code`, `message` and the fields that
    /// point at the cause (`field`, `parameter`, `variable`, SAE's ids).
    pub(crate) fn to_answer(&self) -> Answer {
        let (status, code) = self.status_and_code();
        let mut body = json!({ "code": code, "message": self.to_string() });
        match self {
            Rejection::Body(error) => {
                if let Some(field) = error.field() {
                    body["field"] = json!(field);
                }
            }
            Rejection::MissingParameter { param, .. } | Rejection::InvalidParameter { param, .. } => {
                body["parameter"] = json!(param);
            }
            Rejection::Config(error) => body["variable"] = json!(error.variable),
            Rejection::Sae { error, .. } | Rejection::SaeBusy { error, .. } => {
                body["sae_code"] = json!(error.code);
                body["sae_message"] = json!(error.message);
                body["sae_status"] = json!(error.status);
                body["request_id"] = json!(error.request_id);
                if let Some(hint) = crate::retry::credential_hint(&error.code) {
                    body["hint"] = json!(hint);
                }
            }
            _ => {}
        }
        let mut answer = Answer::json(status, body);
        match self {
            Rejection::MethodNotAllowed { allow, .. } => answer.headers.push(("allow".into(), (*allow).into())),
            Rejection::SaeBusy { retry_after_secs, .. } => {
                answer.headers.push(("retry-after".into(), retry_after_secs.to_string()));
            }
            _ => {}
        }
        answer
    }
}

/// Replaces every occurrence of each secret in `text`.
pub(crate) fn scrub_text(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SCRUB_LEN) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

/// Replaces secrets in every string of a JSON value.
pub(crate) fn scrub_json(value: &mut Value, secrets: &[&str]) {
    match value {
        Value::String(text) => *text = scrub_text(text, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        let sae = SaeError {
            status: 400,
            code: "Throttling.User".into(),
            message: "slow down".into(),
            request_id: Some("req-1".into()),
            retry_after: None,
        };
        let cases: Vec<(Rejection, u16, &str)> = vec![
            (Rejection::Unauthorized, 401, "unauthorized"),
            (Rejection::MethodNotAllowed { method: "GET".into(), allow: "POST" }, 405, "method_not_allowed"),
            (Rejection::NotFound, 404, "not_found"),
            (Rejection::PayloadTooLarge, 413, "payload_too_large"),
            (Rejection::UriTooLong, 414, "uri_too_long"),
            (BodyError::InvalidJson("x".into()).into(), 400, "invalid_json"),
            (BodyError::MissingField("push_data.tag").into(), 400, "missing_field"),
            (Rejection::MissingParameter { param: "app_id", hint: "add it" }, 400, "missing_parameter"),
            (Rejection::NotAttempted { action: "DeployApplication", budget_secs: 24 }, 504, "budget_exhausted"),
            (ConfigError { variable: "region", reason: "bad".into() }.into(), 500, "config_error"),
            (Rejection::Sae { action: "DeployApplication", error: sae }, 502, "sae_error"),
            (Rejection::SaeTimeout { action: "DeployApplication", seconds: 10 }, 504, "sae_timeout"),
            (Rejection::SaeUnreachable { action: "DeployApplication", reason: "refused".into(), maybe_sent: false }, 502, "sae_unreachable"),
        ];
        for (rejection, status, code) in cases {
            let answer = rejection.to_answer();
            assert_eq!(answer.status, status, "{rejection}");
            assert_eq!(answer.body["code"], code, "{rejection}");
            assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    #[test]
    fn busy_has_retry_after_and_credentials_have_hint() {
        let error = |code: &str| SaeError {
            status: 400,
            code: code.into(),
            message: String::new(),
            request_id: None,
            retry_after: None,
        };
        let busy = Rejection::SaeBusy { action: "DeployApplication", error: error("Throttling.User"), retry_after_secs: 3 };
        let answer = busy.to_answer();
        assert_eq!(answer.status, 503);
        assert_eq!(answer.headers, vec![("retry-after".to_string(), "3".to_string())]);
        let denied = Rejection::Sae { action: "DeployApplication", error: error("Forbidden.RAM") }.to_answer();
        assert!(denied.body["hint"].as_str().unwrap().contains("RAM policy"));
    }

    #[test]
    fn method_not_allowed_has_allow_header() {
        let answer = Rejection::MethodNotAllowed { method: "PUT".into(), allow: "POST" }.to_answer();
        assert_eq!(answer.headers, vec![("allow".to_string(), "POST".to_string())]);
    }

    #[test]
    fn sae_error_fields() {
        let error = SaeError {
            status: 400,
            code: "Application.ChangerOrderRunning".into(),
            message: "busy".into(),
            request_id: Some("req-9".into()),
            retry_after: None,
        };
        let answer = Rejection::Sae { action: "DeployApplication", error }.to_answer();
        assert_eq!(answer.body["sae_code"], "Application.ChangerOrderRunning");
        assert_eq!(answer.body["request_id"], "req-9");
        assert_eq!(answer.body["sae_message"], "busy");
    }

    #[test]
    fn field_and_variable_are_named() {
        let answer = Rejection::from(BodyError::MissingField("repository.name")).to_answer();
        assert_eq!(answer.body["field"], "repository.name");
        let answer = Rejection::from(ConfigError { variable: "access_key_id", reason: "is missing".into() }).to_answer();
        assert_eq!(answer.body["variable"], "access_key_id");
    }

    #[test]
    fn scrubbing() {
        let secrets = ["supersecretvalue", "short"];
        assert_eq!(scrub_text("a supersecretvalue b", &secrets), "a [REDACTED] b");
        assert_eq!(scrub_text("short stays", &secrets), "short stays");
        let mut value = json!({"a": ["x supersecretvalue"], "b": {"c": "supersecretvalue"}, "n": 1});
        scrub_json(&mut value, &secrets);
        assert_eq!(value, json!({"a": ["x [REDACTED]"], "b": {"c": "[REDACTED]"}, "n": 1}));
    }
}
