"""The Panels tab: the ordered list, and the selected panel's prompt, cast, pose, lettering, seed and takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import ProjectError, StoryboardError
from storyboard.model import BALLOON_KINDS, DEFAULT_SHOT, MAX_CHARACTERS_PER_PANEL, SHOT_TYPES, STORYMAKER_CHARACTERS
from storyboard.paths import resolve_inside
from storyboard.settings import max_chars
from storyboard.storyfile import load_project
from storyboard.thumbnails import panel_thumbnail
from ui.common import AppContext, Area, current_request, from_browser, user_errors, user_errors_gen
from ui.panel_list import build_panel_list, row
from ui.pose_editor import background_data_url, build_pose_editor, library_props, to_value
from ui.render_area import STATE_TEXT, cluster_checkbox, fast_checkbox, panel_label, run_render, take_caption
from ui.retouch_area import build_retouch_area

# Short enough to show whole in the dropdown at 1280 px wide (issue 12 item 6); storyboard.model.SHOT_TYPES says more.
SHOT_LABELS = {"establishing": "establishing: the whole place", "wide": "wide: the scene, people small",
               "full": "full: head to toe", "medium": "medium: from the waist up", "close-up": "close-up: head and shoulders",
               "extreme-close-up": "extreme close-up: a face, a detail", "over-the-shoulder": "over the shoulder"}
SHOT_CHOICES = [(SHOT_LABELS.get(shot, shot), shot) for shot in SHOT_TYPES]
NOBODY = "(off-panel / narrator)"
# past two, StoryMaker adds each character by a regional pass (storyboard.engines.storymaker.regional)
CHARACTERS_LABEL = (f"Characters (up to {MAX_CHARACTERS_PER_PANEL}, in skeleton order; "
                    f"past {STORYMAKER_CHARACTERS}, weaker likeness)")
# Sent with every update of the editor: an update that leaves a prop out clears it in the browser.
LIBRARY = library_props()


def build_panels_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Panels tab; returns how to refresh it."""
    selected = gr.State("")
    balloon_index = gr.State(-1)

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300, elem_classes=["sb-card"]):
            panel_list = build_panel_list("Panels (✓ up to date · ⟳ changed · ○ not rendered)", elem_id="panel-list",
                                          elem_classes=["sb-panel-list"])
            with gr.Row(elem_classes=["sb-small-buttons"]):
                up_btn = gr.Button("↑ Up", size="sm", elem_id="panel-up")
                down_btn = gr.Button("↓ Down", size="sm", elem_id="panel-down")
                dup_btn = gr.Button("Duplicate", size="sm", elem_id="panel-duplicate")
                del_btn = gr.Button("Delete", size="sm", variant="stop", elem_id="panel-delete")
            new_prompt = gr.Textbox(label="New panel", placeholder="What happens? e.g. {mia} runs for the bus",
                                    lines=2, elem_id="new-panel-prompt", max_length=max_chars("prompt"))
            add_btn = gr.Button("+ Add panel", variant="primary", elem_id="add-panel")
        with gr.Column(scale=5):
            with gr.Row(equal_height=True):
                heading = gr.Markdown("#### No panel selected", elem_id="panel-heading")
                badge = gr.Markdown("", elem_id="panel-state", elem_classes=["sb-badge"])
            with gr.Row(equal_height=False):
                prompt = gr.Textbox(label="Prompt ({id} puts a character in)", lines=2, scale=4, elem_id="panel-prompt",
                                    max_length=max_chars("prompt"))
                insert = gr.Dropdown(label="Insert a name", choices=[], value=None, scale=1, elem_id="panel-insert")
            # At 1280x800 the skeleton sits above the fold and everything it is edited with beside it: cast, shot,
            # caption and balloons; the takes and render buttons follow under both (issue 12 item 6).
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=320):
                    editor = build_pose_editor(label="Pose: drag joints; pick a library pose and + Add",
                                               elem_id="panel-pose")
                with gr.Column(scale=1, min_width=320):
                    characters = gr.CheckboxGroup(label=CHARACTERS_LABEL, choices=[],
                                                  elem_id="panel-characters")
                    shot = gr.Dropdown(label="Shot", choices=SHOT_CHOICES, value=DEFAULT_SHOT, elem_id="panel-shot")
                    caption = gr.Textbox(label="Caption", elem_id="panel-caption", max_length=max_chars("caption"))
                    with gr.Group(elem_classes=["sb-balloons"]):
                        balloons = gr.Radio(label="Balloons", choices=[], elem_id="balloon-list")
                        with gr.Row(equal_height=True):
                            speaker = gr.Dropdown(label="Speaker", choices=[], scale=3, elem_id="balloon-speaker")
                            kind = gr.Dropdown(label="Kind", choices=list(BALLOON_KINDS), value="speech", scale=2,
                                               elem_id="balloon-kind")
                        text = gr.Textbox(label="Balloon text", placeholder="What is said", elem_id="balloon-text",
                                          max_length=max_chars("balloon"))
                        with gr.Row():
                            add_balloon_btn = gr.Button("Add balloon", size="sm", variant="primary", elem_id="add-balloon")
                            update_balloon_btn = gr.Button("Update", size="sm", elem_id="update-balloon")
                            remove_balloon_btn = gr.Button("Remove", size="sm", variant="stop", elem_id="remove-balloon")
            with gr.Row(equal_height=False, elem_id="panel-render-row"):
                takes = gr.Gallery(label="Takes: click one to use it", columns=5, height=190, allow_preview=False,
                                   object_fit="contain", elem_id="panel-takes", buttons=[], scale=3)
                with gr.Column(scale=2, min_width=260):
                    render_btn = gr.Button("Render this panel", variant="primary", elem_id="render-panel")
                    with gr.Row(equal_height=True):
                        # No minimum/maximum on these numbers: Gradio would refuse a value out of range before the
                        # handler, with an "Error" badge on each output; the studio's own check says what to do.
                        count = gr.Number(value=3, precision=0, label="Variations", scale=1, min_width=90,
                                          elem_id="variation-count")
                        vary_btn = gr.Button("Render variations", elem_id="render-variations", scale=2, min_width=120)
                    fast = fast_checkbox("panel-fast")
                    cluster = cluster_checkbox(ctx, "panel-cluster")
                    render_status = gr.Markdown("", elem_id="panel-render-status")
            wire_retouch = build_retouch_area(ctx, root, session, selected)
            with gr.Accordion("More: notes, duration, seed", open=False, elem_id="panel-more"):
                notes = gr.Textbox(label="Notes (action, camera; shown on the storyboard sheet)", elem_id="panel-notes",
                                   max_length=max_chars("notes"))
                with gr.Row(equal_height=True):
                    duration = gr.Number(label="Duration (s)", scale=1, elem_id="panel-duration")
                    seed = gr.Number(label="Seed", precision=0, scale=1, elem_id="panel-seed")
                    lock = gr.Checkbox(label="Lock seed", scale=1, elem_id="panel-lock")

    # ------------------------------------------------------------ reading the project into the form

    def panel_rows(root_path: Path, project: Any, states: dict[str, str]) -> list[dict[str, Any]]:
        """The list's rows: label, state and the chosen take's thumbnail (made once per take, then a cached file).

        Scripts get the rows without thumbnails: gradio_client would download every one with each answer."""
        pictures = from_browser(current_request())
        rows = []
        for n, p in enumerate(project.panels, start=1):
            thumb = panel_thumbnail(root_path, p) if pictures else None
            rows.append(row(p.id, panel_label(n, p, project, states[p.id]), states[p.id],
                            ctx.files.copy(thumb) if thumb is not None else None))
        return rows

    def takes_items(root_path: Path, panel: Any) -> list[tuple[str, str]]:
        items = []
        for i, take in enumerate(panel.takes):
            path = resolve_inside(root_path, take.file)
            if path.is_file():
                items.append((ctx.files.copy(path), take_caption(i, panel.selected, take, panel.characters)))
        return items

    def form(root_value: str, panel_id: str, status: str = "", rows: bool = True) -> list[Any]:
        """Every output of the tab, for the panel `panel_id` (or the first panel, or an empty form).

        `rows` False leaves the list's rows as they are and moves only its selection (picking a panel changes no row)."""
        if not root_value:
            return [""] + [gr.update()] * (len(outputs) - 1)
        root_path = Path(root_value)
        project = load_project(root_path)
        states = studio.panel_states(root_path, project, ctx.engines.current(), ctx.settings)
        ids = [p.id for p in project.panels]
        if panel_id not in ids:
            panel_id = ids[0] if ids else ""
        cast_choices = [(c.name, c.id) for c in project.cast]
        if not panel_id:
            return ["", gr.update(panels=[], value=""), "#### No panels yet: write one on the left and press + Add panel",
                    "", "", gr.update(choices=[(f"{c.name} → {{{c.id}}}", c.id) for c in project.cast], value=None),
                    gr.update(choices=cast_choices, value=[]), DEFAULT_SHOT, "", None, None, False, "",
                    gr.update(value=None, cast=[], background="", library=LIBRARY), [], status,
                    gr.update(choices=[], value=None), gr.update(choices=[(NOBODY, "")] + cast_choices, value=""),
                    "speech", "", -1]
        panel = project.panel(panel_id)
        number = ids.index(panel_id) + 1
        pose = studio.panel_pose(root_path, panel)
        take = panel.selected_take
        take_path = resolve_inside(root_path, take.file) if take is not None else None
        background = ""
        if take_path is not None and take_path.is_file():
            try:
                background = background_data_url(take_path)
            except StoryboardError as exc:  # a damaged or huge take: the panel still opens, without the faint background
                status = f"{status}  \n⚠️ {exc}".strip()
        cast = [{"id": cid, "name": project.character(cid).name} for cid in panel.characters]
        balloon_choices = [(f"{i + 1}. {(project.character(b.speaker).name if b.speaker else 'Narrator')} "
                            f"({b.kind}): {b.text}", i) for i, b in enumerate(panel.balloons)]
        return [
            panel_id,
            gr.update(panels=panel_rows(root_path, project, states), value=panel_id) if rows else gr.update(value=panel_id),
            f"#### Panel {number} of {len(ids)} · `{panel.id}`",
            f"{ {'current': '🟢', 'stale': '🟠', 'none': '⚪'}[states[panel.id]] } {STATE_TEXT[states[panel.id]].capitalize()}",
            panel.prompt,
            gr.update(choices=[(f"{c.name} → {{{c.id}}}", c.id) for c in project.cast], value=None),
            gr.update(choices=cast_choices, value=list(panel.characters)),
            panel.shot, panel.caption, panel.duration, panel.seed, panel.seed_locked, panel.notes,
            gr.update(value=to_value(pose), cast=cast, background=background, library=LIBRARY),
            takes_items(root_path, panel),
            status,
            gr.update(choices=balloon_choices, value=None),
            gr.update(choices=[(NOBODY, "")] + cast_choices, value=panel.characters[0] if panel.characters else ""),
            "speech", "", -1,
        ]

    outputs = [selected, panel_list, heading, badge, prompt, insert, characters, shot, caption, duration, seed, lock,
               notes, editor, takes, render_status, balloons, speaker, kind, text, balloon_index]

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        return form(root_value, "")

    def keep(root_value: str, panel_id: str) -> list[Any]:
        return form(root_value, panel_id)

    def checked_root(root_value: str, session_value: str, request: gr.Request | None) -> str:
        return str(ctx.project_root(root_value, session_value, request))

    # ------------------------------------------------------------ list actions

    @user_errors
    def pick(root_value: str, session_value: str, panel_id: str, request: gr.Request) -> list[Any]:
        studio.check_text("choice", panel_id, "panel id")
        project_root = checked_root(root_value, session_value, request)
        if panel_id and panel_id not in [p.id for p in load_project(project_root).panels]:
            raise ProjectError(f"There is no panel {panel_id!r}; pick one from the list.")
        return form(project_root, panel_id, rows=False)

    @user_errors
    def add(root_value: str, session_value: str, prompt_value: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        _, pid = studio.add_panel(project_root, prompt_value, ctx.settings)
        name = studio.panel_name(load_project(project_root), pid)
        return form(project_root, pid, f"Added {name}. Pick its characters and shot; changes save by themselves.") + [""]

    @user_errors
    def duplicate(root_value: str, session_value: str, panel_id: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        _, pid = studio.duplicate_panel(project_root, need(panel_id), ctx.settings)
        project = load_project(project_root)
        return form(project_root, pid, f"Duplicated {studio.panel_name(project, panel_id)} as "
                                       f"{studio.panel_name(project, pid)}.")

    @user_errors
    def delete(root_value: str, session_value: str, panel_id: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        before = load_project(project_root)
        ids = [p.id for p in before.panels]
        studio.delete_panel(project_root, need(panel_id))
        index = ids.index(panel_id)
        rest = ids[:index] + ids[index + 1:]
        return form(project_root, rest[min(index, len(rest) - 1)] if rest else "",
                    f"Deleted {studio.panel_name(before, panel_id)}.")

    def mover(offset: int):
        @user_errors
        def move(root_value: str, session_value: str, panel_id: str, request: gr.Request) -> list[Any]:
            project_root = checked_root(root_value, session_value, request)
            studio.move_panel(project_root, need(panel_id), offset)
            return form(project_root, panel_id)

        move.__name__ = "move_up" if offset < 0 else "move_down"
        return move

    def need(panel_id: str) -> str:
        if not panel_id:
            raise ProjectError("Pick a panel in the Panels list first.")
        return panel_id

    # ------------------------------------------------------------ field edits (autosaved)

    @user_errors
    def save_fields(root_value: str, session_value: str, panel_id: str, prompt_value: str, characters_value: list[str],
                    shot_value: str, caption_value: str, duration_value: float | None, seed_value: float | None,
                    lock_value: bool, notes_value: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        studio.update_panel(project_root, need(panel_id), prompt=prompt_value, characters=characters_value or [],
                            shot=shot_value or DEFAULT_SHOT, caption=caption_value or "", duration=duration_value,
                            seed=seed_value, seed_locked=lock_value, notes=notes_value or "")
        return small_refresh(project_root, panel_id)

    def small_refresh(project_root: str, panel_id: str) -> list[Any]:
        """The list labels, the stale badge and the editor's cast: what a field edit can change."""
        project = load_project(project_root)
        states = studio.panel_states(Path(project_root), project, ctx.engines.current(), ctx.settings)
        panel = project.panel(panel_id)
        state = states[panel_id]
        cast = [{"id": cid, "name": project.character(cid).name} for cid in panel.characters]
        # The list's labels only, not its value: the user may have clicked another panel while this saved.
        return [gr.update(panels=panel_rows(Path(project_root), project, states)),
                f"{ {'current': '🟢', 'stale': '🟠', 'none': '⚪'}[state] } {STATE_TEXT[state].capitalize()}",
                gr.update(cast=cast, library=LIBRARY)]

    def save_characters(root_value: str, session_value: str, panel_id: str, prompt_value: str,
                        characters_value: list[str], shot_value: str, caption_value: str, duration_value: float | None,
                        seed_value: float | None, lock_value: bool, notes_value: str, request: gr.Request) -> list[Any]:
        """Like save_fields, but a refused cast (a 3rd character) is put back as it was, with the message."""
        try:
            return save_fields.__wrapped__(root_value, session_value, panel_id, prompt_value, characters_value, shot_value,
                                           caption_value, duration_value, seed_value, lock_value, notes_value,
                                           request) + [gr.update()]
        except StoryboardError as exc:
            gr.Warning(str(exc), title="Cannot do that")
            if not root_value or not panel_id:
                return [gr.update()] * 4
            project_root = checked_root(root_value, session_value, request)
            saved = list(load_project(project_root).panel(panel_id).characters)
            return small_refresh(project_root, panel_id) + [saved]

    def insert_name(prompt_value: str, character_id: str) -> tuple[str, None]:
        if not character_id:
            return prompt_value, None
        spacer = "" if not prompt_value or prompt_value.endswith(" ") else " "
        return f"{prompt_value or ''}{spacer}{{{character_id}}} ", None

    @user_errors
    def save_pose(root_value: str, session_value: str, panel_id: str, value: Any, request: gr.Request) -> list[Any]:
        if not root_value or not panel_id:
            return [gr.update(), gr.update(), gr.update()]
        project_root = checked_root(root_value, session_value, request)
        if panel_id not in [p.id for p in load_project(project_root).panels]:
            return [gr.update(), gr.update(), gr.update()]
        studio.set_pose(project_root, panel_id, value)
        return small_refresh(project_root, panel_id)

    @user_errors
    def pick_take(root_value: str, session_value: str, panel_id: str, event: gr.SelectData, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        studio.select_take(project_root, need(panel_id), int(event.index))
        return form(project_root, panel_id, f"Using take {int(event.index) + 1}.")

    @user_errors
    def select_take_api(root_value: str, session_value: str, panel_id: str, index: float, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        studio.select_take(project_root, need(panel_id), int(index))
        return form(project_root, panel_id, f"Using take {int(index) + 1}.")

    # ------------------------------------------------------------ balloons

    @user_errors
    def balloon_add(root_value: str, session_value: str, panel_id: str, speaker_value: str, kind_value: str,
                    text_value: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        studio.add_balloon(project_root, need(panel_id), text_value, speaker_value or None, kind_value or "speech")
        return form(project_root, panel_id, "Balloon added.")

    @user_errors
    def balloon_update(root_value: str, session_value: str, panel_id: str, index: int, speaker_value: str,
                       kind_value: str, text_value: str, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        if index is None or index < 0:
            raise ProjectError("Pick a balloon in the Balloons list to update.")
        studio.update_balloon(project_root, need(panel_id), int(index), text_value, speaker_value or None, kind_value)
        return form(project_root, panel_id, "Balloon updated.")

    @user_errors
    def balloon_remove(root_value: str, session_value: str, panel_id: str, index: int, request: gr.Request) -> list[Any]:
        project_root = checked_root(root_value, session_value, request)
        if index is None or index < 0:
            raise ProjectError("Pick a balloon in the Balloons list to remove.")
        studio.remove_balloon(project_root, need(panel_id), int(index))
        return form(project_root, panel_id, "Balloon removed.")

    def balloon_pick(root_value: str, panel_id: str, index: int | None) -> list[Any]:
        if index is None or not root_value or not panel_id:
            return [gr.update(), gr.update(), gr.update(), -1]
        balloon = load_project(root_value).panel(panel_id).balloons[int(index)]
        return [balloon.speaker or "", balloon.kind, balloon.text, int(index)]

    # ------------------------------------------------------------ rendering this panel

    def renderer(which: str):
        @user_errors_gen
        def handler(root_value: str, session_value: str, panel_id: str, count_value: float, fast_value: bool,
                    cluster_value: bool, request: gr.Request, progress: gr.Progress = gr.Progress(track_tqdm=True)):
            need(panel_id)
            wanted = 1 if count_value is None else int(count_value)  # 0 is refused by the studio, not made 1
            for message, _ in run_render(ctx, root_value, session_value, which, panel_id, wanted, progress, request,
                                         fast=bool(fast_value), cluster=bool(cluster_value)):
                yield form(root_value, panel_id, message)

        handler.__name__ = "render_panel" if which == "panel" else "render_variations"
        return ctx.gpu(handler)

    # ------------------------------------------------------------ wiring

    base = [root, session, selected]
    # Autosaves (a text box losing focus, a control changed) and picking a panel run one at a time, in the
    # order they happened, so a save answers before the pick it preceded; and saves draw no progress overlay,
    # which would cover the panel list and swallow the click that took the focus away (issue 12).
    in_order = {"concurrency_id": "panel-form", "concurrency_limit": 1}
    # A field edited again while its save runs is saved once that one ends, with the form as it is then (Gradio's
    # default, "once", dropped such edits: ticking a second character quickly kept only the first)
    autosave = {"show_progress": "hidden", "trigger_mode": "always_last", **in_order}
    panel_list.input(pick, [root, session, panel_list], outputs, api_name=False, **in_order)
    # Scripts name a panel by id: the list's choices may not be loaded in their session yet (e.g. right after
    # open_sample); `pick` checks that the id names a panel of the open project.
    api_panel = gr.Textbox(visible=False, max_length=max_chars("choice"))
    api_panel.submit(pick, [root, session, api_panel], outputs, api_name="select_panel")
    add_btn.click(add, [root, session, new_prompt], outputs + [new_prompt], api_name="add_panel")
    dup_btn.click(duplicate, base, outputs, api_name="duplicate_panel")
    del_btn.click(delete, base, outputs, api_name="delete_panel")
    up_btn.click(mover(-1), base, outputs, api_name="move_panel_up")
    down_btn.click(mover(+1), base, outputs, api_name="move_panel_down")

    fields = [prompt, characters, shot, caption, duration, seed, lock, notes]
    small = [panel_list, badge, editor]
    api_save = gr.Button(visible=False)  # scripts: set every field of the selected panel at once
    api_save.click(save_fields, base + fields, small, api_name="update_panel", **in_order)
    for box in (prompt, caption, notes):
        box.blur(save_fields, base + fields, small, api_name=False, **autosave)
        box.submit(save_fields, base + fields, small, api_name=False, **autosave)
    for control in (shot, duration, seed, lock):
        control.input(save_fields, base + fields, small, api_name=False, **autosave)
    characters.input(save_characters, base + fields, small + [characters], api_name=False, **autosave)
    insert.input(insert_name, [prompt, insert], [prompt, insert], api_name=False).then(
        save_fields, base + fields, small, api_name=False, **autosave)
    editor.change(save_pose, base + [editor], small, api_name="set_pose", **autosave)
    takes.select(pick_take, base, outputs, api_name=False)
    api_take = gr.Number(visible=False, precision=0)
    api_take.submit(select_take_api, base + [api_take], outputs, api_name="select_take")

    balloons.input(balloon_pick, [root, selected, balloons], [speaker, kind, text, balloon_index], api_name=False)
    add_balloon_btn.click(balloon_add, base + [speaker, kind, text], outputs, api_name="add_balloon")
    update_balloon_btn.click(balloon_update, base + [balloon_index, speaker, kind, text], outputs, api_name="update_balloon")
    remove_balloon_btn.click(balloon_remove, base + [balloon_index], outputs, api_name="remove_balloon")

    gpu = {"concurrency_id": "gpu", "concurrency_limit": 1}
    ctx.refresh_banner_after(render_btn.click(renderer("panel"), base + [count, fast, cluster], outputs, api_name="render_panel",
                                              **gpu))
    ctx.refresh_banner_after(vary_btn.click(renderer("variations"), base + [count, fast, cluster], outputs,
                                            api_name="render_variations", **gpu))
    wire_retouch(takes, form, outputs)
    return Area(outputs, refresh)
