//! Image references: validation of each part against the OCI Distribution
//! reference grammar, and the `ImageUrl` that SAE pulls.
//!
//! The grammar (distribution/reference, `reference.go`):
//! - path component: `[a-z0-9]+` runs joined by one separator, where a
//!   separator is `.`, `_`, `__` or one or more `-`;
//! - tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
//! - digest (the form ACR and SAE use): `sha256:` and 64 lower-case hex digits;
//! - domain: dot-separated labels of letters, digits and inner `-`, with an
//!   optional `:port`.

/// Maximum length of a tag, from the Distribution grammar.
pub(crate) const MAX_TAG_LEN: usize = 128;

/// Maximum length of `<namespace>/<name>`, from the Distribution spec.
pub(crate) const MAX_REPOSITORY_LEN: usize = 255;

/// Maximum length of a registry host with its port.
pub(crate) const MAX_HOST_LEN: usize = 253;

/// Prefix of the only digest algorithm ACR reports.
const SHA256_PREFIX: &str = "sha256:";

/// Length of a hex SHA-256 digest.
const SHA256_HEX_LEN: usize = 64;

/// How the image is pinned in an `ImageUrl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pin<'a> {
    /// `host/ns/name:tag`
    Tag(&'a str),
    /// `host/ns/name@sha256:…`
    Digest(&'a str),
}

/// Checks one repository path component (an ACR namespace or repository name).
/// Returns a reason that can follow the field name in an error message.
pub(crate) fn check_path_component(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.contains('/') {
        return Err("must be a single path component without `/`".into());
    }
    if value.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("must be lower case".into());
    }
    if !is_path_component(value) {
        return Err(
            "must be lower-case letters and digits, optionally joined by `.`, `_`, `__` or `-`"
                .into(),
        );
    }
    Ok(())
}

/// Returns true when `value` matches the Distribution path-component grammar.
fn is_path_component(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    loop {
        // One run of letters and digits.
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }

        // One separator: `.`, `_`, `__` or a run of `-`.
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// Checks `<namespace>/<name>` as a whole after each part passed
/// [`check_path_component`].
pub(crate) fn check_repository(namespace: &str, name: &str) -> Result<(), String> {
    let len = namespace.len() + 1 + name.len();
    if len > MAX_REPOSITORY_LEN {
        return Err(format!(
            "makes `namespace/name` {len} bytes long, over the {MAX_REPOSITORY_LEN}-byte limit"
        ));
    }
    Ok(())
}

/// Checks a tag. A digest sent where a tag belongs is rejected with its own
/// reason, because deploying it as `:sha256:…` would make an invalid image URL.
pub(crate) fn check_tag(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.starts_with(SHA256_PREFIX) {
        return Err("is a digest, not a tag; push with a tag".into());
    }
    if value.len() > MAX_TAG_LEN {
        return Err(format!("is {} bytes, over the {MAX_TAG_LEN}-byte limit", value.len()));
    }
    let bytes = value.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if !word(bytes[0]) {
        return Err("must start with a letter, digit or `_`".into());
    }
    if !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        return Err("may contain only letters, digits, `_`, `.` and `-`".into());
    }
    Ok(())
}

/// Checks a `sha256:<64 lower-case hex>` digest.
pub(crate) fn check_digest(value: &str) -> Result<(), String> {
    let Some(hex) = value.strip_prefix(SHA256_PREFIX) else {
        return Err("must start with `sha256:`".into());
    };
    let valid = hex.len() == SHA256_HEX_LEN
        && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid {
        return Err("must be `sha256:` followed by 64 lower-case hex digits".into());
    }
    Ok(())
}

/// Checks a registry host such as `registry-vpc.cn-hangzhou.aliyuncs.com` or
/// `127.0.0.1:5000`: no scheme, no path, no user info.
pub(crate) fn check_registry_host(value: &str) -> Result<(), String> {
    if value.contains("://") {
        return Err("must be a host name without a scheme (drop `https://`)".into());
    }
    if value.contains('/') {
        return Err("must be a host name without a path".into());
    }
    if value.len() > MAX_HOST_LEN {
        return Err(format!("is over {MAX_HOST_LEN} bytes"));
    }
    let (domain, port) = match value.rsplit_once(':') {
        Some((domain, port)) => (domain, Some(port)),
        None => (value, None),
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid {
            return Err(format!("has an invalid port `{port}`"));
        }
    }
    if domain.is_empty() || !domain.split('.').all(is_domain_label) {
        return Err("must be a domain name of letters, digits, `-` and `.`".into());
    }
    Ok(())
}

/// Returns true for one DNS label: letters and digits with inner `-`.
fn is_domain_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Builds the `ImageUrl` SAE pulls: `<host>/<namespace>/<name>:<tag>` or
/// `…@sha256:…`. The parts must already be validated.
pub(crate) fn image_url(host: &str, namespace: &str, name: &str, pin: Pin<'_>) -> String {
    match pin {
        Pin::Tag(tag) => format!("{host}/{namespace}/{name}:{tag}"),
        Pin::Digest(digest) => format!("{host}/{namespace}/{name}@{digest}"),
    }
}

