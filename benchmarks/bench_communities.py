"""Slider latency of community detection, and the cost of one importance test.

    python benchmarks/bench_communities.py [--sizes 2048 8192 26560] [--profiles synthetic real]
        [--steps 25] [--images 256] [--cache-dir DIR]

For each kind of profile and size M, in a child process of its own (so that its peak
memory is its own): the neighbour search (blocked top-k, no M x M matrix) and each
method's first call (its graph, dendrogram or embedding: "first"), then the method
re-run for a sequence of new slider values; wall and process CPU time per step, median
and p95, and the peak resident memory above the profiles (cumulative in the order
Louvain, Leiden, spectral, agglomerative; 0: within the process's start-up peak). A
method refused at that size says so. Profiles:

- synthetic: planted groups (2,000 images, M neurons in M/16 groups plus noise);
- real: a ResNet-50 (random weights) over 256 shipped shapes upscaled to 224 px
  (benchmarks/_resnet_profiles.py): layer4.2.conv3 (2,048), the four 2,048-channel
  outputs of layer4 (8,192), every Conv2d (26,560).

Then, on shapes-cnn, one community's importance test (the
community + 20 random sets ablated) is timed against one plain forward pass over all
probe images (goal: <= 5x) and over the images tested, for the widget's setting
(images=512) and for all images, and against the same ablations in one ablate_many
call ("one chunk": what the test costs without its progression).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _resnet_profiles import resnet50_profiles

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.engine.runner import chunks
from innersight_widgets.innersightnet.aggregation import Aggregator
from innersight_widgets.innersightnet.neurons import build_neuron_set

SLIDERS = {
    "agglomerative": ("threshold", np.linspace(0.3, 1.2, 10)),
    "louvain": ("resolution", np.geomspace(0.3, 3.0, 10)),
    "leiden": ("resolution", np.geomspace(0.3, 3.0, 10)),
    "spectral": ("n_communities", np.arange(4, 14)),
}


def synthetic_profiles(m: int, n: int = 2000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, max(2, m // 16), size=m)
    latent = rng.gamma(2.0, 1.0, size=(n, groups.max() + 1))
    return np.maximum(latent[:, groups] + rng.normal(0, 1.0, size=(n, m)), 0).astype(np.float32)


def slider_steps(aggregator: Aggregator, method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall and CPU milliseconds of ``steps`` re-clusterings at new slider values."""
    name, values = SLIDERS[method]
    wall, cpu = [], []
    for i in range(steps):
        value = values[i % len(values)]
        value = int(value) if name == "n_communities" else float(value)
        w, c = timed(aggregator.communities, method, {name: value}, seed=0, stability_runs=0)
        wall.append(w)
        cpu.append(c)
    return np.array(wall) * 1000, np.array(cpu) * 1000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def profiles_file(kind: str, m: int, images: int, cache_dir: Path, device: torch.device) -> Path:
    """The profiles of one kind and size in an .npz (made once), so that a child's peak
    memory before clustering is the profiles' own, not what made them."""
    path = cache_dir / f"profiles-{kind}-{m}-{images}.npz"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        made = {"synthetic": synthetic_profiles(m)} if kind == "synthetic" else resnet50_profiles(m, images, cache_dir, device)
        np.savez(path, **made)
    return path


