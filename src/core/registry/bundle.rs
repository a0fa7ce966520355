//! An opened bundle: a scan record with its session, its prediction spec and the problems found
//! between the bundle's declarations and its model. Built once per bundle, from the JSON the scan
//! already parsed; the registry, a reload and a sweep all share it through an `Arc`.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::core::error::{Error, Result};
use crate::core::onnx::providers::Provider;
use crate::core::onnx::session::{InferenceSession, ModelSource, SessionOptions};
use crate::core::onnx::tensor::{format_shape, TensorSpec};
use crate::core::parallel::usable_cores;
use crate::core::predict::{
    metadata_feature_count, predict_batch_parallel, schema_feature_count, BatchPrediction,
    Features, InputWindow, PredictionSpec, Predictor,
};
use crate::core::registry::documents::{faithful_value, DocumentKind};
use crate::core::registry::json::{parse_lenient, read_object, NonFinite};
use crate::core::registry::manifest::{open_checked_session, Integrity, IntegrityCheck};
use crate::core::registry::scan::BundleRecord;

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
    /// Nanoseconds per window of a run on one session, timed on the first batch large enough
    /// to split ([`LoadedBundle::splits`]).
    window_cost_ns: OnceLock<u128>,
}

/// Windows per chunk of a parallel `predict_batch`: the sweep's batch size, large enough to
/// amortise a run, small enough to stay in cache and to balance the cores.
pub const BATCH_CHUNK: usize = 256;

/// The fewest windows a chunk of a parallel `predict_batch` holds: on the fixture LSTM a run of
/// 32 windows costs 1.2x a run of 256 per window, so two chunks of 32 on two cores still finish
/// in about 60% of the time one run of 64 takes.
pub const MIN_BATCH_CHUNK: usize = 32;

/// The shortest batch worth splitting, in nanoseconds on one session. A split costs about
/// 150 µs a call here (threads started, chunks handed out, the sibling sessions' cold caches:
/// a 64-window batch of a small linear model took 124 µs split against 9 µs whole), so on two
/// cores it pays from about 300 µs; from 1 ms it is 1.3x faster or more.
const SPLIT_MIN_BATCH_NS: u128 = 1_000_000;

