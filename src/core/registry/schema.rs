//! JSON Schema (Draft 2020-12) validation of a bundle's metadata, feature schema and metrics.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use jsonschema::Validator;
use serde_json::Value;

use crate::core::error::{Error, Result};
pub use crate::core::registry::documents::DocumentKind;

/// The three compiled schemas a scan validates against.
pub struct BundleSchemas {
    metadata: Validator,
    feature_schema: Validator,
    metrics: Validator,
    fingerprint: u64,
}

impl std::fmt::Debug for BundleSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleSchemas")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl BundleSchemas {
    /// Compiles the three schemas from their JSON text.
    pub fn compile(metadata: &str, feature_schema: &str, metrics: &str) -> Result<Self> {
        Ok(Self {
            metadata: compile_one("metadata", metadata)?,
            feature_schema: compile_one("feature_schema", feature_schema)?,
            metrics: compile_one("metrics", metrics)?,
            fingerprint: Self::fingerprint_of(metadata, feature_schema, metrics),
        })
    }

    /// Identifies the schema texts, so a rescan only reuses results checked by the same schemas.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The fingerprint that [`Self::compile`] gives these schema texts, without compiling them.
    pub fn fingerprint_of(metadata: &str, feature_schema: &str, metrics: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        (metadata, feature_schema, metrics).hash(&mut hasher);
        hasher.finish()
    }

    /// Every violation of `kind`'s schema in `document`, each as `"/json/pointer: message"`.
    pub fn violations(&self, kind: DocumentKind, document: &Value) -> Vec<String> {
        let validator = match kind {
            DocumentKind::Metadata => &self.metadata,
            DocumentKind::FeatureSchema => &self.feature_schema,
            DocumentKind::Metrics => &self.metrics,
        };
        validator
            .iter_errors(document)
            .map(|error| {
                let pointer = error.instance_path().to_string();
                let pointer = if pointer.is_empty() {
                    "/".to_owned()
                } else {
                    pointer
                };
                format!("{pointer}: {error}")
            })
            .collect()
    }
}

fn compile_one(name: &str, text: &str) -> Result<Validator> {
    let invalid = |reason: String| {
        Error::InvalidArgument(format!("the {name} JSON Schema is not usable: {reason}"))
    };
    let schema: Value =
        serde_json::from_str(text).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
    jsonschema::draft202012::new(&schema).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT: &str = r#"{"type": "object"}"#;

    #[test]
    fn violations_name_the_json_pointer() {
        let metadata =
            r#"{"type": "object", "properties": {"sequence_length": {"type": "integer"}}}"#;
        let schemas = BundleSchemas::compile(metadata, OBJECT, OBJECT).unwrap();
        let found = schemas.violations(
            DocumentKind::Metadata,
            &serde_json::json!({"sequence_length": "120"}),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("/sequence_length: "), "{found:?}");
        assert!(schemas
            .violations(
                DocumentKind::Metadata,
                &serde_json::json!({"sequence_length": 120})
            )
            .is_empty());
    }

    #[test]
    fn a_broken_schema_is_a_clear_error() {
        let error = BundleSchemas::compile("{", OBJECT, OBJECT).unwrap_err();
        assert!(
            error.to_string().contains("metadata JSON Schema"),
            "{error}"
        );
    }
}
