"""NeuCEPT's mechanisms (docs/methods.md, section 5): the images the model assigns to a
class, clustered by the activations of its critical neurons, and how much the clusters say
about a known sub-label against random and saliency-ranked neuron sets of the same size.

Takes a selection of critical neurons by what it offers (:class:`Selection`: layer,
class, FDR, selected neurons), so that it never imports :mod:`.critical`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .saliency import saliency, stop_if

if TYPE_CHECKING:
    from ..engine import Probe

__all__ = ["MechanismReport", "Mechanisms", "Selection", "evaluate_mechanisms", "mechanisms"]


class Selection(Protocol):
    """What the mechanisms take from a selection of critical neurons: a
    :class:`~innersight_widgets.neucept.CriticalNeurons` is one."""

    @property
    def layer(self) -> str:
        """The layer whose neurons were selected."""

    @property
    def target_class(self) -> int:
        """The class index."""

    @property
    def fdr(self) -> float:
        """The target false-discovery rate of the selection."""

    @property
    def selected(self) -> np.ndarray:
        """(S,) the selected neuron indices of the layer."""


@dataclass(frozen=True, eq=False)
class Mechanisms:
    """Clusters of the images assigned to a class, by the activations of a set of neurons.

    Made by :func:`mechanisms`.

    Parameters
    ----------
    images : np.ndarray
        n: indices of the probe images the model predicts as the class.
    labels : np.ndarray
        n: the mechanism (cluster) of each of those images, in 0..k-1.
    neurons : np.ndarray
        S: the neurons of the layer clustered on.
    features : np.ndarray
        n x S: the activations clustered, each neuron standardised over the n images.
    """

    images: np.ndarray  # indices of the images the model assigns to the class
    labels: np.ndarray  # cluster of each of those images
    neurons: np.ndarray  # the neurons clustered on
    features: np.ndarray = field(repr=False)  # images x neurons: the standardised activations clustered

    @property
    def k(self) -> int:
        """How many mechanisms there are."""
        return int(self.labels.max()) + 1 if self.labels.size else 0

    def members(self, mechanism: int) -> np.ndarray:
        """The probe images of one mechanism.

        Parameters
        ----------
        mechanism : int
            A mechanism number, in 0..k-1.

        Returns
        -------
        np.ndarray
            (size,) probe image indices, ascending.
        """
        return self.images[self.labels == mechanism]

    def typical(self, mechanism: int, n: int) -> np.ndarray:
        """The ``n`` members closest to the mechanism's centre (in the clustered features),
        closest first: the images that show what the mechanism is, not the first by index.

        Parameters
        ----------
        mechanism : int
            A mechanism number, in 0..k-1.
        n : int
            How many images are wanted.

        Returns
        -------
        np.ndarray
            (min(n, size),) probe image indices.
        """
        rows = np.flatnonzero(self.labels == mechanism)
        x = self.features[rows]
        distance = np.linalg.norm(x - x.mean(0), axis=1)
        return self.images[rows[np.argsort(distance, kind="stable")[:n]]]


@dataclass(frozen=True)
class MechanismReport:
    """How much the mechanisms say about a known sub-label, against baselines of equal size.

    Made by :func:`evaluate_mechanisms`. Information is in nats.

    Parameters
    ----------
    concept : str
        The annotated concept used as the sub-label.
    nmi : float
        Normalised mutual information between the mechanisms and the sub-label.
    mutual_information : float
        Their mutual information.
    conditional_entropy : float
        H(sub-label | mechanism): what the mechanisms leave unexplained.
    random_nmi : float
        Mean NMI of the same clustering on random neuron sets of the same size.
    saliency_nmi : float
        NMI of the same clustering on the most salient neurons (as many).
    """

    concept: str
    nmi: float
    mutual_information: float
    conditional_entropy: float  # mean H(sub-label | mechanism), in nats
    random_nmi: float  # mean over random neuron sets of the same size
    saliency_nmi: float  # the top neurons by integrated-gradient saliency

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict.

        Returns
        -------
        dict
            One entry per field.
        """
        return self.__dict__.copy()


