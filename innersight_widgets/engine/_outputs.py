"""The logits in what a model returns: a tensor, a Hugging Face ``ModelOutput``, a dict, or a
tuple whose one N x K tensor is the logits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

#: Reads the logits (N x K) out of whatever the model returns.
OutputReader = Callable[[Any], torch.Tensor]


class OutputError(TypeError):
    """A model output whose logits cannot be found; the message names both ways out."""


def find_logits(output: Any, rows: int) -> torch.Tensor:
    """The N x K logits in a model's ``output`` for a batch of ``rows`` images.

    Parameters
    ----------
    output : Tensor, ModelOutput, dict, tuple or list
        What the model's forward returned.
    rows : int
        N, the images of the batch: a tuple's logits are its one 2-D tensor of N rows.

    Returns
    -------
    Tensor, N x K
        ``output`` itself, its ``logits`` attribute or key, or the one N x K tensor of a
        tuple or list.

    Raises
    ------
    OutputError
        When none of these holds.
    """
    if isinstance(output, torch.Tensor):
        return output
    found = getattr(output, "logits", None)
    if found is None and isinstance(output, Mapping):
        found = output.get("logits")
    if isinstance(found, torch.Tensor):
        return found
    if isinstance(output, (tuple, list)):
        candidates = [t for t in output if isinstance(t, torch.Tensor) and t.ndim == 2 and t.shape[0] == rows]
        if len(candidates) == 1:
            return candidates[0]
        what = f"a {type(output).__name__} with {len(candidates)} tensors of shape {rows} x K"
    else:
        what = f"a {type(output).__name__} with no logits"
    raise OutputError(
        f"the model returned {what}; the analysis reads the logits (N x K) from a tensor, from an output's "
        "`logits` (a Hugging Face ModelOutput or a dict), or from the one N x K tensor of a tuple. Pass "
        "output=lambda out: ... (e.g. output=lambda out: out[0]) to say where they are, or wrap the model in "
        "a module whose forward returns the logits tensor"
    )


def output_reader(output: OutputReader | None) -> OutputReader | None:
    """``output`` checked: None (find the logits) or a callable."""
    if output is not None and not callable(output):
        raise TypeError(
            f"output must be a callable that takes the model's output and returns its N x K logits, got "
            f"{type(output).__name__}"
        )
    return output
