"""The cost of debugging one confusion: diagnose its errors, then switch candidates off.

    python benchmarks/bench_debugging.py [--repeats 3] [--threads 2]

On shapes-spurious-cnn over the 2,000 shapes test images (layers layer1-layer3):

- ``diagnose`` of the confusion whose size is nearest 100 images, with one partition of
  communities per layer (the default), against a plain forward pass over the images it
  attributes (the errors and their reference images). The first call also partitions the
  layers and measures receptive fields; it is reported apart ("first_call").
- ``intervene`` with the diagnosis's top 5 units (5 candidates + all together in one
  ``ablate_many`` pass over the 2,000 images) against a plain forward pass over those
  images and against the same 6 ablations as 6 separate ``Analysis.ablate`` calls.

Medians of ``repeats`` rounds, the measurements interleaved within a round so that a
change of load hits them alike; wall seconds, and ratios of wall and of process CPU times.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from bench_communities import plain_forward, timed

from innersight_widgets import Analysis, diagnose, intervene, load_pretrained, load_shapes

LAYERS = ["layer1", "layer2", "layer3"]


def bench(repeats: int) -> dict:
    an = Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test"), layers=LAYERS, progress=False)
    true, predicted, errors = min(an.confusions().errors, key=lambda cell: abs(len(cell[2]) - 100))
    first_call, _ = timed(diagnose, an, errors)
    found = diagnose(an, errors)
    candidates = found.units[:5]
    every = np.arange(len(an.data))
    attributed = np.concatenate([found.errors, found.reference])
    specs = [result.spec for result in intervene(an, candidates, errors).results]  # also a warm-up
    plain_forward(an, every)  # warm-up

    times: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("diagnose", "forward_attributed", "intervene", "forward_all", "separate_ablations")
    }
    for _ in range(repeats):
        times["diagnose"].append(timed(diagnose, an, errors))
        times["forward_attributed"].append(timed(plain_forward, an, attributed))
        times["intervene"].append(timed(intervene, an, candidates, errors))
        times["forward_all"].append(timed(plain_forward, an, every))
        times["separate_ablations"].append(timed(lambda: [an.ablate(spec) for spec in specs]))
    wall = {name: float(np.median([w for w, _ in t])) for name, t in times.items()}
    cpu = {name: float(np.median([c for _, c in t])) for name, t in times.items()}

    def ratios(of: dict[str, float]) -> dict[str, float]:
        return {
            "diagnose_to_forward_attributed": round(of["diagnose"] / of["forward_attributed"], 1),
            "intervene_to_forward_all": round(of["intervene"] / of["forward_all"], 2),
            "intervene_to_separate_ablations": round(of["intervene"] / of["separate_ablations"], 2),
        }

    return {
        "confusion": f"{an.data.class_names[true]} -> {an.data.class_names[predicted]}",
        "errors": len(errors),
        "reference_images": len(found.reference),
        "units": len(found.units),
        "steps": found.steps,
        "threads": torch.get_num_threads(),
        "first_call_s": round(first_call, 3),
        **{f"{name}_s": round(value, 3) for name, value in wall.items()},
        "ratios": ratios(wall),
        "cpu_ratios": ratios(cpu),
        "top_units": [
            {"unit": u.name, "label": None if u.label is None else f"{u.label.concept}={u.label.value}",
             "contribution": round(float(c), 3)}
            for u, c in zip(candidates, found.contributions)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the timings (medians)")
    parser.add_argument("--threads", type=int, default=None, help="torch compute threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(json.dumps(bench(args.repeats), indent=1))


if __name__ == "__main__":
    main()
