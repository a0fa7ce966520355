//! The integrity manifest of a bundle: `manifest.json` in the version folder, holding the sha256
//! and size of every other file of the bundle.
//!
//! `atb models seal` and `atb models promote` write it, `atb models verify` checks it, and the
//! registry checks the model file against it while loading the model bytes, so that the bytes
//! hashed are the bytes the session is built from (the file is read once).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::error::{Error, Result};
use crate::core::onnx::session::{InferenceSession, ModelSource, SessionOptions};
use crate::core::registry::files::{
    confine, open_regular, read_capped, read_model_file, FileError,
};

/// The manifest's file name inside a version folder.
pub const MANIFEST_NAME: &str = "manifest.json";

/// A manifest larger than this is refused: it lists a handful of files.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// The largest model file loaded into memory: protobuf's own limit on one message.
pub const MAX_MODEL_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The recorded digest of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The content of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The hash algorithm; always `"sha256"`.
    pub algorithm: String,
    /// File name (inside the version folder) -> digest, sorted by name.
    pub files: BTreeMap<String, FileDigest>,
}

/// What checking a model's bytes against its bundle's manifest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// The bundle has no `manifest.json`.
    Unsealed,
    /// The bytes match the manifest's entry.
    Verified,
    /// The bytes differ from the manifest (or the manifest is unusable); the reason says how.
    Mismatch(String),
}

/// `PredictionConfig.verify_integrity`: how a model is checked against its manifest on opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrityMode {
    /// No check: the session is opened from the path.
    Off,
    /// A mismatch is reported (the bundle's `integrity` says why) and the model served; an
    /// unsealed bundle is opened from its path.
    #[default]
    Warn,
    /// A mismatch, an unusable or a missing manifest refuses the bundle.
    Strict,
}

impl IntegrityMode {
    /// `"off"`, `"warn"` or `"strict"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "off" => Ok(Self::Off),
            "warn" => Ok(Self::Warn),
            "strict" => Ok(Self::Strict),
            other => Err(Error::InvalidArgument(format!(
                "verify_integrity must be \"off\", \"warn\" or \"strict\", got {other:?}"
            ))),
        }
    }
}

/// How bundles' models are checked on opening: the mode, and the registry root that files must
/// stay inside (the model's own folder when `None`).
#[derive(Debug, Clone, Default)]
pub struct IntegrityCheck {
    /// Off, warn or strict.
    pub mode: IntegrityMode,
    /// The registry root (any form; it is resolved when used).
    pub root: Option<PathBuf>,
}

/// Opens the session of a registry model, checked per `check`: the model file is read once and
/// those bytes are both hashed against the manifest and handed to ONNX Runtime. The bytes come
/// back too, so that whatever else runs this bundle (a sweep's sessions, a remote worker) runs
/// exactly what was checked, without reading the file again.
///
/// Under [`IntegrityMode::Strict`] a mismatch or a missing manifest is an
/// [`Error::ModelLoad`] naming the file; under [`IntegrityMode::Warn`] the verdict comes back
/// with the session for the caller to report.
pub fn open_checked_session(
    model_path: &Path,
    check: &IntegrityCheck,
    options: &SessionOptions,
) -> Result<(InferenceSession, Integrity, Vec<u8>)> {
    let directory = model_path.parent().unwrap_or(Path::new("."));
    let origin = model_path.display().to_string();
    let sealed = std::fs::symlink_metadata(directory.join(MANIFEST_NAME)).is_ok();
    let (bytes, verdict) =
        if check.mode == IntegrityMode::Off || (check.mode == IntegrityMode::Warn && !sealed) {
            // Nothing to check against.
            let bytes = read_model_file(model_path).map_err(|reason| Error::ModelLoad {
                origin: origin.clone(),
                reason,
            })?;
            (bytes, Integrity::Unsealed)
        } else {
            let root = check.root.as_deref().unwrap_or(directory);
            let root_real = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
            load_model_bytes_verified(model_path, &root_real)?
        };
    let refused = |reason: String| Error::ModelLoad {
        origin: origin.clone(),
        reason: format!("integrity check failed: {reason}"),
    };
    if check.mode == IntegrityMode::Strict {
        match &verdict {
            Integrity::Mismatch(reason) => return Err(refused(reason.clone())),
            Integrity::Unsealed => {
                return Err(refused(
                    "the bundle has no manifest.json (seal it with `atb models seal`)".to_owned(),
                ))
            }
            Integrity::Verified => {}
        }
    }
    let source = ModelSource::Named {
        bytes: &bytes,
        origin: &origin,
    };
    let session = InferenceSession::open(source, options)?;
    Ok((session, verdict, bytes))
}

impl Manifest {
    /// Hashes every visible regular file of `directory` except the manifest itself.
    ///
    /// Files must stay inside `root_real` (the canonical registry root), as the scan requires.
    pub fn of_bundle(directory: &Path, root_real: &Path) -> Result<Self> {
        let mut files = BTreeMap::new();
        for name in bundle_files(directory)? {
            let path = directory.join(&name);
            let digest = hash_file(&path, root_real).map_err(|e| e.at(&path))?;
            files.insert(name, digest);
        }
        Ok(Self {
            algorithm: "sha256".to_owned(),
            files,
        })
    }

