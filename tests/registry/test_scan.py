"""Tests of ``atb_prediction.scan_registry``: the parallel Rust scan of a model registry.

Every registry here is built in ``tmp_path`` from real ONNX models, plus the upstream fixture
registry where it is present. One bad bundle must never take the rest of the registry with it:
each is recorded in ``.invalid`` with its path and a reason naming the file at fault.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import atb_prediction
import pytest
from atb_prediction import (
    BundleRecord,
    InvalidBundle,
    ModelLoadError,
    RegistryIndex,
    scan_registry,
)
from conftest import FIXTURE_KEYS, linear_model, point_latest, standard_metadata, write_bundle

MODEL = linear_model(seq=4, features=3)
V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"


def good_bundle(root: Path, symbol: str, model_type: str, version: str, **extra: object) -> Path:
    """A valid bundle with metadata shaped like the fixture registry's."""
    metadata = standard_metadata(symbol, model_type, version, seq=4, features=3, **extra)
    return write_bundle(root, symbol, model_type, version, model=MODEL, metadata=metadata)


def invalid_by_path(index: RegistryIndex) -> dict[str, str]:
    return {bundle.path: bundle.reason for bundle in index.invalid}


def keys(index: RegistryIndex) -> list[str]:
    return [record.key for record in index.versions]


def snapshot(index: RegistryIndex) -> dict[str, object]:
    """Everything a scan reports, in comparable form."""
    return {
        "versions": [
            (
                r.key,
                r.symbol,
                r.model_type,
                r.version_id,
                r.timeframe,
                r.directory,
                r.model_path,
                r.is_production,
                json.dumps(r.metadata, sort_keys=True),
                json.dumps(r.feature_schema, sort_keys=True),
                json.dumps(r.metrics, sort_keys=True),
            )
            for r in index.versions
        ],
        "invalid": sorted((b.path, b.reason) for b in index.invalid),
        "production": dict(index.production),
        "unavailable": dict(index.unavailable),
    }


# --- bad bundles ---------------------------------------------------------------------------------

#: version name -> (files to write, words the reason must contain)
BAD_BUNDLES: dict[str, tuple[dict[str, object], tuple[str, ...]]] = {
    "malformed_json": ({"metadata": '{"timeframe": "1h", '}, ("metadata.json", "malformed")),
    "json_list": ({"metadata": "[1, 2, 3]"}, ("metadata.json", "object")),
    "deep_json": (
        {"metadata": '{"x": ' + "[" * 10000 + "]" * 10000 + "}"},
        ("metadata.json",),
    ),
    "schema_type": (
        {"metadata": {"sequence_length": "120"}},
        ("metadata.json", "/sequence_length"),
    ),
    "schema_feature_name": (
        {"metadata": {"timeframe": "1h"}, "feature_schema": {"features": [{"name": 5}]}},
        ("feature_schema.json", "/features/0/name"),
    ),
    "schema_metrics_json_list": ({"metadata": {}, "metrics": "[]"}, ("metrics.json",)),
    "missing_model": ({"metadata": {"timeframe": "1h"}, "model": None}, ("model",)),
    "garbage_model": (
        {"metadata": {"timeframe": "1h"}, "model": b"garbage bytes, not a protobuf"},
        ("model.onnx",),
    ),
    "empty_model": ({"metadata": {"timeframe": "1h"}, "model": b""}, ("model.onnx", "empty")),
    "model_file_missing": (
        {"metadata": {"model_file": "weights.onnx"}},
        ("weights.onnx", "model_file"),
    ),
}


@pytest.fixture
def bad_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    good_bundle(root, "GOOD", "basic", V1)
    good_bundle(root, "GOOD", "basic", V2)
    point_latest(root, "GOOD", "basic", V2)
    for version, (files, _) in BAD_BUNDLES.items():
        files = dict(files)
        model = files.pop("model", MODEL)
        write_bundle(root, "BAD", "broken", version, model=model, **files)  # type: ignore[arg-type]
    several = write_bundle(
        root,
        "BAD",
        "broken",
        "several_onnx",
        model=MODEL,
        metadata={"timeframe": "1h"},
        model_file="a.onnx",
    )
    (several / "b.onnx").write_bytes(MODEL)
    # a valid bundle beside the broken ones, in the same model type
    good_bundle(root, "BAD", "broken", "zz_valid")
    point_latest(root, "BAD", "broken", "zz_valid")
    return root


