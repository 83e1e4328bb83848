"""Rendering a project's panels: build requests, tell stale panels, write takes, record them.

Every take is recorded into the story as it is on disk when the take finishes (under the project's lock),
so an interrupted render keeps what it made and edits made meanwhile are never overwritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from storyboard.engines import CharacterRef, Engine, RenderContext, RenderRequest, RenderResult
from storyboard.errors import PoseError, ProjectError, StoryboardError
from storyboard.model import Panel, Project, Take, add_take
from storyboard.paths import resolve_inside
from storyboard.poses import Pose, read_pose
from storyboard.presets import FastPreset, StylePreset, load_fast, load_style, with_overrides
from storyboard import journal
from storyboard.store import compact, project_lock, update_project
from storyboard.storyfile import MAX_SEED, PLACEHOLDER, atomic_write, load_project, save_project

log = logging.getLogger(__name__)

# Measures a take just rendered and returns it with its scores (storyboard.metrics.Scorer is one).
TakeScorer = Callable[[Path, Project, Panel, Take], Take]

# Render size by shot type until the page layout assigns slot sizes: SDXL-friendly, about one megapixel.
SHOT_SIZES: dict[str, tuple[int, int]] = {
    "establishing": (1344, 768),
    "wide": (1344, 768),
    "full": (832, 1216),
    "medium": (1024, 1024),
    "close-up": (1024, 1024),
    "extreme-close-up": (1216, 832),
    "over-the-shoulder": (1152, 896),
}


def project_style(project: Project) -> StylePreset:
    """The project's style preset with its own sampler overrides applied."""
    return with_overrides(load_style(project.style), dict(project.style_overrides))


def panel_size(panel: Panel) -> tuple[int, int]:
    """The render size for a panel (width, height)."""
    return SHOT_SIZES.get(panel.shot, (1024, 1024))


def fill_prompt(prompt: str, project: Project) -> str:
    """The panel prompt with each {id} replaced by that cast member's name."""
    names = {c.id: c.name for c in project.cast}
    return PLACEHOLDER.sub(lambda m: names.get(m.group(1), m.group(0)), prompt)


