"""CommunityExplorer: pick layers and a method, move a slider, click a community, see what it does.

The widget is a view: partitions, scores, patches and ablation tests all come from the
core (``Analysis.communities`` / ``Analysis.evaluate``). It holds UI state only.
"""

from __future__ import annotations

import time
from typing import Any

import anywidget
import ipywidgets as w
import networkx as nx
import numpy as np
import traitlets

from ..core import Analysis, Communities, CommunityReport
from ..core.runner import Cancelled
from ..core.communities import DEFAULTS, MAX_NEIGHBOURS
from ._assets import asset
from ._checks import positive_int
from ._images import to_png
from ._live import LiveRunner
from ._status import StatusLine

# Slider set-up per method: (parameter, label, min, max, step).
SLIDERS = {
    "louvain": ("resolution", "resolution γ", 0.1, 5.0, 0.05),
    "leiden": ("resolution", "resolution γ", 0.1, 5.0, 0.05),
    "agglomerative": ("threshold", "distance cut", 0.05, 1.6, 0.01),
    "spectral": ("n_communities", "communities k", 2, 30, 1),
}
# Above this many neurons the neuron-level graph is not drawn (the community graph is).
MAX_DRAWN_NEURONS = 600
# A force layout costs O(n^2) per iteration: above this many nodes, a sunflower by size.
MAX_SPRING_NODES = 150


class CommunityView(anywidget.AnyWidget):
    """The drawing: community or neuron graph, and the selected community's details."""

    _esm = asset("js/community_view.js")
    graph = traitlets.Dict().tag(sync=True)
    selected = traitlets.Int(-1).tag(sync=True)
    details = traitlets.Dict().tag(sync=True)
    thumbnails = traitlets.List(traitlets.Bytes()).tag(sync=True)


