//! Scanning a model registry: `{root}/{SYMBOL}/{MODEL_TYPE}/{VERSION}/` bundles and the `latest`
//! pointer of each model type, read in parallel, validated, and never failing as a whole because
//! of one bad bundle.

//!
//! The work is split by job: [`walk`] lists the folders, [`bundle`] loads one version folder,
//! [`pointer`] resolves each model type's `latest`; this module ties them into one index.

mod bundle;
mod fingerprint;
mod pointer;
mod walk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::core::error::{Error, Result};
use crate::core::parallel;
use crate::core::registry::documents::{DocumentKind, DOCUMENTS};
use fingerprint::Fingerprint;
// FxHash, not SipHash: the keys (paths the scan listed, digests) are not attacker-chosen, and
// SipHash's cost shows on a rescan of thousands of folders.
use crate::core::registry::json::JsonDocument;
use crate::core::registry::layout::{self, LATEST};
use crate::core::registry::schema::BundleSchemas;
use rustc_hash::FxHashMap;

use bundle::{load_version, model_named_explicitly};
use pointer::resolve_production;
pub use pointer::{read_latest, Pointer, PointerError};
use walk::{subdirectories, subdirectories_or_record};

/// The files whose stamps say whether a version folder changed: the document table's files.
const JSON_FILES: [&str; DOCUMENTS.len()] = {
    let mut names = [""; DOCUMENTS.len()];
    let mut row = 0;
    while row < DOCUMENTS.len() {
        names[row] = DOCUMENTS[row].file_name;
        row += 1;
    }
    names
};

/// One valid version folder (Python: `BundleRecord`).
#[derive(Debug)]
pub struct BundleRecord {
    /// The symbol folder's name.
    pub symbol: String,
    /// The model-type folder's name.
    pub model_type: String,
    /// The version folder's name.
    pub version_id: String,
    /// From metadata, else from the version id ([`crate::core::registry::layout::version_timeframe`]),
    /// else `"unknown"`.
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

impl BundleRecord {
    /// `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`, the key upstream's `get_bundle_by_key` takes.
    pub fn key(&self) -> String {
        layout::version_key(
            &self.symbol,
            &self.timeframe,
            &self.model_type,
            &self.version_id,
        )
    }

    /// A string field of `metadata.json`.
    pub fn metadata_str(&self, field: &str) -> Option<&str> {
        self.metadata.as_ref()?.value.get(field)?.as_str()
    }

    /// `metadata.json`'s `feature_names` ([`crate::core::predict::feature_names`]).
    pub fn feature_names(&self) -> Option<Vec<String>> {
        let names = crate::core::predict::feature_names(&self.metadata.as_ref()?.value)?;
        Some(names.into_iter().map(str::to_owned).collect())
    }

    /// The window the bundle's JSON declares ([`crate::core::predict::DeclaredWindow`]): what
    /// validation's zero inputs and a dynamic model's windows take.
    pub fn declared_window(&self) -> crate::core::predict::DeclaredWindow {
        crate::core::predict::DeclaredWindow::of(
            self.metadata.as_ref().map(|d| &d.value),
            self.feature_schema.as_ref().map(|d| &d.value),
        )
    }

