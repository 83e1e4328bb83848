// Skeleton editor for OpenPose JSON; runs as the js_on_load of a gr.HTML (see ui/pose_editor.py).
// In scope: element (the component's root), props (value, library, cast, background, max_people), watch, trigger.
// All coordinates are canvas pixels (the JSON's canvas_width x canvas_height); the SVG's viewBox is the
// canvas, so the displayed size never leaks into the data.

const NAMES = ["nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
  "left wrist", "right hip", "right knee", "right ankle", "left hip", "left knee", "left ankle",
  "right eye", "left eye", "right ear", "left ear"];
const LIMBS = [[1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10],
  [1, 11], [11, 12], [12, 13], [1, 0], [0, 14], [14, 16], [0, 15], [15, 17]];
const COLORS = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
  [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255],
  [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]];
// Index of each point's left/right counterpart (mirroring swaps them).
const MIRROR = [0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16];
// OpenPose's 70 face points after a left-right flip (jaw reversed, brows/eyes/pupils swapped, lips reversed).
const FACE_MIRROR = [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
  27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
  54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65, 69, 68];
// A standing figure facing us in units of its height, relative to the neck: where a hidden point reappears.
const STANDING = [[0, -0.095], [0, 0], [-0.1, 0.015], [-0.13, 0.16], [-0.14, 0.3], [0.1, 0.015], [0.13, 0.16],
  [0.14, 0.3], [-0.06, 0.33], [-0.07, 0.56], [-0.07, 0.78], [0.06, 0.33], [0.07, 0.56], [0.07, 0.78],
  [-0.025, -0.11], [0.025, -0.11], [-0.05, -0.1], [0.05, -0.1]];
const SVGNS = "http://www.w3.org/2000/svg";
const HAND_OF_WRIST = { 4: "hand_right_keypoints_2d", 7: "hand_left_keypoints_2d" };

const root = element.querySelector(".pe-root");
const svg = element.querySelector(".pe-svg");
const status = element.querySelector(".pe-status");
const select = element.querySelector(".pe-library");
const title = element.querySelector(".pe-title");
const buttons = {};
element.querySelectorAll("button[data-act]").forEach((b) => { buttons[b.dataset.act] = b; });

let pose = null;          // {canvas_width, canvas_height, people: [{pose_keypoints_2d, ...}], ...}
let baseline = null;      // JSON text of the last value set from outside: what Reset goes back to
let lastEmitted = null;   // JSON text of the last value this editor produced
let undoStack = [], redoStack = [];
let sel = { person: null, joint: null };
let drag = null;          // {kind: "joint" | "person", person, joint, start: [x, y], before: text, moved}
const parked = new Map(); // "person:joint" -> [x, y] where a hidden joint was, so Show puts it back

const rgb = (c, k = 1) => `rgb(${Math.round(c[0] * k)},${Math.round(c[1] * k)},${Math.round(c[2] * k)})`;
const clone = (o) => JSON.parse(JSON.stringify(o));
const round1 = (v) => Math.round(v * 10) / 10;

function parseValue(v) {
  if (v === null || v === undefined || v === "") return { canvas_width: 512, canvas_height: 768, people: [] };
  let p = typeof v === "string" ? JSON.parse(v) : clone(v);
  if (Array.isArray(p)) p = p[0];
  p.people = (p.people || []).map((person) => {
    const k = person.pose_keypoints_2d || [];
    const step = k.length === 36 ? 2 : 3;
    const out = [];
    for (let j = 0; j < 18; j++) {
      const x = k[j * step], y = k[j * step + 1], c = step === 3 ? k[j * step + 2] : 1;
      out.push(...(c > 0 && x >= 0 && y >= 0 ? [x, y, 1] : [0, 0, 0]));
    }
    return { ...person, pose_keypoints_2d: out };
  });
  const W = p.canvas_width || 512, H = p.canvas_height || 512;
  const values = p.people.flatMap((person) => person.pose_keypoints_2d.filter((_, i) => i % 3 !== 2));
  if (values.length && values.every((v) => v >= -1 && v <= 1)) {  // normalised coordinates: to canvas pixels
    for (const person of p.people) mapPerson(person, (x, y) => [x * W, y * H]);
  }
  p.canvas_width = W; p.canvas_height = H;
  return p;
}

