//! The paired block bootstrap from Python (`core::backtest::bootstrap`): numpy arrays in, the
//! comparison out, resamples run in parallel without the GIL.

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::backtest::bootstrap::{self, BootstrapOptions, ReturnMetric, DEFAULT_RESAMPLES};
use crate::core::{alloc, Error};
use crate::py::gil::detached;

fn contiguous<'a>(array: &'a PyReadonlyArray1<'_, f64>, what: &str) -> PyResult<&'a [f64]> {
    array
        .as_slice()
        .map_err(|_| Error::invalid_input(format!("{what} must be a contiguous array")).into())
}

/// Compares `metric` between two aligned series of per-bar returns (NaN where a series has
/// none) by a paired stationary block bootstrap. Returns a dict: `metric`, `bars` (paired),
/// `candidate`, `reference`, `p_value` (one-sided, that the candidate is not better),
/// `block_length`, `resamples` and `seed`.
#[pyfunction]
#[pyo3(signature = (candidate, reference, *, metric, periods_per_year, resamples=DEFAULT_RESAMPLES as i128, block_length=None, seed=0))]
#[allow(clippy::too_many_arguments)]
pub fn bootstrap_compare<'py>(
    py: Python<'py>,
    candidate: PyReadonlyArray1<'py, f64>,
    reference: PyReadonlyArray1<'py, f64>,
    metric: &str,
    periods_per_year: f64,
    resamples: i128,
    block_length: Option<f64>,
    seed: i128,
) -> PyResult<Bound<'py, PyDict>> {
    let metric = ReturnMetric::parse(metric)?;
    let options = BootstrapOptions::from_values(resamples, block_length, seed, periods_per_year)?;
    let (candidate, reference) = (
        contiguous(&candidate, "candidate")?,
        contiguous(&reference, "reference")?,
    );
    let comparison = detached(py, || {
        bootstrap::compare(candidate, reference, metric, &options)
    })?;
    let out = PyDict::new(py);
    out.set_item("metric", comparison.metric.name())?;
    out.set_item("bars", comparison.bars)?;
    out.set_item("candidate", comparison.candidate)?;
    out.set_item("reference", comparison.reference)?;
    out.set_item("p_value", comparison.p_value)?;
    out.set_item("block_length", comparison.block_length)?;
    out.set_item("resamples", comparison.resamples)?;
    out.set_item("seed", comparison.seed)?;
    Ok(out)
}

/// Refuses a metric the bootstrap cannot compare, or options it cannot run with, naming them:
/// what a gate checks before any work.
#[pyfunction]
#[pyo3(signature = (*, metric, resamples, block_length, seed))]
pub fn check_bootstrap(
    metric: &str,
    resamples: i128,
    block_length: Option<f64>,
    seed: i128,
) -> PyResult<()> {
    ReturnMetric::parse(metric)?;
    BootstrapOptions::from_values(resamples, block_length, seed, 1.0)?;
    Ok(())
}

/// Politis and White's automatic mean block length for the stationary bootstrap, as
/// `arch.bootstrap.optimal_block_length` computes its `stationary` column.
#[pyfunction]
pub fn optimal_block_length(py: Python<'_>, values: PyReadonlyArray1<'_, f64>) -> PyResult<f64> {
    let values = contiguous(&values, "values")?;
    detached(py, || bootstrap::optimal_block_length(values))
}

/// The oriented differences of `metric` over given resamples (`indices` is `[resamples, bars]`):
/// the statistic alone, for checking it against another implementation's index streams.
#[pyfunction]
#[pyo3(signature = (candidate, reference, indices, *, metric, periods_per_year))]
pub fn bootstrap_differences<'py>(
    py: Python<'py>,
    candidate: PyReadonlyArray1<'py, f64>,
    reference: PyReadonlyArray1<'py, f64>,
    indices: PyReadonlyArray2<'py, i64>,
    metric: &str,
    periods_per_year: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let metric = ReturnMetric::parse(metric)?;
    let (candidate, reference) = (
        contiguous(&candidate, "candidate")?,
        contiguous(&reference, "reference")?,
    );
    let indices = indices.as_array();
    let (rows, columns) = indices.dim();
    let mut flat = alloc::try_with_capacity(rows.saturating_mul(columns), || {
        format!("{rows} resamples of {columns} indices")
    })?;
    for &index in indices.iter() {
        flat.push(
            usize::try_from(index)
                .map_err(|_| Error::invalid_input(format!("resample index {index} is negative")))?,
        );
    }
    let differences = detached(py, || {
        let resamples: Vec<&[usize]> = flat.chunks(columns.max(1)).take(rows).collect();
        bootstrap::differences_for_indices(
            candidate,
            reference,
            metric,
            periods_per_year,
            &resamples,
        )
    })?;
    Ok(PyArray1::from_vec(py, differences))
}
