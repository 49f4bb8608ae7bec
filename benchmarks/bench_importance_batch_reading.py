"""The importance test on models whose forward reads the batch size from its input.

    python benchmarks/bench_importance_batch_reading.py [--images 128] [--draws 20]
        [--repeats 2] [--threads 1] [--real ../shared/real] [--quick]

A forward such as EfficientNet-Lite0's (``bs = inputs.size(0)`` ... ``x.view(bs, -1)``)
cannot pass a batch widened inside it as it is: the ablations of an importance test
either widen through the model's torch.fx trace with the sizes it reads widened too, or
run the whole network once per ablated copy. For each model and layer, one importance
test (a random set of a tenth of the layer's neurons, then ``draws`` random sets of the
same size, in the test's groups) is timed against one plain forward pass of the model
over the same images, in the same process, with the same batch size:

- batch-reading-cnn: five convolutions (64 x 64 inputs, random weights) flattened with the
  input's batch size before a linear head, ablated at ``conv3`` (about half of the
  multiply-adds lie above it) and at ``conv5`` (only the head above); 512 random images;
  and the same network flattened with ``flatten(1)`` ("flatten-cnn"), which widens
  without reading sizes: what the batch-reading one should cost;
- EfficientNet-Lite0 (ImageNet weights, loaded by ../shared/real/real_models.py, when that
  folder and the package ``efficientnet_lite_pytorch`` are present), ablated at
  ``_blocks.11`` and at ``_conv_head``, on ``--images`` of the 650 ImageNet validation
  photos in ../shared/real/data/imagenet_val650 (evenly spaced in folder order, decoded
  once into memory so that decoding is in neither timing).

Each round times a plain forward, then a test; the first test of a layer also traces the
model and checks widened logits against plain copies, so it is reported apart
("first_s") and the ratio is the median of the later rounds. "stem_rows_per_image" counts
the rows the model's first layer ran during one test, per image: one per group of
ablations when widened (the test runs 4 groups), one per ablation (1 + draws) when
copied. "warnings" holds what the test warned.

To measure the code before a change, run this file with another checkout first on the
path: ``git worktree add /tmp/before <commit>`` then
``PYTHONPATH=/tmp/before python benchmarks/bench_importance_batch_reading.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

import innersight_widgets
from innersight_widgets import Analysis, ImageDataset, load_image_folder
from innersight_widgets.innersightnet.importance import importance_test

#: ../shared/real beside the repository: real networks and photos made by others (never shipped)
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"


class BatchReadingCNN(nn.Module):
    """Five convolutions, average pooling and a linear head, flattened with the batch size
    read from the input (as EfficientNet-Lite0's forward does), or with ``reads=False``
    with ``flatten(1)``: the control, which any widening carries."""

    def __init__(self, reads: bool = True) -> None:
        super().__init__()
        self.reads = reads
        self.conv1 = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv5 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = x.size(0)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            x = torch.relu(conv(x))
        pooled = x.mean((2, 3))
        return self.fc(pooled.view(bs, -1) if self.reads else pooled.flatten(1))


def small_case(images: int, reads: bool) -> tuple[nn.Module, ImageDataset, str, list[str]]:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = ImageDataset(torch.rand(images, 3, 64, 64, generator=g), torch.randint(0, 10, (images,), generator=g), list("0123456789"))
    return BatchReadingCNN(reads).eval(), data, "conv1", ["conv3", "conv5"]


def efficientnet_case(images: int, real: Path) -> tuple[nn.Module, ImageDataset, str, list[str]] | str:
    """EfficientNet-Lite0 and ``images`` photos of the 650, or why it cannot run here."""
    if not real.is_dir():
        return f"{real} is absent"
    sys.path.insert(0, str(real))
    try:
        import real_models
        model = real_models.imagenet_efficientnet_lite0()
    except ImportError as error:
        return f"EfficientNet-Lite0 needs its package: {error}"
    folder = load_image_folder(
        real_models.IMAGENET_VAL650, size=224, resize=227, mean=[127 / 255] * 3, std=[128 / 255] * 3,
        classes=real_models.imagenet_classes()[0],
    )
    picked = np.linspace(0, len(folder) - 1, images).round().astype(int)
    items = [folder[int(i)] for i in picked]
    data = ImageDataset(torch.stack([x for x, _ in items]), [y for _, y in items], model.class_names)
    return model, data, "_bn0", ["_blocks.11", "_conv_head"]


def plain_forward(model: nn.Module, images: torch.Tensor, batch_size: int) -> None:
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])


def timed(fn, *args) -> tuple[float, float]:
    """Wall and process CPU seconds of ``fn(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(name: str, case: tuple, draws: int, repeats: int, batch_size: int) -> list[dict]:
    model, data, stem, layers = case
    rows_seen: list[int] = []
    model.get_submodule(stem).register_forward_hook(lambda _m, inputs, _o: rows_seen.append(len(inputs[0])))
    results = []
    for layer in layers:
        an = Analysis(model, data, layers=[layer], device="cpu", batch_size=batch_size, progress=False)
        _ = an.predictions  # the pass (every ablation reads its logits before from it): not timed
        neurons = an.layer_info(layer).num_neurons
        spec = {layer: sorted(np.random.default_rng(0).choice(neurons, max(1, neurons // 10), replace=False).tolist())}
        plain_forward(model, data.images[:batch_size], batch_size)  # warm-up
        forward, tests, stem_rows, said = [], [], [], []
        for _ in range(repeats):
            forward.append(timed(plain_forward, model, data.images, batch_size))
            rows_seen.clear()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tests.append(timed(importance_test, an, 0, spec, draws, "zero", 0, None))
            stem_rows.append(sum(rows_seen) / len(data))
            said += [str(w.message)[:160] for w in caught]
        later = tests[1:] or tests
        wall = float(np.median([w for w, _ in later]))
        cpu = float(np.median([c for _, c in later]))
        fwd_wall = float(np.median([w for w, _ in forward]))
        fwd_cpu = float(np.median([c for _, c in forward]))
        results.append({
            "model": name, "layer": layer, "images": len(data), "draws": draws, "batch_size": batch_size,
            "neurons_ablated": len(spec[layer]),
            "forward_s": round(fwd_wall, 3), "importance_s": round(wall, 3), "first_s": round(tests[0][0], 3),
            "ratio": round(wall / fwd_wall, 2), "cpu_ratio": round(cpu / fwd_cpu, 2),
            "stem_rows_per_image": stem_rows, "warnings": said,
        })
        print(json.dumps(results[-1]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="EfficientNet photos (of the 650)")
    parser.add_argument("--small-images", type=int, default=512, help="images of the small model")
    parser.add_argument("--draws", type=int, default=20, help="random sets per test")
    parser.add_argument("--repeats", type=int, default=2, help="rounds per layer (the first includes the trace and check)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--real", type=Path, default=REAL, help="the shared folder of real models and photos")
    parser.add_argument("--quick", action="store_true", help="8 photos, 64 small images, 4 draws, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.images, args.small_images, args.draws, args.repeats = 8, 64, 4, 1
    torch.set_num_threads(args.threads)
    print(json.dumps({"package": os.path.dirname(innersight_widgets.__file__), "threads": args.threads}), flush=True)
    rows = bench("batch-reading-cnn", small_case(args.small_images, True), args.draws, args.repeats, args.batch_size)
    rows += bench("flatten-cnn", small_case(args.small_images, False), args.draws, args.repeats, args.batch_size)
    case = efficientnet_case(args.images, args.real)
    if isinstance(case, str):
        print(json.dumps({"skipped": "EfficientNet-Lite0", "why": case}), flush=True)
    else:
        rows += bench("efficientnet-lite0", case, args.draws, args.repeats, args.batch_size)
    print(json.dumps({"results": rows}))


if __name__ == "__main__":
    main()
