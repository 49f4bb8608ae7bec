// CircuitView: NeurFlow's circuit as a layered graph (class on top, lowest layer at the bottom),
// a group's crops, what it looks for, inputs and outputs, and image debugging. Reads the records of
// innersight_widgets/widgets/payloads/circuit_view.py: CircuitGraph, GroupDetails, DebugView and
// Thumbnails, each through a variable annotated with its name.

const STYLE = `
.isw-circuit-graph { flex: 0 0 auto; max-width: 542px; }
.isw-debug-table td:first-child { text-align: left; }
`;

function drawGraph(box, model) {
  box.replaceChildren();
  /** @type {CircuitGraph} */ const g = model.get("graph") || {};
  const nodes = g.nodes || [], edges = g.edges || [], levels = g.levels || [];
  /** @type {DebugView} */ const debug = model.get("debug") || {};
  const byGroup = new Map((debug.matches || []).map((/** @type {GroupMatch} */ m) => [m.group, m]));
  const width = 540, height = Math.max(220, 120 * levels.length), padX = 110, padY = 36;
  const px = (/** @type {CircuitNode} */ n) => padX + n.x * (width - padX - 20);
  const py = (/** @type {CircuitNode} */ n) => padY + n.y * (height - 2 * padY);
  const svg = el("svg:svg", { class: "isw-canvas", width, height, viewBox: `0 0 ${width} ${height}`, "data-testid": "circuit-graph" });
  levels.forEach((name, i) => {
    const y = padY + (levels.length > 1 ? i / (levels.length - 1) : 0) * (height - 2 * padY);
    svg.append(el("svg:text", { x: 6, y: y + 4, "font-size": 11, fill: ink("soft") }, name));
  });
  const byId = new Map(nodes.map((/** @type {CircuitNode} */ n) => [n.id, n]));
  const maxW = Math.max(1e-9, ...edges.map((/** @type {Edge} */ e) => e.w));
  for (/** @type {Edge} */ const e of edges) {
    const a = byId.get(e.a), b = byId.get(e.b);
    if (!a || !b) continue;
    svg.append(el("svg:line", {
      x1: px(a), y1: py(a), x2: px(b), y2: py(b), stroke: "#6a8caf",
      "stroke-width": (0.5 + 5 * e.w / maxW).toFixed(2), "stroke-opacity": 0.5,
    }));
  }
  const selected = model.get("selected");
  const maxSize = Math.max(1, ...nodes.map((/** @type {CircuitNode} */ n) => n.size));
  for (/** @type {CircuitNode} */ const n of nodes) {
    /** @type {GroupMatch} */ const m = byGroup.get(n.id);
    const debugged = debug.layer === n.layer;
    const lit = debugged && m !== undefined && m.lit;
    // no hue for "lit": a group labelled "red" drawn red would say a colour it may not detect
    const fill = debugged ? (lit ? ink("ink") : ink("null")) : n.fill;
    const r = 7 + 12 * Math.sqrt(n.size / maxSize);
    const circle = el("svg:circle", {
      cx: px(n), cy: py(n), r, fill, "fill-opacity": debugged || n.share >= 0.5 ? 1 : 0.5,
      class: "isw-node" + (n.id === selected ? " isw-selected" : ""),
      "data-testid": "circuit-group", "data-group": n.id, "data-lit": lit ? "1" : "0",
    });
    circle.append(el("svg:title", {}, `${n.id}: ${n.size} concepts${n.label ? ", " + n.label + " (" + n.share + ")" : ""}` +
      (debugged && m ? ` · best score ${m.best.toFixed(2)}, threshold ${m.threshold.toFixed(2)}` : "")));
    pressable(circle, `group ${n.id}${n.label ? ", " + n.label : ""}`, () => { model.set("selected", n.id); model.save_changes(); });
    svg.append(circle);
    if (n.label) {
      svg.append(el("svg:text", { x: px(n), y: py(n) + r + 10, "text-anchor": "middle", "font-size": 9, fill: ink("soft"), "pointer-events": "none" },
        n.label.split("=").pop()));
    }
  }
  box.append(svg);
  box.append(el("div", { class: "isw-muted", "data-testid": "circuit-legend" },
    "edge width = weight; a group labelled with a colour is drawn in it, the others in hues no colour word names; " +
    "faint: a group whose label holds for fewer than half of its top probe images" +
    (debug.layer ? `; in ${debug.layer} instead, black or white: groups the image lights, grey: groups it does not` : "") +
    (debug.rule ? `; ${debug.rule}` : "")));
  box.append(tableOf("the groups as a table", ["group", "layer", "concepts", "label", "the image lights it"],
    nodes.map((/** @type {CircuitNode} */ n) => {
      /** @type {GroupMatch} */ const m = byGroup.get(n.id);
      return [n.id, n.layer, n.size, n.label || "none", debug.layer !== n.layer ? "–" : m && m.lit ? "yes" : "no"];
    }), "circuit-table", (i) => { model.set("selected", nodes[i].id); model.save_changes(); }));
}

