//! Scanning a model registry: `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}/` bundles and the `latest`
//! pointer of each model type, read in parallel, validated, and never failing as a whole because
//! of one bad bundle.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use crate::core::error::{Error, Result};
use crate::core::fingerprint::Fingerprint;
use crate::core::hashing::FastMap;
use crate::core::json::{read_object, JsonDocument};
use crate::core::schema::{BundleSchemas, DocumentKind};

/// The name of the production pointer in each model-type folder.
pub const LATEST: &str = "latest";

const DOCUMENTS: [DocumentKind; 3] = [
    DocumentKind::Metadata,
    DocumentKind::FeatureSchema,
    DocumentKind::Metrics,
];
const JSON_FILES: [&str; 3] = ["metadata.json", "feature_schema.json", "metrics.json"];

/// One valid version folder.
#[derive(Debug)]
pub struct VersionRecord {
    /// The symbol folder's name.
    pub symbol: String,
    /// The model-type folder's name.
    pub model_type: String,
    /// The version folder's name.
    pub version_id: String,
    /// From metadata, else from a `{YYYY-MM-DD}_{TIMEFRAME}_vN` version id, else `"unknown"`.
    pub timeframe: String,
    /// The version folder.
    pub directory: PathBuf,
    /// The ONNX model file.
    pub model_path: PathBuf,
    /// `metadata.json`, when present.
    pub metadata: Option<JsonDocument>,
    /// `feature_schema.json`, when present.
    pub feature_schema: Option<JsonDocument>,
    /// `metrics.json`, when present.
    pub metrics: Option<JsonDocument>,
}

impl VersionRecord {
    /// `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`, the key upstream's `get_bundle_by_key` takes.
    pub fn key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.symbol, self.timeframe, self.model_type, self.version_id
        )
    }

    /// A string field of `metadata.json`.
    pub fn metadata_str(&self, field: &str) -> Option<&str> {
        self.metadata.as_ref()?.value.get(field)?.as_str()
    }
}

/// A bundle that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBundle {
    /// The folder (or `latest` pointer) concerned.
    pub path: PathBuf,
    /// What was wrong, naming the file and, for schema failures, the JSON pointer.
    pub reason: String,
}

/// The production version of one `SYMBOL/MODEL_TYPE`, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelTypeState {
    /// The symbol folder's name.
    pub symbol: String,
    /// The model-type folder's name.
    pub model_type: String,
    /// The production version id, or the reason the model type is unavailable.
    pub production: std::result::Result<String, String>,
    /// Whether production came from a `latest` pointer (else from the highest-sorted fallback).
    pub from_latest: bool,
}

type CachedOutcome = std::result::Result<Arc<VersionRecord>, String>;

