"""CommunityExplorer's neuron view at 8,192 neurons in JupyterLab, in Debian's headless
Chromium: the canvas draws the points, a hover names a neuron, the wheel zooms, a click
opens the neuron's community, and the stability is shown (helpers: tests/_browser.py; the
network: tests/_wide.py)."""

from __future__ import annotations

import re

from _browser import (
    ROOT,
    browser_page,
    console_errors,
    lab_root,
    open_explorer,
    screenshot_dir,
    settled,
    shoot,
    write_notebook,
)
from _wide import NEURONS

# A pixel of the canvas in a community's colour (not grey links, dark or white text), in CSS pixels.
COLOURED_PIXEL = """(canvas) => {
    const { data, width, height } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    const scale = canvas.getBoundingClientRect().width / width;
    let coloured = 0, first = null;
    for (let i = 0; i < width * height; i++) {
        const [r, g, b, a] = data.slice(4 * i, 4 * i + 4);
        if (a === 255 && Math.max(r, g, b) - Math.min(r, g, b) > 60) {
            coloured++;
            first = first || [(i % width + 0.5) * scale, (Math.floor(i / width) + 0.5) * scale];
        }
    }
    return { coloured, first };
}"""


def test_the_neuron_view_at_8192_neurons_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "explorer_scale")
    base, token = lab
    setup = (
        f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nfrom _wide import LAYERS, wide_analysis\n"
        "from innersight_widgets import CommunityExplorer\nan = wide_analysis()"
    )
    write_notebook(lab_root(tmp_path), "explorer_scale.ipynb", [setup, "explorer = CommunityExplorer(an, layers=LAYERS)\nexplorer"])
    with browser_page(shots) as (page, errors):
        console = console_errors(page)
        explorer, status = open_explorer(page, base, token, "lab/tree/explorer_scale.ipynb")
        expect(page.get_by_test_id("stability")).to_have_text(
            re.compile(r"^stability \d\.\d\d \(ARI over 3 other seeds\): how often two runs agree"), timeout=120_000
        )

        page.locator(".widget-toggle-button", has_text="neurons").click()
        canvas = page.get_by_test_id("neuron-canvas")
        expect(canvas).to_have_attribute("data-drawn", str(NEURONS), timeout=120_000)
        settled(base, token, status)
        expect(page.get_by_test_id("community-count")).to_have_text(re.compile(r"^\d+ communities · 8,192 neurons$"))
        expect(page.get_by_test_id("links-note")).to_contain_text("the 2,000 strongest of")
        pixels = canvas.evaluate(COLOURED_PIXEL)
        assert pixels["coloured"] > NEURONS, pixels["coloured"]  # every point covers a few pixels

        # hover a point: the tooltip names the neuron, its community and size
        box = canvas.bounding_box()
        x, y = box["x"] + pixels["first"][0], box["y"] + pixels["first"][1]
        page.mouse.move(x, y)
        tooltip = page.get_by_test_id("neuron-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_have_text(re.compile(r"^wide[12]:\d+ · community (\d+): \d+ neurons"))
        shoot(page, explorer, shots / "explorer_neurons.png")

        # a click opens the neuron's community
        community = re.search(r"community (\d+)", tooltip.inner_text()).group(1)
        page.mouse.click(x, y)
        expect(page.get_by_test_id("details-title")).to_have_text(re.compile(rf"^Community {community} · "), timeout=120_000)
        settled(base, token, status)

        # the wheel zooms about the cursor: a larger scale, fewer points in view
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, -600)
        expect(canvas).not_to_have_attribute("data-scale", "1.000")
        assert float(canvas.get_attribute("data-scale")) > 1.5
        expect(canvas).not_to_have_attribute("data-drawn", str(NEURONS))

        # the points as a table of their communities, for readers who do not see the canvas
        communities = int(re.match(r"\d+", page.get_by_test_id("community-count").inner_text()).group(0))
        page.get_by_test_id("community-table").locator("summary").click()
        expect(page.get_by_test_id("community-table").locator("tr")).to_have_count(communities + 1)

        assert page.get_by_text("Click to show javascript error").count() == 0
        assert not errors, errors
        assert not console, console
