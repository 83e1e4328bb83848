// The panel list: one radio per panel with the chosen take's thumbnail, its number, prompt and state.
// Drawn into .pl-root by the gr.HTML component of ui/panel_list.py; props.value is the selected panel's id,
// props.panels the rows ({id, label, state, thumb: a Gradio file with a url, or null}).
// Rows are updated in place (never rebuilt) so that a click pressed while an autosave redraws the list still lands.
const root = element.querySelector(".pl-root");
const group = "pl-" + Math.random().toString(36).slice(2);
const STATES = ["current", "stale", "none"];

function rowsOf() { return Array.isArray(props.panels) ? props.panels : []; }

function makeRow() {
  const label = document.createElement("label");
  label.className = "pl-item";
  const input = document.createElement("input");
  input.type = "radio";
  input.name = group;
  input.className = "pl-radio";
  const thumb = document.createElement("span");
  thumb.className = "pl-thumb";
  const img = document.createElement("img");
  img.alt = "";
  img.loading = "lazy";
  img.decoding = "async";
  thumb.append(img);
  const text = document.createElement("span");
  text.className = "pl-text";
  label.append(input, thumb, text);
  return label;
}

function fill(label, row) {
  const input = label.querySelector("input");
  const img = label.querySelector("img");
  const text = label.querySelector(".pl-text");
  if (input.value !== row.id) input.value = row.id;
  if (text.textContent !== row.label) text.textContent = row.label;
  const url = row.thumb && typeof row.thumb.url === "string" ? row.thumb.url : "";
  if (img.getAttribute("src") !== url) {
    if (url) img.setAttribute("src", url); else img.removeAttribute("src");
  }
  label.classList.toggle("has-thumb", Boolean(url));
  for (const state of STATES) label.classList.toggle("state-" + state, row.state === state);
  label.title = row.label;
}

function draw() {
  const rows = rowsOf();
  const labels = Array.from(root.children);
  rows.forEach((row, i) => {
    let label = labels[i];
    if (!label) { label = makeRow(); root.append(label); }
    fill(label, row);
  });
  labels.slice(rows.length).forEach((label) => label.remove());
  mark();
}

function mark() {
  let chosen = null;
  for (const label of root.children) {
    const input = label.querySelector("input");
    const on = input.value === props.value;
    if (input.checked !== on) input.checked = on;
    label.classList.toggle("selected", on);
    if (on) chosen = label;
  }
  if (chosen && chosen.dataset.shown !== props.value) {  // keep the selected row in view, inside the list only
    const list = root;  // position: relative, so offsetTop is measured from the list's top
    const top = chosen.offsetTop;
    if (top < list.scrollTop || top + chosen.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = Math.max(0, top - list.clientHeight / 3);
    }
    for (const label of root.children) delete label.dataset.shown;
    chosen.dataset.shown = props.value;
  }
  root.classList.toggle("empty", root.children.length === 0);
}

root.addEventListener("change", (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.name !== group || !input.checked) return;
  props.value = input.value;
  mark();
  trigger("input");
});

watch("panels", draw);
watch("value", mark);
draw();
root.dataset.ready = "1";