/// What a rescan may reuse of one version folder: its stamps and what reading it gave.
#[derive(Debug)]
struct CachedVersion {
    fingerprint: Fingerprint,
    outcome: CachedOutcome,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct RegistryIndex {
    /// The registry root as given (made absolute).
    pub root: PathBuf,
    /// Every valid version, sorted by (symbol, model type, version id).
    pub versions: Vec<Arc<VersionRecord>>,
    /// Every skipped bundle, sorted by path.
    pub invalid: Vec<InvalidBundle>,
    /// One entry per model type, sorted by (symbol, model type).
    pub model_types: Vec<ModelTypeState>,
    reused: usize,
    schema_fingerprint: u64,
    cache: FastMap<PathBuf, Arc<CachedVersion>>,
}

impl RegistryIndex {
    /// How many version folders were taken unchanged from the previous index.
    pub fn reused(&self) -> usize {
        self.reused
    }
}

/// Scans `root`. With `previous`, version folders whose files are unchanged are not read again.
///
/// Only a missing or unreadable root is an error; every problem below it is recorded in
/// [`RegistryIndex::invalid`] or as an unavailable model type.
pub fn scan(
    root: &Path,
    schemas: &BundleSchemas,
    previous: Option<&RegistryIndex>,
) -> Result<RegistryIndex> {
    let root = std::path::absolute(root).map_err(|e| Error::io(root, e))?;
    let root_real = std::fs::canonicalize(&root).map_err(|e| Error::io(&root, e))?;
    if !root_real.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "registry root {} is not a directory",
            root.display()
        )));
    }
    let previous = previous.filter(|p| p.schema_fingerprint == schemas.fingerprint());

    let mut invalid = Vec::new();
    let mut type_dirs = Vec::new();
    for (symbol, symbol_dir) in subdirectories(&root, &root_real, &mut invalid)? {
        for (model_type, type_dir) in subdirectories(&symbol_dir, &root_real, &mut invalid)? {
            type_dirs.push((symbol.clone(), model_type, type_dir));
        }
    }

    // Listing every model type first gives rayon one flat list of version folders to share out.
    // Each entry points at its model type by index: a rescan allocates nothing per version that
    // it does not keep.
    let mut version_dirs: Vec<(usize, String, PathBuf)> = Vec::new();
    let mut pointers = Vec::with_capacity(type_dirs.len());
    for (type_index, (_, _, type_dir)) in type_dirs.iter().enumerate() {
        let first = version_dirs.len();
        for (name, path) in subdirectories(type_dir, &root_real, &mut invalid)? {
            if name != LATEST {
                version_dirs.push((type_index, name, path));
            }
        }
        // `subdirectories` sorts by name, so each model type's range is sorted too.
        pointers.push(first..version_dirs.len());
    }

    let loaded: Vec<(PathBuf, Arc<CachedVersion>, bool)> = version_dirs
        .par_iter()
        .map(|(type_index, version_id, directory)| {
            if let Some(cached) = previous.and_then(|p| p.cache.get(directory)) {
                if cached.fingerprint.matches(directory) {
                    return (directory.clone(), Arc::clone(cached), true);
                }
            }
            let (symbol, model_type, _) = &type_dirs[*type_index];
            let mut fingerprint = Fingerprint::take(directory, &JSON_FILES);
            let outcome = load_version(
                symbol.clone(),
                model_type.clone(),
                version_id.clone(),
                directory,
                schemas,
                &mut fingerprint,
            )
            .map(Arc::new);
            // A valid bundle whose three JSON files exist and whose model file was not picked by
            // listing the folder cannot change through a new file: skip stamping the folder.
            let folder_matters = match &outcome {
                Ok(record) => {
                    record.metadata.is_none()
                        || record.feature_schema.is_none()
                        || record.metrics.is_none()
                        || !model_named_explicitly(record)
                }
                Err(_) => true,
            };
            fingerprint.keep(folder_matters);
            let cached = CachedVersion {
                fingerprint,
                outcome,
            };
            (directory.clone(), Arc::new(cached), false)
        })
        .collect();

    // Symbols, model types and versions were listed in sorted order and rayon keeps that order,
    // so `versions` comes out sorted by (symbol, model type, version id) with no sort here.
    let mut versions = Vec::with_capacity(loaded.len());
    let mut failures: HashMap<PathBuf, String> = HashMap::new();
    let mut cache = FastMap::with_capacity_and_hasher(loaded.len(), Default::default());
    let mut reused = 0;
    for (directory, cached, was_reused) in loaded {
        reused += usize::from(was_reused);
        match &cached.outcome {
            Ok(record) => versions.push(Arc::clone(record)),
            Err(reason) => {
                failures.insert(directory.clone(), reason.clone());
            }
        }
        cache.insert(directory, cached);
    }
    invalid.extend(failures.iter().map(|(path, reason)| InvalidBundle {
        path: path.clone(),
        reason: reason.clone(),
    }));

    let model_types = type_dirs
        .into_iter()
        .zip(pointers)
        .map(|((symbol, model_type, type_dir), range)| {
            let names: Vec<&str> = version_dirs[range]
                .iter()
                .map(|(_, name, _)| name.as_str())
                .collect();
            let (production, from_latest) =
                resolve_production(&type_dir, &root_real, &names, &failures);
            if let (Err(reason), true) = (&production, from_latest) {
                invalid.push(InvalidBundle {
                    path: type_dir.join(LATEST),
                    reason: reason.clone(),
                });
            }
            ModelTypeState {
                symbol,
                model_type,
                production,
                from_latest,
            }
        })
        .collect();
    invalid.sort_by(|a, b| a.path.cmp(&b.path));

    Ok(RegistryIndex {
        root,
        versions,
        invalid,
        model_types,
        reused,
        schema_fingerprint: schemas.fingerprint(),
        cache,
    })
}