function point(person, j) {
  const k = person.pose_keypoints_2d;
  return k[3 * j + 2] > 0 ? [k[3 * j], k[3 * j + 1]] : null;
}
function setPoint(person, j, xy) {
  const k = person.pose_keypoints_2d;
  if (xy === null) { k[3 * j] = 0; k[3 * j + 1] = 0; k[3 * j + 2] = 0; }
  else { k[3 * j] = round1(xy[0]); k[3 * j + 1] = round1(xy[1]); k[3 * j + 2] = 1; }
}
function mapTriples(arr, fn) {
  if (!Array.isArray(arr)) return arr;
  for (let i = 0; i + 2 < arr.length; i += 3) {
    if (arr[i + 2] > 0 && arr[i] >= 0 && arr[i + 1] >= 0) {
      const [x, y] = fn(arr[i], arr[i + 1]);
      arr[i] = round1(x); arr[i + 1] = round1(y);
    }
  }
  return arr;
}
function mapPerson(person, fn) {
  mapTriples(person.pose_keypoints_2d, fn);
  for (const key of ["hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d"]) mapTriples(person[key], fn);
}
function bbox(person) {
  const pts = [...Array(18).keys()].map((j) => point(person, j)).filter(Boolean);
  if (!pts.length) return null;
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}
function personHeight(person) {
  const b = bbox(person);
  return b && b[3] - b[1] > 20 ? (b[3] - b[1]) / 0.9 : 0.6 * pose.canvas_height;
}

function mirrorPerson(person, axis) {
  mapPerson(person, (x, y) => [2 * axis - x, y]);
  const k = person.pose_keypoints_2d.slice();
  for (let j = 0; j < 18; j++) for (let c = 0; c < 3; c++) person.pose_keypoints_2d[3 * j + c] = k[3 * MIRROR[j] + c];
  const left = person.hand_left_keypoints_2d, right = person.hand_right_keypoints_2d;
  delete person.hand_left_keypoints_2d; delete person.hand_right_keypoints_2d;
  if (right !== undefined) person.hand_left_keypoints_2d = right;
  if (left !== undefined) person.hand_right_keypoints_2d = left;
  const face = person.face_keypoints_2d;
  if (Array.isArray(face) && face.length === 210) person.face_keypoints_2d = FACE_MIRROR.flatMap((j) => face.slice(3 * j, 3 * j + 3));
}

function castList() { return Array.isArray(props.cast) ? props.cast : []; }
function castName(id, i) {
  const member = castList().find((c) => c.id === id);
  return member ? member.name : (id || `Person ${i + 1}`);
}
function maxPeople() { return Number(props.max_people) > 0 ? Number(props.max_people) : 4; }

// ---- history and output ------------------------------------------------------------------
function snapshot() { return JSON.stringify(pose); }
function record(before) {
  if (before === snapshot()) return;
  undoStack.push(before);
  if (undoStack.length > 200) undoStack.shift();
  redoStack = [];
}
function emit() {
  const text = snapshot();
  if (text === lastEmitted) return;
  lastEmitted = text;
  props.value = JSON.parse(text);
}
function change(fn) {  // a discrete edit: record, apply, draw, emit
  const before = snapshot();
  fn();
  record(before);
  draw();
  emit();
}
function restore(text) {
  pose = JSON.parse(text);
  if (sel.person !== null && sel.person >= pose.people.length) sel = { person: null, joint: null };
  draw();
  emit();
}
function undo() { if (undoStack.length) { redoStack.push(snapshot()); restore(undoStack.pop()); } }
function redo() { if (redoStack.length) { undoStack.push(snapshot()); restore(redoStack.pop()); } }

