"""Slider-to-update latency of CommunityExplorer, Python side, against the core step alone.

    python benchmarks/bench_explorer_latency.py [--sizes 2048 8192] [--profiles synthetic real vit]
        [--steps 15] [--cache-dir DIR]

Profiles: a synthetic model (one hidden layer of M neurons in planted groups over 2,000
random images), and a ResNet-50 (random weights) over 256 shipped shapes upscaled to 224
px with the layers of about M neurons (benchmarks/_resnet_profiles.py); and ("vit") the
shipped vision transformer over the 2,000 shapes test images, on its widest token layer (an
MLP's hidden layer, 128 neurons over the 8 x 8 patch grid), whatever --sizes says. The explorer is
built with no debounce, and for each new slider value the time from the trait change to
the new graph sent to the front end is measured, wall and process CPU, median and p95
(the work that follows the drawing, such as the stability runs, is waited for between
steps and not counted). The baseline in the same run is ``Analysis.communities`` for the same value.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _resnet_profiles import SELECTIONS, resnet50_analysis
from torch import nn

from innersight_widgets import Analysis, load_pretrained, load_shapes
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


def bench(an: Analysis, layers: list[str], kind: str, steps: int) -> None:
    m = sum(an.layer_info(layer).num_neurons for layer in layers)
    for method, values in VALUES.items():
        explorer = CommunityExplorer(an, layers=layers, method=method, debounce=0.0)
        explorer.wait()
        if 'data-kind="error"' in explorer.status.value:  # refused at this size
            print(json.dumps({"profiles": kind, "neurons": m, "method": method, "refused": explorer.status.value}))
            continue
        name = "resolution" if method == "louvain" else "threshold"
        widget, widget_cpu, core = [], [], []
        sent: list[tuple[float, float]] = []
        explorer.view.observe(lambda _change: sent.append((time.perf_counter(), time.process_time())), names="graph")
        for i in range(steps):
            value = float(values[i % len(values)])
            sent.clear()
            t, c = time.perf_counter(), time.process_time()
            explorer.parameter.value = value
            explorer.wait()  # and whatever follows the drawing (the stability runs)
            # an equal graph (the same partition) is not sent again: then its status is the end
            end = sent[-1] if sent else (time.perf_counter(), time.process_time())
            widget.append(end[0] - t)
            widget_cpu.append(end[1] - c)
            assert 'data-kind="idle"' in explorer.status.value, explorer.status.value
            t = time.perf_counter()
            an.communities(layers, method, stability_runs=0, **{name: explorer.current_params()[name]})
            core.append(time.perf_counter() - t)
        widget_ms, cpu_ms, core_ms = np.array(widget) * 1000, np.array(widget_cpu) * 1000, np.array(core) * 1000
        print(json.dumps({
            "profiles": kind,
            "neurons": m,
            "method": method,
            "widget_median_ms": round(float(np.median(widget_ms)), 1),
            "widget_p95_ms": round(float(np.percentile(widget_ms, 95)), 1),
            "widget_cpu_median_ms": round(float(np.median(cpu_ms)), 1),
            "widget_cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 1),
            "core_median_ms": round(float(np.median(core_ms)), 2),
            "widget_over_core": round(float(np.median(widget_ms) / np.median(core_ms)), 1),
        }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--profiles", nargs="+", choices=["synthetic", "real", "vit"], default=["synthetic", "real"])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "innersight-bench-resnet50",
                        help="where the ResNet-50 pass is cached between runs")
    args = parser.parse_args()
    for kind in args.profiles:
        if kind == "vit":
            model = load_pretrained("shapes-vit")
            widest = max((i for i in Analysis(model, load_shapes("test", n=2), progress=False).available_layers()
                          if i.grid is not None), key=lambda i: i.num_neurons).name
            bench(Analysis(model, load_shapes("test"), layers=[widest], progress=False), [widest], kind, args.steps)
            continue
        for m in args.sizes:
            if kind == "synthetic":
                bench(synthetic_analysis(m), ["2"], kind, args.steps)
            else:
                an = resnet50_analysis(256, args.cache_dir, torch.device("cpu"))
                bench(an, SELECTIONS[m] or an.layers, kind, args.steps)


if __name__ == "__main__":
    main()
