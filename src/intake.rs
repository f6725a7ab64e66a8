//! Intake: the incoming request as plain data, its query, the endpoint it
//! addresses and the size limits.

use percent_encoding::percent_decode_str;

/// Largest webhook body accepted. ACR bodies are under 1 KiB.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest query string accepted. Trigger URLs use well under 200 bytes.
pub(crate) const MAX_QUERY_BYTES: usize = 4096;

/// Query parameters that may carry the SAE application id; `APP_ID` is the
/// name the Function Compute `DeployTrigger` used.
pub(crate) const APP_ID_PARAMS: &[&str] = &["app_id", "APP_ID"];

/// Why the edge could not hand over the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyUnread {
    /// The body is larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body stream broke: bad chunked framing, or the client went away.
    Broken,
}

/// An incoming HTTP request, as the edge hands it over.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    /// HTTP method, upper case.
    pub(crate) method: String,
    /// Path without the query.
    pub(crate) path: String,
    /// Decoded query parameters in order; empty when the query was too long.
    pub(crate) query: Vec<(String, String)>,
    /// The raw query was over [`MAX_QUERY_BYTES`] and was not parsed.
    pub(crate) query_too_long: bool,
    /// Headers with lower-case names.
    pub(crate) headers: Vec<(String, String)>,
    /// Body, or why the edge could not read it.
    pub(crate) body: Result<Vec<u8>, BodyUnread>,
}

impl Incoming {
    /// Returns the values of a header, by lower-case name.
    pub(crate) fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Returns the values of the query parameters with any of these names.
    pub(crate) fn params<'a>(&'a self, names: &'a [&'a str]) -> Vec<&'a str> {
        self.query
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Returns the one value of a parameter that may be given under any of
    /// `names`. Repeats with the same value (ignoring case) are accepted;
    /// different values are an error naming `names[0]`.
    pub(crate) fn single_param<'a>(&'a self, names: &'a [&'a str]) -> Result<Option<&'a str>, String> {
        let values = self.params(names);
        let Some(first) = values.first() else {
            return Ok(None);
        };
        if values.iter().any(|v| !v.eq_ignore_ascii_case(first)) {
            return Err("is given more than once with different values".into());
        }
        Ok(Some(first))
    }

    /// Reads a boolean parameter: `true`/`1`/`yes` or `false`/`0`/`no`, in
    /// any case; absent is `false`. Anything else, a bare name included, is
    /// an error, so a typo never turns a dry run into a deploy.
    pub(crate) fn flag(&self, name: &'static str) -> Result<bool, String> {
        let names = [name];
        let Some(value) = self.single_param(&names)? else {
            return Ok(false);
        };
        match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err("must be `true`, `1`, `yes`, `false`, `0` or `no`".into()),
        }
    }
}

/// Splits a raw query string into decoded pairs, as HTML forms encode them
/// (`+` is a space). Invalid UTF-8 is replaced, so it can never match a token.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// The endpoints this component serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/`: the webhook trigger (`?dry_run=true` explains instead).
    Trigger,
    /// `/explain`: the trigger in dry-run mode.
    Explain,
    /// `/deploys`: recent deploy history.
    Deploys,
    /// `/deploys/<change_order_id>`: the status of one change order.
    DeployStatus(String),
    /// `/healthz`: liveness, and configuration status with a token.
    Health,
    /// Anything else.
    NotFound,
}

impl Endpoint {
    /// Classifies a request path. A trailing `/` is ignored.
    pub(crate) fn from_path(path: &str) -> Self {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        match trimmed {
            "" => Endpoint::Trigger,
            "/explain" => Endpoint::Explain,
            "/deploys" => Endpoint::Deploys,
            "/healthz" => Endpoint::Health,
            _ => match trimmed.strip_prefix("/deploys/") {
                Some(id) if !id.contains('/') => Endpoint::DeployStatus(id.to_owned()),
                _ => Endpoint::NotFound,
            },
        }
    }

    /// Returns the methods the endpoint accepts, as an `Allow` header value.
    pub(crate) fn allow(&self) -> &'static str {
        match self {
            Endpoint::Trigger | Endpoint::Explain => "POST",
            Endpoint::Deploys | Endpoint::DeployStatus(_) | Endpoint::Health => "GET, HEAD",
            Endpoint::NotFound => "",
        }
    }

    /// Returns true when the endpoint takes this method.
    pub(crate) fn accepts(&self, method: &str) -> bool {
        self.allow().split(", ").any(|m| m == method)
    }

    /// Returns the endpoint's name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Endpoint::Trigger => "trigger",
            Endpoint::Explain => "explain",
            Endpoint::Deploys => "deploys",
            Endpoint::DeployStatus(_) => "deploy_status",
            Endpoint::Health => "healthz",
            Endpoint::NotFound => "not_found",
        }
    }
}

