"""Command line: `python -m storyboard new|validate|render|score|eval|export|styles|import-script ...`.

User errors exit non-zero with a one-paragraph message and no traceback (`--debug` shows one).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from storyboard import __version__
from storyboard.cli_args import (
    args_eval, args_export, args_new, args_none, args_pose_map, args_project, args_render, args_score, engine_options_of,
)
from storyboard.cli_common import MODELS_ENV, LazyEngine, models_dir, thresholds as drift_thresholds
from storyboard.errors import RenderCancelled, StoryboardError

log = logging.getLogger("storyboard")

EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130
EXIT_INTERNAL = 70
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"


def _cmd_new(args: argparse.Namespace) -> int:
    import shutil

    from storyboard.model import STORY_FILE
    from storyboard.storyfile import load_project, new_project

    dest = Path(args.dir)
    if args.sample:
        sample = SAMPLES_DIR / args.sample
        if not (sample / STORY_FILE).is_file():
            names = sorted(p.name for p in SAMPLES_DIR.iterdir() if (p / STORY_FILE).is_file())
            raise StoryboardError(f"There is no sample {args.sample!r}; samples: {', '.join(names)}.")
        if dest.exists() and any(dest.iterdir()):
            raise StoryboardError(f"{dest} is not empty; choose a new folder for the project.")
        shutil.copytree(sample, dest, dirs_exist_ok=True)
        project = load_project(dest)
    else:
        project = new_project(dest, title=args.title)
    log.info("Created %r in %s (%d characters, %d panels).", project.title, dest, len(project.cast), len(project.panels))
    log.info("Next: add cast photos and panels to %s, then: python -m storyboard render %s", dest / STORY_FILE, dest)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from storyboard.engines.draft import DraftEngine
    from storyboard.model import STORY_FILE
    from storyboard.checks import check_project
    from storyboard.render import stale_panels
    from storyboard.storyfile import load_project

    root = Path(args.project)
    project = load_project(root)
    problems = check_project(root, project)
    for severity, message in problems:
        (log.error if severity == "error" else log.warning)("%s: %s", severity, message)
    errors = sum(1 for s, _ in problems if s == "error")
    if errors:
        raise StoryboardError(f"{root / STORY_FILE} has {errors} problem(s) listed above; fix them and validate again.")
    stale = [] if problems else stale_panels(root, project, DraftEngine())
    log.info(
        "OK: %r, style %s, %d characters, %d panels%s.",
        project.title, project.style, len(project.cast), len(project.panels),
        f", {len(stale)} without a current draft take" if stale else "",
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from storyboard.cli_engine import fast_preview
    from storyboard.engine_holder import EngineHolder
    from storyboard.engines import RenderContext
    from storyboard.metrics import scorer_for_engine
    from storyboard.scores import UNSCORED_ENGINES, format_scores
    from storyboard.model import Take
    from storyboard.checks import check_project
    from storyboard.render import PanelEvent, RenderOptions, render_project, render_variations, stale_panels
    from storyboard.storyfile import load_project

    root = Path(args.project)
    project = load_project(root)
    for severity, message in check_project(root, project):
        if severity == "error":
            raise StoryboardError(message)
    if args.keep_best and not args.variations:
        raise StoryboardError("--keep-best picks the best of several takes: add --variations N (e.g. --variations 4).")
    thresholds = drift_thresholds(args)
    if args.keep_best and args.engine == "draft":
        raise StoryboardError(f"--keep-best needs scores, and {UNSCORED_ENGINES['draft']}. Use --engine storymaker.")
    engine_options = engine_options_of(args)
    holder = EngineHolder(args.engine, models_dir(args), **engine_options)  # loads nothing yet
    panel_ids = [p.strip() for p in args.panels.split(",") if p.strip()] if args.panels else None
    options = RenderOptions(steps=args.steps, max_side=args.max_side, prompt_strip=args.prompt_strip,
                            fast=fast_preview(args, holder))
    known = [p.id for p in project.panels]
    if unknown := [pid for pid in panel_ids or () if pid not in known]:
        raise StoryboardError(f"No panel with id {', '.join(map(repr, unknown))} in {root}; panels are: "
                              f"{', '.join(known) or 'none'}.")
    if args.cluster or args.workers is not None:  # Ray workers hold the engines; this process records the takes
        from storyboard.cluster import run_render_command

        return run_render_command(args, root, project, panel_ids, options, engine_options)
    if not args.variations and not args.force:
        # what is stale is known from the files and the engine's name and version: load no model for nothing
        stale = stale_panels(root, project, holder.current(), options)
        if not any(pid in stale for pid in panel_ids or known):
            log.info("Nothing to render: %d panel(s) up to date (use --force to render them again).",
                     len(panel_ids or known))
            return 0
    engine = holder.get()
    log.info("%s", engine.describe())
    if options.fast is not None and engine.name == "draft":
        log.info("Fast previews are for StoryMaker; draft thumbnails render as usual.")
        options = RenderOptions(steps=options.steps, max_side=options.max_side, prompt_strip=options.prompt_strip)
    elif options.fast is not None and args.engine != "storymaker":
        from storyboard.cli_engine import require_fast_lora

        require_fast_lora(args, options.fast)
    scorer = None
    if args.scores is not False or args.keep_best:
        scorer = scorer_for_engine(engine)
        if scorer is None and args.keep_best:
            raise StoryboardError(f"--keep-best needs scores, but this renders with the {engine.name} engine and "
                                  f"{UNSCORED_ENGINES.get(engine.name, 'its takes cannot be scored')}. Use --engine storymaker "
                                  f"with its models (--models DIR or ${MODELS_ENV}).")
        if scorer is None and args.scores:
            log.warning("Scores: not computed: %s (%s engine). Render with --engine storymaker to measure takes.",
                        UNSCORED_ENGINES.get(engine.name, "this engine's takes cannot be scored"), engine.name)
    counts = {"rendered": 0, "skipped": 0}

    def on_panel(event: PanelEvent) -> None:
        counts[event.status] = counts.get(event.status, 0) + 1
        if event.status == "rendered":
            log.info("[%d/%d] %s: rendered in %.2f s -> %s", event.index, event.total, event.panel_id, event.seconds or 0, event.take)
            if scorer is not None:
                take = Take(file=event.take or "", engine=engine.name, scores=event.scores)
                log.info("      scores: %s", format_scores(take, thresholds, project.panel(event.panel_id).characters))
        else:
            log.info("[%d/%d] %s: %s", event.index, event.total, event.panel_id, event.message)

    cancel = threading.Event()
    started = time.perf_counter()
    try:
        if args.variations:
            for pid in panel_ids or [p.id for p in project.panels]:
                score = args.keep_best
                if score and score != "clip_t" and pid in {p.id for p in project.panels} and not project.panel(pid).characters:
                    log.info("%s has no characters: keeping the best by CLIP-T instead of %s.", pid, score)
                    score = "clip_t"
                project = render_variations(root, project, engine, pid, args.variations, context=RenderContext(cancel_event=cancel),
                                            on_panel=on_panel, options=options, scorer=scorer, keep_best=score)
                if score:
                    chosen = project.panel(pid).selected_take
                    log.info("%s: kept %s, the best of %d by %s (%s).", pid, chosen.file, args.variations, score,
                             format_scores(chosen, thresholds, project.panel(pid).characters))
        else:
            render_project(root, project, engine, panel_ids, force=args.force, context=RenderContext(cancel_event=cancel),
                           on_panel=on_panel, options=options, scorer=scorer)
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled("Render interrupted; panels finished so far are saved in story.yaml.") from None
    log.info(
        "Done in %.1f s: %d rendered, %d up to date%s.", time.perf_counter() - started, counts["rendered"], counts["skipped"],
        " (use --force to render them again)" if counts["skipped"] and not args.force else "",
    )
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from storyboard.metrics import Scorer, score_project
    from storyboard.scores import format_scores, unscorable_reason
    from storyboard.storyfile import load_project

    root = Path(args.project)
    project = load_project(root)
    panel_ids = [p.strip() for p in args.panels.split(",") if p.strip()] if args.panels else [p.id for p in project.panels]
    known = {p.id for p in project.panels}
    if unknown := [pid for pid in panel_ids if pid not in known]:
        raise StoryboardError(f"No panel with id {', '.join(map(repr, unknown))} in {root}; panels are: {', '.join(known) or 'none'}.")
    takes = [t for pid in panel_ids for t in project.panel(pid).takes]
    if not takes:
        log.info("No takes to score in %s yet; render first: python -m storyboard render %s", root, root)
        return 0
    if all(unscorable_reason(t) for t in takes):
        reasons = sorted({unscorable_reason(t) for t in takes})
        raise StoryboardError(f"All {len(takes)} take(s) are from the draft engine, so there is nothing to measure: "
                              f"{'; '.join(reasons)}. Render with --engine storymaker, then score.")
    thresholds = drift_thresholds(args)
    scorer = Scorer.from_models(models_dir(args))

    def on_take(panel, take, status: str) -> None:
        mark = "*" if panel.selected_take is not None and panel.selected_take.file == take.file else " "
        note = {"measured": "", "cached": " (unchanged, from story.yaml)", "skipped": ""}[status]
        log.info("%s %-6s %s: %s%s", mark, panel.id, take.file, format_scores(take, thresholds, panel.characters), note)

    started = time.perf_counter()
    _, report = score_project(root, project, scorer, panel_ids, force=args.force, on_take=on_take)
    log.info("Done in %.1f s: %d take(s) measured, %d unchanged, %d not scored%s. * marks the selected take.",
             time.perf_counter() - started, len(report.measured), len(report.cached), len(report.skipped),
             " (draft takes or missing files)" if report.skipped else "")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from storyboard.engines import RenderContext, get_engine
    from storyboard.eval import DEFAULT_PROMPTS, find_characters, parse_blend, read_prompts, run_eval
    from storyboard.metrics import scorer_for_engine

    prompts_file = Path(args.prompts) if args.prompts else DEFAULT_PROMPTS
    find_characters(Path(args.characters))  # fail on a bad folder or prompts file before loading any model
    read_prompts(prompts_file)
    blend = parse_blend(args.blend) if args.blend is not None else None
    engine = get_engine("storymaker", models_dir(args))
    log.info("%s", engine.describe())
    scorer = scorer_for_engine(engine)
    assert scorer is not None  # the StoryMaker engine always has its encoder

    def on_image(row, done: int, total: int) -> None:
        log.info("[%d/%d] %s, seed %d, %.2f s: Face Sim %.3f · CLIP-I %.3f · CLIP-T %.2f  (%s)", done, total, row.character,
                 row.seed, row.seconds, row.face_sim, row.clip_i, row.clip_t, row.prompt)

    cancel = threading.Event()
    started = time.perf_counter()
    if blend is not None:
        from storyboard.cli_engine import eval_sweep

        return eval_sweep(args, blend, prompts_file, engine, scorer, on_image, cancel)
    try:
        result = run_eval(Path(args.characters), prompts_file, Path(args.output), engine, scorer,
                          images_per_prompt=args.images_per_prompt, steps=args.steps, size=args.size, seed=args.seed,
                          context=RenderContext(cancel_event=cancel), on_image=on_image)
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled(f"Eval interrupted; the images measured so far are in {Path(args.output) / 'per_image.csv'}.") from None
    log.info("%s", result.summary_md.read_text(encoding="utf-8").split("## Per character")[0].strip())
    log.info("Done in %.1f s: %d image(s), %d character photo(s) skipped. Wrote %s, %s and %s.", time.perf_counter() - started,
             len(result.images), len(result.skipped), result.per_image_csv, result.summary_csv, result.summary_md)
    return 0


def _cmd_styles(args: argparse.Namespace) -> int:
    from storyboard.presets import list_styles

    for style_id, style in list_styles().items():
        lora = f"LoRA {style.lora.repo or style.lora.path} ({style.lora.license or 'licence: see model card'})" if style.lora else "prompt only"
        log.info("%-22s %s: %s [%s]", style_id, style.name, style.description, lora)
    return 0


def _cmd_pose_map(args: argparse.Namespace) -> int:
    from storyboard.posemap import write_pose_map
    from storyboard.poses import read_pose

    pose = read_pose(Path(args.pose))
    out = write_pose_map(Path(args.output), pose, width=args.width, height=args.height, style=args.style, hands=args.hands, face=args.face)
    log.info("Wrote %s (%d person(s), %s lines).", out, len(pose.people), args.style)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    if args.cbz or args.storyboarder:
        from storyboard.exchange.commands import run_export

        return run_export(args)
    if args.fps is not None or args.aspect_ratio is not None:
        raise StoryboardError("--fps and --aspect-ratio are for --storyboarder; add it, or leave them out for a PDF.")
    if (suffix := Path(args.output).suffix.lower()) in (".cbz", ".storyboarder"):
        raise StoryboardError(f"{args.output} is a {suffix} name: add --{suffix[1:]} to write that, or give a .pdf name.")
    from storyboard.engines import RenderContext, get_engine
    from storyboard.export import EXPORT_OPTIONS, export_project, make_options
    from storyboard.render import PanelEvent
    from storyboard.storyfile import load_project

    root = Path(args.project)
    project = load_project(root)
    settings = {o.name: getattr(args, o.name) for o in EXPORT_OPTIONS}
    options = make_options(args.output, sheet=args.sheet, png_dir=args.png_dir, render_missing=not args.no_render,
                           thresholds=dict(drift_thresholds(args)), **settings)
    engine = None
    if not args.no_render:
        models = models_dir(args)
        engine = LazyEngine(lambda: get_engine(args.engine, models))

    def on_panel(event: PanelEvent) -> None:
        log.info("[%d/%d] %s: rendered in %.2f s -> %s", event.index, event.total, event.panel_id, event.seconds or 0, event.take)

    cancel = threading.Event()
    started = time.perf_counter()
    try:
        result = export_project(root, project, options, engine, on_panel=on_panel, context=RenderContext(cancel_event=cancel))
    except KeyboardInterrupt:
        cancel.set()
        raise RenderCancelled("Export interrupted; panels rendered so far are saved in story.yaml, no PDF was written.") from None
    log.info("Done in %.1f s: %s, %d page(s)%s%s.", time.perf_counter() - started, result.pdf, result.pages,
             f", {len(result.rendered)} panel(s) rendered first" if result.rendered else "",
             f", {len(result.issues)} lettering warning(s) above" if result.issues else "")
    return 0


def _exchange(name: str) -> Callable:
    """A runner or argument builder of storyboard.exchange.commands, imported only when that command runs."""
    def call(arg):
        from storyboard.exchange import commands

        return getattr(commands, name)(arg)
    return call


def _engine_command(name: str) -> Callable:
    """A runner or argument builder of storyboard.cli_engine, imported only when that command runs."""
    def call(arg):
        from storyboard import cli_engine

        return getattr(cli_engine, name)(arg)
    return call


COMMANDS: tuple[tuple[str, str, Callable[[argparse.Namespace], int], Callable[[argparse.ArgumentParser], None]], ...] = (
    ("new", "create a project folder with an empty story.yaml (or a copy of a sample)", _cmd_new, args_new),
    ("validate", "check a project: story.yaml, files, style, poses", _cmd_validate, args_project),
    ("render", "render panels whose inputs changed, writing takes into the project", _cmd_render, args_render),
    ("retouch", "render one region of a panel's chosen take again (white in --mask), keeping the rest; a new, selected take",
     _engine_command("run_retouch"), _engine_command("args_retouch")),
    ("score", "measure the takes of a project that have no current scores (Face Sim, CLIP-I, CLIP-T)", _cmd_score,
     args_score),
    ("eval", "the StoryMaker paper's protocol: every character photo x prompt x N images; CSV and Table 1 summary",
     _cmd_eval, args_eval),
    ("styles", "list the style presets", _cmd_styles, args_none),
    ("pose-map", "draw an OpenPose JSON file as the ControlNet conditioning image (PNG)", _cmd_pose_map, args_pose_map),
    ("export", "export comic pages (or a storyboard sheet) as PDF, and PNG pages, or a comic archive (.cbz) or a "
     "Storyboarder file; renders panels without a take first", _cmd_export, args_export),
    ("import-script", "import a Fountain screenplay: scenes, action paragraphs as panels, dialogue as balloons, new "
     "names as cast (a new project, or appended)", _exchange("run_import_script"), _exchange("args_import_script")),
    ("import-storyboarder", "import a .storyboarder file: boards as panels with their images as takes (a new project, "
     "or appended)", _exchange("run_import_storyboarder"), _exchange("args_import_storyboarder")),
)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only `commands` (all when None) get their arguments."""
    wanted = None if commands is None else set(commands)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logging")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only warnings and errors")
    parser = argparse.ArgumentParser(
        prog="python -m storyboard", description="Comic and storyboard studio, headless.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"storyboard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, run, add_arguments in COMMANDS:
        p = sub.add_parser(name, help=help_text, parents=[common])
        if wanted is None or name in wanted:
            add_arguments(p)
        p.set_defaults(func=run)
    return parser


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    out = logging.StreamHandler(sys.stdout)
    out.setLevel(level)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    out.setFormatter(logging.Formatter("%(message)s"))
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    err.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if debug else "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [out, err]
    root.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser([command] if command else []).parse_args(argv)
    args.debug, args.quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    if getattr(args, "project", None):  # every command takes the folder or its story.yaml, as the help says
        from storyboard.storyfile import project_folder

        args.project = str(project_folder(args.project))
    _configure_logging(args.debug, args.quiet)
    try:
        return args.func(args)
    except RenderCancelled as exc:
        log.error("%s", exc)
        return EXIT_CANCELLED
    except StoryboardError as exc:
        if args.debug:
            log.exception("error")
        else:
            log.error("error: %s", exc)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        log.error("Interrupted.")
        return EXIT_CANCELLED
    except Exception as exc:  # a bug: say so plainly, keep the traceback for --debug
        if args.debug:
            log.exception("internal error")
        else:
            log.error("internal error: %s: %s. Run again with --debug for details and please report it.", type(exc).__name__, exc)
        return EXIT_INTERNAL
