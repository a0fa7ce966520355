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

/// How many features `metadata.json` declares: its [`feature_names`], when it names them.
pub fn metadata_feature_count(metadata: &Value) -> Option<usize> {
    feature_names(metadata).map(|names| names.len())
}

/// How many features `feature_schema.json` declares: the entries of its `features`, when that is
/// a non-empty list.
pub fn schema_feature_count(feature_schema: &Value) -> Option<usize> {
    feature_schema
        .get("features")
        .and_then(Value::as_array)
        .filter(|features| !features.is_empty())
        .map(Vec::len)
}

/// How many features a bundle declares: `metadata.json`'s count, else `feature_schema.json`'s
/// (the width an input with a dynamic feature axis is given when the model is checked).
pub fn declared_feature_count(
    metadata: Option<&Value>,
    feature_schema: Option<&Value>,
) -> Option<usize> {
    metadata
        .and_then(metadata_feature_count)
        .or_else(|| feature_schema.and_then(schema_feature_count))
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

/// The columns raw-bar input has, in this order (the bars `predict_bars` and a raw-bar sweep
/// compute features from; see `bars.rs`).
pub const BAR_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Where each of [`BAR_COLUMNS`] is among `columns` (`None`: a label that is not a string):
/// the column of exactly that name, else the one column whose name differs only in case
/// (`Close`, `VOLUME`, as backtesting.py and yfinance write them). Fails naming every bar column
/// `what` lacks, or one that several columns could be (two of one name, or of one name in
/// different cases): reading either would be a guess.
pub fn bar_positions<S: AsRef<str>>(
    what: &str,
    columns: &[Option<S>],
) -> Result<[usize; BAR_COLUMNS.len()]> {
    let label = |position: usize| columns[position].as_ref().map(AsRef::as_ref);
    let mut positions = [0; BAR_COLUMNS.len()];
    let mut missing = Vec::new();
    for (slot, name) in positions.iter_mut().zip(BAR_COLUMNS) {
        let exact: Vec<usize> = (0..columns.len())
            .filter(|&p| label(p) == Some(name))
            .collect();
        let candidates = if exact.is_empty() {
            (0..columns.len())
                .filter(|&p| label(p).is_some_and(|l| l.eq_ignore_ascii_case(name)))
                .collect()
        } else {
            exact
        };
        match candidates[..] {
            [position] => *slot = position,
            [] => missing.push(format!("'{name}'")),
            ref several => {
                return Err(Error::InvalidInput(format!(
                    "{what} have {} columns that could be {name:?} ({}); keep one of them",
                    several.len(),
                    several
                        .iter()
                        .filter_map(|&p| label(p).map(|l| format!("{l:?}")))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{what} lack the column(s) {} (raw bars need {}, in any case)",
            missing.join(", "),
            BAR_COLUMNS.join(", ")
        )));
    }
    Ok(positions)
}

/// Where a series with named columns gives a bundle its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSource {
    /// The bundle's feature columns, at these positions (in `feature_names` order).
    Features(Vec<usize>),
    /// Raw bars to compute the features from: the positions of [`BAR_COLUMNS`].
    Bars(Vec<usize>),
}

/// How a bundle reads a series with named `columns`: its `feature_names` when the series has
/// them all (what `predict` reads from a DataFrame), else raw OHLCV bars when the bundle can
/// compute its features from them (`takes_bars`) and the series has all five. Fails naming the
/// feature columns `what` lacks.
pub fn series_columns(
    what: &str,
    columns: &[Option<String>],
    feature_names: &[String],
    takes_bars: bool,
) -> Result<ColumnSource> {
    let features = feature_positions(what, columns, feature_names);
    if let (Err(_), true) = (&features, takes_bars) {
        if let Ok(positions) = bar_positions(what, columns) {
            // alloc: the five bar columns.
            return Ok(ColumnSource::Bars(positions.to_vec()));
        }
    }
    features.map(ColumnSource::Features)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bar_columns_are_found_by_name_in_any_case() {
        let labels = |names: &[&str]| -> Vec<Option<String>> {
            names.iter().map(|n| Some((*n).to_owned())).collect()
        };
        let capitalised = labels(&["Date", "Open", "High", "Low", "Close", "Volume"]);
        assert_eq!(
            bar_positions("bars", &capitalised).unwrap(),
            [1, 2, 3, 4, 5]
        );
        // An exact name wins over another case.
        let both = labels(&["CLOSE", "close", "open", "high", "low", "volume"]);
        assert_eq!(bar_positions("bars", &both).unwrap(), [2, 3, 4, 1, 5]);
        let ambiguous = labels(&["Close", "CLOSE", "open", "high", "low", "volume"]);
        assert_eq!(
            bar_positions("bars", &ambiguous).unwrap_err().to_string(),
            "bars have 2 columns that could be \"close\" (\"Close\", \"CLOSE\"); keep one of \
             them"
        );
        let twice = labels(&["close", "open", "high", "low", "volume", "close"]);
        assert!(bar_positions("bars", &twice)
            .unwrap_err()
            .to_string()
            .starts_with("bars have 2 columns that could be \"close\" (\"close\", \"close\")"));
        let mut lacking = labels(&["open", "high", "low"]);
        lacking.push(None);
        assert_eq!(
            bar_positions("bars", &lacking).unwrap_err().to_string(),
            "bars lack the column(s) 'close', 'volume' (raw bars need open, high, low, close, \
             volume, in any case)"
        );
        let shuffled = labels(&["volume", "close", "open", "low", "high"]);
        assert_eq!(bar_positions("bars", &shuffled).unwrap(), [2, 4, 3, 1, 0]);
    }

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
    fn a_series_gives_features_first_then_raw_bars() {
        let named = |names: &[&str]| -> Vec<Option<String>> {
            names.iter().map(|n| Some((*n).to_owned())).collect()
        };
        let features = ["close_normalized".to_owned(), "open_normalized".to_owned()];
        let ohlcv = named(&["time", "open", "high", "low", "close", "volume"]);
        assert_eq!(
            series_columns("s", &ohlcv, &features, true).unwrap(),
            ColumnSource::Bars(vec![1, 2, 3, 4, 5])
        );
        let both = named(&[
            "open",
            "high",
            "low",
            "close",
            "volume",
            "open_normalized",
            "close_normalized",
        ]);
        assert_eq!(
            series_columns("s", &both, &features, true).unwrap(),
            ColumnSource::Features(vec![6, 5])
        );
        let error = series_columns("s", &ohlcv, &features, false).unwrap_err();
        assert!(error
            .to_string()
            .contains("s lacks the feature column(s) \"close_normalized\", \"open_normalized\""));
        let partial = named(&["open", "high", "low", "close"]);
        let error = series_columns("s", &partial, &features, true).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("lacks the feature column(s) \"close_normalized\""),
            "{error}"
        );
    }

    #[test]
    fn feature_counts_follow_one_rule_per_document() {
        let metadata = json!({"feature_names": ["a", 3, "b"]});
        let schema = json!({"features": [{"name": "a"}, {}, {"name": "c"}]});
        assert_eq!(metadata_feature_count(&metadata), Some(2));
        assert_eq!(metadata_feature_count(&json!({"feature_names": []})), None);
        assert_eq!(schema_feature_count(&schema), Some(3));
        assert_eq!(schema_feature_count(&json!({"features": []})), None);
        assert_eq!(schema_feature_count(&json!({"features": "a"})), None);
        assert_eq!(
            declared_feature_count(Some(&metadata), Some(&schema)),
            Some(2)
        );
        assert_eq!(
            declared_feature_count(Some(&json!({})), Some(&schema)),
            Some(3)
        );
        assert_eq!(declared_feature_count(None, None), None);
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
