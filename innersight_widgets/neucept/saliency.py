"""The saliency baseline of NeuCEPT (docs/methods.md, section 5): each neuron's mean
Integrated Gradients attribution to a class logit. Critical neurons and mechanisms are
compared with as many of the most salient neurons."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..engine import Cancelled, integrated_gradients

if TYPE_CHECKING:
    from ..engine import Probe

__all__ = ["saliency"]


def saliency(analysis: Probe, layer: str, target_class: int | str, steps: int = 16,
             should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Mean integrated-gradient attribution of the class logit to each neuron of ``layer``,
    over the images of that class (``should_stop`` asked between batches).

    Parameters
    ----------
    analysis : Analysis
        The analysis whose probe images are used.
    layer : str
        A layer of the model.
    target_class : int or str
        The class, by index or by name; its probe images (by true label) are attributed.
    steps : int
        Integrated Gradients steps (zero baseline, midpoint rule).
    should_stop : callable, optional
        Asked between batches; True stops the work with ``Cancelled``.

    Returns
    -------
    np.ndarray
        C float32: each neuron's score (its IG map reduced over positions), averaged over
        the class's images; zeros when the class has no image.
    """
    target_class = analysis.class_index(target_class)  # a name compared with labels would match nothing
    images = np.flatnonzero(analysis.labels == target_class)
    info = analysis.layer_info(layer)
    total = np.zeros(info.num_neurons, dtype=np.float64)
    for _, x, _ in analysis.data.batches(analysis.batch_size, indices=images):
        stop_if(should_stop)
        total += integrated_gradients(analysis.runner, x, np.full(len(x), target_class), info, None, steps).sum(0)
    return (total / max(len(images), 1)).astype(np.float32)


def stop_if(should_stop: Callable[[], bool] | None) -> None:
    """Raise ``Cancelled`` when ``should_stop`` says a newer request replaced this work.

    Parameters
    ----------
    should_stop : callable or None
        Asked once; None never stops.

    Raises
    ------
    Cancelled
        When ``should_stop()`` is True.
    """
    if should_stop is not None and should_stop():
        raise Cancelled("stopped: a newer request replaced this work")
