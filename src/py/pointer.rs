//! `read_latest`: the core's one reader of a model type's `latest` entry, for promotion,
//! validation and the CLI.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::core::registry::layout::pointer_version;
use crate::core::registry::scan::{read_latest as read, Pointer, PointerError};

/// Reads `type_dir/latest` without resolving it, as `(form, value)`.
///
/// `form` is `"none"` (value `None`), `"symlink"` (value: the version it names when its
/// target is a folder beside it, `core::layout::pointer_version`, else the target as written),
/// `"file"`
/// (value: the version name a pointer file holds), or, when `latest` is not a pointer,
/// `"directory"`, `"invalid"` or `"unreadable"` (value: the reason). The caller decides which
/// of those is an error.
#[pyfunction]
pub fn read_latest(type_dir: PathBuf) -> (&'static str, Option<String>) {
    match read(&type_dir) {
        Ok(Pointer::Missing) => ("none", None),
        Ok(Pointer::Symlink(target)) => (
            "symlink",
            Some(pointer_version(&target, &type_dir).unwrap_or(target)),
        ),
        Ok(Pointer::File(name)) => ("file", Some(name)),
        Err(error @ PointerError::Directory) => ("directory", Some(error.to_string())),
        Err(error @ PointerError::NotAPointer(_)) => ("invalid", Some(error.to_string())),
        Err(error @ PointerError::Unreadable(_)) => ("unreadable", Some(error.to_string())),
    }
}
