"""Hub images and untrustworthy partitions on a real network: EfficientNet-Lite0 over 650
ImageNet validation photos (../shared/real, never needed by the package or its tests).

    python benchmarks/bench_hub_images.py [--cache-dir /tmp/innersight-hub-images] [--shown 4]

Run it from the repository root. It needs the package ``efficientnet_lite_pytorch``; if it is
missing, install it from the wheel beside the weights:
``pip install ../shared/real/weights/efficientnet_lite0/efficientnet_lite_pytorch-0.1.0-py3-none-any.whl``.
The probe pass over the 650 photos at 224 px takes a minute or two on 2 CPU cores, once:
it is cached in ``--cache-dir``.

For the widest layer (``_conv_head``, 1,280 channels) and a middle block (``_blocks.11``,
192 channels), Louvain with the default parameters (``an.communities(layer)``: resolution
1.0, k = 10 neighbours, min_corr = 0.0, seed 0, 3 stability runs), then for the top 8 images
of each of the 8 largest communities (all of them when there are fewer), by three rankings:

- plain: the community score (``CommunityReport.scores``);
- specific: ``CommunityReport.specific_scores``, the default of ``top_images`` (the score's
  least-squares residual on the layer's drive, the mean z-score of its living neurons);
- minus drive: the score minus the drive (slope fixed at 1), the simpler alternative the
  specific score was chosen over (docs/methods.md, section 3.4);
- random: seeded random scores, the chance level of each figure.

Reported per ranking: the share of distinct images among those top images, how many of the
communities the most shared image tops, and, for coherence, the mean share of a
community's top images in its most common ImageNet class and in its most common coarse
group (:data:`GROUPS`, runs of the classes' WordNet order), with the classes of the first
``--shown`` communities' top images; and how much the communities follow the layer's drive
(the correlation of each one's score with it). Goals for ``_conv_head`` with the specific
ranking: at least 75% distinct, no image in more than 3 communities. Also: each partition's
stability and the ``UnreliablePartitionWarning`` messages ``an.communities`` gives.

Then the calibration of the stability threshold (0.5): Louvain's stability (default
parameters) on profiles of pure noise (no community to find; several sizes, 5 seeds each)
and on every layer the shipped shapes models' tests partition (``--no-calibration`` skips it).

Prints a table, then the results as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from innersight_widgets import Analysis, load_pretrained, load_shapes
from innersight_widgets.data.folder import load_image_folder
from innersight_widgets.innersightnet import (
    Aggregator,
    CommunityReport,
    UnreliablePartitionWarning,
    build_neuron_set,
)

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
LAYERS = ("_blocks.11", "_conv_head")
TOP = 8  # images per community
LARGEST = 8  # communities compared
GOAL_DISTINCT = 0.75
GOAL_MOST_SHARED = 3
# Noise profiles (images, neurons) and shipped models (model, probe images, layers) whose
# Louvain stability calibrates the threshold.
NOISE_SIZES = ((300, 40), (300, 150), (600, 300), (1000, 64))
NOISE_SEEDS = 5
SHIPPED = (("shapes-cnn", 1000, ("layer2", "layer3")), ("shapes-spurious-cnn", 400, ("layer1", "layer2", "layer3")))
#: Coarse groups of the 1,000 ImageNet classes: runs of their indices (the classes follow
#: WordNet's order, so each run is one branch), checked against the class names.
GROUPS = {
    "fish": [(0, 6), (389, 397)],
    "bird": [(7, 24), (80, 100), (127, 146)],
    "amphibian or reptile": [(25, 68)],
    "invertebrate": [(69, 79), (107, 126), (300, 329)],
    "dog": [(151, 268)],
    "other mammal": [(101, 106), (147, 150), (269, 299), (330, 388)],
    "artefact": [(398, 923), (999, 999)],
    "food": [(924, 969)],
    "landscape": [(970, 980)],
    "person, plant or fungus": [(981, 998)],
}


def group_of_classes() -> np.ndarray:
    """1,000: the index of each class's group in :data:`GROUPS`."""
    out = np.full(1000, -1)
    for g, runs in enumerate(GROUPS.values()):
        for first, last in runs:
            out[first: last + 1] = g
    assert (out >= 0).all(), "every class belongs to a group"
    return out


def rankings(an: Analysis, layer: str, report: CommunityReport) -> dict[str, np.ndarray]:
    """The N x K scores each ranking orders the images by (random ones: chance)."""
    neurons = an.neuron_set(layer)
    drive = neurons.z[:, ~neurons.dead].mean(1)
    return {
        "plain": report.image_scores("plain"),
        "specific": report.image_scores("specific"),
        "minus drive": report.scores - drive[:, None],
        "random": np.random.default_rng(0).random(report.scores.shape),
    }


def measure(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str], shown: int) -> dict[str, Any]:
    """The figures of one ranking over the ``LARGEST`` largest communities (numbered by size)."""
    communities = range(min(LARGEST, scores.shape[1]))
    tops = [np.argsort(-scores[:, c], kind="stable")[:TOP] for c in communities]
    counts = Counter(int(i) for top in tops for i in top)
    return {
        "communities": len(tops),
        "distinct": len(counts) / sum(len(top) for top in tops),
        "most_shared": max(counts.values()),
        "class_share": float(np.mean([Counter(labels[top]).most_common(1)[0][1] / len(top) for top in tops])),
        "group_share": float(np.mean([Counter(groups[labels[top]]).most_common(1)[0][1] / len(top) for top in tops])),
        "classes": [[names[labels[i]] for i in top] for top in tops[:shown]],
    }


