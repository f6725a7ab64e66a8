//! Signs arbitrary ROA requests and checks the string to sign against the
//! layout the ROA scheme defines: the five fixed lines, the `x-acs-*`
//! headers sorted by name, then the canonical resource, which starts with
//! the path. Signing must also be deterministic.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sae_deploy_trigger::internals::{signature, string_to_sign};

/// Prefix of the headers that take part in the signature.
const SIGNED_HEADER_PREFIX: &str = "x-acs-";

/// Length of a Base64 HMAC-SHA1 value: 20 bytes give 28 characters.
const SIGNATURE_LEN: usize = 28;

#[derive(Arbitrary, Debug)]
struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(HeaderName, String)>,
    secret: String,
}

/// Header names weighted toward the ones the signature reads.
#[derive(Arbitrary, Debug)]
enum HeaderName {
    Accept,
    ContentMd5,
    ContentType,
    Date,
    /// `x-acs-` and the given suffix.
    Acs(String),
    Other(String),
}

impl HeaderName {
    fn to_name(&self) -> String {
        match self {
            HeaderName::Accept => "accept".into(),
            HeaderName::ContentMd5 => "content-md5".into(),
            HeaderName::ContentType => "content-type".into(),
            HeaderName::Date => "date".into(),
            HeaderName::Acs(suffix) => format!("{SIGNED_HEADER_PREFIX}{suffix}"),
            HeaderName::Other(name) => name.clone(),
        }
    }
}

fuzz_target!(|request: Request| {
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_name(), value.clone()))
        .collect();
    let text = string_to_sign(&request.method, &request.path, &request.query, &headers);

    // Deterministic: the same request gives the same bytes.
    assert_eq!(
        text,
        string_to_sign(&request.method, &request.path, &request.query, &headers)
    );
    let signed = signature(&request.secret, &text);
    assert_eq!(signed, signature(&request.secret, &text));
    assert_eq!(signed.len(), SIGNATURE_LEN, "signature {signed:?}");
    assert!(
        signed.ends_with('=')
            && signed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
        "signature {signed:?} is not Base64 of 20 bytes"
    );

    check_layout(&request, &headers, &text);
});

/// Walks the string to sign from the start, removing each part it must hold.
fn check_layout(request: &Request, headers: &[(String, String)], text: &str) {
    let first_value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut rest = text;

    // The method and four headers, one line each, present even when empty.
    let fixed = [
        request.method.as_str(),
        first_value("accept"),
        first_value("content-md5"),
        first_value("content-type"),
        first_value("date"),
    ];
    for line in fixed {
        rest = rest
            .strip_prefix(line)
            .and_then(|r| r.strip_prefix('\n'))
            .unwrap_or_else(|| panic!("fixed line {line:?} missing at {rest:?} in {text:?}"));
    }

    // Every `x-acs-*` header in name order, equal names in their given order.
    let mut signed: Vec<&(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.starts_with(SIGNED_HEADER_PREFIX))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in signed {
        let line = format!("{name}:{}\n", value.trim());
        rest = rest
            .strip_prefix(line.as_str())
            .unwrap_or_else(|| panic!("header line {line:?} missing at {rest:?} in {text:?}"));
    }

    // The canonical resource: the path, then the query sorted by key.
    rest = rest.strip_prefix(request.path.as_str()).unwrap_or_else(|| {
        panic!(
            "canonical resource {rest:?} does not start with path {:?}",
            request.path
        )
    });
    let mut query: Vec<&(String, String)> = request.query.iter().collect();
    query.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (key, value)) in query.into_iter().enumerate() {
        let separator = if i == 0 { '?' } else { '&' };
        rest = rest
            .strip_prefix(separator)
            .and_then(|r| r.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("query key {key:?} missing at {rest:?} in {text:?}"));
        if !value.is_empty() {
            rest = rest
                .strip_prefix('=')
                .and_then(|r| r.strip_prefix(value.as_str()))
                .unwrap_or_else(|| panic!("query value {value:?} missing at {rest:?} in {text:?}"));
        }
    }
    assert!(rest.is_empty(), "trailing text {rest:?} in {text:?}");
}
