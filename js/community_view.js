// CommunityView: the graph of communities (or neurons) and the selected community's details.
// Reads the records of innersight_widgets/widgets/payloads/community_view.py: CommunityGraph (with
// NeuronPoints in the neuron view), PathwayGraph (PathwayNode, PathwayClass, Edge), StabilitySummary,
// CommunityDetails, ImportanceSummary and Thumbnails, each through a variable annotated with its name.
// Helpers (el, mount, pictures, ...) come from _prelude.js.

const STYLE = `
.isw-graph { flex: 0 0 auto; max-width: 442px; }
.isw-stage { position: relative; }
.isw-neurons { display: block; border: 1px solid var(--isw-border); border-radius: 6px; background: var(--isw-bg); cursor: crosshair; touch-action: none; max-width: 100%; }
.isw-tooltip { position: absolute; pointer-events: none; display: none; background: var(--isw-tip); border: 1px solid var(--isw-border);
  border-radius: 4px; padding: 2px 6px; font-size: 12px; white-space: nowrap; box-shadow: 0 1px 3px rgba(0, 0, 0, 0.15); }
.isw-note { color: var(--isw-note); }
.isw-pathways { flex: 0 1 auto; max-width: 460px; }
.isw-pathways text { paint-order: stroke; stroke: var(--isw-bg); stroke-width: 5px; stroke-linejoin: round; }
.isw-link { fill: none; stroke: var(--isw-link); }
.isw-link.isw-on-path { stroke: var(--isw-ink); }
.isw-class { cursor: pointer; fill: var(--isw-box); stroke: var(--isw-box-edge); stroke-width: 1; }
.isw-class.isw-chosen { fill: var(--isw-ink); stroke: var(--isw-ink); }
.isw-chart-title { font-size: 11px; color: var(--isw-soft); max-width: 440px; }
.isw-threshold { display: flex; align-items: center; gap: 6px; margin: 4px 0; }
`;

const SIZE = 440, PAD = 40;
const px = (v) => PAD + v * (SIZE - 2 * PAD);

function drawCommunities(container, model) {
  /** @type {CommunityGraph} */ const graph = model.get("graph") || {};
  const nodes = graph.nodes || [];
  const selected = model.get("selected");
  const svg = el("svg:svg", {
    class: "isw-canvas", width: SIZE, height: SIZE, viewBox: `0 0 ${SIZE} ${SIZE}`, "data-testid": "community-graph",
  });
  const byId = new Map(nodes.map((/** @type {CommunityNode} */ n) => [n.id, n]));
  const maxWeight = Math.max(1e-6, ...(graph.edges || []).map((/** @type {Edge} */ e) => e.w));
  for (/** @type {Edge} */ const e of graph.edges || []) {
    /** @type {CommunityNode} */ const a = byId.get(e.a);
    /** @type {CommunityNode} */ const b = byId.get(e.b);
    if (!a || !b) continue;
    svg.append(el("svg:line", {
      x1: px(a.x), y1: px(a.y), x2: px(b.x), y2: px(b.y),
      stroke: ink("edge"), "stroke-opacity": (0.15 + 0.6 * e.w / maxWeight).toFixed(3), "stroke-width": 1,
    }));
  }
  const maxSize = Math.max(1, ...nodes.map((/** @type {CommunityNode} */ n) => n.size));
  for (/** @type {CommunityNode} */ const n of nodes) {
    const r = 8 + 22 * Math.sqrt(n.size / maxSize);
    const circle = el("svg:circle", {
      cx: px(n.x), cy: px(n.y), r, fill: colour(graph.colours, n.community),
      class: "isw-node" + (n.community === selected ? " isw-selected" : ""),
      "data-testid": "community-node", "data-community": n.community,
    });
    circle.append(el("svg:title", {}, n.title));
    pressable(circle, n.title, () => {
      model.set("selected", n.community);
      model.save_changes();
    });
    svg.append(circle);
    svg.append(el("svg:text", {
      x: px(n.x), y: px(n.y) + 4, "text-anchor": "middle", "font-size": 11, "pointer-events": "none", class: "isw-on-disc",
    }, String(n.community)));
    if (n.caption) {
      svg.append(el("svg:text", {
        // under the disc, or over it where the drawing ends below
        x: px(n.x), y: px(n.y) + r + 11 <= SIZE - 3 ? px(n.y) + r + 11 : px(n.y) - r - 4, "text-anchor": "middle", "font-size": 10, "pointer-events": "none",
        fill: ink("soft"), "data-testid": "community-caption",
      }, n.caption));
    }
  }
  container.append(svg, el("div", { class: "isw-muted" },
    "each disc is a community (area = members), captioned with the concept it best detects; click one to open it"));
  container.append(communityTable(model, nodes));
}

