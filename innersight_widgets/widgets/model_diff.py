"""ModelDiff: two networks' communities side by side, counterparts linked, what appeared or
vanished marked; click a pair for both sides' top images and accuracy drops.

The widget is a view of a :class:`~innersight_widgets.CommunityComparison`: the matching,
labels and drops all come from ``compare``. It holds UI state only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import ipywidgets as w
import traitlets

from .._validation import Constraint, Interval, check
from ..comparison import MIN_SIMILARITY, CommunityComparison, compare
from ..engine import Probe
from ..innersightnet import CommunityReport
from ._assets import esm
from ._live import Job, LiveRunner
from ._standalone import Drawing, StandsAlone
from ._static import StaticFallback, line, number, pictures, table
from ._status import StatusLine
from .payloads import Record, Thumbnails
from .payloads.model_diff import DiffGraph, PairDetails, diff_graph, pair_details

#: Top images per side in the static snapshot (about 10 kB each, inline in the saved notebook).
SNAPSHOT_IMAGES = 6


class DiffDrawing(Drawing):
    """The drawing: both community graphs, the counterpart links, and the opened pair."""

    _esm = esm("js/model_diff.js")
    graph = Record(DiffGraph).tag(sync=True)
    #: The community opened, as "<side>:<community>" ("a:3"); "" for none.
    selected = traitlets.Unicode("").tag(sync=True)
    details = Record(PairDetails).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)


class ModelDiff(StaticFallback, StandsAlone, w.VBox):
    """``ModelDiff(clean, spurious, "layer3", "layer3", names=("clean", "spurious"))``: two
    networks' communities side by side, each counterpart pair linked, the communities
    without counterpart marked; click one for both sides' top images and accuracy drops.

    Side a is drawn on the left, side b on the right, each community a disc (area = neurons,
    captioned with its concept label, filled as the explorer fills it, one palette over both
    sides). A line joins two counterparts, wider the more alike their scores; a dashed
    outline marks a community with no counterpart: it appeared on its side, or vanished from
    the other. The slider above matches the communities again at another least similarity
    (``CommunityComparison.at``: milliseconds, no model run). A click on a disc, on a link or on a row of the table opens the pair: both
    sides' labels and AUROCs, sizes, top images, and per-class accuracy drops when each is
    ablated, with their change; a community without counterpart opens alone, with its best
    similarity to the other side.

    Give it a comparison made by :func:`~innersight_widgets.compare`, or the two sides
    (analyses or evaluated partitions) and their layers: ``compare`` then runs on the
    widget's live runner (partitioning both sides and ablating each community takes
    seconds), the status line saying what it does, and the drawing follows.

    Parameters
    ----------
    a : CommunityComparison, Analysis or CommunityReport
        A finished comparison, or side a.
    b : Analysis or CommunityReport, optional
        Side b (not with a comparison).
    layers_a, layers_b : str or list of str, optional
        The layers of each analysis to partition (``compare``'s).
    names : (str, str)
        What the sides are called (``compare``'s; a comparison keeps its own).
    top_k : int
        Top images shown per side of an opened pair.
    debounce : float
        Seconds of quiet a request waits for (the live runner's).
    **options
        ``compare``'s other arguments: ``min_similarity``, ``method``, ``seed``,
        ``ablation``, ``images`` (ablate on a sample of this many probe images) and the
        method's parameters (not with a comparison).
    """

    #: The constructor's declared constraints; ``debounce`` is the live runner's ``DEBOUNCE``,
    #: ``compare``'s arguments are checked by ``compare``.
    constraints: ClassVar[dict[str, Constraint]] = {
        "top_k": Interval(int, 1, meaning="top images shown per side"),
    }

    def __init__(
        self,
        a: CommunityComparison | Probe | CommunityReport,
        b: Probe | CommunityReport | None = None,
        layers_a: Sequence[str] | str | None = None,
        layers_b: Sequence[str] | str | None = None,
        *,
        names: tuple[str, str] = ("a", "b"),
        top_k: int = 8,
        debounce: float = 0.0,
        **options: Any,
    ) -> None:
        self.top_k = check("top_k", top_k, self.constraints["top_k"])
        given = isinstance(a, CommunityComparison)
        if given and (b is not None or layers_a is not None or layers_b is not None or options):
            raise TypeError(
                "ModelDiff takes a finished CommunityComparison alone, or two analyses (or reports) with "
                "their layers and compare()'s options; give one or the other"
            )
        if not given and b is None:
            raise TypeError(
                f"ModelDiff needs a CommunityComparison from compare(), or two analyses; got a {type(a).__name__} alone"
            )
        if not given and not all(isinstance(side, (Probe, CommunityReport)) for side in (a, b)):
            raise TypeError(
                f"ModelDiff compares two analyses (or reports), got a {type(a).__name__} and a {type(b).__name__}"
            )
        #: The comparison shown (None until ``compare`` has run, or when it failed).
        self.comparison: CommunityComparison | None = None
        bounds = MIN_SIMILARITY
        start = a.min_similarity if given else check("min_similarity", options.get("min_similarity", 0.5), bounds)
        self.min_similarity = w.FloatSlider(
            value=start, min=bounds.low, max=bounds.high, step=0.05, description="counterparts at similarity ≥",
            style={"description_width": "initial"}, layout=w.Layout(width="420px"), readout_format=".2f",
        )
        self.status = StatusLine("diff-status")
        self.drawing = DiffDrawing()
        self._live = LiveRunner(self.status, debounce=debounce)
        self.drawing.observe(self._on_select, names="selected")
        self.min_similarity.observe(lambda change: self._rematch(), names="value")
        super().__init__([self.min_similarity, self.status, self.drawing])
        if given:
            self._show(a)
            self._live.announce("idle", self._summary(a))
        else:
            self._request_comparison(a, b, layers_a, layers_b, names, options)

    def _request_comparison(self, a: Any, b: Any, layers_a: Any, layers_b: Any, names: tuple[str, str], options: dict) -> None:
        """``compare`` on the live runner; the drawing follows."""
        said = [f"{name} ({_layers(layers)})" for name, layers in zip(names, (layers_a, layers_b))]
        work = "partitioning both" + (" and ablating each community" if options.get("ablation", True) else "")

        def compute(job: Job) -> CommunityComparison:
            return compare(
                a, b, layers_a, layers_b, names=names, should_stop=job.stale, **options,
                on_progress=lambda done, total: job.say(
                    f"comparing {said[0]} with {said[1]}: ablating each community … {done / total:.0%}"
                ),
            )

        def apply(comparison: CommunityComparison) -> str:
            threshold = self.min_similarity.value  # moved while compare ran: matched at what it shows
            if threshold != comparison.min_similarity:
                comparison = comparison.at(threshold)
            self._show(comparison)
            return self._summary(comparison)

        self._live.submit("compare", f"comparing {said[0]} with {said[1]}: {work} …", compute, apply,
                          cancels=("details",), debounce=False)

    def _rematch(self) -> None:
        """The comparison on screen matched again at the slider's threshold (no model run);
        the open community, if any, opens again with its new counterpart."""
        if self.comparison is None:
            return  # the comparison computing takes the slider's value when it is drawn
        shown, threshold = self.comparison, float(self.min_similarity.value)

        def apply(found: CommunityComparison) -> str:
            self._show(found)
            return self._summary(found)

        self._live.submit("match", f"matching again at similarity ≥ {threshold:.2f} …", lambda job: shown.at(threshold),
                          apply, cancels=("details",))

    def _show(self, comparison: CommunityComparison) -> None:
        self.comparison = comparison
        with self.drawing.hold_sync():
            self.drawing.graph = diff_graph(comparison)
            self.drawing.details, self.drawing.thumbnails = {}, {}
        if self.drawing.selected:  # clicked while the comparison computed: open it now
            self._open(self.drawing.selected)

    @staticmethod
    def _summary(comparison: CommunityComparison) -> str:
        a, b = comparison.a, comparison.b
        return (
            f"{a.name}: {len(a.communities)} communities, {b.name}: {len(b.communities)}; "
            f"{len(comparison.matches)} counterparts (similarity ≥ {comparison.min_similarity:.2f}), "
            f"{len(comparison.unmatched_a)} only in {a.name}, {len(comparison.unmatched_b)} only in {b.name}; "
            f"CKA {number(comparison.cka, 2)}"
        )

    # -------------------------------------------------------------- clicks
    def select(self, side: str, community: int) -> None:
        """Open a community (with its counterpart) as a click on its disc does.

        Parameters
        ----------
        side : {"a", "b"}
            Its side.
        community : int
            Its number on that side.
        """
        self.drawing.selected = f"{side}:{int(community)}"

    def _on_select(self, change: dict) -> None:
        if change["new"] and self.comparison is not None:
            self._open(change["new"])

    def _open(self, selected: str) -> None:
        """The pair of the community ``selected`` names ("a:3"), on the live runner."""
        comparison = self.comparison
        side, _, number_text = selected.partition(":")
        count = {"a": len(comparison.a.communities), "b": len(comparison.b.communities)}
        if side not in count or not number_text.lstrip("-").isdigit() or not 0 <= int(number_text) < count[side]:
            self._live.cancel("details")
            with self.drawing.hold_sync():
                self.drawing.details, self.drawing.thumbnails, self.drawing.selected = {}, {}, ""
            self._live.announce(
                "error",
                f"there is no community {selected!r} to open: name one as 'a:<n>' (n < {count['a']}) or 'b:<n>' (n < {count['b']})",
            )
            return
        c = int(number_text)
        other = comparison.counterpart(side, c)
        pair = {side: c, "b" if side == "a" else "a": other}
        names = {"a": comparison.a.name, "b": comparison.b.name}
        words = " ↔ ".join(f"{names[s]} {pair[s]}" for s in "ab" if pair[s] is not None)

        def apply(result: tuple[PairDetails, Thumbnails]) -> str:
            details, thumbs = result
            with self.drawing.hold_sync():
                self.drawing.details, self.drawing.thumbnails = details, thumbs
            if details.similarity is not None:
                return f"{words}: similarity {details.similarity:.2f}"
            return f"{words}: no counterpart in {names['b' if side == 'a' else 'a']} (best similarity {number(details.best, 2)})"

        self._live.submit(
            "details", f"opening {words} …", lambda job: pair_details(comparison, side, c, self.top_k, words), apply,
            debounce=False,
        )

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done and shown (for scripts and tests)."""
        self._live.wait(timeout)

    def snapshot_parts(self) -> list[str]:
        """The view as static HTML (widgets/_static.py): every pair and lone community as a
        table, and the opened pair's figures and top images, from the records the view draws."""
        g, d = self.drawing.graph, self.drawing.details
        if not g:
            return []
        names = {"a": g["a"]["name"], "b": g["b"]["name"]}
        nodes = {s: {n["community"]: n for n in g[s]["nodes"]} for s in "ab"}
        rows = [("counterparts", e["a"], e["b"], f"{e['w']:.2f}", nodes["a"][e["a"]]["caption"], nodes["b"][e["b"]]["caption"])
                for e in g["matches"]]
        for s in "ab":
            rows += [(f"only in {names[s]}", n["community"] if s == "a" else "–", n["community"] if s == "b" else "–",
                      f"best {number(n['best'], 2)}", n["caption"] if s == "a" else "", n["caption"] if s == "b" else "")
                     for n in g[s]["nodes"] if n["counterpart"] is None]
        parts = [
            line(f"{names['a']} ({', '.join(g['a']['layers'])}) beside {names['b']} ({', '.join(g['b']['layers'])}) on "
                 f"{g['images']} probe images: counterparts at similarity ≥ {g['min_similarity']:.2f}; CKA {number(g['cka'], 2)}"),
            table("Counterparts and communities without one",
                  ["", names["a"], names["b"], "similarity", f"label in {names['a']}", f"label in {names['b']}"], rows),
        ]
        if d:
            sides = [d[s] for s in "ab" if d[s]]
            parts.append(line(" ↔ ".join(f"{p['name']} {p['community']}" for p in sides), bold=True))
            parts.append(table(
                "Accuracy drop when ablated", ["images", names["a"], names["b"], "change"],
                [(c["name"], number(c["a"]), number(c["b"]), number(c["change"])) for c in [d["overall"], *d["drops"]]],
            ))
            for p in sides:
                shown = p["images"][:SNAPSHOT_IMAGES]
                parts.append(pictures(
                    self.drawing.thumbnails, d["owner"], [i["thumb"] for i in shown],
                    [i["label"] if i["label"] == i["predicted"] else f"{i['label']} → {i['predicted']}" for i in shown],
                    f"{p['name']} community {p['community']}: top images",
                ))
        return parts


def _layers(layers: Sequence[str] | str | None) -> str:
    if layers is None:
        return "all its layers"
    return layers if isinstance(layers, str) else ", ".join(layers)
