"""Launch the studio in a browser: `python app.py [--host H] [--port P] [--engine E] [--models DIR] [--project DIR]`."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

log = logging.getLogger("app")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Storyboard Studio: comics with consistent characters.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="port to serve on")
    parser.add_argument("--share", action="store_true", help="also make a public Gradio link")
    parser.add_argument("--engine", choices=("auto", "draft", "storymaker"), default="auto",
                        help="StoryMaker when weights and a GPU are there (auto), or draft thumbnails")
    parser.add_argument("--models", metavar="DIR", default=os.environ.get("STORYBOARD_MODELS"), help="folder with model weights")
    parser.add_argument("--project", metavar="DIR", help="project folder to open at start")
    parser.add_argument("--workspace", metavar="DIR", default="projects", help="where new projects and sample copies go")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # local-first: no usage pings
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from storyboard.engines import get_engine
    from ui.studio import build_studio

    engine = get_engine(args.engine, Path(args.models) if args.models else None)
    log.info("%s", engine.describe())
    workspace = Path(args.workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    demo = build_studio(engine, workspace, Path(args.project).resolve() if args.project else None)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, allowed_paths=[str(workspace)])


if __name__ == "__main__":
    main()
