//! ACR trigger bodies: parsing and normalization into a [`PushEvent`].
//!
//! ACR posts one JSON object per pushed tag (`push_data` and `repository`,
//! all values strings). Unknown keys are ignored, because real bodies carry
//! more than the documented ones. Every field this product uses is checked
//! here, so nothing unchecked from the body reaches an SAE request.

use crate::config::check_region_id;
use crate::reference::{check_digest, check_path_component, check_repository, check_tag};
use crate::webhook_fields::read_body;

/// A push, normalized and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushEvent {
    /// ACR namespace, e.g. `prod`.
    pub(crate) namespace: String,
    /// Repository name inside the namespace, e.g. `gateway`.
    pub(crate) name: String,
    /// The pushed tag.
    pub(crate) tag: String,
    /// Manifest digest (`sha256:…`) when ACR sent one.
    pub(crate) digest: Option<String>,
    /// Region of the registry (`repository.region`), when sent.
    pub(crate) region: Option<String>,
}

impl PushEvent {
    /// Returns `<namespace>/<name>`.
    pub(crate) fn repository(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Why a body was rejected. Each variant names the JSON field, as a dotted
/// path, so the sender can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body is empty, not UTF-8, or not well-formed JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A field this product needs is absent or `null`.
    #[error("field `{0}` is missing")]
    MissingField(&'static str),
    /// A field has the wrong JSON type, appears twice, or fails validation.
    #[error("field `{field}` {reason}")]
    InvalidField {
        /// Dotted path of the field, e.g. `push_data.tag`.
        field: String,
        /// What is wrong, phrased to follow the field name.
        reason: String,
    },
}

impl BodyError {
    /// Returns the dotted path of the field at fault, when there is one.
    pub(crate) fn field(&self) -> Option<&str> {
        match self {
            BodyError::InvalidJson(_) => None,
            BodyError::MissingField(field) => Some(field),
            BodyError::InvalidField { field, .. } => Some(field),
        }
    }
}

/// Parses and validates an ACR trigger body.
pub(crate) fn parse_push(body: &[u8]) -> Result<PushEvent, BodyError> {
    // Some HTTP clients prepend a UTF-8 byte order mark, which JSON forbids.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::InvalidJson("the body is empty".into()));
    }

    // Check the syntax and the shape first, so that a syntax error anywhere
    // in the body wins over a field error, and an array in place of an
    // object is named.
    check_shape(body)?;

    // Read the known fields, naming the field of any data error.
    let raw = read_body(body).map_err(|(failure, error)| failure.unwrap_or_else(|| invalid_json(&error)))?;

    // Take the required fields out of their objects.
    let mut push_data = raw.push_data.ok_or(BodyError::MissingField("push_data"))?;
    let mut repository = raw.repository.ok_or(BodyError::MissingField("repository"))?;
    let tag = push_data.take("tag").ok_or(BodyError::MissingField("push_data.tag"))?;
    let namespace = repository
        .take("namespace")
        .ok_or(BodyError::MissingField("repository.namespace"))?;
    let name = repository.take("name").ok_or(BodyError::MissingField("repository.name"))?;

    // Validate each field against the image reference grammar.
    check_path_component(&namespace).map_err(|r| invalid("repository.namespace", r))?;
    check_path_component(&name).map_err(|r| invalid("repository.name", r))?;
    check_repository(&namespace, &name).map_err(|r| invalid("repository.name", r))?;
    check_tag(&tag).map_err(|r| invalid("push_data.tag", r))?;
    let digest = optional(push_data.take("digest"));
    if let Some(digest) = &digest {
        check_digest(digest).map_err(|r| invalid("push_data.digest", r))?;
    }
    let region = optional(repository.take("region"));
    if let Some(region) = &region {
        check_region_id(region).map_err(|r| invalid("repository.region", r))?;
    }

    // A full name that disagrees with namespace and name means a forged or
    // broken body, so neither is trusted.
    if let Some(full) = optional(repository.take("repo_full_name")) {
        if full != format!("{namespace}/{name}") {
            return Err(invalid(
                "repository.repo_full_name",
                "does not equal `repository.namespace/repository.name`".into(),
            ));
        }
    }

    Ok(PushEvent {
        namespace,
        name,
        tag,
        digest,
        region,
    })
}

/// Checks that the body and its two sections are JSON objects. Parsing into
/// a `Value` also applies serde_json's nesting limit of 128 levels.
fn check_shape(body: &[u8]) -> Result<(), BodyError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| invalid_json(&e))?;
    let Some(object) = value.as_object() else {
        return Err(invalid("(body)", "must be a JSON object".into()));
    };
    for section in ["push_data", "repository"] {
        match object.get(section) {
            None | Some(serde_json::Value::Null | serde_json::Value::Object(_)) => {}
            Some(_) => return Err(invalid(section, "must be a JSON object".into())),
        }
    }
    Ok(())
}

