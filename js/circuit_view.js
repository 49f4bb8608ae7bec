// CircuitView: NeurFlow's circuit as a layered graph (class on top, lowest layer at the bottom),
// a group's crops, inputs and outputs, and image debugging. Dependency-free; text from data
// only goes through textContent.

const SVG = "http://www.w3.org/2000/svg";
const STYLE = `
.icv-root { display: flex; gap: 16px; font: 13px system-ui, sans-serif; color: #222; align-items: flex-start; }
.icv-graph svg { border: 1px solid #ddd; border-radius: 6px; background: #fcfcfc; }
.icv-node { cursor: pointer; stroke: #fff; stroke-width: 1.5; }
.icv-node.icv-selected { stroke: #111; stroke-width: 3; }
.icv-side { min-width: 320px; max-width: 520px; }
.icv-side h3 { margin: 0 0 6px; font-size: 15px; }
.icv-grid { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.icv-grid img { width: 72px; height: 72px; image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.icv-muted { color: #777; }
.icv-section { margin: 8px 0 2px; font-weight: 600; }
`;

function el(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function drawGraph(box, model) {
  box.replaceChildren();
  const g = model.get("graph") || {};
  const nodes = g.nodes || [], edges = g.edges || [], levels = g.levels || [];
  const debug = model.get("debug") || {};
  const best = new Map((debug.matches || []).map((m) => [m.group, m]));
  const width = 520, height = Math.max(220, 120 * levels.length), padX = 90, padY = 36;
  const px = (n) => padX + n.x * (width - padX - 20), py = (n) => padY + n.y * (height - 2 * padY);
  const svg = el("svg:svg", { width, height, "data-testid": "circuit-graph" });
  levels.forEach((name, i) => {
    const y = padY + (levels.length > 1 ? i / (levels.length - 1) : 0) * (height - 2 * padY);
    svg.append(el("svg:text", { x: 6, y: y + 4, "font-size": 11, fill: "#555" }, name));
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const maxW = Math.max(1e-9, ...edges.map((e) => e.w));
  for (const e of edges) {
    const a = byId.get(e.a), b = byId.get(e.b);
    if (!a || !b) continue;
    svg.append(el("svg:line", {
      x1: px(a), y1: py(a), x2: px(b), y2: py(b), stroke: "#6a8caf",
      "stroke-width": (0.5 + 5 * e.w / maxW).toFixed(2), "stroke-opacity": 0.5,
    }));
  }
  const selected = model.get("selected");
  const maxSize = Math.max(1, ...nodes.map((n) => n.size));
  for (const n of nodes) {
    const m = best.get(n.id);
    const lit = debug.layer === n.layer && m && m.crops.length > 0;
    const fill = debug.layer === n.layer ? (lit ? "#e15759" : "#ccc") : n.share >= 0.5 ? "#4e79a7" : "#9db3cc";
    const circle = el("svg:circle", {
      cx: px(n), cy: py(n), r: 7 + 12 * Math.sqrt(n.size / maxSize), fill,
      class: "icv-node" + (n.id === selected ? " icv-selected" : ""),
      "data-testid": "circuit-group", "data-group": n.id, "data-lit": lit ? "1" : "0",
    });
    circle.append(el("svg:title", {}, `${n.id}: ${n.size} concepts${n.label ? ", " + n.label + " (" + n.share + ")" : ""}`));
    circle.addEventListener("click", () => { model.set("selected", n.id); model.save_changes(); });
    svg.append(circle);
    if (n.label) {
      svg.append(el("svg:text", { x: px(n), y: py(n) + 26, "text-anchor": "middle", "font-size": 9, fill: "#333", "pointer-events": "none" },
        n.label.split("=").pop()));
    }
  }
  box.append(svg);
  box.append(el("div", { class: "icv-muted" }, "edge width = weight; blue: groups with a dominant annotated concept; red: groups the debugged image triggers"));
}

function drawSide(box, model, urls, debugUrl) {
  box.replaceChildren();
  const d = model.get("details") || {};
  if (d.id) {
    const label = d.label ? ` · ${d.label.concept} = ${d.label.value} (${Math.round(d.label.share * 100)}% of its top probe images)` : "";
    box.append(el("h3", { "data-testid": "group-title" }, `${d.id}${label}`));
    box.append(el("div", { class: "icv-section" }, "Representative crops"));
    const grid = el("div", { class: "icv-grid", "data-testid": "group-crops" });
    (d.crops || []).forEach((c, i) => {
      const img = el("img", { alt: `crop ${c.crop} of image ${c.image}`, "data-testid": "group-crop" });
      if (urls[i]) img.src = urls[i];
      grid.append(img);
    });
    box.append(grid);
    const list = (title, items) => {
      box.append(el("div", { class: "icv-section" }, title));
      box.append(el("div", {}, items.length ? items.map((x) => `${x.group} (${x.weight})`).join(" · ") : "–"));
    };
    list("Strongest inputs", d.inputs || []);
    list("Strongest outputs", d.outputs || []);
    const members = el("details");
    members.append(el("summary", {}, `${(d.members || []).length} neuron concepts`));
    members.append(el("div", { class: "icv-muted" }, (d.members || []).join(", ")));
    box.append(members);
  } else {
    box.append(el("div", { class: "icv-muted" }, "Click a group to see its crops, inputs and outputs."));
  }
  const dbg = model.get("debug") || {};
  if (dbg.matches) {
    box.append(el("div", { class: "icv-section" }, `Debug: ${dbg.caption} in ${dbg.layer}`));
    const wrap = el("div", { style: "position: relative; width: 192px; height: 192px;", "data-testid": "debug-image" });
    const img = el("img", { width: 192, height: 192, style: "image-rendering: pixelated;" });
    if (debugUrl) img.src = debugUrl;
    wrap.append(img);
    const top = dbg.matches.find((m) => m.crops.length);
    const [h, w] = dbg.size;
    if (top) {
      const svg = el("svg:svg", { width: 192, height: 192, style: "position: absolute; left: 0; top: 0;" });
      for (const c of top.crops) {
        const [t, l, b, r] = c.box;
        svg.append(el("svg:rect", { x: l / w * 192, y: t / h * 192, width: (r - l) / w * 192, height: (b - t) / h * 192,
          fill: "none", stroke: "#e15759", "stroke-width": 2 }));
      }
      wrap.append(svg);
    }
    box.append(wrap);
    box.append(el("div", { "data-testid": "debug-summary" },
      dbg.matches.map((m) => `${m.group}: ${m.best.toFixed(2)}${m.crops.length ? " ✓" : ""}`).join(" · ")));
  }
}

function render({ model, el: root }) {
  const style = document.createElement("style");
  style.textContent = STYLE;
  const wrapper = el("div", { class: "icv-root", "data-testid": "circuit-view" });
  const graphBox = el("div", { class: "icv-graph" });
  const side = el("div", { class: "icv-side" });
  wrapper.append(graphBox, side);
  root.append(style, wrapper);
  let urls = [], debugUrl = null;
  const images = () => {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = (model.get("thumbnails") || []).map((b) => URL.createObjectURL(new Blob([b], { type: "image/png" })));
    if (debugUrl) URL.revokeObjectURL(debugUrl);
    const raw = model.get("debug_image");
    debugUrl = raw && raw.byteLength ? URL.createObjectURL(new Blob([raw], { type: "image/png" })) : null;
  };
  const redraw = () => { drawGraph(graphBox, model); drawSide(side, model, urls, debugUrl); };
  const onImages = () => { images(); redraw(); };
  images();
  redraw();
  const events = ["change:graph", "change:selected", "change:details", "change:debug"];
  events.forEach((e) => model.on(e, redraw));
  model.on("change:thumbnails", onImages);
  model.on("change:debug_image", onImages);
  return () => {
    events.forEach((e) => model.off(e, redraw));
    model.off("change:thumbnails", onImages);
    model.off("change:debug_image", onImages);
    urls.forEach((u) => URL.revokeObjectURL(u));
    if (debugUrl) URL.revokeObjectURL(debugUrl);
  };
}

export default { render };
