"""Integrity manifests (``atb models seal`` / ``verify``, ``verify_integrity``) and the CLI's
behaviour on hostile bundles: no traceback, nothing from outside the registry printed."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
from atb_prediction import PredictionConfig, PredictionModelRegistry, promotion
from cli_helpers import assert_one_error_line, run_atb, run_json, write_small_registry

V1, V2, V3 = "2025-01-01_1h_v1", "2025-01-02_1h_v1", "2025-01-03_1h_v1"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    write_small_registry(root, latest=V1)
    return root


def flip_byte(path: Path, offset: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def served(root: Path, mode: str) -> list[str]:
    config = PredictionConfig(model_registry_path=str(root), verify_integrity=mode)
    return [b.version_id for b in PredictionModelRegistry(config).list_bundles()]


@pytest.mark.parametrize("name", ["model.onnx", "metadata.json"])
def test_verify_names_a_flipped_byte_in_any_file_of_a_sealed_bundle(
    registry: Path, name: str
) -> None:
    sealed = run_json("models", "seal", "--registry", registry)
    assert sealed["ok"] and len(sealed["results"]) == 3
    assert (registry / "BTCUSDT/basic" / V1 / "manifest.json").is_file()
    assert run_json("models", "verify", "--registry", registry)["ok"]

    flip_byte(registry / "BTCUSDT/basic" / V2 / name, offset=1 if name == "model.onnx" else 3)
    report = run_json("models", "verify", "--registry", registry, expect=1)
    changed = [r for r in report["results"] if r["status"] != "ok"]
    assert [r["path"].rsplit("/", 1)[-1] for r in changed] == [V2]
    assert changed[0]["problems"][0].startswith(f"{name}: changed")
    text = run_atb("models", "verify", "BTCUSDT/basic", "--registry", registry, expect=1)
    assert name in text.stdout


def test_verify_reports_added_and_missing_files_and_unsealed_versions(registry: Path) -> None:
    run_atb("models", "seal", f"BTCUSDT/basic/{V1}", "--registry", registry)
    bundle = registry / "BTCUSDT/basic" / V1
    (bundle / "extra.txt").write_text("added later")
    report = run_json("models", "verify", "--registry", registry, expect=1)
    status = {r["path"].rsplit("/", 1)[-1]: r for r in report["results"]}
    assert status[V1]["problems"] == ["extra.txt: not in the manifest (added after sealing)"]
    assert status[V2]["status"] == "unsealed"
    (bundle / "extra.txt").unlink()
    assert run_json("models", "verify", "--registry", registry)["ok"]
    assert not run_json("models", "verify", "--strict", "--registry", registry, expect=1)["ok"]


def test_verify_names_a_deleted_sealed_file_as_missing_and_exits_1(registry: Path) -> None:
    """A file sealed and deleted since: an extra one (the bundle still loads) and the model
    itself (the scan no longer reads the bundle); each is named, the others stay ok."""
    (registry / "BTCUSDT/basic" / V2 / "metrics.json").write_text('{"mae": 0.5}')
    assert run_json("models", "seal", "--registry", registry)["ok"]
    (registry / "BTCUSDT/basic" / V2 / "metrics.json").unlink()
    (registry / "BTCUSDT/basic" / V3 / "model.onnx").unlink()

    report = run_json("models", "verify", "--registry", registry, expect=1)
    assert report["ok"] is False
    outcome = {
        r["path"].rsplit("/", 1)[-1]: (r["status"], r["problems"]) for r in report["results"]
    }
    assert outcome == {
        V1: ("ok", []),
        V2: ("changed", ["metrics.json: missing (listed in the manifest)"]),
        V3: ("changed", ["model.onnx: missing (listed in the manifest)"]),
    }
    text = run_atb("models", "verify", "--registry", registry, expect=1).stdout
    assert "metrics.json: missing" in text and "model.onnx: missing" in text


@pytest.mark.parametrize("broken", ["manifest", "file"])
def test_verify_exits_1_when_a_versions_check_errors(registry: Path, broken: str) -> None:
    """An unreadable manifest is an error; a sealed file that cannot be read (a FIFO in its
    place) is named. Either way the version fails and ``verify`` exits 1."""
    (registry / "BTCUSDT/basic" / V2 / "metrics.json").write_text('{"mae": 0.5}')
    assert run_json("models", "seal", "--registry", registry)["ok"]
    bundle = registry / "BTCUSDT/basic" / V2
    if broken == "manifest":
        (bundle / "manifest.json").write_text("{not json")
    else:
        (bundle / "metrics.json").unlink()
        os.mkfifo(bundle / "metrics.json")

    report = run_json("models", "verify", "--registry", registry, expect=1)
    assert report["ok"] is False
    status = {r["path"].rsplit("/", 1)[-1]: r for r in report["results"]}
    assert status[V1]["status"] == status[V3]["status"] == "ok"
    if broken == "manifest":
        reason = "not a valid manifest: key must be a string at line 1 column 2"
        expected = ("error", [f"{bundle / 'manifest.json'}: {reason}"])
    else:
        expected = ("changed", ["metrics.json: the file is not a regular file (it is a FIFO)"])
    assert (status[V2]["status"], status[V2]["problems"]) == expected
    text = run_atb("models", "verify", "--registry", registry, expect=1).stdout
    [row] = [line for line in text.splitlines() if line.startswith(status[V2]["key"])]
    assert row.split()[1] == expected[0]


def test_strict_refuses_to_serve_a_changed_or_unsealed_model_and_warn_serves_it(
    registry: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert served(registry, "strict") == []  # unsealed
    assert served(registry, "warn") == [V1]
    run_atb("models", "seal", "--registry", registry)
    assert served(registry, "strict") == [V1]

    # Swapped for another valid model: it opens, but it is not the model that was sealed.
    from conftest import linear_model

    (registry / "BTCUSDT/basic" / V1 / "model.onnx").write_bytes(linear_model(4, 3, seed=99))
    config = PredictionConfig(model_registry_path=str(registry), verify_integrity="strict")
    registry_object = PredictionModelRegistry(config)
    assert registry_object.list_bundles() == []
    [failure] = registry_object.invalid_bundles()
    reason = failure.reason
    assert "integrity check failed" in reason and "model.onnx: changed" in reason
    with caplog.at_level(logging.WARNING):
        assert served(registry, "warn") == [V1]
    assert "integrity check failed (served anyway)" in caplog.text
    assert served(registry, "off") == [V1]


def test_strict_names_the_model_and_what_changed_and_warn_reports_it_on_the_bundle(
    registry: Path,
) -> None:
    from conftest import linear_model

    run_atb("models", "seal", "--registry", registry)
    model = registry / "BTCUSDT/basic" / V1 / "model.onnx"
    model.write_bytes(linear_model(4, 3, seed=99))
    config = PredictionConfig(model_registry_path=str(registry), verify_integrity="strict")
    [failure] = PredictionModelRegistry(config).invalid_bundles()
    assert str(model) in failure.reason and "sha256" in failure.reason
    config = PredictionConfig(model_registry_path=str(registry), verify_integrity="warn")
    [bundle] = PredictionModelRegistry(config).list_bundles()
    problem = bundle.runner.bundle.integrity_problem
    assert problem is not None and problem.startswith("model.onnx: changed")
    config = PredictionConfig(model_registry_path=str(registry), verify_integrity="off")
    [bundle] = PredictionModelRegistry(config).list_bundles()
    assert bundle.runner.bundle.integrity_problem is None


def test_promote_seals_the_version_and_refuses_one_changed_since(registry: Path) -> None:
    promotion.promote(registry, "BTCUSDT", "basic", V2, check=None)
    manifest = json.loads((registry / "BTCUSDT/basic" / V2 / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["metadata.json", "model.onnx"]
    promotion.promote(registry, "BTCUSDT", "basic", V1, check=None)
    flip_byte(registry / "BTCUSDT/basic" / V2 / "model.onnx", offset=1)
    with pytest.raises(promotion.ValidationFailedError, match=r"model\.onnx: changed"):
        promotion.promote(registry, "BTCUSDT", "basic", V2, check=None)
    result = promotion.promote(registry, "BTCUSDT", "basic", V2, check=None, force=True)
    assert result.changed and result.record.forced
    assert run_json("models", "verify", f"BTCUSDT/basic/{V2}", "--registry", registry)["ok"]


# --- hostile bundles through the CLI ----------------------------------------------------------


def test_a_nan_token_python_rejects_gives_no_traceback(registry: Path) -> None:
    metadata = registry / "BTCUSDT/basic" / V2 / "metadata.json"
    metadata.write_text(metadata.read_text()[:-1] + ', "score": -NaN}')
    for command in (["list", "--all"], ["validate"], ["inspect", f"BTCUSDT/basic/{V2}"]):
        completed = run_atb("models", *command, "--registry", registry, expect=None)
        assert "Traceback" not in completed.stderr, completed.stderr
        assert completed.returncode in (0, 1)
    completed = run_atb(
        "models", "inspect", f"BTCUSDT/basic/{V2}", "--registry", registry, expect=1
    )
    assert_one_error_line(completed.stderr)


def test_inspect_json_never_prints_a_file_from_outside_the_registry(
    registry: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"timeframe": "1h", "api_key": "TOPSECRET-123"}))
    metadata = registry / "BTCUSDT/basic" / V2 / "metadata.json"
    metadata.unlink()
    os.symlink(secret, metadata)
    completed = run_atb(
        "models", "inspect", f"BTCUSDT/basic/{V2}", "--json", "--registry", registry, expect=None
    )
    assert "TOPSECRET" not in completed.stdout + completed.stderr
    listing = run_atb("models", "list", "--all", "--json", "--registry", registry, expect=None)
    assert "TOPSECRET" not in listing.stdout + listing.stderr
    assert "Traceback" not in completed.stderr + listing.stderr
