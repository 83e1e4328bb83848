"""Benchmark: the Panels tab's list with thumbnails (issue 12 item 4) for a story of 100+ rendered panels.

    python tests/benchmarks/bench_panel_list.py [--panels 100] [--max-side 768] [--no-browser]

It writes a story of N panels, renders every one in draft mode (takes of up to --max-side px), serves the studio
(draft engine) and times:
- `thumbs cold` / `thumbs warm`: making every panel's thumbnail (storyboard.thumbnails), then finding them made;
- `select_panel cold` / `warm`: the select_panel API round trip (the whole Panels form, the list's rows and their
  thumbnails, Gradio's copies) right after the thumbnails were removed, then again;
- `tab open`: in Chromium at 1280x800, clicking the Panels tab until all N rows are drawn and the thumbnails on
  screen have loaded; `pick`: clicking the 50th row until its form shows.
Not collected by pytest. Figures go to stdout via logging.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

log = logging.getLogger("bench_panel_list")


def write_story(root: Path, panels: int) -> None:
    from PIL import Image

    from storyboard.model import SHOT_TYPES

    (root / "cast").mkdir(parents=True)
    Image.new("RGB", (64, 80), (200, 120, 90)).save(root / "cast" / "mia.png")
    shots = list(SHOT_TYPES)
    lines = ["schema: 1", "title: Benchmark", "cast:", "  - {id: mia, name: Mia, reference: cast/mia.png, color: '#e4572e'}",
             "panels:"]
    for i in range(panels):
        lines += [f"  - id: p{i + 1}", f"    prompt: \"panel {i + 1}: {{mia}} crosses the street\"",
                  "    characters: [mia]", f"    shot: {shots[i % len(shots)]}", f"    seed: {1000 + i}"]
    (root / "story.yaml").write_text("\n".join(lines) + "\n")


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--panels", type=int, default=100)
    parser.add_argument("--max-side", type=int, default=768)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("storyboard", "httpx", "gradio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    from storyboard.cli import main as cli
    from storyboard.storyfile import load_project

    try:
        from storyboard.thumbnails import THUMBS_DIR, panel_thumbnail
    except ImportError:  # a tree before the thumbnails (a baseline): the list without pictures
        THUMBS_DIR, panel_thumbnail = ".cache/thumbs", None

    workspace = Path(tempfile.mkdtemp(prefix="bench-panel-list-"))
    session = workspace / "sessions" / ("b" * 24)
    root = session / "benchmark"
    write_story(root, args.panels)
    seconds = timed(lambda: cli(["render", str(root), "--engine", "draft", "--max-side", str(args.max_side)]))
    project = load_project(root)
    log.info("rendered %d panels in %.1f s", len(project.panels), seconds)

    if panel_thumbnail is not None:
        cold = timed(lambda: [panel_thumbnail(root, p) for p in project.panels])
        warm = timed(lambda: [panel_thumbnail(root, p) for p in project.panels])
        size = sum(f.stat().st_size for f in (root / THUMBS_DIR).iterdir())
        log.info("thumbs cold   %6.3f s (%.1f ms a panel), %d KB in all", cold, 1000 * cold / args.panels, size // 1024)
        log.info("thumbs warm   %6.3f s (%.2f ms a panel)", warm, 1000 * warm / args.panels)

    from gradio_client import Client

    from conftest import CHROMIUM, CHROMIUM_ARGS, free_port
    from storyboard.engines.draft import DraftEngine
    from ui.studio import build_studio, launch_options

    demo = build_studio(DraftEngine(), workspace, project_dir=None)
    port = free_port()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.studio_context))
    url = f"http://127.0.0.1:{port}/"
    try:
        client = Client(url, verbose=False)
        shutil.rmtree(root / THUMBS_DIR, ignore_errors=True)
        # An API session's folder comes from its session hash: put the project there, then pick a panel by id.
        client.predict(api_name="/open_sample")
        (api_session,) = [p for p in (workspace / "sessions").iterdir() if p != session]
        shutil.copytree(root, api_session / "benchmark")
        client.predict("benchmark", api_name="/open_project")
        cold = timed(lambda: client.predict("p2", api_name="/select_panel"))
        warm = timed(lambda: client.predict("p3", api_name="/select_panel"))
        log.info("select_panel cold %6.3f s, warm %6.3f s", cold, warm)
        if args.no_browser:
            return
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            before = set((workspace / "sessions").iterdir())
            page.goto(url)
            page.wait_for_selector("#project-summary", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.pending, .generating, .eta-bar').length === 0",
                                   timeout=60_000)
            page.wait_for_timeout(3000)  # the session's token reaches the browser's storage
            (browser_session,) = set((workspace / "sessions").iterdir()) - before
            shutil.copytree(root, browser_session / "benchmark")  # no thumbnails yet: the first opening makes them
            page.reload()
            page.wait_for_function("document.querySelector('#project-summary')?.innerText.includes('Benchmark')",
                                   timeout=60_000)
            page.wait_for_timeout(1500)

            def open_tab() -> float:
                started = time.perf_counter()
                page.get_by_role("tab", name="3 · Panels").click()
                page.wait_for_function(f"document.querySelectorAll('#panel-list label').length === {args.panels}",
                                       timeout=120_000)
                page.wait_for_function("Array.from(document.querySelectorAll('#panel-list img[src]')).slice(0, 8)"
                                       ".every(img => img.complete && img.naturalWidth > 0)", timeout=120_000)
                return time.perf_counter() - started

            cold = open_tab()
            warm = []
            for _ in range(3):
                page.get_by_role("tab", name="2 · Cast").click()
                page.wait_for_timeout(1000)
                warm.append(open_tab())
            picks = []
            for number in (args.panels // 2, 2, args.panels - 1, args.panels // 3, args.panels // 2 + 1):
                started = time.perf_counter()
                page.locator("#panel-list label").nth(number - 1).click()
                try:
                    page.wait_for_function(f"document.querySelector('#panel-heading').innerText.includes('Panel {number} "
                                           f"of {args.panels}')", timeout=60_000)
                except Exception:
                    log.info("no pick of %d: heading %r, checked %r", number, page.locator("#panel-heading").inner_text(),
                             page.evaluate("document.querySelector('#panel-list input:checked')?.value"))
                    page.screenshot(path="/tmp/sbwork/pick-fail.png")
                    raise
                picks.append(time.perf_counter() - started)
                page.wait_for_timeout(500)
            log.info("tab open cold %6.3f s, warm %6.3f s median (all %d rows drawn, thumbnails on screen loaded); "
                     "pick a panel %6.3f s median", cold, statistics.median(warm), args.panels, statistics.median(picks))
            browser.close()
    finally:
        demo.close()
        shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
