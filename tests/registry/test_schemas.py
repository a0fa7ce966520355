"""Tests for the JSON Schemas of registry bundle files (metadata, feature schema, metrics).

The schemas are read from the source tree rather than through ``atb_prediction`` so these
tests run before the extension module is built.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "python/atb_prediction/schemas"
REGISTRY = Path(__file__).resolve().parents[1] / "data" / "atb-registry"
KINDS = ("metadata", "feature_schema", "metrics")

# Keywords that both the Python `jsonschema` package and the Rust `jsonschema` crate implement
# identically for draft 2020-12. `format` is left out on purpose: whether it asserts differs
# between the two, so the same file could pass in one and fail in the other.
PORTABLE_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$defs", "$comment", "title", "description",
        "type", "enum", "const", "properties", "additionalProperties", "patternProperties",
        "propertyNames", "required", "dependentRequired", "minProperties", "maxProperties",
        "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains",
        "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "multipleOf", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
    }
)  # fmt: skip
_SUBSCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUBSCHEMAS = frozenset(
    {"additionalProperties", "items", "not", "if", "then", "else", "propertyNames", "contains"}
)

# The normalization definitions are copied into both schemas, because a cross-file `$ref`
# would need a resolver on both the Python and the Rust side; a test keeps the copies equal.
SHARED_DEFS = (
    "positiveInteger",
    "featureNormalization",
    "normalizationParams",
    "priceNormalization",
)


def load_schema(kind: str) -> dict[str, Any]:
    """Parse the schema for ``kind`` (``metadata``, ``feature_schema`` or ``metrics``)."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{kind}.schema.json").read_text("utf-8"))
    return schema


def validator(kind: str) -> Draft202012Validator:
    """A validator for ``kind``, built without `check_schema` (tested separately)."""
    return Draft202012Validator(load_schema(kind))


def error_paths(kind: str, instance: object) -> list[str]:
    """JSON pointers of every validation error, for readable assertion messages."""
    return [
        "/" + "/".join(str(part) for part in error.absolute_path)
        for error in validator(kind).iter_errors(instance)
    ]


def iter_keywords(schema: object, pointer: str = "#") -> Iterator[tuple[str, str, object]]:
    """Yield ``(pointer, keyword, value)`` for every keyword of ``schema`` and its subschemas."""
    if not isinstance(schema, dict):
        return  # a boolean schema has no keywords
    for keyword, value in schema.items():
        yield pointer, keyword, value
        if keyword in _SUBSCHEMA_MAPS:
            for name, sub in value.items():
                yield from iter_keywords(sub, f"{pointer}/{keyword}/{name}")
        elif keyword in _SUBSCHEMA_LISTS:
            for index, sub in enumerate(value):
                yield from iter_keywords(sub, f"{pointer}/{keyword}/{index}")
        elif keyword in _SUBSCHEMAS:
            yield from iter_keywords(value, f"{pointer}/{keyword}")


# --- the schemas themselves -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:atb-prediction:{kind}"
    assert schema["title"]
    assert schema["description"]
    assert schema["type"] == "object"


@pytest.mark.parametrize("kind", KINDS)
def test_schema_uses_only_portable_keywords_and_local_refs(kind: str) -> None:
    schema = load_schema(kind)
    for pointer, keyword, value in iter_keywords(schema):
        assert keyword in PORTABLE_KEYWORDS, f"{pointer}: keyword {keyword!r} is not portable"
        if keyword == "$ref":
            assert isinstance(value, str) and value.startswith("#/"), f"{pointer}: remote $ref"
            target: Any = schema
            for part in value[2:].split("/"):
                assert part in target, f"{pointer}: $ref {value} does not resolve"
                target = target[part]


def test_shared_definitions_are_identical() -> None:
    metadata_defs = load_schema("metadata")["$defs"]
    feature_defs = load_schema("feature_schema")["$defs"]
    for name in SHARED_DEFS:
        assert metadata_defs[name] == feature_defs[name], f"$defs/{name} differs between schemas"


# --- the real registry ------------------------------------------------------------------------


def registry_files(kind: str) -> list[Path]:
    """Every ``{kind}.json`` under the fixture registry, once each (``latest`` may alias one)."""
    return sorted({path.resolve() for path in REGISTRY.glob(f"*/*/*/{kind}.json")})


@pytest.mark.parametrize("kind", KINDS)
def test_every_registry_file_validates(kind: str) -> None:
    files = registry_files(kind)
    if kind != "metrics":  # the fixture registry has no metrics.json; the others must be found
        assert files, f"no {kind}.json found under {REGISTRY}"
    failures = {}
    for path in files:
        # Python's json accepts the non-standard `Infinity` that one real file contains
        # (BTCUSDT/basic/2025-10-26_21h_v1 evaluation_results.mape), as the upstream bot does.
        paths = error_paths(kind, json.loads(path.read_text("utf-8")))
        if paths:
            failures[str(path.relative_to(REGISTRY.resolve()))] = paths
    assert not failures


