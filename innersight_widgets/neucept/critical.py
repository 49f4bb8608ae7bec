"""NeuCEPT: critical neurons of a class with FDR control, and the mechanisms they reveal.

``critical_neurons`` fits model-X knockoffs on a layer's profiles against the class
logit, several times with fresh knockoffs; the statistics of every run are kept, so a
new FDR is a re-threshold in microseconds. ``mechanisms`` clusters the images the model
assigns to the class by their critical neurons' activations and measures how much the
clusters say about a known sub-label, against random and saliency-ranked neuron sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import positive_int
from ..engine import Cancelled, integrated_gradients, write_html
from .knockoffs import knockoff_run, knockoff_threshold

if TYPE_CHECKING:
    from ..engine import Probe


@dataclass(frozen=True, eq=False)
class CriticalNeurons:
    """The knockoff selection of one layer for one class, at a target FDR.

    Made by :func:`critical_neurons`; see docs/methods.md, section 5. Every run's
    statistics are kept, so :meth:`at` re-thresholds at another FDR without refitting.

    Parameters
    ----------
    layer : str
        The layer whose neurons were tested.
    target_class : int
        The class index; ``class_name`` is its name.
    class_name : str
        The class's name.
    fdr : float
        The target false-discovery rate q, in (0, 1).
    w : np.ndarray
        runs x C: the knockoff statistics W_j = |beta_j| - |beta~_j| of each run (row 0
        is the run the FDR guarantee is about).
    set_aside : np.ndarray
        C bool: neurons constant over the probe images, given W = 0 and never selected.
    no_power_runs : int
        Runs whose knockoffs could not differ from the originals (W = 0 everywhere, so
        they select nothing).
    plus : bool
        True for the knockoff+ threshold (FDR control), False for the plain knockoff
        threshold (modified FDR).
    """

    layer: str
    target_class: int
    class_name: str
    fdr: float
    w: np.ndarray = field(repr=False)  # runs x C statistics
    set_aside: np.ndarray = field(repr=False)  # C bool: constant neurons, W = 0
    no_power_runs: int = 0
    plus: bool = True

    @property
    def threshold(self) -> float:
        """The knockoff(+) threshold of the first run (the one the FDR guarantee is about);
        inf when no threshold meets the FDR, so nothing is selected."""
        return knockoff_threshold(self.w[0], self.fdr, self.plus)

    @property
    def selected(self) -> np.ndarray:
        """(S,) neuron indices the first run selects, ascending: expected false-discovery
        proportion <= fdr."""
        return np.flatnonzero(self.w[0] >= self.threshold)

    @property
    def why_none(self) -> str | None:
        """Why nothing is selected, in words (None when something is)."""
        if self.selected.size:
            return None
        if self.set_aside.all():
            return "every neuron is constant over the class's probe images: there is nothing to select"
        if self.no_power_runs and not np.any(self.w[0]):
            return (
                "no power: the knockoffs could not differ from the neurons (fewer than two vary, or they are "
                "almost collinear), so every statistic is 0; give more probe images"
            )
        needed = int(np.ceil(1 / self.fdr)) if self.plus else 1
        return (
            f"no threshold keeps the estimated FDR at or below {self.fdr:g}: "
            f"{'knockoff+ needs at least ' + str(needed) + ' neurons' if self.plus else 'it needs neurons'} "
            f"with a clearly positive W, and {int((self.w[0] > 0).sum())} of {self.w.shape[1]} have W > 0; "
            "raise the FDR or give more probe images"
        )

    @property
    def frequency(self) -> np.ndarray:
        """C: the share of runs (fresh knockoffs each, each at its own threshold) that
        select each neuron: a stability figure, outside the FDR guarantee."""
        chosen = np.stack([row >= knockoff_threshold(row, self.fdr, self.plus) for row in self.w])
        return chosen.mean(axis=0)

    def at(self, fdr: float) -> CriticalNeurons:
        """The same runs re-thresholded at another FDR (no refitting).

        Parameters
        ----------
        fdr : float
            The new target FDR q, in (0, 1).

        Returns
        -------
        CriticalNeurons
            A copy with ``fdr`` replaced; ``selected``, ``threshold`` and ``frequency``
            follow it.

        Raises
        ------
        ValueError
            If ``fdr`` is not in (0, 1).
        """
        knockoff_threshold(self.w[0], fdr, self.plus)  # validates q
        return replace(self, fdr=float(fdr))

    def to_dataframe(self) -> Any:
        """One row per neuron of the layer.

        Returns
        -------
        pandas.DataFrame
            C rows indexed by ``neuron``, with ``W`` (the first run's statistic),
            ``mean_W`` (over runs), ``frequency``, ``selected`` and ``set_aside``.
        """
        import pandas as pd

        selected = np.zeros(self.w.shape[1], bool)
        selected[self.selected] = True
        return pd.DataFrame(
            {"W": self.w[0], "mean_W": self.w.mean(0), "frequency": self.frequency, "selected": selected,
             "set_aside": self.set_aside}
        ).rename_axis("neuron")

    def to_dict(self) -> dict[str, Any]:
        """The selection and every run's statistics as plain JSON-ready values.

        Returns
        -------
        dict
            ``layer``, ``target_class``, ``class_name``, ``fdr``, ``selected``,
            ``threshold``, ``frequency`` (C), ``w`` (runs x C nested lists), ``set_aside``
            (indices) and ``no_power_runs``.
        """
        return {
            "layer": self.layer, "target_class": self.target_class, "class_name": self.class_name, "fdr": self.fdr,
            "selected": self.selected.tolist(), "threshold": self.threshold, "frequency": self.frequency.tolist(),
            "w": self.w.tolist(), "set_aside": np.flatnonzero(self.set_aside).tolist(), "no_power_runs": self.no_power_runs,
        }

    def to_html(self, path: str | Path) -> Path:
        """Write the selection as a self-contained HTML page whose FDR slider still works offline.

        Parameters
        ----------
        path : str or Path
            The HTML file to write.

        Returns
        -------
        Path
            The file written (see :func:`innersight_widgets.reports.critical_html`).
        """
        return write_html(self, path)


def critical_neurons(
    an: Probe, layer: str, target_class: int | str, fdr: float = 0.1, runs: int = 10, seed: int = 0, plus: bool = True
) -> CriticalNeurons:
    """Neurons of ``layer`` whose profiles carry the class logit, selected with FDR <= ``fdr``.

    X = the layer's profiles on the probe images, y = the model's logit of the class.
    Each run draws fresh Gaussian knockoffs from its own seeded generator.

    Parameters
    ----------
    an : Analysis
        The analysis whose profiles (N x C) and logits (N x K) are used, over all its
        probe images whatever their class.
    layer : str
        A selected layer of ``an``; it needs N >= 2 x C probe images.
    target_class : int or str
        The class, by index or name; the model must predict it on at least one image.
    fdr : float
        Target false-discovery rate q, in (0, 1).
    runs : int
        Knockoff draws, each with a fresh lasso fit: the first gives the selection, all
        give the selection frequency.
    seed : int
        Run r draws from ``default_rng([seed, r])``.
    plus : bool
        Knockoff+ threshold (True) or the plain knockoff threshold.

    Returns
    -------
    CriticalNeurons
        The statistics of every run (runs x C) and the selection at ``fdr``.

    Raises
    ------
    ValueError
        For an FDR outside (0, 1), too few images for the layer, or a class the model
        never predicts.
    """
    c = an.class_index(target_class)
    knockoff_threshold(np.ones(1), fdr, plus)  # validates q before any work
    runs = positive_int("runs", runs, "knockoff runs, each with fresh knockoffs")
    x = an.profiles(layer).astype(np.float64)
    n, p = x.shape
    if n < 2 * p:
        raise ValueError(
            f"layer {layer!r} has {p} neurons but there are only {n} probe images; knockoffs need at least "
            f"2 x neurons = {2 * p} images (use more data or a smaller layer)"
        )
    if not np.any(an.predictions.classes == c):
        raise ValueError(f"the model never predicts {an.data.class_names[c]!r} on these images; pick another class")
    y = an.predictions.logits[:, c].astype(np.float64)
    results = [knockoff_run(x, y, np.random.default_rng([seed, r])) for r in range(runs)]
    set_aside = x.std(axis=0) <= 1e-8 * (1 + np.abs(x.mean(axis=0)))
    return CriticalNeurons(
        layer, c, an.data.class_names[c], float(fdr), np.stack([r.w for r in results]), set_aside,
        sum(r.no_power for r in results), plus,
    )


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


def mechanisms(an: Probe, critical: CriticalNeurons, k: int | None = None, seed: int = 0,
               neurons: np.ndarray | None = None) -> Mechanisms:
    """KMeans on the standardised activations of ``neurons`` (default: the critical ones) over
    the images the model assigns to the class; k by silhouette in 2..8 unless given.

    Parameters
    ----------
    an : Analysis
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
    images = np.flatnonzero(an.predictions.classes == critical.target_class)
    x = an.profiles(critical.layer)[images][:, chosen].astype(np.float64)
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


def evaluate_mechanisms(an: Probe, critical: CriticalNeurons, found: Mechanisms, concept: str,
                        draws: int = 10, seed: int = 0, should_stop: Callable[[], bool] | None = None) -> MechanismReport:
    """NMI, MI and conditional entropy of the mechanisms against a sub-label concept, beside
    the same clustering (same k) on random and on saliency-ranked neuron sets of equal size.
    ``should_stop`` is asked between random sets and saliency batches (True: raise ``Cancelled``).

    Parameters
    ----------
    an : Analysis
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

    if concept not in an.data.concepts:
        raise ValueError(f"the data has no concept {concept!r}; it has {', '.join(an.data.concepts) or 'none'}")
    truth = an.data.concepts[concept].values[found.images]
    size, k = len(found.neurons), found.k
    n_neurons = an.layer_info(critical.layer).num_neurons
    rng = np.random.default_rng(seed)
    random_nmis = []
    for _ in range(draws):
        _stop_if(should_stop)
        labels = mechanisms(an, critical, k, seed, rng.choice(n_neurons, size, replace=False)).labels
        random_nmis.append(normalized_mutual_info_score(truth, labels))
    random_nmi = np.mean(random_nmis)
    salient = np.argsort(-saliency(an, critical.layer, critical.target_class, should_stop=should_stop))[:size]
    saliency_nmi = normalized_mutual_info_score(truth, mechanisms(an, critical, k, seed, salient).labels)
    mi = mutual_info_score(truth, found.labels)
    entropy = mutual_info_score(truth, truth)
    return MechanismReport(
        concept, float(normalized_mutual_info_score(truth, found.labels)), float(mi), float(entropy - mi),
        float(random_nmi), float(saliency_nmi),
    )


def saliency(an: Probe, layer: str, target_class: int, steps: int = 16,
             should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Mean integrated-gradient attribution of the class logit to each neuron of ``layer``,
    over the images of that class (``should_stop`` asked between batches).

    Parameters
    ----------
    an : Analysis
        The analysis whose probe images are used.
    layer : str
        A layer of the model.
    target_class : int
        The class index; its probe images (by true label) are attributed.
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

    images = np.flatnonzero(an.labels == target_class)
    info = an.layer_info(layer)
    total = np.zeros(info.num_neurons, dtype=np.float64)
    for _, x, _ in an.data.batches(an.batch_size, indices=images):
        _stop_if(should_stop)
        total += integrated_gradients(an.runner, x, np.full(len(x), target_class), info, None, steps).sum(0)
    return (total / max(len(images), 1)).astype(np.float32)


def ablation_comparison(an: Probe, critical: CriticalNeurons, draws: int = 10, seed: int = 0,
                        should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
    """Drop in the class's accuracy when its critical neurons are zeroed, against as many
    random neurons (mean of ``draws``) and as many saliency-ranked ones, in one batched pass
    (``should_stop`` asked between batches: True raises ``Cancelled``).

    Parameters
    ----------
    an : Analysis
        The analysis the selection was made on.
    critical : CriticalNeurons
        The selection; at least one neuron must be selected.
    draws : int
        Random neuron sets of the same size, drawn uniformly from the layer.
    seed : int
        Seeds the random sets.
    should_stop : callable, optional
        Asked between batches; True stops the work with ``Cancelled``.

    Returns
    -------
    dict
        ``critical``, ``saliency`` and ``random`` (mean over draws) drops of the class's
        accuracy over its probe images, ``random_std`` (their population spread) and
        ``neurons`` (how many were zeroed in each set).

    Raises
    ------
    ValueError
        If no neuron is selected.
    """
    size = critical.selected.size
    if size == 0:
        raise ValueError(f"no neuron is selected at FDR {critical.fdr}")
    n_neurons = an.layer_info(critical.layer).num_neurons
    rng = np.random.default_rng(seed)
    salient = np.argsort(-saliency(an, critical.layer, critical.target_class, should_stop=should_stop))[:size]
    specs = [{critical.layer: critical.selected.tolist()}, {critical.layer: salient.tolist()}] + [
        {critical.layer: rng.choice(n_neurons, size, replace=False).tolist()} for _ in range(draws)
    ]
    results = an.ablate_many(specs, should_stop=should_stop)
    c = critical.target_class
    drops = [r.class_accuracy_before[c] - r.class_accuracy_after[c] for r in results]
    return {"critical": float(drops[0]), "saliency": float(drops[1]), "random": float(np.mean(drops[2:])),
            "random_std": float(np.std(drops[2:])), "neurons": int(size)}


def _stop_if(should_stop: Callable[[], bool] | None) -> None:
    """Raise ``Cancelled`` when ``should_stop`` says a newer request replaced this work."""
    if should_stop is not None and should_stop():
        raise Cancelled("stopped: a newer request replaced this work")
