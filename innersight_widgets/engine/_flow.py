"""Flow edges between two layers: how much each lower neuron feeds each upper neuron.

``gradient``: mean over images of sum over positions of |d pooled(upper_u) / d A_lower ⊙ A_lower|,
the gradient x activation attribution. It follows any module graph (residual blocks,
pooling, flattening). All upper neurons of a chunk are differentiated in one batched
backward (``is_grads_batched``).
``weights``: |W| of the upper layer summed over its kernel, for an upper conv/linear layer
that reads the lower layer's channels directly. Cheap, but blind to what lies between.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..data import ProbeSet
from ._layers import LayerInfo
from .runner import ModelRunner, pooled


def gradient_flow(
    runner: ModelRunner, data: ProbeSet, pooling: str, lower: LayerInfo, upper: LayerInfo, images: np.ndarray
) -> np.ndarray:
    """C_upper x C_lower mean |gradient x activation| over the probe images ``images`` of
    ``data``, the upper layer pooled by ``pooling``."""
    dev = runner.device
    total = torch.zeros(upper.num_neurons, lower.num_neurons, dtype=torch.float64, device=dev)
    captured: dict[str, torch.Tensor] = {}

    def grab_lower(out: torch.Tensor) -> torch.Tensor:
        captured["lower"] = out.detach().requires_grad_(True)
        return captured["lower"]

    # A chunk of upper neurons holds chunk x batch copies of the lower activation map: keep it near 256 MiB.
    batch = min(runner.batch_size, 64)
    per_image = int(np.prod(lower.shape)) * 4
    chunk = max(1, min(upper.num_neurons, (256 << 20) // (per_image * batch)))
    eye = torch.eye(upper.num_neurons, device=dev)
    for _, x, _ in data.batches(batch, indices=images):
        captured.clear()
        out = runner.forward(x, {lower.name: grab_lower}, stop_after=upper.name, grad=True)
        if "lower" not in captured:
            raise ValueError(
                f"layer {upper.name!r} runs before {lower.name!r}; flow goes from a lower layer to a later one"
            )
        act = captured["lower"]
        with torch.enable_grad():
            upper_pooled = pooled(out, upper, pooling)
            for u0 in range(0, upper.num_neurons, chunk):
                u1 = min(u0 + chunk, upper.num_neurons)
                seeds = eye[u0:u1, None, :].expand(u1 - u0, x.shape[0], upper.num_neurons)
                grads = _batched_grad(upper_pooled, act, seeds)
                if grads is None:
                    raise ValueError(f"layer {upper.name!r} does not depend on {lower.name!r}")
                contrib = (grads * act.detach()).abs()
                contrib = contrib.movedim(lower.channel_axis + 1, 2)
                total[u0:u1] += contrib.reshape(u1 - u0, x.shape[0], lower.num_neurons, -1).sum(dim=(1, 3))
    return (total / len(images)).float().cpu().numpy()


def _batched_grad(pooled: torch.Tensor, act: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor | None:
    """Gradients of ``pooled`` against ``act`` for each seed row, in one vmapped backward.

    Modules whose backward vmap cannot batch fall back to one backward per seed.
    """
    try:
        return torch.autograd.grad(
            pooled, act, grad_outputs=seeds, is_grads_batched=True, retain_graph=True, allow_unused=True
        )[0]
    except RuntimeError:
        grads = [torch.autograd.grad(pooled, act, s, retain_graph=True, allow_unused=True)[0] for s in seeds]
        return None if grads[0] is None else torch.stack(grads)


def weight_flow(module: nn.Module, lower: LayerInfo, upper: LayerInfo) -> np.ndarray:
    """C_upper x C_lower sum of |W| of ``module`` (the upper layer) over its kernel (or
    flattened positions)."""
    if not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) or getattr(module, "groups", 1) != 1:
        raise ValueError(
            f"flow='weights' needs the upper layer to be a plain conv or linear layer, but "
            f"{upper.name!r} is {type(module).__name__}; use flow='gradient'"
        )
    w = module.weight.detach().abs().float()
    c_in = w.shape[1]
    if c_in == lower.num_neurons:
        return w.reshape(w.shape[0], c_in, -1).sum(2).cpu().numpy()
    positions = int(np.prod(lower.spatial_shape)) if lower.spatial_shape else 1
    if isinstance(module, nn.Linear) and c_in == lower.num_neurons * positions and lower.channel_axis == 1:
        return w.reshape(w.shape[0], lower.num_neurons, positions).sum(2).cpu().numpy()
    raise ValueError(
        f"{upper.name!r} reads {c_in} inputs, not the {lower.num_neurons} neurons of {lower.name!r}: "
        "the two layers are not directly connected; use flow='gradient'"
    )
