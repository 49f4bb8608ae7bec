"""The analysis at real scale: a ResNet-50 over a folder of 224x224 JPEGs.

    python benchmarks/bench_real_scale.py [--images 1000 5000] [--device cpu] [--batch-size 64]
        [--workers 2] [--folder DIR] [--quick]

The toy benchmarks (shapes-cnn on 64x64 tensors in memory) cannot show whether the
streaming pass holds up on the models and data the package is meant for. This one
writes N JPEGs (224x224, quality 90, four classes: the shipped shapes upscaled) as class
sub-folders, reads them with ``load_image_folder`` and probes a randomly initialised
ResNet-50 (torchvision's when it is installed, else the faithful copy below) with them.

For each N, every measurement runs in a fresh child process, so that its peak memory is
its own (resident set size, and ``torch.cuda.max_memory_allocated`` on CUDA); each child
runs one small untimed batch first. Both sides decode the same JPEGs with the same
number of ``DataLoader`` workers, so decoding is in both.

- plain (once per N): ``model(x)`` under ``torch.inference_mode()`` over a
  ``DataLoader`` of the folder;
- pass: ``Analysis(...)`` (setup: a 2-image forward that discovers the layers) then
  ``an.predictions`` (the timed pass, every selected layer hooked), for (a) the default
  layers (every conv and linear layer, 27,560 channels) and (b) the last stage only
  (every Conv2d under ``layer4``, 11,264 channels);
- for (b), after the pass: Louvain on ``layer4.2.conv3`` (2,048 channels), then one
  re-cluster at another resolution (the step a user repeats in the explorer).

Notes
-----
The goals: pass / plain <= 1.2; and the pass's peak RSS grows from the smallest to the
largest N by at most the growth of its statistics plus 200 MiB, i.e. memory scales with
the statistics, never with the images. The statistics counted are the profiles
(N x channels float32) and argmax positions (N x channels uint16) of the selected
layers; the logits (4 KB an image) fall in the 200 MiB.

Prints a table, then the results as one JSON line. ``--quick`` (N = 16 and 48, batch
16, so that both sizes run batches of one size and their peak memory compares) is a
smoke test of a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageChops
from torch import nn
from torch.utils.data import DataLoader

from innersight_widgets import Analysis, load_shapes
from innersight_widgets.data.folder import load_image_folder
from innersight_widgets.engine._device import resolve_device

try:  # an optional extra, never a dependency of the package or of this benchmark
    from torchvision.models import resnet50 as torchvision_resnet50
except Exception:
    torchvision_resnet50 = None

SIZE = 224
NUM_CLASSES = 1000
# Shapes generated at 64x64 (at most this many, then cycled with a seeded shift).
MAX_SHAPES = 1000
MAX_SHIFT = 12  # pixels at 224, for the repeats
WARM_UP_IMAGES = 8
QUICK_IMAGES = (16, 48)
QUICK_BATCH_SIZE = 16
COMMUNITY_LAYER = "layer4.2.conv3"
SELECTIONS = ("default", "layer4")
RATIO_GOAL = 1.2
RSS_SLACK_MIB = 200
# Argmax positions are stored as uint16 when a map has at most 65,536 positions, as every
# ResNet-50 map at 224x224 has (the largest is 112 x 112).
ARGMAX_BYTES = 2


# ----------------------------------------------------------------------------- model
def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (ResNet v1.5: the stride is on the 3x3 conv2)."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    """torchvision's ``resnet50(weights=None)``: same modules, names, shapes and initialisation."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * Bottleneck.expansion, stride),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


MODEL_SOURCE = "torchvision resnet50" if torchvision_resnet50 is not None else "benchmark's copy of resnet50"


def build_model(device: torch.device) -> nn.Module:
    """A randomly initialised ResNet-50 (seed 0) in eval mode on ``device``."""
    torch.manual_seed(0)
    model = torchvision_resnet50(weights=None) if torchvision_resnet50 is not None else ResNet50()
    return model.to(device).eval()


def selected_layers(model: nn.Module, selection: str) -> list[str] | None:
    """None (the analysis's default: every conv and linear layer) or every Conv2d under layer4."""
    if selection == "default":
        return None
    return [n for n, m in model.named_modules() if n.startswith("layer4.") and isinstance(m, nn.Conv2d)]


