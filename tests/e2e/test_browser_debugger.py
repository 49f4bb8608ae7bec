"""MisclassificationDebugger end to end in JupyterLab, in Debian's headless Chromium: the
debugging notebook runs, a click on a confusion cell ranks that confusion's units, and the
ablate toggle of its colour community shows the share of its errors fixed (helpers and
conditions: tests/_browser.py)."""

from __future__ import annotations

import re

from _browser import browser_page, open_and_run, screenshot_dir, settled, shoot, wait_for_loaded_images


def test_debugger_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "debugger")
    base, token = lab
    with browser_page(shots) as (page, errors):
        open_and_run(page, base, token, "lab/tree/05_debugging.ipynb")
        view = page.get_by_test_id("debugger-view")
        expect(view).to_be_visible(timeout=120_000)
        status = page.get_by_test_id("debugger-status")
        settled(base, token, status)
        # the notebook switched the blue community off for stars called triangles
        expect(page.get_by_test_id("fix-rate")).to_have_text(re.compile(r"fixes \d+ of \d+ errors"), timeout=120_000)

        # squares called triangles (class 1 predicted 2): mostly blue squares
        page.locator('[data-testid="confusion-cell"][data-true="1"][data-predicted="2"]').click()
        expect(page.get_by_test_id("diagnosis-title")).to_contain_text("pushing square to triangle", timeout=120_000)
        settled(base, token, status)
        expect(page.get_by_test_id("fix-rate")).to_have_count(0)  # the old confusion's toggles are gone
        wait_for_loaded_images(page, "unit-image", 120_000)
        wait_for_loaded_images(page, "error-image", 120_000)
        blue = page.locator('[data-testid="unit"]').filter(has_text="colour = blue")
        blue.get_by_test_id("ablate-toggle").check()
        settled(base, token, status)
        fix = page.get_by_test_id("fix-rate")
        expect(fix).to_have_text(re.compile(r"fixes \d+ of \d+ errors \(\d+\.\d%\)"), timeout=120_000)
        fixed, total = map(int, re.search(r"fixes (\d+) of (\d+)", fix.inner_text()).groups())
        assert 0 < fixed <= total
        expect(page.get_by_test_id("cost-table")).to_be_visible()
        shoot(page, view, shots / "debugger.png")
        assert not errors, errors
