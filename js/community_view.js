// CommunityView: the graph of communities (or neurons) and the selected community's details.
// A dependency-free ES module that anywidget loads as is. Text from data is only ever set
// through textContent, never parsed as HTML.

const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];
const SVG = "http://www.w3.org/2000/svg";
const STYLE = `
.isw-root { display: flex; gap: 16px; font: 13px system-ui, sans-serif; color: #222; align-items: flex-start; }
.isw-graph { flex: 0 0 460px; }
.isw-graph svg { border: 1px solid #ddd; border-radius: 6px; background: #fcfcfc; }
.isw-node { cursor: pointer; stroke: #fff; stroke-width: 1.5; }
.isw-node.isw-selected { stroke: #111; stroke-width: 3; }
.isw-details { flex: 1 1 auto; min-width: 320px; }
.isw-details h3 { margin: 0 0 6px; font-size: 15px; }
.isw-grid { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.isw-grid figure { margin: 0; width: 76px; text-align: center; }
.isw-grid img { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.isw-grid figcaption { font-size: 10px; line-height: 1.2; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.isw-wrong { color: #b42318; }
.isw-muted { color: #777; }
.isw-section { margin: 8px 0 2px; font-weight: 600; }
`;

function el(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function colour(community) {
  return community < 0 ? "#bbb" : PALETTE[community % PALETTE.length];
}

function drawGraph(container, model) {
  container.replaceChildren();
  const graph = model.get("graph") || {};
  const nodes = graph.nodes || [];
  const communities = graph.communities || [];
  const selected = model.get("selected");
  const size = 440, pad = 34;
  const px = (v) => pad + v * (size - 2 * pad);
  const count = el("div", { "data-testid": "community-count" }, `${communities.length} communities`);
  container.append(count);
  const svg = el("svg:svg", { width: size, height: size, viewBox: `0 0 ${size} ${size}`, "data-testid": "community-graph" });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const maxWeight = Math.max(1e-6, ...(graph.edges || []).map((e) => e.w));
  for (const e of graph.edges || []) {
    const a = byId.get(e.a), b = byId.get(e.b);
    if (!a || !b) continue;
    svg.append(el("svg:line", {
      x1: px(a.x), y1: px(a.y), x2: px(b.x), y2: px(b.y),
      stroke: "#888", "stroke-opacity": (0.15 + 0.6 * e.w / maxWeight).toFixed(3), "stroke-width": 1,
    }));
  }
  const maxSize = Math.max(1, ...nodes.map((n) => n.size));
  const neuronMode = graph.mode === "neurons";
  for (const n of nodes) {
    const r = neuronMode ? 4 : 8 + 22 * Math.sqrt(n.size / maxSize);
    const circle = el("svg:circle", {
      cx: px(n.x), cy: px(n.y), r, fill: colour(n.community),
      class: "isw-node" + (n.community === selected && n.community >= 0 ? " isw-selected" : ""),
      "data-testid": neuronMode ? "neuron-node" : "community-node",
      "data-community": n.community,
    });
    const title = el("svg:title", {}, neuronMode
      ? `${n.label} (community ${n.community})`
      : `community ${n.community}: ${n.size} neurons${n.label ? ", " + n.label : ""}`);
    circle.append(title);
    circle.addEventListener("click", () => {
      if (n.community < 0) return;
      model.set("selected", n.community);
      model.save_changes();
    });
    svg.append(circle);
    if (!neuronMode) {
      svg.append(el("svg:text", {
        x: px(n.x), y: px(n.y) + 4, "text-anchor": "middle", "font-size": 11, "pointer-events": "none", fill: "#111",
      }, String(n.community)));
    }
  }
  container.append(svg);
  const legend = el("div", { class: "isw-muted" },
    neuronMode ? "each dot is a neuron, coloured by community; click one to open its community"
               : "each disc is a community (area = members); click one to open it");
  container.append(legend);
}

function barChart({ labels, values, nulls = null, spreads = null, testid, title, format = (v) => v.toFixed(2) }) {
  const width = 440, rowH = 18, left = 90, top = 18, valueX = width - 44;
  const height = top + rowH * labels.length + 6;
  const svg = el("svg:svg", { width, height, "data-testid": testid });
  svg.append(el("svg:text", { x: 0, y: 12, "font-size": 11, fill: "#555" }, title));
  const finite = values.concat(nulls || []).filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...finite), hi = Math.max(1e-6, ...finite);
  const scale = (v) => left + ((v - lo) / (hi - lo || 1)) * (valueX - left - 10);
  labels.forEach((label, i) => {
    const y = top + i * rowH;
    svg.append(el("svg:text", { x: left - 6, y: y + 12, "text-anchor": "end", "font-size": 11 }, label));
    const v = values[i];
    if (v !== null && Number.isFinite(v)) {
      const x0 = scale(Math.min(0, v)), x1 = scale(Math.max(0, v));
      svg.append(el("svg:rect", { x: x0, y: y + 2, width: Math.max(1, x1 - x0), height: rowH - 6, fill: "#4e79a7" }));
      svg.append(el("svg:text", { x: valueX, y: y + 12, "font-size": 10, fill: "#333" }, format(v)));
    }
    if (nulls && nulls[i] !== null) {
      const m = nulls[i], s = spreads ? spreads[i] || 0 : 0;
      svg.append(el("svg:line", { x1: scale(m - s), x2: scale(m + s), y1: y + rowH / 2, y2: y + rowH / 2, stroke: "#e15759", "stroke-width": 2 }));
      svg.append(el("svg:circle", { cx: scale(m), cy: y + rowH / 2, r: 3, fill: "#e15759" }));
    }
  });
  return svg;
}

