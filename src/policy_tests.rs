use super::*;
use crate::glob::MAX_TAG_GLOB_LEN;
use crate::reference::MAX_REPOSITORY_LEN;

impl Decision {
    fn reason(&self) -> &str {
        match self {
            Decision::Deploy(reason) | Decision::Skip(reason) => reason,
        }
    }

    fn is_deploy(&self) -> bool {
        matches!(self, Decision::Deploy(_))
    }
}

fn policy(text: &str) -> TagPolicy {
    TagPolicy::parse(text, false).unwrap()
}

fn digest_tag() -> String {
    format!("sha256:{}", "a".repeat(64))
}

#[test]
fn tag_glob_cases() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "latest", true),
        ("*", "a", true),
        ("release-*", "release-v2.0.1", true),
        ("release-*", "release-", true),
        ("release-*", "release", false),
        ("release-*", "pre-release-1", false),
        ("*-prod", "v1-prod", true),
        ("*-prod", "v1-prod-2", false),
        ("v?.?.?", "v1.2.3", true),
        ("v?.?.?", "v1.2.30", false),
        ("v?.?.?", "v1.2.", false),
        ("v*.*", "v1.2", true),
        ("v*.*", "v12", false),
        ("a*b*c", "abc", true),
        ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
        ("a*b*c", "acb", false),
        ("**", "anything.at_all-1", true),
        ("exact", "exact", true),
        ("exact", "exactly", false),
        ("exact", "Exact", false),
        ("?", "", false),
        ("*a", "aaaa", true),
        ("*a*a*a*a*a*b", &"a".repeat(128), false),
    ];
    for (pattern, tag, expected) in cases {
        let glob = Glob::tag(pattern).unwrap();
        assert_eq!(glob.is_match(tag), *expected, "glob {pattern:?} on {tag:?}");
    }
}

#[test]
fn tag_glob_rejections() {
    let long = "a".repeat(MAX_TAG_GLOB_LEN + 1);
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("release/*", "never match"),
        ("v1:*", "never match"),
        ("a b", "never match"),
        ("[ab]*", "never match"),
        (&long, "over the"),
    ];
    for (pattern, reason) in cases {
        let error = Glob::tag(pattern).unwrap_err();
        assert!(error.contains(reason), "glob {pattern:?}: {error}");
    }
}

#[test]
fn repository_glob_cases() {
    let cases: &[(&str, &str, bool)] = &[
        ("prod/gateway", "prod/gateway", true),
        ("prod/gateway", "prod/gateway2", false),
        ("prod/*", "prod/gateway", true),
        ("prod/*", "prod/", true),
        ("prod/*", "staging/gateway", false),
        ("prod/*", "prod/a/b", false),
        ("*/gateway", "prod/gateway", true),
        ("*/gateway", "a/b/gateway", false),
        ("**", "prod/gateway", true),
        ("**", "a/b/c", true),
        ("prod/**", "prod/a/b", true),
        ("**/gateway", "a/b/gateway", true),
        ("**/gateway", "prod/gateway-v2", false),
        ("prod/gate?ay", "prod/gateway", true),
        ("prod?x/*", "prod/x/y", false),
        ("prod?x/*", "prod-x/y", true),
        ("prod-*/api-*", "prod-eu/api-orders", true),
        ("prod-*/api-*", "prod-eu/web-orders", false),
        ("*/*", "prod/gateway", true),
        ("*/*", "prodgateway", false),
        ("p*d/g*y", "prod/gateway", true),
        ("p*d/g*y", "prod/gatewax", false),
    ];
    for (pattern, repository, expected) in cases {
        let glob = Glob::repository(pattern).unwrap();
        assert_eq!(glob.is_match(repository), *expected, "glob {pattern:?} on {repository:?}");
    }
}

