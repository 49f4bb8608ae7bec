// ModelDiff: two models' community graphs side by side (side a left, side b right), each
// counterpart pair linked by a line as wide as they are alike, communities without a
// counterpart outlined dashed, and the opened pair's figures, top images and drops.
// Reads the records of innersight_widgets/widgets/payloads/model_diff.py: DiffGraph (DiffSide,
// DiffNode, Edge), PairDetails (PairSide, DiffImage, ClassDrop) and Thumbnails, each through
// a variable annotated with its name. Helpers (el, mount, pictures, ...) come from _prelude.js.

const STYLE = `
.isw-diff-graph { flex: 0 1 auto; max-width: 922px; }
.isw-diff-panel { flex: 1 1 560px; max-width: 922px; }
.isw-node.isw-alone { stroke: var(--isw-ink); stroke-width: 2; stroke-dasharray: 4 3; }
.isw-node.isw-alone.isw-selected { stroke-width: 3.5; }
.isw-match { cursor: pointer; }
.isw-match .isw-match-line { stroke: var(--isw-soft); stroke-opacity: 0.55; stroke-linecap: round; }
.isw-match.isw-selected .isw-match-line { stroke: var(--isw-ink); stroke-opacity: 0.9; }
.isw-match .isw-match-hit { stroke: transparent; stroke-width: 14; }
.isw-halo { paint-order: stroke; stroke: var(--isw-bg); stroke-width: 4px; stroke-linejoin: round; }
.isw-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; margin: 4px 0; max-width: 920px; }
.isw-legend span { display: inline-flex; align-items: center; gap: 5px; }
.isw-pair-sides { display: flex; flex-wrap: wrap; gap: 4px 20px; }
.isw-pair-sides > div { flex: 1 1 280px; min-width: 0; }
.isw-root td.isw-own-class, .isw-root th.isw-own-class { font-weight: 600; }
.isw-root td.isw-name, .isw-root th.isw-name { text-align: left; }
.isw-drop-bar { display: inline-block; height: 8px; vertical-align: middle; margin-right: 4px; background: var(--isw-soft); }
`;

// Each side's drawing is a square of SIZE pixels whose unit square spans SIZE - 2 * PAD (the
// 360 pixels widgets/geometry.py separates the discs for), below a TITLE strip; the sides
// stand GAP apart (payloads/model_diff.py's SIDE_OFFSET is (SIZE + GAP) / (SIZE - 2 * PAD)).
const SIZE = 440, PAD = 40, GAP = 40, TITLE = 26;
const WIDTH = 2 * SIZE + GAP, HEIGHT = SIZE + TITLE;
const OTHER = { a: "b", b: "a" };

function placeOf(side, /** @type {DiffNode} */ n) {
  return [(side === "a" ? 0 : SIZE + GAP) + PAD + n.x * (SIZE - 2 * PAD), TITLE + PAD + n.y * (SIZE - 2 * PAD)];
}

function signed(value) {
  return value === null ? "–" : (value > 0 ? "+" : value < 0 ? "−" : "") + Math.abs(value).toFixed(3);
}

// The pair a selection names ("a:3"): each side's community, or null for the side without one.
function pairOf(/** @type {DiffGraph} */ g, selected) {
  const [side, text] = (selected || "").split(":");
  if (!g.a || !(side in OTHER)) return { a: null, b: null };
  /** @type {DiffNode} */ const n = g[side].nodes.find((/** @type {DiffNode} */ m) => String(m.community) === text);
  if (!n) return { a: null, b: null };
  return { [side]: n.community, [OTHER[side]]: n.counterpart };
}

function choose(model, side, community) {
  model.set("selected", `${side}:${community}`);
  model.save_changes();
}

