"""The Ray engine: identical results to the local engine, bundles opened from bytes, a killed
worker retried, typed errors. One local Ray (2 CPUs) serves the module and is shut down after."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import SweepResult, sweep, sweep_many
from atb_prediction.backtest import RayEngine
from atb_prediction.backtest.planning import plan_sweep
from atb_prediction.backtest.series import as_series
from atb_prediction.models.exceptions import InferenceError
from conftest import linear_model, lstm_model
from sweep_helpers import (
    FEATURES,
    NORMALISED,
    SEQ,
    make_registry,
    mixed_classifiers,
    open_registry,
    series_of,
)

TERNARY = {"task_type": "ternary_classification", "class_labels": [-1, 0, 1]}


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def assert_identical(ours: SweepResult, local: SweepResult) -> None:
    assert ours.versions == local.versions
    for field in ("price", "confidence", "direction", "probabilities", "live_version"):
        a, b = getattr(ours, field), getattr(local, field)
        assert (a is None) == (b is None), field
        if a is not None:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), field


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_registry(
        tmp_path / "registry",
        {
            "2026-01-01_1h_v1": (linear_model(SEQ, FEATURES, seed=31), NORMALISED),
            "2026-01-02_1h_v1": (linear_model(SEQ, FEATURES, seed=32), NORMALISED),
        },
    )
    from conftest import point_latest, standard_metadata, write_bundle

    for version, seed in (("2026-01-01_1h_v1", 33), ("2026-01-02_1h_v1", 34)):
        metadata = standard_metadata("ETHUSDT", "basic", version, seq=SEQ, features=FEATURES)
        metadata.update(TERNARY, created_at=f"{version[:10]}T00:00:00Z")
        model = linear_model(SEQ, FEATURES, seed=seed, outputs=3, activation="softmax")
        write_bundle(root, "ETHUSDT", "basic", version, model=model, metadata=metadata)
    point_latest(root, "ETHUSDT", "basic", "2026-01-02_1h_v1")
    return root


def test_ray_equals_local_for_all_and_as_live(ray: Any, root: Path) -> None:
    registry = open_registry(root)
    stamps = np.datetime64("2026-01-01T12:00", "ns") + np.arange(300) * np.timedelta64(1, "h")
    bars = {"BTCUSDT": series_of(300, seed=1), "ETHUSDT": series_of(300, seed=2) * 30}
    engine = RayEngine(num_workers=2, batch_size=16)
    for versions in ("all", "as-live"):
        options: dict[str, Any] = {"model_type": "basic", "versions": versions}
        times = {symbol: stamps for symbol in bars}
        local = sweep_many(registry, bars, timestamps=times, workers=2, batch_size=16, **options)
        remote = sweep_many(registry, bars, timestamps=times, engine=engine, **options)
        for symbol in bars:
            assert_identical(remote[symbol], local[symbol])
        assert local["ETHUSDT"].probabilities is not None


def test_ray_pads_classifiers_of_fewer_classes_as_local_does(ray: Any, tmp_path: Path) -> None:
    registry = open_registry(mixed_classifiers(tmp_path / "registry"))
    series = series_of(120)
    series[:, 0] -= 100.0
    engine = RayEngine(num_workers=2, batch_size=16)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic", "versions": "all"}
    local = sweep(registry, series, workers=2, batch_size=16, **options)
    remote = sweep(registry, series, engine=engine, **options)
    assert_identical(remote, local)
    assert remote.probabilities is not None and remote.probabilities.shape == (3, 120, 3)
    assert np.isnan(remote.probabilities[[0, 2], :, 2]).all()
    assert not np.isnan(remote.probabilities[:, SEQ - 1 :, :2]).any()


@pytest.mark.filterwarnings("ignore:.*median spacing:UserWarning")  # bars microseconds apart
def test_ray_equals_local_for_versions_live_in_two_stretches(ray: Any, tmp_path: Path) -> None:
    """promote -> rollback -> promote: each version is live in two stretches of bars, and one
    actor piece (one batch cell) holds both of a version's ranges."""
    from atb_prediction import promotion
    from atb_prediction.models.version_resolver import list_version_records

    old, new = "2026-01-01_1h_v1", "2026-01-02_1h_v1"
    root = make_registry(
        tmp_path / "registry",
        {
            version: (
                linear_model(SEQ, FEATURES, seed=seed),
                {**NORMALISED, "created_at": f"{version[:10]}T00:00:00Z"},
            )
            for seed, version in ((37, old), (38, new))
        },
    )
    (root / "BTCUSDT/basic/latest").unlink()
    (root / "BTCUSDT/basic/latest").symlink_to(old)
    for step in ("promote", "rollback", "promote"):
        time.sleep(0.01)  # distinct journal times (milliseconds)
        if step == "promote":
            promotion.promote(root, "BTCUSDT", "basic", new, check=None)
        else:
            promotion.rollback(root, "BTCUSDT", "basic", check=None)
    switches = [r.effective_at for r in list_version_records(root, "BTCUSDT", "basic")[2:]]
    assert len(switches) == 3 and switches == sorted(set(switches))

    # Ten bars each: OLD by created_at, NEW by created_at, NEW by the journal, OLD after the
    # rollback, NEW after the second promotion; SEQ bars before any version.
    moments = [
        datetime(2025, 12, 31, 12, tzinfo=timezone.utc),
        datetime(2026, 1, 1, 12, tzinfo=timezone.utc),
        datetime(2026, 1, 3, tzinfo=timezone.utc),
        switches[0] + (switches[1] - switches[0]) / 2,
        switches[1] + (switches[2] - switches[1]) / 2,
        switches[2] + timedelta(seconds=1),
    ]
    counts = [SEQ, 10, 10, 10, 10, 10]
    stamps = np.repeat(
        np.array([np.datetime64(m.replace(tzinfo=None), "ns") for m in moments]), counts
    )
    # Times must strictly increase: bars sharing a moment are a microsecond apart.
    stamps += np.arange(len(stamps)) * np.timedelta64(1, "us")
    bars = series_of(len(stamps), seed=5)
    registry = open_registry(root)
    options: dict[str, Any] = {
        "symbol": "BTCUSDT", "model_type": "basic", "versions": "as-live", "timestamps": stamps,
    }  # fmt: skip
    local = sweep(registry, bars, workers=2, batch_size=64, **options)
    assert local.versions == (old, new) and local.live_version is not None
    assert local.live_version.tolist() == [-1] * SEQ + [0] * 10 + [1] * 20 + [0] * 10 + [1] * 10
    remote = sweep(registry, bars, engine=RayEngine(num_workers=2, batch_size=64), **options)
    assert_identical(remote, local)
    assert np.isfinite(remote.price[0, SEQ + 30 : SEQ + 40]).all()
    assert np.isfinite(remote.price[1, SEQ + 40 :]).all()