impl LoadedBundle {
    /// Opens `record`'s model: the spec is built first, so bad metadata costs no session.
    pub fn open(record: Arc<BundleRecord>, options: &BundleOptions) -> Result<Self> {
        let metadata = record.metadata.as_ref().map(faithful_value);
        let feature_schema = record.feature_schema.as_ref().map(|d| &d.value);
        let spec = PredictionSpec::from_documents(
            metadata.as_deref().unwrap_or(&Value::Null),
            feature_schema,
            options.confidence_scale_factor,
            options.direction_threshold,
        )
        .map_err(|error| Error::ModelLoad {
            origin: record.model_path.display().to_string(),
            reason: error.to_string(),
        })?;
        let (session, integrity, model) =
            open_checked_session(&record.model_path, &options.integrity, &options.session)?;
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
            window_cost_ns: OnceLock::new(),
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
    /// thread on the CPU (the registry's default) runs a batch of at least two
    /// [`MIN_BATCH_CHUNK`]s that takes long enough ([`Self::splits`]) in chunks on one such
    /// session per core, as a sweep does ([`predict_batch_parallel`]); a session with
    /// threads of its own, or on an accelerator, runs it whole.
    pub fn predict_batch(
        &self,
        features: &Features<'_>,
        timeout: Option<Duration>,
    ) -> Result<BatchPrediction> {
        let windows = features.shape.first().copied().unwrap_or(0);
        let workers = self.batch_workers(windows / MIN_BATCH_CHUNK);
        // The shape check comes before `splits`, which reads `shape[1]` and `shape[2]`.
        if workers <= 1 || features.shape.len() != 3 || !self.splits(features, timeout)? {
            return self.predictor().predict_batch(features, timeout);
        }
        let extra = self.batch_sessions(workers - 1)?;
        let sessions: Vec<&InferenceSession> = std::iter::once(&*self.session)
            .chain(extra.iter().map(|session| &**session))
            .collect();
        let chunk = chunk_size(windows, workers);
        predict_batch_parallel(&sessions, &self.spec, features, chunk, timeout)
    }

    /// Whether `features` (at least two [`MIN_BATCH_CHUNK`]s of windows) would take at least
    /// [`SPLIT_MIN_BATCH_NS`] on one session. The cost of a window is timed once, on the first
    /// such batch ([`Self::time_window`]), and kept.
    fn splits(&self, features: &Features<'_>, timeout: Option<Duration>) -> Result<bool> {
        let cost = match self.window_cost_ns.get() {
            Some(&cost) => Some(cost),
            None => self
                .time_window(features, timeout)?
                .map(|cost| *self.window_cost_ns.get_or_init(|| cost)),
        };
        let windows = features.shape[0] as u128;
        Ok(cost.is_some_and(|cost| cost.saturating_mul(windows) >= SPLIT_MIN_BATCH_NS))
    }

    /// Nanoseconds per window of a run on the bundle's own session: the fastest of three runs of
    /// the first [`MIN_BATCH_CHUNK`] windows of `features` (the first run of a new batch size
    /// grows ONNX Runtime's buffers, and one slow spell of the host should not decide). `None`
    /// when `features` hold fewer values than their shape says: the whole batch's checks then
    /// name the problem.
    fn time_window(
        &self,
        features: &Features<'_>,
        timeout: Option<Duration>,
    ) -> Result<Option<u128>> {
        let (seq, columns) = (features.shape[1], features.shape[2]);
        let values = seq.saturating_mul(columns).saturating_mul(MIN_BATCH_CHUNK);
        let Some(data) = features.data.get(0..values) else {
            return Ok(None);
        };
        let probe_shape = [MIN_BATCH_CHUNK, seq, columns];
        let probe = Features {
            shape: &probe_shape,
            data,
        };
        let predictor = self.predictor();
        let mut fastest = Duration::MAX;
        for _ in 0..3 {
            let start = Instant::now();
            // An error here is the whole batch's error at the same window: the probe is its
            // first windows, numbered as in the batch.
            predictor.predict_batch(&probe, timeout)?;
            fastest = fastest.min(start.elapsed());
        }
        Ok(Some(fastest.as_nanos() / MIN_BATCH_CHUNK as u128))
    }

    /// How many extra sessions earlier batches opened (and the bundle keeps) for parallel runs.
    pub fn batch_sessions_open(&self) -> usize {
        self.batch_sessions.lock().len()
    }

    /// How many sessions a batch with room for `chunks` chunks runs on: one per core the process
    /// may use, up to `chunks`, when the session runs on one CPU thread; else 1.
    fn batch_workers(&self, chunks: usize) -> usize {
        let single_threaded = self.session_options.intra_op_threads == Some(1)
            && self.session.providers() == [Provider::Cpu];
        if !single_threaded || chunks <= 1 {
            return 1;
        }
        usable_cores().min(chunks)
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

/// Windows per chunk of a batch of `windows` on `workers` sessions (with `windows` at least
/// `workers` [`MIN_BATCH_CHUNK`]s): chunks of equal size, at most about [`BATCH_CHUNK`]
/// windows each. While the batch is small, a whole number of chunks per session (two where each
/// keeps [`MIN_BATCH_CHUNK`] windows, so that a slow spell of one core leaves half a share to the
/// others): an odd chunk left over would run alone while the other cores idle.
fn chunk_size(windows: usize, workers: usize) -> usize {
    let workers = workers.max(1);
    let per_session = (windows / (workers * MIN_BATCH_CHUNK)).clamp(1, 2);
    let chunks = (workers * per_session).max(windows.div_ceil(BATCH_CHUNK));
    windows.div_ceil(chunks).max(1)
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

/// Builds a prediction spec from the texts of `metadata.json` and `feature_schema.json` (`None`
/// where the bundle has none), for a bundle that arrives as bytes rather than from a scan (a
/// remote sweep worker). The texts are parsed as the scan parses them ([`parse_lenient`]).
pub fn spec_from_texts(
    metadata_json: Option<&str>,
    feature_schema_json: Option<&str>,
    confidence_scale_factor: f64,
    direction_threshold: f64,
) -> Result<PredictionSpec> {
    let parse = |kind: DocumentKind, text: &str| {
        parse_lenient(text, NonFinite::Null).map_err(|e| {
            Error::InvalidArgument(format!("{}: malformed JSON: {e}", kind.file_name()))
        })
    };
    let metadata = match metadata_json {
        Some(text) => parse(DocumentKind::Metadata, text)?,
        None => Value::Null,
    };
    let feature_schema = feature_schema_json
        .map(|text| parse(DocumentKind::FeatureSchema, text))
        .transpose()?;
    PredictionSpec::from_documents(
        &metadata,
        feature_schema.as_ref(),
        confidence_scale_factor,
        direction_threshold,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::onnx::tensor::ElementType;
    use serde_json::json;

    #[test]
    fn chunks_are_even_and_a_whole_number_per_session_while_the_batch_is_small() {
        // 65 windows on 2 sessions: one chunk each, not 32 + 32 + 1.
        assert_eq!(chunk_size(65, 2), 33);
        // Two chunks each once every chunk keeps 32 windows.
        assert_eq!(chunk_size(100, 2), 50);
        assert_eq!(chunk_size(128, 2), 32);
        assert_eq!(chunk_size(1_024, 2), 256);
        assert_eq!(chunk_size(1_000, 16), 63);
        // Large batches: chunks of about BATCH_CHUNK, evened out (79 chunks of 254 or 253).
        assert_eq!(chunk_size(20_000, 2), 254);
        for (windows, workers) in [(64, 2), (65, 2), (777, 3), (20_000, 16), (5_000, 7)] {
            let chunk = chunk_size(windows, workers);
            assert!(chunk >= MIN_BATCH_CHUNK, "{windows} on {workers}: {chunk}");
            assert!(chunk <= BATCH_CHUNK + 1, "{windows} on {workers}: {chunk}");
        }
    }

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
