//! The `latest` pointer of a model type: [`read_latest`], the one reader of `latest` (the scan
//! resolves its result to the production version; promotion, validation and the CLI reach it
//! through `_core.read_latest`), and the scan's resolution of it.
//!
//! The one writer of `latest` is `atb_prediction.promotion.swap.swap_latest` (a symlink renamed
//! over it), kept in Python so that crash tests can stop a promotion between its steps.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::core::registry::files::open_regular;
use crate::core::registry::layout::{pointer_version, LATEST};

/// What a model type's `latest` entry holds, read without resolving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pointer {
    /// There is no `latest` entry.
    Missing,
    /// A symlink, with its target as written (lossily decoded when not UTF-8).
    Symlink(String),
    /// A small file holding a version name: what git checks out for a symlink where symlinks
    /// are off.
    File(String),
}

/// Why a `latest` entry is not a pointer; each message names `latest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// `latest` is a real directory.
    #[error("`latest` is a directory, not a pointer to a version")]
    Directory,
    /// A FIFO, a device, or a file whose content is not a version name.
    #[error("{0}")]
    NotAPointer(String),
    /// The entry could not be read.
    #[error("`latest` cannot be read: {0}")]
    Unreadable(String),
}

/// The longest pointer file accepted: a version name.
const POINTER_MAX_BYTES: u64 = 256;

/// Reads `type_dir/latest` without following or resolving it.
pub fn read_latest(type_dir: &Path) -> Result<Pointer, PointerError> {
    let latest = type_dir.join(LATEST);
    let meta = match std::fs::symlink_metadata(&latest) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Pointer::Missing),
        Err(error) => return Err(PointerError::Unreadable(error.to_string())),
    };
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(&latest).map_err(|e| PointerError::Unreadable(e.to_string()))?;
        return Ok(Pointer::Symlink(target.to_string_lossy().into_owned()));
    }
    if meta.is_dir() {
        return Err(PointerError::Directory);
    }
    if !meta.is_file() {
        return Err(PointerError::NotAPointer(
            "`latest` is neither a symlink nor a pointer file".to_owned(),
        ));
    }
    let mut raw = Vec::new();
    open_regular(&latest)
        .map_err(|e| PointerError::NotAPointer(format!("`latest` {e}")))?
        .take(POINTER_MAX_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| PointerError::Unreadable(e.to_string()))?;
    let text = String::from_utf8_lossy(&raw);
    let name = text.trim();
    if raw.len() as u64 > POINTER_MAX_BYTES
        || name.is_empty()
        || name.contains(['/', '\\', '\n'])
        || name == "."
        || name == ".."
    {
        return Err(PointerError::NotAPointer(format!(
            "`latest` is a file whose content {name:?} is not a version name"
        )));
    }
    Ok(Pointer::File(name.to_owned()))
}

/// Decides the production version of one model type.
pub(super) fn resolve_production(
    type_dir: &Path,
    root_real: &Path,
    versions: &[&str],
    failures: &HashMap<PathBuf, String>,
) -> (std::result::Result<String, String>, bool) {
    let pointed = match read_latest(type_dir) {
        Ok(Pointer::Symlink(target)) => symlink_target(
            &type_dir.join(LATEST),
            &target,
            type_dir,
            root_real,
            versions,
        ),
        Ok(Pointer::File(name)) => Ok(name),
        Ok(Pointer::Missing) => {
            // No pointer at all: upstream's fallback to the highest-sorted version.
            return match versions.last() {
                Some(version) => (check_version(type_dir, version, failures), false),
                None => (Err("no versions".to_owned()), false),
            };
        }
        Err(error) => Err(error.to_string()),
    };
    let production = pointed.and_then(|version| {
        if versions.contains(&version.as_str()) {
            check_version(type_dir, &version, failures)
        } else {
            Err(format!(
                "`latest` points to {version:?}, which is not a version folder here"
            ))
        }
    });
    (production, true)
}

fn check_version(
    type_dir: &Path,
    version: &str,
    failures: &HashMap<PathBuf, String>,
) -> std::result::Result<String, String> {
    match failures.get(&type_dir.join(version)) {
        Some(reason) => Err(format!(
            "production version {version:?} is invalid: {reason}"
        )),
        None => Ok(version.to_owned()),
    }
}

fn symlink_target(
    latest: &Path,
    target: &str,
    type_dir: &Path,
    root_real: &Path,
    versions: &[&str],
) -> std::result::Result<String, String> {
    // The usual pointer, `latest -> VERSION`, names a sibling folder the listing already found
    // inside the registry: no need to resolve the whole path again.
    if let Some(version) = pointer_version(target, type_dir) {
        if versions.contains(&version.as_str()) {
            return Ok(version);
        }
    }
    let real = std::fs::canonicalize(latest).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            format!("`latest` dangles: {target} does not exist")
        } else if error.raw_os_error() == Some(LOOP_ERRNO) {
            format!("`latest` is a symlink loop ({target})")
        } else {
            format!("`latest` cannot be resolved: {error}")
        }
    })?;
    if !real.starts_with(root_real) {
        return Err(format!(
            "`latest` leaves the registry: it points to {}",
            real.display()
        ));
    }
    let type_real = std::fs::canonicalize(type_dir)
        .map_err(|e| format!("cannot resolve {}: {e}", type_dir.display()))?;
    if real.parent() != Some(type_real.as_path()) {
        return Err(format!(
            "`latest` points to {}, which is not a version of this model type",
            real.display()
        ));
    }
    real.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| "`latest` points to a folder without a name".to_owned())
}

#[cfg(target_os = "linux")]
const LOOP_ERRNO: i32 = 40;
#[cfg(not(target_os = "linux"))]
const LOOP_ERRNO: i32 = 62;

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_latest_is_read_without_following_or_blocking() {
        let dir = std::env::temp_dir().join(format!("atb-pointer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(read_latest(&dir), Ok(Pointer::Missing));
        std::os::unix::fs::symlink("/nowhere/v1", dir.join(LATEST)).unwrap();
        assert_eq!(
            read_latest(&dir),
            Ok(Pointer::Symlink("/nowhere/v1".to_owned()))
        );
        std::fs::remove_file(dir.join(LATEST)).unwrap();
        std::fs::write(dir.join(LATEST), "2025-01-01_1h_v1\n").unwrap();
        assert_eq!(
            read_latest(&dir),
            Ok(Pointer::File("2025-01-01_1h_v1".to_owned()))
        );
        std::fs::write(dir.join(LATEST), "../../etc").unwrap();
        assert!(matches!(
            read_latest(&dir),
            Err(PointerError::NotAPointer(_))
        ));
        std::fs::remove_file(dir.join(LATEST)).unwrap();
        let name = std::ffi::CString::new(dir.join(LATEST).to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        assert!(matches!(
            read_latest(&dir),
            Err(PointerError::NotAPointer(_))
        ));
        std::fs::remove_file(dir.join(LATEST)).unwrap();
        std::fs::create_dir(dir.join(LATEST)).unwrap();
        assert_eq!(read_latest(&dir), Err(PointerError::Directory));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
