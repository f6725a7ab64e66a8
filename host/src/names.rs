//! Validation of the identifiers a Spin manifest contains.
//!
//! The rules follow Spin 3's `spin-expressions` `Key::validate` (variable
//! names) and `spin-serde` `KebabId` (component ids).

/// Checks a variable name: lower-case ASCII letters, digits and single
/// underscores, starting with a letter and ending with a letter or digit.
///
/// Returns the reason when the name is invalid.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    let Some(first) = name.chars().next() else {
        return Err("a variable name must not be empty".to_string());
    };
    if let Some(invalid) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Err(format!(
            "invalid character {invalid:?}: variable names may contain only lower-case letters, digits and underscores"
        ));
    }
    if !first.is_ascii_lowercase() {
        return Err("a variable name must start with a lower-case ASCII letter".to_string());
    }
    if name.ends_with('_') {
        return Err("a variable name must end with a lower-case ASCII letter or digit".to_string());
    }
    if name.contains("__") {
        return Err("a variable name must not contain two underscores in a row".to_string());
    }
    Ok(())
}

/// Checks a component id: words of ASCII letters and digits separated by
/// single hyphens, each word all lower-case or all upper-case, and the first
/// word starting with a letter.
///
/// Returns the reason when the id is invalid.
pub fn validate_component_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("a component id must not be empty".to_string());
    }
    if id.contains('_') {
        return Err("words in a component id must be separated with '-', not '_'".to_string());
    }
    for (index, word) in id.split('-').enumerate() {
        let Some(first) = word.chars().next() else {
            return Err("a component id must not contain an empty word (check for '--' or a leading or trailing '-')".to_string());
        };
        if !(first.is_ascii_alphabetic() || (index > 0 && first.is_ascii_digit())) {
            return Err(format!(
                "each word in a component id must start with an ASCII letter (or a digit after the first word); got {first:?}"
            ));
        }
        if let Some(invalid) = word.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "a component id may contain only ASCII letters, digits and '-'; got {invalid:?}"
            ));
        }
        let has_lower = word.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = word.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            return Err(format!(
                "each word in a component id must be all lower-case or all upper-case; got {word:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_table() {
        let cases = [
            ("a", true),
            ("webhook_token", true),
            ("a1b2", true),
            ("a_1_b", true),
            ("", false),
            ("Token", false),
            ("token-x", false),
            ("1token", false),
            ("_token", false),
            ("token_", false),
            ("a__b", false),
            ("x.y", false),
        ];
        for (name, valid) in cases {
            assert_eq!(validate_variable_name(name).is_ok(), valid, "name {name:?}");
        }
    }

    #[test]
    fn component_ids_table() {
        let cases = [
            ("sae-deploy-trigger", true),
            ("a", true),
            ("web-2", true),
            ("HTTP-handler", true),
            ("", false),
            ("sae_trigger", false),
            ("-a", false),
            ("a--b", false),
            ("2web", false),
            ("MixedCase", false),
            ("a.b", false),
        ];
        for (id, valid) in cases {
            assert_eq!(validate_component_id(id).is_ok(), valid, "id {id:?}");
        }
    }
}
