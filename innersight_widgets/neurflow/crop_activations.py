"""Pooled activations of any crops of a circuit's probe images at its groups' concept
spaces: what the circuit's groups are read on, for crops it was not built from, so that
two circuits can be read on the same crops (``innersight_widgets.compare``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .circuits import Circuit, _pooled


def crop_activations(circuit: Circuit, boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The spatially averaged activations of each crop at the layers the circuit's groups
    live in (their ``space_layer``).

    Parameters
    ----------
    circuit : Circuit
        A circuit that holds its analysis.
    boxes : np.ndarray, optional
        m x 5 int: source probe image, top, left, bottom, right of each crop (as
        :attr:`Circuit.crops`); default the circuit's own crops. Each crop is resized to
        the input size, as the circuit's crops were when it was built.

    Returns
    -------
    dict of str to np.ndarray
        Space layer -> m x C: the activations of all its C neurons; a group's concept
        space is the columns ``group.space``.

    Raises
    ------
    ValueError
        If the circuit was loaded without its analysis.
    """
    boxes = circuit.crops if boxes is None else np.asarray(boxes, dtype=np.int64).reshape(-1, 5)
    crops = replace(circuit, crops=boxes).crop_tensor()
    return _pooled(circuit.analysis, crops, sorted({group.space_layer for group in circuit.groups}))
