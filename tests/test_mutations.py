"""Rules that a deliberate break of the Python layer once slipped past the suite: each test here
fails when its rule is removed.

One rule has no test, on purpose: the ``fsync`` of the model-type folder after ``latest`` is
renamed (``promotion._fsync_dir``). It only matters when the machine loses power between the
rename and the kernel writing the folder back, and no test in a running process can observe
whether that write-back was forced; removing it changes nothing a test can see. It is kept
because ``rename`` alone is atomic but not durable (see the module docstring of
:mod:`atb_prediction.promotion`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from atb_prediction import PredictionConfig, PredictionModelRegistry, promotion
from atb_prediction.models.validation import check_version
from atb_prediction.promotion import PromotionRefusedError, VersionNotFoundError
from cli_helpers import run_json, write_small_registry
from conftest import _model, affine_model, linear_model, standard_metadata, write_bundle
from onnx import TensorProto, helper, numpy_helper

V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_small_registry(root, latest=V1)
    return root


def test_rollback_refuses_when_production_changed_after_it_chose_its_target(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race guard: another promotion lands between choosing the target and taking the lock."""
    promotion.promote(registry, "BTCUSDT", "basic", V2, check=None)
    choose = promotion.rollback_target

    def target_then_someone_promotes(*args: object) -> str:
        target = choose(*args)  # type: ignore[arg-type]
        promotion.promote(registry, "BTCUSDT", "basic", V3, check=None)
        return target

    from atb_prediction.promotion import operations

    monkeypatch.setattr(operations, "rollback_target", target_then_someone_promotes)
    with pytest.raises(PromotionRefusedError, match="changed while the rollback was prepared"):
        promotion.rollback(registry, "BTCUSDT", "basic", check=None)
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V3


def test_a_version_resolving_outside_the_root_is_refused(registry: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "2025-02-01_1h_v1"
    shutil.copytree(registry / "BTCUSDT/basic" / V2, outside)
    (registry / "BTCUSDT/basic/escape").symlink_to(outside)
    # The scan's own reason: the scan refuses the folder for the same one.
    with pytest.raises(PromotionRefusedError, match="symlink leaves the registry") as raised:
        promotion.promote(registry, "BTCUSDT", "basic", "escape", check=None)
    assert not isinstance(raised.value, VersionNotFoundError)
    assert promotion.current_version(registry, "BTCUSDT", "basic") == V1


def test_a_hidden_version_is_refused_by_name_even_when_it_exists(registry: Path) -> None:
    shutil.copytree(registry / "BTCUSDT/basic" / V2, registry / "BTCUSDT/basic/.hidden")
    with pytest.raises(PromotionRefusedError, match="not a valid registry folder name") as raised:
        promotion.promote(registry, "BTCUSDT", "basic", ".hidden", check=None)
    assert not isinstance(raised.value, VersionNotFoundError)


def test_check_version_checks_the_named_model_type(registry: Path) -> None:
    """Two model types share a version name; only one of them is broken."""
    broken = registry / "BTCUSDT/other" / V2
    shutil.copytree(registry / "BTCUSDT/basic" / V2, broken)
    metadata = json.loads((broken / "metadata.json").read_text())
    metadata["model_type"] = "other"
    metadata["feature_names"] = ["a", "b", "c", "d", "e"]  # the model takes 3 features
    (broken / "metadata.json").write_text(json.dumps(metadata))
    assert check_version(registry, "BTCUSDT", "basic", V2).problems == []
    assert check_version(registry, "BTCUSDT", "other", V2).problems != []


def test_true_is_not_a_positive_number() -> None:
    with pytest.raises(ValueError, match="max_prediction_latency"):
        PredictionConfig(max_prediction_latency=True).validate()


def test_list_bundles_is_sorted_by_key_not_by_folder(tmp_path: Path) -> None:
    """Folders scan as (symbol, model type); keys sort as (symbol, timeframe, model type)."""
    root = tmp_path / "registry"
    for model_type, timeframe in (("alpha", "4h"), ("beta", "1h")):
        metadata = standard_metadata("S", model_type, V1, seq=4, features=3, timeframe=timeframe)
        write_bundle(root, "S", model_type, V1, model=affine_model(), metadata=metadata)
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
    keys = [bundle.key for bundle in registry.list_bundles()]
    assert keys == [f"S:1h:beta:{V1}", f"S:4h:alpha:{V1}"]


def empty_output_model() -> bytes:
    """``[batch, 4, 3] -> [batch, 0]``: a model that answers with nothing."""
    import numpy as np

    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input_sequence"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "weight"], ["output"]),
        ],
        "empty",
        [helper.make_tensor_value_info("input_sequence", TensorProto.FLOAT, ["batch", 4, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 0])],
        [numpy_helper.from_array(np.zeros((12, 0), dtype=np.float32), "weight")],
    )
    return _model(graph)


def test_an_empty_model_output_is_flagged(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    metadata = standard_metadata("S", "t", V1, seq=4, features=3)
    write_bundle(root, "S", "t", V1, model=empty_output_model(), metadata=metadata)
    write_bundle(root, "S", "t", V2, model=linear_model(4, 3), metadata=metadata)
    document = run_json("models", "validate", "--registry", root, expect=1)
    [failure] = [r for r in document["results"] if not r["ok"]]
    assert failure["key"] == f"S:1h:t:{V1}"
    assert any("is empty" in problem for problem in failure["problems"])


def test_a_version_is_opened_once_when_two_threads_pin_it_together(
    fixture_registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double-checked pinning lock: the first thread to open a version holds the others
    back (here it waits a moment for a second one to arrive), and they then find it pinned."""
    import threading

    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(fixture_registry)))
    key = "BTCUSDT:1h:basic:2025-10-26_21h_v1"
    opened = []
    second_arrived = threading.Event()
    from atb_prediction.models import registry as registry_module

    real_open = registry_module.open_version

    def slow_open(*args: object) -> object:
        opened.append(args)
        if len(opened) == 1:
            second_arrived.wait(timeout=1.0)  # with the lock, nobody comes: go on after 1 s
        else:
            second_arrived.set()
        return real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(registry_module, "open_version", slow_open)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(registry.get_bundle_by_key(key)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert len(opened) == 1
    assert results[0] is not None and results[0] is results[1]
