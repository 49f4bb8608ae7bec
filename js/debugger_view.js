// MisclassificationDebugger: the confusion table and the chosen confusion's images (left); the
// units ranked by their contrastive contribution, each with its bars, its receptive field on an
// error image, its top images and an "ablate" toggle, and what switching the toggled units off
// fixes and costs (right). Reads the records of innersight_widgets/widgets/payloads/debugger_view.py:
// ConfusionTable, ErrorGrid, Picture, DiagnosisView, UnitRow, InterventionView, CandidateFix,
// ClassCost and Thumbnails, each through a variable annotated with its name. Helpers (el, mount,
// pictures, ...) come from _prelude.js.

const STYLE = `
.isw-confusion td.isw-cell { cursor: pointer; min-width: 28px; }
.isw-confusion th, .isw-confusion td { overflow-wrap: normal; }
.isw-confusion td.isw-cell.isw-selected { outline: 2px solid var(--isw-ink); }
.isw-pick { cursor: pointer; }
.isw-pick.isw-selected img { outline: 3px solid var(--isw-wrong); }
.isw-unit { border: 1px solid var(--isw-border); border-radius: 6px; padding: 6px 8px; margin: 0 0 8px; }
.isw-unit.isw-off { background: var(--isw-off); border-color: var(--isw-wrong); }
.isw-boxed { position: relative; display: inline-block; width: 96px; height: 96px; margin-right: 8px; vertical-align: top; overflow: hidden; }
.isw-boxed img { display: block; width: 96px; height: 96px; image-rendering: pixelated; background: #000; }
.isw-boxed div { position: absolute; border: 2px solid #ff2d2d; box-sizing: border-box; pointer-events: none;
  box-shadow: 0 0 0 96px rgba(255, 255, 255, 0.45); }
.isw-unit-title { display: flex; align-items: baseline; gap: 6px; }
.isw-unit-title .isw-grow { flex: 1; }
.isw-unit-title label { white-space: nowrap; }
`;

function drawTable(box, model) {
  box.replaceChildren();
  /** @type {ConfusionTable} */ const t = model.get("table") || {};
  if (!t.class_names) return;
  const cell = model.get("cell") || [];
  box.append(el("div", { class: "isw-section" }, `Confusions (accuracy ${(100 * t.accuracy).toFixed(1)}%): click a cell`));
  const table = el("table", { class: "isw-confusion", "data-testid": "confusion-table" });
  const head = el("tr");
  head.append(el("th", {}, "true \\ predicted"));
  t.class_names.forEach((name) => head.append(el("th", {}, name)));
  table.append(head);
  const most = Math.max(1, ...t.counts.flatMap((row, i) => row.filter((_, j) => j !== i)));
  t.counts.forEach((row, i) => {
    const tr = el("tr");
    tr.append(el("th", {}, t.class_names[i]));
    row.forEach((count, j) => {
      if (i === j) { tr.append(el("td", { class: "isw-muted" }, String(count))); return; }
      const td = el("td", {
        class: "isw-cell" + (cell[0] === i && cell[1] === j ? " isw-selected" : ""),
        style: `background: rgba(180, 35, 24, ${(0.6 * count / most).toFixed(3)})`,
        "data-testid": "confusion-cell", "data-true": i, "data-predicted": j,
      }, String(count));
      pressable(td, `${count} images of ${t.class_names[i]} predicted ${t.class_names[j]}`, () => {
        model.set("image", -1);
        model.set("cell", [i, j]);
        model.save_changes();
      });
      tr.append(td);
    });
    table.append(tr);
  });
  box.append(table);
}

function drawGrid(box, model, thumbs) {
  box.replaceChildren();
  /** @type {ErrorGrid} */ const g = model.get("errors") || {};
  if (!g.images) return;
  const chosen = model.get("image");
  box.append(el("div", { class: "isw-section", "data-testid": "error-caption" }, g.caption));
  const whole = el("button", { "data-testid": "whole-confusion" }, chosen === -1 ? "whole confusion (chosen)" : "back to the whole confusion");
  whole.addEventListener("click", () => { model.set("image", -1); model.save_changes(); });
  box.append(whole);
  const grid = el("div", { class: "isw-grid", "data-true": g.true, "data-predicted": g.predicted });
  for (/** @type {Picture} */ const p of g.images) {
    const figure = el("figure", { class: "isw-pick" + (p.index === chosen ? " isw-selected" : "") });
    const img = el("img", { alt: `image ${p.index}`, "data-testid": "error-image", "data-thumb": p.thumb });
    const src = thumbs.url(g.owner, p.thumb);
    if (src) img.src = src;
    figure.append(img, el("figcaption", {}, `#${p.index}`));
    pressable(figure, `debug image ${p.index}`, () => { model.set("image", p.index === chosen ? -1 : p.index); model.save_changes(); });
    grid.append(figure);
  }
  box.append(grid);
  if (g.hidden) box.append(el("div", { class: "isw-muted" }, `and ${g.hidden} more`));
}

