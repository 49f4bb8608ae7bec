"""Layer Integrated Gradients, batched over targets and steps.

For each row r = (image, target neuron u_r of an upper layer or the logits), the
attribution of every lower-layer neuron v is

    IG_r[v] = mean over positions | A_v * mean_s d u_r(alpha_s * A) / d A_v |,  alpha_s = (s + 0.5) / steps,

with a zero baseline: the lower layer's output is replaced by alpha_s * A (a forward
hook), everything else in the network unchanged. All rows of a chunk and all steps go
through one forward and one backward: the rows are independent, so the gradient of the
sum of each row's own target is each row's own gradient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._layers import LayerInfo, StopForward, hooked

if TYPE_CHECKING:
    from .analysis import Analysis

# Images (rows x steps) per forward/backward; the memory of one such batch is what IG costs.
_IMAGES_PER_PASS = 1024


class _BatchMismatch(RuntimeError):
    """The layers after ``lower`` did not carry the widened batch through (see below)."""


def integrated_gradients(
    an: Analysis,
    images: torch.Tensor,
    targets: np.ndarray,
    lower: LayerInfo,
    upper: LayerInfo | None,
    steps: int,
) -> np.ndarray:
    """rows x C_lower mean |IG| of each row's target (a neuron of ``upper``, or a logit when
    ``upper`` is None) with respect to each lower neuron, averaged over positions.

    The layers below ``lower`` run once per row, not once per step: the hook that scales
    the lower activation also widens the batch to rows x steps. Where later layers mix in
    tensors from before ``lower`` (a shortcut around it), that cannot work and the rows
    are repeated per step from the input instead; both give the same numbers.
    """
    dev = an.device
    rows = len(targets)
    out = np.empty((rows, lower.num_neurons), dtype=np.float32)
    per_chunk = max(1, _IMAGES_PER_PASS // steps)
    alphas = (torch.arange(steps, device=dev, dtype=torch.float32) + 0.5) / steps
    for start in range(0, rows, per_chunk):
        stop = min(start + per_chunk, rows)
        x = images[start:stop].to(dev)
        target = torch.as_tensor(targets[start:stop], device=dev).repeat(steps)
        try:
            act, grads = _run(an, x, target, lower, upper, alphas, widen=True)
        except (RuntimeError, _BatchMismatch):
            act, grads = _run(an, x.repeat(steps, *([1] * (x.ndim - 1))), target, lower, upper, alphas, widen=False)
        mean_grad = grads.reshape(steps, *act.shape).mean(0)
        ig = (act * mean_grad).abs()
        out[start:stop] = ig.movedim(lower.channel_axis, 1).reshape(act.shape[0], lower.num_neurons, -1).mean(2).cpu().numpy()
    return out


def _run(
    an: Analysis,
    images: torch.Tensor,
    targets: torch.Tensor,
    lower: LayerInfo,
    upper: LayerInfo | None,
    alphas: torch.Tensor,
    widen: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward and backward: (the rows' lower activation A, d target / d (alpha A))."""
    steps, rows = len(alphas), len(targets) // len(alphas)
    captured: dict[str, torch.Tensor] = {}

    def replace(_m: nn.Module, _i: object, out: torch.Tensor) -> torch.Tensor:
        act = out.detach()[:rows]
        shape = [steps] + [1] * act.ndim
        scaled = (alphas.view(shape) * act.unsqueeze(0)).reshape(steps * rows, *act.shape[1:]).requires_grad_(True)
        captured["act"], captured["scaled"] = act, scaled
        return scaled

    def grab(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        captured["upper"] = out
        raise StopForward

    hooks = {lower.name: replace}
    if upper is not None:
        hooks[upper.name] = grab
    with hooked(an.model, hooks), torch.enable_grad():
        try:
            captured["upper"] = an.model(images)
        except StopForward:
            pass
        out = captured["upper"]
        if widen and out.shape[0] != steps * rows:
            raise _BatchMismatch(f"{out.shape[0]} rows reached the target, expected {steps * rows}")
        axis = 1 if upper is None else upper.channel_axis
        pooled = out.movedim(axis, 1).reshape(out.shape[0], out.shape[axis], -1).mean(2)
        selected = pooled.gather(1, targets.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(selected, captured["scaled"])
    return captured["act"], grad.detach()