// The communities as a table, in both graph modes: pressing a row opens the community.
function communityTable(model, nodes) {
  return tableOf("the communities as a table", ["community", "neurons", "concept label"],
    nodes.map((/** @type {CommunityNode} */ n) => [n.community, n.size, n.caption || "none"]), "community-table",
    (i) => { model.set("selected", nodes[i].community); model.save_changes(); });
}

// ipywidgets hands `bytes` over as a DataView (or an ArrayBuffer): read it little-endian.
function bytesOf(buffer) {
  return ArrayBuffer.isView(buffer) ? new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new DataView(buffer);
}

// A NeuronPoints record unpacked: positions in canvas pixels, communities, links.
function unpackNeurons(/** @type {NeuronPoints} */ points) {
  const xy = bytesOf(points.xy), community = bytesOf(points.community);
  const links = bytesOf(points.links), strength = bytesOf(points.strength);
  const n = points.count, m = strength.byteLength;
  const out = {
    n, x: new Float32Array(n), y: new Float32Array(n), c: new Int16Array(n), dead: 0,
    a: new Uint16Array(m), b: new Uint16Array(m), s: new Float32Array(m),
    layers: points.layers, starts: points.starts, linksOf: points.links_of,
  };
  for (let i = 0; i < n; i++) {
    out.x[i] = px(xy.getUint16(4 * i, true) / 65535);
    out.y[i] = px(xy.getUint16(4 * i + 2, true) / 65535);
    out.c[i] = community.getInt16(2 * i, true);
    if (out.c[i] < 0) out.dead++;
  }
  for (let e = 0; e < m; e++) {
    out.a[e] = links.getUint16(4 * e, true);
    out.b[e] = links.getUint16(4 * e + 2, true);
    out.s[e] = strength.getUint8(e) / 255;
  }
  return out;
}

// "layer:index" of a row: rows are each layer's channels in order, layers from their first row.
function neuronName(points, row) {
  let j = 0;
  while (j + 1 < points.starts.length && points.starts[j + 1] <= row) j++;
  return `${points.layers[j]}:${row - points.starts[j]}`;
}