// Three bars on one scale: attribution on this image, mean on the errors, mean on the reference.
function bars(/** @type {UnitRow} */ u, scale) {
  const width = 300, left = 110, rowH = 14;
  const rows = [["this image", u.this_image], ["errors (mean)", u.on_errors], ["correct reference", u.on_reference]];
  const svg = el("svg:svg", { width, height: rowH * rows.length + 2, "data-testid": "unit-bars" });
  const mid = left + (width - left) / 2, half = (width - left) / 2 - 4;
  svg.append(el("svg:line", { x1: mid, x2: mid, y1: 0, y2: rowH * rows.length, stroke: ink("edge") }));
  rows.forEach(([name, v], i) => {
    const y = i * rowH;
    svg.append(el("svg:text", { x: left - 6, y: y + 11, "text-anchor": "end", "font-size": 10 }, name));
    if (v === null || !Number.isFinite(v)) return;
    const length = (half * Math.abs(v)) / scale;
    const bar = el("svg:rect", {
      x: v >= 0 ? mid : mid - length, y: y + 2, width: Math.max(1, length), height: rowH - 4,
      fill: v >= 0 ? "#b42318" : "#4e79a7",
    });
    bar.append(el("svg:title", {}, `${name}: ${fixed(v, 3)}`));
    svg.append(bar);
  });
  return svg;
}

function drawUnits(box, model, thumbs) {
  box.replaceChildren();
  /** @type {DiagnosisView} */ const d = model.get("diagnosis") || {};
  if (!d.units) return;
  const off = new Set(model.get("ablate") || []);
  box.append(el("div", { class: "isw-section", "data-testid": "diagnosis-title" }, d.title));
  box.append(el("div", { class: "isw-muted" },
    `${d.units.length} of ${d.total_units} units, by the contrastive contribution to the margin (wrong − true logit) that they make on the errors` +
    (d.image === -1 ? "; each shown on the error it pushes most" : `; on image #${d.image}`)));
  const scale = Math.max(1e-6, ...d.units.flatMap((/** @type {UnitRow} */ u) => [u.this_image, u.on_errors, u.on_reference].filter(Number.isFinite).map(Math.abs)));
  for (/** @type {UnitRow} */ const u of d.units) {
    const card = el("div", { class: "isw-unit" + (off.has(u.name) ? " isw-off" : ""), "data-testid": "unit", "data-unit": u.name });
    const title = el("div", { class: "isw-unit-title" });
    const toggle = el("input", { type: "checkbox", "data-testid": "ablate-toggle" });
    toggle.checked = off.has(u.name);
    toggle.addEventListener("change", () => {
      const now = new Set(model.get("ablate") || []);
      if (toggle.checked) now.add(u.name); else now.delete(u.name);
      model.set("ablate", d.units.map((/** @type {UnitRow} */ x) => x.name).filter((name) => now.has(name)));
      model.save_changes();
    });
    const label = el("label");
    label.append(toggle, el("span", {}, " ablate"));
    const what = el("span", { class: "isw-grow" });
    what.append(el("b", {}, u.name), el("span", { class: "isw-muted" }, ` · ${u.neurons} neurons · `),
      el("span", { "data-testid": "unit-label" }, u.label || "no concept label"));
    title.append(what, label);
    card.append(title);
    card.append(el("div", { "data-testid": "unit-score" },
      `evidence ${fixed(u.evidence, 3)} · contribution ${fixed(u.contribution, 3)} ± ${fixed(u.spread, 3)} · mean on the errors ${fixed(u.on_errors, 3)}`));
    const row = el("div");
    const boxed = el("span", { class: "isw-boxed", title: `#${u.image.index}` });
    const img = el("img", { alt: `image ${u.image.index}`, "data-testid": "unit-image", "data-thumb": u.image.thumb });
    const src = thumbs.url(d.owner, u.image.thumb);
    if (src) img.src = src;
    boxed.append(img);
    if (u.box) {
      const [top, left, bottom, right] = u.box;
      boxed.append(el("div", {
        "data-testid": "unit-box",
        style: `top:${(100 * top) / d.height}%;left:${(100 * left) / d.width}%;` +
               `height:${(100 * (bottom - top)) / d.height}%;width:${(100 * (right - left)) / d.width}%`,
      }));
    }
    row.append(boxed, bars(u, scale));
    card.append(row);
    const grid = el("div", { class: "isw-grid" });
    for (/** @type {Picture} */ const p of u.top_images) {
      const top = el("img", { alt: `image ${p.index}`, title: `#${p.index}`, "data-testid": "unit-top-image", "data-thumb": p.thumb });
      const url = thumbs.url(d.owner, p.thumb);
      if (url) top.src = url;
      grid.append(top);
    }
    card.append(el("div", { class: "isw-muted" }, "top images"), grid);
    box.append(card);
  }
}

