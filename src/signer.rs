//! Alibaba Cloud ROA request signature, HMAC-SHA1 ("signature version 1.0").
//!
//! String to sign:
//! ```text
//! METHOD \n Accept \n Content-MD5 \n Content-Type \n Date \n
//! CanonicalizedHeaders CanonicalizedResource
//! ```
//! CanonicalizedHeaders are the `x-acs-*` headers, lower-cased, sorted by
//! name, each as `name:value\n`. CanonicalizedResource is the path, then `?`
//! and the query sorted by key as `key=value` joined by `&`, with the raw
//! (decoded) values and a bare `key` for an empty value. The signature is
//! `Base64(HMAC-SHA1(AccessKeySecret, StringToSign))`, sent as
//! `Authorization: acs <AccessKeyId>:<Signature>`. This matches the official
//! SDKs (`alibabacloud-tea-openapi` `Utils.get_string_to_sign`) and Alibaba
//! Cloud's published test vectors, which the tests below reproduce.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Prefix of the headers that take part in the signature.
const SIGNED_HEADER_PREFIX: &str = "x-acs-";

/// Builds the string to sign. Header names must be lower case, and the query
/// contains decoded values.
pub(crate) fn string_to_sign(
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };

    // The five fixed lines, each present even when empty.
    let mut out = String::new();
    for line in [
        method,
        header("accept"),
        header("content-md5"),
        header("content-type"),
        header("date"),
    ] {
        out.push_str(line);
        out.push('\n');
    }

    // The x-acs-* headers, sorted by name.
    let mut signed: Vec<&(String, String)> = headers
        .iter()
        .filter(|(name, _)| name.starts_with(SIGNED_HEADER_PREFIX))
        .collect();
    sort_by_name(&mut signed);
    for (name, value) in signed {
        out.push_str(name);
        out.push(':');
        out.push_str(value.trim());
        out.push('\n');
    }

    // The resource: path and sorted, decoded query.
    out.push_str(path);
    let mut params: Vec<&(String, String)> = query.iter().collect();
    sort_by_name(&mut params);
    for (i, (key, value)) in params.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        if !value.is_empty() {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// Sorts pairs by name, keeping pairs of equal names in their order. One
/// function for headers and query keeps one copy of the sort code.
fn sort_by_name(pairs: &mut [&(String, String)]) {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
}

/// Returns `Base64(HMAC-SHA1(secret, string_to_sign))`.
pub(crate) fn signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC takes keys of any length, so `new_from_slice` does not fail; if it
    // ever did, the empty signature would be rejected by SAE, not trap here.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Returns the `Authorization` header value.
pub(crate) fn authorization(access_key_id: &str, signature: &str) -> String {
    format!("acs {access_key_id}:{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Headers shared by the SAE-shaped vectors (computed with the official
    /// Python SDK, secret `testsecret`).
    fn sae_headers() -> Vec<(String, String)> {
        pairs(&[
            ("accept", "application/json"),
            ("date", "Thu, 01 Jan 2026 00:00:00 GMT"),
            ("x-acs-action", "DeployApplication"),
            ("x-acs-signature-method", "HMAC-SHA1"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-signature-version", "1.0"),
            ("x-acs-version", "2019-05-06"),
        ])
    }

    fn sae_query() -> Vec<(String, String)> {
        pairs(&[
            ("ImageUrl", "registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1.2.3"),
            ("AppId", "7171a6ca-d1cd-4928-8642-7d5cfe690000"),
            ("MinReadyInstances", "1"),
            ("ChangeOrderDesc", "acr push v1.2.3"),
        ])
    }

    const DEPLOY_PATH: &str = "/pop/v1/sam/app/deployApplication";

    #[test]
    fn vector_1_plain_string() {
        assert_eq!(signature("secret", "stringtosign"), "OmuTAr79tpI6CRoAdmzKRq5lHs0=");
    }

    #[test]
    fn vector_2_empty_get() {
        assert_eq!(signature("secret", "GET\n\n\n\n\n"), "XGXDWA78AEvx/wmfxKoVCq/afWw=");
    }

    #[test]
    fn vector_3_roa_composer() {
        let headers = pairs(&[
            ("accept", "application/octet-stream"),
            ("date", "2018-12-04T03:55:31Z"),
            ("x-acs-signature-method", "HMAC-SHA1"),
            ("x-acs-signature-version", "1.0"),
        ]);
        let sts = string_to_sign("GET", "/", &[], &headers);
        assert_eq!(
            sts,
            "GET\napplication/octet-stream\n\n\n2018-12-04T03:55:31Z\nx-acs-signature-method:HMAC-SHA1\nx-acs-signature-version:1.0\n/"
        );
        assert_eq!(signature("access_key_secret", &sts), "HKCpm41tJg6b3EYdtGMbNuwALZU=");
    }

    #[test]
    fn vector_4_query_and_empty_values() {
        let headers = pairs(&[
            ("accept", "accept"),
            ("content-md5", "content-md5"),
            ("content-type", "content-type"),
            ("date", "date"),
            ("x-acs-security-token", "test"),
            ("x-acs-security-test", "test"),
        ]);
        let query = pairs(&[
            ("accept", "accept"),
            ("content-md5", "content-md5"),
            ("content-type", "content-type"),
            ("date", "date"),
            ("emptyTest", ""),
            ("spaceTest", ""),
            ("x-acs-security-token", "test"),
            ("x-acs-security-test", "test"),
        ]);
        let sts = string_to_sign("GET", "/test", &query, &headers);
        assert_eq!(
            sts,
            "GET\naccept\ncontent-md5\ncontent-type\ndate\nx-acs-security-test:test\nx-acs-security-token:test\n/test?accept=accept&content-md5=content-md5&content-type=content-type&date=date&emptyTest&spaceTest&x-acs-security-test=test&x-acs-security-token=test"
        );
        assert_eq!(signature("test", &sts), "4dyyuoOuu7iED5+vhBNcmflgq24=");
    }

    #[test]
    fn construction_vector_non_acs_headers_ignored() {
        let headers = pairs(&[
            ("x-acs-meta", "user"),
            ("accept", "application/json"),
            ("content-md5", "md5"),
            ("content-type", "application/json"),
            ("date", "date"),
        ]);
        let query = pairs(&[("ccp", "ok"), ("test", "tests"), ("test1", "")]);
        assert_eq!(
            string_to_sign("GET", "Pathname", &query, &headers),
            "GET\napplication/json\nmd5\napplication/json\ndate\nx-acs-meta:user\nPathname?ccp=ok&test=tests&test1"
        );
    }

    #[test]
    fn sae_vector_a_deploy() {
        let sts = string_to_sign("POST", DEPLOY_PATH, &sae_query(), &sae_headers());
        assert_eq!(
            sts,
            "POST\napplication/json\n\n\nThu, 01 Jan 2026 00:00:00 GMT\nx-acs-action:DeployApplication\nx-acs-signature-method:HMAC-SHA1\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\nx-acs-signature-version:1.0\nx-acs-version:2019-05-06\n/pop/v1/sam/app/deployApplication?AppId=7171a6ca-d1cd-4928-8642-7d5cfe690000&ChangeOrderDesc=acr push v1.2.3&ImageUrl=registry-vpc.cn-hangzhou.aliyuncs.com/demo-ns/demo-app:v1.2.3&MinReadyInstances=1"
        );
        assert_eq!(signature("testsecret", &sts), "xRu0z3EADkzdJphY5no6o4Zyy3Q=");
    }

    #[test]
    fn sae_vector_b_form_body() {
        let mut headers = sae_headers();
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        headers.push(("content-md5".into(), "GxxyEUPNmV30uWlCCegTkg==".into()));
        let sts = string_to_sign("POST", DEPLOY_PATH, &sae_query(), &headers);
        assert_eq!(signature("testsecret", &sts), "M3sK0fqnDGKTvbFpcWGzTalFYi0=");
    }

    #[test]
    fn sae_vector_c_sts() {
        let mut headers = sae_headers();
        headers.push(("x-acs-accesskey-id".into(), "STS.testid".into()));
        headers.push(("x-acs-security-token".into(), "testtoken".into()));
        let sts = string_to_sign("POST", DEPLOY_PATH, &sae_query(), &headers);
        assert_eq!(signature("testsecret", &sts), "SW/jiXjisWCpWwghuyAA/PpK/sk=");
    }

    #[test]
    fn special_values_stay_decoded() {
        let query = pairs(&[("B", "a b+c&d=e~f*g%h"), ("A", "镜像 部署"), ("C", "")]);
        let sts = string_to_sign("POST", "/p", &query, &[]);
        assert_eq!(sts, "POST\n\n\n\n\n/p?A=镜像 部署&B=a b+c&d=e~f*g%h&C");
    }

    #[test]
    fn empty_query_has_no_question_mark() {
        assert_eq!(string_to_sign("GET", "/p", &[], &[]), "GET\n\n\n\n\n/p");
    }

    #[test]
    fn unicode_secret_and_string() {
        // Reference value from Python: base64(hmac.new("密钥".encode(), "签名 ✓".encode(), sha1)).
        assert_eq!(signature("密钥", "签名 ✓"), "9i+JQf6Amu82DkTSJWGH9Bf2v4w=");
    }

    #[test]
    fn authorization_format() {
        assert_eq!(authorization("id", "sig="), "acs id:sig=");
    }
}