// The neuron view: a canvas of points coloured by community, around the community graph's
// places. Wheel: zoom about the cursor; drag: pan; hover: the neuron's name and community;
// click: open its community; double-click: back to the whole view. `data-drawn` is the
// number of points in view, `data-scale` the zoom.
function neuronCanvas(model) {
  const stage = el("div", { class: "isw-stage" });
  const canvas = el("canvas", { class: "isw-neurons", "data-testid": "neuron-canvas" });
  const tooltip = el("div", { class: "isw-tooltip", "data-testid": "neuron-tooltip" });
  stage.append(canvas, tooltip);
  const ratio = window.devicePixelRatio || 1;
  canvas.width = SIZE * ratio;
  canvas.height = SIZE * ratio;
  canvas.style.width = `${SIZE}px`;
  let points = null, nodes = new Map(), view = { k: 1, x: 0, y: 0 }, frame = 0, drag = null;
  const radius = () => Math.min(6, 1.4 * Math.sqrt(view.k));
  const sx = (i) => points.x[i] * view.k + view.x;
  const sy = (i) => points.y[i] * view.k + view.y;

  function draw() {
    frame = 0;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, SIZE, SIZE);
    ctx.strokeStyle = "#777";
    ctx.lineWidth = 0.6;
    for (let e = 0; e < points.a.length; e++) {
      ctx.globalAlpha = 0.04 + 0.25 * points.s[e];
      ctx.beginPath();
      ctx.moveTo(sx(points.a[e]), sy(points.a[e]));
      ctx.lineTo(sx(points.b[e]), sy(points.b[e]));
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
    /** @type {CommunityGraph} */ const graph = model.get("graph") || {};
    const r = radius(), selected = model.get("selected"), paths = new Map(), chosen = new Path2D();
    let drawn = 0;
    for (let i = 0; i < points.n; i++) {
      const x = sx(i), y = sy(i), c = points.c[i];
      if (c < 0 || x < -r || y < -r || x > SIZE + r || y > SIZE + r) continue;
      drawn++;
      const fill = colour(graph.colours, c);
      if (!paths.has(fill)) paths.set(fill, new Path2D());
      const target = c === selected ? chosen : paths.get(fill);
      target.moveTo(x + r, y);
      target.arc(x, y, r, 0, 2 * Math.PI);
    }
    paths.forEach((path, fill) => { ctx.fillStyle = fill; ctx.fill(path); });
    if (selected >= 0) {
      ctx.fillStyle = colour(graph.colours, selected);
      ctx.fill(chosen);
      ctx.strokeStyle = themeColour(canvas, "ink");
      ctx.lineWidth = 1;
      ctx.stroke(chosen);
    }
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.85)";
    ctx.fillStyle = "#111";
    nodes.forEach((/** @type {CommunityNode} */ n) => {
      const text = n.caption ? `${n.community} · ${n.caption}` : String(n.community);
      const x = px(n.x) * view.k + view.x, y = px(n.y) * view.k + view.y;
      ctx.strokeText(text, x, y);
      ctx.fillText(text, x, y);
    });
    canvas.setAttribute("data-drawn", drawn);
    canvas.setAttribute("data-scale", view.k.toFixed(3));
  }
  const redraw = () => { frame = frame || requestAnimationFrame(draw); };

  function at(event) {  // the event's position in canvas pixels (the canvas may be scaled down)
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * SIZE / box.width, (event.clientY - box.top) * SIZE / box.height];
  }
  function nearest([x, y]) {
    let best = -1, bestD = Math.max(5, radius() + 2) ** 2;
    for (let i = 0; i < points.n; i++) {
      if (points.c[i] < 0) continue;
      const d = (sx(i) - x) ** 2 + (sy(i) - y) ** 2;
      if (d < bestD) { best = i; bestD = d; }
    }
    return best;
  }
  function hover(event) {
    const [x, y] = at(event), i = nearest([x, y]);
    if (i < 0) { tooltip.style.display = "none"; return; }
    /** @type {CommunityNode} */ const community = nodes.get(points.c[i]);
    tooltip.textContent = `${neuronName(points, i)} · ${community ? community.title : `community ${points.c[i]}`}`;
    tooltip.style.left = `${Math.min(sx(i) + 10, SIZE - 120)}px`;
    tooltip.style.top = `${sy(i) + 10}px`;
    tooltip.style.display = "block";
  }
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const [x, y] = at(event);
    const k = Math.min(400, Math.max(0.5, view.k * Math.exp(-event.deltaY * 0.0015))), f = k / view.k;
    view = { k, x: x - (x - view.x) * f, y: y - (y - view.y) * f };
    tooltip.style.display = "none";
    redraw();
  }, { passive: false });
  canvas.addEventListener("pointerdown", (event) => {
    drag = { from: [event.clientX, event.clientY], view, moved: false };
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drag) { hover(event); return; }
    const dx = event.clientX - drag.from[0], dy = event.clientY - drag.from[1];
    drag.moved = drag.moved || Math.abs(dx) + Math.abs(dy) > 3;
    if (!drag.moved) return;
    view = { k: drag.view.k, x: drag.view.x + dx, y: drag.view.y + dy };
    tooltip.style.display = "none";
    redraw();
  });
  canvas.addEventListener("pointerup", (event) => {
    const click = drag && !drag.moved;
    drag = null;
    const i = click ? nearest(at(event)) : -1;
    if (i < 0) return;
    model.set("selected", points.c[i]);
    model.save_changes();
  });
  canvas.addEventListener("pointerleave", () => { tooltip.style.display = "none"; });
  canvas.addEventListener("dblclick", () => { view = { k: 1, x: 0, y: 0 }; redraw(); });
  canvas.addEventListener("isw-theme", redraw);

  return {
    element: stage,
    show(/** @type {CommunityGraph} */ graph) {  // a new partition or layout: unpack it and show all of it
      points = unpackNeurons(graph.neurons);
      nodes = new Map(graph.nodes.map((/** @type {CommunityNode} */ n) => [n.community, n]));
      view = { k: 1, x: 0, y: 0 };
      tooltip.style.display = "none";
      draw();
      return points;
    },
    draw,
  };
}

