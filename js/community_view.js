// CommunityView: the graph of communities (or neurons) and the selected community's details.
// Reads the records of innersight_widgets/widgets/payloads.py: CommunityGraph, CommunityDetails,
// ImportanceSummary and Thumbnails. Helpers (el, mount, pictures, ...) come from _prelude.js.

const STYLE = `
.isw-graph { flex: 0 0 auto; }
`;

function drawGraph(container, model) {
  container.replaceChildren();
  const graph = model.get("graph") || {};
  const nodes = graph.nodes || [];
  const selected = model.get("selected");
  const size = 440, pad = 40;
  const px = (v) => pad + v * (size - 2 * pad);
  container.append(el("div", { "data-testid": "community-count" }, `${graph.communities || 0} communities`));
  const svg = el("svg:svg", {
    class: "isw-canvas", width: size, height: size, viewBox: `0 0 ${size} ${size}`, "data-testid": "community-graph",
  });
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
    circle.append(el("svg:title", {}, n.title));
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
      if (n.caption) {
        svg.append(el("svg:text", {
          x: px(n.x), y: px(n.y) + r + 11, "text-anchor": "middle", "font-size": 10, "pointer-events": "none",
          fill: "#333", "data-testid": "community-caption",
        }, n.caption));
      }
    }
  }
  container.append(svg);
  container.append(el("div", { class: "isw-muted" },
    neuronMode ? "each dot is a neuron, coloured by community; click one to open its community"
               : "each disc is a community (area = members), captioned with the concept it best detects; click one to open it"));
}

function barChart({ labels, values, nulls = null, spreads = null, testid, title, digits = 2 }) {
  const width = 440, rowH = 18, left = 96, top = 18, valueX = width - 48;
  const height = top + rowH * labels.length + 6;
  const svg = el("svg:svg", { width, height, "data-testid": testid });
  svg.append(el("svg:text", { x: 0, y: 12, "font-size": 11, fill: "#555" }, title));
  const finite = values.concat(nulls || []).filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...finite), hi = Math.max(1e-6, ...finite);
  const scale = (v) => left + ((v - lo) / (hi - lo || 1)) * (valueX - left - 10);
  labels.forEach((label, i) => {
    const y = top + i * rowH;
    const name = el("svg:text", { x: left - 6, y: y + 12, "text-anchor": "end", "font-size": 11 }, label.length > 14 ? label.slice(0, 13) + "…" : label);
    name.append(el("svg:title", {}, label));
    svg.append(name);
    const v = values[i];
    if (v !== null && Number.isFinite(v)) {
      const x0 = scale(Math.min(0, v)), x1 = scale(Math.max(0, v));
      svg.append(el("svg:rect", { x: x0, y: y + 2, width: Math.max(1, x1 - x0), height: rowH - 6, fill: "#4e79a7" }));
      svg.append(el("svg:text", { x: valueX, y: y + 12, "font-size": 10, fill: "#333" }, v.toFixed(digits)));
    }
    if (nulls && nulls[i] !== null && Number.isFinite(nulls[i])) {
      const m = nulls[i], s = spreads && spreads[i] !== null ? spreads[i] : 0;
      svg.append(el("svg:line", { x1: scale(m - s), x2: scale(m + s), y1: y + rowH / 2, y2: y + rowH / 2, stroke: "#e15759", "stroke-width": 2 }));
      svg.append(el("svg:circle", { cx: scale(m), cy: y + rowH / 2, r: 3, fill: "#e15759" }));
    }
  });
  return svg;
}

function imageGrid(items, url, testid, itemid, caption) {
  const grid = el("div", { class: "isw-grid", "data-testid": testid });
  for (const item of items) {
    const [first, second, wrong] = caption(item);
    const figure = el("figure");
    const img = el("img", { "data-testid": itemid, "data-thumb": item.thumb, alt: `${first} ${second}` });
    const src = url(item.thumb);
    if (src) img.src = src;
    figure.append(img, el("figcaption", { class: wrong ? "isw-wrong" : "" }, first));
    if (second) figure.append(el("figcaption", { class: "isw-muted" }, second));
    grid.append(figure);
  }
  return grid;
}

