"""The oracle of predict semantics: upstream's own outputs.

``tests/data/atb-registry-golden.json`` holds, for every bundle and two seeded windows, the price,
confidence and direction that the upstream bot's ``OnnxRunner.predict`` returned at the fixture
commit. Our runner must give the same on the same bundles, through the registry as users reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from atb_prediction import ModelLoadError, PredictionConfig, PredictionModelRegistry
from conftest import FIXTURE_KEYS, golden_input, golden_predictions

GOLDEN = golden_predictions()

#: Upstream predicts on this bundle although its metadata declares 9 features and its model takes
#: 5; this project refuses it (the golden file's note says so).
REFUSED = {("BTCUSDT", "basic", "2025-09-16_legacy")}


def test_every_kept_bundle_has_two_golden_entries() -> None:
    per_bundle: dict[tuple[str, str, str], list[int]] = {}
    for entry in GOLDEN:
        bundle = (entry["symbol"], entry["model_type"], entry["version"])
        per_bundle.setdefault(bundle, []).append(entry["seed"])
    assert len(per_bundle) == len(FIXTURE_KEYS)
    assert all(sorted(seeds) == [0, 1] for seeds in per_bundle.values())


@pytest.fixture(scope="module")
def registry(fixture_registry: Path) -> PredictionModelRegistry:
    config = PredictionConfig(model_registry_path=str(fixture_registry))
    return PredictionModelRegistry(config)


@pytest.mark.parametrize(
    "entry", GOLDEN, ids=lambda e: f"{e['symbol']}/{e['model_type']}/{e['version']}/{e['seed']}"
)
def test_predict_matches_upstream_golden_output(
    registry: PredictionModelRegistry, entry: dict[str, Any]
) -> None:
    [record] = [
        r
        for r in registry.index.versions
        if (r.symbol, r.model_type, r.version_id)
        == (entry["symbol"], entry["model_type"], entry["version"])
    ]
    bundle = registry.get_bundle_by_key(record.key)
    assert bundle is not None
    window = golden_input(entry)
    if (entry["symbol"], entry["model_type"], entry["version"]) in REFUSED:
        with pytest.raises(ModelLoadError, match="9"):
            bundle.runner.predict(window)
        return
    prediction = bundle.runner.predict(window)
    assert prediction.price == pytest.approx(entry["price"], rel=1e-5)
    assert prediction.confidence == pytest.approx(entry["confidence"], rel=1e-5)
    assert prediction.direction == entry["direction"]