function drawNeurons(container, graph, canvas) {
  const points = canvas.show(graph);
  container.append(canvas.element, el("div", { class: "isw-muted" },
    "each dot is a neuron, coloured by community; wheel: zoom, drag: pan, hover: its name, click: open its community, double-click: whole view"));
  if (points.a.length < points.linksOf) {
    container.append(el("div", { class: "isw-note", "data-testid": "links-note" },
      `lines: the ${points.a.length.toLocaleString("en")} strongest of ${points.linksOf.toLocaleString("en")} similarity links, so that the points stay visible`));
  }
  if (points.dead) {
    container.append(el("div", { class: "isw-note", "data-testid": "dead-note" },
      `${points.dead.toLocaleString("en")} dead neurons (constant over the probe images) belong to no community and are not drawn`));
  }
}

function drawGraph(container, heading, model, canvas) {
  container.replaceChildren();
  /** @type {CommunityGraph} */ const graph = model.get("graph") || {};
  const count = graph.neurons ? ` · ${graph.neurons.count.toLocaleString("en")} neurons` : "";
  heading.textContent = `${graph.communities || 0} communities${count}`;
  if (graph.mode === "neurons") {
    drawNeurons(container, graph, canvas);
    container.append(communityTable(model, graph.nodes || []));
  } else drawCommunities(container, model);
  if (graph.note) container.append(el("div", { class: "isw-note", "data-testid": "graph-note" }, graph.note));
}

function drawStability(container, model) {
  container.replaceChildren();
  /** @type {StabilitySummary} */ const s = model.get("stability") || {};
  if (s.text === undefined) return;
  const line = el("div", { "data-testid": "stability", "data-runs": s.runs, "data-value": s.value === null ? "" : s.value }, s.text);
  line.append(el("span", { class: "isw-muted" }, `: ${s.meaning}`));
  container.append(line);
  // why the partition should not be trusted, and what to do: beside the figure, not only in the console
  for (const warning of s.warnings || []) {
    container.append(el("div", { class: "isw-note", "data-testid": "stability-warning" }, `⚠ ${warning}`));
  }
}

function barChart({ labels, values, nulls = null, spreads = null, testid, title, digits = 2 }) {
  const width = 440, rowH = 18, left = 96, top = 4, valueX = width - 48;
  const height = top + rowH * labels.length + 6;
  const svg = el("svg:svg", { width, height, "data-testid": testid });
  const chart = el("div", { class: "isw-chart" });
  chart.append(el("div", { class: "isw-chart-title" }, title), svg);  // HTML, so that a long title wraps
  // whiskers (mean ± sd of the random sets) stay inside the plot, clear of the class names
  const whiskers = (nulls || []).flatMap((m, i) => {
    const s = spreads && spreads[i] !== null ? spreads[i] : 0;
    return m === null ? [] : [m - s, m + s];
  });
  const finite = values.concat(nulls || [], whiskers).filter((v) => v !== null && Number.isFinite(v));
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
      svg.append(el("svg:text", { x: valueX, y: y + 12, "font-size": 10, fill: ink("soft") }, v.toFixed(digits)));
    }
    if (nulls && nulls[i] !== null && Number.isFinite(nulls[i])) {
      const m = nulls[i], s = spreads && spreads[i] !== null ? spreads[i] : 0;
      svg.append(el("svg:line", { x1: scale(m - s), x2: scale(m + s), y1: y + rowH / 2, y2: y + rowH / 2, stroke: ink("null"), "stroke-width": 2 }));
      svg.append(el("svg:circle", { cx: scale(m), cy: y + rowH / 2, r: 3, fill: ink("null") }));
    }
  });
  return chart;
}

function imageGrid(items, url, testid, itemid, caption) {
  const grid = el("div", { class: "isw-grid", "data-testid": testid });
  for (/** @type {TopImage|PatchImage} */ const item of items) {
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

function drawImportance(container, /** @type {CommunityDetails} */ d) {
  /** @type {ImportanceSummary} */ const imp = d.importance;
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
    title: `blue bars: this community · grey dots: ${imp.draws} of ${imp.total_draws} random sets of its size (mean ± sd)`,
  }));
  const against = imp.draws
    ? ` vs random ${fixed(imp.null_mean, 3)} ± ${fixed(imp.null_std, 3)}, p = ${fixed(imp.p_value, 3)}` + (imp.z_score === null ? "" : `, z = ${imp.z_score.toFixed(1)}`)
    : "; random sets of its size follow";
  container.append(el("div", { "data-testid": done ? "ablation-summary" : "ablation-progress" },
    `overall drop ${imp.accuracy_drop.toFixed(3)}${against} (on ${sample})${done ? "" : " …"}`));
}

