"""The Style tab: pick a style preset, with a preview of what it does to a prompt."""

from __future__ import annotations

from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.presets import list_styles, load_style
from storyboard.storyfile import load_project
from ui.common import AppContext, Area, user_errors

EXAMPLE = "Mia runs for the bus in the rain"


def describe_style(style_id: str) -> str:
    """Markdown: what the preset does (description, prompt as sent, negative, sampler, LoRA and its licence)."""
    style = load_style(style_id)
    s = style.sampler
    lines = [f"### {style.name}", style.description or "", "",
             f"**A prompt becomes:** {style.apply(EXAMPLE)}", ""]
    if style.negative:
        lines += [f"**Avoids:** {style.negative}", ""]
    lines.append(f"**Sampler:** {s.scheduler}, {s.steps} steps, guidance {s.guidance:g}; "
                 f"character strength {s.ip_adapter_scale:g}, adapter LoRA {s.lora_scale:g}")
    if style.lora:
        source = f"{style.lora.repo}/{style.lora.file}" if style.lora.repo else style.lora.path
        lines += ["", f"**Style LoRA:** `{source}` at {style.lora.weight:g}"
                  + (f" ({style.lora.license})" if style.lora.license else "")]
    lines += ["", "_Switching the style marks every panel as changed; nothing else in the story changes._"]
    return "\n".join(lines)


def build_style_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Style tab; returns how to refresh it."""
    choices = [(style.name, style_id) for style_id, style in list_styles().items()]
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, elem_classes=["sb-card"]):
            style = gr.Radio(label="Style of the whole story", choices=choices, elem_id="style-picker")
        with gr.Column(scale=3, elem_classes=["sb-card"]):
            preview = gr.Markdown(describe_style(choices[0][1]), elem_id="style-preview")

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        style_id = load_project(root_value).style if root_value else choices[0][1]
        return [style_id, describe_style(style_id)]

    @user_errors
    def pick(root_value: str, session_value: str, style_id: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        studio.set_style(project_root, style_id)
        gr.Info(f"Style set to {load_style(style_id).name}; render again to see it.")
        return [style_id, describe_style(style_id)]

    style.input(pick, [root, session, style], [style, preview], api_name="set_style")
    return Area([style, preview], refresh)
