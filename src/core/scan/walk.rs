//! Walking the registry's folders: `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}`, with symlinked
//! folders confined to the registry and a folder that cannot be listed recorded, not fatal.

use std::path::{Path, PathBuf};

use super::{InvalidBundle, LATEST};
use crate::core::error::{Error, Result};

/// The visible subfolders of `dir` as (name, path), sorted by name. Symlinked folders are followed
/// only when they stay inside the registry; hidden entries (lock and temporary files) are skipped.
pub(super) fn subdirectories(
    dir: &Path,
    root_real: &Path,
    invalid: &mut Vec<InvalidBundle>,
) -> Result<Vec<(String, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            found.push((name, path));
        } else if file_type.is_symlink() && name != LATEST {
            match std::fs::canonicalize(&path) {
                Ok(real) if real.starts_with(root_real) && real.is_dir() => {
                    found.push((name, path))
                }
                Ok(real) if real.is_dir() => invalid.push(InvalidBundle {
                    reason: format!("symlink leaves the registry (points to {})", real.display()),
                    path,
                }),
                Ok(_) => {}
                Err(error) => invalid.push(InvalidBundle {
                    reason: format!("broken symlink: {error}"),
                    path,
                }),
            }
        } else if name == LATEST {
            found.push((name, path));
        }
    }
    found.sort();
    Ok(found)
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
