"""Objects print short: a registry or a bundle in a log line or a REPL stays one line."""

from __future__ import annotations

from pathlib import Path

from atb_prediction import PredictionConfig, PredictionModelRegistry


def test_registry_and_bundle_reprs_are_short(fixture_registry: Path) -> None:
    registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(fixture_registry)))
    assert repr(registry) == (
        f"PredictionModelRegistry({str(fixture_registry)!r}, production=4, versions=11)"
    )
    for bundle in registry.list_bundles():
        assert repr(bundle) == f"StrategyModel({bundle.key!r})"
        assert len(repr(bundle)) < 200
    legacy = registry.get_bundle_by_key("BTCUSDT:1d:basic:2025-09-16_legacy")
    assert repr(legacy) == "StrategyModel('BTCUSDT:1d:basic:2025-09-16_legacy')"
