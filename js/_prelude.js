// Shared by every innersight view. anywidget reads a module as text, so a relative import
// cannot resolve: Python prepends this file to each view's module when it loads it.
// Text from data only ever goes through textContent, never parsed as HTML.
// A variable or parameter holding a record of innersight_widgets/widgets/payloads/ is
// annotated with the record's name, /** @type {Thumbnails} */; tests/widgets/test_payloads.py
// checks every field read through it against the Python schema.

const SVG_NS = "http://www.w3.org/2000/svg";
// Colours come from variables that follow the page's theme (see followTheme): the light
// set below, or the dark one when the notebook's background is dark.
const BASE_STYLE = `
.isw-root { --isw-fg: #222; --isw-soft: #555; --isw-muted: #666; --isw-ink: #111; --isw-bg: #fcfcfc; --isw-border: #ddd;
  --isw-line: #eee; --isw-wrong: #b42318; --isw-note: #8a5a00; --isw-tip: rgba(255, 255, 255, 0.96); --isw-edge: #888;
  --isw-link: #9aa5b1; --isw-box: #eee; --isw-box-edge: #555; --isw-off: #fff4f2; --isw-null: #7a7a7a; }
.isw-root.isw-dark { --isw-fg: #e8e8e8; --isw-soft: #c4c4c4; --isw-muted: #a9a9a9; --isw-ink: #f4f4f4; --isw-bg: #1c1c1c;
  --isw-border: #4a4a4a; --isw-line: #353535; --isw-wrong: #ff9585; --isw-note: #f2b84b; --isw-tip: rgba(36, 36, 36, 0.97);
  --isw-edge: #8a8a8a; --isw-link: #6f7b88; --isw-box: #3a3a3a; --isw-box-edge: #b0b0b0; --isw-off: #3b1f1c; --isw-null: #a0a0a0; }
.isw-root { display: flex; flex-wrap: wrap; gap: 16px; font: 13px system-ui, sans-serif; color: var(--isw-fg); align-items: flex-start; }
.isw-root svg { fill: var(--isw-fg); }
.isw-root svg.isw-canvas { border: 1px solid var(--isw-border); border-radius: 6px; background: var(--isw-bg); max-width: 100%; height: auto; }
.isw-node { cursor: pointer; stroke: var(--isw-bg); stroke-width: 1.5; }
.isw-node.isw-selected { stroke: var(--isw-ink); stroke-width: 3; }
.isw-root [role="button"]:focus-visible { outline: 2px solid var(--isw-ink); outline-offset: 2px; }
.isw-root svg [role="button"]:focus-visible { outline: none; stroke: var(--isw-ink); stroke-width: 3; stroke-dasharray: 3 2; }
.isw-root text.isw-on-disc { fill: #111; paint-order: stroke; stroke: rgba(255, 255, 255, 0.85); stroke-width: 3px; stroke-linejoin: round; }
.isw-own-status { flex: 1 0 100%; }
.isw-own-controls { flex: 1 0 100%; display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; }
.isw-own-control { display: inline-flex; align-items: center; gap: 6px; }
.isw-own-control select, .isw-own-control input, .isw-own-control button { font: inherit; color: inherit; background: var(--isw-bg); border: 1px solid var(--isw-border); border-radius: 4px; }
.isw-own-control button[aria-pressed="true"] { background: var(--isw-box); border-color: var(--isw-ink); }
.isw-panel { flex: 1 1 340px; min-width: 300px; max-width: 560px; overflow-wrap: anywhere; }
.isw-panel h3 { margin: 0 0 6px; font-size: 15px; }
.isw-grid { display: flex; flex-wrap: wrap; gap: 6px; margin: 4px 0 10px; }
.isw-grid figure { margin: 0; width: 76px; text-align: center; }
.isw-grid img { width: 72px; height: 72px; object-fit: contain; image-rendering: pixelated; border: 1px solid var(--isw-border); background: #000; }
.isw-grid.isw-feature figure { width: 116px; }
.isw-grid.isw-feature img { width: 112px; height: 112px; }
.isw-grid figcaption { font-size: 10px; line-height: 1.2; overflow-wrap: anywhere; }
.isw-wrong { color: var(--isw-wrong); }
.isw-muted { color: var(--isw-muted); }
.isw-section { margin: 8px 0 2px; font-weight: 600; }
.isw-root table { border-collapse: collapse; font-size: 12px; }
.isw-root td, .isw-root th { padding: 1px 8px; text-align: right; border-bottom: 1px solid var(--isw-line); }
`;

