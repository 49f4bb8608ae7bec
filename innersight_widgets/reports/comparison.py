"""The pages of a comparison of two networks: the similarity of every pair of units as a
heat map (counterparts outlined), the matched pairs side by side, and the units without
counterpart; for communities with their top images, for circuits with the edge changes."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.models import ColumnDataSource, Div, HoverTool, LinearColorMapper
from bokeh.palettes import RdBu11
from bokeh.plotting import figure

from ._page import image_strip, output_path, png_data_uri, write_page

if TYPE_CHECKING:
    from ..comparison import CircuitComparison, CommunityComparison, Match

# Crops shown per circuit group.
CROPS_PER_GROUP = 6


def comparison_html(result: CommunityComparison, path: str | Path, top_images: int = 6) -> Path:
    """Write a comparison of two partitions as a standalone HTML page.

    Parameters
    ----------
    result : CommunityComparison
        What :func:`~innersight_widgets.compare` gave for two analyses.
    path : str or Path
        The HTML file to write.
    top_images : int
        Top probe images shown per community (its highest specific scores).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If ``top_images`` is not positive, or the folder of ``path`` does not exist.
    """
    path = output_path(path)
    if top_images < 1:
        raise ValueError(f"top_images must be a positive number of images per community, got {top_images!r}")
    a, b = result.a, result.b
    about = Div(width=900, text=(
        f"<p><b>{html.escape(a.name)}</b> ({html.escape(', '.join(a.layers))}, {len(a.communities)} communities) "
        f"against <b>{html.escape(b.name)}</b> ({html.escape(', '.join(b.layers))}, {len(b.communities)} "
        f"communities) on the same {len(a.analysis.data)} probe images. Two communities are counterparts when "
        f"their scores correlate over the images at {result.min_similarity:.2f} or more, matched one to one. "
        f"{len(result.matches)} pairs; {len(result.unmatched_a)} of {html.escape(a.name)}'s and "
        f"{len(result.unmatched_b)} of {html.escape(b.name)}'s communities have no counterpart. Linear CKA between "
        f"the layers: {result.cka:.3f}. Drops are accuracy drops when a community is zeroed; the own class is the "
        "class whose images drive the community most.</p>"
    ))
    strips = {
        (side.name, c): image_strip(
            [png_data_uri(image) for image in side.analysis.images(side.report.top_images(c, top_images))],
            f"{side.name} community {c}",
        )
        for side in (a, b) for c in range(len(side.communities))
    }
    rows = result.rows()
    head = ("<tr><th>status</th><th>similarity</th>"
            f"<th>{html.escape(a.name)}</th><th>{html.escape(b.name)}</th><th>own class drop</th><th>accuracy drop</th></tr>")
    body = "".join(_community_row(row, a.name, b.name, strips) for row in rows)
    table = Div(width=1100, text=f"<h2>Communities</h2><table class='comparison'>{head}{body}</table>")
    heat = _heat_map(
        result.similarity, [f"{a.name} {c}" for c in range(len(a.communities))],
        [f"{b.name} {c}" for c in range(len(b.communities))], result.matches, result.min_similarity,
        lambda m: (f"{a.name} {m.a}", f"{b.name} {m.b}"),
    )
    return write_page(path, f"{a.name} against {b.name}", [about, heat, table])


def circuit_comparison_html(result: CircuitComparison, path: str | Path) -> Path:
    """Write a comparison of two circuits as a standalone HTML page.

    Parameters
    ----------
    result : CircuitComparison
        What :func:`~innersight_widgets.compare` gave for two circuits.
    path : str or Path
        The HTML file to write.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If the folder of ``path`` does not exist.
    """
    path = output_path(path)
    name_a, name_b = result.names
    about = Div(width=900, text=(
        f"<p>The circuits of class <b>{html.escape(result.a.class_name)}</b> in <b>{html.escape(name_a)}</b> and "
        f"<b>{html.escape(name_b)}</b>, their groups read on the same {len(result.crops)} crops and matched level by "
        f"level when their scores correlate at {result.min_similarity:.2f} or more. {len(result.matches)} pairs; "
        f"{len(result.disappeared)} groups disappear, {len(result.appeared)} appear.</p>"
    ))
    parts: list[Any] = [about]
    for level in result.levels:
        parts.append(_heat_map(
            level.similarity, [f"{name_a} {g}" for g in level.groups_a], [f"{name_b} {g}" for g in level.groups_b],
            level.matches, result.min_similarity, lambda m: (f"{name_a} {m.a}", f"{name_b} {m.b}"),
        ))
    crops = {
        (side, group.id): image_strip(
            [png_data_uri(circuit.crop_image(c)) for c in group.crops[:CROPS_PER_GROUP]], f"{side} {group.id}"
        )
        for side, circuit in ((name_a, result.a), (name_b, result.b)) for group in circuit.groups
    }
    head = (f"<tr><th>status</th><th>similarity</th><th>{html.escape(name_a)}</th><th>{html.escape(name_b)}</th></tr>")
    body = "".join(
        f"<tr class='comparison-row' data-status='{html.escape(row['status'])}'><td>{html.escape(row['status'])}</td>"
        f"<td>{_number(row['similarity'] if row['similarity'] is not None else row['best_similarity'])}</td>"
        f"<td>{_group_cell(row['group_a'], row['label_a'], crops.get((name_a, row['group_a'])))}</td>"
        f"<td>{_group_cell(row['group_b'], row['label_b'], crops.get((name_b, row['group_b'])))}</td></tr>"
        for row in result.rows()
    )
    edges = "".join(
        f"<tr class='comparison-edge' data-kind='{e.kind}'><td>{e.kind}</td>"
        f"<td>{html.escape(' > '.join(e.a) if e.a else '-')}</td><td>{html.escape(' > '.join(e.b) if e.b else '-')}</td>"
        f"<td>{e.weight_a:.3f}</td><td>{e.weight_b:.3f}</td><td>{e.change:+.3f}</td></tr>"
        for e in result.edges
    )
    parts.append(Div(width=1100, text=f"<h2>Groups</h2><table class='comparison'>{head}{body}</table>"))
    parts.append(Div(width=900, text=(
        f"<h2>Edges</h2><table><tr><th>kind</th><th>{html.escape(name_a)}</th><th>{html.escape(name_b)}</th>"
        f"<th>weight {html.escape(name_a)}</th><th>weight {html.escape(name_b)}</th><th>change</th></tr>{edges}</table>"
    )))
    return write_page(path, f"Circuit of {result.a.class_name}: {name_a} against {name_b}", parts)


def _community_row(row: dict[str, Any], name_a: str, name_b: str, strips: dict[tuple[str, int], str]) -> str:
    """One table row: the status, the similarity, each side's community with its label and
    top images, the own-class and overall drops on both sides."""

    def cell(name: str, community: int | None, label: str | None, auroc: float | None) -> str:
        if community is None:
            return "no counterpart"
        text = f"community {community}: {label or 'no label'}" + (f" (AUROC {auroc:.2f})" if auroc is not None else "")
        return f"<p>{html.escape(text)}</p>{strips[(name, community)]}"

    similarity = row["similarity"] if row["similarity"] is not None else row["best_similarity"]
    status = row["status"] if row["status"] == "matched" else f"{row['status']} (best {_number(similarity)})"
    return (
        f"<tr class='comparison-row' data-status='{html.escape(row['status'])}'><td>{html.escape(status)}</td>"
        f"<td>{_number(row['similarity'])}</td>"
        f"<td>{cell(name_a, row['community_a'], row['label_a'], row['label_auroc_a'])}</td>"
        f"<td>{cell(name_b, row['community_b'], row['label_b'], row['label_auroc_b'])}</td>"
        f"<td>{html.escape(str(row['own_class']))}: {_number(row['own_class_drop_a'])} &rarr; "
        f"{_number(row['own_class_drop_b'])}</td>"
        f"<td>{_number(row['accuracy_drop_a'])} &rarr; {_number(row['accuracy_drop_b'])}</td></tr>"
    )


def _group_cell(group: str | None, label: str | None, crops: str | None) -> str:
    if group is None:
        return "no counterpart"
    return f"<p>{html.escape(group)}: {html.escape(label or 'no label')}</p>{crops or ''}"


def _heat_map(
    similar: np.ndarray, rows: Sequence[str], columns: Sequence[str], matches: Sequence[Match], least: float,
    names: Any,
) -> figure:
    """The similarity of every row unit with every column unit; counterparts outlined."""
    r, c = np.meshgrid(np.arange(len(rows)), np.arange(len(columns)), indexing="ij")
    source = ColumnDataSource({
        "row": [rows[i] for i in r.ravel()], "column": [columns[j] for j in c.ravel()],
        "similarity": similar.ravel().tolist(),
    })
    paired = [names(m) for m in matches]
    plot = figure(
        title=f"similarity (correlation of scores); outlined: counterparts (at least {least:.2f})",
        x_range=list(columns), y_range=list(rows)[::-1], width=min(900, 160 + 60 * max(1, len(columns))),
        height=120 + 30 * max(1, len(rows)), tools="hover,reset", toolbar_location="right",
    )
    cells = plot.rect("column", "row", 1, 1, source=source, line_color=None,
                      fill_color={"field": "similarity", "transform": LinearColorMapper(palette=RdBu11[::-1], low=-1, high=1)})
    plot.rect([p[1] for p in paired], [p[0] for p in paired], 1, 1, fill_alpha=0, line_color="black", line_width=2)
    plot.xaxis.major_label_orientation = 0.8
    hover = plot.select_one(HoverTool)
    hover.renderers = [cells]
    hover.tooltips = [("", "@row"), ("", "@column"), ("similarity", "@similarity{0.000}")]
    return plot


def _number(value: float | None) -> str:
    return "-" if value is None or np.isnan(value) else f"{value:.3f}"
