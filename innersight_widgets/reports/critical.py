"""The report of a NeuCEPT selection: every run's W statistics travel with the page, and
its FDR slider re-thresholds them in the page's JavaScript with the knockoff(+) rule."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from bokeh.layouts import row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    HoverTool,
    NumberFormatter,
    Slider,
    Span,
    TableColumn,
)
from bokeh.plotting import figure

from ._page import write_page

if TYPE_CHECKING:
    from ..neucept import CriticalNeurons

#: The knockoff(+) threshold in JavaScript, written as ``knockoff_threshold`` in
#: core/knockoffs.py: the smallest t among the nonzero |W_j| with
#: (offset + #{W_j <= -t}) / max(1, #{W_j >= t}) <= q; Infinity when none qualifies.
KNOCKOFF_THRESHOLD_JS = """
function knockoffThreshold(w, q, plus) {
  const offset = plus ? 1 : 0;
  const candidates = Array.from(new Set(w.filter((v) => v !== 0).map(Math.abs))).sort((a, b) => a - b);
  for (const t of candidates) {
    let below = 0, above = 0;
    for (const v of w) {
      if (v <= -t) below += 1;
      if (v >= t) above += 1;
    }
    if ((offset + below) / Math.max(1, above) <= q) return t;
  }
  return Infinity;
}
"""

COLOURS = {"selected": "#d62728", "other": "#4e79a7"}

# Re-selects at the slider's FDR: each run at its own threshold, run 0 gives the selection.
_RESELECT_JS = (
    KNOCKOFF_THRESHOLD_JS
    + """
const q = slider.value;
const runs = w.length, n = w[0].length;
const thresholds = w.map((statistics) => knockoffThreshold(statistics, q, plus));
const counts = new Array(n).fill(0);
for (let r = 0; r < runs; r++) {
  for (let j = 0; j < n; j++) if (w[r][j] >= thresholds[r]) counts[j] += 1;
}
const selected = w[0].map((v) => v >= thresholds[0]);
const data = Object.assign({}, neurons.data);
data.frequency = counts.map((c) => c / runs);
data.selected = selected.map((s) => (s ? "yes" : "no"));
data.colour = selected.map((s) => (s ? colours.selected : colours.other));
neurons.data = data;
const rows = data.neuron.filter((_, j) => selected[j]);
table.data = {
  neuron: rows,
  W: rows.map((j) => w[0][j]),
  mean_W: rows.map((j) => data.mean_W[j]),
  frequency: rows.map((j) => data.frequency[j]),
};
const t = thresholds[0];
line.location = Number.isFinite(t) ? t : null;
line.visible = Number.isFinite(t);
summary.text = rows.length
  ? `<p><b>${rows.length}</b> neurons selected at FDR ${q.toFixed(2)} (threshold W &ge; ${t.toPrecision(3)}).</p>`
  : `<p>No neuron is selected at FDR ${q.toFixed(2)}: no threshold keeps the estimated FDR at or below it.</p>`;
