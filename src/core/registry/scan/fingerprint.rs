//! Cheap change detection for a version folder, so an unchanged rescan skips reading it.

use std::ffi::CString;
use std::path::Path;

/// Size, modification time and inode of one path; all zero when the path is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stamp {
    exists: bool,
    size: u64,
    modified_ns: i128,
    inode: u64,
}

/// What a stamp was taken of: the folder itself, or a file in it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Folder,
    File(CString),
}

/// The stamps of a version folder and of the files a scan read from it, taken before reading.
///
/// The folder's own modification time changes when a file is added, removed or renamed in it; a
/// file's stamp changes when it is rewritten in place or replaced. Each stamp is a system call,
/// and on a rescan these calls are nearly all the work, so [`Fingerprint::keep`] drops the ones
/// that cannot change the outcome, and stamps are taken through a handle on the folder so that
/// each resolves one path component rather than the whole path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    stamps: Vec<(Subject, Stamp)>,
}

impl Fingerprint {
    /// Stamps `directory` and each of `files` (names inside it).
    pub fn take(directory: &Path, files: &[&str]) -> Self {
        let folder = Folder::open(directory);
        let mut stamps = vec![(Subject::Folder, folder.stamp(None))];
        for file in files {
            let name = file_name(file);
            let stamp = folder.stamp(Some(&name));
            stamps.push((Subject::File(name), stamp));
        }
        Self { stamps }
    }

    /// Adds the stamp of one more file; call it before reading that file.
    pub fn add(&mut self, directory: &Path, file: &str) {
        let name = file_name(file);
        let stamp = Folder::open(directory).stamp(Some(&name));
        self.stamps.push((Subject::File(name), stamp));
    }

    /// Keeps the stamps of the files that exist, and the folder's only when `folder` is true
    /// (when a file appearing in the folder could change the outcome).
    pub fn keep(&mut self, folder: bool) {
        self.stamps.retain(|(subject, stamp)| match subject {
            Subject::Folder => folder,
            Subject::File(_) => stamp.exists,
        });
    }

    /// Whether `directory` still matches: the same stamps, taken again.
    pub fn matches(&self, directory: &Path) -> bool {
        let folder = Folder::open(directory);
        self.stamps.iter().all(|(subject, before)| {
            let now = match subject {
                Subject::Folder => folder.stamp(None),
                Subject::File(name) => folder.stamp(Some(name)),
            };
            now == *before
        })
    }
}

/// File names here are the scan's own (`metadata.json`, a model file name read from a folder
/// listing or checked by the schema), so an interior NUL cannot occur; one would only make the
/// stamp read as absent.
fn file_name(name: &str) -> CString {
    CString::new(name).unwrap_or_default()
}

#[cfg(unix)]
mod platform {
    use std::ffi::{CStr, CString};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::Stamp;

    #[cfg(target_os = "linux")]
    const OPEN_FLAGS: libc::c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    const OPEN_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

    /// A handle on a folder (Linux: an `O_PATH` descriptor, which reads nothing).
    pub struct Folder(Option<OwnedFd>);

    impl Folder {
        pub fn open(path: &Path) -> Self {
            let bytes = path.as_os_str().as_bytes();
            if bytes.contains(&0) {
                return Self(None);
            }
            // Paths of ordinary length are NUL-terminated on the stack: on a rescan this runs
            // once per version folder, and a heap allocation would cost as much as the rest.
            let mut buffer = [0u8; 1024];
            let fd = if bytes.len() < buffer.len() {
                buffer[..bytes.len()].copy_from_slice(bytes);
                // SAFETY: `buffer` holds the path followed by at least one NUL.
                unsafe { libc::open(buffer.as_ptr().cast(), OPEN_FLAGS) }
            } else {
                match CString::new(bytes) {
                    // SAFETY: `path` is a valid NUL-terminated string; the result is checked.
                    Ok(path) => unsafe { libc::open(path.as_ptr(), OPEN_FLAGS) },
                    Err(_) => -1,
                }
            };
            // SAFETY: a non-negative `fd` was just opened and is owned by nothing else.
            Self((fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }))
        }

        /// The folder's stamp (`None`) or the stamp of a file in it.
        pub fn stamp(&self, name: Option<&CStr>) -> Stamp {
            let Some(fd) = &self.0 else {
                return Stamp::default();
            };
            // SAFETY: `stat` is plain data that the call fills; `fd` is open and `name` is
            // NUL-terminated.
            let mut stat: libc::stat = unsafe { std::mem::zeroed() };
            let status = unsafe {
                match name {
                    Some(name) => libc::fstatat(fd.as_raw_fd(), name.as_ptr(), &mut stat, 0),
                    None => libc::fstat(fd.as_raw_fd(), &mut stat),
                }
            };
            if status != 0 {
                return Stamp::default();
            }
            #[allow(clippy::unnecessary_cast)]
            Stamp {
                exists: true,
                size: stat.st_size as u64,
                modified_ns: i128::from(stat.st_mtime) * 1_000_000_000
                    + i128::from(stat.st_mtime_nsec),
                inode: stat.st_ino as u64,
            }
        }
    }
}

#[cfg(not(unix))]
mod platform {
    use std::ffi::CStr;
    use std::path::{Path, PathBuf};

    use super::Stamp;

    /// A folder's path; every stamp resolves the whole path.
    pub struct Folder(PathBuf);

    impl Folder {
        pub fn open(path: &Path) -> Self {
            Self(path.to_path_buf())
        }

        pub fn stamp(&self, name: Option<&CStr>) -> Stamp {
            let path = match name {
                Some(name) => self.0.join(name.to_string_lossy().as_ref()),
                None => self.0.clone(),
            };
            let Ok(meta) = std::fs::metadata(path) else {
                return Stamp::default();
            };
            Stamp {
                exists: true,
                size: meta.len(),
                modified_ns: meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128),
                inode: 0,
            }
        }
    }
}

use platform::Folder;

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("atb-fp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_rewritten_file_changes_the_fingerprint() {
        let dir = scratch("rewrite");
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        let before = Fingerprint::take(&dir, &["a.json", "missing.json"]);
        assert!(before.matches(&dir));
        std::fs::write(dir.join("a.json"), "{\"k\": 1}").unwrap();
        assert!(!before.matches(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_file_is_seen_through_the_folder_stamp() {
        let dir = scratch("new");
        let mut before = Fingerprint::take(&dir, &["missing.json"]);
        before.keep(true);
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(dir.join("missing.json"), "{}").unwrap();
        assert!(!before.matches(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_never_matches_a_present_one() {
        let dir = scratch("gone");
        let before = Fingerprint::take(&dir, &[]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!before.matches(&dir));
    }
}