/// Treats an empty string like an absent optional field.
fn optional(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn invalid(field: &str, reason: String) -> BodyError {
    BodyError::InvalidField {
        field: field.to_owned(),
        reason,
    }
}

/// Describes a JSON syntax error with its position.
fn invalid_json(error: &serde_json::Error) -> BodyError {
    BodyError::InvalidJson(format!(
        "{} at line {} column {}",
        syntax_reason(error),
        error.line(),
        error.column()
    ))
}

/// Rewords serde's message for a string field of the wrong type without
/// quoting the offending value, which may be huge or contain control
/// characters.
pub(crate) fn data_reason(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let found = match rest.split([' ', ',']).next().unwrap_or_default() {
            "integer" | "floating" => "a number",
            "sequence" => "an array",
            "map" => "an object",
            "boolean" => "a boolean",
            "string" => "a string",
            _ => "another type",
        };
        return format!("must be a string, not {found}");
    }
    "has an invalid value".into()
}

fn syntax_reason(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        _ if error.to_string().contains("recursion limit") => "nesting is too deep",
        _ => "syntax error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"push_data":{"digest":"sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917","pushed_at":"2016-11-29 12:25:46","tag":"latest"},"repository":{"date_created":"2016-10-28 21:31:42","name":"repotest","namespace":"namespace","region":"cn-hangzhou","repo_authentication_type":"NO_CERTIFIED","repo_full_name":"namespace/repotest","repo_origin_type":"NO_CERTIFIED","repo_type":"PUBLIC"}}"#;

    fn body_with(push: &str, repo: &str) -> String {
        format!(r#"{{"push_data":{{{push}}},"repository":{{{repo}}}}}"#)
    }

    #[test]
    fn sample_parses() {
        let event = parse_push(SAMPLE.as_bytes()).unwrap();
        assert_eq!(event.namespace, "namespace");
        assert_eq!(event.name, "repotest");
        assert_eq!(event.tag, "latest");
        assert_eq!(event.region.as_deref(), Some("cn-hangzhou"));
        assert!(event.digest.as_deref().unwrap().starts_with("sha256:457f"));
        assert_eq!(event.repository(), "namespace/repotest");
    }

    #[test]
    fn minimal_body_parses() {
        let body = body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"app""#);
        let event = parse_push(body.as_bytes()).unwrap();
        assert_eq!(event.digest, None);
        assert_eq!(event.region, None);
    }

    #[test]
    fn empty_optional_fields_are_absent() {
        let body = body_with(
            r#""tag":"v1","digest":"""#,
            r#""namespace":"ns","name":"app","region":"","repo_full_name":"""#,
        );
        let event = parse_push(body.as_bytes()).unwrap();
        assert_eq!(event.digest, None);
        assert_eq!(event.region, None);
    }

    #[test]
    fn rejection_table() {
        let digest_tag = format!("sha256:{}", "a".repeat(64));
        let long_tag = "a".repeat(129);
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "invalid_json"),
            ("   ".into(), "invalid_json"),
            ("{".into(), "invalid_json"),
            ("not json".into(), "invalid_json"),
            ("[]".into(), "(body)"),
            ("\"text\"".into(), "(body)"),
            ("null".into(), "(body)"),
            ("{}".into(), "push_data"),
            (r#"{"push_data":{}}"#.into(), "repository"),
            (body_with("", r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":null"#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":"v1""#, r#""name":"a""#), "repository.namespace"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns""#), "repository.name"),
            (body_with(r#""tag":5"#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":["v1"]"#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":"v1""#, r#""namespace":{},"name":"a""#), "repository.namespace"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":true"#), "repository.name"),
            (body_with(r#""tag":"v1","tag":"v2""#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":"v 1""#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(&format!(r#""tag":"{digest_tag}""#), r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(&format!(r#""tag":"{long_tag}""#), r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":"v1\u0000""#, r#""namespace":"ns","name":"a""#), "push_data.tag"),
            (body_with(r#""tag":"v1""#, r#""namespace":"../etc","name":"a""#), "repository.namespace"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a/b""#), "repository.name"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"App""#), "repository.name"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a@b""#), "repository.name"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a:b""#), "repository.name"),
            (body_with(r#""tag":"v1","digest":"md5:1""#, r#""namespace":"ns","name":"a""#), "push_data.digest"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a","region":"evil.com/x""#), "repository.region"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a","repo_full_name":"other/a""#), "repository.repo_full_name"),
            (body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a","region":7"#), "repository.region"),
            (r#"{"push_data":"v1","repository":{}}"#.into(), "push_data"),
        ];
        for (body, expected) in cases {
            let error = parse_push(body.as_bytes()).expect_err(&body);
            let actual = match &error {
                BodyError::InvalidJson(_) => "invalid_json",
                other => other.field().unwrap(),
            };
            assert_eq!(actual, expected, "body {body:?} gave {error}");
        }
    }

    #[test]
    fn deep_nesting_is_invalid_json() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for body in [
            format!(r#"{{"push_data":{deep}}}"#),
            body_with(&format!(r#""tag":"v1","x":{deep}"#), r#""namespace":"ns","name":"a""#),
        ] {
            let error = parse_push(body.as_bytes()).unwrap_err();
            assert!(matches!(error, BodyError::InvalidJson(ref m) if m.contains("too deep")), "{error}");
        }
    }

    #[test]
    fn arrays_in_place_of_objects_are_rejected() {
        let body = r#"{"push_data":[null,"v1"],"repository":["x","ns"]}"#;
        assert_eq!(parse_push(body.as_bytes()).unwrap_err().field(), Some("push_data"));
    }

    #[test]
    fn duplicate_top_level_key() {
        let body = r#"{"push_data":{"tag":"v1"},"push_data":{"tag":"v2"},"repository":{}}"#;
        assert_eq!(parse_push(body.as_bytes()).unwrap_err().field(), Some("push_data"));
    }

    #[test]
    fn invalid_utf8_is_invalid_json() {
        let mut body = body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a""#).into_bytes();
        let at = body.iter().position(|&b| b == b'v').unwrap();
        body[at] = 0xff;
        assert!(matches!(parse_push(&body), Err(BodyError::InvalidJson(_))));
    }

    #[test]
    fn messages_do_not_quote_values() {
        let secretish = "x".repeat(50);
        let body = body_with(&format!(r#""tag":{{"a":"{secretish}"}}"#), r#""namespace":"ns","name":"a""#);
        let message = parse_push(body.as_bytes()).unwrap_err().to_string();
        assert!(!message.contains(&secretish), "{message}");
        assert!(message.contains("push_data.tag"), "{message}");
    }

    #[test]
    fn type_errors_name_both_types() {
        let body = body_with(r#""tag":5"#, r#""namespace":"ns","name":"a""#);
        let message = parse_push(body.as_bytes()).unwrap_err().to_string();
        assert_eq!(message, "field `push_data.tag` must be a string, not a number");
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let body = format!("\u{feff}{}", body_with(r#""tag":"v1""#, r#""namespace":"ns","name":"a""#));
        assert!(parse_push(body.as_bytes()).is_ok());
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let body = body_with(
            r#""tag":"v1","extra":{"deep":[1,2,{"x":null}]}"#,
            r#""namespace":"ns","name":"a","repo_type":"PRIVATE","more":1"#,
        );
        assert!(parse_push(body.as_bytes()).is_ok());
    }
}
