"""CircuitView and CriticalNeuronsView end to end in JupyterLab, in Debian's headless
Chromium (helpers and conditions: tests/_browser.py)."""

from __future__ import annotations

from _browser import (
    assert_no_clipped_labels,
    browser_page,
    drag_to_the_right_end,
    open_and_run,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
)


def test_circuit_view_in_jupyterlab(lab, tmp_path):
    """The circuits notebook: the layered graph renders, a click shows a group's crops,
    and the debugged image is drawn with the groups it triggers."""
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
        settled(base, token, page.get_by_test_id("circuit-status"))
        assert_no_clipped_labels(page)
        shoot(page, view, shots / "circuit.png")
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
