//! `atb_prediction._core`: the module definition alone; everything lives in `core` and `py`.

pub mod core;
#[cfg(feature = "python")]
pub mod py;

#[cfg(feature = "python")]
#[pyo3::pymodule]
mod _core {
    #[pymodule_export]
    use crate::py::bars::bar_window;
    #[pymodule_export]
    use crate::py::bootstrap::{
        bootstrap_compare, bootstrap_differences, check_bootstrap, optimal_block_length,
    };
    #[pymodule_export]
    use crate::py::bundle::{
        open_version, refresh_bundles, shape_problems, PyBundleOptions, PyLoadedBundle, PyRefresh,
    };
    #[pymodule_export]
    use crate::py::cache::{features_digest, PyPredictionStore};
    #[pymodule_export]
    use crate::py::documents::read_json_document;
    #[pymodule_export]
    use crate::py::integrity::{check_seal, seal_bundle, verify_bundle, PySealCheck};
    #[pymodule_export]
    use crate::py::layout::{
        format_key, is_folder_name, parse_key, path_parts, registry_folders, registry_root,
        split_key, version_date,
    };
    #[pymodule_export]
    const BOOTSTRAP_RESAMPLES: usize = crate::core::backtest::bootstrap::DEFAULT_RESAMPLES;
    #[pymodule_export]
    const BOOTSTRAP_METRICS: [&str; 3] = crate::core::backtest::bootstrap::ReturnMetric::NAMES;
    #[pymodule_export]
    const LATEST: &str = crate::py::layout::LATEST;
    #[pymodule_export]
    const BAR_COLUMNS: [&str; 5] = crate::core::predict::bars::BAR_COLUMNS;
    #[pymodule_export]
    use crate::py::pointer::read_latest;
    #[pymodule_export]
    use crate::py::predictor::{
        bar_positions, column_position, feature_positions, series_columns, PyPredictor,
    };
    #[pymodule_export]
    use crate::py::registry::{
        document_kinds, scan_registry_with, PyBundleRecord, PyInvalidBundle, PyRegistryIndex,
    };
    #[pymodule_export]
    use crate::py::runtime::{
        configure_thread_pools, load_runtime, runtime_library_path, usable_cores,
    };
    #[pymodule_export]
    use crate::py::score::{check_score_settings, periods_per_year, score_metrics, score_sweep};
    #[pymodule_export]
    const LONG_THRESHOLD: f64 = crate::core::backtest::score::LONG_THRESHOLD;
    #[pymodule_export]
    const SHORT_THRESHOLD: f64 = crate::core::backtest::score::SHORT_THRESHOLD;
    #[pymodule_export]
    const MIN_BARS: usize = crate::core::backtest::score::MIN_BARS;
    #[pymodule_export]
    const BUY_AND_HOLD: &str = crate::core::backtest::score::BUY_AND_HOLD;
    #[pymodule_export]
    const AS_LIVE: &str = crate::core::backtest::score::AS_LIVE;
    #[pymodule_export]
    use crate::py::times::{
        bars_per_year, check_time_order, format_utc, median_spacing, spacing_mismatch, time_column,
        utc_times,
    };
    #[pymodule_export]
    const TIME_COLUMNS: [&str; 5] = crate::core::predict::times::TIME_COLUMNS;
    #[pymodule_export]
    use crate::py::session::{zero_input_shapes, PyOnnxSession, PyTensorInfo};
    #[pymodule_export]
    const DEFAULT_WARMUP_MAX_BYTES: usize = crate::core::onnx::session::DEFAULT_WARMUP_MAX_BYTES;
    #[pymodule_export]
    use crate::py::stream::PyBarStream;
    #[pymodule_export]
    use crate::py::sweep::PySweepModel;
}
