//! The registry's layout rules (`core::layout`) for Python: folder names and listings, keys,
//! version ids and registry paths, so that promotion, validation, the version resolver and the
//! command line decide them as the scan does.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use crate::core::registry::layout;
use crate::core::Error;

/// The production pointer's name in a model-type folder.
pub const LATEST: &str = layout::LATEST;

/// Folders served (names) and refused (name, reason), as `registry_folders` returns them.
type Listing = (Vec<String>, Vec<(String, String)>);

/// `(symbol, timeframe, model_type, version)` of a `KEY` argument.
type KeyTuple = (String, Option<String>, Option<String>, Option<String>);

/// Whether `name` can name a SYMBOL, MODEL_TYPE or VERSION folder (visible, one path component,
/// not `latest`).
#[pyfunction]
pub fn is_folder_name(name: &str) -> bool {
    layout::is_folder_name(name)
}

/// The folders of `directory` as the scan lists them, for the registry at `root`: the names
/// served, sorted, and `(name, reason)` of each entry refused (a symlink leaving the registry,
/// a broken one).
#[pyfunction]
pub fn registry_folders(directory: PathBuf, root: PathBuf) -> PyResult<Listing> {
    let root_real = std::fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
    let folders =
        layout::list_folders(&directory, &root_real).map_err(|e| Error::io(&directory, e))?;
    let found = folders.found.into_iter().map(|(name, _)| name).collect();
    let refused = folders
        .refused
        .into_iter()
        .map(|(path, reason)| (file_name(&path), reason))
        .collect();
    Ok((found, refused))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The folder names of `path` below the registry `root` (`[SYMBOL, MODEL_TYPE, NAME]` for a
/// version folder or a `latest` entry); empty when `path` is not below `root`.
#[pyfunction]
pub fn path_parts(root: PathBuf, path: PathBuf) -> Vec<String> {
    layout::path_parts(&root, &path)
}

/// The registry root of a version folder `ROOT/SYMBOL/MODEL_TYPE/VERSION`, or `None`.
#[pyfunction]
pub fn registry_root(version_dir: PathBuf) -> Option<PathBuf> {
    layout::registry_root(&version_dir).map(Path::to_path_buf)
}

/// `(year, month, day)` of the date a version id starts with (`YYYY-MM-DD` then `_` or
/// nothing), or `None` when it starts with no real date.
#[pyfunction]
pub fn version_date(version_id: &str) -> Option<(u16, u8, u8)> {
    layout::version_date(version_id)
}

/// `SYMBOL:TIMEFRAME:MODEL_TYPE`, or with `version_id` `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`.
#[pyfunction]
#[pyo3(signature = (symbol, timeframe, model_type, version_id=None))]
pub fn format_key(
    symbol: &str,
    timeframe: &str,
    model_type: &str,
    version_id: Option<&str>,
) -> String {
    match version_id {
        Some(version_id) => layout::version_key(symbol, timeframe, model_type, version_id),
        None => layout::model_key(symbol, timeframe, model_type),
    }
}

/// The parts of a key or a prefix of one (one to four, none empty).
#[pyfunction]
pub fn split_key(text: &str) -> PyResult<Vec<String>> {
    let parts = layout::split_key(text).map_err(Error::InvalidArgument)?;
    Ok(parts.into_iter().map(str::to_owned).collect())
}

/// What a `KEY` argument names, `(symbol, timeframe, model_type, version)` with `None` for a part
/// left out: a key or a prefix of one, or a folder path `SYMBOL/MODEL_TYPE[/VERSION]`.
#[pyfunction]
pub fn parse_key(text: &str) -> PyResult<KeyTuple> {
    let key = layout::parse_key(text).map_err(Error::InvalidArgument)?;
    let owned = |part: Option<&str>| part.map(str::to_owned);
    Ok((
        key.symbol.to_owned(),
        owned(key.timeframe),
        owned(key.model_type),
        owned(key.version),
    ))
}
