"""What the methods find on networks trained by others, over real photos (../shared/real).

    python benchmarks/validate_real.py [--networks resnet56 resnet20 lenet5 efficientnet-lite0]
        [--real ../shared/real] [--threads 1] [--quick] [--out figures.json]
        [--pass-repeats 1] [--pass-only]

Run it from the repository root. ``--real`` is the shared folder of real models and
images (never needed by the package or its tests); EfficientNet-Lite0 also needs the
package ``efficientnet_lite_pytorch`` (its wheel lies beside the weights). Per network,
with the package's public calls:

- **pass**: the streaming pass (``Analysis(...).predictions``, no cache) against a plain
  ``DataLoader`` forward of the model over the same data and batch size, wall and process
  CPU seconds, plain forward timed first (medians of ``--pass-repeats`` rounds, each with
  a fresh analysis; ``--pass-only`` measures only this);
- **communities**: Louvain on one layer (``an.communities(layer)``, default parameters;
  the last block of the ResNets, ``layer3.8.relu2`` / ``layer3.2.relu2``, LeNet-5's
  hidden ``relu3``, EfficientNet-Lite0's last block ``_blocks.15``), and per community
  from ``an.evaluate``: its two top classes, class selectivity, coherence (mean
  correlation between members, and of members with the layer's other neurons), the share
  of its 16 top images (specific ranking) in its top class; then the ablation
  specificity: every community and 20 random sets of its size (drawn as the importance
  test draws them: uniform without replacement over the layer) zeroed in one
  ``ablate_many`` pass over all probe images (EfficientNet-Lite0: 64 of the photos),
  read as ``Importance.from_ablations``: the accuracy drop and its empirical p, the class
  hit hardest, and the drop of the community's own top class against the random sets'
  drops of that class, with its p;
- **neucept**: ``critical_neurons(an, layer, cls, fdr=0.1)`` and
  ``ablation_comparison`` (the class's accuracy drop when the critical neurons, as many
  most salient ones, and 10 random sets of that size are zeroed);
- **circuit**: ``build_circuit(an, cls, [layer, the layer below])`` with ``tau=8`` and
  ``max_images=12`` (EfficientNet-Lite0: ``tau=2, top_k=10, ig_steps=8, max_images=1``),
  and ``circuit.fidelity(layer, draws=3)`` (change of each core neuron's top crops when
  its core inputs are zeroed, against as many random inputs): fidelity runs the model
  over every crop once per core neuron and draw, so its cost grows with tau x images;
- **debugger**: for the 3 most frequent confusions (EfficientNet-Lite0: 2), ``diagnose`` with the communities
  above as units and ``intervene`` with its top 5 units: the best single unit's fix rate,
  its cost (accuracy change on the other images and on the images right before), and the
  same for all 5 together.

Prints one JSON line per network as it finishes, then a table; ``--out`` writes all
figures as one JSON file. ``--quick`` runs small subsets (a smoke run, under 2 minutes).
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

from innersight_widgets import (
    Analysis,
    ImageDataset,
    Importance,
    ablation_comparison,
    build_circuit,
    critical_neurons,
    diagnose,
    intervene,
    load_image_folder,
)

#: ../shared/real beside the repository: real networks and photos made by others (never shipped)
REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
NETWORKS = ("resnet56", "resnet20", "lenet5", "efficientnet-lite0")
DRAWS = 20  # random sets per community
CONFUSIONS = 3  # most frequent confusions debugged
CANDIDATES = 5  # units switched off per confusion
TOP = 16  # top images per community for the class share
FIDELITY_DRAWS = 3  # random input sets per core neuron in the circuit's fidelity


def timed(fn, *args, **kwargs) -> tuple[Any, float, float]:
    """The result of ``fn(*args, **kwargs)``, its wall and process CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def spaced(n_all: int, n: int | None) -> np.ndarray:
    """``n`` indices evenly spaced over ``n_all`` (all of them for None)."""
    if n is None or n >= n_all:
        return np.arange(n_all)
    return np.linspace(0, n_all - 1, n).round().astype(int)


def in_memory(folder: Any, picked: np.ndarray, class_names: list[str]) -> ImageDataset:
    """The folder's images at ``picked``, decoded once into an in-memory dataset."""
    items = [folder[int(i)] for i in picked]
    return ImageDataset(torch.stack([x for x, _ in items]), [int(y) for _, y in items], class_names)


