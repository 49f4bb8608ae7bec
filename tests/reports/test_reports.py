"""Self-contained HTML reports (innersight_widgets.reports): what they hold, and the page's
JavaScript knockoff(+) rule against Python's. tests/test_browser_reports.py opens them."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _report_data import layer_reports, shapes_analysis, small_circuit, statistics

from innersight_widgets import Analysis, Circuit, ImageDataset, visualise
from innersight_widgets.cli import main
from innersight_widgets.neucept.critical import CriticalNeurons
from innersight_widgets.neucept.knockoffs import select
from innersight_widgets.reports import communities_html
from innersight_widgets.reports.critical import KNOCKOFF_THRESHOLD_JS
from innersight_widgets.visualisation import VIEW_SETTINGS

FDRS = [0.05, 0.1, 0.15, 0.2, 0.3, 0.5]


def javascript_selections(cases: list[dict]) -> list[list[int]]:
    """The indices each case's W selects by the page's knockoffThreshold, run by node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node to run the page's JavaScript")
    script = (
        KNOCKOFF_THRESHOLD_JS
        + """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(({w, q, plus}) => {
  const t = knockoffThreshold(w, q, plus);
  return w.flatMap((v, j) => (v >= t ? [j] : []));
})));
"""
    )
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def models(path: Path, kind: str) -> list[dict[str, Any]]:
    """The attributes of every bokeh model of this kind (e.g. "Div") in a written report,
    read back from the page's document."""
    found = re.search(
        r'<script type="application/json" id="[^"]*">(.*?)</script>', path.read_text("utf-8"), re.DOTALL
    )
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("name") == kind and "attributes" in node:
                out.append(node["attributes"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(html.unescape(found.group(1))))
    return out


def texts(path: Path) -> list[str]:
    """The HTML of every Div of a written report."""
    return [div.get("text", "") for div in models(path, "Div")]


def test_the_pages_knockoff_rule_selects_what_python_selects() -> None:
    cases = [
        {"w": statistics(seed)[r].tolist(), "q": q, "plus": plus}
        for seed in range(3)
        for r in range(2)
        for q in FDRS
        for plus in (True, False)
    ]
    python = [select(np.asarray(c["w"]), c["q"], c["plus"]).tolist() for c in cases]
    assert javascript_selections(cases) == python
    sizes = {len(s) for s in python}
    assert 0 in sizes and len(sizes) >= 4, sizes  # empty, small and large selections were all compared


def test_critical_report_holds_every_run_and_escapes_names(tmp_path) -> None:
    w = statistics(0)
    critical = CriticalNeurons("layer<1>", 2, '<b>odd</b> & "x"', 0.2, w, np.arange(w.shape[1]) >= 75)
    path = critical.to_html(tmp_path / "critical.html")
    shown = "".join(texts(path))
    assert "<b>odd</b>" not in shown and "layer<1>" not in shown
    assert "&lt;b&gt;odd&lt;/b&gt; &amp; &quot;x&quot;" in shown  # the name is shown, as text
    page = path.read_text(encoding="utf-8")
    assert "knockoffThreshold" in page and "cdn.bokeh.org" not in page


@pytest.mark.parametrize("fdr", [0.005, 0.7])
def test_the_fdr_slider_reaches_the_selections_own_fdr(tmp_path, fdr) -> None:
    critical = CriticalNeurons("l", 0, "a", fdr, statistics(0), np.zeros(80, bool))
    (slider,) = models(critical.to_html(tmp_path / "critical.html"), "Slider")
    assert slider["start"] <= fdr == slider["value"] <= slider["end"]


def test_report_into_a_missing_folder_says_so(tmp_path) -> None:
    critical = CriticalNeurons("l", 0, "a", 0.1, statistics(0), np.zeros(80, bool))
    with pytest.raises(ValueError, match="does not exist"):
        critical.to_html(tmp_path / "nowhere" / "critical.html")


@pytest.fixture(scope="module")
def analysis():
    return shapes_analysis()


@pytest.fixture(scope="module")
def circuit(analysis) -> Circuit:
    return small_circuit(analysis)


def test_circuit_report_shows_every_group_and_its_crops(circuit, tmp_path) -> None:
    path = circuit.to_html(tmp_path / "circuit.html")
    page = path.read_text(encoding="utf-8")
    assert all(f'"{group.id}"' in page for group in circuit.groups)
    crops = sum(min(len(g.crops), 8) for g in circuit.groups)
    assert page.count("report-image") == crops > 0  # each crop an <img> of a PNG data URI
    assert "cdn.bokeh.org" not in page


def test_circuit_report_without_its_analysis_says_there_are_no_crops(circuit, tmp_path) -> None:
    loaded = Circuit.from_dict(circuit.to_dict())
    path = loaded.to_html(tmp_path / "circuit.html")
    assert "report-image" not in path.read_text(encoding="utf-8")
    assert any("No crops" in text for text in texts(path))


def test_reports_show_what_each_unit_looks_for_with_the_views_figures(analysis, circuit, tmp_path) -> None:
    """visualise=True: under each community's top images and each group's crops, its feature
    visualisation as the widgets show it (same settings, so the same images and scores)."""
    report = analysis.evaluate(analysis.communities("layer3", "louvain"))
    path = report.to_html(tmp_path / "communities.html", top_images=1, draws=None, visualise=True)
    shown = clicked_html(path)
    assert len(shown) == report.num_communities
    for c, cell in enumerate(shown):
        found = visualise(analysis, (report.communities, c), **VIEW_SETTINGS)
        best = float(report.scores[:, c].max())
        assert html.escape(f"raise the score of layer3 community {c} ({VIEW_SETTINGS['steps']} steps), not images of "
                           f"the data; the best probe image scores {best:.2f}") in cell
        assert re.findall(r"<figcaption>score (-?[\d.]+)</figcaption>", cell) == [f"{v:.2f}" for v in found.final]
        assert cell.count('data-testid="report-feature"') == VIEW_SETTINGS["images"]
    plain = communities_html(report, tmp_path / "plain.html", top_images=1, draws=None)
    assert not any("report-feature" in cell for cell in clicked_html(plain))
    shown = clicked_html(circuit.to_html(tmp_path / "circuit.html", visualise=True))
    assert len(shown) == len(circuit.groups)
    for group, cell in zip(circuit.graph().nodes, shown):
        threshold = next(g.threshold for g in circuit.groups if g.id == group)
        assert f"a crop shows the group above {threshold:.2f}" in cell and html.escape(f"group {group} (") in cell
    with pytest.raises(ValueError, match="needs the circuit's analysis"):
        Circuit.from_dict(circuit.to_dict()).to_html(tmp_path / "no.html", visualise=True)


def test_a_report_takes_the_visualisations_options_for_images_normalised_by_hand(analysis, tmp_path) -> None:
    pixels = analysis.images(range(120))
    labels = [int(label) for label in analysis.labels[:120]]
    an = Analysis(analysis.model, ImageDataset((pixels - 0.5) / 0.25, labels, analysis.data.class_names), layers=["layer3"],
                  progress=False)
    report = an.evaluate(an.communities("layer3", warn=False))
    with pytest.raises(ValueError, match=r"not in \[0, 1\]: give the normalisation"):
        report.to_html(tmp_path / "plain.html", top_images=1, draws=None, visualise=True)
    options = {"mean": [0.5] * 3, "std": [0.25] * 3, "size": 16}
    shown = clicked_html(report.to_html(tmp_path / "given.html", top_images=1, draws=None, visualise=True,
                                        feature_options=options))
    assert all(cell.count('data-testid="report-feature"') == 2 for cell in shown)


def clicked_html(path: Path) -> list[str]:
    """What a written report shows on a click of each node: its source's "images" column."""
    for source in models(path, "ColumnDataSource"):
        columns = dict(source["data"]["entries"])
        if "images" in columns:
            return columns["images"]
    raise AssertionError(f"{path} has no clickable images")


def test_communities_report_has_a_section_per_layer_with_top_images(analysis, tmp_path) -> None:
    reports = layer_reports(analysis)
    path = communities_html(reports, tmp_path / "communities.html", top_images=3, draws=None)
    shown = texts(path)
    for report in reports:
        heading = f"<h2>{report.communities.layers[0]}: {report.num_communities} communities (louvain)</h2>"
        assert any(heading in text for text in shown)
    page = path.read_text(encoding="utf-8")
    assert page.count("report-image") == 3 * sum(r.num_communities for r in reports)
    assert "accuracy drop when ablated" not in page  # draws=None: no importance test was run
    assert all(not r._importance for r in reports)


def test_communities_report_with_importance(analysis, tmp_path) -> None:
    report = analysis.evaluate(analysis.communities("layer2", "louvain"))
    path = communities_html(report, tmp_path / "communities.html", top_images=2, draws=2, images=60)
    page = path.read_text(encoding="utf-8")
    assert "accuracy drop when ablated" in page
    assert len(report._importance) == report.num_communities  # one test per community, kept by the report


@pytest.mark.parametrize(
    ("given", "message"), [({"reports": []}, "at least one"), ({"top_images": 0}, "top_images")]
)
def test_communities_report_refuses_bad_arguments(analysis, tmp_path, given, message) -> None:
    arguments = {
        "reports": analysis.evaluate(analysis.communities("layer2", "louvain")),
        "top_images": 4,
    } | given
    with pytest.raises(ValueError, match=message):
        communities_html(path=tmp_path / "c.html", **arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", "{tmp}/nowhere/report.html"], "the folder .*nowhere does not exist"),
        (
            ["--out", "{tmp}/report.html", "--layer", "layer9"],
            "no layer named 'layer9'; did you mean 'layer3'",
        ),
    ],
)
def test_report_command_says_what_is_wrong(tmp_path, capsys, arguments, message) -> None:
    given = [a.format(tmp=tmp_path) for a in arguments]
    assert main(["report", "--model", "shapes-cnn", "--draws", "2", *given]) == 2
    assert re.search(f"innersight report: error: .*{message}", capsys.readouterr().err)
    assert not (tmp_path / "report.html").exists()


