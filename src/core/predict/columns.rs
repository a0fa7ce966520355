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

/// Where each of `feature_names` is among `columns` (its first column of that name; `None` is a
/// column whose label is not a string), so that columns in another order, or extra ones, are
/// never fed to the model silently. Fails naming every feature `what` lacks and the columns it
/// has.
pub fn feature_positions(
    what: &str,
    columns: &[Option<String>],
    feature_names: &[String],
) -> Result<Vec<usize>> {
    features_found(columns, feature_names).map_err(|missing| {
        Error::InvalidInput(format!(
            "{what} lacks the feature column(s) {} that metadata.json's feature_names lists \
             ({}); it has the columns {}",
            quoted(&missing),
            quoted(feature_names),
            listed(columns)
        ))
    })
}

/// Where each of `feature_names` is among `columns` (exact names), or the names it lacks.
fn features_found(
    columns: &[Option<String>],
    feature_names: &[String],
) -> Result<Vec<usize>, Vec<String>> {
    // alloc: one per feature name, already read from the size-capped metadata.json.
    let mut positions = Vec::with_capacity(feature_names.len());
    let mut missing = Vec::new();
    for name in feature_names {
        match columns.iter().position(|c| c.as_deref() == Some(name)) {
            Some(position) => positions.push(position),
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(positions)
    } else {
        Err(missing)
    }
}

/// The position of the column called `name` among `columns`: the one of exactly that name,
/// else the first that matches it without regard to case (`Close` for `close`, as yfinance and
/// backtesting.py name OHLCV columns).
pub fn column_position(columns: &[Option<String>], name: &str) -> Option<usize> {
    let named = |equal: fn(&str, &str) -> bool| {
        columns
            .iter()
            .position(|c| c.as_deref().is_some_and(|c| equal(c, name)))
    };
    named(|a, b| a == b).or_else(|| named(str::eq_ignore_ascii_case))
}

/// The columns raw-bar input has, in this order (the bars `predict_bars` and a raw-bar sweep
/// compute features from; see `bars.rs`).
pub const BAR_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Why a series' columns give no raw bars.
enum BarsProblem {
    /// The bar columns it lacks.
    Missing(Vec<String>),
    /// A bar column two of its columns could be (two of one name, or, with none of exactly
    /// that name, two of it in other cases), and their positions: reading either is a guess.
    Ambiguous(&'static str, Vec<usize>),
}

/// Where each of [`BAR_COLUMNS`] is among `columns` ([`column_position`]: any case, exact names
/// first), or why they give no bars.
fn bars_found(columns: &[Option<String>]) -> Result<Vec<usize>, BarsProblem> {
    // alloc: five bar columns.
    let mut positions = Vec::with_capacity(BAR_COLUMNS.len());
    let mut missing = Vec::new();
    for name in BAR_COLUMNS {
        let named = |equal: fn(&str, &str) -> bool| -> Vec<usize> {
            (0..columns.len())
                .filter(|&p| columns[p].as_deref().is_some_and(|c| equal(c, name)))
                .collect()
        };
        let exact = named(|a, b| a == b);
        let candidates = if exact.is_empty() {
            named(str::eq_ignore_ascii_case)
        } else {
            exact
        };
        if candidates.len() > 1 {
            return Err(BarsProblem::Ambiguous(name, candidates));
        }
        match column_position(columns, name) {
            Some(position) => positions.push(position),
            None => missing.push(name.to_owned()),
        }
    }
    if missing.is_empty() {
        Ok(positions)
    } else {
        Err(BarsProblem::Missing(missing))
    }
}

/// The error for a bar column that several columns of `what` could be.
fn ambiguous(what: &str, name: &str, positions: &[usize], columns: &[Option<String>]) -> Error {
    Error::InvalidInput(format!(
        "{what} have {} columns that could be {name:?} ({}); keep one of them",
        positions.len(),
        positions
            .iter()
            .filter_map(|&p| columns[p].as_deref().map(|label| format!("{label:?}")))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Where each of [`BAR_COLUMNS`] is among `columns`, in any case ([`column_position`]): the
/// one rule for raw bars, used by `predict_bars`, streams and the sweep alike. Fails naming the
/// bar columns `what` lack and the columns they have, or a bar column two columns could be.
pub fn bar_positions(what: &str, columns: &[Option<String>]) -> Result<Vec<usize>> {
    bars_found(columns).map_err(|problem| match problem {
        BarsProblem::Missing(missing) => Error::InvalidInput(format!(
            "{what} lack the bar column(s) {} (raw bars need {}, in any case); the columns are \
             {}",
            quoted(&missing),
            BAR_COLUMNS.join(", "),
            listed(columns)
        )),
        BarsProblem::Ambiguous(name, positions) => ambiguous(what, name, &positions, columns),
    })
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
/// them all (what `predict` reads from a DataFrame), else raw OHLCV bars (any case) when the
/// bundle can compute its features from them (`takes_bars`) and the series has all five. Fails
/// naming what the bundle accepts and the columns `what` has.
pub fn series_columns(
    what: &str,
    columns: &[Option<String>],
    feature_names: &[String],
    takes_bars: bool,
) -> Result<ColumnSource> {
    let lacking = match features_found(columns, feature_names) {
        Ok(positions) => return Ok(ColumnSource::Features(positions)),
        Err(_) if !takes_bars => {
            return feature_positions(what, columns, feature_names).map(ColumnSource::Features)
        }
        Err(lacking) => lacking,
    };
    let missing = match bars_found(columns) {
        Ok(positions) => return Ok(ColumnSource::Bars(positions)),
        Err(BarsProblem::Missing(missing)) => missing,
        Err(BarsProblem::Ambiguous(name, positions)) => {
            return Err(ambiguous(what, name, &positions, columns))
        }
    };
    Err(Error::InvalidInput(format!(
        "{what} has neither the feature columns metadata.json's feature_names lists ({}; it \
         lacks {}) nor the raw bars {} (in any case) they can be computed from (it lacks {}); \
         it has the columns {}",
        quoted(feature_names),
        quoted(&lacking),
        BAR_COLUMNS.join(", "),
        quoted(&missing),
        listed(columns)
    )))
}

/// The labels of `columns` for a message (`"Open", "High", ...`): the first
/// [`LISTED_COLUMNS`] of them, and how many more.
fn listed(columns: &[Option<String>]) -> String {
    let mut names: Vec<String> = columns
        .iter()
        .take(LISTED_COLUMNS)
        .map(|column| match column {
            Some(name) => format!("{name:?}"),
            None => "(a label that is not text)".to_owned(),
        })
        .collect();
    if columns.len() > LISTED_COLUMNS {
        names.push(format!("and {} more", columns.len() - LISTED_COLUMNS));
    }
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// How many of a caller's column labels a message lists.
const LISTED_COLUMNS: usize = 20;

/// Names quoted for a message: `"a", "b"`.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
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
        assert_eq!(
            error.to_string(),
            "s has neither the feature columns metadata.json's feature_names lists \
             (\"close_normalized\", \"open_normalized\"; it lacks \"close_normalized\", \
             \"open_normalized\") nor the raw bars open, high, low, close, volume (in any case) \
             they can be computed from (it lacks \"volume\"); it has the columns \"open\", \
             \"high\", \"low\", \"close\""
        );
        let error = series_columns("s", &partial, &features, false).unwrap_err();
        assert!(
            error.to_string().ends_with(
                "(\"close_normalized\", \"open_normalized\"); it has the columns \"open\", \
                 \"high\", \"low\", \"close\""
            ),
            "{error}"
        );
    }

    #[test]
    fn raw_bars_are_matched_in_any_case_exact_names_first() {
        let named = |names: &[&str]| -> Vec<Option<String>> {
            names.iter().map(|n| Some((*n).to_owned())).collect()
        };
        let features = ["close_normalized".to_owned()];
        let capitalised = named(&["Open", "High", "Low", "Close", "Volume"]);
        assert_eq!(
            series_columns("s", &capitalised, &features, true).unwrap(),
            ColumnSource::Bars(vec![0, 1, 2, 3, 4])
        );
        assert_eq!(
            bar_positions("bars", &capitalised).unwrap(),
            [0, 1, 2, 3, 4]
        );
        let shouted = named(&["VOLUME", "close", "CLOSE", "low", "HIGH", "open"]);
        assert_eq!(bar_positions("bars", &shouted).unwrap(), [5, 4, 3, 1, 0]);
        assert_eq!(column_position(&shouted, "close"), Some(1));
        assert_eq!(column_position(&shouted, "Close"), Some(1));
        assert_eq!(column_position(&shouted, "volume"), Some(0));
        assert_eq!(column_position(&shouted, "vol"), None);
        let error = bar_positions("bars", &named(&["Open", "High"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "bars lack the bar column(s) \"low\", \"close\", \"volume\" (raw bars need open, \
             high, low, close, volume, in any case); the columns are \"Open\", \"High\""
        );
        // Feature names stay exact: metadata.json names them.
        let error = feature_positions("s", &named(&["Close_Normalized"]), &features).unwrap_err();
        assert!(error.to_string().contains("lacks the feature column(s)"));
        let many: Vec<Option<String>> = (0..25).map(|i| Some(format!("c{i}"))).collect();
        let error = bar_positions("bars", &many).unwrap_err().to_string();
        assert!(error.ends_with("\"c19\", and 5 more"), "{error}");
        assert!(bar_positions("bars", &[None])
            .unwrap_err()
            .to_string()
            .ends_with("the columns are (a label that is not text)"));
        assert!(bar_positions("bars", &[])
            .unwrap_err()
            .to_string()
            .ends_with("are none"));
        // Two columns that could be one bar column: refused, not guessed.
        let ambiguous = named(&["Close", "CLOSE", "open", "high", "low", "volume"]);
        let expected = "bars have 2 columns that could be \"close\" (\"Close\", \"CLOSE\"); keep \
                        one of them";
        assert_eq!(
            bar_positions("bars", &ambiguous).unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            series_columns("bars", &ambiguous, &features, true)
                .unwrap_err()
                .to_string(),
            expected
        );
        let twice = named(&["close", "open", "high", "low", "volume", "close"]);
        assert!(bar_positions("bars", &twice)
            .unwrap_err()
            .to_string()
            .starts_with("bars have 2 columns that could be \"close\" (\"close\", \"close\")"));
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
