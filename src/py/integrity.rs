//! Integrity manifests from Python: seal and verify bundles (the registry checks models as it
//! opens them, in `core::bundle`). Hashing runs without the GIL.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::core::registry::manifest::Manifest;
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
