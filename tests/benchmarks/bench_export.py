"""Benchmark: export N draft panels as comic pages (issue 13): ours against a minimal reportlab script, and memory.

    python tests/benchmarks/bench_export.py [--panels 40,400] [--template auto] [--repeat 3] [--png]

For each size it draft-renders the story (timed with the first export, as before), then runs in fresh child
processes, alternately and `--repeat` times each (the fastest run counts):
- `ours`: storyboard.export.export_project on the rendered project (takes exist), and how much of that was
  lettering (laying out balloons and captions, which the baseline is handed ready-made);
- `baseline`: a minimal reportlab script that places the same take files (reportlab's own drawImage) and the
  same lines of text (drawString with the same fonts) at the same places on pages of the same size;
and prints seconds, the ratio ours / baseline (target <= 1.5), each child's peak memory (VmHWM, its peak
resident memory, imports included), the PDF sizes, and the peak of ours at the largest size over the smallest (target <= 1.2). Last,
the studio: its export handler's process memory idle, after a warm-up export of 4 panels, and after exporting
the largest story, to show that an export leaves nothing behind.
Not collected by pytest. Figures go to stdout via logging.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
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


def render_story(root: Path, panels: int, template: str) -> tuple[float, int]:
    """Write and draft-render a story of `panels` panels with its first export; (seconds, pages)."""
    write_story(root, panels)
    started = time.perf_counter()
    result = export_project(root, load_project(root), make_options(root / "first.pdf", template=template), DraftEngine())
    return time.perf_counter() - started, result.pages


def baseline_geometry(root: Path, template: str, path: Path) -> None:
    """What the baseline script draws, as JSON: per page the take files and rectangles, and every line of text."""
    from storyboard.export import letter_pages, take_file
    from storyboard.layout import layout_pages, page_spec
    from storyboard.paths import resolve_inside

    project = load_project(root)
    spec = page_spec(project)
    pages = layout_pages(project.panels, template, spec)
    sizes = {p.id: take_file(root, p).size for p in project.panels}
    height = spec.size.height_pt
    fonts: dict[str, str] = {}
    out = []
    for page in pages:
        lettering = letter_pages(root, project, [page], sizes, spec.reading)
        images, texts = [], []
        for placed in page.panels:
            r = placed.rect
            take = resolve_inside(root, project.panel(placed.panel_id).selected_take.file)
            images.append([str(take), r.x, height - r.bottom, r.w, r.h])
            letters = lettering[placed.panel_id]
            blocks = [(c.text, c.lines(), "left") for c in letters.captions]
            blocks += [(b.text, b.lines(), "center") for b in letters.balloons]
            for block, lines, align in blocks:
                fonts[block.font.name] = str(block.font.path)
                texts += [[block.font.name, block.size, x, height - y, align, line] for line, x, y in lines]
        out.append({"images": images, "texts": texts})
    path.write_text(json.dumps({"size": [spec.size.width_pt, height], "fonts": fonts, "pages": out}))


CHILD_PREAMBLE = """
import json, sys, time
def peak_mb():  # VmHWM: this process's own peak; ru_maxrss would count the parent's, copied in at fork
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
"""  # both children measure their own peak the same way

BASELINE = CHILD_PREAMBLE + """
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
job = json.loads(open(sys.argv[1]).read())
started = time.perf_counter()
for name, path in job["fonts"].items():
    pdfmetrics.registerFont(TTFont(name, path))
c = Canvas(sys.argv[2], pagesize=job["size"], pageCompression=1)
for page in job["pages"]:
    for path, x, y, w, h in page["images"]:
        c.drawImage(path, x, y, w, h)
    for font, size, x, y, align, text in page["texts"]:
        c.setFont(font, size)
        (c.drawCentredString if align == "center" else c.drawString)(x, y, text)
    c.showPage()
c.save()
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb()}))
"""

OURS = CHILD_PREAMBLE + """
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import storyboard.export as export
from storyboard.storyfile import load_project
lettering = [0.0]
real = export.letter_pages
def timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        lettering[0] += time.perf_counter() - started
export.letter_pages = timed
root = Path(sys.argv[2])
project = load_project(root)
started = time.perf_counter()
export.export_project(root, project, export.make_options(Path(sys.argv[3]), template=sys.argv[4]))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "lettering": lettering[0],
                  "peak_mb": peak_mb()}))
