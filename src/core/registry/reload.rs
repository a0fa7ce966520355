//! Reloading opened bundles after a rescan: what did not change on disk keeps its open session,
//! only new and changed production versions are opened (in parallel, aside from the live set),
//! and a model type whose new production version cannot be used keeps serving its old bundle.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;

use crate::core::parallel;
use crate::core::registry::bundle::{BundleOptions, LoadedBundle};
use crate::core::registry::scan::{BundleRecord, RegistryIndex};

/// What one model type serves after a reload.
#[derive(Debug)]
pub enum Serving {
    /// The bundle served before, or another open one: the production version's files did not
    /// change.
    Kept(Arc<LoadedBundle>),
    /// A bundle opened by this reload: a new model type, or a promoted or changed version.
    Opened(Arc<LoadedBundle>),
    /// The production version cannot be used (the reason); the bundle served before stays.
    Stale {
        /// The bundle that keeps serving.
        bundle: Arc<LoadedBundle>,
        /// Why the production version was not taken.
        reason: String,
    },
    /// Nothing to serve, and why.
    Unavailable(String),
}

impl Serving {
    /// The bundle served, if any.
    pub fn bundle(&self) -> Option<&Arc<LoadedBundle>> {
        match self {
            Self::Kept(bundle) | Self::Opened(bundle) | Self::Stale { bundle, .. } => Some(bundle),
            Self::Unavailable(_) => None,
        }
    }
}

/// One model type after a reload.
#[derive(Debug)]
pub struct ModelTypeRefresh {
    /// The symbol folder's name.
    pub symbol: String,
    /// The model-type folder's name.
    pub model_type: String,
    /// What it serves now.
    pub serving: Serving,
    /// What it served before the reload.
    pub previous: Option<Arc<LoadedBundle>>,
}

/// The outcome of a reload, for the registry to swap in.
#[derive(Debug, Default)]
pub struct Refresh {
    /// One entry per model type of the new index, in its order.
    pub model_types: Vec<ModelTypeRefresh>,
    /// Bundles served before whose model type is gone from the registry.
    pub removed: Vec<Arc<LoadedBundle>>,
    /// Production versions that failed to open, with the reason.
    pub failures: Vec<(Arc<BundleRecord>, String)>,
    /// The open bundles given as reusable whose files are still current in the new index.
    pub current: Vec<Arc<LoadedBundle>>,
}

/// What a reload will do for one model type.
enum Planned<'i> {
    /// Take over this open bundle.
    Reuse(Arc<LoadedBundle>),
    /// Open this production record.
    Open(&'i Arc<BundleRecord>),
    /// This production record failed before and has not changed since.
    Failed(&'i Arc<BundleRecord>, String),
    /// There is no usable production version, for this reason.
    Unusable(String),
}

/// The record of `symbol/model_type/version_id` in `index` (versions are sorted).
pub fn find_version<'i>(
    index: &'i RegistryIndex,
    symbol: &str,
    model_type: &str,
    version_id: &str,
) -> Option<&'i Arc<BundleRecord>> {
    let wanted = (symbol, model_type, version_id);
    index
        .versions
        .binary_search_by(|record| {
            (
                record.symbol.as_str(),
                record.model_type.as_str(),
                record.version_id.as_str(),
            )
                .cmp(&wanted)
        })
        .ok()
        .map(|position| &index.versions[position])
}

/// Whether `bundle` was opened from the record `index` now holds for its version folder.
pub fn is_current(index: &RegistryIndex, bundle: &LoadedBundle) -> bool {
    let record = &bundle.record;
    find_version(
        index,
        &record.symbol,
        &record.model_type,
        &record.version_id,
    )
    .is_some_and(|current| bundle.is_opened_from(current))
}