def drive_correlations(an: Analysis, layer: str, report: CommunityReport) -> list[float]:
    """The correlation of each of the ``LARGEST`` largest communities' score with the layer's drive."""
    neurons = an.neuron_set(layer)
    drive = neurons.z[:, ~neurons.dead].mean(1)
    return [float(np.corrcoef(report.scores[:, c], drive)[0, 1]) for c in range(min(LARGEST, report.num_communities))]


def calibration() -> dict[str, Any]:
    """Louvain's stability (default parameters, 3 re-runs) where there is nothing to find
    (noise) and where the shipped models' tests find communities."""
    noise = {}
    for images, neurons in NOISE_SIZES:
        values = []
        for seed in range(NOISE_SEEDS):
            profiles = np.random.default_rng(seed).normal(size=(images, neurons)).astype(np.float32)
            aggregator = Aggregator(build_neuron_set({"noise": profiles}, torch.device("cpu")))
            values.append(aggregator.communities("louvain", {}, seed=0, stability_runs=3).stability)
        noise[f"{images} images x {neurons} neurons"] = values
        print(f"  noise, {images} images x {neurons} neurons: {', '.join(f'{v:.2f}' for v in values)}")
    shipped = {}
    for name, images, layers in SHIPPED:
        an = Analysis(load_pretrained(name), load_shapes("test", n=images), layers=list(layers), progress=False)
        for layer in layers:
            shipped[f"{name} {layer}"] = an.communities(layer, warn=False).stability
            print(f"  {name} over {images} images, {layer}: {shipped[f'{name} {layer}']:.2f}")
    return {"noise": noise, "shipped": shipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", default="/tmp/innersight-hub-images", help="where the probe pass is cached")
    parser.add_argument("--shown", type=int, default=4, help="communities whose top images' classes are printed")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-calibration", action="store_true", help="skip the stability calibration")
    args = parser.parse_args()

    sys.path.insert(0, str(REAL))
    from real_models import IMAGENET_VAL650, imagenet_classes, imagenet_efficientnet_lite0

    try:
        model = imagenet_efficientnet_lite0()
    except ImportError as error:
        wheel = REAL / "weights" / "efficientnet_lite0" / "efficientnet_lite_pytorch-0.1.0-py3-none-any.whl"
        raise SystemExit(f"EfficientNet-Lite0 needs its package ({error}); install it with: pip install {wheel}") from None
    folders, names = imagenet_classes()
    data = load_image_folder(IMAGENET_VAL650, size=224, resize=227, mean=[127 / 255] * 3, std=[128 / 255] * 3, classes=folders)
    started = time.perf_counter()
    an = Analysis(model, data, layers=list(LAYERS), cache_dir=args.cache_dir, batch_size=args.batch_size, progress=False)
    labels = np.asarray(an.labels)
    print(f"probe pass (or cache) over {len(data)} photos: {time.perf_counter() - started:.1f} s; "
          f"top-1 accuracy {an.predictions.accuracy:.3f}")
    groups = group_of_classes()
    results: dict[str, Any] = {}
    for layer in LAYERS:
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnreliablePartitionWarning)
            communities = an.communities(layer)  # Louvain, resolution 1.0, k 10, min_corr 0.0, seed 0, 3 runs
        said = [str(w.message) for w in caught if issubclass(w.category, UnreliablePartitionWarning)]
        report = an.evaluate(communities)
        figures = {name: measure(s, labels, groups, names, args.shown) for name, s in rankings(an, layer, report).items()}
        results[layer] = {
            "neurons": len(communities.neurons),
            "dead": len(communities.dead),
            "communities": communities.num_communities,
            "sizes": communities.sizes[:LARGEST].tolist(),
            "stability": communities.stability,
            "warnings": said,
            "seconds": time.perf_counter() - started,
            "rankings": figures,
            "drive_correlation": drive_correlations(an, layer, report),
        }
        print(f"\n{layer}: {len(communities.neurons)} channels ({len(communities.dead)} dead), "
              f"{communities.num_communities} Louvain communities (largest {communities.sizes[:LARGEST].tolist()}), "
              f"stability {communities.stability:.2f} over 3 re-runs")
        for message in said:
            print(f"  UnreliablePartitionWarning: {message}")
        correlations = results[layer]["drive_correlation"]
        print(f"  scores' correlation with the layer's drive: {min(correlations):.2f} to {max(correlations):.2f}")
        print(f"  {'ranking':12s} {'distinct':>8s} {'most shared':>11s} {'top class':>9s} {'top group':>9s}")
        for name, f in figures.items():
            print(f"  {name:12s} {f['distinct']:8.2f} {f['most_shared']:11d} {f['class_share']:9.2f} {f['group_share']:9.2f}")
        for name in ("plain", "specific"):
            for c, classes in enumerate(figures[name]["classes"]):
                print(f"  {name} c{c}: {', '.join(classes)}")
    head = results["_conv_head"]["rankings"]["specific"]
    met = head["distinct"] >= GOAL_DISTINCT and head["most_shared"] <= GOAL_MOST_SHARED
    print(f"\ngoal (_conv_head, specific: >= {GOAL_DISTINCT:.0%} distinct, no image in more than {GOAL_MOST_SHARED}): "
          f"{head['distinct']:.0%} distinct, most shared image in {head['most_shared']}: {'met' if met else 'NOT met'}")
    calibrated = None
    if not args.no_calibration:
        print("\nLouvain's stability (default parameters, 3 re-runs), to calibrate the threshold 0.5:")
        calibrated = calibration()
    print(json.dumps({"layers": results, "goal_met": met, "calibration": calibrated}))


if __name__ == "__main__":
    main()
