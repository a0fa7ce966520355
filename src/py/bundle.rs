//! `LoadedBundle` (a core bundle with its open session), the options bundles are opened with,
//! and a reload's `Refresh`: the registry's whole Python↔Rust surface for opening bundles.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::core::onnx::options::{session_options, timeout_from_seconds};
use crate::core::onnx::session::SessionOptions;
use crate::core::predict::{PriceScaling, Task};
use crate::core::registry::bundle::{self, BundleOptions, LoadedBundle};
use crate::core::registry::documents::{faithful_value, DocumentKind};
use crate::core::registry::manifest::{Integrity, IntegrityCheck, IntegrityMode};
use crate::core::registry::reload::{self, Serving};
use crate::core::registry::scan::BundleRecord;
use crate::core::Error;
use crate::py::documents::DocumentViews;
use crate::py::gil::detached;
use crate::py::registry::{PyBundleRecord, PyRegistryIndex};
use crate::py::repr::quoted;
use crate::py::runtime::ensure_runtime;
use crate::py::session::{log_session_warnings, PyOnnxSession};

/// How bundles are opened: session threading and providers, and the regression settings.
#[pyclass(frozen, module = "atb_prediction._core", name = "BundleOptions")]
pub struct PyBundleOptions {
    inner: BundleOptions,
}

// The signature below spells the default out so Python's help and the stubs show it.
const _: () = assert!(crate::core::onnx::session::DEFAULT_WARMUP_MAX_BYTES == 268_435_456);

#[pymethods]
impl PyBundleOptions {
    #[new]
    #[pyo3(signature = (*, intra_op_threads=None, providers=None, confidence_scale_factor=10.0, direction_threshold=0.01, warmup=true, warmup_max_bytes=268_435_456, warmup_timeout=None, verify_integrity="warn", registry_root=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        intra_op_threads: Option<usize>,
        providers: Option<Vec<String>>,
        confidence_scale_factor: f64,
        direction_threshold: f64,
        warmup: bool,
        warmup_max_bytes: usize,
        warmup_timeout: Option<f64>,
        verify_integrity: &str,
        registry_root: Option<PathBuf>,
    ) -> PyResult<Self> {
        let session = SessionOptions {
            warmup_max_bytes,
            warmup_timeout: timeout_from_seconds(warmup_timeout)?,
            ..session_options(intra_op_threads, None, "all", providers.as_deref(), warmup)?
        };
        let integrity = IntegrityCheck {
            mode: IntegrityMode::parse(verify_integrity)?,
            root: registry_root,
        };
        Ok(Self {
            inner: BundleOptions {
                session,
                confidence_scale_factor,
                direction_threshold,
                integrity,
            },
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "BundleOptions(intra_op_threads={:?}, confidence_scale_factor={}, direction_threshold={})",
            self.inner.session.intra_op_threads,
            self.inner.confidence_scale_factor,
            self.inner.direction_threshold
        )
    }
}

/// A bundle with an open, warmed-up session: what a registry serves and a runner predicts with.
#[pyclass(frozen, module = "atb_prediction._core", name = "LoadedBundle")]
pub struct PyLoadedBundle {
    inner: Arc<LoadedBundle>,
    documents: DocumentViews,
    session: PyOnceLock<Py<PyOnnxSession>>,
}

impl PyLoadedBundle {
    /// A bundle just opened, its session's warnings logged (once, here, however it was opened).
    fn opened(py: Python<'_>, inner: Arc<LoadedBundle>) -> PyResult<Self> {
        log_session_warnings(py, &inner.session)?;
        Ok(Self {
            inner,
            documents: DocumentViews::default(),
            session: PyOnceLock::new(),
        })
    }

    /// The core bundle.
    pub fn core(&self) -> &Arc<LoadedBundle> {
        &self.inner
    }
}

#[pymethods]
impl PyLoadedBundle {
    /// Opens a model file outside any registry, with the `metadata.json` beside it if any.
    #[staticmethod]
    fn open_model_file(
        py: Python<'_>,
        path: PathBuf,
        options: &Bound<'_, PyBundleOptions>,
    ) -> PyResult<Self> {
        ensure_runtime(py)?;
        let options = &options.get().inner;
        let bundle = detached(py, || LoadedBundle::open_model_file(&path, options))?;
        Self::opened(py, Arc::new(bundle))
    }

