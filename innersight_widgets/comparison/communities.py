"""Two models' communities side by side (docs/methods.md, section 10): each side's
communities read on the same probe images, matched one to one by how their community
scores agree over the images, with their labels and ablation drops on both sides."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import check
from ..engine import write_html
from ..innersightnet import (
    CommunityReport,
    ConceptScore,
    UnreliablePartitionWarning,
    aggregator,
    reliability_caveats,
)
from ..innersightnet.concepts import label_text
from ..innersightnet.importance import image_sample
from .matching import MIN_SIMILARITY, assign, check_same_images, linear_cka, similarity

if TYPE_CHECKING:
    from ..engine import Probe


@dataclass(frozen=True)
class CommunitySummary:
    """What one community of one side is and does.

    Parameters
    ----------
    community : int
        Its number in its partition.
    size : int
        Its members.
    layers : tuple of str
        The layers it has members in.
    label : ConceptScore or None
        Its best concept label (the concept value its score separates best) and AUROC.
    own_class : str or None
        The class whose images drive it most (its first top class).
    accuracy_drop : float
        The model's accuracy drop over the probe images when the community is ablated
        (zeroed); NaN when the comparison ran without ablation.
    class_drops : dict of str to float
        Class name -> the accuracy drop over that class's images; empty without ablation.
    """

    community: int
    size: int
    layers: tuple[str, ...]
    label: ConceptScore | None
    own_class: str | None
    accuracy_drop: float
    class_drops: dict[str, float] = field(repr=False)

    def class_drop(self, name: str | None) -> float:
        """The accuracy drop over one class's images (NaN without it, or without ablation).

        Parameters
        ----------
        name : str or None
            A class name.

        Returns
        -------
        float
            The drop, or NaN.
        """
        return self.class_drops.get(name, np.nan) if name is not None else np.nan


@dataclass(frozen=True, eq=False)
class ComparedSide:
    """One side of a comparison: its partition, evaluated, and each community's summary.

    Parameters
    ----------
    name : str
        What the side is called (in tables and pages).
    report : CommunityReport
        The evaluated partition: its analysis, communities, scores, labels, top images.
    communities : tuple of CommunitySummary
        One per community, in the partition's order.
    """

    name: str
    report: CommunityReport = field(repr=False)
    communities: tuple[CommunitySummary, ...] = field(repr=False)

    @property
    def analysis(self) -> Probe:
        """The analysis of this side (its model, probe images and profiles)."""
        return self.report.analysis

    @property
    def layers(self) -> list[str]:
        """The layers partitioned, in the model's order."""
        return self.report.communities.layers

    def label_auroc(self, community: int, label: ConceptScore | None) -> float:
        """The AUROC of one of this side's communities for a concept value (e.g. the other
        side's label): how well its score separates the images with that value.

        Parameters
        ----------
        community : int
            A community of this side.
        label : ConceptScore or None
            The concept value (its AUROC is ignored).

        Returns
        -------
        float
            The AUROC; NaN for no label or a value the probe images do not annotate.
        """
        if label is None:
            return np.nan
        found = {(s.concept, s.value): s.auroc for s in self.report.concepts(community)}
        return found.get((label.concept, label.value), np.nan)


@dataclass(frozen=True)
class Match:
    """Two units that are each other's counterpart.

    Parameters
    ----------
    a : int or str
        The unit of side a (a community number, or a circuit group's id).
    b : int or str
        Its counterpart on side b.
    similarity : float
        The correlation of their scores over the shared stimuli.
    """

    a: int | str
    b: int | str
    similarity: float


