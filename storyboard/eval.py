"""The StoryMaker paper's evaluation protocol, on this project's engine: `python -m storyboard eval`.

Every character photo in a folder x every prompt of a list x N images (seeds `seed`, `seed + 1`, ... the same
for every character and prompt), one character per image, rendered with the StoryMaker engine at its released
settings (UniPC, guidance 7.5, IP-Adapter scale 0.8, LoRA scale 0.8; 25 steps unless `--steps`), then measured
with storyboard.metrics (Face Sim, CLIP-I, CLIP-T, same definitions as per take).

Written to the output folder:
- `images/<character>/<prompt number>-<seed>.png`, every rendered image;
- `per_image.csv`: character, prompt, seed, image, face_sim, clip_i, clip_t, faces, seconds, score_seconds
  (face_sim and clip_i are cosines as in Take.scores; clip_t is the CLIP score, 100 x cosine; seconds is the
  render time of that image, score_seconds the time to measure it). Rows are appended as images finish, so an
  interrupted run keeps what it measured;
- `summary.csv` and `summary.md`: the paper's Table 1 form (Face Sim, CLIP-T, CLIP-I, in the paper's units:
  Face Sim and CLIP-I as percentages) for the whole run and per character, with seconds per image, and the
  paper's own StoryMaker row for reference (in summary.md).

A character photo: any .png/.jpg/.jpeg/.webp in the folder; `<name>_mask.png` beside `<name>.png` is its mask
(the character crop for the engine and for CLIP-I), not a character. A photo in which no face is found (or that
cannot be read) is skipped with a warning and listed under "Skipped" in summary.md; the run fails only when no
character is left. An empty folder, a missing or empty prompts file are errors, before anything is rendered.
"""

from __future__ import annotations

import csv
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.engines import CharacterRef, RenderContext, RenderRequest
from storyboard.errors import EngineError, ProjectError, StoryboardError
from storyboard.metrics import Scorer
from storyboard.scores import CLIP_I, CLIP_T, FACE_SIM, METRICS, PAPER_TABLE1
from storyboard.storyfile import atomic_write

log = logging.getLogger(__name__)

DEFAULT_PROMPTS = Path(__file__).resolve().parent.parent / "assets" / "eval" / "prompts.txt"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_SUFFIX = "_mask"
DEFAULT_STEPS = 25  # the paper's sampling: UniPC, 25 steps, guidance 7.5
DEFAULT_SIZE = 1024
DEFAULT_GUIDANCE = 7.5
DEFAULT_NEGATIVE = "lowres, low quality, worst quality, blurry, deformed, watermark, text"
ENGINE_OPTIONS = (("ip_adapter_scale", 0.8), ("lora_scale", 0.8), ("scheduler", "unipc"))
PER_IMAGE_FIELDS = ("character", "prompt", "seed", "image", FACE_SIM, CLIP_I, CLIP_T, "faces", "seconds", "score_seconds")
TABLE_COLUMNS = (FACE_SIM, CLIP_T, CLIP_I)  # the paper's column order


@dataclass(frozen=True)
class EvalImage:
    """One rendered and measured image."""

    character: str
    prompt: str
    seed: int
    image: str  # relative to the output folder
    face_sim: float
    clip_i: float
    clip_t: float
    faces: int
    seconds: float
    score_seconds: float


@dataclass(frozen=True)
class EvalResult:
    """What an eval run wrote."""

    images: tuple[EvalImage, ...]
    skipped: tuple[tuple[str, str], ...]  # (photo file name, why)
    per_image_csv: Path
    summary_csv: Path
    summary_md: Path
    table: tuple[dict[str, Any], ...]  # the summary rows: the run first, then one per character


