"""Tests of prediction caching: the built-in ``InMemoryPredictionCache`` (upstream's
``PredictionCacheManager`` protocol) and the registry's use of a cache (regression predictions
only, as upstream; keyed by bundle, configuration and feature bytes)."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import (
    InMemoryPredictionCache,
    PredictionCache,
    PredictionConfig,
    PredictionModelRegistry,
)
from atb_prediction.models.cache import features_digest
from conftest import linear_model, write_bundle

V1, V2 = "2025-01-01_1h_v1", "2025-01-02_1h_v1"
CONFIG: dict[str, Any] = {
    "confidence_scale_factor": 10.0,
    "direction_threshold": 0.01,
    "normalization_params": {},
}


def window(value: float) -> np.ndarray:
    return np.full((4, 3), value)


def put(cache: InMemoryPredictionCache, model: str, features: np.ndarray, price: float) -> None:
    cache.set(features, model, CONFIG, price, 0.5, 1)


class CountingCache(InMemoryPredictionCache):
    """The built-in cache, counting hits and writes (a subclass: called from Python)."""

    def __init__(self, ttl: float = 60.0, max_size: int = 1000) -> None:
        super().__init__(ttl=ttl, max_size=max_size)
        self.hits = 0
        self.sets = 0

    def get(self, features: Any, model_name: str, config: dict[str, Any]) -> dict[str, Any] | None:
        found = super().get(features, model_name, config)
        self.hits += found is not None
        return found

    def set(
        self,
        features: Any,
        model_name: str,
        config: dict[str, Any],
        price: float,
        confidence: float,
        direction: int,
    ) -> None:
        self.sets += 1
        super().set(features, model_name, config, price, confidence, direction)


# --- InMemoryPredictionCache ---------------------------------------------------------------------


def test_get_set_and_the_protocol() -> None:
    cache = InMemoryPredictionCache(ttl=60, max_size=10)
    assert isinstance(cache, PredictionCache)
    assert cache.get(window(1), "model", CONFIG) is None
    put(cache, "model", window(1), 1.0)
    assert cache.get(window(1), "model", CONFIG) == {
        "price": 1.0,
        "confidence": 0.5,
        "direction": 1,
    }
    assert cache.get(window(2), "model", CONFIG) is None
    assert cache.get(window(1), "other", CONFIG) is None
    other_config = {**CONFIG, "direction_threshold": 0.02}
    assert cache.get(window(1), "model", other_config) is None
    put(cache, "model", window(1), 2.0)  # overwrite
    assert cache.get(window(1), "model", dict(reversed(CONFIG.items())))["price"] == 2.0
    assert len(cache) == 1


def test_entries_expire_after_the_ttl() -> None:
    # The cache's clock is moved forward rather than slept past: exact, and no wall-clock race.
    cache = InMemoryPredictionCache(ttl=60, max_size=10)
    put(cache, "model", window(1), 1.0)
    cache.advance_clock(59.9)
    fresh = cache.get(window(1), "model", CONFIG)
    assert fresh == {"price": 1.0, "confidence": 0.5, "direction": 1}
    cache.advance_clock(0.2)
    assert cache.get(window(1), "model", CONFIG) is None
    assert len(cache) == 0
    put(cache, "model", window(2), 2.0)
    assert cache.get(window(2), "model", CONFIG)["price"] == 2.0  # a fresh entry lives again
    with pytest.raises(ValueError, match="seconds"):
        cache.advance_clock(-1.0)


def test_the_size_bound_evicts_the_least_recently_used() -> None:
    cache = InMemoryPredictionCache(ttl=60, max_size=3)
    a, b, c, d, e = (window(v) for v in range(5))

    def held(*features: np.ndarray) -> bool:
        return all(cache.get(f, "model", CONFIG) is not None for f in features)

    for features in (a, b, c):
        put(cache, "model", features, 1.0)
    assert held(a)  # a is now the most recently used
    put(cache, "model", d, 4.0)
    assert len(cache) == 3
    assert cache.get(b, "model", CONFIG) is None
    assert held(a, c, d)
    put(cache, "model", c, 3.0)  # rewriting refreshes too
    put(cache, "model", e, 5.0)
    assert cache.get(a, "model", CONFIG) is None
    assert held(c, d, e)
    stats = cache.get_stats()
    assert stats["evictions"] == 2 and stats["size"] == 3 and stats["max_size"] == 3
    assert stats["sets"] == 6 and stats["hits"] >= 6 and stats["misses"] == 2


def test_invalidate_model_config_and_clear_return_counts() -> None:
    cache = InMemoryPredictionCache(ttl=60, max_size=100)
    for index in range(3):
        put(cache, "A:1h:basic:v1", window(index), index)
    for index in range(2):
        put(cache, "B:1h:basic:v1", window(index), index)
    other_config = {**CONFIG, "confidence_scale_factor": 5.0}
    cache.set(window(0), "B:1h:basic:v1", other_config, 1.0, 0.5, 1)
    assert cache.invalidate_model("A:1h:basic:v1") == 3
    assert cache.invalidate_model("A:1h:basic:v1") == 0
    assert cache.invalidate_model("unknown") == 0
    assert len(cache) == 3
    assert cache.invalidate_config("B:1h:basic:v1", other_config) == 1
    assert cache.get(window(1), "B:1h:basic:v1", CONFIG) is not None
    assert cache.clear() == 2
    assert cache.clear() == 0
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("ttl", "max_size"),
    [(0, 10), (-1, 10), (float("nan"), 10), (float("inf"), 10), (60, 0), (60, True)],
)
def test_bad_bounds_are_refused(ttl: float, max_size: int) -> None:
    with pytest.raises(ValueError):
        InMemoryPredictionCache(ttl=ttl, max_size=max_size)


def test_an_absurd_ttl_is_a_value_error_not_a_panic() -> None:
    """Issue 11: ``ttl=1e30`` overflowed ``Duration::from_secs_f64`` (``PanicException``)."""
    with pytest.raises(ValueError, match="ttl"):
        InMemoryPredictionCache(ttl=1e30)
    # Representable as a duration but not as a point in time from now: entries never expire.
    cache = InMemoryPredictionCache(ttl=1e19)
    put(cache, "model", window(1), 1.0)
    assert cache.get(window(1), "model", CONFIG)["price"] == 1.0


def test_the_built_in_cache_pickles_empty_with_its_bounds() -> None:
    cache = InMemoryPredictionCache(ttl=30, max_size=7)
    put(cache, "model", window(1), 1.0)
    copy = pickle.loads(pickle.dumps(cache))
    assert type(copy) is InMemoryPredictionCache
    assert (copy.ttl, copy.max_size, len(copy)) == (30.0, 7, 0)


def test_thread_safety_smoke() -> None:
    cache = InMemoryPredictionCache(ttl=60, max_size=50)
    errors: list[BaseException] = []
    hits: list[int] = []

    def worker(slot: int) -> None:
        try:
            for index in range(2000):
                key = f"model-{index % 4}"
                features = np.array([slot, index % 97], dtype=np.float64)
                cache.set(features, key, CONFIG, float(index), 0.5, 1)
                found = cache.get(features, key, CONFIG)
                if found is not None:  # else evicted or cleared by another thread meanwhile
                    assert found["price"] == float(index)  # this thread's own value, not another's
                    hits.append(1)
                if index % 250 == 0:
                    cache.invalidate_model(key)
                if index % 777 == 0:
                    cache.clear()
                assert len(cache) <= 50
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert errors == []
    assert hits
    assert len(cache) <= 50


def test_features_digest_covers_bytes_shape_and_dtype() -> None:
    window = np.arange(12, dtype=np.float64).reshape(4, 3)
    digest = features_digest(window)
    assert isinstance(digest, bytes)
    assert features_digest(window.copy()) == digest
    assert features_digest(np.asfortranarray(window)) == digest  # same values, other layout
    assert features_digest(window.reshape(1, 4, 3)) != digest
    assert features_digest(window.reshape(3, 4)) != digest
    assert features_digest(window.reshape(-1)) != digest
    assert features_digest(window.astype(np.float32)) != digest
    assert features_digest(window.view(np.int64)) != digest  # same bytes, other dtype
    changed = window.copy()
    changed[3, 2] += 1e-9
    assert features_digest(changed) != digest


# --- the registry's use of a cache ---------------------------------------------------------------

NORMALIZED = {
    "timeframe": "1h",
    "feature_names": ["a", "b", "c"],
    "normalization_params": {"a": {"mean": 1.0, "std": 2.0}},
}


@pytest.fixture
def cached_root(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    for symbol in ("AAA", "BBB"):
        write_bundle(
            root,
            symbol,
            "basic",
            V1,
            model=linear_model(seq=4, features=3, seed=1),
            metadata=NORMALIZED,
        )
    write_bundle(
        root, "AAA", "basic", V2, model=linear_model(seq=4, features=3, seed=2), metadata=NORMALIZED
    )
    (root / "AAA" / "basic" / "latest").symlink_to(V1)
    write_bundle(
        root,
        "AAA",
        "binary",
        V1,
        model=linear_model(seq=4, features=3, activation="sigmoid"),
        metadata={"timeframe": "1h", "task_type": "binary_classification", "class_labels": [-1, 1]},
    )
    write_bundle(
        root,
        "AAA",
        "ternary",
        V1,
        model=linear_model(seq=4, features=3, outputs=3, activation="softmax"),
        metadata={
            "timeframe": "1h",
            "task_type": "ternary_classification",
            "class_labels": [-1, 0, 1],
        },
    )
    return root


def registry_with(
    root: Path, cache: PredictionCache | None, **config: object
) -> PredictionModelRegistry:
    return PredictionModelRegistry(
        PredictionConfig(model_registry_path=str(root), **config),  # type: ignore[arg-type]
        cache_manager=cache,
    )


def test_a_repeated_prediction_is_a_cache_hit(cached_root: Path) -> None:
    cache = CountingCache()
    registry = registry_with(cached_root, cache)
    runner = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner
    window = np.random.default_rng(0).normal(size=(4, 3))
    first = runner.predict(window)
    assert (len(cache), cache.hits, cache.sets) == (1, 0, 1)
    second = runner.predict(window.copy())
    assert (len(cache), cache.hits, cache.sets) == (1, 1, 1)
    assert (second.price, second.confidence, second.direction, second.model_name) == (
        first.price,
        first.confidence,
        first.direction,
        first.model_name,
    )
    runner.predict(window + 1.0)
    assert len(cache) == 2
    # the same window through another bundle (same file name, same parameters) is another entry
    other = registry.select_bundle(symbol="BBB", model_type="basic", timeframe="1h").runner
    assert other.predict(window).price == first.price  # same model bytes
    assert len(cache) == 3 and cache.hits == 1


def test_the_built_in_cache_is_used_by_default(cached_root: Path) -> None:
    registry = registry_with(
        cached_root, None, prediction_cache_ttl=30, prediction_cache_max_size=7
    )
    cache = registry.cache_manager
    assert isinstance(cache, InMemoryPredictionCache)
    assert (cache.ttl, cache.max_size) == (30.0, 7)
    runner = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner
    window = np.ones((4, 3))
    first = runner.predict(window)
    second = runner.predict(window)
    assert len(cache) == 1
    assert second.price == first.price


def test_classifications_are_never_cached(cached_root: Path) -> None:
    cache = CountingCache()
    registry = registry_with(cached_root, cache)
    window = np.ones((4, 3))
    for model_type in ("binary", "ternary"):
        runner = registry.select_bundle(symbol="AAA", model_type=model_type, timeframe="1h").runner
        first = runner.predict(window)
        second = runner.predict(window)
        assert second.probabilities == first.probabilities
        runner.predict_batch(window.reshape(1, 4, 3))
    assert (len(cache), cache.hits, cache.sets) == (0, 0, 0)


def test_no_cache_when_caching_is_disabled(cached_root: Path) -> None:
    registry = registry_with(cached_root, None, prediction_cache_enabled=False)
    assert registry.cache_manager is None
    runner = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner
    assert runner.cache_manager is None
    window = np.ones((4, 3))
    assert runner.predict(window).price == runner.predict(window).price
    assert registry.invalidate_cache() == 0
    assert registry.invalidate_cache(f"AAA:1h:basic:{V1}") == 0

    # a cache handed in while the config disables caching is not used either
    cache = CountingCache()
    registry = registry_with(cached_root, cache, prediction_cache_enabled=False)
    registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner.predict(window)
    assert (len(cache), cache.sets) == (0, 0)


def test_invalid_input_is_not_cached(cached_root: Path) -> None:
    cache = CountingCache()
    registry = registry_with(cached_root, cache)
    runner = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner
    window = np.ones((4, 3))
    window[0, 0] = np.nan
    for _ in range(2):
        with pytest.raises(ValueError):
            runner.predict(window)
    assert len(cache) == 0


def test_invalidate_cache_by_key_alias_and_version(cached_root: Path) -> None:
    cache = CountingCache()
    registry = registry_with(cached_root, cache)
    aaa = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h")
    bbb = registry.select_bundle(symbol="BBB", model_type="basic", timeframe="1h")
    rng = np.random.default_rng(1)
    windows = [rng.normal(size=(4, 3)) for _ in range(3)]

    def fill() -> None:
        for window in windows:
            aaa.runner.predict(window)
            bbb.runner.predict(window)

    fill()
    assert len(cache) == 6
    assert registry.invalidate_cache(aaa.key) == 3
    assert len(cache) == 3
    assert registry.invalidate_cache(aaa.key) == 0
    assert registry.invalidate_cache("unknown-model") == 0
    fill()
    assert registry.invalidate_cache("BBB:1h:basic") == 3
    fill()
    assert registry.invalidate_cache(V1) == 6  # both bundles are version V1
    fill()
    assert registry.invalidate_cache(aaa.runner.model_path) == 3
    assert registry.invalidate_cache() == 3
    assert len(cache) == 0

    # a pinned version has its own entries
    pinned = registry.get_bundle_by_key(f"AAA:1h:basic:{V2}")
    assert pinned is not None
    pinned.runner.predict(windows[0])
    aaa.runner.predict(windows[0])
    assert len(cache) == 2
    assert registry.invalidate_cache(V2) == 1
    assert registry.invalidate_cache(f"AAA:1h:basic:{V1}") == 1


def test_cache_keys_follow_shape_and_dtype(cached_root: Path) -> None:
    cache = CountingCache()
    registry = registry_with(cached_root, cache)
    runner = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h").runner
    window = np.random.default_rng(2).normal(size=(4, 3))
    prices = {
        runner.predict(window).price,
        runner.predict(window.reshape(1, 4, 3)).price,
        runner.predict(window.astype(np.float32)).price,
    }
    assert len(cache) == 3
    assert cache.hits == 0
    assert max(prices) - min(prices) < 1e-5


def test_the_runners_entries_are_upstreams_entries(cached_root: Path) -> None:
    """What a runner stored through the Rust fast path is what upstream's ``get`` finds: the same
    features, the bundle key and the runner's ``cache_config``."""
    cache = InMemoryPredictionCache()
    registry = registry_with(cached_root, cache)
    bundle = registry.select_bundle(symbol="AAA", model_type="basic", timeframe="1h")
    features = np.random.default_rng(3).normal(size=(4, 3))
    fresh = bundle.runner.predict(features)
    config = bundle.runner.cache_config
    assert config == {
        "confidence_scale_factor": 10.0,
        "direction_threshold": 0.01,
        "normalization_params": {"a": {"mean": 1.0, "std": 2.0}},
    }
    stored = cache.get(features, bundle.key, config)
    assert stored == {
        "price": fresh.price,
        "confidence": fresh.confidence,
        "direction": fresh.direction,
    }
    # an entry written through the protocol is served by the runner
    cache.set(features + 1, bundle.key, config, 123.0, 0.25, -1)
    served = bundle.runner.predict(features + 1)
    assert (served.price, served.confidence, served.direction) == (123.0, 0.25, -1)
    assert served.model_name == bundle.key and served.probabilities is None
    assert cache.invalidate_config(bundle.key, config) == 2
    stats = cache.get_stats()
    assert stats["hits"] == 2 and stats["sets"] == 2 and 0 < stats["hit_rate"] < 1
