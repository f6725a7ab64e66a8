//! Spin's `{{ name }}` templates, used in component variables and in
//! `allowed_outbound_hosts`.

use std::fmt;

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Text copied as it is.
    Literal(String),
    /// The name inside `{{ ... }}`, with surrounding spaces trimmed.
    Variable(String),
}

/// A string with `{{ name }}` references to application variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The reason a template could not be parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses `text`, splitting it at each `{{` and the next `}}` as Spin does.
    ///
    /// A `{{` without a closing `}}` is an error. A lone `}}` is literal text.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after_open) = rest.strip_prefix("{{") {
                let Some((expression, after_close)) = after_open.split_once("}}") else {
                    return Err(TemplateError(format!(
                        "unmatched '{{{{' in {text:?}; close it with '}}}}'"
                    )));
                };
                parts.push(Part::Variable(expression.trim().to_string()));
                rest = after_close;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Literal(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Self { parts })
    }

    /// Returns the parts in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Returns true when the template contains no `{{ ... }}` reference.
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|part| matches!(part, Part::Literal(_)))
    }

    /// Returns the referenced variable names in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template, taking each variable's value from `lookup`.
    ///
    /// Returns the first variable name that `lookup` has no value for.
    pub fn render<'a>(
        &self,
        mut lookup: impl FnMut(&str) -> Option<&'a str>,
    ) -> Result<String, String> {
        let mut rendered = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => rendered.push_str(text),
                Part::Variable(name) => match lookup(name) {
                    Some(value) => rendered.push_str(value),
                    None => return Err(name.clone()),
                },
            }
        }
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(text: &str) -> Part {
        Part::Literal(text.to_string())
    }

    fn var(name: &str) -> Part {
        Part::Variable(name.to_string())
    }

    #[test]
    fn template_parts_table() {
        let cases: Vec<(&str, Vec<Part>)> = vec![
            ("", vec![]),
            ("plain", vec![lit("plain")]),
            ("{{ token }}", vec![var("token")]),
            ("{{token}}", vec![var("token")]),
            (
                "https://{{ host }}:8443",
                vec![lit("https://"), var("host"), lit(":8443")],
            ),
            ("{{ a }}{{ b }}", vec![var("a"), var("b")]),
            ("x }} y", vec![lit("x }} y")]),
        ];
        for (text, expected) in cases {
            let template = Template::parse(text).unwrap();
            assert_eq!(template.parts(), expected.as_slice(), "template {text:?}");
        }
    }

    #[test]
    fn template_unmatched_braces_rejected() {
        assert!(Template::parse("{{ open").is_err());
        assert!(Template::parse("a {{ b }} {{ c").is_err());
    }

    #[test]
    fn template_render_mixed_text() {
        let template = Template::parse("pre-{{ a }}-mid-{{ b }}").unwrap();
        let rendered = template.render(|name| match name {
            "a" => Some("1"),
            "b" => Some("2"),
            _ => None,
        });
        assert_eq!(rendered.unwrap(), "pre-1-mid-2");
    }

    #[test]
    fn template_render_reports_missing() {
        let template = Template::parse("{{ a }}").unwrap();
        assert_eq!(template.render(|_| None), Err("a".to_string()));
    }
}