def networks(real: Path, quick: bool) -> dict[str, dict[str, Any]]:
    """Per network: a loader of (model, data) and the settings of its study."""
    sys.path.insert(0, str(real))
    import real_models

    def cifar(depth: int) -> tuple[torch.nn.Module, Any]:
        folder = load_image_folder(real_models.CIFAR10_TEST, size=32, resize=32, classes=real_models.CIFAR10_CLASSES)
        if not quick:
            return real_models.cifar10_resnet(depth), folder  # the lazy folder: the pass decodes the JPEGs
        return real_models.cifar10_resnet(depth), in_memory(folder, spaced(len(folder), 300), real_models.CIFAR10_CLASSES)

    def lenet() -> tuple[torch.nn.Module, Any]:
        images, labels = real_models.mnist_test(300 if quick else None)
        return real_models.mnist_lenet5(), ImageDataset(images, labels, [str(i) for i in range(10)])

    def efficientnet() -> tuple[torch.nn.Module, Any]:
        model = real_models.imagenet_efficientnet_lite0()
        folder = load_image_folder(real_models.IMAGENET_VAL650, size=224, resize=227, mean=[127 / 255] * 3,
                                   std=[128 / 255] * 3, classes=real_models.imagenet_classes()[0])
        if not quick:
            return model, folder
        return model, in_memory(folder, spaced(len(folder), 32), list(model.class_names))

    # NeurFlow's fidelity runs the whole model over every crop once per core neuron and draw:
    # fewer core neurons (tau) and images than build_circuit's defaults keep it affordable
    circuit = {"tau": 2, "top_k": 8, "ig_steps": 4, "max_images": 2} if quick else {"tau": 8, "max_images": 12}
    return {
        "resnet56": {"load": lambda: cifar(56), "layer": "layer3.8.relu2", "lower": "layer3.7.relu2",
                     "target": "dog", "circuit": circuit},
        "resnet20": {"load": lambda: cifar(20), "layer": "layer3.2.relu2", "lower": "layer3.1.relu2",
                     "target": "dog", "circuit": circuit},
        "lenet5": {"load": lenet, "layer": "relu3", "circuit_layers": ["relu2", "relu1"],
                   "target": "9", "circuit": circuit},
        # the last block (only the head above it: ablations stay cheap); 224-px crops make
        # NeurFlow costly on a CPU, hence a smaller circuit
        # and the importance test on a sample of the photos (its 20 random sets per community
        # each run the head above the block)
        "efficientnet-lite0": {"load": efficientnet, "layer": "_blocks.15", "lower": "_blocks.14", "target": None,
                               "importance_images": 8 if quick else 64, "confusions": 1 if quick else 2,
                               "circuit": {"tau": 1, "top_k": 4, "ig_steps": 2, "max_images": 1} if quick else
                               {"tau": 2, "top_k": 10, "ig_steps": 8, "max_images": 1}},
    }


def pass_against_forward(model: torch.nn.Module, data: Any, layers: list[str], batch_size: int,
                         repeats: int) -> tuple[Analysis, dict]:
    """``repeats`` rounds of a plain DataLoader forward, then the streaming pass (a fresh
    analysis, no cache) over the same data: medians of the seconds and of each round's ratio."""
    def plain() -> None:
        with torch.inference_mode():
            for x, _ in torch.utils.data.DataLoader(data, batch_size=batch_size):
                model(x)

    rounds = []
    for _ in range(repeats):
        _, plain_wall, plain_cpu = timed(plain)
        an = Analysis(model, data, layers=layers, device="cpu", batch_size=batch_size, progress=False)
        _, pass_wall, pass_cpu = timed(lambda: an.predictions)
        rounds.append((plain_wall, plain_cpu, pass_wall, pass_cpu))
    plain_wall, plain_cpu, pass_wall, pass_cpu = np.median(np.array(rounds), axis=0)
    wall_ratios = [r[2] / r[0] for r in rounds]
    cpu_ratios = [r[3] / r[1] for r in rounds]
    return an, {"plain_forward_s": round(plain_wall, 2), "pass_s": round(pass_wall, 2), "repeats": repeats,
                "ratio": round(float(np.median(wall_ratios)), 3), "cpu_ratio": round(float(np.median(cpu_ratios)), 3),
                "rounds_ratio": [round(v, 3) for v in wall_ratios], "rounds_cpu_ratio": [round(v, 3) for v in cpu_ratios]}


