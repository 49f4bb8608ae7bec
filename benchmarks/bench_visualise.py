"""The cost of feature visualisation, against one forward + backward pass of the same batch.

    python benchmarks/bench_visualise.py [--threads 1] [--repeats 3] [--device cpu]
        [--big resnet50 efficientnet-lite0] [--big-steps 8] [--real ../shared/real]

- shapes: ``visualise(an, (communities, 0), images=4, steps=256)`` on shapes-cnn at 64 px
  (community 0 of layer3's Louvain partition), wall and process CPU seconds, against one
  forward and one backward (to the input) of the plain model on the same 4 x 3 x 64 x 64
  batch, timed in the same run. Goal: <= 10 s on 2 CPU cores.
- big networks at 224 px, 4 images of one class logit (the whole network per step): a
  ResNet-50 with random weights (bench_real_scale's, as the other benchmarks; speed does
  not depend on the weights) and EfficientNet-Lite0 trained on ImageNet (``--real``, with
  its normalisation, probed with its photos; needs ``efficientnet_lite_pytorch``). Too slow
  on a CPU for 256 steps here, so ``--big-steps`` and twice as many are timed: their
  difference gives the cost of one step, the rest the fixed cost, and 256 steps are
  extrapolated from the two (and, as a bound that holds under changing load, in
  proportion to the longer run).

Medians of ``repeats`` rounds, the measurements interleaved within a round so that a change
of load hits them alike; the colour statistics of the probe images, kept with the analysis,
are measured once before the rounds (a warm-up call).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from innersight_widgets import Analysis, load_image_folder, load_pretrained, load_shapes, visualise

#: ../shared/real beside the repository: real networks and photos made by others (never shipped)
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
STEPS, IMAGES = 256, 4
GOAL_S = 10.0


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall and process CPU seconds of one call of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def forward_backward(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One forward of the plain model and one backward of its summed logits to the input."""

    def run() -> None:
        leaf = x.detach().requires_grad_(True)
        torch.autograd.grad(model(leaf).sum(), leaf)

    return run


def median(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    return float(np.median([w for w, _ in rounds])), float(np.median([c for _, c in rounds]))


def bench_shapes(device: str, repeats: int) -> dict[str, Any]:
    an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=500), layers=["layer3"], device=device,
                  progress=False)
    unit = (an.communities("layer3"), 0)
    visualise(an, unit, images=IMAGES, steps=2)  # warm-up: the colour statistics, kept with the analysis
    reference = forward_backward(an.model, torch.rand(IMAGES, 3, 64, 64, device=an.device))
    for _ in range(3):
        reference()
    found: dict[str, Any] = {}

    def run() -> None:
        found["v"] = visualise(an, unit, images=IMAGES, steps=STEPS)

    vis, ref = [], []
    for _ in range(repeats):
        vis.append(timed(run))
        ref.append(median([timed(reference) for _ in range(20)]))
    (wall, cpu), (ref_wall, ref_cpu) = median(vis), median(ref)
    return {
        "network": "shapes-cnn", "unit": found["v"].unit, "size": 64, "images": IMAGES, "steps": STEPS,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "forward_backward_ms": round(1e3 * ref_wall, 2),
        "ratio": round(wall / ref_wall, 1), "cpu_ratio": round(cpu / ref_cpu, 1),
        "per_step_ratio": round(wall / ref_wall / STEPS, 2), "goal_s": GOAL_S, "ok": wall <= GOAL_S,
        "final_objective": round(float(found["v"].final.mean()), 2),
    }


def big_analysis(name: str, device: str, real: Path) -> Analysis:
    """An analysis of a 224 px network with a few probe images (for the colour statistics)."""
    if name == "resnet50":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_real_scale import build_model

        shapes = load_shapes("test", n=32)
        x = F.interpolate(shapes.images, size=224, mode="bilinear", align_corners=False)
        return Analysis(build_model(torch.device(device)), (x, shapes.labels), layers=["layer4.2.conv3"],
                        class_names=[f"class {i}" for i in range(1000)], device=device, progress=False)
    sys.path.insert(0, str(real))
    import real_models

    folder = load_image_folder(real_models.IMAGENET_VAL650, size=224, resize=227, mean=[127 / 255] * 3,
                               std=[128 / 255] * 3, classes=real_models.imagenet_classes()[0])
    return Analysis(real_models.imagenet_efficientnet_lite0(), folder, layers=["_blocks.15"], device=device,
                    progress=False)


def bench_big(name: str, device: str, steps: int, repeats: int, real: Path) -> dict[str, Any]:
    an = big_analysis(name, device, real)
    unit = ("logit", 0)
    visualise(an, unit, images=IMAGES, steps=1)  # warm-up: the colour statistics
    reference = forward_backward(an.model, torch.rand(IMAGES, 3, 224, 224, device=an.device))
    reference()
    short, long, ref = [], [], []
    for _ in range(repeats):
        short.append(timed(lambda: visualise(an, unit, images=IMAGES, steps=steps)))
        long.append(timed(lambda: visualise(an, unit, images=IMAGES, steps=2 * steps)))
        ref.append(median([timed(reference) for _ in range(3)]))
    (short_wall, short_cpu), (long_wall, long_cpu), (ref_wall, ref_cpu) = median(short), median(long), median(ref)
    step_wall, step_cpu = (long_wall - short_wall) / steps, (long_cpu - short_cpu) / steps
    fixed = short_wall - steps * step_wall
    return {
        "network": name, "unit": "logit of class 0", "size": 224, "images": IMAGES,
        f"wall_s_{steps}_steps": round(short_wall, 2), f"wall_s_{2 * steps}_steps": round(long_wall, 2),
        "step_s": round(step_wall, 3), "fixed_s": round(fixed, 2), "forward_backward_s": round(ref_wall, 3),
        "per_step_ratio": round(step_wall / ref_wall, 2), "per_step_cpu_ratio": round(step_cpu / ref_cpu, 2),
        f"extrapolated_{STEPS}_steps_s": round(fixed + STEPS * step_wall, 1),
        f"proportional_{STEPS}_steps_s": round(STEPS * long_wall / (2 * steps), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch compute threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the timings (medians)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--big", nargs="*", choices=["resnet50", "efficientnet-lite0"], default=[],
                        help="also time these 224 px networks (extrapolated to 256 steps)")
    parser.add_argument("--big-steps", type=int, default=8, help="steps timed on a big network (and twice as many)")
    parser.add_argument("--real", type=Path, default=REAL, help="the shared folder of real models (EfficientNet-Lite0)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rows = [bench_shapes(args.device, args.repeats)]
    rows += [bench_big(name, args.device, args.big_steps, args.repeats, args.real) for name in args.big]
    print(json.dumps({"device": args.device, "threads": torch.get_num_threads(), "rows": rows}, indent=1))
    print(f"\n{'network':<20}{'size':>6}{'steps':>8}{'wall s':>10}{'per step / (fwd+bwd)':>24}")
    for row in rows:
        wall = row.get("wall_s", row.get(f"extrapolated_{STEPS}_steps_s"))
        note = "" if "wall_s" in row else " (extrapolated)"
        print(f"{row['network']:<20}{row['size']:>6}{STEPS:>8}{wall:>10}{row['per_step_ratio']:>24}{note}")


if __name__ == "__main__":
    main()
