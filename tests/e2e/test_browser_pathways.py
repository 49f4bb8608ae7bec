"""CommunityExplorer's pathways view in JupyterLab, in Debian's headless Chromium: the button
draws the layers and the classes as columns, a click on a class highlights its pathways, a
click on a community opens it (helpers: tests/_browser.py)."""

from __future__ import annotations

import re
import time

from _browser import (
    browser_page,
    console_errors,
    lab_root,
    open_explorer,
    screenshot_dir,
    settled,
    shoot,
    write_notebook,
)

SETUP = """from innersight_widgets import Analysis, CommunityExplorer, load_pretrained, load_shapes
an = Analysis(load_pretrained("shapes-cnn"), load_shapes("test", n=300), layers=["layer2", "layer3"], progress=False)"""
EXPLORER = """explorer = CommunityExplorer(an, layers=["layer2", "layer3"], stability_runs=0, flow_images=32)
explorer"""


def test_the_pathways_view_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "pathways")
    base, token = lab
    write_notebook(lab_root(tmp_path), "pathways.ipynb", [SETUP, EXPLORER])
    with browser_page(shots) as (page, errors):
        console = console_errors(page)
        explorer, status = open_explorer(page, base, token, "lab/tree/pathways.ipynb")

        started = time.monotonic()
        page.locator(".widget-toggle-button", has_text="pathways").click()
        pathways = page.get_by_test_id("pathways")
        expect(pathways).to_be_visible(timeout=120_000)
        print(f"pathways drawn {time.monotonic() - started:.1f} s after the click")  # shown with pytest -s
        settled(base, token, status)
        expect(status).to_contain_text("pathways: ")
        expect(pathways.get_by_test_id("pathway-column")).to_have_text(["layer2", "layer3", "classes"])
        classes = pathways.get_by_test_id("pathway-class")
        expect(classes).to_have_count(4)
        assert [classes.nth(i).get_attribute("data-class") for i in range(4)] == ["circle", "square", "triangle", "star"]
        assert pathways.get_by_test_id("pathway-node").count() >= 4
        assert int(pathways.get_attribute("data-links-drawn")) > 0
        expect(pathways.locator('[data-on-path="1"]')).to_have_count(0)

        # a click on a class: its pathways (two links each) turn red
        pathways.locator('[data-class="star"]').click()
        expect(pathways).to_have_attribute("data-chosen", "class:star")
        assert 2 <= pathways.locator('[data-on-path="1"]').count() <= 6
        shoot(page, explorer, shots / "pathways.png")

        # the slider at its top hides every link but those on the chosen class's pathways
        slider = page.get_by_test_id("pathway-threshold")
        slider.fill("1")
        expect(pathways.locator('[data-on-path="0"]')).to_have_count(0)
        assert pathways.locator('[data-on-path="1"]').count() >= 2

        # the pathways as a table: a row per pathway of each class, and Enter on a row chooses its class
        table = page.get_by_test_id("pathway-table")
        table.locator("summary").click()
        rows = table.locator("tr")
        expect(rows.first).to_be_visible()
        titles = pathways.get_by_test_id("pathway-class").locator("title").all_text_contents()
        paths = sum(int(m.group(1)) for m in (re.search(r"its (\d+) strongest pathways", t) for t in titles) if m)
        assert paths >= 4 and rows.count() - 1 == paths, (titles, rows.count())
        circle = table.locator("tr", has_text="circle").first
        expect(circle.locator("td").nth(2)).to_contain_text("→")
        circle.focus()
        page.keyboard.press("Enter")
        expect(pathways).to_have_attribute("data-chosen", "class:circle")

        # a click on a community node opens its details
        node = pathways.get_by_test_id("pathway-node").first
        community = node.get_attribute("data-community")
        node.click()
        expect(page.get_by_test_id("details-title")).to_have_text(re.compile(rf"^Community {community} · "), timeout=120_000)
        settled(base, token, status)

        assert page.get_by_text("Click to show javascript error").count() == 0
        assert not errors, errors
        assert not console, console
