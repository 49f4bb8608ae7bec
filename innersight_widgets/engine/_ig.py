"""Layer Integrated Gradients, batched over targets and steps.

For each row r = (image, target neuron u_r of an upper layer or the logits), the
Integrated Gradients map of every lower-layer neuron v is

    M_r[v] = A_v * mean_s d u_r(alpha_s * A) / d A_v,  alpha_s = (s + 0.5) / steps,

with a zero baseline: the lower layer's output is replaced by alpha_s * A (a forward
hook), everything else in the network unchanged. A row's score of v reduces the map
over positions in one of two ways (``SCORES``): "abs_mean", |mean over positions of
M_r[v]| (NeurFlow's authors), or "mean_abs", the mean over positions of |M_r[v]|. All rows of a chunk and all steps go
through one forward and one backward: the rows are independent, so the gradient of the
sum of each row's own target is each row's own gradient.

Where the piece of network between the two layers traces with torch.fx, an exact plan
(``_segment``) does far less work: the affine operations after the lower layer run once
per row instead of once per step, and only each row's target channel is computed above
the last convolution. Its first rows are checked against the plain path on every call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from . import _distributed
from ._layers import LayerInfo
from ._segment import SegmentPlan, plan_segment
from .runner import ModelRunner, pooled

# name -> (what it is, rows x neurons x positions IG maps -> rows x neurons scores)
SCORES: dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = {
    "abs_mean": ("|spatial mean of the IG map|, NeurFlow's authors' score", lambda maps: maps.mean(2).abs()),
    "mean_abs": ("spatial mean of |IG map|", lambda maps: maps.abs().mean(2)),
}


class _BatchMismatch(RuntimeError):
    """The layers after ``lower`` did not carry the widened batch through (see below)."""


def integrated_gradients(
    runner: ModelRunner,
    images: torch.Tensor,
    targets: np.ndarray,
    lower: LayerInfo,
    upper: LayerInfo | None,
    steps: int,
    score: str = "abs_mean",
) -> np.ndarray:
    """rows x C_lower IG scores of each row's target (a neuron of ``upper``, or a logit when
    ``upper`` is None) with respect to each lower neuron, reduced over positions by
    ``SCORES[score]``:
    "abs_mean" or "mean_abs".

    The layers below ``lower`` run once per row, not once per step: the hook that scales
    the lower activation also widens the batch to rows x steps. Where later layers mix in
    tensors from before ``lower`` (a shortcut around it), that cannot work and the rows
    are repeated per step from the input instead; both give the same numbers.
    """
    dev = runner.device
    rows = len(targets)
    out = np.zeros((rows, lower.num_neurons), dtype=np.float32)
    # rows x steps images go through one forward/backward: the runner's batch size bounds that
    per_chunk = max(1, runner.batch_size // steps)
    alphas = (torch.arange(steps, device=dev, dtype=torch.float32) + 0.5) / steps
    # the plan runs the model's modules as they are, outside autocast: fp32 only
    sliceable = (upper is None or upper.channel_axis == 1) and runner.precision == "fp32"
    # fx tracing patches Module.__call__ for every thread, and the plan calls the model's
    # modules directly: both hold the runner's lock
    with runner.lock:
        plan = plan_segment(runner.model, lower.name, None if upper is None else upper.name) if sliceable else None

        def run(share: slice) -> None:
            _rows(runner, images, targets, lower, upper, alphas, plan, per_chunk, SCORES[score][1], out, share)

        # in a distributed job each process computes its chunks of rows (see _distributed)
        _distributed.sharded(rows, per_chunk, run, out)
    return out


def _rows(
    runner: ModelRunner, images: torch.Tensor, targets: np.ndarray, lower: LayerInfo, upper: LayerInfo | None,
    alphas: torch.Tensor, plan: SegmentPlan | None, per_chunk: int,
    reduce: Callable[[torch.Tensor], torch.Tensor], out: np.ndarray, share: slice,
) -> None:
    """Fill the rows ``share`` of ``out`` chunk by chunk, through the plan where it holds."""
    dev = runner.device
    for start in range(share.start, share.stop, per_chunk):
        stop = min(start + per_chunk, share.stop)
        x = images[start:stop].to(dev)
        target = torch.as_tensor(targets[start:stop], device=dev)
        mean_grad = None
        if plan is not None:
            act, mean_grad = _planned(runner, plan, x, target, lower, upper, alphas, check=start == share.start)
            plan = plan if mean_grad is not None else None
        if mean_grad is None:
            act, mean_grad = _plain(runner, x, target, lower, upper, alphas)
        maps = (act * mean_grad).movedim(lower.channel_axis, 1).reshape(act.shape[0], lower.num_neurons, -1)
        out[start:stop] = reduce(maps).cpu().numpy()


def _plain(
    runner: ModelRunner, x: torch.Tensor, target: torch.Tensor, lower: LayerInfo, upper: LayerInfo | None, alphas: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, step-mean gradient of each row's target) by one forward and backward of every (row, step)."""
    targets = target.repeat(len(alphas)).view(-1, 1)
    return step_mean_gradient(runner, x, lower, upper, alphas, lambda values: values.gather(1, targets).sum())


