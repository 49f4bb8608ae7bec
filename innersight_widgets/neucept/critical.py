"""NeuCEPT: critical neurons of a class with FDR control (docs/methods.md, section 5).

``critical_neurons`` fits model-X knockoffs on a layer's profiles against the class
logit, several times with fresh knockoffs; the statistics of every run are kept, so a
new FDR is a re-threshold in microseconds. ``ablation_comparison`` zeroes the selection
beside random and saliency-ranked neuron sets of the same size. The mechanisms the
selection reveals (:mod:`.mechanisms`) and the saliency baseline (:mod:`.saliency`) live
in modules of their own and are importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, validate_params
from ..engine import write_html
from .knockoffs import knockoff_run, knockoff_threshold
from .mechanisms import MechanismReport, Mechanisms, evaluate_mechanisms, mechanisms
from .saliency import saliency

if TYPE_CHECKING:
    from ..engine import Probe

# The mechanisms' names and saliency are re-exported: importable from here, as before the split.
__all__ = [
    "CriticalNeurons",
    "MechanismReport",
    "Mechanisms",
    "ablation_comparison",
    "critical_neurons",
    "evaluate_mechanisms",
    "mechanisms",
    "saliency",
]


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


@validate_params({"runs": Interval(int, 1, meaning="knockoff runs, each with fresh knockoffs")})
def critical_neurons(
    analysis: Probe, layer: str, target_class: int | str, fdr: float = 0.1, runs: int = 10, seed: int = 0, plus: bool = True
) -> CriticalNeurons:
    """Neurons of ``layer`` whose profiles carry the class logit, selected with FDR <= ``fdr``.

    X = the layer's profiles on the probe images, y = the model's logit of the class.
    Each run draws fresh Gaussian knockoffs from its own seeded generator.

    Parameters
    ----------
    analysis : Analysis
        The analysis whose profiles (N x C) and logits (N x K) are used, over all its
        probe images whatever their class.
    layer : str
        A selected layer of ``analysis``; it needs N >= 2 x C probe images.
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
    c = analysis.class_index(target_class)
    knockoff_threshold(np.ones(1), fdr, plus)  # validates q before any work
    x = analysis.profiles(layer).astype(np.float64)
    n, p = x.shape
    if n < 2 * p:
        raise ValueError(
            f"layer {layer!r} has {p} neurons but there are only {n} probe images; knockoffs need at least "
            f"2 x neurons = {2 * p} images (use more data or a smaller layer)"
        )
    if not np.any(analysis.predictions.classes == c):
        raise ValueError(f"the model never predicts {analysis.data.class_names[c]!r} on these images; pick another class")
    y = analysis.predictions.logits[:, c].astype(np.float64)
    results = [knockoff_run(x, y, np.random.default_rng([seed, r])) for r in range(runs)]
    set_aside = x.std(axis=0) <= 1e-8 * (1 + np.abs(x.mean(axis=0)))
    return CriticalNeurons(
        layer, c, analysis.data.class_names[c], float(fdr), np.stack([r.w for r in results]), set_aside,
        sum(r.no_power for r in results), plus,
    )


def ablation_comparison(analysis: Probe, critical: CriticalNeurons, draws: int = 10, seed: int = 0,
                        should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
    """Drop in the class's accuracy when its critical neurons are zeroed, against as many
    random neurons (mean of ``draws``) and as many saliency-ranked ones, in one batched pass
    (``should_stop`` asked between batches: True raises ``Cancelled``).

    Parameters
    ----------
    analysis : Analysis
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
    n_neurons = analysis.layer_info(critical.layer).num_neurons
    rng = np.random.default_rng(seed)
    salient = np.argsort(-saliency(analysis, critical.layer, critical.target_class, should_stop=should_stop))[:size]
    specs = [{critical.layer: critical.selected.tolist()}, {critical.layer: salient.tolist()}] + [
        {critical.layer: rng.choice(n_neurons, size, replace=False).tolist()} for _ in range(draws)
    ]
    results = analysis.ablate_many(specs, should_stop=should_stop)
    c = critical.target_class
    drops = [r.class_accuracy_before[c] - r.class_accuracy_after[c] for r in results]
    return {"critical": float(drops[0]), "saliency": float(drops[1]), "random": float(np.mean(drops[2:])),
            "random_std": float(np.std(drops[2:])), "neurons": int(size)}
