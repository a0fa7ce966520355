//! Cheap change detection for a version folder, so an unchanged rescan skips reading it.

use std::path::Path;

/// Size, modification time and inode of one path; all zero when the path is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stamp {
    exists: bool,
    size: u64,
    modified_ns: i128,
    inode: u64,
}

fn stamp(path: &Path) -> Stamp {
    let Ok(meta) = std::fs::metadata(path) else {
        return Stamp::default();
    };
    #[cfg(unix)]
    let (modified_ns, inode) = {
        use std::os::unix::fs::MetadataExt;
        (
            i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            meta.ino(),
        )
    };
    #[cfg(not(unix))]
    let (modified_ns, inode) = (
        meta.modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128),
        0,
    );
    Stamp {
        exists: true,
        size: meta.len(),
        modified_ns,
        inode,
    }
}

/// What a stamp was taken of: the folder itself, or a file in it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Folder,
    File(String),
}

/// The stamps of a version folder and of the files a scan read from it, taken before reading.
///
/// The folder's own modification time changes when a file is added, removed or renamed in it; a
/// file's stamp changes when it is rewritten in place or replaced. Each stamp is a system call,
/// and on a rescan these calls are nearly all the work, so [`Fingerprint::keep`] drops the ones
/// that cannot change the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    stamps: Vec<(Subject, Stamp)>,
}

impl Fingerprint {
    /// Stamps `directory` and each of `files` (names inside it).
    pub fn take(directory: &Path, files: &[&str]) -> Self {
        let mut fingerprint = Self {
            stamps: vec![(Subject::Folder, stamp(directory))],
        };
        for file in files {
            fingerprint.add(directory, file);
        }
        fingerprint
    }

    /// Adds the stamp of one more file; call it before reading that file.
    pub fn add(&mut self, directory: &Path, file: &str) {
        let subject = Subject::File(file.to_owned());
        self.stamps.push((subject, stamp(&directory.join(file))));
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
        self.stamps.iter().all(|(subject, before)| {
            let now = match subject {
                Subject::Folder => stamp(directory),
                Subject::File(name) => stamp(&directory.join(name)),
            };
            now == *before
        })
    }
}

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
}