    /// The record's document of `kind`, when the bundle has that file.
    pub fn document(&self, kind: DocumentKind) -> Option<&JsonDocument> {
        match kind {
            DocumentKind::Metadata => self.metadata.as_ref(),
            DocumentKind::FeatureSchema => self.feature_schema.as_ref(),
            DocumentKind::Metrics => self.metrics.as_ref(),
        }
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

type CachedOutcome = std::result::Result<Arc<BundleRecord>, String>;

/// What a rescan may reuse of one version folder: its stamps and what reading it gave.
#[derive(Debug)]
struct CachedVersion {
    fingerprint: Fingerprint,
    outcome: CachedOutcome,
}

/// The one model type a scan may be limited to: what a promotion compares, so that its cost
/// does not grow with the other symbols of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The symbol folder's name.
    pub symbol: String,
    /// The model-type folder's name.
    pub model_type: String,
}

impl Scope {
    /// Whether `path` (under `root`) is the scope's symbol folder, its model-type folder, or
    /// anything below it: the skipped entries a scoped index keeps.
    fn covers(&self, root: &Path, path: &Path) -> bool {
        let mut parts = path.strip_prefix(root).unwrap_or(path).components();
        let name = |part: Option<std::path::Component<'_>>| {
            part.and_then(|p| p.as_os_str().to_str().map(str::to_owned))
        };
        match (name(parts.next()), name(parts.next())) {
            (Some(symbol), None) => symbol == self.symbol,
            (Some(symbol), Some(model_type)) => {
                symbol == self.symbol && model_type == self.model_type
            }
            _ => false,
        }
    }
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct RegistryIndex {
    /// The registry root as given (made absolute).
    pub root: PathBuf,
    /// The model type the scan was limited to, if any: then the index holds nothing else.
    pub scope: Option<Scope>,
    /// Every valid version, sorted by (symbol, model type, version id).
    pub versions: Vec<Arc<BundleRecord>>,
    /// Every skipped bundle, sorted by path.
    pub invalid: Vec<InvalidBundle>,
    /// One entry per model type, sorted by (symbol, model type).
    pub model_types: Vec<ModelTypeState>,
    reused: usize,
    schema_fingerprint: u64,
    cache: FxHashMap<PathBuf, Arc<CachedVersion>>,
    /// Position in `versions` by key, so that a lookup by key is not a scan of every version.
    by_key: FxHashMap<String, usize>,
}

impl RegistryIndex {
    /// How many version folders were taken unchanged from the previous index.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// The version whose key ([`BundleRecord::key`]) is `key`.
    pub fn version(&self, key: &str) -> Option<&Arc<BundleRecord>> {
        self.by_key
            .get(key)
            .map(|&position| &self.versions[position])
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
    scan_scoped(root, schemas, previous, None)
}

/// [`scan`], limited to one model type when `scope` is given: no other symbol or model-type
/// folder is listed or read, and the index holds only that model type (its versions, its
/// skipped folders and its production version).
pub fn scan_scoped(
    root: &Path,
    schemas: &BundleSchemas,
    previous: Option<&RegistryIndex>,
    scope: Option<&Scope>,
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
        if scope.is_some_and(|scope| scope.symbol != symbol) {
            continue;
        }
        let types = subdirectories_or_record(&symbol_dir, &root_real, &mut invalid);
        for (model_type, type_dir) in types.into_iter().flatten() {
            if scope.is_some_and(|scope| scope.model_type != model_type) {
                continue;
            }
            // A model type whose folder cannot be listed is recorded once, and has no state.
            if let Some(versions) = subdirectories_or_record(&type_dir, &root_real, &mut invalid) {
                type_dirs.push((symbol.clone(), model_type, type_dir, versions));
            }
        }
    }

    // Listing every model type first gives rayon one flat list of version folders to share out.
    // Each entry points at its model type by index: a rescan allocates nothing per version that
    // it does not keep.
    let mut version_dirs: Vec<(usize, String, PathBuf)> = Vec::new();
    // alloc: one per model-type folder, already listed.
    let mut pointers = Vec::with_capacity(type_dirs.len());
    for (type_index, (_, _, _, versions)) in type_dirs.iter_mut().enumerate() {
        let first = version_dirs.len();
        for (name, path) in std::mem::take(versions) {
            version_dirs.push((type_index, name, path));
        }
        // `subdirectories` sorts by name, so each model type's range is sorted too.
        pointers.push(first..version_dirs.len());
    }

