"""Benchmark: the StoryMaker engine per panel against a bare diffusers SDXL pipeline on the same tiny
components and steps, and encoder calls per story. Prints figures; run it directly:

    python tests/benchmarks/bench_engine.py [--size 128] [--steps 10] [--repeats 3]

Target: engine / bare <= 1.05 for a panel without cast (the adapter's own work is what remains on panels
with characters, and is printed separately); encoder calls per story = number of characters.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    from diffusers import StableDiffusionXLPipeline

    from storyboard.engines import RenderContext
    from storyboard.engines.storymaker.engine import StoryMakerEngine
    from storyboard.presets import load_style
    from storyboard.render import build_request, render_project, RenderOptions
    from storyboard.storyfile import load_project
    from tiny_models.folder import build_tiny_models_dir, mark_faces

    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    try:
        models = build_tiny_models_dir(work / "models")
        story = work / "story"
        shutil.copytree(HERE.parents[2] / "assets" / "samples" / "rainy-monday", story)
        mark_faces(story)
        engine = StoryMakerEngine.create(models, device="cpu")
        bare = StableDiffusionXLPipeline.from_pretrained(models / "sdxl")
        bare.set_progress_bar_config(disable=True)
        project = load_project(story)
        style = load_style(project.style)
        size = (args.size, args.size)

        def time_engine(panel_id: str) -> float:
            request = build_request(story, project, project.panel(panel_id), style, 1, size, args.steps)
            engine.render(request, RenderContext())  # warm-up (and the one encoding per character)
            runs = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                engine.render(request, RenderContext())
                runs.append(time.perf_counter() - started)
            return statistics.median(runs)

        def time_bare(prompt: str, negative: str) -> float:
            def once() -> None:
                bare(prompt=prompt, negative_prompt=negative, width=args.size, height=args.size,
                     num_inference_steps=args.steps, guidance_scale=7.5, generator=torch.Generator().manual_seed(1))
            once()
            runs = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                once()
                runs.append(time.perf_counter() - started)
            return statistics.median(runs)

        p1 = project.panel("p1")
        request = build_request(story, project, p1, style, 1, size, args.steps)
        bare_s = time_bare(request.styled_prompt, request.negative_prompt)
        print(f"tiny SDXL, {args.size}x{args.size}, {args.steps} steps, CPU, median of {args.repeats}")
        print(f"bare diffusers SDXL pipeline:          {bare_s * 1000:8.1f} ms/panel")
        for pid, label in (("p1", "engine, no cast (plain SDXL path)"), ("p3", "engine, 1 character"),
                           ("p5", "engine, 2 characters"), ("p4", "engine, 2 characters + pose")):
            seconds = time_engine(pid)
            print(f"{label:38s} {seconds * 1000:8.1f} ms/panel  ratio {seconds / bare_s:5.2f}x")

        # the same adapter computation called on the diffusers pipeline directly, embeddings prepared beforehand:
        # what is left between this and the engine is the engine's own overhead
        request = build_request(story, project, project.panel("p3"), style, 1, size, args.steps)
        pe, ne, pp, npp = engine.encode_prompt(request.styled_prompt, request.negative_prompt)
        pos, neg, _ = engine.image_tokens(request.characters, False, story / ".cache")
        kwargs = dict(prompt_embeds=torch.cat([pe, pos], 1), negative_prompt_embeds=torch.cat([ne, neg], 1),
                      pooled_prompt_embeds=pp, negative_pooled_prompt_embeds=npp, width=args.size, height=args.size,
                      num_inference_steps=args.steps, guidance_scale=7.5,
                      cross_attention_kwargs={"text_len": pe.shape[1], "ip_scale": 0.8, "lora_scale": 0.8})
        engine.pipe(**kwargs, generator=torch.Generator().manual_seed(1))
        runs = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            engine.pipe(**kwargs, generator=torch.Generator().manual_seed(1))
            runs.append(time.perf_counter() - started)
        direct = statistics.median(runs)
        engine_1 = time_engine("p3")
        print(f"pipeline + adapter, embeddings ready:  {direct * 1000:8.1f} ms/panel; engine, 1 character: "
              f"{engine_1 * 1000:.1f} ms, ratio {engine_1 / direct:5.2f}x (the engine's own overhead)")

        fresh = StoryMakerEngine.create(models, device="cpu")
        shutil.rmtree(story / ".cache", ignore_errors=True)
        render_project(story, project, fresh, force=True, options=RenderOptions(steps=2, max_side=64))
        print(f"encoder calls for the sample story: {fresh.encoder.calls} (characters: {len(project.cast)}, "
              f"panels: {len(project.panels)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
