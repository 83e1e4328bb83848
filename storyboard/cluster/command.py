"""`python -m storyboard render PROJECT --cluster ray[:ADDRESS] [--workers N]`."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from storyboard.cluster.connect import parse_cluster
from storyboard.cluster.driver import render_on_cluster
from storyboard.engine_holder import EngineHolder
from storyboard.errors import RenderCancelled, StoryboardError
from storyboard.model import Project
from storyboard.render import PanelEvent, RenderOptions

log = logging.getLogger(__name__)


def run_render_command(args: Any, root: Path, project: Project, panel_ids: list[str] | None,
                       options: RenderOptions, engine_options: dict[str, Any] | None = None) -> int:
    """`python -m storyboard render PROJECT --cluster ray[:ADDRESS] [--workers N]`: logs each panel; the exit code."""
    from storyboard.cli_common import models_dir
    from storyboard.render import stale_panels

    if not args.cluster:
        raise StoryboardError("--workers is for --cluster: add --cluster ray (or ray:ADDRESS), or leave --workers out.")
    address = parse_cluster(args.cluster)
    if args.keep_best:
        raise StoryboardError("--keep-best needs scores, and a cluster render does not score its takes: render the "
                              "variations with --cluster, then score them (python -m storyboard score) and choose, or "
                              "leave --cluster out.")
    if args.scores:
        log.warning("Scores: not computed on a cluster; measure the new takes afterwards with: python -m storyboard score %s",
                    root)
    models = models_dir(args)
    if options.fast is not None and args.engine == "draft":
        log.info("Fast previews are for StoryMaker; draft thumbnails render as usual.")
        options = dataclasses.replace(options, fast=None)
    if not args.variations and not args.force and args.engine != "auto":
        # what is stale is known from the files and the engine's name and version: start no cluster for nothing
        stale = stale_panels(root, project, EngineHolder(args.engine, models).current(), options)
        if not any(pid in stale for pid in panel_ids or [p.id for p in project.panels]):
            log.info("Nothing to render: %d panel(s) up to date (use --force to render them again).",
                     len(panel_ids or project.panels))
            return 0
    counts = {"rendered": 0, "skipped": 0}

    def on_panel(event: PanelEvent) -> None:
        counts[event.status] = counts.get(event.status, 0) + 1
        if event.status == "rendered":
            log.info("[%d/%d] %s: rendered in %.2f s -> %s%s", event.index, event.total, event.panel_id, event.seconds or 0,
                     event.take, f" ({event.message})" if event.message else "")
        else:
            log.info("[%d/%d] %s: %s", event.index, event.total, event.panel_id, event.message)

    started = time.perf_counter()
    try:
        render_on_cluster(root, project, args.engine, models, panel_ids, force=args.force, options=options, address=address,
                          workers=args.workers, on_panel=on_panel, variations=args.variations,
                          engine_options=engine_options)
    except KeyboardInterrupt:  # the workers were stopped as the run closed
        raise RenderCancelled("Render interrupted; panels finished so far are saved in story.yaml.") from None
    log.info("Done in %.1f s on a Ray cluster: %d rendered, %d up to date%s.", time.perf_counter() - started,
             counts["rendered"], counts["skipped"],
             " (use --force to render them again)" if counts["skipped"] and not args.force else "")
    return 0
