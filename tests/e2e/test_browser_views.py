"""CircuitView and CriticalNeuronsView end to end in JupyterLab, in Debian's headless
Chromium (helpers and conditions: tests/_browser.py)."""

from __future__ import annotations

import re

from _browser import (
    assert_no_clipped_labels,
    browser_page,
    drag_to_the_right_end,
    kernel_json,
    open_and_run,
    pixel_spread,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
)

# What the circuit's drawing says, as drawn: its legend, each group's rendered fill and
# opacity, the theme's ink, and the rows of the group table and of the debug table.
READ_CIRCUIT = r"""() => {
    const view = document.querySelector('[data-testid="circuit-view"]');
    const rows = (testid) => [...view.querySelectorAll(`[data-testid="${testid}"] tr`)].slice(1)
        .map(tr => [...tr.children].map(cell => cell.textContent));
    return {
        legend: view.querySelector('[data-testid="circuit-legend"]').textContent,
        ink: getComputedStyle(view).getPropertyValue('--isw-ink').trim(),
        groups: [...view.querySelectorAll('[data-testid="circuit-group"]')].map(c => ({
            id: c.dataset.group, fill: getComputedStyle(c).fill, opacity: Number(getComputedStyle(c).fillOpacity) })),
        table: rows("circuit-table"),
        debug: rows("debug-summary"),
    };
}"""

# The circuit's groups (label share as its result holds it) and what the view was sent about
# the debugged image, from the notebook's kernel.
CIRCUIT_RESULT = """
import json
print(json.dumps({"layer": view.drawing.debug["layer"],
                  "lit": {m["group"]: m["lit"] for m in view.drawing.debug["matches"]},
                  "groups": [{"id": g.id, "layer": g.layer, "share": (g.label or {}).get("share", 0.0)} for g in circuit.groups]}))
"""

# The notebook's circuit has no label under half: the view is sent its graph again with a
# planted share of 0.3 on the first group of each layer, and the same figures come back.
PLANT_WEAK_LABELS = """
import json
graph = view.drawing.graph
first = {}
for node in graph["nodes"]:
    first.setdefault(node["layer"], node["id"])
nodes = [{**node, "share": 0.3} if node["id"] in first.values() else node for node in graph["nodes"]]
view.drawing.graph = {**graph, "nodes": nodes}
print(json.dumps({"layer": view.drawing.debug["layer"],
                  "lit": {m["group"]: m["lit"] for m in view.drawing.debug["matches"]},
                  "groups": [{"id": n["id"], "layer": n["layer"], "share": n["share"]} for n in nodes]}))
"""


def rgb(colour: str) -> tuple[int, int, int]:
    """(r, g, b) of a CSS ``rgb(...)``, ``#rgb`` or ``#rrggbb``."""
    if colour.startswith("#"):
        digits = colour[1:] if len(colour) == 7 else "".join(2 * d for d in colour[1:])
        return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return tuple(int(x) for x in re.findall(r"\d+", colour)[:3])


def colour_word(colour: str) -> str:
    """The word a reader would give a fill: a hue, or black, white or grey by lightness."""
    r, g, b = rgb(colour)
    if max(r, g, b) - min(r, g, b) > 24:
        return "a hue"
    lightness = (r + g + b) / 3 / 255
    return "black" if lightness < 0.2 else "white" if lightness > 0.8 else "grey"


def assert_legend_is_what_is_drawn(drawn: dict, result: dict) -> None:
    """Each colour word of the legend is the colour its groups are drawn in, and faint groups
    are the ones the legend says."""
    legend = drawn["legend"]
    assert "faint: a group whose label holds for fewer than half of its top probe images" in legend, legend
    said = re.search(r"in (\S+) instead, ([a-z ]+): groups the image lights, ([a-z ]+): groups it does not", legend)
    assert said, f"the legend does not say how the debugged layer's groups are drawn: {legend}"
    layer, lit_words, unlit_words = said[1], set(said[2].split(" or ")), set(said[3].split(" or "))
    assert layer == result["layer"], legend
    groups = {g["id"]: g for g in result["groups"]}
    for circle in drawn["groups"]:
        group = groups[circle["id"]]
        word = colour_word(circle["fill"])
        if group["layer"] == layer:
            lit = result["lit"][group["id"]]
            assert word in (lit_words if lit else unlit_words), (
                f"{group['id']} ({'lit' if lit else 'not lit'}) is drawn {circle['fill']} ({word}); the legend: {legend}")
            if lit:
                assert rgb(circle["fill"]) == rgb(drawn["ink"]), f"{group['id']} is lit but not drawn in the theme's ink"
            assert circle["opacity"] == 1, f"{group['id']} is faint in {layer}, where the legend gives its colour by light"
        else:
            assert (circle["opacity"] < 1) == (group["share"] < 0.5), (
                f"{group['id']}: label share {group['share']:.2f}, fill opacity {circle['opacity']}; the legend: {legend}")
    # the group table and the debug table say the same of each group
    lights = {row[0]: row[4] for row in drawn["table"]}
    assert lights == {g["id"]: ("yes" if result["lit"][g["id"]] else "no") if g["layer"] == layer else "–"
                      for g in result["groups"]}
    assert {row[0]: row[3] == "✓" for row in drawn["debug"]} == result["lit"]


