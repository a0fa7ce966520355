//! Cheap change detection for a version folder, so an unchanged rescan skips reading it.

use std::path::Path;

/// Size, modification time and inode of one path; `None` fields when the path is absent.
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

/// The stamps of a version folder and of the files a scan reads from it.
///
/// The folder's own modification time changes when a file is added, removed or renamed in it; the
/// files' stamps change when one is rewritten in place or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    stamps: Vec<Stamp>,
}

impl Fingerprint {
    /// Stamps `directory` and each of `files` (names inside it).
    pub fn take(directory: &Path, files: &[&str]) -> Self {
        let mut stamps = Vec::with_capacity(files.len() + 1);
        stamps.push(stamp(directory));
        stamps.extend(files.iter().map(|name| stamp(&directory.join(name))));
        Self { stamps }
    }

    /// Adds the stamp of one more file; call it before reading that file.
    pub fn add(&mut self, directory: &Path, file: &str) {
        self.stamps.push(stamp(&directory.join(file)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewritten_file_changes_the_fingerprint() {
        let dir = std::env::temp_dir().join(format!("atb-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.json"), "{}").unwrap();
        let before = Fingerprint::take(&dir, &["a.json", "missing.json"]);
        assert_eq!(before, Fingerprint::take(&dir, &["a.json", "missing.json"]));
        std::fs::write(dir.join("a.json"), "{\"k\": 1}").unwrap();
        assert_ne!(before, Fingerprint::take(&dir, &["a.json", "missing.json"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