// ---- drawing -----------------------------------------------------------------------------
function el(name, attrs, parent) {
  const node = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function draw() {
  const W = pose.canvas_width, H = pose.canvas_height, u = Math.max(W, H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.style.aspectRatio = `${W} / ${H}`;
  svg.replaceChildren();
  el("rect", { x: 0, y: 0, width: W, height: H, class: "pe-canvas" }, svg);
  const bg = typeof props.background === "string" ? props.background : "";
  if (bg) el("image", { href: bg, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "xMidYMid slice", class: "pe-background" }, svg);
  const limbW = u / 150, r = u / 110;
  pose.people.forEach((person, i) => {
    const g = el("g", { class: "pe-person" + (sel.person === i ? " selected" : ""), "data-person": i }, svg);
    const b = bbox(person);
    if (sel.person === i && b) {
      el("rect", { x: b[0] - 2 * r, y: b[1] - 2 * r, width: b[2] - b[0] + 4 * r, height: b[3] - b[1] + 4 * r,
        class: "pe-selection", "stroke-width": u / 400, "stroke-dasharray": `${u / 100} ${u / 150}` }, g);
    }
    LIMBS.forEach(([a, c], li) => {
      const pa = point(person, a), pc = point(person, c);
      if (!pa || !pc) return;
      el("line", { x1: pa[0], y1: pa[1], x2: pc[0], y2: pc[1], stroke: rgb(COLORS[li], 0.6), "stroke-width": limbW,
        "stroke-linecap": "round", class: "pe-limb", "data-person": i }, g);
    });
    for (let j = 0; j < 18; j++) {
      let p = point(person, j);
      const hidden = !p;
      if (hidden) {
        if (sel.person !== i) continue;  // a hidden joint shows as a hollow ring while its person is selected
        p = parked.get(`${i}:${j}`) || defaultSpot(person, j);
      }
      const selected = sel.person === i && sel.joint === j;
      el("circle", { cx: p[0], cy: p[1], r: r * 2.2, class: "pe-hit", "data-person": i, "data-joint": j }, g);
      el("circle", { cx: p[0], cy: p[1], r: selected ? r * 1.35 : r, fill: hidden ? "none" : rgb(COLORS[j]),
        stroke: hidden ? "#aaa" : selected ? "#fff" : "none", "stroke-width": u / 300,
        "stroke-dasharray": hidden ? `${u / 250} ${u / 250}` : "none",
        class: "pe-joint" + (hidden ? " hidden" : "") + (selected ? " selected" : ""), "data-person": i, "data-joint": j }, g);
    }
    const head = point(person, 0) || point(person, 16) || point(person, 17) || point(person, 1);
    if (head) {
      const size = u / 32, y = Math.max(size * 1.2, head[1] - u / 22);
      const label = el("text", { x: head[0], y, "font-size": size, class: "pe-name", "data-person": i,
        "text-anchor": "middle", "stroke-width": size / 5 }, g);
      label.textContent = castName(person.character, i);
    }
  });
  status.textContent = describe();
  title.textContent = typeof props.label === "string" ? props.label : "";
  title.hidden = !title.textContent;
  updateButtons();
}

function defaultSpot(person, j) {
  const neck = point(person, 1) || [pose.canvas_width / 2, pose.canvas_height * 0.3];
  const h = personHeight(person);
  return [neck[0] + STANDING[j][0] * h, neck[1] + STANDING[j][1] * h];
}

function describe() {
  const n = pose.people.length;
  if (sel.person === null) {
    return n ? `${n} ${n === 1 ? "person" : "people"} on a ${pose.canvas_width} x ${pose.canvas_height} canvas. Drag a joint; drag a name to move a person.`
      : `Empty ${pose.canvas_width} x ${pose.canvas_height} canvas: add a pose from the library.`;
  }
  const who = castName(pose.people[sel.person].character, sel.person);
  if (sel.joint === null) return `${who} selected. Drag the name to move; Mirror flips this person.`;
  const p = point(pose.people[sel.person], sel.joint);
  return `${who} · ${NAMES[sel.joint]} ` + (p ? `(${Math.round(p[0])}, ${Math.round(p[1])}) · arrow keys nudge, Shift for 10 px` : "(hidden) · Show joint puts it back");
}

function updateButtons() {
  buttons.undo.disabled = !undoStack.length;
  buttons.redo.disabled = !redoStack.length;
  buttons.remove.disabled = sel.person === null;
  buttons.toggle.disabled = sel.joint === null;
  buttons.swap.disabled = pose.people.length < 2;
  buttons.mirror.disabled = !pose.people.length;
  buttons.reset.disabled = baseline === null || baseline === snapshot();
  const hidden = sel.joint !== null && sel.person !== null && !point(pose.people[sel.person], sel.joint);
  buttons.toggle.textContent = hidden ? "Show joint" : "Hide joint";
}

// ---- pointer: drag joints (mouse, pen or touch) ---------------------------------------------
function toCanvas(evt) {
  const m = svg.getScreenCTM().inverse();
  const p = new DOMPoint(evt.clientX, evt.clientY).matrixTransform(m);
  return [p.x, p.y];
}

svg.addEventListener("pointerdown", (evt) => {
  const target = evt.target;
  const i = target.dataset ? target.dataset.person : undefined;
  svg.focus({ preventScroll: true });
  if (i === undefined) { sel = { person: null, joint: null }; draw(); return; }
  const person = Number(i);
  const at = toCanvas(evt);
  if (target.dataset.joint !== undefined) {
    const j = Number(target.dataset.joint);
    sel = { person, joint: j };
    const p = point(pose.people[person], j);
    drag = p ? { kind: "joint", person, joint: j, offset: [at[0] - p[0], at[1] - p[1]], before: snapshot() } : null;
  } else {
    sel = { person, joint: null };
    drag = { kind: "person", person, last: at, before: snapshot() };
  }
  if (drag) {
    try { svg.setPointerCapture(evt.pointerId); } catch (err) { /* a synthetic or already-ended pointer: moves still reach the svg */ }
  }
  evt.preventDefault();
  draw();
});

svg.addEventListener("pointermove", (evt) => {
  if (!drag) return;
  const at = toCanvas(evt);
  const person = pose.people[drag.person];
  if (drag.kind === "joint") {
    const old = point(person, drag.joint);
    const now = [at[0] - drag.offset[0], at[1] - drag.offset[1]];
    setPoint(person, drag.joint, now);
    const moved = point(person, drag.joint);
    const dx = moved[0] - old[0], dy = moved[1] - old[1];
    const follow = HAND_OF_WRIST[drag.joint] || (drag.joint === 0 ? "face_keypoints_2d" : null);
    if (follow) mapTriples(person[follow], (x, y) => [x + dx, y + dy]);  // the hand follows its wrist, the face its nose
  } else {
    const dx = at[0] - drag.last[0], dy = at[1] - drag.last[1];
    drag.last = at;
    mapPerson(person, (x, y) => [x + dx, y + dy]);
  }
  draw();
});

function endDrag(evt) {
  if (!drag) return;
  if (svg.hasPointerCapture && svg.hasPointerCapture(evt.pointerId)) svg.releasePointerCapture(evt.pointerId);
  const before = drag.before;
  drag = null;
  record(before);
  draw();
  emit();
}
svg.addEventListener("pointerup", endDrag);
svg.addEventListener("pointercancel", endDrag);

// ---- keyboard: nudge the selected joint (or person), undo/redo ------------------------------
svg.addEventListener("keydown", (evt) => {
  const key = evt.key.toLowerCase();
  if ((evt.ctrlKey || evt.metaKey) && key === "z") { evt.shiftKey ? redo() : undo(); evt.preventDefault(); return; }
  if ((evt.ctrlKey || evt.metaKey) && key === "y") { redo(); evt.preventDefault(); return; }
  const steps = { arrowleft: [-1, 0], arrowright: [1, 0], arrowup: [0, -1], arrowdown: [0, 1] };
  if (!(key in steps) || sel.person === null) return;
  evt.preventDefault();
  const d = evt.shiftKey ? 10 : 1;
  const [dx, dy] = [steps[key][0] * d, steps[key][1] * d];
  const person = pose.people[sel.person];
  if (sel.joint === null) { change(() => mapPerson(person, (x, y) => [x + dx, y + dy])); return; }
  const p = point(person, sel.joint);
  if (p) change(() => setPoint(person, sel.joint, [p[0] + dx, p[1] + dy]));
});

// ---- toolbar ------------------------------------------------------------------------------
function addFromLibrary() {
  const entries = Array.isArray(props.library) ? props.library : [];
  const entry = entries.find((e) => e.id === select.value);
  if (!entry) return;
  const incoming = parseValue(entry).people;
  if (pose.people.length + incoming.length > maxPeople()) {
    status.textContent = `A panel holds at most ${maxPeople()} ${maxPeople() === 1 ? "person" : "people"}; remove one before adding "${entry.name}".`;
    return;
  }
  const W = pose.canvas_width, H = pose.canvas_height;
  const s = Math.min(W / entry.canvas_width, H / entry.canvas_height);
  const ox = (W - entry.canvas_width * s) / 2, oy = (H - entry.canvas_height * s) / 2;
  change(() => {
    const used = new Set(pose.people.map((p) => p.character).filter(Boolean));
    const free = castList().map((c) => c.id).filter((id) => !used.has(id));
    for (const person of incoming) {
      mapPerson(person, (x, y) => [x * s + ox, y * s + oy]);
      delete person.character;
      if (free.length) person.character = free.shift();
      pose.people.push(person);
    }
    sel = { person: pose.people.length - 1, joint: null };
  });
}

const actions = {
  undo, redo,
  mirror() {
    change(() => {
      if (sel.person === null) { pose.people.forEach((p) => mirrorPerson(p, pose.canvas_width / 2)); return; }
      const b = bbox(pose.people[sel.person]);
      if (b) mirrorPerson(pose.people[sel.person], (b[0] + b[2]) / 2);
    });
  },
  swap() {
    const [a, b] = sel.person !== null && sel.person > 0 ? [0, sel.person] : [0, 1];
    change(() => {
      const ca = pose.people[a].character, cb = pose.people[b].character;
      delete pose.people[a].character; delete pose.people[b].character;
      if (cb) pose.people[a].character = cb;
      if (ca) pose.people[b].character = ca;
    });
  },
  toggle() {
    const { person: i, joint: j } = sel;
    const person = pose.people[i];
    const p = point(person, j);
    change(() => {
      if (p) { parked.set(`${i}:${j}`, p); setPoint(person, j, null); }
      else setPoint(person, j, parked.get(`${i}:${j}`) || defaultSpot(person, j));
    });
  },
  remove() {
    const i = sel.person;
    sel = { person: null, joint: null };
    change(() => { pose.people.splice(i, 1); parked.clear(); });
  },
  reset() {
    if (baseline === null) return;
    change(() => { pose = JSON.parse(baseline); sel = { person: null, joint: null }; });
  },
  add: addFromLibrary,
};
Object.entries(buttons).forEach(([name, b]) => b.addEventListener("click", () => { actions[name](); svg.focus({ preventScroll: true }); }));

// ---- inputs from Python ---------------------------------------------------------------------
function fillLibrary() {
  const entries = Array.isArray(props.library) ? props.library : [];
  select.replaceChildren();
  for (const e of entries) {
    const o = document.createElement("option");
    o.value = e.id;
    o.textContent = `${e.name}${e.people && e.people.length > 1 ? ` (${e.people.length})` : ""}`;
    select.appendChild(o);
  }
  select.disabled = buttons.add.disabled = !entries.length;
}

function load(value) {
  try {
    pose = parseValue(value);
  } catch (err) {
    status.textContent = `Could not read this pose: ${err.message}`;
    pose = parseValue(null);
  }
  baseline = snapshot();
  lastEmitted = JSON.stringify(typeof value === "string" && value ? JSON.parse(value) : value ?? null);
  undoStack = []; redoStack = []; parked.clear();
  sel = { person: null, joint: null };
  draw();
}

watch("value", () => {
  const text = JSON.stringify(props.value ?? null);
  if (text !== lastEmitted) load(props.value);
});
watch(["background", "cast", "max_people", "label"], () => draw());
watch("library", fillLibrary);
fillLibrary();
load(props.value);
root.dataset.ready = "1";
