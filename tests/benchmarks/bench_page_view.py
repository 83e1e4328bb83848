"""Benchmark: the studio's page view (issue 12 item 2): how long a page takes to draw as it prints, and from cache.

    python tests/benchmarks/bench_page_view.py [--dpi 150] [--repeat 3]

On a copy of the sample (rendered in draft mode first), for each page: `draw` is storyboard.export.draw_page
(layout, lettering and the PNG painter), `lettering` the lettering alone (letter_slot for the page's panels),
`view` studio.page_view the first time (draw + PNG for the cache), `cached` the same call again, `webp` the
picture for the browser. Then a balloon is moved and the page drawn again. Best of --repeat, seconds.
Not collected by pytest. Figures go to stdout via logging.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

log = logging.getLogger("bench_page_view")


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dpi", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from storyboard import studio
    from storyboard.engines.draft import DraftEngine
    from storyboard.export import draw_page
    from storyboard.layout import project_layout
    from storyboard.lettering import letter_slot
    from storyboard.render import render_project
    from storyboard.storyfile import load_project
    from storyboard.studio import pageview

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rainy-monday"
        shutil.copytree(REPO / "assets" / "samples" / "rainy-monday", root)
        render_project(root, load_project(root), DraftEngine())
        project = load_project(root)
        draw_page(root, project, 1, args.dpi)  # fonts loaded, modules imported
        for number, layout in enumerate(project_layout(project), start=1):
            sizes = {}
            for placed in layout.panels:
                from PIL import Image

                with Image.open(root / project.panel(placed.panel_id).selected_take.file) as image:
                    sizes[placed.panel_id] = image.size
            draw = best(lambda: draw_page(root, project, number, args.dpi), args.repeat)
            lettering = best(lambda: [letter_slot(root, project, project.panel(p.panel_id), p.rect, sizes[p.panel_id],
                                                  project.page.reading) for p in layout.panels], args.repeat)
            pageview.clear_cache()
            started = time.perf_counter()
            view = studio.page_view(root, number, args.dpi)
            first = time.perf_counter() - started
            cached = best(lambda: studio.page_view(root, number, args.dpi), args.repeat)
            started = time.perf_counter()
            webp = view.webp
            encode = time.perf_counter() - started
            log.info("page %d (%d panels, %d x %d px at %d dpi): draw %.2f s (lettering %.2f s), view %.2f s, cached %.4f s, "
                     "webp %.2f s (%d KB; PNG %d KB)", number, len(layout.panels), view.image.width, view.image.height,
                     args.dpi, draw, lettering, first, cached, encode, len(webp) // 1024, len(view.png) // 1024)
        studio.set_lettering(root, "p4", "balloon", 0, at=(0.3, 0.2))
        started = time.perf_counter()
        studio.page_view(root, 1, args.dpi)
        log.info("after moving a balloon on page 1: drawn again in %.2f s", time.perf_counter() - started)


if __name__ == "__main__":
    main()
