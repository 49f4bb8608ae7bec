"""The five widgets read well in JupyterLab's light and dark themes: every piece of text
they draw has a contrast of at least 4.5 (WCAG AA) against what lies behind it, nothing
is cut off, and what a click chooses can be chosen from the keyboard, in Debian's
headless Chromium (helpers: tests/_browser.py)."""

from __future__ import annotations

import pytest
from _browser import (
    assert_no_clipped_labels,
    browser_page,
    jupyter_lab,
    lab_root,
    open_and_run,
    screenshot_dir,
    settled,
    shoot,
    wait_for_loaded_images,
    write_notebook,
)

CELLS = [
    "from innersight_widgets import Analysis, CircuitView, CommunityExplorer, CriticalNeuronsView\n"
    "from innersight_widgets import MisclassificationDebugger, ModelDiff, build_circuit, load_pretrained, load_shapes\n"
    'an = Analysis(load_pretrained("shapes-spurious-cnn"), load_shapes("test", n=240), layers=["layer2", "layer3"], progress=False)',
    'CommunityExplorer(an, layers="layer2")',
    'CircuitView(build_circuit(an, "star", layers=["layer3", "layer2"]))',
    'CriticalNeuronsView(an, layer="layer3", target_class="star", concept="colour")',
    'MisclassificationDebugger(an, layer="layer3")',
    'clean = Analysis(load_pretrained("shapes-cnn"), an.data, layers=["layer3"], progress=False)\nModelDiff(clean, an, "layer3", "layer3")',
]

# Each visible piece of text in the widgets' outputs, with the contrast of its colour
# against the first opaque background behind it (a halo drawn under SVG text, when there
# is one, is that background). Decorative marks (aria-hidden) are left out.
CONTRASTS = """() => {
  const rgba = (css) => { const m = css.match(/[\\d.]+/g); return m ? m.map(Number).concat([1]).slice(0, 4) : null; };
  const back = (node) => {
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                       return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const over = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
  const out = [];
  const roots = [...document.querySelectorAll('.jp-OutputArea-output .isw-root, .jp-OutputArea-output [data-testid$="-status"]')];
  for (const root of roots) {
    for (const node of [root, ...root.querySelectorAll('*')]) {
      if (node.closest('[aria-hidden="true"]') || node.closest('title')) continue;
      const own = [...node.childNodes].filter((c) => c.nodeType === 3 && c.textContent.trim()).map((c) => c.textContent.trim()).join(' ');
      if (!own) continue;
      const box = node.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      const style = getComputedStyle(node);
      if (style.visibility === 'hidden' || Number(style.opacity) === 0) continue;
      const svg = node instanceof SVGElement;
      const halo = svg && style.stroke !== 'none' && style.paintOrder.startsWith('stroke') && parseFloat(style.strokeWidth) >= 2;
      const bg = halo ? over(rgba(style.stroke), back(node.parentElement)) : back(node.parentElement);
      const fg = over(rgba(svg ? style.fill : style.color), bg);
      const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
      out.push({ text: own.slice(0, 40), ratio: (a + 0.05) / (b + 0.05), fg: fg.map(Math.round).join(','), bg: bg.map(Math.round).join(',') });
    }
  }
  return out;
}"""

# SVG text that crosses its drawing's edge (cut off), and the ablation chart's whiskers,
# which must stay right of the class names (x = 96) and left of the values (x = 382).
INSIDE = """() => {
  const outside = [];
  for (const svg of document.querySelectorAll('.isw-root svg')) {
    const width = svg.viewBox.baseVal && svg.viewBox.baseVal.width || svg.width.baseVal.value;
    const height = svg.viewBox.baseVal && svg.viewBox.baseVal.height || svg.height.baseVal.value;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.width && (b.x < -0.5 || b.x + b.width > width + 0.5 || b.y < -0.5 || b.y + b.height > height + 0.5)) {
        outside.push(t.textContent.slice(0, 60));
      }
    }
  }
  const whiskers = [...document.querySelectorAll('[data-testid="ablation-chart"] line')]
    .map((l) => [Number(l.getAttribute('x1')), Number(l.getAttribute('x2'))]);
  for (const [a, b] of whiskers) if (a < 96 || b > 382) outside.push(`whisker ${a.toFixed(0)}-${b.toFixed(0)}`);
  return { outside, whiskers: whiskers.length };
}"""