@dataclass(frozen=True, eq=False)
class CommunityComparison:
    """Two partitions matched community to community. Made by :func:`compare`.

    Parameters
    ----------
    a, b : ComparedSide
        The two sides.
    similarity : np.ndarray
        Ka x Kb: the correlation of every community score of a with every one of b over
        the probe images.
    min_similarity : float
        The least similarity of counterparts.
    matches : tuple of Match
        The counterparts, by a's community number.
    unmatched_a, unmatched_b : tuple of int
        The communities of each side with no counterpart.
    cka : float
        Linear CKA between the two sides' layers (their profiles over the probe images):
        how alike the layers are as wholes, a reference beside the matching.
    """

    a: ComparedSide
    b: ComparedSide
    similarity: np.ndarray = field(repr=False)
    min_similarity: float
    matches: tuple[Match, ...]
    unmatched_a: tuple[int, ...]
    unmatched_b: tuple[int, ...]
    cka: float

    def at(self, min_similarity: float) -> CommunityComparison:
        """The same two partitions matched again at another threshold: no partition,
        evaluation or ablation is redone, only the one-to-one matching (milliseconds).

        Parameters
        ----------
        min_similarity : float
            The least similarity of counterparts, in [-1, 1].

        Returns
        -------
        CommunityComparison
            A new comparison sharing this one's sides, similarity and CKA.
        """
        min_similarity = check("min_similarity", min_similarity, MIN_SIMILARITY)
        pairs = assign(self.similarity, min_similarity)
        matched_a, matched_b = {i for i, _ in pairs}, {j for _, j in pairs}
        return replace(
            self,
            min_similarity=min_similarity,
            matches=tuple(Match(i, j, float(self.similarity[i, j])) for i, j in pairs),
            unmatched_a=tuple(c for c in range(self.similarity.shape[0]) if c not in matched_a),
            unmatched_b=tuple(c for c in range(self.similarity.shape[1]) if c not in matched_b),
        )

    def counterpart(self, side: str, community: int) -> int | None:
        """The counterpart of one community on the other side.

        Parameters
        ----------
        side : {"a", "b"}
            The side the community is on.
        community : int
            Its number.

        Returns
        -------
        int or None
            The other side's community, or None when it has no counterpart.
        """
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")
        pairs = {(m.a if side == "a" else m.b): (m.b if side == "a" else m.a) for m in self.matches}
        return pairs.get(community)

    def to_dataframe(self, per_class: bool = False) -> Any:
        """One row per matched pair, then one per community without a counterpart.

        Parameters
        ----------
        per_class : bool
            Also give each class's accuracy drop on both sides and its change
            (``drop_a[<class>]``, ``drop_b[<class>]``, ``drop_change[<class>]``).

        Returns
        -------
        pandas.DataFrame
            Columns: ``status`` ("matched", "only a", "only b"), ``community_a``,
            ``community_b`` (missing on the absent side), ``similarity`` (of the pair),
            ``best_similarity`` (of the row's community to any of the other side, for a
            row without counterpart), ``size_a``, ``size_b``, ``label_a``,
            ``label_auroc_a``, ``label_b``, ``label_auroc_b``, ``label_a_auroc_b`` (the
            AUROC of b's community for a's label), ``label_b_auroc_a``, ``own_class`` (a's
            community's, or b's for a row only in b), ``own_class_drop_a``,
            ``own_class_drop_b``, ``own_class_drop_change`` (b less a),
            ``accuracy_drop_a``, ``accuracy_drop_b``, ``accuracy_drop_change``.
        """
        import pandas as pd

        return pd.DataFrame(self.rows(per_class)).astype({"community_a": "Int64", "community_b": "Int64"})

    def rows(self, per_class: bool = False) -> list[dict[str, Any]]:
        """The rows of :meth:`to_dataframe` as plain dicts (None for what is missing).

        Parameters
        ----------
        per_class : bool
            As for :meth:`to_dataframe`.

        Returns
        -------
        list of dict
            One per matched pair (by a's community), then a's unmatched communities,
            then b's.
        """
        best_a = self.similarity.max(1, initial=-1.0)
        best_b = self.similarity.max(0, initial=-1.0)
        rows = [self._row("matched", m.a, m.b, m.similarity, None, per_class) for m in self.matches]
        rows += [self._row("only a", c, None, None, best_a[c], per_class) for c in self.unmatched_a]
        rows += [self._row("only b", None, c, None, best_b[c], per_class) for c in self.unmatched_b]
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The comparison as plain JSON-ready values.

        Returns
        -------
        dict
            ``names``, ``layers`` (per side), ``min_similarity``, ``cka``, ``similarity``
            (Ka lists of Kb), ``matches`` (a, b, similarity), ``unmatched_a``,
            ``unmatched_b`` and ``rows`` (:meth:`rows`, NaN as None).
        """
        return {
            "names": [self.a.name, self.b.name],
            "layers": [self.a.layers, self.b.layers],
            "min_similarity": self.min_similarity,
            "cka": _plain(self.cka),
            "similarity": self.similarity.tolist(),
            "matches": [[m.a, m.b, m.similarity] for m in self.matches],
            "unmatched_a": list(self.unmatched_a),
            "unmatched_b": list(self.unmatched_b),
            "rows": [{k: _plain(v) for k, v in row.items()} for row in self.rows()],
        }

    def to_html(self, path: str | Path, top_images: int = 6) -> Path:
        """Write the comparison as a self-contained HTML page that opens offline: the
        similarity of every pair of communities, the matched pairs with their labels,
        drops and top images on both sides, and the communities without a counterpart.

        Parameters
        ----------
        path : str or Path
            The HTML file to write.
        top_images : int
            Top probe images shown per community.

        Returns
        -------
        Path
            The file written (see :func:`innersight_widgets.reports.comparison_html`).
        """
        return write_html(self, path, top_images=top_images)

    def _row(
        self, status: str, ca: int | None, cb: int | None, pair: float | None, best: float | None, per_class: bool
    ) -> dict[str, Any]:
        one = self.a.communities[ca] if ca is not None else None
        other = self.b.communities[cb] if cb is not None else None
        own = (one or other).own_class
        drop_a = one.class_drop(own) if one else np.nan
        drop_b = other.class_drop(own) if other else np.nan
        row: dict[str, Any] = {
            "status": status,
            "community_a": ca,
            "community_b": cb,
            "similarity": pair,
            "best_similarity": None if best is None else float(best),
            "size_a": one.size if one else None,
            "size_b": other.size if other else None,
            "label_a": label_text(one.label) if one else None,
            "label_auroc_a": one.label.auroc if one and one.label else None,
            "label_b": label_text(other.label) if other else None,
            "label_auroc_b": other.label.auroc if other and other.label else None,
            "label_a_auroc_b": self.b.label_auroc(cb, one.label) if one and other else None,
            "label_b_auroc_a": self.a.label_auroc(ca, other.label) if one and other else None,
            "own_class": own,
            "own_class_drop_a": drop_a if one else None,
            "own_class_drop_b": drop_b if other else None,
            "own_class_drop_change": drop_b - drop_a if one and other else None,
            "accuracy_drop_a": one.accuracy_drop if one else None,
            "accuracy_drop_b": other.accuracy_drop if other else None,
            "accuracy_drop_change": other.accuracy_drop - one.accuracy_drop if one and other else None,
        }
        if per_class:
            for name in self.a.analysis.data.class_names:  # the same on both sides
                da = one.class_drop(name) if one else None
                db = other.class_drop(name) if other else None
                row[f"drop_a[{name}]"], row[f"drop_b[{name}]"] = da, db
                row[f"drop_change[{name}]"] = db - da if one and other else None
        return row


def compare_communities(
    a: Probe | CommunityReport,
    b: Probe | CommunityReport,
    layers_a: Sequence[str] | str | None,
    layers_b: Sequence[str] | str | None,
    min_similarity: float,
    method: str,
    params: dict[str, Any],
    seed: int,
    ablation: bool,
    names: tuple[str, str],
    images: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> CommunityComparison:
    """The comparison of two partitions (see :func:`~innersight_widgets.compare`)."""
    reports = [
        _evaluated(side, layers, method, params, seed, letter, name)
        for side, layers, letter, name in ((a, layers_a, "a", names[0]), (b, layers_b, "b", names[1]))
    ]
    check_same_images(reports[0].analysis, reports[1].analysis, names)
    # both sides ablated on one sample of the probe images; progress counts image copies over both
    sample = image_sample(reports[0].analysis, images, seed) if ablation else None
    n = len(reports[0].analysis.data) if sample is None else len(sample)
    counts = [r.communities.num_communities if ablation else 0 for r in reports]

    def progress(before: int) -> Callable[[int, int], None] | None:
        return None if on_progress is None else (lambda done, _total: on_progress(before + done, n * sum(counts)))

    sides = [
        ComparedSide(name, report, _summaries(report, ablation, sample, should_stop, progress(n * sum(counts[:i]))))
        for i, (name, report) in enumerate(zip(names, reports))
    ]
    unmatched = CommunityComparison(
        sides[0], sides[1], similarity(reports[0].scores, reports[1].scores), min_similarity, (), (), (),
        linear_cka(_profiles(reports[0]), _profiles(reports[1])),
    )
    return unmatched.at(min_similarity)


def _evaluated(
    side: Probe | CommunityReport,
    layers: Sequence[str] | str | None,
    method: str,
    params: dict[str, Any],
    seed: int,
    letter: str,
    name: str,
) -> CommunityReport:
    """A side as an evaluated partition: a report as it is, or an analysis's ``layers``
    partitioned with ``method`` (warning as ``Analysis.communities`` does)."""
    if isinstance(side, CommunityReport):
        if layers is not None:
            raise ValueError(
                f"layers_{letter} was given with a CommunityReport for {name}, whose partition fixes its layers "
                f"({', '.join(side.communities.layers)}); leave layers_{letter} out, or give the analysis instead"
            )
        return side
    communities = aggregator(side, layers).communities(method, params, seed, 0, None)
    for caveat in reliability_caveats(communities, len(side.data)):
        warnings.warn(f"{name}: {caveat}", UnreliablePartitionWarning, stacklevel=4)
    return CommunityReport(side, communities)


def _summaries(
    report: CommunityReport,
    ablation: bool,
    sample: np.ndarray | None,
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[CommunitySummary, ...]:
    """Each community's summary; with ``ablation``, every community zeroed in one pass over
    the probe images ``sample`` (None: all of them)."""
    communities = report.communities
    k = communities.num_communities
    names = report.analysis.data.class_names
    drops = report.analysis.ablate_many(
        [communities.spec(c) for c in range(k)], should_stop=should_stop, on_progress=on_progress, images=sample,
    ) if ablation and k else []
    labels = report.labels()
    out = []
    for c in range(k):
        tops = report.top_classes(c, 1)
        out.append(CommunitySummary(
            c,
            int(communities.sizes[c]),
            tuple(dict.fromkeys(layer for layer, _ in communities.members(c))),
            labels[c],
            tops[0] if tops else None,
            drops[c].accuracy_drop if drops else np.nan,
            dict(zip(names, drops[c].class_accuracy_drop.tolist())) if drops else {},
        ))
    return tuple(out)


def _profiles(report: CommunityReport) -> np.ndarray:
    """N x M: the profiles of the partition's layers side by side."""
    analysis = report.analysis
    return np.concatenate([np.asarray(analysis.profiles(layer)) for layer in report.communities.layers], axis=1)


def _plain(value: Any) -> Any:
    """NaN as None, numpy scalars as Python ones: JSON-ready."""
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    return value
