// The page view with hand lettering; runs as the js_on_load of a gr.HTML (see ui/page_view.py).
// In scope: element, props (value: the page's lettering geometry from Python; image: the page as it prints), watch.
// Everything is in page points: the SVG's viewBox is the page, so the zoom never leaks into the data. A drop
// sends {request: {page, edit}} as the value; Python saves the edit, draws the page again and sends it back.

const SVGNS = "http://www.w3.org/2000/svg";
const LIMITS = { at: [0, 1], size: [0.03, 1], tail: [-0.5, 1.5] };  // as model.LETTERING_RANGES
const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];

const root = element.querySelector(".lv-root");
const stage = element.querySelector(".lv-stage");
const svg = element.querySelector(".lv-svg");
const status = element.querySelector(".lv-status");
const pageLabel = element.querySelector(".lv-page");
const zoomLabel = element.querySelector(".lv-zoom");
const buttons = {};
element.querySelectorAll("button[data-act]").forEach((b) => { buttons[b.dataset.act] = b; });

let view = null;      // {page, pages, width_pt, height_pt, panels: [...], notes: [...]}
let sel = null;       // {panel, target: "balloon" | "caption", index}
let drag = null;      // {mode: "move" | "size" | "tail", item, panel, start, moved, shape}
let zoom = 1;         // 1: the page fits the stage's width
let pending = false;  // an edit is on its way to Python

const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
const round4 = (v) => Math.round(v * 10000) / 10000;
const pair = (kind, x, y) => [round4(clamp(x, ...LIMITS[kind])), round4(clamp(y, ...LIMITS[kind]))];

