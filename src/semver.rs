//! SemVer 2.0 versions read from image tags, with SemVer precedence.

use std::cmp::Ordering;

/// A SemVer 2.0 version read from a tag, without build metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
    /// Pre-release identifiers; empty for a release.
    pub(crate) pre: Vec<Identifier>,
}

/// One pre-release identifier. The variant order gives SemVer precedence:
/// numeric identifiers sort before alphanumeric ones.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Identifier {
    Numeric(u64),
    Alphanumeric(String),
}

impl Version {
    /// Parses a tag such as `1.2.3`, `v1.2.3` or `V1.2.3-rc.1`, or returns
    /// what makes it no semver version.
    pub(crate) fn parse(tag: &str) -> Result<Version, &'static str> {
        let body = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
        let (core, pre) = match body.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (body, None),
        };
        let mut numbers = core.split('.');
        let (Some(major), Some(minor), Some(patch), None) =
            (numbers.next(), numbers.next(), numbers.next(), numbers.next())
        else {
            return Err("it needs exactly three numbers `MAJOR.MINOR.PATCH`");
        };
        let pre = match pre {
            Some(text) => text.split('.').map(parse_identifier).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Version {
            major: parse_number(major)?,
            minor: parse_number(minor)?,
            patch: parse_number(patch)?,
            pre,
        })
    }

    /// Returns true for a pre-release such as `1.0.0-rc.1`.
    pub(crate) fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

fn parse_number(text: &str) -> Result<u64, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("`MAJOR.MINOR.PATCH` may contain only digits");
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err("a number has a leading zero");
    }
    text.parse().map_err(|_| "a number is too large")
}

fn parse_identifier(text: &str) -> Result<Identifier, &'static str> {
    if text.is_empty() {
        return Err("a pre-release identifier is empty");
    }
    if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("pre-release identifiers may contain only letters, digits and `-`");
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Identifier::Alphanumeric(text.to_owned()));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err("a numeric pre-release identifier has a leading zero");
    }
    text.parse()
        .map(Identifier::Numeric)
        .map_err(|_| "a numeric pre-release identifier is too large")
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let core = (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch));
        // A release ranks above its pre-releases; pre-releases compare
        // identifier by identifier, and a shorter prefix ranks lower.
        core.then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => self.pre.cmp(&other.pre),
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

