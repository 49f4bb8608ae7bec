"""CommunityExplorer: pick layers and a method, move a slider, click a community, see what it does.

The widget is a view: partitions, scores, patches and ablation tests all come from the
core (``Analysis.communities`` / ``Analysis.evaluate``). It holds UI state only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import anywidget
import ipywidgets as w
import networkx as nx
import numpy as np
import traitlets

from .._checks import positive_int
from ..core import Analysis, Communities, CommunityReport
from ..core.evaluation import Importance
from ._assets import esm
from ._controls import CommunityControls
from ._live import Job, LiveRunner
from ._status import StatusLine
from .payloads import (
    CommunityDetails,
    CommunityGraph,
    Edge,
    Record,
    Thumbnails,
    community_details,
    community_graph,
    community_labels,
    importance_summary,
)

# Above this many neurons the neuron-level graph is not drawn (the community graph is).
MAX_DRAWN_NEURONS = 600
# A force layout costs O(n^2) per iteration: above this many nodes, a sunflower by size.
MAX_SPRING_NODES = 150


class CommunityView(anywidget.AnyWidget):
    """The drawing: community or neuron graph, and the selected community's details."""

    _esm = esm("js/community_view.js")
    graph = Record(CommunityGraph).tag(sync=True)
    selected = traitlets.Int(-1, min=-1).tag(sync=True)
    details = Record(CommunityDetails).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)


