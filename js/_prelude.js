// Shared by every innersight view. anywidget reads a module as text, so a relative import
// cannot resolve: Python prepends this file to each view's module when it loads it.
// Text from data only ever goes through textContent, never parsed as HTML.
// A variable or parameter holding a record of innersight_widgets/widgets/payloads/ is
// annotated with the record's name, /** @type {Thumbnails} */; tests/widgets/test_payloads.py
// checks every field read through it against the Python schema.

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];
const BASE_STYLE = `
.isw-root { display: flex; flex-wrap: wrap; gap: 16px; font: 13px system-ui, sans-serif; color: #222; align-items: flex-start; }
.isw-root svg.isw-canvas { border: 1px solid #ddd; border-radius: 6px; background: #fcfcfc; max-width: 100%; height: auto; }
.isw-node { cursor: pointer; stroke: #fff; stroke-width: 1.5; }
.isw-node.isw-selected { stroke: #111; stroke-width: 3; }
.isw-panel { flex: 1 1 340px; min-width: 300px; max-width: 560px; overflow-wrap: anywhere; }
.isw-panel h3 { margin: 0 0 6px; font-size: 15px; }
.isw-grid { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.isw-grid figure { margin: 0; width: 76px; text-align: center; }
.isw-grid img { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; border: 1px solid #ccc; background: #000; }
.isw-grid figcaption { font-size: 10px; line-height: 1.2; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.isw-wrong { color: #b42318; }
.isw-muted { color: #777; }
.isw-section { margin: 8px 0 2px; font-weight: 600; }
.isw-root table { border-collapse: collapse; font-size: 12px; }
.isw-root td, .isw-root th { padding: 1px 8px; text-align: right; border-bottom: 1px solid #eee; }
`;

function el(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function colour(index) {
  return index < 0 ? "#bbb" : PALETTE[index % PALETTE.length];
}

function fixed(value, digits = 2) {
  return value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

// The root of a view: base and own CSS, and a wrapper with the given test id.
function mount(root, css, testid) {
  const style = document.createElement("style");
  style.textContent = BASE_STYLE + css;
  const wrapper = el("div", { class: "isw-root", "data-testid": testid });
  root.append(style, wrapper);
  return wrapper;
}

// Object URLs for a Thumbnails record (owner, ids, pngs), released when replaced or closed.
// url(owner, id) answers only for the owner the pictures were sent for: pictures of an older
// selection are never shown under newer details.
function pictures(model, trait = "thumbnails") {
  let owner = null;
  let urls = new Map();
  const release = () => {
    urls.forEach((u) => URL.revokeObjectURL(u));
    urls = new Map();
  };
  const refresh = () => {
    release();
    /** @type {Thumbnails} */ const t = model.get(trait) || {};
    owner = t.owner === undefined ? null : t.owner;
    (t.ids || []).forEach((id, i) => urls.set(id, URL.createObjectURL(new Blob([t.pngs[i]], { type: "image/png" }))));
  };
  refresh();
  return { url: (want, id) => (want === owner ? urls.get(id) : undefined), refresh, release };
}

// Redraw on the given trait changes; returns the clean-up anywidget calls on removal.
function listen(model, handlers, cleanup = () => {}) {
  for (const [event, handler] of handlers) model.on(event, handler);
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    cleanup();
  };
}