def null_specs(an: Analysis, spec: dict[str, Any], rng: np.random.Generator) -> dict[str, list[int]]:
    """A random set like the importance test's: as many neurons per layer, uniform over the layer."""
    return {layer: rng.choice(an.layer_info(layer).num_neurons, len(idx), replace=False).tolist()
            for layer, idx in spec.items()}


def study_communities(an: Analysis, layer: str, images: int | None) -> tuple[Any, dict]:
    """Louvain on ``layer``; class coherence per community; ablation specificity on
    ``images`` evenly spaced probe images (all for None)."""
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = an.communities(layer)
    report = an.evaluate(found)
    names = an.data.class_names
    _, selectivity = report.class_selectivity()
    within, outside = report.coherence()
    k = found.num_communities
    rng = np.random.default_rng(0)
    specs = []
    for c in range(k):
        specs.append(found.spec(c))
        specs += [null_specs(an, found.spec(c), rng) for _ in range(DRAWS)]
    tested = None if images is None else spaced(len(an.data), images)
    ablations = an.ablate_many(specs, images=tested)
    rows = []
    for c in range(k):
        own, null = ablations[c * (DRAWS + 1)], ablations[c * (DRAWS + 1) + 1:(c + 1) * (DRAWS + 1)]
        test = Importance.from_ablations(c, own, null)
        top = report.top_classes(c, 2)
        top_index = names.index(top[0])
        drops = test.class_accuracy_drop
        # the class hit hardest (None when no class loses accuracy); a top class absent
        # from the tested images has NaN drops
        hardest = int(np.nanargmax(drops)) if np.nanmax(drops) > 0 else None
        null_top = test.null_class_drops[:, top_index]
        top_p = (1 + np.sum(null_top >= drops[top_index])) / (DRAWS + 1) if np.isfinite(drops[top_index]) else np.nan
        images = report.top_images(c, k=TOP)
        share = Counter(int(an.labels[i]) for i in images).most_common(1)[0]
        rows.append({
            "community": c, "size": int(found.sizes[c]), "top_classes": top,
            "selectivity": round(float(selectivity[c]), 3),
            "coherence_within": round(float(within[c]), 3), "coherence_outside": round(float(outside[c]), 3),
            "top_images_in_top_class": round(sum(int(an.labels[i]) == top_index for i in images) / len(images), 3),
            "top_images_most_common_class": [names[share[0]], round(share[1] / len(images), 3)],
            "accuracy_drop": round(test.accuracy_drop, 4), "null_mean": round(test.null_mean, 4),
            "p_value": round(test.p_value, 3),
            "hardest_hit": None if hardest is None else names[hardest],
            "hardest_hit_in_top_classes": hardest is not None and names[hardest] in top,
            "top_class_drop": round(float(drops[top_index]), 4),
            "top_class_null_mean": round(float(null_top.mean()), 4),
            "top_class_null_max": round(float(null_top.max()), 4),
            "top_class_p": round(float(top_p), 3),
        })
    summary = {
        "layer": layer, "neurons": an.layer_info(layer).num_neurons, "communities": k,
        "dead": len(found.dead), "stability": None if found.stability is None else round(found.stability, 3),
        "modularity": round(found.modularity, 3), "warnings": [str(w.message)[:200] for w in caught],
        "hardest_hit_in_top_classes": sum(r["hardest_hit_in_top_classes"] for r in rows),
        "top_class_p_below_0.05": sum(r["top_class_p"] < 0.05 for r in rows),
        "p_below_0.05": sum(r["p_value"] < 0.05 for r in rows),
        "draws": DRAWS, "ablation_images": len(an.data) if tested is None else len(tested), "seconds": round(time.perf_counter() - t, 1), "per_community": rows,
    }
    return found, summary