/// Whether the model file was chosen without listing the folder (`model_file` or `model.onnx`).
fn model_named_explicitly(record: &VersionRecord) -> bool {
    let name = record.model_path.file_name().and_then(|n| n.to_str());
    name == Some("model.onnx") || name.is_some() && record.metadata_str("model_file") == name
}

/// The visible subfolders of `dir` as (name, path), sorted by name. Symlinked folders are followed
/// only when they stay inside the registry; hidden entries (lock and temporary files) are skipped.
fn subdirectories(
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

/// Reads, parses and validates one version folder.
fn load_version(
    symbol: String,
    model_type: String,
    version_id: String,
    directory: &Path,
    schemas: &BundleSchemas,
    fingerprint: &mut Fingerprint,
) -> std::result::Result<VersionRecord, String> {
    let mut documents: [Option<JsonDocument>; 3] = [None, None, None];
    for (slot, kind) in documents.iter_mut().zip(DOCUMENTS) {
        let path = directory.join(kind.file_name());
        if !path.exists() {
            continue;
        }
        let document = read_object(&path).map_err(|error| describe_document_error(kind, error))?;
        let violations = schemas.violations(kind, &document.value);
        if !violations.is_empty() {
            return Err(format!(
                "{} does not match its schema: {}",
                kind.file_name(),
                summarize(&violations)
            ));
        }
        *slot = Some(document);
    }
    let [metadata, feature_schema, metrics] = documents;

    let model_name = choose_model_file(directory, metadata.as_ref().map(|d| &d.value))?;
    fingerprint.add(directory, &model_name);
    let model_path = directory.join(&model_name);
    check_model_header(&model_path).map_err(|reason| format!("{model_name}: {reason}"))?;

    let timeframe = metadata
        .as_ref()
        .and_then(|d| d.value.get("timeframe"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| timeframe_from_version_id(&version_id))
        .unwrap_or_else(|| "unknown".to_owned());

    Ok(VersionRecord {
        symbol,
        model_type,
        version_id,
        timeframe,
        directory: directory.to_path_buf(),
        model_path,
        metadata,
        feature_schema,
        metrics,
    })
}

fn describe_document_error(kind: DocumentKind, error: Error) -> String {
    match error {
        Error::InvalidDocument { reason, .. } => format!("{}: {reason}", kind.file_name()),
        Error::Io { source, .. } => format!("{}: cannot be read: {source}", kind.file_name()),
        other => format!("{}: {other}", kind.file_name()),
    }
}

fn summarize(violations: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = violations
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > SHOWN {
        text.push_str(&format!("; and {} more", violations.len() - SHOWN));
    }
    text
}

/// `metadata.model_file`, else `model.onnx`, else the only `*.onnx` in the folder.
fn choose_model_file(
    directory: &Path,
    metadata: Option<&Value>,
) -> std::result::Result<String, String> {
    if let Some(named) = metadata
        .and_then(|m| m.get("model_file"))
        .and_then(Value::as_str)
    {
        if named.is_empty() || named.contains(['/', '\\']) || named == "." || named == ".." {
            return Err(format!(
                "metadata.json: model_file {named:?} must be a file name inside the bundle"
            ));
        }
        if !directory.join(named).is_file() {
            return Err(format!(
                "the model file {named:?} named by metadata.json's model_file does not exist"
            ));
        }
        return Ok(named.to_owned());
    }
    if directory.join("model.onnx").is_file() {
        return Ok("model.onnx".to_owned());
    }
    let mut onnx: Vec<String> = std::fs::read_dir(directory)
        .map_err(|e| format!("cannot list the folder: {e}"))?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".onnx") && !name.starts_with('.'))
        .filter(|name| directory.join(name).is_file())
        .collect();
    onnx.sort();
    match onnx.len() {
        0 => Err(
            "no model file: no model_file in metadata.json, no model.onnx and no other *.onnx"
                .to_owned(),
        ),
        1 => Ok(onnx.remove(0)),
        _ => Err(format!(
            "several model files ({}) and no model_file in metadata.json to choose one",
            onnx.join(", ")
        )),
    }
}

