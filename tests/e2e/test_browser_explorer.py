"""CommunityExplorer end to end in JupyterLab and Notebook 7, in Debian's headless Chromium.

Opens the quickstart, runs it, waits for the explorer, drags the resolution slider and
sees the number of communities change, clicks a community and sees its images load and
what it looks for (its feature visualisation) form, with the kernel's figures
(helpers and conditions: tests/_browser.py).
"""

from __future__ import annotations

import re

import pytest
from _browser import (
    assert_no_clipped_labels,
    browser_page,
    drag_to_the_right_end,
    kernel_json,
    open_explorer,
    pixel_spread,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
)

@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_quickstart_in_a_real_browser(lab, tmp_path, app):
    """JupyterLab 4 at /lab/tree/..., Notebook 7 at /notebooks/...: the same widget in both."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, app)
    base, token = lab
    with browser_page(shots) as (page, errors):
        explorer, status = open_explorer(
            page, base, token, ("lab/tree" if app == "lab" else "notebooks") + "/01_quickstart.ipynb"
        )
        count = page.get_by_test_id("community-count")
        expect(count).not_to_have_text("0 communities", timeout=120_000)
        before = count.inner_text()
        explorer.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "explorer.png"), full_page=False)

        # Drag the resolution slider to its right end: more, smaller communities.
        drag_to_the_right_end(page, page.locator(".widget-slider").first)
        expect(count).not_to_have_text(before, timeout=300_000)
        settled(base, token, status)
        after = count.inner_text()
        assert int(after.split()[0]) > int(before.split()[0]), (before, after)

        # Click a community: its image grid fills with loaded images.
        page.get_by_test_id("community-node").first.click()
        grid = page.get_by_test_id("image-grid")
        expect(grid).to_be_visible(timeout=300_000)
        images = grid.locator("img")
        expect(images).to_have_count(12, timeout=300_000)
        wait_for_loaded_images(page, "community-image", 300_000)
        expect(page.get_by_test_id("ablation-summary")).to_contain_text("p = ", timeout=300_000)
        settled(base, token, status)
        shoot(page, explorer, shots / "community.png")

        # What it looks for: the optimised images, drawn, not grey, with the kernel's scores.
        done = page.get_by_test_id("feature-done")
        expect(done).to_be_visible(timeout=300_000)
        wait_for_loaded_images(page, "feature-image", 300_000)
        feature = kernel_json(base, token, "import json; print(json.dumps(explorer.view.feature))")
        expect(page.get_by_test_id("feature-image")).to_have_count(len(feature["thumbs"]))
        captions = page.get_by_test_id("feature-grid").locator("figcaption").all_inner_texts()
        assert captions == [f"score {v:.2f}" for v in feature["scores"]], (captions, feature["scores"])
        assert done.inner_text() == (f"{feature['unit']} after {feature['steps']} steps; "
                                     f"the best probe image scores {feature['reference']:.2f}")
        assert min(pixel_spread(page, "feature-image")) > 0.05  # colour and pattern, not a grey start
        shoot(page, page.get_by_test_id("community-details"), shots / "features.png")

        # The race users met: move the slider, click community 1 at once (on the old graph).
        # The click belongs to the new partition: community 1 of the graph on screen opens.
        track = page.locator(".widget-slider").first.locator(".noUi-target").first
        box = track.bounding_box()
        track.click(position={"x": box["width"] * 0.8, "y": box["height"] / 2})  # down from the right end
        page.locator('[data-testid="community-node"][data-community="1"]').click()
        settled(base, token, status)
        chosen = page.locator('[data-testid="community-node"][data-community="1"]')
        expect(chosen).to_have_class(re.compile("isw-selected"), timeout=300_000)
        expect(page.get_by_test_id("ablation-summary")).to_contain_text("p = ", timeout=300_000)
        size = re.search(r"community 1: (\d+) neurons", chosen.locator("title").text_content()).group(1)
        expect(page.get_by_test_id("details-title")).to_have_text(re.compile(rf"^Community 1 · {size} neurons"))
        readout = page.locator(".widget-slider").first.locator(".widget-readout")
        assert float(readout.inner_text()) < 5.0, readout.inner_text()  # the slider did move before the click
        assert_no_clipped_labels(page)

        assert page.get_by_text("Click to show javascript error").count() == 0
        # Notebook 7.6 itself throws one settings-schema TypeError from its own core bundle
        # at start-up, with or without our widget; any other page error fails the test.
        ours = [e for e in errors if not (app == "notebook" and "/static/notebook/notebook_core" in e)]
        assert not ours, ours
