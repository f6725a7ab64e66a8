//! SAE OpenAPI responses: the success envelope and SAE's error shape.
//!
//! Success is HTTP 2xx with `"Success": true` (or no `Success` key) and a
//! `Code` of `200` (string or number) or none. Anything else is an error
//! carrying SAE's `Code`, `Message` and `RequestId`.

use serde_json::Value;

use crate::answer::scrub_text;

/// Longest SAE message passed on to callers and logs; longer ones are cut.
const MAX_MESSAGE_CHARS: usize = 300;

/// A successful SAE answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SaeSuccess {
    /// SAE's `RequestId`.
    pub(crate) request_id: Option<String>,
    /// SAE's `Data` object (`null` when absent).
    pub(crate) data: Value,
}

/// An SAE error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaeError {
    /// HTTP status SAE answered with.
    pub(crate) status: u16,
    /// SAE's error code, e.g. `Throttling.User`; `InvalidResponse` when the
    /// body was not SAE's JSON.
    pub(crate) code: String,
    /// SAE's message, cut to a safe length, with control characters removed.
    pub(crate) message: String,
    /// SAE's `RequestId`, when present.
    pub(crate) request_id: Option<String>,
    /// How long SAE asked the caller to wait, from its rate-limit headers.
    pub(crate) retry_after: Option<std::time::Duration>,
}

/// Parses an SAE response. `secrets` are replaced in SAE's message before it
/// is cut, so that no part of one survives.
pub(crate) fn parse(status: u16, body: &[u8], secrets: &[&str]) -> Result<SaeSuccess, SaeError> {
    let json: Value = match serde_json::from_slice(body) {
        Ok(value @ Value::Object(_)) => value,
        _ => {
            return Err(SaeError {
                status,
                code: "InvalidResponse".into(),
                message: format!("SAE answered HTTP {status} with a body that is not a JSON object"),
                request_id: None,
                retry_after: None,
            })
        }
    };

    let request_id = text(&json, "RequestId");
    let code = text(&json, "Code");
    let success_flag = json.get("Success").and_then(Value::as_bool);
    let ok_code = code.as_deref().is_none_or(|c| c == "200");
    if (200..300).contains(&status) && success_flag != Some(false) && ok_code {
        return Ok(SaeSuccess {
            request_id,
            data: json.get("Data").cloned().unwrap_or(Value::Null),
        });
    }

    Err(SaeError {
        status,
        code: code.unwrap_or_else(|| format!("HTTP{status}")),
        message: clean_message(&scrub_text(&text(&json, "Message").unwrap_or_default(), secrets)),
        request_id,
        retry_after: None,
    })
}

/// Reads a string or number field as text.
pub(crate) fn text(json: &Value, key: &str) -> Option<String> {
    match json.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Removes control characters and cuts the message to [`MAX_MESSAGE_CHARS`].
fn clean_message(message: &str) -> String {
    let mut out: String = message
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if message.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

impl SaeSuccess {
    /// Returns `Data.<key>` as text.
    pub(crate) fn data_text(&self, key: &str) -> Option<String> {
        text(&self.data, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_success() {
        let body = br#"{"RequestId":"01CF26C7","Code":"200","Message":"success","Success":true,"TraceId":"ac1a","Data":{"ChangeOrderId":"01db03d3","AppId":"7171a6ca","IsNeedApproval":false}}"#;
        let ok = parse(200, body, &[]).unwrap();
        assert_eq!(ok.request_id.as_deref(), Some("01CF26C7"));
        assert_eq!(ok.data_text("ChangeOrderId").as_deref(), Some("01db03d3"));
    }

    #[test]
    fn numeric_code_success() {
        let ok = parse(200, br#"{"RequestId":"r","Code":200,"Success":true,"Data":{}}"#, &[]).unwrap();
        assert_eq!(ok.request_id.as_deref(), Some("r"));
    }

    #[test]
    fn error_table() {
        let cases: &[(u16, &[u8], &str, Option<&str>)] = &[
            (400, br#"{"RequestId":"r1","Code":"Throttling.User","Message":"Request was denied"}"#, "Throttling.User", Some("r1")),
            (400, br#"{"RequestId":"r2","Code":"Application.ChangerOrderRunning","Message":"busy"}"#, "Application.ChangerOrderRunning", Some("r2")),
            (404, br#"{"RequestId":"r3","Code":"InvalidApplication.NotFound","Message":"x","HostId":"h"}"#, "InvalidApplication.NotFound", Some("r3")),
            (200, br#"{"RequestId":"r4","Code":"InvalidParameter.X","Success":false}"#, "InvalidParameter.X", Some("r4")),
            (200, br#"{"RequestId":"r5","Code":"500","Success":true}"#, "500", Some("r5")),
            (500, b"<html>gateway</html>", "InvalidResponse", None),
            (502, b"", "InvalidResponse", None),
            (200, b"[]", "InvalidResponse", None),
            (503, br#"{"Message":"down"}"#, "HTTP503", None),
        ];
        for (status, body, code, request_id) in cases {
            let error = parse(*status, body, &[]).unwrap_err();
            assert_eq!(error.code, *code, "body {:?}", String::from_utf8_lossy(body));
            assert_eq!(error.request_id.as_deref(), *request_id);
            assert_eq!(error.status, *status);
        }
    }

    #[test]
    fn secrets_are_scrubbed_before_cut() {
        let token = format!("CAIS{}", "x".repeat(400));
        let body = format!(r#"{{"Code":"SignatureDoesNotMatch","Message":"server string to sign is:POST x-acs-security-token:{token}"}}"#);
        let error = parse(400, body.as_bytes(), &[&token]).unwrap_err();
        assert!(!error.message.contains("CAISxxxx"), "{}", error.message);
        assert!(error.message.contains("[REDACTED]"));
    }

    #[test]
    fn message_is_cleaned_and_cut() {
        let long = "m".repeat(1000);
        let body = format!(r#"{{"Code":"X","Message":"a\nb\u0000{long}"}}"#);
        let error = parse(400, body.as_bytes(), &[]).unwrap_err();
        assert!(error.message.starts_with("abm"));
        assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
