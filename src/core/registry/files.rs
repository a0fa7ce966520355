//! Opening registry files without trusting them.
//!
//! A registry folder may be writable by others (see SECURITY.md), so a file found in a bundle
//! may be a FIFO that blocks forever, a link to `/dev/zero` whose reported size is 0, or a
//! symlink to a secret outside the registry. Every bundle file the core reads goes through
//! [`read_capped`]: regular files only (checked on the opened handle, never blocking on open),
//! sizes capped while reading rather than from `stat`, and symlinks confined to the registry root.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::core::error::Error;
use crate::core::onnx::runtime;
use crate::core::onnx::session::{InferenceSession, ModelSource, SessionOptions};

/// Why a registry file was not read. Each message completes a sentence starting with the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened (missing, unreadable, a dangling symlink...).
    #[error("cannot be opened: {0}")]
    Open(std::io::Error),
    /// The path is a FIFO, a device, a socket or a folder.
    #[error("is not a regular file (it is {0})")]
    NotRegular(&'static str),
    /// More bytes were read than the cap allows.
    #[error("is over {cap} bytes; larger files are refused")]
    TooLarge {
        /// The cap that was passed.
        cap: u64,
    },
    /// Reading failed part way.
    #[error("cannot be read: {0}")]
    Read(std::io::Error),
    /// A symlink (at the file itself) that resolves outside the registry root.
    #[error("is a symlink that leaves the registry (it points to {})", .0.display())]
    Escapes(PathBuf),
}

impl FileError {
    /// The core error for `path`: an I/O error for open and read failures, an invalid document
    /// (its reason completing "the file ...") otherwise.
    pub fn at(self, path: &Path) -> crate::core::error::Error {
        match self {
            Self::Open(source) | Self::Read(source) => crate::core::error::Error::io(path, source),
            other => crate::core::error::Error::InvalidDocument {
                path: path.to_path_buf(),
                reason: format!("the file {other}"),
            },
        }
    }
}

/// Refuses `path` when it is a symlink resolving outside `root_real` (the canonical root).
///
/// Folders above `path` are confined by the walk; this confines the last component, the file.
pub fn confine(path: &Path, root_real: &Path) -> Result<(), FileError> {
    let is_link = std::fs::symlink_metadata(path)
        .map(|meta| meta.file_type().is_symlink())
        .map_err(FileError::Open)?;
    if is_link {
        let real = std::fs::canonicalize(path).map_err(FileError::Open)?;
        if !real.starts_with(root_real) {
            return Err(FileError::Escapes(real));
        }
    }
    Ok(())
}

/// Opens `path` for reading when it is a regular file, without blocking on a FIFO or device.
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
        // It has no effect on reads of regular files, the only files read after the check below.
        options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = options.open(path).map_err(FileError::Open)?;
    let file_type = file.metadata().map_err(FileError::Open)?.file_type();
    if !file_type.is_file() {
        return Err(FileError::NotRegular(describe(&file_type)));
    }
    Ok(file)
}

/// Reads all of `path` (a regular file inside `root_real`) when it holds at most `cap` bytes.
///
/// At most `cap + 1` bytes are read, so a file that grows, or lies about its size, cannot make
/// the process allocate more than the cap.
pub fn read_capped(path: &Path, root_real: &Path, cap: u64) -> Result<Vec<u8>, FileError> {
    confine(path, root_real)?;
    let file = open_regular(path)?;
    let hint = file.metadata().map(|m| m.len()).unwrap_or(0).min(cap);
    // The size comes from the file system, so the room for it is asked for fallibly (and
    // `read_to_end` grows the buffer fallibly too, reporting `OutOfMemory`).
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(usize::try_from(hint).unwrap_or(usize::MAX))
        .map_err(|_| {
            FileError::Read(std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("not enough memory to read its {hint} bytes"),
            ))
        })?;
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Read)?;
    if bytes.len() as u64 > cap {
        return Err(FileError::TooLarge { cap });
    }
    Ok(bytes)
}

fn describe(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Reads a model file: a regular file only (a FIFO or a device would block or never end), and
/// no more bytes than its size said, so nothing is allocated that the file system did not report.
pub fn read_model_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let file = open_regular(path).map_err(|error| match error {
        FileError::Open(error) if error.kind() == std::io::ErrorKind::NotFound => {
            "the file does not exist".to_owned()
        }
        FileError::NotRegular(_) => "not a regular file".to_owned(),
        FileError::Open(error) | FileError::Read(error) => {
            format!("the file cannot be read: {error}")
        }
        other => other.to_string(),
    })?;
    let metadata = file
        .metadata()
        .map_err(|error| format!("the file cannot be read: {error}"))?;
    let len = usize::try_from(metadata.len()).map_err(|_| "the file is too large".to_owned())?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(len)
        .map_err(|_| format!("the file is too large to load ({len} bytes)"))?;
    file.take(metadata.len())
        .read_to_end(&mut bytes)
        .map_err(|error| format!("the file cannot be read: {error}"))?;
    Ok(bytes)
}

/// Opens the session of a model file on disk: read here, with [`read_model_file`]'s guards, so a
/// missing or empty file gets a plain message instead of a protobuf parse error, and the session
/// never depends on the file staying in place.
pub fn open_session_file(
    path: &Path,
    options: &SessionOptions,
) -> crate::core::Result<InferenceSession> {
    runtime::require_loaded()?;
    let origin = path.display().to_string();
    let bytes = read_model_file(path).map_err(|reason| Error::ModelLoad {
        origin: origin.clone(),
        reason,
    })?;
    InferenceSession::open(
        ModelSource::Named {
            bytes: &bytes,
            origin: &origin,
        },
        options,
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("atb-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = folder("fifo");
        let fifo = dir.join("metadata.json");
        let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        let error = read_capped(&fifo, &dir, 100).unwrap_err();
        assert!(matches!(error, FileError::NotRegular("a FIFO")), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_to_a_device_and_a_link_out_of_the_root_are_refused() {
        let dir = folder("links");
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero")).unwrap();
        let error = read_capped(&dir.join("zero"), Path::new("/"), 100).unwrap_err();
        assert!(
            matches!(error, FileError::NotRegular("a device")),
            "{error}"
        );
        let error = read_capped(&dir.join("zero"), &dir, 100).unwrap_err();
        assert!(matches!(error, FileError::Escapes(_)), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cap_is_enforced_while_reading_and_links_inside_are_fine() {
        let dir = folder("cap");
        std::fs::write(dir.join("big"), [7u8; 101]).unwrap();
        std::os::unix::fs::symlink("big", dir.join("link")).unwrap();
        assert!(matches!(
            read_capped(&dir.join("link"), &dir, 100),
            Err(FileError::TooLarge { cap: 100 })
        ));
        assert_eq!(
            read_capped(&dir.join("link"), &dir, 101).unwrap().len(),
            101
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
