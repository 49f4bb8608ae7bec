"""The CommunityExplorer, the debugger and ModelDiff in a marimo notebook, which takes an
anywidget but not ipywidgets: ``mo.ui.anywidget(widget.standalone())`` draws the widget's
drawing with its status line and its controls in one view. marimo serves the notebook as an
app; Debian's headless Chromium moves the explorer's slider, clicks a community and sees
what it looks for form, switches the debugger's method, and moves ModelDiff's threshold
(helpers: tests/_browser.py)."""

from __future__ import annotations

import os
import re
import sys

import pytest
from _browser import ROOT, browser_page, free_port, screenshot_dir, serving

APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    from innersight_widgets import Analysis, CommunityExplorer, MisclassificationDebugger, ModelDiff, load_pretrained, load_shapes

    an = Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=240), layers=["layer2"], progress=False)
    explorer = CommunityExplorer(an, layers="layer2")
    debugger = MisclassificationDebugger(an, layer="layer2")
    clean = Analysis(load_pretrained("shapes-cnn"), an.data, layers=["layer2"], progress=False)
    diff = ModelDiff(clean, an, "layer2", "layer2", names=("clean", "spurious"))
    mo.vstack([mo.ui.anywidget(w.standalone()) for w in (explorer, debugger, diff)])
    return
'''


def test_the_widgets_in_marimo_move_the_slider_and_answer_clicks(tmp_path):
    if os.environ.get("CI") is None:
        pytest.importorskip("marimo")
    from playwright.sync_api import expect

    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "marimo", "run", "app.py", "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-token"]
    with serving(command, tmp_path / "marimo.log", base, env=env, cwd=tmp_path):
        shots = screenshot_dir(tmp_path, "marimo")
        with browser_page(shots) as (page, errors):
            page.goto(base)
            status = page.get_by_test_id("explorer-status")
            expect(status).to_have_attribute("data-kind", "idle", timeout=180_000)
            expect(status).to_contain_text("communities of 64 neurons")
            before = page.get_by_test_id("community-node").count()
            assert before >= 2

            explorer = page.get_by_test_id("community-explorer")
            slider = explorer.get_by_role("slider", name="resolution γ")
            assert slider.input_value() == "1"  # Louvain's resolution γ, its default
            slider.focus()
            page.keyboard.press("End")  # the slider's maximum: a finer partition
            expect(status).to_contain_text(re.compile(r"^(?!5 communities)\d+ communities"), timeout=120_000)
            expect(status).to_have_attribute("data-kind", "idle", timeout=120_000)
            assert page.get_by_test_id("community-node").count() > before

            page.get_by_test_id("community-node").first.click()
            expect(page.get_by_test_id("community-image").first).to_be_visible(timeout=120_000)
            # what the community looks for forms under its images, standing alone too
            expect(page.get_by_test_id("feature-done")).to_be_visible(timeout=120_000)
            expect(page.get_by_test_id("feature-image")).to_have_count(2)
            page.get_by_test_id("community-explorer").screenshot(path=str(shots / "marimo.png"))

            # the debugger stands alone too: its status line, and a click on another confusion
            expect(page.get_by_test_id("debugger-status")).to_have_attribute("data-kind", "idle", timeout=180_000)
            caption = page.get_by_test_id("error-caption")
            first = caption.inner_text()
            page.locator('[data-testid="confusion-cell"]:not(.isw-selected)').first.click()
            expect(caption).not_to_have_text(first, timeout=120_000)

            # the debugger's own controls: another method re-partitions, and its slider follows
            debugger = page.get_by_test_id("debugger-view")
            debugger.get_by_role("combobox", name="method").select_option("spectral")
            expect(debugger.get_by_role("slider", name="communities k")).to_be_visible(timeout=60_000)
            expect(page.get_by_test_id("debugger-status")).to_have_attribute("data-kind", "idle", timeout=180_000)
            expect(page.get_by_test_id("debugger-status")).to_contain_text("units ranked")
            debugger.screenshot(path=str(shots / "marimo-debugger.png"))

            # ModelDiff: its threshold slider drawn by the view; at its maximum no pair is left
            diff_status = page.get_by_test_id("diff-status")
            expect(diff_status).to_have_attribute("data-kind", "idle", timeout=180_000)
            assert page.get_by_test_id("diff-link").count() >= 1
            threshold = page.get_by_test_id("diff-view").get_by_role("slider", name="counterparts at similarity ≥")
            threshold.focus()
            page.keyboard.press("End")
            expect(page.get_by_test_id("diff-link")).to_have_count(0, timeout=60_000)
            expect(diff_status).to_contain_text("0 counterparts (similarity ≥ 1.00)")
            assert not errors, errors