#[test]
fn repository_glob_rejections() {
    let long = format!("prod/{}", "a".repeat(MAX_REPOSITORY_LEN));
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("Prod/*", "lower case"),
        ("prod/gate way", "may contain only"),
        ("prod:*", "may contain only"),
        ("gateway", "`*/gateway`"),
        ("*", "has no `/`"),
        ("prod//x", "empty path component"),
        ("/prod/x", "empty path component"),
        ("prod/", "empty path component"),
        (&long, "over the"),
    ];
    for (pattern, reason) in cases {
        let error = Glob::repository(pattern).unwrap_err();
        assert!(error.contains(reason), "glob {pattern:?}: {error}");
    }
}

#[test]
fn glob_huge_input_is_fast() {
    let glob = Glob::repository("**a**a**a**a**a**a**b").unwrap();
    let text = "a/".repeat(50_000);
    let start = std::time::Instant::now();
    assert!(!glob.is_match(&text));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn regexp_cases() {
    let cases: &[(&str, &str, bool)] = &[
        (r"v\d+\.\d+\.\d+", "v1.2.3", true),
        (r"v\d+\.\d+\.\d+", "v1.2.3-rc.1", false),
        (r"v\d+\.\d+\.\d+", "xv1.2.3", false),
        ("release", "release", true),
        ("release", "release-1", false),
        ("release", "pre-release", false),
        ("a|b", "a", true),
        ("a|b", "ab", false),
        ("(?i)latest", "LATEST", true),
        (".*", "anything", true),
    ];
    for (pattern, tag, expected) in cases {
        let policy = policy(&format!("regexp:{pattern}"));
        assert_eq!(policy.matches(tag).is_ok(), *expected, "regexp {pattern:?} on {tag:?}");
    }
}

#[test]
fn regexp_rejections() {
    let long = format!("regexp:{}", "a".repeat(MAX_REGEX_LEN + 1));
    let huge = format!("regexp:{}", "(a{1000}){1000}");
    let cases: &[(&str, &str)] = &[
        ("regexp:", "empty regexp"),
        ("regexp:(", "invalid regexp"),
        ("regexp:a)|(b", "invalid regexp"),
        ("regexp:[z-a]", "invalid regexp"),
        (&long, "over the"),
        (&huge, "invalid regexp"),
    ];
    for (text, reason) in cases {
        let error = TagPolicy::parse(text, false).unwrap_err();
        assert!(error.contains(reason), "policy {text:?}: {error}");
    }
}

/// Returns the anchored regex of a `regexp:` policy if it has been compiled.
fn compiled_regex(policy: &TagPolicy) -> Option<&Result<Regex, String>> {
    match &policy.rule {
        Rule::Regexp { regex, .. } => regex.get(),
        _ => None,
    }
}

#[test]
fn regexp_compiles_on_first_match() {
    let policy = policy(r"regexp:v\d+");
    assert!(compiled_regex(&policy).is_none());

    assert!(policy.matches("v12").is_ok());
    assert!(matches!(compiled_regex(&policy), Some(Ok(_))));
    assert!(policy.matches("x12").is_err());
}

#[test]
fn regexp_with_comment_compiles_at_parse() {
    // In `x` mode the `#` comment swallows the `)$` of the anchored form.
    let error = TagPolicy::parse("regexp:(?x)a#", false).unwrap_err();
    assert!(error.contains("invalid regexp"), "{error}");

    let commented = policy("regexp:(?x)a # the letter\n");
    assert!(matches!(compiled_regex(&commented), Some(Ok(_))));
    assert!(commented.matches("a").is_ok());
}

#[test]
fn regexp_at_nest_limit_matches() {
    let depth = REGEX_NEST_LIMIT as usize;
    let nested = |depth: usize| format!("regexp:{}a{}", "(".repeat(depth), ")".repeat(depth));

    let error = TagPolicy::parse(&nested(depth + 1), false).unwrap_err();
    assert!(error.contains("invalid regexp"), "{error}");
    let deepest = policy(&nested(depth));
    assert!(deepest.matches("a").is_ok());
    assert!(matches!(compiled_regex(&deepest), Some(Ok(_))));
}

#[test]
fn regexp_at_size_limit_matches() {
    // Binary search for the largest `(?:a){count}` that parses.
    let pattern = |count: usize| format!("regexp:(?:a){{{count}}}");
    let (mut accepted, mut rejected) = (1, 100_000);
    while rejected - accepted > 1 {
        let middle = (accepted + rejected) / 2;
        match TagPolicy::parse(&pattern(middle), false) {
            Ok(_) => accepted = middle,
            Err(_) => rejected = middle,
        }
    }
    assert!(TagPolicy::parse(&pattern(rejected), false).unwrap_err().contains("size limit"));

    // A tag cannot be long enough to match, so this checks that the anchored
    // form compiles and then rejects the tag.
    let largest = policy(&pattern(accepted));
    assert!(largest.matches("a").unwrap_err().contains("does not match regexp"));
    assert!(matches!(compiled_regex(&largest), Some(Ok(_))));
}

#[test]
fn exact_cases() {
    let exact = policy("exact:v1.2.3");
    assert!(exact.matches("v1.2.3").is_ok());
    assert!(exact.matches("v1.2.4").unwrap_err().contains("is not the exact tag `v1.2.3`"));
    assert!(exact.matches("V1.2.3").is_err());
    assert!(policy("exact:v1.0.0-rc.1").matches("v1.0.0-rc.1").is_ok());
    assert!(TagPolicy::parse("exact:a b", false).unwrap_err().contains("may contain only"));
    assert!(TagPolicy::parse(&format!("exact:{}", digest_tag()), false).unwrap_err().contains("is a digest"));
}

#[test]
fn parse_errors_list_valid_forms() {
    let long = "x".repeat(10_000);
    let cases: &[&str] = &["", "latest", "regex:v.*", "Glob:*", "semver", "semver:", "semver:Minor", "semver:all", &long];
    for text in cases {
        let error = TagPolicy::parse(text, false).unwrap_err();
        assert!(error.contains("semver:"), "policy {text:?}: {error}");
        assert!(error.len() < 300, "message quotes too much: {error}");
    }
    assert!(TagPolicy::parse("glob:", false).unwrap_err().contains("glob:<pattern>"));
}

#[test]
fn display_is_canonical() {
    for text in ["glob:release-*", "regexp:v\\d+", "semver:major", "semver:minor", "semver:patch", "exact:latest"] {
        assert_eq!(policy(text).to_string(), text);
    }
}

#[test]
fn semver_parse_cases() {
    let cases: &[(&str, bool)] = &[
        ("1.2.3", true),
        ("v1.2.3", true),
        ("V1.2.3", true),
        ("0.0.0", true),
        ("10.20.30", true),
        ("1.0.0-alpha", true),
        ("1.0.0-alpha.1", true),
        ("1.0.0-0.3.7", true),
        ("1.0.0-x.7.z.92", true),
        ("1.0.0-x-y-z.--", true),
        ("1.0.0-rc-1", true),
        ("1.0.0-0a", true),
        ("1.2", false),
        ("1.2.3.4", false),
        ("1", false),
        ("", false),
        ("v", false),
        ("vv1.2.3", false),
        ("01.2.3", false),
        ("1.02.3", false),
        ("1.2.03", false),
        ("1.2.3-01", false),
        ("1.2.3-rc.01", false),
        ("1.2.3-", false),
        ("1.2.3-rc..1", false),
        ("1.2.3-rc.", false),
        ("1.2.3-rc_1", false),
        ("1.2.x", false),
        ("1..3", false),
        ("-1.2.3", false),
        ("1.2.3 ", false),
        ("18446744073709551616.0.0", false),
        ("1.0.0-18446744073709551616", false),
        ("latest", false),
    ];
    for (tag, valid) in cases {
        assert_eq!(Version::parse(tag).is_ok(), *valid, "tag {tag:?}");
    }
    assert_eq!(Version::parse("18446744073709551615.0.0").map(|v| v.major), Ok(u64::MAX));
}

#[test]
fn semver_precedence() {
    let ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "1.10.0",
        "2.0.0",
        "10.0.0",
    ];
    for pair in ordered.windows(2) {
        let (low, high) = (Version::parse(pair[0]).unwrap(), Version::parse(pair[1]).unwrap());
        assert!(low < high, "{} < {}", pair[0], pair[1]);
        assert!(high > low, "{} > {}", pair[1], pair[0]);
    }
    assert_eq!(Version::parse("v1.2.3").unwrap(), Version::parse("1.2.3").unwrap());
    assert!(Version::parse("1.0.0-2").unwrap() < Version::parse("1.0.0-10").unwrap());
    assert!(Version::parse("1.0.0-10").unwrap() < Version::parse("1.0.0-a").unwrap());
    assert!(Version::parse("1.0.0-B").unwrap() < Version::parse("1.0.0-a").unwrap());
}