function drawGraph(container, model) {
  container.replaceChildren();
  /** @type {DiffGraph} */ const g = model.get("graph") || {};
  if (!g.a) return;
  const pair = pairOf(g, model.get("selected"));
  const sides = { a: g.a, b: g.b };
  const layers = (/** @type {DiffSide} */ s) => s.layers.join(", ");
  container.append(el("div", { class: "isw-section", "data-testid": "diff-summary" },
    `${g.a.name} (${layers(g.a)}) beside ${g.b.name} (${layers(g.b)}) on ${g.images} probe images · ` +
    `CKA of the layers ${fixed(g.cka)} · counterparts at similarity ≥ ${g.min_similarity.toFixed(2)}`));
  const svg = el("svg:svg", { class: "isw-canvas", width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, "data-testid": "diff-graph" });
  const places = { a: new Map(), b: new Map() };
  for (const key of ["a", "b"]) {
    /** @type {DiffSide} */ const s = sides[key];
    s.nodes.forEach((/** @type {DiffNode} */ n) => places[key].set(n.community, placeOf(key, n)));
    svg.append(el("svg:text", {
      x: (key === "a" ? 0 : SIZE + GAP) + SIZE / 2, y: 18, "text-anchor": "middle", "font-size": 12, "font-weight": 600, "data-testid": "diff-side",
    }, `${key === "a" ? "◀ " : ""}${s.name} · ${layers(s)} · ${s.nodes.length} communities${key === "b" ? " ▶" : ""}`));
    const maxLink = Math.max(1e-6, ...s.links.map((/** @type {Edge} */ e) => e.w));
    for (/** @type {Edge} */ const e of s.links) {
      const p = places[key].get(e.a), q = places[key].get(e.b);
      if (!p || !q) continue;
      svg.append(el("svg:line", { x1: p[0], y1: p[1], x2: q[0], y2: q[1], stroke: ink("edge"), "stroke-opacity": (0.1 + 0.4 * e.w / maxLink).toFixed(3), "stroke-width": 1 }));
    }
  }
  svg.append(el("svg:line", { x1: SIZE + GAP / 2, y1: TITLE, x2: SIZE + GAP / 2, y2: HEIGHT - 6, stroke: ink("border"), "stroke-dasharray": "2 4" }));
  // the counterpart links under the discs, each as wide as the pair is alike
  const span = Math.max(1e-6, 1 - g.min_similarity);
  for (/** @type {Edge} */ const m of g.matches) {
    const p = places.a.get(m.a), q = places.b.get(m.b);
    const chosen = pair.a === m.a && pair.b === m.b;
    const link = el("svg:g", {
      class: "isw-match" + (chosen ? " isw-selected" : ""), "data-testid": "diff-link", "data-a": m.a, "data-b": m.b, "data-similarity": m.w,
    });
    const words = `${g.a.name} ${m.a} ↔ ${g.b.name} ${m.b}: similarity ${m.w.toFixed(2)}`;
    link.append(el("svg:title", {}, words));
    link.append(el("svg:line", { x1: p[0], y1: p[1], x2: q[0], y2: q[1], class: "isw-match-line", "stroke-width": (1.5 + 8 * Math.max(0, m.w - g.min_similarity) / span).toFixed(2) }));
    link.append(el("svg:line", { x1: p[0], y1: p[1], x2: q[0], y2: q[1], class: "isw-match-hit" }));
    pressable(link, `${words}: open the pair`, () => choose(model, "a", m.a));
    svg.append(link);
  }
  const maxSize = Math.max(1, ...g.a.nodes.concat(g.b.nodes).map((/** @type {DiffNode} */ n) => n.size));
  for (const key of ["a", "b"]) {
    /** @type {DiffSide} */ const s = sides[key];
    const other = sides[OTHER[key]].name;
    for (/** @type {DiffNode} */ const n of s.nodes) {
      const [x, y] = places[key].get(n.community);
      const r = 8 + 22 * Math.sqrt(n.size / maxSize);
      const alone = n.counterpart === null;
      const circle = el("svg:circle", {
        cx: x, cy: y, r, fill: colour(s.colours, n.community),
        class: "isw-node" + (alone ? " isw-alone" : "") + (pair[key] === n.community ? " isw-selected" : ""),
        "data-testid": "diff-node", "data-side": key, "data-community": n.community, "data-counterpart": alone ? "" : n.counterpart,
      });
      const says = n.title + (alone ? `; no counterpart in ${other} (best similarity ${fixed(n.best)})` : `; counterpart: ${other} ${n.counterpart}`);
      circle.append(el("svg:title", {}, says));
      pressable(circle, says, () => choose(model, key, n.community));
      svg.append(circle, el("svg:text", {
        x, y: y + 4, "text-anchor": "middle", "font-size": 11, "pointer-events": "none", class: "isw-on-disc",
      }, String(n.community)));
      if (n.caption) {
        svg.append(el("svg:text", {
          x, y: y + r + 12 <= HEIGHT - 3 ? y + r + 12 : y - r - 5, "text-anchor": "middle", "font-size": 10, "pointer-events": "none",
          fill: ink("soft"), class: "isw-halo", "data-testid": "diff-caption",
        }, n.caption));
      }
    }
  }
  container.append(svg, legend(g), pairTable(model, g));
}