function drawDetails(container, model, url, featureUrl) {
  container.replaceChildren();
  /** @type {CommunityDetails} */ const d = model.get("details") || {};
  if (d.community === undefined) {
    container.append(el("div", { class: "isw-muted", "data-testid": "details-empty" }, "Click a community in the graph to see what it does."));
    return;
  }
  const mine = (thumb) => url(d.owner, thumb);
  const label = d.label ? ` · ${d.label.concept} = ${d.label.value} (AUROC ${d.label.auroc.toFixed(2)})` : "";
  container.append(el("h3", { "data-testid": "details-title" }, `Community ${d.community} · ${d.size} neurons${label}`));

  container.append(el("div", { class: "isw-section", "data-testid": "image-ranking", "data-ranking": d.ranking },
    `Top images by ${d.ranking} score`));
  container.append(el("div", { class: "isw-muted" }, `${d.ranking_text}; under each: label → predicted, image # · score`));
  container.append(imageGrid(d.images, mine, "image-grid", "community-image",
    (/** @type {TopImage} */ m) => [m.label === m.predicted ? m.label : `${m.label} → ${m.predicted}`, `#${m.index} · ${m.score.toFixed(1)}`, m.label !== m.predicted]));
  if (d.patches.length) {
    container.append(el("div", { class: "isw-section" }, "Receptive fields where the strongest member peaks"));
    container.append(imageGrid(d.patches, mine, "patch-grid", "community-patch", (/** @type {PatchImage} */ p) => [p.neuron, `#${p.index}`, false]));
  }
  drawFeature(container, model, d.owner, featureUrl);

  container.append(el("div", { class: "isw-section" }, `Class selectivity (index ${fixed(d.selectivity)})`));
  const which = d.classes.length < d.classes_of ? ` (${d.classes.length} of ${d.classes_of})` : "";
  container.append(barChart({ labels: d.classes, values: d.class_means, testid: "selectivity-chart", title: `mean z-scored community activation per class${which}` }));
  drawImportance(container, d);

  container.append(el("div", { class: "isw-section" }, "Coherence"));
  container.append(el("div", {}, `mean correlation within ${fixed(d.within)}, to the rest of the layer ${fixed(d.outside)}`));
  if (d.concepts.length) {
    container.append(el("div", { class: "isw-section" }, "Concepts (AUROC of the community score)"));
    container.append(el("div", { "data-testid": "concepts" }, d.concepts.map((/** @type {ConceptBadge} */ s) => `${s.concept}=${s.value} ${s.auroc.toFixed(2)}`).join(" · ")));
  }
  const members = el("details", { "data-testid": "members" });
  members.append(el("summary", {}, `${d.members.length} members`));
  members.append(el("div", { class: "isw-muted" }, d.members.join(", ")));
  container.append(members);
}

