//! An opened bundle: a scan record with its session, its prediction spec and the problems found
//! between the bundle's declarations and its model. Built once per bundle, from the JSON the scan
//! already parsed; the registry, a reload and a sweep all share it through an `Arc`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

use crate::core::documents::{faithful_value, DocumentKind};
use crate::core::error::{Error, Result};
use crate::core::json::read_object;
use crate::core::manifest::{open_checked_session, Integrity, IntegrityCheck};
use crate::core::predict::{
    metadata_feature_count, predict_batch_parallel, schema_feature_count, BatchPrediction,
    Features, InputWindow, PredictionSpec, Predictor,
};
use crate::core::providers::Provider;
use crate::core::scan::BundleRecord;
use crate::core::session::{InferenceSession, ModelSource, SessionOptions};
use crate::core::tensor::{format_shape, TensorSpec};

/// How bundles are opened: the session options and the registry's regression settings.
#[derive(Debug, Clone)]
pub struct BundleOptions {
    /// Threading, providers, optimisation and warm-up of each session.
    pub session: SessionOptions,
    /// `confidence = min(1, |price| * confidence_scale_factor)` for regression.
    pub confidence_scale_factor: f64,
    /// `|price| > direction_threshold` gives a direction for regression.
    pub direction_threshold: f64,
    /// How each model is checked against its bundle's `manifest.json` on opening.
    pub integrity: IntegrityCheck,
}

/// A bundle with an open session, ready to predict.
#[derive(Debug)]
pub struct LoadedBundle {
    /// The scan record it was opened from (shared with the index that found it).
    pub record: Arc<BundleRecord>,
    /// The open, warmed-up session.
    pub session: Arc<InferenceSession>,
    /// How `predict` prepares inputs and reads outputs, from `metadata.json`.
    pub spec: PredictionSpec,
    /// Disagreements between the model's input and the bundle's declarations; a bundle with
    /// problems is served for inspection but refuses to predict.
    pub problems: Vec<String>,
    /// What checking the model against `manifest.json` found (`Unsealed` when not checked).
    pub integrity: Integrity,
    /// The model bytes the session was opened from (and checked against the manifest): what a
    /// sweep's sessions and remote workers run, so that nothing reads the file a second time.
    pub model: Arc<[u8]>,
    /// How the session was opened: siblings for a parallel `predict_batch` open the same way.
    session_options: SessionOptions,
    /// More single-threaded sessions of the model, opened by the first `predict_batch` large
    /// enough to run on several cores, and kept for the next.
    batch_sessions: Mutex<Vec<Arc<InferenceSession>>>,
}

/// Windows per chunk of a parallel `predict_batch`: the sweep's batch size, large enough to
/// amortise a run, small enough to stay in cache and to balance the cores.
pub const BATCH_CHUNK: usize = 256;

impl LoadedBundle {
    /// Opens `record`'s model: the spec is built first, so bad metadata costs no session.
    pub fn open(record: Arc<BundleRecord>, options: &BundleOptions) -> Result<Self> {
        let metadata = record.metadata.as_ref().map(faithful_value);
        let spec = PredictionSpec::from_metadata(
            metadata.as_deref().unwrap_or(&Value::Null),
            options.confidence_scale_factor,
            options.direction_threshold,
        )
        .map_err(|error| Error::ModelLoad {
            origin: record.model_path.display().to_string(),
            reason: error.to_string(),
        })?;
        let (session, integrity, model) =
            open_checked_session(&record.model_path, &options.integrity, &options.session)?;
        let feature_schema = record.feature_schema.as_ref().map(|d| &d.value);
        let problems = shape_problems(session.inputs(), metadata.as_deref(), feature_schema);
        drop(metadata);
        Ok(Self {
            record,
            session: Arc::new(session),
            spec,
            problems,
            integrity,
            model: Arc::from(model),
            session_options: options.session.clone(),
            batch_sessions: Mutex::new(Vec::new()),
        })
    }