def step_mean_gradient(
    runner: ModelRunner,
    x: torch.Tensor,
    lower: LayerInfo,
    upper: LayerInfo | None,
    alphas: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows' activation A of ``lower`` and the gradient of ``objective`` with respect to
    it, averaged over the steps alpha * A: one forward and one backward of every (row, step).

    Parameters
    ----------
    x : Tensor, B x ...
        The images.
    lower, upper : LayerInfo
        The attributed layer, and the layer whose pooled output the objective reads (None:
        the logits).
    alphas : Tensor, S
        The steps' scales of A.
    objective : callable
        Gets the S*B x K values (upper's pooled output or the logits; step s's rows at
        s*B..s*B+B-1) and returns the scalar to differentiate.

    Returns
    -------
    (Tensor, Tensor)
        A and the step-mean gradient, both of A's shape. The layers below ``lower`` run
        once per row where the runner can widen the batch (through shortcuts too); else
        the rows are repeated once per step, which gives the same numbers.
    """
    steps = len(alphas)
    try:
        act, grads = _run(runner, x, lower, upper, alphas, objective, widen=True)
    except torch.cuda.OutOfMemoryError:
        raise  # the repeated rows would need more memory still: the caller halves the batch
    except (RuntimeError, _BatchMismatch):
        act, grads = _run(runner, x.repeat(steps, *([1] * (x.ndim - 1))), lower, upper, alphas, objective, widen=False)
    return act, grads.reshape(steps, *act.shape).mean(0)


def _planned(
    runner: ModelRunner, plan: SegmentPlan, x: torch.Tensor, target: torch.Tensor, lower: LayerInfo, upper: LayerInfo | None,
    alphas: torch.Tensor, check: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(A, step-mean gradient) through the plan; with ``check``, its first rows must match the
    plain path, or it warns and gives None so that the caller goes the plain way."""
    act = runner.forward(x, stop_after=lower.name).clone()
    try:
        mean_grad = plan.mean_gradient(act, target, alphas)
    except Exception as error:  # noqa: BLE001 - any failure of the shortcut is reported and the exact plain path used
        if not check:
            raise
        warnings.warn(f"the fast IG plan failed ({error}); using the plain path, which is slower", stacklevel=3)
        return act, None
    if check:
        few = slice(0, min(2, len(x)))
        _, plain = _plain(runner, x[few], target[few], lower, upper, alphas)
        scale = float(plain.abs().max()) + 1e-12
        if not torch.allclose(mean_grad[few], plain, rtol=1e-3, atol=1e-3 * scale):
            warnings.warn("the fast IG plan disagreed with the plain path; using the plain path, which is slower", stacklevel=3)
            return act, None
    return act, mean_grad


def _run(
    runner: ModelRunner,
    images: torch.Tensor,
    lower: LayerInfo,
    upper: LayerInfo | None,
    alphas: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
    widen: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward and backward: (the rows' lower activation A, d objective / d (alpha A))."""
    steps = len(alphas)
    rows = len(images) if widen else len(images) // steps
    captured: dict[str, torch.Tensor] = {}

    def replace(out: torch.Tensor) -> torch.Tensor:
        act = out.detach()[:rows]
        shape = [steps] + [1] * act.ndim
        scaled = (alphas.view(shape) * act.unsqueeze(0)).reshape(steps * rows, *act.shape[1:]).requires_grad_(True)
        captured["act"], captured["scaled"] = act, scaled
        return scaled

    out = runner.forward(
        images, {lower.name: replace}, stop_after=None if upper is None else upper.name, grad=True, copies=steps if widen else 1
    )
    if widen and out.shape[0] != steps * rows:
        raise _BatchMismatch(f"{out.shape[0]} rows reached the target, expected {steps * rows}")
    with torch.enable_grad():
        values = out.float() if upper is None else pooled(out, upper)
        (grad,) = torch.autograd.grad(objective(values), captured["scaled"])
    return captured["act"], grad.detach()
