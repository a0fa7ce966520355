//! Loads ONNX Runtime on first use, from the path `atb_prediction._runtime` finds, with the
//! process's shared thread pools.

use std::path::PathBuf;

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::onnx::runtime::{self, ThreadPools};
use crate::py::gil::detached;
use crate::py::log;

/// Makes sure the ONNX Runtime library is loaded; the first call asks the Python side where it is.
pub fn ensure_runtime(py: Python<'_>) -> PyResult<()> {
    if runtime::loaded_path().is_some() {
        return Ok(());
    }
    let path: PathBuf = py
        .import("atb_prediction._runtime")?
        .call_method0("find_library")?
        .extract()?;
    detached(py, || runtime::ensure_loaded(&path))?;
    Ok(())
}

/// Loads the library at `path` (absolute) unless one is loaded; returns the path in use.
#[pyfunction]
pub fn load_runtime(py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
    detached(py, || runtime::ensure_loaded(&path))
}

/// The path of the loaded ONNX Runtime library, or `None` before the first session.
#[pyfunction]
pub fn runtime_library_path() -> Option<PathBuf> {
    runtime::loaded_path()
}

/// Sizes the thread pools all sessions of the process share, and returns the pools in use.
///
/// Takes effect only before the first session opens: a process has one set of pools. A request
/// that comes too late is logged once (per distinct request) on the `atb_prediction` logger.
#[pyfunction]
#[pyo3(signature = (*, intra_op_threads=None, inter_op_threads=None, allow_spinning=false))]
pub fn configure_thread_pools<'py>(
    py: Python<'py>,
    intra_op_threads: Option<usize>,
    inter_op_threads: Option<usize>,
    allow_spinning: bool,
) -> PyResult<Bound<'py, PyDict>> {
    static REPORTED: Mutex<Vec<ThreadPools>> = Mutex::new(Vec::new());
    let requested = ThreadPools {
        intra_op_threads,
        inter_op_threads,
        allow_spinning,
    };
    let in_use = runtime::configure_thread_pools(requested)?;
    // One lock for the check and the record, so that two racing callers report once.
    let first_report = in_use != requested && {
        let mut reported = REPORTED.lock();
        let first = !reported.contains(&requested);
        if first {
            reported.push(requested);
        }
        first
    };
    if first_report {
        log::warn(
            py,
            "configure_thread_pools",
            &format!(
                "ONNX Runtime's shared thread pools already run as {in_use:?}; {requested:?} applies only before the first session opens"
            ),
        )?;
    }
    let pools = PyDict::new(py);
    pools.set_item("intra_op_threads", in_use.intra_op_threads)?;
    pools.set_item("inter_op_threads", in_use.inter_op_threads)?;
    pools.set_item("allow_spinning", in_use.allow_spinning)?;
    Ok(pools)
}

/// The cores this process may use: its CPU affinity capped by its cgroup's CPU quota (the
/// core's `parallel::usable_cores`). Sweeps, `predict_batch`, the scan and the scores all size
/// their workers by it.
#[pyfunction]
pub fn usable_cores() -> usize {
    crate::core::parallel::usable_cores()
}
