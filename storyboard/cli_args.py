"""The command line's arguments: what each command takes (storyboard.cli runs them)."""

from __future__ import annotations

import argparse

from storyboard.cli_common import MODELS_ENV
from storyboard.errors import StoryboardError


def args_new(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="the new project folder")
    p.add_argument("--title", help="the story's title (default: from the folder name)")
    p.add_argument("--sample", metavar="NAME", help="copy a sample project instead, e.g. rainy-monday")


def args_project(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", help="project folder (or its story.yaml)")


def args_thresholds(p: argparse.ArgumentParser) -> None:
    from storyboard.scores import DRIFT_THRESHOLDS

    for threshold in DRIFT_THRESHOLDS:
        p.add_argument(threshold.flag, dest="min_" + threshold.metric, type=float, metavar="X",
                       help=f"{threshold.help} (default {threshold.default:g})")


def args_render(p: argparse.ArgumentParser) -> None:
    from storyboard.scores import SCORE_NAMES

    score_names = list(SCORE_NAMES)
    args_project(p)
    p.add_argument("--engine", choices=("auto", "draft", "storymaker"), default="auto",
                   help="draft thumbnails, StoryMaker on the GPU, or auto (StoryMaker when it can run, else draft)")
    p.add_argument("--models", metavar="DIR", help=f"folder with the model weights (default: ${MODELS_ENV} or the Hugging Face cache)")
    p.add_argument("--panels", metavar="ID,...", help="render only these panels")
    p.add_argument("--force", action="store_true", help="render even panels whose take is up to date")
    p.add_argument("--steps", type=int, metavar="N", help="denoising steps instead of the style's (fewer: a quicker preview)")
    p.add_argument("--max-side", type=int, metavar="PX",
                   help="render smaller: the longer side at most PX pixels, shape kept (previews, small GPUs)")
    p.add_argument("--prompt-strip", action=argparse.BooleanOptionalAction, default=False,
                   help="draft mode: write the prompt as a note inside the art (storyboard thumbnails; off by default, "
                        "as comic pages want none; such takes are kept apart from takes without it)")
    p.add_argument("--scores", action=argparse.BooleanOptionalAction, default=None,
                   help="measure each new take (Face Sim, CLIP-I, CLIP-T) and show the scores; on by default with "
                        "StoryMaker, impossible with draft takes")
    p.add_argument("--variations", type=int, metavar="N", help="render N new takes of each panel (next seeds), keeping all")
    p.add_argument("--keep-best", nargs="?", const="face_sim", choices=score_names, metavar="SCORE",
                   help=f"with --variations: select the take with the highest SCORE ({', '.join(score_names)}; "
                        "default face_sim, identity)")
    p.add_argument("--cluster", metavar="ray[:ADDRESS]",
                   help="render on a Ray cluster, each worker holding one engine: 'ray' starts a local one for this run, "
                        "'ray:ADDRESS' joins a running one (ray:auto, ray:HOST:6379, ray:ray://HOST:10001); needs "
                        "pip install -e \".[cluster]\"")
    p.add_argument("--workers", type=int, metavar="N",
                   help="with --cluster: how many workers (default: one per GPU for StoryMaker, one per CPU for draft)")
    p.add_argument("--fast", nargs="?", const="", metavar="NAME",
                   help="fast previews: a step-distillation LoRA (presets/fast.yaml; default SDXL-Lightning 8 steps) from "
                        "the models folder's fast/ or the Hugging Face cache, with its scheduler, steps and guidance; "
                        "previews are takes of their own")
    args_engine_options(p)
    args_thresholds(p)


def args_engine_options(p: argparse.ArgumentParser) -> None:
    """StoryMaker's speed and memory flags, from storyboard.engines.options.ENGINE_OPTIONS."""
    from storyboard.engines.options import ENGINE_OPTIONS

    for option in ENGINE_OPTIONS:
        if option.choices is None:
            p.add_argument(option.flag, dest=option.name, action="store_true", help=f"StoryMaker: {option.help}")
        else:
            p.add_argument(option.flag, dest=option.name, choices=option.choices, default=option.default,
                           help=f"StoryMaker: {option.help} (default {option.default})")


def engine_options_of(args: argparse.Namespace) -> dict:
    """The engine options the command line changed; refused with the draft engine, which has none of them."""
    from storyboard.engines.options import ENGINE_OPTIONS, changed_options

    options = changed_options(vars(args))
    if options and args.engine == "draft":
        flags = ", ".join(o.flag for o in ENGINE_OPTIONS if o.name in options)
        raise StoryboardError(f"{flags} set how StoryMaker runs; the draft engine has no such settings. Drop "
                              f"{'them' if len(options) > 1 else 'it'}, or render with --engine storymaker or auto.")
    return options


def args_score(p: argparse.ArgumentParser) -> None:
    args_project(p)
    p.add_argument("--models", metavar="DIR",
                   help=f"folder with the models (default: ${MODELS_ENV}, or the Hugging Face cache and ~/.insightface); "
                        "only the face and CLIP models are used")
    p.add_argument("--panels", metavar="ID,...", help="score only these panels' takes")
    p.add_argument("--force", action="store_true", help="measure again even takes whose scores are current")
    args_thresholds(p)


def args_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument("--characters", metavar="DIR", required=True,
                   help="folder of character photos, one person each (NAME_mask.png beside NAME.png is its mask)")
    p.add_argument("--prompts", metavar="FILE", help="text file, one prompt per line (default: assets/eval/prompts.txt, 20 prompts)")
    p.add_argument("--images-per-prompt", type=int, default=4, metavar="N", help="images per character and prompt (default 4, as the paper)")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="folder for images/, per_image.csv, summary.csv, summary.md")
    p.add_argument("--models", metavar="DIR", help=f"folder with the model weights (default: ${MODELS_ENV} or the Hugging Face cache)")
    p.add_argument("--steps", type=int, metavar="N", help="denoising steps (default 25, as the paper)")
    p.add_argument("--size", type=int, default=1024, metavar="PX", help="square image side in pixels (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="first seed; image i of every character and prompt uses seed + i (default 0)")
    p.add_argument("--blend", metavar="F,F,...",
                   help="sweep step-blended identity: run the eval once per value of identity_start (the fraction of the "
                        "steps before the characters join, e.g. 0,0.2,0.4; 0 is the released behaviour) and print the "
                        "Face Sim / CLIP-I / CLIP-T trade-off table")


def args_none(p: argparse.ArgumentParser) -> None:
    return None


def args_pose_map(p: argparse.ArgumentParser) -> None:
    from storyboard.posemap import MAP_STYLES

    p.add_argument("pose", metavar="POSE.json", help="OpenPose JSON (pixel or normalised coordinates)")
    p.add_argument("-o", "--output", metavar="MAP.png", required=True, help="the PNG to write")
    p.add_argument("--width", type=int, help="map width in pixels (default: the pose's canvas_width)")
    p.add_argument("--height", type=int, help="map height in pixels (default: the pose's canvas_height)")
    p.add_argument("--style", choices=tuple(MAP_STYLES), default="openpose",
                   help="; ".join(f"{s.name}: {s.help}" for s in MAP_STYLES.values()))
    p.add_argument("--hands", action="store_true", help="also draw hand keypoints when the JSON has them")
    p.add_argument("--face", action="store_true", help="also draw face keypoints when the JSON has them")


def args_export(p: argparse.ArgumentParser) -> None:
    from storyboard.export import EXPORT_OPTIONS
    from storyboard.layout import list_templates

    args_project(p)
    p.add_argument("-o", "--output", metavar="OUT.pdf", required=True,
                   help="the PDF to write, or the .cbz / .storyboarder with --cbz / --storyboarder (replaced only when complete)")
    p.add_argument("--sheet", action="store_true", help="a storyboard sheet: frames with shot, dialogue, caption, action, notes, duration")
    p.add_argument("--png-dir", metavar="DIR", help="also write each page as DIR/page-001.png ...")
    p.add_argument("--engine", choices=("auto", "draft", "storymaker"), default="auto", help="engine for panels without a take")
    p.add_argument("--models", metavar="DIR", help=f"folder with the model weights (default: ${MODELS_ENV} or the Hugging Face cache)")
    p.add_argument("--no-render", action="store_true", help="fail instead of rendering panels that have no take")
    for option in EXPORT_OPTIONS:
        flag = "--" + option.name.replace("_", "-")
        help_text = option.help + (f" (one of: {', '.join(list_templates())})" if option.name == "template" else "")
        if option.kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            p.add_argument(flag, type=option.kind, default=None, metavar=option.name.split("_")[-1].upper(),
                           choices=("ltr", "rtl") if option.name == "reading" else None,
                           help=help_text + (f" (default {option.default})" if option.default not in (None, "") else ""))
    args_thresholds(p)
    from storyboard.exchange.commands import add_export_arguments

    add_export_arguments(p)


# The commands: name, help, what runs it, and what adds its arguments. Only the command being run gets its
# arguments (and imports what they list), so `--help` and a plain command start quickly.
