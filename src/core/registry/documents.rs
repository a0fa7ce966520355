//! The JSON documents a bundle may hold, in one table: each kind's name and file. The scan, the
//! schemas, the Python views and the CLI look kinds up here rather than naming files themselves.
//!
//! Adding a kind takes a row here and a variant of [`DocumentKind`] (with its place in
//! [`DocumentKind::ALL`]), and then, where each kind has a slot of its own: a field of the scan
//! record with its arm in `BundleRecord::document` and its slot in the scan's `load_version`
//! (`src/core/registry/scan/`), a compiled schema in `BundleSchemas` (`schema.rs`) with its schema file, and
//! a property on the Python views (`src/py/bundle.rs`, `src/py/registry.rs`, `_core.pyi`).

use std::borrow::Cow;

use serde_json::Value;

use crate::core::registry::json::{parse_lenient, JsonDocument, NonFinite};

/// Which of a bundle's files a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// `metadata.json`.
    Metadata,
    /// `feature_schema.json`.
    FeatureSchema,
    /// `metrics.json`.
    Metrics,
}

/// One row of the document table.
#[derive(Debug, Clone, Copy)]
pub struct DocumentInfo {
    /// The kind this row describes.
    pub kind: DocumentKind,
    /// The name used in configuration and Python (`"metadata"`), also the schema's file stem.
    pub name: &'static str,
    /// The file name inside a bundle.
    pub file_name: &'static str,
}

/// Every document kind, in the order records, schemas and listings use.
pub const DOCUMENTS: [DocumentInfo; 3] = [
    DocumentInfo {
        kind: DocumentKind::Metadata,
        name: "metadata",
        file_name: "metadata.json",
    },
    DocumentInfo {
        kind: DocumentKind::FeatureSchema,
        name: "feature_schema",
        file_name: "feature_schema.json",
    },
    DocumentInfo {
        kind: DocumentKind::Metrics,
        name: "metrics",
        file_name: "metrics.json",
    },
];

impl DocumentKind {
    /// Every kind, in table order.
    pub const ALL: [DocumentKind; DOCUMENTS.len()] =
        [DOCUMENTS[0].kind, DOCUMENTS[1].kind, DOCUMENTS[2].kind];

    /// This kind's row of [`DOCUMENTS`].
    pub fn info(self) -> &'static DocumentInfo {
        &DOCUMENTS[self as usize]
    }

    /// The file name inside a bundle.
    pub fn file_name(self) -> &'static str {
        self.info().file_name
    }

    /// The name used in configuration and Python.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The kind called `name` in configuration, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        DOCUMENTS
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.kind)
    }
}

/// The document's value with `NaN`, `Infinity` and `-Infinity` kept apart as tagged strings
/// ([`crate::core::registry::json::tagged_non_finite`]); every other value is the scan's own parse.
///
/// The scan's value reads non-finite tokens as extreme numbers for schema validation. Readers of
/// the content (the prediction spec, the Python views) need them as they are, so such a document
/// (rare: a degenerate metric) is read once more, by the same parser; any other is borrowed.
pub fn faithful_value(document: &JsonDocument) -> Cow<'_, Value> {
    let text = &document.text;
    if !(text.contains("NaN") || text.contains("Infinity")) {
        return Cow::Borrowed(&document.value);
    }
    match parse_lenient(text, NonFinite::Tagged) {
        Ok(value) => Cow::Owned(value),
        // The scan accepted the text, so this only happens when a token was glued to a number
        // (`4NaN`); the scan's own value is then the best reading there is.
        Err(_) => Cow::Borrowed(&document.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::json::tagged_non_finite;

    #[test]
    fn the_table_is_indexed_by_kind() {
        for (index, row) in DOCUMENTS.iter().enumerate() {
            assert_eq!(row.kind as usize, index);
            assert_eq!(DocumentKind::from_name(row.name), Some(row.kind));
            assert_eq!(row.kind.file_name(), format!("{}.json", row.name));
        }
        assert_eq!(DocumentKind::from_name("manifest_typo"), None);
    }

    #[test]
    fn non_finite_numbers_are_kept_apart() {
        let text = r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1.5, "e": "NaN"}"#;
        let document = JsonDocument {
            text: text.to_owned(),
            value: parse_lenient(text, NonFinite::Extreme).unwrap(),
        };
        let value = faithful_value(&document);
        assert!(tagged_non_finite(&value["a"]).unwrap().is_nan());
        assert_eq!(tagged_non_finite(&value["b"]), Some(f64::INFINITY));
        assert_eq!(tagged_non_finite(&value["c"]), Some(f64::NEG_INFINITY));
        assert_eq!(value["d"].as_f64(), Some(1.5));
        assert_eq!(value["e"], "NaN");
        assert_eq!(tagged_non_finite(&value["e"]), None);

        let plain = JsonDocument {
            text: "{\"a\": 1}".to_owned(),
            value: serde_json::json!({"a": 1}),
        };
        assert!(matches!(faithful_value(&plain), Cow::Borrowed(_)));
    }
}