def test_actors_open_bundles_from_bytes(ray: Any, root: Path, tmp_path: Path) -> None:
    registry = open_registry(root)
    bars = series_of(200)
    local = sweep(
        registry, bars, symbol="BTCUSDT", model_type="basic", versions="all", batch_size=8
    )
    plan = plan_sweep(
        registry, as_series(bars, None), symbol="BTCUSDT", model_type="basic",
        timeframe=None, versions="all",
    )  # fmt: skip
    shutil.move(root, tmp_path / "moved-away")
    engine = RayEngine(num_workers=2, batch_size=8)
    assert_identical(engine.run(plan, None), local)


@pytest.mark.parametrize("for_good", [False, True], ids=["restarted", "killed-for-good"])
def test_a_killed_worker_is_retried(ray: Any, tmp_path: Path, for_good: bool) -> None:
    root = make_registry(
        tmp_path / "registry", {"2026-01-01_1h_v1": (lstm_model(SEQ, FEATURES, hidden=64), {})}
    )
    registry = open_registry(root)
    bars = series_of(20_000)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic"}
    local = sweep(registry, bars, batch_size=64, **options)
    engine = RayEngine(num_workers=2, batch_size=64)
    killed: list[Any] = []
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if not killed:
            killed.append(engine.actors()[0])
            ray.kill(killed[0], no_restart=for_good)

    remote = sweep(registry, bars, engine=engine, progress=progress, **options)
    assert killed and calls[-1] == (20_000 - SEQ + 1,) * 2
    assert_identical(remote, local)
    if for_good:
        # Its pieces went to the other actor; the next job starts one in its place.
        assert killed[0] not in engine.actors()
        assert_identical(sweep(registry, bars, engine=engine, **options), local)
        assert len(engine.actors()) == 2 and killed[0] not in engine.actors()


def test_a_bundle_error_is_typed(ray: Any, tmp_path: Path) -> None:
    logits = linear_model(SEQ, FEATURES, seed=35, outputs=3)  # raw logits, not probabilities
    root = make_registry(tmp_path / "registry", {"2026-01-01_1h_v1": (logits, TERNARY)})
    registry = open_registry(root)
    with pytest.raises(InferenceError, match="softmax") as caught:
        sweep(registry, series_of(50) * 100, symbol="BTCUSDT", model_type="basic", engine="ray")
    assert type(caught.value) is InferenceError


