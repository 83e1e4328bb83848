"""Launch the studio in a browser: `python app.py [--host H] [--port P] [--engine E] [--models DIR] [--project DIR]`.

Also the entry point of the Hugging Face Space (README front matter: app_file: app.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Storyboard Studio: comics with consistent characters.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port to serve on")
    parser.add_argument("--share", action="store_true", help="also make a public Gradio link")
    parser.add_argument("--engine", choices=("auto", "draft", "storymaker"), default=os.environ.get("STORYBOARD_ENGINE", "auto"),
                        help="StoryMaker when weights and a GPU are there (auto), or draft thumbnails")
    parser.add_argument("--models", metavar="DIR", default=os.environ.get("STORYBOARD_MODELS"), help="folder with model weights")
    parser.add_argument("--project", metavar="DIR", help="project folder to open at start")
    parser.add_argument("--workspace", metavar="DIR", default=os.environ.get("STORYBOARD_WORKSPACE", "projects"),
                        help="where each browser session's projects go (sessions/<id>/)")
    parser.add_argument("--cluster", metavar="ray[:ADDRESS]", default=os.environ.get("STORYBOARD_CLUSTER") or None,
                        help="offer rendering on Ray workers in the Render tab: 'ray' starts a local Ray cluster on the "
                             "first such render, 'ray:ADDRESS' joins a running one (needs pip install -e \".[cluster]\")")
    parser.add_argument("--workers", type=int, metavar="N",
                        default=os.environ.get("STORYBOARD_WORKERS") or None,  # argparse makes it an int, or says why
                        help="Ray workers per render with --cluster (default: one per GPU, or per CPU for draft)")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def cluster_setting(args: argparse.Namespace, models: Path | None):
    """The Render tab's Ray workers from --cluster/--workers, checked at start; None without --cluster."""
    from storyboard.errors import StoryboardError

    if args.cluster is None:
        if args.workers is not None:
            raise StoryboardError("--workers is for --cluster: add --cluster ray (or ray:ADDRESS), or leave --workers out.")
        return None
    if args.workers is not None and args.workers < 1:
        raise StoryboardError(f"--workers must be 1 or more, got {args.workers}.")
    from storyboard.cluster import INSTALL_HINT
    from storyboard.cluster.connect import ray_installed
    from storyboard.studio import ClusterRender

    cluster = ClusterRender(args.cluster, args.engine, models, args.workers)  # a bad value is refused here
    if not ray_installed():
        raise StoryboardError(f"--cluster needs Ray, which is not installed here. Install it with {INSTALL_HINT} "
                              "(or: pip install ray), or start the app without --cluster.")
    log.info("Render tab: on %s", cluster.describe())
    return cluster


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # local-first: no usage pings
    # Four events of the app at once (renders have their own queue of one). Set here, not by demo.queue(...), which
    # would build the server's routes a third time (0.17 s of the start)
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "4")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from storyboard.engine_holder import EngineHolder
    from storyboard.errors import StoryboardError
    from storyboard.settings import load_settings
    from storyboard.storyfile import load_project

    try:
        settings = load_settings()
        models = Path(args.models) if args.models else None
        engines = EngineHolder(args.engine, models)  # loads nothing: StoryMaker loads on the first render
        project = Path(args.project).resolve() if args.project else None
        if project is not None:
            load_project(project)
        cluster = cluster_setting(args, models)
    except StoryboardError as exc:
        log.error("%s", exc)
        sys.exit(2)
    log.info("Engine: %s", engines.status())
    workspace = Path(args.workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)

    from ui.studio import build_studio, launch_options

    demo = build_studio(engines, workspace, project, settings, cluster)
    try:
        options = launch_options(demo.studio_context)  # the workspace is never served by path, wherever it is
    except StoryboardError as exc:
        log.error("%s", exc)
        sys.exit(2)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True, **options)
    log.info("Serving at http://%s:%d after %.1f s", args.host, args.port, time.perf_counter() - started)
    demo.block_thread()


if __name__ == "__main__":
    main()
