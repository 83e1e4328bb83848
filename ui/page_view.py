"""The page view: each page as it prints, with hand lettering: a `gr.HTML` component whose value is the page's
lettering geometry (storyboard.studio.PageView.to_data: panels, captions, balloons and tail tips in page points)
and whose `image` prop is the page itself, drawn by the export's code.

Drag a balloon or a caption to move it, its round handle to aim the tail, its square corner to resize it; Reset
puts the selected one back to automatic. A drop sets the value to the page plus `request: {page, edit}`; the
handler (`handle_request`) saves the edit (studio.apply_lettering_edit: panel-relative fractions, every value
checked) and answers with the page drawn again. `request: {page: n}` alone turns the page. The browser side is
`page_view.js` / `.css`, loaded as the component's `js_on_load` / `css_template` (no build step).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import StoryboardError

HERE = Path(__file__).resolve().parent
JS = (HERE / "page_view.js").read_text(encoding="utf-8")
CSS = (HERE / "page_view.css").read_text(encoding="utf-8")
# Static markup: page_view.js draws into it. (No "${" or "{{": gr.HTML treats templates as JS/Handlebars.)
HTML = """
<div class="lv-root">
  <div class="lv-toolbar" role="toolbar" aria-label="Page view">
    <button type="button" data-act="prev" title="The page before">&#9664;</button>
    <span class="lv-page">Page</span>
    <button type="button" data-act="next" title="The page after">&#9654;</button>
    <span class="lv-sep"></span>
    <button type="button" data-act="zoom-out" title="Zoom out (Ctrl+wheel)">&minus;</button>
    <span class="lv-zoom">100%</span>
    <button type="button" data-act="zoom-in" title="Zoom in (Ctrl+wheel)">+</button>
    <button type="button" data-act="fit" title="The whole page's width">Fit</button>
    <span class="lv-sep"></span>
    <button type="button" data-act="reset" title="Put the selected balloon or caption back where the studio places it">Reset to automatic</button>
  </div>
  <div class="lv-stage"><svg class="lv-svg" tabindex="0" role="application" aria-label="Page: drag balloons and captions" xmlns="http://www.w3.org/2000/svg"></svg></div>
  <div class="lv-status" aria-live="polite"></div>
</div>
"""


def build_page_view(elem_id: str = "page-view") -> gr.HTML:
    """The page view, placed in the current Blocks; update it with `view_update(...)`."""
    return gr.HTML(value=None, html_template=HTML, css_template=CSS, js_on_load=JS, elem_id=elem_id,
                   elem_classes=["page-view"], image="")


def image_url(view: studio.PageView) -> str:
    return "data:image/webp;base64," + base64.b64encode(view.webp).decode("ascii")


def view_update(view: studio.PageView | None) -> Any:
    """What to send the component for a page (None: no pages)."""
    if view is None:
        return gr.update(value=None, image="")
    return gr.update(value=view.to_data(), image=image_url(view))


def view_key(value: Any) -> str | None:
    """What identifies the page a value (or a PageView) shows, as drawn; None for none."""
    if isinstance(value, studio.PageView):
        return value.key
    return value.get("key") if isinstance(value, dict) and not value.get("request") else None


def requested(value: Any) -> tuple[int, Any] | None:
    """(page, edit or None) from a value the browser set, or None when the value is not a request (Python's own)."""
    if not isinstance(value, dict) or not isinstance(value.get("request"), dict):
        return None
    request = value["request"]
    page = request.get("page", value.get("page", 1))
    if isinstance(page, bool) or not isinstance(page, int):
        raise studio.StudioError(f"The page to show must be a whole number, got {page!r}.")
    return page, request.get("edit")


def show(root: Path, page: int) -> studio.PageView | None:
    """Page `page` (the last one when there are fewer now), or None without pages."""
    count = studio.page_count(root)
    if count == 0:
        return None
    return studio.page_view(root, min(max(page, 1), count))


def handle_request(root: Path, value: Any) -> tuple[studio.PageView | None, bool]:
    """Carry out what the browser asked (an edit, then the page to show); (the page, whether the story changed)."""
    asked = requested(value)
    if asked is None:
        raise StoryboardError("Nothing asked of the page view; send its value with a request: {page, edit}.")
    page, edit = asked
    changed = False
    if edit is not None:
        studio.apply_lettering_edit(root, edit)
        changed = True
    return show(root, page), changed