def study_neucept(an: Analysis, layer: str, target: Any) -> dict:
    t = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the lasso's convergence chatter
            critical = critical_neurons(an, layer, target, fdr=0.1)
    except ValueError as refused:
        return {"layer": layer, "class": str(target), "refused": str(refused)[:200]}
    out = {"layer": layer, "class": an.data.class_names[critical.target_class], "fdr": 0.1,
           "selected": int(critical.selected.size), "neurons": an.layer_info(layer).num_neurons,
           "at_0.05": int(critical.at(0.05).selected.size), "at_0.2": int(critical.at(0.2).selected.size),
           "class_images": int((an.labels == critical.target_class).sum())}
    if critical.selected.size:
        comparison = ablation_comparison(an, critical, draws=10)
        out["class_accuracy_drop"] = {key: round(value, 4) if isinstance(value, float) else value
                                      for key, value in comparison.items()}
    else:
        out["why_none"] = critical.why_none
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def study_circuit(an: Analysis, layers: list[str], target: Any, settings: dict, draws: int) -> dict:
    t = time.perf_counter()
    circuit = build_circuit(an, target, layers, **settings)
    built = time.perf_counter() - t
    fidelity = circuit.fidelity(layers[0], draws=draws)
    core, random_ = np.array(fidelity["core"]), np.array(fidelity["random"])
    return {"layers": layers, "class": str(target), "settings": settings or "defaults",
            "core_sizes": {layer: len(v) for layer, v in circuit.core.items()},
            "groups": {layer: len(circuit.groups_of(layer)) for layer in layers},
            "fidelity_layer": layers[0], "fidelity_draws": draws, "fidelity_core": round(fidelity["core_mean"], 3),
            "fidelity_random": round(fidelity["random_mean"], 3),
            "neurons_core_beats_random": f"{int((core > random_).sum())} of {len(core)}",
            "build_s": round(built, 1), "seconds": round(time.perf_counter() - t, 1)}


def study_debugger(an: Analysis, found: Any, confusions: int) -> list[dict]:
    names = an.data.class_names
    rows = []
    for true, predicted, images in an.confusions().errors[:confusions]:
        reference = "correct"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                diagnosis, diagnose_s, _ = timed(diagnose, an, (true, predicted), communities=found)
            except ValueError:  # no image of the true class is right: the plain attribution on the errors
                reference = None
                diagnosis, diagnose_s, _ = timed(diagnose, an, (true, predicted), communities=found, reference=None)
        units = diagnosis.units[:CANDIDATES]
        fix, intervene_s, _ = timed(intervene, an, units, (true, predicted))
        single = fix.fix_rate[:len(units)]
        best = int(np.argmax(single))
        last = len(fix.names) - 1
        rows.append({
            "confusion": f"{names[true]} -> {names[predicted]}", "errors": len(images),
            "reference": reference, "reference_images": len(diagnosis.reference),
            "top_unit": units[0].name, "top_unit_neurons": units[0].num_neurons,
            "top_unit_fix_rate": round(float(single[0]), 3),
            "best_unit": units[best].name, "best_fix_rate": round(float(single[best]), 3),
            "best_other_accuracy_change": round(float(fix.other_accuracy_change[best]), 4),
            "best_right_before_change": round(float(fix.right_before_change[best]), 4),
            "together_fix_rate": round(float(fix.fix_rate[last]), 3),
            "together_other_accuracy_change": round(float(fix.other_accuracy_change[last]), 4),
            "together_right_before_change": round(float(fix.right_before_change[last]), 4),
            "diagnose_s": round(diagnose_s, 1), "intervene_s": round(intervene_s, 1),
        })
    return rows