"""

STUDIO = """
import gc, json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from storyboard.engines.draft import DraftEngine
from storyboard.studio.pages import export

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

figures = {"idle": rss_mb()}
export(sys.argv[2], Path(sys.argv[4]) / "warm", "pdf", DraftEngine())
gc.collect()
figures["after_warm_up"] = rss_mb()
export(sys.argv[3], Path(sys.argv[4]) / "big", "pdf", DraftEngine())
gc.collect()
figures["after_export"] = rss_mb()
export(sys.argv[3], Path(sys.argv[4]) / "big", "pdf", DraftEngine())
gc.collect()
figures["after_second_export"] = rss_mb()
print(json.dumps(figures))
"""


def child(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"a benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", default="40,400", help="story sizes, comma-separated")
    parser.add_argument("--template", default="auto")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each child per size (the fastest counts)")
    parser.add_argument("--png", action="store_true", help="also time an export with PNG pages (150 dpi), in this process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("storyboard").setLevel(logging.WARNING)
    sizes = [int(n) for n in args.panels.split(",")]
    peaks: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for panels in sizes:
            root = Path(tmp) / f"bench{panels}"
            first, pages = render_story(root, panels, args.template)
            geometry = root / "baseline.json"
            baseline_geometry(root, args.template, geometry)
            ours_pdf, base_pdf = root / "ours.pdf", root / "baseline.pdf"
            runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
            for _ in range(args.repeat):
                runs["ours"].append(child(["-c", OURS, str(REPO), str(root), str(ours_pdf), args.template]))
                runs["baseline"].append(child(["-c", BASELINE, str(geometry), str(base_pdf)]))
            ours = min(runs["ours"], key=lambda r: r["seconds"])
            base = min(runs["baseline"], key=lambda r: r["seconds"])
            peaks[panels] = max(r["peak_mb"] for r in runs["ours"])
            renders = sum(f.stat().st_size for f in (root / "renders").rglob("*.png"))
            log.info("%d panels, %d pages (template %s); draft render + first export %.1f s", panels, pages, args.template, first)
            log.info("  export: ours %.2f s (lettering %.2f s of it), baseline %.2f s, ratio %.2f (without lettering %.2f)",
                     ours["seconds"], ours["lettering"], base["seconds"], ours["seconds"] / base["seconds"],
                     (ours["seconds"] - ours["lettering"]) / base["seconds"])
            log.info("  peak memory (VmHWM, imports included): ours %.0f MB, baseline %.0f MB",
                     peaks[panels], max(r["peak_mb"] for r in runs["baseline"]))
            log.info("  PDF: ours %.2f MB, baseline %.2f MB; draft takes on disk %.2f MB",
                     ours_pdf.stat().st_size / 1e6, base_pdf.stat().st_size / 1e6, renders / 1e6)
            if args.png:
                started = time.perf_counter()
                result = export_project(root, load_project(root), make_options(root / "png.pdf", png_dir=root / "png",
                                                                               template=args.template))
                size = sum(p.stat().st_size for p in result.pngs)
                log.info("  with PNG pages: %.2f s, %d files, %.1f MB", time.perf_counter() - started, len(result.pngs), size / 1e6)
        if len(sizes) > 1:
            small, large = min(sizes), max(sizes)
            log.info("peak memory %d panels / %d panels: %.2f (target <= 1.2)", large, small, peaks[large] / peaks[small])
            warm = Path(tmp) / "warm"
            write_story(warm, 4)
            export_project(warm, load_project(warm), make_options(warm / "w.pdf"), DraftEngine())
            studio = child(["-c", STUDIO, str(REPO), str(warm), str(Path(tmp) / f"bench{large}"), str(Path(tmp) / "out")])
            log.info("studio process memory (VmRSS): idle %.0f MB, after a 4-panel export %.0f MB, after the %d-panel export "
                     "%.0f MB, after it again %.0f MB", studio["idle"], studio["after_warm_up"], large,
                     studio["after_export"], studio["after_second_export"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