function drawImportance(container, d) {
  const imp = d.importance;
  container.append(el("div", { class: "isw-section" }, "Ablation: accuracy drop per class when the community is zeroed"));
  if (!imp) {
    container.append(el("div", { class: "isw-muted", "data-testid": "ablation-pending" }, "ablating the community …"));
    return;
  }
  const done = imp.draws === imp.total_draws;
  const sample = imp.images === imp.probe_images ? `all ${imp.images} probe images` : `${imp.images} of ${imp.probe_images} probe images`;
  container.append(barChart({
    labels: d.classes, values: imp.class_drop, nulls: imp.null_class_mean, spreads: imp.null_class_std,
    testid: "ablation-chart", digits: 3,
    title: `blue: this community · red: ${imp.draws} of ${imp.total_draws} random sets of its size (mean ± sd)`,
  }));
  const against = imp.draws
    ? ` vs random ${fixed(imp.null_mean, 3)} ± ${fixed(imp.null_std, 3)}, p = ${fixed(imp.p_value, 3)}` + (imp.z_score === null ? "" : `, z = ${imp.z_score.toFixed(1)}`)
    : "; random sets of its size follow";
  container.append(el("div", { "data-testid": done ? "ablation-summary" : "ablation-progress" },
    `overall drop ${imp.accuracy_drop.toFixed(3)}${against} (on ${sample})${done ? "" : " …"}`));
}

function drawDetails(container, model, url) {
  container.replaceChildren();
  const d = model.get("details") || {};
  if (d.community === undefined) {
    container.append(el("div", { class: "isw-muted", "data-testid": "details-empty" }, "Click a community in the graph to see what it does."));
    return;
  }
  const mine = (thumb) => url(d.owner, thumb);
  const label = d.label ? ` · ${d.label.concept} = ${d.label.value} (AUROC ${d.label.auroc.toFixed(2)})` : "";
  container.append(el("h3", { "data-testid": "details-title" }, `Community ${d.community} · ${d.size} neurons${label}`));

  container.append(el("div", { class: "isw-section" }, "Top-activating images (label → predicted; image # · community score)"));
  container.append(imageGrid(d.images, mine, "image-grid", "community-image",
    (m) => [m.label === m.predicted ? m.label : `${m.label} → ${m.predicted}`, `#${m.index} · ${m.score.toFixed(1)}`, m.label !== m.predicted]));
  if (d.patches.length) {
    container.append(el("div", { class: "isw-section" }, "Receptive fields where the strongest member peaks"));
    container.append(imageGrid(d.patches, mine, "patch-grid", "community-patch", (p) => [p.neuron, `#${p.index}`, false]));
  }

  container.append(el("div", { class: "isw-section" }, `Class selectivity (index ${fixed(d.selectivity)})`));
  const which = d.classes.length < d.classes_of ? ` (${d.classes.length} of ${d.classes_of})` : "";
  container.append(barChart({ labels: d.classes, values: d.class_means, testid: "selectivity-chart", title: `mean z-scored community activation per class${which}` }));
  drawImportance(container, d);

  container.append(el("div", { class: "isw-section" }, "Coherence"));
  container.append(el("div", {}, `mean correlation within ${fixed(d.within)}, to the rest of the layer ${fixed(d.outside)}`));
  if (d.concepts.length) {
    container.append(el("div", { class: "isw-section" }, "Concepts (AUROC of the community score)"));
    container.append(el("div", { "data-testid": "concepts" }, d.concepts.map((s) => `${s.concept}=${s.value} ${s.auroc.toFixed(2)}`).join(" · ")));
  }
  const members = el("details", { "data-testid": "members" });
  members.append(el("summary", {}, `${d.members.length} members`));
  members.append(el("div", { class: "isw-muted" }, d.members.join(", ")));
  container.append(members);
}

function render({ model, el: root }) {
  const wrapper = mount(root, STYLE, "community-explorer");
  const graphBox = el("div", { class: "isw-graph" });
  const detailsBox = el("div", { class: "isw-panel", "data-testid": "community-details" });
  wrapper.append(graphBox, detailsBox);
  const thumbs = pictures(model);
  const redrawGraph = () => drawGraph(graphBox, model);
  const redrawDetails = () => drawDetails(detailsBox, model, thumbs.url);
  redrawGraph();
  redrawDetails();
  return listen(model, [
    ["change:graph", redrawGraph],
    ["change:selected", redrawGraph],
    ["change:details", redrawDetails],
    ["change:thumbnails", () => { thumbs.refresh(); redrawDetails(); }],
  ], thumbs.release);
}

export default { render };
