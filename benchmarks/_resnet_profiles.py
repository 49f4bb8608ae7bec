"""Profiles of a real network for the community benchmarks: a ResNet-50 (torchvision's
architecture when it imports, else bench_real_scale's faithful copy; random weights, seed
0) over the shipped shapes upscaled to 224x224.

Random weights are what a user has before training and keep the benchmark offline; the
profiles still have a real network's structure (ReLU sparsity, channels that correlate
through residual additions, dead channels), which synthetic ones do not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bench_real_scale import MODEL_SOURCE, build_model

from innersight_widgets import Analysis, load_shapes

#: The selections the benchmarks use: about 2k, 8k and 26.5k neurons.
SELECTIONS = {
    2048: ["layer4.2.conv3"],
    8192: ["layer4.0.downsample.0", "layer4.0.conv3", "layer4.1.conv3", "layer4.2.conv3"],
    26560: None,  # every Conv2d
}


def resnet50_analysis(images: int, cache_dir: Path, device: torch.device) -> Analysis:
    """An Analysis of the ResNet-50 over ``images`` upscaled shapes, every Conv2d selected;
    its pass is cached in ``cache_dir`` (the first run takes about a minute on 2 cores)."""
    model = build_model(device)
    shapes = load_shapes("test", n=images)
    x = F.interpolate(shapes.images, size=224, mode="bilinear", align_corners=False)
    convs = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    return Analysis(
        model, (x, shapes.labels), layers=convs, class_names=[f"class {i}" for i in range(1000)], device=device,
        cache_dir=cache_dir, progress=False,
    )


def resnet50_profiles(neurons: int, images: int, cache_dir: Path, device: torch.device) -> dict[str, np.ndarray]:
    """{layer: images x channels} for the selection of about ``neurons`` neurons."""
    an = resnet50_analysis(images, cache_dir, device)
    layers = SELECTIONS[neurons] or an.layers
    return {layer: np.asarray(an.profiles(layer), dtype=np.float32) for layer in layers}


__all__ = ["MODEL_SOURCE", "SELECTIONS", "resnet50_analysis", "resnet50_profiles"]
