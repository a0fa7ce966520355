//! Loads the ONNX Runtime shared library exactly once per process.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, so the package builds with
//! no download. The Python layer finds the library that the `onnxruntime` wheel ships and passes its
//! absolute path here before the first session is created.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::core::error::{Error, Result};

/// The outcome of the first initialisation, replayed to every later caller.
static RUNTIME: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Loads the library at `path` unless a library is already loaded; returns the path in use.
///
/// Later calls with another path keep the first library: a process can hold only one ONNX Runtime.
pub fn ensure_loaded(path: &Path) -> Result<PathBuf> {
    let outcome = RUNTIME.get_or_init(|| load(path));
    outcome.clone().map_err(Error::RuntimeUnavailable)
}

/// The path of the loaded library, if one is loaded.
pub fn loaded_path() -> Option<PathBuf> {
    RUNTIME
        .get()
        .and_then(|outcome| outcome.as_ref().ok().cloned())
}

/// Fails unless [`ensure_loaded`] succeeded earlier; guards every call into `ort`, whose own lazy
/// loader would panic rather than report an error.
pub fn require_loaded() -> Result<()> {
    match RUNTIME.get() {
        Some(Ok(_)) => Ok(()),
        Some(Err(reason)) => Err(Error::RuntimeUnavailable(reason.clone())),
        None => Err(Error::RuntimeUnavailable(
            "the ONNX Runtime library has not been loaded yet".to_owned(),
        )),
    }
}

fn load(path: &Path) -> std::result::Result<PathBuf, String> {
    if !path.is_absolute() {
        return Err(format!(
            "expected an absolute path to libonnxruntime, got `{}`",
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!("no library file at `{}`", path.display()));
    }
    let builder = ort::init_from(path).map_err(|error| error.to_string())?;
    // Commit the default environment now so that a broken library fails here, once, with a clear
    // message, rather than inside the first session.
    builder.with_name("atb-prediction").commit();
    ort::environment::Environment::current()
        .map_err(|error| format!("`{}` loaded but would not start: {error}", path.display()))?;
    Ok(path.to_path_buf())
}
