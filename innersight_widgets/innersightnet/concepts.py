"""Concept association of communities (docs/methods.md, section 3.4, evaluation 6): how well
a community score separates the probe images with one annotated concept value from the
rest (AUROC), and the best such value as the community's label.

Takes plain inputs (community scores, the probe); the report keeps what it computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..engine import Probe

#: A concept's name -> (N value index of each probe image, the names of the values).
ConceptValues = dict[str, tuple[np.ndarray, tuple[str, ...]]]
#: (concept, value name) -> AUROC of one community's score for that value.
Aurocs = dict[tuple[str, str], float]


@dataclass(frozen=True)
class ConceptScore:
    """How well the community score separates images with one concept value from the rest.

    Parameters
    ----------
    concept : str
        The annotated concept (``"class"`` for the true class).
    value : str
        The name of one value of it.
    auroc : float
        Area under the ROC curve of the community score for images with that value
        against all others: 0.5 is chance, 1 a perfect separation.
    """

    concept: str
    value: str
    auroc: float


def concept_values(probe: Probe) -> ConceptValues:
    """The concepts the probe images are annotated with, and their true class unless a
    concept already gives it.

    Parameters
    ----------
    probe : Probe
        The analysis whose probe images are labelled.

    Returns
    -------
    dict
        Concept name -> (N value index of each probe image, the names of the values);
        ``"class"`` holds the labels and class names when no concept equals the labels.
    """
    data = probe.data
    concepts = {name: (c.values, c.names) for name, c in data.concepts.items()}
    labels = probe.labels
    if not any(np.array_equal(values, labels) for values, _ in concepts.values()):
        concepts["class"] = (labels, tuple(data.class_names))
    return concepts


def concept_aurocs(scores: np.ndarray, concepts: ConceptValues) -> list[Aurocs]:
    """AUROC (Mann-Whitney U from ranks) of each score column for every concept value.

    Parameters
    ----------
    scores : np.ndarray
        N x k: the scores of k communities on the N probe images.
    concepts : dict
        As :func:`concept_values` gives them.

    Returns
    -------
    list of dict
        k dicts, one per column: (concept, value name) -> AUROC, for every value that
        some but not all images have.
    """
    from scipy.stats import rankdata

    ranks = rankdata(scores, axis=0)
    results: list[Aurocs] = [{} for _ in range(scores.shape[1])]
    for name, (values, names) in concepts.items():
        for v, value_name in enumerate(names):
            positive = values == v
            n_pos, n_neg = int(positive.sum()), int((~positive).sum())
            if n_pos == 0 or n_neg == 0:
                continue
            auc = (ranks[positive].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            for found, a in zip(results, auc):
                found[(name, value_name)] = float(a)
    return results


def ranked(aurocs: Mapping[tuple[str, str], float]) -> list[ConceptScore]:
    """One community's concept values as :class:`ConceptScore`, highest AUROC first.

    Parameters
    ----------
    aurocs : mapping
        (concept, value name) -> AUROC, as one entry of :func:`concept_aurocs`.

    Returns
    -------
    list of ConceptScore
        Every value, highest AUROC first (ties in the mapping's order).
    """
    scores = [ConceptScore(name, value, auc) for (name, value), auc in aurocs.items()]
    return sorted(scores, key=lambda s: -s.auroc)


def label_text(label: ConceptScore | None) -> str | None:
    """A label as ``"concept=value"``.

    Parameters
    ----------
    label : ConceptScore or None
        A community's label.

    Returns
    -------
    str or None
        ``"concept=value"``, or None without a label.
    """
    return None if label is None else f"{label.concept}={label.value}"