    let loaded: Vec<(PathBuf, Arc<CachedVersion>, bool)> = parallel::install(|| {
        version_dirs
            .par_iter()
            .map(|(type_index, version_id, directory)| {
                if let Some(cached) = previous.and_then(|p| p.cache.get(directory)) {
                    if cached.fingerprint.matches(directory) {
                        return (directory.clone(), Arc::clone(cached), true);
                    }
                }
                let (symbol, model_type, _, _) = &type_dirs[*type_index];
                let mut fingerprint = Fingerprint::take(directory, &JSON_FILES);
                let outcome = load_version(
                    symbol.clone(),
                    model_type.clone(),
                    version_id.clone(),
                    directory,
                    &root_real,
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
            .collect()
    });

    // Symbols, model types and versions were listed in sorted order and rayon keeps that order,
    // so `versions` comes out sorted by (symbol, model type, version id) with no sort here.
    // alloc: one per version folder, already loaded.
    let mut versions = Vec::with_capacity(loaded.len());
    let mut failures: HashMap<PathBuf, String> = HashMap::new();
    let mut cache = FxHashMap::with_capacity_and_hasher(loaded.len(), Default::default());
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
        .map(|((symbol, model_type, type_dir, _), range)| {
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
    if let Some(scope) = scope {
        invalid.retain(|bundle| scope.covers(&root, &bundle.path));
    }
    invalid.sort_by(|a, b| a.path.cmp(&b.path));
    let by_key = versions
        .iter()
        .enumerate()
        .map(|(position, record)| (record.key(), position))
        .collect();

    Ok(RegistryIndex {
        root,
        scope: scope.cloned(),
        versions,
        invalid,
        model_types,
        reused,
        schema_fingerprint: schemas.fingerprint(),
        cache,
        by_key,
    })
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
    fn a_scoped_scan_reads_only_its_model_type() {
        let root = registry("scoped");
        bundle(&root, "2025-01-01_1h_v1", r#"{"timeframe": "1h"}"#);
        bundle(&root, "2025-01-02_1h_v1", r#"{"timeframe": "1h", "#);
        for (symbol, model_type) in [("ETHUSDT", "basic"), ("BTCUSDT", "sentiment")] {
            let dir = root.join(symbol).join(model_type).join("2025-01-01_1h_v1");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("metadata.json"), "{broken").unwrap();
        }
        std::os::unix::fs::symlink("/", root.join("XRPUSDT")).unwrap();
        let scope = Scope {
            symbol: "BTCUSDT".to_owned(),
            model_type: "basic".to_owned(),
        };
        let index = scan_scoped(&root, &schemas(), None, Some(&scope)).unwrap();
        assert_eq!(index.scope.as_ref(), Some(&scope));
        let keys: Vec<String> = index.versions.iter().map(|v| v.key()).collect();
        assert_eq!(keys, ["BTCUSDT:1h:basic:2025-01-01_1h_v1"]);
        let skipped: Vec<&Path> = index.invalid.iter().map(|i| i.path.as_path()).collect();
        assert_eq!(skipped, [root.join("BTCUSDT/basic/2025-01-02_1h_v1")]);
        assert_eq!(index.model_types.len(), 1);
        let whole = scan(&root, &schemas(), None).unwrap();
        assert!(
            whole.scope.is_none() && whole.invalid.len() == 4,
            "{:?}",
            whole.invalid
        );
        std::fs::remove_dir_all(&root).unwrap();
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
        let found = index.version("BTCUSDT:1h:basic:2025-01-01_1h_v1").unwrap();
        assert!(Arc::ptr_eq(found, &index.versions[0]));
        assert!(index.version("BTCUSDT:1h:basic:2025-01-02_1h_v1").is_none());
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

    #[test]
    fn bundle_files_are_confined_regular_files() {
        let root = registry("confined");
        let outside = registry("confined-outside");
        std::fs::write(outside.join("secret.json"), r#"{"timeframe": "1h"}"#).unwrap();
        let fifo = bundle(&root, "2025-01-01_1h_v1", "{}");
        std::fs::remove_file(fifo.join("metadata.json")).unwrap();
        let name = std::ffi::CString::new(fifo.join("metadata.json").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
        let escaping = bundle(&root, "2025-01-02_1h_v1", "{}");
        std::fs::remove_file(escaping.join("metadata.json")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.json"), escaping.join("metadata.json"))
            .unwrap();
        let zero = bundle(&root, "2025-01-03_1h_v1", "{}");
        std::fs::remove_file(zero.join("metadata.json")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", zero.join("metadata.json")).unwrap();
        let model_out = bundle(&root, "2025-01-04_1h_v1", "{}");
        std::fs::write(outside.join("model.onnx"), MODEL_HEADER).unwrap();
        std::fs::remove_file(model_out.join("model.onnx")).unwrap();
        std::os::unix::fs::symlink(outside.join("model.onnx"), model_out.join("model.onnx"))
            .unwrap();
        // A link that stays inside the registry is fine.
        let inside = bundle(&root, "2025-01-05_1h_v1", "{}");
        std::fs::remove_file(inside.join("model.onnx")).unwrap();
        std::os::unix::fs::symlink("../2025-01-04_1h_v1/metadata.json", inside.join("m.json"))
            .unwrap();
        std::fs::write(inside.join("real.onnx"), MODEL_HEADER).unwrap();
        std::os::unix::fs::symlink("real.onnx", inside.join("model.onnx")).unwrap();

        let index = scan(&root, &schemas(), None).unwrap();
        let keys: Vec<String> = index.versions.iter().map(|v| v.key()).collect();
        assert_eq!(keys, ["BTCUSDT:1h:basic:2025-01-05_1h_v1"]);
        let reasons: Vec<&str> = index.invalid.iter().map(|i| i.reason.as_str()).collect();
        assert!(reasons[0].contains("a FIFO"), "{reasons:?}");
        assert!(reasons[1].contains("leaves the registry"), "{reasons:?}");
        assert!(reasons[2].contains("leaves the registry"), "{reasons:?}");
        assert!(
            reasons[3].contains("model.onnx: the file is a symlink that leaves"),
            "{reasons:?}"
        );
        std::fs::remove_dir_all(&root).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    #[test]
    fn a_folder_that_cannot_be_listed_is_recorded_and_the_rest_served() {
        // Tests run as root, which ignores permissions: a path over PATH_MAX is a folder that
        // even root cannot list. The root is made deep enough that `LONG/<255 chars>` is too long.
        let base = registry("unlistable");
        let component = "d".repeat(200);
        let mut root = base.clone();
        while root.as_os_str().len() < 3700 {
            root.push(&component);
        }
        root.push("e".repeat(3950 - root.as_os_str().len() - 1));
        std::fs::create_dir_all(&root).unwrap();
        bundle(&root, "2025-01-01_1h_v1", "{}");
        let long_type = "t".repeat(255);
        let symbol_dir = root.join("LONG");
        std::fs::create_dir_all(&symbol_dir).unwrap();
        let fd = std::ffi::CString::new(symbol_dir.to_str().unwrap()).unwrap();
        let name = std::ffi::CString::new(long_type.as_str()).unwrap();
        unsafe {
            let dir = libc::open(fd.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            assert!(dir >= 0);
            assert_eq!(libc::mkdirat(dir, name.as_ptr(), 0o755), 0);
            libc::close(dir);
        }
        assert!(root.join("LONG").join(&long_type).as_os_str().len() > 4096);

        let index = scan(&root, &schemas(), None).unwrap();
        assert_eq!(index.versions.len(), 1);
        assert_eq!(index.invalid.len(), 1, "{:?}", index.invalid);
        assert!(index.invalid[0].reason.contains("cannot be listed"));
        assert!(index.invalid[0].path.ends_with(&long_type));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
