"""The Style tab: pick a style preset, with a preview of what it does to a prompt, and tune it for this project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.presets import StylePreset, list_styles, load_style, with_overrides
from storyboard.storyfile import load_project
from ui.common import AppContext, Area, user_errors

EXAMPLE = "Mia runs for the bus in the rain"


@dataclass(frozen=True)
class Knob:
    """One per-project sampler setting, in words a comic artist uses."""

    key: str
    label: str
    info: str
    low: float
    high: float
    step: float


KNOBS: tuple[Knob, ...] = (
    Knob("steps", "Detail (steps)", "finer but slower", 1, 150, 1),
    Knob("guidance", "Follow the prompt", "stick to the words", 1, 30, 0.5),
    Knob("ip_adapter_scale", "Likeness strength", "faces match photos", 0, 2, 0.05),
    Knob("lora_scale", "Character consistency", "same look each panel", 0, 2, 0.05),
    Knob("pose_scale", "Pose strength", "follow the skeleton", 0, 2, 0.05),
)


def describe_style(style_id: str, overrides: dict[str, Any] | None = None) -> str:
    """Markdown: what the preset does (description, prompt as sent, negative, sampler, LoRA and its licence)."""
    style = load_style(style_id)
    effective = with_overrides(style, overrides or {})
    s = effective.sampler
    lines = [f"### {style.name}", style.description or "", "",
             f"**A prompt becomes:** {style.apply(EXAMPLE)}", ""]
    if style.negative:
        lines += [f"**Avoids:** {style.negative}", ""]
    lines.append(f"**Sampler:** {s.scheduler}, {s.steps} steps, guidance {s.guidance:g}; "
                 f"character strength {s.ip_adapter_scale:g}, adapter LoRA {s.lora_scale:g}")
    if overrides:
        changed = ", ".join(f"{key.replace('_', ' ')} {value:g}" if isinstance(value, (int, float)) else f"{key} {value}"
                            for key, value in overrides.items())
        lines[-1] += f" (this project's own: {changed})"
    if style.lora:
        source = f"{style.lora.repo}/{style.lora.file}" if style.lora.repo else style.lora.path
        lines += ["", f"**Style LoRA:** `{source}` at {style.lora.weight:g}"
                  + (f" ({style.lora.license})" if style.lora.license else "")]
    lines += ["", "_Switching the style, or tuning it below, marks every panel as changed; nothing else in the story changes._"]
    return "\n".join(lines)


def knob_updates(style: StylePreset, overrides: dict[str, Any]) -> list[Any]:
    """One slider update per knob: the project's value (or the style's), with the style's own value in the info."""
    updates = []
    for knob in KNOBS:
        default = getattr(style.sampler, knob.key)
        value = overrides.get(knob.key, default)
        mark = ", yours" if knob.key in overrides else ""
        updates.append(gr.update(value=value, info=f"{knob.info} · default {default:g}{mark}"))
    return updates


def build_style_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Style tab; returns how to refresh it."""
    choices = [(style.name, style_id) for style_id, style in list_styles().items()]
    first = load_style(choices[0][1])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, elem_classes=["sb-card"]):
            style = gr.Radio(label="Style of the whole story", choices=choices, elem_id="style-picker")
        with gr.Column(scale=3, elem_classes=["sb-card"]):
            preview = gr.Markdown(describe_style(choices[0][1]), elem_id="style-preview")
    with gr.Column(elem_classes=["sb-card"], elem_id="style-tuning"):
        gr.Markdown("#### Fine-tune this story's style  ·  _changes save at once and apply to the next render_")
        sliders: list[gr.Slider] = []

        def slider(knob: Knob) -> gr.Slider:
            default = getattr(first.sampler, knob.key)
            high = min(knob.high, ctx.settings.max_steps) if knob.key == "steps" else knob.high  # fewer on a Space
            return gr.Slider(knob.low, high, value=default, step=knob.step, label=knob.label,
                             info=f"{knob.info} · default {default:g}", min_width=280,
                             elem_id=f"style-{knob.key.replace('_', '-')}")

        with gr.Row(equal_height=True):
            sliders += [slider(knob) for knob in KNOBS[:3]]
        with gr.Row(equal_height=True):
            sliders += [slider(knob) for knob in KNOBS[3:]]
            with gr.Column(min_width=280):
                reset_btn = gr.Button("Reset to the style's defaults", size="sm", elem_id="style-reset")
                note = gr.Markdown("", elem_id="style-note")

    def values(root_value: str) -> list[Any]:
        if not root_value:
            return [choices[0][1], describe_style(choices[0][1]), *knob_updates(first, {}), ""]
        project = load_project(root_value)
        overrides = studio.style_overrides(project)
        own = {k: v for k, v in overrides.items() if k in {knob.key for knob in KNOBS}}
        return [project.style, describe_style(project.style, overrides), *knob_updates(load_style(project.style), own), ""]

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        return values(root_value)

    @user_errors
    def pick(root_value: str, session_value: str, style_id: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        studio.set_style(project_root, style_id)
        gr.Info(f"Style set to {load_style(style_id).name}; render again to see it.")
        return values(str(project_root))

    @user_errors
    def tune(root_value: str, session_value: str, *knob_values: Any, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        for knob, value in zip(KNOBS, knob_values):  # the browser's values come unchecked (preprocess=False below)
            high = min(knob.high, ctx.settings.max_steps) if knob.key == "steps" else knob.high
            if isinstance(value, (int, float)) and not knob.low <= value <= high:
                raise studio.StudioError(f"{knob.label} {value:g} is out of range; use {knob.low:g} to {high:g}.")
        studio.set_style_overrides(project_root, {knob.key: value for knob, value in zip(KNOBS, knob_values)}, ctx.settings)
        out = values(str(project_root))
        out[-1] = "Saved; panels rendered before this are marked to render again."
        return out

    def tune_handler(root_value: str, session_value: str, steps: float, guidance: float, ip_adapter_scale: float,
                     lora_scale: float, pose_scale: float, request: gr.Request) -> list[Any]:
        return tune(root_value, session_value, steps, guidance, ip_adapter_scale, lora_scale, pose_scale, request=request)

    @user_errors
    def reset(root_value: str, session_value: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        studio.reset_style_overrides(project_root)
        out = values(str(project_root))
        out[-1] = "Back to the style's own settings."
        return out

    outputs = [style, preview, *sliders, note]
    style.input(pick, [root, session, style], outputs, api_name="set_style", trigger_mode="always_last")
    for slider in sliders:
        # Unchecked by Gradio (a number typed out of range would be an "Error" badge on every output): `tune`
        # refuses it with a message naming the slider. Scripts (set_style_overrides) keep Gradio's range check.
        slider.release(tune_handler, [root, session, *sliders], outputs, api_name=False, preprocess=False,
                       trigger_mode="always_last")  # a slider moved while another's change saves is saved after it
    api_tune = gr.Button(visible=False)  # scripts: set all five at once
    api_tune.click(tune_handler, [root, session, *sliders], outputs, api_name="set_style_overrides")
    reset_btn.click(reset, [root, session], outputs, api_name="reset_style_overrides")
    return Area(outputs, refresh)
