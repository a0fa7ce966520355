//! Which input columns a bundle reads, by name: `metadata.json`'s `feature_names`, and where each
//! is among a caller's named columns (a DataFrame's, or a series file's header). `predict`, the
//! spec and the sweep all come here, so a DataFrame is read the same way everywhere.

use serde_json::Value;

use crate::core::error::{Error, Result};

/// `metadata.json`'s `feature_names`: the input's columns in order, when it names them (the
/// strings of a non-empty list; entries that are not strings are skipped).
pub fn feature_names(metadata: &Value) -> Option<Vec<&str>> {
    metadata
        .get("feature_names")
        .and_then(Value::as_array)
        .filter(|names| !names.is_empty())
        .map(|names| names.iter().filter_map(Value::as_str).collect())
}

/// Where each of `feature_names` is among `columns` (its first column of that name; `None` is a
/// column whose label is not a string), so that columns in another order, or extra ones, are
/// never fed to the model silently. Fails naming every feature `what` lacks.
pub fn feature_positions(
    what: &str,
    columns: &[Option<String>],
    feature_names: &[String],
) -> Result<Vec<usize>> {
    // alloc: one per feature name, already read from the size-capped metadata.json.
    let mut positions = Vec::with_capacity(feature_names.len());
    let mut missing = Vec::new();
    for name in feature_names {
        match columns.iter().position(|c| c.as_deref() == Some(name)) {
            Some(position) => positions.push(position),
            None => missing.push(format!("{name:?}")),
        }
    }
    if !missing.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{what} lacks the feature column(s) {} that metadata.json's feature_names lists \
             ({})",
            missing.join(", "),
            feature_names
                .iter()
                .map(|name| format!("{name:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn feature_names_are_the_strings_of_a_non_empty_list() {
        assert_eq!(
            feature_names(&json!({"feature_names": ["a", 3, "b"]})),
            Some(vec!["a", "b"])
        );
        assert_eq!(feature_names(&json!({"feature_names": []})), None);
        assert_eq!(feature_names(&json!({"feature_names": "a"})), None);
        assert_eq!(feature_names(&Value::Null), None);
    }

    #[test]
    fn positions_follow_the_feature_order_and_missing_ones_are_all_named() {
        let columns = [Some("b".into()), None, Some("a".into()), Some("a".into())];
        let names = ["a".to_owned(), "b".to_owned()];
        assert_eq!(feature_positions("x", &columns, &names).unwrap(), [2, 0]);
        let names = ["a".into(), "c".into(), "d".into()];
        let error = feature_positions("the DataFrame", &columns, &names).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("the DataFrame lacks the feature column(s) \"c\", \"d\""),
            "{text}"
        );
    }
}
