"""Benchmark: draft-render and export N panels (default 100) as comic pages; prints seconds and file sizes.

    python tests/benchmarks/bench_export.py [--panels 100] [--template auto] [--png]

Not collected by pytest (the name does not start with test_). Figures go to stdout via logging.
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

from storyboard.engines.draft import DraftEngine  # noqa: E402
from storyboard.export import export_project, make_options  # noqa: E402
from storyboard.model import SHOT_TYPES  # noqa: E402
from storyboard.storyfile import load_project  # noqa: E402

log = logging.getLogger("bench_export")

LINES = ("Wait for me!", "Rough morning? You look like you swam here.", "The bus and I had a disagreement.",
         "Oat milk, extra hot. I guessed.", "Don't tell anyone... it broke down two streets later.")
KINDS = ("speech", "shout", "thought", "whisper")


def write_story(root: Path, panels: int) -> None:
    from PIL import Image

    (root / "cast").mkdir(parents=True)
    Image.new("RGB", (64, 80), (200, 120, 90)).save(root / "cast" / "mia.png")
    Image.new("RGB", (64, 80), (90, 120, 200)).save(root / "cast" / "leo.png")
    shots = list(SHOT_TYPES)
    lines = ["schema: 1", "title: Benchmark", "author: bench", "page: {size: a4, template: auto, reading: ltr}", "cast:",
             "  - {id: mia, name: Mia, reference: cast/mia.png, color: '#e4572e'}",
             "  - {id: leo, name: Leo, reference: cast/leo.png, color: '#2e86ab'}", "panels:"]
    for i in range(panels):
        cast = [[], ["mia"], ["mia", "leo"], ["leo", "mia"]][i % 4]
        lines += [f"  - id: p{i + 1}", f"    prompt: \"panel {i + 1}, {' and '.join('{' + c + '}' for c in cast) or 'the city'}\"",
                  f"    characters: [{', '.join(cast)}]", f"    shot: {shots[i % len(shots)]}", f"    seed: {1000 + i}",
                  f"    caption: \"Caption {i + 1}.\"" if i % 3 == 0 else "    caption: ''", "    balloons:"]
        for j, speaker in enumerate(cast):
            lines.append(f"      - {{speaker: {speaker}, kind: {KINDS[(i + j) % 4]}, text: \"{LINES[(i + j) % len(LINES)]}\"}}")
        if not cast:
            lines[-1] = "    balloons: []"
    (root / "story.yaml").write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", type=int, default=100)
    parser.add_argument("--template", default="auto")
    parser.add_argument("--png", action="store_true", help="also write PNG pages (150 dpi)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("storyboard").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        write_story(root, args.panels)
        out = root / "comic.pdf"
        png_dir = root / "png" if args.png else None

        started = time.perf_counter()
        result = export_project(root, load_project(root), make_options(out, png_dir=png_dir, template=args.template), DraftEngine())
        first = time.perf_counter() - started

        started = time.perf_counter()
        again = export_project(root, load_project(root), make_options(root / "again.pdf", png_dir=png_dir, template=args.template))
        export_only = time.perf_counter() - started

        renders = sum(f.stat().st_size for f in (root / "renders").rglob("*.png"))
        log.info("panels: %d, template %s, pages: %d, lettering warnings: %d", args.panels, args.template, result.pages, len(result.issues))
        log.info("draft render + export: %.2f s total, %.3f s per page, %.3f s per panel", first, first / result.pages, first / args.panels)
        log.info("export only (takes exist): %.2f s total, %.3f s per page", export_only, export_only / again.pages)
        log.info("PDF size: %.2f MB (%.0f KB per page); draft takes on disk: %.1f MB",
                 out.stat().st_size / 1e6, out.stat().st_size / 1e3 / result.pages, renders / 1e6)
        if png_dir:
            size = sum(p.stat().st_size for p in png_dir.iterdir())
            log.info("PNG pages: %d files, %.1f MB", len(result.pngs), size / 1e6)
    return 0


if __name__ == "__main__":
    sys.exit(main())
