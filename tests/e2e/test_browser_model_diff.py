"""ModelDiff end to end in JupyterLab, in Debian's headless Chromium: shapes-cnn beside
shapes-spurious-cnn at layer3; a click on a counterpart link opens the pair, whose numbers
are the kernel's comparison, and a click on a lone community says it has no counterpart
(helpers and conditions: tests/_browser.py)."""

from __future__ import annotations

from _browser import (
    assert_no_clipped_labels,
    browser_page,
    jupyter_lab,
    kernel_json,
    lab_root,
    open_and_run,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
    write_notebook,
)

CELLS = [
    (
        "from innersight_widgets import Analysis, ModelDiff, load_pretrained, load_shapes\n"
        'data = load_shapes("test", n=400)\n'
        'clean = Analysis(load_pretrained("shapes-cnn"), data, layers=["layer3"], progress=False)\n'
        'spurious = Analysis(load_pretrained("shapes-spurious-cnn"), data, layers=["layer3"], progress=False)'
    ),
    'diff = ModelDiff(clean, spurious, "layer3", "layer3", names=("clean", "spurious"))\ndiff',
]

# The comparison the widget shows, from the notebook's kernel: each pair's row and the lone
# communities with their best similarity.
COMPARISON = """
import json
c = diff.comparison
print(json.dumps({"rows": c.rows(per_class=True), "classes": data.class_names,
                  "matches": [[m.a, m.b] for m in c.matches], "lone_a": list(c.unmatched_a), "lone_b": list(c.unmatched_b),
                  "min_similarity": c.min_similarity, "cka": c.cka}))
"""

# What the opened pair's panel says: its title, each figure cell by its field, and the drops
# table's rows (class, side a, side b, change).
READ_PANEL = r"""() => {
    const panel = document.querySelector('[data-testid="diff-details"]');
    const cells = {};
    panel.querySelectorAll('[data-field]').forEach((td) => { cells[td.dataset.field] = td.textContent; });
    const drops = [...panel.querySelectorAll('[data-testid="diff-drops"] tr[data-class]')]
        .map((tr) => [tr.dataset.class, ...[...tr.children].slice(1).map((td) => td.textContent)]);
    const own = panel.querySelector('[data-testid="diff-own"]');
    return { title: panel.querySelector('[data-testid="diff-title"]').textContent, cells, drops, own: own && own.textContent };
}"""


def shown(text: str) -> float:
    """A figure as the panel prints it ("−0.298", "+0.040", "0.702") as a float."""
    return float(text.replace("−", "-").replace("+", ""))


def close(text: str, truth: float) -> bool:
    """The panel prints 3 decimals of a figure sent at 4: within rounding of the truth."""
    return abs(shown(text) - truth) <= 6e-4


def test_model_diff_opens_a_pair_and_a_lone_community_with_the_kernels_figures(tmp_path):
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "model_diff")
    with jupyter_lab(tmp_path) as (base, token), browser_page(shots) as (page, errors):
        write_notebook(lab_root(tmp_path), "diff.ipynb", CELLS)
        open_and_run(page, base, token, "lab/tree/diff.ipynb")
        view, status = page.get_by_test_id("diff-view"), page.get_by_test_id("diff-status")
        expect(view).to_be_visible(timeout=120_000)
        settled(base, token, status)
        truth = kernel_json(base, token, COMPARISON)
        expect(status).to_contain_text(f"{len(truth['matches'])} counterparts (similarity ≥ 0.50)")
        expect(page.get_by_test_id("diff-summary")).to_contain_text(f"CKA of the layers {truth['cka']:.2f}")

        # every community drawn, those without counterpart (and only those) outlined dashed
        nodes = page.get_by_test_id("diff-node")
        expect(nodes).to_have_count(8)
        lone = sorted((n.get_attribute("data-side"), int(n.get_attribute("data-community")))
                      for n in view.locator(".isw-node.isw-alone").all())
        assert lone == sorted([("a", c) for c in truth["lone_a"]] + [("b", c) for c in truth["lone_b"]])
        links = page.get_by_test_id("diff-link")
        assert [[int(link.get_attribute("data-a")), int(link.get_attribute("data-b"))] for link in links.all()] == truth["matches"]
        legend = page.get_by_test_id("diff-legend")
        expect(legend).to_contain_text(f"{len(truth['lone_a'])} only in clean, {len(truth['lone_b'])} only in spurious")
        # the table for readers who do not see the drawing: a row per pair and per lone community
        page.get_by_test_id("diff-table").locator("summary").click()
        expect(page.get_by_test_id("diff-table").locator("tr")).to_have_count(
            1 + len(truth["matches"]) + len(truth["lone_a"]) + len(truth["lone_b"]))

        # a click on the first link opens the pair
        a, b = truth["matches"][0]
        links.first.click()
        settled(base, token, status)
        wait_for_loaded_images(page, "diff-image", 120_000)
        expect(page.locator('[data-testid="diff-images"][data-side="a"] [data-testid="diff-image"]')).to_have_count(8)
        expect(page.locator('[data-testid="diff-images"][data-side="b"] [data-testid="diff-image"]')).to_have_count(8)
        row = next(r for r in truth["rows"] if r["community_a"] == a)
        panel = page.evaluate(READ_PANEL)
        assert panel["title"] == f"clean {a} ↔ spurious {b} · similarity {row['similarity']:.2f}"
        cells = panel["cells"]
        for side in "ab":
            other = "b" if side == "a" else "a"
            assert cells[f"community-{side}"] == str(row[f"community_{side}"])
            assert cells[f"size-{side}"] == str(row[f"size_{side}"]) and cells[f"label-{side}"] == row[f"label_{side}"]
            assert close(cells[f"auroc-{side}"], row[f"label_auroc_{side}"])
            assert close(cells[f"other-auroc-{side}"], row[f"label_{other}_auroc_{side}"])
            assert close(cells[f"drop-{side}"], row[f"accuracy_drop_{side}"])
        assert [d[0] for d in panel["drops"]] == [*truth["classes"], "all images"]
        for name, in_a, in_b, change in panel["drops"][:-1]:
            assert close(in_a, row[f"drop_a[{name}]"]) and close(in_b, row[f"drop_b[{name}]"])
            assert close(change, row[f"drop_change[{name}]"])
        assert close(panel["drops"][-1][3], row["accuracy_drop_change"])
        assert panel["own"].startswith(f"own class {row['own_class']}: clean ")
        assert close(panel["own"].rsplit("change ", 1)[1], row["own_class_drop_change"])
        expect(view.locator(".isw-match.isw-selected")).to_have_count(1)
        expect(view.locator(".isw-node.isw-selected")).to_have_count(2)
        assert_no_clipped_labels(page)
        shoot(page, view, shots / "model_diff.png")

        # a lone community, opened from the keyboard, says it has no counterpart and how close the nearest is
        lone_b = truth["lone_b"][0]
        lone_row = next(r for r in truth["rows"] if r["community_b"] == lone_b)
        page.locator(f'[data-testid="diff-node"][data-side="b"][data-community="{lone_b}"]').focus()
        page.keyboard.press("Enter")
        settled(base, token, status)
        expect(page.get_by_test_id("diff-title")).to_have_text(f"only in spurious: community {lone_b}")
        expect(page.get_by_test_id("diff-alone")).to_have_text(
            f"no counterpart in clean (best similarity {lone_row['best_similarity']:.2f}, below 0.50)")
        wait_for_loaded_images(page, "diff-image", 120_000)
        expect(page.get_by_test_id("diff-image")).to_have_count(8)
        assert not errors, errors