def test_registry_has_legacy_and_candidate_metadata() -> None:
    """Guard that the fixture set still covers the variants the schema was loosened for."""
    documents = [json.loads(path.read_text("utf-8")) for path in registry_files("metadata")]
    assert any("model_file" not in doc and "created_at" not in doc for doc in documents)
    assert any(doc.get("stage") == "candidate" for doc in documents)
    assert any(doc.get("price_normalization", {}).get("method") for doc in documents)


# --- hand-written documents -------------------------------------------------------------------

VALID_METADATA: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "model_type": "basic",
    "version_id": "2025-10-30_12h_v1",
    "framework": "onnx",
    "timeframe": "1h",
    "sequence_length": 120,
    "feature_names": ["close_normalized", "volume_normalized"],
    "normalization_params": {
        "close_normalized": {"mean": 0.5, "std": 0.25},
        "volume_normalized": {"method": "minmax", "min": 0.0, "max": 1.0},
    },
    "price_normalization": {"method": "rolling_minmax", "window": 120, "target_feature": "close"},
    "task_type": "ternary_classification",
    "class_labels": [-1, 0, 1],
    "model_file": "model.onnx",
    "created_at": "2025-10-30T12:13:22.977562+00:00",
    "stage": "candidate",
    "training_params": {"epochs": 49},  # unknown keys are allowed
}

VALID_FEATURE_SCHEMA: dict[str, Any] = {
    "sequence_length": 120,
    "features": [
        {"name": "close_normalized", "required": True},
        {"name": "volume_normalized", "required": False, "mean": 0.0, "std": 1.0},
        {"name": "rsi", "normalization": {"min": 0, "max": 100}},
    ],
    "normalization_params": {"close_normalized": {"min": 0.0, "max": 1.0}},
    "price_normalization": {"method": "zscore", "mean": 50000.0, "std": 1000.0},
}

VALID_METRICS: list[Any] = [
    {},
    {"rmse": 0.066, "mape": 21.4, "directional_accuracy": 0.53},
    {"evaluated_at": "2026-07-04T22:44:32+00:00", "test": {"rmse": 0.06, "samples": 15517}},
    {"by_regime": {"bull": {"rmse": 0.05, "note": "2021"}, "bear": {"rmse": 0.07}}},
]


@pytest.mark.parametrize(
    ("kind", "document"),
    [
        ("metadata", VALID_METADATA),
        ("metadata", {}),
        ("metadata", {"task_type": "binary_classification", "class_labels": [-1, 1]}),
        ("metadata", {"task_type": "regression", "normalization_params": {}}),
        ("metadata", {"price_normalization": {"mean": 1.0, "std": 0.0}}),
        ("feature_schema", VALID_FEATURE_SCHEMA),
        ("feature_schema", {"features": [{"name": "close"}]}),
        *(("metrics", document) for document in VALID_METRICS),
    ],
)
def test_valid_document_is_accepted(kind: str, document: object) -> None:
    assert error_paths(kind, document) == []


# (field, wrong value): every rejection must be reported at that field, so it is the field's own
# rule that fires and not some other part of the document.
METADATA_REJECTS: list[tuple[str, object]] = [
    ("timeframe", 60),
    ("timeframe", None),
    ("timeframe", ["1h"]),
    ("timeframe", ""),
    ("sequence_length", "120"),
    ("sequence_length", 12.5),
    ("sequence_length", 0),
    ("sequence_length", -1),
    ("sequence_length", True),
    ("feature_names", "close"),
    ("feature_names", [1, 2]),
    ("feature_names", []),
    ("feature_names", ["close", "close"]),
    ("feature_names", [""]),
    ("normalization_params", []),
    ("normalization_params", {"close": 1.0}),
    ("normalization_params", {"close": {"mean": "0.5", "std": 1.0}}),
    ("normalization_params", {"close": {"mean": 0.5, "std": -1.0}}),
    ("normalization_params", {"close": {"min": 0.0, "max": None}}),
    ("normalization_params", {"": {"mean": 0.0, "std": 1.0}}),
    ("price_normalization", "rolling_minmax"),
    ("price_normalization", {"method": 1}),
    ("price_normalization", {"method": "zscore", "mean": "1", "std": 1.0}),
    ("price_normalization", {"method": "rolling_minmax", "window": 0}),
    ("price_normalization", {"method": "rolling_minmax", "window": "120"}),
    ("price_normalization", {"target_feature": 3}),
    ("task_type", 1),
    ("task_type", "classification"),
    ("task_type", "Regression"),
    ("class_labels", "down,flat,up"),
    ("class_labels", [0, 1, 2]),
    ("class_labels", ["up", "flat", "down"]),
    ("class_labels", [1, 1, -1]),
    ("class_labels", [-1, 1]),  # VALID_METADATA is ternary: three labels required
    ("model_file", 1),
    ("model_file", ""),
    ("model_file", "../model.onnx"),
    ("model_file", "nested/model.onnx"),
    ("model_file", "/abs/model.onnx"),
    ("model_file", "nested\\model.onnx"),
    ("model_file", "C:model.onnx"),
    ("model_file", ".."),
    ("model_file", "."),
    ("model_file", "model\x00.onnx"),
    ("model_file", "model.onnx\n"),  # Python's `$` would let this through; Rust's would not
    ("created_at", 1_700_000_000),
    ("created_at", None),
    ("stage", 1),
    ("stage", ["candidate"]),
]

