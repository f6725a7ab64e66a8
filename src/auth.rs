//! Webhook authentication: the token from the trigger URL or a bearer header,
//! compared in constant time with `webhook_token`.
//!
//! ACR cannot sign its deliveries, so the documented way is a secret in the
//! URL. The token is accepted from the query (`token`, or `ACCESS_TOKEN` as
//! the Function Compute `DeployTrigger` used) and from
//! `Authorization: Bearer <token>`. When several are sent they must all
//! match; a caller never learns which one was wrong.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::intake::Incoming;

/// Query parameters that may carry the token.
pub(crate) const TOKEN_PARAMS: &[&str] = &["token", "ACCESS_TOKEN"];

/// Checks the request's token. Returns `false` when no token was sent, when
/// any sent token differs from the expected one, or when they disagree.
pub(crate) fn is_authorized(request: &Incoming, expected: &Secret) -> bool {
    let presented = presented_tokens(request);
    if presented.is_empty() {
        return false;
    }

    // Check every presented token, without stopping at the first mismatch,
    // so timing does not tell how many matched.
    let mut all_match = true;
    for token in &presented {
        all_match &= tokens_equal(token, expected.expose());
    }
    all_match
}

/// Returns true when the request carries any token, right or wrong.
pub(crate) fn presents_token(request: &Incoming) -> bool {
    !presented_tokens(request).is_empty()
}

/// Collects every token the request carries, in query order, then the header.
fn presented_tokens(request: &Incoming) -> Vec<&str> {
    let mut tokens: Vec<&str> = request
        .query
        .iter()
        .filter(|(name, _)| TOKEN_PARAMS.contains(&name.as_str()))
        .map(|(_, value)| value.as_str())
        .collect();
    for value in request.header_values("authorization") {
        // An Authorization header of another scheme still counts as a
        // presented credential, so it can only ever fail the check.
        // The scheme name is case-insensitive (RFC 7235, section 2.1).
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
            _ => "",
        };
        tokens.push(token);
    }
    tokens
}

/// Compares two tokens in constant time. Both are hashed first so that the
/// comparison takes the same time whatever their lengths.
fn tokens_equal(presented: &str, expected: &str) -> bool {
    let presented = Sha1::digest(presented.as_bytes());
    let expected_digest = Sha1::digest(expected.as_bytes());
    !expected.is_empty() && bool::from(presented.ct_eq(&expected_digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "correct-horse-battery-staple";

    fn request(query: &[(&str, &str)], authorization: &[&str]) -> Incoming {
        Incoming {
            method: "POST".into(),
            path: "/".into(),
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            query_too_long: false,
            headers: authorization
                .iter()
                .map(|v| ("authorization".to_string(), v.to_string()))
                .collect(),
            body: Ok(Vec::new()),
        }
    }

    #[test]
    fn authorization_table() {
        let bearer = format!("Bearer {TOKEN}");
        let lower_bearer = format!("bearer {TOKEN}");
        let upper_bearer = format!("BEARER {TOKEN}");
        type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, bool);
        let cases: Vec<Case> = vec![
            (vec![("token", TOKEN)], vec![], true),
            (vec![("ACCESS_TOKEN", TOKEN)], vec![], true),
            (vec![], vec![&bearer], true),
            (vec![], vec![&lower_bearer], true),
            (vec![], vec![&upper_bearer], true),
            (vec![("token", TOKEN)], vec![&bearer], true),
            (vec![("token", TOKEN), ("ACCESS_TOKEN", TOKEN)], vec![], true),
            (vec![], vec![], false),
            (vec![("token", "")], vec![], false),
            (vec![("token", "wrong")], vec![], false),
            (vec![("token", &TOKEN[..10])], vec![], false),
            (vec![("Token", TOKEN)], vec![], false),
            (vec![("access_token", TOKEN)], vec![], false),
            (vec![("token", TOKEN)], vec!["Bearer wrong"], false),
            (vec![("token", "wrong")], vec![&bearer], false),
            (vec![("token", TOKEN), ("token", "wrong")], vec![], false),
            (vec![("token", TOKEN), ("ACCESS_TOKEN", "x")], vec![], false),
            (vec![], vec![TOKEN], false),
            (vec![], vec!["Basic abc"], false),
            (vec![("token", TOKEN)], vec!["Basic abc"], false),
            (vec![], vec!["Bearer "], false),
            (vec![("app_id", TOKEN)], vec![], false),
        ];
        let expected = Secret::new(TOKEN);
        for (query, headers, allowed) in cases {
            let request = request(&query, &headers);
            assert_eq!(
                is_authorized(&request, &expected),
                allowed,
                "query {query:?} headers {headers:?}"
            );
        }
    }

    #[test]
    fn empty_expected_never_matches() {
        let request = request(&[("token", "")], &[]);
        assert!(!is_authorized(&request, &Secret::new("")));
    }
}
