//! Walking the registry's folders: `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}`, listed by the
//! layout's rules ([`crate::core::registry::layout::list_folders`]), with every refused entry and every
//! folder that cannot be listed recorded, not fatal.

use std::path::{Path, PathBuf};

use super::InvalidBundle;
use crate::core::error::{Error, Result};
use crate::core::registry::layout::list_folders;

/// The folders of `dir` as (name, path), sorted by name; entries the layout refuses (symlinks
/// leaving the registry, broken ones) are recorded in `invalid`.
pub(super) fn subdirectories(
    dir: &Path,
    root_real: &Path,
    invalid: &mut Vec<InvalidBundle>,
) -> Result<Vec<(String, PathBuf)>> {
    let folders = list_folders(dir, root_real).map_err(|e| Error::io(dir, e))?;
    invalid.extend(
        folders
            .refused
            .into_iter()
            .map(|(path, reason)| InvalidBundle { path, reason }),
    );
    Ok(folders.found)
}

/// [`subdirectories`] of a SYMBOL or MODEL_TYPE folder: one that cannot be listed is recorded in
/// `invalid` with the reason and contributes nothing, so every other folder is still served.
pub(super) fn subdirectories_or_record(
    dir: &Path,
    root_real: &Path,
    invalid: &mut Vec<InvalidBundle>,
) -> Option<Vec<(String, PathBuf)>> {
    match subdirectories(dir, root_real, invalid) {
        Ok(found) => Some(found),
        Err(Error::Io { source, .. }) => {
            invalid.push(InvalidBundle {
                path: dir.to_path_buf(),
                reason: format!("the folder cannot be listed: {source}"),
            });
            None
        }
        Err(other) => {
            invalid.push(InvalidBundle {
                path: dir.to_path_buf(),
                reason: other.to_string(),
            });
            None
        }
    }
}