    /// Reads `directory/manifest.json`; `None` when there is none.
    pub fn read(directory: &Path, root_real: &Path) -> Result<Option<Self>> {
        let path = directory.join(MANIFEST_NAME);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let bytes = read_capped(&path, root_real, MAX_MANIFEST_BYTES).map_err(|e| e.at(&path))?;
        let manifest: Self =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidDocument {
                path: path.clone(),
                reason: format!("not a valid manifest: {e}"),
            })?;
        if manifest.algorithm != "sha256" {
            return Err(Error::InvalidDocument {
                path,
                reason: format!("unknown algorithm {:?}", manifest.algorithm),
            });
        }
        Ok(Some(manifest))
    }

    /// Writes `directory/manifest.json` atomically: a new temporary file (never following a
    /// planted symlink), fsynced, renamed over the old manifest, then the folder fsynced.
    pub fn write(&self, directory: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| Error::InvalidDocument {
            path: directory.join(MANIFEST_NAME),
            reason: e.to_string(),
        })?;
        text.push('\n');
        write_atomically(directory, MANIFEST_NAME, text.as_bytes())
    }

    /// What differs between this manifest and the files of `directory` now: one sentence per
    /// changed, missing or unlisted file; empty when the bundle is intact.
    pub fn changes(&self, directory: &Path, root_real: &Path) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let present = bundle_files(directory)?;
        for name in &present {
            if !self.files.contains_key(name) {
                problems.push(format!("{name}: not in the manifest (added after sealing)"));
            }
        }
        for (name, recorded) in &self.files {
            if !present.contains(name) {
                problems.push(format!("{name}: missing (listed in the manifest)"));
                continue;
            }
            match hash_file(&directory.join(name), root_real) {
                Ok(actual) => problems.extend(difference(name, recorded, &actual)),
                Err(error) => problems.push(format!("{name}: the file {error}")),
            }
        }
        Ok(problems)
    }
}

/// A bundle's files hashed once, set against its manifest: what a promotion checks under its
/// lock before it seals, so that the manifest it writes records exactly the bytes it checked.
#[derive(Debug, Clone)]
pub struct SealCheck {
    /// The manifest of the files as they are now.
    pub current: Manifest,
    /// How the files differ from the recorded manifest, one sentence each (as
    /// [`Manifest::changes`] words them); `None` when the bundle has no manifest.
    pub changes: Option<Vec<String>>,
}

impl SealCheck {
    /// Hashes every file of `directory` (inside `root_real`) once and compares the result with
    /// its `manifest.json`, if any.
    pub fn of_bundle(directory: &Path, root_real: &Path) -> Result<Self> {
        let current = Manifest::of_bundle(directory, root_real)?;
        let changes = Manifest::read(directory, root_real)?.map(|recorded| {
            let mut problems = Vec::new();
            for name in current.files.keys() {
                if !recorded.files.contains_key(name) {
                    problems.push(format!("{name}: not in the manifest (added after sealing)"));
                }
            }
            for (name, digest) in &recorded.files {
                match current.files.get(name) {
                    None => problems.push(format!("{name}: missing (listed in the manifest)")),
                    Some(actual) => problems.extend(difference(name, digest, actual)),
                }
            }
            problems
        });
        Ok(Self { current, changes })
    }
}

/// Reads a model file once and checks those bytes against the bundle's manifest.
///
/// The manifest is `manifest.json` in the model's folder. The bytes come back whatever the
/// verdict, so the caller decides (per `verify_integrity`) whether to build a session from them.
/// The file must be a regular file inside `root_real` of at most [`MAX_MODEL_BYTES`] (or the
/// manifest's recorded size plus one byte, whichever is smaller).
pub fn load_model_bytes_verified(
    model_path: &Path,
    root_real: &Path,
) -> Result<(Vec<u8>, Integrity)> {
    let directory = model_path.parent().unwrap_or(Path::new("."));
    let name = model_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let manifest = match Manifest::read(directory, root_real) {
        Ok(manifest) => manifest,
        Err(error) => {
            let bytes = read_model(model_path, root_real, MAX_MODEL_BYTES)?;
            return Ok((bytes, Integrity::Mismatch(error.to_string())));
        }
    };
    let Some(manifest) = manifest else {
        let bytes = read_model(model_path, root_real, MAX_MODEL_BYTES)?;
        return Ok((bytes, Integrity::Unsealed));
    };
    let Some(recorded) = manifest.files.get(name) else {
        let bytes = read_model(model_path, root_real, MAX_MODEL_BYTES)?;
        let reason = format!("{name}: not in the manifest (added after sealing)");
        return Ok((bytes, Integrity::Mismatch(reason)));
    };
    // One byte over the recorded size is enough to know the file changed.
    let cap = recorded.size.saturating_add(1).min(MAX_MODEL_BYTES);
    let bytes = read_model(model_path, root_real, cap)?;
    let actual = FileDigest {
        sha256: sha256_hex(&bytes),
        size: bytes.len() as u64,
    };
    let verdict = match difference(name, recorded, &actual) {
        Some(reason) => Integrity::Mismatch(reason),
        None => Integrity::Verified,
    };
    Ok((bytes, verdict))
}

