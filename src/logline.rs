//! One `key=value` log line per handled request.
//!
//! Only fields added here reach the log, and callers add only ids, names
//! and outcomes: never a token, AccessKey, signature, query string or body.

/// Longest value written; longer values are cut so a log line stays short.
const MAX_VALUE_CHARS: usize = 200;

/// A log line being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogLine {
    fields: Vec<(&'static str, String)>,
}

impl LogLine {
    /// Starts a line for an event, e.g. `deploy`.
    pub(crate) fn new(event: &str) -> Self {
        let mut line = LogLine::default();
        line.set("event", event);
        line
    }

    /// Sets a field, replacing an earlier value of the same key.
    pub(crate) fn set(&mut self, key: &'static str, value: impl ToString) {
        let value = value.to_string();
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    /// Sets a field when the value is present.
    pub(crate) fn set_opt(&mut self, key: &'static str, value: Option<impl ToString>) {
        if let Some(value) = value {
            self.set(key, value);
        }
    }

    /// Replaces secrets in every value. Call it before [`LogLine::render`],
    /// which cuts long values, so a cut cannot leave part of a secret.
    pub(crate) fn scrub(&mut self, secrets: &[&str]) {
        for (_, value) in &mut self.fields {
            *value = crate::answer::scrub_text(value, secrets);
        }
    }

    /// Returns a field's value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Renders the line: `key=value` pairs separated by spaces, values quoted
    /// when they contain spaces, quotes, `=` or are empty.
    pub(crate) fn render(&self) -> String {
        self.fields
            .iter()
            .map(|(key, value)| format!("{key}={}", quote(value)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Quotes a value when needed, escaping `"` and `\`, dropping control
/// characters and cutting it to [`MAX_VALUE_CHARS`].
fn quote(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_VALUE_CHARS)
        .collect();
    let plain = !clean.is_empty()
        && clean
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && c != '\\');
    if plain {
        return clean;
    }
    let escaped = clean.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_order() {
        let mut line = LogLine::new("deploy");
        line.set("app_id", "abc");
        line.set("status", 200);
        line.set_opt("sae_code", None::<&str>);
        line.set("status", 502);
        assert_eq!(line.render(), "event=deploy app_id=abc status=502");
        assert_eq!(line.get("status"), Some("502"));
    }

    #[test]
    fn quoting_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("", "\"\""),
            ("two words", "\"two words\""),
            ("a=b", "\"a=b\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
            ("line\nbreak", "linebreak"),
            ("back\\slash", "\"back\\\\slash\""),
            ("镜像", "镜像"),
        ];
        for (value, expected) in cases {
            assert_eq!(quote(value), *expected, "value {value:?}");
        }
    }

    #[test]
    fn scrub_runs_before_cut() {
        let secret = "S".repeat(300);
        let mut line = LogLine::new("x");
        line.set("reason", format!("{}{secret}", "a".repeat(150)));
        line.scrub(&[&secret]);
        let rendered = line.render();
        assert!(!rendered.contains("SSSSSSSS"), "{rendered}");
        assert!(rendered.contains("[REDACTED]"), "{rendered}");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(500);
        assert_eq!(quote(&long).len(), MAX_VALUE_CHARS);
    }
}
