"""The cost of compare() on two analyses, against one communities() call in the same run.

    python benchmarks/bench_compare.py [--repeats 3] [--images 2000]

- wide: two seeded random CNNs (stem, then a 1 x 1 convolution to 2,048 channels, a
  linear head) over the same ``images`` shapes test images: 2,048 + 2,048 neurons.
  Speed does not depend on the weights.
- shapes: shapes-cnn against shapes-spurious-cnn, layer2 + layer3 (128 + 128 neurons),
  on the shapes test split (2,000 images).

For each: the baseline is ``an.communities(layers)`` (Louvain, its default 3 stability
re-runs), the first call on a fresh analysis whose pass is loaded from the cache; then
``compare(an_a, an_b, layers, layers)`` on two fresh analyses, without ablation (the
partitions, the evaluations, the matching and CKA: no model run) and with it (each
community zeroed once per side, one pass over the images each). Wall seconds, medians of
``repeats`` rounds, the three measured in turn within a round; ratios to the baseline.
Run with OMP_NUM_THREADS=1. At 2,048 neurons on 2,000 images the partitions carry the
"few images" caveat (docs/methods.md, section 3.3), silenced here.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from innersight_widgets import Analysis, compare, load_pretrained, load_shapes
from innersight_widgets.innersightnet import UnreliablePartitionWarning

WIDE = 2048


class Wide(nn.Module):
    """Stem (3 -> 64 channels, 8 x 8 maps), a 1 x 1 convolution to 2,048 channels, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 5, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(2))
        self.wide = nn.Conv2d(64, WIDE, 1)
        self.head = nn.Linear(WIDE, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.wide(self.stem(x))).mean(dim=(2, 3)))


def wide_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return Wide().eval()


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def case(name: str, models: tuple[Callable[[], nn.Module], Callable[[], nn.Module]], layers: list[str], images: int,
         repeats: int, cache: Path) -> dict[str, Any]:
    data = load_shapes("test", n=images)

    def fresh(make: Callable[[], nn.Module]) -> Analysis:
        an = Analysis(make(), data, layers=layers, cache_dir=cache, progress=False)
        for layer in layers:
            an.profiles(layer)  # the pass, from the cache after the first time
        return an

    rounds: dict[str, list[float]] = {"communities": [], "compare": [], "compare_ablation": []}
    for _ in range(repeats):
        an = fresh(models[0])
        rounds["communities"].append(timed(partial(an.communities, layers, warn=False)))
        a, b = fresh(models[0]), fresh(models[1])
        rounds["compare"].append(timed(partial(compare, a, b, layers, layers, ablation=False)))
        a, b = fresh(models[0]), fresh(models[1])
        rounds["compare_ablation"].append(timed(partial(compare, a, b, layers, layers)))
    result = compare(fresh(models[0]), fresh(models[1]), layers, layers, ablation=False)
    medians = {k: float(np.median(v)) for k, v in rounds.items()}
    return {
        "case": name,
        "neurons": len(result.a.report.communities.neurons),
        "images": images,
        "communities": [len(result.a.communities), len(result.b.communities)],
        "matched": len(result.matches),
        "seconds": {k: round(v, 3) for k, v in medians.items()},
        "ratio_compare": round(medians["compare"] / medians["communities"], 2),
        "ratio_compare_ablation": round(medians["compare_ablation"] / medians["communities"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    # 2,048 neurons on 2,000 images: the partitions carry the "few images" caveat, which is
    # no concern of the timing
    warnings.simplefilter("ignore", UnreliablePartitionWarning)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        rows.append(case("wide", (lambda: wide_model(0), lambda: wide_model(1)), ["wide"], args.images, args.repeats, cache))
        rows.append(case(
            "shapes", (lambda: load_pretrained("shapes-cnn"), lambda: load_pretrained("shapes-spurious-cnn")),
            ["layer2", "layer3"], 2000, args.repeats, cache,
        ))
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