def bench_size(path: Path, kind: str, steps: int, device: torch.device) -> list[dict]:
    """One child's work: the rows of the profiles in ``path``."""
    with np.load(path) as stored:
        profiles = {layer: stored[layer] for layer in stored.files}
    base = peak_rss_mib()
    neighbours = timed(lambda: Aggregator(build_neuron_set(profiles, device)).neurons.neighbours())
    aggregator = Aggregator(build_neuron_set(profiles, device))
    aggregator.neurons.neighbours()
    rows = []
    # The peak only grows: the sparse-graph methods first, so that their rows show their own.
    for method in ("louvain", "leiden", "spectral", "agglomerative"):
        row = {"profiles": kind, "neurons": sum(p.shape[1] for p in profiles.values()), "method": method,
               "neighbours_s": round(neighbours[0], 2)}
        try:
            first = timed(aggregator.communities, method, {}, seed=0, stability_runs=0)
        except ValueError as refused:
            rows.append(row | {"refused": str(refused)})
            print(json.dumps(rows[-1]), flush=True)
            continue
        wall, cpu = slider_steps(aggregator, method, steps)
        rows.append(row | {
            "first_s": round(first[0], 2),
            "first_with_neighbours_s": round(first[0] + neighbours[0], 2),
            "step_wall_p50_ms": round(float(np.median(wall)), 2),
            "step_wall_p95_ms": round(float(np.percentile(wall, 95)), 2),
            "step_cpu_p50_ms": round(float(np.median(cpu)), 2),
            "step_cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
            "peak_rss_above_profiles_mib": round(peak_rss_mib() - base, 1),
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_sizes(kinds: list[str], sizes: list[int], args: argparse.Namespace) -> list[dict]:
    """Each (kind, size) in a child process; their rows."""
    rows = []
    device = torch.device(args.device or "cpu")
    for kind in kinds:
        for m in sizes:
            path = profiles_file(kind, m, args.images, args.cache_dir, device)
            command = [sys.executable, __file__, "--child", kind, str(path), "--steps", str(args.steps)]
            if args.device:
                command += ["--device", args.device]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            for row in rows[-len(SLIDERS):]:
                print(json.dumps(row), flush=True)
    return rows


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float]:
    """Wall and process CPU seconds of one call of ``fn(*args, **kwargs)``. On a shared
    machine the CPU time is the steadier measure of the work: other processes stretch
    the wall time, not the CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def plain_forward(an: Analysis, indices: np.ndarray) -> None:
    """The model alone (no hooks) over the probe images at ``indices``, a batch at a time."""
    with torch.inference_mode():
        for rows in chunks(len(indices), an.batch_size):
            an.model(an.images(indices[rows]).to(an.device))


def bench_importance(device: torch.device, draws: int = 20, sample: int = 512, repeats: int = 3) -> list[dict]:
    """One community's importance test against plain forward passes, for a community of
    the last block (only the head above it) and of the middle block, on ``sample`` images
    (the widget's setting) and on all 2,000.

    The test runs as a widget runs it (:meth:`CommunityReport.importance`: the community
    alone, then the random sets in groups, each followed by a partial result); "one
    chunk" is one ``ablate_many`` of the community and ``draws`` random sets of the same
    sizes on the same number of images, what the test would cost without its
    progression. Medians of ``repeats`` rounds, the measurements interleaved within a
    round so that a change of load hits them alike; ratios of wall times and, in
    ``cpu_ratios``, of process CPU times. Each test gets a fresh report, so
    nothing is cached but the analysis's pass and its widening verdict (kept after the
    warm-up, as after a widget's first click).
    """
    model = load_pretrained("shapes-cnn")
    data = load_shapes("test")
    every = np.arange(len(data))
    rows = []
    for layer in ("layer3", "layer2"):
        an = Analysis(model, data, layers=[layer], device=device, progress=False)
        communities = an.communities(layer, "louvain", stability_runs=0)
        spec = communities.spec(0)
        rng = np.random.default_rng(0)
        nulls = [
            {name: rng.choice(an.layer_info(name).num_neurons, len(idx), replace=False) for name, idx in spec.items()}
            for _ in range(draws)
        ]
        plain_forward(an, every)  # warm-up
        an.evaluate(communities).importance(0, draws=draws, images=sample)
        for images in (sample, None):
            tested = every if images is None else np.sort(rng.choice(len(data), images, replace=False))
            times: dict[str, list[tuple[float, float]]] = {
                "forward_all": [], "forward_tested": [], "importance": [], "one_chunk": []
            }
            for _ in range(repeats):
                times["forward_all"].append(timed(plain_forward, an, every))
                times["forward_tested"].append(timed(plain_forward, an, tested))
                times["importance"].append(timed(an.evaluate(communities).importance, 0, draws=draws, images=images))
                times["one_chunk"].append(timed(an.ablate_many, [spec, *nulls], images=None if images is None else tested))
            median = {name: float(np.median([wall for wall, _ in t])) for name, t in times.items()}
            cpu = {name: float(np.median([c for _, c in t])) for name, t in times.items()}
            partials: list = []
            result = an.evaluate(communities).importance(0, draws=draws, images=images, on_partial=partials.append)
            rows.append({
                "layer": layer,
                "images": result.images,
                "draws": draws,
                "partial_draws": [len(p.null_drops) for p in partials],
                "importance_s": round(median["importance"], 3),
                "one_chunk_s": round(median["one_chunk"], 3),
                "importance_over_one_chunk": round(median["importance"] / median["one_chunk"], 2),
                "forward_all_s": round(median["forward_all"], 3),
                "forward_tested_s": round(median["forward_tested"], 3),
                "ratio_to_forward_all": round(median["importance"] / median["forward_all"], 2),
                "ratio_to_forward_tested": round(median["importance"] / median["forward_tested"], 2),
                "one_chunk_ratio_to_forward_all": round(median["one_chunk"] / median["forward_all"], 2),
                "cpu_ratios": {
                    "to_forward_all": round(cpu["importance"] / cpu["forward_all"], 2),
                    "to_forward_tested": round(cpu["importance"] / cpu["forward_tested"], 2),
                    "importance_over_one_chunk": round(cpu["importance"] / cpu["one_chunk"], 2),
                    "one_chunk_to_forward_all": round(cpu["one_chunk"] / cpu["forward_all"], 2),
                },
                "accuracy_drop": round(result.accuracy_drop, 4),
                "p_value": round(result.p_value, 4),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[2048, 8192, 26560], help="neuron counts; none: only the importance test")
    parser.add_argument("--profiles", nargs="+", choices=["synthetic", "real"], default=["synthetic", "real"])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--images", type=int, default=256, help="probe images of the real profiles")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "innersight-bench-resnet50",
                        help="where the ResNet-50 pass is cached between runs")
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the importance timings (medians)")
    parser.add_argument("--no-importance", action="store_true", help="only the slider steps")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from innersight_widgets.engine._device import resolve_device

    device = resolve_device(args.device)
    if args.child:
        bench_size(Path(args.child[1]), args.child[0], args.steps, device)
        return
    bench_sizes(args.profiles, args.sizes, args)
    if not args.no_importance:
        print(json.dumps({"importance": bench_importance(device, repeats=args.repeats)}))


if __name__ == "__main__":
    main()