#[test]
fn semver_matches() {
    let strict = policy("semver:minor");
    let loose = TagPolicy::parse("semver:minor", true).unwrap();
    let digest = digest_tag();
    let cases: &[(&str, bool, bool)] = &[
        ("v1.2.3", true, true),
        ("1.2.3", true, true),
        ("v2.0.0-rc.1", false, true),
        ("1.0.0-0", false, true),
        ("v1.2", false, false),
        ("1.2.3.4", false, false),
        ("01.2.3", false, false),
        ("latest", false, false),
        (&digest, false, false),
        ("", false, false),
    ];
    for (tag, strict_ok, loose_ok) in cases {
        assert_eq!(strict.matches(tag).is_ok(), *strict_ok, "strict on {tag:?}");
        assert_eq!(loose.matches(tag).is_ok(), *loose_ok, "prerelease on {tag:?}");
    }
}

#[test]
fn mismatch_reasons() {
    let digest = digest_tag();
    let huge = "a".repeat(100_000);
    let cases: &[(&str, &str, &str)] = &[
        ("glob:release-*", "v1", "does not match glob `release-*`"),
        ("regexp:v\\d+", "x", "does not match regexp `v\\d+`"),
        ("semver:patch", "latest", "is not a semver version"),
        ("semver:patch", "1.02.3", "leading zero"),
        ("semver:patch", "v2.0.0-rc.1", "is a pre-release; set \"prerelease\": true"),
        ("glob:*", &digest, "is a digest"),
        ("regexp:.*", &digest, "is a digest"),
        ("semver:major", &digest, "is a digest"),
        ("glob:*", &huge, "over the 128-byte limit"),
        ("glob:*", "", "must not be empty"),
    ];
    for (text, tag, reason) in cases {
        let error = policy(text).matches(tag).unwrap_err();
        assert!(error.contains(reason), "{text} on {tag:.20}: {error}");
        assert!(error.len() < 300, "message quotes too much: {error}");
    }
}

