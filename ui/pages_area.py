"""The Pages tab: page size, template and reading order; the page view (each page as it prints, lettering placed by
hand: ui.page_view) and all pages; export PDF, PNG pages or a sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import StoryboardError
from storyboard.layout import list_templates
from storyboard.pagesizes import PAGE_SIZES
from storyboard.storyfile import load_project
from ui.common import AppContext, Area, from_browser, user_errors, user_errors_gen
from ui.page_view import build_page_view, handle_request, requested, show, view_key, view_update

SIZE_CHOICES = [(f"{name.upper() if len(name) == 2 else name.title()}: {info[2]}", name) for name, info in PAGE_SIZES.items()]
READING_CHOICES = [("Left to right", "ltr"), ("Right to left (manga)", "rtl")]
KIND_CHOICES = [(label, kind) for kind, label in studio.EXPORT_KINDS.items()]


def number_ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1–3, 5'."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)


def build_pages_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Pages tab; returns how to refresh it."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, elem_classes=["sb-card"]):
            size = gr.Dropdown(label="Page size", choices=SIZE_CHOICES, value="a4", elem_id="page-size", allow_custom_value=True,
                               info="or type a size in millimetres, e.g. 210x297mm")
            template = gr.Dropdown(label="Layout", choices=list_templates(), value="auto", elem_id="page-template",
                                   info="auto fits panels by shot type; the others are fixed grids")
            reading = gr.Radio(label="Reading order", choices=READING_CHOICES, value="ltr", elem_id="page-reading")
            # The result (a success line, then the files) comes right under the button (issue 12 item 6).
            with gr.Row(equal_height=False, elem_id="export-row"):
                kind = gr.Dropdown(label="What to export", choices=KIND_CHOICES, value="pdf", elem_id="export-kind",
                                   scale=3, min_width=220)
                export_btn = gr.Button("Export", variant="primary", elem_id="export", scale=1, min_width=100)
            status = gr.Markdown("", elem_id="export-status")
            files = gr.File(label="Downloads", show_label=False, file_count="multiple", interactive=False,
                            elem_id="export-files", height=96)
        with gr.Column(scale=3):
            view = build_page_view("page-view")
            # Every page is drawn only while this is open: a long story has many pages, about a second each to draw
            with gr.Accordion("All pages", open=False, elem_id="page-overview") as overview:
                pages = gr.Gallery(label="All pages (panels without a take are grey)", columns=4, height=300,
                                   object_fit="contain", elem_id="page-preview", buttons=["fullscreen"])
    shown_page: dict[str, int] = {}  # the page each open project shows, so a refresh keeps it
    overview_open: set[str] = set()  # the projects whose "All pages" is open (paths are per session)

    def previews(root_value: str) -> list[Any]:
        return studio.page_previews(root_value) if root_value else []

    def overview_pages(root_value: str) -> Any:
        """The gallery's pages when it is open, else no change (the page view shows the current page)."""
        return previews(root_value) if root_value in overview_open else gr.skip()

    def open_overview(root_value: str, session_value: str, request: gr.Request) -> Any:
        if not root_value:
            return []
        overview_open.add(str(ctx.project_root(root_value, session_value, request)))
        return previews(root_value)

    def close_overview(root_value: str) -> None:
        overview_open.discard(root_value)

    def current_view(root_value: str, value: Any = None) -> Any:
        """The page view's update for the page it shows; gr.skip() when `value` shows that page as it is already."""
        if not root_value:
            return view_update(None)
        page = show(Path(root_value), shown_page.get(root_value, 1))
        shown_page[root_value] = page.number if page is not None else 1
        return gr.skip() if value is not None and view_key(value) == view_key(page) else view_update(page)

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        if not root_value:
            return ["a4", "auto", "ltr", [], "", view_update(None)]
        page = load_project(root_value).page
        size_value = page.size if page.size in PAGE_SIZES else gr.update(choices=SIZE_CHOICES + [(page.size, page.size)], value=page.size)
        return [size_value, page.template, page.reading, overview_pages(root_value), "", current_view(root_value)]

    def redraw(root_value: str, session_value: str, value: Any, request: gr.Request) -> Any:
        """After the pages changed (settings, export, an edit): the page view follows, unless it shows them already."""
        try:
            return current_view(str(ctx.project_root(root_value, session_value, request)), value)
        except StoryboardError:
            return gr.skip()

    def lettering(root_value: str, session_value: str, value: Any, request: gr.Request) -> list[Any]:
        """A drop or a page turn on the page view: save the edit, answer with the page drawn again."""
        if requested(value) is None:
            return [gr.skip(), gr.skip()]  # the value Python itself just set
        try:
            project_root = ctx.project_root(root_value, session_value, request)
            page, changed = handle_request(project_root, value)
        except StoryboardError as exc:
            if not from_browser(request):
                raise gr.Error(str(exc), title="Cannot do that", print_exception=False) from None
            gr.Warning(str(exc), title="Cannot do that")  # and the page goes back to how it was
            return [current_view(root_value) if root_value else gr.skip(), gr.skip()]
        shown_page[str(project_root)] = page.number if page is not None else 1
        return [view_update(page), overview_pages(str(project_root)) if changed else gr.skip()]

    @user_errors
    def change(root_value: str, session_value: str, size_value: str, template_value: str, reading_value: str,
               request: gr.Request) -> list[Any]:
        """/set_page: the new settings, answered with every page (the one output: its list, not wrapped again)."""
        project_root = ctx.project_root(root_value, session_value, request)
        studio.set_page_settings(project_root, size_value, template_value, reading_value)
        return previews(str(project_root))

    @user_errors
    def change_here(root_value: str, session_value: str, size_value: str, template_value: str, reading_value: str,
                    request: gr.Request) -> list[Any]:
        """The same from the tab's own controls: the page view follows; every page only when "All pages" is open."""
        project_root = ctx.project_root(root_value, session_value, request)
        studio.set_page_settings(project_root, size_value, template_value, reading_value)
        return [overview_pages(str(project_root)), current_view(str(project_root))]

    @user_errors_gen
    def export(root_value: str, session_value: str, kind_value: str, request: gr.Request,
               progress: gr.Progress = gr.Progress(track_tqdm=True)):
        project_root = ctx.project_root(root_value, session_value, request)
        out = studio.export_dir(ctx.session_dir(session_value, request), project_root)
        project = load_project(project_root)
        missing = [p.id for p in project.panels if p.selected_take is None]
        yield gr.update(), ("Rendering " + str(len(missing)) + " panel(s) without a take first ..." if missing else "Exporting ..."), gr.update()
        from storyboard.engines import RenderContext

        cancel = ctx.cancels.fresh(str(ctx.session_dir(session_value, request)))

        numbers = {p.id: n for n, p in enumerate(project.panels, start=1)}  # as the Panels list shows them

        def on_panel(event: Any) -> None:
            progress(event.index / max(event.total, 1),
                     desc=f"Rendering panel {numbers.get(event.panel_id, event.panel_id)} ({event.index} of {event.total})")

        engine = ctx.engine(progress) if missing else ctx.engines.current()
        try:
            result = studio.export(project_root, out, kind_value, engine, RenderContext(cancel_event=cancel), on_panel,
                                   settings=ctx.settings)
        except StoryboardError:
            yield gr.update(), "Not exported: see the message.", gr.update()  # not a stale "Exporting ..."
            raise
        lines = [exported_line(kind_value, result, [numbers[pid] for pid in result.rendered if pid in numbers])]
        lines += [f"⚠️ {note}" for note in result.notes]
        yield [ctx.files.copy(f) for f in result.files], "  \n".join(lines), overview_pages(str(project_root))

    def exported_line(kind_value: str, result: Any, rendered: list[int]) -> str:
        """The success line under the Export button: what was written, what was rendered for it, where to get it."""
        names = ", ".join(Path(f).name for f in result.files[:3]) + (" ..." if len(result.files) > 3 else "")
        count = f"{result.pages} {'board' if kind_value == 'storyboarder' else 'page'}{'s' if result.pages != 1 else ''}"
        first = f", panel{'s' if len(rendered) > 1 else ''} {number_ranges(rendered)} rendered first" if rendered else ""
        what = {"cbz": "; it holds ComicInfo.xml for comic readers",
                "storyboarder": "; unzip it and open the .storyboarder file in Storyboarder"}.get(kind_value, "")
        return f"✓ **Exported {count}**{first}: {names} (download below){what}."

    for control in (size, template, reading):
        control.input(change_here, [root, session, size, template, reading], [pages, view], api_name=False,
                      trigger_mode="always_last")  # a second change while the first saves is saved after it
    overview.expand(open_overview, [root, session], [pages], api_name=False)
    overview.collapse(close_overview, [root], None, api_name=False)
    api_page = gr.Button(visible=False)
    api_page.click(change, [root, session, size, template, reading], [pages], api_name="set_page")
    view.change(lettering, [root, session, view], [view, pages], api_name="set_lettering")
    pages.change(redraw, [root, session, view], [view], api_name=False)
    exported = export_btn.click(ctx.gpu(export), [root, session, kind], [files, status, pages],
                                api_name="export", concurrency_id="gpu", concurrency_limit=1)
    ctx.refresh_banner_after(exported)
    exported.then(redraw, [root, session, view], [view], api_name=False)  # panels rendered first show on the page
    exported.then(None, None, None, api_name=False, queue=False,
                  js="() => document.querySelector('#export-files')?.scrollIntoView({block: 'nearest'})")
    return Area([size, template, reading, pages, status, view], refresh)
