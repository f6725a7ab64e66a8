//! Glob patterns for route repositories and tags: `*` is any run of
//! characters, `?` is one character, and in repository globs `*` and `?` stay
//! within one path component while `**` also crosses `/`.

use std::fmt;

use crate::policy::{excerpt, POLICY_FORMS};
use crate::reference::{MAX_REPOSITORY_LEN, MAX_TAG_LEN};

/// Longest `glob:` pattern: a whole tag plus room for wildcards.
pub(crate) const MAX_TAG_GLOB_LEN: usize = 2 * MAX_TAG_LEN;

/// A glob pattern, compiled for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character.
    One { crosses_slash: bool },
    /// `*` or `**`: any run of characters, possibly empty.
    Any { crosses_slash: bool },
}

impl Glob {
    /// Compiles a tag glob, in which `*` and `?` match any character.
    pub(crate) fn tag(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err(format!("has an empty glob pattern; write one of {POLICY_FORMS}"));
        }
        if pattern.len() > MAX_TAG_GLOB_LEN {
            return Err(format!("has a glob of {} bytes, over the {MAX_TAG_GLOB_LEN}-byte limit", pattern.len()));
        }
        let tag_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '*' | '?');
        if !pattern.chars().all(tag_char) {
            return Err("has a glob that can never match a tag; use only letters, digits, `_`, `.`, `-`, `*` and `?`".into());
        }
        Ok(Glob::compile(pattern, false))
    }

    /// Compiles a repository glob on `namespace/name`: `*` matches within one
    /// path component, `**` matches across `/`, and `?` is one character other than `/`.
    pub(crate) fn repository(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("is empty; write a glob on `namespace/name` such as `prod/*`".into());
        }
        if pattern.len() > MAX_REPOSITORY_LEN {
            return Err(format!("is {} bytes, over the {MAX_REPOSITORY_LEN}-byte limit", pattern.len()));
        }
        if pattern.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("must be lower case, as ACR repository names are".into());
        }
        let path_byte = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/*?".contains(&b);
        if !pattern.bytes().all(path_byte) {
            return Err("may contain only lower-case letters, digits, `.`, `_`, `-`, `/`, `*` and `?`".into());
        }
        if pattern.starts_with('/') || pattern.ends_with('/') || pattern.contains("//") {
            return Err("has an empty path component; write `namespace/name` such as `prod/*`".into());
        }
        if !pattern.contains('/') && !pattern.contains("**") {
            let hint = format!("write e.g. `prod/*`, `*/{}` or `**`", excerpt(pattern));
            return Err(format!("has no `/`, so it can never match `namespace/name`; {hint}"));
        }
        Ok(Glob::compile(pattern, true))
    }

    fn compile(pattern: &str, path: bool) -> Glob {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let token = match c {
                '?' => Token::One { crosses_slash: !path },
                '*' => {
                    let mut double = false;
                    while chars.next_if_eq(&'*').is_some() {
                        double = true;
                    }
                    Token::Any { crosses_slash: !path || double }
                }
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Glob { text: pattern.to_owned(), tokens }
    }

    /// Returns true when the pattern matches the whole text.
    ///
    /// The pattern runs as an NFA, one state per token, so the time is
    /// O(text × pattern) with no backtracking.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        // A text that differs from the literal prefix fails here, before the
        // state sets are allocated.
        let mut chars = text.chars();
        for token in &self.tokens {
            let Token::Literal(expected) = *token else { break };
            if chars.next() != Some(expected) {
                return false;
            }
        }

        let mut states = vec![false; self.tokens.len() + 1];
        // The two state sets swap after each character, so matching
        // allocates only twice.
        let mut next = states.clone();
        mark(&mut states, 0);
        self.skip_empty_runs(&mut states);
        for c in text.chars() {
            next.fill(false);
            for (i, (token, live)) in self.tokens.iter().zip(&states).enumerate() {
                if !live {
                    continue;
                }
                match *token {
                    Token::Literal(l) if l == c => mark(&mut next, i + 1),
                    Token::One { crosses_slash } if crosses_slash || c != '/' => mark(&mut next, i + 1),
                    Token::Any { crosses_slash } if crosses_slash || c != '/' => mark(&mut next, i),
                    _ => {}
                }
            }
            self.skip_empty_runs(&mut next);
            if !next.contains(&true) {
                return false;
            }
            std::mem::swap(&mut states, &mut next);
        }
        states.last().copied().unwrap_or(false)
    }

    /// Marks the state after each `*` live when the state before it is,
    /// because a `*` may match nothing.
    fn skip_empty_runs(&self, states: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if matches!(token, Token::Any { .. }) && states.get(i) == Some(&true) {
                mark(states, i + 1);
            }
        }
    }

    /// Returns the pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }
}

fn mark(states: &mut [bool], index: usize) {
    if let Some(state) = states.get_mut(index) {
        *state = true;
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
