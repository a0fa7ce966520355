//! Integrity manifests from Python: seal and verify bundles (the registry checks models as it
//! opens them, in `core::bundle`). Hashing runs without the GIL.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::core::registry::manifest::{Manifest, SealCheck};
use crate::core::Error;
use crate::py::gil::detached;

fn canonical_root(root: &PathBuf) -> crate::core::Result<PathBuf> {
    std::fs::canonicalize(root).map_err(|e| Error::io(root, e))
}

/// Writes `directory/manifest.json` with the sha256 and size of every file of the bundle.
/// Returns the number of files sealed.
#[pyfunction]
pub fn seal_bundle(py: Python<'_>, directory: PathBuf, root: PathBuf) -> PyResult<usize> {
    detached(py, || {
        let manifest = Manifest::of_bundle(&directory, &canonical_root(&root)?)?;
        manifest.write(&directory)?;
        Ok(manifest.files.len())
    })
}

/// The files of the bundle that differ from its manifest, one sentence each, or `None` when the
/// bundle has no manifest.
#[pyfunction]
pub fn verify_bundle(
    py: Python<'_>,
    directory: PathBuf,
    root: PathBuf,
) -> PyResult<Option<Vec<String>>> {
    detached(py, || {
        let root_real = canonical_root(&root)?;
        match Manifest::read(&directory, &root_real)? {
            Some(manifest) => manifest.changes(&directory, &root_real).map(Some),
            None => Ok(None),
        }
    })
}

/// A bundle's files hashed once under a promotion's lock, set against its manifest: the digests
/// a promotion compares with what it evaluated, and the manifest it then writes.
#[pyclass(frozen, module = "atb_prediction._core", name = "SealCheck")]
pub struct PySealCheck {
    directory: PathBuf,
    check: SealCheck,
}

#[pymethods]
impl PySealCheck {
    /// File name -> lower-case hex sha256 of every file of the bundle, as hashed.
    #[getter]
    fn digests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (name, digest) in &self.check.current.files {
            out.set_item(name, &digest.sha256)?;
        }
        Ok(out)
    }
    /// How the files differ from `manifest.json`, one sentence each; `None` when unsealed.
    #[getter]
    fn changes(&self) -> Option<Vec<String>> {
        self.check.changes.clone()
    }
    /// Writes `manifest.json` with the digests hashed (not the files as they may be now).
    /// Returns the number of files sealed.
    fn write(&self, py: Python<'_>) -> PyResult<usize> {
        detached(py, || {
            self.check.current.write(&self.directory)?;
            Ok(self.check.current.files.len())
        })
    }
}

/// Hashes every file of the bundle `directory` once and sets the digests against its manifest.
#[pyfunction]
pub fn check_seal(py: Python<'_>, directory: PathBuf, root: PathBuf) -> PyResult<PySealCheck> {
    let check = detached(py, || {
        SealCheck::of_bundle(&directory, &canonical_root(&root)?)
    })?;
    Ok(PySealCheck { directory, check })
}
