"""Slider-to-update latency of CommunityExplorer, Python side, against the core step alone.

    python benchmarks/bench_explorer_latency.py [--sizes 256 2048 8192] [--steps 15]

A synthetic model (one hidden layer of M neurons in planted groups over 2,000 random
images) is analysed; the explorer is built with no debounce, and for each new slider
value the time from the trait change to the new state (graph sent, status idle) is
measured. The baseline in the same run is ``Analysis.communities`` for the same value.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from innersight_widgets import Analysis
from innersight_widgets.widgets import CommunityExplorer

VALUES = {"louvain": np.geomspace(0.3, 3.0, 8), "agglomerative": np.linspace(0.3, 1.2, 8)}


def synthetic_analysis(m: int, n: int = 2000, seed: int = 0) -> Analysis:
    g = torch.Generator().manual_seed(seed)
    groups = torch.randint(0, max(2, m // 16), (m,), generator=g)
    centres = torch.randn(int(groups.max()) + 1, 3 * 8 * 8, generator=g)
    hidden = nn.Linear(3 * 8 * 8, m)
    with torch.no_grad():
        hidden.weight.copy_(centres[groups] + 0.8 * torch.randn(m, 3 * 8 * 8, generator=g))
    model = nn.Sequential(nn.Flatten(), hidden, nn.ReLU(), nn.Linear(m, 4)).eval()
    images = torch.randn(n, 3, 8, 8, generator=g)
    labels = torch.randint(0, 4, (n,), generator=g)
    return Analysis(model, (images, labels), layers=["2"], progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048, 8192])
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    for m in args.sizes:
        an = synthetic_analysis(m)
        for method, values in VALUES.items():
            explorer = CommunityExplorer(an, layers="2", method=method, debounce=0.0)
            explorer.wait()
            name = "resolution" if method == "louvain" else "threshold"
            widget, core = [], []
            for i in range(args.steps):
                value = float(values[i % len(values)])
                t = time.perf_counter()
                explorer.parameter.value = value
                explorer.wait()
                widget.append(time.perf_counter() - t)
                assert 'data-kind="idle"' in explorer.status.value, explorer.status.value
                t = time.perf_counter()
                an.communities("2", method, stability_runs=0, **{name: explorer.current_params()[name]})
                core.append(time.perf_counter() - t)
            widget_ms, core_ms = np.array(widget) * 1000, np.array(core) * 1000
            print(json.dumps({
                "neurons": m,
                "method": method,
                "widget_median_ms": round(float(np.median(widget_ms)), 1),
                "widget_p95_ms": round(float(np.percentile(widget_ms, 95)), 1),
                "core_median_ms": round(float(np.median(core_ms)), 2),
                "widget_over_core": round(float(np.median(widget_ms) / np.median(core_ms)), 1),
            }), flush=True)


if __name__ == "__main__":
    main()
