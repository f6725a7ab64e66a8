//! Checks the image reference validators on arbitrary strings against
//! regular expressions written from the OCI Distribution grammar, and checks
//! that an image URL built from valid parts splits back into those parts.
//!
//! Input: up to five UTF-8 fields separated by `\n`, in the order namespace,
//! name, tag, digest, registry host. Missing fields are empty.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use regex_lite::Regex;
use sae_deploy_trigger::internals::check_reference;

/// Path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or a run of `-`.
static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("valid regex"));

/// Tag: one word character, then up to 127 word characters, `.` or `-`.
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").expect("valid regex"));

/// The only digest form ACR and SAE use.
static DIGEST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^sha256:[0-9a-f]{64}$").expect("valid regex"));

/// Host: DNS labels of letters, digits and inner `-`, each 1 to 63 bytes,
/// then an optional port of 1 to 5 digits.
static HOST: LazyLock<Regex> = LazyLock::new(|| {
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    Regex::new(&format!(r"^{label}(?:\.{label})*(?::([0-9]{{1,5}}))?$")).expect("valid regex")
});

/// Maximum length of a registry host with its port.
const MAX_HOST_LEN: usize = 253;

/// Maximum length of a tag.
const MAX_TAG_LEN: usize = 128;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.splitn(5, '\n');
    let mut next = || fields.next().unwrap_or("");
    let (namespace, name, tag, digest, host) = (next(), next(), next(), next(), next());

    let [namespace_ok, name_ok, tag_ok, digest_ok, host_ok] =
        check_reference(namespace, name, tag, digest, host);

    // Each validator accepts exactly what the grammar accepts.
    assert_eq!(
        namespace_ok,
        PATH_COMPONENT.is_match(namespace),
        "namespace {namespace:?}"
    );
    assert_eq!(name_ok, PATH_COMPONENT.is_match(name), "name {name:?}");
    assert_eq!(tag_ok, TAG.is_match(tag), "tag {tag:?}");
    assert_eq!(digest_ok, DIGEST.is_match(digest), "digest {digest:?}");
    assert_eq!(host_ok, host_matches(host), "host {host:?}");

    // The properties an image URL relies on, stated directly.
    if tag_ok {
        assert!(
            !tag.contains([':', '/', '@']),
            "valid tag {tag:?} contains a reference separator"
        );
        assert!(tag.len() <= MAX_TAG_LEN, "valid tag is {} bytes", tag.len());
        assert!(tag.is_ascii(), "valid tag {tag:?} is not ASCII");
        assert!(!tag.starts_with("sha256:"), "valid tag {tag:?} is a digest");
    }
    for component in [(namespace_ok, namespace), (name_ok, name)] {
        if let (true, value) = component {
            assert!(
                !value.contains([':', '/', '@']),
                "valid path component {value:?} contains a separator"
            );
            assert!(
                !value.bytes().any(|b| b.is_ascii_uppercase()),
                "valid path component {value:?} has upper case"
            );
        }
    }
    if host_ok {
        assert!(
            !host.contains(['/', '@']),
            "valid host {host:?} contains `/` or `@`"
        );
        assert!(
            host.len() <= MAX_HOST_LEN,
            "valid host is {} bytes",
            host.len()
        );
    }

    if !(namespace_ok && name_ok && host_ok) {
        return;
    }

    // `host/namespace/name:tag` splits back into its parts.
    if tag_ok {
        let url = format!("{host}/{namespace}/{name}:{tag}");
        let (repository, parsed_tag) = url.rsplit_once(':').expect("the URL has a `:`");
        assert_eq!(parsed_tag, tag, "tag of {url:?}");
        assert_eq!(
            split_repository(repository),
            (host, namespace, name),
            "repository of {url:?}"
        );
    }

    // `host/namespace/name@sha256:…` splits back into its parts.
    if digest_ok {
        let url = format!("{host}/{namespace}/{name}@{digest}");
        let (repository, parsed_digest) = url.split_once('@').expect("the URL has a `@`");
        assert_eq!(parsed_digest, digest, "digest of {url:?}");
        assert_eq!(
            split_repository(repository),
            (host, namespace, name),
            "repository of {url:?}"
        );
    }
});

/// Returns whether a host matches [`HOST`] with a port of 1 to 65535 and
/// at most [`MAX_HOST_LEN`] bytes in all.
fn host_matches(host: &str) -> bool {
    let Some(captures) = HOST.captures(host) else {
        return false;
    };
    let port_ok = captures.get(1).is_none_or(|port| {
        port.as_str()
            .parse::<u32>()
            .is_ok_and(|p| (1..=65535).contains(&p))
    });
    port_ok && host.len() <= MAX_HOST_LEN
}

/// Splits `host/namespace/name` at its first two `/`.
fn split_repository(repository: &str) -> (&str, &str, &str) {
    let (host, path) = repository
        .split_once('/')
        .expect("the repository has a host");
    let (namespace, name) = path
        .split_once('/')
        .expect("the repository has a namespace");
    (host, namespace, name)
}