    /// The symbol folder's name (empty outside a registry).
    #[getter]
    fn symbol(&self) -> &str {
        &self.inner.record.symbol
    }
    /// The model-type folder's name (empty outside a registry).
    #[getter]
    fn model_type(&self) -> &str {
        &self.inner.record.model_type
    }
    /// The version folder's name (empty outside a registry).
    #[getter]
    fn version_id(&self) -> &str {
        &self.inner.record.version_id
    }
    /// From metadata, else from the version id, else `"unknown"`.
    #[getter]
    fn timeframe(&self) -> &str {
        &self.inner.record.timeframe
    }
    /// The version folder.
    #[getter]
    fn directory(&self) -> PathBuf {
        self.inner.record.directory.clone()
    }
    /// The ONNX model file.
    #[getter]
    fn model_path(&self) -> String {
        self.inner.record.model_path.display().to_string()
    }
    /// `SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`.
    #[getter]
    fn key(&self) -> String {
        self.inner.record.key()
    }
    /// Why the model differs from the bundle's `manifest.json`, when it was checked and does
    /// (`verify_integrity="warn"`; under `"strict"` such a bundle does not open).
    #[getter]
    fn integrity_problem(&self) -> Option<&str> {
        match &self.inner.integrity {
            Integrity::Mismatch(reason) => Some(reason),
            _ => None,
        }
    }
    /// Disagreements between the model and the bundle's declarations.
    #[getter]
    fn problems<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.problems)
    }
    /// `metadata.json` as a dict, or `None` when the bundle has none.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.documents
            .get(py, &self.inner.record, DocumentKind::Metadata)
    }
    /// `feature_schema.json` as a dict, or `None`.
    #[getter]
    fn feature_schema(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.documents
            .get(py, &self.inner.record, DocumentKind::FeatureSchema)
    }
    /// `metrics.json` as a dict, or `None`.
    #[getter]
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.documents
            .get(py, &self.inner.record, DocumentKind::Metrics)
    }
    /// The open session (shared with the bundle, not a copy).
    #[getter]
    fn session(&self, py: Python<'_>) -> PyResult<Py<PyOnnxSession>> {
        let session = self.session.get_or_try_init(py, || {
            Py::new(
                py,
                PyOnnxSession::wrap(py, Arc::clone(&self.inner.session))?,
            )
        })?;
        Ok(session.clone_ref(py))
    }
    /// Whether predictions may be cached (regression only, as upstream).
    #[getter]
    fn cacheable(&self) -> bool {
        self.inner.spec.is_cacheable()
    }
    /// `metadata.json`'s `feature_names` (the strings of a non-empty list), or `None`.
    #[getter]
    fn feature_names(&self) -> Option<Vec<String>> {
        self.inner.record.feature_names()
    }
    /// `(sequence_length, feature_count)`: the window the bundle predicts from, from the model's
    /// input where it fixes them, else from `metadata.json`. Raises `ModelLoadError` when neither
    /// says.
    #[getter]
    fn window(&self) -> PyResult<(usize, usize)> {
        let window = self.inner.window()?;
        Ok((window.sequence_length, window.feature_count))
    }
    /// `ranges` (`(start, stop)` pairs of bars) clipped to the bars that have a full window
    /// (the core's `InputWindow::full_windows`), emptied ones dropped. Raises `ModelLoadError`
    /// when the bundle has no window.
    fn full_windows(&self, ranges: Vec<(usize, usize)>) -> PyResult<Vec<(usize, usize)>> {
        let ranges: Vec<Range<usize>> = ranges.into_iter().map(|(a, b)| a..b).collect();
        let clipped = self.inner.window()?.full_windows(&ranges);
        Ok(clipped.into_iter().map(|r| (r.start, r.end)).collect())
    }
    /// Why the bundle cannot take raw OHLCV bars (naming the feature columns it needs), or
    /// `None` when it can.
    #[getter]
    fn raw_bars_problem(&self) -> Option<&str> {
        self.inner
            .spec
            .bar_features
            .as_ref()
            .err()
            .map(String::as_str)
    }
    /// How many of the last bars `predict_bars` reads (`sequence_length + window - 1`), or
    /// `None` when the bundle cannot take raw bars.
    #[getter]
    fn bars_needed(&self) -> Option<usize> {
        self.inner.predictor().bars_needed().ok()
    }
    /// How the model output becomes a price: `"model"` (used as it is), `"mean_std"` (mapped
    /// back by `price_normalization`'s mean and std, or its constant mean), `"rolling_minmax"`
    /// (mapped back with the min and max of the bars' target column), or `None` for
    /// classifiers, which predict no price.
    #[getter]
    fn price_scaling(&self) -> Option<&'static str> {
        let spec = &self.inner.spec;
        match &spec.task {
            Task::Regression(_) if spec.rolling_price.is_some() => Some("rolling_minmax"),
            Task::Regression(PriceScaling::Identity) => Some("model"),
            Task::Regression(_) => Some("mean_std"),
            _ => None,
        }
    }
    /// The bar column a `rolling_minmax` price is mapped back with, else `None`.
    #[getter]
    fn price_target(&self) -> Option<&'static str> {
        self.inner.spec.rolling_price.as_ref().map(|p| p.target())
    }
    /// The model bytes the session was opened from, and checked against `manifest.json` when
    /// the bundle is sealed: what a remote sweep worker runs.
    #[getter]
    fn model_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.model)
    }
    /// The lower-case hex sha256 of [`model_bytes`](Self::model_bytes): the digest of the
    /// bytes the session runs, as evidence names them.
    #[getter]
    fn model_sha256(&self, py: Python<'_>) -> PyResult<String> {
        let model = Arc::clone(&self.inner.model);
        detached(py, move || {
            Ok(crate::core::registry::manifest::sha256_hex(&model))
        })
    }
    /// How many more single-threaded sessions large `predict_batch` calls opened (and the bundle
    /// keeps) to run their chunks on several cores.
    #[getter]
    fn batch_sessions(&self) -> usize {
        self.inner.batch_sessions_open()
    }
    /// The text of `metadata.json` as the scan read it, or `None`.
    #[getter]
    fn metadata_text(&self) -> Option<&str> {
        self.inner.record.metadata.as_ref().map(|d| d.text.as_str())
    }
    /// The text of `feature_schema.json` as the scan read it, or `None`.
    #[getter]
    fn feature_schema_text(&self) -> Option<&str> {
        self.inner
            .record
            .feature_schema
            .as_ref()
            .map(|d| d.text.as_str())
    }

    fn __repr__(&self) -> String {
        format!("LoadedBundle({})", quoted(&self.inner.record.key()))
    }
}

