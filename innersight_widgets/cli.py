"""The ``innersight`` console command (also ``python -m innersight_widgets``)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .core import Analysis
from .data import colour_agrees_with_shape, load_digits, load_shapes
from .models import DEMO_MODELS, load_pretrained

_DEMO_DATA = {
    "digits-cnn": lambda: load_digits("digits", "test"),
    "parity-cnn": lambda: load_digits("parity", "test"),
    "shapes-cnn": lambda: load_shapes("test"),
    "shapes-spurious-cnn": lambda: load_shapes("test"),
}
DEFAULT_MODEL = "shapes-spurious-cnn"
# The layer whose communities the demo prints: a mid-depth block output.
_MID_LAYER = {"digits-cnn": "relu2", "parity-cnn": "relu2", "shapes-cnn": "layer2", "shapes-spurious-cnn": "layer2"}


def demo(
    model_name: str = DEFAULT_MODEL, device: str | None = None, cache_dir: str | None = None, draws: int = 20
) -> Analysis:
    """Analyse a shipped model on its test split and print a summary: layers, accuracy,
    and the communities of one mid layer with their labels and ablation importance."""
    model = load_pretrained(model_name)
    data = _DEMO_DATA[model_name]()
    mid = _MID_LAYER[model_name]
    # every conv and linear layer (the default) and the mid block
    units = Analysis(model, data, device=device, progress=False).layers
    an = Analysis(model, data, layers=[*units, mid], device=device, cache_dir=cache_dir)
    predictions = an.predictions
    print(f"model {model_name} on {data} ({an.device})")
    print("\nlayers analysed:")
    width = max(len(n) for n in an.layers)
    for name in an.layers:
        info = an.layer_info(name)
        shape = "x".join(map(str, info.shape))
        print(f"  {name:<{width}}  {info.module_type:<10} {info.num_neurons:>4} neurons  ({shape})")
    print(f"\naccuracy: {predictions.accuracy:.3f}")
    for name, acc in zip(data.class_names, predictions.class_accuracy):
        print(f"  {name:<10} {acc:.3f}")
    if "colour" in data.concepts:
        agree = colour_agrees_with_shape(data)
        correct = predictions.correct
        print(
            f"\nwhere colour agrees with shape ({agree.sum()} images): {correct[agree].mean():.3f}; "
            f"where it disagrees ({(~agree).sum()} images): {correct[~agree].mean():.3f}"
        )
    _print_communities(an, mid, draws)
    return an


def _print_communities(an: Analysis, layer: str, draws: int) -> None:
    communities = an.communities(layer, "louvain")
    report = an.evaluate(communities)
    print(f"\ncommunities of {layer}: {communities}")
    print(f"importance: accuracy drop when the community is zeroed, against {draws} random sets of its size")
    print(f"  {'#':>2} {'size':>4}  {'label (AUROC)':<24} {'top classes':<26} {'drop':>6} {'null':>6} {'p':>6}")
    for c in range(communities.num_communities):
        label = report.label(c)
        means, _ = report.class_selectivity()
        top = ", ".join(an.data.class_names[i] for i in means[:, c].argsort()[::-1][:3])
        imp = report.importance(c, draws=draws)
        text = "-" if label is None else f"{label.concept}={label.value} ({label.auroc:.2f})"
        print(
            f"  {c:>2} {communities.sizes[c]:>4}  {text:<24} {top:<26} "
            f"{imp.accuracy_drop:>6.3f} {imp.null_mean:>6.3f} {imp.p_value:>6.3f}"
        )


def lab(extra: list[str]) -> int:
    """Open the quickstart notebook in JupyterLab (the checkout's, or a copy in ./innersight-notebooks)."""
    from .widgets._assets import asset

    quickstart = asset("notebooks/01_quickstart.ipynb")
    folder = quickstart.parent
    if folder.parent.name == "innersight_widgets":  # installed from a wheel: work on a copy, not site-packages
        target = Path.cwd() / "innersight-notebooks"
        target.mkdir(exist_ok=True)
        for notebook in folder.glob("*.ipynb"):
            if not (target / notebook.name).exists():
                shutil.copy(notebook, target)
        folder = target
    if not _has_module("jupyterlab"):
        print("JupyterLab is not installed; install it with: python -m pip install jupyterlab", file=sys.stderr)
        return 1
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={folder}", str(folder / quickstart.name), *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        command.append("--allow-root")
    print("starting:", " ".join(command), flush=True)
    return subprocess.call(command)


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="innersight", description="innersight_widgets from the command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="analyse a shipped demo model headless and print a summary")
    demo_parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(DEMO_MODELS))
    demo_parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    demo_parser.add_argument("--cache-dir", default=None, help="cache the pass in this folder")
    demo_parser.add_argument("--draws", type=int, default=20, help="random neuron sets per importance test")
    commands.add_parser(
        "lab", help="open the quickstart notebook in JupyterLab (other arguments go to jupyter lab)"
    )
    args, extra = parser.parse_known_args(argv)
    if args.command == "lab":
        return lab(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    demo(args.model, args.device, args.cache_dir, args.draws)
    return 0


if __name__ == "__main__":
    sys.exit(main())
