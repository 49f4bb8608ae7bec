"""The ablation importance test of a community (docs/methods.md, section 3.4, evaluation 3):
ablate its members, and as many random neurons of the same layers ``draws`` times, on the
same probe images; the :class:`Importance` record compares the community's accuracy drop
with the random sets'.

Takes plain inputs (the probe, a community's ablation spec); the report keeps the results.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval
from ..engine import chunks

if TYPE_CHECKING:
    from ..engine import AblationResult, Probe

#: The random sets of an importance test run in this many groups, each followed by a
#: partial result: enough for a display to fill in. Each group runs the layers below the
#: ablated ones over the images once more. On shapes-cnn (benchmarks/bench_communities.py,
#: 2 CPU cores, 20 sets on all 2,000 images) 2/3/4 groups cost 2.9-3.7x/3.3-4.2x/4.7-5.3x
#: a forward pass, the sets in one ablate_many call 1.2-2.5x.
_NULL_GROUPS = 3
#: What ``images`` of a test accepts (its message also says how many probe images there are).
IMAGES = Interval(int, 1, none=True)


@dataclass(frozen=True, eq=False)
class Importance:
    """Ablating the community against ablating random neuron sets of the same size and layers.

    Every figure is over the same ``images`` probe images. While the test is still running
    (see ``on_partial`` of :meth:`CommunityReport.importance`) ``null_drops`` holds the
    random sets done so far, possibly none: then ``null_mean``, ``null_std``, ``z_score``
    and ``p_value`` are NaN, since there is nothing to compare the community with yet.

    Parameters
    ----------
    community : int
        The community tested.
    mode : {"zero", "mean"}
        What replaced the ablated neurons.
    images : int
        How many probe images every ablation was evaluated on.
    accuracy_drop : float
        The community's accuracy drop (before minus after).
    class_accuracy_drop : np.ndarray
        K: its accuracy drop per class; NaN for a class with no image among ``images``.
    own_logit_change : np.ndarray
        K: the mean change of each class's own logit over that class's images.
    null_drops : np.ndarray
        draws: the accuracy drop of each random set.
    null_class_drops : np.ndarray
        draws x K: the per-class accuracy drops of each random set.
    """

    community: int
    mode: str
    images: int  # how many probe images every ablation was evaluated on
    accuracy_drop: float
    class_accuracy_drop: np.ndarray  # K; NaN for a class with no image among ``images``
    own_logit_change: np.ndarray  # K
    null_drops: np.ndarray  # draws
    null_class_drops: np.ndarray  # draws x K

    @property
    def null_mean(self) -> float:
        """The mean accuracy drop of the random sets (NaN without draws)."""
        return float(self.null_drops.mean()) if len(self.null_drops) else np.nan

    @property
    def null_std(self) -> float:
        """The spread (sample standard deviation) of the random sets' drops: NaN without
        draws, 0 with one."""
        if not len(self.null_drops):
            return np.nan
        return float(self.null_drops.std(ddof=1)) if len(self.null_drops) > 1 else 0.0

    @property
    def z_score(self) -> float:
        """(accuracy_drop - null_mean) / null_std: NaN without draws, +-inf (or 0 for no
        gap) when the random sets' drops have no spread."""
        if not len(self.null_drops):
            return np.nan
        spread = self.null_std
        if spread == 0:
            gap = self.accuracy_drop - self.null_mean
            return 0.0 if gap == 0 else float(np.sign(gap) * np.inf)
        return (self.accuracy_drop - self.null_mean) / spread

    @property
    def p_value(self) -> float:
        """Empirical one-sided p: the share of random sets (plus this one) that hurt at least
        as much."""
        if not len(self.null_drops):
            return np.nan
        return float((1 + np.sum(self.null_drops >= self.accuracy_drop)) / (len(self.null_drops) + 1))

    @property
    def null_class_mean(self) -> np.ndarray:
        """(K,) mean drop of each class's accuracy over the random sets; NaN for a class with
        no image among ``images`` (NaN in every draw, since all share the images) or before
        the first draw."""
        if not len(self.null_drops):
            return np.full(self.null_class_drops.shape[1], np.nan)
        return self.null_class_drops.mean(0)

    @property
    def null_class_std(self) -> np.ndarray:
        """(K,) spread (population sd) of each class's drop over the random sets; NaN as for
        :attr:`null_class_mean`."""
        if not len(self.null_drops):
            return np.full(self.null_class_drops.shape[1], np.nan)
        return self.null_class_drops.std(0)

    @classmethod
    def from_ablations(
        cls, community: int, own: AblationResult, null: Sequence[AblationResult]
    ) -> Importance:
        """The test from the ablation of the community (``own``) and of random sets
        (``null``, possibly none yet), all on the same images.

        Parameters
        ----------
        community : int
            The community tested.
        own : AblationResult
            The ablation of its members.
        null : sequence of AblationResult
            The ablations of the random sets so far (possibly empty).

        Returns
        -------
        Importance
            The community's figures beside the ``len(null)`` random drops.
        """
        return cls(
            community,
            own.mode,
            len(own.labels),
            own.accuracy_drop,
            own.class_accuracy_drop,
            own.own_logit_change,
            np.array([r.accuracy_drop for r in null], dtype=float),
            np.array([r.class_accuracy_drop for r in null], dtype=float).reshape(len(null), len(own.class_names)),
        )

    def to_dict(self) -> dict[str, Any]:
        """The test's figures as plain JSON-ready values.

        Returns
        -------
        dict
            ``community``, ``mode``, ``images``, ``accuracy_drop``, ``null_mean``,
            ``null_std``, ``z_score``, ``p_value``, ``draws`` and the per-class lists
            (K) ``class_accuracy_drop`` and ``null_class_drop_mean``.
        """
        return {
            "community": self.community,
            "mode": self.mode,
            "images": self.images,
            "accuracy_drop": self.accuracy_drop,
            "null_mean": self.null_mean,
            "null_std": self.null_std,
            "z_score": self.z_score,
            "p_value": self.p_value,
            "draws": len(self.null_drops),
            "class_accuracy_drop": self.class_accuracy_drop.tolist(),
            "null_class_drop_mean": self.null_class_mean.tolist(),
        }