function drawGroup(box, model, thumbs, features) {
  /** @type {GroupDetails} */ const d = model.get("details") || {};
  if (!d.id) {
    box.append(el("div", { class: "isw-muted" }, "Click a group to see its crops, inputs and outputs."));
    return;
  }
  box.append(el("h3", { "data-testid": "group-title" }, d.label ? `${d.id} · ${d.label}` : d.id));
  box.append(el("div", { class: "isw-section" }, "Representative crops"));
  const grid = el("div", { class: "isw-grid", "data-testid": "group-crops" });
  for (/** @type {CropRef} */ const c of d.crops) {
    const img = el("img", { alt: `crop ${c.crop} of image ${c.image}`, "data-testid": "group-crop", "data-thumb": c.thumb });
    const src = thumbs.url(d.owner, c.thumb);
    if (src) img.src = src;
    grid.append(img);
  }
  box.append(grid);
  drawFeature(box, model, d.owner, features.url);
  const list = (title, items) => {
    box.append(el("div", { class: "isw-section" }, title));
    box.append(el("div", {}, items.length ? items.map((/** @type {Link} */ x) => `${x.group} (${x.weight})`).join(" · ") : "–"));
  };
  list("Strongest inputs", d.inputs);
  list("Strongest outputs", d.outputs);
  const members = el("details");
  members.append(el("summary", {}, `${d.members.length} neuron concepts`));
  members.append(el("div", { class: "isw-muted" }, d.members.join(", ")));
  box.append(members);
}

function drawDebug(box, model, picture) {
  /** @type {DebugView} */ const dbg = model.get("debug") || {};
  if (!dbg.matches) return;
  box.append(el("div", { class: "isw-section", "data-testid": "debug-caption" }, `Debug: image ${dbg.caption} in ${dbg.layer}`));
  const side = 192;
  const wrap = el("div", { style: `position: relative; width: ${side}px; height: ${side}px;`, "data-testid": "debug-image", "data-image": dbg.image });
  const img = el("img", { width: side, height: side, style: "image-rendering: pixelated;" });
  const src = picture.url(dbg.owner, "image");
  if (src) img.src = src;
  wrap.append(img);
  /** @type {GroupMatch} */ const top = dbg.matches.find((/** @type {GroupMatch} */ m) => m.lit);
  if (top) {
    const svg = el("svg:svg", { width: side, height: side, style: "position: absolute; left: 0; top: 0;" });
    for (const [t, l, b, r] of top.boxes) {
      svg.append(el("svg:rect", { x: l / dbg.width * side, y: t / dbg.height * side, width: (r - l) / dbg.width * side,
        height: (b - t) / dbg.height * side, fill: "none", stroke: "#e15759", "stroke-width": 2 }));
    }
    wrap.append(svg);
  }
  box.append(wrap);
  box.append(el("div", { class: "isw-muted" }, dbg.rule + (top ? `; boxes: where ${top.group} is lit` : "; no group is lit")));
  const table = el("table", { class: "isw-debug-table", "data-testid": "debug-summary" });
  const head = el("tr");
  ["group", "best score", "threshold", "lit"].forEach((h) => head.append(el("th", {}, h)));
  table.append(head);
  for (/** @type {GroupMatch} */ const m of dbg.matches) {
    const row = el("tr", { "data-lit": m.lit ? "1" : "0" });
    row.append(el("td", {}, m.group), el("td", {}, m.best.toFixed(2)), el("td", {}, m.threshold.toFixed(2)), el("td", {}, m.lit ? "✓" : ""));
    table.append(row);
  }
  box.append(table);
}

function render({ model, el: root }) {
  const wrapper = mount(root, STYLE, "circuit-view");
  const graphBox = el("div", { class: "isw-circuit-graph" });
  const side = el("div", { class: "isw-panel" });
  wrapper.append(graphBox, side);
  const thumbs = pictures(model);
  const picture = pictures(model, "debug_image");
  const features = pictures(model, "feature_pictures");
  const redrawSide = () => {
    side.replaceChildren();
    drawGroup(side, model, thumbs, features);
    drawDebug(side, model, picture);
  };
  const redraw = () => {
    drawGraph(graphBox, model);
    redrawSide();
  };
  redraw();
  return listen(model, [
    ["change:graph", redraw],
    ["change:selected", redraw],
    ["change:details", redraw],
    ["change:debug", redraw],
    ["change:thumbnails", () => { thumbs.refresh(); redraw(); }],
    ["change:debug_image", () => { picture.refresh(); redraw(); }],
    ["change:feature", redrawSide],
    ["change:feature_pictures", () => { features.refresh(); redrawSide(); }],
    ...ownChrome(model, wrapper, "circuit-status"),
  ], () => { thumbs.release(); picture.release(); features.release(); });
}

export default { render };