FEATURE_SCHEMA_REJECTS: list[tuple[str, object]] = [
    ("sequence_length", "120"),
    ("sequence_length", 0),
    ("features", "close"),
    ("features", []),
    ("features", ["close"]),
    ("features", [{}]),
    ("features", [{"name": 1}]),
    ("features", [{"name": ""}]),
    ("features", [{"name": "close", "required": "yes"}]),
    ("features", [{"name": "close", "mean": "0"}]),
    ("features", [{"name": "close", "normalization": {"min": 0, "max": "1"}}]),
    ("normalization_params", {"close": {"mean": 0.0, "std": "1"}}),
    ("price_normalization", {"method": "rolling_minmax", "window": -3}),
]


def _case_id(field: str, value: object) -> str:
    return f"{field}={value!r}"


@pytest.mark.parametrize(
    ("field", "value"), METADATA_REJECTS, ids=[_case_id(*case) for case in METADATA_REJECTS]
)
def test_metadata_rejects_wrong_value(field: str, value: object) -> None:
    document = copy.deepcopy(VALID_METADATA)
    document[field] = value
    paths = error_paths("metadata", document)
    assert paths, f"accepted {field}={value!r}"
    assert all(path.startswith(f"/{field}") for path in paths), paths


@pytest.mark.parametrize(
    ("field", "value"),
    FEATURE_SCHEMA_REJECTS,
    ids=[_case_id(*case) for case in FEATURE_SCHEMA_REJECTS],
)
def test_feature_schema_rejects_wrong_value(field: str, value: object) -> None:
    document = copy.deepcopy(VALID_FEATURE_SCHEMA)
    document[field] = value
    paths = error_paths("feature_schema", document)
    assert paths, f"accepted {field}={value!r}"
    assert all(path.startswith(f"/{field}") for path in paths), paths


def test_feature_schema_requires_features() -> None:
    assert not validator("feature_schema").is_valid({"sequence_length": 120})


@pytest.mark.parametrize(
    "document",
    [
        [],
        "rmse",
        0.1,
        {"rmse": None},
        {"rmse": [0.1, 0.2]},
        {"passed": True},
        {"": 0.1},
        {"test": {"rmse": None}},
        {"test": {"confusion": [[1, 0], [0, 1]]}},
        {"test": {"split": {"ok": False}}},
    ],
    ids=repr,
)
def test_metrics_rejects_wrong_value(document: object) -> None:
    assert not validator("metrics").is_valid(document)


@pytest.mark.parametrize("kind", ["metadata", "feature_schema", "metrics"])
@pytest.mark.parametrize("document", [[], "x", 1, None], ids=repr)
def test_non_object_document_is_rejected(kind: str, document: object) -> None:
    assert not validator(kind).is_valid(document)


# --- properties ---------------------------------------------------------------------------------