function el(tag, attrs = {}, text = null) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

// A theme colour by name, for SVG attributes: "soft" gives var(--isw-soft).
function ink(name) {
  return `var(--isw-${name})`;
}

// The current value of a theme colour on a mounted root, for a canvas (which takes no var()).
function themeColour(root, name) {
  return getComputedStyle(root).getPropertyValue(`--isw-${name}`).trim();
}

// The first opaque background behind a node, as [r, g, b], or null when none is set.
function backdrop(node) {
  for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
    const m = getComputedStyle(n).backgroundColor.match(/[\d.]+/g);
    if (m && m.length >= 3 && (m.length < 4 || Number(m[3]) > 0.5)) return m.slice(0, 3).map(Number);
  }
  return null;
}

// Mark the root isw-dark while the page behind it is dark, whichever notebook draws it
// (JupyterLab, Notebook, VS Code, Colab and marimo each switch themes through attributes
// of <html> or <body>, or the system's preference), and follow later switches; a switch
// dispatches "isw-theme" to the root's canvases, which read colours when they draw.
function followTheme(root) {
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  let seen = false;
  const check = () => {
    if (!root.isConnected) {
      if (seen) stop();
      return;
    }
    seen = true;
    const rgb = backdrop(root.parentElement);
    const dark = rgb ? 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] < 128 : Boolean(media && media.matches);
    if (dark !== root.classList.contains("isw-dark")) {
      root.classList.toggle("isw-dark", dark);
      root.querySelectorAll("canvas").forEach((c) => c.dispatchEvent(new Event("isw-theme")));
    }
  };
  // a theme's stylesheet may land after the attribute that announces it
  const later = () => { check(); setTimeout(check, 300); };
  const observer = new MutationObserver(later);
  for (const node of [document.documentElement, document.body]) observer.observe(node, { attributes: true });
  if (media) media.addEventListener("change", later);
  const stop = () => {
    observer.disconnect();
    if (media) media.removeEventListener("change", later);
  };
  let tries = 0;
  const attach = () => {  // anywidget renders before the view is in the page
    check();
    if (!seen && tries++ < 600) requestAnimationFrame(attach);
  };
  attach();
  return root;
}

// A community's fill from the colours its view was sent (a community labelled "red" is
// red), grey for none (-1: a dead neuron).
function colour(colours, index) {
  return index < 0 || !colours ? "#bbb" : colours[index] || "#bbb";
}

function fixed(value, digits = 2) {
  return value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);
}

// Click, Enter or Space on `node` runs `action`: it is in the tab order, a button to a
// screen reader, and named by `label`.
function pressable(node, label, action) {
  node.setAttribute("tabindex", "0");
  node.setAttribute("role", "button");
  node.setAttribute("aria-label", label);
  node.addEventListener("click", action);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      action();
    }
  });
  return node;
}

// A graph as a table, folded under `summary`, for readers who do not see the drawing:
// one row per node (`rows`: arrays of cells), and pressing a row does what clicking the
// node does (`choose(i)` for row i).
function tableOf(summary, header, rows, testid, choose) {
  const details = el("details", { "data-testid": testid });
  details.append(el("summary", {}, summary));
  const table = el("table");
  const head = el("tr");
  header.forEach((h) => head.append(el("th", {}, h)));
  table.append(head);
  rows.forEach((cells, i) => {
    const tr = el("tr");
    cells.forEach((c) => tr.append(el("td", {}, String(c))));
    pressable(tr, `${header[0]} ${cells[0]}: open`, () => choose(i));
    table.append(tr);
  });
  details.append(table);
  return details;
}

