"""The registry's layout has one home (``core::layout``): a version folder the scan serves is one
every command taking a key accepts, and one it refuses is refused everywhere for the same reason.

Here a version folder that is a symlink staying inside the registry (to a hidden store, which the
scan does not walk) and one leaving it, against the scan, the version resolver, promotion and
every ``atb`` command that takes a key or a version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from atb_prediction import _core, promotion, scan_registry
from atb_prediction.cli import main
from atb_prediction.models.validation import parse_key, split_bundle_path
from atb_prediction.promotion.version_resolver import list_version_records
from conftest import linear_model, point_latest, standard_metadata, write_bundle

V1 = "2025-01-01_1h_v1"
LINKED = "2025-02-01_1h_v2"
ESCAPING = "2025-03-01_1h_v3"
SEQ, FEATURES = 4, 3


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, str]:
    """A registry with V1, LINKED (a symlink into the registry's hidden ``.store``) and
    ESCAPING (a symlink to a folder outside); returns the root and the scan's reason for
    ESCAPING."""
    root = tmp_path / "registry"
    write_bundle(
        root,
        "BTCUSDT",
        "basic",
        V1,
        model=linear_model(SEQ, FEATURES, seed=1),
        metadata=standard_metadata("BTCUSDT", "basic", V1, seq=SEQ, features=FEATURES),
    )
    for store, version in ((root / ".store", LINKED), (tmp_path / "outside", ESCAPING)):
        write_bundle(
            store,
            "s",
            "t",
            version,
            model=linear_model(SEQ, FEATURES, seed=2),
            metadata=standard_metadata("BTCUSDT", "basic", version, seq=SEQ, features=FEATURES),
        )
    type_dir = root / "BTCUSDT" / "basic"
    (type_dir / LINKED).symlink_to(Path("..", "..", ".store", "s", "t", LINKED))
    (type_dir / ESCAPING).symlink_to(tmp_path / "outside" / "s" / "t" / ESCAPING)
    point_latest(root, "BTCUSDT", "basic", V1)
    real = (tmp_path / "outside" / "s" / "t" / ESCAPING).resolve()
    return root, f"symlink leaves the registry (points to {real})"


def atb(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--registry", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def atb_json(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> Any:
    code, out, err = atb(capsys, root, *args, "--json")
    assert code == 0, err
    return json.loads(out)


KEY = f"BTCUSDT:1h:basic:{LINKED}"
OUT = f"BTCUSDT:1h:basic:{ESCAPING}"


def test_the_scan_serves_the_link_inside_and_refuses_the_one_leaving(
    layout: tuple[Path, str],
) -> None:
    root, reason = layout
    index = scan_registry(root)
    assert [r.key for r in index.versions] == [f"BTCUSDT:1h:basic:{V1}", KEY]
    [invalid] = index.invalid
    assert invalid.path == str(root / "BTCUSDT" / "basic" / ESCAPING)
    assert invalid.reason == reason
    # The layout's listing is the scan's.
    assert _core.registry_folders(root / "BTCUSDT" / "basic", root) == (
        [V1, LINKED],
        [(ESCAPING, reason)],
    )
    assert [r.version_id for r in list_version_records(root, "BTCUSDT", "basic")] == [
        V1,
        LINKED,
    ]


def test_every_command_taking_a_key_accepts_the_linked_version(
    layout: tuple[Path, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root, _ = layout
    assert atb_json(capsys, root, "models", "inspect", KEY)["key"] == KEY
    validated = atb_json(capsys, root, "models", "validate", KEY)
    assert [(r["key"], r["ok"]) for r in validated["results"]] == [(KEY, True)]
    sealed = atb_json(capsys, root, "models", "seal", KEY)
    assert [(r["key"], r["ok"]) for r in sealed["results"]] == [(KEY, True)]
    verified = atb_json(capsys, root, "models", "verify", KEY)
    assert [(r["key"], r["status"]) for r in verified["results"]] == [(KEY, "ok")]
    compared = atb_json(capsys, root, "models", "compare", "BTCUSDT:1h:basic", "--versions")
    assert LINKED in json.dumps(compared)
    dry = atb_json(capsys, root, "models", "promote", KEY, "--dry-run")
    assert (dry["to_version"], dry["refused"]) == (LINKED, False)

    promoted = atb_json(capsys, root, "models", "promote", KEY, "--reason", "linked")
    assert promoted["record"]["to"] == LINKED
    listed = atb_json(capsys, root, "models", "list")
    assert [(m["production"], m["production_source"]) for m in listed["models"]] == [
        (LINKED, "latest")
    ]
    atb_json(capsys, root, "models", "promote", f"BTCUSDT:1h:basic:{V1}", "--force")
    rolled = atb_json(capsys, root, "models", "rollback", "BTCUSDT", "basic", "--to", LINKED)
    assert rolled["record"]["to"] == LINKED
    assert promotion.current_version(root, "BTCUSDT", "basic") == LINKED

    series = tmp_path / "bars.npy"
    np.save(series, np.random.default_rng(5).standard_normal((12, FEATURES)).astype(np.float32))
    swept = atb_json(
        capsys, root, "backtest", "sweep", "BTCUSDT", "basic", "--series", str(series),
        "--versions", LINKED,
    )  # fmt: skip
    assert [line["version"] for line in swept["versions"]] == [LINKED]


def test_every_command_refuses_the_escaping_version_for_the_scans_reason(
    layout: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    root, reason = layout
    for command in (
        ["models", "inspect", OUT],
        ["models", "promote", OUT],
        ["models", "promote", OUT, "--dry-run"],
        ["models", "rollback", "BTCUSDT", "basic", "--to", ESCAPING],
    ):
        code, _, err = atb(capsys, root, *command)
        assert code == 1 and reason in err, (command, err)
    for command in (
        ["models", "validate", OUT],
        ["models", "seal", OUT],
        ["models", "verify", OUT],
    ):
        code, out, err = atb(capsys, root, *command, "--json")
        assert code == 1, (command, err)
        [result] = json.loads(out)["results"]
        assert result["key"] == f"BTCUSDT/basic/{ESCAPING}"
        assert reason in json.dumps(result), (command, result)
    with pytest.raises(promotion.PromotionRefusedError, match="symlink leaves the registry"):
        promotion.promote(root, "BTCUSDT", "basic", ESCAPING, check=None)
    with pytest.raises(promotion.VersionNotFoundError, match=r"^symbol not found: "):
        promotion.promote(root, "ETHUSDT", "basic", V1, check=None)
    assert promotion.current_version(root, "BTCUSDT", "basic") == V1


# --- the layout's smaller rules, as Python sees them ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "ok"),
    [("BTCUSDT", True), ("latest", False), (".lock", False), ("a/b", False), ("", False)],
)
def test_folder_names(name: str, ok: bool) -> None:
    assert _core.is_folder_name(name) is ok
    assert _core.LATEST == "latest"


def test_keys_format_split_and_parse_in_one_order() -> None:
    assert _core.format_key("B", "1h", "t") == "B:1h:t"
    assert _core.format_key("B", "1h", "t", "v1") == "B:1h:t:v1"
    assert _core.split_key("B:1h:t:v1") == ["B", "1h", "t", "v1"]
    assert _core.parse_key("B/t/v1") == ("B", None, "t", "v1")
    pattern = parse_key("B:1h")
    assert (pattern.symbol, pattern.timeframe, pattern.model_type, pattern.version) == (
        "B",
        "1h",
        None,
        None,
    )
    with pytest.raises(ValueError, match="expected SYMBOL"):
        _core.split_key("a:b:c:d:e")


def test_paths_split_below_the_root(tmp_path: Path) -> None:
    root = str(tmp_path)
    path = os.path.join(root, "B", "t", "v1")
    assert _core.path_parts(root, path) == ["B", "t", "v1"]
    assert split_bundle_path(root, os.path.join(root, "B", "t")) == ("B/t", "B", "t", "")
    assert _core.path_parts(root, "/elsewhere/B") == []
    assert _core.registry_root(path) == tmp_path


@pytest.mark.parametrize(
    ("version_id", "date"),
    [
        ("2025-10-30_12h_v1", (2025, 10, 30)),
        ("2024-02-29", (2024, 2, 29)),
        ("2025-02-29_x", None),
        ("2025-10-30x", None),
        ("legacy", None),
    ],
)
def test_version_dates(version_id: str, date: tuple[int, int, int] | None) -> None:
    assert _core.version_date(version_id) == date


def test_a_record_says_whether_latest_names_it_and_how_many_features_it_declares(
    tmp_path: Path,
) -> None:
    metadata = standard_metadata("S", "named", V1, seq=SEQ, features=FEATURES)
    write_bundle(tmp_path, "S", "named", V1, model=linear_model(SEQ, FEATURES), metadata=metadata)
    point_latest(tmp_path, "S", "named", V1)
    schema = {"sequence_length": SEQ, "features": [{"name": f"f{i}"} for i in range(2)]}
    for version in (V1, LINKED):  # no latest: upstream's fallback to the highest version
        write_bundle(
            tmp_path,
            "S",
            "schema",
            version,
            model=linear_model(SEQ, FEATURES),
            metadata={"timeframe": "1h"},
            feature_schema=schema,
        )
    records = {r.key: r for r in scan_registry(tmp_path).versions}
    named = records[f"S:1h:named:{V1}"]
    assert (named.is_production, named.from_latest, named.feature_count) == (True, True, 3)
    fallback = records[f"S:1h:schema:{LINKED}"]
    assert (fallback.is_production, fallback.from_latest, fallback.feature_count) == (
        True,
        False,
        2,
    )
    older = records[f"S:1h:schema:{V1}"]
    assert (older.is_production, older.from_latest) == (False, False)