@pytest.mark.parametrize(
    ("front_end", "theme"),
    [("lab/tree", "JupyterLab Light"), ("lab/tree", "JupyterLab Dark"), ("notebooks", "JupyterLab Dark")],
    ids=["jupyterlab-light", "jupyterlab-dark", "notebook7-dark"],
)
def test_every_widget_text_reads_in_light_and_dark_themes(front_end, theme, tmp_path):
    """In JupyterLab 4 and in Notebook 7 (its address /notebooks/...), which share the theme setting."""
    from playwright.sync_api import expect

    shots = screenshot_dir(tmp_path, "themes")
    slug = theme.split()[-1].lower() + ("" if front_end == "lab/tree" else "-notebook7")
    with jupyter_lab(tmp_path, theme) as (base, token), browser_page(shots) as (page, errors):
        write_notebook(lab_root(tmp_path), "themes.ipynb", CELLS)
        open_and_run(page, base, token, f"{front_end}/themes.ipynb")
        dark = theme.endswith("Dark")
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false" if dark else "true")
        for name in ("explorer", "circuit", "critical", "debugger", "diff"):
            settled(base, token, page.get_by_test_id(f"{name}-status"))
        expect(page.get_by_test_id("critical-count")).to_contain_text("critical neurons", timeout=120_000)
        wait_for_loaded_images(page, "mechanism-image", 120_000)
        # the static snapshot under each widget is for readers without a kernel: the live view hides it
        snapshots = page.locator("[data-innersight-snapshot]")
        expect(snapshots).to_have_count(5)
        assert snapshots.evaluate_all("(nodes) => nodes.filter((n) => n.getClientRects().length).length") == 0
        # by keyboard, as a reader without a mouse: the details panel (captions, charts) opens
        page.get_by_test_id("community-node").first.focus()
        page.keyboard.press("Enter")
        wait_for_loaded_images(page, "community-image", 120_000)
        settled(base, token, page.get_by_test_id("explorer-status"))
        expect(page.get_by_test_id("ablation-summary")).to_be_visible(timeout=300_000)
        # the model diff's pair panel (figures, drops, both sides' images), opened by keyboard too
        page.get_by_test_id("diff-link").first.focus()
        page.keyboard.press("Enter")
        wait_for_loaded_images(page, "diff-image", 120_000)
        settled(base, token, page.get_by_test_id("diff-status"))
        # each graph has a table for readers who do not see the drawing, a row per node
        for table, node in (("community-table", "community-node"), ("circuit-table", "circuit-group")):
            page.get_by_test_id(table).locator("summary").click()
            expect(page.get_by_test_id(table).locator("tr")).to_have_count(page.get_by_test_id(node).count() + 1)
        # the model diff's: a row per counterpart pair and per community without one
        page.get_by_test_id("diff-table").locator("summary").click()
        expect(page.get_by_test_id("diff-table").locator("tr")).to_have_count(
            1 + page.get_by_test_id("diff-link").count() + page.locator(".isw-node.isw-alone").count())
        captions = page.get_by_test_id("community-caption").all_text_contents()
        labels = page.get_by_test_id("community-table").locator("td:nth-child(3)").all_inner_texts()
        assert sorted(c for c in labels if c != "none") == sorted(captions)
        inside = page.evaluate(INSIDE)
        assert inside["whiskers"] and not inside["outside"], inside
        texts = page.evaluate(CONTRASTS)
        assert len(texts) > 50, texts  # the views drew their text
        low = [t for t in texts if t["ratio"] < 4.5]
        shoot(page, page.get_by_test_id("community-explorer"), shots / f"explorer-{slug}.png")
        for view in ("debugger-view", "circuit-view", "critical-view", "diff-view"):
            shoot(page, page.get_by_test_id(view), shots / f"{view.split('-')[0]}-{slug}.png")
        assert not low, f"{len(low)} of {len(texts)} texts under contrast 4.5 in {theme}: {low[:15]}"
        expect(page.locator(".isw-root.isw-dark")).to_have_count(5 if dark else 0)
        assert_no_clipped_labels(page)
        unnamed = page.evaluate("""() => [...document.querySelectorAll('.isw-root [data-testid]')]
            .filter((n) => ['community-node', 'pathway-node', 'circuit-group', 'confusion-cell', 'diff-node', 'diff-link']
                .includes(n.dataset.testid))
            .filter((n) => n.getAttribute('tabindex') !== '0' || n.getAttribute('role') !== 'button' || !n.getAttribute('aria-label'))
            .map((n) => n.dataset.testid)""")
        assert not unnamed, f"clickable but not reachable by keyboard or unnamed: {unnamed}"
        # Notebook 7's own start-up fails to read the schema of a JupyterLab-only setting the
        # test server writes (notebook_core.js, before any widget exists): not ours
        ours = [e for e in errors if not ("reading 'schema'" in e and "notebook_core" in e)]
        assert not ours, ours