// What a view draws itself when it stands alone (no ipywidgets around it: marimo), first in
// `wrapper`: the status line, with the test id the ipywidgets line has elsewhere, and the
// widget's controls as described in the `controls` trait (innersight_widgets/widgets/
// _standalone.py). Input goes back as `control_input`, which Python applies to the
// ipywidget. Standing alone or not, it also hides the widget's static snapshot. Returns
// the [event, handler] pairs that keep all of it current, for listen().
function ownChrome(model, wrapper, testid) {
  const line = el("div", { class: "isw-own-status" });
  const bar = el("div", { class: "isw-own-controls" });
  wrapper.prepend(line, bar);
  let sent = 0;
  const send = (index, value) => {
    sent += 1;
    model.set("control_input", { index, value, n: sent });
    model.save_changes();
  };
  let shape = "";
  let slots = [];
  const drawStatus = () => {
    const alone = model.get("standalone");
    line.style.display = alone ? "" : "none";
    if (alone) line.setAttribute("data-testid", testid); else line.removeAttribute("data-testid");
    line.setAttribute("data-kind", model.get("status_kind"));
    line.textContent = model.get("status_text");
  };
  const drawControls = () => {
    const specs = model.get("controls") || [];
    bar.style.display = model.get("standalone") && specs.length ? "" : "none";
    const now = JSON.stringify(specs.map((s) => [s.kind, s.label, s.options]));
    if (now !== shape) {
      shape = now;
      slots = specs.map((spec, i) => ownControl(spec, (value) => send(i, value)));
      bar.replaceChildren(...slots.map((slot) => slot.element));
    }
    specs.forEach((spec, i) => slots[i].update(spec));
  };
  // the static snapshot the kernel writes under the widget (widgets/_static.py) is for
  // readers without a kernel: where this live view draws, it is hidden
  const hide = el("style");
  wrapper.prepend(hide);
  const drawHide = () => {
    const key = JSON.stringify(model.get("snapshot_key") || "");
    hide.textContent = key === '""' ? "" : `[data-innersight-snapshot=${key}], .jp-OutputArea-child:has([data-innersight-snapshot=${key}]) { display: none; }`;
  };
  drawStatus();
  drawControls();
  drawHide();
  return [
    ["change:snapshot_key", drawHide],
    ...["change:standalone", "change:status_kind", "change:status_text"].map((event) => [event, drawStatus]),
    ["change:standalone", drawControls],
    ["change:controls", drawControls],
  ];
}