fn read_model(path: &Path, root_real: &Path, cap: u64) -> Result<Vec<u8>> {
    read_capped(path, root_real, cap).map_err(|error| Error::ModelLoad {
        origin: path.display().to_string(),
        reason: format!("the file {error}"),
    })
}

fn difference(name: &str, recorded: &FileDigest, actual: &FileDigest) -> Option<String> {
    if recorded.size != actual.size {
        Some(format!(
            "{name}: changed (size {} bytes, the manifest records {})",
            actual.size, recorded.size
        ))
    } else if recorded.sha256 != actual.sha256 {
        Some(format!(
            "{name}: changed (sha256 {}, the manifest records {})",
            actual.sha256, recorded.sha256
        ))
    } else {
        None
    }
}

/// The names a manifest covers: visible entries of `directory` other than the manifest and
/// folders, sorted. FIFOs and links out of the registry are listed, so hashing them fails loudly.
fn bundle_files(directory: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(|e| Error::io(directory, e))? {
        let entry = entry.map_err(|e| Error::io(directory, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') || name == MANIFEST_NAME {
            continue;
        }
        if std::fs::metadata(entry.path()).is_ok_and(|meta| meta.is_dir()) {
            continue;
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// Streams `path` through sha256: a regular file inside `root_real`, never loaded whole.
fn hash_file(path: &Path, root_real: &Path) -> std::result::Result<FileDigest, FileError> {
    confine(path, root_real)?;
    let mut file = open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(FileError::Read)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
    }
    Ok(FileDigest {
        sha256: hex(&hasher.finalize()),
        size,
    })
}

/// The lower-case hex sha256 of `bytes`: how a manifest, and a gate's evidence, name content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// Writes `directory/name` atomically with a fresh temporary file: `O_EXCL` and `O_NOFOLLOW`, so
/// neither the temporary nor a symlink planted at its name is ever followed.
pub fn write_atomically(directory: &Path, name: &str, content: &[u8]) -> Result<()> {
    let temporary: PathBuf = directory.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        unique_suffix()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        options.mode(0o644);
    }
    let result = (|| {
        let mut file = options
            .open(&temporary)
            .map_err(|e| Error::io(&temporary, e))?;
        file.write_all(content)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&temporary, e))?;
        let target = directory.join(name);
        std::fs::rename(&temporary, &target).map_err(|e| Error::io(&target, e))?;
        sync_folder(directory)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn unique_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let counter = {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
    (u64::from(nanos) << 16) ^ counter
}

/// Makes a rename in `directory` durable.
fn sync_folder(directory: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let folder = std::fs::File::open(directory).map_err(|e| Error::io(directory, e))?;
        folder.sync_all().map_err(|e| Error::io(directory, e))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn bundle(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("atb-manifest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), b"\x08\x08model bytes").unwrap();
        std::fs::write(dir.join("metadata.json"), b"{}").unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    fn a_sealed_bundle_verifies_and_a_flipped_byte_in_any_file_is_named() {
        let dir = bundle("flip");
        Manifest::of_bundle(&dir, &dir)
            .unwrap()
            .write(&dir)
            .unwrap();
        let manifest = Manifest::read(&dir, &dir).unwrap().unwrap();
        assert!(manifest.changes(&dir, &dir).unwrap().is_empty());
        let (_, verdict) = load_model_bytes_verified(&dir.join("model.onnx"), &dir).unwrap();
        assert_eq!(verdict, Integrity::Verified);
        for name in ["model.onnx", "metadata.json"] {
            let path = dir.join(name);
            let original = std::fs::read(&path).unwrap();
            let mut flipped = original.clone();
            flipped[1] ^= 0x01;
            std::fs::write(&path, &flipped).unwrap();
            let changes = manifest.changes(&dir, &dir).unwrap();
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert!(changes[0].starts_with(&format!("{name}: changed")));
            std::fs::write(&path, &original).unwrap();
        }
        std::fs::write(dir.join("model.onnx"), b"\x08\x08model bytez").unwrap();
        let (bytes, verdict) = load_model_bytes_verified(&dir.join("model.onnx"), &dir).unwrap();
        assert_eq!(bytes, b"\x08\x08model bytez");
        assert!(matches!(verdict, Integrity::Mismatch(r) if r.contains("sha256")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unsealed_bundle_loads_and_a_planted_temporary_link_is_not_followed() {
        let dir = bundle("unsealed");
        let (_, verdict) = load_model_bytes_verified(&dir.join("model.onnx"), &dir).unwrap();
        assert_eq!(verdict, Integrity::Unsealed);
        std::os::unix::fs::symlink("/nonexistent-target", dir.join(MANIFEST_NAME)).unwrap();
        // A dangling manifest link is an unusable manifest, not a crash.
        let (_, verdict) = load_model_bytes_verified(&dir.join("model.onnx"), &dir).unwrap();
        assert!(matches!(verdict, Integrity::Mismatch(_)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