def find_characters(folder: Path) -> list[CharacterRef]:
    """The character photos in `folder` (sorted by name), each with its `<name>_mask.png` when there is one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StoryboardError(f"The characters folder {folder} does not exist. Give a folder of character photos "
                              f"({', '.join(IMAGE_SUFFIXES)}), one person per photo.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    photos = [p for p in files if not p.stem.endswith(MASK_SUFFIX)]
    if not photos:
        raise StoryboardError(f"There are no character photos in {folder}: add {', '.join(IMAGE_SUFFIXES)} files, one "
                              f"person per photo (and optionally NAME{MASK_SUFFIX}.png masks beside them).")
    by_stem = {p.stem: p for p in files}
    return [CharacterRef(id=p.stem, name=p.stem, color="#000000", reference=p.resolve(),
                         mask=by_stem[p.stem + MASK_SUFFIX].resolve() if p.stem + MASK_SUFFIX in by_stem else None)
            for p in photos]


def read_prompts(path: Path) -> list[str]:
    """The prompts of a text file: one per line; blank lines and lines starting with # are ignored."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoryboardError(f"The prompts file {path} does not exist. Give a text file with one prompt per line, or "
                              f"leave --prompts out to use the shipped list ({DEFAULT_PROMPTS.name}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoryboardError(f"Could not read the prompts file {path}: {exc}. It should be UTF-8 text, one prompt a line.") from None
    prompts = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise StoryboardError(f"The prompts file {path} has no prompts; write one prompt per line.")
    return prompts


def run_eval(
    characters_dir: Path,
    prompts_file: Path,
    out_dir: Path,
    engine: Any,
    scorer: Scorer,
    images_per_prompt: int = 4,
    steps: int | None = None,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
    context: RenderContext | None = None,
    on_image: Callable[[EvalImage, int, int], None] | None = None,
    options: tuple[tuple[str, Any], ...] = (),
) -> EvalResult:
    """Render and measure every character x prompt x image; write the CSVs and the summary. See the module docstring.

    `options` are engine settings over the released ones (e.g. identity_start for a blend sweep)."""
    # 1. Check inputs before any work
    if not 1 <= images_per_prompt <= 64:
        raise StoryboardError(f"--images-per-prompt must be between 1 and 64, got {images_per_prompt}.")
    if size % 8 or not 64 <= size <= 4096:
        raise StoryboardError(f"--size must be a multiple of 8 from 64 to 4096 pixels, got {size}.")
    if steps is not None and not 1 <= steps <= 150:
        raise StoryboardError(f"--steps must be between 1 and 150, got {steps}.")
    characters = find_characters(characters_dir)
    prompts = read_prompts(prompts_file)
    out_dir = Path(out_dir)
    try:
        (out_dir / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoryboardError(f"Cannot create the output folder {out_dir}: {exc.strerror or exc}.") from None
    context = context or RenderContext()

    # 2. Every character needs a face: skip (and report) those without one, before rendering anything
    usable: list[CharacterRef] = []
    skipped: list[tuple[str, str]] = []
    for character in characters:
        try:
            scorer.reference_identity(character)
        except (EngineError, ProjectError) as exc:
            log.warning("Skipping %s: %s", character.reference.name, exc)
            skipped.append((character.reference.name, str(exc)))
        else:
            usable.append(character)
    if not usable:
        raise StoryboardError(f"None of the {len(characters)} photo(s) in {characters_dir} has a face the face model "
                              "finds; use clear, front-facing photos (the face at least about 100 px tall).")

    # 3. Render and measure, writing each row as it comes
    per_image_csv = out_dir / "per_image.csv"
    total = len(usable) * len(prompts) * images_per_prompt
    rows: list[EvalImage] = []
    with per_image_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=PER_IMAGE_FIELDS)
        writer.writeheader()
        for character in usable:
            for p_index, prompt in enumerate(prompts, start=1):
                for i in range(images_per_prompt):
                    context.check_cancelled()
                    row = _one_image(engine, scorer, character, prompt, p_index, seed + i, size, steps, out_dir, context,
                                     options)
                    rows.append(row)
                    writer.writerow(_csv_row(row))
                    handle.flush()
                    if on_image is not None:
                        on_image(row, len(rows), total)

    # 4. Summarise in the paper's Table 1 form
    table = summarize(rows)
    summary_csv, summary_md = out_dir / "summary.csv", out_dir / "summary.md"
    atomic_write(summary_csv, _table_csv(table).encode("utf-8"))
    run = {"characters": len(usable), "prompts": len(prompts), "images_per_prompt": images_per_prompt,
           "steps": steps or DEFAULT_STEPS, "size": size}
    atomic_write(summary_md, _table_markdown(table, run, skipped, engine).encode("utf-8"))
    return EvalResult(tuple(rows), tuple(skipped), per_image_csv, summary_csv, summary_md, tuple(table))


