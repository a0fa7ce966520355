"""Draw the pictures the README shows (``make docs-images``): ``docs/images/sweep.png``, an
as-live sweep of the demo registry's BTCUSDT/basic over the demo's synthetic bars, scored.

Everything comes from the package itself (``atb demo``'s registry and bars), so the picture is
redrawn the same on any machine: ``python scripts/make_docs_images.py [--out docs/images]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from atb_prediction import PredictionConfig, PredictionModelRegistry, sweep
from atb_prediction.demo import demo_bars, write_demo_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        root = write_demo_registry(Path(folder) / "registry").root
        registry = PredictionModelRegistry(PredictionConfig(model_registry_path=str(root)))
        bars, timestamps = demo_bars()
        result = sweep(registry, bars, timestamps=timestamps, symbol="BTCUSDT",
                       model_type="basic", versions="as-live", progress=False)  # fmt: skip
        figure = result.plot(fee_bps=2.0)
        figure.set_dpi(100)
        figure.savefig(args.out / "sweep.png", format="png", metadata={"Software": None})
        print(result.score(fee_bps=2.0).to_pandas().round(4).to_string())
    print(f"wrote {args.out / 'sweep.png'}")


if __name__ == "__main__":
    main()
