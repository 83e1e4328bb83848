"""The Cast tab: add, edit and remove characters; reference photo with a face check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import ProjectError
from storyboard.paths import resolve_inside
from storyboard.settings import max_chars
from storyboard.storyfile import load_project
from storyboard.studio.cast import placeholder_portrait
from ui.common import AppContext, Area, file_path, user_errors

NEW = ""  # the character selector's value while a new character is being written
PAINT_HINT = "_Add the character first; then you can paint their mask over the photo._"
FACE_ICONS = {"found": "✅", "none": "⚠️", "unavailable": "ℹ️"}


def build_cast_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Cast tab; returns how to refresh it."""
    selected = gr.State(NEW)

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            gallery = gr.Gallery(label="Cast: click a character to edit", columns=3, height=300, allow_preview=False,
                                 object_fit="cover", elem_id="cast-gallery", buttons=[])
            new_btn = gr.Button("+ New character", elem_id="new-character")
            face = gr.Markdown("", elem_id="face-check")
            preview = gr.Image(label="Reference photo and the face found", interactive=False, height=300,
                               elem_id="cast-preview", buttons=[])
        with gr.Column(scale=3, elem_classes=["sb-card"]):
            heading = gr.Markdown("#### New character")
            with gr.Row():
                name = gr.Textbox(label="Name", placeholder="e.g. Mia", scale=3, elem_id="cast-name",
                                  max_length=max_chars("name"))
                color = gr.ColorPicker(label="Colour", scale=1, elem_id="cast-color")
            description = gr.Textbox(label="Description", placeholder="short red hair, green raincoat", elem_id="cast-description",
                                     max_length=max_chars("description"))
            photo = gr.File(label="Reference photo (PNG, JPEG, WebP ...; one clear face; draft mode can do without)",
                            elem_id="cast-photo")
            with gr.Accordion("Optional: mask and outfit", open=False, elem_id="cast-extras"):
                mask = gr.File(label="Mask of the character in the photo (white = character)")
                painter = gr.ImageMask(label="... or paint the mask: brush over the character in the photo",
                                       type="numpy", sources=(), transforms=(), layers=False, format="png",
                                       brush=gr.Brush(colors=["#f97316"], color_mode="fixed"), height=380,
                                       visible=False, elem_id="cast-mask-paint")
                paint_hint = gr.Markdown(PAINT_HINT)
                with gr.Row(visible=False) as paint_row:
                    save_mask_btn = gr.Button("Save painted mask", size="sm", elem_id="save-mask")
                    remove_mask_btn = gr.Button("Remove the mask", size="sm", elem_id="remove-mask")
                outfit = gr.File(label="Outfit image (clothing to wear)")
                with gr.Row():
                    clear_mask = gr.Checkbox(label="Remove the mask", value=False)
                    clear_outfit = gr.Checkbox(label="Remove the outfit", value=False)
            with gr.Row():
                save_btn = gr.Button("Add character", variant="primary", elem_id="save-character")
                remove_btn = gr.Button("Remove character", variant="stop", visible=False, elem_id="remove-character")
            notes = gr.Markdown("", elem_id="cast-notes")

    def cast_gallery(root_value: str) -> list[tuple[Any, str]]:
        if not root_value:
            return []
        project = load_project(root_value)
        items = []
        for member in project.cast:
            path = resolve_inside(Path(root_value), member.reference) if member.reference else None
            if path is not None and path.is_file():
                items.append((ctx.files.copy(path), member.name))
            else:  # no photo yet (draft mode), or its file is gone: a tile in their colour keeps the gallery in cast order
                items.append((placeholder_portrait(member), member.name))
        return items

    def form(root_value: str, character_id: str, check: studio.FaceCheck | None = None, note: str = "") -> list[Any]:
        """Values for the form: empty for a new character, else the character's."""
        items = cast_gallery(root_value)
        if not root_value or not character_id:
            return [character_id, gr.update(value=items, selected_index=None), "#### New character", "", None, "", None,
                    None, None, False, False, gr.update(value="Add character"), gr.update(visible=False),
                    note, "", gr.update(value=None), gr.update(value=None, visible=False),
                    gr.update(value=PAINT_HINT, visible=True), gr.update(visible=False)]
        project = load_project(root_value)
        member = project.character(character_id)
        index = [c.id for c in project.cast].index(character_id)
        picture = studio.face_preview(root_value, character_id, check)
        face_text = ""
        if check is not None:
            face_text = f"{FACE_ICONS[check.status]} {check.message}"
        has_photo = member.reference is not None
        return [character_id, gr.update(value=items, selected_index=index), f"#### {member.name}  ·  `{{{member.id}}}` in prompts",
                member.name, member.color, member.description, None, None, None, False, False,
                gr.update(value="Save changes"), gr.update(visible=True), note, face_text, picture,
                gr.update(value=paint_value(root_value, member) if has_photo else None, visible=has_photo),
                gr.update(value=f"_Upload a photo of {member.name} first; then you can paint their mask over it._",
                          visible=not has_photo), gr.update(visible=has_photo)]

    def paint_value(root_value: str, member: Any) -> dict[str, Any]:
        """The painter's value: the photo as background and the mask so far as the paint layer."""
        photo_path = ctx.files.copy(resolve_inside(Path(root_value), member.reference))
        layer = studio.mask_layer(root_value, member.id)
        return {"background": photo_path, "layers": [layer] if layer is not None else [], "composite": photo_path}

    outputs = [selected, gallery, heading, name, color, description, photo, mask, outfit, clear_mask, clear_outfit,
               save_btn, remove_btn, notes, face, preview, painter, paint_hint, paint_row]

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        return form(root_value, NEW)

    @user_errors
    def save(root_value: str, session_value: str, character_id: str, name_value: str, color_value: str,
             description_value: str, photo_value: Any, mask_value: Any, outfit_value: Any, clear_mask_value: bool,
             clear_outfit_value: bool, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        if character_id:
            _, notes_list = studio.update_character(
                project_root, character_id, ctx.settings, name=name_value, description=description_value, color=color_value,
                photo=file_path(photo_value), mask=file_path(mask_value), outfit=file_path(outfit_value),
                clear_mask=clear_mask_value, clear_outfit=clear_outfit_value)
            cid = character_id
        else:
            _, cid, notes_list = studio.add_character(
                project_root, name_value, file_path(photo_value), ctx.settings, description=description_value,
                color=color_value or None, mask=file_path(mask_value), outfit=file_path(outfit_value))
        check = studio.face_check(project_root, cid, ctx.engines.current()) if (photo_value or not character_id) else None
        return form(str(project_root), cid, check, "  \n".join(notes_list) or "Saved.")

    @user_errors
    def pick(root_value: str, session_value: str, event: gr.SelectData, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        project = load_project(project_root)
        if event.index is None or not 0 <= event.index < len(project.cast):
            return form(str(project_root), NEW)
        return form(str(project_root), project.cast[event.index].id)

    @user_errors
    def edit(root_value: str, session_value: str, character_id: str, request: gr.Request) -> list[Any]:
        """Open a character by id (for scripts)."""
        studio.check_text("choice", character_id, "character id")
        project_root = ctx.project_root(root_value, session_value, request)
        if character_id:
            try:
                load_project(project_root).character(character_id)
            except KeyError:
                raise ProjectError(f"There is no character {character_id!r} in this project.") from None
        return form(str(project_root), character_id or NEW)

    @user_errors
    def check_face(root_value: str, session_value: str, character_id: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        if not character_id:
            raise ProjectError("Pick a character first.")
        return form(str(project_root), character_id, studio.face_check(project_root, character_id, ctx.engines.current()))

    @user_errors
    def remove(root_value: str, session_value: str, character_id: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        if not character_id:
            raise ProjectError("Pick a character to remove first.")
        name_removed = load_project(project_root).character(character_id).name
        studio.remove_character(project_root, character_id)
        return form(str(project_root), NEW, note=f"Removed {name_removed}; panels that showed them no longer do.")

    @user_errors
    def add(root_value: str, session_value: str, name_value: str, color_value: str, description_value: str,
            photo_value: Any, mask_value: Any, outfit_value: Any, request: gr.Request) -> list[Any]:
        return save(root_value, session_value, NEW, name_value, color_value, description_value, photo_value, mask_value,
                    outfit_value, False, False, request)

    @user_errors
    def save_painted(root_value: str, session_value: str, character_id: str, painted: Any, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        if not character_id:
            raise ProjectError("Add the character (with their photo) first, then paint their mask.")
        layers = list((painted or {}).get("layers") or []) if isinstance(painted, dict) else []
        studio.set_painted_mask(project_root, character_id, layers)
        return form(str(project_root), character_id, note="Mask saved: the painted part is the character.")

    @user_errors
    def remove_mask(root_value: str, session_value: str, character_id: str, request: gr.Request) -> list[Any]:
        project_root = ctx.project_root(root_value, session_value, request)
        if not character_id:
            raise ProjectError("Pick a character first.")
        studio.clear_mask(project_root, character_id)
        return form(str(project_root), character_id, note="Mask removed.")

    save_mask_btn.click(save_painted, [root, session, selected, painter], outputs, api_name="save_painted_mask")
    remove_mask_btn.click(remove_mask, [root, session, selected], outputs, api_name="remove_mask")

    inputs = [root, session, selected, name, color, description, photo, mask, outfit, clear_mask, clear_outfit]
    save_btn.click(save, inputs, outputs, api_name="save_character")
    add_api = gr.Button(visible=False)  # scripts: always adds, whatever is selected
    add_api.click(add, [root, session, name, color, description, photo, mask, outfit], outputs, api_name="add_character")
    gallery.select(pick, [root, session], outputs, api_name=False)
    new_btn.click(lambda r: form(r, NEW), [root], outputs, api_name=False)
    remove_btn.click(remove, [root, session, selected], outputs, api_name="remove_character")
    hidden_id = gr.Textbox(visible=False, max_length=max_chars("choice"))
    hidden_id.submit(edit, [root, session, hidden_id], outputs, api_name="edit_character")
    hidden_face = gr.Button(visible=False)
    hidden_face.click(check_face, [root, session, selected], outputs, api_name="face_check")
    return Area(outputs, refresh)
