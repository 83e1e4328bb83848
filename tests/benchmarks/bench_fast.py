"""Benchmark: fast previews (a step-distillation LoRA, its few steps) against full renders, per panel. Prints figures:

    python tests/benchmarks/bench_fast.py [--models DIR] [--device cuda] [--size 1024] [--repeats 3] [--fast NAME]

Without --models it builds tiny random-weight models in the real formats (with a tiny stand-in under the fast
LoRA's file name): the figures then show the relative cost of the steps on this machine, not real image quality.
With --models (real weights, the fast LoRA in DIR/fast/ or the Hugging Face cache) on a GPU it is issue 15's
benchmark: seconds per panel of `--fast` against the style's 25-step render, on a panel with one character.
Also printed: a render with step-blended identity (identity_start 0.3), which costs what a plain render costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path[:0] = [str(HERE.parents[2]), str(HERE.parents[1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, help="a models folder with the real weights (default: tiny ones)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the engine's choice; tiny models: cpu)")
    parser.add_argument("--size", type=int, help="square render side in px (default 1024 real, 64 tiny)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast", help="a presets/fast.yaml preset (default: its default)")
    args = parser.parse_args()

    from storyboard.engines import RenderContext
    from storyboard.engines.storymaker.engine import StoryMakerEngine
    from storyboard.presets import load_fast
    from storyboard.render import build_request, project_style
    from storyboard.storyfile import load_project
    from tiny_models.folder import build_tiny_models_dir, mark_faces

    work = Path(tempfile.mkdtemp(prefix="bench-fast-"))
    try:
        models = args.models or build_tiny_models_dir(work / "models")
        size = args.size or (64 if args.models is None else 1024)
        story = work / "story"
        shutil.copytree(HERE.parents[2] / "assets" / "samples" / "rainy-monday", story)
        if args.models is None:
            mark_faces(story)  # the tiny face detector finds a marker, not faces
        device = args.device or ("cpu" if args.models is None else None)
        engine = StoryMakerEngine.create(models, device=device)
        print(engine.describe())
        project = load_project(story)
        style, panel, preset = project_style(project), project.panel("p3"), load_fast(args.fast)
        normal = build_request(story, project, panel, style, 1, (size, size))
        fast = build_request(story, project, panel, style, 1, (size, size), fast=preset)
        blended = dataclasses.replace(normal, options=normal.options + (("identity_start", 0.3),))

        def seconds(request) -> float:
            engine.render(request, RenderContext())  # warm-up: encodings, LoRA loading, scheduler
            runs = []
            for _ in range(args.repeats):
                if engine.device.startswith("cuda"):
                    import torch

                    torch.cuda.synchronize()
                started = time.perf_counter()
                engine.render(request, RenderContext())
                if engine.device.startswith("cuda"):
                    torch.cuda.synchronize()
                runs.append(time.perf_counter() - started)
            return statistics.median(runs)

        rows = [("full render", normal, style.sampler.scheduler), (f"--fast ({preset.name})", fast, preset.scheduler),
                ("step-blended identity 0.3", blended, style.sampler.scheduler)]
        timed = [(name, request.steps, scheduler, seconds(request)) for name, request, scheduler in rows]
        base = timed[0][3]
        print(f"panel p3 (one character), {size}x{size}, median of {args.repeats}")
        print(f"{'render':<40} {'steps':>5} {'scheduler':>15} {'s / panel':>10} {'x full':>7}")
        for name, steps, scheduler, value in timed:
            print(f"{name:<40} {steps:>5} {scheduler:>15} {value:>10.3f} {value / base:>7.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
