"""The small demo networks, their shipped weights, and how to load them."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ._architectures import BasicBlock, DigitsCNN, ShapesResNet, ShapesViT
from ._registry import DEMO_MODELS, demo_model

_WEIGHTS_DIR = Path(__file__).parent / "weights"


def load_pretrained(name: str) -> nn.Module:
    """A shipped demo model in eval mode, with ``class_names``, ``test_metrics`` and its
    ``demo_name`` attached (an analysis cache records the name, so that ``innersight
    report --analysis-cache`` can rebuild the analysis).

    Names: ``digits-cnn``, ``parity-cnn``, ``shapes-cnn``, ``shapes-spurious-cnn``,
    ``shapes-vit``.
    The weights are loaded with ``torch.load(..., weights_only=True)``.
    """
    spec = demo_model(name)
    weights = _WEIGHTS_DIR / f"{name}.pt"
    if not weights.exists():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing at {weights}; reproduce them with "
            f"`python -m innersight_widgets.models.train {name}`"
        )
    meta = json.loads((_WEIGHTS_DIR / f"{name}.json").read_text())
    model = spec.build()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    model.class_names = list(meta["class_names"])
    model.test_metrics = dict(meta["test"])
    model.demo_name = name
    return model


__all__ = ["DEMO_MODELS", "BasicBlock", "DigitsCNN", "ShapesResNet", "ShapesViT", "load_pretrained"]