    /// Opens a model file outside any registry, with the `metadata.json` beside it when there is
    /// one (upstream's `OnnxRunner(model_path)`). Such a bundle has no symbol, model type or
    /// version, and its declarations are not checked against the model (upstream does not).
    pub fn open_model_file(path: &Path, options: &BundleOptions) -> Result<Self> {
        let directory = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let metadata_path = directory.join(DocumentKind::Metadata.file_name());
        let metadata = match metadata_path.try_exists() {
            Ok(true) => Some(
                // Outside a registry there is no root to confine to; the regular-file and size
                // checks still apply.
                read_object(&metadata_path, Path::new("/")).map_err(|error| Error::ModelLoad {
                    origin: path.display().to_string(),
                    reason: error.to_string(),
                })?,
            ),
            _ => None,
        };
        let record = BundleRecord {
            symbol: String::new(),
            model_type: String::new(),
            version_id: String::new(),
            timeframe: "unknown".to_owned(),
            directory,
            model_path: path.to_path_buf(),
            metadata,
            feature_schema: None,
            metrics: None,
        };
        let mut bundle = Self::open(Arc::new(record), options)?;
        bundle.problems.clear();
        Ok(bundle)
    }

    /// The bundle's predictor (borrowing its session and spec).
    pub fn predictor(&self) -> Predictor<'_> {
        Predictor {
            session: &self.session,
            spec: &self.spec,
        }
    }

    /// Predictions for every window of a `[windows, seq, features]` batch. A session of one
    /// thread on the CPU (the registry's default) runs a batch of more than [`BATCH_CHUNK`]
    /// windows in chunks on one such session per core, as a sweep does
    /// ([`predict_batch_parallel`]); a session with threads of its own, or on an accelerator,
    /// runs it whole.
    pub fn predict_batch(
        &self,
        features: &Features<'_>,
        timeout: Option<Duration>,
    ) -> Result<BatchPrediction> {
        let windows = features.shape.first().copied().unwrap_or(0);
        let workers = self.batch_workers(windows.div_ceil(BATCH_CHUNK));
        if workers <= 1 || features.shape.len() != 3 {
            return self.predictor().predict_batch(features, timeout);
        }
        let extra = self.batch_sessions(workers - 1)?;
        let sessions: Vec<&InferenceSession> = std::iter::once(&*self.session)
            .chain(extra.iter().map(|session| &**session))
            .collect();
        // At least four chunks per session where the batch allows, so that the sessions finish
        // together: a chunk of one session's windows is the last one waited for.
        let chunk = windows
            .div_ceil(workers * 4)
            .clamp(BATCH_CHUNK / 4, BATCH_CHUNK);
        predict_batch_parallel(&sessions, &self.spec, features, chunk, timeout)
    }

    /// How many extra sessions earlier batches opened (and the bundle keeps) for parallel runs.
    pub fn batch_sessions_open(&self) -> usize {
        self.batch_sessions.lock().len()
    }

    /// How many sessions a batch of `chunks` chunks runs on: one per core the process may use,
    /// when the session runs on one CPU thread; else 1.
    fn batch_workers(&self, chunks: usize) -> usize {
        let single_threaded = self.session_options.intra_op_threads == Some(1)
            && self.session.providers() == [Provider::Cpu];
        if !single_threaded || chunks <= 1 {
            return 1;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        cores.min(chunks)
    }

    /// `count` more sessions of this bundle's model, opening (in parallel, without warm-up) the
    /// ones no earlier batch opened.
    fn batch_sessions(&self, count: usize) -> Result<Vec<Arc<InferenceSession>>> {
        let mut sessions = self.batch_sessions.lock();
        let missing = count.saturating_sub(sessions.len());
        if missing > 0 {
            let options = SessionOptions {
                warmup: false,
                ..self.session_options.clone()
            };
            let origin = self.session.origin();
            let source = ModelSource::Named {
                bytes: &self.model,
                origin,
            };
            let opened = InferenceSession::open_many(source, &options, missing)?;
            sessions.extend(opened.into_iter().map(Arc::new));
        }
        // alloc: `count` is below the number of cores.
        Ok(sessions[..count].to_vec())
    }

    /// The window the bundle predicts from ([`crate::core::predict::input_window`]).
    pub fn window(&self) -> Result<InputWindow> {
        self.predictor().window()
    }

    /// Whether this bundle was opened from exactly `record`: a rescan hands back the same record
    /// for a version folder whose files' stamps did not change, so this is "unchanged on disk".
    pub fn is_opened_from(&self, record: &Arc<BundleRecord>) -> bool {
        Arc::ptr_eq(&self.record, record)
    }
}

