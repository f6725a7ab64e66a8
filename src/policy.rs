//! Tag policies: which pushed tags a route admits, and whether a new semver
//! tag should replace the version an application runs now.
//!
//! A policy is written as text:
//!
//! | text | admits |
//! |---|---|
//! | `glob:<pattern>` | tags matching the whole pattern: `*` is any run of characters, `?` is one character, the rest is literal |
//! | `regexp:<pattern>` | tags a regex-lite pattern matches as a whole; it is anchored at both ends |
//! | `semver:major`, `semver:minor`, `semver:patch` | SemVer 2.0 tags, deployed only when newer than the running version within that level |
//! | `exact:<tag>` | that one tag |
//!
//! Semver tags are `MAJOR.MINOR.PATCH` with an optional `v` or `V` prefix and
//! an optional `-pre-release` of dot-separated identifiers. Numbers have no
//! leading zeros. Tags cannot contain `+`, so build metadata never occurs.
//! Pre-release tags are admitted only when the policy allows them. A digest
//! (`sha256:…`) is not a tag, so no policy admits one.

use std::cell::OnceCell;
use std::cmp::Ordering;
use std::fmt;

use regex_lite::{Regex, RegexBuilder};

pub(crate) use crate::glob::Glob;
pub(crate) use crate::semver::Version;
use crate::reference::check_tag;

/// The valid policy forms, listed in error messages.
pub(crate) const POLICY_FORMS: &str =
    "`glob:<pattern>`, `regexp:<pattern>`, `semver:major`, `semver:minor`, `semver:patch` or `exact:<tag>`";

/// Longest `regexp:` pattern.
const MAX_REGEX_LEN: usize = 1024;

/// Compiled-size limit of one regex. regex-lite 0.1's default is 10 MiB, too much
/// for a table of 100 routes in one Wasm instance.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Nesting limit of a `regexp:` pattern: regex-lite 0.1's default, set
/// explicitly because the anchored form gets one level more.
const REGEX_NEST_LIMIT: u32 = 50;

/// Compiled size that the anchored form may add to the pattern's limit. The
/// two anchors add 32 to 48 bytes of NFA states with regex-lite 0.1.9.
const ANCHORS_SIZE_MARGIN: usize = 1024;

/// Maximum number of characters of configured or pushed text quoted in a message.
const MAX_QUOTE_CHARS: usize = 48;

/// Returns text to quote in a message: at most [`MAX_QUOTE_CHARS`] characters,
/// with control characters escaped and `…` marking a cut.
pub(crate) fn excerpt(text: &str) -> String {
    let mut quoted = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_QUOTE_CHARS {
            quoted.push('…');
            break;
        }
        if c.is_control() {
            quoted.extend(c.escape_default());
        } else {
            quoted.push(c);
        }
    }
    quoted
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Any newer version.
    Major,
    /// A newer version with the same major number.
    Minor,
    /// A newer version with the same major and minor numbers.
    Patch,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Major => "major",
            Level::Minor => "minor",
            Level::Patch => "patch",
        }
    }

    /// Returns true when `new` stays within this level of `running`.
    fn admits_range(self, new: &Version, running: &Version) -> bool {
        match self {
            Level::Major => true,
            Level::Minor => new.major == running.major,
            Level::Patch => new.major == running.major && new.minor == running.minor,
        }
    }

    /// Describes the versions this level admits next to `running`, e.g. `1.x.y`.
    fn range(self, running: &Version) -> String {
        match self {
            Level::Major => "x.y.z".into(),
            Level::Minor => format!("{}.x.y", running.major),
            Level::Patch => format!("{}.{}.x", running.major, running.minor),
        }
    }
}

#[derive(Debug, Clone)]
enum Rule {
    Glob(Glob),
    /// `regex` is the anchored form, compiled on the first match.
    Regexp { pattern: String, regex: OnceCell<Result<Regex, String>> },
    Semver(Level),
    Exact(String),
}

/// A parsed tag policy.
#[derive(Debug, Clone)]
pub(crate) struct TagPolicy {
    rule: Rule,
    /// Whether a `semver:` policy admits pre-release tags.
    prerelease: bool,
}

/// The verdict on a tag, with a sentence that gives the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Deploy the tag.
    Deploy(String),
    /// Leave the application on the version it runs.
    Skip(String),
}