/// What a reload changed: the bundles it opened, the keys it kept, added, changed and removed,
/// and why a model type serves nothing or an older bundle.
#[pyclass(frozen, module = "atb_prediction._core", name = "Refresh")]
pub struct PyRefresh {
    /// Bundles opened by this reload (new model types, promoted or changed versions).
    #[pyo3(get)]
    opened: Py<PyTuple>,
    /// Keys of the open bundles given that serve now (unchanged, taken over or stale).
    #[pyo3(get)]
    reused: Py<PyTuple>,
    /// Keys still served by the same bundle as before.
    #[pyo3(get)]
    kept: Py<PyTuple>,
    /// Keys served now by a model type that served nothing before.
    #[pyo3(get)]
    added: Py<PyTuple>,
    /// Keys served now in place of another version or of changed files.
    #[pyo3(get)]
    changed: Py<PyTuple>,
    /// Keys served before in place of which `changed` ones serve now.
    #[pyo3(get)]
    replaced: Py<PyTuple>,
    /// Keys served before whose model type left the registry.
    #[pyo3(get)]
    removed: Py<PyTuple>,
    /// `(path, reason)` of each production version that failed to open.
    #[pyo3(get)]
    failures: Py<PyTuple>,
    /// `(symbol, model_type) -> reason` for model types serving nothing.
    #[pyo3(get)]
    unavailable: Py<PyDict>,
    /// `(symbol, model_type) -> reason` for model types still serving an older bundle.
    #[pyo3(get)]
    stale: Py<PyDict>,
    /// Keys of the given reusable bundles whose files are still current.
    #[pyo3(get)]
    current: Py<PyTuple>,
    /// The failures, kept so the next reload does not reopen an unchanged broken version.
    failed: Vec<(Arc<BundleRecord>, String)>,
}

