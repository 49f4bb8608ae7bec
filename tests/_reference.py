"""The slow, obviously correct Integrated Gradients and flow edges that the tests and
benchmarks/bench_circuits.py hold the batched and planned IG of ``innersight_widgets.engine._ig``
and ``Analysis.flow`` against."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def reference_ig(
    model: nn.Module, images: torch.Tensor, lower: str, upper: str | None, target: int, steps: int, score: str
) -> np.ndarray:
    """images x C_lower IG scores of one target, one step at a time (the structure of
    NeurFlow's reference implementation).

    Parameters
    ----------
    model : nn.Module
        In eval mode, so that the images of the batch do not interact.
    images : torch.Tensor
        B x channels x H x W, on the model's device.
    lower, upper : str
        Module names: IG of ``upper``'s channel ``target`` averaged over positions (the
        logit ``target`` when ``upper`` is None) with respect to ``lower``'s output.
    target : int
        The channel of ``upper``, or the class.
    steps : int
        Midpoint steps alpha = (s + 0.5) / steps, zero baseline.
    score : {"abs_mean", "mean_abs"}
        |spatial mean of each image's IG map|, or the spatial mean of its absolute value.

    Returns
    -------
    np.ndarray
        B x C_lower float32.
    """
    modules = dict(model.named_modules())
    store: dict[str, torch.Tensor] = {}
    handle = modules[lower].register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    with torch.no_grad():
        model(images)
    handle.remove()
    act, total = store["a"], torch.zeros_like(store["a"])
    for s in range(steps):
        scaled = ((s + 0.5) / steps * act).clone().requires_grad_(True)
        handles = [modules[lower].register_forward_hook(lambda m, i, o, scaled=scaled: scaled)]
        if upper is not None:
            handles.append(modules[upper].register_forward_hook(lambda m, i, o: store.__setitem__("u", o)))
        out = model(images)
        for h in handles:
            h.remove()
        value = out[:, target].sum() if upper is None else store["u"][:, target].flatten(1).mean(1).sum()
        (grad,) = torch.autograd.grad(value, scaled)
        total += grad
    maps = (act * total / steps).flatten(2)
    scores = {"abs_mean": maps.mean(2).abs(), "mean_abs": maps.abs().mean(2)}[score]
    return scores.cpu().numpy()


def reference_flow(model, images, lower, upper, upper_axis=1):
    """Loop over upper neurons and images: mean over images of sum |d pooled_u / dA * A|."""
    modules = dict(model.named_modules())
    store = {}

    def grab_lower(_m, _i, out):
        leaf = out.detach().requires_grad_(True)
        store["lower"] = leaf
        return leaf

    def grab_upper(_m, _i, out):
        store["upper"] = out

    h1 = modules[lower].register_forward_hook(grab_lower)
    h2 = modules[upper].register_forward_hook(grab_upper)
    rows = []
    for x in images:
        model(x[None])
        act, out = store["lower"], store["upper"]
        out = out.movedim(upper_axis, 1).reshape(1, out.shape[upper_axis], -1).mean(2)[0]
        row = []
        for u in range(out.shape[0]):
            (g,) = torch.autograd.grad(out[u], act, retain_graph=True)
            row.append((g * act).abs().reshape(act.shape[1], -1).sum(1).detach().numpy())
        rows.append(np.stack(row))
    h1.remove()
    h2.remove()
    return np.mean(rows, axis=0)
