"""The ``innersight`` console command (also ``python -m innersight_widgets``)."""

from __future__ import annotations

import argparse
import sys

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


def demo(model_name: str = DEFAULT_MODEL, device: str | None = None, cache_dir: str | None = None) -> Analysis:
    """Run the streaming pass of a shipped model on its test split and print a summary."""
    model = load_pretrained(model_name)
    data = _DEMO_DATA[model_name]()
    an = Analysis(model, data, device=device, cache_dir=cache_dir)
    predictions = an.predictions
    print(f"model {model_name} on {data} ({an.device})")
    print("\nlayers analysed:")
    width = max(len(n) for n in an.layers)
    for name in an.layers:
        info = an.layer_info(name)
        shape = "x".join(map(str, info.shape))
        print(f"  {name:<{width}}  {info.module_type:<8} {info.num_neurons:>4} neurons  ({shape})")
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
    return an


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="innersight", description="innersight_widgets from the command line")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="analyse a shipped demo model headless and print a summary")
    demo_parser.add_argument("--model", default=DEFAULT_MODEL, choices=list(DEMO_MODELS))
    demo_parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when present)")
    demo_parser.add_argument("--cache-dir", default=None, help="cache the pass in this folder")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.model, args.device, args.cache_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
