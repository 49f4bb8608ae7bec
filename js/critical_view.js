// CriticalNeuronsView: the selected neurons (W, selection frequency), the mechanisms as image
// grids, and the comparison with random and saliency-ranked neuron sets. Dependency-free.

const STYLE = `
.ikv-root { font: 13px system-ui, sans-serif; color: #222; display: flex; gap: 18px; align-items: flex-start; }
.ikv-root table { border-collapse: collapse; font-size: 12px; }
.ikv-root td, .ikv-root th { padding: 1px 8px; text-align: right; border-bottom: 1px solid #eee; }
.ikv-bar { display: inline-block; height: 8px; background: #4e79a7; vertical-align: middle; }
.ikv-grid { display: flex; flex-wrap: wrap; gap: 4px; margin: 2px 0 10px; }
.ikv-grid img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.ikv-section { margin: 8px 0 2px; font-weight: 600; }
.ikv-muted { color: #777; }
`;

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function drawSelection(box, model) {
  box.replaceChildren();
  const s = model.get("selection") || {};
  if (!s.layer) return;
  box.append(el("div", { class: "ikv-section", "data-testid": "critical-count" },
    `${(s.neurons || []).length} critical neurons of ${s.layer} for "${s.class}" at FDR ${s.fdr.toFixed(2)}`));
  const table = el("table", { "data-testid": "critical-table" });
  const head = el("tr");
  ["neuron", "W", "selected in runs"].forEach((h) => head.append(el("th", {}, h)));
  table.append(head);
  for (const n of s.neurons || []) {
    const row = el("tr");
    row.append(el("td", {}, String(n.neuron)), el("td", {}, n.w.toFixed(3)));
    const cell = el("td");
    cell.append(el("span", { class: "ikv-bar", style: `width: ${Math.round(60 * n.frequency)}px` }), el("span", {}, ` ${Math.round(100 * n.frequency)}%`));
    row.append(cell);
    table.append(row);
  }
  box.append(table);
  const notes = [];
  if (s.set_aside) notes.push(`${s.set_aside} constant neurons set aside`);
  if (s.no_power_runs) notes.push(`${s.no_power_runs} runs without power`);
  if (notes.length) box.append(el("div", { class: "ikv-muted" }, notes.join("; ")));
}

function drawMechanisms(box, model, urls) {
  box.replaceChildren();
  const m = model.get("mechanisms") || {};
  if (!m.mechanisms) return;
  let at = 0;
  m.mechanisms.forEach((mech, i) => {
    box.append(el("div", { class: "ikv-section" }, `Mechanism ${i}: ${mech.size} images` + (mech.dominant ? ` · mostly ${mech.dominant}` : "")));
    const grid = el("div", { class: "ikv-grid", "data-testid": "mechanism-grid" });
    mech.images.forEach((index) => {
      const img = el("img", { alt: `image ${index}`, "data-testid": "mechanism-image" });
      if (urls[at]) img.src = urls[at];
      at += 1;
      grid.append(img);
    });
    box.append(grid);
  });
  const r = m.report;
  if (r) {
    box.append(el("div", { "data-testid": "mechanism-report" },
      `NMI with ${r.concept}: ${r.nmi.toFixed(2)} (random sets of the same size ${r.random_nmi.toFixed(2)}, ` +
      `most salient neurons ${r.saliency_nmi.toFixed(2)}); H(${r.concept} | mechanism) = ${r.conditional_entropy.toFixed(2)} nats`));
  }
  const a = m.ablation;
  if (a) {
    box.append(el("div", { "data-testid": "ablation-comparison" },
      `Zeroing the ${a.neurons} critical neurons drops the class's accuracy by ${a.critical.toFixed(3)}; ` +
      `as many random neurons ${a.random.toFixed(3)} ± ${a.random_std.toFixed(3)}, the most salient ${a.saliency.toFixed(3)}`));
  }
}

function render({ model, el: root }) {
  const style = document.createElement("style");
  style.textContent = STYLE;
  const wrapper = el("div", { class: "ikv-root", "data-testid": "critical-view" });
  const left = el("div"), right = el("div");
  wrapper.append(left, right);
  root.append(style, wrapper);
  let urls = [];
  const images = () => {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = (model.get("thumbnails") || []).map((b) => URL.createObjectURL(new Blob([b], { type: "image/png" })));
  };
  const redraw = () => { drawSelection(left, model); drawMechanisms(right, model, urls); };
  const onImages = () => { images(); redraw(); };
  images();
  redraw();
  model.on("change:selection", redraw);
  model.on("change:mechanisms", redraw);
  model.on("change:thumbnails", onImages);
  return () => {
    model.off("change:selection", redraw);
    model.off("change:mechanisms", redraw);
    model.off("change:thumbnails", onImages);
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}

export default { render };
