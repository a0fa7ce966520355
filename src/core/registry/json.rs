//! Reading the JSON files of a bundle: size- and depth-limited, and lenient about the
//! non-finite numbers (`NaN`, `Infinity`) that Python's `json` module writes and reads.

use std::path::Path;

use serde_json::Value;

use crate::core::error::{Error, Result};
use crate::core::registry::files::read_capped;

/// Larger JSON files are refused: a bundle's metadata is a few kilobytes.
pub const MAX_JSON_BYTES: u64 = 8 * 1024 * 1024;

/// How the bare tokens `NaN`, `Infinity` and `-Infinity` (which Python's `json` writes) are read,
/// since `serde_json` has no value for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFinite {
    /// As `null`: for code that reads numbers and treats a present `null` as non-finite.
    Null,
    /// As the largest finite numbers (and `NaN` as 0), so that schema validation sees numbers
    /// where the file has numbers.
    Extreme,
    /// As strings holding [`NON_FINITE_TAG`] and the token, so that a reader can tell `NaN`,
    /// `Infinity` and `-Infinity` apart ([`tagged_non_finite`]) while everything else is exact.
    Tagged,
}

/// Starts the strings that [`NonFinite::Tagged`] puts in place of non-finite tokens. A file can
/// only spell a leading NUL as the escape `\u0000`, so no real document does so by accident.
pub const NON_FINITE_TAG: &str = "\0non-finite:";

/// The number a [`NonFinite::Tagged`] string stands for, or `None` for any other value.
pub fn tagged_non_finite(value: &Value) -> Option<f64> {
    match value.as_str()?.strip_prefix(NON_FINITE_TAG)? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// A parsed JSON document together with its original text.
///
/// The text is kept because the Python side parses it again lazily with `json.loads`, which keeps
/// `Infinity` and `NaN` as floats.
#[derive(Debug, Clone)]
pub struct JsonDocument {
    /// The file's text, as written.
    pub text: String,
    /// The parsed value, read with [`NonFinite::Extreme`].
    pub value: Value,
}

/// Reads and parses `path`, which must hold a JSON object, through [`read_capped`]: a regular
/// file of at most [`MAX_JSON_BYTES`], inside `root_real` (the canonical registry root).
pub fn read_object(path: &Path, root_real: &Path) -> Result<JsonDocument> {
    let invalid = |reason: String| Error::InvalidDocument {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = read_capped(path, root_real, MAX_JSON_BYTES).map_err(|error| error.at(path))?;
    let text = String::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 text: {e}")))?;
    let value = parse_lenient(&text, NonFinite::Extreme)
        .map_err(|e| invalid(format!("malformed JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid(format!(
            "expected a JSON object at the top level, found {}",
            type_name(&value)
        )));
    }
    Ok(JsonDocument { text, value })
}

/// Parses JSON, reading the bare tokens `NaN`, `Infinity` and `-Infinity` as `non_finite` says.
///
/// `serde_json`'s recursion limit (128 levels) turns absurdly deep documents into an error
/// rather than a stack overflow.
pub fn parse_lenient(text: &str, non_finite: NonFinite) -> serde_json::Result<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(strict_error) => match replace_non_finite(text, non_finite) {
            Some(patched) => serde_json::from_str(&patched),
            None => Err(strict_error),
        },
    }
}

/// Rewrites non-finite number tokens outside strings; `None` when there are none.
///
/// A token is rewritten only where Python's `json` accepts it: as a whole value, after the start
/// of the text, `:`, `[` or `,`, and followed by whitespace, `,`, `]`, `}` or the end. Anything
/// else (`4NaN`, `-NaN`, `NaN.5`, `Infinity1`) is left for `serde_json` to reject, so the scan
/// never accepts a file that Python's `json.loads` refuses.
fn replace_non_finite(text: &str, non_finite: NonFinite) -> Option<String> {
    const TOKENS: [&str; 3] = ["-Infinity", "Infinity", "NaN"];
    let replacement = |token: &str| match (non_finite, token) {
        (NonFinite::Null, _) => "null",
        (NonFinite::Extreme, "-Infinity") => "-1.7976931348623157e308",
        (NonFinite::Extreme, "Infinity") => "1.7976931348623157e308",
        (NonFinite::Extreme, _) => "0",
        (NonFinite::Tagged, "-Infinity") => "\"\\u0000non-finite:-Infinity\"",
        (NonFinite::Tagged, "Infinity") => "\"\\u0000non-finite:Infinity\"",
        (NonFinite::Tagged, _) => "\"\\u0000non-finite:NaN\"",
    };
    let is_json_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    // alloc: the length of a text already read, within the JSON size cap.
    let mut out = String::with_capacity(text.len());
    let mut replaced = false;
    let mut in_string = false;
    let mut escaped = false;
    // The last character outside whitespace and strings (`"` for a string just closed).
    let mut previous: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            previous = Some('"');
        } else if let Some(token) = TOKENS.iter().find(|t| rest.starts_with(**t)) {
            let starts_value = matches!(previous, None | Some(':' | '[' | ','));
            let ends_value = rest[token.len()..].chars().next().map_or(true, |next| {
                is_json_space(next) || matches!(next, ',' | ']' | '}')
            });
            if starts_value && ends_value {
                out.push_str(replacement(token));
                rest = &rest[token.len()..];
                replaced = true;
                previous = Some('0');
                continue;
            }
            previous = Some(c);
        } else if !is_json_space(c) {
            previous = Some(c);
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    replaced.then_some(out)
}

/// The JSON type of a value, as JSON Schema names it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_read_outside_strings_only() {
        let text = r#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN Infinity"}"#;
        let value = parse_lenient(text, NonFinite::Null).unwrap();
        assert_eq!(value["a"], Value::Null);
        assert_eq!(value["b"], Value::Null);
        assert_eq!(value["c"], Value::Null);
        assert_eq!(value["d"], "NaN Infinity");
        let value = parse_lenient(text, NonFinite::Extreme).unwrap();
        assert_eq!(value["a"].as_f64(), Some(f64::MAX));
        assert_eq!(value["b"].as_f64(), Some(f64::MIN));
        assert_eq!(value["c"].as_f64(), Some(0.0));
        assert_eq!(value["d"], "NaN Infinity");
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(parse_lenient("{\"a\": ", NonFinite::Null).is_err());
        assert!(parse_lenient("{\"a\": Infinit}", NonFinite::Null).is_err());
    }

    #[test]
    fn non_finite_tokens_are_accepted_only_where_python_accepts_them() {
        for text in [
            "[4NaN]",
            "[-NaN]",
            "[NaN.5]",
            "[NaN5]",
            "[Infinity1]",
            "[--Infinity]",
            "[1 NaN]",
            "{\"a\" NaN}",
            "[\"x\"NaN]",
            "[NaNa]",
            "[-Infinityx]",
            "{\"a\": 1NaN}",
        ] {
            assert!(parse_lenient(text, NonFinite::Null).is_err(), "{text}");
            assert!(parse_lenient(text, NonFinite::Extreme).is_err(), "{text}");
        }
        for text in [
            "NaN",
            "[NaN]",
            "[ -Infinity ,Infinity\n]",
            "{\"a\":NaN}",
            "{\"a\": [1, NaN], \"b\":\tInfinity}",
        ] {
            assert!(parse_lenient(text, NonFinite::Null).is_ok(), "{text}");
        }
    }

    #[test]
    fn absurdly_deep_json_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_lenient(&deep, NonFinite::Null).is_err());
    }
}
