"""What both comparisons share (docs/methods.md, section 10): the similarity of two sets of
units read on the same stimuli, their one-to-one matching above a threshold, linear CKA
between two layers, and the check that two analyses probe the same images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Interval

if TYPE_CHECKING:
    from ..engine import Probe

#: The similarity two units need to be each other's counterpart: a correlation of 0.5
#: means that one unit's scores explain a quarter of the other's variance over the stimuli.
MIN_SIMILARITY = Interval(float, -1.0, 1.0, meaning="the similarity two units need to be counterparts")


def similarity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of ``x`` with every column of ``y``.

    Parameters
    ----------
    x : np.ndarray
        n x Ka: the scores of Ka units on n stimuli.
    y : np.ndarray
        n x Kb: the scores of Kb units on the same stimuli, in the same order.

    Returns
    -------
    np.ndarray
        Ka x Kb float64 in [-1, 1]; 0 for a unit whose scores are constant (it says
        nothing about the stimuli, so it resembles nothing).
    """

    def standard(scores: np.ndarray) -> np.ndarray:
        centred = np.asarray(scores, dtype=np.float64) - np.mean(scores, axis=0, dtype=np.float64)
        norm = np.linalg.norm(centred, axis=0)
        return np.divide(centred, norm, out=np.zeros_like(centred), where=norm > 0)

    return np.clip(standard(x).T @ standard(y), -1.0, 1.0)


def assign(similar: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """The one-to-one matching of rows to columns that maximises the summed excess of
    similarity over ``threshold``; only pairs at or above it are kept.

    A pair below the threshold adds nothing, so it never shifts which pairs above it are
    chosen (Hungarian algorithm on max(similarity - threshold, 0)).

    Parameters
    ----------
    similar : np.ndarray
        Ka x Kb similarities.
    threshold : float
        The least similarity of a kept pair.

    Returns
    -------
    list of (int, int)
        (row, column) pairs, by row.
    """
    from scipy.optimize import linear_sum_assignment

    if not similar.size:
        return []
    rows, columns = linear_sum_assignment(np.maximum(similar - threshold, 0.0), maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, columns) if similar[r, c] >= threshold]


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment of two representations of the same stimuli.

    ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with columns centred: 1 for
    representations equal up to a rotation and a scale, near 0 for unrelated ones.
    Computed through whichever is smaller, the features or the stimuli.

    Parameters
    ----------
    x : np.ndarray
        n x p: one representation (e.g. a layer's profiles).
    y : np.ndarray
        n x q: the other, on the same n stimuli.

    Returns
    -------
    float
        In [0, 1]; NaN when either representation is constant.
    """
    xc = np.asarray(x, dtype=np.float64)
    xc = xc - xc.mean(0)
    yc = np.asarray(y, dtype=np.float64)
    yc = yc - yc.mean(0)
    if len(xc) < xc.shape[1] + yc.shape[1]:
        kx, ky = xc @ xc.T, yc @ yc.T  # n x n Gram matrices
        cross, own_x, own_y = np.sum(kx * ky), np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        cross = np.linalg.norm(yc.T @ xc) ** 2
        own_x, own_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    return float(cross / (own_x * own_y)) if own_x > 0 and own_y > 0 else float("nan")


def check_same_images(a: Probe, b: Probe, names: tuple[str, str]) -> None:
    """Refuse two analyses that do not probe the same images in the same order.

    Their units are compared image by image, so image i must be the same picture on both
    sides. Checked after both passes, on what each analysis kept (images it could not
    read are left out): the number of images, the class names, then the data's
    fingerprint (every image and label byte of data in memory; see
    :meth:`~innersight_widgets.data.ProbeSet.fingerprint`).

    Parameters
    ----------
    a, b : Analysis
        The two analyses.
    names : (str, str)
        What the two sides are called in the message.

    Raises
    ------
    ValueError
        Saying what differs, and to build both analyses on one data object.
    """
    how = (
        "compare reads both models on the same images, image by image: build both analyses on one data "
        "object, e.g. data = load_shapes('test'); Analysis(model_a, data, ...); Analysis(model_b, data, ...)"
    )
    if len(a.data) != len(b.data):
        raise ValueError(
            f"{names[0]} probes {len(a.data)} images and {names[1]} {len(b.data)} (images that could not be read "
            f"are left out: {len(a.unreadable)} and {len(b.unreadable)}); {how}"
        )
    if a.data.class_names != b.data.class_names:
        raise ValueError(
            f"{names[0]} names the classes {a.data.class_names} and {names[1]} {b.data.class_names}; pass the same "
            f"class_names=[...] to both analyses. {how}"
        )
    if a.data.source is b.data.source:
        return
    prints = [side.memo("comparison", "fingerprint", side.data.fingerprint) for side in (a, b)]
    if prints[0] != prints[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} probe different images: both have {len(a.data)} images under the same class "
            f"names, but their pixels or labels differ (data fingerprints {prints[0][:12]} and {prints[1][:12]}); "
            f"{how}"
        )