// The pathways view: one column per layer (lowest left) of community parts (area = members,
// text = concept label), the classes last; links drawn as wide as their share. Links below the
// slider's share are hidden (default: the TOP_LINKS strongest shown), except those on the chosen
// class's pathways. Click a class: its pathways turn red; click a community: it opens.
// `data-links-drawn` counts the links drawn, `data-chosen` names the chosen class, and the links
// on its paths carry `data-on-path`.
const TOP_LINKS = 40, COLUMN = 130, ROW = 38, TOP = 34;
function pathwaysView(model) {
  const box = el("div", { class: "isw-pathways" });
  const heading = el("div", { class: "isw-section" }), drawing = el("div"), hint = el("div", { class: "isw-muted" });
  const slider = el("input", { type: "range", min: 0, max: 1, step: 0.01, "data-testid": "pathway-threshold" });
  const words = el("span", { class: "isw-muted" });
  const control = el("label", { class: "isw-threshold" }, "hide weaker links ");
  control.append(slider, words);
  let chosen = null, threshold = 0, shown = null;
  slider.addEventListener("input", () => { threshold = Number(slider.value); draw(); });

  function draw() {
    /** @type {PathwayGraph} */ const p = model.get("pathways") || {};
    if (p.layers === undefined) {
      box.replaceChildren();
      shown = null;
      return;
    }
    if (shown !== p) {  // a new payload: the default threshold, and the class only if it is still there
      const shares = p.links.map((/** @type {Edge} */ e) => e.w).sort((a, b) => b - a);
      threshold = shares.length > TOP_LINKS ? shares[TOP_LINKS - 1] : 0;
      slider.value = threshold;
      if (!p.classes.some((/** @type {PathwayClass} */ c) => c.id === chosen)) chosen = null;
      heading.textContent = `Pathways (flow on ${p.images} images)`;
      hint.textContent = `width = share of the flow into the node on the right; click a class for its ${p.k} strongest pathways, a community to open it`;
      box.replaceChildren(heading, control, drawing, hint, pathwayTable(p, (id) => { chosen = id; draw(); }));
      shown = p;
    }
    const columns = [...p.layers.map((layer, i) => p.nodes.filter((/** @type {PathwayNode} */ n) => n.column === i)), p.classes];
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    const width = COLUMN * columns.length + 40, height = TOP + ROW * tallest + 10;
    const place = new Map();
    columns.forEach((column, i) => column.forEach((/** @type {PathwayNode|PathwayClass} */ n, j) => place.set(n.id, [COLUMN * i + 50, TOP + ROW * (j + 0.5) + (ROW * (tallest - column.length)) / 2])));
    /** @type {PathwayClass} */ const cls = p.classes.find((/** @type {PathwayClass} */ c) => c.id === chosen);
    const onPath = new Set(), onNode = new Set();
    for (const path of cls ? cls.paths : []) {
      path.forEach((id, i) => { onNode.add(id); if (i) onPath.add(`${path[i - 1]}>${id}`); });
    }
    const svg = el("svg:svg", {
      class: "isw-canvas", width, height, viewBox: `0 0 ${width} ${height}`, "data-testid": "pathways",
      "data-chosen": chosen || "", "data-columns": columns.length,
    });
    p.layers.concat(["classes"]).forEach((name, i) => svg.append(el("svg:text", {
      x: COLUMN * i + 50, y: 16, "text-anchor": "middle", "font-size": 11, "font-weight": 600, "data-testid": "pathway-column",
    }, name)));
    let drawn = 0;
    const ordered = [...p.links].sort((/** @type {Edge} */ a, /** @type {Edge} */ b) => onPath.has(`${a.a}>${a.b}`) - onPath.has(`${b.a}>${b.b}`));  // paths on top
    for (/** @type {Edge} */ const e of ordered) {
      const path = onPath.has(`${e.a}>${e.b}`), a = place.get(e.a), b = place.get(e.b);
      if (!a || !b || (!path && (e.w <= 0 || e.w < threshold))) continue;
      drawn++;
      const mid = (a[0] + b[0]) / 2;
      const link = el("svg:path", {
        d: `M${a[0]},${a[1]} C${mid},${a[1]} ${mid},${b[1]} ${b[0]},${b[1]}`, class: "isw-link" + (path ? " isw-on-path" : ""),
        "stroke-width": (0.5 + 10 * e.w).toFixed(2), "stroke-opacity": path ? 0.9 : 0.55, "data-testid": "pathway-link",
        "data-on-path": path ? 1 : 0,
      });
      link.append(el("svg:title", {}, `${e.a} → ${e.b}: share ${e.w.toFixed(3)}`));
      svg.append(link);
    }
    svg.setAttribute("data-links-drawn", drawn);
    /** @type {CommunityGraph} */ const graph = model.get("graph") || {};
    const fills = graph.colours;
    const maxSize = Math.max(1, ...p.nodes.map((/** @type {PathwayNode} */ n) => n.size)), selected = model.get("selected");
    for (/** @type {PathwayNode} */ const n of p.nodes) {
      const [x, y] = place.get(n.id);
      const circle = el("svg:circle", {
        cx: x, cy: y, r: 4 + 11 * Math.sqrt(n.size / maxSize), fill: colour(fills, n.community),
        class: "isw-node" + (n.community === selected ? " isw-selected" : ""), "stroke-opacity": onNode.has(n.id) || !cls ? 1 : 0.3,
        "data-testid": "pathway-node", "data-community": n.community, "data-id": n.id,
      });
      circle.append(el("svg:title", {}, `community ${n.community} in ${p.layers[n.column]}: ${n.size} neurons${n.label ? `, ${n.label}` : ""}`));
      pressable(circle, `community ${n.community} in ${p.layers[n.column]}${n.label ? `, ${n.label}` : ""}`,
        () => { model.set("selected", n.community); model.save_changes(); });
      svg.append(circle, el("svg:text", { x: x + 16, y: y + 4, "font-size": 10, "pointer-events": "none" },
        n.label ? `${n.community} · ${n.label}` : String(n.community)));
    }
    for (/** @type {PathwayClass} */ const c of p.classes) {
      const [x, y] = place.get(c.id);
      const square = el("svg:rect", {
        x: x - 8, y: y - 8, width: 16, height: 16, class: "isw-class" + (c.id === chosen ? " isw-chosen" : ""),
        "data-testid": "pathway-class", "data-class": c.name,
      });
      const scores = c.scores.map((s) => s.toFixed(3)).join(", ");
      square.append(el("svg:title", {}, c.paths.length ? `${c.name}: its ${c.paths.length} strongest pathways carry ${scores} of its attribution` : `${c.name}: no pathway`));
      pressable(square, `class ${c.name}: highlight its pathways`, () => { chosen = chosen === c.id ? null : c.id; draw(); });
      svg.append(square, el("svg:text", { x: x + 12, y: y + 4, "font-size": 11, "pointer-events": "none" }, c.name));
    }
    words.textContent = `share ≥ ${threshold.toFixed(2)}: ${drawn} of ${p.links.length} links drawn`;
    drawing.replaceChildren(svg);
  }
  return { element: box, draw };
}

