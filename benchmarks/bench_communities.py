"""Slider latency of community detection, and the cost of one importance test.

    python benchmarks/bench_communities.py [--sizes 256 2048 8192] [--steps 25]

For each size, synthetic profiles with planted groups (2,000 images, M neurons in
M/16 groups plus noise) are prepared once (correlation, neighbour order, dendrogram,
spectral embedding: "prepare"); then each method is re-run for a sequence of new
slider values and the time per step is reported as median and p95, and as a ratio to
the one-time preparation. Then, on shapes-cnn, one community's importance test (the
community + 20 random sets ablated) is timed against one plain forward pass over the
same images.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.core._neurons import build_neuron_set
from innersight_widgets.core.communities import Aggregator

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


def slider_steps(aggregator: Aggregator, method: str, steps: int) -> list[float]:
    name, values = SLIDERS[method]
    times = []
    for i in range(steps):
        value = values[i % len(values)]
        value = int(value) if name == "n_communities" else float(value)
        t = time.perf_counter()
        aggregator.communities(method, {name: value}, seed=0, stability_runs=0)
        times.append(time.perf_counter() - t)
    return times


def bench_sizes(sizes: list[int], steps: int, device: torch.device) -> list[dict]:
    rows = []
    for m in sizes:
        t = time.perf_counter()
        aggregator = Aggregator(build_neuron_set({"synthetic": synthetic_profiles(m)}, device))
        aggregator.neurons.neighbour_order()
        prepare = {"correlation+neighbours": time.perf_counter() - t}
        for method in SLIDERS:
            t = time.perf_counter()
            aggregator.communities(method, {}, seed=0, stability_runs=0)  # builds the method's cache
            prepare[method] = time.perf_counter() - t
            times = np.array(slider_steps(aggregator, method, steps)) * 1000
            rows.append(
                {
                    "neurons": m,
                    "method": method,
                    "prepare_ms": round((prepare["correlation+neighbours"] + prepare[method]) * 1000, 1),
                    "step_median_ms": round(float(np.median(times)), 2),
                    "step_p95_ms": round(float(np.percentile(times, 95)), 2),
                    "step_over_prepare": round(float(np.median(times)) / ((prepare["correlation+neighbours"] + prepare[method]) * 1000), 4),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_importance(device: torch.device, draws: int = 20) -> list[dict]:
    """One community's importance test (the community and ``draws`` random sets ablated)
    against one plain forward pass over the same 2,000 images, for a community of the last
    block (only the head above it) and of the middle block."""
    model = load_pretrained("shapes-cnn")
    data = load_shapes("test")
    rows = []
    for layer in ("layer3", "layer2"):
        an = Analysis(model, data, layers=[layer], device=device, progress=False)
        report = an.evaluate(an.communities(layer, "louvain", stability_runs=0))
        t = time.perf_counter()
        with torch.inference_mode():
            for start in range(0, len(data), an.batch_size):
                an.model(data.images[start : start + an.batch_size].to(device))
        forward = time.perf_counter() - t
        t = time.perf_counter()
        result = report.importance(0, draws=draws)
        importance = time.perf_counter() - t
        rows.append({
            "layer": layer,
            "images": len(data),
            "draws": draws,
            "importance_s": round(importance, 2),
            "forward_s": round(forward, 3),
            "ratio_to_one_forward": round(importance / forward, 1),
            "ablations": draws + 1,
            "p_value": result.p_value,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 2048, 8192], help="neuron counts; none: only the importance test")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    from innersight_widgets.core._device import resolve_device

    device = resolve_device(args.device)
    bench_sizes(args.sizes, args.steps, device)
    print(json.dumps({"importance": bench_importance(device)}))


if __name__ == "__main__":
    main()
