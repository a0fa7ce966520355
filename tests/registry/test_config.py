"""Tests of ``PredictionConfig``: upstream's fields, defaults, environment names and validation."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import atb_prediction
import pytest
from atb_prediction import PredictionConfig
from atb_prediction import config as config_module

#: Upstream's fields in upstream's order, with upstream's defaults (src/prediction/config.py).
UPSTREAM_DEFAULTS: list[tuple[str, Any]] = [
    ("prediction_horizons", [1]),
    ("min_confidence_threshold", 0.6),
    ("max_prediction_latency", 0.1),
    ("live_inference_timeout", 5.0),
    ("inference_timeout_escalation_threshold", 10),
    ("model_registry_path", "src/ml/models"),
    ("enable_sentiment", False),
    ("enable_market_microstructure", False),
    ("feature_cache_ttl", 3600),
    ("model_cache_ttl", 600),
    ("confidence_scale_factor", 10.0),
    ("direction_threshold", 0.01),
    ("enable_ensemble", False),
    ("ensemble_method", "mean"),
    ("enable_regime_aware_confidence", False),
    ("prediction_cache_enabled", True),
    ("prediction_cache_ttl", 60),
    ("prediction_cache_max_size", 1000),
]

#: field -> environment variable, as upstream's from_config_manager reads them.
ENV_NAMES = {name: name.upper() for name, _ in UPSTREAM_DEFAULTS}


def test_defaults_equal_upstreams() -> None:
    config = PredictionConfig()
    assert dataclasses.is_dataclass(config)
    for name, default in UPSTREAM_DEFAULTS:
        value = getattr(config, name)
        assert value == default, name
        assert type(value) is type(default), name
    field_names = [f.name for f in dataclasses.fields(PredictionConfig)]
    assert field_names[: len(UPSTREAM_DEFAULTS)] == [name for name, _ in UPSTREAM_DEFAULTS]
    # the additions of this package
    assert config.inference_timeout == 30.0
    assert config.intra_op_threads is None and config.providers is None
    assert config.metadata_schema_path is None
    assert config.feature_schema_schema_path is None
    assert config.metrics_schema_path is None
    assert config_module.DEFAULT_MODEL_REGISTRY_PATH == "src/ml/models"
    config.validate()


def test_horizon_lists_are_not_shared() -> None:
    first, second = PredictionConfig(), PredictionConfig()
    first.prediction_horizons.append(5)
    assert second.prediction_horizons == [1]


def test_str_like_upstream() -> None:
    assert str(PredictionConfig()) == (
        "PredictionConfig(horizons=[1], confidence_threshold=0.6, max_latency=0.1s, "
        "live_timeout=5.0s, sentiment=False, microstructure=False, ensemble=False/mean, "
        "regime_conf=False, cache_enabled=True, cache_ttl=60, cache_max_size=1000)"
    )


# --- from_config_manager -------------------------------------------------------------------------


def test_an_empty_environment_gives_the_defaults() -> None:
    assert PredictionConfig.from_config_manager(environ={}) == PredictionConfig()


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("prediction_horizons", "1, 4,12", [1, 4, 12]),
        ("prediction_horizons", "24", [24]),
        ("min_confidence_threshold", "0.75", 0.75),
        ("max_prediction_latency", "0.25", 0.25),
        ("live_inference_timeout", "2", 2.0),
        ("inference_timeout_escalation_threshold", "0", 0),
        ("model_registry_path", "/srv/models", "/srv/models"),
        ("feature_cache_ttl", "120", 120),
        ("model_cache_ttl", "90", 90),
        ("confidence_scale_factor", "2.5", 2.5),
        ("direction_threshold", "0", 0.0),
        ("ensemble_method", "median", "median"),
        ("prediction_cache_ttl", "5", 5),
        ("prediction_cache_max_size", "3", 3),
        ("enable_sentiment", "true", True),
        ("enable_market_microstructure", "1", True),
        ("enable_ensemble", "YES", True),
        ("enable_regime_aware_confidence", "on", True),
        ("prediction_cache_enabled", "false", False),
        ("prediction_cache_enabled", "0", False),
        ("prediction_cache_enabled", "nope", False),
        ("enable_sentiment", "Enabled", True),
        ("enable_sentiment", "off", False),
    ],
)
def test_each_environment_variable(name: str, text: str, value: Any) -> None:
    config = PredictionConfig.from_config_manager(environ={ENV_NAMES[name]: text})
    assert getattr(config, name) == value
    assert type(getattr(config, name)) is type(value)
    others = {f: v for f, v in UPSTREAM_DEFAULTS if f != name}
    assert {f: getattr(config, f) for f in others} == others


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("min_confidence_threshold", "high"),
        ("max_prediction_latency", ""),
        ("live_inference_timeout", "5s"),
        ("inference_timeout_escalation_threshold", "1.5"),
        ("inference_timeout_escalation_threshold", "ten"),
        ("feature_cache_ttl", "1h"),
        ("model_cache_ttl", ""),
        ("confidence_scale_factor", "x10"),
        ("direction_threshold", "--"),
        ("prediction_cache_ttl", "60.0"),
        ("prediction_cache_max_size", "1e3"),
    ],
)
def test_bad_numbers_fall_back_to_the_default(name: str, text: str) -> None:
    config = PredictionConfig.from_config_manager(environ={ENV_NAMES[name]: text})
    assert getattr(config, name) == dict(UPSTREAM_DEFAULTS)[name]


def test_empty_strings_fall_back_for_path_and_method() -> None:
    config = PredictionConfig.from_config_manager(
        environ={"MODEL_REGISTRY_PATH": "", "ENSEMBLE_METHOD": ""}
    )
    assert config.model_registry_path == "src/ml/models"
    assert config.ensemble_method == "mean"


def test_bad_horizons_raise_like_upstream() -> None:
    with pytest.raises(ValueError):
        PredictionConfig.from_config_manager(environ={"PREDICTION_HORIZONS": "1,two"})


def test_the_packages_own_variables() -> None:
    config = PredictionConfig.from_config_manager(
        environ={
            "INFERENCE_TIMEOUT_SECONDS": "2.5",
            "ONNX_INTRA_OP_THREADS": "2",
            "ONNX_PROVIDERS": "CUDAExecutionProvider, CPUExecutionProvider",
            "METADATA_SCHEMA_PATH": "/etc/atb/metadata.schema.json",
            "FEATURE_SCHEMA_SCHEMA_PATH": "/etc/atb/feature_schema.schema.json",
            "METRICS_SCHEMA_PATH": "/etc/atb/metrics.schema.json",
        }
    )
    assert config.inference_timeout == 2.5
    assert config.intra_op_threads == 2
    assert config.providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert config.metadata_schema_path == "/etc/atb/metadata.schema.json"
    assert config.feature_schema_schema_path == "/etc/atb/feature_schema.schema.json"
    assert config.metrics_schema_path == "/etc/atb/metrics.schema.json"
    for off in ("none", "off", "0", ""):
        assert (
            PredictionConfig.from_config_manager(
                environ={"INFERENCE_TIMEOUT_SECONDS": off}
            ).inference_timeout
            is None
        )
    assert (
        PredictionConfig.from_config_manager(
            environ={"INFERENCE_TIMEOUT_SECONDS": "soon", "ONNX_INTRA_OP_THREADS": "many"}
        )
        == PredictionConfig()
    )


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_PATH", "/from/environment")
    monkeypatch.setenv("PREDICTION_CACHE_TTL", "7")
    config = PredictionConfig.from_config_manager()
    assert config.model_registry_path == "/from/environment"
    assert config.prediction_cache_ttl == 7


# --- validate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"min_confidence_threshold": -0.01},
            "min_confidence_threshold must be between 0.0 and 1.0",
        ),
        ({"min_confidence_threshold": 1.5}, "min_confidence_threshold must be between 0.0 and 1.0"),
        ({"min_confidence_threshold": math.nan}, "min_confidence_threshold"),
        ({"max_prediction_latency": 0.0}, "max_prediction_latency must be positive"),
        ({"live_inference_timeout": -1.0}, "live_inference_timeout must be positive"),
        ({"inference_timeout_escalation_threshold": -1}, "must be a non-negative integer"),
        ({"inference_timeout_escalation_threshold": 2.5}, "must be a non-negative integer"),
        ({"inference_timeout_escalation_threshold": True}, "must be a non-negative integer"),
        ({"feature_cache_ttl": 0}, "feature_cache_ttl must be positive"),
        ({"model_cache_ttl": -5}, "model_cache_ttl must be positive"),
        ({"confidence_scale_factor": 0.0}, "confidence_scale_factor must be positive"),
        ({"direction_threshold": -0.001}, "direction_threshold must be non-negative"),
        ({"prediction_cache_ttl": 0}, "prediction_cache_ttl must be positive"),
        ({"prediction_cache_max_size": 0}, "prediction_cache_max_size must be positive"),
        ({"ensemble_method": "vote"}, "ensemble_method must be one of"),
        ({"prediction_horizons": []}, "prediction_horizons must be a non-empty list"),
        ({"prediction_horizons": (1, 2)}, "prediction_horizons must be a non-empty list"),
        ({"prediction_horizons": [1, 0]}, "All prediction_horizons must be positive integers"),
        ({"prediction_horizons": [1, 2.0]}, "All prediction_horizons must be positive integers"),
        ({"inference_timeout": 0.0}, "inference_timeout"),
        ({"inference_timeout": math.inf}, "inference_timeout"),
        ({"intra_op_threads": 0}, "intra_op_threads"),
        ({"model_registry_path": ""}, "model_registry_path"),
    ],
)
def test_validate_rejects_each_rule(changes: dict[str, Any], message: str) -> None:
    config = PredictionConfig(**changes)
    with pytest.raises(ValueError, match=message):
        config.validate()


@pytest.mark.parametrize(
    "changes",
    [
        {"min_confidence_threshold": 0.0},
        {"min_confidence_threshold": 1.0},
        {"inference_timeout_escalation_threshold": 0},
        {"direction_threshold": 0.0},
        {"ensemble_method": "median"},
        {"ensemble_method": "weighted"},
        {"prediction_horizons": [1, 4, 24]},
        {"inference_timeout": None},
        {"intra_op_threads": 1},
    ],
)
def test_validate_accepts_the_edges(changes: dict[str, Any]) -> None:
    PredictionConfig(**changes).validate()


def test_validate_reports_the_first_failing_rule_in_upstreams_order() -> None:
    config = PredictionConfig(
        min_confidence_threshold=2.0, prediction_cache_ttl=0, ensemble_method="vote"
    )
    with pytest.raises(ValueError, match="min_confidence_threshold"):
        config.validate()
    config.min_confidence_threshold = 0.5
    with pytest.raises(ValueError, match="prediction_cache_ttl"):
        config.validate()


def test_config_is_importable_from_both_places() -> None:
    assert atb_prediction.PredictionConfig is config_module.PredictionConfig


def test_true_is_not_a_positive_number() -> None:
    with pytest.raises(ValueError, match="max_prediction_latency"):
        PredictionConfig(max_prediction_latency=True).validate()