/// Checks an SAE application id: a UUID such as `7171a6ca-d1cd-4928-8642-7d5cfe690000`.
pub(crate) fn check_app_id(value: &str) -> Result<(), String> {
    let bytes = value.as_bytes();
    let valid = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !valid {
        return Err("is not an SAE application id (a UUID like `7171a6ca-d1cd-4928-8642-7d5cfe690000`)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1&b=2", &[("a", "1"), ("b", "2")]),
            ("a", &[("a", "")]),
            ("a=", &[("a", "")]),
            ("a=x+y", &[("a", "x y")]),
            ("a=x%2By", &[("a", "x+y")]),
            ("a=%E9%95%9C", &[("a", "镜")]),
            ("a=%ff", &[("a", "\u{fffd}")]),
            ("&&a=1&", &[("a", "1")]),
            ("a=b=c", &[("a", "b=c")]),
            ("%41=1", &[("A", "1")]),
        ];
        for (raw, expected) in cases {
            let expected: Vec<(String, String)> =
                expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(parse_query(raw), expected, "query {raw:?}");
        }
    }

    #[test]
    fn endpoints() {
        let cases: &[(&str, Endpoint)] = &[
            ("/", Endpoint::Trigger),
            ("", Endpoint::Trigger),
            ("/explain", Endpoint::Explain),
            ("/explain/", Endpoint::Explain),
            ("/deploys", Endpoint::Deploys),
            ("/deploys/co-1", Endpoint::DeployStatus("co-1".into())),
            ("/deploys/a/b", Endpoint::NotFound),
            ("/healthz", Endpoint::Health),
            ("/x", Endpoint::NotFound),
            ("//", Endpoint::NotFound),
            ("/..", Endpoint::NotFound),
        ];
        for (path, endpoint) in cases {
            assert_eq!(&Endpoint::from_path(path), endpoint, "path {path:?}");
        }
        assert!(Endpoint::Trigger.accepts("POST"));
        assert!(!Endpoint::Trigger.accepts("GET"));
        assert!(Endpoint::Health.accepts("HEAD"));
        assert!(!Endpoint::Deploys.accepts("POST"));
    }

    #[test]
    fn app_ids() {
        let cases: &[(&str, bool)] = &[
            ("7171a6ca-d1cd-4928-8642-7d5cfe690000", true),
            ("7171A6CA-D1CD-4928-8642-7D5CFE690000", true),
            ("7171a6ca-d1cd-4928-8642-7d5cfe69000", false),
            ("7171a6ca-d1cd-4928-8642-7d5cfe6900000", false),
            ("7171a6ca_d1cd-4928-8642-7d5cfe690000", false),
            ("7171a6ca-d1cd-4928-8642-7d5cfe69000g", false),
            ("", false),
            ("../../etc/passwd", false),
            ("7171a6ca-d1cd-4928-8642-7d5cfe69****", false),
        ];
        for (value, valid) in cases {
            assert_eq!(check_app_id(value).is_ok(), *valid, "app id {value:?}");
        }
    }

    #[test]
    fn flags() {
        let request = |query: &str| Incoming {
            method: "POST".into(),
            path: "/".into(),
            query: parse_query(query),
            query_too_long: false,
            headers: vec![],
            body: Ok(vec![]),
        };
        let cases: &[(&str, Result<bool, ()>)] = &[
            ("", Ok(false)),
            ("dry_run=true", Ok(true)),
            ("dry_run=TRUE", Ok(true)),
            ("dry_run=1", Ok(true)),
            ("dry_run=yes", Ok(true)),
            ("dry_run=false", Ok(false)),
            ("dry_run=0", Ok(false)),
            ("dry_run=1&dry_run=true", Err(())),
            ("dry_run=1&dry_run=1", Ok(true)),
            ("dry_run=1&dry_run=0", Err(())),
            ("dry_run", Err(())),
            ("dry_run=on", Err(())),
            ("other=1", Ok(false)),
        ];
        for (query, expected) in cases {
            let actual = request(query).flag("dry_run").map_err(|_| ());
            assert_eq!(actual, *expected, "query {query:?}");
        }
    }
}