function el(name, attrs, parent) {
  const node = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function parse(v) {
  if (v === null || v === undefined || v === "") return null;
  const data = typeof v === "string" ? JSON.parse(v) : v;
  return data && Array.isArray(data.panels) ? data : null;
}

function items() {  // every caption and balloon on the page, with its panel
  const out = [];
  if (!view) return out;
  for (const panel of view.panels) {
    if (panel.caption) out.push({ panel, target: "caption", index: null, data: panel.caption, box: panel.caption.rect });
    for (const b of panel.balloons) out.push({ panel, target: "balloon", index: b.index, data: b, box: b.body });
  }
  return out;
}
const same = (a, b) => a && b && a.panel === b.panel && a.target === b.target && a.index === b.index;
const key = (it) => ({ panel: it.panel.panel, target: it.target, index: it.index });
function selected() { return items().find((it) => same(key(it), sel)) || null; }

// ---- drawing -----------------------------------------------------------------------------
function draw() {
  svg.replaceChildren();
  if (!view) {
    svg.setAttribute("viewBox", "0 0 595 842");
    status.textContent = "No pages yet: add a panel in the Panels tab.";
    updateToolbar();
    return;
  }
  const W = view.width_pt, H = view.height_pt;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.style.aspectRatio = `${W} / ${H}`;
  el("rect", { x: 0, y: 0, width: W, height: H, class: "lv-paper" }, svg);
  const image = typeof props.image === "string" ? props.image : "";
  if (image) el("image", { href: image, x: 0, y: 0, width: W, height: H, class: "lv-page-image", preserveAspectRatio: "none" }, svg);
  const u = Math.max(W, H) / 600;  // handle sizes in page points, about the same on screen at any page size
  if (Array.isArray(view.live)) {  // the live area: keep lettering inside (on screen only, never printed)
    const [lx, ly, lw, lh] = view.live;
    const guide = el("rect", { x: lx, y: ly, width: lw, height: lh, class: "lv-live", "stroke-width": 0.8 * u,
      "stroke-dasharray": `${4 * u} ${3 * u}` }, svg);
    el("title", {}, guide).textContent = "Live area: lettering inside this line is safe from the trim";
  }
  for (const it of items()) {
    const isSel = same(key(it), sel);
    const g = el("g", { class: `lv-item lv-${it.target}` + (isSel ? " selected" : "") + (it.data.by_hand ? " by-hand" : ""),
      "data-panel": it.panel.panel, "data-target": it.target, "data-index": it.index ?? "" }, svg);
    const [x, y, w, h] = it.box;
    const shape = it.target === "balloon"
      ? el("ellipse", { cx: x + w / 2, cy: y + h / 2, rx: w / 2, ry: h / 2, class: "lv-body", "data-mode": "move" }, g)
      : el("rect", { x, y, width: w, height: h, class: "lv-body", "data-mode": "move" }, g);
    shape.setAttribute("stroke-width", 1.2 * u);
    const title = el("title", {}, shape);
    title.textContent = `${it.target === "caption" ? "Caption" : `Balloon ${it.index + 1}`} of panel ${it.panel.number}: ${it.data.text}`;
    if (isSel) {
      el("rect", { x: x + w - 4 * u, y: y + h - 4 * u, width: 8 * u, height: 8 * u, class: "lv-handle lv-size",
        "data-mode": "size", "stroke-width": u }, g);
      if (it.target === "balloon" && it.data.tip) {
        el("line", { x1: x + w / 2, y1: y + h / 2, x2: it.data.tip[0], y2: it.data.tip[1], class: "lv-tail-line",
          "stroke-width": u, "stroke-dasharray": `${3 * u} ${2 * u}` }, g);
      }
    }
    if (it.target === "balloon" && it.data.tip) {
      el("circle", { cx: it.data.tip[0], cy: it.data.tip[1], r: (isSel ? 5 : 3.5) * u, class: "lv-handle lv-tip" +
        (it.data.tail_by_hand ? " by-hand" : ""), "data-mode": "tail", "stroke-width": u }, g);
    }
  }
  pageLabel.textContent = `Page ${view.page} of ${view.pages}`;
  status.textContent = describe();
  updateToolbar();
}

function describe() {
  if (pending) return "Saving and drawing the page again ...";
  const it = selected();
  const notes = (view.notes || []).length ? ` ⚠️ ${view.notes.join(" · ")}` : "";
  if (!it) return "Drag a balloon or caption to move it, its round handle to aim the tail, its square corner to resize." + notes;
  if (nudge) return `Arrow keys: moved ${nudge.dx}, ${nudge.dy} pt; saved when you stop.`;
  const what = it.target === "caption" ? `Caption of panel ${it.panel.number}` : `Balloon ${it.index + 1} of panel ${it.panel.number}`;
  const how = it.data.by_hand || it.data.tail_by_hand ? "placed by hand: Reset puts it back" : "placed automatically";
  return `${what} (“${it.data.text}”), ${how}.` + notes;
}

function updateToolbar() {
  const n = view ? view.pages : 0, p = view ? view.page : 0;
  buttons.prev.disabled = !view || p <= 1 || pending;
  buttons.next.disabled = !view || p >= n || pending;
  const it = selected();
  buttons.reset.disabled = !it || pending || !(it.data.by_hand || it.data.tail_by_hand);
  zoomLabel.textContent = `${Math.round(zoom * 100)}%`;
  buttons["zoom-out"].disabled = zoom <= ZOOMS[0];
  buttons["zoom-in"].disabled = zoom >= ZOOMS[ZOOMS.length - 1];
  root.classList.toggle("pending", pending);
}

function applyZoom() {  // zoom 1: the whole page fits the stage (its width, and the window's height)
  const W = view ? view.width_pt : 595, H = view ? view.height_pt : 842;
  const room = Math.max(stage.clientWidth - 16, 100);
  const tall = Math.min(window.innerHeight * 0.78, window.innerHeight - 190) - 16;  // the stage below the tabs and toolbar
  const fit = Math.min(room, Math.max(tall, 200) * W / H);
  svg.style.width = `${Math.round(fit * zoom)}px`;
  updateToolbar();
}
new ResizeObserver(() => applyZoom()).observe(stage);

// ---- talking to Python ---------------------------------------------------------------------
let pendingTimer = null;
function send(request) {
  if (!view) return;
  pending = true;
  draw();
  clearTimeout(pendingTimer);
  pendingTimer = setTimeout(() => { if (pending) { pending = false; draw(); } }, 30000);  // never stuck on a lost reply
  const { request: _, ...current } = view;
  props.value = { ...current, request: { page: view.page, ...request } };
}

function edit(it, values) {
  send({ edit: { panel: it.panel.panel, target: it.target, ...(it.target === "balloon" ? { index: it.index } : {}), ...values } });
}

// ---- pointer: drag to move, resize and aim (mouse, pen or touch) ----------------------------------
function toPage(evt) {
  const m = svg.getScreenCTM().inverse();
  const p = new DOMPoint(evt.clientX, evt.clientY).matrixTransform(m);
  return [p.x, p.y];
}

svg.addEventListener("pointerdown", (evt) => {
  const g = evt.target.closest ? evt.target.closest(".lv-item") : null;
  if (!g || pending) { if (!g) { sel = null; draw(); } return; }
  const it = items().find((i) => i.panel.panel === g.dataset.panel && i.target === g.dataset.target &&
    String(i.index ?? "") === g.dataset.index);
  if (!it) return;
  sel = key(it);
  svg.focus({ preventScroll: true });
  const mode = evt.target.dataset.mode || "move";
  drag = { mode, it, start: toPage(evt), moved: false };
  draw();
  drag.ghost = el(mode === "tail" ? "circle" : it.target === "balloon" ? "ellipse" : "rect", { class: "lv-ghost" }, svg);
  try { svg.setPointerCapture(evt.pointerId); } catch (err) { /* synthetic or ended pointer: moves still reach the svg */ }
  evt.preventDefault();
});

function dragged(now) {  // the item's box (or tail tip) where the pointer has it now, in page points
  const [x, y, w, h] = drag.it.box;
  const dx = now[0] - drag.start[0], dy = now[1] - drag.start[1];
  if (drag.mode === "tail") return { tip: now };
  if (drag.mode === "size") {
    const rect = drag.it.panel.rect;
    const nw = clamp(w + dx, LIMITS.size[0] * rect[2], rect[2]), nh = clamp(h + dy, LIMITS.size[0] * rect[3], rect[3]);
    return { box: [x, y, nw, nh] };
  }
  return { box: [x + dx, y + dy, w, h] };
}

svg.addEventListener("pointermove", (evt) => {
  if (!drag) return;
  const now = toPage(evt);
  const u = view ? Math.max(view.width_pt, view.height_pt) / 600 : 1;
  if (Math.hypot(now[0] - drag.start[0], now[1] - drag.start[1]) > 0.8 * u) drag.moved = true;
  const d = dragged(now), ghost = drag.ghost;
  if (d.tip) { ghost.setAttribute("cx", d.tip[0]); ghost.setAttribute("cy", d.tip[1]); ghost.setAttribute("r", 4 * u); return; }
  const [x, y, w, h] = d.box;
  if (ghost.tagName === "ellipse") {
    ghost.setAttribute("cx", x + w / 2); ghost.setAttribute("cy", y + h / 2); ghost.setAttribute("rx", w / 2); ghost.setAttribute("ry", h / 2);
  } else {
    ghost.setAttribute("x", x); ghost.setAttribute("y", y); ghost.setAttribute("width", w); ghost.setAttribute("height", h);
  }
  ghost.setAttribute("stroke-width", 1.5 * u);
});

function endDrag(evt) {
  if (!drag) return;
  if (svg.hasPointerCapture && svg.hasPointerCapture(evt.pointerId)) svg.releasePointerCapture(evt.pointerId);
  const { it, moved, mode } = drag;
  const d = moved && evt.type === "pointerup" ? dragged(toPage(evt)) : null;
  drag = null;
  if (!d) { draw(); return; }
  const [px, py, pw, ph] = it.panel.rect;
  if (d.tip) { edit(it, { tail: pair("tail", (d.tip[0] - px) / pw, (d.tip[1] - py) / ph) }); return; }
  const [x, y, w, h] = d.box;
  const at = pair("at", (x + w / 2 - px) / pw, (y + h / 2 - py) / ph);
  if (mode === "size") edit(it, { at, size: pair("size", w / pw, h / ph) });
  else edit(it, { at });
}
svg.addEventListener("pointerup", endDrag);
svg.addEventListener("pointercancel", endDrag);

// ---- toolbar and keys -------------------------------------------------------------------------
const actions = {
  prev() { if (view && view.page > 1) { sel = null; send({ page: view.page - 1 }); } },
  next() { if (view && view.page < view.pages) { sel = null; send({ page: view.page + 1 }); } },
  "zoom-in"() { zoom = ZOOMS.find((z) => z > zoom + 1e-9) || zoom; applyZoom(); },
  "zoom-out"() { zoom = [...ZOOMS].reverse().find((z) => z < zoom - 1e-9) || zoom; applyZoom(); },
  fit() { zoom = 1; applyZoom(); stage.scrollTo(0, 0); },
  reset() { const it = selected(); if (it) edit(it, { reset: true }); },
};
Object.entries(buttons).forEach(([name, b]) => b.addEventListener("click", () => actions[name]()));
stage.addEventListener("wheel", (evt) => {
  if (!evt.ctrlKey) return;
  evt.preventDefault();
  actions[evt.deltaY < 0 ? "zoom-in" : "zoom-out"]();
}, { passive: false });
// Arrow keys nudge the selected balloon or caption (Shift: 5 points); the move is sent when the keys rest.
const STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
let nudge = null;  // {it, dx, dy, timer}
function sendNudge() {
  if (!nudge) return;
  const { it, dx, dy } = nudge;
  nudge = null;
  const [px, py, pw, ph] = it.panel.rect, [x, y, w, h] = it.box;
  edit(it, { at: pair("at", (x + w / 2 + dx - px) / pw, (y + h / 2 + dy - py) / ph) });
}
svg.addEventListener("keydown", (evt) => {
  if (evt.key === "Escape") { sel = null; nudge = null; draw(); return; }
  const it = selected();
  if (!(evt.key in STEPS) || !it || pending) return;
  evt.preventDefault();
  if (!nudge || !same(key(nudge.it), key(it))) nudge = { it, dx: 0, dy: 0, timer: null };
  const d = evt.shiftKey ? 5 : 1;
  nudge.dx += STEPS[evt.key][0] * d;
  nudge.dy += STEPS[evt.key][1] * d;
  draw();
  const [x, y, w, h] = it.box;
  const u = Math.max(view.width_pt, view.height_pt) / 600;
  const ghost = el(it.target === "balloon" ? "ellipse" : "rect", { class: "lv-ghost", "stroke-width": 1.5 * u }, svg);
  if (it.target === "balloon") {
    for (const [k, v] of Object.entries({ cx: x + w / 2 + nudge.dx, cy: y + h / 2 + nudge.dy, rx: w / 2, ry: h / 2 })) ghost.setAttribute(k, v);
  } else {
    for (const [k, v] of Object.entries({ x: x + nudge.dx, y: y + nudge.dy, width: w, height: h })) ghost.setAttribute(k, v);
  }
  clearTimeout(nudge.timer);
  nudge.timer = setTimeout(sendNudge, 600);
});

// ---- inputs from Python ---------------------------------------------------------------------
function load(value) {
  try {
    view = parse(value);
  } catch (err) {
    view = null;
  }
  if (view && view.request) return;  // our own request, on its way
  pending = false;
  clearTimeout(pendingTimer);
  if (sel && !selected()) sel = null;
  draw();
}

watch("value", () => { load(props.value); applyZoom(); });
watch("image", () => draw());
load(props.value);
applyZoom();
root.dataset.ready = "1";