def test_each_bad_bundle_is_recorded_with_its_reason_and_the_rest_works(bad_registry: Path) -> None:
    index = scan_registry(bad_registry)
    invalid = invalid_by_path(index)
    broken = bad_registry / "BAD" / "broken"
    for version, (_, words) in BAD_BUNDLES.items():
        path = str(broken / version)
        assert path in invalid, f"{version} not recorded as invalid: {sorted(invalid)}"
        for word in words:
            assert word in invalid[path], f"{version}: {word!r} not in {invalid[path]!r}"
    several = invalid[str(broken / "several_onnx")]
    assert "a.onnx" in several and "b.onnx" in several and "model_file" in several
    assert len(index.invalid) == len(BAD_BUNDLES) + 1
    assert all(isinstance(bundle, InvalidBundle) for bundle in index.invalid)

    # the rest of the registry works
    assert keys(index) == [
        "BAD:1h:broken:zz_valid",
        f"GOOD:1h:basic:{V1}",
        f"GOOD:1h:basic:{V2}",
    ]
    assert index.production == {("GOOD", "basic"): V2, ("BAD", "broken"): "zz_valid"}
    assert index.unavailable == {}
    assert len(index) == 3


def test_deep_json_is_refused_not_a_crash_in_every_document(tmp_path: Path) -> None:
    deep = "[" * 10000 + "]" * 10000
    root = tmp_path / "registry"
    write_bundle(root, "S", "t", "meta", model=MODEL, metadata='{"x": ' + deep + "}")
    write_bundle(
        root, "S", "t", "features", model=MODEL, feature_schema='{"features": ' + deep + "}"
    )
    write_bundle(root, "S", "t", "metrics", model=MODEL, metrics='{"m": ' + deep + "}")
    write_bundle(root, "S", "t", "objects", model=MODEL, metadata='{"a":' * 5000 + "1" + "}" * 5000)
    good_bundle(root, "S", "t", "zz_valid")
    index = scan_registry(root)
    invalid = invalid_by_path(index)
    assert "metadata.json" in invalid[str(root / "S/t/meta")]
    assert "feature_schema.json" in invalid[str(root / "S/t/features")]
    assert "metrics.json" in invalid[str(root / "S/t/metrics")]
    assert "metadata.json" in invalid[str(root / "S/t/objects")]
    assert keys(index) == ["S:1h:t:zz_valid"]


def test_infinity_in_metadata_is_accepted_and_python_gets_inf(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "t",
        V1,
        model=MODEL,
        metadata='{"timeframe": "1h", "mape": Infinity, "low": -Infinity, "odd": NaN}',
    )
    index = scan_registry(root)
    assert index.invalid == ()
    (record,) = index.versions
    assert record.metadata["mape"] == math.inf
    assert record.metadata["low"] == -math.inf
    assert math.isnan(record.metadata["odd"])


def test_infinity_in_metrics_is_accepted_and_python_gets_inf(tmp_path: Path) -> None:
    """Python's ``json.dump`` writes ``Infinity`` for a degenerate metric (a MAPE on targets near
    zero, as the fixture registry's notes describe); such a bundle must stay usable."""
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "t",
        V1,
        model=MODEL,
        metadata={"timeframe": "1h"},
        metrics='{"mape": Infinity, "rmse": 0.25, "test": {"mape": Infinity}}',
    )
    index = scan_registry(root)
    assert [(b.path, b.reason) for b in index.invalid] == []
    (record,) = index.versions
    assert record.metrics["mape"] == math.inf
    assert record.metrics["test"]["mape"] == math.inf
    assert record.metrics["rmse"] == 0.25