impl TagPolicy {
    /// Parses the policy text. `prerelease` lets a `semver:` policy admit
    /// pre-release tags; other policies ignore it.
    pub(crate) fn parse(text: &str, prerelease: bool) -> Result<TagPolicy, String> {
        let Some((kind, argument)) = text.split_once(':') else {
            return Err(format!("`{}` has no policy prefix; write one of {POLICY_FORMS}", excerpt(text)));
        };
        let rule = match kind {
            "glob" => Rule::Glob(Glob::tag(argument)?),
            "regexp" => compile_regexp(argument)?,
            "semver" => Rule::Semver(parse_level(argument)?),
            "exact" => {
                check_tag(argument).map_err(|reason| format!("has an `exact:` tag that {reason}"))?;
                Rule::Exact(argument.to_owned())
            }
            _ => {
                return Err(format!(
                    "has the unknown policy prefix `{}:`; write one of {POLICY_FORMS}",
                    excerpt(kind)
                ))
            }
        };
        Ok(TagPolicy { rule, prerelease })
    }

    /// Returns true for `semver:` policies, which compare a tag with the
    /// version the application runs.
    pub(crate) fn needs_running_version(&self) -> bool {
        matches!(self.rule, Rule::Semver(_))
    }

    /// Checks whether the policy admits a tag. The error follows the words
    /// "tag `…`", e.g. "is a pre-release; …".
    pub(crate) fn matches(&self, tag: &str) -> Result<(), String> {
        check_tag(tag)?;
        match &self.rule {
            Rule::Glob(glob) if glob.is_match(tag) => Ok(()),
            Rule::Glob(glob) => Err(format!("does not match glob `{}`", excerpt(glob.as_str()))),
            Rule::Regexp { pattern, regex } => match regex.get_or_init(|| compile_anchored(pattern)) {
                Ok(regex) if regex.is_match(tag) => Ok(()),
                Ok(_) => Err(format!("does not match regexp `{}`", excerpt(pattern))),
                // NOTE: unreachable while the margins of `compile_anchored`
                // hold. policy_tests.rs checks them at the limits.
                Err(reason) => Err(format!("cannot be checked, because the policy {reason}")),
            },
            Rule::Exact(exact) if exact == tag => Ok(()),
            Rule::Exact(exact) => Err(format!("is not the exact tag `{}`", excerpt(exact))),
            Rule::Semver(_) => self.check_semver(tag).map(|_| ()),
        }
    }

    fn check_semver(&self, tag: &str) -> Result<Version, String> {
        let version = Version::parse(tag).map_err(|detail| {
            format!("is not a semver version ({detail}); semver tags look like `1.2.3`, `v1.2.3` or `v1.2.3-rc.1`")
        })?;
        if version.is_prerelease() && !self.prerelease {
            return Err("is a pre-release; set \"prerelease\": true to admit it".into());
        }
        Ok(version)
    }

    /// Decides whether to deploy `new_tag` over the application's running
    /// tag. A tag the policy does not admit is skipped. Only `semver:`
    /// policies compare versions, and they deploy when `running` is `None`
    /// or not semver, because there is nothing to compare against.
    pub(crate) fn decide(&self, new_tag: &str, running: Option<&str>) -> Decision {
        let Rule::Semver(level) = self.rule else {
            return match self.matches(new_tag) {
                Ok(()) => Decision::Deploy(format!("tag `{}` matches `{self}`", excerpt(new_tag))),
                Err(reason) => Decision::Skip(format!("tag `{}` {reason}", excerpt(new_tag))),
            };
        };
        let new = match check_tag(new_tag).and_then(|()| self.check_semver(new_tag)) {
            Ok(new) => new,
            Err(reason) => return Decision::Skip(format!("tag `{}` {reason}", excerpt(new_tag))),
        };
        let Some(running_tag) = running else {
            return Decision::Deploy(format!(
                "`{}` is a semver version and the running version is unknown, so there is nothing to compare against",
                excerpt(new_tag)
            ));
        };
        let Ok(current) = Version::parse(running_tag) else {
            return Decision::Deploy(format!(
                "running tag `{}` is not a semver version, so there is nothing to compare against",
                excerpt(running_tag)
            ));
        };
        compare(level, new_tag, &new, running_tag, &current)
    }
}

