"""The cost of compare() on two analyses, against one communities() call in the same run.

    python benchmarks/bench_compare.py [--repeats 3] [--images 2000] [--real ../shared/real]

- wide: two seeded random CNNs (stem, then a 1 x 1 convolution to 2,048 channels, a
  linear head) over the same ``images`` shapes test images: 2,048 + 2,048 neurons.
  Speed does not depend on the weights.
- shapes: shapes-cnn against shapes-spurious-cnn, layer2 + layer3 (128 + 128 neurons),
  on the shapes test split (2,000 images).
- cifar (when ``--real`` holds ../shared/real, networks others trained, never needed by the
  package): the CIFAR-10 ResNet-20's last block (``layer3.2.relu2``) against the
  ResNet-56's (``layer3.8.relu2``), 64 + 64 neurons, two architectures, on ``images``
  CIFAR-10 test photos spread over the set (JPEG).

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
import sys
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

from innersight_widgets import (
    Analysis,
    ImageDataset,
    compare,
    load_image_folder,
    load_pretrained,
    load_shapes,
)
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


def case(name: str, sides: tuple[tuple[Callable[[], nn.Module], list[str]], ...], data: Any, repeats: int,
         cache: Path) -> dict[str, Any]:
    """The timings of one pair of networks: ``sides`` is (make the model, its layers) twice."""

    def fresh(side: int) -> Analysis:
        make, layers = sides[side]
        an = Analysis(make(), data, layers=layers, cache_dir=cache, progress=False)
        for layer in layers:
            an.profiles(layer)  # the pass, from the cache after the first time
        return an

    layers_a, layers_b = sides[0][1], sides[1][1]
    rounds: dict[str, list[float]] = {"communities": [], "compare": [], "compare_ablation": []}
    for _ in range(repeats):
        an = fresh(0)
        rounds["communities"].append(timed(partial(an.communities, layers_a, warn=False)))
        a, b = fresh(0), fresh(1)
        rounds["compare"].append(timed(partial(compare, a, b, layers_a, layers_b, ablation=False)))
        a, b = fresh(0), fresh(1)
        rounds["compare_ablation"].append(timed(partial(compare, a, b, layers_a, layers_b)))
    result = compare(fresh(0), fresh(1), layers_a, layers_b, ablation=False)
    medians = {k: float(np.median(v)) for k, v in rounds.items()}
    return {
        "case": name,
        "neurons": [len(result.a.report.communities.neurons), len(result.b.report.communities.neurons)],
        "images": len(data),
        "communities": [len(result.a.communities), len(result.b.communities)],
        "matched": len(result.matches),
        "cka": round(result.cka, 3),
        "seconds": {k: round(v, 3) for k, v in medians.items()},
        "ratio_compare": round(medians["compare"] / medians["communities"], 2),
        "ratio_compare_ablation": round(medians["compare_ablation"] / medians["communities"], 2),
    }


def cifar_case(real: Path, images: int, repeats: int, cache: Path) -> dict[str, Any]:
    """ResNet-20 against ResNet-56 on CIFAR-10 test photos (../shared/real's loaders)."""
    sys.path.insert(0, str(real))
    import real_models

    folder = load_image_folder(real_models.CIFAR10_TEST, size=32, resize=32, classes=real_models.CIFAR10_CLASSES)
    picked = np.linspace(0, len(folder) - 1, min(images, len(folder))).round().astype(int)
    items = [folder[int(i)] for i in picked]  # decoded once, so that every pass reads the same tensors
    data = ImageDataset(torch.stack([x for x, _ in items]), [int(y) for _, y in items], list(real_models.CIFAR10_CLASSES))
    return case("cifar", ((lambda: real_models.cifar10_resnet(20), ["layer3.2.relu2"]),
                          (lambda: real_models.cifar10_resnet(56), ["layer3.8.relu2"])), data, repeats, cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--real", type=Path, default=None, help="../shared/real: also the CIFAR-10 ResNet-20 against ResNet-56")
    args = parser.parse_args()
    # 2,048 neurons on 2,000 images: the partitions carry the "few images" caveat, which is
    # no concern of the timing
    warnings.simplefilter("ignore", UnreliablePartitionWarning)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        shapes = load_shapes("test", n=args.images)
        rows.append(case("wide", ((lambda: wide_model(0), ["wide"]), (lambda: wide_model(1), ["wide"])), shapes,
                         args.repeats, cache))
        layers = ["layer2", "layer3"]
        rows.append(case(
            "shapes", ((lambda: load_pretrained("shapes-cnn"), layers), (lambda: load_pretrained("shapes-spurious-cnn"), layers)),
            load_shapes("test"), args.repeats, cache,
        ))
        if args.real is not None:
            rows.append(cifar_case(args.real, args.images, args.repeats, cache))
    print(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