/// Refuses empty files and files whose first bytes cannot start an ONNX protobuf message, without
/// reading the whole model. A model corrupt further in is caught when its session opens.
fn check_model_header(path: &Path) -> std::result::Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
    let mut header = [0u8; 2];
    let read = file
        .read(&mut header)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if read == 0 {
        return Err("the model file is empty".to_owned());
    }
    if !is_plausible_model_tag(header[0]) {
        return Err(
            "not an ONNX model (the file does not start like a serialized ModelProto)".to_owned(),
        );
    }
    Ok(())
}

/// Whether `byte` can be the first tag of a `ModelProto`: a known field (1 to 20) with a wire type
/// that field can have (varint or length-delimited).
fn is_plausible_model_tag(byte: u8) -> bool {
    if byte & 0x80 != 0 {
        return false;
    }
    let field = byte >> 3;
    let wire_type = byte & 0x07;
    (1..=20).contains(&field) && (wire_type == 0 || wire_type == 2)
}

/// `2025-10-30_1h_v1` -> `1h`.
pub fn timeframe_from_version_id(version_id: &str) -> Option<String> {
    let mut parts = version_id.split('_');
    let date = parts.next()?;
    let timeframe = parts.next()?;
    let version = parts.next()?;
    let is_date = date.len() == 10
        && date.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    let is_version = version.len() > 1
        && version.starts_with('v')
        && version[1..].chars().all(|c| c.is_ascii_digit());
    (is_date && is_version && parts.next().is_none() && !timeframe.is_empty())
        .then(|| timeframe.to_owned())
}