/// Plans and performs a reload against `index`.
///
/// `live` are the bundles served now (one per model type); `reusable` any other open bundles
/// (pinned versions) that may be taken over when they become production unchanged;
/// `known_failures` the failures of the previous reload, so an unchanged broken version is not
/// opened (and logged) again on every poll. Only the production versions none of these cover are
/// opened, in parallel; nothing else is touched.
pub fn refresh(
    index: &RegistryIndex,
    live: &[Arc<LoadedBundle>],
    reusable: &[Arc<LoadedBundle>],
    known_failures: &[(Arc<BundleRecord>, String)],
    options: &BundleOptions,
) -> Refresh {
    let live_by_type: HashMap<(&str, &str), &Arc<LoadedBundle>> = live
        .iter()
        .map(|b| ((b.record.symbol.as_str(), b.record.model_type.as_str()), b))
        .collect();
    let open: Vec<&Arc<LoadedBundle>> = live.iter().chain(reusable).collect();
    let reuse = |record: &Arc<BundleRecord>| {
        open.iter()
            .find(|bundle| bundle.is_opened_from(record))
            .map(|bundle| Arc::clone(bundle))
    };

    let known_failure = |record: &Arc<BundleRecord>| {
        known_failures
            .iter()
            .find(|(failed, _)| Arc::ptr_eq(failed, record))
            .map(|(_, reason)| reason.clone())
    };

    // Each model type's production record, and an open bundle for it when there is one.
    let planned: Vec<Planned<'_>> = index
        .model_types
        .iter()
        .map(|state| match &state.production {
            Ok(version) => match find_version(index, &state.symbol, &state.model_type, version) {
                Some(record) => match (reuse(record), known_failure(record)) {
                    (Some(bundle), _) => Planned::Reuse(bundle),
                    (None, Some(reason)) => Planned::Failed(record, reason),
                    (None, None) => Planned::Open(record),
                },
                None => Planned::Unusable(format!(
                    "production version {version:?} is not in the index"
                )),
            },
            Err(reason) => Planned::Unusable(reason.clone()),
        })
        .collect();
    let to_open: Vec<&Arc<BundleRecord>> = planned
        .iter()
        .filter_map(|plan| match plan {
            Planned::Open(record) => Some(*record),
            _ => None,
        })
        .collect();
    // Opened in `planned` order, so the loop below takes them back in turn.
    let opened: Vec<Result<Arc<LoadedBundle>, String>> = parallel::install(|| {
        to_open
            .par_iter()
            .map(|record| {
                LoadedBundle::open(Arc::clone(record), options)
                    .map(Arc::new)
                    .map_err(|error| error.to_string())
            })
            .collect()
    });
    let mut opened = opened.into_iter();

    let mut refresh = Refresh::default();
    for (state, plan) in index.model_types.iter().zip(planned) {
        let previous = live_by_type
            .get(&(state.symbol.as_str(), state.model_type.as_str()))
            .map(|b| Arc::clone(b));
        let opening = match plan {
            Planned::Reuse(bundle) => Ok(Ok((bundle, false))),
            Planned::Open(record) => match opened.next() {
                Some(Ok(bundle)) => Ok(Ok((bundle, true))),
                Some(Err(reason)) => Err((record, reason)),
                None => Ok(Err("production version was not opened".to_owned())),
            },
            Planned::Failed(record, reason) => Err((record, reason)),
            Planned::Unusable(reason) => Ok(Err(reason)),
        };
        let outcome = opening.unwrap_or_else(|(record, reason)| {
            let described = format!(
                "production version {:?} failed to load: {reason}",
                record.version_id
            );
            refresh.failures.push((Arc::clone(record), reason));
            Err(described)
        });
        let serving = match (outcome, &previous) {
            (Ok((bundle, true)), _) => Serving::Opened(bundle),
            (Ok((bundle, false)), _) => Serving::Kept(bundle),
            (Err(reason), Some(previous)) => Serving::Stale {
                bundle: Arc::clone(previous),
                reason,
            },
            (Err(reason), None) => Serving::Unavailable(reason),
        };
        refresh.model_types.push(ModelTypeRefresh {
            symbol: state.symbol.clone(),
            model_type: state.model_type.clone(),
            serving,
            previous,
        });
    }
    refresh.removed = live
        .iter()
        .filter(|bundle| {
            !index.model_types.iter().any(|state| {
                state.symbol == bundle.record.symbol && state.model_type == bundle.record.model_type
            })
        })
        .cloned()
        .collect();
    refresh.current = reusable
        .iter()
        .filter(|bundle| is_current(index, bundle))
        .cloned()
        .collect();
    refresh
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::core::onnx::options::session_options;
    use crate::core::registry::scan::scan;
    use crate::core::registry::schema::BundleSchemas;
    use std::path::{Path, PathBuf};

    const ANY_OBJECT: &str = r#"{"type": "object"}"#;

    /// A registry of `types` model types under `SYM`, each with versions `v1` and `v2` whose
    /// model files start like ONNX but are not models: the scan accepts them, opening fails.
    fn broken_registry(name: &str, types: usize) -> PathBuf {
        let root = std::env::temp_dir().join(format!("atb-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for number in 0..types {
            for version in ["v1", "v2"] {
                let folder = root.join("SYM").join(format!("t{number}")).join(version);
                std::fs::create_dir_all(&folder).unwrap();
                std::fs::write(folder.join("model.onnx"), [8u8, 8, 0xff, 0xff]).unwrap();
            }
            point(&root, number, "v1");
        }
        root
    }

    fn point(root: &Path, number: usize, version: &str) {
        let link = root.join("SYM").join(format!("t{number}")).join("latest");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(version, link).unwrap();
    }

    fn options() -> BundleOptions {
        BundleOptions {
            session: session_options(Some(1), None, "all", None, false).unwrap(),
            confidence_scale_factor: 10.0,
            direction_threshold: 0.01,
            integrity: Default::default(),
        }
    }

    #[test]
    fn versions_are_found_by_binary_search() {
        let root = broken_registry("find", 3);
        let schemas = BundleSchemas::compile(ANY_OBJECT, ANY_OBJECT, ANY_OBJECT).unwrap();
        let index = scan(&root, &schemas, None).unwrap();
        for number in 0..3 {
            for version in ["v1", "v2"] {
                let model_type = format!("t{number}");
                let record = find_version(&index, "SYM", &model_type, version).unwrap();
                assert_eq!(
                    (record.model_type.as_str(), record.version_id.as_str()),
                    (model_type.as_str(), version)
                );
            }
        }
        assert!(find_version(&index, "SYM", "t9", "v1").is_none());
        assert!(find_version(&index, "OTHER", "t0", "v1").is_none());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_failure_is_reported_and_remembered_until_its_files_change() {
        let root = broken_registry("failures", 2);
        let schemas = BundleSchemas::compile(ANY_OBJECT, ANY_OBJECT, ANY_OBJECT).unwrap();
        let index = scan(&root, &schemas, None).unwrap();
        let first = refresh(&index, &[], &[], &[], &options());
        assert_eq!(first.failures.len(), 2);
        for entry in &first.model_types {
            assert!(
                matches!(&entry.serving, Serving::Unavailable(reason) if reason.contains("failed to load")),
                "{entry:?}"
            );
        }

        // Unchanged: the rescan hands back the same records, so the failures are reused as they
        // are (the same reasons, no second attempt needed to know them).
        let index = scan(&root, &schemas, Some(&index)).unwrap();
        let second = refresh(&index, &[], &[], &first.failures, &options());
        assert_eq!(second.failures.len(), 2);
        for ((old, old_reason), (new, new_reason)) in first.failures.iter().zip(&second.failures) {
            assert!(Arc::ptr_eq(old, new));
            assert_eq!(old_reason, new_reason);
        }

        // A promotion changes which record is production: that one is tried afresh.
        point(&root, 1, "v2");
        let index = scan(&root, &schemas, Some(&index)).unwrap();
        let third = refresh(&index, &[], &[], &second.failures, &options());
        let versions: Vec<&str> = third
            .failures
            .iter()
            .map(|(r, _)| r.version_id.as_str())
            .collect();
        assert_eq!(versions, ["v1", "v2"]);
        assert!(!Arc::ptr_eq(&third.failures[1].0, &second.failures[1].0));

        // A model type that leaves the registry is no longer planned at all.
        std::fs::remove_dir_all(root.join("SYM").join("t1")).unwrap();
        let index = scan(&root, &schemas, Some(&index)).unwrap();
        let fourth = refresh(&index, &[], &[], &third.failures, &options());
        assert_eq!(fourth.model_types.len(), 1);
        assert!(fourth.removed.is_empty() && fourth.current.is_empty());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_model_type_without_a_usable_version_is_unavailable_with_the_scans_reason() {
        let root = broken_registry("dangling", 1);
        point(&root, 0, "v9");
        let schemas = BundleSchemas::compile(ANY_OBJECT, ANY_OBJECT, ANY_OBJECT).unwrap();
        let index = scan(&root, &schemas, None).unwrap();
        let outcome = refresh(&index, &[], &[], &[], &options());
        assert!(outcome.failures.is_empty());
        let [entry] = &outcome.model_types[..] else {
            panic!("one model type expected: {:?}", outcome.model_types)
        };
        assert!(
            matches!(&entry.serving, Serving::Unavailable(_)),
            "{entry:?}"
        );
        assert!(entry.previous.is_none());
        std::fs::remove_dir_all(root).unwrap();
    }
}