#[test]
fn needs_running_version_only_for_semver() {
    assert!(policy("semver:major").needs_running_version());
    assert!(!policy("glob:*").needs_running_version());
    assert!(!policy("regexp:.*").needs_running_version());
    assert!(!policy("exact:latest").needs_running_version());
}

#[test]
fn decide_semver_levels() {
    // (level, new, running, deploy, reason fragment)
    let cases: &[(&str, &str, Option<&str>, bool, &str)] = &[
        ("major", "v2.0.0", Some("v1.9.9"), true, "newer than running `v1.9.9`"),
        ("major", "v1.3.0", Some("v1.2.3"), true, "newer"),
        ("major", "v1.2.4", Some("v1.2.3"), true, "newer"),
        ("major", "v1.2.3", Some("v1.2.3"), false, "same version as running `v1.2.3`"),
        ("major", "1.2.3", Some("v1.2.3"), false, "same version"),
        ("major", "v1.2.2", Some("v1.2.3"), false, "older than running `v1.2.3`"),
        ("major", "v0.9.0", Some("v1.2.3"), false, "older"),
        ("minor", "v1.3.0", Some("v1.2.3"), true, "newer"),
        ("minor", "v1.2.4", Some("v1.2.3"), true, "newer"),
        ("minor", "v2.0.0", Some("v1.2.3"), false, "outside the allowed minor range of running `v1.2.3`"),
        ("minor", "v1.2.3", Some("v1.2.3"), false, "same version"),
        ("minor", "v1.1.9", Some("v1.2.3"), false, "older"),
        ("minor", "v0.1.0", Some("v1.2.3"), false, "older"),
        ("patch", "v1.2.4", Some("v1.2.3"), true, "newer"),
        ("patch", "v1.3.0", Some("v1.2.3"), false, "outside the allowed patch range"),
        ("patch", "v2.2.4", Some("v1.2.3"), false, "admits only `1.2.x`"),
        ("patch", "v1.2.3", Some("1.2.3"), false, "same version"),
        ("patch", "v1.2.2", Some("v1.2.3"), false, "older"),
        ("patch", "v1.2.3", Some("v1.2.3-rc.1"), true, "newer"),
        ("major", "v1.2.3", None, true, "nothing to compare against"),
        ("minor", "v1.2.3", Some("latest"), true, "running tag `latest` is not a semver version"),
        ("patch", "v1.2.3", Some(""), true, "nothing to compare against"),
        ("minor", "latest", Some("v1.2.3"), false, "is not a semver version"),
        ("minor", "v1.3.0-rc.1", Some("v1.2.3"), false, "is a pre-release"),
    ];
    for (level, new, running, deploy, reason) in cases {
        let decision = policy(&format!("semver:{level}")).decide(new, *running);
        let label = format!("semver:{level} {new} over {running:?}: {decision:?}");
        assert_eq!(decision.is_deploy(), *deploy, "{label}");
        assert!(decision.reason().contains(reason), "{label}");
    }
}