/// Decides the production version of one model type.
fn resolve_production(
    type_dir: &Path,
    root_real: &Path,
    versions: &[&str],
    failures: &HashMap<PathBuf, String>,
) -> (std::result::Result<String, String>, bool) {
    let latest = type_dir.join(LATEST);
    let pointed = match std::fs::symlink_metadata(&latest) {
        Ok(meta) if meta.file_type().is_symlink() => {
            symlink_target(&latest, type_dir, root_real, versions)
        }
        Ok(meta) if meta.is_file() => pointer_file_target(&latest),
        Ok(meta) if meta.is_dir() => {
            Err("`latest` is a directory, not a pointer to a version".to_owned())
        }
        Ok(_) => Err("`latest` is neither a symlink nor a pointer file".to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // No pointer at all: upstream's fallback to the highest-sorted version.
            return match versions.last() {
                Some(version) => (check_version(type_dir, version, failures), false),
                None => (Err("no versions".to_owned()), false),
            };
        }
        Err(error) => Err(format!("`latest` cannot be read: {error}")),
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
    type_dir: &Path,
    root_real: &Path,
    versions: &[&str],
) -> std::result::Result<String, String> {
    let target = std::fs::read_link(latest).map_err(|e| format!("`latest` cannot be read: {e}"))?;
    // The usual pointer, `latest -> VERSION`, names a sibling folder the listing already found
    // inside the registry: no need to resolve the whole path again.
    if let Some(name) = target.to_str() {
        if !name.contains('/') && versions.contains(&name) {
            return Ok(name.to_owned());
        }
    }
    let real = std::fs::canonicalize(latest).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            format!("`latest` dangles: {} does not exist", target.display())
        } else if error.raw_os_error() == Some(LOOP_ERRNO) {
            format!("`latest` is a symlink loop ({})", target.display())
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

/// A `latest` stored as a small text file holding the version name: what git checks out for a
/// symlink where symlinks are off.
fn pointer_file_target(latest: &Path) -> std::result::Result<String, String> {
    let mut text = String::new();
    std::fs::File::open(latest)
        .and_then(|file| file.take(256).read_to_string(&mut text))
        .map_err(|e| format!("`latest` cannot be read: {e}"))?;
    let name = text.trim();
    if name.is_empty() || name.contains(['/', '\\', '\n']) || name == "." || name == ".." {
        return Err(format!(
            "`latest` is a file whose content {name:?} is not a version name"
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeframe_comes_from_a_dated_version_id() {
        assert_eq!(
            timeframe_from_version_id("2025-10-30_12h_v1").as_deref(),
            Some("12h")
        );
        assert_eq!(timeframe_from_version_id("2025-09-16_legacy"), None);
        assert_eq!(timeframe_from_version_id("v1"), None);
        assert_eq!(timeframe_from_version_id("2025-10-30_1h_v1_x"), None);
    }

    #[test]
    fn model_headers_are_checked_cheaply() {
        assert!(is_plausible_model_tag(0x08)); // ir_version, varint
        assert!(is_plausible_model_tag(0x3a)); // graph, length-delimited
        assert!(!is_plausible_model_tag(b'g'));
        assert!(!is_plausible_model_tag(b'{'));
    }
}

#[cfg(all(test, unix))]
mod registry_tests {
    use super::*;

    const OBJECT_SCHEMA: &str = r#"{"type": "object"}"#;
    const METADATA_SCHEMA: &str =
        r#"{"type": "object", "properties": {"sequence_length": {"type": "integer"}}}"#;
    /// The first bytes of a serialized ModelProto (`ir_version = 8`); the scan reads no further.
    const MODEL_HEADER: &[u8] = &[8, 8, 58, 0];

    fn registry(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("atb-scan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    fn bundle(root: &Path, version: &str, metadata: &str) -> PathBuf {
        let dir = root.join("BTCUSDT").join("basic").join(version);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model.onnx"), MODEL_HEADER).unwrap();
        std::fs::write(dir.join("metadata.json"), metadata).unwrap();
        dir
    }

    fn schemas() -> BundleSchemas {
        BundleSchemas::compile(METADATA_SCHEMA, OBJECT_SCHEMA, OBJECT_SCHEMA).unwrap()
    }

    #[test]
    fn bad_bundles_are_recorded_and_the_rest_is_served() {
        let root = registry("bad");
        bundle(
            &root,
            "2025-01-01_1h_v1",
            r#"{"timeframe": "1h", "sequence_length": 120}"#,
        );
        bundle(&root, "2025-01-02_1h_v1", r#"{"timeframe": "1h", "#);
        bundle(&root, "2025-01-03_1h_v1", r#"{"sequence_length": "120"}"#);
        std::os::unix::fs::symlink("2025-01-01_1h_v1", root.join("BTCUSDT/basic/latest")).unwrap();

        let index = scan(&root, &schemas(), None).unwrap();
        let keys: Vec<String> = index.versions.iter().map(|v| v.key()).collect();
        assert_eq!(keys, ["BTCUSDT:1h:basic:2025-01-01_1h_v1"]);
        let reasons: Vec<&str> = index.invalid.iter().map(|i| i.reason.as_str()).collect();
        assert!(
            reasons[0].starts_with("metadata.json: malformed JSON"),
            "{reasons:?}"
        );
        assert!(reasons[1].contains("/sequence_length"), "{reasons:?}");
        assert_eq!(
            index.model_types[0].production,
            Ok("2025-01-01_1h_v1".to_owned())
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_dangling_latest_makes_the_model_type_unavailable() {
        let root = registry("dangling");
        bundle(&root, "2025-01-01_1h_v1", "{}");
        std::os::unix::fs::symlink("2025-09-09_1h_v9", root.join("BTCUSDT/basic/latest")).unwrap();
        let index = scan(&root, &schemas(), None).unwrap();
        let reason = index.model_types[0].production.clone().unwrap_err();
        assert!(reason.contains("dangles"), "{reason}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_unchanged_rescan_reuses_every_version_and_a_rewrite_is_read_again() {
        let root = registry("rescan");
        bundle(&root, "2025-01-01_1h_v1", r#"{"timeframe": "1h"}"#);
        let dir = bundle(&root, "2025-01-02_1h_v1", r#"{"timeframe": "1h"}"#);
        let schemas = schemas();
        let first = scan(&root, &schemas, None).unwrap();
        let again = scan(&root, &schemas, Some(&first)).unwrap();
        assert_eq!(again.reused(), 2);
        std::fs::write(
            dir.join("metadata.json"),
            r#"{"timeframe": "4h", "note": "rewritten"}"#,
        )
        .unwrap();
        let after = scan(&root, &schemas, Some(&again)).unwrap();
        assert_eq!(after.reused(), 1);
        assert_eq!(after.versions[1].timeframe, "4h");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
