// CriticalNeuronsView: the selected neurons (W, selection frequency), the mechanisms as grids of
// their most typical images, and the comparison with random and saliency-ranked neuron sets.
// Reads the records of innersight_widgets/widgets/payloads/critical_view.py: CriticalSelection,
// MechanismsView and Thumbnails, each through a variable annotated with its name.

const STYLE = `
.isw-bar { display: inline-block; height: 8px; background: #4e79a7; vertical-align: middle; }
.isw-mechanism-grid img { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid var(--isw-border); background: #000; }
`;

function drawSelection(box, model) {
  box.replaceChildren();
  /** @type {CriticalSelection} */ const s = model.get("selection") || {};
  if (!s.layer) return;
  box.append(el("div", { class: "isw-section", "data-testid": "critical-count" },
    `${s.neurons.length} critical neurons of ${s.layer} for "${s.class_name}" at FDR ${s.fdr.toFixed(2)}`));
  const table = el("table", { "data-testid": "critical-table" });
  const head = el("tr");
  ["neuron", "W", "selected in runs"].forEach((h) => head.append(el("th", {}, h)));
  table.append(head);
  for (/** @type {CriticalNeuron} */ const n of s.neurons) {
    const row = el("tr");
    row.append(el("td", {}, String(n.neuron)), el("td", {}, n.w.toFixed(3)));
    const cell = el("td");
    cell.append(el("span", { class: "isw-bar", style: `width: ${Math.round(60 * n.frequency)}px` }), el("span", {}, ` ${Math.round(100 * n.frequency)}%`));
    row.append(cell);
    table.append(row);
  }
  box.append(table);
  const notes = [];
  if (s.threshold !== null) notes.push(`W threshold ${s.threshold.toFixed(3)}`);
  if (s.set_aside) notes.push(`${s.set_aside} constant neurons set aside`);
  if (s.no_power_runs) notes.push(`${s.no_power_runs} runs without power`);
  if (notes.length) box.append(el("div", { class: "isw-muted" }, notes.join("; ")));
}

function drawMechanisms(box, model, thumbs) {
  box.replaceChildren();
  /** @type {MechanismsView} */ const m = model.get("mechanisms") || {};
  if (!m.mechanisms) return;
  box.append(el("div", { class: "isw-muted" }, `${m.k} mechanisms; each shows the images closest to its centre`));
  m.mechanisms.forEach((/** @type {Mechanism} */ mech, i) => {
    box.append(el("div", { class: "isw-section", "data-testid": "mechanism-title" },
      `Mechanism ${i}: ${mech.size} images` + (mech.dominant ? ` · ${mech.dominant}` : "")));
    const grid = el("div", { class: "isw-grid isw-mechanism-grid", "data-testid": "mechanism-grid" });
    for (/** @type {MechanismImage} */ const image of mech.images) {
      const img = el("img", { alt: `image ${image.index}`, title: `#${image.index}`, "data-testid": "mechanism-image", "data-thumb": image.thumb });
      const src = thumbs.url(m.owner, image.thumb);
      if (src) img.src = src;
      grid.append(img);
    }
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
  const wrapper = mount(root, STYLE, "critical-view");
  const left = el("div"), right = el("div", { class: "isw-panel" });
  wrapper.append(left, right);
  const thumbs = pictures(model);
  const redraw = () => { drawSelection(left, model); drawMechanisms(right, model, thumbs); };
  redraw();
  return listen(model, [
    ["change:selection", redraw],
    ["change:mechanisms", redraw],
    ["change:thumbnails", () => { thumbs.refresh(); redraw(); }],
    ...ownChrome(model, wrapper, "critical-status"),
  ], thumbs.release);
}

export default { render };
