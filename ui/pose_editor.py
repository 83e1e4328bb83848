"""The skeleton editor: a `gr.HTML` component whose value is OpenPose JSON, edited by dragging joints.

Place it with `build_pose_editor(...)`; handlers receive the value as an OpenPose JSON dict in canvas
pixels (`pose_from_json` turns it into a Pose). The browser side is `pose_editor.js` / `.css`, loaded as
the component's `js_on_load` / `css_template` (no build step).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard.model import MAX_CHARACTERS_PER_PANEL
from storyboard.poselibrary import list_library
from storyboard.poses import Pose, pose_from_json, pose_to_json

HERE = Path(__file__).resolve().parent
JS = (HERE / "pose_editor.js").read_text(encoding="utf-8")
CSS = (HERE / "pose_editor.css").read_text(encoding="utf-8")
# Static markup: pose_editor.js draws into it. (No "${" or "{{": gr.HTML treats templates as JS/Handlebars.)
HTML = """
<div class="pe-root">
  <div class="pe-toolbar" role="toolbar" aria-label="Pose editor tools">
    <span class="pe-title"></span>
    <button type="button" data-act="undo" title="Undo (Ctrl+Z)">&#8630; Undo</button>
    <button type="button" data-act="redo" title="Redo (Ctrl+Shift+Z)">&#8631; Redo</button>
    <span class="pe-sep"></span>
    <button type="button" data-act="mirror" title="Mirror the selected person, or everyone when none is selected">&#8646; Mirror</button>
    <button type="button" data-act="swap" title="The two skeletons trade cast members">&#8644; Swap cast</button>
    <button type="button" data-act="toggle" title="Hide the selected joint (or show it again)">Hide joint</button>
    <button type="button" data-act="remove" title="Remove the selected person">Remove person</button>
    <button type="button" data-act="reset" title="Back to the pose as it was loaded">Reset</button>
    <span class="pe-sep"></span>
    <select class="pe-library" aria-label="Library pose to add"></select>
    <button type="button" class="pe-add" data-act="add" title="Add the chosen library pose">+ Add</button>
  </div>
  <div class="pe-stage"><svg class="pe-svg" tabindex="0" role="application" aria-label="Skeleton: drag joints, arrow keys nudge" xmlns="http://www.w3.org/2000/svg"></svg></div>
  <div class="pe-status" aria-live="polite"></div>
</div>
"""

PoseValue = Pose | dict | str | None


def to_value(pose: PoseValue) -> dict | None:
    """OpenPose JSON (canvas pixels) for a Pose, a JSON dict or JSON text; None stays None."""
    if pose is None or pose == "":
        return None
    if not isinstance(pose, Pose):
        pose = pose_from_json(pose, "pose editor value")
    return pose_to_json(pose)


def library_props(people: int | None = None) -> list[dict[str, Any]]:
    """The pose library as the editor's `library` prop: id, name, tags and OpenPose JSON per entry."""
    return [{"id": e.id, **e.to_json()} for e in list_library(people=people)]


def background_data_url(image: str | Path | Any | None, max_side: int = 768) -> str:
    """A faint background for the editor (e.g. the current take) as a JPEG data URL; '' for none."""
    if image is None or image == "":
        return ""
    from PIL import Image

    from storyboard.images import open_image, to_rgb

    if isinstance(image, Image.Image):
        img = to_rgb(image)
    else:
        img = open_image(image, f"the background image {image}", advice="Choose a PNG or JPEG.")
    img.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def editor_pose(value: Any) -> Pose | None:
    """The editor's value (as a handler receives it) as a Pose; None when there is none."""
    if value is None or value == "":
        return None
    return pose_from_json(value, "the pose editor")


def build_pose_editor(
    pose: PoseValue = None,
    cast: Sequence[dict[str, str]] = (),
    background: str | Path | None = None,
    max_people: int = MAX_CHARACTERS_PER_PANEL,
    label: str = "Pose",
    library: list[dict[str, Any]] | None = None,
    elem_id: str | None = None,
) -> gr.HTML:
    """The editor, placed in the current Blocks.

    Its value is OpenPose JSON (a dict in canvas pixels; `editor_pose` makes it a Pose). Outputs to it take
    `to_value(pose)`. Props, also updatable with `gr.update(...)`: `cast` ([{"id", "name"}] in skeleton order),
    `background` (`background_data_url(take)`), `library` (`library_props()`), `max_people`, `label`.
    A plain gr.HTML rather than a subclass: Gradio writes a .pyi stub beside any Component subclass.
    """
    return gr.HTML(
        value=to_value(pose),
        html_template=HTML,
        css_template=CSS,
        js_on_load=JS,
        label=label,
        elem_id=elem_id,
        elem_classes=["pose-editor"],
        cast=[dict(c) for c in cast],
        library=library_props() if library is None else library,
        background=background_data_url(background),
        max_people=max_people,
    )


def demo_blocks(pose: PoseValue = None, cast: Sequence[dict[str, str]] = (), background: str | Path | None = None) -> gr.Blocks:
    """A page with just the editor and its value as text (`#pose-json`), for trying it and for tests."""

    def show(value: Any) -> str:
        editor_pose(value)  # the value must always be valid OpenPose JSON
        return json.dumps(value)

    with gr.Blocks(title="Pose editor") as demo:
        editor = build_pose_editor(pose, cast=cast, background=background, elem_id="pose-editor")
        text = gr.Textbox(label="OpenPose JSON", elem_id="pose-json", lines=4, max_lines=12,
                          value=json.dumps(to_value(pose)) if pose is not None else "")
        editor.change(show, inputs=editor, outputs=text, api_name="pose_changed")
    return demo


if __name__ == "__main__":  # python -m ui.pose_editor: try the editor on the sample's two-person pose
    from storyboard.poselibrary import library_pose

    demo_blocks(library_pose("talking").pose.with_characters(["mia", "leo"]),
                cast=[{"id": "mia", "name": "Mia"}, {"id": "leo", "name": "Leo"}]).launch()
