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
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # local-first: no usage pings
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
    except StoryboardError as exc:
        log.error("%s", exc)
        sys.exit(2)
    log.info("Engine: %s", engines.status())
    workspace = Path(args.workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)

    from ui.studio import build_studio, launch_options

    demo = build_studio(engines, workspace, project, settings)
    try:
        options = launch_options(demo.studio_context)  # the workspace is never served by path, wherever it is
    except StoryboardError as exc:
        log.error("%s", exc)
        sys.exit(2)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True, **options)
    log.info("Serving at http://%s:%d after %.1f s", args.host, args.port, time.perf_counter() - started)
    demo.block_thread()


if __name__ == "__main__":
    main()
