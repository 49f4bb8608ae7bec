"""What the resumable cached pass costs and saves, as ratios to a pass without a cache.

    python benchmarks/bench_resumable_pass.py [--images 4000] [--repeats 3] [--device cpu]
        [--real ../shared/real]

Over an image folder (the CIFAR-10 test JPEGs and a pretrained ResNet-56 when ``--real``
points at the real assets; otherwise shapes-cnn over shipped shapes written as PNGs), in
one run, the median of ``--repeats`` of:

- the pass without ``cache_dir`` (the baseline);
- the pass with ``cache_dir`` (memory-mapped arrays, a checkpoint after every block);
- a cached pass interrupted at about 75% (a KeyboardInterrupt raised from the model's
  forward, as a notebook's interrupt arrives), and the run that resumes it.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from innersight_widgets import Analysis, load_image_folder, load_pretrained, load_shapes, save_image_folder
from innersight_widgets.engine.runner import ModelRunner


def setting(real: Path | None, n: int, folder: Path):
    """(model, data, layers, name) of the run."""
    if real is not None and (real / "real_models.py").exists():
        sys.path.insert(0, str(real))
        from real_models import CIFAR10_CLASSES, CIFAR10_TEST, cifar10_resnet

        model = cifar10_resnet(56)
        data = load_image_folder(CIFAR10_TEST, size=32, resize=32, classes=CIFAR10_CLASSES)
        keep = torch.linspace(0, len(data) - 1, min(n, len(data))).round().long().unique()
        data = torch.utils.data.Subset(data, keep.tolist())
        data.class_names = CIFAR10_CLASSES
        layers = [f"layer{s}.{b}.relu2" for s in (1, 2, 3) for b in range(9)]
        return model, data, layers, f"ResNet-56, {len(data)} CIFAR-10 test JPEGs"
    save_image_folder(load_shapes("test", n=n), folder)
    model = load_pretrained("shapes-cnn")
    data = load_image_folder(folder, size=64, resize=64, mean=None, std=None, classes=model.class_names)
    return model, data, ["layer1", "layer2", "layer3"], f"shapes-cnn, {len(data)} shipped shapes as PNG"


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--real", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    model, data, layers, name = setting(args.real, args.images, work / "images")

    def analysis(cache: Path | None) -> Analysis:
        return Analysis(model, data, layers=layers, cache_dir=cache, device=args.device, batch_size=args.batch_size,
                        progress=False)

    batches = -(-len(data) // args.batch_size)
    real_forward = ModelRunner.forward
    plain, cached, interrupted, resumed = [], [], [], []
    for repeat in range(args.repeats):
        plain.append(timed(lambda: analysis(None).predictions))
        cache = work / f"cache{repeat}"
        cached.append(timed(lambda: analysis(cache).predictions))
        shutil.rmtree(cache)
        calls = {"n": 0}

        def stopping(self, x, *a, **kw):
            calls["n"] += 1
            if calls["n"] > 0.75 * batches:
                raise KeyboardInterrupt
            return real_forward(self, x, *a, **kw)

        ModelRunner.forward = stopping
        start = time.perf_counter()
        try:
            analysis(cache).predictions
        except KeyboardInterrupt:
            pass
        interrupted.append(time.perf_counter() - start)
        ModelRunner.forward = real_forward
        resumed.append(timed(lambda: analysis(cache).predictions))
        shutil.rmtree(cache)
    base = statistics.median(plain)
    print(f"{name}, {len(layers)} layers, batch {args.batch_size}, {args.device}, median of {args.repeats}")
    print(f"pass without cache          {base:7.2f} s   1.00x")
    for label, times in [("pass with cache (checkpoints)", cached), ("interrupted at 75%", interrupted),
                         ("resumed run", resumed)]:
        t = statistics.median(times)
        print(f"{label:<28}{t:7.2f} s   {t / base:.2f}x")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
