"""The report of one or several community partitions: per partition, the community graph
(click a community for its top images), class selectivity, and importance against the null."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
from bokeh.models import ColumnDataSource, Div, HoverTool, LayoutDOM, LinearColorMapper
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from .._validation import check
from ..innersightnet import RANKING, RANKING_TEXT, reliability_caveats
from ._features import feature_strip
from ._graph import node_link_figure
from ._page import image_strip, output_path, png_data_uri, write_page

if TYPE_CHECKING:
    from ..innersightnet import CommunityReport, Importance


def communities_html(
    reports: CommunityReport | Sequence[CommunityReport],
    path: str | Path,
    top_images: int = 8,
    draws: int | None = 20,
    images: int | None = None,
    ranking: str = "specific",
    visualise: bool = False,
    feature_options: dict[str, Any] | None = None,
) -> Path:
    """Write one or several evaluated partitions as a standalone HTML page.

    For each partition: what may make it unreliable (``reliability_caveats``), the community graph (node size: members; colour: selectivity;
    edges: similarity; hover a community for its figures, click it for its top images),
    the mean community score per class, and each community's accuracy drop when ablated
    beside the drops of random neuron sets of the same size. The page says which ranking
    chose the top images.

    Parameters
    ----------
    reports : CommunityReport or sequence of CommunityReport
        The partitions, e.g. of one layer or of several (one section each).
    path : str or Path
        The HTML file to write.
    top_images : int
        Images shown per community (its highest-scoring probe images).
    draws : int or None
        Random sets per importance test (see ``CommunityReport.importance``); None leaves
        the importance out, and the page is made without running the model.
    images : int, optional
        Probe images each importance test is evaluated on (all when None).
    ranking : {"specific", "plain"}
        How the top images are ranked (``CommunityReport.top_images``): by the specific
        score (default), which discounts images that drive the whole layer, or by the
        plain community score.
    visualise : bool
        Also show under each community's top images what it looks for: its feature
        visualisation (``visualise`` with the views' settings, ``VIEW_SETTINGS``; those the
        analysis already holds, from a widget, are not computed again), beside its best
        probe image's score. Seconds per community for the shipped models on a CPU,
        minutes for a ResNet-50 at 224 px.
    feature_options : dict, optional
        With ``visualise``: ``visualise``'s other arguments (``mean`` and ``std`` for probe
        images normalised by hand, ``size``, ...).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If no report is given, ``top_images`` is not positive, ``ranking`` is not
        ``"specific"`` or ``"plain"``, or the folder of ``path`` does not exist (said
        before any work).
    """
    from ..innersightnet import CommunityReport

    ranking = check("ranking", ranking, RANKING)
    path = output_path(path)  # before the importance tests, which may take minutes
    reports = [reports] if isinstance(reports, CommunityReport) else list(reports)
    if not reports:
        raise ValueError("give at least one CommunityReport to put in the page")
    if top_images < 1:
        raise ValueError(f"top_images must be a positive number of images per community, got {top_images!r}")
    parts: list[LayoutDOM] = []
    features = dict(feature_options or {}) if visualise else None  # None: no visualisation
    for number, report in enumerate(reports):
        parts.extend(_section(report, number, top_images, draws, images, ranking, features))
    layers = sorted({layer for report in reports for layer in report.communities.layers})
    return write_page(path, f"Communities of {', '.join(layers)}", parts)


def _section(
    report: CommunityReport, number: int, top_images: int, draws: int | None, images: int | None, ranking: str,
    features: dict[str, Any] | None,
) -> list[LayoutDOM]:
    """The parts of one partition's section; ``number`` keeps its models' names apart."""
    communities = report.communities
    k = communities.num_communities
    tested = [report.importance(c, draws=draws, images=images) for c in range(k)] if draws else []
    layers = ", ".join(communities.layers)
    about = Div(
        width=900,
        text=(
            f"<h2>{html.escape(layers)}: {k} communities ({html.escape(communities.method)})</h2>"
            f"<p>{len(communities.neurons)} neurons, modularity {communities.modularity:.3f}. "
            "Hover a community for its figures; click it to see its top images.</p>"
            f"<p class='report-ranking' data-ranking='{ranking}'>Top images ranked by the "
            f"{html.escape(RANKING_TEXT[ranking])}.</p>"
            + "".join(
                f"<p class='report-caveat' style='color:#8a5a00'>Caution: {html.escape(caveat)}.</p>"
                for caveat in reliability_caveats(communities, len(report.analysis.data))
            )
        ),
    )
    graph, shown = _graph(report, number, top_images, tested, ranking, features)
    parts: list[LayoutDOM] = [about, graph, shown, _selectivity(report)]
    if tested:
        parts.append(_importance(report, tested))
    if len(communities.layers) > 1:
        parts.append(_pathways(report))
    return parts


def _pathways(report: CommunityReport, k: int = 3) -> Div:
    """The ``k`` strongest pathways into each class (``CommunityReport.pathways``) as a
    table: the communities layer by layer, lowest first, their labels and the score."""
    rows = []
    for name in report.analysis.data.class_names:
        for rank, path in enumerate(report.pathways(name, k=k)):
            steps = " &rarr; ".join(
                f"{html.escape(layer)} community {c} ({html.escape(label or 'no label')})"
                for layer, c, label in zip(path.layers, path.communities, path.labels)
            )
            first = f"<td rowspan='{k}'><b>{html.escape(name)}</b></td>" if rank == 0 else ""
            rows.append(f"<tr class='report-pathway'>{first}<td>{steps} &rarr; {html.escape(name)}</td>"
                        f"<td>{path.score:.3f}</td></tr>")
    return Div(
        width=900,
        text=(
            "<h3>Pathways into each class</h3><p>The strongest chains of communities, one per layer from the "
            "lowest up; the score is the share of the class logit's positive attribution the chain carries.</p>"
            "<table><tr><th>class</th><th>pathway</th><th>score</th></tr>" + "".join(rows) + "</table>"
        ),
    )


def _graph(
    report: CommunityReport, number: int, top_images: int, tested: list[Importance], ranking: str,
    features: dict[str, Any] | None,
) -> tuple[figure, Div]:
    """The community graph, spring-laid on similarity, and the clicked community's images
    (with ``features``, ``visualise``'s options, what it looks for under them)."""
    graph = report.community_graph(top=3)
    analysis = report.analysis
    k = report.num_communities
    position = nx.spring_layout(graph.to_undirected(), weight="similarity", seed=0)
    _, selectivity = report.class_selectivity()
    colours = np.array(Viridis256)[np.clip((np.nan_to_num(selectivity) * 255).astype(int), 0, 255)]
    nodes = {
        "x": [float(position[f"c{c}"][0]) for c in range(k)],
        "y": [float(position[f"c{c}"][1]) for c in range(k)],
        "size": [10 + 2 * np.sqrt(s) for s in report.communities.sizes],
        "colour": colours.tolist(),
        "name": _names(report),
        "members": [int(s) for s in report.communities.sizes],
        "layers": [graph.nodes[f"c{c}"]["layers"] for c in range(k)],
        "label": [_label(report, c) for c in range(k)],
        "top_classes": [", ".join(report.top_classes(c)) for c in range(k)],
        "selectivity": selectivity.tolist(),
        "drop": [t.accuracy_drop for t in tested] if tested else [np.nan] * k,
        "p": [t.p_value for t in tested] if tested else [np.nan] * k,
        "images": [
            image_strip(
                [png_data_uri(image) for image in analysis.images(report.top_images(c, top_images, ranking))],
                f"community {c}: {_label(report, c)}; top classes {', '.join(report.top_classes(c))}; "
                f"images ranked by {ranking} score",
            )
            + (feature_strip(analysis, (report.communities, c), float(report.scores[:, c].max()),
                             "the best probe image scores", features) if features is not None else "")
            for c in range(k)
        ],
    }
    row = {f"c{c}": c for c in range(k)}
    edges = [(row[a], row[b], d["similarity"]) for a, b, d in graph.edges(data=True) if "similarity" in d]
    tooltips = [
        ("community", "@name"),
        ("neurons", "@members"),
        ("layers", "@layers"),
        ("label", "@label"),
        ("top classes", "@top_classes"),
        ("selectivity", "@selectivity{0.00}"),
        ("accuracy drop", "@drop{0.000}"),
        ("p (vs random sets)", "@p{0.000}"),
    ]
    plot, shown = node_link_figure(
        f"communities of {', '.join(report.communities.layers)}",
        nodes,
        edges,
        tooltips,
        "Click a community to see its top images.",
        name=f"nodes{number}",
    )
    return plot, shown


def _selectivity(report: CommunityReport) -> figure:
    """Mean community score over each class's images: classes x communities."""
    means, _ = report.class_selectivity()
    classes = list(report.analysis.data.class_names)
    names = _names(report)
    cls, com = np.meshgrid(np.arange(len(classes)), np.arange(len(names)), indexing="ij")
    source = ColumnDataSource(
        {
            "class": [classes[i] for i in cls.ravel()],
            "community": [names[j] for j in com.ravel()],
            "score": means.ravel(),
        }
    )
    finite = means[np.isfinite(means)]
    mapper = LinearColorMapper(
        palette=Viridis256,
        low=float(finite.min(initial=0)),
        high=float(finite.max(initial=1)),
        nan_color="#eeeeee",
    )
    plot = figure(
        title="mean community score per class",
        x_range=names,
        y_range=classes[::-1],
        width=900,
        height=60 + 24 * len(classes),
        tools="pan,wheel_zoom,reset",
        toolbar_location="right",
    )
    cells = plot.rect(
        "community",
        "class",
        1,
        1,
        source=source,
        fill_color={"field": "score", "transform": mapper},
        line_color=None,
    )
    plot.add_tools(
        HoverTool(
            renderers=[cells],
            tooltips=[("community", "@community"), ("class", "@class"), ("mean score", "@score{0.000}")],
        )
    )
    return plot


def _importance(report: CommunityReport, tested: list[Importance]) -> figure:
    """Each community's accuracy drop beside the random sets' drops (mean, +-1 sd, each draw)."""
    names = _names(report)
    own = ColumnDataSource(
        {
            "community": names,
            "drop": [t.accuracy_drop for t in tested],
            "null": [t.null_mean for t in tested],
            "low": [t.null_mean - t.null_std for t in tested],
            "high": [t.null_mean + t.null_std for t in tested],
            "z": [t.z_score for t in tested],
            "p": [t.p_value for t in tested],
            "draws": [len(t.null_drops) for t in tested],
        }
    )
    draws = ColumnDataSource(
        {
            "community": [names[c] for c, t in enumerate(tested) for _ in t.null_drops],
            "drop": [float(d) for t in tested for d in t.null_drops],
        }
    )
    plot = figure(
        title="accuracy drop when ablated: community (blue) against random sets of its size (grey)",
        x_range=names,
        width=900,
        height=320,
        tools="pan,wheel_zoom,box_zoom,reset",
        y_axis_label="accuracy drop",
    )
    plot.scatter("community", "drop", source=draws, color="#9e9e9e", alpha=0.5, size=5)
    plot.segment("community", "low", "community", "high", source=own, color="#616161", line_width=2)
    dots = plot.scatter("community", "drop", source=own, color="#4e79a7", size=11)
    plot.add_tools(
        HoverTool(
            renderers=[dots],
            tooltips=[
                ("community", "@community"),
                ("accuracy drop", "@drop{0.000}"),
                ("random sets: mean", "@null{0.000}"),
                ("z", "@z{0.00}"),
                ("p", "@p{0.000}"),
                ("random sets", "@draws"),
            ],
        )
    )
    return plot


def _names(report: CommunityReport) -> list[str]:
    """Each community as the explorer names its disc: its number and its label's value."""
    labels = [report.label(c) for c in range(report.num_communities)]
    return [str(c) if label is None else f"{c} · {label.value}" for c, label in enumerate(labels)]


def _label(report: CommunityReport, c: int) -> str:
    """The community's best concept label with its AUROC, or "-"."""
    label = report.label(c)
    return "-" if label is None else f"{label.concept}={label.value} (AUROC {label.auroc:.2f})"
