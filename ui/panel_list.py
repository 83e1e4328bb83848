"""The Panels tab's list: a radio group of panels, each with its chosen take's thumbnail, number, prompt and state.

A `gr.HTML` component (like the pose editor) whose value is the selected panel's id; its `panels` prop holds one
row per panel: `{"id", "label", "state", "thumb"}`, where `thumb` is a Gradio file (a private copy from
`ctx.files`, which Gradio serves from its cache) or None. Picking a row fires the component's `input` event.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

HERE = Path(__file__).resolve().parent
JS = (HERE / "panel_list.js").read_text(encoding="utf-8")
CSS = (HERE / "panel_list.css").read_text(encoding="utf-8")
# Static markup (no "${" or "{{": gr.HTML treats its template as JS/Handlebars); panel_list.js fills .pl-root.
HTML = '<div class="pl-head">{label}</div><div class="pl-root" role="radiogroup" aria-label="{label}"></div>'


def row(panel_id: str, label: str, state: str, thumb: str | None) -> dict[str, Any]:
    """One row of the `panels` prop; `thumb` is the path of a browser copy (ctx.files) or None."""
    return {"id": panel_id, "label": label, "state": state,
            "thumb": FileData(path=thumb, orig_name=Path(thumb).name).model_dump() if thumb else None}


def build_panel_list(label: str, elem_id: str | None = None, elem_classes: list[str] | None = None) -> gr.HTML:
    """The list, placed in the current Blocks; update it with `gr.update(value=panel_id, panels=[row(...), ...])`."""
    text = html.escape(label).replace("$", "&#36;").replace("{", "&#123;")
    return gr.HTML(value="", html_template=HTML.format(label=text), css_template=CSS, js_on_load=JS, label=label,
                   elem_id=elem_id, elem_classes=elem_classes, panels=[])