_hash_cache: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes ('missing' if absent), cached by path, size and mtime."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "missing"
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_cache:
        _hash_cache[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _hash_cache[key]


def build_request(
    root: Path, project: Project, panel: Panel, style: StylePreset, seed: int, size: tuple[int, int] | None = None,
    steps: int | None = None, prompt_strip: bool = False, fast: FastPreset | None = None,
) -> RenderRequest:
    """The engine request for one panel, with absolute paths and the pose read from its file.

    `size` (width, height) overrides the shot-type size (normally the panel's page slot, see planned_sizes);
    `steps` overrides the style's step count; `prompt_strip` asks draft art for the prompt as a note; `fast`
    renders a preview with a step-distillation LoRA and its scheduler, steps and guidance. Options that are off
    or at their defaults are left out of the request, so the digests of takes made without them stay as they were.
    """
    characters = []
    for cid in panel.characters:
        c = project.character(cid)
        characters.append(
            CharacterRef(
                id=c.id, name=c.name, color=c.color, description=c.description,
                reference=resolve_inside(root, c.reference) if c.reference else None,
                mask=resolve_inside(root, c.mask) if c.mask else None,
                outfit=resolve_inside(root, c.outfit) if c.outfit else None,
            )
        )
    pose: Pose | None = None
    if panel.pose:
        try:
            pose = read_pose(resolve_inside(root, panel.pose))
        except PoseError as exc:
            raise PoseError(f"Panel {panel.id!r}: {exc}") from None
    prompt = fill_prompt(panel.prompt, project)
    width, height = size or panel_size(panel)
    sampler = style.sampler
    extra: tuple[tuple[str, object], ...] = (("prompt_strip", True),) if prompt_strip else ()
    if (sampler.identity_start, sampler.identity_end) != (0.0, 1.0):
        extra += (("identity_start", sampler.identity_start), ("identity_end", sampler.identity_end))
    if fast is not None:
        extra += (("fast", fast.lora()),)
    return RenderRequest(
        panel_id=panel.id,
        prompt=prompt,
        styled_prompt=style.apply(prompt),
        negative_prompt=style.negative,
        characters=tuple(characters),
        pose=pose,
        shot=panel.shot,
        seed=seed,
        width=width,
        height=height,
        steps=fast.steps if fast else steps or sampler.steps,
        guidance=fast.guidance if fast else sampler.guidance,
        style=style.id,
        cache_dir=root / ".cache",
        options=(("ip_adapter_scale", sampler.ip_adapter_scale), ("lora_scale", sampler.lora_scale),
                 ("scheduler", fast.scheduler if fast else sampler.scheduler),
                 ("lora", dataclasses.asdict(style.lora) if style.lora else None),
                 ("controlnet_scale", sampler.pose_scale), ("control_start", sampler.pose_start),
                 ("control_end", sampler.pose_end)) + extra,
    )


def request_digest(request: RenderRequest, engine: Engine) -> str:
    """A digest of everything that shapes the image: equal digests mean an equal render."""
    data = {
        "engine": [engine.name, engine.version],
        "request": {k: v for k, v in dataclasses.asdict(request).items() if k not in ("characters", "pose", "cache_dir")},
        "characters": [
            {
                "id": c.id, "name": c.name, "color": c.color, "description": c.description,
                "reference": file_digest(c.reference) if c.reference else None,
                "mask": file_digest(c.mask) if c.mask else None,
                "outfit": file_digest(c.outfit) if c.outfit else None,
            }
            for c in request.characters
        ],
        "pose": None if request.pose is None else dataclasses.asdict(request.pose),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RenderOptions:
    """How to render beyond what the project says: explicit sizes, or quick previews (fewer steps, smaller)."""

    sizes: Mapping[str, tuple[int, int]] | None = None  # per panel id; None: from the project's page layout
    steps: int | None = None  # override the style's step count
    max_side: int | None = None  # shrink so the longer side is at most this many pixels
    prompt_strip: bool = False  # draft art with the prompt as a note inside (never wanted on comic pages)
    fast: str | None = None  # a fast preview: the presets/fast.yaml preset (its LoRA, scheduler, steps, guidance)

    def __post_init__(self) -> None:
        if self.fast is not None:
            load_fast(self.fast)  # PresetError lists the presets
            if self.steps is not None:
                raise StoryboardError("A fast preview renders the steps its LoRA was made for; leave out the step count "
                                      "(--steps) or the fast preview (--fast).")
        if self.steps is not None and not 1 <= self.steps <= 150:
            raise StoryboardError(f"steps must be between 1 and 150, got {self.steps}.")
        if self.max_side is not None and not 64 <= self.max_side <= 4096:
            raise StoryboardError(f"max side must be between 64 and 4096 pixels, got {self.max_side}.")


def planned_sizes(project: Project, options: RenderOptions | None = None) -> dict[str, tuple[int, int]]:
    """The render size of every panel: its page slot's shape (so art is never stretched), capped by max_side."""
    from storyboard.layout import project_layout, render_sizes

    options = options or RenderOptions()
    sizes = dict(options.sizes) if options.sizes is not None else render_sizes(project_layout(project))
    for panel in project.panels:
        sizes.setdefault(panel.id, panel_size(panel))
    if options.max_side:
        sizes = {pid: shrink(size, options.max_side) for pid, size in sizes.items()}
    return sizes


def shrink(size: tuple[int, int], max_side: int, multiple: int = 8) -> tuple[int, int]:
    """`size` scaled down (never up) so its longer side is at most `max_side`, in multiples of `multiple`."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return (max(64, round(width * scale / multiple) * multiple), max(64, round(height * scale / multiple) * multiple))


def stale_panels(root: Path, project: Project, engine: Engine, options: RenderOptions | None = None) -> set[str]:
    """Ids of panels without a usable take rendered from their current inputs."""
    sizes = planned_sizes(project, options)
    style = project_style(project)
    steps, strip, fast = (options.steps, options.prompt_strip, _fast(options)) if options else (None, False, None)
    return {p.id for p in project.panels if _stale(root, project, p, engine, style, sizes[p.id], steps, strip, fast)}


def is_stale(root: Path, project: Project, panel: Panel, engine: Engine, options: RenderOptions | None = None) -> bool:
    """True when the panel has no usable take rendered from its current inputs."""
    size = planned_sizes(project, options).get(panel.id, panel_size(panel))
    return _stale(root, project, panel, engine, project_style(project), size, options.steps if options else None,
                  bool(options and options.prompt_strip), _fast(options))


def _fast(options: RenderOptions | None) -> FastPreset | None:
    return load_fast(options.fast) if options is not None and options.fast is not None else None


def _stale(root: Path, project: Project, panel: Panel, engine: Engine, style: StylePreset, size: tuple[int, int],
           steps: int | None, prompt_strip: bool = False, fast: FastPreset | None = None) -> bool:
    """True unless the chosen take was rendered from the panel's current inputs, with the take's own seed.

    Variations and a chosen take may have another seed than the panel: a locked seed stays, and a take is
    chosen freely. An unlocked panel's seed follows its chosen take, so there a different seed was typed in."""
    take = panel.selected_take
    if take is None or take.inputs is None:
        return True
    seed = take.seed if take.seed is not None else panel.seed
    if seed is None or (not panel.seed_locked and panel.seed != seed):
        return True
    if not resolve_inside(root, take.file).is_file():
        return True
    request = build_request(root, project, panel, style, seed, size, steps, prompt_strip, fast)
    return take.inputs != request_digest(request, engine)


@dataclass(frozen=True)
class PanelEvent:
    """What happened to one panel during a render run (for progress output)."""

    panel_id: str
    index: int
    total: int
    status: str  # "rendered", "skipped", "failed"
    take: str | None = None
    seconds: float | None = None
    message: str = ""
    scores: tuple[tuple[str, float], ...] = ()  # the new take's consistency scores, when a scorer is given
    warnings: tuple[str, ...] = ()  # what the engine warned of (e.g. weaker likeness past two characters)


def render_project(
    root: Path,
    project: Project,
    engine: Engine,
    panel_ids: Iterable[str] | None = None,
    force: bool = False,
    context: RenderContext | None = None,
    on_panel: Callable[[PanelEvent], None] | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
    options: RenderOptions | None = None,
    scorer: TakeScorer | None = None,
) -> Project:
    """Render stale panels (or `panel_ids`, or all with `force`), recording each take as it finishes.

    `project` names the panels to render; each panel is then read from the story as it is on disk when its
    turn comes, and its take is recorded into the story as it is then (see record_take), so edits made
    during a long render are kept and rendered from. Panels render at their page slot's shape unless `sizes`
    (or `options.sizes`) says otherwise. A `scorer` (storyboard.metrics.Scorer) measures each new take.
    Returns the story as it is after the last panel.
    """
    for event in iter_render_panels(root, project, engine, panel_ids, force, context, sizes, options, scorer):
        _emit(on_panel, event)
    return load_project(root)


def iter_render_panels(
    root: Path,
    project: Project,
    engine: Engine,
    panel_ids: Iterable[str] | None = None,
    force: bool = False,
    context: RenderContext | None = None,
    sizes: Mapping[str, tuple[int, int]] | None = None,
    options: RenderOptions | None = None,
    scorer: TakeScorer | None = None,
) -> Iterator[PanelEvent]:
    """render_project one panel at a time: yields each panel's event as it finishes (for a UI's progress).

    However it ends (done, cancelled, an error), the takes recorded so far are written into story.yaml."""
    root = Path(root)
    context = context or RenderContext()
    options = options or RenderOptions()
    if sizes is not None:
        options = dataclasses.replace(options, sizes=sizes)
    planned = planned_sizes(project, options)
    wanted = list(panel_ids) if panel_ids is not None else [p.id for p in project.panels]
    known = {p.id for p in project.panels}
    unknown = [pid for pid in wanted if pid not in known]
    if unknown:
        raise ProjectError(
            f"No panel with id {', '.join(map(repr, unknown))} in {root}; panels are: {', '.join(known) or 'none'}."
        )
    try:
        for index, pid in enumerate(wanted, start=1):
            current = load_project(root)  # an unchanged story costs one read and one hash; new takes are applied
            panel = _current_panel(current, pid)
            if panel is None:
                yield PanelEvent(pid, index, len(wanted), "skipped", message="deleted while rendering")
                continue
            style = project_style(current)
            size = planned.get(pid) or panel_size(panel)
            if not force and not _stale(root, current, panel, engine, style, size, options.steps, options.prompt_strip,
                                        _fast(options)):
                yield PanelEvent(pid, index, len(wanted), "skipped", message="up to date")
                continue
            context.check_cancelled()
            seed = panel.seed if panel.seed is not None else secrets.randbelow(MAX_SEED + 1)
            take, result = _render_take(root, current, panel, engine, style, size, options.steps, seed, context,
                                        scorer=scorer, prompt_strip=options.prompt_strip, fast=_fast(options))
            if take is None:
                yield PanelEvent(pid, index, len(wanted), "skipped", message="deleted while rendering")
                continue
            yield PanelEvent(pid, index, len(wanted), "rendered", take=take.file, seconds=result.metadata.get("seconds"),
                             scores=take.scores, warnings=tuple(result.metadata.get("warnings", ())))
    finally:
        compact(root)


def _current_panel(project: Project, panel_id: str) -> Panel | None:
    try:
        return project.panel(panel_id)
    except KeyError:
        return None


def render_variations(
    root: Path,
    project: Project,
    engine: Engine,
    panel_id: str,
    count: int,
    context: RenderContext | None = None,
    on_panel: Callable[[PanelEvent], None] | None = None,
    options: RenderOptions | None = None,
    scorer: TakeScorer | None = None,
    keep_best: str | None = None,
) -> Project:
    """Render `count` new takes of one panel with the next seeds after its own; every take is kept.

    The last one is selected and the panel's seed follows it, unless the seed is locked. With `keep_best`
    (a score name, e.g. 'face_sim') and a `scorer`, the new take with the highest score is selected instead.
    Like render_project, each take is rendered from and recorded into the story as it is at that moment.
    """
    if not 1 <= count <= 16:
        raise StoryboardError(f"Ask for 1 to 16 variations, not {count}.")
    if keep_best is not None and scorer is None:
        raise StoryboardError(f"Keeping the best take by {keep_best} needs scores; give a scorer (the StoryMaker engine's "
                              "face and CLIP models). Draft takes are stick figures and cannot be scored.")
    root = Path(root)
    context = context or RenderContext()
    options = options or RenderOptions()
    panel = _current_panel(project, panel_id)
    if panel is None:
        raise ProjectError(f"No panel with id {panel_id!r} in {root}.")
    size = planned_sizes(project, options)[panel_id]
    base = panel.seed if panel.seed is not None else secrets.randbelow(MAX_SEED + 1)
    used = {t.seed for t in panel.takes}
    seeds: list[int] = []
    candidate = base
    while len(seeds) < count:
        candidate = (candidate + 1) % (MAX_SEED + 1)
        if candidate not in used:
            seeds.append(candidate)
    new_files: list[str] = []
    for index, seed in enumerate(seeds, start=1):
        context.check_cancelled()
        current = load_project(root)
        panel = _current_panel(current, panel_id)
        if panel is None:
            _emit(on_panel, PanelEvent(panel_id, index, count, "skipped", message="deleted while rendering"))
            break
        take, result = _render_take(root, current, panel, engine, project_style(current), size, options.steps, seed,
                                    context, variation=True, scorer=scorer, prompt_strip=options.prompt_strip,
                                    fast=_fast(options))
        if take is None:
            _emit(on_panel, PanelEvent(panel_id, index, count, "skipped", message="deleted while rendering"))
            break
        new_files.append(take.file)
        _emit(on_panel, PanelEvent(panel_id, index, count, "rendered", take=take.file, seconds=result.metadata.get("seconds"),
                                   scores=take.scores, warnings=tuple(result.metadata.get("warnings", ()))))
    if keep_best is not None and new_files:
        return select_best(root, panel_id, new_files, keep_best)
    return compact(root)


def select_best(root: Path, panel_id: str, files: Iterable[str], score: str) -> Project:
    """Select the take with the highest `score` among the panel's takes in `files`, save, and return the project.

    The panel's seed follows the chosen take unless it is locked. StoryboardError when none of them has that
    score."""
    from storyboard.scores import METRICS, best_index

    wanted = set(files)

    def choose(project: Project) -> Project:
        panel = _current_panel(project, panel_id)
        if panel is None:
            raise ProjectError(f"Panel {panel_id!r} was deleted while its variations rendered.")
        candidates = [t for t in panel.takes if t.file in wanted]
        best = best_index(candidates, score)
        if best is None:
            raise StoryboardError(f"Panel {panel_id!r}: none of its {len(candidates)} new take(s) has a "
                                  f"{METRICS[score].label} score"
                                  + (" (the panel has no characters: use clip_t)" if not panel.characters and score != "clip_t"
                                     else "") + "; the last one stays selected.")
        chosen = candidates[best]
        keep_seed = panel.seed_locked and panel.seed is not None
        return project.replace_panel(dataclasses.replace(
            panel, selected=panel.takes.index(chosen), seed=panel.seed if keep_seed or chosen.seed is None else chosen.seed))

    return update_project(root, choose)


def _render_take(root: Path, project: Project, panel: Panel, engine: Engine, style: StylePreset, size: tuple[int, int],
                 steps: int | None, seed: int, context: RenderContext, variation: bool = False,
                 scorer: TakeScorer | None = None, prompt_strip: bool = False,
                 fast: FastPreset | None = None) -> tuple[Take | None, RenderResult]:
    """Render one take of `panel` (as it is in `project`, the current story) and record it (record_take).

    Returns the take as recorded, or None when the panel was deleted while it rendered. A scoring failure
    never loses the take: it is logged and the take is kept without scores."""
    request = build_request(root, project, panel, style, seed, size, steps, prompt_strip, fast)
    digest = request_digest(request, engine)
    result = engine.render(request, context)
    rel = f"renders/{panel.id}/{seed}-{digest[:8]}.png"
    buffer = io.BytesIO()
    result.image.save(buffer, format="PNG")
    take = Take(file=rel, seed=seed, engine=engine.name, inputs=digest)
    if not record_take(root, panel.id, take, buffer.getvalue(), variation=variation):
        return None, result
    if scorer is not None:
        try:
            scored = scorer(root, project, panel, take)
        except StoryboardError as exc:
            log.warning("Panel %s: the take was not scored: %s", panel.id, exc)
        else:
            take = record_scores(root, panel.id, [scored]).get(take.file, scored)
    for warning in result.metadata.get("warnings", []):
        log.warning("Panel %s: %s", panel.id, warning)
    return take, result


def record_take(root: Path, panel_id: str, take: Take, image: bytes, variation: bool = False) -> bool:
    """Write a take's image and add it to the panel in the current story, selected; False if the panel is gone.

    Under the project's lock: the story is read as it is now, so edits made while the take rendered stay.
    The take goes into the journal (storyboard.journal: one appended line, not a rewrite of story.yaml), which
    the next save folds into story.yaml. The panel's seed becomes the take's, unless it is locked and this is
    a variation."""
    root = Path(root)
    with project_lock(root):
        panel = _current_panel(load_project(root), panel_id)
        if panel is None:
            log.warning("Panel %s was deleted while it rendered; its take was not kept.", panel_id)
            return False
        try:
            atomic_write(resolve_inside(root, take.file), image)
        except OSError as exc:
            raise ProjectError(f"Could not write the take for panel {panel_id!r} to {root / take.file}: "
                               f"{exc.strerror}.") from exc
        keep_seed = variation and panel.seed_locked and panel.seed is not None
        if any(t.file == take.file for t in panel.takes):
            # rendered again from earlier inputs (e.g. back to an earlier style): the journal skips files the story
            # lists, so the take is selected in story.yaml itself
            panel = add_take(panel if keep_seed else dataclasses.replace(panel, seed=take.seed), take)
            save_project(root, load_project(root).replace_panel(panel))
            return True
        try:
            _journal(root, journal.take_entry(panel_id, take, keep_seed))
        except ProjectError:
            resolve_inside(root, take.file).unlink(missing_ok=True)  # an image no story names would only confuse
            raise
    return True


def record_scores(root: Path, panel_id: str, scored: Iterable[Take]) -> dict[str, Take]:
    """Put measured scores on the panel's takes of the same files in the current story; returns those takes."""
    root = Path(root)
    with project_lock(root):
        panel = _current_panel(load_project(root), panel_id)
        if panel is None:
            return {}
        current = {t.file: t for t in panel.takes}
        recorded = {}
        for take in scored:
            if take.file in current and current[take.file].inputs == take.inputs:
                _journal(root, journal.scores_entry(panel_id, take))
                recorded[take.file] = dataclasses.replace(current[take.file], scores=take.scores, scored=take.scored,
                                                          faces=take.faces)
        return recorded


def _journal(root: Path, entry: dict) -> None:
    try:
        size = journal.append(root, entry)
    except OSError as exc:
        raise ProjectError(f"Could not record a take in {journal.path(root)}: {exc.strerror or exc}. Check that the "
                           "disk has room, then render again; takes recorded before are kept.") from exc
    if size > journal.FOLD_AFTER_BYTES:
        compact(root)


def _emit(callback: Callable[[PanelEvent], None] | None, event: PanelEvent) -> None:
    if callback is not None:
        callback(event)