# ------------------------------------------------------------------------------ data
def write_folder(root: Path, n: int, seed: int = 0) -> None:
    """``n`` 224x224 JPEGs (quality 90) in one sub-folder per shape, made from the shipped
    shapes upscaled (bicubic); past ``MAX_SHAPES`` they repeat, each repeat shifted at random."""
    shapes = load_shapes("test", n=min(n, MAX_SHAPES))
    pixels = (shapes.images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    labels = shapes.labels.numpy()
    for name in shapes.class_names:
        (root / name).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        j = i % len(shapes)
        image = Image.fromarray(pixels[j]).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        if i >= len(shapes):
            dx, dy = rng.integers(1, MAX_SHIFT + 1, size=2) * rng.choice([-1, 1], size=2)
            image = ImageChops.offset(image, int(dx), int(dy))
        image.save(root / shapes.class_names[labels[j]] / f"{i:05d}.jpg", quality=90)


def prepare_folder(parent: Path, n: int) -> Path:
    """``parent/<n>-images``, reused when it already holds ``n`` JPEGs, else (re)written."""
    root = parent / f"{n}-images"
    if root.is_dir() and len(list(root.glob("*/*.jpg"))) == n:
        print(f"reusing {n} JPEGs in {root}", flush=True)
        return root
    shutil.rmtree(root, ignore_errors=True)
    start = time.perf_counter()
    write_folder(root, n)
    print(f"wrote {n} JPEGs to {root} in {time.perf_counter() - start:.1f} s", flush=True)
    return root


# --------------------------------------------------------------------------- children
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peaks(device: torch.device) -> dict:
    """Peak memory of this process so far: RSS, and allocated device memory on CUDA."""
    found = {"peak_rss_mib": peak_rss_mib()}
    if device.type == "cuda":
        found["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return found


def warm_up(model: nn.Module, folder, device: torch.device) -> None:
    """One small untimed batch: first-call allocations and kernel choices stay out of the timings."""
    x = torch.stack([folder[i][0] for i in range(min(WARM_UP_IMAGES, len(folder)))])
    with torch.inference_mode():
        model(x.to(device))
    sync(device)


def plain(model: nn.Module, folder, device: torch.device, batch_size: int, workers: int) -> dict:
    loader = DataLoader(folder, batch_size=batch_size, num_workers=workers, pin_memory=device.type == "cuda")
    start = time.perf_counter()
    with torch.inference_mode():
        for x, _ in loader:
            model(x.to(device, non_blocking=True))
    sync(device)
    return {"time_s": time.perf_counter() - start, **peaks(device)}


def analysis_pass(model: nn.Module, folder, device: torch.device, batch_size: int, selection: str) -> dict:
    """The pass over the folder; for the layer4 selection, then Louvain and one re-cluster.

    The folder's labels index its class names, which become the first of the model's
    1000 output names.
    """
    extra = [f"imagenet class {i}" for i in range(len(folder.class_names), NUM_CLASSES)]
    start = time.perf_counter()
    an = Analysis(
        model, folder, layers=selected_layers(model, selection), device=device, batch_size=batch_size,
        cache_dir=None, progress=False, class_names=[*folder.class_names, *extra],
    )
    setup = time.perf_counter()
    an.predictions  # runs the pass
    sync(device)
    done = time.perf_counter()
    infos = [an.layer_info(name) for name in an.layers]
    profiles = sum(an.profiles(name).nbytes for name in an.layers)
    argmax = sum(len(folder) * i.num_neurons * ARGMAX_BYTES for i in infos if i.spatial_shape)
    result = {
        "layers": len(infos),
        "channels": sum(i.num_neurons for i in infos),
        "setup_s": setup - start,
        "pass_s": done - setup,
        "stats_mib": (profiles + argmax) / 2**20,
        **peaks(device),
    }
    if selection == "layer4":
        start = time.perf_counter()
        first = an.communities([COMMUNITY_LAYER], "louvain", stability_runs=0)
        middle = time.perf_counter()
        again = an.communities([COMMUNITY_LAYER], "louvain", stability_runs=0, resolution=1.5)
        result.update(
            louvain_s=middle - start,
            recluster_s=time.perf_counter() - middle,
            communities=[first.num_communities, again.num_communities],
            peak_rss_after_communities_mib=peak_rss_mib(),
        )
    return result


def run_child(args: argparse.Namespace) -> dict:
    """One measurement in this process, for a clean peak-memory reading."""
    device = resolve_device(args.device)
    model = build_model(device)
    folder = load_image_folder(args.data, size=SIZE, num_workers=args.workers)
    warm_up(model, folder, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if args.child == "plain":
        return plain(model, folder, device, args.batch_size, args.workers)
    return analysis_pass(model, folder, device, args.batch_size, args.selection)


def spawn(args: argparse.Namespace, data: Path, *child: str) -> dict:
    cmd = [
        sys.executable, __file__, "--child", *child, "--data", str(data),
        "--device", args.device, "--batch-size", str(args.batch_size), "--workers", str(args.workers),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(child)} on {data} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


# ------------------------------------------------------------------------------ report
def print_table(rows: list[dict]) -> None:
    header = (
        f"{'N':>6} {'selection':>9} {'layers':>6} {'channels':>8} {'plain s':>8} {'pass s':>8} {'ratio':>6} "
        f"{'plain RSS':>10} {'pass RSS':>9} {'stats MiB':>9} {'louvain s':>9} {'recluster s':>11}"
    )
    print(header)
    for r in rows:
        if "louvain_s" in r:
            louvain = f"{r['louvain_s']:9.2f} {r['recluster_s']:11.2f}"
        else:
            louvain = f"{'-':>9} {'-':>11}"
        print(
            f"{r['images']:>6} {r['selection']:>9} {r['layers']:>6} {r['channels']:>8} "
            f"{r['plain_time_s']:8.1f} {r['pass_s']:8.1f} {r['ratio']:6.3f} "
            f"{r['plain_peak_rss_mib']:10.0f} {r['peak_rss_mib']:9.0f} {r['stats_mib']:9.0f} {louvain}"
        )


def memory_growth(rows: list[dict], selection: str) -> dict:
    """Peak RSS growth of the pass from the smallest to the largest N, against the statistics'."""
    mine = [r for r in rows if r["selection"] == selection]
    small, large = mine[0], mine[-1]
    rss = large["peak_rss_mib"] - small["peak_rss_mib"]
    stats = large["stats_mib"] - small["stats_mib"]
    return {
        "from_images": small["images"], "to_images": large["images"], "rss_growth_mib": round(rss),
        "stats_growth_mib": round(stats), "limit_mib": round(stats + RSS_SLACK_MIB),
        "ok": rss <= stats + RSS_SLACK_MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 5000], help="values of N")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-size", type=int, help=f"default 64 ({QUICK_BATCH_SIZE} with --quick)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers decoding the JPEGs")
    parser.add_argument("--folder", type=Path, help="keep and reuse the JPEG folders here (default: temporary)")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"N = {QUICK_IMAGES[0]} and {QUICK_IMAGES[1]}, batch {QUICK_BATCH_SIZE}: a smoke test",
    )
    parser.add_argument("--child", choices=["plain", "pass"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--selection", choices=SELECTIONS, default="default", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args)))
        return

    sizes = sorted(set(QUICK_IMAGES if args.quick else args.images))
    if args.batch_size is None:
        args.batch_size = QUICK_BATCH_SIZE if args.quick else 64
    print(
        f"model: {MODEL_SOURCE} (random weights, seed 0); device {args.device}, batch {args.batch_size}, "
        f"{args.workers} workers, {torch.get_num_threads()} torch threads", flush=True,
    )
    rows = []
    if args.folder:
        folders = contextlib.nullcontext(args.folder)
    else:
        folders = tempfile.TemporaryDirectory(prefix="real-scale-")
    with folders as parent:
        for n in sizes:
            data = prepare_folder(Path(parent), n)
            baseline = spawn(args, data, "plain")
            for selection in SELECTIONS:
                measured = spawn(args, data, "pass", "--selection", selection)
                rows.append({
                    "images": n, "selection": selection, **measured,
                    **{f"plain_{key}": value for key, value in baseline.items()},
                    "ratio": measured["pass_s"] / baseline["time_s"],
                })
                print(f"N={n} {selection}: {json.dumps(rows[-1])}", flush=True)

    print_table(rows)
    growth = {s: memory_growth(rows, s) for s in SELECTIONS} if len(sizes) > 1 else {}
    for selection, g in growth.items():
        print(
            f"peak RSS growth of the pass, N={g['from_images']}->{g['to_images']} ({selection}): "
            f"{g['rss_growth_mib']} MiB; "
            f"limit: stats growth + {RSS_SLACK_MIB} = {g['limit_mib']} MiB: {'ok' if g['ok'] else 'OVER'}"
        )
    print(json.dumps({
        "model": MODEL_SOURCE, "device": args.device, "batch_size": args.batch_size, "workers": args.workers,
        "torch_threads": torch.get_num_threads(),
        "rows": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
        "ratio_goal": RATIO_GOAL, "ratio_ok": all(r["ratio"] <= RATIO_GOAL for r in rows),
        "memory_growth": growth,
    }))


if __name__ == "__main__":
    main()
