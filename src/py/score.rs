//! `score_sweep`, `check_score_settings` and `score_metrics`: conversions around the core's
//! scoring (`core::score`), which decides every rule.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::backtest::score::{self, Keep, Settings, Sweep, METRICS};
use crate::py::gil::detached;

/// A Python integer as an `i128`, one beyond that range saturated: the core refuses it either
/// way, by name, rather than Python raising `OverflowError`.
fn whole_number(value: &Bound<'_, PyAny>) -> PyResult<i128> {
    match value.extract::<i128>() {
        Ok(number) => Ok(number),
        Err(error) if error.is_instance_of::<PyOverflowError>(value.py()) => {
            Ok(if value.gt(0)? { i128::MAX } else { i128::MIN })
        }
        Err(error) => Err(error),
    }
}

fn settings(
    horizon: &Bound<'_, PyAny>,
    fee_bps: f64,
    periods_per_year: Option<f64>,
    long_threshold: f64,
    short_threshold: f64,
) -> PyResult<Settings> {
    Ok(Settings {
        horizon: whole_number(horizon)?,
        fee_bps,
        periods_per_year,
        long_threshold,
        short_threshold,
    })
}

/// Every score column, in order, with which of its values are better (`"higher"`, `"lower"`, or
/// `"neither"` for a column that describes a row rather than judges it).
#[pyfunction]
pub fn score_metrics() -> Vec<(&'static str, &'static str)> {
    METRICS
        .iter()
        .map(|metric| (metric.name, metric.better.name()))
        .collect()
}

/// The bars per year of a timeframe (`15m`, `1h`, `4h`, `1d`, `1w`), for annualising.
#[pyfunction]
pub fn periods_per_year(timeframe: &str) -> PyResult<f64> {
    Ok(score::timeframe_periods_per_year(timeframe)?)
}

/// Refuses scoring settings that no score can be computed with, before any work
/// (`InvalidArgumentError`, naming the setting); `bars`, when known, bounds the horizon.
#[pyfunction]
#[pyo3(signature = (*, horizon, fee_bps, long_threshold, short_threshold, periods_per_year=None, bars=None))]
pub fn check_score_settings(
    horizon: &Bound<'_, PyAny>,
    fee_bps: f64,
    long_threshold: f64,
    short_threshold: f64,
    periods_per_year: Option<f64>,
    bars: Option<usize>,
) -> PyResult<()> {
    let settings = settings(
        horizon,
        fee_bps,
        periods_per_year,
        long_threshold,
        short_threshold,
    )?;
    Ok(settings.check(bars)?)
}

/// Scores every row of a sweep against `close`: `price`, `confidence` and `direction` are
/// `[versions, bars]`, `price_units` and `classifier` one flag per version, `live_version`
/// (`[bars]`, the live row at each bar or -1) makes it an as-live sweep. Returns a dict: `names`
/// (the rows: the versions, `buy-and-hold`, then `as-live`), `columns` (one array per score
/// column, one value per row), `returns` and `equity` (`[rows, bars - 1]`, when asked for, else
/// `None`), `scored` (`[rows, bars]`, with `returns`), `start` (buy-and-hold's first bar, or
/// `None`), `unusable_closes` and `first_unusable_close`.
#[pyfunction]
#[pyo3(signature = (price, confidence, direction, price_units, classifier, close, *, versions, live_version=None, horizon, fee_bps, periods_per_year, long_threshold, short_threshold, returns=false, equity=false))]
#[allow(clippy::too_many_arguments)]
pub fn score_sweep<'py>(
    py: Python<'py>,
    price: PyReadonlyArray2<'py, f64>,
    confidence: PyReadonlyArray2<'py, f64>,
    direction: PyReadonlyArray2<'py, i8>,
    price_units: Vec<bool>,
    classifier: Vec<bool>,
    close: PyReadonlyArray1<'py, f64>,
    versions: Vec<String>,
    live_version: Option<PyReadonlyArray1<'py, i64>>,
    horizon: &Bound<'py, PyAny>,
    fee_bps: f64,
    periods_per_year: f64,
    long_threshold: f64,
    short_threshold: f64,
    returns: bool,
    equity: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let settings = settings(
        horizon,
        fee_bps,
        Some(periods_per_year),
        long_threshold,
        short_threshold,
    )?;
    let sweep = Sweep {
        price: price.as_array(),
        confidence: confidence.as_array(),
        direction: direction.as_array(),
        price_units: &price_units,
        classifier: &classifier,
        live: live_version.as_ref().map(|live| live.as_array()),
    };
    if versions.len() != sweep.versions() {
        return Err(crate::core::Error::invalid_input(format!(
            "versions must name the {} rows of price, got {} names",
            sweep.versions(),
            versions.len()
        ))
        .into());
    }
    let close = close.as_array();
    let keep = Keep {
        returns,
        equity,
        scored: returns,
    };
    let scores = detached(py, || score::score_sweep(&sweep, close, &settings, keep))?;
    let columns = PyDict::new(py);
    for metric in &METRICS {
        let values = scores.scores.iter().map(|s| (metric.value)(s));
        if metric.count {
            // Counts of bars: whole numbers well inside i64.
            let counts: Vec<i64> = values.map(|value| value as i64).collect();
            columns.set_item(metric.name, PyArray1::from_vec(py, counts))?;
        } else {
            columns.set_item(metric.name, PyArray1::from_vec(py, values.collect()))?;
        }
    }
    let out = PyDict::new(py);
    let names: Vec<&str> = scores.rows.iter().map(|row| row.name(&versions)).collect();
    out.set_item("names", names)?;
    out.set_item("columns", columns)?;
    out.set_item("returns", scores.returns.map(|a| a.into_pyarray(py)))?;
    out.set_item("equity", scores.equity.map(|a| a.into_pyarray(py)))?;
    out.set_item("scored", scores.scored.map(|a| a.into_pyarray(py)))?;
    out.set_item("start", scores.start)?;
    out.set_item("unusable_closes", scores.unusable.count)?;
    out.set_item("first_unusable_close", scores.unusable.first)?;
    Ok(out)
}
