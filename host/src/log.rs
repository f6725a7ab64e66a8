//! One-line `key=value` (logfmt) events on stderr.
//!
//! Every line starts with `event=<name>` so that tests and operators can
//! search for it. Callers must never pass variable values, query strings or
//! bodies as fields.

use std::io::Write;

/// Writes one event line to stderr.
pub fn event(name: &str, fields: &[(&str, &str)]) {
    let line = format_event(name, fields);
    let mut stderr = std::io::stderr().lock();
    // A failed write to stderr has nowhere else to be reported.
    let _ = writeln!(stderr, "{line}");
}

/// Formats an event line without the trailing newline.
pub fn format_event(name: &str, fields: &[(&str, &str)]) -> String {
    let mut line = format!("event={}", quote(name));
    for (key, value) in fields {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        line.push_str(&quote(value));
    }
    line
}

/// Quotes a value when it is empty or contains a space, `=`, `"`, `\` or a
/// control character. Otherwise returns it unchanged.
fn quote(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if needs_quotes {
        format!("{value:?}")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_plain_fields() {
        let line = format_event("listening", &[("address", "127.0.0.1:3000")]);
        assert_eq!(line, "event=listening address=127.0.0.1:3000");
    }

    #[test]
    fn event_quotes_spaces_and_empty() {
        let line = format_event(
            "guest_error",
            &[("error", "trap: unreachable"), ("path", "")],
        );
        assert_eq!(
            line,
            r#"event=guest_error error="trap: unreachable" path="""#
        );
    }

    #[test]
    fn event_escapes_newlines() {
        let line = format_event("x", &[("error", "a\nb")]);
        assert_eq!(line, r#"event=x error="a\nb""#);
    }
}