def _one_image(engine: Any, scorer: Scorer, character: CharacterRef, prompt: str, p_index: int, seed: int, size: int,
               steps: int | None, out_dir: Path, context: RenderContext,
               options: tuple[tuple[str, Any], ...] = ()) -> EvalImage:
    request = RenderRequest(
        panel_id=f"{character.id}-{p_index:02d}", prompt=prompt, styled_prompt=prompt, negative_prompt=DEFAULT_NEGATIVE,
        characters=(character,), seed=seed, width=size, height=size, steps=steps or DEFAULT_STEPS,
        guidance=DEFAULT_GUIDANCE, options=tuple({**dict(ENGINE_OPTIONS), **dict(options)}.items()),
        cache_dir=out_dir / ".cache",
    )
    started = time.perf_counter()
    result = engine.render(request, context)
    seconds = time.perf_counter() - started
    rel = f"images/{character.id}/{p_index:02d}-{seed}.png"
    (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
    result.image.save(out_dir / rel)
    started = time.perf_counter()
    measurement = scorer.measure(result.image, (character,), prompt)
    score_seconds = time.perf_counter() - started
    return EvalImage(character.id, prompt, seed, rel, measurement.face_sim[0], measurement.clip_i[0], measurement.clip_t,
                     measurement.faces, seconds, score_seconds)


def _csv_row(row: EvalImage) -> dict[str, Any]:
    return {"character": row.character, "prompt": row.prompt, "seed": row.seed, "image": row.image,
            FACE_SIM: f"{row.face_sim:.6f}", CLIP_I: f"{row.clip_i:.6f}", CLIP_T: f"{row.clip_t:.4f}",
            "faces": row.faces, "seconds": f"{row.seconds:.3f}", "score_seconds": f"{row.score_seconds:.3f}"}


def summarize(rows: Sequence[EvalImage]) -> list[dict[str, Any]]:
    """Table 1 rows (paper units: Face Sim and CLIP-I x 100): the whole run, then one row per character."""
    groups: list[tuple[str, list[EvalImage]]] = [("all", list(rows))]
    for name in dict.fromkeys(r.character for r in rows):
        groups.append((name, [r for r in rows if r.character == name]))
    table = []
    for name, group in groups:
        table.append({
            "characters": name,
            "images": len(group),
            FACE_SIM: statistics.fmean(r.face_sim for r in group) * METRICS[FACE_SIM].paper_scale,
            CLIP_T: statistics.fmean(r.clip_t for r in group) * METRICS[CLIP_T].paper_scale,
            CLIP_I: statistics.fmean(r.clip_i for r in group) * METRICS[CLIP_I].paper_scale,
            "no_face": sum(r.faces == 0 for r in group),
            "seconds_per_image": statistics.fmean(r.seconds for r in group),
            "score_seconds_per_image": statistics.fmean(r.score_seconds for r in group),
        })
    return table


def _table_csv(table: Sequence[dict[str, Any]]) -> str:
    header = ["characters", "images", *(METRICS[m].label for m in TABLE_COLUMNS), "images without a face",
              "seconds per image", "scoring seconds per image"]
    lines = [",".join(header)]
    for row in table:
        lines.append(",".join([_csv_text(row["characters"]), str(row["images"]), *(f"{row[m]:.2f}" for m in TABLE_COLUMNS),
                               str(row["no_face"]), f"{row['seconds_per_image']:.3f}", f"{row['score_seconds_per_image']:.3f}"]))
    return "\n".join(lines) + "\n"


def _csv_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _table_markdown(table: Sequence[dict[str, Any]], run: dict[str, Any], skipped: Sequence[tuple[str, str]], engine: Any) -> str:
    labels = " | ".join(f"{METRICS[m].label} ↑" for m in TABLE_COLUMNS)
    setup = (f"{run['characters']} characters × {run['prompts']} prompts × {run['images_per_prompt']} images, "
             f"{run['steps']} steps, {run['size']} px")
    everything = table[0]
    lines = [
        "# StoryMaker evaluation (the paper's protocol)",
        "",
        f"{setup}; {everything['images']} images. {engine.describe() if hasattr(engine, 'describe') else ''}".rstrip(),
        "",
        f"| Method | {labels} | s / image |",
        "|---|---:|---:|---:|---:|",
        "| StoryMaker (this run) | " + " | ".join(f"{everything[m]:.2f}" for m in TABLE_COLUMNS)
        + f" | {everything['seconds_per_image']:.2f} |",
        "| StoryMaker (paper, Table 1; 40 × 20 × 4) | " + " | ".join(f"{PAPER_TABLE1[m]:.2f}" for m in TABLE_COLUMNS) + " | – |",
        "",
        "## Per character",
        "",
        f"| Character | Images | {labels} | Images without a face | s / image |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table[1:]:
        lines.append(f"| {row['characters']} | {row['images']} | " + " | ".join(f"{row[m]:.2f}" for m in TABLE_COLUMNS)
                     + f" | {row['no_face']} | {row['seconds_per_image']:.2f} |")
    lines += [
        "",
        "Face Sim: ArcFace (buffalo_l) cosine between the reference face and the face found in the image, × 100 "
        "(an image without a face counts 0). CLIP-I: CLIP image-embedding cosine between the reference character crop "
        "and the image, × 100. CLIP-T: 100 × CLIP cosine between the image and its prompt. s / image: render time "
        f"(scoring adds {everything['score_seconds_per_image']:.2f} s). Per-image values: per_image.csv.",
    ]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {name}: {why}" for name, why in skipped]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the step-blended identity trade-off


@dataclass(frozen=True)
class SweepRow:
    """One setting of a sweep and the whole run's means at it (paper units)."""

    identity_start: float
    images: int
    face_sim: float
    clip_i: float
    clip_t: float
    seconds_per_image: float
    folder: str  # the run's own output folder, relative to the sweep's


def parse_blend(text: str) -> list[float]:
    """`--blend 0,0.2,0.4`: the identity_start values to sweep, each 0 to 0.9, in the order given."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise StoryboardError(f"--blend takes numbers separated by commas, like 0,0.2,0.4; got {text!r}.") from None
    if not values or any(not 0.0 <= v <= 0.9 for v in values):
        raise StoryboardError(f"--blend values are fractions of the steps from 0 (the released behaviour) to 0.9; got {text!r}.")
    if len(set(values)) != len(values):
        raise StoryboardError(f"--blend names a value twice: {text!r}.")
    return values


def run_blend_sweep(values: Sequence[float], characters_dir: Path, prompts_file: Path, out_dir: Path, engine: Any,
                    scorer: Scorer, on_run: Callable[[float], None] | None = None, **kwargs: Any) -> list[SweepRow]:
    """run_eval once per identity_start value (each in `out_dir/blend-<value>`); writes blend_sweep.csv and .md."""
    rows = []
    for value in values:
        if on_run is not None:
            on_run(value)
        folder = f"blend-{value:g}"
        options = (("identity_start", value),) if value > 0 else ()
        result = run_eval(characters_dir, prompts_file, Path(out_dir) / folder, engine, scorer, options=options, **kwargs)
        run = result.table[0]
        rows.append(SweepRow(value, run["images"], run[FACE_SIM], run[CLIP_I], run[CLIP_T], run["seconds_per_image"], folder))
    atomic_write(Path(out_dir) / "blend_sweep.csv", ("identity_start,images,Face Sim,CLIP-I,CLIP-T,seconds per image\n" + "".join(
        f"{r.identity_start:g},{r.images},{r.face_sim:.2f},{r.clip_i:.2f},{r.clip_t:.2f},{r.seconds_per_image:.3f}\n"
        for r in rows)).encode("utf-8"))
    atomic_write(Path(out_dir) / "blend_sweep.md", (sweep_table(rows) + "\n").encode("utf-8"))
    return rows


def sweep_table(rows: Sequence[SweepRow]) -> str:
    """The trade-off table (Markdown): likeness (Face Sim, CLIP-I) against prompt fidelity (CLIP-T) per setting."""
    lines = ["| Characters join after | Face Sim ↑ | CLIP-I ↑ | CLIP-T ↑ | s / image | Images |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        when = "step 0 (released)" if r.identity_start == 0 else f"{r.identity_start:.0%} of the steps"
        lines.append(f"| {when} | {r.face_sim:.2f} | {r.clip_i:.2f} | {r.clip_t:.2f} | {r.seconds_per_image:.2f} | {r.images} |")
    return "\n".join(lines)