#[test]
fn decide_prerelease_when_admitted() {
    let policy = TagPolicy::parse("semver:minor", true).unwrap();
    assert!(policy.decide("v1.3.0-rc.1", Some("v1.2.3")).is_deploy());
    assert!(policy.decide("v1.2.3-rc.1", Some("v1.2.3")).reason().contains("older"));
    assert!(policy.decide("v1.2.3-rc.2", Some("v1.2.3-rc.1")).is_deploy());
}

#[test]
fn decide_other_policies_always_deploy() {
    let decision = policy("glob:release-*").decide("release-1", Some("release-9"));
    assert_eq!(decision, Decision::Deploy("tag `release-1` matches `glob:release-*`".into()));
    assert!(policy("exact:latest").decide("latest", Some("latest")).is_deploy());
    let skipped = policy("glob:release-*").decide("v1", None);
    assert_eq!(skipped, Decision::Skip("tag `v1` does not match glob `release-*`".into()));
}

#[test]
fn running_tag_cases() {
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:v1.2.3", "prod/gateway", Some("v1.2.3")),
        ("registry.cn-hangzhou.aliyuncs.com/prod/gateway:latest", "prod/gateway", Some("latest")),
        ("127.0.0.1:5000/prod/gateway:v1.2.3", "prod/gateway", Some("v1.2.3")),
        ("localhost/prod/gateway:v1", "prod/gateway", Some("v1")),
        ("127.0.0.1:5000/prod/gateway", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway@sha256:abc", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:v1@sha256:abc", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/other:v1.2.3", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/dev/prod/gateway:v1", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway-x:v1", "prod/gateway", None),
        ("prod/gateway:v1.2.3", "prod/gateway", None),
        ("gateway:v1.2.3", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:", "prod/gateway", None),
        ("registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:bad tag", "prod/gateway", None),
        ("", "prod/gateway", None),
    ];
    for (image_url, repository, expected) in cases {
        assert_eq!(running_tag(image_url, repository), *expected, "image {image_url:?}");
    }
}

#[test]
fn excerpt_cuts_and_escapes() {
    assert_eq!(excerpt("short"), "short");
    assert_eq!(excerpt("a\nb"), "a\\nb");
    let cut = excerpt(&"x".repeat(1000));
    assert_eq!(cut.chars().count(), MAX_QUOTE_CHARS + 1);
    assert!(cut.ends_with('…'));
}