function drawIntervention(box, model) {
  box.replaceChildren();
  /** @type {InterventionView} */ const v = model.get("intervention") || {};
  if (!v.units) {
    box.append(el("div", { class: "isw-muted" }, "toggle ablate on units to switch them off together"));
    return;
  }
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  box.append(el("div", { class: "isw-section", "data-testid": "fix-rate" },
    `Switching off ${v.units.join(" + ")} fixes ${v.fixed} of ${v.errors} errors (${pct(v.fix_rate)})`));
  box.append(el("div", { class: "isw-muted" }, v.mode === "mean"
    ? "their outputs replaced by their mean over the probe images" : "their outputs replaced by zero"));
  if (v.image_now) box.append(el("div", {}, `the chosen image is now predicted ${v.image_now}`));
  for (/** @type {CandidateFix} */ const a of v.alone) box.append(el("div", { class: "isw-muted" }, `${a.name} alone: ${pct(a.fix_rate)}`));
  box.append(el("div", { "data-testid": "cost" },
    `cost: accuracy on the other images ${fixed(100 * v.other_accuracy_change, 1)} points; ` +
    `on the images right before ${fixed(100 * v.right_before_change, 1)} points`));
  const table = el("table", { "data-testid": "cost-table" });
  const head = el("tr");
  head.append(el("th", {}, "class"), el("th", {}, "accuracy change"));
  table.append(head);
  for (/** @type {ClassCost} */ const c of v.classes) {
    const tr = el("tr");
    tr.append(el("td", {}, c.name), el("td", {}, c.change === null ? "–" : `${fixed(100 * c.change, 1)} pts`));
    table.append(tr);
  }
  box.append(table);
}

function render({ model, el: root }) {
  const wrapper = mount(root, STYLE, "debugger-view");
  const left = el("div", { class: "isw-panel" }), right = el("div", { class: "isw-panel" });
  const tableBox = el("div"), gridBox = el("div"), fixBox = el("div", { "data-testid": "intervention" }), unitBox = el("div");
  left.append(tableBox, gridBox);
  right.append(fixBox, unitBox);
  wrapper.append(left, right);
  const errorThumbs = pictures(model, "error_thumbnails");
  const thumbs = pictures(model);
  const redrawLeft = () => { drawTable(tableBox, model); drawGrid(gridBox, model, errorThumbs); };
  const redrawUnits = () => drawUnits(unitBox, model, thumbs);
  const redrawFix = () => drawIntervention(fixBox, model);
  redrawLeft(); redrawUnits(); redrawFix();
  return listen(model, [
    ["change:table", redrawLeft],
    ["change:cell", redrawLeft],
    ["change:image", redrawLeft],
    ["change:errors", redrawLeft],
    ["change:error_thumbnails", () => { errorThumbs.refresh(); redrawLeft(); }],
    ["change:diagnosis", redrawUnits],
    ["change:ablate", redrawUnits],
    ["change:thumbnails", () => { thumbs.refresh(); redrawUnits(); }],
    ["change:intervention", redrawFix],
    ...ownChrome(model, wrapper, "debugger-status"),
  ], () => { thumbs.release(); errorThumbs.release(); });
}

export default { render };