def test_ray_missing_names_the_extra(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"atb-prediction\[ray\]"):
        sweep(
            open_registry(root), series_of(20), symbol="BTCUSDT", model_type="basic", engine="ray"
        )


def test_cli_engine_ray(
    ray: Any, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from atb_prediction.cli import main

    bars = series_of(60)
    np.save(tmp_path / "bars.npy", bars)
    args = ["backtest", "sweep", "BTCUSDT", "basic", "--series", str(tmp_path / "bars.npy")]
    args += ["--registry", str(root), "--batch-size", "8", "--json"]
    assert main([*args, "--out", str(tmp_path / "ray.npz"), "--engine", "ray"]) == 0
    assert main([*args, "--out", str(tmp_path / "local.npz")]) == 0
    capsys.readouterr()
    remote, local = np.load(tmp_path / "ray.npz"), np.load(tmp_path / "local.npz")
    assert np.array_equal(remote["price"], local["price"], equal_nan=True)


def _worker_state(ray: Any, actor: Any) -> tuple[int, dict[str, int]]:
    """An actor's process id and the identity of each session it holds, by fingerprint."""
    return ray.get(  # type: ignore[no-any-return]
        actor.__ray_call__.remote(
            lambda worker: (os.getpid(), {key: id(m) for key, m in worker.models.items()})
        )
    )


def test_actors_and_sessions_stay_warm_between_sweeps(ray: Any, root: Path) -> None:
    registry = open_registry(root)
    bars = series_of(300)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic", "versions": "all"}
    two = RayEngine(num_workers=2, batch_size=16)
    first = sweep(registry, bars, engine=two, **options)
    plan = plan_sweep(registry, as_series(bars, None), timeframe=None, **options)
    fingerprints = {task.payload().fingerprint() for task in plan.tasks}
    before = [_worker_state(ray, actor) for actor in two.actors()]
    assert len(fingerprints) == 2
    assert all(fingerprints <= set(sessions) for _, sessions in before)
    second = sweep(registry, bars, engine=two, **options)
    assert [_worker_state(ray, actor) for actor in two.actors()] == before
    assert_identical(second, first)
    # Another engine of this process shares the warm actors instead of waiting for CPUs.
    one = RayEngine(num_workers=1, batch_size=16)
    assert_identical(sweep(registry, bars, engine=one, **options), first)
    assert one.actors() == two.actors()[:1]


def test_a_rewritten_bundle_is_not_served_from_a_warm_session(ray: Any, tmp_path: Path) -> None:
    root = make_registry(
        tmp_path / "registry", {"2026-01-01_1h_v1": (linear_model(SEQ, FEATURES, seed=36), {})}
    )
    bars = series_of(100)
    engine = RayEngine(num_workers=2, batch_size=8)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic"}
    old = sweep(open_registry(root), bars, engine=engine, **options)
    model = root / "BTCUSDT" / "basic" / "2026-01-01_1h_v1" / "model.onnx"
    model.write_bytes(linear_model(SEQ, FEATURES, seed=37))
    registry = open_registry(root)
    new = sweep(registry, bars, engine=engine, **options)
    assert_identical(new, sweep(registry, bars, batch_size=8, **options))
    assert not np.array_equal(new.price, old.price, equal_nan=True)


def _stopped(ray: Any, actor: Any, within: float = 0.0) -> bool:
    """Whether ``actor`` is dead, or dies within ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=30)
        except ray.exceptions.RayActorError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_idle_actors_stop_after_keep_alive_or_on_close(ray: Any, root: Path) -> None:
    registry = open_registry(root)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic"}
    for keep_alive in (0, 0.2):
        engine = RayEngine(num_workers=1, batch_size=16, keep_alive=keep_alive)
        sweep(registry, series_of(100), engine=engine, **options)
        assert _stopped(ray, engine.actors()[0], within=10)
    with RayEngine(num_workers=1, batch_size=16) as engine:
        sweep(registry, series_of(100), engine=engine, **options)
        assert not _stopped(ray, engine.actors()[0])
    assert _stopped(ray, engine.actors()[0], within=10)  # ray.kill acts asynchronously
    with pytest.raises(ValueError, match="keep_alive"):
        RayEngine(keep_alive=float("nan"))


def test_a_restarted_ray_gets_new_actors(ray: Any, root: Path) -> None:
    registry = open_registry(root)
    options: dict[str, Any] = {"symbol": "BTCUSDT", "model_type": "basic"}
    engine = RayEngine(num_workers=1, batch_size=16)
    first = sweep(registry, series_of(100), engine=engine, **options)
    ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    assert_identical(sweep(registry, series_of(100), engine=engine, **options), first)