def test_communities_report_of_several_layers_evaluated_as_one(analysis, tmp_path) -> None:
    report = analysis.evaluate([analysis.communities(layer, "louvain") for layer in ("layer2", "layer3")])
    path = report.to_html(tmp_path / "communities.html", top_images=2, draws=None)
    headings = [text.split("</h2>")[0] for text in texts(path) if text.startswith("<h2>")]
    assert headings == [f"<h2>layer2, layer3: {report.num_communities} communities (stacked)"]  # one section, lowest first
    assert path.read_text(encoding="utf-8").count("report-image") == 2 * report.num_communities


def test_a_report_of_several_layers_lists_each_class_pathways(analysis, tmp_path) -> None:
    report = analysis.evaluate([analysis.communities(layer, "louvain") for layer in ("layer2", "layer3")])
    page = "".join(texts(report.to_html(tmp_path / "communities.html", top_images=1, draws=None)))
    for name in analysis.data.class_names:
        best = report.pathways(name, k=3)[0]
        steps = " &rarr; ".join(f"{layer} community {c} ({label or 'no label'})" for layer, c, label in
                                zip(best.layers, best.communities, best.labels))
        assert f"{steps} &rarr; {name}</td><td>{best.score:.3f}</td>" in page
    assert page.count("report-pathway") == 3 * len(analysis.data.class_names)
    single = analysis.evaluate(analysis.communities("layer3", "louvain"))
    assert "report-pathway" not in "".join(texts(single.to_html(tmp_path / "one.html", top_images=1, draws=None)))