def mechanisms(analysis: Probe, critical: Selection, k: int | None = None, seed: int = 0,
               neurons: np.ndarray | None = None) -> Mechanisms:
    """KMeans on the standardised activations of ``neurons`` (default: the critical ones) over
    the images the model assigns to the class; k by silhouette in 2..8 unless given.

    Parameters
    ----------
    analysis : Analysis
        The analysis the selection was made on.
    critical : CriticalNeurons
        Gives the layer, the class and (by default) the neurons.
    k : int, optional
        Number of mechanisms; None chooses it by silhouette over 2..min(8, n - 1) for n
        images.
    seed : int
        Seeds k-means.
    neurons : np.ndarray, optional
        S neuron indices of the layer to cluster on instead of the selected ones (used
        for the random and saliency baselines).

    Returns
    -------
    Mechanisms
        The images predicted as the class and the mechanism of each.

    Raises
    ------
    ValueError
        If no neuron is selected (and none given).
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    chosen = critical.selected if neurons is None else np.asarray(neurons)
    if chosen.size == 0:
        raise ValueError(f"no neuron is selected at FDR {critical.fdr}; raise the FDR or use another layer")
    images = np.flatnonzero(analysis.predictions.classes == critical.target_class)
    x = analysis.profiles(critical.layer)[images][:, chosen].astype(np.float64)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    if k is not None:
        return Mechanisms(images, KMeans(k, n_init=10, random_state=seed).fit_predict(x), chosen, x)
    best, best_labels = -2.0, np.zeros(len(images), int)
    for candidate in range(2, min(8, len(images) - 1) + 1):
        labels = KMeans(candidate, n_init=10, random_state=seed).fit_predict(x)
        score = silhouette_score(x, labels) if len(set(labels)) > 1 else -1
        if score > best:
            best, best_labels = score, labels
    return Mechanisms(images, best_labels, chosen, x)


def evaluate_mechanisms(analysis: Probe, critical: Selection, found: Mechanisms, concept: str,
                        draws: int = 10, seed: int = 0, should_stop: Callable[[], bool] | None = None) -> MechanismReport:
    """NMI, MI and conditional entropy of the mechanisms against a sub-label concept, beside
    the same clustering (same k) on random and on saliency-ranked neuron sets of equal size.
    ``should_stop`` is asked between random sets and saliency batches (True: raise ``Cancelled``).

    Parameters
    ----------
    analysis : Analysis
        The analysis the selection was made on; its data must carry ``concept``.
    critical : CriticalNeurons
        The selection the mechanisms were found from.
    found : Mechanisms
        The mechanisms to judge (from :func:`mechanisms`).
    concept : str
        An annotated concept of the data, e.g. the digit behind a parity class.
    draws : int
        Random neuron sets of the same size, drawn uniformly from the layer.
    seed : int
        Seeds the random sets and the k-means runs.
    should_stop : callable, optional
        Asked between steps; True stops the work with ``Cancelled``.

    Returns
    -------
    MechanismReport
        The mechanisms' figures and the two baselines' NMI.

    Raises
    ------
    ValueError
        If the data has no such concept.
    """
    from sklearn.metrics import mutual_info_score, normalized_mutual_info_score

    if concept not in analysis.data.concepts:
        raise ValueError(f"the data has no concept {concept!r}; it has {', '.join(analysis.data.concepts) or 'none'}")
    truth = analysis.data.concepts[concept].values[found.images]
    size, k = len(found.neurons), found.k
    n_neurons = analysis.layer_info(critical.layer).num_neurons
    rng = np.random.default_rng(seed)
    random_nmis = []
    for _ in range(draws):
        stop_if(should_stop)
        labels = mechanisms(analysis, critical, k, seed, rng.choice(n_neurons, size, replace=False)).labels
        random_nmis.append(normalized_mutual_info_score(truth, labels))
    random_nmi = np.mean(random_nmis)
    salient = np.argsort(-saliency(analysis, critical.layer, critical.target_class, should_stop=should_stop))[:size]
    saliency_nmi = normalized_mutual_info_score(truth, mechanisms(analysis, critical, k, seed, salient).labels)
    mi = mutual_info_score(truth, found.labels)
    entropy = mutual_info_score(truth, truth)
    return MechanismReport(
        concept, float(normalized_mutual_info_score(truth, found.labels)), float(mi), float(entropy - mi),
        float(random_nmi), float(saliency_nmi),
    )
