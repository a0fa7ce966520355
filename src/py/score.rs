//! `score_sweep`: a sweep's scores per version (and for the as-live composite), in one GIL-free
//! pass per row, rows in parallel.

use ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rayon::prelude::*;

use crate::core::alloc;
use crate::core::backtest::score::{self, Flag, Row, Score, ScoreOptions};
use crate::core::Error;
use crate::py::gil::detached;

/// The column names of a score, in order: the one list (Python's `atb_prediction.metrics`
/// reads it through [`score_columns`]).
const COLUMNS: [&str; 8] = [
    "bars",
    "hit_rate",
    "mae",
    "rmse",
    "total_return",
    "sharpe",
    "max_drawdown",
    "turnover",
];

fn options(horizon: usize, fee_bps: f64, periods_per_year: f64) -> Result<ScoreOptions, Error> {
    // The horizon is the closes' (`score::Closes`); it is checked here with the rest.
    if horizon == 0 {
        return Err(Error::InvalidArgument(
            "horizon must be at least 1 bar".to_owned(),
        ));
    }
    if !fee_bps.is_finite() || fee_bps < 0.0 {
        return Err(Error::InvalidArgument(format!(
            "fee_bps must be a finite number of basis points, 0 or more, got {fee_bps}"
        )));
    }
    if !periods_per_year.is_finite() || periods_per_year <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "periods_per_year must be a positive number, got {periods_per_year}"
        )));
    }
    Ok(ScoreOptions {
        fee_bps,
        periods_per_year,
    })
}

/// The names of a score's columns, in order: `bars`, then the metrics.
#[pyfunction]
pub fn score_columns() -> Vec<&'static str> {
    // alloc: a constant eight names.
    COLUMNS.to_vec()
}

/// The bars per year of a timeframe (`15m`, `1h`, `4h`, `1d`, `1w`), for annualising.
#[pyfunction]
pub fn periods_per_year(timeframe: &str) -> PyResult<f64> {
    Ok(score::periods_per_year(timeframe)?)
}

/// Scores every row of a sweep against `close`: `price`, `confidence` and `direction` are
/// `[versions, bars]`, `price_units` and `classifier` one flag per version. With `live_version`
/// (`[bars]`, the live row at each bar or -1) a last row scores the as-live composite. Returns
/// `(columns, equity)`: a dict of one array per score column (one value per row), and with
/// `equity=True` the `[rows, bars - 1]` equity curves, else `None`.
#[pyfunction]
#[pyo3(signature = (price, confidence, direction, price_units, classifier, close, *, live_version=None, horizon=1, fee_bps=0.0, periods_per_year, equity=false))]
#[allow(clippy::too_many_arguments)]
pub fn score_sweep<'py>(
    py: Python<'py>,
    price: PyReadonlyArray2<'py, f64>,
    confidence: PyReadonlyArray2<'py, f64>,
    direction: PyReadonlyArray2<'py, i8>,
    price_units: Vec<bool>,
    classifier: Vec<bool>,
    close: PyReadonlyArray1<'py, f64>,
    live_version: Option<PyReadonlyArray1<'py, i64>>,
    horizon: usize,
    fee_bps: f64,
    periods_per_year: f64,
    equity: bool,
) -> PyResult<(Bound<'py, PyDict>, Option<Bound<'py, PyAny>>)> {
    let options = options(horizon, fee_bps, periods_per_year)?;
    let (price, confidence, direction) = (
        price.as_array(),
        confidence.as_array(),
        direction.as_array(),
    );
    let close = close.as_array();
    let live = live_version.as_ref().map(|live| live.as_array());
    let (versions, bars) = price.dim();
    if confidence.dim() != (versions, bars)
        || direction.dim() != (versions, bars)
        || price_units.len() != versions
        || classifier.len() != versions
    {
        return Err(Error::invalid_input(format!(
            "price, confidence and direction must all be [versions, bars] ({versions}, {bars}), \
             with one price_units and classifier flag per version"
        ))
        .into());
    }
    let rows = versions + usize::from(live.is_some());
    // As large as the price array (a row more with a live version), so allocated fallibly.
    let columns = bars.saturating_sub(1);
    let mut curves = equity
        .then(|| {
            let zeros = alloc::try_filled(rows.saturating_mul(columns), 0.0, || {
                format!("the equity curves ({rows} rows of {columns} returns)")
            })?;
            Array2::from_shape_vec((rows, columns), zeros)
                .map_err(|error| Error::invalid_input(error.to_string()))
        })
        .transpose()?;
    let scores: Vec<Score> = detached(py, || {
        let composite = live
            .map(|live| {
                score::composite(
                    price,
                    confidence,
                    direction,
                    &price_units,
                    &classifier,
                    live,
                )
            })
            .transpose()?;
        let mut work: Vec<Row<'_>> = (0..versions)
            .map(|v| Row {
                price: price.row(v),
                confidence: confidence.row(v),
                direction: direction.row(v),
                price_units: Flag::All(price_units[v]),
                classifier: Flag::All(classifier[v]),
            })
            .collect();
        work.extend(composite.as_ref().map(score::Composite::row));
        let outs: Vec<Option<ndarray::ArrayViewMut1<'_, f64>>> = match curves.as_mut() {
            Some(curves) => curves.outer_iter_mut().map(Some).collect(),
            None => (0..rows).map(|_| None).collect(),
        };
        let closes = score::Closes::new(close, horizon);
        work.par_iter()
            .zip(outs)
            .map(|(row, out)| score::score(row, &closes, &options, out))
            .collect::<Result<Vec<_>, Error>>()
    })?;
    let columns = PyDict::new(py);
    let values = |pick: fn(&Score) -> f64| -> Vec<f64> { scores.iter().map(pick).collect() };
    let bars_column: Vec<i64> = scores
        .iter()
        .map(|s| i64::try_from(s.bars).unwrap_or(i64::MAX))
        .collect();
    columns.set_item(COLUMNS[0], PyArray1::from_vec(py, bars_column))?;
    let picks: [fn(&Score) -> f64; 7] = [
        |s| s.hit_rate,
        |s| s.mae,
        |s| s.rmse,
        |s| s.total_return,
        |s| s.sharpe,
        |s| s.max_drawdown,
        |s| s.turnover,
    ];
    for (name, pick) in COLUMNS[1..].iter().zip(picks) {
        columns.set_item(*name, PyArray1::from_vec(py, values(pick)))?;
    }
    let curves = curves.map(|c| c.into_pyarray(py).into_any());
    Ok((columns, curves))
}