// What the marks mean, in words, beside a sample of each mark as drawn.
function legend(/** @type {DiffGraph} */ g) {
  const box = el("div", { class: "isw-legend isw-muted", "data-testid": "diff-legend" });
  const sample = (mark) => {
    const svg = el("svg:svg", { width: 26, height: 14, "aria-hidden": "true" });
    svg.append(mark);
    return svg;
  };
  const linked = el("span");
  linked.append(sample(el("svg:line", { x1: 2, y1: 7, x2: 24, y2: 7, stroke: ink("soft"), "stroke-width": 4, "stroke-linecap": "round" })),
    `${g.matches.length} counterpart pairs, linked: wider, more alike (similarity ${g.min_similarity.toFixed(2)} to 1)`);
  const lone = el("span");
  const only = (/** @type {DiffSide} */ s) => s.nodes.filter((/** @type {DiffNode} */ n) => n.counterpart === null).length;
  lone.append(sample(el("svg:circle", { cx: 13, cy: 7, r: 5, fill: "none", stroke: ink("ink"), "stroke-width": 1.5, "stroke-dasharray": "3 2" })),
    `dashed outline: no counterpart (${only(g.a)} only in ${g.a.name}, ${only(g.b)} only in ${g.b.name})`);
  box.append(linked, lone);
  if (g.a.links.length || g.b.links.length) {
    const within = el("span");
    within.append(sample(el("svg:line", { x1: 2, y1: 7, x2: 24, y2: 7, stroke: ink("edge"), "stroke-opacity": 0.5, "stroke-width": 1 })),
      "thin line within one side: two of its communities that fire alike (the explorer's links)");
    box.append(within);
  }
  box.append(el("span", {},
    "disc: a community (area = neurons; number on it, concept label under it), filled in the colour its label names, else in a hue no label on screen names"));
  return box;
}

// The pairs and the lone communities as a table, for readers who do not see the drawing:
// pressing a row opens it, as a click on its disc does.
function pairTable(model, /** @type {DiffGraph} */ g) {
  const caption = (side, c) => {
    /** @type {DiffNode} */ const n = g[side].nodes.find((/** @type {DiffNode} */ m) => m.community === c);
    return n.caption || "none";
  };
  const rows = [], opens = [];
  for (/** @type {Edge} */ const m of g.matches) {
    rows.push(["counterparts", m.a, m.b, m.w.toFixed(2), caption("a", m.a), caption("b", m.b)]);
    opens.push(["a", m.a]);
  }
  for (const key of ["a", "b"]) {
    /** @type {DiffSide} */ const s = g[key];
    for (/** @type {DiffNode} */ const n of s.nodes.filter((/** @type {DiffNode} */ m) => m.counterpart === null)) {
      rows.push([`only in ${s.name}`, key === "a" ? n.community : "–", key === "b" ? n.community : "–",
        `best ${fixed(n.best)}`, key === "a" ? caption("a", n.community) : "", key === "b" ? caption("b", n.community) : ""]);
      opens.push([key, n.community]);
    }
  }
  return tableOf("the pairs as a table", ["", g.a.name, g.b.name, "similarity", `label in ${g.a.name}`, `label in ${g.b.name}`],
    rows, "diff-table", (i) => choose(model, ...opens[i]));
}

function drawDetails(container, model, url) {
  container.replaceChildren();
  /** @type {PairDetails} */ const d = model.get("details") || {};
  /** @type {DiffGraph} */ const g = model.get("graph") || {};
  if (d.owner === undefined || !g.a) {
    if (g.a) container.append(el("div", { class: "isw-muted", "data-testid": "diff-empty" }, "Click a community or a link to compare the pair."));
    return;
  }
  const sides = ["a", "b"].filter((key) => d[key] !== null);
  const names = { a: g.a.name, b: g.b.name };
  if (d.status === "matched") {
    container.append(el("h3", { "data-testid": "diff-title" },
      `${names.a} ${d.a.community} ↔ ${names.b} ${d.b.community} · similarity ${d.similarity.toFixed(2)}`));
  } else {
    const key = sides[0];
    container.append(el("h3", { "data-testid": "diff-title" }, `only in ${names[key]}: community ${d[key].community}`));
    container.append(el("div", { class: "isw-note", "data-testid": "diff-alone" },
      `no counterpart in ${names[OTHER[key]]} (best similarity ${fixed(d.best)}, below ${g.min_similarity.toFixed(2)})`));
  }
  container.append(figures(d, names, sides));
  container.append(drops(d, names));
  const columns = el("div", { class: "isw-pair-sides" });
  for (const key of sides) {
    /** @type {PairSide} */ const p = d[key];
    const column = el("div");
    column.append(el("div", { class: "isw-section" }, `${p.name} community ${p.community}: top images by ${d.ranking} score`));
    const grid = el("div", { class: "isw-grid", "data-testid": "diff-images", "data-side": key });
    for (/** @type {DiffImage} */ const image of p.images) {
      const figure = el("figure");
      const img = el("img", { "data-testid": "diff-image", "data-thumb": image.thumb, alt: `${p.name}: image ${image.index}, ${image.label}` });
      const src = url(d.owner, image.thumb);
      if (src) img.src = src;
      const wrong = image.label !== image.predicted;
      figure.append(img, el("figcaption", { class: wrong ? "isw-wrong" : "" }, wrong ? `${image.label} → ${image.predicted}` : image.label),
        el("figcaption", { class: "isw-muted" }, `#${image.index}`));
      grid.append(figure);
    }
    column.append(grid);
    columns.append(column);
  }
  container.append(columns);
}

