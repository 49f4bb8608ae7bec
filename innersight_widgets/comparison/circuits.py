"""Two circuits of one class side by side (docs/methods.md, section 10): their groups read
on the same concept crops, matched one to one level by level, the groups that appear or
disappear, and how the edges between matched groups change."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import write_html
from ..neurflow import Circuit, Group
from .communities import Match
from .matching import assign, check_same_images, similarity


@dataclass(frozen=True, eq=False)
class LevelComparison:
    """One level of two circuits (the logit, or a layer of each) matched group to group.

    Parameters
    ----------
    level_a, level_b : str
        The level on each side (``"logit"`` or a layer; the same position from the top).
    groups_a, groups_b : tuple of str
        The groups' ids at that level, in each circuit's order.
    similarity : np.ndarray
        Ga x Gb: the correlation of every group score of a with every one of b over the
        shared crops.
    matches : tuple of Match
        The counterparts (group ids), in a's order.
    """

    level_a: str
    level_b: str
    groups_a: tuple[str, ...]
    groups_b: tuple[str, ...]
    similarity: np.ndarray = field(repr=False)
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class EdgeChange:
    """An edge of either circuit, and the edge between the counterparts of its ends.

    Parameters
    ----------
    a : (str, str) or None
        (lower group, upper group) in circuit a; None when the edge is b's alone.
    b : (str, str) or None
        The same in circuit b; None when a's edge has an end without counterpart.
    weight_a, weight_b : float
        Each side's edge weight; 0 where that side has no edge between the two groups.
    """

    a: tuple[str, str] | None
    b: tuple[str, str] | None
    weight_a: float
    weight_b: float

    @property
    def change(self) -> float:
        """``weight_b - weight_a``."""
        return self.weight_b - self.weight_a

    @property
    def kind(self) -> str:
        """"kept" (an edge on both sides), "lost" (a's edge, none between b's counterparts
        or an end without one), "new" (b's edge, likewise)."""
        if self.weight_a and self.weight_b:
            return "kept"
        return "lost" if self.weight_a else "new"


@dataclass(frozen=True, eq=False)
class CircuitComparison:
    """Two circuits of one class matched group to group. Made by :func:`compare`.

    Parameters
    ----------
    a, b : Circuit
        The two circuits (each holds its analysis).
    names : (str, str)
        What the two sides are called.
    min_similarity : float
        The least similarity of counterparts.
    levels : tuple of LevelComparison
        One per level, from the logit down.
    crops : np.ndarray
        m x 5: the crops both circuits were read on (source image, top, left, bottom,
        right): the union of their concept crops.
    edges : tuple of EdgeChange
        Every edge of either circuit, a's first.
    """

    a: Circuit = field(repr=False)
    b: Circuit = field(repr=False)
    names: tuple[str, str]
    min_similarity: float
    levels: tuple[LevelComparison, ...]
    crops: np.ndarray = field(repr=False)
    edges: tuple[EdgeChange, ...] = field(repr=False)

    @property
    def matches(self) -> tuple[Match, ...]:
        """Every level's counterparts, from the logit down."""
        return tuple(m for level in self.levels for m in level.matches)

    @property
    def disappeared(self) -> tuple[str, ...]:
        """a's groups with no counterpart in b."""
        matched = {m.a for m in self.matches}
        return tuple(g for level in self.levels for g in level.groups_a if g not in matched)

    @property
    def appeared(self) -> tuple[str, ...]:
        """b's groups with no counterpart in a."""
        matched = {m.b for m in self.matches}
        return tuple(g for level in self.levels for g in level.groups_b if g not in matched)

    def to_dataframe(self) -> Any:
        """One row per matched pair of groups, then the groups that disappear and appear.

        Returns
        -------
        pandas.DataFrame
            Columns: ``status`` ("matched", "only a", "only b"), ``level_a``, ``level_b``,
            ``group_a``, ``group_b`` (missing on the absent side), ``similarity``,
            ``best_similarity`` (for a row without counterpart: its best similarity to
            a group of the other side's level), ``label_a``, ``share_a``, ``label_b``,
            ``share_b`` (each group's label and the share of its top probe images that
            carry it), ``concepts_a``, ``concepts_b``.
        """
        import pandas as pd

        return pd.DataFrame(self.rows())

    def edges_dataframe(self) -> Any:
        """One row per edge of either circuit.

        Returns
        -------
        pandas.DataFrame
            Columns: ``kind`` ("kept", "lost", "new"), ``lower_a``, ``upper_a``,
            ``lower_b``, ``upper_b``, ``weight_a``, ``weight_b``, ``change``.
        """
        import pandas as pd

        return pd.DataFrame([
            {
                "kind": e.kind,
                "lower_a": e.a[0] if e.a else None, "upper_a": e.a[1] if e.a else None,
                "lower_b": e.b[0] if e.b else None, "upper_b": e.b[1] if e.b else None,
                "weight_a": e.weight_a, "weight_b": e.weight_b, "change": e.change,
            }
            for e in self.edges
        ])

    def rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_dataframe` as plain dicts (None for what is missing).

        Returns
        -------
        list of dict
            Matched pairs level by level, then a's groups without counterpart, then b's.
        """
        groups = {**{("a", g.id): g for g in self.a.groups}, **{("b", g.id): g for g in self.b.groups}}

        def row(status: str, level: LevelComparison, ga: str | None, gb: str | None, pair: float | None,
                best: float | None) -> dict[str, Any]:
            one, other = groups.get(("a", ga)), groups.get(("b", gb))
            return {
                "status": status, "level_a": level.level_a, "level_b": level.level_b, "group_a": ga, "group_b": gb,
                "similarity": pair, "best_similarity": best,
                "label_a": _label(one), "share_a": _share(one), "label_b": _label(other), "share_b": _share(other),
                "concepts_a": len(one.members) if one else None, "concepts_b": len(other.members) if other else None,
            }

        out = [row("matched", level, m.a, m.b, m.similarity, None) for level in self.levels for m in level.matches]
        for level in self.levels:
            matched_a, matched_b = {m.a for m in level.matches}, {m.b for m in level.matches}
            out += [
                row("only a", level, g, None, None, _best(level.similarity[i])) for i, g in enumerate(level.groups_a)
                if g not in matched_a
            ]
            out += [
                row("only b", level, None, g, None, _best(level.similarity[:, j])) for j, g in enumerate(level.groups_b)
                if g not in matched_b
            ]
        order = {"matched": 0, "only a": 1, "only b": 2}
        return sorted(out, key=lambda r: order[r["status"]])

    def to_html(self, path: str | Path) -> Path:
        """Write the comparison as a self-contained HTML page that opens offline: per
        level, the similarity of every pair of groups and the matched pairs with their
        labels and crops; the groups that appear or disappear; the edge changes.

        Parameters
        ----------
        path : str or Path
            The HTML file to write.

        Returns
        -------
        Path
            The file written (see :func:`innersight_widgets.reports.circuit_comparison_html`).
        """
        return write_html(self, path)


def compare_circuits(a: Circuit, b: Circuit, min_similarity: float, names: tuple[str, str]) -> CircuitComparison:
    """The comparison of two circuits (see :func:`~innersight_widgets.compare`)."""
    for circuit, name in ((a, names[0]), (b, names[1])):
        if not circuit.has_analysis:
            raise ValueError(
                f"the circuit of {name} was loaded without its analysis; its groups are read on crops of the probe "
                "images, so rebuild it with Circuit.from_dict(d, analysis)"
            )
    if a.class_name != b.class_name:
        raise ValueError(
            f"{names[0]}'s circuit is of class {a.class_name!r} and {names[1]}'s of {b.class_name!r}; compare "
            "circuits of the same class (build_circuit(analysis, class, ...) on both analyses)"
        )
    levels_a, levels_b = ["logit", *a.layers], ["logit", *b.layers]
    if len(levels_a) != len(levels_b):
        raise ValueError(
            f"{names[0]}'s circuit has {len(a.layers)} layers ({', '.join(a.layers)}) and {names[1]}'s "
            f"{len(b.layers)} ({', '.join(b.layers)}); levels are matched by their position from the logit down, so "
            "build both circuits through as many layers"
        )
    check_same_images(a.analysis, b.analysis, names)
    crops = np.unique(np.concatenate([a.crops, b.crops]), axis=0)
    scores_a, scores_b = concept_scores(a, crops), concept_scores(b, crops)
    levels = []
    for level_a, level_b in zip(levels_a, levels_b):
        ids_a = tuple(g.id for g in a.groups_of(level_a))
        ids_b = tuple(g.id for g in b.groups_of(level_b))
        similar = similarity(
            np.stack([scores_a[g] for g in ids_a], 1) if ids_a else np.zeros((len(crops), 0)),
            np.stack([scores_b[g] for g in ids_b], 1) if ids_b else np.zeros((len(crops), 0)),
        )
        pairs = assign(similar, min_similarity)
        levels.append(LevelComparison(
            level_a, level_b, ids_a, ids_b, similar, tuple(Match(ids_a[i], ids_b[j], float(similar[i, j])) for i, j in pairs)
        ))
    counterpart = {m.a: m.b for level in levels for m in level.matches}
    return CircuitComparison(a, b, names, min_similarity, tuple(levels), crops, _edge_changes(a, b, counterpart))


def concept_scores(circuit: Circuit, crops: np.ndarray) -> dict[str, np.ndarray]:
    """How much each crop looks like each group's concept, beside the other crops.

    A crop's pooled activations over a group's concept space, less their mean over all
    the crops, against the group's mean vector less the same mean: the cosine of the two.
    1: the crop departs from the average crop the way the group's concepts do; 0:
    unrelated; -1: the opposite way. Taken from the average crop because every group's
    raw activations (and NeurFlow's log-barrier score) rise and fall with how much a crop
    drives its whole layer, which makes the groups of a level look alike.

    Parameters
    ----------
    circuit : Circuit
        A circuit that holds its analysis.
    crops : np.ndarray
        m x 5: the crops (source image, top, left, bottom, right).

    Returns
    -------
    dict of str to np.ndarray
        Group id -> (m,) its score on each crop.
    """
    activations = circuit.crop_activations(crops)
    out = {}
    for group in circuit.groups:
        x = np.asarray(activations[group.space_layer][:, group.space], dtype=np.float64)
        mean = x.mean(0)
        x, direction = x - mean, np.asarray(group.vector, dtype=np.float64) - mean
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(direction)
        out[group.id] = np.divide(x @ direction, norms, out=np.zeros(len(x)), where=norms > 0)
    return out


def _edge_changes(a: Circuit, b: Circuit, counterpart: dict[str, str]) -> tuple[EdgeChange, ...]:
    """Each of a's edges with the edge between its ends' counterparts in b, then b's edges
    that no edge of a maps to."""
    weights_b = {(low, high): w for low, high, w in b.edges}
    seen: set[tuple[str, str]] = set()
    out = []
    for low, high, weight in a.edges:
        mapped = (counterpart.get(low), counterpart.get(high))
        if None in mapped:
            out.append(EdgeChange((low, high), None, float(weight), 0.0))
            continue
        seen.add(mapped)
        out.append(EdgeChange((low, high), mapped, float(weight), float(weights_b.get(mapped, 0.0))))
    out += [EdgeChange(None, edge, 0.0, float(w)) for edge, w in weights_b.items() if edge not in seen]
    return tuple(out)


def _label(group: Group | None) -> str | None:
    return None if group is None or not group.label else f"{group.label['concept']}={group.label['value']}"


def _share(group: Group | None) -> float | None:
    return None if group is None or not group.label else float(group.label["share"])


def _best(values: np.ndarray) -> float | None:
    return float(values.max()) if values.size else None
