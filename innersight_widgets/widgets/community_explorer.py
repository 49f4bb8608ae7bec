"""CommunityExplorer: pick layers and a method, move a slider, click a community, see what it does.

The widget is a view: partitions, scores, patches and ablation tests all come from the
core (``Analysis.communities`` / ``Analysis.evaluate``). It holds UI state only.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, ClassVar

import ipywidgets as w
import networkx as nx
import traitlets

from .._validation import Constraint, Interval, check
from ..analysis import Analysis
from ..innersightnet import RANKING, Communities, CommunityReport, Importance, reliability_caveats
from ..visualisation import VIEW_SETTINGS
from ._assets import esm
from ._controls import CommunityControls
from ._feature import FEATURE_STEPS, ShowsFeatures, feature_settings, feature_snapshot, request_features
from ._live import Job, LiveRunner
from ._standalone import Drawing, StandsAlone
from ._static import StaticFallback, line, number, pictures, table
from ._status import StatusLine
from .geometry import MAX_SPRING_NODES, disc_radii, graph_layout, neuron_layout, separate
from .payloads import Record, Thumbnails
from .payloads.community_view import (
    CommunityDetails,
    CommunityGraph,
    PathwayGraph,
    StabilitySummary,
    community_details,
    community_edges,
    community_graph,
    community_labels,
    importance_summary,
    neuron_points,
    pathway_graph,
    stability_summary,
)

# Above this many neurons the neuron view is not drawn (the community graph is, with a note);
# at most payloads.community_view.MAX_PACKED_NEURONS.
MAX_DRAWN_NEURONS = 30_000
# The neuron view draws the strongest similarity links only: more are a grey fog.
MAX_DRAWN_LINKS = 2_000
# Above this many living neurons an agglomerative partition's stability is measured on
# request only: a bootstrap re-run rebuilds the dendrogram (about 6 s at 8,192 neurons).
AUTOMATIC_BOOTSTRAP_MAX = 4_096
# Top images in the static snapshot (about 10 kB each, inline in the saved notebook).
SNAPSHOT_IMAGES = 6
# Pathways highlighted per class in the pathways view.
PATHWAYS_PER_CLASS = 3


class CommunityView(ShowsFeatures, Drawing):
    """The drawing: community or neuron graph, the pathways, and the selected community's
    details, with what it looks for."""

    _esm = esm("js/community_view.js")
    graph = Record(CommunityGraph).tag(sync=True)
    pathways = Record(PathwayGraph).tag(sync=True)
    selected = traitlets.Int(-1, min=-1).tag(sync=True)
    stability = Record(StabilitySummary).tag(sync=True)
    details = Record(CommunityDetails).tag(sync=True)
    thumbnails = Record(Thumbnails).tag(sync=True)


class CommunityExplorer(StaticFallback, StandsAlone, w.VBox):
    """Explore the communities of an :class:`Analysis` in a notebook.

    ``CommunityExplorer(an)`` shows controls (layers, method, its slider, k neighbours,
    minimum correlation, graph of communities or neurons, stability runs, how top images
    are ranked), the graph with each community's concept label, the partition's stability
    once measured, with a warning beside it when the partition cannot be trusted
    (``reliability_caveats``: a stability below 0.5, or no more probe images than living
    neurons), and for a clicked community its top images and receptive-field patches, class selectivity,
    coherence, concept label and members at once, then its importance: the accuracy drop
    when it is ablated, against ``draws`` random sets of its size, filling in as the random
    sets run, on ``images`` probe images, and last what it looks for: images optimised from
    noise to raise its community score (``visualise``, ``feature_steps`` steps), drawn as
    they form, beside its best probe image's score.

    The neuron view draws up to ``MAX_DRAWN_NEURONS`` neurons as points on a canvas (wheel
    to zoom, drag to pan, hover for a neuron's name), each community's members around the
    community's place in the community graph. The stability (mean adjusted Rand index over
    ``stability_runs`` re-runs) is measured after the partition is drawn.

    With two or more layers, the "pathways" button shows beside the graph the partition's
    communities as one column per layer (lowest first) and the classes as the last column,
    linked by the share of flow (``CommunityReport.flow_graph``, docs/methods.md section
    3.6); a click on a class highlights its ``PATHWAYS_PER_CLASS`` strongest pathways, a
    click on a community opens it. The flow is computed when the view is shown, for the
    partition on screen (seconds the first time, kept after).

    A click belongs to the newest partition asked for: clicked while a new partition is
    computing, the community opens in the new partition when it is drawn.

    Parameters
    ----------
    analysis : Analysis
        The analysis whose neurons are partitioned.
    layers : str or list of str, optional
        The layers shown first (default: the middle selected layer).
    method : {"louvain", "leiden", "agglomerative", "spectral"}
        The aggregation method shown first.
    top_k : int
        Top images shown per community.
    ranking : {"specific", "plain"}
        How the top images are ranked first (``CommunityReport.top_images``): by the
        specific score, which discounts images that drive the whole layer, or by the plain
        community score; the "top images" control switches it and the details panel says
        which is shown.
    draws : int
        Random neuron sets in the importance test.
    images : int or None
        Probe images the importance test runs on (None: all).
    debounce : float
        Seconds of quiet a slider waits for before computing.
    stability_runs : int
        Re-runs (0..50) the stability figure compares each partition with; 0: not measured.
    flow_images : int
        Probe images the pathways view's flow is averaged over (and at most as many of each
        class for the edges into the classes).
    feature_steps : int
        Optimisation steps of a clicked community's feature visualisation (0: none, e.g. for
        a large model on a CPU, where 256 steps at 224 px take minutes).
    feature_options : dict, optional
        ``visualise``'s other arguments for it (``size``, ``mean`` and ``std`` for probe
        images normalised by hand, ``seed``, ...).
    """

    drawing_name = "view"

    #: The constructor's declared constraints: ``stability_runs`` and ``draws`` are those of
    #: ``Analysis.communities`` and ``CommunityReport.importance``, which they go to (the
    #: stability control ends at its high); ``debounce`` is the live runner's ``DEBOUNCE``.
    constraints: ClassVar[dict[str, Constraint]] = {
        "top_k": Interval(int, 1, meaning="top images shown per community"),
        "ranking": RANKING,
        "draws": CommunityReport.importance.constraints["draws"],
        "images": Interval(int, 1, none=True, meaning="probe images the importance test runs on; None: all"),
        "stability_runs": Analysis.communities.constraints["stability_runs"],
        "flow_images": Interval(int, 1, meaning="probe images the pathways' flow is averaged over"),
        "feature_steps": FEATURE_STEPS,
    }

    def __init__(
        self,
        analysis: Analysis,
        layers: list[str] | str | None = None,
        method: str = "louvain",
        top_k: int = 12,
        ranking: str = "specific",
        draws: int = 20,
        images: int | None = 512,
        debounce: float = 0.15,
        stability_runs: int = 3,
        flow_images: int = 256,
        feature_steps: int = VIEW_SETTINGS["steps"],
        feature_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(analysis, Analysis):
            raise TypeError(f"CommunityExplorer needs an Analysis, got {type(analysis).__name__}")
        declared = self.constraints
        stability_runs = check("stability_runs", stability_runs, declared["stability_runs"])
        self.analysis = analysis
        self.top_k = check("top_k", top_k, declared["top_k"])
        ranking = check("ranking", ranking, declared["ranking"])
        self.draws = check("draws", draws, declared["draws"])
        self.images = check("images", images, declared["images"])
        self.flow_images = check("flow_images", flow_images, declared["flow_images"])
        self.features = feature_settings(feature_steps, feature_options)
        self.communities: Communities | None = None
        self.report: CommunityReport | None = None
        # Partitions asked for are numbered (a new number when layers, method or parameters
        # change, not when only the look does); the one asked for last (its key and number)
        # and the one on screen. A click is (community, number of the partition it belongs to).
        self._asked: tuple[tuple, int] = ((), 0)
        self._shown = 0
        self._drawn_key: tuple | None = None
        self._click: tuple[int, int] | None = None
        self._applying = False

        chosen = analysis.ordered_layers(layers if layers is not None else analysis.layers[len(analysis.layers) // 2])
        self.layers = w.SelectMultiple(
            options=analysis.layers, value=tuple(chosen), description="layers", rows=min(6, len(analysis.layers))
        )
        self.settings = CommunityControls(method, self._request_partition)
        self.method, self.parameter, self.k, self.min_corr = self.settings.widgets
        self.graph_mode = w.ToggleButtons(options=["communities", "neurons"], value="communities", description="graph")
        self.show_pathways = w.ToggleButton(
            value=False, description="pathways", layout=w.Layout(width="110px"),
            tooltip="beside the graph: the communities layer by layer up to the classes, linked by flow",
        )
        runs = declared["stability_runs"]
        self.stability_runs = w.BoundedIntText(
            value=stability_runs, min=runs.low, max=runs.high, description="stability runs",
            style={"description_width": "initial"}, layout=w.Layout(width="170px"),
        )
        self.ranking = w.ToggleButtons(
            options=list(RANKING.values), value=ranking, description="top images",
            tooltips=["discounts images that drive the whole layer", "the community score itself"],
        )
        self.measure = w.Button(description="measure stability", layout=w.Layout(width="170px"),
                                tooltip="re-run the partition now and show how alike the runs are")
        self.status = StatusLine("explorer-status")
        self.view = CommunityView()
        self._live = LiveRunner(self.status, debounce=debounce)

        for control in (self.layers, self.graph_mode):
            control.observe(lambda _change: self._request_partition(), names="value")
        self.stability_runs.observe(self._on_stability_runs, names="value")
        self.show_pathways.observe(self._on_show_pathways, names="value")
        self.ranking.observe(self._on_ranking, names="value")
        self.measure.on_click(lambda _button: self._measure_stability(asked=True))
        self.view.observe(self._on_select, names="selected")

        controls = w.HBox([
            w.VBox([self.layers, self.method, w.HBox([self.stability_runs, self.measure])]),
            w.VBox([self.parameter, self.k, self.min_corr, w.HBox([self.graph_mode, self.show_pathways]), self.ranking]),
        ])
        super().__init__([controls, self.status, self.view])
        self.add_class("innersight-community-explorer")
        self._request_partition()

    def current_params(self) -> dict[str, Any]:
        """The parameters the controls show now, as ``Analysis.communities`` takes them."""
        return self.settings.current_params()

    # ----------------------------------------------------------- partitions
    def _request_partition(self) -> None:
        layers, method, params, mode = list(self.layers.value), self.method.value, self.current_params(), self.graph_mode.value
        self.show_pathways.layout.display = None if len(layers) >= 2 else "none"
        if not layers:
            self._live.announce("error", "select at least one layer")
            return
        started = time.perf_counter()
        key = (tuple(layers), method, tuple(sorted(params.items())))
        # Only the look changed (neurons vs communities): the same partition, drawn again at
        # once (a click, not a slider); the open community, its importance test and the
        # stability carry on.
        redraw = key == self._asked[0]
        number = self._asked[1] if redraw else self._asked[1] + 1
        self._asked = (key, number)
        drawn = (self.communities, self.report) if key == self._drawn_key else None

        def compute(job: Job) -> tuple[Communities, CommunityReport, CommunityGraph]:
            if drawn is not None:
                communities, report = drawn
            else:
                communities = self.analysis.communities(layers, method, stability_runs=0, warn=False, **params)
                report = self.analysis.evaluate(communities)
                for layer in layers:  # measured once per layer: now, so that no click waits for it
                    if len(self.analysis.layer_info(layer).spatial_shape) == 2:
                        self.analysis.receptive_box(layer, 0, 0)
            return communities, report, self._graph(report, mode, params)

        def apply(result: tuple[Communities, CommunityReport, CommunityGraph]) -> str:
            communities, report, graph = result
            dead = f", {len(communities.dead)} dead neurons" if communities.dead else ""
            summary = (
                f"{communities.num_communities} communities of {len(communities.neurons)} neurons, "
                f"modularity {communities.modularity:.3f}{dead} ({time.perf_counter() - started:.2f} s)"
            )
            if number == self._shown:  # the partition on screen, drawn another way
                self.view.graph = graph
                return summary if self.view.selected >= 0 else f"{summary}; click a community"
            self.communities, self.report, self._shown, self._drawn_key = communities, report, number, key
            click = self._click if self._click is not None and self._click[1] == number else None
            opens = click is not None and click[0] < communities.num_communities
            with self.view.hold_sync():  # one message: the new graph, nothing of the old partition
                self.view.graph = graph
                self.view.details = {}
                self.view.thumbnails = {}
                self.view.feature, self.view.feature_pictures = {}, {}
                self.view.pathways = {}
                self._set_selected(click[0] if opens else -1)
                if opens:
                    self._open(click[0])
                self._measure_stability()
                self._request_pathways()
            if click is not None and not opens:
                return f"{summary}; there is no community {click[0]} in it, click another"
            return summary if opens else f"{summary}; click a community"

        def clear() -> None:
            """A failed partition leaves nothing of the old one under the new controls."""
            self.communities = self.report = self._drawn_key = None
            self._shown = 0
            with self.view.hold_sync():
                self.view.graph, self.view.stability, self.view.details, self.view.thumbnails = {}, {}, {}, {}
                self.view.feature, self.view.feature_pictures, self.view.pathways = {}, {}, {}
                self._set_selected(-1)

        self._live.submit(
            "partition", f"computing {method} communities of {', '.join(layers)} …", compute, apply,
            cancels=() if redraw else ("details", "importance", "stability", "pathways", "feature"), debounce=not redraw,
            on_error=clear,
        )

    def _graph(self, report: CommunityReport, mode: str, params: dict[str, Any]) -> CommunityGraph:
        """The community graph, or the neuron view around it (up to ``MAX_DRAWN_NEURONS``)."""
        communities = report.communities
        k, m = communities.num_communities, len(communities.neurons)
        labels = community_labels(report, MAX_SPRING_NODES)  # beyond that a drawing is a hairball
        # each community's 3 strongest links; beyond MAX_SPRING_NODES the communities alone
        graph = report.community_graph(top=3) if k <= MAX_SPRING_NODES else nx.empty_graph([f"c{c}" for c in range(k)])
        centres = graph_layout(graph, weight="similarity")
        if mode == "neurons" and m <= MAX_DRAWN_NEURONS:
            links = self.analysis.aggregator(communities.layers).edges(params["k"], params["min_corr"])
            xy, centres = neuron_layout(communities.labels, centres, *links)
            return community_graph(report, centres, [], labels, neuron_points(communities, xy, links, MAX_DRAWN_LINKS))
        note = "" if mode == "communities" else (
            f"the neuron view draws at most {MAX_DRAWN_NEURONS:,} neurons and these layers have {m:,}: "
            "their communities are shown instead; select fewer layers to see the neurons"
        )
        # the discs drawn must not cover each other (positions in community order, as the radii)
        centres = separate({f"c{c}": centres[f"c{c}"] for c in range(k)}, disc_radii(communities.sizes))
        return community_graph(report, centres, community_edges(graph), labels, note=note)

    # ------------------------------------------------------------ stability
    def _on_stability_runs(self, _change: dict) -> None:
        if self._asked[1] == self._shown and self.communities is not None:
            self._measure_stability()  # otherwise the partition asked for measures it when drawn

    def _measure_stability(self, asked: bool = False) -> None:
        """Measure the stability of the partition on screen over the runs the control shows,
        after it is drawn; a newer partition stops it between re-runs and makes the result
        stale. Agglomerative partitions above ``AUTOMATIC_BOOTSTRAP_MAX`` living neurons are
        measured only when ``asked`` (the "measure stability" button): each bootstrap re-run
        rebuilds the dendrogram, seconds at that size, during which the slider would wait."""
        if self.communities is None:
            return
        shown, runs = self.communities, int(self.stability_runs.value)
        images = len(self.analysis.data)
        living = len(shown.neurons) - len(shown.dead)
        caveats = reliability_caveats(shown, images)  # before the stability is known: the images per neuron
        if not asked and runs and shown.method == "agglomerative" and living > AUTOMATIC_BOOTSTRAP_MAX:
            self.view.stability = stability_summary(shown.method, runs, waiting=True, caveats=caveats)
            return
        self.view.stability = stability_summary(shown.method, runs, caveats=caveats)

        def compute(job: Job) -> Communities | None:
            if runs == 0:
                return None
            return self.analysis.communities(
                shown.layers, shown.method, seed=shown.seed, stability_runs=runs, should_stop=job.stale, warn=False,
                **shown.params,
            )

        def apply(measured: Communities | None) -> None:
            found = caveats if measured is None else reliability_caveats(measured, images)
            self.view.stability = stability_summary(shown.method, runs, measured, caveats=found)

        def clear() -> None:
            self.view.stability = {}

        self._live.submit("stability", f"measuring the stability over {runs} re-runs …", compute, apply, debounce=False, on_error=clear)

    # ------------------------------------------------------------- pathways
    def _on_show_pathways(self, change: dict) -> None:
        if not change["new"]:
            self.view.pathways = {}
        elif self._asked[1] == self._shown:  # else the partition asked for requests them when drawn
            self._request_pathways()

    def _request_pathways(self) -> None:
        """The pathways of the partition on screen, when the view is shown and it has two or
        more layers; a newer partition makes the result stale before it is shown."""
        report = self.report
        if not self.show_pathways.value or report is None or len(report.communities.layers) < 2:
            return
        started, images = time.perf_counter(), self.flow_images

        def apply(pathways: PathwayGraph) -> str:
            if self.show_pathways.value:  # hidden while it computed: not shown
                self.view.pathways = pathways
            return (
                f"pathways: {len(pathways.nodes)} community parts in {len(pathways.layers)} layers, "
                f"{len(pathways.links)} links ({time.perf_counter() - started:.2f} s)"
            )

        self._live.submit(  # the view has no pathways when asked for: nothing to clear on an error
            "pathways", f"measuring the flow between {', '.join(report.communities.layers)} on {images} images …",
            lambda job: pathway_graph(report, PATHWAYS_PER_CLASS, images), apply, debounce=False,
        )

    # -------------------------------------------------------------- details
    def _on_ranking(self, _change: dict) -> None:
        """The open community's images again, by the ranking now chosen."""
        if self._asked[1] == self._shown and self.report is not None and self.view.selected >= 0:
            self._open(self.view.selected)  # else the partition asked for opens its click with it

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
        report, owner, ranking = self.report, f"partition {self._shown} community {c}", self.ranking.value

        def apply(result: tuple[CommunityDetails, Thumbnails]) -> str:
            details, thumbnails = result
            with self.view.hold_sync():
                self.view.details = details
                self.view.thumbnails = thumbnails
            self._test_importance(report, details)
            request_features(
                self._live, self.view, self.analysis, (report.communities, c), f"community {c}", owner,
                self.features, float(report.scores[:, c].max()), "the best probe image scores",
            )
            return f"community {c}: {details.size} neurons"

        self._live.submit(
            "details", f"loading community {c} …", lambda job: community_details(report, c, self.top_k, owner, ranking), apply,
            cancels=("importance", "feature"), debounce=False,
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

    def snapshot_parts(self) -> list[str]:
        """The view as static HTML (widgets/_static.py): the community table with each
        community's fill, the stability and its caveats, and the opened community's label,
        ablation figures, top images and what it looks for, from the records the view draws."""
        v = self.view
        graph, stability, details = v.graph, v.stability, v.details
        parts = [line(stability.get("text", ""))] + [line(text, bold=True) for text in stability.get("warnings", [])]
        if graph:
            parts.append(table(
                f"{graph['communities']} communities", ["community", "neurons", "concept label"],
                [(n["community"], n["size"], n["caption"]) for n in graph["nodes"]],
                swatches=[graph["colours"][n["community"]] for n in graph["nodes"]],
            ))
        if details:
            d, c = details, details["community"]
            label = f" · {d['label']['concept']} = {d['label']['value']} (AUROC {d['label']['auroc']:.2f})" if d["label"] else ""
            parts.append(line(f"Community {c} · {d['size']} neurons{label}", bold=True))
            imp = d["importance"]
            if imp and imp["draws"]:
                parts.append(line(
                    f"overall drop {imp['accuracy_drop']:.3f} vs random {number(imp['null_mean'])} ± "
                    f"{number(imp['null_std'])}, p = {number(imp['p_value'])} ({imp['draws']} of {imp['total_draws']} random sets)"
                ))
            shown = d["images"][:SNAPSHOT_IMAGES]
            parts.append(pictures(
                v.thumbnails, d["owner"], [i["thumb"] for i in shown],
                [i["label"] if i["label"] == i["predicted"] else f"{i['label']} → {i['predicted']}" for i in shown],
                f"Top images by {d['ranking']} score",
            ))
            parts.append(feature_snapshot(v, d["owner"]))
        return parts