def test_stray_files_keras_and_saved_model_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    directory = good_bundle(root, "S", "basic", V1)
    (root / "README.md").write_text("# registry\n")
    (root / "index.json").write_text("[]")
    (root / "S" / "notes.txt").write_text("notes")
    (root / "S" / "basic" / "CHANGELOG").write_text("v1")
    (root / ".lock").write_text("")
    (directory / "model.keras").write_bytes(b"PK\x03\x04 not onnx")
    (directory / "saved_model" / "variables").mkdir(parents=True)
    (directory / "saved_model" / "saved_model.pb").write_bytes(b"\xff\xfe")
    (directory / "training.log").write_text("epoch 1")
    index = scan_registry(root)
    assert index.invalid == ()
    (record,) = index.versions
    assert record.key == f"S:1h:basic:{V1}"
    assert record.model_path == str(directory / "model.onnx")


def test_model_file_choice(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    named = write_bundle(
        root,
        "S",
        "t",
        "named",
        model=MODEL,
        metadata={"model_file": "net.onnx"},
        model_file="net.onnx",
    )
    (named / "model.onnx").write_bytes(b"")  # model_file wins over model.onnx
    default = write_bundle(root, "S", "t", "default", model=MODEL, metadata={"timeframe": "1h"})
    (default / "other.onnx").write_bytes(MODEL)  # model.onnx wins over other *.onnx
    only = write_bundle(root, "S", "t", "only", model=MODEL, model_file="weird_name.onnx")
    index = scan_registry(root)
    assert index.invalid == ()
    paths = {r.version_id: r.model_path for r in index.versions}
    assert paths == {
        "named": str(named / "net.onnx"),
        "default": str(default / "model.onnx"),
        "only": str(only / "weird_name.onnx"),
    }


# --- latest --------------------------------------------------------------------------------------


@pytest.fixture
def latest_registry(tmp_path: Path) -> Path:
    """One model type per way a ``latest`` pointer can be, each with two valid versions."""
    root = tmp_path / "registry"
    elsewhere = tmp_path / "elsewhere"
    for model_type in (
        "symlink",
        "outside",
        "dangling",
        "loop",
        "textfile",
        "realdir",
        "to_invalid",
        "to_unknown",
        "no_latest",
        "absolute_inside",
    ):
        good_bundle(root, "SYM", model_type, V1)
        good_bundle(root, "SYM", model_type, V2)
    types = root / "SYM"
    point_latest(root, "SYM", "symlink", V1)
    outside = good_bundle(elsewhere, "SYM", "outside", V3)
    (types / "outside" / "latest").symlink_to(outside)  # absolute path to another tmp dir
    (types / "dangling" / "latest").symlink_to("2025-09-09_1h_v9")
    (types / "loop" / "latest").symlink_to("latest2")
    (types / "loop" / "latest2").symlink_to("latest")
    (types / "textfile" / "latest").write_text(f"{V1}\n")  # git without symlinks
    write_bundle(root, "SYM", "realdir", "latest", model=MODEL, metadata={"timeframe": "1h"})
    write_bundle(root, "SYM", "to_invalid", V3, model=MODEL, metadata="{not json")
    point_latest(root, "SYM", "to_invalid", V3)
    (types / "to_unknown" / "latest").write_text("2030-01-01_1h_v1")
    (types / "absolute_inside" / "latest").symlink_to(types / "absolute_inside" / V1)
    return root


def test_latest_pointer_resolution(latest_registry: Path) -> None:
    index = scan_registry(latest_registry)
    assert index.production == {
        ("SYM", "symlink"): V1,
        ("SYM", "textfile"): V1,
        ("SYM", "absolute_inside"): V1,
        ("SYM", "no_latest"): V2,  # upstream's fallback: the highest-sorted version
    }
    unavailable = index.unavailable
    assert set(unavailable) == {
        ("SYM", t) for t in ("outside", "dangling", "loop", "realdir", "to_invalid", "to_unknown")
    }
    assert "leaves the registry" in unavailable[("SYM", "outside")]
    assert "dangl" in unavailable[("SYM", "dangling")]
    assert "loop" in unavailable[("SYM", "loop")]
    assert "directory" in unavailable[("SYM", "realdir")]
    assert V3 in unavailable[("SYM", "to_invalid")]
    assert "metadata.json" in unavailable[("SYM", "to_invalid")]
    assert "2030-01-01_1h_v1" in unavailable[("SYM", "to_unknown")]

    # no silent fallback: a broken latest never serves another version
    production_keys = {r.key for r in index.versions if r.is_production}
    assert production_keys == {
        f"SYM:1h:symlink:{V1}",
        f"SYM:1h:textfile:{V1}",
        f"SYM:1h:absolute_inside:{V1}",
        f"SYM:1h:no_latest:{V2}",
    }

    # each broken latest is recorded in .invalid at the pointer's path, with its reason
    invalid = invalid_by_path(index)
    for model_type in ("outside", "dangling", "loop", "realdir", "to_invalid", "to_unknown"):
        path = str(latest_registry / "SYM" / model_type / "latest")
        assert invalid[path] == unavailable[("SYM", model_type)]
    assert str(latest_registry / "SYM" / "to_invalid" / V3) in invalid
    # the bundle inside a real `latest` directory is not a version, and nothing outside is read
    assert not any(r.version_id == "latest" for r in index.versions)
    assert all(r.directory.startswith(str(latest_registry)) for r in index.versions)
    assert len(index.versions) == 20


# --- fields --------------------------------------------------------------------------------------


def test_timeframe_from_metadata_version_id_or_unknown(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(root, "S", "t", "2025-10-30_4h_v2", model=MODEL, metadata={"timeframe": "15m"})
    write_bundle(root, "S", "u", "2025-10-30_4h_v2", model=MODEL, metadata={"sequence_length": 4})
    write_bundle(root, "S", "v", "2025-10-30_4h_v2", model=MODEL)  # no metadata.json at all
    write_bundle(root, "S", "w", "2025-09-16_legacy", model=MODEL)
    write_bundle(root, "S", "x", "v7", model=MODEL, metadata={})
    index = scan_registry(root)
    assert index.invalid == ()
    assert {r.model_type: r.timeframe for r in index.versions} == {
        "t": "15m",
        "u": "4h",
        "v": "4h",
        "w": "unknown",
        "x": "unknown",
    }
    assert keys(index) == [
        "S:15m:t:2025-10-30_4h_v2",
        "S:4h:u:2025-10-30_4h_v2",
        "S:4h:v:2025-10-30_4h_v2",
        "S:unknown:w:2025-09-16_legacy",
        "S:unknown:x:v7",
    ]


def test_record_fields_key_and_dicts(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    features = {"sequence_length": 4, "features": [{"name": f"f{i}"} for i in range(3)]}
    metrics = {"rmse": 0.5, "test": {"mae": 0.25}}
    directory = write_bundle(
        root,
        "ETHUSDT",
        "sentiment",
        V2,
        model=MODEL,
        metadata=standard_metadata("ETHUSDT", "sentiment", V2, seq=4, features=3, stage="staging"),
        feature_schema=features,
        metrics=metrics,
    )
    good_bundle(root, "ETHUSDT", "sentiment", V1)
    good_bundle(root, "BTCUSDT", "basic", V1)
    point_latest(root, "ETHUSDT", "sentiment", V2)
    index = scan_registry(root)
    assert isinstance(index, RegistryIndex)
    assert Path(index.root) == root
    assert keys(index) == [
        f"BTCUSDT:1h:basic:{V1}",
        f"ETHUSDT:1h:sentiment:{V1}",
        f"ETHUSDT:1h:sentiment:{V2}",
    ]
    record = index.versions[2]
    assert isinstance(record, BundleRecord)
    assert (record.symbol, record.timeframe, record.model_type, record.version_id) == (
        "ETHUSDT",
        "1h",
        "sentiment",
        V2,
    )
    assert record.key == f"ETHUSDT:1h:sentiment:{V2}"
    assert record.directory == str(directory)
    assert record.model_path == str(directory / "model.onnx")
    assert record.metadata == json.loads((directory / "metadata.json").read_text())
    assert record.feature_schema == features
    assert record.metrics == metrics
    assert record.stage == "staging"
    assert record.created_at == "2026-01-01T00:00:00Z"
    assert record.is_production
    assert not index.versions[1].is_production
    assert index.versions[0].is_production  # no latest: fallback
    assert index.versions[1].feature_schema is None and index.versions[1].metrics is None

    production = index.production
    assert isinstance(production, dict)
    assert production == {("BTCUSDT", "basic"): V1, ("ETHUSDT", "sentiment"): V2}
    assert isinstance(index.unavailable, dict) and index.unavailable == {}
    assert index.reused == 0


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="missing"):
        scan_registry(tmp_path / "missing")


def test_empty_registry(tmp_path: Path) -> None:
    index = scan_registry(tmp_path)
    assert (index.versions, index.invalid, index.production, index.unavailable) == ((), (), {}, {})


# --- schema overrides ----------------------------------------------------------------------------

OWNER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["owner"],
    "properties": {"owner": {"type": "string"}},
}


def owner_registry(root: Path) -> Path:
    write_bundle(root, "S", "t", "with_owner", model=MODEL, metadata={"owner": "quant"})
    write_bundle(root, "S", "t", "bad_owner", model=MODEL, metadata={"owner": 7})
    write_bundle(root, "S", "t", "no_owner", model=MODEL, metadata={"timeframe": "1h"})
    return root


def check_owner_scan(root: Path, index: RegistryIndex) -> None:
    assert [r.version_id for r in index.versions] == ["with_owner"]
    invalid = invalid_by_path(index)
    assert set(invalid) == {str(root / "S/t/bad_owner"), str(root / "S/t/no_owner")}
    bad = invalid[str(root / "S/t/bad_owner")]
    assert "metadata.json" in bad and "/owner" in bad
    assert "metadata.json" in invalid[str(root / "S/t/no_owner")]
    assert "owner" in invalid[str(root / "S/t/no_owner")]


def test_schema_override_from_a_dict(tmp_path: Path) -> None:
    root = owner_registry(tmp_path / "registry")
    # the shipped schema accepts all three
    assert len(scan_registry(root).versions) == 3
    check_owner_scan(root, scan_registry(root, schemas={"metadata": OWNER_SCHEMA}))


def test_schema_override_from_a_path(tmp_path: Path) -> None:
    root = owner_registry(tmp_path / "registry")
    schema_file = tmp_path / "owner.schema.json"
    schema_file.write_text(json.dumps(OWNER_SCHEMA))
    check_owner_scan(root, scan_registry(root, schemas={"metadata": schema_file}))
    check_owner_scan(root, scan_registry(root, schemas={"metadata": str(schema_file)}))


def test_schema_override_of_metrics_and_feature_schema(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    write_bundle(
        root,
        "S",
        "t",
        "a",
        model=MODEL,
        metrics={"rmse": 2.0},
        feature_schema={"features": [{"name": "x"}]},
    )
    index = scan_registry(
        root,
        schemas={
            "metrics": {"type": "object", "properties": {"rmse": {"maximum": 1}}},
            "feature_schema": None,  # None keeps the shipped one
        },
    )
    (bundle,) = index.invalid
    assert "metrics.json" in bundle.reason and "/rmse" in bundle.reason


def test_bad_schema_overrides_raise_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bogus"):
        scan_registry(tmp_path, schemas={"bogus": {}})
    with pytest.raises(ValueError, match="metadata"):
        scan_registry(tmp_path, schemas={"metadata": {"type": 12}})


# --- rescans -------------------------------------------------------------------------------------


@pytest.fixture
def small_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for symbol in ("AAA", "BBB"):
        for model_type in ("basic", "sentiment"):
            for version in (V1, V2):
                good_bundle(root, symbol, model_type, version)
            point_latest(root, symbol, model_type, V1)
    return root


def test_unchanged_rescan_reuses_every_version_with_equal_results(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    assert first.reused == 0 and len(first.versions) == 8
    second = scan_registry(small_registry, previous=first)
    assert second.reused == len(first.versions) == 8
    assert snapshot(second) == snapshot(first)
    third = scan_registry(small_registry, previous=second)
    assert third.reused == 8
    assert snapshot(third) == snapshot(first)


def test_unchanged_rescan_of_a_registry_with_bad_bundles_gives_equal_results(
    bad_registry: Path,
) -> None:
    first = scan_registry(bad_registry)
    second = scan_registry(bad_registry, previous=first)
    assert second.reused >= len(first.versions)
    assert snapshot(second) == snapshot(first)


def test_touched_metadata_is_read_again(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    metadata = small_registry / "AAA" / "basic" / V2 / "metadata.json"
    stat = metadata.stat()
    os.utime(metadata, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = scan_registry(small_registry, previous=first)
    assert second.reused == 7
    assert snapshot(second) == snapshot(first)


def test_rewritten_metadata_is_read_again_and_visible(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    metadata_path = small_registry / "BBB" / "sentiment" / V1 / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["timeframe"] = "4h"
    metadata["notes"] = "retrained with a longer window"
    metadata_path.write_text(json.dumps(metadata))
    second = scan_registry(small_registry, previous=first)
    assert second.reused == 7
    record = next(r for r in second.versions if r.directory == str(metadata_path.parent))
    assert record.key == f"BBB:4h:sentiment:{V1}"
    assert record.metadata["notes"] == "retrained with a longer window"
    assert f"BBB:1h:sentiment:{V1}" not in keys(second)
    assert second.production[("BBB", "sentiment")] == V1


def test_a_rewritten_file_that_breaks_a_version_is_seen(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    (small_registry / "AAA" / "sentiment" / V2 / "metadata.json").write_text("[]")
    (small_registry / "BBB" / "basic" / V2 / "model.onnx").write_bytes(b"")
    second = scan_registry(small_registry, previous=first)
    assert second.reused == 6
    assert len(second.versions) == 6
    invalid = invalid_by_path(second)
    assert "metadata.json" in invalid[str(small_registry / "AAA" / "sentiment" / V2)]
    assert "empty" in invalid[str(small_registry / "BBB" / "basic" / V2)]


def test_files_added_to_a_version_folder_are_seen_on_rescan(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    missing = write_bundle(root, "S", "t", "missing_model", metadata={"timeframe": "1h"})
    listed = write_bundle(
        root, "S", "t", "listed", model=MODEL, metadata={"timeframe": "1h"}, model_file="net.onnx"
    )
    first = scan_registry(root)
    assert keys(first) == ["S:1h:t:listed"]
    (missing / "model.onnx").write_bytes(MODEL)  # the bundle is fixed
    (listed / "other.onnx").write_bytes(MODEL)  # now two candidates and no model_file
    second = scan_registry(root, previous=first)
    assert keys(second) == ["S:1h:t:missing_model"]
    assert "several model files" in invalid_by_path(second)[str(listed)]


def test_changes_to_complete_bundles_are_seen_on_rescan(tmp_path: Path) -> None:
    """Bundles with all three JSON files and an explicit model file."""
    root = tmp_path / "registry"
    for version in (V1, V2, V3):
        write_bundle(
            root,
            "S",
            "t",
            version,
            model=MODEL,
            metadata=standard_metadata("S", "t", version, seq=4, features=3),
            feature_schema={"sequence_length": 4, "features": [{"name": n} for n in "abc"]},
            metrics={"rmse": 0.5},
        )
    first = scan_registry(root)
    assert scan_registry(root, previous=first).reused == 3
    (root / "S" / "t" / V1 / "model.onnx").write_bytes(b"")
    (root / "S" / "t" / V2 / "metrics.json").write_text('{"rmse": 0.125, "mae": 0.1}')
    second = scan_registry(root, previous=first)
    assert second.reused == 1
    assert "empty" in invalid_by_path(second)[str(root / "S" / "t" / V1)]
    by_version = {r.version_id: r for r in second.versions}
    assert by_version[V2].metrics == {"rmse": 0.125, "mae": 0.1}
    (root / "S" / "t" / V3 / "feature_schema.json").unlink()
    third = scan_registry(root, previous=second)
    assert {r.version_id: r.feature_schema for r in third.versions}[V3] is None


def test_a_new_version_folder_shows_up_on_rescan(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    good_bundle(small_registry, "AAA", "basic", V3)
    good_bundle(small_registry, "CCC", "basic", V1)
    second = scan_registry(small_registry, previous=first)
    assert second.reused == 8
    assert f"AAA:1h:basic:{V3}" in keys(second)
    assert f"CCC:1h:basic:{V1}" in keys(second)
    assert second.production[("CCC", "basic")] == V1
    assert second.production[("AAA", "basic")] == V1  # latest still points to V1


def test_a_re_pointed_latest_is_seen_on_rescan(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    point_latest(small_registry, "AAA", "basic", V2)
    second = scan_registry(small_registry, previous=first)
    assert second.reused == 8
    assert second.production[("AAA", "basic")] == V2


def test_rescan_with_other_schemas_reuses_nothing(small_registry: Path) -> None:
    first = scan_registry(small_registry)
    second = scan_registry(small_registry, schemas={"metadata": OWNER_SCHEMA}, previous=first)
    assert second.reused == 0
    assert second.versions == ()
    # eight versions, and the four latest pointers that now point to invalid versions
    assert len(second.invalid) == 12
    assert len(second.unavailable) == 4


# --- the fixture registry ------------------------------------------------------------------------


@pytest.mark.parametrize("latest_form", ["symlinks", "pointer files"])
def test_fixture_registry_scans_clean(
    latest_form: str, fixture_registry: Path, request: pytest.FixtureRequest
) -> None:
    """The registry as users have it (symlinks) and as a copy that lost them has it."""
    if latest_form == "pointer files":
        fixture_registry = request.getfixturevalue("pointer_registry")
    index = scan_registry(fixture_registry)
    assert index.invalid == ()
    assert keys(index) == FIXTURE_KEYS
    assert index.production == {
        ("BTCUSDT", "basic"): "2025-10-30_12h_v1",
        ("BTCUSDT", "sentiment"): "2025-12-23_20h_v2",
        ("ETHUSDT", "basic"): "2026-07-04_22h_v1",
        ("ETHUSDT", "sentiment"): "2025-12-23_21h_v2",
    }
    assert index.unavailable == {}
    infinite = next(r for r in index.versions if r.key == "BTCUSDT:1h:basic:2025-10-26_21h_v1")
    assert infinite.metadata["evaluation_results"]["mape"] == math.inf
    again = scan_registry(fixture_registry, previous=index)
    assert again.reused == len(FIXTURE_KEYS)
    assert snapshot(again) == snapshot(index)


def test_scan_registry_is_exported() -> None:
    assert atb_prediction.scan_registry is scan_registry
    # public names are listed, so `from atb_prediction import *` and `mypy --strict` see them
    for name in ("scan_registry", "RegistryIndex", "BundleRecord", "InvalidBundle"):
        assert name in atb_prediction.__all__, name


# --- hardening (issue 11) ------------------------------------------------------------------


@pytest.mark.parametrize("token", ["4NaN", "-NaN", "NaN.5", "NaN5", "Infinity1", "--Infinity"])
def test_a_non_finite_token_python_rejects_makes_the_bundle_invalid_not_the_registry(
    tmp_path: Path, token: str
) -> None:
    """The scan and Python's ``json`` agree: what one refuses, the other never sees."""
    from atb_prediction import PredictionConfig, PredictionModelRegistry

    good_bundle(tmp_path, "BTCUSDT", "basic", V1)
    bad = good_bundle(tmp_path, "ETHUSDT", "basic", V1)
    text = (bad / "metadata.json").read_text()
    (bad / "metadata.json").write_text(text[:-1] + f', "score": {token}}}')
    with pytest.raises(ValueError):
        json.loads((bad / "metadata.json").read_text())

    index = scan_registry(tmp_path)
    assert keys(index) == [f"BTCUSDT:1h:basic:{V1}"]
    assert "malformed JSON" in invalid_by_path(index)[str(bad)]
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(tmp_path)))
    assert [b.symbol for b in registry.list_bundles()] == ["BTCUSDT"]


@pytest.mark.parametrize("name", ["metadata.json", "feature_schema.json", "model.onnx"])
def test_a_bundle_file_linking_out_of_the_registry_is_skipped_with_the_reason(
    tmp_path: Path, name: str
) -> None:
    root = tmp_path / "registry"
    inside = good_bundle(root, "BTCUSDT", "basic", V1)
    outside = tmp_path / "secret"
    outside.mkdir()
    source = inside / name if (inside / name).exists() else None
    secret = outside / name
    secret.write_bytes(source.read_bytes() if source else b'{"features": []}')
    if source:
        source.unlink()
    os.symlink(secret, inside / name)
    index = scan_registry(root)
    assert keys(index) == []
    assert "symlink that leaves the registry" in invalid_by_path(index)[str(inside)]


def test_a_bundle_file_linking_inside_the_registry_is_fine(tmp_path: Path) -> None:
    first = good_bundle(tmp_path, "BTCUSDT", "basic", V1)
    second = good_bundle(tmp_path, "BTCUSDT", "basic", V2)
    (second / "model.onnx").unlink()
    os.symlink(first / "model.onnx", second / "model.onnx")
    assert len(scan_registry(tmp_path).versions) == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFO")
def test_a_fifo_or_a_device_is_skipped_without_blocking(tmp_path: Path) -> None:
    fifo = good_bundle(tmp_path, "BTCUSDT", "basic", V1)
    (fifo / "metadata.json").unlink()
    os.mkfifo(fifo / "metadata.json")
    zero = good_bundle(tmp_path, "BTCUSDT", "basic", V2)
    (zero / "metadata.json").unlink()
    os.symlink("/dev/zero", zero / "metadata.json")
    good_bundle(tmp_path, "BTCUSDT", "basic", V3)
    index = scan_registry(tmp_path)
    assert keys(index) == [f"BTCUSDT:1h:basic:{V3}"]
    reasons = invalid_by_path(index)
    assert "not a regular file (it is a FIFO)" in reasons[str(fifo)]
    # /dev/zero is outside the registry; were it inside, the cap would stop the read.
    assert "leaves the registry" in reasons[str(zero)]


def test_an_unlistable_model_type_folder_is_recorded_and_the_rest_served(tmp_path: Path) -> None:
    """Root ignores permissions, so the folder is made unlistable by its path's length."""
    from atb_prediction import PredictionConfig, PredictionModelRegistry

    root = tmp_path
    while len(str(root)) < 3700:
        root = root / ("d" * 200)
    root = root / ("e" * (3950 - len(str(root)) - 1))
    root.mkdir(parents=True)
    good_bundle(root, "BTCUSDT", "basic", V1)
    point_latest(root, "BTCUSDT", "basic", V1)
    (root / "LONG").mkdir()
    fd = os.open(root / "LONG", os.O_RDONLY)
    try:
        os.mkdir("t" * 255, dir_fd=fd)
    finally:
        os.close(fd)

    index = scan_registry(root)
    assert keys(index) == [f"BTCUSDT:1h:basic:{V1}"]
    [bad] = index.invalid
    assert bad.path.endswith("t" * 255)
    assert "cannot be listed" in bad.reason
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    assert [b.symbol for b in registry.list_bundles()] == ["BTCUSDT"]