/// Compares an admitted semver tag with the running one.
fn compare(level: Level, new_tag: &str, new: &Version, running_tag: &str, running: &Version) -> Decision {
    let new_tag = excerpt(new_tag);
    let running_tag = excerpt(running_tag);
    match new.cmp(running) {
        Ordering::Less => Decision::Skip(format!("`{new_tag}` is older than running `{running_tag}`")),
        Ordering::Equal => Decision::Skip(format!("`{new_tag}` is the same version as running `{running_tag}`")),
        Ordering::Greater if !level.admits_range(new, running) => Decision::Skip(format!(
            "`{new_tag}` is outside the allowed {0} range of running `{running_tag}`, because `semver:{0}` admits only `{1}`",
            level.as_str(),
            level.range(running)
        )),
        Ordering::Greater => Decision::Deploy(format!(
            "`{new_tag}` is newer than running `{running_tag}` and within `semver:{}`",
            level.as_str()
        )),
    }
}

fn compile_regexp(pattern: &str) -> Result<Rule, String> {
    if pattern.is_empty() {
        return Err(format!("has an empty regexp; write one of {POLICY_FORMS}"));
    }
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("has a regexp of {} bytes, over the {MAX_REGEX_LEN}-byte limit", pattern.len()));
    }
    // The pattern must compile on its own, because a pattern such as `a)|(b`
    // is invalid alone but valid, and no longer anchored, once wrapped. The
    // anchored form waits for the first match, because a push reaches few
    // routes. Compiling it here as well would double this cost (callgrind
    // counts 23,000 and 28,000 instructions for the two compiles of a pattern
    // in benches/routes.json), and compiling only the anchored form would
    // need another check for `a)|(b`.
    build_regex(pattern, REGEX_SIZE_LIMIT, REGEX_NEST_LIMIT)?;
    // NOTE: a pattern that compiles alone compiles anchored too, given the
    // margins in `compile_anchored`, unless an `x`-mode `#` comment swallows
    // the closing `)$`. So a pattern with a `#` is compiled anchored now.
    // This rests on the grammar of regex-lite 0.1.9, and policy_tests.rs
    // checks the limits and the `#` case.
    let regex = if pattern.contains('#') {
        OnceCell::from(Ok(compile_anchored(pattern)?))
    } else {
        OnceCell::new()
    };
    Ok(Rule::Regexp { pattern: pattern.to_owned(), regex })
}

/// Compiles `^(?:pattern)$`, allowing for the group and the anchors that
/// the wrapper adds to the limits of the pattern alone.
fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    let anchored = format!("^(?:{pattern})$");
    build_regex(&anchored, REGEX_SIZE_LIMIT + ANCHORS_SIZE_MARGIN, REGEX_NEST_LIMIT + 1)
}

fn build_regex(pattern: &str, size_limit: usize, nest_limit: u32) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(size_limit)
        .nest_limit(nest_limit)
        .build()
        .map_err(|error| format!("has an invalid regexp: {error}"))
}

fn parse_level(text: &str) -> Result<Level, String> {
    match text {
        "major" => Ok(Level::Major),
        "minor" => Ok(Level::Minor),
        "patch" => Ok(Level::Patch),
        _ => Err(format!(
            "has the unknown semver level `{}`; write `semver:major`, `semver:minor` or `semver:patch`",
            excerpt(text)
        )),
    }
}

impl fmt::Display for TagPolicy {
    /// Writes the canonical policy text, e.g. `semver:minor`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::Glob(glob) => write!(f, "glob:{glob}"),
            Rule::Regexp { pattern, .. } => write!(f, "regexp:{pattern}"),
            Rule::Semver(level) => write!(f, "semver:{}", level.as_str()),
            Rule::Exact(tag) => write!(f, "exact:{tag}"),
        }
    }
}

/// Returns the tag of an SAE `ImageUrl` such as
/// `registry-vpc.cn-hangzhou.aliyuncs.com/prod/gateway:v1.2.3` when its path
/// after the registry host is exactly `repository`. Returns `None` for a
/// digest-pinned image, another repository, an image without a registry host
/// or without a tag, and an invalid tag.
pub(crate) fn running_tag<'a>(image_url: &'a str, repository: &str) -> Option<&'a str> {
    if image_url.contains('@') {
        return None;
    }
    // The first component is a registry host when it has a `.` or a `:port`,
    // or is `localhost`, as in the Distribution reference grammar.
    let (host, rest) = image_url.split_once('/')?;
    if !(host.contains(['.', ':']) || host == "localhost") {
        return None;
    }
    let (path, tag) = rest.rsplit_once(':')?;
    if path != repository || check_tag(tag).is_err() {
        return None;
    }
    Some(tag)
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