def image_sample(probe: Probe, images: int | None, seed: int) -> np.ndarray | None:
    """The probe images an importance test runs on: a fixed sample drawn from ``seed`` alone.

    Parameters
    ----------
    probe : Probe
        The analysis whose N probe images are sampled.
    images : int or None
        How many; None, or N or more, for all of them.
    seed : int
        Seeds the sample (a stream of its own: the random sets draw from [seed, community]).

    Returns
    -------
    np.ndarray or None
        (images,) sorted probe image indices; None for all of them.

    Raises
    ------
    ValueError
        If ``images`` is not None or a positive integer.
    """
    n = len(probe.data)
    if not IMAGES.accepts(images):
        raise ValueError(
            f"images must be a positive number of probe images to test on (e.g. 512), "
            f"or None for all {n}; got {images!r}"
        )
    if images is None or images >= n:
        return None
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    return np.sort(rng.choice(n, int(images), replace=False))


def importance_test(
    probe: Probe,
    community: int,
    spec: Mapping[str, Sequence[int]],
    draws: int,
    mode: str,
    seed: int,
    sample: np.ndarray | None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_partial: Callable[[Importance], None] | None = None,
) -> Importance:
    """The importance test of one community: its members ablated alone, then ``draws``
    random sets of as many neurons per layer in ``_NULL_GROUPS`` groups, each group one
    ``ablate_many`` followed by a partial result.

    Parameters
    ----------
    probe : Probe
        The analysis that runs the ablations.
    community : int
        The community's number: it seeds its random sets, with ``seed``.
    spec : mapping of str to sequence of int
        Its members, ``{layer: [neuron, ...]}``.
    draws : int
        How many random sets (>= 1).
    mode : {"zero", "mean"}
        What replaces an ablated neuron's output.
    seed : int
        Seeds the random sets, with the community: they draw from
        ``default_rng([seed, community])``.
    sample : np.ndarray or None
        (n,) probe image indices every ablation runs on (see :func:`image_sample`); None
        for all of them.
    should_stop : callable, optional
        Asked between batches; True ends the test with :class:`~innersight_widgets.engine.Cancelled`.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each batch, in image copies of the whole test.
    on_partial : callable, optional
        Hears the test after the community's own ablation and after each group.

    Returns
    -------
    Importance
        The community's drops beside the ``draws`` random sets'.
    """
    rng = np.random.default_rng([seed, community])
    nulls = [
        {
            layer: sorted(rng.choice(probe.layer_info(layer).num_neurons, len(idx), replace=False).tolist())
            for layer, idx in spec.items()
        }
        for _ in range(draws)
    ]
    groups = [[spec], *(nulls[group] for group in chunks(draws, -(-draws // _NULL_GROUPS)))]
    used = len(probe.data) if sample is None else len(sample)
    total = (1 + draws) * used
    results: list[AblationResult] = []
    for specs in groups:
        progress = None
        if on_progress is not None:
            progress = partial(_progress_after, on_progress, len(results) * used, total)
        results += probe.ablate_many(
            specs, mode=mode, should_stop=should_stop, on_progress=progress, images=sample
        )
        so_far = Importance.from_ablations(community, results[0], results[1:])
        if on_partial is not None:
            on_partial(so_far)
    return so_far


def _progress_after(
    on_progress: Callable[[int, int], None], offset: int, total: int, done: int, _: int
) -> None:
    """``on_progress`` of a whole test hearing one of its ``ablate_many`` calls, which
    starts ``offset`` image copies into the test's ``total``."""
    on_progress(offset + done, total)