class CommunityExplorer(w.VBox):
    """Explore the communities of an :class:`Analysis` in a notebook.

    ``CommunityExplorer(an)`` shows controls (layers, method, its slider, k neighbours,
    minimum correlation, graph of communities or neurons), the graph with each community's
    concept label, and for a clicked community its top images and receptive-field patches,
    class selectivity, coherence, concept label and members at once, then its importance:
    the accuracy drop when it is ablated, against ``draws`` random sets of its size, filling
    in as the random sets run, on ``images`` probe images.

    A click belongs to the newest partition asked for: clicked while a new partition is
    computing, the community opens in the new partition when it is drawn.
    """

    def __init__(
        self,
        analysis: Analysis,
        layers: list[str] | str | None = None,
        method: str = "louvain",
        top_k: int = 12,
        draws: int = 20,
        images: int | None = 512,
        debounce: float = 0.15,
    ) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"CommunityExplorer needs an Analysis, got {type(analysis).__name__}")
        self.analysis = analysis
        self.top_k = positive_int("top_k", top_k, "top images shown per community")
        self.draws = positive_int("draws", draws, "random neuron sets in the importance test; 20 or more for p < 0.05")
        self.images = None if images is None else positive_int("images", images, "probe images the importance test runs on; None: all")
        self.communities: Communities | None = None
        self.report: CommunityReport | None = None
        self._layouts: dict[tuple, dict[int, tuple[float, float]]] = {}
        # The partition asked for last (its key and request number) and the one on screen;
        # a click is (community, request number of the partition it belongs to).
        self._asked: tuple[tuple, int] = ((), 0)
        self._shown = 0
        self._click: tuple[int, int] | None = None
        self._applying = False

        chosen = analysis.ordered_layers(layers if layers is not None else analysis.layers[len(analysis.layers) // 2])
        self.layers = w.SelectMultiple(
            options=analysis.layers, value=tuple(chosen), description="layers", rows=min(6, len(analysis.layers))
        )
        self.settings = CommunityControls(method, self._request_partition)
        self.method, self.parameter, self.k, self.min_corr = self.settings.widgets
        self.graph_mode = w.ToggleButtons(options=["communities", "neurons"], value="communities", description="graph")
        self.status = StatusLine("explorer-status")
        self.view = CommunityView()
        self._live = LiveRunner(self.status, debounce=debounce)

        for control in (self.layers, self.graph_mode):
            control.observe(lambda _change: self._request_partition(), names="value")
        self.view.observe(self._on_select, names="selected")

        controls = w.HBox([w.VBox([self.layers, self.method]), w.VBox([self.parameter, self.k, self.min_corr, self.graph_mode])])
        super().__init__([controls, self.status, self.view])
        self.add_class("innersight-community-explorer")
        self._request_partition()

    def current_params(self) -> dict[str, Any]:
        """The parameters the controls show now, as ``Analysis.communities`` takes them."""
        return self.settings.current_params()

    # ----------------------------------------------------------- partitions
    def _request_partition(self) -> None:
        layers, method, params, mode = list(self.layers.value), self.method.value, self.current_params(), self.graph_mode.value
        if not layers:
            self._live.announce("error", "select at least one layer")
            return
        started = time.perf_counter()

        def compute(job: Job) -> tuple[int, Communities, CommunityReport, CommunityGraph]:
            communities = self.analysis.communities(layers, method, stability_runs=0, **params)
            report = self.analysis.evaluate(communities)
            for layer in layers:  # measured once per layer: now, so that no click waits for it
                if len(self.analysis.layer_info(layer).spatial_shape) == 2:
                    self.analysis.receptive_box(layer, 0, 0)
            return job.generation, communities, report, self._graph(report, mode, params)

        def apply(result: tuple[int, Communities, CommunityReport, CommunityGraph]) -> str:
            generation, communities, report, graph = result
            self.communities, self.report, self._shown = communities, report, generation
            click = self._click if self._click is not None and self._click[1] == generation else None
            opens = click is not None and click[0] < communities.num_communities
            with self.view.hold_sync():
                self.view.graph = graph
                self.view.details = {}
                self.view.thumbnails = {}
                self._set_selected(click[0] if opens else -1)
            dead = f", {len(communities.dead)} dead neurons" if communities.dead else ""
            summary = (
                f"{communities.num_communities} communities of {len(communities.neurons)} neurons, "
                f"modularity {communities.modularity:.3f}{dead} ({time.perf_counter() - started:.2f} s)"
            )
            if opens:
                self._open(click[0])
            elif click is not None:
                return f"{summary}; there is no community {click[0]} in it, click another"
            return f"{summary}; click a community"

        key = (tuple(layers), method, tuple(sorted(params.items())))
        def clear() -> None:
            """A failed partition leaves nothing of the old one under the new controls."""
            self.communities = self.report = None
            with self.view.hold_sync():
                self.view.graph, self.view.details, self.view.thumbnails = {}, {}, {}
                self._set_selected(-1)

        job = self._live.submit(
            "partition", f"computing {method} communities of {', '.join(layers)} …", compute, apply,
            cancels=("details", "importance"), on_error=clear,
        )
        # Only the graph's look changed (neurons vs communities): the open community stays open.
        if self._click is not None and key == self._asked[0] and self._click[1] == self._asked[1]:
            self._click = (self._click[0], job.generation)
        self._asked = (key, job.generation)

    def _graph(self, report: CommunityReport, mode: str, params: dict[str, Any]) -> CommunityGraph:
        communities = report.communities
        k = communities.num_communities
        labels = community_labels(report, MAX_SPRING_NODES)  # beyond that a drawing is a hairball
        if mode == "neurons" and len(communities.neurons) <= MAX_DRAWN_NEURONS:
            rows, cols, weights = self.analysis.aggregator(communities.layers).edges(params["k"], params["min_corr"])
            key = (tuple(communities.layers), params["k"], params["min_corr"])
            if key not in self._layouts:
                graph = nx.Graph()
                graph.add_nodes_from(range(len(communities.neurons)))
                graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), weights.tolist()))
                self._layouts[key] = _layout(graph, weight="weight")
            edges = [Edge(int(a), int(b), round(float(c), 3)) for a, b, c in zip(rows, cols, weights)]
            return community_graph(report, self._layouts[key], edges, labels, neurons=True)
        graph = report.community_graph(top=3) if k <= MAX_SPRING_NODES else _nodes_only(k)
        pairs = {}  # each community's 3 strongest links, drawn once per pair
        for u, v, d in graph.edges(data=True):
            if d["similarity"] > 0.05:
                pairs[tuple(sorted((int(u[1:]), int(v[1:]))))] = d["similarity"]
        edges = [Edge(a, b, round(float(sim), 3)) for (a, b), sim in pairs.items()]
        return community_graph(report, _layout(graph, weight="similarity"), edges, labels, neurons=False)

    # -------------------------------------------------------------- details
    def select(self, community: int) -> None:
        """Select a community as a click in the graph does."""
        self.view.selected = int(community)

    def _set_selected(self, community: int) -> None:
        self._applying = True
        try:
            self.view.selected = community
        finally:
            self._applying = False

    def _on_select(self, change: dict) -> None:
        community = change["new"]
        if self._applying:
            return
        if community < 0:
            self._click = None
            return
        self._click = (community, self._asked[1])
        if self._asked[1] != self._shown:
            return  # the partition it belongs to is computing: it opens when that is drawn
        if community >= self.report.num_communities:
            self._set_selected(-1)
            self._live.announce("error", f"there is no community {community}; this partition has {self.report.num_communities}")
            return
        self._open(community)

    def _open(self, c: int) -> None:
        """Details of community ``c`` of the partition on screen, then its importance test."""
        report, owner = self.report, f"partition {self._shown} community {c}"

        def apply(result: tuple[CommunityDetails, Thumbnails]) -> str:
            details, thumbnails = result
            with self.view.hold_sync():
                self.view.details = details
                self.view.thumbnails = thumbnails
            self._test_importance(report, details)
            return f"community {c}: {details.size} neurons"

        self._live.submit(
            "details", f"loading community {c} …", lambda job: community_details(report, c, self.top_k, owner), apply,
            cancels=("importance",), debounce=False,
        )

    def _test_importance(self, report: CommunityReport, details: CommunityDetails) -> None:
        c, total = details.community, len(self.analysis.data)

        def show(imp: Importance) -> None:
            self.view.details = replace(details, importance=importance_summary(imp, self.draws, total))

        def compute(job: Job) -> Importance:
            return report.importance(
                c,
                draws=self.draws,
                images=self.images,
                should_stop=job.stale,
                on_partial=lambda imp: job.post(show, imp),
                on_progress=lambda done, of: job.say(
                    f"community {c}: ablating it and {self.draws} random sets of its size … {done / of:.0%}"
                ),
            )

        def apply(imp: Importance) -> str:
            show(imp)
            return (
                f"community {c}: ablation drops accuracy by {imp.accuracy_drop:.3f} "
                f"(random sets {imp.null_mean:.3f} ± {imp.null_std:.3f}, p = {imp.p_value:.3f}; {imp.images} images)"
            )

        self._live.submit("importance", f"community {c}: testing its importance …", compute, apply, debounce=False)

    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done and shown (for scripts and tests)."""
        self._live.wait(timeout)


def _nodes_only(k: int) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(f"c{c}" for c in range(k))
    return graph


def _layout(graph: nx.Graph, weight: str) -> dict[Any, tuple[float, float]]:
    """Positions in [0, 1]^2, deterministic: a spring layout, or for large graphs a
    sunflower spiral in node order (communities are numbered by falling size)."""
    n = graph.number_of_nodes()
    if n == 0:
        return {}
    if n > MAX_SPRING_NODES:
        k = np.arange(n) + 0.5
        radius, angle = np.sqrt(k / n) / 2, k * np.pi * (3 - np.sqrt(5))
        xy = np.stack([0.5 + radius * np.cos(angle), 0.5 + radius * np.sin(angle)], axis=1)
    else:
        xy = np.array(list(nx.spring_layout(graph, weight=weight, seed=0).values()))
    low, high = xy.min(0), xy.max(0)
    span = np.where(high - low > 1e-9, high - low, 1)
    scaled = (xy - low) / span
    return {node: (round(float(x), 4), round(float(y), 4)) for node, (x, y) in zip(graph.nodes, scaled)}
