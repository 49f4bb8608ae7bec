"""The HTML reports in headless Chromium, opened from file:// with every network request
refused: no console error, every plot drawn, tooltips on hover, and the critical-neurons
page's FDR slider selecting what Python selects. Needs Debian's chromium (see _browser.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from _browser import CHROMIUM_FLAGS, chromium, screenshot_dir
from _report_data import shapes_analysis, small_circuit
from PIL import Image

from innersight_widgets.cli import main
from innersight_widgets.neucept.critical import CriticalNeurons

# Every bokeh view of the page, depth first.
_VIEWS = """() => {
  const all = [];
  const walk = (v) => { all.push(v); for (const c of (v.child_views ?? [])) walk(c); };
  for (const v of Object.values(Bokeh.index)) walk(v);
  return all;
}"""
# The figures' titles and the boxes of their frames (inside the axes, without the toolbar).
FIGURES = f"""() => ({_VIEWS})().filter((v) => v.model.type === "Figure").map((v) => {{
  const box = v.el.getBoundingClientRect(), frame = v.frame.bbox;
  return {{title: v.model.title.text, x: box.x + window.scrollX + frame.left, y: box.y + window.scrollY + frame.top,
          width: frame.width, height: frame.height}};
}})"""
# Where a data point (x, y) of the figure with this title is in the viewport, once scrolled into it.
POINT = f"""([title, x, y]) => {{
  const plot = ({_VIEWS})().find((v) => v.model.title?.text === title);
  plot.el.scrollIntoView({{block: "center"}});
  const box = plot.el.getBoundingClientRect();
  return {{x: box.x + plot.frame.x_scale.compute(x), y: box.y + plot.frame.y_scale.compute(y)}};
}}"""
MODEL_DATA = "(name) => Bokeh.documents[0].get_model_by_name(name).data"


@contextmanager
def report_page(path: Path, shots: Path) -> Iterator[tuple[object, list[str]]]:
    """The report opened from file:// with every other request refused: the page, and the
    problems seen (console errors, page errors, requests that tried the network)."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def refuse(route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            problems.append(f"network request: {route.request.url}")
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1200, "height": 1400})
        context.route("**/*", refuse)
        page = context.new_page()
        page.on(
            "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.goto(path.as_uri())
        page.wait_for_function(
            "() => window.Bokeh && Bokeh.documents.length > 0 && Object.keys(Bokeh.index).length > 0"
        )
        page.wait_for_timeout(300)  # the document-ready callbacks and the first paint
        try:
            yield page, problems
        finally:
            page.screenshot(path=str(shots / f"{path.stem}.png"), full_page=True)
            browser.close()


def assert_every_figure_drawn(page, titles: set[str]) -> None:
    """The page has exactly these figures, and each one shows its glyphs: every figure draws
    some in colour, while axes, grids and text are grey, so coloured pixels mean glyphs drawn."""
    figures = page.evaluate(FIGURES)
    assert {f["title"] for f in figures} == titles
    for figure in figures:
        clip = {k: figure[k] for k in ("x", "y", "width", "height")}
        hsv = np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip, full_page=True))).convert("HSV"))
        coloured = np.mean((hsv[..., 1] > 80) & (hsv[..., 2] > 50))
        assert coloured > 1e-3, f"{figure['title']!r} shows no glyph ({coloured:.1e} of its pixels in colour)"


def hover(page, title: str, x: float, y: float, expected: str) -> None:
    """Move the mouse onto the point (x, y) of a figure; a tooltip with ``expected`` shows."""
    point = page.evaluate(POINT, [title, x, y])
    page.mouse.move(point["x"], point["y"])
    tooltip = page.locator(".bk-Tooltip").filter(has_text=expected)
    tooltip.first.wait_for(state="visible", timeout=5000)


def click_node_and_see_its_images(page, title: str, node: int, source: str = "nodes") -> int:
    """Click node ``node`` (a row of the data source named ``source``) of a graph figure: its
    images show below, decoded from data URIs; how many there are."""
    data = page.evaluate(MODEL_DATA, source)
    point = page.evaluate(POINT, [title, data["x"][node], data["y"][node]])
    page.mouse.click(point["x"], point["y"])
    images = page.locator('[data-testid="report-image"]')
    images.first.wait_for(state="visible", timeout=5000)
    states = images.evaluate_all(
        "(all) => all.map((i) => [i.complete && i.naturalWidth > 0, i.src.slice(0, 22)])"
    )
    assert all(loaded and src == "data:image/png;base64," for loaded, src in states), states
    return len(states)


