"""One process of a torch.distributed (gloo, CPU) job for tests/test_distributed.py.

``python tests/_sharded.py SCENARIO RANK WORLD STORE OUT`` joins the job through the file
``STORE``, computes the scenario's results and saves them to ``OUT/rank<RANK>.npz``, or
the error it stopped with to ``OUT/rank<RANK>.err``. The test runs each scenario in one
process too (:func:`results` without a process group) and compares.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from innersight_widgets import Analysis, build_circuit, load_pretrained, load_shapes
from innersight_widgets.neucept.critical import saliency

LAYERS = ["layer1", "layer2", "layer3"]
# 300 images in batches of 64: 5 batches, split 3 + 2 over 2 processes and 2 + 2 + 1 over 3
IMAGES, BATCH = 300, 64
# 40 images in batches of 32: over 3 processes, the third gets no image
FEW, FEW_BATCH = 40, 32
# the NaN image of the "fails" scenario: in the last batch, the second process's share
BROKEN = 290
# the process group's timeout: how long a rank waits for a dead one
TIMEOUT_S = {"all": 60, "fails": 60, "dies": 10, "stalls": 5}


def shapes(n: int) -> torch.utils.data.Dataset:
    return load_shapes("test", n=n)


def results(scenario: str) -> dict[str, np.ndarray]:
    """Everything a scenario computes, by name (arrays of numbers, equal across runs)."""
    model = load_pretrained("shapes-cnn")
    if scenario == "dies" and torch.distributed.is_initialized() and torch.distributed.get_rank() == 1:
        os._exit(3)  # no error reaches the others: the broken connection stops them
    if scenario == "stalls" and torch.distributed.is_initialized() and torch.distributed.get_rank() == 1:
        time.sleep(600)  # alive but silent: only the process group's timeout stops the others
    if scenario in ("fails", "dies", "stalls"):
        data = shapes(IMAGES)
        data.images[BROKEN, 0, 0, 0] = float("nan")
        Analysis(model, data, layers=LAYERS, batch_size=BATCH, progress=False).profiles("layer1")
        return {}
    out: dict[str, np.ndarray] = {}
    an = Analysis(model, shapes(IMAGES), layers=LAYERS, batch_size=BATCH, progress=False)
    _pass(an, out, "")
    specs = [{"layer2": range(8)}, {"layer3": [1, 2]}, {"layer2": [3], "layer3": [4, 5]}]
    for mode in ("zero", "mean"):
        for i, result in enumerate(an.ablate_many(specs, mode)):
            out[f"ablate:{mode}:{i}"] = result.logits_after
    chosen = np.arange(IMAGES)[::-3]
    out["ablate:images"] = np.stack([r.logits_after for r in an.ablate_many(specs, images=chosen)])
    report = an.evaluate(an.communities("layer2", "louvain", stability_runs=0))
    importance = report.importance(0, draws=4)
    out["null_drops"], out["null_class_drops"] = importance.null_drops, importance.null_class_drops
    circuit = build_circuit(an, "star", ["layer3", "layer2"], tau=4, top_k=12, ig_steps=4, max_images=8)
    for layer, core in circuit.core.items():
        out[f"core:{layer}"] = np.asarray(core)
    for level, inputs in circuit.scores.items():
        for u, scores in inputs.items():
            out[f"scores:{level}:{u}"] = np.array([[v, s] for v, s in scores.items()])
    out["saliency"] = saliency(an, "layer3", 3, steps=4)
    few = Analysis(model, shapes(FEW), layers=["layer3"], batch_size=FEW_BATCH, progress=False)
    _pass(few, out, "few:")
    out["few:ablate"] = few.ablate({"layer3": [0, 1, 2]}).logits_after
    return out


def _pass(an: Analysis, out: dict[str, np.ndarray], prefix: str) -> None:
    out[f"{prefix}logits"], out[f"{prefix}labels"] = an.predictions.logits, an.labels
    for layer in an.layers:
        out[f"{prefix}profiles:{layer}"] = an.profiles(layer)
        out[f"{prefix}means:{layer}"] = an.neuron_means(layer)
        for neuron in range(3):  # every image's peak position (the pass's argmax)
            top = an.top_images(layer, neuron, k=len(an.data))
            out[f"{prefix}peaks:{layer}:{neuron}"] = np.column_stack([top.indices, top.positions])


def main(scenario: str, rank: int, world: int, store: str, out: Path) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"file://{store}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=TIMEOUT_S[scenario])
    )
    try:
        found = results(scenario)
    except Exception:  # noqa: BLE001 - the test reads what each rank stopped with
        (out / f"rank{rank}.err").write_text(traceback.format_exc())
        return
    finally:
        torch.distributed.destroy_process_group()
    np.savez(out / f"rank{rank}.npz", **found)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