fn bundles_of(bundles: &[Bound<'_, PyLoadedBundle>]) -> Vec<Arc<LoadedBundle>> {
    bundles.iter().map(|b| Arc::clone(&b.get().inner)).collect()
}

/// Opens what a rescan needs: every production version that no given open bundle covers.
///
/// `live` are the bundles served now, `reusable` other open ones (pinned versions), `previous`
/// the last reload's outcome (its failures are not retried while unchanged). Sessions are
/// opened in parallel without the GIL; nothing is swapped here, the caller swaps.
#[pyfunction]
#[pyo3(signature = (index, live, reusable, options, previous=None))]
pub fn refresh_bundles(
    py: Python<'_>,
    index: &Bound<'_, PyRegistryIndex>,
    live: Vec<Bound<'_, PyLoadedBundle>>,
    reusable: Vec<Bound<'_, PyLoadedBundle>>,
    options: &Bound<'_, PyBundleOptions>,
    previous: Option<&Bound<'_, PyRefresh>>,
) -> PyResult<PyRefresh> {
    ensure_runtime(py)?;
    let index = Arc::clone(index.get().core());
    let live = bundles_of(&live);
    let reusable = bundles_of(&reusable);
    let known_failures = previous.map_or(&[][..], |p| p.get().failed.as_slice());
    let options = &options.get().inner;
    let refresh = detached(py, || {
        Ok::<_, Error>(reload::refresh(
            &index,
            &live,
            &reusable,
            known_failures,
            options,
        ))
    })?;

    let mut opened = Vec::new();
    let (mut reused, mut kept, mut added) = (vec![], vec![], vec![]);
    let (mut changed, mut replaced) = (vec![], vec![]);
    let unavailable = PyDict::new(py);
    let stale = PyDict::new(py);
    for entry in &refresh.model_types {
        let slot = (&entry.symbol, &entry.model_type);
        match &entry.serving {
            Serving::Opened(bundle) => opened.push(Py::new(
                py,
                PyLoadedBundle::opened(py, Arc::clone(bundle))?,
            )?),
            Serving::Kept(bundle) => reused.push(bundle.record.key()),
            Serving::Stale { bundle, reason } => {
                reused.push(bundle.record.key());
                stale.set_item(slot, reason)?;
            }
            Serving::Unavailable(reason) => unavailable.set_item(slot, reason)?,
        }
        match (entry.serving.bundle(), &entry.previous) {
            (Some(now), None) => added.push(now.record.key()),
            (Some(now), Some(before)) if Arc::ptr_eq(now, before) => kept.push(now.record.key()),
            (Some(now), Some(before)) => {
                changed.push(now.record.key());
                replaced.push(before.record.key());
            }
            // `Stale` keeps whatever served before, so a model type loses its bundle only when
            // it leaves the registry (`refresh.removed`).
            (None, _) => {}
        }
    }
    let removed: Vec<String> = refresh.removed.iter().map(|b| b.record.key()).collect();
    let failures: Vec<(String, String)> = refresh
        .failures
        .iter()
        .map(|(record, reason)| (record.directory.display().to_string(), reason.clone()))
        .collect();
    let current: Vec<String> = refresh.current.iter().map(|b| b.record.key()).collect();
    Ok(PyRefresh {
        opened: PyTuple::new(py, opened)?.unbind(),
        reused: PyTuple::new(py, reused)?.unbind(),
        kept: PyTuple::new(py, kept)?.unbind(),
        added: PyTuple::new(py, added)?.unbind(),
        changed: PyTuple::new(py, changed)?.unbind(),
        replaced: PyTuple::new(py, replaced)?.unbind(),
        removed: PyTuple::new(py, removed)?.unbind(),
        failures: PyTuple::new(py, failures)?.unbind(),
        unavailable: unavailable.unbind(),
        stale: stale.unbind(),
        current: PyTuple::new(py, current)?.unbind(),
        failed: refresh.failures,
    })
}

/// Opens the version `key` (`SYMBOL:TIMEFRAME:MODEL_TYPE:VERSION`) of `index`; `None` when the
/// index has no such version.
#[pyfunction]
pub fn open_version(
    py: Python<'_>,
    index: &Bound<'_, PyRegistryIndex>,
    key: &str,
    options: &Bound<'_, PyBundleOptions>,
) -> PyResult<Option<PyLoadedBundle>> {
    let index = Arc::clone(index.get().core());
    let Some(record) = index.version(key).cloned() else {
        return Ok(None);
    };
    ensure_runtime(py)?;
    let options = &options.get().inner;
    let bundle = detached(py, || LoadedBundle::open(record, options))?;
    PyLoadedBundle::opened(py, Arc::new(bundle)).map(Some)
}

/// Problems between `session`'s inputs and `record`'s declarations (see `LoadedBundle.problems`),
/// for checking a version without opening it as a bundle (validation).
#[pyfunction]
pub fn shape_problems(
    session: &Bound<'_, PyOnnxSession>,
    record: &Bound<'_, PyBundleRecord>,
) -> Vec<String> {
    let record = record.get().core();
    let metadata = record.metadata.as_ref().map(faithful_value);
    let feature_schema = record.feature_schema.as_ref().map(|d| &d.value);
    bundle::shape_problems(
        session.get().core().inputs(),
        metadata.as_deref(),
        feature_schema,
    )
}