// Each class's strongest pathways as a table, for readers who do not see the drawing:
// pressing a row highlights its class's pathways, as a click on the class does.
function pathwayTable(p, choose) {
  const name = (id) => {
    /** @type {PathwayNode} */ const n = p.nodes.find((/** @type {PathwayNode} */ x) => x.id === id);
    return n ? `${p.layers[n.column]} c${n.community}${n.label ? ` (${n.label})` : ""}` : id.replace(/^class:/, "");
  };
  const rows = [], classes = [];
  for (/** @type {PathwayClass} */ const c of p.classes) {
    c.paths.forEach((path, i) => {
      rows.push([c.name, i + 1, path.map(name).join(" → "), c.scores[i].toFixed(3)]);
      classes.push(c.id);
    });
  }
  return tableOf("the pathways as a table", ["class", "rank", "pathway", "share"], rows, "pathway-table", (i) => choose(classes[i]));
}

function render({ model, el: root }) {
  const wrapper = mount(root, STYLE, "community-explorer");
  const heading = el("div", { "data-testid": "community-count" });
  const stabilityBox = el("div");
  const drawing = el("div");
  const graphBox = el("div", { class: "isw-graph" });
  graphBox.append(heading, stabilityBox, drawing);
  const detailsBox = el("div", { class: "isw-panel", "data-testid": "community-details" });
  const pathways = pathwaysView(model);
  wrapper.append(graphBox, pathways.element, detailsBox);
  const thumbs = pictures(model);
  const features = pictures(model, "feature_pictures");
  const canvas = neuronCanvas(model);
  const redrawGraph = () => drawGraph(drawing, heading, model, canvas);
  // a click in the neuron view keeps its zoom: only the highlight changes
  const redrawSelection = () => {
    pathways.draw();
    /** @type {CommunityGraph} */ const graph = model.get("graph") || {};
    return graph.mode === "neurons" ? canvas.draw() : redrawGraph();
  };
  const redrawStability = () => drawStability(stabilityBox, model);
  const redrawDetails = () => drawDetails(detailsBox, model, thumbs.url, features.url);
  redrawGraph();
  redrawStability();
  redrawDetails();
  pathways.draw();
  return listen(model, [
    ["change:pathways", pathways.draw],
    ["change:graph", redrawGraph],
    ["change:selected", redrawSelection],
    ["change:stability", redrawStability],
    ["change:details", redrawDetails],
    ["change:thumbnails", () => { thumbs.refresh(); redrawDetails(); }],
    ["change:feature", redrawDetails],
    ["change:feature_pictures", () => { features.refresh(); redrawDetails(); }],
    ...ownChrome(model, wrapper, "explorer-status"),
  ], () => { thumbs.release(); features.release(); });
}

export default { render };
