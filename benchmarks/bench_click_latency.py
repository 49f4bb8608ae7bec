"""How fast a click in CommunityExplorer is answered, on a real network's 2,048 channels.

    python benchmarks/bench_click_latency.py [--images 256] [--clicks 5] [--layer layer4.2]
        [--device cpu] [--folder DIR]

A randomly initialised ResNet-50 (the same as ``bench_real_scale.py``, its head cut to
the folder's 4 classes as a user's fine-tuned model would be) probes a folder of 224x224
JPEGs; the explorer shows the communities of ``--layer`` (default ``layer4.2``, the last
block's output, 2,048 channels; ``layer4.2.conv3`` is a conv inside that block, whose
output meets the block's shortcut) with its defaults (20 random sets, at most 512 images in the importance test). For each
click on a community (the largest ``--clicks`` ones, in order) it measures, from the
click (a front-end message of the ``selected`` trait):

- details: until the details panel (top images, receptive-field patches, selectivity,
  coherence, labels) and its pictures are applied;
- own drop: until the importance test's first partial result (the community alone);
- importance: until the test has all its random sets.

The baseline, in the same run, is one plain forward pass (``model(x)`` in inference
mode) over the images the importance test uses: the test's cost is reported as a ratio
to it (goal: at most 5). The details latency is a wall-clock figure (goal: 300 ms).
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_real_scale import build_model, prepare_folder

from innersight_widgets import Analysis
from innersight_widgets.data.folder import load_image_folder
from innersight_widgets.engine._device import resolve_device
from innersight_widgets.widgets import CommunityExplorer


def until(condition, timeout: float = 600.0) -> float:
    """Seconds until ``condition()`` holds (polled every millisecond)."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("the explorer did not answer")
        time.sleep(0.001)
    return time.perf_counter() - start


def plain_forward(model: torch.nn.Module, an: Analysis, indices: list[int]) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for _, x, _ in an.data.batches(an.batch_size, indices=indices):
            model(x.to(an.device))
    if an.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--layer", default="layer4.2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "innersight-bench-folder")
    args = parser.parse_args()
    device = resolve_device(args.device)
    folder = load_image_folder(prepare_folder(args.folder, args.images), size=224)
    model = build_model(device)
    model.fc = torch.nn.Linear(model.fc.in_features, len(folder.class_names)).to(device).eval()  # fine-tuned to 4 classes
    an = Analysis(model, folder, layers=[args.layer], device=device, batch_size=args.batch_size, progress=False)
    start = time.perf_counter()
    an.predictions  # the probe pass, once
    pass_s = time.perf_counter() - start

    start = time.perf_counter()
    # the feature panel comes after the importance test and is timed by bench_visualise.py: off here,
    # so that "importance s" stays the click-to-importance time
    explorer = CommunityExplorer(an, layers=args.layer, debounce=0.0, feature_steps=0)
    explorer.wait(timeout=1200)
    partition_s = time.perf_counter() - start
    k = explorer.communities.num_communities
    rows = []
    for c in range(min(args.clicks, k)):
        view = explorer.view
        start = time.perf_counter()
        view.set_state({"selected": c})
        details_s = until(lambda: view.details.get("community") == c and view.thumbnails.get("owner") == view.details["owner"])
        own_s = until(lambda: view.details.get("importance") is not None)
        explorer.wait(timeout=1200)
        total_s = time.perf_counter() - start
        imp = view.details["importance"]
        rows.append({"community": c, "size": view.details["size"], "details_s": details_s,
                     "own_drop_s": details_s + own_s, "importance_s": total_s, "images": imp["images"]})
        view.set_state({"selected": -1})

    indices = list(range(min(len(an.data), rows[0]["images"]))) if rows else []
    forward_s = min(plain_forward(model, an, indices) for _ in range(2))
    print(f"{args.layer}: {an.layer_info(args.layer).num_neurons} channels, {len(an.data)} images, {k} communities; "
          f"probe pass {pass_s:.1f} s, first partition (with receptive fields) {partition_s:.1f} s; "
          f"plain forward over {len(indices)} images {forward_s:.2f} s")
    print(f"{'community':>9} {'size':>5} {'details ms':>10} {'own drop s':>10} {'importance s':>12} {'x forward':>9}")
    for r in rows:
        print(f"{r['community']:>9} {r['size']:>5} {1000 * r['details_s']:>10.0f} {r['own_drop_s']:>10.2f} "
              f"{r['importance_s']:>12.2f} {r['importance_s'] / forward_s:>9.2f}")
    summary = {
        "device": str(device), "layer": args.layer, "images": len(an.data), "communities": k,
        "details_ms_median": 1000 * statistics.median(r["details_s"] for r in rows),
        "details_ms_max": 1000 * max(r["details_s"] for r in rows),
        "importance_over_forward_median": statistics.median(r["importance_s"] / forward_s for r in rows),
        "forward_s": forward_s, "partition_s": partition_s, "rows": rows,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
