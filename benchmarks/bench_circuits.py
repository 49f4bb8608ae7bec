"""build_circuit against a straightforward per-neuron loop, same model, class and settings.

    python benchmarks/bench_circuits.py [--class star] [--tau 16] [--top-k 50] [--steps 32] [--images 48] [--repeat 3]
                                        [--score abs_mean|mean_abs]

The reference search has the reference implementation's structure: top-down from the
class logit, for each core neuron in turn, and for each IG step in turn, one forward and
backward of that neuron's top-k crops through the whole model (the per-step IG is
tests/_reference.py's, which the tests hold the batched IG against). Both score inputs by
``--score`` (build_circuit's default, the authors' |spatial mean of IG|, unless given)
and select the top tau inputs per neuron; reported: the times of the reference core
search and of the full build_circuit (core search plus crops, concepts, groups and labels,
so the ratio is conservative), each run ``--repeat`` times in turn, the ratio of their
medians and of their minima, and the Jaccard overlap of the core sets per layer.
Not timed: the analysis's streaming pass over the probe images (done once, shared by every
method) and one small warm-up call of each.

--width W swaps the shipped model for a ShapesResNet W channels wide (16 shipped) with
random weights, for a larger model (e.g. on a GPU: --device cuda --width 128).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from innersight_widgets import Analysis, build_circuit, load_pretrained, load_shapes
from innersight_widgets.models import ShapesResNet
from innersight_widgets.neurflow.circuits import _crops, _pooled

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' per-step IG
from _reference import reference_ig

LAYERS = ["layer3", "layer2", "layer1"]


def reference_core(an, crops, target, layers, tau, top_k, steps, score):
    vectors = _pooled(an, crops, layers, logits=True)
    logits = vectors.pop("logit")[:, target]
    core, targets, upper = {}, [target], None
    for layer in layers:
        chosen = set()
        for u in targets:
            activity = logits if upper is None else vectors[upper][:, u]
            top = np.argsort(-activity, kind="stable")[:top_k]
            scores = reference_ig(an.model, crops[top].to(an.device), layer, upper, u, steps, score).mean(0)
            chosen |= set(np.argsort(-scores, kind="stable")[:tau].tolist())
        core[layer] = sorted(chosen)
        targets, upper = core[layer], layer
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class", dest="target", default="star")
    parser.add_argument("--tau", type=int, default=16)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--score", choices=["abs_mean", "mean_abs"], default="abs_mean")
    parser.add_argument("--device", default=None)
    parser.add_argument("--width", type=int, default=None,
                        help="a ShapesResNet this wide with random weights instead of the shipped shapes-cnn (width 16)")
    args = parser.parse_args()
    if args.width is None:
        model = load_pretrained("shapes-cnn")
    else:
        torch.manual_seed(0)
        model = ShapesResNet(4, args.width).eval()
    an = Analysis(model, load_shapes("test"), layers=LAYERS, device=args.device, progress=False)
    c = an.data.class_names.index(args.target)
    # untimed: the analysis's streaming pass (shared by every method, cached on disk), and a
    # warm-up of both searches, whose first calls pay one-off library set-up
    an.profiles(LAYERS[0])
    build_circuit(an, c, LAYERS, tau=2, top_k=4, ig_steps=2, max_images=2)
    reference_core(an, _crops(an.images([0]), (1.0,))[0], c, LAYERS, 2, 4, 2, args.score)

    members = np.flatnonzero(an.labels == c)
    chosen = members[np.linspace(0, members.size - 1, min(args.images, members.size)).round().astype(int)]
    crops, _ = _crops(an.images(chosen), (1.0, 0.5, 0.25))
    ours, loop = [], []
    for _ in range(args.repeat):  # interleaved, so that a slow spell of the machine hits both
        t = time.perf_counter()
        circuit = build_circuit(
            an, c, LAYERS, tau=args.tau, top_k=args.top_k, ig_steps=args.steps, max_images=args.images, score=args.score
        )
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        reference = reference_core(an, crops, c, LAYERS, args.tau, args.top_k, args.steps, args.score)
        loop.append(time.perf_counter() - t)

    jaccard = {
        layer: round(len(set(circuit.core[layer]) & set(reference[layer])) / len(set(circuit.core[layer]) | set(reference[layer])), 3)
        for layer in LAYERS
    }
    print(json.dumps({
        "device": str(an.device),
        "model": "shapes-cnn" if args.width is None else f"ShapesResNet width {args.width}, random weights",
        "crops": len(crops),
        "score": args.score,
        "core_sizes": {layer: len(v) for layer, v in circuit.core.items()},
        "repeats": args.repeat,
        "reference_core_search_s": [round(v, 2) for v in loop],
        "build_circuit_s": [round(v, 2) for v in ours],
        "speedup_of_medians": round(float(np.median(loop) / np.median(ours)), 2),
        "speedup_of_minima": round(min(loop) / min(ours), 2),
        "jaccard": jaccard,
    }, indent=2))


if __name__ == "__main__":
    main()
