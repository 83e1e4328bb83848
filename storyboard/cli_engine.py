"""The command line's engine options: fast previews (render --fast), retouch, and eval's blend sweep.

Imported only by the commands that use them, so `--help` stays fast (see storyboard.cli).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from storyboard.cli_common import MODELS_ENV, models_dir
from storyboard.errors import RenderCancelled, StoryboardError

log = logging.getLogger("storyboard")


def fast_preview(args: argparse.Namespace, holder: object) -> str | None:
    """The fast preset `render --fast [NAME]` asks for; None without --fast. With --engine storymaker its LoRA is
    looked for before any model loads (auto: once StoryMaker has loaded, see require_fast_lora)."""
    if args.fast is None:
        return None
    from storyboard.presets import load_fast

    preset = load_fast(args.fast or None)  # PresetError lists the presets
    on_cluster = getattr(args, "cluster", None) or getattr(args, "workers", None) is not None
    if getattr(holder, "requested", "") == "storymaker" and not on_cluster:  # Ray workers look in their own folders
        require_fast_lora(args, preset.id)
    return preset.id


def require_fast_lora(args: argparse.Namespace, preset_id: str) -> None:
    """EngineUnavailable (exit 2) naming the file to get and where to put it, when the fast LoRA is not here."""
    from storyboard.engines.storymaker.models import fast_folder, find_fast_lora
    from storyboard.presets import load_fast

    preset = load_fast(preset_id)
    find_fast_lora(dataclasses.asdict(preset), fast_folder(models_dir(args)))
    log.info("Fast preview: %s (%s, %s), %d steps.", preset.name, preset.file, preset.license or "see its card",
             preset.steps)


def run_retouch(args: argparse.Namespace) -> int:
    from storyboard.engine_holder import EngineHolder
    from storyboard.engines import RenderContext
    from storyboard.retouch import read_mask, retouch_take
    from storyboard.storyfile import load_project

    root = Path(args.project)
    project = load_project(root)
    if args.panel not in {p.id for p in project.panels}:
        raise StoryboardError(f"No panel with id {args.panel!r} in {root}; panels are: "
                              f"{', '.join(p.id for p in project.panels) or 'none'}.")
    take = project.panel(args.panel).selected_take
    if take is None:
        raise StoryboardError(f"Panel {args.panel!r} has no take yet: render it first, then retouch a region of it.")
    from storyboard.images import read_header
    from storyboard.paths import resolve_inside

    width, height = read_header(resolve_inside(root, take.file), f"take {take.file}").size
    read_mask(Path(args.mask), (width, height))  # a bad mask is refused before any model loads
    engine = EngineHolder(args.engine, models_dir(args)).get()
    log.info("%s", engine.describe())
    cancel = threading.Event()
    started = time.perf_counter()
    try:
        done = retouch_take(root, args.panel, Path(args.mask), engine, prompt=args.prompt,
                            context=RenderContext(cancel_event=cancel), steps=args.steps)
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled("Retouch interrupted; the panel keeps its take.") from None
    how = "redrawn by the draft engine" if engine.name == "draft" else "inpainted"
    log.info("Done in %.1f s: %s, the region %s (%d%% of the take); the rest is %s pixel for pixel. Selected.",
             time.perf_counter() - started, done.take.file, how, round(100 * done.changed.mean()), done.source.file)
    return 0


def eval_sweep(args: argparse.Namespace, blend: list[float], prompts_file: Path, engine: object, scorer: object,
                on_image: Callable, cancel: threading.Event) -> int:
    """`eval --blend`: the eval once per identity_start value, then the Face Sim / CLIP-I / CLIP-T trade-off table."""
    from storyboard.engines import RenderContext
    from storyboard.eval import run_blend_sweep, sweep_table

    started = time.perf_counter()
    try:
        rows = run_blend_sweep(blend, Path(args.characters), prompts_file, Path(args.output), engine, scorer,
                               on_run=lambda v: log.info("Characters join after %g of the steps:", v),
                               images_per_prompt=args.images_per_prompt, steps=args.steps, size=args.size, seed=args.seed,
                               context=RenderContext(cancel_event=cancel), on_image=on_image)
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled(f"Eval interrupted; the runs measured so far are in {Path(args.output)}.") from None
    log.info("Identity that leaves room for the prompt: likeness against prompt fidelity\n\n%s\n", sweep_table(rows))
    log.info("Done in %.1f s: %d run(s). Wrote %s and %s, and each run's own folder.", time.perf_counter() - started,
             len(rows), Path(args.output) / "blend_sweep.md", Path(args.output) / "blend_sweep.csv")
    return 0


def args_retouch(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder (or its story.yaml)")
    p.add_argument("panel", metavar="PANEL", help="the panel id whose chosen take is retouched")
    p.add_argument("--mask", metavar="MASK.png", required=True,
                   help="white where the take is rendered again (at the take's size, or the same shape); the rest is "
                        "kept pixel for pixel outside a feathered edge")
    p.add_argument("--prompt", metavar="TEXT", help="what to draw there (default: the panel's prompt; {id} puts a name in)")
    p.add_argument("--steps", type=int, metavar="N", help="denoising steps instead of the style's")
    p.add_argument("--engine", choices=("auto", "draft", "storymaker"), default="auto",
                   help="StoryMaker inpaints the region; the draft engine redraws the panel there from its current inputs")
    p.add_argument("--models", metavar="DIR", help=f"folder with the model weights (default: ${MODELS_ENV} or the Hugging Face cache)")