_names = st.text(min_size=1, max_size=12)
_numbers = st.one_of(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.floats(allow_nan=False, allow_infinity=False),
)
_non_negative = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
_positive_ints = st.integers(min_value=1, max_value=10**6)
_file_names = st.text(
    alphabet=st.characters(exclude_characters="/\\:", exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=24,
).filter(lambda name: ".." not in name and name != ".")
_json_values = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def _scaling(draw: st.DrawFn, *, extra: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A z-score pair, a min-max pair, both or neither, plus any of the ``extra`` keys.

    A lone ``mean`` or ``std`` is valid too (upstream defaults the other), so pairs are only one
    of the shapes accepted."""
    out: dict[str, Any] = draw(st.fixed_dictionaries({}, optional=extra))
    if draw(st.booleans()):
        out |= {"mean": draw(_numbers), "std": draw(_non_negative)}
    if draw(st.booleans()):
        out |= {"min": draw(_numbers), "max": draw(_numbers)}
    return out


_feature_scaling = _scaling(extra={"method": _names})
_price_scaling = _scaling(
    extra={"method": _names, "window": _positive_ints, "target_feature": _names}
)
_CLASS_COUNTS = {"binary_classification": st.just(2), "ternary_classification": st.just(3)}


@st.composite
def valid_metadata(draw: st.DrawFn) -> dict[str, Any]:
    """Metadata whose every read field, when present, holds a value of the right shape."""
    document: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "symbol": _names,
                "model_type": _names,
                "version_id": _names,
                "framework": _names,
                "timeframe": _names,
                "sequence_length": _positive_ints,
                "feature_names": st.lists(_names, min_size=1, max_size=6, unique=True),
                "feature_count": _positive_ints,
                "normalization_params": st.dictionaries(_names, _feature_scaling, max_size=4),
                "price_normalization": _price_scaling,
                "model_file": _file_names,
                "created_at": _names,
                "training_date": _names,
                "stage": _names,
                "has_sentiment": st.booleans(),
            },
        )
    )
    # task_type and class_labels are drawn together: a binary or ternary task fixes the count.
    if draw(st.booleans()):
        task = draw(st.sampled_from(["regression", *_CLASS_COUNTS]))
        document["task_type"] = task
        if draw(st.booleans()):
            count = draw(_CLASS_COUNTS.get(task, st.integers(min_value=2, max_value=3)))
            document["class_labels"] = draw(
                st.lists(
                    st.sampled_from([-1, 0, 1, "-1", "0", "1"]),
                    min_size=count,
                    max_size=count,
                    unique_by=lambda label: str(label),
                )
            )
    typed = set(load_schema("metadata")["properties"])
    extras = draw(
        st.dictionaries(_names.filter(lambda key: key not in typed), _json_values, max_size=3)
    )
    return extras | document


@settings(max_examples=60, deadline=None, database=None)
@given(valid_metadata())
def test_any_well_typed_metadata_is_accepted(document: dict[str, Any]) -> None:
    assert error_paths("metadata", document) == []


_metric_values = st.recursive(
    _numbers | st.text(max_size=8),
    lambda inner: st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None, database=None)
@given(st.dictionaries(_names, _metric_values, max_size=5))
def test_any_nested_numeric_metrics_are_accepted(document: dict[str, Any]) -> None:
    assert error_paths("metrics", document) == []


def test_a_lone_mean_or_std_is_accepted_as_upstream_defaults_the_other() -> None:
    document = copy.deepcopy(VALID_METADATA)
    document["normalization_params"] = {"close": {"mean": 0.5}, "volume": {"std": 2.0}}
    document["price_normalization"] = {"method": "zscore", "mean": 1.0}
    assert error_paths("metadata", document) == []


# --- the same cases through the Rust validator that production uses -----------------------------


def _scan_cases(
    tmp_path: Path, kind: str, valid: dict[str, Any], cases: list[tuple[str, object]]
) -> tuple[Any, dict[str, tuple[str, object]]]:
    """One registry with a bundle per case (version ``v000``... of model type ``t``), plus the
    valid document as ``ok``; returns the scan and version -> case."""
    from atb_prediction import scan_registry
    from conftest import linear_model, write_bundle

    model = linear_model(120, 2)
    root = tmp_path / "registry"
    versions = {f"2025-01-01_v{number:03d}": case for number, case in enumerate(cases)}
    for version, (field, value) in [*versions.items(), ("2025-01-02_ok", ("", None))]:
        metadata = {**copy.deepcopy(VALID_METADATA), "model_type": "t", "version_id": version}
        feature_schema = copy.deepcopy(VALID_FEATURE_SCHEMA)
        document = metadata if kind == "metadata" else feature_schema
        if field:
            document[field] = value
        write_bundle(
            root, "BTCUSDT", "t", version, model=model, metadata=metadata,
            feature_schema=feature_schema,
        )  # fmt: skip
    return scan_registry(root), versions


@pytest.mark.parametrize(
    ("kind", "valid", "cases"),
    [
        ("metadata", VALID_METADATA, METADATA_REJECTS),
        ("feature_schema", VALID_FEATURE_SCHEMA, FEATURE_SCHEMA_REJECTS),
    ],
    ids=["metadata", "feature_schema"],
)
def test_the_rust_scan_rejects_the_same_cases(
    tmp_path: Path, kind: str, valid: dict[str, Any], cases: list[tuple[str, object]]
) -> None:
    index, versions = _scan_cases(tmp_path, kind, valid, cases)
    assert [r.version_id for r in index.versions] == ["2025-01-02_ok"]
    invalid = {Path(bundle.path).name: bundle.reason for bundle in index.invalid}
    assert set(invalid) == set(versions)
    for version, (field, value) in versions.items():
        assert f"{kind}.json" in invalid[version], (field, value, invalid[version])
        assert field in invalid[version], (field, value, invalid[version])