/// Returns the short form of a digest for people: `sha256:` and 12 hex digits.
pub(crate) fn short_digest(digest: &str) -> &str {
    let end = SHA256_PREFIX.len() + 12;
    digest.get(..end).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_component_cases() {
        let cases: &[(&str, bool)] = &[
            ("acme", true),
            ("order-api", true),
            ("a", true),
            ("a1", true),
            ("repo.test", true),
            ("repo_test", true),
            ("repo__test", true),
            ("repo---test", true),
            ("0", true),
            ("", false),
            ("Repo", false),
            ("repoTest", false),
            ("-repo", false),
            ("repo-", false),
            (".repo", false),
            ("repo.", false),
            ("repo..test", false),
            ("repo___test", false),
            ("repo._test", false),
            ("re po", false),
            ("re/po", false),
            ("..", false),
            ("a@b", false),
            ("a:b", false),
            ("a\u{0}b", false),
            ("ä", false),
            ("repo\n", false),
        ];
        for (value, valid) in cases {
            assert_eq!(check_path_component(value).is_ok(), *valid, "value {value:?}");
        }
    }

    #[test]
    fn path_component_reasons() {
        assert!(check_path_component("Repo").unwrap_err().contains("lower case"));
        assert!(check_path_component("a/b").unwrap_err().contains("`/`"));
        assert!(check_path_component("").unwrap_err().contains("empty"));
    }

    #[test]
    fn tag_cases() {
        let long_ok = "a".repeat(128);
        let long_bad = "a".repeat(129);
        let digest = format!("sha256:{}", "a".repeat(64));
        let cases: &[(&str, bool)] = &[
            ("latest", true),
            ("v1.4.2", true),
            ("release-v2.0.1", true),
            ("_private", true),
            ("V1", true),
            ("1.0.0-rc.1", true),
            (&long_ok, true),
            (&long_bad, false),
            ("", false),
            (".hidden", false),
            ("-dash", false),
            ("a b", false),
            ("a:b", false),
            ("a/b", false),
            ("a@b", false),
            ("v1+build", false),
            ("标签", false),
            (&digest, false),
            ("sha256:short", false),
        ];
        for (value, valid) in cases {
            assert_eq!(check_tag(value).is_ok(), *valid, "tag {value:?}");
        }
    }

    #[test]
    fn tag_digest_reason() {
        let digest = format!("sha256:{}", "0".repeat(64));
        assert!(check_tag(&digest).unwrap_err().contains("is a digest"));
    }

    #[test]
    fn digest_cases() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let upper = format!("sha256:{}", "0123456789ABCDEF".repeat(4));
        let short = format!("sha256:{}", "a".repeat(63));
        let cases: &[(&str, bool)] = &[
            (&good, true),
            (&upper, false),
            (&short, false),
            ("sha512:abc", false),
            ("", false),
            ("sha256:", false),
        ];
        for (value, valid) in cases {
            assert_eq!(check_digest(value).is_ok(), *valid, "digest {value:?}");
        }
    }

    #[test]
    fn registry_host_cases() {
        let cases: &[(&str, bool)] = &[
            ("registry-vpc.cn-hangzhou.aliyuncs.com", true),
            ("registry.cn-shanghai.aliyuncs.com", true),
            ("myinst-registry-vpc.cn-hangzhou.cr.aliyuncs.com", true),
            ("crpi-abc123.cn-hangzhou.personal.cr.aliyuncs.com", true),
            ("127.0.0.1:5000", true),
            ("localhost", true),
            ("https://registry.cn-hangzhou.aliyuncs.com", false),
            ("registry.cn-hangzhou.aliyuncs.com/ns", false),
            ("-bad.example.com", false),
            ("bad-.example.com", false),
            ("a..b", false),
            ("host:0", false),
            ("host:65536", false),
            ("host:", false),
            ("host:http", false),
            ("user@host", false),
            ("", false),
            ("ho st", false),
        ];
        for (value, valid) in cases {
            assert_eq!(check_registry_host(value).is_ok(), *valid, "host {value:?}");
        }
    }

    #[test]
    fn image_url_forms() {
        let host = "registry-vpc.cn-hangzhou.aliyuncs.com";
        assert_eq!(
            image_url(host, "prod", "gateway", Pin::Tag("v1")),
            "registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:v1"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            image_url(host, "prod", "gateway", Pin::Digest(&digest)),
            format!("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway@{digest}")
        );
    }

    #[test]
    fn repository_length_limit() {
        let name = "a".repeat(200);
        assert!(check_repository("ns", &name).is_ok());
        let long = "a".repeat(260);
        assert!(check_repository("ns", &long).is_err());
    }

    #[test]
    fn short_digest_keeps_twelve_hex() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(short_digest(&digest), "sha256:0123456789ab");
        assert_eq!(short_digest("sha256:ab"), "sha256:ab");
    }
}