// One drawn control: its element, and update(spec) that shows a new state in place (the
// element keeps the keyboard focus). `send(value)` reports the reader's input.
function ownControl(spec, send) {
  const element = el("label", { class: "isw-own-control", "data-testid": "own-control" });
  const name = el("span", {}, spec.label);
  if (spec.kind === "button" || spec.kind === "toggle") {
    const button = el("button", { type: "button" }, spec.label);
    let pressed = false;
    button.addEventListener("click", () => send(spec.kind === "toggle" ? !pressed : null));
    element.append(button);
    return { element, update: (s) => {
      pressed = Boolean(s.value);
      if (s.kind === "toggle") button.setAttribute("aria-pressed", String(pressed));
      Object.assign(button, { disabled: s.disabled, title: s.tooltip });
      element.style.display = s.hidden ? "none" : "";
    } };
  }
  if (spec.kind === "range" || spec.kind === "number") {
    const input = el("input", { type: spec.kind, "aria-label": spec.label });
    const readout = el("span", { class: "isw-readout" });
    let decimals = 0;
    input.addEventListener("input", () => { readout.textContent = Number(input.value).toFixed(decimals); });
    input.addEventListener("change", () => send(Number(input.value)));
    element.append(name, input);
    if (spec.kind === "range") element.append(readout);
    return { element, update: (s) => {
      decimals = s.decimals;
      Object.assign(input, { min: s.min, max: s.max, step: s.step, disabled: s.disabled, title: s.tooltip });
      input.value = s.value;
      readout.textContent = Number(s.value).toFixed(decimals);
      element.style.display = s.hidden ? "none" : "";
    } };
  }
  const multiple = spec.kind === "multi";
  const select = el("select", { "aria-label": spec.label });
  select.multiple = multiple;
  if (multiple) select.size = Math.min(6, spec.options.length);
  spec.options.forEach((text, i) => select.append(el("option", { value: String(i) }, text)));
  select.addEventListener("change", () => {
    const chosen = Array.from(select.selectedOptions, (option) => Number(option.value));
    send(multiple ? chosen : chosen[0]);
  });
  element.append(name, select);
  return { element, update: (s) => {
    const chosen = new Set(multiple ? s.index : [s.index]);
    Array.from(select.options).forEach((option, i) => { option.selected = chosen.has(i); });
    Object.assign(select, { disabled: s.disabled, title: s.tooltip });
    element.style.display = s.hidden ? "none" : "";
  } };
}

// The root of a view: base and own CSS, and a wrapper with the given test id.
function mount(root, css, testid) {
  const style = document.createElement("style");
  style.textContent = BASE_STYLE + css;
  const wrapper = el("div", { class: "isw-root", "data-testid": testid });
  root.append(style, wrapper);
  followTheme(wrapper);
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

// What a unit looks for, under the details `owner` only: the images of its feature
// visualisation (a FeatureImages record; the pictures are the "feature_pictures" trait's,
// read with `url`), each with its score, beside what the probe data reaches, and how far the
// optimisation is. `data-step` says which step the images shown are from.
function drawFeature(container, model, owner, url) {
  /** @type {FeatureImages} */ const f = model.get("feature") || {};
  if (f.owner === undefined || f.owner !== owner) return;
  container.append(el("div", { class: "isw-section" }, "What it looks for"));
  container.append(el("div", { class: "isw-muted" }, "images optimised from noise to raise its score, not images of the data; under each: its score"));
  if (!f.step) {
    container.append(el("div", { class: "isw-muted", "data-testid": "feature-pending" }, `optimising ${f.steps} steps …`));
    return;
  }
  const grid = el("div", { class: "isw-grid isw-feature", "data-testid": "feature-grid", "data-step": String(f.step) });
  f.thumbs.forEach((thumb, i) => {
    const figure = el("figure");
    const img = el("img", { "data-testid": "feature-image", "data-thumb": thumb, alt: `optimised image ${i + 1} for ${f.unit}` });
    const src = url(f.owner, thumb);
    if (src) img.src = src;
    figure.append(img, el("figcaption", {}, `score ${f.scores[i].toFixed(2)}`));
    grid.append(figure);
  });
  container.append(grid);
  const reference = f.reference === null ? "" : `; ${f.reference_text} ${f.reference.toFixed(2)}`;
  const done = f.step === f.steps;
  container.append(el("div", { class: done ? "" : "isw-muted", "data-testid": done ? "feature-done" : "feature-progress" },
    (done ? `${f.unit} after ${f.steps} steps` : `${f.unit}: step ${f.step} of ${f.steps} …`) + reference));
}

// Redraw on the given trait changes; returns the clean-up anywidget calls on removal.
function listen(model, handlers, cleanup = () => {}) {
  for (const [event, handler] of handlers) model.on(event, handler);
  return () => {
    for (const [event, handler] of handlers) model.off(event, handler);
    cleanup();
  };
}
