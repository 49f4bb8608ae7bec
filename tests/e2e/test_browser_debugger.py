"""MisclassificationDebugger end to end in JupyterLab, in Debian's headless Chromium: the
debugging notebook runs, a click on a confusion cell ranks that confusion's units, every
number the view shows under a name is the kernel's ``Diagnosis`` figure of that name, and
the ablate toggle of its colour community shows the share of its errors fixed (helpers and
conditions: tests/_browser.py)."""

from __future__ import annotations

import re

from _browser import (
    browser_page,
    kernel_json,
    open_and_run,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
)

# The names the view gives its figures, and the ``Diagnosis.to_dataframe()`` column each
# must be (``this_image``: the attribution on the chosen error image).
COLUMNS = {
    "evidence": "evidence",
    "contribution": "contribution",
    "±": "spread",
    "mean on the errors": "on_errors",
    "errors (mean)": "on_errors",
    "correct reference": "on_reference",
    "this image": "this_image",
    "AUROC": "auroc",
    "neurons": "neurons",
}

# Each unit card's figures as (name, number) pairs, read as a reader meets them: "12 neurons"
# and "(AUROC 0.99)" in its title, "evidence 0.123 · contribution 0.456 ± 0.010 · ..." under
# it, and each bar's number (its tooltip, "name: value") under the name written beside it.
READ_UNITS = r"""() => [...document.querySelectorAll('[data-testid="unit"]')].map(card => {
    const title = card.querySelector('.isw-unit-title').textContent;
    const pairs = [];
    for (const m of title.matchAll(/(\d+) (neurons)|\((AUROC) (\d+\.\d+)\)/g))
        pairs.push(m[2] ? [m[2], m[1]] : [m[3], m[4]]);
    const score = card.querySelector('[data-testid="unit-score"]').textContent;
    for (const part of score.split(' · '))
        for (const m of part.matchAll(/(±|[a-z][a-z ()]*?) (-?\d+\.\d+)/g)) pairs.push([m[1], m[2]]);
    const rows = [...card.querySelectorAll('[data-testid="unit-bars"] > text')].map(t => t.textContent);
    const bars = [...card.querySelectorAll('[data-testid="unit-bars"] rect > title')].map(t => t.textContent);
    return { name: card.dataset.unit, pairs, rows, bars };
})"""


def shown_figures(page) -> dict[str, list[tuple[str, str]]]:
    """Per unit card, best first: its (name, number as printed) pairs. A bar whose tooltip
    names it otherwise than the row it is drawn in fails here."""
    figures = {}
    for card in page.evaluate(READ_UNITS):
        pairs = [tuple(p) for p in card["pairs"]]
        for bar in card["bars"]:
            name, value = bar.rsplit(": ", 1)
            assert name in card["rows"], f"{card['name']}: a bar's tooltip says {bar!r}; the rows say {card['rows']}"
            pairs.append((name, value))
        figures[card["name"]] = pairs
    return figures


def assert_figures_are_the_diagnosis(figures: dict[str, list[tuple[str, str]]], units: list[dict]) -> None:
    """Every figure shown is the ``Diagnosis`` column its name says, to the digits printed,
    and a figure shown twice on a card is the same number."""
    assert list(figures) == [u["unit"] for u in units[: len(figures)]], "the cards are not the diagnosis's best units in order"
    for unit in units[: len(figures)]:
        seen: dict[str, str] = {}
        for name, printed in figures[unit["unit"]]:
            assert name in COLUMNS, f"{unit['unit']} shows {printed} under {name!r}, a name no Diagnosis column has"
            column = COLUMNS[name]
            digits = len(printed.partition(".")[2])
            assert printed == f"{unit[column]:.{digits}f}", (
                f"{unit['unit']} shows {name!r} {printed}; Diagnosis's {column} is {unit[column]:.6f}")
            assert seen.setdefault(column, printed) == printed, f"{unit['unit']} shows {column} as {seen[column]} and {printed}"
        missing = {"evidence", "contribution", "spread", "on_errors", "on_reference", "neurons"} - set(seen)
        assert not missing, f"{unit['unit']}'s card shows no {missing}"


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
        whole = shown_figures(page)
        said = re.search(r"(\d+) errors, (\d+) units ranked; best (.+) evidence ([+-]\d\.\d{3}); .*", status.inner_text())
        assert said, status.inner_text()
        caption = re.match(r"(\d+) images of square predicted triangle", page.get_by_test_id("error-caption").inner_text())

        # one error image: each card now also shows the unit's attribution on it
        image = int(page.get_by_test_id("error-image").first.get_attribute("alt").split()[-1])
        page.get_by_test_id("error-image").first.click()
        expect(status).to_contain_text(f"units shown on image #{image}", timeout=120_000)
        settled(base, token, status)
        on_image = shown_figures(page)
        assert all(("this image" in dict(pairs)) for pairs in on_image.values()), on_image

        diagnosis = kernel_json(base, token, f"""
import json
frame = debugger.diagnosis.to_dataframe()
frame["this_image"] = debugger.diagnosis.attribution[:, debugger.diagnosis.errors.tolist().index({image})]
print(json.dumps({{"errors": len(debugger.diagnosis.errors), "units": frame.to_dict("records")}}))
""")
        units = diagnosis["units"]
        assert_figures_are_the_diagnosis(whole, units)
        assert_figures_are_the_diagnosis(on_image, units)
        # the status line's figures are the cards' and the diagnosis's
        assert int(said[1]) == int(caption[1]) == diagnosis["errors"]
        assert int(said[2]) == len(units)
        assert said[3] == units[0]["unit"]
        assert said[4] == f"{units[0]['evidence']:+.3f}" and float(said[4]) == float(dict(whole[said[3]])["evidence"])

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
