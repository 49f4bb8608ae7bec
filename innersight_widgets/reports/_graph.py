"""A node-link figure: hover a node for its figures, click it to see its images below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from bokeh.models import ColumnDataSource, Div, HoverTool, TapTool
from bokeh.plotting import figure

from ._page import gallery


def node_link_figure(
    title: str,
    nodes: dict[str, Sequence[Any]],
    edges: Sequence[tuple[int, int, float]],
    tooltips: list[tuple[str, str]],
    hint: str,
    name: str = "nodes",
) -> tuple[figure, Div]:
    """A graph figure (pan, zoom, hover, tap) and the text that shows the clicked node's images.

    Parameters
    ----------
    title : str
        The figure's title (drawn as text, never as HTML).
    nodes : dict of str to sequence
        One row per node, with at least ``x``, ``y``, ``size`` (pixels), ``name`` (drawn
        beside the node) and ``images`` (HTML from :func:`~._page.image_strip`); the other
        columns are for ``tooltips``.
    edges : sequence of (int, int, float)
        (node row, node row, weight): drawn as lines as wide as the weight allows, the
        largest |weight| 8 pixels wide.
    tooltips : list of (str, str)
        Bokeh hover tooltips over the node columns, e.g. ``("size", "@size")``.
    hint : str
        Plain text shown below before a node is clicked.
    name : str
        The name of the nodes' data source in the page (unique within it).

    Returns
    -------
    figure
        The graph.
    Div
        The clicked node's images.
    """
    source = ColumnDataSource(dict(nodes), name=name)
    plot = figure(
        title=title, width=900, height=520, tools="pan,wheel_zoom,box_zoom,reset", match_aspect=False
    )
    plot.axis.visible = False
    plot.grid.visible = False
    plot.x_range.range_padding = plot.y_range.range_padding = 0.2  # room for the names beside the nodes
    if edges:
        x, y = np.asarray(nodes["x"], float), np.asarray(nodes["y"], float)
        weights = np.abs([w for _, _, w in edges])
        plot.multi_line(
            xs=[[x[a], x[b]] for a, b, _ in edges],
            ys=[[y[a], y[b]] for a, b, _ in edges],
            line_width=(0.5 + 7.5 * weights / max(weights.max(), 1e-12)).tolist(),
            line_alpha=0.45,
            color="#607d8b",
        )
    circles = plot.scatter(
        "x",
        "y",
        size="size",
        source=source,
        color="colour",
        line_color="#263238",
        selection_line_width=3,
        nonselection_alpha=0.5,
    )
    plot.text("x", "y", text="name", source=source, x_offset=8, y_offset=-8, text_font_size="9pt")
    plot.add_tools(HoverTool(renderers=[circles], tooltips=tooltips), TapTool(renderers=[circles]))
    return plot, gallery(source, "images", hint)