def drag_slider_to(page, share: float) -> float:
    """Drag the page's slider handle to ``share`` of its track; the slider's new value."""
    handle, track = page.locator(".noUi-handle").first, page.locator(".noUi-target").first
    box, bar = handle.bounding_box(), track.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(bar["x"] + bar["width"] * share, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    return page.evaluate("() => Bokeh.documents[0].get_model_by_name('fdr').value")


def test_critical_report_offline_with_a_working_fdr_slider(tmp_path) -> None:
    rng = np.random.default_rng(0)
    w = np.round(rng.normal(0, 1, (5, 120)), 2)
    w[:, :15] += np.linspace(0.5, 4, 15)  # a range of signal strengths: the selection grows with q
    w[:, -10:] = 0
    critical = CriticalNeurons("layer<1>", 2, '<b>odd</b> & "x"</script>', 0.1, w, np.arange(120) >= 110)
    path = critical.to_html(tmp_path / "critical.html")
    with report_page(path, screenshot_dir(tmp_path, "reports")) as (page, problems):
        assert_every_figure_drawn(
            page,
            {
                "W of each neuron (first run); red: selected, blue: not",
                f"selection frequency over {len(w)} knockoff runs",
            },
        )
        top = int(np.argmax(w[0]))
        hover(
            page, "W of each neuron (first run); red: selected, blue: not", top, w[0, top], f"{w[0, top]:.4f}"
        )
        assert (
            page.get_by_text('class <b>odd</b> & "x"</script>').count() == 1
        )  # the name shown as text, not markup
        seen = set()
        for share in (0.05, 0.3, 0.6, 1.0):
            fdr = drag_slider_to(page, share)
            data = page.evaluate(MODEL_DATA, "neurons")
            chosen = np.flatnonzero(np.array(data["selected"]) == "yes")
            expected = critical.at(fdr)
            np.testing.assert_array_equal(chosen, expected.selected, err_msg=f"FDR {fdr}")
            np.testing.assert_array_equal(data["frequency"], expected.frequency, err_msg=f"FDR {fdr}")
            assert page.evaluate(MODEL_DATA, "table")["neuron"] == expected.selected.tolist()
            seen.add(len(chosen))
        assert len(seen) >= 3, seen  # the slider changed the selection
        assert not problems, problems


def test_circuit_report_offline_hover_and_click(tmp_path) -> None:
    circuit = small_circuit(shapes_analysis())
    path = circuit.to_html(tmp_path / "circuit.html")
    title = f"circuit of {circuit.class_name}"
    with report_page(path, screenshot_dir(tmp_path, "reports")) as (page, problems):
        assert_every_figure_drawn(page, {title})
        nodes = page.evaluate(MODEL_DATA, "nodes")
        lowest = int(np.argmin(nodes["y"]))  # a group of the lowest layer: it has crops
        hover(page, title, nodes["x"][lowest], nodes["y"][lowest], nodes["name"][lowest])
        group = next(g for g in circuit.groups if g.id == nodes["name"][lowest])
        assert click_node_and_see_its_images(page, title, lowest) == min(len(group.crops), 8)
        assert not problems, problems


def test_shapes_report_from_the_command_line_offline_small_hover_and_click(tmp_path, capsys) -> None:
    path = tmp_path / "shapes.html"
    assert (
        main(
            [
                "report",
                "--model",
                "shapes-cnn",
                "--layer",
                "layer2",
                "--layer",
                "layer3",
                "--out",
                str(path),
                "--draws",
                "2",
                "--images",
                "200",
                "--top-images",
                "6",
            ]
        )
        == 0
    )
    assert f"wrote {path}" in capsys.readouterr().out
    assert path.stat().st_size <= 5_000_000, path.stat().st_size
    graphs = [f"communities of {layer}" for layer in ("layer2", "layer3")]
    with report_page(path, screenshot_dir(tmp_path, "reports")) as (page, problems):
        assert_every_figure_drawn(
            page,
            {
                *graphs,
                "mean community score per class",
                "accuracy drop when ablated: community (blue) against random sets of its size (grey)",
            },
        )
        nodes = page.evaluate(MODEL_DATA, "nodes1")
        hover(page, graphs[1], nodes["x"][0], nodes["y"][0], f"{nodes['members'][0]}")
        assert click_node_and_see_its_images(page, graphs[1], 0, "nodes1") == 6
        assert not problems, problems