function imageGrid(items, urls, testid, caption) {
  const grid = el("div", { class: "isw-grid", "data-testid": testid });
  items.forEach((item, i) => {
    const figure = el("figure");
    const img = el("img", { "data-testid": testid === "image-grid" ? "community-image" : "community-patch", alt: caption(item).join(" ") });
    if (urls[i]) img.src = urls[i];
    figure.append(img);
    const [first, second, wrong] = caption(item);
    const cap = el("figcaption", { class: wrong ? "isw-wrong" : "" }, first);
    figure.append(cap);
    if (second) figure.append(el("figcaption", { class: "isw-muted" }, second));
    grid.append(figure);
  });
  return grid;
}

function drawDetails(container, model, urls) {
  container.replaceChildren();
  const d = model.get("details") || {};
  if (d.community === undefined) {
    container.append(el("div", { class: "isw-muted", "data-testid": "details-empty" }, "Click a community in the graph to see what it does."));
    return;
  }
  const label = d.label ? ` · ${d.label.concept} = ${d.label.value} (AUROC ${d.label.auroc.toFixed(2)})` : "";
  container.append(el("h3", { "data-testid": "details-title" }, `Community ${d.community} · ${d.size} neurons${label}`));

  container.append(el("div", { class: "isw-section" }, "Top-activating images (label → predicted)"));
  const images = d.images || [];
  container.append(imageGrid(images, urls.slice(0, images.length), "image-grid",
    (m) => [m.label === m.predicted ? m.label : `${m.label} → ${m.predicted}`, `#${m.index}`, m.label !== m.predicted]));
  const patches = d.patches || [];
  if (patches.length) {
    container.append(el("div", { class: "isw-section" }, "Receptive fields where the strongest member peaks"));
    container.append(imageGrid(patches, urls.slice(images.length), "patch-grid", (p) => [p.neuron, `#${p.index}`, false]));
  }

  container.append(el("div", { class: "isw-section" }, `Class selectivity (index ${d.selectivity.toFixed(2)})`));
  container.append(barChart({ labels: d.classes, values: d.class_means, testid: "selectivity-chart", title: "mean z-scored community activation per class" }));

  container.append(el("div", { class: "isw-section" }, "Ablation: accuracy drop per class when the community is zeroed"));
  const imp = d.importance;
  if (!imp) {
    container.append(el("div", { class: "isw-muted", "data-testid": "ablation-pending" }, "testing against random neuron sets …"));
  } else {
    container.append(barChart({
      labels: d.classes, values: imp.class_drop, nulls: imp.null_class_mean, spreads: imp.null_class_std,
      testid: "ablation-chart", title: `blue: this community · red: ${imp.draws} random sets of its size (mean ± sd)`, format: (v) => v.toFixed(3),
    }));
    container.append(el("div", { "data-testid": "ablation-summary" },
      `overall drop ${imp.accuracy_drop.toFixed(3)} vs random ${imp.null_mean.toFixed(3)} ± ${imp.null_std.toFixed(3)}, ` +
      `p = ${imp.p_value.toFixed(3)}` + (imp.z_score === null ? "" : `, z = ${imp.z_score.toFixed(1)}`)));
  }

  const c = d.coherence || {};
  const fmt = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));
  container.append(el("div", { class: "isw-section" }, "Coherence"));
  container.append(el("div", {}, `mean correlation within ${fmt(c.within)}, to the rest of the layer ${fmt(c.outside)}`));
  if ((d.concepts || []).length) {
    container.append(el("div", { class: "isw-section" }, "Concepts (AUROC of the community score)"));
    container.append(el("div", { "data-testid": "concepts" }, d.concepts.map((s) => `${s.concept}=${s.value} ${s.auroc.toFixed(2)}`).join(" · ")));
  }
  const members = el("details", { "data-testid": "members" });
  members.append(el("summary", {}, `${d.members.length} members`));
  members.append(el("div", { class: "isw-muted" }, d.members.join(", ")));
  container.append(members);
}

function render({ model, el: root }) {
  const style = document.createElement("style");
  style.textContent = STYLE;
  const wrapper = el("div", { class: "isw-root", "data-testid": "community-explorer" });
  const graphBox = el("div", { class: "isw-graph" });
  const detailsBox = el("div", { class: "isw-details", "data-testid": "community-details" });
  wrapper.append(graphBox, detailsBox);
  root.append(style, wrapper);

  let urls = [];
  const refreshImages = () => {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = (model.get("thumbnails") || []).map((buffer) => URL.createObjectURL(new Blob([buffer], { type: "image/png" })));
  };
  const redrawGraph = () => drawGraph(graphBox, model);
  const redrawDetails = () => drawDetails(detailsBox, model, urls);
  const onImages = () => { refreshImages(); redrawDetails(); };

  refreshImages();
  redrawGraph();
  redrawDetails();
  model.on("change:graph", redrawGraph);
  model.on("change:selected", redrawGraph);
  model.on("change:details", redrawDetails);
  model.on("change:thumbnails", onImages);
  return () => {
    model.off("change:graph", redrawGraph);
    model.off("change:selected", redrawGraph);
    model.off("change:details", redrawDetails);
    model.off("change:thumbnails", onImages);
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}

export default { render };