def test_circuit_view_in_jupyterlab(lab, tmp_path):
    """The circuits notebook: the layered graph renders, a click shows a group's crops and
    what it looks for, the debugged image is drawn with the groups it triggers, and the legend's words are
    what is drawn (which groups are black or white, grey, faint)."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "circuit")
    base, token = lab
    with browser_page(shots) as (page, errors):
        # returns once the last cell (fidelity) is done and the kernel idle: a click is answered at once
        open_and_run(page, base, token, "lab/tree/03_circuits.ipynb")
        expect(page.locator(".jp-OutputArea-output").get_by_text("top-k crop set changed by")).to_be_visible()
        view = page.get_by_test_id("circuit-view")
        expect(view).to_be_visible(timeout=120_000)
        settled(base, token, page.get_by_test_id("circuit-status"))
        expect(page.get_by_test_id("debug-image")).to_be_visible(timeout=120_000)
        expect(page.locator('[data-testid="circuit-group"][data-lit="1"]').first).to_be_visible(timeout=120_000)

        page.locator('[data-testid="circuit-group"]').nth(1).click()
        crops = page.get_by_test_id("group-crop")
        expect(crops.first).to_be_visible(timeout=300_000)
        wait_for_loaded_images(page, "group-crop", 300_000)
        # what the group looks for: drawn, not grey, with the kernel's scores and the group's threshold
        done = page.get_by_test_id("feature-done")
        expect(done).to_be_visible(timeout=300_000)
        wait_for_loaded_images(page, "feature-image", 300_000)
        feature = kernel_json(base, token, "import json; print(json.dumps(view.drawing.feature))")
        captions = page.get_by_test_id("feature-grid").locator("figcaption").all_inner_texts()
        assert captions == [f"score {v:.2f}" for v in feature["scores"]], (captions, feature["scores"])
        assert done.inner_text() == (f"{feature['unit']} after {feature['steps']} steps; "
                                     f"a crop shows the group above {feature['reference']:.2f}")
        assert min(pixel_spread(page, "feature-image")) > 0.05
        settled(base, token, page.get_by_test_id("circuit-status"))
        assert_no_clipped_labels(page)
        assert_legend_is_what_is_drawn(page.evaluate(READ_CIRCUIT), kernel_json(base, token, CIRCUIT_RESULT))
        shoot(page, view, shots / "circuit.png")

        planted = kernel_json(base, token, PLANT_WEAK_LABELS)
        # redrawn: the first group's tooltip gives its planted share
        expect(page.locator('[data-testid="circuit-group"] > title').first).to_contain_text("(0.3)", timeout=60_000)
        assert_legend_is_what_is_drawn(page.evaluate(READ_CIRCUIT), planted)
        assert not errors, errors


def test_critical_neurons_view_in_jupyterlab(lab, tmp_path):
    """The critical-neurons notebook: the selection table and mechanism images render, and
    dragging the FDR slider changes the number of selected neurons."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "critical")
    base, token = lab
    with browser_page(shots) as (page, errors):
        open_and_run(page, base, token, "lab/tree/04_critical_neurons.ipynb")
        view = page.get_by_test_id("critical-view")
        expect(view).to_be_visible(timeout=120_000)
        status = page.get_by_test_id("critical-status")
        settled(base, token, status)
        count = page.get_by_test_id("critical-count")
        expect(count).to_contain_text("critical neurons", timeout=120_000)
        wait_for_loaded_images(page, "mechanism-image", 120_000)
        expect(page.get_by_test_id("mechanism-report")).to_contain_text("NMI with digit", timeout=120_000)
        before = count.inner_text()

        drag_to_the_right_end(page, page.locator(".widget-slider").filter(has_text="FDR q"))
        expect(count).not_to_have_text(before, timeout=300_000)
        settled(base, token, status)
        shoot(page, view, shots / "critical.png")
        assert not errors, errors
