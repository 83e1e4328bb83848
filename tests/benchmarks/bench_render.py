"""Benchmark: how the cost of rendering grows with the story (issue 13): 10, 100 and 400 draft panels.

    python tests/benchmarks/bench_render.py [--sizes 10,100,400] [--max-side 0|256]

For each size it times, in this one process:
- `engine`: the draft engine alone drawing the same N requests (the pictures themselves: the baseline);
- `cli`: `python -m storyboard render --engine draft` (through storyboard.cli.main);
- `studio`: the studio's render loop (storyboard.studio.iter_render, as the Render button drives it);
- `button`: the Render button itself, through the served app's API (/render: gallery and status included);
- `unchanged`: the CLI again on the rendered, unchanged project (should cost what `validate` costs);
and prints seconds, the overhead over the engine, and the growth ratio 400/100 (target <= 4.5).
Not collected by pytest. Figures go to stdout via logging.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from bench_export import write_story  # noqa: E402

log = logging.getLogger("bench_render")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def engine_only(root: Path, max_side: int) -> float:
    from storyboard.engines import RenderContext
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import RenderOptions, build_request, planned_sizes, project_style
    from storyboard.storyfile import load_project

    project = load_project(root)
    sizes, style, engine = planned_sizes(project, RenderOptions(max_side=max_side or None)), project_style(project), DraftEngine()
    requests = [build_request(root, project, p, style, p.seed, sizes[p.id]) for p in project.panels]
    return timed(lambda: [engine.render(r, RenderContext()) for r in requests])


def cli_render(root: Path, max_side: int) -> None:
    from storyboard.cli import main

    size = ["--max-side", str(max_side)] if max_side else []  # 0: each panel at its page slot's size
    code = main(["render", str(root), "--engine", "draft", *size, "-q"])
    assert code == 0, code


def studio_render(root: Path, max_side: int) -> None:
    from storyboard import studio
    from storyboard.engines.draft import DraftEngine
    from storyboard.settings import load_settings

    settings = load_settings({"STORYBOARD_MAX_RENDER_SIDE": str(max_side)})
    for _ in studio.iter_render(root, DraftEngine(), settings, "stale"):
        pass


class Studio:
    """The studio app served in this process, driven through its API like a script (or the Render button)."""

    def __init__(self, workspace: Path, max_side: int) -> None:
        import os
        import socket

        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        from storyboard.engines.draft import DraftEngine
        from storyboard.settings import load_settings
        from ui.studio import build_studio, launch_options

        settings = load_settings({"STORYBOARD_MAX_RENDER_SIDE": str(max_side), "STORYBOARD_MAX_PANELS": "2000"})
        self.workspace = workspace
        self.demo = build_studio(DraftEngine(), workspace, settings=settings)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.demo.queue()
        self.demo.launch(server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True, quiet=True,
                         **launch_options(self.demo.studio_context))

    def render(self, n: int) -> float:
        """Seconds for the Render button's API call on a fresh n-panel project of this client's session."""
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{self.port}/", verbose=False, download_files=False)  # a browser fetches lazily
        title = f"Bench {n} {time.monotonic_ns()}"
        client.predict(title, api_name="/create_project")
        (story,) = self.workspace.glob(f"sessions/*/{title.lower().replace(' ', '-')}/story.yaml")
        import shutil

        shutil.rmtree(story.parent)
        write_story(story.parent, n)
        client.predict(story.parent.name, api_name="/open_project")
        return timed(lambda: client.predict(api_name="/render"))

    def close(self) -> None:
        self.demo.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,400")
    parser.add_argument("--max-side", type=int, default=0,
                        help="render side in pixels; 0 (default): each panel at its page slot's size, as the issue measured; "
                             "256 makes the pictures cheap, so only the overhead around them shows")
    parser.add_argument("--no-button", action="store_true", help="skip the studio app's Render button (served here)")
    args = parser.parse_args()
    handler = logging.StreamHandler(sys.stdout)  # our own: the CLI reconfigures the root logger when it runs
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    sizes = [int(n) for n in args.sizes.split(",")]
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        studio = None if args.no_button else Studio(Path(tmp) / "workspace", args.max_side)
        for n in sizes:
            row = rows[n] = {}
            for kind in ("cli", "studio"):
                root = Path(tmp) / f"{kind}-{n}"
                write_story(root, n)
                if kind == "cli":
                    row["engine"] = engine_only(root, args.max_side)
                    row["cli"] = timed(lambda: cli_render(root, args.max_side))
                    row["unchanged"] = timed(lambda: cli_render(root, args.max_side))
                else:
                    row["studio"] = timed(lambda: studio_render(root, args.max_side))
            if studio is not None:
                row["button"] = studio.render(n)
            log.info("%4d panels: engine %6.2f s | cli %6.2f s (%.2fx engine) | studio %6.2f s (%.2fx cli) | "
                     "button %6.2f s (%.2fx cli) | unchanged %5.2f s", n, row["engine"], row["cli"],
                     row["cli"] / row["engine"], row["studio"], row["studio"] / row["cli"], row.get("button", 0),
                     row.get("button", 0) / row["cli"], row["unchanged"])
    if studio is not None:
        studio.close()
    if 100 in rows and 400 in rows:
        for kind in ("engine", "cli", "studio") + (("button",) if studio is not None else ()):
            log.info("growth 400/100, %-6s: %.2fx (linear: 4.0x, target <= 4.5x)", kind, rows[400][kind] / rows[100][kind])
    for n, row in rows.items():
        if "button" in row:
            log.info("button / cli at %d panels: %.2fx (target <= 1.3x)", n, row["button"] / row["cli"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