// Each side's community, size, labels and overall drop, one column per side present.
function figures(/** @type {PairDetails} */ d, names, sides) {
  const table = el("table", { "data-testid": "diff-figures" });
  const head = el("tr");
  head.append(el("th", {}, ""), ...sides.map((key) => el("th", {}, names[key])));
  table.append(head);
  const row = (title, field, value) => {
    const tr = el("tr");
    tr.append(el("td", { class: "isw-name" }, title));
    for (const key of sides) tr.append(el("td", { "data-field": `${field}-${key}` }, value(d[key], key)));
    table.append(tr);
  };
  row("community", "community", (/** @type {PairSide} */ p) => String(p.community));
  row("neurons", "size", (/** @type {PairSide} */ p) => String(p.size));
  row("concept label", "label", (/** @type {PairSide} */ p) => p.label || "none");
  row("AUROC of its label", "auroc", (/** @type {PairSide} */ p) => fixed(p.auroc, 3));
  if (sides.length === 2) {
    row("AUROC of the other's label", "other-auroc", (/** @type {PairSide} */ p) => fixed(p.other_auroc, 3));
  }
  row("accuracy drop, ablated", "drop", (/** @type {PairSide} */ p) => fixed(p.accuracy_drop, 3));
  return table;
}

// Each class's accuracy drop when each side's community is ablated, a bar under each drop
// (none where ablating raised the accuracy), and the change.
function drops(/** @type {PairDetails} */ d, names) {
  const box = el("div");
  box.append(el("div", { class: "isw-section" }, "Accuracy drop per class when the community is ablated"));
  /** @type {ClassDrop} */ const all = d.overall;
  const measured = [all, ...d.drops].some((/** @type {ClassDrop} */ c) => c.a !== null || c.b !== null);
  if (!measured) {
    box.append(el("div", { class: "isw-muted", "data-testid": "diff-no-drops" }, "not measured: the comparison ran with ablation=False"));
    return box;
  }
  /** @type {ClassDrop} */ const own = d.own_class === null ? null : d.drops.find((/** @type {ClassDrop} */ c) => c.name === d.own_class);
  if (own) {
    box.append(el("div", { "data-testid": "diff-own" },
      `own class ${own.name}: ${names.a} ${fixed(own.a, 3)}, ${names.b} ${fixed(own.b, 3)}, change ${signed(own.change)}`));
  }
  const largest = Math.max(1e-6, ...d.drops.flatMap((/** @type {ClassDrop} */ c) => [c.a || 0, c.b || 0]));
  const table = el("table", { "data-testid": "diff-drops" });
  const head = el("tr");
  [["class", "isw-name"], [names.a, ""], [names.b, ""], [`change (${names.b} − ${names.a})`, ""]]
    .forEach(([h, c]) => head.append(el("th", { class: c }, h)));
  table.append(head);
  const cell = (value) => {
    const td = el("td");
    if (value !== null && value > 0) td.append(el("span", { class: "isw-drop-bar", style: `width: ${Math.round(50 * value / largest)}px`, "aria-hidden": "true" }));
    td.append(el("span", {}, fixed(value, 3)));
    return td;
  };
  for (/** @type {ClassDrop} */ const c of [...d.drops, all]) {
    const tr = el("tr", { "data-class": c.name });
    const ownClass = c.name === d.own_class ? " isw-own-class" : "";
    tr.append(el("td", { class: "isw-name" + ownClass }, c.name === d.own_class ? `${c.name} (own class)` : c.name), cell(c.a), cell(c.b),
      el("td", { class: ownClass.trim() }, signed(c.change)));
    table.append(tr);
  }
  box.append(table);
  return box;
}

function render({ model, el: root }) {
  const wrapper = mount(root, STYLE, "diff-view");
  const graphBox = el("div", { class: "isw-diff-graph" });
  const detailsBox = el("div", { class: "isw-panel isw-diff-panel", "data-testid": "diff-details" });
  wrapper.append(graphBox, detailsBox);
  const thumbs = pictures(model);
  const redrawGraph = () => drawGraph(graphBox, model);
  const redrawDetails = () => drawDetails(detailsBox, model, thumbs.url);
  redrawGraph();
  redrawDetails();
  return listen(model, [
    ["change:graph", () => { redrawGraph(); redrawDetails(); }],
    ["change:selected", redrawGraph],
    ["change:details", redrawDetails],
    ["change:thumbnails", () => { thumbs.refresh(); redrawDetails(); }],
    ...ownChrome(model, wrapper, "diff-status"),
  ], thumbs.release);
}

export default { render };
