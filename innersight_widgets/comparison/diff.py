"""``compare``: one entry for both comparisons, by what it is given."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, overload

from .._validation import validate_params
from ..engine import Probe
from ..innersightnet import CommunityReport
from ..innersightnet.aggregation import METHOD, SEED
from ..innersightnet.importance import IMAGES
from ..neurflow import Circuit
from .circuits import CircuitComparison, compare_circuits
from .communities import CommunityComparison, compare_communities
from .matching import MIN_SIMILARITY

#: ``compare``'s declared constraints.
CONSTRAINTS = {
    "min_similarity": MIN_SIMILARITY,
    "images": IMAGES,
    "method": METHOD,
    "seed": SEED,
}


@overload
def compare(a: Circuit, b: Circuit, *, min_similarity: float = ..., names: tuple[str, str] = ...) -> CircuitComparison: ...


@overload
def compare(
    a: Probe | CommunityReport,
    b: Probe | CommunityReport,
    layers_a: Sequence[str] | str | None = ...,
    layers_b: Sequence[str] | str | None = ...,
    *,
    min_similarity: float = ...,
    method: str = ...,
    seed: int = ...,
    ablation: bool = ...,
    images: int | None = ...,
    names: tuple[str, str] = ...,
    should_stop: Callable[[], bool] | None = ...,
    on_progress: Callable[[int, int], None] | None = ...,
    **params: Any,
) -> CommunityComparison: ...


@validate_params(CONSTRAINTS)
def compare(
    a: Probe | CommunityReport | Circuit,
    b: Probe | CommunityReport | Circuit,
    layers_a: Sequence[str] | str | None = None,
    layers_b: Sequence[str] | str | None = None,
    *,
    min_similarity: float = 0.5,
    method: str = "louvain",
    seed: int = 0,
    ablation: bool = True,
    images: int | None = None,
    names: tuple[str, str] = ("a", "b"),
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> CommunityComparison | CircuitComparison:
    """What changed inside between two networks read on the same probe images
    (docs/methods.md, section 10).

    **Two analyses** (or two evaluated partitions): each side's communities are matched
    one to one with the other's by how their community scores agree over the probe
    images: the similarity of two communities is the Pearson correlation of their scores
    over the N images, and the matching maximises the summed excess of similarity over
    ``min_similarity`` (Hungarian algorithm); a community matched at less than it,
    or not at all, has no counterpart. Each community carries its label, its own class
    and, with ``ablation``, the accuracy drops (overall and per class) when it is zeroed;
    linear CKA between the two sides' layers is given as a reference.

    **Two circuits** of one class: their groups are scored (log-barrier score against
    each group's mean vector) on the union of both circuits' concept crops, and matched
    level by level, from the logit down, by the correlation of those scores; the groups
    without counterpart appear or disappear, and each edge is set beside the edge between
    its ends' counterparts.

    Parameters
    ----------
    a, b : Analysis, CommunityReport or Circuit
        The two sides: two analyses (partitioned here), two reports (their partitions as
        they are), one of each, or two circuits. Both must probe the same images.
    layers_a, layers_b : str or list of str, optional
        The layers of each analysis to partition together (default: all selected); not
        with a report or a circuit.
    min_similarity : float
        The least similarity (a correlation in [-1, 1]) of counterparts; 0.5 means that
        one's scores explain a quarter of the other's variance.
    method : {"louvain", "leiden", "agglomerative", "spectral"}
        How an analysis is partitioned (see ``Analysis.communities``).
    seed : int
        The seed of the partition's random choices.
    ablation : bool
        Zero each community once (one pass over the probe images per side) for its
        accuracy drops; False runs no model.
    images : int, optional
        Run the ablations on a fixed sample of this many probe images (the same on both
        sides, drawn from ``seed`` as the importance test draws its sample; all when None):
        the ablations are nearly all of the cost, and a few hundred images give drops
        good to a few points.
    names : (str, str)
        What the two sides are called in messages, tables and pages.
    should_stop : callable, optional
        Asked between batches of the ablations; True ends the work with ``Cancelled``.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each batch of the ablations, in image copies
        over both sides.
    **params
        The method's parameters (``resolution``, ``k``, ``min_corr``, ``threshold``,
        ``linkage``, ``n_communities``: see ``Analysis.communities``).

    Returns
    -------
    CommunityComparison or CircuitComparison
        By what was given.

    Raises
    ------
    ValueError
        For analyses of different images (the message says what differs), circuits of
        different classes or depths, or layers given with a report.
    TypeError
        For sides of other kinds, or a circuit beside an analysis.
    """
    names = (str(names[0]), str(names[1]))
    ablation = bool(ablation)
    if isinstance(a, Circuit) or isinstance(b, Circuit):
        if not (isinstance(a, Circuit) and isinstance(b, Circuit)):
            raise TypeError(
                f"compare takes two circuits or two analyses (or reports), got a {type(a).__name__} and a "
                f"{type(b).__name__}; build a circuit on both sides with build_circuit"
            )
        if layers_a is not None or layers_b is not None or params or images is not None:
            raise TypeError("layers, images and partition parameters are for analyses; a circuit's levels are its own")
        return compare_circuits(a, b, min_similarity, names)
    for side, name in ((a, names[0]), (b, names[1])):
        if not isinstance(side, (CommunityReport, Probe)):
            raise TypeError(
                f"{name} must be an Analysis, a CommunityReport or a Circuit, got {type(side).__name__}"
            )
    return compare_communities(
        a, b, layers_a, layers_b, min_similarity, method, params, seed, ablation, names, images, should_stop, on_progress
    )
