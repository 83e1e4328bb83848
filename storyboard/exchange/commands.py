"""The CLI's exchange commands (import-script, import-storyboarder, export --cbz / --storyboarder).

storyboard.cli lists them in its COMMANDS table and imports this module only when one of them runs.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

from storyboard.errors import RenderCancelled, StoryboardError

log = logging.getLogger("storyboard")


def args_import_script(p: argparse.ArgumentParser) -> None:
    p.add_argument("script", metavar="SCRIPT.fountain", help="the screenplay, in Fountain (plain text)")
    p.add_argument("project", help="project folder: a new one is created; an existing one gets the panels appended")
    p.add_argument("--title", help="title of a new project (default: the script's title page, else the folder name)")


def args_import_storyboarder(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE.storyboarder", help="a Storyboarder file (its images/ folder beside it)")
    p.add_argument("project", help="project folder: a new one is created; an existing one gets the panels appended")
    p.add_argument("--title", help="title of a new project (default: the file's name)")


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The export command's options for the exchange formats (added to its parser by storyboard.cli)."""
    from storyboard.exchange.storyboarder import DEFAULT_FPS

    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cbz", action="store_true",
                      help="write a comic archive (-o BOOK.cbz): the PNG pages in reading order and a ComicInfo.xml")
    kind.add_argument("--storyboarder", action="store_true",
                      help="write a Storyboarder file (-o BOARD.storyboarder) and its board images in images/ beside it")
    p.add_argument("--fps", type=float, metavar="N", help=f"with --storyboarder: frames per second (default {DEFAULT_FPS:g})")
    p.add_argument("--aspect-ratio", metavar="W:H",
                   help="with --storyboarder: the boards' shape, e.g. 16:9 (default) or 2.39")


def run_import_script(args: argparse.Namespace) -> int:
    from storyboard.exchange.script_import import import_script

    result = import_script(Path(args.script), Path(args.project), title=args.title)
    project, lines = result.project, dict(result.lines)
    log.info("%s %r in %s from %s:", "Created" if result.created else "Appended to", project.title, result.root, args.script)
    for index, pid in enumerate(result.panels, start=1):
        panel = project.panel(pid)
        said = f", {len(panel.balloons)} balloon(s)" if panel.balloons else ""
        caption = ", a caption" if panel.caption else ""
        log.info("[%d/%d] %s (line %d): %s%s%s: %s", index, len(result.panels), pid, lines.get(pid, 0), panel.shot, said,
                 caption, _short(panel.prompt))
    for scene in result.scenes:
        log.info("Scene %s (line %d) %s: %s", scene.number, scene.line, scene.heading, ", ".join(scene.panels))
    for warning in result.warnings:
        log.warning("%s", warning)
    if result.new_cast:
        log.info("New cast members without a photo: %s. Draft mode draws them as they are; for StoryMaker add a photo "
                 "of each (the Cast tab, or 'reference:' in story.yaml).",
                 ", ".join(f"{c.name} ({c.id})" for c in result.new_cast))
    log.info("Next: python -m storyboard render %s --engine draft", result.root)
    return 0


def run_import_storyboarder(args: argparse.Namespace) -> int:
    from storyboard.exchange.storyboarder_import import import_storyboarder

    result = import_storyboarder(Path(args.file), Path(args.project), title=args.title)
    project = result.project
    log.info("%s %r in %s from %s (%g fps, aspect ratio %.3g):", "Created" if result.created else "Appended to",
             project.title, result.root, args.file, result.fps, result.aspect_ratio)
    for index, pid in enumerate(result.panels, start=1):
        panel = project.panel(pid)
        take = panel.selected_take.file if panel.selected_take else "no image"
        log.info("[%d/%d] %s: %s, %d balloon(s), %s: %s", index, len(result.panels), pid, panel.shot, len(panel.balloons),
                 take, _short(panel.prompt))
    for warning in result.warnings:
        log.warning("%s", warning)
    if result.new_cast:
        log.info("New cast members without a photo: %s.", ", ".join(f"{c.name} ({c.id})" for c in result.new_cast))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """`export --cbz` or `export --storyboarder`, with the export command's options and progress per panel."""
    from storyboard.cli_common import LazyEngine, models_dir, thresholds
    from storyboard.engines import RenderContext, get_engine
    from storyboard.export import EXPORT_OPTIONS
    from storyboard.render import PanelEvent
    from storyboard.storyfile import load_project

    root = Path(args.project)
    if args.sheet:
        raise StoryboardError("--sheet makes a storyboard sheet PDF; it does not go with --cbz or --storyboarder.")
    if args.png_dir:
        raise StoryboardError("--png-dir writes PNG pages beside a PDF; a .cbz holds its PNG pages already, and a "
                              ".storyboarder file its board images. Leave --png-dir out.")
    if args.cbz and (args.fps is not None or args.aspect_ratio is not None):
        raise StoryboardError("--fps and --aspect-ratio are for --storyboarder; a comic archive has pages, not timing.")
    project = load_project(root)
    engine = None if args.no_render else LazyEngine(lambda: get_engine(args.engine, models_dir(args)))

    def on_panel(event: PanelEvent) -> None:
        log.info("[%d/%d] %s: rendered in %.2f s -> %s", event.index, event.total, event.panel_id, event.seconds or 0,
                 event.take)

    settings = {o.name: getattr(args, o.name) for o in EXPORT_OPTIONS}
    cancel = threading.Event()
    started = time.perf_counter()
    try:
        if args.cbz:
            from storyboard.exchange.cbz import export_cbz

            result = export_cbz(root, project, Path(args.output), engine, render_missing=not args.no_render,
                                on_panel=on_panel, context=RenderContext(cancel_event=cancel),
                                thresholds=dict(thresholds(args)), **settings)
            log.info("Done in %.1f s: %s, %d page(s)%s.", time.perf_counter() - started, result.path, len(result.pages),
                     f", {len(result.rendered)} panel(s) rendered first" if result.rendered else "")
            return 0
        from storyboard.exchange.storyboarder import DEFAULT_ASPECT, DEFAULT_FPS, export_storyboarder

        ignored = [_flag(o) for o in EXPORT_OPTIONS if settings[o.name] is not None]
        if ignored:
            log.warning("Ignored for --storyboarder (boards have no pages): %s.", ", ".join(ignored))

        def on_board(number: int, total: int, panel_id: str) -> None:
            log.info("[%d/%d] board %d <- %s", number, total, number, panel_id)

        result = export_storyboarder(root, project, Path(args.output), fps=args.fps or DEFAULT_FPS,
                                     aspect_ratio=args.aspect_ratio or DEFAULT_ASPECT, engine=engine,
                                     render_missing=not args.no_render, on_panel=on_panel, on_board=on_board,
                                     context=RenderContext(cancel_event=cancel))
        log.info("Done in %.1f s: %s, %d board(s), %d image(s) in %s%s.", time.perf_counter() - started, result.path,
                 result.boards, len(result.images), result.path.parent / "images",
                 f", {len(result.rendered)} panel(s) rendered first" if result.rendered else "")
        return 0
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled("Export interrupted; panels rendered so far are saved in story.yaml, no archive was "
                              "written.") from None


def _flag(option: object) -> str:
    return "--" + str(getattr(option, "name")).replace("_", "-")


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