"""
)


def critical_html(critical: CriticalNeurons, path: str | Path) -> Path:
    """Write the selection as a standalone HTML page with an FDR slider that works offline.

    The page holds every run's W statistics; moving its slider recomputes each run's
    knockoff(+) threshold in JavaScript (:data:`KNOCKOFF_THRESHOLD_JS`, the rule of
    ``neucept.knockoffs.knockoff_threshold``), so it selects what ``critical.at(fdr)``
    selects. It shows W of the first run per neuron with the threshold, the selection
    frequency over runs, and the table of selected neurons; hover a point for its figures.

    Parameters
    ----------
    critical : CriticalNeurons
        The selection (from ``critical_neurons``).
    path : str or Path
        The HTML file to write.

    Returns
    -------
    Path
        The file written.
    """
    w = critical.w
    n = w.shape[1]
    selected = np.zeros(n, bool)
    selected[critical.selected] = True
    neurons = ColumnDataSource(
        {
            "neuron": np.arange(n),
            "W": w[0],
            "mean_W": w.mean(0),
            "frequency": critical.frequency,
            "selected": np.where(selected, "yes", "no"),
            "colour": np.where(selected, COLOURS["selected"], COLOURS["other"]),
            "set_aside": np.where(critical.set_aside, "yes", "no"),
        },
        name="neurons",
    )
    rows = critical.selected
    table_source = ColumnDataSource(
        {"neuron": rows, "W": w[0][rows], "mean_W": w.mean(0)[rows], "frequency": critical.frequency[rows]},
        name="table",
    )
    tooltips = [
        ("neuron", "@neuron"),
        ("W (run 1)", "@W{0.0000}"),
        ("mean W", "@mean_W{0.0000}"),
        ("selection frequency", "@frequency{0.00}"),
        ("selected", "@selected"),
        ("constant", "@set_aside"),
    ]

    statistics = figure(
        title="W of each neuron (first run); red: selected, blue: not",
        width=900,
        height=320,
        tools="pan,wheel_zoom,box_zoom,reset",
        x_axis_label="neuron",
        y_axis_label="W",
    )
    statistics.scatter("neuron", "W", source=neurons, color="colour", size=7)
    statistics.add_tools(HoverTool(tooltips=tooltips))
    threshold = critical.threshold
    line = Span(
        location=threshold if np.isfinite(threshold) else None,
        dimension="width",
        line_dash="dashed",
        line_color="#d62728",
        visible=bool(np.isfinite(threshold)),
    )
    statistics.add_layout(line)

    frequency = figure(
        title=f"selection frequency over {w.shape[0]} knockoff runs",
        width=900,
        height=240,
        tools="pan,wheel_zoom,box_zoom,reset",
        x_axis_label="neuron",
        y_axis_label="frequency",
        x_range=statistics.x_range,
    )
    frequency.vbar(x="neuron", top="frequency", source=neurons, width=0.8, color="colour")
    frequency.add_tools(HoverTool(tooltips=tooltips))

    table = DataTable(
        source=table_source,
        width=500,
        height=260,
        index_position=None,
        reorderable=False,
        columns=[
            TableColumn(field="neuron", title="neuron"),
            TableColumn(field="W", title="W (run 1)", formatter=NumberFormatter(format="0.0000")),
            TableColumn(field="mean_W", title="mean W", formatter=NumberFormatter(format="0.0000")),
            TableColumn(field="frequency", title="frequency", formatter=NumberFormatter(format="0.00")),
        ],
    )
    slider = Slider(
        start=min(0.01, critical.fdr),
        end=max(0.5, critical.fdr),
        step=0.01,
        value=critical.fdr,
        title="target FDR q",
        width=400,
        name="fdr",
    )
    summary = Div(text="", width=900, name="summary")
    reselect = CustomJS(
        args={
            "slider": slider,
            "w": w.tolist(),
            "plus": critical.plus,
            "neurons": neurons,
            "table": table_source,
            "line": line,
            "summary": summary,
            "colours": COLOURS,
        },
        code=_RESELECT_JS,
    )
    slider.js_on_change("value", reselect)
    rule = "knockoff+" if critical.plus else "knockoff"
    about = Div(
        width=900,
        text=(
            f"<p>Layer <b>{html.escape(critical.layer)}</b>, class <b>{html.escape(critical.class_name)}</b> "
            f"(index {critical.target_class}): {n} neurons, {w.shape[0]} knockoff runs, the {rule} threshold. "
            "Moving the slider re-thresholds the runs' statistics in this page.</p>"
        ),
    )
    return write_page(
        path,
        f"Critical neurons: {critical.class_name} in {critical.layer}",
        [about, slider, summary, statistics, frequency, row(Div(text="<b>selected neurons</b>"), table)],
        on_load=reselect,
    )