def study(name: str, setting: dict[str, Any], batch_size: int, quick: bool, pass_repeats: int = 1,
          pass_only: bool = False) -> dict:
    t = time.perf_counter()
    model, data = setting["load"]()
    layer = setting["layer"]
    circuit_layers = setting.get("circuit_layers") or [layer, setting["lower"]]
    layers = list(dict.fromkeys([layer, *circuit_layers]))
    an, passed = pass_against_forward(model, data, layers, batch_size, pass_repeats)
    counts = np.bincount(an.labels, minlength=an.data.num_classes)
    target = setting["target"]
    if target is None:  # the class with the most probe images that the model predicts at least once
        predicted = np.bincount(an.predictions.classes, minlength=an.data.num_classes)
        target = an.data.class_names[int(np.argmax(np.where(predicted > 0, counts, -1)))]
    out: dict[str, Any] = {"network": name, "images": len(an.data), "accuracy": round(float(an.predictions.accuracy), 4),
                           "classes_present": int((counts > 0).sum()), "threads": torch.get_num_threads(),
                           "pass": passed}
    if pass_only:
        out["seconds"] = round(time.perf_counter() - t, 1)
        return out
    found, out["communities"] = study_communities(an, layer, setting.get("importance_images"))
    out["neucept"] = study_neucept(an, layer, target)
    try:
        out["circuit"] = study_circuit(an, circuit_layers, target, setting["circuit"], 1 if quick else FIDELITY_DRAWS)
    except ValueError as refused:
        out["circuit"] = {"refused": str(refused)[:200]}
    t_debug = time.perf_counter()
    out["debugger"] = study_debugger(an, found, setting.get("confusions", CONFUSIONS))
    out["debugger_s"] = round(time.perf_counter() - t_debug, 1)
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def table(results: list[dict]) -> str:
    """A short plain-text summary of the figures."""
    lines = []
    for r in results:
        c, n, ci, p = r["communities"], r["neucept"], r["circuit"], r["pass"]
        lines.append(f"== {r['network']}: {r['images']} images, accuracy {r['accuracy']}, {r['seconds']} s")
        lines.append(f"pass {p['pass_s']} s vs plain forward {p['plain_forward_s']} s: {p['ratio']}x (CPU {p['cpu_ratio']}x)")
        lines.append(f"communities of {c['layer']}: {c['communities']}, stability {c['stability']}; hardest hit is a top "
                     f"class in {c['hardest_hit_in_top_classes']}; top-class p < 0.05 in {c['top_class_p_below_0.05']}")
        for row in c["per_community"]:
            lines.append(f"  {row['community']}: {row['size']:4d} {'/'.join(row['top_classes']):28s} sel {row['selectivity']:.2f} "
                         f"coh {row['coherence_within']:.2f}/{row['coherence_outside']:.2f} hardest {row['hardest_hit']!s:12s} "
                         f"top-class drop {row['top_class_drop']:.3f} vs {row['top_class_null_mean']:.3f} p {row['top_class_p']:.3f}; "
                         f"acc drop {row['accuracy_drop']:.3f} vs {row['null_mean']:.3f} p {row['p_value']:.3f}")
        if "selected" in n:
            lines.append(f"neucept {n['class']}: {n['selected']} of {n['neurons']} at q=0.1; drops {n.get('class_accuracy_drop')}")
        else:
            lines.append(f"neucept: {n.get('refused')}")
        if "fidelity_core" in ci:
            lines.append(f"circuit {ci['class']}: core {ci['core_sizes']}, fidelity {ci['fidelity_core']} vs {ci['fidelity_random']}")
        else:
            lines.append(f"circuit: {ci.get('refused')}")
        for d in r["debugger"]:
            lines.append(f"  {d['confusion']} ({d['errors']}): top {d['top_unit']} fixes {d['top_unit_fix_rate']}, best "
                         f"{d['best_unit']} {d['best_fix_rate']} (others {d['best_other_accuracy_change']:+.4f}), "
                         f"all 5 {d['together_fix_rate']} (others {d['together_other_accuracy_change']:+.4f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--real", type=Path, default=REAL, help="the shared folder of real models and images")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="small subsets and a small circuit: a smoke run")
    parser.add_argument("--pass-repeats", type=int, default=1, help="rounds of the pass against plain forward (medians)")
    parser.add_argument("--pass-only", action="store_true", help="only the pass against a plain forward")
    parser.add_argument("--out", type=Path, default=None, help="write all figures to this JSON file")
    args = parser.parse_args()
    if not (args.real / "real_models.py").exists():
        sys.exit(f"{args.real} holds no real_models.py: give the shared folder with --real")
    torch.set_num_threads(args.threads)
    settings = networks(args.real, args.quick)
    results = []
    for name in args.networks:
        try:
            results.append(study(name, settings[name], args.batch_size, args.quick, args.pass_repeats, args.pass_only))
        except ImportError as missing:
            print(json.dumps({"network": name, "skipped": str(missing)}), flush=True)
            continue
        print(json.dumps(results[-1]), flush=True)
    if not args.pass_only:
        print(table(results))
    if args.out:
        args.out.write_text(json.dumps({"quick": args.quick, "threads": args.threads, "results": results}, indent=1))


if __name__ == "__main__":
    main()
