"""Reproduce the shipped demo weights: ``python -m innersight_widgets.models.train NAME``.

Seeded and CPU-friendly (minutes on 2 cores). Writes ``weights/NAME.pt`` (a plain
state dict, loadable with ``weights_only=True``) and ``weights/NAME.json`` (class names
and the measured test accuracy).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageDataset, colour_agrees_with_shape
from ._registry import DEMO_MODELS, demo_model

WEIGHTS_DIR = Path(__file__).parent / "weights"
SEED = 0


def train(name: str, out_dir: Path = WEIGHTS_DIR, epochs: int | None = None) -> dict:
    """Train demo model ``name`` from a fixed seed, save it, and return its metadata."""
    spec = demo_model(name)
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    train_data, test_data = spec.train_data(), spec.test_data()
    model = spec.build()
    epochs = spec.epochs if epochs is None else epochs
    batch_size = 64
    steps = epochs * -(-len(train_data) // batch_size)
    optimiser = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, spec.learning_rate, total_steps=steps)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_data), generator=generator)
        total_loss = 0.0
        for batch in order.split(batch_size):
            x = _shift(train_data.images[batch], spec.augment_shift, generator)
            if spec.augment_flip:
                x = _flip(x, generator)
            loss = F.cross_entropy(model(x), train_data.labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.detach().item() * len(batch)
        accuracy = evaluate(model, test_data)["accuracy"]
        print(
            f"{name} epoch {epoch + 1}/{epochs}: loss {total_loss / len(train_data):.4f}, "
            f"test accuracy {accuracy:.4f} ({time.time() - start:.0f} s)",
            flush=True,
        )
    model.eval()
    meta = {
        "name": name,
        "description": spec.description,
        "class_names": train_data.class_names,
        "seed": SEED,
        "epochs": epochs,
        "torch": torch.__version__,
        "train_seconds": round(time.time() - start, 1),
        "test": evaluate(model, test_data),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / f"{name}.pt")
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def _shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``max_shift`` pixels (zero padded), one offset per batch."""
    if max_shift == 0:
        return images
    dy, dx = (torch.randint(-max_shift, max_shift + 1, (2,), generator=generator)).tolist()
    padded = F.pad(images, (max_shift,) * 4)
    h, w = images.shape[-2:]
    return padded[..., max_shift + dy : max_shift + dy + h, max_shift + dx : max_shift + dx + w]


def _flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The batch flipped left-right and up-down, each with probability 1/2 (one draw per batch)."""
    horizontal, vertical = (torch.rand(2, generator=generator) < 0.5).tolist()
    dims = [d for d, flip in ((-1, horizontal), (-2, vertical)) if flip]
    return images.flip(dims) if dims else images


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageDataset) -> dict:
    """Test accuracy; for the shapes data also where colour agrees / disagrees with shape."""
    model.eval()
    predicted = torch.cat([model(x).argmax(1) for x in data.images.split(512)])
    correct = (predicted == data.labels).numpy()
    result = {"accuracy": float(correct.mean()), "images": len(data)}
    if "colour" in data.concepts:
        agree = colour_agrees_with_shape(data)
        result["accuracy_colour_agrees"] = float(correct[agree].mean())
        result["accuracy_colour_disagrees"] = float(correct[~agree].mean())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(DEMO_MODELS), help="demo models (default: all)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="output folder")
    parser.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    args = parser.parse_args(argv)
    for name in args.names:
        meta = train(name, args.out, args.epochs)
        print(json.dumps(meta["test"]))


if __name__ == "__main__":
    main()