fn dim_text(value: Option<i64>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

/// Every declared `(source, sequence_length, feature_count)`; `None` where not declared.
fn declared_windows(
    metadata: Option<&Value>,
    feature_schema: Option<&Value>,
) -> Vec<(&'static str, Option<i64>, Option<i64>)> {
    // Counts past i64 cannot be; saturating keeps the comparison with the model honest anyway.
    let count = |count: Option<usize>| count.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut declared = Vec::with_capacity(2);
    if let Some(schema) = feature_schema.filter(|s| s.as_object().is_some_and(|o| !o.is_empty())) {
        declared.push((
            DocumentKind::FeatureSchema.file_name(),
            schema.get("sequence_length").and_then(Value::as_i64),
            count(schema_feature_count(schema)),
        ));
    }
    declared.push((
        DocumentKind::Metadata.file_name(),
        metadata
            .and_then(|m| m.get("sequence_length"))
            .and_then(Value::as_i64),
        count(metadata.and_then(metadata_feature_count)),
    ));
    declared
}

/// Problems found between the model's inputs and the bundle's declarations (empty when fine).
///
/// A registry bundle takes one `[batch, sequence_length, features]` input; each problem states
/// the model's shape and the shape the JSON file declares.
pub fn shape_problems(
    inputs: &[TensorSpec],
    metadata: Option<&Value>,
    feature_schema: Option<&Value>,
) -> Vec<String> {
    let [input] = inputs else {
        return vec![format!(
            "the model has {} inputs; a registry bundle must take exactly one",
            inputs.len()
        )];
    };
    let [_, model_length, model_features] = input.shape[..] else {
        return vec![format!(
            "model input '{}' has shape {}; expected rank 3 [batch, sequence_length, features]",
            input.name,
            input.shape_text()
        )];
    };
    let differs = |declared: Option<i64>, model: Option<i64>| matches!((declared, model), (Some(d), Some(m)) if d != m);
    declared_windows(metadata, feature_schema)
        .into_iter()
        .filter(|&(_, length, features)| {
            differs(length, model_length) || differs(features, model_features)
        })
        .map(|(source, length, features)| {
            format!(
                "model input '{}' has shape {} but {source} declares {} (sequence_length={}, features={})",
                input.name,
                input.shape_text(),
                format_shape([None, length, features].into_iter().map(dim_text)),
                dim_text(length),
                dim_text(features),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tensor::ElementType;
    use serde_json::json;

    fn input(shape: &[Option<i64>]) -> TensorSpec {
        TensorSpec {
            name: "x".to_owned(),
            element_type: ElementType::Float32,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn agreeing_declarations_have_no_problems() {
        let metadata = json!({"sequence_length": 120, "feature_names": ["a", "b"]});
        let schema = json!({"sequence_length": 120, "features": [{}, {}]});
        let inputs = [input(&[None, Some(120), Some(2)])];
        assert!(shape_problems(&inputs, Some(&metadata), Some(&schema)).is_empty());
        // Dynamic dimensions agree with anything.
        let inputs = [input(&[None, None, None])];
        assert!(shape_problems(&inputs, Some(&metadata), Some(&schema)).is_empty());
    }

    #[test]
    fn each_disagreeing_file_is_named_with_both_shapes() {
        let metadata = json!({"sequence_length": 120, "feature_names": ["a", "b", "c"]});
        let schema = json!({"sequence_length": 60, "features": [{}, {}]});
        let inputs = [input(&[None, Some(120), Some(2)])];
        let problems = shape_problems(&inputs, Some(&metadata), Some(&schema));
        assert_eq!(
            problems,
            vec![
                "model input 'x' has shape (None, 120, 2) but feature_schema.json declares (None, 60, 2) (sequence_length=60, features=2)",
                "model input 'x' has shape (None, 120, 2) but metadata.json declares (None, 120, 3) (sequence_length=120, features=3)",
            ]
        );
    }

    #[test]
    fn models_a_bundle_cannot_take_are_flagged() {
        let two = [input(&[Some(1)]), input(&[Some(1)])];
        assert!(shape_problems(&two, None, None)[0].contains("has 2 inputs"));
        let flat = [input(&[Some(3)])];
        assert!(shape_problems(&flat, None, None)[0].contains("shape (3,); expected rank 3"));
    }
}