class CommunityExplorer(w.VBox):
    """Explore the communities of an :class:`Analysis` in a notebook.

    ``CommunityExplorer(an)`` shows controls (layers, method, its slider, k neighbours,
    minimum correlation, graph of communities or neurons), the graph, and for a clicked
    community its top images and receptive-field patches, class selectivity, ablation
    effect against random sets of its size, coherence, concept label and members.
    """

    def __init__(
        self,
        analysis: Analysis,
        layers: list[str] | str | None = None,
        method: str = "louvain",
        top_k: int = 12,
        draws: int = 20,
        debounce: float = 0.15,
    ) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"CommunityExplorer needs an Analysis, got {type(analysis).__name__}")
        if method not in SLIDERS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(SLIDERS)}")
        self.analysis = analysis
        self.top_k = positive_int("top_k", top_k, "top images shown per community")
        self.draws = positive_int("draws", draws, "random neuron sets in the importance test; 20 or more for p < 0.05")
        self.communities: Communities | None = None
        self.report: CommunityReport | None = None
        self._layouts: dict[tuple, dict[str, tuple[float, float]]] = {}
        self._live = LiveRunner(lambda _channel, exc: self.status.error(exc), debounce=debounce)

        chosen = analysis.ordered_layers(layers if layers is not None else analysis.layers[len(analysis.layers) // 2])
        self.layers = w.SelectMultiple(
            options=analysis.layers, value=tuple(chosen), description="layers", rows=min(6, len(analysis.layers))
        )
        self.method = w.Dropdown(options=list(SLIDERS), value=method, description="method")
        self.parameter = w.FloatSlider(continuous_update=True, readout_format=".2f", layout=w.Layout(width="420px"))
        self.k = w.IntSlider(value=DEFAULTS[method]["k"], min=1, max=MAX_NEIGHBOURS, description="k neighbours")
        self.min_corr = w.FloatSlider(value=0.0, min=0.0, max=0.95, step=0.05, description="min corr")
        self.graph_mode = w.ToggleButtons(options=["communities", "neurons"], value="communities", description="graph")
        self.status = StatusLine("explorer-status")
        self.view = CommunityView()
        self._configure_slider(method)

        for control in (self.layers, self.parameter, self.k, self.min_corr, self.graph_mode):
            control.observe(self._on_control, names="value")
        self.method.observe(self._on_method, names="value")
        self.view.observe(self._on_select, names="selected")

        controls = w.HBox([w.VBox([self.layers, self.method]), w.VBox([self.parameter, self.k, self.min_corr, self.graph_mode])])
        super().__init__([controls, self.status, self.view])
        self.add_class("innersight-community-explorer")
        self._request_partition()

    # ------------------------------------------------------------- controls
    def _configure_slider(self, method: str) -> None:
        name, label, low, high, step = SLIDERS[method]
        value = DEFAULTS[method][name]
        with self.parameter.hold_trait_notifications():
            self.parameter.min, self.parameter.max = low, high
            self.parameter.step = step
            self.parameter.value = value
            self.parameter.description = label
            self.parameter.readout_format = "d" if name == "n_communities" else ".2f"

    def _on_method(self, change: dict) -> None:
        with self.parameter.hold_trait_notifications():
            self._configure_slider(change["new"])
        self._request_partition()

    def _on_control(self, _change: dict) -> None:
        self._request_partition()

    def current_params(self) -> dict[str, Any]:
        """The parameters the controls show now, as ``Analysis.communities`` takes them."""
        name = SLIDERS[self.method.value][0]
        value = int(round(self.parameter.value)) if name == "n_communities" else float(self.parameter.value)
        return {name: value, "k": int(self.k.value), "min_corr": float(self.min_corr.value)}

    # ----------------------------------------------------------- partitions
    def _request_partition(self) -> None:
        layers, method, params, mode = list(self.layers.value), self.method.value, self.current_params(), self.graph_mode.value
        if not layers:
            self.status.show("error", "select at least one layer")
            return
        self.status.show("busy", f"computing {method} communities of {', '.join(layers)} …")
        started = time.perf_counter()

        def compute(_stale: Any) -> tuple[Communities, CommunityReport, dict]:
            communities = self.analysis.communities(layers, method, stability_runs=0, **params)
            report = self.analysis.evaluate(communities)
            return communities, report, self._graph_payload(report, mode, params)

        def apply(result: tuple[Communities, CommunityReport, dict]) -> None:
            communities, report, payload = result
            self.communities, self.report = communities, report
            with self.view.hold_sync():
                self.view.graph = payload
                self.view.details = {}
                self.view.thumbnails = []
                self.view.selected = -1
            dead = f", {len(communities.dead)} dead neurons" if communities.dead else ""
            self.status.show(
                "idle",
                f"{communities.num_communities} communities of {len(communities.neurons)} neurons, "
                f"modularity {communities.modularity:.3f}{dead} ({time.perf_counter() - started:.2f} s); "
                "click a community",
            )

        self._live.submit("partition", compute, apply)

    def _graph_payload(self, report: CommunityReport, mode: str, params: dict[str, Any]) -> dict:
        communities = report.communities
        k = communities.num_communities
        # Labels and links for the largest communities only: beyond that a drawing is a hairball.
        shown = min(k, MAX_SPRING_NODES)
        labels = report.labels(list(range(shown))) + [None] * (k - shown)
        info = [
            {
                "id": c,
                "community": c,
                "size": int(size),
                "label": "" if label is None else label.value,
                "auroc": None if label is None else round(label.auroc, 3),
            }
            for c, (size, label) in enumerate(zip(communities.sizes, labels))
        ]
        if mode == "neurons" and len(communities.neurons) <= MAX_DRAWN_NEURONS:
            return self._neuron_payload(communities, params, info)
        graph = report.community_graph(top=3) if k <= MAX_SPRING_NODES else _nodes_only(k)
        positions = _layout(graph, weight="similarity")
        for node in info:
            node["x"], node["y"] = positions[f"c{node['id']}"]
        pairs = {}  # each community's 3 strongest links, drawn once per pair
        for u, v, d in graph.edges(data=True):
            if d["similarity"] > 0.05:
                pairs[tuple(sorted((int(u[1:]), int(v[1:]))))] = d["similarity"]
        edges = [{"a": a, "b": b, "w": round(sim, 3)} for (a, b), sim in pairs.items()]
        return {"mode": "communities", "nodes": info, "edges": edges, "communities": info}

    def _neuron_payload(self, communities: Communities, params: dict[str, Any], info: list[dict]) -> dict:
        aggregator = self.analysis.aggregator(communities.layers)
        rows, cols, weights = aggregator.edges(params["k"], params["min_corr"])
        key = (tuple(communities.layers), params["k"], params["min_corr"])
        if key not in self._layouts:
            graph = nx.Graph()
            graph.add_nodes_from(range(len(communities.neurons)))
            graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), weights.tolist()))
            self._layouts[key] = _layout(graph, weight="weight")
        positions = self._layouts[key]
        nodes = [
            {"id": i, "community": int(label), "size": 1, "label": f"{layer}:{index}", "x": positions[i][0], "y": positions[i][1]}
            for i, ((layer, index), label) in enumerate(zip(communities.neurons, communities.labels))
        ]
        edges = [{"a": int(a), "b": int(b), "w": round(float(c), 3)} for a, b, c in zip(rows, cols, weights)]
        return {"mode": "neurons", "nodes": nodes, "edges": edges, "communities": info}

    # -------------------------------------------------------------- details
    def select(self, community: int) -> None:
        """Select a community as a click in the graph does."""
        self.view.selected = int(community)

    def _on_select(self, change: dict) -> None:
        community, report = change["new"], self.report
        if community < 0 or report is None:
            return
        if community >= report.num_communities:
            self.status.show("error", f"there is no community {community}; this partition has {report.num_communities}")
            return
        self.status.show("busy", f"loading community {community} …")

        def compute(_stale: Any) -> tuple[dict, list[bytes]]:
            return self._details(report, community)

        def apply(result: tuple[dict, list[bytes]]) -> None:
            details, thumbnails = result
            with self.view.hold_sync():
                self.view.details = details
                self.view.thumbnails = thumbnails
            self.status.show("busy", f"community {community}: testing its importance against {self.draws} random sets …")
            self._request_importance(report, community, details)

        self._live.submit("details", compute, apply)

    def _details(self, report: CommunityReport, c: int) -> tuple[dict, list[bytes]]:
        an = self.analysis
        names = an.data.class_names
        predicted = an.predictions.classes
        images = report.top_images(c, self.top_k)
        patches = report.patches(c, self.top_k)
        means, selectivity = report.class_selectivity()
        within, outside = report.coherence()
        label = report.label(c)
        pictures = dict(zip(images.tolist(), an.images(images)))
        thumbnails = [to_png(pictures[int(i)]) for i in images]
        thumbnails += [to_png(pictures.get(p.image, an.images([p.image])[0]), p.box) for p in patches]
        details = {
            "community": c,
            "size": int(report.communities.sizes[c]),
            "label": None if label is None else {"concept": label.concept, "value": label.value, "auroc": label.auroc},
            "concepts": [
                {"concept": s.concept, "value": s.value, "auroc": round(s.auroc, 3)} for s in report.concepts(c)[:5]
            ],
            "members": [f"{layer}:{index}" for layer, index in report.communities.members(c)],
            "coherence": {"within": _number(within[c]), "outside": _number(outside[c])},
            "classes": names,
            "class_means": [round(float(v), 4) for v in means[:, c]],
            "selectivity": round(float(selectivity[c]), 4),
            "images": [
                {
                    "index": int(i),
                    "label": names[int(an.labels[i])],
                    "predicted": names[int(predicted[i])],
                    "score": round(float(report.scores[i, c]), 3),
                }
                for i in images
            ],
            "patches": [{"index": p.image, "neuron": f"{p.layer}:{p.neuron}", "box": list(p.box)} for p in patches],
            "importance": None,
        }
        return details, thumbnails

    def _request_importance(self, report: CommunityReport, c: int, details: dict) -> None:
        def compute(stale: Any) -> dict | None:
            try:
                imp = report.importance(
                    c,
                    draws=self.draws,
                    should_stop=lambda: stale() or self.report is not report,
                    on_progress=lambda done, total: self.status.show(
                        "busy", f"community {c}: ablating it and {self.draws} random sets of its size … {done / total:.0%}"
                    ),
                )
            except Cancelled:
                return None
            null = imp.null_class_drops
            return {
                "accuracy_drop": imp.accuracy_drop,
                "null_mean": imp.null_mean,
                "null_std": imp.null_std,
                "z_score": None if not np.isfinite(imp.z_score) else imp.z_score,
                "p_value": imp.p_value,
                "draws": len(imp.null_drops),
                "class_drop": [_number(v) for v in imp.class_accuracy_drop],
                "null_class_mean": [_number(v) for v in np.nanmean(null, axis=0)],
                "null_class_std": [_number(v) for v in np.nanstd(null, axis=0)],
            }

        def apply(result: dict | None) -> None:
            if result is None or self.view.selected != c or self.report is not report:
                return
            self.view.details = {**details, "importance": result}
            self.status.show(
                "idle",
                f"community {c}: ablation drops accuracy by {result['accuracy_drop']:.3f} "
                f"(random sets {result['null_mean']:.3f} ± {result['null_std']:.3f}, p = {result['p_value']:.3f})",
            )

        self._live.submit("importance", compute, apply)

    # --------------------------------------------------------------- status


    def wait(self, timeout: float = 120.0) -> None:
        """Block until pending computations are done (for scripts and tests)."""
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


def _number(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)
